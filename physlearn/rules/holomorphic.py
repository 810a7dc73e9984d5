"""Holomorphic equilibrium propagation: the Cauchy integral over complex nudges."""

from __future__ import annotations

import numpy as np

from ..nudges import Nudge
from .base import Rule, check_strength


class HolomorphicEP(Rule):
    """N-point Cauchy estimate of the EP derivative on the circle ``|β| = r``.

    Parameters
    ----------
    beta : float, default 0.1
        Radius ``r`` of the circle of complex nudges.
    points : int, default 4
        Number ``N`` of equally spaced nudges ``β_k = r e^{2πik/N}``.

    Notes
    -----
    If ``F = E + βC`` is holomorphic in the state and in β, then ``g(β) = ∂E/∂θ(s_β)`` is
    holomorphic near 0 and Cauchy's formula gives its derivative from finite nudges
    (Laborieux & Zenke 2022):

        dL/dθ = g'(0) = (1/2πi) ∮ g(β)/β² dβ ≈ (1/N) Σ_k (g(β_k) − g(0)) / β_k.

    The discrete sum aliases the Taylor coefficients ``a_{1+N}, a_{1+2N}, …`` onto ``a_1``, so
    the error is ``O(r^N)`` — provided ``r`` lies inside the radius of convergence of ``g``,
    which is the distance from 0 to the nearest complex β at which the nudged equilibrium stops
    existing (a pole of ``g``). For a linear resistor network with squared error these are the
    β at which ``1 + β·λ`` vanishes for an eigenvalue ``λ`` of the output response matrix
    ``R``, i.e. ``|β| < 1/λ_max(R)``. Outside it the circle encloses a pole whose residue adds to
    the sum: more points no longer help, the estimate converges to a wrong value.

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

    def __init__(self, beta=0.1, points=4):
        self.beta = beta
        self.points = points

    @property
    def bias_order(self):
        return int(self.points)

    def nudge_points(self):
        """``(β_k, weight_k)`` for the relaxed half circle (conjugate pairs folded)."""
        return cauchy_nudges(check_strength("beta", self.beta), self.points)

    def per_sample_gradient(self, system, x, y, cost):
        free = system.equilibrium(x)
        g0 = system.param_gradient(free)
        total = {k: np.zeros(v.shape) for k, v in g0.items()}
        for beta, weight in self.nudge_points():
            g = system.param_gradient(system.equilibrium(x, Nudge(cost, y, beta), start=free))
            for k in total:
                total[k] += weight * np.real((g[k] - g0[k]) / beta)
        return {k: v / self.points for k, v in total.items()}


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
