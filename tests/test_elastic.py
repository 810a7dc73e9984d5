"""Elastic spring networks (systems/elastic.py)."""

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.datasets import Dataset
from physlearn.nudges import Clamp, Nudge
from physlearn.systems.elastic import ElasticNetwork, ElasticState


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def net():
    return ElasticNetwork.random(40, n_sources=2, n_targets=3, seed=3)


@pytest.fixture(scope="module")
def problem(net):
    rng = np.random.default_rng(0)
    return 0.05 * rng.normal(size=(5, 2)), 0.02 * rng.normal(size=(5, 3))


def buckling_chain():
    """Node 1 between pinned 0 and 2, held up by a soft vertical spring to pinned node 3.

    The horizontal springs are 20 % too long (ℓ = 1.2, r = 1): the straight configuration is in
    force balance but unstable (transverse stiffness k_v + 2T/r = 0.1 − 0.4 < 0), a saddle.
    Nodes 4, 5 are the (disconnected) source pair; the target is the spring (0, 1).
    """
    pos = np.array([[0, 0], [1, 0], [2, 0], [1, -1], [5, 0], [6, 0]], dtype=float)
    return ElasticNetwork(pos, [(0, 1), (1, 2), (1, 3), (4, 5)], [0, 2, 3], [(4, 5)], [(0, 1)],
                          stiffness=[1.0, 1.0, 0.1, 1.0], rest_length=[1.2, 1.2, 1.0, 1.0])


# -- physics ------------------------------------------------------------------------------------
def test_delaunay_builder(net):
    from scipy.spatial import ConvexHull

    hull = set(ConvexHull(net.positions).vertices.tolist())
    assert set(net.pinned) == hull
    assert len(net.edges) == 3 * 40 - 3 - len(hull)             # triangulation: Euler
    driven = {n for s in net.sources for n in s}
    assert not driven & hull and len(driven) == 4
    assert all(not driven & set(t) for t in net.targets)
    np.testing.assert_allclose(net.params["rest_length"], net.reference_lengths)


def test_no_input_no_prestress_is_the_reference(net):
    state = net.equilibrium(np.zeros((1, 2)))
    np.testing.assert_allclose(state.positions[0], net.positions, atol=1e-14)
    np.testing.assert_allclose(net.outputs(state), 0.0, atol=1e-14)


def test_source_strain_is_imposed(net, problem):
    x, _ = problem
    state = net.equilibrium(x)
    pairs = np.array(net.sources)
    r = np.linalg.norm(state.positions[:, pairs[:, 1]] - state.positions[:, pairs[:, 0]], axis=-1)
    r0 = np.linalg.norm(net.positions[pairs[:, 1]] - net.positions[pairs[:, 0]], axis=-1)
    np.testing.assert_allclose(r / r0 - 1, x, atol=1e-14)


def test_energy_is_invariant_under_rigid_motions(net, problem):
    x, _ = problem
    state = net.equilibrium(x)
    c, s = np.cos(0.7), np.sin(0.7)
    moved = state.replace(positions=state.positions @ np.array([[c, s], [-s, c]]) + [3.0, -1.0])
    np.testing.assert_allclose(net.energy(moved), net.energy(state), rtol=1e-12)


def test_force_balance_at_every_phase(net, problem):
    x, y = problem
    free = net.equilibrium(x)
    for nudge in (None, Nudge(pl.SquaredError(), y, 0.3), Nudge(pl.CrossEntropy(), y, -0.2),
                  Clamp(y)):
        state = net.equilibrium(x, nudge, start=free)
        assert np.max(np.abs(net.residual(state))) < 1e-12


def test_clamp_is_exact_and_multipliers_are_reaction_forces(net, problem):
    x, y = problem
    state = net.equilibrium(x, Clamp(y))
    np.testing.assert_allclose(net.outputs(state), y, atol=1e-14)
    # ∂E/∂s + Jᵀμ = 0: the multipliers are the generalised forces that hold the strains
    reaction = net.energy_gradient(state) + net.output_vjp(state, state.multipliers)
    assert np.max(np.abs(reaction)) < 1e-12


def test_stiff_nudge_tends_to_the_clamp(net, problem):
    """β → ∞: the soft nudge tends to the exact clamp, its force β(o − y) to the multipliers μ.

    A stiff penalty holds the strains only to O(1/β); the Lagrange clamp holds them exactly.
    """
    x, y = problem
    clamped = net.equilibrium(x, Clamp(y))
    for beta in (1e3, 1e4):       # much stiffer and round-off (β·ε·|p|) swamps the residual
        soft = net.equilibrium(x, Nudge(pl.SquaredError(), y, beta))
        gap = np.max(np.abs(net.outputs(soft) - y))
        force = beta * (net.outputs(soft) - y)
        assert gap < 10 / beta
        np.testing.assert_allclose(force, clamped.multipliers, rtol=100 / beta, atol=1e-12)


def test_buckling_saddle_is_refused_and_minimum_found():
    chain = buckling_chain()
    x = np.zeros((1, 1))
    with pytest.raises(pl.ConvergenceError, match="saddle"):
        chain.equilibrium(x)                          # the straight start is a saddle
    nudged = np.array([[1.0, 0.05]])                  # node 1 slightly displaced upwards
    state = chain.equilibrium(x, start=ElasticState(s=nudged, x=x))
    assert state.positions[0, 1, 1] > 0.3             # it buckled
    assert np.max(np.abs(chain.residual(state))) < 1e-12
    eig = np.linalg.eigvalsh(chain.hessian(state).toarray())
    assert eig.min() > 0                              # a minimum, not a saddle


def test_chord_steps_reach_the_fresh_newton_minimum_with_fewer_factorisations(monkeypatch):
    """damped_newton reuses a positive-definite factorisation while the residual contracts:
    the same equilibrium (to round-off) as fresh Newton steps, with fewer sparse LU."""
    import scipy.sparse.linalg as spla

    from physlearn.systems import solvers

    big = ElasticNetwork.random(400, n_sources=2, n_targets=3, seed=1)
    x = 0.05 * np.random.default_rng(1).normal(size=(3, 2))
    counted = {"n": 0}
    splu = spla.splu

    def counting(*args, **kwargs):
        counted["n"] += 1
        return splu(*args, **kwargs)

    monkeypatch.setattr(spla, "splu", counting)
    chord = big.equilibrium(x)
    with_chord = counted["n"]
    monkeypatch.setattr(solvers, "CHORD_CONTRACTION", 0.0)      # every step a fresh Newton
    counted["n"] = 0
    fresh = big.equilibrium(x)
    assert with_chord < counted["n"]
    assert relative_error({"s": chord.s}, {"s": fresh.s}) < 1e-12
    assert np.max(np.abs(big.residual(chord))) < 1e-10


def test_non_convergence_raises_with_the_residual(problem):
    x, _ = problem
    net = ElasticNetwork.random(40, n_sources=2, n_targets=3, seed=3, max_iter=1)
    with pytest.raises(pl.ConvergenceError, match="residual"):
        net.equilibrium(x)


# -- parameters and inputs ----------------------------------------------------------------------
@pytest.mark.parametrize("name,value,match", [
    ("stiffness", -0.1, "stiffness .* must be >= 0"),
    ("rest_length", 0.0, "rest_length .* must be > 0"),
    ("rest_length", np.nan, "non-finite"),
])
def test_unphysical_parameters_are_refused(net, name, value, match):
    bad = {k: v.copy() for k, v in net.params.items()}
    bad[name][2] = value
    with pytest.raises(ValueError, match=match):
        net.params = bad


def test_updates_are_projected(net):
    original = net.params
    try:
        net.update_params({"stiffness": original["stiffness"] - 10.0,
                           "rest_length": original["rest_length"] - 10.0})
        assert np.all(net.params["stiffness"] == net.min_stiffness)
        assert np.all(net.params["rest_length"] == net.min_rest_length)
    finally:
        net.params = original


def test_bad_inputs_and_topologies_are_refused(net):
    with pytest.raises(ValueError, match="source strains must be > -1"):
        net.predict([[-1.0, 0.0]])
    pos = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.4]], dtype=float)
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (0, 4), (1, 4), (2, 4), (3, 4)]
    with pytest.raises(ValueError, match="also pinned"):
        ElasticNetwork(pos, edges, [0, 1], [(1, 4)], [(2, 3)])
    with pytest.raises(ValueError, match="no free node"):
        ElasticNetwork(pos, edges, [0, 1, 2, 3], [], [(2, 3)])
    with pytest.raises(ValueError, match="floppy"):
        ElasticNetwork(pos, [(0, 1), (0, 2), (1, 3), (2, 3), (0, 4)], [0, 1, 2], [], [(3, 4)])
    with pytest.raises(ValueError, match="min_stiffness"):
        ElasticNetwork(pos, edges, [0, 1], [], [(2, 3)], min_stiffness=-1.0)


# -- gradients ----------------------------------------------------------------------------------
@pytest.mark.parametrize("variant,order,betas", [
    ("positive", 1, np.logspace(-2, -4, 5)), ("negative", 1, np.logspace(-2, -4, 5)),
    ("centered", 2, np.logspace(-1, -3, 5)),     # at 1e-4 round-off (~3e-9) takes over
])
def test_ep_bias_order(net, problem, variant, order, betas):
    x, y = problem
    measured = pl.bias_order(net, pl.EP(variant=variant), x, y, betas)
    assert abs(measured.slope - order) < 0.1, str(measured)


def test_centered_ep_matches_implicit_differentiation(net, problem):
    x, y = problem
    err = relative_error(pl.EP(beta=1e-4).gradient(net, x, y), pl.exact_gradient(net, x, y))
    assert err < 1e-7


def test_coupled_learning_rest_length_rule(net, problem):
    """The CpL estimate for ℓ is −k (r^C − r^F)/η (Stern et al. 2021, our sign convention)."""
    x, y = problem
    eta = 0.2
    free = net.equilibrium(x)
    o = net.outputs(free)
    clamped = net.equilibrium(x, Clamp(o + eta * (y - o)), start=free)
    lengths = [np.linalg.norm(s.positions[:, [j for _, j in net.edges]]
                              - s.positions[:, [i for i, _ in net.edges]], axis=-1)
               for s in (clamped, free)]
    expected = -net.params["stiffness"] * np.mean(lengths[0] - lengths[1], axis=0) / eta
    g = pl.CoupledLearning(eta=eta).gradient(net, x, y)
    np.testing.assert_allclose(g["rest_length"], expected, rtol=1e-10, atol=1e-14)


def _output_jacobian(net, state, name):
    """``∂o/∂θ`` by implicit differentiation, shape (n_outputs, n_params) (one sample)."""
    rows = []
    for e in np.eye(net.n_outputs):
        lam = net.adjoint(state, net.output_vjp(state, e[None]))
        rows.append(-net.mixed_vjp(state, lam)[name][0])
    return np.array(rows)


def _compliance(net, state):
    J = net.strain_jacobian(state)[0]
    return J @ np.linalg.solve(net.hessian(state).toarray(), J.T)


def test_coupled_learning_is_a_compliance_weighted_gradient(net):
    """As η → 0 the CpL estimate tends to (o − y)ᵀ R⁻¹ ∂o/∂θ (R: target compliance), O(η)."""
    x, y = np.array([[0.05, -0.03]]), np.array([[0.01, -0.02, 0.0]])
    free = net.equilibrium(x)
    w = np.linalg.solve(_compliance(net, free), (net.outputs(free) - y)[0])
    errors = []
    for eta in (1e-2, 1e-3):
        g = pl.CoupledLearning(eta=eta).gradient(net, x, y)
        ref = {k: w @ _output_jacobian(net, free, k) for k in g}
        errors.append(relative_error(g, ref))
    assert errors[1] < 2e-4 and errors[0] / errors[1] == pytest.approx(10, rel=0.05)


def test_rest_length_response_of_an_unstressed_network():
    """Equal stiffnesses k, no prestress: (∂o/∂ℓ)(∂o/∂ℓ)ᵀ = k R, since H = Gᵀ K G."""
    base = ElasticNetwork.random(30, n_targets=3, seed=5)
    params = base.get_params()
    params["stiffness"] = np.full(len(base.edges), 0.7)
    net = ElasticNetwork(**params)
    state = net.equilibrium(np.zeros((1, 1)))
    A = _output_jacobian(net, state, "rest_length")
    np.testing.assert_allclose(A @ A.T, 0.7 * _compliance(net, state), rtol=1e-10)


@pytest.mark.parametrize("variant", ["positive", "negative", "centered"])
def test_small_coupled_learning_step_on_rest_lengths_lowers_the_cost(net, problem, variant):
    x, y = problem
    g = pl.CoupledLearning(eta=0.1, variant=variant).gradient(net, x, y)["rest_length"]
    before = pl.loss(net, x, y)
    original = net.params
    try:
        net.params = {**original, "rest_length": original["rest_length"]
                      - 1e-3 * g / np.linalg.norm(g)}
        assert pl.loss(net, x, y) < before
    finally:
        net.params = original


# -- an allosteric task -------------------------------------------------------------------------
def _allostery(rule, optimizer, epochs):
    """Strain the source spring by 10 %; ask for +2 % and −2 % on two distant springs.

    Returns the largest target-strain error before and after training.
    """
    net = ElasticNetwork.random(24, seed=0)
    x, y = np.array([[0.1]]), np.array([[0.02, -0.02]])
    data = Dataset(x, y, x, y, task="regression", name="allostery")
    before = np.max(np.abs(net.predict(x) - y))
    pl.train(net, rule, data, epochs=epochs, batch_size=1, optimizer=optimizer, progress=False)
    return before, np.max(np.abs(net.predict(x) - y))


def test_coupled_learning_trains_an_allosteric_response():
    """Plain gradient descent on the coupled-learning estimate (η = 0.5, step 1)."""
    before, after = _allostery(pl.CoupledLearning(eta=0.5), pl.optim.SGD(lr=1.0), epochs=10)
    assert after < 0.1 * before                     # measured: ~1e-6 × before


@pytest.mark.slow
def test_ep_trains_an_allosteric_response():
    before, after = _allostery(pl.EP(beta=0.01), pl.optim.Adam(lr=0.01), epochs=60)
    assert after < 0.1 * before                     # measured: ~2e-2 × before
