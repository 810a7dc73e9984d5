"""Systems from a symbolic energy: :class:`physlearn.systems.SymbolicSystem`.

* the co-content of the linear resistor network, written in sympy, gives the equilibria and
  the EP gradients of the hand-written :class:`ResistorNetwork` to 1e-10 on a 50-node graph
  (dense and sparse Hessians);
* ``nonnegative`` parameters are refused below their bound with a message naming the
  parameter, its symbol, the value and the bound;
* undeclared symbols, outputs outside the state and other bad declarations are refused;
* ``derivation()`` proves the EP identity for the system's own energy (and an edited
  statement is not proved);
* nonlinear energies (a cubic resistor element, a spring network with a Lennard-Jones term)
  relax by Newton and pass the contract checks; an energy without a minimum raises
  ``ConvergenceError`` naming the residual.
"""

import numpy as np
import pytest
import sympy as sp

import physlearn as pl
from physlearn import testing
from physlearn.derivations._derivation import Step
from physlearn.nudges import Clamp, Nudge
from physlearn.system import ConvergenceError
from physlearn.systems import ResistorNetwork, SymbolicSystem
from physlearn.systems.symbolic import resistor_cocontent, spring_network, symbolic_resistor

TOL = 1e-10


@pytest.fixture(scope="module")
def pair():
    """ResistorNetwork.random(50) and the SymbolicSystem of its co-content (same conductances)."""
    net = ResistorNetwork.random(50, seed=0)
    sym = resistor_cocontent(net.graph, net.inputs, net.output_nodes, net.ground,
                             conductance=net.params["conductance"])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, net.n_features))
    y = 0.3 * rng.normal(size=(6, net.n_outputs))
    return net, sym, x, y


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def test_same_graph_and_parameters(pair):
    net, sym, _, _ = pair
    assert sym.n_state == 46 and sym.n_features == 3 and sym.n_outputs == 2
    np.testing.assert_array_equal(sym.params["conductance"], net.params["conductance"])
    assert sym.capabilities >= {"soft_nudge", "clamp"}


@pytest.mark.parametrize("phase", ["free", "nudged", "negative", "clamped"])
def test_equilibria_match_the_resistor_network(pair, phase):
    net, sym, x, y = pair
    nudge = {"free": None, "nudged": Nudge(pl.SquaredError(), y, 0.5),
             "negative": Nudge(pl.SquaredError(), y, -0.1), "clamped": Clamp(y)}[phase]
    a, b = net.equilibrium(x, nudge), sym.equilibrium(x, nudge)
    assert _max_diff(net.outputs(a), sym.outputs(b)) < TOL
    # the free node voltages, in the same (node) order
    assert _max_diff(a.s, b.s) < TOL
    assert float(np.max(np.abs(sym.residual(b)))) < TOL


@pytest.mark.parametrize("cost", [pl.SquaredError(), pl.CrossEntropy()],
                         ids=["squared", "cross-entropy"])
def test_exact_and_ep_gradients_match_the_resistor_network(pair, cost):
    net, sym, x, y = pair
    exact_net, exact_sym = net.exact_gradient(x, y, cost), sym.exact_gradient(x, y, cost)
    assert _max_diff(exact_net["conductance"], exact_sym["conductance"]) < TOL
    rule = pl.EP(beta=1e-3, variant="centered")
    ep_net, ep_sym = rule.gradient(net, x, y, cost), rule.gradient(sym, x, y, cost)
    assert _max_diff(ep_net["conductance"], ep_sym["conductance"]) < TOL
    assert _max_diff(pl.exact_gradient(sym, x, y, cost)["conductance"],
                     exact_net["conductance"]) < TOL


def test_holomorphic_ep_matches_the_resistor_network(pair):
    net, sym, x, y = pair
    assert "complex" in sym.capabilities
    rule = pl.HolomorphicEP(beta=0.02, points=3)
    cost = pl.SquaredError()
    a, b = rule.gradient(net, x, y, cost), rule.gradient(sym, x, y, cost)
    assert _max_diff(a["conductance"], b["conductance"]) < TOL
    nudge = Nudge(cost, y, 0.05 + 0.05j)
    assert _max_diff(net.equilibrium(x, nudge).s, sym.equilibrium(x, nudge).s) < TOL


def test_a_non_holomorphic_energy_refuses_complex_nudges():
    s, x, k = sp.symbols("s x k")
    energy = k * (s - x) ** 2 / 2 + sp.Piecewise((s ** 4, s > 0), (0, True))
    sym = SymbolicSystem(energy, state=[s], params={"k": [k]}, inputs=[x], outputs=[s],
                         nonnegative=["k"])
    assert "complex" not in sym.capabilities
    with pytest.raises(ValueError, match=r"complex beta=.*not holomorphic"):
        sym.equilibrium([[0.5]], Nudge(pl.SquaredError(), [[0.0]], 0.1j))


def test_sparse_hessian_gives_the_same_numbers(pair):
    net, _, x, y = pair
    sparse = resistor_cocontent(net.graph, net.inputs, net.output_nodes, net.ground,
                                conductance=net.params["conductance"], sparse=True)
    assert sparse._sparse
    H = sparse.hessian(sparse.equilibrium(x[:2]))
    assert H.shape == (2 * 46, 2 * 46) and H.nnz < 0.2 * H.shape[0] ** 2
    cost = pl.SquaredError()
    assert _max_diff(sparse.predict(x), net.predict(x)) < TOL
    rule = pl.EP(beta=1e-3, variant="centered")
    assert _max_diff(rule.gradient(sparse, x, y, cost)["conductance"],
                     rule.gradient(net, x, y, cost)["conductance"]) < TOL


def test_large_state_uses_the_sparse_hessian():
    sym = symbolic_resistor(60)
    assert sym.n_state > 50 and sym._sparse


# -- parameters ------------------------------------------------------------------------------
def test_nonnegative_parameters_are_refused_below_the_bound():
    sym = symbolic_resistor(10)
    new = sym.params.copy()
    new["conductance"][3] = -0.25
    with pytest.raises(ValueError, match=r"params\['conductance'\] at flat index 3 "
                                         r"\(symbol g3\) = -0.25 is a negative conductance; "
                                         r"conductance values must be >= 0"):
        sym.params = new
    sym.update_params(new)                                   # a learning step clips
    assert sym.params["conductance"][3] == 1e-6


def test_default_init_is_a_seeded_draw():
    s, x, k, b = sp.symbols("s x k b")
    kw = dict(state=[s], params={"k": [k], "b": [b]}, inputs=[x], outputs=[s],
              nonnegative=["k"])
    one = SymbolicSystem(k * (s - x) ** 2 / 2 + b * s, **kw, seed=3)
    two = SymbolicSystem(k * (s - x) ** 2 / 2 + b * s, **kw, seed=3)
    assert one.params["k"] == two.params["k"] and 0.5 <= one.params["k"][0] <= 1.5
    other = SymbolicSystem(k * (s - x) ** 2 / 2 + b * s, **kw, seed=4)
    assert other.params["b"] != one.params["b"]
    given = SymbolicSystem(k * (s - x) ** 2 / 2 + b * s, **kw, init={"k": [2.0]})
    assert given.params["k"][0] == 2.0


# -- bad declarations ------------------------------------------------------------------------
S, X, K, Z = sp.symbols("s x k z")
GOOD = dict(state=[S], params={"k": [K]}, inputs=[X], outputs=[S])


@pytest.mark.parametrize("energy,changes,match", [
    (K * (S - X) ** 2 / 2 + Z * S, {}, r"energy contains symbol\(s\) \['z'\] that are not "
                                       r"declared as state, inputs or params"),
    (K * (S - X) ** 2 / 2, {"outputs": [X]}, r"outputs entry x is not a state symbol"),
    (K * (S - X) ** 2 / 2, {"outputs": [S ** 2]}, r"outputs entry s\*\*2 .* is not a sympy "
                                                  r"Symbol"),
    (K * (S - X) ** 2 / 2, {"inputs": [S]}, r"symbol s is declared twice: in state and in "
                                            r"inputs"),
    (K * X ** 2, {}, r"state symbol\(s\) \['s'\] do not appear in the energy"),
    (sp.Matrix([S, X]), {}, r"energy must be a scalar sympy expression"),
    (K * (S - X) ** 2 / 2 + sp.Abs(S) ** 3, {}, r"a derivative of the energy has no numpy "
                                                r"form"),
    ("k*(s - ", {}, r"is not a sympy expression"),
    (K * (S - X) ** 2 / 2, {"params": {}}, r"params must be a non-empty dict"),
    (K * (S - X) ** 2 / 2, {"state": [S, S]}, r"state lists symbol\(s\) \['s'\] twice"),
    (K * (S - X) ** 2 / 2, {"nonnegative": ["q"]}, r"nonnegative names \['q'\]"),
    (K * (S - X) ** 2 / 2, {"init": {"q": [1.0]}}, r"init names \['q'\]"),
    (K * (S - X) ** 2 / 2, {"init": {"k": [1.0, 2.0]}}, r"params\['k'\] has shape \(2,\)"),
    (K * (S - X) ** 2 / 2, {"tol": 0}, r"tol=0 must be a finite number > 0"),
    (K * (S - X) ** 2 / 2, {"sparse": "yes"}, r"sparse='yes'"),
])
def test_bad_declarations_are_refused(energy, changes, match):
    with pytest.raises(ValueError, match=match):
        SymbolicSystem(energy, **{**GOOD, **changes})


# -- the derivation --------------------------------------------------------------------------
def test_derivation_proves_the_ep_identity_for_this_energy():
    sym = symbolic_resistor(10)
    derivation = sym.derivation()
    proof = derivation.verify()
    assert proof, proof.report()
    assert len(proof.lines) == 4
    assert derivation.check_numeric(), derivation.check_numeric().report()
    # the statement is about this energy: an edited one (a dropped term) is not proved
    wrong = derivation.edited(statement=Step("EP without the adjoint term",
                                             derivation.statement.expr
                                             + sp.Symbol("u0") * sp.Symbol("v0")))
    assert not wrong.verify()


def test_derivation_of_a_nonlinear_energy():
    sym = cubic_network()
    derivation = sym.derivation()
    assert derivation.verify(), derivation.verify().report()
    assert derivation.check_numeric(), derivation.check_numeric().report()


# -- nonlinear energies ----------------------------------------------------------------------
def cubic_network(n_nodes=8):
    """A resistor network whose elements carry I = g ΔV + a ΔV³ (co-content gΔV²/2 + aΔV⁴/4)."""
    net = ResistorNetwork.random(n_nodes, n_inputs=2, n_outputs=2, seed=2)
    a = sp.symbols(f"a0:{len(net.edges)}")
    return resistor_cocontent(
        net.graph, net.inputs, net.output_nodes, net.ground,
        conductance=net.params["conductance"],
        element=lambda dv, g, e: g * dv ** 2 / 2 + a[e] * dv ** 4 / 4,
        extra_params={"cubic": list(a)}, nonnegative=["conductance", "cubic"], floor=0.0)


def test_nonlinear_element_relaxes_and_passes_the_contract_checks():
    sym = cubic_network()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 2)), 0.3 * rng.normal(size=(4, 2))
    state = sym.equilibrium(x)
    assert float(np.max(np.abs(sym.residual(state)))) < TOL
    status = testing.check_system(sym, x, y)
    assert all(v == "passed" for v in status.values()), status
    # with the cubic term off it is the linear resistor network
    sym.params = {**sym.params.copy(), "cubic": np.zeros(len(sym.params["cubic"]))}
    net = ResistorNetwork.random(8, n_inputs=2, n_outputs=2, seed=2)
    assert _max_diff(sym.predict(x), net.predict(x)) < TOL


def test_spring_network_with_a_lennard_jones_term():
    sym = spring_network(3)
    rng = np.random.default_rng(0)
    x, y = 0.1 * rng.normal(size=(3, 1)), 0.05 * rng.normal(size=(3, 2))
    state = sym.equilibrium(x)
    assert float(np.max(np.abs(sym.residual(state)))) < TOL
    status = testing.check_system(sym, x, y, cost="squared_error")
    assert all(v == "passed" for v in status.values()), status
    result = testing.check_rule(pl.EP(beta=1e-3, variant="centered"), sym, x, y,
                                cost="squared_error", tolerance=1e-5)
    assert result[0].passed, result[0].report()


def test_an_energy_without_a_minimum_raises_convergence_error_naming_the_residual():
    s, x, k = sp.symbols("s x k")
    sym = SymbolicSystem(-k * s ** 4 / 4 + x * s, state=[s], params={"k": [k]}, inputs=[x],
                         outputs=[s], init={"k": [1.0]}, max_iter=30)
    with pytest.raises(ConvergenceError, match=r"residual max\|dF/ds\| = "):
        sym.equilibrium([[0.5]])


def test_a_saddle_is_not_returned_as_an_equilibrium():
    s, x, k = sp.symbols("s x k")
    # a double well: s = 0 is a maximum for x = 0, the minima sit near s = ±1
    energy = k * (s ** 4 / 4 - s ** 2 / 2) + x * s
    kw = dict(state=[s], params={"k": [k]}, inputs=[x], outputs=[s], init={"k": [1.0]})
    with pytest.raises(ConvergenceError, match=r"samples \[0\] reached a stationary point "
                                               r"of E \+ beta\*C that is not a minimum"):
        SymbolicSystem(energy, **kw).equilibrium([[0.0], [0.3]])   # starts on the maximum
    sym = SymbolicSystem(energy, **kw, initial_state=[0.1])
    state = sym.equilibrium([[0.0], [0.3]])
    assert np.all(np.abs(np.abs(state.s[:, 0]) - 1.0) < 0.2)   # a minimum near ±1, not s = 0
    assert float(np.max(np.abs(sym.residual(state)))) < TOL


def test_round_trip_through_get_params():
    sym = symbolic_resistor(10)
    rebuilt = type(sym)(**sym.get_params(deep=False))
    x = np.random.default_rng(0).normal(size=(3, 2))
    np.testing.assert_array_equal(rebuilt.predict(x), sym.predict(x))
