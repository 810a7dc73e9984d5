"""Batched damped Newton minimisation, shared by the nonlinear equilibrium systems.

Every sample of a batch (a row of the state) relaxes independently; a step is accepted when
it lowers the merit function (the total energy ``E + βC``), a Hessian that is not positive
definite is shifted so that the relaxation goes to minima and never to saddles, and a
relaxation that does not converge raises :class:`physlearn.ConvergenceError` with its
residual.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from physlearn.nudges import Nudge
from physlearn.system import ConvergenceError

CHORD_CONTRACTION = 0.25    # a chord step is kept while the residual shrinks by this factor
CHORD_HALVINGS = 3          # a chord step that needs more halvings gives way to fresh Newton


def damped_newton(s0, merit, gradient, newton_step, *, tol, max_iter, what="system",
                  max_halvings=60):
    """Batched damped Newton: every sample (row) relaxes independently.

    Parameters
    ----------
    s0 : ndarray, shape (batch, n)
        Initial state.
    merit : callable or None
        ``merit(s) -> (batch,)``, the function minimised (``E + βC``); ``None`` for root
        finding (a clamp's KKT system): steps are then accepted on the residual norm alone.
    gradient : callable
        ``gradient(s) -> (batch, n)``, the residual driven to zero (``∂merit/∂s``).
    newton_step : callable
        ``newton_step(s, r) -> (d, exact)``: the direction ``d`` (the step is ``s − t d``) and,
        per sample, whether it is the exact Newton direction of a positive-definite Hessian
        (see :func:`newton_direction`). It may return ``(d, exact, solve)`` with ``solve(r)``
        the solve with the same (factorised) Hessian: then, while the iteration contracts,
        the later steps reuse it (see Notes).
    tol : float
        Convergence when ``‖r‖∞ < tol`` for every sample; one more full Newton step then takes
        the residual to round-off (kept only where it does not grow).
    max_iter : int
        Newton steps before giving up.
    what : str
        Name used in error messages.

    Returns
    -------
    ndarray
        The converged state.

    Raises
    ------
    ConvergenceError
        With the largest residual, when ``max_iter`` steps or the line search fail, or when a
        minimisation converges to a stationary point that is not a minimum.

    Notes
    -----
    A step length ``t`` (halved per sample) is accepted when the merit decreases by the
    Armijo amount ``10⁻⁴ t rᵀd`` (while that decrease is above round-off), or — for exact Newton
    steps only — when the residual norm falls by the factor ``1 − 10⁻⁴ t``. Near a minimum the
    Hessian is positive definite and Newton converges quadratically on the residual; where
    the Hessian is indefinite (a saddle region) only a decrease of the merit is accepted, so
    saddles repel the iteration instead of attracting it.

    *Chord steps.* When ``newton_step`` offers the solve of its Hessian and that Hessian was
    positive definite for every sample, the next steps reuse it (``d = H_k⁻¹ r``, a descent
    direction) as long as each step shrinks the largest residual by at least
    ``CHORD_CONTRACTION``; otherwise, or where a chord step is not accepted within
    ``CHORD_HALVINGS`` halvings, a fresh Newton step is taken. Near a minimum, where the
    Hessian changes little over the remaining steps, this trades factorisations for solves.
    The final step (the polish, which also checks that the end point is a minimum) is always
    a fresh Newton step.
    """
    s = np.array(s0, dtype=float)
    r = gradient(s)
    f = merit(s) if merit is not None else None
    chord, last = None, np.inf
    for step in range(max_iter):
        res = np.max(np.abs(r), axis=1)
        if np.all(res < tol):
            return _polish(s, r, gradient, newton_step, merit is not None, what)
        t = None
        if chord is not None and np.max(res) <= CHORD_CONTRACTION * last:
            d = chord(r)                  # H_k positive definite: a descent direction
            if np.all(np.isfinite(d)):
                t, trial, r_t, f_t = _line_search(s, r, f, d, np.ones(len(s), bool), merit,
                                                  gradient, res < tol, CHORD_HALVINGS)
        last = np.max(res)
        if t is None:                     # a fresh Newton step (also where a chord step failed)
            d, exact, *solve = newton_step(s, r)
            chord = solve[0] if solve and np.all(exact) else None
            if not np.all(np.isfinite(d)):
                raise ConvergenceError(
                    f"{what}: Newton step diverged at step {step}: residual max|dF/ds| = "
                    f"{np.max(res):.3e}; E + beta*C has no minimum (a large negative nudge?)")
            t, trial, r_t, f_t = _line_search(s, r, f, d, exact, merit, gradient, res < tol,
                                              max_halvings)
        if t is None:
            raise ConvergenceError(
                f"{what}: Newton line search failed at step {step}: residual "
                f"max|dF/ds| = {np.max(res):.3e} (tol={tol:g}); E + beta*C may have no "
                "minimum near the start (a large negative nudge?)")
        s, r, f = trial, r_t, f_t
    res = np.max(np.abs(r))
    if res < tol:
        return _polish(s, r, gradient, newton_step, merit is not None, what)
    raise ConvergenceError(f"{what}: no equilibrium after {max_iter} Newton steps: residual "
                           f"max|dF/ds| = {res:.3e} (tol={tol:g})")


def _line_search(s, r, f, d, exact, merit, gradient, frozen, max_halvings):
    """Backtracking per sample; returns ``(t, s_new, r_new, f_new)`` or ``(None, ...)``."""
    with np.errstate(over="ignore", invalid="ignore"):
        slope = np.sum(r * d, axis=1)
        norm = np.linalg.norm(r, axis=1)
    t = np.where(frozen, 0.0, 1.0)
    for _ in range(max_halvings):
        trial = s - t[:, None] * d
        with np.errstate(all="ignore"):
            r_t = gradient(trial)
            ok = exact & (np.linalg.norm(r_t, axis=1) <= (1 - 1e-4 * t) * norm)
            f_t = None
            if merit is not None:
                f_t = merit(trial)
                resolvable = t * slope > 1e-13 * np.maximum(np.abs(f), 1e-300)
                ok |= resolvable & (f_t <= f - 1e-4 * t * slope)
            ok &= np.all(np.isfinite(r_t), axis=1)
        ok |= frozen
        if np.all(ok):
            return t, trial, r_t, f_t
        t = np.where(ok, t, 0.5 * t)
    return None, s, r, f


def _polish(s, r, gradient, newton_step, minimising, what):
    """One more full Newton step, kept for the samples whose residual does not grow."""
    d, exact, *_ = newton_step(s, r)
    if minimising and not np.all(exact):
        bad = np.flatnonzero(~exact)[:5]
        raise ConvergenceError(
            f"{what}: samples {bad.tolist()} reached a stationary point of E + beta*C that is "
            "not a minimum (the Hessian has a negative eigenvalue: a saddle); start the "
            "relaxation elsewhere")
    trial = s - d
    r_t = gradient(trial)
    better = np.max(np.abs(r_t), axis=1) <= np.max(np.abs(r), axis=1)
    return np.where(better[:, None], trial, s)


def newton_direction(H, r, batch, max_shifts=40, keep_factor=False):
    """Solve ``H d = r`` for a block-diagonal symmetric ``H``; modify indefinite blocks.

    Parameters
    ----------
    H : scipy.sparse matrix, shape (batch·n, batch·n)
        Block-diagonal (one ``n × n`` block per sample) symmetric Hessian.
    r : ndarray, shape (batch, n)
    batch : int
    keep_factor : bool, default False
        Also return the solve with the factorisation (for :func:`damped_newton`'s chord
        steps).

    Returns
    -------
    d : ndarray, shape (batch, n)
    exact : ndarray of bool, shape (batch,)
        True where the block was positive definite (``d`` is the Newton direction).
    solve : callable, only with ``keep_factor``
        ``solve(r) -> d`` with the (possibly shifted) factorised ``H``.

    Notes
    -----
    The inertia of each block is read from a sparse LU with diagonal pivoting in symmetric
    mode, which is an ``LDLᵀ`` factorisation: by Sylvester's law the signs of the pivots are
    the signs of the eigenvalues. A block with a non-positive pivot is replaced by
    ``H_b + τ_b 1`` with ``τ_b`` doubled until it is positive definite (Nocedal & Wright,
    *Numerical Optimization*, Alg. 3.3), which makes ``d`` a descent direction.
    """
    n = r.shape[1]
    tau = np.zeros(batch)
    scale = max(float(np.max(np.abs(H.diagonal()))), 1e-12)
    for _ in range(max_shifts):
        shifted = (H + sp.diags(np.repeat(tau, n))).tocsc() if np.any(tau) else H.tocsc()
        try:
            lu = spla.splu(shifted, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                           options={"SymmetricMode": True})
            pivots = lu.U.diagonal()
        except RuntimeError:                      # an exactly zero pivot
            lu, pivots = None, None
        bad = np.ones(batch, bool) if lu is None else np.zeros(batch, bool)
        if lu is not None:
            owner = np.argsort(lu.perm_c) // n    # sample owning each pivot
            bad[owner[~(pivots > 0)]] = True
        if not np.any(bad):
            def solve(rhs, lu=lu):
                return lu.solve(np.ascontiguousarray(rhs, dtype=float).ravel()).reshape(batch, n)
            return (solve(r), tau == 0, solve) if keep_factor else (solve(r), tau == 0)
        tau = np.where(bad, np.maximum(2.0 * tau, 1e-3 * scale), tau)
    raise ConvergenceError("could not make the Hessian positive definite by diagonal shifts")




def stability_interval(R, cost_hessian):
    """The real nudges ``β`` for which ``R⁻¹ + β ∂²C/∂o²`` is positive definite, per sample.

    Parameters
    ----------
    R : ndarray, shape (n_out, n_out) or (batch, n_out, n_out)
        Symmetric positive-definite output response matrix ``P H⁻¹ Pᵀ`` (``H = ∂²E/∂s²``).
    cost_hessian : ndarray, shape (batch, n_out, n_out)
        ``∂²C/∂o²`` at the outputs.

    Returns
    -------
    lo, hi : ndarray, shape (batch,)
        ``E + βC`` has a positive-definite Hessian exactly for ``lo < β < hi`` (``lo < 0 < hi``,
        possibly infinite).

    Notes
    -----
    With ``H`` positive definite, ``H + β Pᵀ ∂²C P`` is positive definite iff its Schur
    complement on the outputs, ``R⁻¹ + β ∂²C/∂o²``, is, i.e. iff ``1 + βμ > 0`` for every
    eigenvalue ``μ`` of ``R^{1/2} ∂²C/∂o² R^{1/2}``. For the squared error (``∂²C = 1``) the
    ``μ`` are the eigenvalues ``λ`` of ``R`` and the bound is ``β > −1/λ_max(R)``.
    """
    R = np.asarray(R, dtype=float)
    Hc = np.real(np.asarray(cost_hessian))
    w, U = np.linalg.eigh(R)
    root = (U * np.sqrt(np.maximum(w, 0.0))[..., None, :]) @ np.swapaxes(U, -1, -2)
    M = root @ Hc @ root
    mu = np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, -1, -2)))
    with np.errstate(divide="ignore"):
        lo = np.where(mu[..., -1] > 0, -1.0 / mu[..., -1], -np.inf)
        hi = np.where(mu[..., 0] < 0, -1.0 / mu[..., 0], np.inf)
    return np.broadcast_to(lo, (len(Hc),)), np.broadcast_to(hi, (len(Hc),))


def check_nudge_stability(beta, lo, hi, what, detail=""):
    """Raise :class:`ConvergenceError` naming ``beta`` and the bound when ``β ∉ (lo, hi)``."""
    beta = float(np.real(beta))
    bad = np.flatnonzero(~((lo < beta) & (beta < hi)))
    if bad.size:
        bound = (f"beta > {np.max(lo[bad]):.6g}" if beta <= np.max(lo[bad])
                 else f"beta < {np.min(hi[bad]):.6g}")
        raise ConvergenceError(
            f"{what}: beta={beta:g} leaves E + beta*C without a minimum for samples "
            f"{bad[:5].tolist()}: the nudged Hessian is not positive definite (it is for "
            f"{bound}{detail}); the state returned would be a saddle, not an equilibrium")


def local_stability_interval(system, state, cost, target):
    """:func:`stability_interval` with the response ``P H⁻¹ Pᵀ`` at ``state`` (via ``adjoint``).

    Exact for a quadratic energy with linear outputs; for a nonlinear system it is the bound
    at that state (curvature of the outputs themselves neglected), an estimate of where the
    nudged minimum disappears.
    """
    n_out = system.n_outputs
    batch = state.s.shape[0]
    R = np.empty((batch, n_out, n_out))
    for k in range(n_out):
        unit = np.zeros((batch, n_out))
        unit[:, k] = 1.0
        column = system.adjoint(state, system.output_vjp(state, unit))
        for j in range(n_out):
            e = np.zeros((batch, n_out))
            e[:, j] = 1.0
            R[:, j, k] = np.real(np.sum(system.output_vjp(state, e) * column, axis=1))
    R = 0.5 * (R + np.swapaxes(R, 1, 2))
    return stability_interval(R, cost.hessian(np.real(system.outputs(state)), target))


def relax(system, at, s0, nudge, newton_step, *, active=None, what=None):
    """Minimise ``E + βC`` of an equilibrium system by :func:`damped_newton`.

    Parameters
    ----------
    system : EquilibriumSystem
        Supplies ``energy``, ``outputs``, ``residual``, ``tol`` and ``max_iter``.
    at : callable
        ``at(s) -> State``: the state with degrees of freedom ``s``.
    s0 : ndarray, shape (batch, n)
        Initial degrees of freedom.
    nudge : Nudge, Clamp or None
        A soft nudge adds ``β C`` to the merit; a clamp holds the inactive components.
    newton_step : callable
        ``newton_step(state, r) -> (d, exact)`` (see :func:`damped_newton`).
    active : ndarray of bool, optional
        Components that relax (default: all); the residual is zero elsewhere.

    Raises
    ------
    ConvergenceError
        As :func:`damped_newton` (no convergence, a failed line search, or a final state that
        is a saddle of ``E + βC``: the nudged Hessian not positive definite). Under a real
        soft nudge the message names β and the stability bound at the starting state
        (:func:`local_stability_interval`).

    Notes
    -----
    The tolerance is ``system.tol`` raised to the round-off of the residual's terms
    (:func:`residual_scale`), so a large β or a large state is not reported as a failure.
    """
    def merit(s):
        state = at(s)
        f = system.energy(state)
        if isinstance(nudge, Nudge):
            f = f + nudge.beta * nudge.cost.value(system.outputs(state), nudge.target)
        return f

    def gradient(s):
        r = system.residual(at(s))
        if active is not None:
            r[:, ~active] = 0.0
        return r

    what = what or type(system).__name__
    soft = isinstance(nudge, Nudge)
    if soft:
        what = f"{what} (beta={nudge.beta:g})" if not nudge.is_complex else \
            f"{what} (beta={complex(nudge.beta):.6g})"
    try:
        return damped_newton(s0, merit, gradient, lambda s, r: newton_step(at(s), r),
                             tol=system.tol * residual_scale(system, at(s0), nudge),
                             max_iter=int(system.max_iter), what=what)
    except ConvergenceError as err:
        if not soft or nudge.is_complex:
            raise
        raise ConvergenceError(f"{err}{_local_bound(system, at(s0), nudge)}") from err


def residual_scale(system, state, nudge):
    """The factor by which ``system.tol`` is raised to the round-off of the residual's terms.

    The residual sums terms of the size of the state (``∂E/∂s`` in units of a unit stiffness:
    a large phase offset) and of the nudging force ``β ∂C/∂o``; round-off makes each uncertain
    by a few ulps of its size. The tolerance used is ``max(tol, 64 ε_mach · m)`` with
    ``m = max(max|s|, |β| max|∂C/∂o|)`` at the starting state: unchanged on ordinary problems,
    relative on large ones, where an absolute tolerance would call round-off a failure.
    """
    magnitude = float(np.max(np.abs(state.s), initial=0.0))
    if isinstance(nudge, Nudge):
        with np.errstate(all="ignore"):
            force = np.abs(nudge.force(system.outputs(state)))
        if np.all(np.isfinite(force)):
            magnitude = max(magnitude, float(np.max(force, initial=0.0)))
    floor = 64 * np.finfo(float).eps * magnitude
    return max(1.0, floor / float(system.tol))


def _local_bound(system, state, nudge):
    """The stability bound at the starting state, as text for an error message ('' if none)."""
    try:
        free = state.replace(nudge=None)
        lo, hi = local_stability_interval(system, free, nudge.cost, nudge.target)
    except Exception:                     # no adjoint, singular Hessian, …: say nothing more
        return ""
    beta = float(np.real(nudge.beta))
    lo, hi = float(np.max(lo)), float(np.min(hi))
    text = (f"; at the start the nudged Hessian is positive definite for {lo:.6g} < beta < "
            f"{hi:.6g} (local bound from P H^-1 P^T), and beta={beta:g} lies ")
    if not lo < beta < hi:
        return text + "beyond it"
    # stable at the start, so the minimum is lost along the way, not at the start
    return text + ("within it: E + beta*C loses its minimum away from the start (with "
                   "beta < 0, a cost that grows without bound, such as a logarithmic one, "
                   "makes it unbounded below); use a smaller |beta|")
