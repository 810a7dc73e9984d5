"""Shockley diodes and the SPICE export (systems/diode.py, systems/spice.py) against ngspice."""

import networkx as nx
import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems.diode import SPICE_THERMAL_VOLTAGE, NonlinearResistorNetwork
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


# -- the Shockley law with a series resistance (Lambert W) -------------------------------------
@pytest.fixture(scope="module")
def series():
    return NonlinearResistorNetwork.layered([2, 4, 2], seed=0, diode_law="shockley",
                                            series_resistance=0.5)


def test_series_resistance_law(series):
    d = series
    i_s, a, r = 1e-6, 0.02585, 0.5
    u = np.linspace(-1.0, 3.0, 41)
    i = d.diode_current(u)
    # the implicit law itself, to round-off (the junction voltage u − iR carries it)
    np.testing.assert_allclose(i, i_s * np.expm1((u - i * r) / a), rtol=1e-9, atol=1e-15)
    h = 1e-7
    fd = (d.diode_cocontent(u + h) - d.diode_cocontent(u - h)) / (2 * h)
    np.testing.assert_allclose(fd, i, rtol=1e-6, atol=1e-12)                    # D′ = i
    fd2 = (d.diode_current(u + h) - d.diode_current(u - h)) / (2 * h)
    np.testing.assert_allclose(fd2, d.diode_differential_conductance(u), rtol=1e-5,
                               atol=1e-10)                                       # i′ = G
    eps = np.finfo(float).eps      # i(0) = I_s expm1(t(0)), t(0) a difference of two O(R I_s/a)
    assert abs(d.diode_current(0.0)) <= 4 * eps * i_s * r / a
    assert abs(d.diode_cocontent(0.0)) <= 4 * eps * i_s * a
    assert d.diode_current(-5.0) == pytest.approx(-i_s)
    # ohmic at large bias: no overflow, conductance → 1/R_s
    assert d.diode_differential_conductance(1e4) == pytest.approx(1 / r, rel=1e-3)
    assert np.isfinite(d.diode_cocontent(1e4))


def test_series_resistance_to_zero_is_plain_shockley(shockley):
    u = np.linspace(-1.0, 0.45, 30)
    tiny = NonlinearResistorNetwork.layered([2, 4, 2], seed=0, diode_law="shockley",
                                            series_resistance=1e-12)
    # R_s i / (n V_T) ≤ 1e-12 · 30 / 0.026 ≈ 1e-9 relative change of the current at u = 0.45
    for f in ("diode_current", "diode_differential_conductance", "diode_cocontent"):
        np.testing.assert_allclose(getattr(tiny, f)(u), getattr(shockley, f)(u), rtol=1e-8,
                                   atol=1e-20, err_msg=f)


def test_series_resistance_ep_matches_implicit_differentiation(series):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 2)), 0.3 * rng.normal(size=(4, 2))
    check_system(series, x, y)
    err = relative_error(pl.EP(beta=1e-4).gradient(series, x, y),
                         pl.exact_gradient(series, x, y))
    assert err < 1e-5


def test_series_resistance_in_the_netlist(series):
    model = [line for line in series.to_spice([0.5, -0.3]).splitlines()
             if line.startswith(".model")]
    assert model == [f".model dshockley D(IS=1e-06 N={0.02585 / SPICE_THERMAL_VOLTAGE!r} "
                     "RS=0.5)"]


@pytest.mark.parametrize("value", [-1.0, np.nan, np.inf])
def test_bad_series_resistance(value):
    with pytest.raises(ValueError, match="series_resistance"):
        NonlinearResistorNetwork(nx.path_graph(3), [0], [1], 2, diode_law="shockley",
                                 series_resistance=value)


@needs_ngspice
def test_series_resistance_matches_ngspice():
    net = NonlinearResistorNetwork.random(120, n_inputs=4, n_outputs=3, seed=3,
                                          diode_law="shockley", series_resistance=0.5)
    assert len(net.nodes) >= 100 and len(net.diode_pairs) >= 20
    x = np.random.default_rng(0).normal(size=(2, net.n_features))
    # the same agreement as the plain Shockley law (test_equilibrium_matches_...)
    assert _max_spice_error(net, x) < 1e-6


# -- ideal diodes in SPICE: a sharp D model with a proven error bound ----------------------------
def _ideal_random_network(n_diodes=24, seed=0):
    """120 nodes with ``n_diodes`` ideal diodes between random hidden nodes and ground."""
    base = NonlinearResistorNetwork.random(120, n_inputs=4, n_outputs=3, seed=3, diodes=[])
    outputs = set(base._free[base.output_index].tolist())
    hidden = [base.nodes[i] for i in base._free if int(i) not in outputs]
    picks = np.random.default_rng(seed).choice(len(hidden), n_diodes, replace=False)
    pairs = [(base.ground, hidden[p]) if k % 2 == 0 else (hidden[p], base.ground)
             for k, p in enumerate(picks)]
    return NonlinearResistorNetwork.random(120, n_inputs=4, n_outputs=3, seed=3, diodes=pairs,
                                           diode_law="ideal")


def test_ideal_netlist_form():
    net = NonlinearResistorNetwork.layered([2, 3, 1], seed=0, diode_law="ideal")
    lines = net.to_spice([0.5, -0.3]).splitlines()
    assert sum(line.startswith("D") for line in lines) == len(net.diode_pairs)
    assert ".model dideal D(IS=1e-12 N=0.0001)" in lines


@needs_ngspice
def test_ideal_diodes_match_ngspice_within_the_derived_bound():
    from physlearn.systems.ideal_diode import spice_error_bound

    net = _ideal_random_network()
    assert len(net.nodes) >= 100 and len(net.diode_pairs) >= 20
    x = np.random.default_rng(0).normal(size=(3, net.n_features))
    state = net.equilibrium(x)
    assert np.all(state.kkt < 1e-9)
    assert state.conducting.any() and (~state.conducting).any()
    bound = spice_error_bound(net, x)          # raises where it cannot be established
    names = net.spice_node_names()
    spread = np.ptp(net.source_voltages(x), axis=1)
    for b in range(len(x)):
        op = operating_point(net.to_spice(x[b]))
        err = np.array([abs(op[names[n]] - state.voltages[b, i])
                        for i, n in enumerate(net.nodes)])
        assert np.all(err <= bound[b]), (b, np.max(err / bound[b]))
        # and the bound says something: the stand-in is good to 0.1 % of the signal
        assert bound[b].max() < 1e-3 * spread[b]
