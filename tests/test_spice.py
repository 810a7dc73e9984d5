"""Shockley diodes and the SPICE export (systems/diode.py, systems/spice.py) against ngspice."""

import networkx as nx
import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems.diode import NonlinearResistorNetwork
from physlearn.systems.spice import INSTALL_HINT, ngspice_available, operating_point
from physlearn.testing import check_system

needs_ngspice = pytest.mark.skipif(
    not ngspice_available(), reason=f"ngspice is not installed ({INSTALL_HINT})")


def _random_network(law):
    net = NonlinearResistorNetwork.random(120, n_inputs=4, n_outputs=3, seed=3, diode_law=law)
    assert len(net.nodes) >= 100 and len(net.diode_pairs) >= 20
    return net


def _max_spice_error(net, x):
    state = net.equilibrium(x)
    names = net.spice_node_names()
    worst = 0.0
    for b in range(x.shape[0]):
        op = operating_point(net.to_spice(x[b]))
        assert set(names.values()) <= set(op)
        worst = max(worst, max(abs(op[names[n]] - state.voltages[b, i])
                               for i, n in enumerate(net.nodes)))
    return worst


@needs_ngspice
@pytest.mark.parametrize("law", ["shockley", "smooth"])
def test_equilibrium_matches_the_ngspice_operating_point(law):
    net = _random_network(law)
    x = np.random.default_rng(0).normal(size=(3, net.n_features))
    assert _max_spice_error(net, x) < 1e-6


@needs_ngspice
def test_ngspice_matches_on_a_layered_network_with_a_threshold():
    net = NonlinearResistorNetwork.layered([3, 6, 2], seed=1, threshold=0.2, knee=0.05)
    x = np.random.default_rng(1).normal(size=(2, 3))
    assert _max_spice_error(net, x) < 1e-6


def test_netlist_form():
    net = NonlinearResistorNetwork.layered([2, 3, 1], seed=0, diode_law="shockley")
    text = net.to_spice([0.5, -0.3])
    lines = text.splitlines()
    assert sum(line.startswith("R") for line in lines) == len(net.edges)
    assert sum(line.startswith("D") for line in lines) == len(net.diode_pairs)
    assert sum(line.startswith("V") for line in lines) == 5      # 2 × ± inputs + bias
    assert ".op" in lines and lines[-1] == ".end"
    assert any(line.startswith(".model dshockley D(IS=1e-06") for line in lines)
    smooth = NonlinearResistorNetwork.layered([2, 3, 1], seed=0).to_spice([[0.5, -0.3]])
    assert sum(line.startswith("B") for line in smooth.splitlines()) == len(net.diode_pairs)
    with pytest.raises(ValueError, match="one sample"):
        net.to_spice(np.zeros((2, 2)))


@needs_ngspice
def test_ngspice_errors_name_the_line():
    with pytest.raises(RuntimeError, match="netlist line 3: 'Q9 n1 n2'"):
        operating_point("* bad\nR1 n1 0 1\nQ9 n1 n2\n.op\n.end\n")


def test_missing_ngspice_names_the_install_command():
    with pytest.raises(RuntimeError, match="apt-get install ngspice"):
        operating_point("* x\n.end\n", executable="no-such-ngspice-binary")


# -- the Shockley law --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shockley():
    return NonlinearResistorNetwork.layered([2, 4, 2], seed=0, diode_law="shockley")


def test_shockley_curve(shockley):
    d = shockley
    u = np.linspace(-1, 0.5, 31)
    nvt = 0.02585
    np.testing.assert_allclose(d.diode_current(u), 1e-6 * np.expm1(u / nvt), rtol=1e-12)
    h = 1e-7
    fd = (d.diode_cocontent(u + h) - d.diode_cocontent(u - h)) / (2 * h)
    np.testing.assert_allclose(fd, d.diode_current(u), rtol=1e-6, atol=1e-12)
    fd2 = (d.diode_current(u + h) - d.diode_current(u - h)) / (2 * h)
    np.testing.assert_allclose(fd2, d.diode_differential_conductance(u), rtol=1e-5, atol=1e-10)
    assert d.diode_current(0.0) == 0.0 and d.diode_cocontent(0.0) == 0.0
    assert d.diode_current(-5.0) == pytest.approx(-1e-6)        # reverse: −I_s, no more


def test_shockley_overflow_is_an_error_not_inf(shockley):
    with pytest.raises(FloatingPointError, match="overflows"):
        shockley.diode_current(100.0)


def test_shockley_relaxes_from_large_inputs(shockley):
    state = shockley.equilibrium(5 * np.random.default_rng(0).normal(size=(4, 2)))
    assert np.all(np.isfinite(state.voltages))
    assert np.abs(shockley.residual(state)).max() < 1e-8


def test_shockley_passes_the_system_checks(shockley):
    rng = np.random.default_rng(1)
    check_system(shockley, rng.normal(size=(3, 2)), 0.3 * rng.normal(size=(3, 2)))


def test_shockley_centered_ep_matches_implicit_differentiation(shockley):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 2)), 0.3 * rng.normal(size=(4, 2))
    err = relative_error(pl.EP(beta=1e-4).gradient(shockley, x, y),
                         pl.exact_gradient(shockley, x, y))
    assert err < 1e-5


@pytest.mark.parametrize("name", ["saturation_current", "ideality", "thermal_voltage"])
@pytest.mark.parametrize("value", [0.0, -1.0, np.inf])
def test_bad_shockley_parameters(name, value):
    with pytest.raises(ValueError, match=name):
        NonlinearResistorNetwork(nx.path_graph(3), [0], [1], 2, diode_law="shockley",
                                 **{name: value})


def test_bad_diode_law():
    with pytest.raises(ValueError, match="diode_law"):
        NonlinearResistorNetwork(nx.path_graph(3), [0], [1], 2, diode_law="zener")
