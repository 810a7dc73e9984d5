"""Failing physics is detected and reported: each detector once triggered, once not.

* nudges past the stability bound (the nudged Hessian is not positive definite) raise
  ``ConvergenceError`` naming β and the bound (linear resistor network, quantum harmonic
  network's self-consistent nudge, damped-Newton systems);
* ``HolomorphicEP`` refuses a circle outside the known radius of convergence (linear network
  from its response matrix, exact Ising model from the nearest zero of its nudged partition
  function) and reports a failed contour elsewhere (``GeneralizedEP`` with Cauchy points on a
  vector-field network);
* relaxation tolerances scale with the size of the problem.
"""

import warnings

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.nudges import Nudge
from physlearn.registry import make_system, system_entry
from physlearn.rules.generalized import GeneralizedEP
from physlearn.rules.holomorphic import ContourWarning
from physlearn.systems.ising import nearest_exponential_zero
from physlearn.systems.solvers import local_stability_interval

SE = pl.SquaredError()


def registered(name):
    system = make_system(name)
    x, y = system_entry(name).problem(system)
    return system, x, y


def cosine(a, b):
    a = np.concatenate([np.ravel(v) for v in a.values()])
    b = np.concatenate([np.ravel(v) for v in b.values()])
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# -- the linear network past its stability bound ------------------------------------------------
@pytest.fixture(scope="module")
def resistor():
    net, x, y = registered("resistor")
    lam = np.linalg.eigvalsh(net.response_matrix()).max()
    return net, x, y, lam


def test_linear_network_nudged_past_stability_raises_naming_beta_and_bound(resistor):
    net, x, y, lam = resistor
    with pytest.raises(pl.ConvergenceError) as err:      # centered EP relaxes at −3/λ_max
        pl.EP(beta=3 / lam, variant="centered").gradient(net, x, y)
    message = str(err.value)
    assert f"beta={-3 / lam:g}" in message
    assert f"{-1 / lam:.6g}" in message and "not positive definite" in message


def test_linear_network_inside_stability_bound_is_fine(resistor):
    net, x, y, lam = resistor
    lo, hi = net.stability_interval(SE, net.predict(x), y)
    np.testing.assert_allclose(lo, -1 / lam, rtol=1e-12)
    assert np.all(np.isinf(hi))
    g = pl.EP(beta=0.3 / lam, variant="centered").gradient(net, x, y)
    assert cosine(g, pl.exact_gradient(net, x, y)) > 0.95


# -- HolomorphicEP and the radius of convergence -----------------------------------------------
def test_holomorphic_ep_refuses_twice_its_radius_on_a_linear_network(resistor):
    net, x, y, lam = resistor
    radius = net.nudge_radius(x, y, SE)
    assert radius == pytest.approx(1 / lam)
    with pytest.raises(ValueError, match=f"{2 * radius:.6g}.*radius of convergence "
                                         f"{radius:.6g}"):
        pl.HolomorphicEP(beta=2 * radius, points=5).gradient(net, x, y)


def test_holomorphic_ep_at_half_its_radius_is_accurate(resistor):
    net, x, y, lam = resistor
    g = pl.HolomorphicEP(beta=0.5 / lam, points=16).gradient(net, x, y)
    assert relative_error(g, pl.exact_gradient(net, x, y)) < 1e-3     # O((r/ρ)^N)


def test_nearest_zero_of_an_exponential_sum():
    w, a = np.array([0.3, 0.7]), np.array([1.0, -0.5])
    u = nearest_exponential_zero(w, a)
    # w1 e^{-u a1} + w2 e^{-u a2} = 0  ⇔  u = (log(w1/w2) ± iπ)/(a1 − a2)
    assert abs(u) == pytest.approx(np.hypot(np.log(0.3 / 0.7), np.pi) / 1.5, rel=1e-10)
    assert abs(np.sum(w * np.exp(-u * a))) < 1e-12
    assert nearest_exponential_zero(w, np.array([0.4, 0.4])) == np.inf


@pytest.fixture(scope="module")
def ising():
    model, x, y = registered("ising-exact")
    return model, x, y, model.nudge_radius(x, y, SE)


def test_ising_radius_is_the_nearest_partition_function_zero(ising):
    model, x, y, radius = ising
    assert np.isfinite(radius) and radius > 0.08        # the contract suite's circles fit
    # the Cauchy sum itself, bypassing the check: wrong outside, exact inside
    ref = pl.exact_gradient(model, x, y)
    free = model.equilibrium(x)
    g0 = model.param_gradient(free)

    def cauchy(r, n=16):
        total = {k: 0.0 for k in g0}
        for beta, weight in pl.rules.holomorphic.cauchy_nudges(r, n):
            g = model.param_gradient(model.equilibrium(x, Nudge(SE, y, beta), start=free))
            for k in total:
                total[k] = total[k] + weight * np.real((g[k] - g0[k]) / beta)
        return relative_error({k: np.mean(v / n, axis=0) for k, v in total.items()}, ref)

    assert cauchy(0.5 * radius) < 1e-4
    assert cauchy(2 * radius) > 0.3


def test_holomorphic_ep_refuses_twice_the_ising_radius(ising):
    model, x, y, radius = ising
    with pytest.raises(ValueError, match=f"radius of convergence {radius:.6g}"):
        pl.HolomorphicEP(beta=2 * radius, points=4).gradient(model, x, y)


def test_holomorphic_ep_inside_the_ising_radius_is_accurate(ising):
    model, x, y, radius = ising
    g = pl.HolomorphicEP(beta=0.5 * radius, points=16).gradient(model, x, y)
    assert relative_error(g, pl.exact_gradient(model, x, y)) < 1e-4


# -- a failed contour where the radius is unknown --------------------------------------------
@pytest.fixture(scope="module")
def phases():
    from physlearn.systems.phase_oscillators import PhaseCost

    net, x, y = registered("phase-oscillators")
    return net, x, y, PhaseCost(), pl.exact_gradient(net, x, y, PhaseCost())


def test_holomorphic_ep_warns_of_a_failed_contour(phases):
    net, x, y, cost, ref = phases
    assert getattr(net, "nudge_radius", lambda *args: None)(x, y, cost) is None   # unknown
    with pytest.warns(ContourWarning, match=r"failed contour \|beta\| = 1 "):
        g = pl.HolomorphicEP(beta=1.0, points=5).gradient(net, x, y, cost)
    assert relative_error(g, ref) > 0.3                   # and the estimate is indeed wrong


def test_holomorphic_ep_small_contour_does_not_warn(phases):
    net, x, y, cost, ref = phases
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContourWarning)
        g = pl.HolomorphicEP(beta=0.08, points=5).gradient(net, x, y, cost)
    assert relative_error(g, ref) < 1e-5


# -- vector field: nudged fixed points that do not exist ----------------------------------------
@pytest.fixture(scope="module")
def vector_field():
    return registered("vector-field")


def test_generalized_ep_cauchy_failed_contour_names_beta(vector_field):
    net, x, y = vector_field
    # the network measures its nudge radius now: the circle is refused before relaxing,
    # naming both; with the radius unknown, the failed contour names the β that failed
    radius = net.nudge_radius(x, y, SE)
    with pytest.raises(ValueError, match=rf"\|beta\| = 1 reaches .*{radius:.6g}"):
        GeneralizedEP(beta=1.0, points=4).gradient(net, x, y)
    net.nudge_radius = lambda *args, **kwargs: None
    try:
        with pytest.raises(pl.ConvergenceError, match=r"failed contour \|beta\| = 1.*beta=-1"):
            GeneralizedEP(beta=1.0, points=4).gradient(net, x, y)
    finally:
        del net.nudge_radius
    with pytest.raises(pl.ConvergenceError, match="no fixed point at beta=-1"):
        net.equilibrium(x, Nudge(SE, y, -1.0))          # not a bare LinAlgError


def test_generalized_ep_cauchy_at_small_beta_is_fine(vector_field):
    net, x, y = vector_field
    g = GeneralizedEP(beta=0.05, points=4).gradient(net, x, y)
    assert all(np.all(np.isfinite(v)) for v in g.values())
    assert cosine(g, pl.exact_gradient(net, x, y)) > 0.5


# -- the quantum harmonic network's self-consistent nudge ---------------------------------------
@pytest.fixture(scope="module")
def quantum():
    net, x, y = registered("quantum-harmonic-network")
    assert net.nudge_mode == "self_consistent"
    out = net._out
    R = np.linalg.solve(net.stiffness(), np.eye(net.n_modes)[:, out])[out]
    return net, x, y, np.linalg.eigvalsh(R).max()


def test_self_consistent_nudge_past_its_bound_raises(quantum):
    net, x, y, lam = quantum
    with pytest.raises(pl.ConvergenceError) as err:
        net.equilibrium(x, Nudge(SE, y, -3 / lam))
    assert f"beta={-3 / lam:g}" in str(err.value) and f"{-1 / lam:.6g}" in str(err.value)


def test_self_consistent_nudge_inside_its_bound_is_fine(quantum):
    net, x, y, lam = quantum
    state = net.equilibrium(x, Nudge(SE, y, -0.3 / lam))
    assert np.all(np.isfinite(state.s))
    g = pl.EP(beta=0.3 / lam, variant="centered").gradient(net, x, y)
    assert cosine(g, pl.exact_gradient(net, x, y)) > 0.95


# -- damped-Newton systems (diode, elastic) -----------------------------------------------------
@pytest.mark.parametrize("name", ["diode-layered", "elastic"])
def test_large_negative_nudge_raises_naming_beta_and_local_bound(name):
    system, x, y = registered(name)
    free = system.equilibrium(x)
    lo, _ = local_stability_interval(system, free, SE, y)
    beta = 5 * float(np.max(lo))
    with pytest.raises(pl.ConvergenceError) as err:
        system.equilibrium(x, Nudge(SE, y, beta), start=free)
    message = str(err.value)
    assert f"beta={beta:g}" in message and f"{np.max(lo):.6g} < beta" in message


@pytest.mark.parametrize("name", ["diode-layered", "elastic"])
def test_negative_nudge_inside_local_bound_is_fine(name):
    system, x, y = registered(name)
    free = system.equilibrium(x)
    lo, _ = local_stability_interval(system, free, SE, y)
    state = system.equilibrium(x, Nudge(SE, y, 0.2 * float(np.max(lo))), start=free)
    assert np.max(np.abs(system.residual(state))) < 1e-8


# -- tolerances relative to the size of the problem ---------------------------------------------
def test_round_off_of_a_huge_nudge_is_not_a_failure():
    net, x, y = registered("diode-layered")
    state = net.equilibrium(x, Nudge(SE, y, 1e10), start=net.equilibrium(x))
    np.testing.assert_allclose(net.outputs(state), y, atol=1e-6)


def test_round_off_of_a_large_phase_offset_is_not_a_failure():
    net, x, _ = registered("phase-oscillators")
    free = net.equilibrium(x)
    moved = net.equilibrium(x, start=free.replace(s=free.s + 2 * np.pi * 1e5))
    assert np.max(np.abs(np.angle(np.exp(1j * (moved.s - free.s))))) < 1e-8
