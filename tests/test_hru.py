"""Trajectory systems: integrator structure, reversibility, BPTT against finite differences,
parameters and bad input."""

from types import SimpleNamespace

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems import leapfrog as lf
from physlearn.systems.hamiltonian import Hamiltonian
from physlearn.systems.hru import HRU
from physlearn.systems.hssm import HSSM
from physlearn.systems.oscillators import CoupledOscillators


def duffing(**kwargs):
    return Hamiltonian(
        2, 1, {"k": [1.0, 1.3], "g": 0.3, "c": 0.2},
        kinetic=lambda p, th: 0.5 * np.sum(p**2, -1),
        potential=lambda q, u, th: (0.5 * np.sum(th["k"] * q**2, -1) + 0.25 * th["g"] * q[..., 0]
                                    ** 4 + th["c"] * q[..., 0] * q[..., 1] - u[..., 0] * q[..., 0]),
        readout_dofs=(1,), **kwargs)


SYSTEMS = {
    "hru-linear": lambda **k: HRU(2, 5, 2, kind="linear", seed=0, **k),
    "hru-nonlinear": lambda **k: HRU(2, 5, 2, kind="nonlinear", seed=0, **k),
    "hssm": lambda **k: HSSM(2, [4, 3], 2, seed=1, **k),
    "oscillators": lambda **k: CoupledOscillators(4, readout_dofs=(2, 3), seed=0, **k),
    "duffing": lambda **k: duffing(**k),
}


def problem(system, n_steps=40, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, n_steps, system.n_features))
    shape = (batch, system.n_outputs) if system.readout == "final" else (
        batch, n_steps, system.n_outputs)
    return x, 0.5 * rng.normal(size=shape)


def random_state(unit, rng, batch=2):
    return rng.normal(size=(batch, unit.n_dof)), rng.normal(size=(batch, unit.n_dof))


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_echo_with_zero_nudge_returns_to_flipped_initial_state(name):
    system = SYSTEMS[name]()
    x, y = problem(system, n_steps=500)
    run = system.run(x, store=True)
    for index in range(len(system.blocks())):
        unit, _ = system.blocks()[index]
        cot = lf.Cotangents(x.shape[1], final=np.ones((x.shape[0], unit.n_dof)))
        back = system.echo(run, index, cot, [0.0], record=True)
        assert np.max(np.abs(back.q[0])) < 1e-12 and np.max(np.abs(back.p[0])) < 1e-12
        flow = run.flows[index]  # every echo state mirrors the free run: Σ_z S_k
        mirrored = np.concatenate([flow.qs, -flow.ps], axis=-1)
        assert np.max(np.abs(back.states[0] - mirrored)) < 1e-12


@pytest.mark.parametrize("name", ["hru-nonlinear", "oscillators", "duffing"])
def test_step_is_symplectic_and_inverted_by_negative_time_step(name):
    system = SYSTEMS[name]()
    unit, params = system.blocks()[0][0], system.local(0)
    rng = np.random.default_rng(1)
    q, p = random_state(unit, rng)
    u = rng.normal(size=(2, 1, unit.n_inputs))
    fwd = lf.forward(unit, params, q, p, u, lf.Leapfrog(0.1))
    inverse = SimpleNamespace(dt=-0.1, decay=1.0, kick="half-step")  # M_{−δ}
    back = lf.forward(unit, params, fwd.q, fwd.p, u, inverse)
    np.testing.assert_allclose(back.q, q, atol=1e-13)
    np.testing.assert_allclose(back.p, p, atol=1e-13)
    n, h = unit.n_dof, 1e-6
    jac = np.zeros((2 * n, 2 * n))
    for i in range(2 * n):
        d = np.zeros(2 * n)
        d[i] = h
        plus = lf.forward(unit, params, q[:1] + d[:n], p[:1] + d[n:], u[:1], lf.Leapfrog(0.1))
        minus = lf.forward(unit, params, q[:1] - d[:n], p[:1] - d[n:], u[:1], lf.Leapfrog(0.1))
        jac[:, i] = np.concatenate([plus.q[0] - minus.q[0], plus.p[0] - minus.p[0]]) / (2 * h)
    omega = np.block([[np.zeros((n, n)), np.eye(n)], [-np.eye(n), np.zeros((n, n))]])
    assert np.max(np.abs(jac.T @ omega @ jac - omega)) < 1e-8


def test_energy_error_is_bounded_without_drift():
    system = HRU(1, 4, 1, kind="nonlinear", seed=0)
    unit, params = system.blocks()[0][0], system.local(0)
    q0, p0 = np.ones((1, 4)), np.zeros((1, 4))
    u = np.full((1, 6000, 1), 0.3)
    flow = lf.forward(unit, params, q0, p0, u, system.scheme, store=True)
    e = unit.energy(params, flow.qs[0, 1:], flow.ps[0, 1:], u[0])
    e0 = float(unit.energy(params, q0, p0, u[:, 0])[0])
    drift = np.abs(e - e0) / abs(e0)
    assert drift.max() < 1e-2
    assert drift[-1000:].max() < 1.5 * drift[:1000].max() + 1e-12  # bounded, no secular drift
    assert flow.q.shape == (1, 4)


def test_non_symplectic_kick_is_not_reversible():
    system = HRU(1, 4, 1, kind="nonlinear", seed=0, kick="start")
    x, _ = problem(system, n_steps=300)
    run = system.run(x)
    cot = lf.Cotangents(300, final=np.zeros((3, 4)))
    back = system.echo(run, 0, cot, [0.0])
    assert max(np.abs(back.q).max(), np.abs(back.p).max()) > 1e-3
    assert "echo" not in system.capabilities


@pytest.mark.parametrize("readout", ["final", "trajectory"])
@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_bptt_matches_finite_differences(name, readout):
    system = SYSTEMS[name](readout=readout)
    x, y = problem(system, n_steps=25)
    for cost in (pl.SquaredError(), pl.CrossEntropy()):
        exact = pl.exact_gradient(system, x, y, cost)
        fd = pl.finite_difference_gradient(system, x, y, cost, h=1e-6)
        assert relative_error(exact, fd) < 1e-6, name


def test_bptt_input_gradient_matches_finite_differences():
    system = HSSM(2, [4, 3], 2, seed=1)
    x, y = problem(system, n_steps=15, batch=2)
    grad = system.input_gradient(x, y, pl.SquaredError())
    h = 1e-6
    for idx in [(0, 0, 0), (1, 7, 1), (0, 14, 1)]:
        vals = []
        for s in (h, -h):
            xp = x.copy()
            xp[idx] += s
            vals.append(pl.SquaredError().value(system.predict(xp), y)[idx[0]])
        assert abs(grad[idx] - (vals[0] - vals[1]) / (2 * h)) < 1e-7


def test_damped_bptt_is_still_exact():
    system = HRU(1, 4, 1, kind="nonlinear", damping=0.3, seed=0)
    x, y = problem(system)
    fd = pl.finite_difference_gradient(system, x, y)
    assert relative_error(pl.exact_gradient(system, x, y), fd) < 1e-6
    assert system.capabilities == frozenset({"trajectory"})


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_params_round_trip_and_rebuild(name):
    system = SYSTEMS[name]()
    x, _ = problem(system)
    before = system.predict(x)
    params = {k: v.copy() for k, v in system.params.items()}
    rebuilt = type(system)(**system.get_params())
    rebuilt.params = params
    np.testing.assert_allclose(rebuilt.predict(x), before, rtol=1e-12, atol=1e-14)
    for v in system.params.values():
        assert v.dtype == np.float64


def test_projection_keeps_physics_valid():
    # a learning step is clipped onto the bounds; an assignment is refused
    osc = CoupledOscillators(seed=0)
    osc.update_params({**osc.params, "m": -np.ones(6), "kappa": -np.ones(15)})
    assert osc.params["m"].min() == osc.min_mass and osc.params["kappa"].min() == 0
    with pytest.raises(ValueError, match=r"params\['m'\] at flat index 0 .* = -1.0"):
        osc.params = {**osc.params, "m": -np.ones(6)}
    hru = HRU(1, 3, 1, seed=0)
    hru.update_params({**hru.params, "A": np.zeros(3)})
    assert np.all(hru.params["A"] == hru.min_stiffness)
    with pytest.raises(ValueError, match=r"params\['A'\] at flat index 0 = -0.5 .*min_stiffness"):
        hru.params = {**hru.params, "A": np.full(3, -0.5)}


# -- bad input ------------------------------------------------------------------------------


def test_wrong_input_shapes_are_refused():
    system = HRU(2, 4, 1, seed=0)
    with pytest.raises(ValueError, match=r"x has shape \(3, 10\), expected \(batch, T, 2\)"):
        system.predict(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="x has shape"):
        system.predict(np.zeros((3, 10, 3)))
    with pytest.raises(ValueError, match="NaN"):
        system.predict(np.full((1, 5, 2), np.nan))


def test_scalar_sequences_may_be_2d():
    system = HRU(1, 4, 2, seed=0)
    x = np.random.default_rng(0).normal(size=(3, 12))
    np.testing.assert_array_equal(system.predict(x), system.predict(x[:, :, None]))


def test_sequences_of_mismatched_length_are_refused():
    system = HRU(1, 4, 1, seed=0, readout="trajectory")
    with pytest.raises(ValueError, match=r"different lengths \[10, 12\]"):
        system.predict([np.zeros((10, 1)), np.zeros((12, 1))])
    x = np.zeros((2, 10, 1))
    with pytest.raises(ValueError, match="y has 12 time steps but x has 10"):
        pl.exact_gradient(system, x, np.zeros((2, 12, 1)))


def test_non_separable_hamiltonian_is_refused():
    with pytest.raises(ValueError, match="hamiltonian is not separable"):
        Hamiltonian(1, 1, {"k": 1.0}, hamiltonian=lambda q, p, u, th: 0.5 * p[..., 0] ** 2 * (
            1 + q[..., 0] ** 2) + 0.5 * th["k"] * q[..., 0] ** 2)
    with pytest.raises(ValueError, match="not time-reversal invariant"):
        Hamiltonian(1, 1, {"k": 1.0}, kinetic=lambda p, th: 0.5 * p[..., 0] ** 2 + p[..., 0],
                    potential=lambda q, u, th: 0.5 * th["k"] * q[..., 0] ** 2)


def test_separable_full_hamiltonian_is_split():
    h = Hamiltonian(1, 1, {"k": 1.3}, hamiltonian=lambda q, p, u, th: (
        0.5 * p[..., 0] ** 2 + 0.5 * th["k"] * q[..., 0] ** 2 - u[..., 0] * q[..., 0]))
    ref = HRU(1, 1, 1, kind="linear", seed=0)
    ref.params = {"A": np.array([1.3]), "B": np.ones((1, 1)), "C": np.ones((1, 1)),
                  "d": np.zeros(1)}
    x = np.random.default_rng(0).normal(size=(2, 30, 1))
    np.testing.assert_allclose(h.predict(x), ref.predict(x), atol=1e-13)


@pytest.mark.parametrize("kwargs, match", [
    ({"dt": 0.0}, "dt=0.0"), ({"damping": -1.0}, "damping=-1.0"), ({"kick": "end"}, "kick='end'"),
    ({"readout": "mean"}, "readout='mean'"), ({"kind": "cubic"}, "kind='cubic'")])
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HRU(1, 3, 1, **kwargs)
