"""Batched linear solves with one shared matrix plus a small per-sample part, in bounded memory.

The Newton step and the adjoint of a network of fixed resistors and nonlinear elements solve,
for every sample ``b`` of a batch,

    H_b d_b = r_b,      H_b = K + Aᵀ diag(c_b) A + Pᵀ S_b P,

where ``K`` (the free block of the weighted Laplacian) is shared by the whole batch, ``A`` (the
incidence of the nonlinear branches, here diodes) is shared but their curvatures ``c_b`` are
not, and ``S_b`` (a nudge's stiffness on the outputs ``P``) is a small dense block. The
samples are independent, so the batch never has to be factorised as one matrix: memory is
that of one sample (or of a chunk of samples bounded by ``memory``), whatever the batch size.

Three methods, chosen per problem by :func:`choose_method` (deterministically, from sizes and
a condition estimate, never from timings):

* ``"dense"`` — one dense Cholesky factorisation per sample (LAPACK ``potrf``). For dense-ish
  blocks (a well-connected network of up to a few thousand nodes).
* ``"sparse"`` — sparse LU in symmetric mode (an ``LDLᵀ`` with a minimum-degree ordering of
  ``Aᵀ A + K``), over chunks of samples laid out block-diagonally; the chunk size is set from the
  fill of one sample's factor so that a chunk stays within ``memory`` bytes.
* ``"cg"`` — conjugate gradients on the whole batch at once (every iteration one matrix product
  with ``K``, a BLAS-3 operation), preconditioned by the diagonal of each ``H_b``. Adding the
  positive diagonal ``Aᵀ diag(c) A`` of ground diodes never worsens the Jacobi-scaled
  condition number of ``K`` (the Rayleigh quotient of the scaled matrix lies between that of
  ``K`` and 1), so the iteration count is bounded by ``K``'s. A sample that meets negative
  curvature (an indefinite nudged Hessian) or does not converge is handed to a direct method.

Every method reports, per sample, whether ``H_b`` was positive definite; an indefinite block is
shifted, ``H_b + τ_b 1`` with ``τ_b`` doubled until positive definite (modified Newton), so the
direction is a descent direction (see :func:`physlearn.systems.solvers.newton_direction`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from physlearn.system import ConvergenceError

from .blas import serial_blas

METHODS = ("auto", "dense", "sparse", "cg")
#: default memory budget of one chunk of factorisations (bytes)
MEMORY = 256 * 2**20
_DENSE_MAX_N = 4000          # above this a dense n×n block costs too much memory per sample
_DENSE_MIN_DENSITY = 0.05    # below this a sparse factorisation wins
_CG_TOL_FLOOR = 1e-14
_SERIAL_BELOW = 500          # per-sample factorisations smaller than this run single-threaded


class BatchHessian:
    """The batch of matrices ``H_b = K + Aᵀ diag(c_b) A + Pᵀ S_b P`` without forming them.

    Parameters
    ----------
    K : scipy.sparse matrix, shape (n, n)
        Shared symmetric part.
    A : scipy.sparse matrix, shape (m, n), or None
        Shared incidence of the per-sample curvatures.
    c : ndarray, shape (batch, m), or None
        Per-sample curvatures (``≥ 0`` for a convex energy).
    outputs : ndarray of int, shape (k,), optional
        The indices ``P`` on which the per-sample dense blocks ``S`` act.
    S : ndarray, shape (batch, k, k), optional
    dense_K : ndarray, shape (n, n), optional
        ``K`` as a dense array, if the caller already has it (used for products and blocks).
    """

    def __init__(self, K, A=None, c=None, outputs=None, S=None, dense_K=None):
        self.K = sp.csr_matrix(K)
        self.n = self.K.shape[0]
        self.A = None if A is None or A.shape[0] == 0 else sp.csr_matrix(A)
        self.c = None if self.A is None else np.asarray(c, dtype=float)
        self.outputs = None if S is None else np.asarray(outputs, dtype=int)
        self.S = None if S is None else np.asarray(S, dtype=float)
        self.batch = next((len(a) for a in (self.c, self.S) if a is not None), None)
        self._dense_K = dense_K
        self._AT = None if self.A is None else self.A.T.tocsr()

    @property
    def density(self):
        return self.K.nnz / max(self.n * self.n, 1)

    def dense_K(self):
        if self._dense_K is None:
            self._dense_K = self.K.toarray()
        return self._dense_K

    def restrict(self, keep):
        """The same batch with rows and columns ``keep`` only (a clamp fixes the others)."""
        keep = np.asarray(keep)
        pos = -np.ones(self.n, int)
        pos[keep] = np.arange(len(keep))
        K = self.K[keep][:, keep]
        A = None if self.A is None else self.A[:, keep]
        outputs, S = None, None
        if self.S is not None:
            inside = pos[self.outputs] >= 0
            if np.any(inside):
                outputs = pos[self.outputs[inside]]
                S = self.S[:, inside][:, :, inside]
        dense = None if self._dense_K is None else self._dense_K[np.ix_(keep, keep)]
        out = BatchHessian(K, A, self.c, outputs, S, dense_K=dense)
        out.batch = self.batch
        return out

    def matvec(self, V, rows=None):
        """``H_b v_b`` for the samples ``rows`` (default all): ``V`` of shape (len, n)."""
        rows = slice(None) if rows is None else rows
        if self._dense_K is not None or self.density > _DENSE_MIN_DENSITY:
            out = V @ self.dense_K()
            if self.A is not None:
                out += np.asarray(self._AT @ (np.asarray(self.A @ V.T) * self.c[rows].T)).T
        else:           # sample columns, made contiguous once (scipy copies strided ones)
            Vt = np.ascontiguousarray(V.T)
            out = self.K @ Vt
            if self.A is not None:
                out += self._AT @ (np.asarray(self.A @ Vt) * self.c[rows].T)
            out = out.T
        if self.S is not None:
            o = self.outputs
            out[:, o] += np.einsum("bij,bj->bi", self.S[rows], V[:, o])
        return out

    def floor(self):
        """``K + Aᵀ diag(min_b c_b) A`` (sparse): the shared part and the smallest curvature
        of every branch over the batch, a lower bound of every ``H_b`` (nudge blocks aside)."""
        if self.A is None:
            return self.K
        return (self.K + self._AT @ sp.diags(np.min(self.c, axis=0)) @ self.A).tocsr()

    def diagonal(self):
        """The diagonal of every ``H_b``, shape (batch, n)."""
        d = np.broadcast_to(self.K.diagonal(), (self.batch or 1, self.n)).copy()
        if self.A is not None:
            d += self.c @ self.A.multiply(self.A).tocsr()
        if self.S is not None:
            d[:, self.outputs] += np.diagonal(self.S, axis1=1, axis2=2)
        return d

    def block(self, b, shift=0.0, dense=False):
        """``H_b + shift·1`` as a dense array or a CSC sparse matrix."""
        if dense:
            H = self.dense_K().copy()
            if self.A is not None:                  # sparse product, scattered: O(nnz)
                C = (self._AT @ sp.diags(self.c[b]) @ self.A).tocoo()
                np.add.at(H, (C.row, C.col), C.data)
            if self.S is not None:
                H[np.ix_(self.outputs, self.outputs)] += self.S[b]
            if shift:
                H[np.diag_indices_from(H)] += shift
            return H
        H = self.K.copy()
        if self.A is not None:
            H = H + self._AT @ sp.diags(self.c[b]) @ self.A
        if self.S is not None:
            k = len(self.outputs)
            H = H + sp.csr_matrix((self.S[b].ravel(), (np.repeat(self.outputs, k),
                                                       np.tile(self.outputs, k))),
                                  shape=(self.n, self.n))
        if shift:
            H = H + shift * sp.identity(self.n, format="csr")
        return H.tocsc()


def choose_method(H, method="auto"):
    """The solve method for a :class:`BatchHessian`: ``method`` itself unless ``"auto"``.

    ``"auto"`` picks by operation counts, deterministically. A direct method costs about
    ``n³/3`` flops per sample (dense) or the square of the factor's column counts (sparse,
    estimated as ``nnz(K)·n/10`` for a well-connected graph — fill makes such a factor dense)
    per Newton step; conjugate gradients cost ``2 nnz(K)`` per iteration (``2n²`` with a dense
    ``K``), and reach a relative residual ``10⁻⁸`` (typical of an inexact Newton step) in
    ``½√κ ln(2·10⁸)`` iterations, ``κ`` the condition number of the Jacobi-scaled
    :meth:`BatchHessian.floor` (``K`` plus the smallest curvature of each branch; estimated by
    Lanczos; cached by the caller). Small problems (``n ≤ 300``) always go direct. CG that
    has not converged within the iterations one direct solve costs hands its samples to the
    direct method (:func:`solve`), so a wrong guess costs at most about twice the direct
    solve.
    """
    if method not in METHODS:
        raise ValueError(f"linear_solver={method!r} is not one of {list(METHODS)}")
    if method != "auto":
        return method
    n = H.n
    direct = _direct_method(H)
    if n <= 300:
        return direct
    kappa = jacobi_condition(H.floor())
    iterations = 0.5 * np.sqrt(kappa) * np.log(2.0 / 1e-8)   # a typical inexact-Newton solve
    return "cg" if iterations < _direct_in_cg_iterations(H, direct) else direct


def _direct_in_cg_iterations(H, direct):
    """What one direct solve costs, in CG iterations (``2 nnz(K)`` flops each, ``2n²`` with a
    dense ``K``; a direct solve ``n³/3`` dense, ``nnz(K)·n/10`` sparse)."""
    n = H.n
    per_iteration = 2.0 * (n * n if H.density > _DENSE_MIN_DENSITY else H.K.nnz)
    direct_flops = n**3 / 3.0 if direct == "dense" else H.K.nnz * n / 10.0
    return direct_flops / per_iteration


def _direct_method(H):
    """Dense Cholesky for dense-ish blocks of moderate size, sparse ``LDLᵀ`` otherwise."""
    return "dense" if H.n <= _DENSE_MAX_N and H.density > _DENSE_MIN_DENSITY else "sparse"


def jacobi_condition(K):
    """Condition number of ``D^{-1/2} K D^{-1/2}`` (``D = diag K``), by Lanczos (``eigsh``)."""
    K = sp.csr_matrix(K)
    n = K.shape[0]
    d = K.diagonal()
    if np.any(d <= 0):
        return np.inf
    s = 1.0 / np.sqrt(d)
    J = sp.diags(s) @ K @ sp.diags(s)
    if n <= 300:
        w = np.linalg.eigvalsh(J.toarray())
        return float(w[-1] / w[0]) if w[0] > 0 else np.inf
    try:
        hi = spla.eigsh(J, k=1, which="LA", return_eigenvectors=False, tol=1e-3)[0]
        # the smallest eigenvalue of J is the largest of hi·1 − J (shift-free Lanczos)
        lo = hi - spla.eigsh(hi * sp.identity(n) - J, k=1, which="LA",
                             return_eigenvectors=False, tol=1e-3)[0]
    except spla.ArpackNoConvergence:
        return np.inf
    return float(hi / lo) if lo > 0 else np.inf


def solve(H, R, *, method="auto", rtol=None, memory=MEMORY, max_shifts=40, keep_factor=False):
    """Solve ``H_b d_b = r_b`` for every sample; shift indefinite blocks (modified Newton).

    Parameters
    ----------
    H : BatchHessian
    R : ndarray, shape (batch, n)
    method : {"auto", "dense", "sparse", "cg"}
    rtol : ndarray, shape (batch,), optional
        Relative residual ``‖H_b d_b − r_b‖ / ‖r_b‖`` at which conjugate gradients may stop
        (an inexact Newton step); direct methods are exact. Default: ``1e-14``.
    memory : int
        Bytes a chunk of factorisations may take.
    max_shifts : int
        Shift doublings before :class:`ConvergenceError`.
    keep_factor : bool, default False
        Also return ``solve(R)``, the solves with the factorisations just made (for the
        chord steps of :func:`~physlearn.systems.solvers.damped_newton`); None when a sample
        was solved by conjugate gradients (nothing to reuse).

    Returns
    -------
    d : ndarray, shape (batch, n)
    exact : ndarray of bool, shape (batch,)
        True where ``H_b`` was positive definite (``d`` the Newton direction).
    """
    R = np.ascontiguousarray(R, dtype=float)
    method = choose_method(H, method)
    d = np.zeros_like(R)
    exact = np.ones(len(R), bool)
    todo = np.arange(len(R))
    factors = []                      # (sample rows, solve of those rows) per factorisation
    if method == "cg":
        rtol = np.full(len(R), _CG_TOL_FLOOR) if rtol is None else np.maximum(rtol,
                                                                              _CG_TOL_FLOOR)
        d, done = _cg(H, R, rtol)
        todo = np.flatnonzero(~done)
        method = _direct_method(H)
    if len(todo):
        solver = _dense if method == "dense" else _sparse_chunks
        d[todo], exact[todo] = solver(H, R, todo, memory, max_shifts, factors)
    if not keep_factor:
        return d, exact
    return d, exact, (_reuse(factors, H.n) if len(todo) == len(R) else None)


def _reuse(factors, n):
    """``solve(R)`` with the kept factorisations, each for its samples."""
    def solve(R):
        R = np.ascontiguousarray(R, dtype=float)
        out = np.empty((len(R), n))
        for rows, fn in factors:
            out[rows] = fn(R[rows])
        return out
    return solve


def _shift_scale(H):
    return max(float(np.max(np.abs(H.K.diagonal()), initial=0.0)), 1e-12)


def _dense(H, R, rows, memory, max_shifts, factors):
    """One dense Cholesky per sample; a failed one is retried shifted."""
    d = np.empty((len(rows), H.n))
    exact = np.ones(len(rows), bool)
    scale = _shift_scale(H)
    with serial_blas() if H.n < _SERIAL_BELOW else contextlib.nullcontext():
        _dense_loop(H, R, rows, d, exact, scale, max_shifts, factors)
    return d, exact


def _dense_loop(H, R, rows, d, exact, scale, max_shifts, factors):
    for i, b in enumerate(rows):
        factor, tau = shifted_cholesky(lambda tau, b=b: H.block(b, tau, dense=True), scale,
                                       max_shifts)
        d[i] = cho_solve(factor, R[b])
        exact[i] = tau == 0.0
        factors.append(([b], lambda rhs, factor=factor: cho_solve(factor, rhs[0])[None]))


def shifted_cholesky(matrix, scale, max_shifts=40, diagonal=None):
    """Cholesky factor of ``matrix(τ) = H + τ·1`` for the smallest ``τ`` tried that works.

    ``τ = 0`` first, then ``10⁻³·scale`` doubled until the factorisation succeeds (modified
    Newton: Nocedal & Wright, *Numerical Optimization*, Alg. 3.3).

    Parameters
    ----------
    matrix : callable
        ``matrix(τ) -> ndarray``, a new array ``H + τ·1`` (it is factorised in place).
    scale : float
        Sets the first nonzero shift, ``10⁻³·scale``.
    max_shifts : int
        Shifts tried (those skipped included) before :class:`ConvergenceError`.
    diagonal : ndarray, optional
        The diagonal of ``H``. A shift that leaves an entry of ``diagonal + τ`` at or below
        zero is skipped without building or factorising ``matrix(τ)``: Cholesky's pivot on
        that row is that entry minus a sum of squares, so the factorisation would fail. The
        ``τ`` returned, and its factor, are the same as without ``diagonal``.

    Returns
    -------
    factor : tuple
        The ``scipy.linalg.cho_factor`` pair (lower factor, ``True``), for :func:`cho_solve`.
    tau : float
    """
    # fl(H_ii + τ) <= 0 exactly when τ <= −H_ii (0 is representable): one scalar test per τ
    floor = -np.inf if diagonal is None else -float(np.min(diagonal, initial=np.inf))
    tau = 0.0
    for _ in range(max_shifts):
        if not tau <= floor:                 # (a NaN floor skips nothing)
            factor = _cholesky(matrix(tau))
            if factor is not None:
                return factor, tau
        tau = max(2.0 * tau, 1e-3 * scale)
    raise ConvergenceError("could not make the Hessian positive definite by diagonal shifts")


def _cholesky(a):
    """``scipy.linalg.cho_factor(a, lower=True, overwrite_a=True)``, or None where ``a`` is
    not positive definite: LAPACK ``potrf`` called directly, without ``cho_factor``'s
    checks and exception, which cost more than the factorisation of a small block."""
    potrf, = sla.get_lapack_funcs(("potrf",), (a,))
    c, info = potrf(a, lower=True, overwrite_a=True, clean=False)
    if info < 0:
        raise ValueError(f"LAPACK potrf: illegal value in argument {-info}")
    return (c, True) if info == 0 else None


def cho_solve(factor, r):
    """``scipy.linalg.cho_solve(factor, r)`` for a factor of :func:`shifted_cholesky`, by
    LAPACK ``potrs`` directly (the same result, a fraction of the overhead)."""
    c, lower = factor
    if not len(c):                         # potrs rejects an empty system
        return np.zeros(np.shape(r))
    potrs, = sla.get_lapack_funcs(("potrs",), (c, r))
    x, info = potrs(c, r, lower=lower)
    if info != 0:
        raise ValueError(f"LAPACK potrs: illegal value in argument {-info}")
    return x


def _sparse_chunks(H, R, rows, memory, max_shifts, factors):
    """Sparse LDLᵀ over chunks of samples, the chunk bounded by the fill of one factor."""
    from physlearn.systems.solvers import newton_direction

    d = np.empty((len(rows), H.n))
    exact = np.ones(len(rows), bool)
    fill, done = H.n * H.n, 0              # at worst a dense factor
    if len(rows) * (16 * fill + 64 * H.n) > memory:
        try:                               # then the fill of one sample's factor sets the chunk
            first = spla.splu(H.block(rows[0]), permc_spec="MMD_AT_PLUS_A",
                              diag_pivot_thresh=0.0, options={"SymmetricMode": True})
            fill = first.L.nnz + first.U.nnz
            if np.all(first.U.diagonal() > 0):     # LDLᵀ with positive pivots: H_b > 0, and
                d[0] = first.solve(np.ascontiguousarray(R[rows[0]], dtype=float))
                done = 1                           # the probe's factor is that sample's solve
                factors.append(([rows[0]], lambda rhs, lu=first: lu.solve(
                    np.ascontiguousarray(rhs[0]))[None]))
        except RuntimeError:               # a zero pivot: keep the dense bound
            pass
    per_sample = 16 * fill + 64 * H.n
    chunk = int(max(1, min(len(rows), memory // max(per_sample, 1))))
    for start in range(done, len(rows), chunk):
        sel = rows[start:start + chunk]
        block = sp.block_diag([H.block(b) for b in sel], format="csc")
        d[start:start + len(sel)], exact[start:start + len(sel)], chunk_solve = \
            newton_direction(block, R[sel], len(sel), max_shifts=max_shifts, keep_factor=True)
        factors.append((sel, chunk_solve))
    return d, exact


def _cg(H, R, rtol, max_iter=None):
    """Jacobi-preconditioned conjugate gradients on every sample at once.

    Returns ``(d, done)``: ``done`` is False for samples that met non-positive curvature or
    did not reach ``rtol`` within ``max_iter`` iterations (their ``d`` is to be recomputed).
    """
    batch, n = R.shape
    if max_iter is None:        # about one direct solve's worth (at least 100 iterations)
        budget = _direct_in_cg_iterations(H, _direct_method(H))
        max_iter = int(min(10 * np.sqrt(n) + 100, max(100.0, budget)))
    inv_diag = 1.0 / H.diagonal()
    x = np.zeros_like(R)
    r = R.copy()
    z = r * inv_diag
    p = z.copy()
    rz = np.einsum("bi,bi->b", r, z)
    target = rtol * np.linalg.norm(R, axis=1)
    done = np.linalg.norm(r, axis=1) <= target
    failed = np.zeros(batch, bool)
    live = np.flatnonzero(~done)
    for _ in range(max_iter):
        if not len(live):
            break
        rows = slice(None) if len(live) == batch else live   # all running: views, no copies
        failed[live[_cg_step(H, x, r, p, rz, inv_diag, rows, live)]] = True
        done[live] = np.linalg.norm(r[rows], axis=1) <= target[live]
        live = live[~(done[live] | failed[live])]
    return x, done & ~failed


def _cg_step(H, x, r, p, rz, inv_diag, rows, live):
    """One conjugate-gradient step of the samples ``rows`` (a slice of all, or the indices
    ``live``), in place; returns the mask of those that met non-positive curvature (left
    where they were)."""
    P = p[rows]
    Ap = H.matvec(P, rows=None if isinstance(rows, slice) else live)
    curvature = np.einsum("bi,bi->b", P, Ap)
    bad = ~(curvature > 0)
    alpha = np.where(bad, 0.0, rz[rows] / np.where(bad, 1.0, curvature))
    x[rows] += alpha[:, None] * P
    r[rows] -= alpha[:, None] * Ap
    z = r[rows] * inv_diag[rows]
    rz_new = np.einsum("bi,bi->b", r[rows], z)
    p[rows] = z + (rz_new / np.where(rz[rows] == 0, 1.0, rz[rows]))[:, None] * P
    rz[rows] = rz_new
    return bad
