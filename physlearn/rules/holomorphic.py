"""Holomorphic equilibrium propagation: the Cauchy integral over complex nudges."""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from ..nudges import Nudge
from ..system import ConvergenceError
from .base import Rule, check_strength


class HolomorphicEP(Rule):
    """N-point Cauchy estimate of the EP derivative on the circle ``|β| = r``.

    Parameters
    ----------
    beta : float, default 0.1
        Radius ``r`` of the circle of complex nudges (dimensionless, like EP's β).
    points : int, default 4
        Number ``N`` of equally spaced nudges ``β_k = r e^{2πik/N}``.

    Raises
    ------
    ValueError
        From :meth:`gradient`: ``beta`` not a finite positive real number, ``points`` not a
        positive integer, a circle that reaches the system's known radius of convergence, or a
        system without the ``"complex"`` capability.
    ConvergenceError
        If the equilibrium at a nudge of the circle does not exist.

    Notes
    -----
    If :math:`F = E + βC` is holomorphic in the state and in β, then
    :math:`g(β) = ∂E/∂θ(s^β)` is holomorphic near 0 and Cauchy's formula gives its derivative
    from finite nudges (Laborieux & Zenke 2022):

    .. math::

        \\frac{dL}{dθ} = g'(0) = \\frac{1}{2πi} \\oint \\frac{g(β)}{β^2}\\,dβ
        ≈ \\frac{1}{N} \\sum_{k=0}^{N−1} \\frac{g(β_k) − g(0)}{β_k}.

    The discrete sum aliases the Taylor coefficients ``a_{1+N}, a_{1+2N}, …`` onto ``a_1``, so
    the error is ``O(r^N)`` — provided ``r`` lies inside the radius of convergence of ``g``,
    which is the distance from 0 to the nearest complex β at which the nudged equilibrium stops
    existing (a pole of ``g``). For a linear resistor network with squared error these are the
    β at which ``1 + β·λ`` vanishes for an eigenvalue ``λ`` of the output response matrix
    ``R``, i.e. ``|β| < 1/λ_max(R)``. Outside it the circle encloses a pole whose residue adds to
    the sum: more points no longer help, the estimate converges to a wrong value.

    The circle is checked (:func:`check_circle`): where the system knows its radius
    (``system.nudge_radius(x, y, cost)``: a linear resistor network with squared error from
    its response matrix, the exact Ising model from the nearest complex zero of its nudged
    partition function) a circle with ``r ≥ radius`` is refused with a ``ValueError``; elsewhere
    a nudge of the circle whose equilibrium does not exist raises a
    :class:`~physlearn.ConvergenceError` naming that β (:func:`relax_on_circle`), and values on
    the circle that are not those of a function analytic inside it (a singularity enclosed, a
    nudged state that jumped basin) give a :class:`ContourWarning` (:func:`check_contour`).

    Subtracting ``g(0)`` changes nothing in exact arithmetic (Σ_k 1/β_k = 0 for N ≥ 2) but
    removes round-off at small ``r``; with it ``N = 1`` is positive EP and ``N = 2`` is
    centered EP. Real systems obey ``g(β̄) = conj g(β)``, so only the nudges with
    ``Im β ≥ 0`` are relaxed (about N/2 + 1 runs).

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    """

    requires = frozenset({"soft_nudge", "complex"})

    def __init__(self, beta: float = 0.1, points: int = 4):
        self.beta = beta
        self.points = points

    @property
    def bias_order(self):
        return int(self.points)

    def nudge_points(self):
        """``(β_k, weight_k)`` for the relaxed half circle (conjugate pairs folded)."""
        return cauchy_nudges(check_strength("beta", self.beta), self.points)

    def per_sample_gradient(self, system, x, y, cost):
        radius = check_circle(self, system, x, y, cost)
        free = system.equilibrium(x)
        g0 = system.param_gradient(free)
        total = {k: np.zeros(v.shape) for k, v in g0.items()}
        moves = []
        for beta, weight in self.nudge_points():
            nudged = relax_on_circle(self, system, x, Nudge(cost, y, beta), free, radius)
            g = system.param_gradient(nudged)
            moves.append(np.concatenate([np.reshape(g[k] - g0[k], (len(x), -1)) for k in g0],
                                        axis=1))
            for k in total:
                total[k] += weight * np.real((g[k] - g0[k]) / beta)
        if radius is None:
            check_contour(self, moves, self.points)
        return {k: v / self.points for k, v in total.items()}


def check_circle(rule, system, x, y, cost, free=None):
    """Refuse a circle ``|β| = r`` that reaches the radius of convergence of ``g(β)``.

    The radius is the system's :meth:`nudge_radius` ``(x, y, cost)`` where it knows it (None
    or absent: unknown, and the contour is checked as it is relaxed, see
    :func:`relax_on_circle`). Returns the radius (or None). ``free``, the free state of ``x``,
    is handed to a ``nudge_radius`` that takes it (saves a relaxation).

    Raises
    ------
    ValueError
        Naming ``r`` and the radius when ``r ≥ radius``: the circle then encloses (or passes
        through) a singularity of ``g`` and the Cauchy sum converges to a wrong value.
    """
    r = check_strength("beta", rule.beta)
    find = getattr(system, "nudge_radius", None)   # duck-typed systems may lack it
    if not callable(find):
        radius = None
    elif free is not None and "free" in inspect.signature(find).parameters:
        radius = find(x, y, cost, beta=r, free=free)
    else:
        radius = find(x, y, cost, beta=r)
    if radius is not None and np.isfinite(radius) and r >= radius:
        raise ValueError(
            f"{type(rule).__name__}: the circle |beta| = {r:.6g} reaches the radius of "
            f"convergence {radius:.6g} of g(beta) for {type(system).__name__} (nearest "
            "singularity of the nudged equilibrium): the Cauchy estimate would converge to a "
            f"wrong gradient; use beta < {radius:.6g} (e.g. beta = {0.5 * radius:.3g})")
    return radius


def relax_on_circle(rule, system, x, nudge, free, radius=None):
    """Relax one nudge of a contour; a failed relaxation is reported as a failed contour.

    Where the system does not know its radius, a nudged equilibrium that does not exist at
    some ``β_k`` (a :class:`~physlearn.ConvergenceError`, or a singular linear solve) means
    the circle crosses a singularity of ``g(β)``: the error names ``β_k`` and ``r``.
    """
    try:
        state = system.equilibrium(x, nudge, start=free)
    except (ConvergenceError, np.linalg.LinAlgError) as err:
        known = "" if radius is None else f" (known radius {radius:.6g})"
        raise ConvergenceError(
            f"{type(rule).__name__}: failed contour |beta| = {abs(nudge.beta):.6g}{known}: "
            f"no nudged equilibrium at beta={complex(nudge.beta):.6g} ({err}); the circle "
            "probably reaches a singularity of g(beta): use a smaller beta") from err
    if not np.all(np.isfinite(state.s)):
        raise ConvergenceError(
            f"{type(rule).__name__}: failed contour |beta| = {abs(nudge.beta):.6g}: the nudged "
            f"state at beta={complex(nudge.beta):.6g} is not finite; use a smaller beta")
    return state


class ContourWarning(UserWarning):
    """The values on a Cauchy circle do not look like those of a function analytic inside it."""


def check_contour(rule, moves, points, threshold=1.0):
    """Warn when the relaxed circle does not look analytic inside (a failed contour).

    Parameters
    ----------
    moves : list of ndarray, shape (batch, p)
        ``g(β_k) − g(0)`` on the relaxed half circle (:func:`cauchy_nudges` order).
    points : int
        ``N``; the other half is ``g(β̄) = conj g(β)``.

    Notes
    -----
    On the circle the discrete Fourier coefficients of ``g(β_k) − g(0)`` are
    ``c_m = Σ_{j ≡ m (mod N), j ≥ 1} a_j r^j``. Inside the radius ρ they fall like
    ``(r/ρ)^m``, so ``|c_{N−1}| / |c_1| ≈ (r/ρ)^{N−2} ≪ 1``; once the circle encloses a
    singularity, or a nudged state has jumped to another basin, the negative frequency
    ``c_{−1} = c_{N−1}`` is as large as ``c_1`` or larger. A ratio above ``threshold`` is
    reported (:class:`ContourWarning`, naming r and the ratio); N < 3 has no such check.
    """
    n = int(points)
    if n < 3:
        return None
    full = [moves[k] if k < len(moves) else np.conj(moves[n - k]) for k in range(n)]
    c = np.fft.fft(np.asarray(full, dtype=complex), axis=0) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.linalg.norm(c[n - 1], axis=1) / np.linalg.norm(c[1], axis=1)
    ratio = np.where(np.isnan(ratio), 0.0, ratio)
    worst = float(np.max(ratio, initial=0.0))
    if worst > threshold:
        bad = np.flatnonzero(ratio > threshold)[:5].tolist()
        warnings.warn(
            f"{type(rule).__name__}: failed contour |beta| = {float(rule.beta):.6g} for samples "
            f"{bad}: the values on the circle are not those of a function analytic inside it "
            f"(negative-frequency/first Fourier coefficient ratio {worst:.3g} > {threshold:g}); "
            "the circle probably encloses a singularity of the nudged equilibrium or a nudged "
            "state jumped basin: use a smaller beta", ContourWarning, stacklevel=4)
    return worst


def cauchy_nudges(radius, points):
    """Nudges ``β_k = r e^{2πik/N}`` with ``Im β_k ≥ 0`` and their folding weights.

    A real system obeys ``g(β̄) = conj g(β)``, so the terms at ``β_k`` and ``β_{N−k}`` sum to
    twice the real part of one of them: each such pair is relaxed once with weight 2; the
    real nudges (``k = 0`` and ``k = N/2``) have weight 1. ``N = 1`` gives ``(r,)`` and
    ``N = 2`` gives ``(r, −r)``: one-sided and centered finite differences.

    Returns
    -------
    list of (complex or float, float)
    """
    n = points
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"points={n!r} must be a positive integer")
    out = []
    for k in range(n // 2 + 1):
        real = k == 0 or 2 * k == n
        beta = radius * np.exp(2j * np.pi * k / n)
        out.append((beta.real if real else beta, 1.0 if real else 2.0))
    return out
