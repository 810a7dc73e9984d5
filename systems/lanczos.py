"""The lowest eigenpair of a large Hermitian matrix by Lanczos, at the cost of its matvecs.

A quantum-EP gradient prepares one free and one or two nudged ground states per input; their
cost is the number of matrix–vector products ``H v``. ARPACK (``scipy.sparse.linalg.eigsh``)
tests convergence only once per restart cycle (every ``ncv − k`` products), needs ``k = 2``
(about twice the products) to report the gap, and gains little from a warm start. The
Lanczos iteration here tests the residual of the lowest Ritz pair as it goes (at iterations
predicted from the observed convergence rate), stops as soon as that pair has converged
(before the loss of orthogonality that convergence brings can matter) and checks the pair it
returns with one more product, restarts from the Ritz vector when the basis would outgrow its
memory budget (or the check fails), and estimates the gap with a separate, loose run on the
complement of the ground state.

Units: energies in the units of ``H``.

References
----------
.. [1] C. Lanczos, "An iteration method for the solution of the eigenvalue problem of linear
   differential and integral operators", J. Res. Natl. Bur. Stand. 45, 255 (1950).
.. [2] B. N. Parlett, *The Symmetric Eigenvalue Problem* (SIAM, 1998), ch. 11 (the residual
   bound ``|θ − λ| ≤ ‖r‖``) and ch. 13 (loss of orthogonality, Paige's theorem).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la

from physlearn.system import ConvergenceError

__all__ = ["Eigenpair", "lanczos_ground_state", "first_excitation"]

BASIS_BYTES = 2**28          # memory budget of the Krylov basis (256 MiB) before a restart
MAX_RESTARTS = 50


@dataclass(frozen=True)
class Eigenpair:
    """The lowest Ritz pair of a Lanczos run.

    Attributes
    ----------
    energy : float
        The Ritz value θ, an upper bound on the lowest eigenvalue (of ``H`` restricted to the
        space the run searched).
    vector : ndarray, shape (dim,)
        The unit Ritz vector.
    residual : float
        ``‖H v − θ v‖``: some eigenvalue lies within it of θ.
    matvecs : int
        Products ``H v`` spent.
    """

    energy: float
    vector: np.ndarray
    residual: float
    matvecs: int


def lanczos_ground_state(H, start, *, tol, deflate=None, stop=None):
    """The lowest eigenpair of the Hermitian ``H`` by Lanczos.

    Parameters
    ----------
    H : sparse matrix or LinearOperator, shape (dim, dim)
        Hermitian.
    start : ndarray, shape (dim,)
        Start vector (a warm start: the ground state of a nearby Hamiltonian; else random).
    tol : float
        Converged when ``‖H v − θ v‖ <= tol · max(1, |θ|)`` (ARPACK's criterion).
    deflate : ndarray, shape (dim,), optional
        A unit vector to search orthogonally to (the ground state, to find the next level).
    stop : callable, optional
        ``stop(theta, residual) -> bool``, asked at every convergence test: an early exit
        (for a gap estimate that needs only a few digits).

    Returns
    -------
    Eigenpair

    Raises
    ------
    ConvergenceError
        If the residual does not reach ``tol`` within ``MAX_RESTARTS`` restarts.
    """
    dim = H.shape[0]
    dtype = np.result_type(H.dtype, np.asarray(start).dtype, np.float64)
    size = int(min(dim, max(30, BASIS_BYTES // (dim * np.dtype(dtype).itemsize))))
    v = _project(np.array(start, dtype=dtype), deflate)
    matvecs = 0
    for _ in range(MAX_RESTARTS):
        if not np.linalg.norm(v) > 0:
            v = _project(np.random.default_rng(dim).normal(size=dim).astype(dtype), deflate)
        pair = _lanczos_run(H, v / np.linalg.norm(v), tol, deflate, stop, size)
        matvecs += pair.matvecs
        if pair.residual <= tol * max(1.0, abs(pair.energy)) or (
                stop is not None and stop(pair.energy, pair.residual)) or size >= dim:
            return Eigenpair(pair.energy, pair.vector, pair.residual, matvecs)
        v = pair.vector
    raise ConvergenceError(
        f"Lanczos did not converge: residual {pair.residual:.3e} > tol * max(1, |E|) = "
        f"{tol * max(1.0, abs(pair.energy)):.3e} after {matvecs} products H v; raise tol or "
        "check that H is Hermitian")


def first_excitation(H, ground, *, rtol=0.1, floor=0.0, start=None):
    """An estimate of the first excited level ``E₁`` above a converged ground state.

    Lanczos on the complement of ``ground.vector`` from a random start, stopped once the
    Ritz value θ is accurate to a fraction ``rtol`` of the gap ``θ − E₀``, or as soon as the
    gap falls below ``floor`` (then it is closed for the caller's purpose).

    Parameters
    ----------
    H : sparse matrix or LinearOperator
    ground : Eigenpair
        The converged ground state of ``H``.
    rtol : float
        Relative accuracy of the gap.
    floor : float
        Gap below which the answer is "closed" and the run stops.
    start : ndarray, optional
        Start vector (default: a fixed random vector; it must not be orthogonal to a level
        degenerate with ``E₀``, which a random vector is not, with probability one).

    Returns
    -------
    Eigenpair
        Its ``energy`` is the estimate of ``E₁``.

    Notes
    -----
    The Ritz value θ on the complement is an upper bound on ``E₁`` (Cauchy interlacing), and
    its error is of order ``‖r‖²/(E₂ − E₁)``; the test ``‖r‖ ≤ rtol (θ − E₀)`` therefore gives
    the gap to about ``rtol²`` relative. A random start is needed: a Krylov space grown from
    a vector with no component along a degenerate partner of the ground state never finds it.
    """
    dim = H.shape[0]
    if start is None:
        start = np.random.default_rng(dim + 1).normal(size=dim)
    e0 = ground.energy

    def accurate(theta, residual):
        return theta - e0 <= floor or residual <= rtol * (theta - e0)

    return lanczos_ground_state(H, start, tol=0.0, deflate=ground.vector, stop=accurate)


def _project(v, deflate):
    return v if deflate is None else v - deflate * np.vdot(deflate, v)


def _lanczos_run(H, v, tol, deflate, stop, size):
    """One Lanczos run of at most ``size`` vectors from the unit vector ``v``.

    The three-term recurrence alone (no reorthogonalisation: it would cost as much as the
    products themselves at these sizes). Orthogonality of the basis is lost only as the
    lowest Ritz pair converges (Paige), after which the run stops; the pair it returns is
    then checked with one more product, so the reported residual is the true one.
    """
    basis = np.empty((size, v.size), dtype=v.dtype)
    basis[0] = v
    alpha, beta = np.zeros(size), np.zeros(size)
    check, last = 2, None                  # next convergence test, and the previous one
    for j in range(size):
        w = _project(H @ basis[j], deflate)
        alpha[j] = np.vdot(basis[j], w).real
        w -= alpha[j] * basis[j]
        if j:
            w -= beta[j - 1] * basis[j - 1]
        beta[j] = np.linalg.norm(w)
        exhausted = beta[j] <= 1e-14 * max(1.0, abs(alpha[j])) or j + 1 == size
        if j + 1 >= check or exhausted:
            theta, s = la.eigh_tridiagonal(alpha[:j + 1], beta[:j], select="i",
                                           select_range=(0, 0), check_finite=False)
            residual = beta[j] * abs(s[-1, 0])
            target = tol * max(1.0, abs(theta[0]))
            if residual <= target or exhausted or (stop is not None and stop(theta[0], residual)):
                return _ritz_pair(H, basis[:j + 1], s[:, 0], deflate, j + 1)
            check = j + 1 + _steps_to(target, residual, last, j)
            last = (j, residual)
        basis[j + 1] = w / beta[j]
    raise AssertionError("unreachable: the last iteration returns")


def _ritz_pair(H, basis, s, deflate, matvecs):
    """The Ritz vector, its Rayleigh quotient and its true residual (one more product)."""
    vector = _project(s @ basis, deflate)
    vector /= np.linalg.norm(vector)
    hv = _project(H @ vector, deflate)
    energy = float(np.vdot(vector, hv).real)
    return Eigenpair(energy, vector, float(np.linalg.norm(hv - energy * vector)), matvecs + 1)


def _steps_to(target, residual, last, j):
    """Iterations until the next convergence test, from the observed geometric rate (a test
    costs a tridiagonal eigensolve; testing too late wastes products)."""
    if target <= 0:                     # an early-exit run (a gap estimate): no rate to use
        return 4
    if last is None or not 0 < residual < last[1]:
        return 2
    rate = (np.log(residual) - np.log(last[1])) / (j - last[0])
    ahead = (np.log(target) - np.log(residual)) / rate
    return int(np.clip(0.8 * ahead, 1, 12))
