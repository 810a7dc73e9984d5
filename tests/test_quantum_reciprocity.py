"""Onsager reciprocity shown, not assumed: static susceptibilities are symmetric for any
Hamiltonian; time-dependent responses (from sesolve) only with time-reversal symmetry."""

import numpy as np
import pytest
import qutip as qt
from scipy.integrate import cumulative_simpson

from physlearn.systems import quantum as q
from physlearn.systems.spin_chain import SpinChain

A_SPEC, B_SPEC = "X0 X1", "Z3"
TIMES = np.linspace(0.0, 3.0, 31)


def chain_hamiltonian(dm):
    """XXZ chain with a Dzyaloshinskii–Moriya term dm (dm ≠ 0 breaks time reversal)."""
    chain = SpinChain.xxz(5, Jxy=1.0, Jz=0.7, h=0.3, dm=dm, seed=1)
    return chain.hamiltonian([0.4])


def response_to_a_field(H, A, B, temperature, nu=1e-5):
    """∂⟨A⟩/∂ν for H + νB by central differences of exact expectation values."""
    def mean(Hn):
        e, v = np.linalg.eigh(Hn.full())
        if temperature == 0:
            return np.real(np.vdot(v[:, 0], A.full() @ v[:, 0]))
        p = np.exp(-(e - e[0]) / temperature)
        return np.real(np.sum(p * np.einsum("in,ij,jn->n", v.conj(), A.full(), v)) / p.sum())
    return (mean(H + nu * B) - mean(H - nu * B)) / (2 * nu)


@pytest.mark.parametrize("temperature", [0.0, 0.4, 2.0])
def test_static_susceptibility_is_symmetric_without_time_reversal(temperature):
    H = chain_hamiltonian(dm=0.4)
    assert not q.is_time_reversal_symmetric(H)
    A, B = q.operator(A_SPEC, 5), q.operator(B_SPEC, 5)
    chi_ab = q.static_susceptibility(H, A, B, temperature)
    chi_ba = q.static_susceptibility(H, B, A, temperature)
    assert abs(chi_ab) > 1e-3                     # not symmetric by vanishing
    assert abs(chi_ab - chi_ba) < 1e-10
    assert abs(chi_ab - response_to_a_field(H, A, B, temperature)) < 1e-8
    assert abs(chi_ba - response_to_a_field(H, B, A, temperature)) < 1e-8


def test_dynamical_response_is_symmetric_only_with_time_reversal():
    A, B = q.operator(A_SPEC, 5), q.operator(B_SPEC, 5)
    symmetric = chain_hamiltonian(dm=0.0)
    assert q.is_time_reversal_symmetric(symmetric)
    gap = np.abs(q.kubo_response(symmetric, A, B, TIMES) - q.kubo_response(symmetric, B, A, TIMES))
    assert gap.max() < 1e-7
    broken = chain_hamiltonian(dm=0.4)
    chi_ab, chi_ba = q.kubo_response(broken, A, B, TIMES), q.kubo_response(broken, B, A, TIMES)
    assert np.max(np.abs(chi_ab - chi_ba)) > 0.1
    assert abs(chi_ab[0]) < 1e-10 and abs(chi_ba[0]) < 1e-10      # [A, B] = 0 at t = 0


def test_step_response_is_the_integrated_kubo_response():
    """The physical protocol (switch νB on at t = 0, sesolve) equals ∫₀ᵗ χ_AB(t') dt'."""
    A, B = q.operator(A_SPEC, 5), q.operator(B_SPEC, 5)
    H = chain_hamiltonian(dm=0.4)
    times = np.linspace(0.0, 2.0, 201)
    integrated = cumulative_simpson(q.kubo_response(H, A, B, times), x=times, initial=0)
    np.testing.assert_allclose(q.step_response(H, A, B, times), integrated, atol=1e-6)


def test_smooth_ramp_is_accepted():
    A, B = q.operator(A_SPEC, 5), q.operator(B_SPEC, 5)
    H = chain_hamiltonian(dm=0.0)
    times = np.linspace(0.0, 1.0, 11)
    ramped = q.step_response(H, A, B, times, ramp=lambda t: 0.5 * (1 - np.cos(np.pi * min(t, 1))))
    stepped = q.step_response(H, A, B, times)
    assert abs(ramped[0]) < 1e-12 and np.all(np.abs(ramped[1:]) < np.abs(stepped[1:]) + 1e-9)


def test_reciprocity_helpers_refuse_bad_operators():
    H = chain_hamiltonian(dm=0.0)
    with pytest.raises(ValueError, match="A is not Hermitian"):
        q.static_susceptibility(H, qt.tensor([qt.sigmap()] + [qt.qeye(2)] * 4), q.pauli("Z0", 5))
    with pytest.raises(ValueError, match="temperature=-1"):
        q.static_susceptibility(H, q.pauli("Z0", 5), q.pauli("Z1", 5), temperature=-1)
    with pytest.raises(q.DegenerateGroundStateError):
        q.static_susceptibility(-q.pauli("Z0 Z1", 5), q.pauli("Z0", 5), q.pauli("Z1", 5))
