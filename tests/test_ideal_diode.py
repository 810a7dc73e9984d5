"""Ideal diodes (systems/ideal_diode.py): the KKT certificate, the solver, the gradient, errors."""

import itertools

import networkx as nx
import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.nudges import Clamp, Nudge
from physlearn.systems import ideal_diode as ideal
from physlearn.systems.diode import NonlinearResistorNetwork
from physlearn.testing import FD_TOLERANCE

EPS = np.finfo(float).eps
KKT_TOL = 1e-9          # the certificate the solver promises (module notes)


@pytest.fixture(scope="module")
def net():
    return NonlinearResistorNetwork.layered([3, 8, 2], seed=2, diode_law="ideal")


@pytest.fixture(scope="module")
def problem(net):
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 3)), 0.3 * rng.normal(size=(6, 2))


def _margins(net, state):
    """Distance from a switching point: min current of conducting, min reverse bias of the
    blocking diodes, per sample."""
    u = net._diode_voltages(state)
    mu = np.where(state.conducting, state.diode_currents, np.inf)
    gap = np.where(state.conducting, np.inf, -u)
    return np.minimum(mu.min(axis=1), gap.min(axis=1))


# -- the certificate -----------------------------------------------------------------------------
def test_kkt_holds_at_every_phase(net, problem):
    x, y = problem
    free = net.equilibrium(x)
    phases = [None, Nudge(pl.SquaredError(), y, 0.3), Nudge(pl.SquaredError(), y, -0.05),
              Nudge(pl.CrossEntropy(0.5), (y > 0).astype(float), 0.2), Clamp(y)]
    for nudge in phases:
        state = net.equilibrium(x, nudge, start=free)
        kkt = net.kkt_residual(state)
        assert np.all(kkt < KKT_TOL) and np.all(state.kkt < KKT_TOL), (nudge, kkt)
        u = net._diode_voltages(state)
        assert np.all(u <= KKT_TOL)                                          # primal
        assert np.all(state.diode_currents >= -KKT_TOL)                      # dual
        assert np.all(state.diode_currents[~state.conducting] == 0)          # blocking: no current
        assert np.all(np.abs(u[state.conducting]) <= KKT_TOL)                # conducting: no drop
        assert np.max(np.abs(net.residual(state))) < KKT_TOL                 # Kirchhoff
    clamped = net.equilibrium(x, Clamp(y))
    np.testing.assert_array_equal(net.outputs(clamped), y)
    # the diodes matter: some conduct, some block, and the pattern differs across the batch
    assert free.conducting.any() and (~free.conducting).any()
    assert len({row.tobytes() for row in free.conducting}) > 1


def _brute_force(net, x_row):
    """The QP's minimum by enumeration: every active set's equality-constrained optimum that
    is feasible is a feasible point, and the optimum is one of them (independent dense code)."""
    g = net.params["conductance"]
    D = net._incidence.toarray()
    L = D.T @ np.diag(g) @ D
    free, src = net._free, net._source
    v_src = net.source_voltages(x_row[None, :])[0]
    Dd = net._diode_incidence.toarray()
    best, best_v = np.inf, None
    m = Dd.shape[0]
    for active in itertools.product([False, True], repeat=m):
        A = Dd[np.array(active, bool)]
        Af, As = A[:, free], A[:, src]
        keep = np.linalg.matrix_rank(Af) if len(A) else 0
        if len(A) and keep < len(A):
            continue                                    # redundant equalities: another set
        n = len(free)
        K = np.block([[L[np.ix_(free, free)], Af.T], [Af, np.zeros((len(A), len(A)))]])
        rhs = np.r_[-L[np.ix_(free, src)] @ v_src, -As @ v_src]
        try:
            sol = np.linalg.solve(K, rhs)
        except np.linalg.LinAlgError:
            continue
        v = np.zeros(len(net.nodes))
        v[free], v[src] = sol[:n], v_src
        if np.max(Dd @ v) > 1e-12:
            continue                                    # infeasible candidate
        e = 0.5 * np.sum(g * (D @ v) ** 2)
        if e < best:
            best, best_v = e, v
    return best_v


def test_matches_enumeration_of_active_sets():
    net = NonlinearResistorNetwork.layered([2, 6, 1], seed=4, diode_law="ideal")
    x = np.random.default_rng(3).normal(size=(5, 2))
    state = net.equilibrium(x)
    for b in range(len(x)):
        # unique minimiser of a strictly convex QP: both agree to the round-off of the solves
        np.testing.assert_allclose(state.voltages[b], _brute_force(net, x[b]), rtol=0,
                                   atol=1e3 * EPS * (1 + np.abs(x[b]).max()))


# -- (a) coordinate descent ----------------------------------------------------------------------
@pytest.mark.parametrize("nudge", [None, "squared", "cross-entropy"])
def test_coordinate_descent_never_raises_the_energy(net, problem, nudge):
    x, y = problem
    if nudge == "squared":
        nudge = Nudge(pl.SquaredError(), y, 0.5)
    elif nudge == "cross-entropy":
        nudge = Nudge(pl.CrossEntropy(0.5), (y > 0).astype(float), 0.5)
    fixed, V = ideal._fixed_values(net, x, nudge)
    V = ideal.feasible_start(net, V, fixed)
    V, energies = ideal.coordinate_descent(net, V, fixed, nudge, sweeps=40, record=True)
    # non-increasing up to the round-off of evaluating a sum of len(edges) terms
    slack = 4 * len(net.edges) * EPS * np.abs(energies[:-1])
    assert np.all(np.diff(energies, axis=0) <= slack)
    assert np.all(energies[-1] < energies[0])                    # and it does descend
    assert np.max(net._diode_incidence @ V.T) <= 0.0             # feasible throughout
    exact = net.equilibrium(x, nudge)
    e_exact = ideal._energy(net, exact.voltages, nudge)
    assert np.all(e_exact <= energies[-1] + slack[-1])           # the QP minimum is below CD


def test_feasible_start_is_feasible_and_keeps_the_fixed_voltages(net, problem):
    x, _ = problem
    fixed, V = ideal._fixed_values(net, x, None)
    V0 = V.copy()
    V0[:, ~fixed] = 5 * np.random.default_rng(1).normal(size=(len(x), np.sum(~fixed)))
    start = ideal.feasible_start(net, V0, fixed)
    assert np.max(net._diode_incidence @ start.T) <= 0.0
    np.testing.assert_array_equal(start[:, fixed], V[:, fixed])


@pytest.mark.parametrize("seed", ["none", "all", "random"])
def test_active_set_finish_converges_from_any_seed(net, problem, seed):
    """The exact finish does not rely on CD: from a feasible point and any active-set guess
    it reaches the QP's solution (and, from CD's guess, in fewer iterations)."""
    x, y = problem
    nudge = Nudge(pl.SquaredError(), y, 0.2)
    fixed, V = ideal._fixed_values(net, x, nudge)
    V = ideal.feasible_start(net, V, fixed)
    m = len(net.diode_pairs)
    guess = {"none": np.zeros((len(x), m), bool), "all": np.ones((len(x), m), bool),
             "random": np.random.default_rng(7).random((len(x), m)) < 0.5}[seed]
    Vs, mu, conducting, kkt = ideal.active_set_finish(net, V, fixed, nudge, guess)
    exact = net.equilibrium(x, nudge)
    assert np.all(kkt < KKT_TOL)
    np.testing.assert_allclose(Vs, exact.voltages, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(conducting, exact.conducting)


# -- batches, warm starts ------------------------------------------------------------------------
def test_batch_equals_per_sample_solves(net, problem):
    x, _ = problem
    batch = net.equilibrium(x)
    for b in range(len(x)):
        one = net.equilibrium(x[b:b + 1])
        np.testing.assert_allclose(one.voltages[0], batch.voltages[b], rtol=0, atol=1e-13)
        np.testing.assert_array_equal(one.conducting[0], batch.conducting[b])


def test_warm_start_reaches_the_same_state(net, problem):
    x, _ = problem
    cold = net.equilibrium(x)
    warm = net.equilibrium(x, start=net.equilibrium(x + 0.05))
    np.testing.assert_allclose(warm.s, cold.s, rtol=0, atol=1e-13)


# -- the gradient --------------------------------------------------------------------------------
def test_adjoint_solves_the_kkt_restricted_system(net, problem):
    """λ from the contraction equals the solution of [K D_Aᵀ; D_A 0] [λ; ν] = [r; 0]."""
    x, _ = problem
    state = net.equilibrium(x)
    rhs = np.random.default_rng(5).normal(size=state.s.shape)
    lam = net.adjoint(state, rhs)
    g = net.params["conductance"]
    K = (net._d_free.T @ np.diag(g) @ net._d_free.toarray())
    Dd = net._diode_free.toarray()
    for b in range(len(x)):
        A = Dd[state.conducting[b]]
        A = A[np.abs(A).sum(axis=1) > 0]
        rank = np.linalg.matrix_rank(A) if len(A) else 0
        # independent rows of D_A (conducting diodes can be redundant, e.g. loops)
        basis = np.zeros((0, K.shape[0]))
        for row in A:
            trial = np.vstack([basis, row])
            if np.linalg.matrix_rank(trial) > len(basis):
                basis = trial
        assert len(basis) == rank
        M = np.block([[K, basis.T], [basis, np.zeros((rank, rank))]])
        ref = np.linalg.solve(M, np.r_[rhs[b], np.zeros(rank)])[:K.shape[0]]
        np.testing.assert_allclose(lam[b], ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cost", [pl.SquaredError(), pl.CrossEntropy(0.5)])
def test_exact_gradient_matches_finite_differences(cost):
    net = NonlinearResistorNetwork.layered([2, 5, 2], seed=1, diode_law="ideal")
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(4, 2)), 0.3 * rng.normal(size=(4, 2))
    if isinstance(cost, pl.CrossEntropy):
        y = (y > 0).astype(float)
    # away from switching points: a step of h = 1e-6 in g moves voltages by O(h), far less
    # than the margin, so the active set is the same at every finite-difference point
    assert np.all(_margins(net, net.equilibrium(x)) > 1e-4)
    ref = pl.exact_gradient(net, x, y, cost)
    fd = pl.finite_difference_gradient(net, x, y, cost, h=1e-6)
    assert relative_error(ref, fd) < FD_TOLERANCE
    ep = pl.EP(beta=1e-4).gradient(net, x, y, cost=cost)
    assert relative_error(ep, fd) < FD_TOLERANCE       # EP measures the same gradient


@pytest.mark.parametrize("variant,order", [("positive", 1), ("negative", 1), ("centered", 2)])
def test_ep_bias_order(net, problem, variant, order):
    """On a fixed active set the nudged QP is smooth in β, so EP keeps its bias order."""
    x, y = problem
    measured = pl.bias_order(net, pl.EP(variant=variant), x, y, np.logspace(-2, -4, 5))
    assert abs(measured.slope - order) < 0.1, str(measured)


def test_centered_ep_matches_exact_gradient(net, problem):
    """Centered EP's error is O(β²): at β = 1e-4 it is 1e4 times below its error at β = 1e-2."""
    x, y = problem
    ref = pl.exact_gradient(net, x, y)
    coarse = relative_error(pl.EP(beta=1e-2).gradient(net, x, y), ref)
    fine = relative_error(pl.EP(beta=1e-4).gradient(net, x, y), ref)
    assert fine < 1.5e-4 * coarse


# -- errors: infeasible diodes, source loops, floating nodes ---------------------------------------
def _chain(diodes, **kwargs):
    graph = nx.path_graph(["in", "h", "out", "ground"])
    return NonlinearResistorNetwork(graph, ["in"], ["out"], "ground", conductance=[1, 1, 1],
                                    diodes=diodes, diode_law="ideal", **kwargs)


def test_forward_biased_diode_path_between_sources_is_refused():
    net = _chain([("in", "h"), ("h", "ground")])
    state = net.equilibrium([[-1.0]])              # reverse biased: both block
    assert not state.conducting.any()
    np.testing.assert_allclose(state.voltages[0], [-1.0, -2 / 3, -1 / 3, 0.0], atol=1e-14)
    msg = r"ideal diodes \[\('in', 'h'\), \('h', 'ground'\)\] form a path .*sample 1.*= 1 V > 0"
    with pytest.raises(ValueError, match=msg):
        net.equilibrium([[-1.0], [1.0]])
    with pytest.raises(ValueError, match="forward-biased"):
        net.to_spice([1.0])


def test_diodes_between_fixed_nodes_at_construction():
    layered = dict(seed=0, diode_law="ideal")
    with pytest.raises(ValueError, match=r"\('bias', 'ground'\) forward-biased by sources: "
                                         r"V_bias - V_ground = 1 V > 0"):
        NonlinearResistorNetwork.layered([2, 3, 1], diodes=[("bias", "ground")], **layered)
    with pytest.raises(ValueError, match="one of them is an input"):
        NonlinearResistorNetwork.layered([2, 3, 1], diodes=[(("in", 0, "+"), "ground")],
                                         **layered)
    # reverse biased by constant sources: it never conducts, kept
    net = NonlinearResistorNetwork.layered([2, 3, 1], diodes=[("ground", "bias")], **layered)
    assert not net.equilibrium([[0.3, -0.1]]).conducting.any()


def test_a_clamp_that_forward_biases_a_diode_is_refused():
    net = _chain([("out", "ground")])
    with pytest.raises(ValueError, match="clamped outputs count as fixed"):
        net.equilibrium([[0.5]], Clamp([[0.2]]))
    assert net.equilibrium([[0.5]], Clamp([[-0.2]])).kkt[0] < KKT_TOL


def test_node_reached_only_through_ideal_diodes_is_floating():
    graph = nx.path_graph(["in", "h", "out", "ground"])
    graph.add_node("x")
    with pytest.raises(ValueError, match=r"floating node\(s\) \['x'\].*ideal diodes"):
        NonlinearResistorNetwork(graph, ["in"], ["out"], "ground", diodes=[("h", "x")],
                                 diode_law="ideal")
    # a Shockley diode fixes the voltage: no current can flow into x, so V_x = V_h
    net = NonlinearResistorNetwork(graph, ["in"], ["out"], "ground", diodes=[("h", "x")],
                                   diode_law="shockley")
    state = net.equilibrium([[0.4], [-0.7]])
    assert np.max(np.abs(net.residual(state))) < 1e-10
    v = state.node_voltages
    np.testing.assert_allclose(v["x"], v["h"], atol=1e-9)


def test_ideal_diode_has_no_current_voltage_curve(net):
    with pytest.raises(ValueError, match="multiplier"):
        net.diode_current(np.zeros(3))
    np.testing.assert_array_equal(net.diode_cocontent(np.array([-1.0, 0.0])), 0.0)
    with pytest.raises(ValueError, match="series_resistance"):
        NonlinearResistorNetwork.layered([2, 3, 1], diode_law="ideal", series_resistance=1.0)


def test_degenerate_diode_structures_keep_the_certificate():
    """Parallel and antiparallel diodes, a loop of diodes through free nodes, and a conducting
    path between two fixed nodes at the same voltage: the currents are not unique there, the
    voltages are, and the KKT conditions still hold."""
    graph = nx.cycle_graph(["in", "a", "b", "c", "out", "ground"])
    graph.add_edges_from([("a", "zero"), ("c", "zero"), ("b", "out")])
    diodes = [("a", "b"), ("a", "b"), ("b", "a"), ("b", "c"), ("c", "a"),
              ("ground", "b"), ("b", "zero"), ("out", "ground")]
    net = NonlinearResistorNetwork(graph, ["in"], ["out"], "ground", bias_sources={"zero": 0.0},
                                   diodes=diodes, diode_law="ideal", seed=1)
    x = np.array([[-2.0], [-0.5], [0.5], [2.0]])
    state = net.equilibrium(x)
    assert np.all(state.kkt < KKT_TOL) and np.all(net.kkt_residual(state) < KKT_TOL)
    v = state.node_voltages
    np.testing.assert_allclose(v["a"], v["b"], atol=1e-14)       # the loop a→b→c→a: equal
    np.testing.assert_allclose(v["b"], 0.0, atol=1e-14)          # ground ≤ V_b ≤ zero = 0 V
    for b in range(len(x)):
        np.testing.assert_allclose(state.voltages[b], _brute_force(net, x[b]), rtol=0,
                                   atol=1e3 * EPS * (1 + np.abs(x[b]).max()))



def test_a_nudge_without_minimum_raises():
    """A negative nudge stronger than the output stiffness leaves E + βC unbounded below."""
    net = NonlinearResistorNetwork.layered([2, 4, 1], seed=0, diode_law="ideal")
    with pytest.raises(pl.ConvergenceError, match="no minimum"):
        net.equilibrium(np.ones((1, 2)), Nudge(pl.SquaredError(), np.zeros((1, 1)), -50.0))
