"""SpiceNetwork (systems/spice_network.py): equilibrium propagation with ngspice in the loop.

The in-process circuit model and ngspice must agree on every state the rules ask for (free,
soft-nudged with either sign of β, cross-entropy nudge, clamp), so that EP gradients and whole
training runs through ngspice reproduce the in-process ones; bad inputs are refused clearly.
"""

import networkx as nx
import numpy as np
import pytest

import physlearn as pl
from physlearn import testing
from physlearn.check import relative_error
from physlearn.system import ConvergenceError
from physlearn.systems import ResistorNetwork, SpiceNetwork
from physlearn.systems import spice_network as spice_module
from physlearn.systems.diode import NonlinearResistorNetwork
from physlearn.systems.phase_oscillators import PhaseCost
from physlearn.systems.spice import INSTALL_HINT, ngspice_available

needs_ngspice = pytest.mark.skipif(
    not ngspice_available(), reason=f"ngspice is not installed ({INSTALL_HINT})")

LAYERS = [2, 6, 2]
VOLT_TOL = 1e-8        # ngspice's operating point against the in-process equilibrium (V)
# (law, shockley_element): behavioural Shockley sources, SPICE junction diodes, smooth law
CIRCUITS = [("shockley", "B"), ("shockley", "D"), ("smooth", "B")]


def circuit(law="shockley", seed=0):
    return NonlinearResistorNetwork.layered(LAYERS, seed=seed, diode_law=law)


def problem(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, LAYERS[0])), 0.3 * rng.normal(size=(n, LAYERS[-1]))


def nudges(y):
    return {"free": None,
            "beta=+0.1": pl.Nudge(pl.SquaredError(), y, 0.1),
            "beta=-0.1": pl.Nudge(pl.SquaredError(), y, -0.1),
            "cross-entropy": pl.Nudge(pl.CrossEntropy(temperature=0.1), np.abs(y), 0.05),
            "clamp": pl.Clamp(y)}


def test_the_test_circuit_is_large_enough():
    c = circuit()
    assert len(c.nodes) >= 10 and len(c.diode_pairs) >= 2


# -- (1) states ----------------------------------------------------------------------------------
@needs_ngspice
@pytest.mark.parametrize("law,element", CIRCUITS)
def test_states_match_the_in_process_equilibria(law, element):
    net, twin = SpiceNetwork(circuit(law), shockley_element=element), circuit(law)
    x, y = problem()
    for label, nudge in nudges(y).items():
        state, reference = net.equilibrium(x, nudge), twin.equilibrium(x, nudge)
        worst = np.max(np.abs(state.voltages - reference.voltages))
        assert worst < VOLT_TOL, f"{label}: ngspice differs by {worst:.3e} V"
        if element == "B":     # the same law: ngspice's point is the model's minimum
            assert np.max(np.abs(net.residual(state))) < 1e-10, label
    np.testing.assert_allclose(net.outputs(net.equilibrium(x, pl.Clamp(y))), y, atol=1e-12)


@needs_ngspice
def test_junction_diodes_differ_only_by_ngspice_reverse_tail():
    """SPICE's D model replaces exp below −3nV_T by −I_s(1 + (3nV_T/(e u))³): the residual of
    ngspice's point under the Shockley model is exactly that current difference at the
    reverse-biased diodes (so ~1e-9 V is a model difference, not an ngspice inaccuracy)."""
    c = circuit()
    net = SpiceNetwork(c, shockley_element="D")
    x, _ = problem()
    state = net.equilibrium(x)
    index = {node: i for i, node in enumerate(c.nodes)}
    u = np.stack([state.voltages[:, index[a]] - state.voltages[:, index[k]]
                  for a, k in c.diode_pairs], axis=1)
    nvt, i_s = c.ideality * c.thermal_voltage, c.saturation_current
    tail = u < -3 * nvt
    assert np.any(tail), "no reverse-biased diode: the test shows nothing"
    spice_current = np.where(tail, -i_s * (1 + (3 * nvt / (np.e * np.where(tail, u, -1))) ** 3),
                             c.diode_current(u))
    excess = c.diode_current(u) - spice_current            # anode → cathode, per diode
    expected = np.zeros((x.shape[0], len(c.nodes)))
    for d, (a, k) in enumerate(c.diode_pairs):
        expected[:, index[a]] += excess[:, d]
        expected[:, index[k]] -= excess[:, d]
    expected = expected[:, c._free]
    residual = net.residual(state)
    assert np.max(np.abs(residual)) > 1e-11      # the model difference is visible ...
    np.testing.assert_allclose(residual, expected, rtol=0, atol=1e-12)   # ... and explained


@needs_ngspice
def test_linear_circuit_and_one_ngspice_run_per_batch(monkeypatch):
    graph = nx.connected_watts_strogatz_graph(12, 4, 0.3, seed=1)
    make = lambda: ResistorNetwork(graph, [0, 5], [3, 8], 11, seed=2)  # noqa: E731
    net, twin = SpiceNetwork(make()), make()
    x, y = problem(5)
    runs = []
    original = spice_module.operating_point
    monkeypatch.setattr(spice_module, "operating_point",
                        lambda text, **kw: runs.append(text) or original(text, **kw))
    for nudge in nudges(y).values():
        if isinstance(nudge, pl.Nudge) and isinstance(nudge.cost, pl.CrossEntropy):
            continue        # the linear network's stiffness does not matter for this test
        state = net.equilibrium(x, nudge)
        assert np.max(np.abs(state.voltages - twin.equilibrium(x, nudge).voltages)) < VOLT_TOL
    assert len(runs) == 4, "one ngspice process per batch and phase"
    resistors = [line for line in runs[0].splitlines() if line.startswith("R")]
    assert len(resistors) == len(x) * len(net.circuit.edges)
    assert runs[0].splitlines().count(".op") == 1


# -- (2) gradients ---------------------------------------------------------------------------
@needs_ngspice
@pytest.mark.parametrize("element", ["B", "D"])
def test_centered_ep_gradient_matches_the_in_process_one(element):
    """Relative error (‖Δ‖/‖g‖ over every conductance): the gradient's scale is set by the
    circuit's voltages and conductances, so an absolute bound would depend on the units."""
    net, twin = SpiceNetwork(circuit(), shockley_element=element), circuit()
    x, y = problem(8, seed=1)
    rule = pl.EP(beta=0.1, variant="centered")
    assert relative_error(rule.gradient(net, x, y), rule.gradient(twin, x, y)) < 1e-6
    # and both estimate the exact gradient (implicit differentiation at ngspice's point)
    assert relative_error(pl.EP(beta=1e-3).gradient(net, x, y),
                          pl.exact_gradient(net, x, y)) < 1e-4


# -- (3) training ----------------------------------------------------------------------------
@needs_ngspice
def test_training_through_ngspice_lowers_the_loss_and_matches_the_twin():
    data = pl.datasets.linear_regression(n_samples=32, n_inputs=2, n_outputs=2, seed=0)
    net, twin = SpiceNetwork(circuit()), circuit()

    def run(system):
        return pl.train(system, pl.EP(beta=0.1, variant="centered"), data, epochs=4,
                        batch_size=8, optimizer=pl.optim.Adam(lr=0.05), progress=False)

    history, reference = run(net), run(twin)
    loss = history["train_loss"]
    assert loss[-1] < 0.9 * loss[0], f"the loss did not go down: {loss}"
    for name, value in twin.params.items():
        np.testing.assert_allclose(net.params[name], value, rtol=0, atol=1e-6)
        assert not np.allclose(value, circuit().params[name]), "training changed nothing"
    np.testing.assert_allclose(loss, reference["train_loss"], rtol=1e-6)


# -- (4) bad inputs --------------------------------------------------------------------------
@needs_ngspice
def test_unsupported_cost_complex_beta_and_unstable_nudges_are_refused():
    net = SpiceNetwork(circuit())
    x, y = problem(2)
    with pytest.raises(ValueError, match=r"cost PhaseCost\(\).*supported costs are "
                                         r"SquaredError and CrossEntropy"):
        net.equilibrium(x, pl.Nudge(PhaseCost(), y, 0.1))
    with pytest.raises(ValueError, match=r"complex beta=0\.1j.*DC operating point is real"):
        net.equilibrium(x, pl.Nudge(pl.SquaredError(), y, 0.1j))
    with pytest.raises(ValueError, match="needs"):
        pl.HolomorphicEP().gradient(net, x, y)
    # a negative nudge beyond the circuit's stiffness: a saddle, not an operating point
    too_strong = -10 * net.circuit.convergence_radius()
    with pytest.raises(ConvergenceError, match="no stable operating point"):
        net.equilibrium(x, pl.Nudge(pl.SquaredError(), y, too_strong))
    linear = SpiceNetwork(ResistorNetwork.layered(LAYERS, seed=0))
    with pytest.raises(ConvergenceError, match=r"no stable operating point.*beta > -"):
        linear.equilibrium(x, pl.Nudge(pl.SquaredError(), y,
                                       -1.5 * linear.circuit.convergence_radius()))


@needs_ngspice
def test_ngspice_errors_are_quoted(monkeypatch):
    net = SpiceNetwork(circuit())
    broken = lambda x, nudge=None: "* broken\nQ9 n1 n2\n.op\n.end\n"  # noqa: E731
    monkeypatch.setattr(net, "netlist", broken)
    with pytest.raises(RuntimeError, match="ngspice failed.*netlist line 2: 'Q9 n1 n2'"):
        net.predict(problem(1)[0])


def test_missing_ngspice_and_bad_arguments_are_refused(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match=r"executable='no-such-ngspice'.*apt-get install "
                                           r"ngspice"):
        SpiceNetwork(circuit(), executable="no-such-ngspice")
    with pytest.raises(ValueError, match="must be a ResistorNetwork"):
        SpiceNetwork(nx.path_graph(3))
    with pytest.raises(ValueError, match="shockley_element='Q'"):
        SpiceNetwork(circuit(), shockley_element="Q")
    # the registry's requirement: without ngspice on the PATH the contract suite skips it
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = testing.missing_requirements("spice-network")
    assert reason and "apt-get install ngspice" in reason
    assert testing.missing_requirements("diode-shockley") is None


@needs_ngspice
def test_series_resistance_is_a_resistor_before_the_junction():
    if "series_resistance" not in NonlinearResistorNetwork._param_names():
        pytest.skip("this NonlinearResistorNetwork has no series_resistance")
    make = lambda: NonlinearResistorNetwork.layered(  # noqa: E731
        LAYERS, seed=0, diode_law="shockley", series_resistance=0.5)
    net, twin = SpiceNetwork(make()), make()
    x, y = problem(4)
    for nudge in (None, pl.Nudge(pl.SquaredError(), y, -0.1)):
        state = net.equilibrium(x, nudge)
        assert np.max(np.abs(state.voltages - twin.equilibrium(x, nudge).voltages)) < VOLT_TOL
        assert np.max(np.abs(net.residual(state))) < 1e-10
