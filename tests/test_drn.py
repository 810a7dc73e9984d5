"""Deep resistive networks (systems/drn.py): exact block coordinate descent, its KKT
certificate, exact gradients of the piecewise-linear equilibrium, and training on digits."""

import numpy as np
import pytest
import scipy.optimize

import physlearn as pl
from physlearn.check import relative_error
from physlearn.nudges import Clamp, Nudge
from physlearn.systems import DeepResistiveNetwork
from physlearn.systems.drn import OuterSquares


@pytest.fixture(scope="module")
def digits():
    return pl.datasets.digits()


def tiny(layers=(3, 6, 4, 2), seed=1, **kwargs):
    """A small net with random bias currents (zero biases put deep nodes exactly on a kink)."""
    net = DeepResistiveNetwork(list(layers), seed=seed, tol=1e-13, **kwargs)
    rng = np.random.default_rng(seed + 100)
    new = net.params.copy()
    for name in new:
        if name.startswith("b"):
            new[name] = 0.2 * rng.normal(size=new[name].shape)
    net.params = new
    return net


def problem(net, batch=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, net.n_features)), 0.3 * rng.normal(size=(batch, net.n_outputs))


def unconstrained(net, state):
    """The hidden nodes' unconstrained minimisers ``u = v − r/d`` (given their neighbours): a
    node switches between clipped and free when its ``u`` crosses zero."""
    d = net.hessian(state).diagonal()
    u = state.s - net.energy_gradient(state) / d
    return u[:, :net.output_index[0]]


# -- the relaxation --------------------------------------------------------------------------
def test_relaxation_meets_the_kkt_conditions_and_an_independent_qp_solver():
    net = tiny((3, 6, 2), amplification=1.3)
    x, _ = problem(net)
    state = net.equilibrium(x)
    assert state.kkt.max() <= 1e-13
    assert net.kkt(state).max() <= 1e-12          # recomputed from the energy gradient
    # diode signs: excitatory v >= 0, inhibitory v <= 0; clipped nodes carry a diode current
    # of the right sign (r >= 0 excitatory, r <= 0 inhibitory)
    v, r = state.s[:, :6], net.energy_gradient(state)[:, :6]
    assert np.all(v[:, :3] >= 0) and np.all(v[:, 3:] <= 0)
    assert np.all(r[:, :3][v[:, :3] == 0] >= -1e-12) and np.all(r[:, 3:][v[:, 3:] == 0] <= 1e-12)
    assert np.any(v == 0), "the example should clip some nodes"
    # L-BFGS-B on the same energy with the diode bounds finds the same state
    bounds = [(0, None)] * 3 + [(None, 0)] * 3 + [(None, None)] * 2
    for b in range(x.shape[0]):
        def energy(s, b=b):
            st = net.with_s(state, np.tile(s, (x.shape[0], 1)))
            return net.energy(st)[b], net.energy_gradient(st)[b]

        ref = scipy.optimize.minimize(energy, np.zeros(8), jac=True, method="L-BFGS-B",
                                      bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-13})
        np.testing.assert_allclose(state.s[b], ref.x, atol=1e-6)


def test_kkt_certificate_to_1e_9_on_digits(digits):
    net = DeepResistiveNetwork([64, 1024, 10], input_gain=480.0, seed=0, tol=1e-10)
    x = digits.x_test[:16]
    state = net.equilibrium(x)
    assert state.kkt.max() <= 1e-9 and net.kkt(state).max() <= 1e-9
    assert state.sweeps < 100
    # the certificate is not vacuous: a state a small step off equilibrium fails it
    off = net.with_s(state, state.s + 1e-6 * np.random.default_rng(0).normal(size=state.s.shape))
    assert net.kkt(off).min() > 1e-7


@pytest.mark.parametrize("nudge_kind", ["free", "squared+", "squared-", "cross-entropy",
                                        "clamp"])
def test_energy_never_increases_over_sweeps(nudge_kind):
    net = tiny(sweeps=1)
    x, y = problem(net)
    if nudge_kind == "cross-entropy":
        y = np.eye(net.n_outputs)[np.arange(len(x)) % net.n_outputs]
    nudge = {"free": None, "squared+": Nudge(pl.SquaredError(), y, 0.5),
             "squared-": Nudge(pl.SquaredError(), y, -0.2),
             "cross-entropy": Nudge(pl.CrossEntropy(0.5), y, 0.5), "clamp": Clamp(y)}[nudge_kind]

    def total(state):
        e = net.energy(state)
        if isinstance(nudge, Nudge):
            e = e + nudge.beta * nudge.cost.value(net.outputs(state), y)
        return e

    state = net.equilibrium(x, nudge)
    energies = [total(state)]
    for _ in range(40):
        state = net.equilibrium(x, nudge, start=state)
        energies.append(total(state))
    energies = np.array(energies)
    steps = np.diff(energies, axis=0)
    assert np.all(steps <= 1e-12 * (1 + np.abs(energies[:-1]))), steps.max()
    assert np.any(steps < -1e-6), "the sweeps should lower the energy"
    converged = net.set_params(sweeps=None).equilibrium(x, nudge)
    np.testing.assert_array_less(total(converged) - 1e-10, energies[-1] + 1e-12)
    assert np.max(np.abs(net.residual(converged))) < 1e-10


def test_fixed_sweeps_store_the_certificate_and_more_sweeps_lower_it(digits):
    x = digits.x_test[:8]
    kkt = []
    for sweeps in (1, 2, 4, 8):
        net = DeepResistiveNetwork([64, 100, 10], input_gain=100.0, sweeps=sweeps, seed=0)
        state = net.equilibrium(x)
        assert state.sweeps == sweeps
        np.testing.assert_allclose(state.kkt, net.kkt(state), rtol=1e-9, atol=1e-12)
        kkt.append(state.kkt.max())
    assert kkt[-1] < 1e-3 * kkt[0], kkt


def test_not_converging_raises_with_the_certificate():
    net = tiny(max_sweeps=1)
    x, _ = problem(net)
    with pytest.raises(pl.ConvergenceError, match="KKT certificate .* > tol"):
        net.equilibrium(x)


def test_a_nudge_without_minimum_is_refused():
    net = tiny()
    x, y = problem(net)
    with pytest.raises(pl.ConvergenceError, match="no minimum"):
        net.equilibrium(x, Nudge(pl.SquaredError(), y, -1e3))


def test_clamp_and_cross_entropy_nudge_reach_their_equilibria():
    net = tiny()
    x, y = problem(net)
    clamped = net.equilibrium(x, Clamp(y))
    np.testing.assert_array_equal(net.outputs(clamped), y)
    assert np.max(np.abs(net.residual(clamped))) < 1e-11
    labels = np.eye(net.n_outputs)[np.arange(len(x)) % net.n_outputs]
    ce = net.equilibrium(x, Nudge(pl.CrossEntropy(0.5), labels, 0.7))
    assert np.max(np.abs(net.residual(ce))) < 1e-11


def test_warm_starts():
    net = tiny(warm_start=True, sweeps=3)
    x, _ = problem(net, seed=1)
    x2, _ = problem(net, seed=2)
    first = net.equilibrium(x)
    carried = net.equilibrium(x2)                       # starts where the first one ended
    explicit = tiny(sweeps=3).equilibrium(x2, start=first)
    cold = tiny(sweeps=3).equilibrium(x2)
    np.testing.assert_array_equal(carried.s, explicit.s)
    assert np.max(np.abs(carried.s - cold.s)) > 1e-6
    # a converged start needs no sweep beyond the certificate
    conv = tiny()
    state = conv.equilibrium(x)
    again = conv.equilibrium(x, start=state)
    assert again.sweeps <= 1
    np.testing.assert_allclose(again.s, state.s, atol=1e-12)


# -- gradients -------------------------------------------------------------------------------
@pytest.mark.parametrize("cost", [pl.SquaredError(), pl.CrossEntropy(0.5)],
                         ids=["squared", "cross-entropy"])
@pytest.mark.parametrize("layers,amp", [((3, 6, 2), 1.0), ((3, 6, 4, 2), [1.5, 0.7])],
                         ids=["one-hidden", "two-hidden-amplified"])
def test_exact_gradient_matches_finite_differences(layers, amp, cost):
    net = tiny(layers, amplification=amp)
    x, y = problem(net)
    if isinstance(cost, pl.CrossEntropy):
        y = np.eye(net.n_outputs)[np.arange(len(x)) % net.n_outputs]
    exact = pl.exact_gradient(net, x, y, cost)
    fd = pl.finite_difference_gradient(net, x, y, cost, h=1e-6)
    assert relative_error(exact, fd) < 1e-6
    ep = pl.EP(beta=1e-4, variant="centered").gradient(net, x, y, cost)
    assert relative_error(ep, exact) < 1e-5


@pytest.mark.parametrize("hidden,gain", [(100, 100.0), (1024, 480.0)])
def test_centered_ep_matches_implicit_differentiation_on_digits(digits, hidden, gain):
    """The paper's input gains (100 for the 100-unit net, 480 for the 1024-unit one). The
    samples are chosen away from switching points: under the largest nudge used (β = ±1e-2)
    no hidden node's unconstrained minimiser moves by more than 1 % of its distance to the
    switching point (zero), so the active set is the free state's for every β below."""
    net = DeepResistiveNetwork([64, hidden, 10], input_gain=gain, seed=0, tol=1e-12)
    x_all, y_all = digits.x_test[:40], digits.y_test[:40]
    betas = (1e-2, 1e-3, 1e-4)
    free = net.equilibrium(x_all)
    u0 = unconstrained(net, free)
    margin = np.full(len(x_all), np.inf)
    for sign in (1, -1):
        nudged = net.equilibrium(x_all, Nudge(pl.SquaredError(), y_all, sign * betas[0]),
                                 start=free)
        move = np.abs(unconstrained(net, nudged) - u0)
        margin = np.minimum(margin, np.min(np.abs(u0) / np.maximum(move, 1e-300), axis=1))
    safe = np.flatnonzero(margin > 100)[:4]
    assert len(safe) == 4, "fewer than 4 of 40 samples are away from switching points"
    x, y = x_all[safe], y_all[safe]
    exact = pl.exact_gradient(net, x, y)
    centered = [relative_error(pl.EP(beta=b).gradient(net, x, y), exact) for b in betas]
    positive = [relative_error(pl.EP(beta=b, variant="positive").gradient(net, x, y), exact)
                for b in betas]
    print(f"H={hidden}: centered {centered}, positive {positive}")
    assert centered[-1] < 1e-5
    # bias orders: one-sided O(beta), centered O(beta^2) (slopes over beta = 1e-2 .. 1e-3)
    assert 0.8 < np.log10(positive[0] / positive[1]) < 1.2
    assert np.log10(centered[0] / centered[1]) > 1.7
    assert centered[1] < 0.1 * positive[1]


def test_adjoint_drops_clipped_nodes_and_adds_the_nudge_stiffness():
    net = tiny()
    x, y = problem(net)
    nudged = net.equilibrium(x, Nudge(pl.SquaredError(), y, 0.3))
    rhs = np.random.default_rng(3).normal(size=nudged.s.shape)
    lam = net.adjoint(nudged, rhs)
    H = net.hessian(nudged).toarray()
    H[net.output_index, net.output_index] += 0.3
    for b in range(len(x)):
        free = ~net.clipped(nudged)[b]
        assert not free.all(), "the example should clip some nodes"
        np.testing.assert_array_equal(lam[b, ~free], 0.0)
        np.testing.assert_allclose(H[np.ix_(free, free)] @ lam[b, free], rhs[b, free],
                                   rtol=1e-10, atol=1e-12)


# -- the factored measurement ----------------------------------------------------------------
def test_outer_squares_is_the_squared_drop_and_its_contrast_mean_is_exact():
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(2, 4, 5))
    z1, z2 = rng.normal(size=(2, 4, 7))
    m1, m2 = OuterSquares([(1.0, w1, z1)]), OuterSquares([(1.0, w2, z2)])
    d1 = 0.5 * (w1[:, :, None] - z1[:, None, :]) ** 2
    d2 = 0.5 * (w2[:, :, None] - z2[:, None, :]) ** 2
    np.testing.assert_allclose(np.asarray(m1), d1, rtol=1e-15)
    assert m1.shape == d1.shape and m1.dtype == np.float64
    contrast = np.real(m2 - m1) / 0.3                    # what a rule does with measurements
    assert isinstance(contrast, OuterSquares)
    np.testing.assert_allclose(np.mean(contrast, axis=0), np.mean((d2 - d1) / 0.3, axis=0),
                               rtol=1e-12, atol=1e-14)
    # everything else materialises
    np.testing.assert_allclose(np.sum(m1, axis=1), d1.sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(m1[1, 2], d1[1, 2], rtol=1e-15)
    np.testing.assert_allclose(m1 * np.ones(7), d1, rtol=1e-15)
    np.testing.assert_allclose(np.mean(2 * m1 + m2, axis=0), np.mean(2 * d1 + d2, axis=0),
                               rtol=1e-12)


def test_param_gradient_is_the_local_measurement():
    net = tiny((3, 6, 2), amplification=2.0)
    x, _ = problem(net)
    state = net.equilibrium(x)
    g = net.param_gradient(state)
    u = state.sources
    h, o = state.s[:, :6], state.s[:, 6:]
    np.testing.assert_allclose(np.asarray(g["g1"]), 0.5 * (u[:, :, None] - h[:, None, :]) ** 2)
    np.testing.assert_allclose(np.asarray(g["g2"]),
                               0.5 * (2.0 * h[:, :, None] - o[:, None, :]) ** 2)
    np.testing.assert_array_equal(g["b2"], -o)


# -- bad inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"layers": [64]}, r"layers=\[64\] needs .* at least one hidden layer"),
    ({"layers": [64, 10]}, r"layers=\[64, 10\]"),
    ({"layers": [64, 0, 10]}, r"entry 1 = 0 must be an integer >= 1"),
    ({"layers": [64, 2.5, 10]}, r"entry 1 = 2.5"),
    ({"layers": "64-100-10"}, r"entry 0 = '6'"),
    ({"input_gain": -480.0}, r"input_gain=-480.0 must be a finite number > 0"),
    ({"input_gain": np.nan}, r"input_gain=nan"),
    ({"weight_gain": [1.0, 1.0, 1.0]}, r"weight_gain=\[1.0, 1.0, 1.0\] has 3 entries, expected 2"),
    ({"weight_gain": -1.0}, r"weight_gain=-1.0"),
    ({"amplification": -2.0}, r"amplification=-2.0 must be a finite number > 0"),
    ({"sweeps": 0}, r"sweeps=0 must be None"),
    ({"sweeps": 2.5}, r"sweeps=2.5"),
    ({"tol": 0.0}, r"tol=0.0"),
    ({"max_sweeps": 0}, r"max_sweeps=0"),
    ({"warm_start": "yes"}, r"warm_start='yes' must be True or False"),
])
def test_bad_hyperparameters_are_refused_naming_them(kwargs, match):
    args = {"layers": [64, 100, 10], **kwargs}
    with pytest.raises(ValueError, match=match):
        DeepResistiveNetwork(**args)


def test_bad_parameters_and_states_are_refused():
    net = DeepResistiveNetwork([2, 4, 2], seed=0)
    new = net.params.copy()
    new["g2"][1, 0] = -0.25
    with pytest.raises(ValueError, match=r"params\['g2'\] at flat index 2 \(layer 1 node 1 -> "
                                         r"output node 0\) = -0.25 is a negative conductance"):
        net.params = new
    with pytest.raises(ValueError, match=r"params\['g1'\] has shape \(3, 4\), expected \(4, 4\)"):
        net.params = {**net.params.copy(), "g1": np.ones((3, 4))}
    with pytest.raises(ValueError, match=r"start must be a state of shape \(1, 6\)"):
        net.equilibrium([[0.1, 0.2]], start=net.equilibrium(np.ones((2, 2))))
    with pytest.raises(ValueError, match=r"x has shape \(1, 3\), expected \(batch, 2\)"):
        net.predict([[0.1, 0.2, 0.3]])
    floating = net.params.copy()
    floating["g1"][:, 0] = 0.0
    floating["g2"][0, :] = 0.0
    floating["b1"][0] = 0.5
    net.params = floating
    with pytest.raises(ValueError, match=r"node 0 of layer 1 has every conductance at zero but "
                                         r"a bias current b1\[0\] = 0.5"):
        net.predict([[0.1, 0.2]])


def test_registered_and_exported():
    from physlearn.registry import make_system

    net = make_system("drn")
    assert isinstance(net, DeepResistiveNetwork)
    assert net.layers == [2, 4, 2] and net.capabilities == {"soft_nudge", "clamp"}
    rebuilt = DeepResistiveNetwork(**net.get_params(deep=False))
    for name, value in net.params.items():
        np.testing.assert_array_equal(rebuilt.params[name], value)


# -- training --------------------------------------------------------------------------------
def train_digits(data, hidden, gain, epochs):
    net = DeepResistiveNetwork([64, hidden, 10], input_gain=gain, sweeps=4, seed=0)
    history = pl.train(net, pl.EP(beta=1.0, variant="centered"), data, epochs=epochs,
                       batch_size=4, optimizer=pl.optim.SGD(lr=0.006), progress=False)
    print(f"H={hidden}, gain {gain}: test accuracy per epoch {history['test_accuracy']}, "
          f"seconds per epoch {np.round(history['seconds'], 2)}")
    return history


@pytest.fixture(scope="module")
def digits_intensity():
    """Pixels in [0, 1], MNIST's convention, under which the paper's gains were tuned."""
    return pl.datasets.digits(scaling="intensity")


@pytest.mark.slow
@pytest.mark.parametrize("hidden,gain,epochs,target", [(100, 100.0, 25, 0.94),
                                                        (1024, 480.0, 20, 0.96)])
def test_the_papers_networks_learn_digits(digits_intensity, hidden, gain, epochs, target):
    """The paper's settings: gains 100 (H = 100) and 480 (H = 1024) on [0, 1] pixels,
    centered EP at β = 1, batch 4, SGD at lr 0.006, four sweeps per phase."""
    history = train_digits(digits_intensity, hidden, gain, epochs)
    assert history.final["test_accuracy"] >= target


def test_h100_learns_standardised_digits_to_94_percent(digits):
    """On standardised pixels (unit variance, larger than [0, 1] pixels) a smaller gain
    gives the same drive and trains in a few epochs."""
    history = train_digits(digits, 100, 20.0, epochs=5)
    assert history.final["test_accuracy"] >= 0.94


@pytest.mark.slow
def test_h1024_learns_standardised_digits_to_96_percent(digits):
    history = train_digits(digits, 1024, 40.0, epochs=7)
    assert history.final["test_accuracy"] >= 0.96


def test_the_benchmark_baseline_computes_what_physlearn_does():
    """``benchmarks/bench_drn.py`` times a plain per-sample implementation: it must give
    physlearn's free states and, after a few SGD steps of centered EP, its parameters."""
    import importlib.util
    import pathlib

    bench_dir = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(bench_dir))
        spec = importlib.util.spec_from_file_location("bench_drn", bench_dir / "bench_drn.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    err_free, err_epoch = bench.check_baseline(hidden=32, n=8, batches=2)
    assert err_free < bench.BASELINE_TOL and err_epoch < bench.BASELINE_TOL
