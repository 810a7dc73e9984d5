"""Nonlinear resistor networks with diodes (systems/diode.py)."""

import networkx as nx
import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.nudges import Clamp, Nudge
from physlearn.systems import ResistorNetwork
from physlearn.systems.diode import NonlinearResistorNetwork
from physlearn.systems.solvers import damped_newton, newton_direction


# -- the diode curve ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def net():
    return NonlinearResistorNetwork.layered([3, 8, 2], seed=2)


@pytest.fixture(scope="module")
def problem(net):
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 3)), 0.3 * rng.normal(size=(6, 2))


@pytest.mark.parametrize("threshold", [0.0, 0.3, -0.2])
def test_cocontent_integrates_the_current(threshold):
    d = NonlinearResistorNetwork.layered([1, 2, 1], seed=0, knee=0.07, threshold=threshold)
    u = np.linspace(-3, 3, 61)
    h = 1e-6
    fd = (d.diode_cocontent(u + h) - d.diode_cocontent(u - h)) / (2 * h)
    np.testing.assert_allclose(fd, d.diode_current(u), rtol=1e-7, atol=1e-8)
    fd2 = (d.diode_current(u + h) - d.diode_current(u - h)) / (2 * h)
    np.testing.assert_allclose(fd2, d.diode_differential_conductance(u), rtol=1e-6, atol=1e-8)
    assert d.diode_cocontent(0.0) == pytest.approx(0.0, abs=1e-15)
    assert d.diode_current(0.0) == pytest.approx(0.0, abs=1e-15)
    assert np.all(d.diode_differential_conductance(u) > 0)          # strictly convex


def test_ideal_diode_limit():
    """V_T → 0: forward current g_D (u − u₀), blocked below the threshold."""
    d = NonlinearResistorNetwork.layered([1, 2, 1], seed=0, knee=1e-3, diode_conductance=5.0,
                                         threshold=0.2)
    u = np.array([-1.0, 0.0, 0.1, 0.5, 1.0])
    np.testing.assert_allclose(d.diode_current(u), 5.0 * np.maximum(u - 0.2, 0), atol=1e-12)


def test_a_diode_rectifies():
    """in —g— h —g— out —g— ground, diode ground → h: the hidden voltage cannot go negative.

    Near-ideal diode: on-conductance 100, knee 1e-5 (reverse leak g_D V_T ln 2 ≈ 7e-4).
    """
    graph = nx.path_graph(["in", "h", "out", "ground"])
    net = NonlinearResistorNetwork(graph, ["in"], ["out"], "ground", conductance=[1, 1, 1],
                                   diodes=[("ground", "h")], diode_conductance=100.0, knee=1e-5)
    o = net.predict([[-1.0], [1.0]])[:, 0]
    linear = ResistorNetwork(graph, ["in"], ["out"], "ground", conductance=[1, 1, 1])
    assert o[1] == pytest.approx(linear.predict([[1.0]])[0, 0], abs=1e-3)   # diode blocks
    assert abs(o[0]) < 0.02 * abs(o[1])                                     # diode conducts


def test_without_diodes_it_is_the_linear_network():
    lin = ResistorNetwork.layered([3, 5, 2], seed=4)
    non = NonlinearResistorNetwork.layered([3, 5, 2], seed=4, diodes=[])
    x = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_allclose(non.predict(x), lin.predict(x), rtol=0, atol=1e-13)


def test_patterns_place_diodes_on_hidden_nodes():
    net = NonlinearResistorNetwork.layered([2, 4, 1], seed=0, diodes="alternating")
    hidden = [("h", 0, j) for j in range(4)]
    assert net.diode_pairs == (("ground", hidden[0]), (hidden[1], "ground"),
                               ("ground", hidden[2]), (hidden[3], "ground"))
    exc = NonlinearResistorNetwork.layered([2, 4, 1], seed=0, diodes="excitatory")
    assert all(a == "ground" for a, _ in exc.diode_pairs)


# -- equilibria ---------------------------------------------------------------------------------
def test_kirchhoff_at_every_phase(net, problem):
    x, y = problem
    free = net.equilibrium(x)
    for nudge in (None, Nudge(pl.SquaredError(), y, 0.3), Nudge(pl.CrossEntropy(0.5), y, -0.1),
                  Clamp(y)):
        state = net.equilibrium(x, nudge, start=free)
        assert np.max(np.abs(net.residual(state))) < 1e-12
    clamped = net.equilibrium(x, Clamp(y))
    np.testing.assert_array_equal(net.outputs(clamped), y)


def test_warm_start_reaches_the_same_state(net, problem):
    x, _ = problem
    cold = net.equilibrium(x)
    warm = net.equilibrium(x, start=net.equilibrium(x + 0.01))
    np.testing.assert_allclose(warm.s, cold.s, atol=1e-13)


@pytest.mark.parametrize("solver", ["dense", "sparse"])
def test_chord_steps_reach_the_fresh_newton_state(problem, solver, monkeypatch):
    """Reused factorisations (chord steps) end at the state fresh Newton steps reach, free,
    nudged and clamped (the clamp relaxes a subset of the nodes)."""
    from physlearn.systems import solvers

    net = NonlinearResistorNetwork.layered([3, 8, 2], seed=2, linear_solver=solver)
    x, y = problem
    phases = [None, Nudge(pl.SquaredError(), y, 0.5), Clamp(y)]
    chord = [net.equilibrium(x, nudge=phase).s for phase in phases]
    monkeypatch.setattr(solvers, "CHORD_CONTRACTION", 0.0)
    for phase, s in zip(phases, chord):
        np.testing.assert_allclose(s, net.equilibrium(x, nudge=phase).s, atol=1e-12)


def test_power_balance(net, problem):
    """Tellegen: power delivered by the sources = power absorbed by resistors and diodes."""
    x, _ = problem
    state = net.equilibrium(x)
    dv = net._drops(state)
    u = net._diode_voltages(state)
    absorbed = (dv * dv) @ net.params["conductance"] + np.sum(u * net.diode_current(u), 1)
    # current out of each source node into the network, times its voltage
    currents = np.asarray(net._incidence.T @ (dv * net.params["conductance"]).T).T + \
        np.asarray(net._diode_incidence.T @ net.diode_current(u).T).T
    delivered = np.sum(currents[:, net._source] * state.voltages[:, net._source], axis=1)
    np.testing.assert_allclose(delivered, absorbed, rtol=1e-10)


def test_non_convergence_raises_with_the_residual(problem):
    x, _ = problem
    net = NonlinearResistorNetwork.layered([3, 8, 2], seed=2, max_iter=1)
    with pytest.raises(pl.ConvergenceError, match="residual"):
        net.equilibrium(x)


def test_a_nudge_without_minimum_raises():
    """A negative nudge stronger than the output stiffness leaves E + βC unbounded below."""
    net = NonlinearResistorNetwork.layered([2, 4, 1], seed=0, max_iter=20)
    x, y = np.ones((1, 2)), np.zeros((1, 1))
    with pytest.raises(pl.ConvergenceError):
        net.equilibrium(x, Nudge(pl.SquaredError(), y, -50.0))


def test_holomorphic_ep_is_refused(net, problem):
    x, y = problem
    with pytest.raises(ValueError, match="complex"):
        pl.HolomorphicEP().gradient(net, x, y)
    with pytest.raises(ValueError, match="holomorphic"):
        net.equilibrium(x, Nudge(pl.SquaredError(), y, 0.1j))


@pytest.mark.parametrize("kwargs,match", [
    ({"knee": 0.0}, "knee"), ({"knee": np.nan}, "knee"), ({"diode_conductance": -1}, "diode_con"),
    ({"threshold": np.inf}, "threshold"), ({"diodes": "sideways"}, "diodes"),
    ({"diodes": [("ground", "nowhere")]}, "nowhere"), ({"max_iter": 0}, "max_iter"),
])
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NonlinearResistorNetwork.layered([2, 3, 1], seed=0, **kwargs)


def test_negative_conductance_is_refused(net):
    g = net.params["conductance"].copy()
    g[3] = -0.5
    with pytest.raises(ValueError, match="negative conductance"):
        net.params = {"conductance": g}


# -- gradients ----------------------------------------------------------------------------------
def test_exact_gradient_matches_finite_differences_cross_entropy():
    net = NonlinearResistorNetwork.layered([2, 3, 2], seed=1)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 2)), np.eye(2)[[0, 1, 1]]
    cost = pl.CrossEntropy(temperature=0.2)
    ref = pl.exact_gradient(net, x, y, cost)
    assert relative_error(pl.finite_difference_gradient(net, x, y, cost), ref) < 1e-7


@pytest.mark.parametrize("variant,order", [("positive", 1), ("negative", 1), ("centered", 2)])
def test_ep_bias_order(net, problem, variant, order):
    x, y = problem
    measured = pl.bias_order(net, pl.EP(variant=variant), x, y, np.logspace(-2, -4, 5))
    assert abs(measured.slope - order) < 0.1, str(measured)


def test_centered_ep_matches_implicit_differentiation(net, problem):
    x, y = problem
    err = relative_error(pl.EP(beta=1e-4).gradient(net, x, y), pl.exact_gradient(net, x, y))
    assert err < 1e-7


@pytest.mark.parametrize("variant", ["positive", "negative", "centered"])
def test_small_coupled_learning_step_lowers_the_cost(net, problem, variant):
    x, y = problem
    g = pl.CoupledLearning(eta=0.1, variant=variant).gradient(net, x, y)
    before = pl.loss(net, x, y)
    original = net.params
    try:
        step = 1e-3 * g["conductance"] / np.linalg.norm(g["conductance"])
        net.params = {"conductance": original["conductance"] - step}
        assert pl.loss(net, x, y) < before
    finally:
        net.params = original


# -- learning XOR -------------------------------------------------------------------------------
def _train_xor(cls):
    net = cls.layered([2, 8, 2], seed=0)
    return pl.train(net, pl.EP(beta=0.05, variant="centered"), pl.datasets.xor(), epochs=30,
                    batch_size=4, optimizer=pl.optim.Adam(lr=0.1),
                    cost=pl.CrossEntropy(temperature=0.1), progress=False)


def test_diodes_learn_xor_which_the_linear_network_cannot():
    diode_run, linear_run = _train_xor(NonlinearResistorNetwork), _train_xor(ResistorNetwork)
    assert diode_run.final["train_accuracy"] == 1.0
    assert diode_run.final["train_loss"] < 0.25 * diode_run["train_loss"][0]
    assert linear_run.final["train_accuracy"] <= 0.75      # a linear map cannot separate XOR
    assert linear_run.final["train_loss"] > 0.6


# -- the shared Newton solver -------------------------------------------------------------------
def test_newton_direction_shifts_indefinite_blocks_only():
    import scipy.sparse as sp

    blocks = [np.diag([2.0, 1.0]), np.diag([1.0, -1.0])]
    r = np.ones((2, 2))
    d, exact = newton_direction(sp.block_diag(blocks, format="csc"), r, 2)
    np.testing.assert_allclose(d[0], [0.5, 1.0])
    assert exact.tolist() == [True, False]
    assert np.sum(r[1] * d[1]) > 0                         # still a descent direction


def test_damped_newton_refuses_a_saddle():
    """f = x² − y² from its saddle point: the residual vanishes but it is no minimum."""
    import scipy.sparse as sp

    def step(s, r):
        return newton_direction(sp.diags(np.tile([2.0, -2.0], len(s))).tocsc(), r, len(s))

    with pytest.raises(pl.ConvergenceError, match="saddle"):
        damped_newton(np.zeros((1, 2)), lambda s: s[:, 0] ** 2 - s[:, 1] ** 2,
                      lambda s: 2 * s * [1, -1], step, tol=1e-10, max_iter=10)
