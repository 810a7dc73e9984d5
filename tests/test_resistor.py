"""Acceptance of the linear resistor network and the EP family on it (issue: engine)."""

import networkx as nx
import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.nudges import Clamp, Nudge
from physlearn.systems import ResistorNetwork


@pytest.fixture(scope="module")
def big():
    """A random connected graph of 200 nodes, conductances uniform in [0.1, 1]."""
    net = ResistorNetwork.random(200, n_inputs=3, n_outputs=2, seed=1)
    assert len(net.nodes) == 200 and nx.is_connected(net.graph)
    g = net.params["conductance"]
    assert g.min() >= 0.1 and g.max() <= 1.0
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3))
    y = 0.3 * rng.normal(size=(8, 2))
    return net, x, y, pl.exact_gradient(net, x, y)


def test_centered_ep_matches_exact_gradient(big):
    net, x, y, ref = big
    err = relative_error(pl.EP(beta=1e-4, variant="centered").gradient(net, x, y), ref)
    assert err < 1e-6


@pytest.mark.parametrize("variant,order", [("positive", 1), ("negative", 1), ("centered", 2)])
def test_bias_order_in_beta(big, variant, order):
    net, x, y, _ = big
    measured = pl.bias_order(net, pl.EP(variant=variant), x, y, np.logspace(-2, -4, 5))
    assert abs(measured.slope - order) < 0.1, str(measured)


def test_holomorphic_ep_matches_to_1e8(big):
    net, x, y, ref = big
    err = relative_error(pl.HolomorphicEP(beta=1e-2, points=6).gradient(net, x, y), ref)
    assert err < 1e-8


@pytest.mark.parametrize("points", [2, 3, 4])
def test_holomorphic_error_falls_as_beta_to_the_n(big, points):
    net, x, y, _ = big
    radius = net.convergence_radius()   # nearest pole of g(beta)
    betas = radius * np.array([0.2, 0.1, 0.05])
    measured = pl.bias_order(net, pl.HolomorphicEP(points=points), x, y, betas)
    assert abs(measured.slope - points) < 0.15, str(measured)


def test_holomorphic_fails_outside_radius_of_convergence(big):
    """Inside the nearest pole the Cauchy sum converges to the gradient as N grows; once the
    circle encloses a pole its residue adds and the sum converges to the wrong value."""
    net, x, y, ref = big
    radius = net.convergence_radius()

    def error(r, n):
        return relative_error(pl.HolomorphicEP(beta=r, points=n).gradient(net, x, y), ref)

    def cauchy_sum(r, n):
        """The bare N-point sum (odd N: no real negative nudge past the stability bound)."""
        free = net.equilibrium(x)
        g0 = net.param_gradient(free)["conductance"]
        total = 0.0
        for beta, weight in pl.rules.holomorphic.cauchy_nudges(r, n):
            g = net.param_gradient(net.equilibrium(x, Nudge(pl.SquaredError(), y, beta),
                                                   start=free))["conductance"]
            total = total + weight * np.real((g - g0) / beta)
        return relative_error({"conductance": np.mean(total / n, axis=0)}, ref)

    assert error(0.5 * radius, 32) < 1e-6
    assert min(cauchy_sum(1.5 * radius, n) for n in (9, 17, 33)) > 0.5
    with pytest.raises(ValueError, match="radius of convergence"):   # so the rule refuses
        error(1.5 * radius, 8)


def test_holomorphic_two_points_is_centered_ep(big):
    net, x, y, _ = big
    h = pl.HolomorphicEP(beta=0.05, points=2).gradient(net, x, y)
    c = pl.EP(beta=0.05, variant="centered").gradient(net, x, y)
    np.testing.assert_allclose(h["conductance"], c["conductance"], rtol=1e-12, atol=1e-15)


def test_holomorphic_conjugate_folding_equals_full_circle(big):
    net, x, y, _ = big
    rule = pl.HolomorphicEP(beta=0.1, points=5)
    free = net.equilibrium(x)
    g0 = net.param_gradient(free)["conductance"]
    full = np.zeros(g0.shape, complex)
    for k in range(5):
        b = 0.1 * np.exp(2j * np.pi * k / 5)
        g = net.param_gradient(net.equilibrium(x, Nudge(pl.SquaredError(), y, b)))["conductance"]
        full += (g - g0) / b / 5
    np.testing.assert_allclose(rule.gradient(net, x, y)["conductance"],
                               np.real(full).mean(0), rtol=1e-10, atol=1e-14)


def test_centered_is_mean_of_positive_and_negative(big):
    net, x, y, _ = big
    p, n, c = (pl.EP(beta=0.05, variant=v).gradient(net, x, y)["conductance"]
               for v in ("positive", "negative", "centered"))
    np.testing.assert_allclose(c, 0.5 * (p + n), rtol=1e-13, atol=1e-16)


def test_exact_gradient_agrees_with_finite_differences(big):
    net, x, y, ref = big
    fd = pl.finite_difference_gradient(net, x, y, h=1e-6)
    assert relative_error(ref, fd) < 1e-6


def test_cross_entropy_gradient_is_exact():
    net = ResistorNetwork.layered([4, 5, 3], seed=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4))
    y = np.eye(3)[rng.integers(0, 3, 6)]
    cost = pl.CrossEntropy(temperature=0.2)
    ref = pl.exact_gradient(net, x, y, cost)
    assert relative_error(pl.finite_difference_gradient(net, x, y, cost), ref) < 1e-6
    assert relative_error(pl.EP(beta=1e-4).gradient(net, x, y, cost), ref) < 1e-6


def test_coupled_learning_eta_one_is_contrastive_learning(big):
    net, x, y, _ = big
    cl = pl.ContrastiveLearning().gradient(net, x, y)["conductance"]
    cpl = pl.CoupledLearning(eta=1.0).gradient(net, x, y)["conductance"]
    np.testing.assert_allclose(cpl, cl, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("variant", ["positive", "negative", "centered"])
def test_small_coupled_learning_step_lowers_cost(big, variant):
    net, x, y, _ = big
    saved = net.params
    try:
        before = pl.loss(net, x, y)
        g = pl.CoupledLearning(eta=0.1, variant=variant).gradient(net, x, y)
        net.params = {"conductance": saved["conductance"] - 1e-2 * g["conductance"]}
        assert pl.loss(net, x, y) < before
    finally:
        net.params = saved


def test_nudge_is_a_current_injection_and_clamp_holds_outputs(big):
    net, x, y, _ = big
    beta = 0.3
    state = net.equilibrium(x, Nudge(pl.SquaredError(), y, beta))
    v = state.node_voltages
    out = net.output_nodes[0]
    # Kirchhoff at the output node: current out through resistors = injected −β(V − y)
    through = sum(net.params["conductance"][i] * (v[out] - v[b if a == out else a])
                  for i, (a, b) in enumerate(net.edges) if out in (a, b))
    np.testing.assert_allclose(through, -beta * (v[out] - y[:, 0]), atol=1e-12)
    clamped = net.equilibrium(x, Clamp(y))
    np.testing.assert_allclose(net.outputs(clamped), y, atol=1e-12)


def test_batch_uses_one_factorisation(big, monkeypatch):
    net, x, y, _ = big
    net.clear_cache()
    calls = []
    import scipy.sparse.linalg as spla
    real = spla.splu
    monkeypatch.setattr(spla, "splu", lambda A: calls.append(1) or real(A))
    pl.EP(beta=1e-3, variant="centered").gradient(net, x, y)
    pl.exact_gradient(net, x, y)
    assert len(calls) == 1


def test_power_balance_tellegen(big):
    """Dissipated power equals the power delivered by the sources (free state)."""
    net, x, _, _ = big
    state = net.equilibrium(x)
    v = state.voltages
    a, b = net._ends
    dv = v[:, a] - v[:, b]
    dissipated = (dv * dv) @ net.params["conductance"]
    current = (net._incidence.T @ (net.params["conductance"] * dv).T).T
    delivered = np.sum(v[:, net._source] * current[:, net._source], axis=1)
    np.testing.assert_allclose(dissipated, delivered, rtol=1e-10)


def test_layered_builder_and_differential_inputs():
    net = ResistorNetwork.layered([3, 5, 2], seed=0)
    assert net.n_features == 3 and net.n_outputs == 2
    v = net.equilibrium(np.array([[1.0, -2.0, 0.5]])).node_voltages
    assert v[("in", 1, "+")][0] == -2.0 and v[("in", 1, "-")][0] == 2.0
    assert v["bias"][0] == 1.0 and v["ground"][0] == 0.0


# -- bad input ------------------------------------------------------------------------------

def test_floating_node_is_refused():
    g = nx.path_graph(4)
    g.add_edge(10, 11)
    with pytest.raises(ValueError, match=r"floating node.*10"):
        ResistorNetwork(g, inputs=[0], outputs=[3], ground=1)


@pytest.mark.parametrize("value,match", [(-0.5, "negative conductance"), (np.nan, "non-finite")])
def test_bad_conductance_is_refused(value, match):
    net = ResistorNetwork.layered([2, 3, 1], seed=0)
    g = net.params["conductance"].copy()
    g[2] = value
    with pytest.raises(ValueError, match=match):
        net.params = {"conductance": g}


def test_output_must_be_free():
    with pytest.raises(ValueError, match="output nodes must be free"):
        ResistorNetwork(nx.path_graph(3), inputs=[0], outputs=[0], ground=2)


def test_unknown_variant_is_refused():
    net = ResistorNetwork.layered([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match="variant='sideways'"):
        pl.EP(variant="sideways").gradient(net, np.zeros((1, 2)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="variant='up'"):
        pl.CoupledLearning(variant="up").gradient(net, np.zeros((1, 2)), np.zeros((1, 1)))


def test_wrong_target_shape_is_refused():
    net = ResistorNetwork.layered([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match="y has shape"):
        pl.EP().gradient(net, np.zeros((4, 2)), np.zeros((3, 1)))


def test_nudge_without_minimum_reports_its_residual():
    net = ResistorNetwork.layered([4, 5, 3], seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 4)), np.eye(3)[[0, 1, 2, 0]]
    with pytest.raises(pl.ConvergenceError, match=r"residual \d"):
        net.equilibrium(x, Nudge(pl.CrossEntropy(temperature=0.01), y, -1.0))


@pytest.mark.parametrize("kind", ["nudge", "clamp", "complex"])
def test_nudged_edge_drops_are_the_free_drops_plus_the_response(big, kind):
    """A nudged (or clamped) state built from the free one carries its edge drops by
    superposition; they equal the drops of its node voltages, and replace() forgets them."""
    net, x, y, _ = big
    free = net.equilibrium(x)
    nudge = {"nudge": Nudge(pl.SquaredError(), y, 0.3), "clamp": Clamp(y),
             "complex": Nudge(pl.SquaredError(), y, 0.01 * np.exp(0.7j))}[kind]
    state = net.equilibrium(x, nudge, start=free)
    assert state.drops is not None
    np.testing.assert_allclose(state.drops, net._edge_differences(state.voltages),
                               rtol=0, atol=1e-12)
    assert state.replace(s=2 * state.s).drops is None
