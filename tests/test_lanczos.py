"""The Lanczos ground-state solver against dense diagonalisation: accuracy, the true residual,
warm starts, the gap estimate (degenerate levels included) and the refusal to return an
unconverged pair."""

import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp

import physlearn.systems.lanczos as lanczos
from physlearn.system import ConvergenceError
from physlearn.systems.lanczos import first_excitation, lanczos_ground_state
from physlearn.systems.quantum import as_csr, pauli


def _hermitian(dim, seed, density=0.05, complex_=True):
    rng = np.random.default_rng(seed)
    a = sp.random(dim, dim, density=density, random_state=rng, format="csr")
    if complex_:
        a = a + 1j * sp.random(dim, dim, density=density, random_state=rng, format="csr")
    return (a + a.conj().T).tocsr()


@pytest.mark.parametrize("complex_", [False, True])
def test_ground_state_matches_dense_diagonalisation(complex_):
    H = _hermitian(300, 1, complex_=complex_)
    energies, vectors = la.eigh(H.toarray())
    start = np.random.default_rng(2).normal(size=300)
    pair = lanczos_ground_state(H, start, tol=1e-13)
    assert abs(pair.energy - energies[0]) <= 1e-12 * max(1, abs(energies[0]))
    assert abs(abs(np.vdot(vectors[:, 0], pair.vector)) - 1) < 1e-10
    true = np.linalg.norm(H @ pair.vector - pair.energy * pair.vector)
    assert pair.residual == pytest.approx(true, rel=1e-6, abs=1e-15)      # reported = true
    assert pair.residual <= 1e-13 * max(1, abs(pair.energy))
    assert pair.matvecs < 300                     # fewer products than the dimension


def test_warm_start_from_a_nearby_ground_state_saves_products():
    H = _hermitian(400, 3)
    V = sp.diags(np.random.default_rng(4).normal(size=400))
    start = np.random.default_rng(5).normal(size=400)
    free = lanczos_ground_state(H, start, tol=1e-12)
    cold = lanczos_ground_state(H + 0.05 * V, start, tol=1e-12)
    warm = lanczos_ground_state(H + 0.05 * V, free.vector, tol=1e-12)
    assert warm.energy == pytest.approx(cold.energy, abs=1e-11)
    assert warm.matvecs < cold.matvecs


def test_first_excitation_estimates_the_gap_and_sees_a_degenerate_partner():
    H = _hermitian(200, 6)
    energies = la.eigvalsh(H.toarray())
    ground = lanczos_ground_state(H, np.ones(200), tol=1e-13)
    e1 = first_excitation(H, ground).energy
    gap = energies[1] - energies[0]
    assert e1 >= energies[1] - 1e-10                        # an upper bound (interlacing)
    assert e1 - ground.energy == pytest.approx(gap, rel=0.02)
    # every level twice: a Krylov space grown from one vector sees one copy of each level,
    # the random restart on the complement finds the partner
    doubled = sp.kron(H, sp.identity(2)).tocsr()
    start = np.kron(np.ones(200), [1.0, 0.3])
    ground = lanczos_ground_state(doubled, start, tol=1e-13)
    plain = lanczos_ground_state(doubled, start, tol=1e-6, deflate=ground.vector)
    assert plain.energy - ground.energy == pytest.approx(gap, rel=1e-4)   # misses the partner
    partner = first_excitation(doubled, ground, floor=1e-8)
    assert partner.energy - ground.energy < 1e-8


def test_restarts_within_a_small_basis_and_refuses_an_unconverged_pair(monkeypatch):
    H = as_csr(sum(pauli(f"Z{i} Z{i + 1}", 9) + 0.7 * pauli(f"X{i}", 9) for i in range(8)))
    exact = la.eigvalsh(H.toarray())[0]
    start = np.random.default_rng(7).normal(size=H.shape[0])
    monkeypatch.setattr(lanczos, "BASIS_BYTES", 30 * 512 * 8)       # 30 vectors at most
    pair = lanczos_ground_state(H, start, tol=1e-12)
    assert pair.energy == pytest.approx(exact, abs=1e-10)
    monkeypatch.setattr(lanczos, "MAX_RESTARTS", 1)
    with pytest.raises(ConvergenceError, match="Lanczos did not converge: residual"):
        lanczos_ground_state(H, start, tol=1e-14)
