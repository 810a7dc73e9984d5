"""The classical derivations (thermal, vector field, diode, Lagrangian, leapfrog): each is
proved, matches the code it justifies, fails when a step is made wrong, and fails its numerical
check when that code is broken."""

from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np
import pytest
import sympy as sp

from physlearn.derivations import diode, lagrangian, leapfrog, thermal, vector_field
from physlearn.derivations._derivation import Step

MODULES = (thermal, vector_field, diode, lagrangian, leapfrog)
ALL = {d.name: d for module in MODULES for d in module.DERIVATIONS}
NAMES = ("thermal_ep", "generalized_ep_bias", "homeostasis_identity", "diode_cocontent",
         "glep_boundary_residual", "leapfrog_reversibility")


def test_names():
    assert sorted(ALL) == sorted(NAMES)
    for d in ALL.values():
        assert d.title and d.notes and d.references and d.implements
        assert d.assumptions


# verify() and check_numeric() of every registered derivation: tests/test_derivations.py


# -- deliberately wrong statements fail ------------------------------------------------------------
def _wrong(d, expr, claim="deliberately wrong"):
    """``d`` with its statement replaced (steps dropped, so only the wrong claim is checked)."""
    return d.edited(statement=Step(claim, expr), steps=[])


def _wrong_thermal():
    """The mixed partials with a sign flipped: d⟨C⟩/dθ = −d/dβ⟨∂E/∂θ⟩ (four states).

    (The three-spin statement with a flipped sign is not a rational function of its symbols,
    so deciding that it is non-zero falls back to ``simplify`` and takes over a minute.)
    """
    theta, beta = sp.symbols("theta beta", real=True)
    T = sp.Symbol("T", positive=True)
    E = [sp.Function(f"E_{k}")(theta) for k in range(4)]
    C = sp.symbols("C_0:4", real=True)
    w = thermal._weights(E, C, beta, T)
    wrong = (sp.diff(thermal._average(w, C), theta)
             + sp.diff(thermal._average(w, [sp.diff(e, theta) for e in E]), beta))
    return _wrong(ALL["thermal_ep"], wrong)


def _wrong_bias():
    """Dropping the bias: 'generalized EP is unbiased' for a non-symmetric J."""
    f = vector_field.linear_field()
    return _wrong(ALL["generalized_ep_bias"], f["g_hat"] - f["dL"])


def _wrong_homeostasis():
    """The factor ½ lost: E‖Jε‖² − E[εᵀJ²ε] = ‖J − Jᵀ‖²_F."""
    d = ALL["homeostasis_identity"]
    J = vector_field.generic_matrix("J", vector_field.N_STATE)
    return _wrong(d, d.statement.expr - sum(a**2 for a in J - J.T) / 2)


def _wrong_diode():
    """A sign flipped: ∂E/∂V = −(net current out)."""
    d = ALL["diode_cocontent"]
    c = diode.circuit()
    currents = sp.Matrix([diode._current_out(c, n) for n in diode.FREE])
    return _wrong(d, d.statement.expr + 2 * currents)


def _wrong_glep():
    """The boundary residual forgotten: dC/dθ = ∂_βG on initial-value paths."""
    d = ALL["glep_boundary_residual"]
    m = lagrangian.oscillator()
    R = lagrangian._residual(m, partial(lagrangian._causal, m))
    return _wrong(d, d.statement.expr - sp.Matrix(R))


def _wrong_leapfrog():
    """Two steps forwards then two more without flipping the momenta do not return."""
    q, p, dt, mass = leapfrog._symbols()
    force = leapfrog._generic_force(sp.Symbol("u_0"))
    q1, p1 = leapfrog.leapfrog_step(q, p, force, dt, mass)
    qb, pb = leapfrog.leapfrog_step(q1, p1, force, dt, mass)
    return _wrong(ALL["leapfrog_reversibility"], sp.Matrix.vstack(qb - q, pb - p))


@pytest.mark.parametrize("make", [_wrong_thermal, _wrong_bias, _wrong_homeostasis, _wrong_diode,
                                  _wrong_glep, _wrong_leapfrog])
def test_wrong_statement_fails(make):
    assert not make().verify()


def test_edited_step_fails_and_original_untouched():
    d = ALL["generalized_ep_bias"]
    f = vector_field.linear_field()
    flipped = d.edited(statement=Step("bias with the wrong sign",
                                      f["g_hat"] - f["dL"] + f["bias"]), steps=[])
    assert not flipped.verify()
    assert d.statement.claim.startswith("generalized EP")


# -- breaking the implemented code breaks the numerical check -------------------------------------
def _negated(method):
    def broken(*args, **kwargs):
        out = method(*args, **kwargs)
        return {k: -v for k, v in out.items()} if isinstance(out, dict) else -out
    return broken


def _break_thermal(mp):
    from physlearn.systems.ising import IsingModel
    mp.setattr(IsingModel, "thermal_derivative", _negated(IsingModel.thermal_derivative))


def _break_bias(mp):
    from physlearn.rules.generalized import GeneralizedEP
    mp.setattr(GeneralizedEP, "per_sample_gradient", _negated(GeneralizedEP.per_sample_gradient))


def _break_homeostasis(mp):
    from physlearn.rules import homeostasis
    mp.setattr(homeostasis, "homeostatic_loss", _negated(homeostasis.homeostatic_loss))


def _break_diode(mp):
    # energy_gradient itself drives the Newton relaxation (negating it makes the relaxation
    # fail before any comparison); the energy is compared alongside it and is not used there.
    from physlearn.systems.diode import NonlinearResistorNetwork
    mp.setattr(NonlinearResistorNetwork, "energy", _negated(NonlinearResistorNetwork.energy))


def _break_glep(mp):
    from physlearn.rules import glep

    def no_residual(prob, paths, beta, g, h):            # R silently dropped
        return {k: np.zeros((prob.x.shape[0],) + tuple(s))
                for k, s in prob.unit.param_shapes().items()}
    mp.setattr(glep, "_initial_value_residual", no_residual)


def _break_leapfrog(mp):
    from physlearn.systems import leapfrog as lf
    original = lf.integrate

    def kick_at_start(unit, params, q0, p0, inputs, scheme, **kwargs):
        return original(unit, params, q0, p0, inputs, dataclasses.replace(scheme, kick="start"),
                        **kwargs)
    mp.setattr(lf, "integrate", kick_at_start)


@pytest.mark.parametrize("name, breaker", [
    ("thermal_ep", _break_thermal), ("generalized_ep_bias", _break_bias),
    ("homeostasis_identity", _break_homeostasis), ("diode_cocontent", _break_diode),
    ("glep_boundary_residual", _break_glep), ("leapfrog_reversibility", _break_leapfrog)])
def test_broken_code_fails_numeric(name, breaker, monkeypatch):
    breaker(monkeypatch)
    check = ALL[name].check_numeric()
    assert not check, check.report()


def test_generalized_ep_bias_is_second_order_in_beta(monkeypatch):
    """The numerical gap is the centered nudge's O(β²): 10× smaller β, 100× smaller error."""
    d = ALL["generalized_ep_bias"]
    monkeypatch.setattr(vector_field, "BETA", 1e-3)
    coarse = d.check_numeric().error
    monkeypatch.setattr(vector_field, "BETA", 1e-4)
    fine = d.check_numeric().error
    assert 50 < coarse / fine < 200
