"""Layered continuous Hopfield networks: dense and convolutional layers, EP vs the reference."""

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.nudges import Nudge
from physlearn.system import ConvergenceError, State
from physlearn.systems.hopfield import Conv, HopfieldNetwork
from physlearn.testing import finite_difference_gradient

DENSE = [3, 4, 3, 2]
CONV = [[2, 7, 7], Conv(3, 2, pool_size=3), 4, 2]
PADDED = [[1, 5, 5], Conv(2, 3, padding=1, pool_size=5), Conv(2, 1, pool_size=1), 2]
MAX = [[2, 6, 6], Conv(3, 3, pool="max"), Conv(2, 1, pool="max"), 2]
ALL = [DENSE, CONV, PADDED, MAX]
IDS = ["dense", "conv", "padded", "max"]


def _net(layers, activation="sigmoid"):
    return HopfieldNetwork(layers, activation=activation, seed=3, gain=1.5)


def _problem(net, batch=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, net.n_features)), 0.3 * rng.normal(size=(batch, net.n_outputs))


def _moved(net, x, seed=0):
    """A free equilibrium with its state moved off it (for derivative checks)."""
    state = net.equilibrium(x)
    s = state.s + 0.3 * np.random.default_rng(seed).normal(size=state.s.shape)
    return state.replace(s=s)


# -- the energy ---------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("layers", ALL, ids=IDS)
def test_energy_gradient_matches_finite_differences(layers, activation):
    if layers is MAX and activation == "tanh":
        pytest.skip("max pooling needs activities >= 0 (refused, see test_bad_inputs)")
    net = _net(layers, activation)
    x, _ = _problem(net)
    state = _moved(net, x)
    h = 1e-6
    fd = np.zeros_like(state.s)
    for j in range(state.s.shape[1]):
        d = np.zeros_like(state.s)
        d[:, j] = h
        fd[:, j] = (net.energy(state.replace(s=state.s + d))
                    - net.energy(state.replace(s=state.s - d))) / (2 * h)
    np.testing.assert_allclose(net.energy_gradient(state), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("layers", ALL, ids=IDS)
def test_hessian_vector_products_match_finite_differences(layers):
    net = _net(layers)
    x, _ = _problem(net)
    state = _moved(net, x)
    v = np.random.default_rng(5).normal(size=state.s.shape)
    h = 1e-6
    fd = (net.energy_gradient(state.replace(s=state.s + h * v))
          - net.energy_gradient(state.replace(s=state.s - h * v))) / (2 * h)
    hv = net.hessian_vector(state, v)
    np.testing.assert_allclose(hv, fd, rtol=1e-7, atol=1e-8)
    dense = np.einsum("bij,bj->bi", net.jacobian(state), v)
    np.testing.assert_allclose(dense, hv, rtol=1e-12, atol=1e-12)
    J = net.jacobian(state)
    np.testing.assert_allclose(J, np.swapaxes(J, 1, 2), atol=1e-14)


@pytest.mark.parametrize("layers", [DENSE, CONV, MAX], ids=["dense", "conv", "max"])
def test_param_gradient_matches_finite_differences(layers):
    net = _net(layers)
    x, _ = _problem(net)
    state = _moved(net, x)
    measured = net.param_gradient(state)
    params, h = net.params.copy(), 1e-6
    for name, value in params.items():
        for i in range(value.size):
            energies = []
            for sign in (1, -1):
                trial = {k: v.copy() for k, v in params.items()}
                trial[name].ravel()[i] += sign * h
                net.params = trial
                energies.append(net.energy(state))
            np.testing.assert_allclose(measured[name].reshape(len(x), -1)[:, i],
                                       (energies[0] - energies[1]) / (2 * h),
                                       rtol=1e-6, atol=1e-9, err_msg=f"{name}[{i}]")
    net.params = params


# -- the convolution against a loop with the convolution unrolled into a dense matrix ------------
def _unrolled_conv(op, W):
    """The convolution of ``op`` (before pooling) as a dense (O·Ho·Wo, n_in) matrix, by loops."""
    c, h, w = op.in_shape
    o, ho, wo = op.map_shape
    k, p = op.k, op.pad
    conv = np.zeros((o, ho, wo, c, h, w))
    for oc in range(o):
        for i in range(ho):
            for j in range(wo):
                for cc in range(c):
                    for u in range(k):
                        for v in range(k):
                            y, z = i + u - p, j + v - p
                            if 0 <= y < h and 0 <= z < w:
                                conv[oc, i, j, cc, y, z] += W[oc, cc, u, v]
    return conv.reshape(o * ho * wo, op.n_in)


def _pool_matrix(op, maps=None):
    """Pooling as a (n_out, O·Ho·Wo) matrix, by loops: averages, or (given the feature maps
    of one sample) picks the first maximum of each window."""
    o, ho, wo = op.map_shape
    q = op.q
    pool = np.zeros((o, ho // q, wo // q, o, ho, wo))
    for oc in range(o):
        for i in range(0, ho, q):
            for j in range(0, wo, q):
                if maps is None:
                    pool[oc, i // q, j // q, oc, i:i + q, j:j + q] = 1.0 / q ** 2
                    continue
                window = maps.reshape(o, ho, wo)[oc, i:i + q, j:j + q]
                u, v = np.unravel_index(np.argmax(window), window.shape)
                pool[oc, i // q, j // q, oc, i + u, j + v] = 1.0
    return pool.reshape(op.n_out, o * ho * wo)


def _unrolled(op, W):
    """The average-pooled convolution of ``op`` as a dense (n_out, n_in) matrix, by loops."""
    return _pool_matrix(op) @ _unrolled_conv(op, W)


@pytest.mark.parametrize("layers", [CONV, PADDED], ids=["conv", "padded"])
def test_conv_layer_matches_the_unrolled_matrix(layers):
    net = _net(layers)
    rng = np.random.default_rng(7)
    convs = [(l, op) for l, op in enumerate(net._ops, 1) if hasattr(op, "map_shape")]
    for l, op in convs:
        W = net.params[f"W{l}"]
        M = _unrolled(op, W)
        a, g = rng.normal(size=(4, op.n_in)), rng.normal(size=(4, op.n_out))
        np.testing.assert_allclose(op.forward(W, a), a @ M.T, rtol=0, atol=1e-12)
        np.testing.assert_allclose(op.transpose(W, g), g @ M, rtol=0, atol=1e-12)
        state = net.equilibrium(rng.normal(size=(2, net.n_features)))
        np.testing.assert_allclose(net.layer_matrices(state)[l - 1], M, rtol=0, atol=1e-12)
        # ∂(gᵀ M(W) a)/∂W: M is linear in W, so each entry is gᵀ M(e_entry) a
        grad = op.wgrad(W, g, a)
        for idx in np.ndindex(*W.shape):
            E = np.zeros_like(W)
            E[idx] = 1.0
            expected = np.einsum("bi,ij,bj->b", g, _unrolled(op, E), a)
            np.testing.assert_allclose(grad[(slice(None), *idx)], expected, rtol=0, atol=1e-12)


def test_max_pooling_matches_loops():
    net = _net(MAX)
    rng = np.random.default_rng(8)
    for l, op in enumerate(net._ops[:2], 1):
        W = net.params[f"W{l}"]
        C = _unrolled_conv(op, W)
        a, at, g = (rng.normal(size=(3, op.n_in)), rng.normal(size=(3, op.n_in)),
                    rng.normal(size=(3, op.n_out)))
        S = np.stack([_pool_matrix(op, C @ sample) for sample in at])   # picks at `at`
        own = np.stack([_pool_matrix(op, C @ sample) @ C @ sample for sample in a])
        np.testing.assert_allclose(op.forward(W, a), own, rtol=0, atol=1e-12)
        np.testing.assert_allclose(op.forward(W, a, at), np.einsum("bij,jk,bk->bi", S, C, a),
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(op.transpose(W, g, at), np.einsum("bi,bij,jk->bk", g, S, C),
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(op.matrix(W, at), S @ C, rtol=0, atol=1e-12)
        grad = op.wgrad(W, g, a, at)
        for idx in list(np.ndindex(*W.shape))[:20]:
            E = np.zeros_like(W)
            E[idx] = 1.0
            expected = np.einsum("bi,bij,jk,bk->b", g, S, _unrolled_conv(op, E), a)
            np.testing.assert_allclose(grad[(slice(None), *idx)], expected, rtol=0, atol=1e-12)


def test_image_inputs_equal_flat_inputs():
    net = _net(CONV)
    x, _ = _problem(net)
    images = x.reshape(len(x), *net.input_shape)
    np.testing.assert_array_equal(net.predict(images), net.predict(x))
    assert net.input_shape == (2, 7, 7)


# -- EP against the exact gradient ----------------------------------------------------------------
@pytest.mark.parametrize("layers", [DENSE, CONV, MAX], ids=["dense", "conv", "max"])
def test_centered_ep_matches_the_exact_gradient_to_second_order(layers):
    net = _net(layers)
    x, y = _problem(net, batch=4)
    ref = pl.exact_gradient(net, x, y)
    errors = [relative_error(pl.EP(beta=b).gradient(net, x, y), ref) for b in (0.04, 0.02, 0.01)]
    slopes = np.diff(np.log(errors)) / np.diff(np.log([0.04, 0.02, 0.01]))
    assert np.all(np.abs(slopes - 2) < 0.2), (errors, slopes)
    assert errors[-1] < 1e-3


def test_holomorphic_ep_matches_the_exact_gradient():
    net = _net(CONV)
    x, y = _problem(net, batch=4)
    ref = pl.exact_gradient(net, x, y)
    assert relative_error(pl.HolomorphicEP(beta=0.05, points=4).gradient(net, x, y), ref) < 1e-4


def test_exact_gradient_matches_finite_differences_of_the_loss():
    net = _net(CONV)
    x, y = _problem(net)
    fd = finite_difference_gradient(net, x, y, pl.costs.SquaredError(), h=1e-6)
    assert relative_error(pl.exact_gradient(net, x, y), fd) < 1e-6


# -- relaxation ---------------------------------------------------------------------------------
def test_nudged_relaxation_reaches_tol_and_warm_starts():
    net = _net(CONV)
    x, y = _problem(net)
    free = net.equilibrium(x)
    nudged = net.equilibrium(x, Nudge(pl.costs.SquaredError(), y, 0.3), start=free)
    assert np.max(np.abs(net.residual(nudged))) < net.tol
    assert np.linalg.eigvalsh(net.jacobian(free)).min() > 0       # a minimum of E


def test_relaxation_that_does_not_converge_raises_with_the_residual():
    net = HopfieldNetwork(DENSE, seed=3, gain=1.5, max_iter=1)
    net._RESCUE_STEPS = 2                  # no rescue by the gradient flow either
    x, _ = _problem(net)
    far = State(s=np.full((len(x), net.n_state), 40.0), x=x)
    with pytest.raises(ConvergenceError, match=r"residual max\|F - beta dC/ds\| = .*tol="):
        net.equilibrium(x, start=far)


# -- bad inputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda: HopfieldNetwork([[1, 6, 6], Conv(2, 7), 2]), r"kernel=7 is larger than its input"),
    (lambda: HopfieldNetwork([[1, 6, 6], Conv(2, 3, pool_size=3), 2]),
     r"pool_size=3 does not divide the 4×4 feature map"),
    (lambda: HopfieldNetwork([[1, 6], Conv(2, 3), 2]), r"layers\[0\]=\[1, 6\] must be an image"),
    (lambda: HopfieldNetwork([[1, 6, 6], Conv(0, 3), 2]), r"channels=0 must be a positive"),
    (lambda: HopfieldNetwork([[1, 6, 6], Conv(2, 3, pool="median"), 2]), r"pool='median'"),
    (lambda: HopfieldNetwork([3]), r"at least one layer"),
    (lambda: HopfieldNetwork(MAX, activation="tanh"), r"activation='tanh' with pool='max'"),
    (lambda: HopfieldNetwork([3, 5, 2], max_iter=0), r"max_iter=0"),
    (lambda: HopfieldNetwork([3, 5, 2], gain=-1.0), r"gain=-1.0"),
    (lambda: _net(CONV).predict(np.ones((2, 2, 7, 6))), r"image shape \(2, 7, 6\)"),
    (lambda: _net(CONV).predict(np.ones((2, 97))),
     r"x has shape \(2, 97\), expected \(batch, 98\)"),
])
def test_bad_inputs_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# -- the hard sigmoid: minima over the box [0, 1]ⁿ ------------------------------------------------
@pytest.mark.parametrize("layers", [DENSE, CONV], ids=["dense", "conv"])
def test_hard_sigmoid_equilibrium_is_the_papers_fixed_point(layers):
    net = _net(layers, "hard-sigmoid")
    x, y = _problem(net, batch=5)
    for nudge in (None, Nudge(pl.costs.SquaredError(), y, 0.2)):
        state = net.equilibrium(x, nudge)
        assert np.max(np.abs(net.residual(state))) < net.tol
        assert np.all((state.s >= 0) & (state.s <= 1))
        saturated = (state.s <= 0) | (state.s >= 1)
        assert 0 < np.mean(saturated) < 1          # both kinds of units occur
        # s = clip(z(s), 0, 1): the fixed point of the papers' synchronous update
        z = state.s - net.energy_gradient(state.replace(nudge=None))
        if nudge is not None:
            z[:, net.output_index] -= nudge.force(net.outputs(state))
        np.testing.assert_allclose(state.s, np.clip(z, 0, 1), atol=1e-12)


@pytest.mark.parametrize("layers", [DENSE, CONV], ids=["dense", "conv"])
def test_hard_sigmoid_reference_holds_saturated_units_fixed(layers):
    # from s = 0 these strong couplings (curvature < 0) leave some samples in a dead minimum,
    # a layer at 0 whose drive is exactly 0 (not strictly beyond the kink): start inside
    net = HopfieldNetwork(layers, activation="hard-sigmoid", seed=3, gain=1.5,
                          initial_state=0.5)
    x, y = _problem(net, batch=5)
    ref = pl.exact_gradient(net, x, y)
    fd = finite_difference_gradient(net, x, y, pl.costs.SquaredError(), h=1e-6)
    assert relative_error(ref, fd) < 1e-7
    errors = [relative_error(pl.EP(beta=b).gradient(net, x, y), ref) for b in (4e-3, 2e-3, 1e-3)]
    slopes = np.diff(np.log(errors)) / np.diff(np.log([4e-3, 2e-3, 1e-3]))
    assert np.all(np.abs(slopes - 2) < 0.2), (errors, slopes)


def test_hard_sigmoid_refuses_complex_beta():
    net = _net(DENSE, "hard-sigmoid")
    x, y = _problem(net)
    assert "complex" not in net.capabilities
    with pytest.raises(ValueError, match=r"complex beta"):
        net.equilibrium(x, Nudge(pl.costs.SquaredError(), y, 0.1j))


# -- the papers' relaxations: synchronous and odd/even fixed-point sweeps ------------------------
DIGITS_LIKE = [[1, 8, 8], Conv(4, 3, padding=1), 10]
DENSE_WIDE = [64, 32, 10]


@pytest.mark.parametrize("layers", [DENSE_WIDE, DIGITS_LIKE], ids=["dense", "conv"])
@pytest.mark.parametrize("relaxation", ["sync", "async"])
def test_fixed_point_sweeps_reach_the_newton_minimum(layers, relaxation):
    newton = HopfieldNetwork(layers, activation="hard-sigmoid")
    sweeps = HopfieldNetwork(layers, activation="hard-sigmoid", relaxation=relaxation)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(6, 64)), np.eye(10)[rng.integers(0, 10, 6)]
    free_a, free_b = newton.equilibrium(x), sweeps.equilibrium(x)
    assert free_b.info["iterations"] > 10          # relaxed from s = 0.5, not given
    for nudge in (None, Nudge(pl.costs.SquaredError(), y, 0.5),
                  Nudge(pl.costs.SquaredError(), y, -0.5)):
        a, b = newton.equilibrium(x, nudge, free_a), sweeps.equilibrium(x, nudge, free_b)
        assert b.info["relaxation"] == relaxation and b.info["residual"] < sweeps.tol
        assert b.info["iterations"] >= 1 and a.info["relaxation"] == "newton"
        np.testing.assert_allclose(b.s, a.s, atol=1e-8)


def test_odd_even_sweeps_never_raise_the_energy():
    # Each half-sweep minimises E exactly over one parity of layers (no two units coupled)
    for seed in range(20):
        net = HopfieldNetwork([5, 6, 6, 6, 3], activation="hard-sigmoid", gain=2.0, seed=seed)
        x = np.random.default_rng(seed).uniform(size=(4, 5))
        state = State(s=np.random.default_rng(seed + 1).uniform(size=(4, net.n_state)), x=x)
        energies = [net.energy(state)]
        for _, (s, _) in zip(range(30), net._sweeps(state, odd_even=True)):
            energies.append(net.energy(state.replace(s=s)))
        assert np.max(np.diff(np.array(energies), axis=0)) < 1e-12


def test_sweeps_that_do_not_converge_raise_with_the_residual():
    net = HopfieldNetwork(DENSE_WIDE, activation="hard-sigmoid", relaxation="async", max_sweeps=3)
    with pytest.raises(ConvergenceError, match=r"async fixed-point sweeps\): residual .* after 3 "
                                               r"sweeps \(tol=1e-10\)"):
        net.equilibrium(np.random.default_rng(0).uniform(size=(4, 64)))


def test_sweeps_need_the_hard_sigmoid():
    with pytest.raises(ValueError, match=r"relaxation='sync' needs activation='hard-sigmoid'"):
        HopfieldNetwork(DENSE, relaxation="sync")
    with pytest.raises(ValueError, match=r"relaxation='gauss' must be one of"):
        HopfieldNetwork(DENSE, activation="hard-sigmoid", relaxation="gauss")
    with pytest.raises(ValueError, match=r"max_sweeps=0 must be a positive integer"):
        HopfieldNetwork(DENSE, activation="hard-sigmoid", max_sweeps=0)


def test_deep_hard_sigmoid_network_relaxes_by_projected_newton():
    # four layers of default weights: the box energy is not convex; Newton alone stalled here
    net = HopfieldNetwork([64, 32, 16, 10], activation="hard-sigmoid")
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(32, 64)), np.eye(10)[rng.integers(0, 10, 32)]
    free = net.equilibrium(x)
    nudged = net.equilibrium(x, Nudge(pl.costs.SquaredError(), y, 0.3), start=free)
    assert max(free.info["residual"], nudged.info["residual"]) < net.tol


# -- the one-step map (continual EP) ------------------------------------------------------------
@pytest.mark.parametrize("activation,relaxation", [("sigmoid", "newton"),
                                                   ("hard-sigmoid", "newton"),
                                                   ("hard-sigmoid", "sync")])
@pytest.mark.parametrize("layers", [DENSE, CONV], ids=["dense", "conv"])
def test_steps_from_the_free_state_reach_the_nudged_equilibrium(layers, activation, relaxation):
    net = HopfieldNetwork(layers, activation=activation, relaxation=relaxation, seed=3)
    x, y = _problem(net)
    free = net.equilibrium(x)
    assert np.max(np.abs(net.step(free).s - free.s)) < 10 * net.tol      # a fixed point
    nudge = Nudge(pl.costs.SquaredError(), y, 0.5)
    state, energies = free.replace(nudge=nudge), []
    for _ in range(300):
        state = net.step(state)
        energies.append(net._merit(state))
    np.testing.assert_allclose(state.s, net.equilibrium(x, nudge, free).s, atol=1e-8)
    if relaxation != "sync":                       # the odd/even sweep and the flow descend
        assert np.max(np.diff(np.array(energies), axis=0)) < 1e-12


def test_step_holds_clamped_outputs_and_refuses_a_foreign_state():
    net = _net(DENSE)
    x, _ = _problem(net)
    values = np.full((len(x), net.n_outputs), 0.7)
    state = net.step(net.equilibrium(x).replace(nudge=pl.nudges.Clamp(values)))
    np.testing.assert_array_equal(net.outputs(state), values)
    with pytest.raises(ValueError, match=r"state must be a State of HopfieldNetwork with s of "
                                         r"shape \(batch, 9\)"):
        net.step(State(s=np.zeros((3, 4)), x=x))


# -- clamped outputs: contrastive and coupled learning ------------------------------------------
@pytest.mark.parametrize("activation,relaxation", [("sigmoid", "newton"), ("tanh", "newton"),
                                                   ("hard-sigmoid", "newton"),
                                                   ("hard-sigmoid", "async")])
@pytest.mark.parametrize("layers", [DENSE, CONV], ids=["dense", "conv"])
def test_clamped_outputs_are_held_and_the_hidden_layers_relax(layers, activation, relaxation):
    net = HopfieldNetwork(layers, activation=activation, relaxation=relaxation, seed=3)
    x, _ = _problem(net)
    values = np.random.default_rng(5).uniform(size=(len(x), net.n_outputs))
    free = net.equilibrium(x)
    clamped = net.equilibrium(x, pl.nudges.Clamp(values), start=free)
    np.testing.assert_array_equal(net.outputs(clamped), values)
    assert np.max(np.abs(net.residual(clamped))) < net.tol       # hidden units at rest
    hidden = np.setdiff1d(np.arange(net.n_state), net.output_index)
    assert np.max(np.abs(clamped.s[:, hidden] - free.s[:, hidden])) > 1e-3   # they moved


def test_contrastive_learning_is_coupled_learning_at_eta_one():
    net = _net(DENSE)
    x, y = _problem(net)
    cl = pl.ContrastiveLearning().gradient(net, x, y)
    cpl = pl.CoupledLearning(eta=1.0).gradient(net, x, y)
    assert relative_error(cl, cpl) < 1e-12


# -- the truncated-BPTT baseline ------------------------------------------------------------------
@pytest.mark.parametrize("activation,step", [("hard-sigmoid", 1.0), ("sigmoid", 0.5)])
def test_truncated_bptt_differentiates_the_unrolled_updates(activation, step):
    net = HopfieldNetwork(DENSE_WIDE, activation=activation, gain=0.5)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(4, 64)), np.eye(10)[rng.integers(0, 10, 4)]
    free, cost, lo_hi = net.equilibrium(x), pl.costs.SquaredError(), net._box

    def unrolled_loss(params, steps=3):         # the updates from the free state held fixed
        old, net.params = net.params, params
        s = free.s
        for _ in range(steps):
            s = np.clip(s - step * pl.system.EquilibriumSystem.residual(net, free.replace(s=s)),
                        *lo_hi)
        value = cost.mean(s[:, net.output_index], y)
        net.params = old
        return value

    grad, p0 = net.truncated_bptt(x, y, steps=3, step=step), net.params
    for name, index in [("W1", (3, 5)), ("W2", (7, 2)), ("b1", (4,)), ("b2", (1,))]:
        plus, minus = ({k: v.copy() for k, v in p0.items()} for _ in range(2))
        plus[name][index] += 1e-6
        minus[name][index] -= 1e-6
        fd = (unrolled_loss(plus) - unrolled_loss(minus)) / 2e-6
        assert abs(fd - grad[name][index]) < 1e-7 * max(1.0, abs(fd)) + 1e-9, (name, fd)


def test_truncated_bptt_approaches_recurrent_backprop():
    net = HopfieldNetwork(DIGITS_LIKE, activation="hard-sigmoid", gain=0.5)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(size=(4, 64)), np.eye(10)[rng.integers(0, 10, 4)]
    ref = pl.exact_gradient(net, x, y)
    errors = [relative_error(net.truncated_bptt(x, y, steps=k), ref) for k in (1, 4, 16, 64)]
    assert np.all(np.diff(errors) < 0) and errors[0] > 0.1 and errors[-1] < 1e-8, errors


def test_the_start_matters_only_where_the_curvature_is_negative():
    """A box energy with positive curvature (``I − A`` positive definite) has one minimum:
    every start reaches it. Strong couplings make the curvature negative, and then the
    equilibrium depends on ``initial_state``: two starts give different minima."""
    x = np.random.default_rng(0).uniform(size=(16, 64))
    for gain, several in ((0.3, False), (2.0, True)):
        nets = [HopfieldNetwork([64, 24, 24, 24, 10], activation="hard-sigmoid", gain=gain,
                                initial_state=start, relaxation="async", tol=1e-9)
                for start in (0.0, 1.0)]
        states = [net.equilibrium(x) for net in nets]
        assert (np.max(nets[0].curvature(states[0])) < 0) == several
        moved = np.max(np.abs(states[0].s - states[1].s), axis=1) > 1e-6
        assert moved.any() == several, (gain, moved)
        if not several:
            np.testing.assert_allclose(states[0].s, states[1].s, atol=1e-7)


def test_outputs_clamped_outside_the_box_are_held_there():
    # negative coupled learning clamps at o + η(o − y), beyond [0, 1] for a hard sigmoid
    for relaxation in ("newton", "async"):
        net = HopfieldNetwork(DENSE_WIDE, activation="hard-sigmoid", relaxation=relaxation)
        x = np.random.default_rng(0).uniform(size=(3, 64))
        values = np.tile(np.linspace(-0.25, 1.25, 10), (3, 1))
        clamped = net.equilibrium(x, pl.nudges.Clamp(values))
        np.testing.assert_array_equal(net.outputs(clamped), values)
        assert clamped.info["residual"] < net.tol


def test_synchronous_sweeps_that_cycle_are_reported_as_stalled():
    # four layers of default weights: the synchronous update oscillates (no descent guarantee)
    net = HopfieldNetwork([64, 32, 16, 10], activation="hard-sigmoid", relaxation="sync",
                          initial_state=0.5)
    net._STALL = 200
    with pytest.raises(ConvergenceError, match=r"sync fixed-point sweeps\): .* the sweeps stall "
                                               r"\(the residual fell by less than 10 % in 200 "
                                               r"sweeps\)"):
        net.equilibrium(np.random.default_rng(0).uniform(size=(32, 64)))


# -- a linear output layer (the papers' read-out) ---------------------------------------------
@pytest.mark.parametrize("activation", ["sigmoid", "hard-sigmoid"])
@pytest.mark.parametrize("layers", [DENSE, CONV], ids=["dense", "conv"])
def test_linear_output_layer_energy_and_gradients(layers, activation):
    net = HopfieldNetwork(layers, activation=activation, seed=3, gain=1.5, linear_output=True)
    x, y = _problem(net, batch=4)
    state = net.equilibrium(x)
    assert np.max(np.abs(net.residual(state))) < net.tol
    o = net.outputs(state)
    assert np.any(o < 0) or np.any(o > 1) or activation == "sigmoid"   # not clipped
    moved = state.replace(s=state.s + 0.01 * np.random.default_rng(0).normal(size=state.s.shape))
    if activation == "hard-sigmoid":
        moved = moved.replace(s=np.clip(moved.s, *net._box))
    fd = np.zeros(state.s.shape)
    for i in range(net.n_state):
        e = np.zeros(state.s.shape)
        e[:, i] = 1e-6
        fd[:, i] = (net.energy(moved.replace(s=moved.s + e))
                    - net.energy(moved.replace(s=moved.s - e))) / 2e-6
    inside = (moved.s > 1e-5) & (moved.s < 1 - 1e-5) if activation == "hard-sigmoid" else True
    inside = inside | np.isin(np.arange(net.n_state), net.output_index)
    np.testing.assert_allclose(np.where(inside, net.energy_gradient(moved), 0),
                               np.where(inside, fd, 0), atol=1e-7)
    ref = pl.exact_gradient(net, x, y)
    assert relative_error(ref, finite_difference_gradient(net, x, y, pl.costs.SquaredError(),
                                                          h=1e-6)) < 1e-6
    assert relative_error(pl.EP(beta=1e-3).gradient(net, x, y), ref) < 1e-4
    if activation == "hard-sigmoid":
        sweeps = HopfieldNetwork(layers, activation=activation, seed=3, gain=1.5,
                                 linear_output=True, relaxation="async")
        np.testing.assert_allclose(sweeps.equilibrium(x).s, state.s, atol=1e-8)


# -- binary activations (Laydevant et al. 2021) ---------------------------------------------------
@pytest.mark.parametrize("relaxation", ["sync", "async"])
@pytest.mark.parametrize("layers", [DENSE, CONV], ids=["dense", "conv"])
def test_binary_units_rest_at_the_clipped_drive_of_the_binary_states(layers, relaxation):
    net = HopfieldNetwork(layers, activation="sign", relaxation=relaxation, seed=3, gain=1.5)
    x, y = _problem(net, batch=5)
    for nudge in (None, Nudge(pl.costs.SquaredError(), y, 2.0)):
        state = net.equilibrium(x, nudge)
        assert state.info["residual"] < net.tol and state.info["iterations"] > 1
        assert state.s.min() >= 0.0 and state.s.max() <= 1.0
        s = [state.s[:, sl] for sl in net._slices]
        a = [(v >= 0.5).astype(float) for v in s]               # what the units communicate
        p = net.params
        for l, op in enumerate(net._ops, 1):                    # s_l = clip(z_l(H(s)), 0, 1)
            z = op.forward(p[f"W{l}"], x if l == 1 else a[l - 2]) + op.bias(p[f"b{l}"])
            if l < net.n_layers:
                z = z + net._ops[l].transpose(p[f"W{l + 1}"], a[l], a[l - 1])
            if nudge is not None and l == net.n_layers:        # the output's own minimiser
                z = (z + 2.0 * y) / 3.0
            np.testing.assert_allclose(s[l - 1], np.clip(z, 0, 1), atol=10 * net.tol)


def test_ep_contrasts_the_binary_states():
    net = HopfieldNetwork(DENSE, activation="sign", relaxation="async", seed=3, gain=2.0)
    x, _ = _problem(net, batch=6)
    free = net.equilibrium(x)
    y = 1.0 - (net.outputs(free) >= 0.5)           # targets that flip every output unit
    beta = 2.0
    grad = pl.EP(beta=beta, variant="positive").gradient(net, x, y)
    nudged = net.equilibrium(x, Nudge(pl.costs.SquaredError(), y, beta), free)
    h = [[(st.s[:, sl] >= 0.5).astype(float) for sl in net._slices] for st in (free, nudged)]
    below = [[x] + layers[:-1] for layers in h]
    for l in range(1, net.n_layers + 1):
        hebb = [np.einsum("bi,bj->ij", h[k][l - 1], below[k][l - 1]) / len(x) for k in (0, 1)]
        np.testing.assert_allclose(grad[f"W{l}"], -(hebb[1] - hebb[0]) / beta, atol=1e-12)
        assert np.any(grad[f"W{l}"] != 0)             # the nudge flipped units in every layer
    assert set(np.unique(net.param_gradient(free)["W2"])) <= {-1.0, 0.0}


def test_binary_activations_have_no_reference_and_no_complex_nudge():
    net = HopfieldNetwork(DENSE, activation="sign", relaxation="sync")
    x, y = _problem(net)
    assert "complex" not in net.capabilities and "step" in net.capabilities
    for call in (lambda: net.exact_gradient(x, y, pl.costs.SquaredError()),
                 lambda: net.truncated_bptt(x, y)):
        with pytest.raises(ValueError, match=r"activation='sign'.*no exact reference"):
            call()


# -- replicated outputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["sigmoid", "hard-sigmoid"])
def test_replicated_outputs_are_means_and_keep_the_reference_exact(activation):
    net = HopfieldNetwork([3, 4, 2], activation=activation, replicas=3, seed=3, gain=1.5)
    x, y = _problem(net)
    assert net.n_outputs == 2 and net.param_shapes["W2"] == (6, 4)
    free = net.equilibrium(x)
    np.testing.assert_allclose(net.outputs(free),
                               free.s[:, net.output_index].reshape(3, 2, 3).mean(axis=2))
    exact = pl.exact_gradient(net, x, y)
    assert relative_error(finite_difference_gradient(net, x, y), exact) < 1e-6
    assert relative_error(pl.EP(beta=1e-3, variant="centered").gradient(net, x, y), exact) < 1e-5


def test_replicated_outputs_relax_alike_by_sweeps_and_newton_and_clamp_every_replica():
    kw = dict(activation="hard-sigmoid", replicas=4, seed=2)
    newton = HopfieldNetwork([5, 6, 3], **kw)
    sweeps = HopfieldNetwork([5, 6, 3], relaxation="async", **kw)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(4, 5)), np.eye(3)[rng.integers(0, 3, 4)]
    for nudge in (Nudge(pl.costs.SquaredError(), y, 2.0), Nudge(pl.costs.CrossEntropy(), y, 1.0),
                  Nudge(pl.costs.SquaredError(), y, 20.0),
                  Nudge(pl.costs.SquaredError(), y, -2.0), pl.nudges.Clamp(0.8 * y)):
        a, b = newton.equilibrium(x, nudge), sweeps.equilibrium(x, nudge)
        np.testing.assert_allclose(b.s, a.s, atol=1e-8)
    np.testing.assert_array_equal(a.s[:, newton.output_index], np.repeat(0.8 * y, 4, axis=1))
    with pytest.raises(ValueError, match=r"replicas=0 must be a positive integer"):
        HopfieldNetwork([5, 6, 3], replicas=0)
    with pytest.raises(ValueError, match=r"replicas=2: the output layer .* must be dense"):
        HopfieldNetwork([[1, 6, 6], Conv(2, 3)], replicas=2)


def test_per_layer_gain_scales_each_layer_of_couplings():
    """``gain=[g1, g2, ...]``: the same draws as ``gain=1``, layer l scaled by ``g_l``."""
    layers = [[1, 6, 6], Conv(2, 3, padding=1, pool="avg"), 4, 2]
    one = HopfieldNetwork(layers, gain=1.0, seed=3)
    per = HopfieldNetwork(layers, gain=[1.5, 0.5, 2.0], seed=3)
    for l, g in enumerate([1.5, 0.5, 2.0], 1):
        np.testing.assert_allclose(per.params[f"W{l}"], g * one.params[f"W{l}"], rtol=1e-15)
    assert per.get_params()["gain"] == [1.5, 0.5, 2.0]
