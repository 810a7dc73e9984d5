"""The quantum and echo derivations: proofs hold, wrong variants fail, code ties hold and
break when the code is broken."""

import numpy as np
import pytest
import sympy as sp

from physlearn.derivations import echo, quantum
from physlearn.derivations._derivation import Step

ALL = {d.name: d for d in quantum.DERIVATIONS + echo.DERIVATIONS}
NAMES = ["hellmann_feynman", "onsager_static", "onsager_dynamic_counterexample",
         "quantum_ep_objectives", "qho_gaussian", "rhel_bptt_linear"]


def _flip_one_term(expr):
    """A deliberately wrong variant: one term of the statement with its sign flipped (for a
    column of identities, the last row, flipped, alone: refuting a false claim with radicals
    falls back to ``simplify``, and the last rows are the cheapest)."""
    if isinstance(expr, sp.MatrixBase):
        rows = [e for e in expr if isinstance(e, sp.Add)]
        return sp.Matrix([_flip_one_term(rows[-1])])
    assert isinstance(expr, sp.Add)
    return expr - 2 * expr.args[-1]


def test_registered_names():
    assert sorted(ALL) == sorted(NAMES)
    for d in ALL.values():
        assert d.title and d.notes and d.references and d.implements and d.assumptions


# verify() and check_numeric() of every registered derivation: tests/test_derivations.py


@pytest.mark.parametrize("name", NAMES)
def test_flipped_sign_fails(name):
    d = ALL[name]
    original = d.statement
    wrong = d.edited(statement=Step("flipped", _flip_one_term(original.expr)), steps=[])
    assert not wrong.verify()
    assert d.statement is original       # the original is untouched


def test_dynamic_reciprocity_claim_fails():
    """Claiming χ_AB(t) = χ_BA(t) (dropping the explicit non-zero value) must fail."""
    d = ALL["onsager_dynamic_counterexample"]
    J, t = sp.symbols("J t", positive=True)
    value = 2 * sp.sqrt(3) / 9 * (sp.cos(2 * sp.sqrt(3) * J * t) - sp.cos(sp.sqrt(3) * J * t))
    assert not d.edited(statement=Step("reciprocity", d.statement.expr + value),
                        steps=[]).verify()


def test_one_sided_echo_is_not_exact():
    d = ALL["rhel_bptt_linear"]
    one_sided = d.steps[2]               # proved O(ε) in test_verify
    assert not d.edited(statement=Step("one-sided exact", one_sided.expr), steps=[]).verify()


def test_qho_without_zero_point_half_fails():
    """⟨xxᵀ⟩ = K^{−1/2} (no ½) is wrong: Σ K Σ = 1 fails where 4 Σ K Σ = 1 holds."""
    d = ALL["qho_gaussian"]
    wrong = (d.statement.expr + sp.eye(2)) / 4 - sp.eye(2)
    assert not d.edited(statement=Step("no 1/2", wrong), steps=[]).verify()


def _negate(method):
    def broken(*args, **kwargs):
        out = method(*args, **kwargs)
        if isinstance(out, dict):
            return {k: -np.asarray(v) for k, v in out.items()}
        return -np.asarray(out)
    return broken


def _break(name, monkeypatch):
    from physlearn.rules.echo import RHEL
    from physlearn.systems import quantum as q
    from physlearn.systems.quantum_oscillators import QuantumHarmonicNetwork
    from physlearn.systems.spin_chain import SpinChain

    if name in ("hellmann_feynman",):
        monkeypatch.setattr(SpinChain, "param_gradient", _negate(SpinChain.param_gradient))
    elif name == "onsager_static":
        monkeypatch.setattr(q, "static_susceptibility", _negate(q.static_susceptibility))
    elif name == "onsager_dynamic_counterexample":
        monkeypatch.setattr(q, "kubo_response", _negate(q.kubo_response))
    elif name == "quantum_ep_objectives":
        monkeypatch.setattr(SpinChain, "exact_gradient", _negate(SpinChain.exact_gradient))
    elif name == "qho_gaussian":
        original = QuantumHarmonicNetwork.covariances
        monkeypatch.setattr(QuantumHarmonicNetwork, "covariances",
                            lambda self: tuple(2 * c for c in original(self)))  # drop the ½
    elif name == "rhel_bptt_linear":
        monkeypatch.setattr(RHEL, "gradient", _negate(RHEL.gradient))


@pytest.mark.parametrize("name", NAMES)
def test_broken_code_fails_numeric(name, monkeypatch):
    _break(name, monkeypatch)
    assert not ALL[name].check_numeric()


def test_quantum_ep_local_measurement_broken(monkeypatch):
    """Flipping the local measurement ⟨∂H/∂θ⟩ breaks the EP part of the quantum-EP tie."""
    from physlearn.systems.spin_chain import SpinChain

    monkeypatch.setattr(SpinChain, "param_gradient", _negate(SpinChain.param_gradient))
    assert not ALL["quantum_ep_objectives"].check_numeric()


def test_first_order_thermal_correction_is_first_order():
    """⟨A⟩_T − ⟨A⟩₀ is O(w) with w = e^{−Δ/T}, and not O(w²): its first-order coefficient is
    the excited-minus-ground difference, dropping it fails the proof."""
    step = quantum._low_temperature_step()
    assert step.check()[0]
    w = step.series[0]
    dropped = Step(step.claim, step.expr + w * sp.Symbol("a_z", real=True), series=step.series)
    assert not dropped.check()[0]
