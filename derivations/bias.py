"""Bias of the EP estimators in the nudge strength β, from the Taylor series of g(β).

Write ``g(β) = ∂E/∂θ(s_β) = Σ_n a_n βⁿ`` so that ``a_1 = dL/dθ`` (the EP identity). Every EP
estimator is a linear combination of samples of ``g``; its error is read off the series:

* one-sided (positive / negative) EP: ``± a_2 β + O(β²)``;
* centered EP: ``a_3 β² + a_5 β⁴ + …`` (even in β), and exactly the mean of the one-sided two;
* N-point Cauchy (holomorphic EP): ``a_{1+N} r^N + a_{1+2N} r^{2N} + …`` (aliasing).

The series is truncated at a finite order, which is exact for these statements: each
coefficient of the estimator involves finitely many ``a_n``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._derivation import Derivation, Step, content, notes_of

__all__ = ["one_sided", "centered", "cauchy", "conjugate_folding", "negative_controls",
           "CAUCHY_POINTS"]

CAUCHY_POINTS = (2, 3, 4, 6)


def _series(order, real=False):
    """``(β, [a_0 … a_order], g)`` with ``g(β) = Σ a_n βⁿ``."""
    beta = sp.Symbol("beta")
    a = sp.symbols(f"a_0:{order + 1}", real=real)
    return beta, a, sum(a_n * beta**n for n, a_n in enumerate(a))


def _estimators(g, beta):
    """One-sided and centered EP estimates of g'(0) from samples of g."""
    g_at = lambda b: g.subs(beta, b)  # noqa: E731
    positive = (g_at(beta) - g_at(0)) / beta
    negative = (g_at(0) - g_at(-beta)) / beta
    centered = (g_at(beta) - g_at(-beta)) / (2 * beta)
    return positive, negative, centered


def one_sided(order=6):
    """One-sided EP estimators are first order: error ``± a_2 β + O(β²)``.

    Parameters
    ----------
    order : int, default 6
        Truncation order of the Taylor series of g.

    Returns
    -------
    dict of str → Step
        ``positive_consistent``: the error is ``O(β)``; ``positive_leading``:
        ``error − a_2 β = O(β²)``; ``negative_leading``: ``error + a_2 β = O(β²)`` for the
        negative variant (series claims, :class:`~physlearn.derivations.Step`).

    Notes
    -----
    ``(g(β) − g(0))/β = a_1 + a_2 β + a_3 β² + …``; the negative variant
    ``(g(0) − g(−β))/β = a_1 − a_2 β + a_3 β² − …`` has the opposite first-order error.

    References
    ----------
    .. [1] A. Laborieux et al., Front. Neurosci. 15:633674 (2021), arXiv:2006.03824.
    """
    beta, a, g = _series(order)
    positive, negative, _ = _estimators(g, beta)
    err_p, err_n = positive - a[1], negative - a[1]
    return {
        "positive_consistent": Step("positive EP is consistent: its error is O(β)", err_p,
                                    series=(beta, 1)),
        "positive_leading": Step("positive EP: error = a₂β + O(β²)", err_p - a[2] * beta,
                                 series=(beta, 2)),
        "negative_leading": Step("negative EP: error = −a₂β + O(β²)", err_n + a[2] * beta,
                                 series=(beta, 2)),
    }


def centered(order=7):
    """Centered EP is second order, even in β, and the mean of the one-sided estimators.

    Returns
    -------
    dict of str → sympy expression or Step
        ``leading``: ``error − a_3 β² = O(β⁴)``; ``even``: ``error(β) − error(−β)``;
        ``next_order``: ``error − a_3 β² − a_5 β⁴ = O(β⁶)``; ``mean_of_one_sided``:
        ``ĝ_C − (ĝ_P + ĝ_N)/2``. The expressions vanish, the Steps are series claims.

    Notes
    -----
    ``(g(β) − g(−β))/(2β)`` keeps only the odd powers of g: ``a_1 + a_3 β² + a_5 β⁴ + …``.
    Hence the error is ``O(β²)`` with no ``β³`` term. The identity
    ``ĝ_C = (ĝ_P + ĝ_N)/2`` holds exactly, for any β.

    References
    ----------
    .. [1] A. Laborieux et al., Front. Neurosci. 15:633674 (2021), arXiv:2006.03824.
    """
    beta, a, g = _series(order)
    positive, negative, centre = _estimators(g, beta)
    err = centre - a[1]
    return {
        "leading": Step("centered EP: error = a₃β² + O(β⁴) (no β³ term)",
                        err - a[3] * beta**2, series=(beta, 4)),
        "even": err - err.subs(beta, -beta),
        "next_order": Step("centered EP: error = a₃β² + a₅β⁴ + O(β⁶)",
                           err - a[3] * beta**2 - a[5] * beta**4, series=(beta, 6)),
        "mean_of_one_sided": centre - (positive + negative) / 2,
    }


def _roots(points):
    """The N-th roots of unity in radicals (exact for N = 1, 2, 3, 4, 6, 8, 12)."""
    return [sp.expand_complex(sp.exp(2 * sp.pi * sp.I * k / points)) for k in range(points)]


def _cauchy_estimate(g, beta, r, points):
    """(1/N) Σ_k (g(β_k) − g(0))/β_k on the circle β_k = r e^{2πik/N}."""
    terms = [sp.expand((g.subs(beta, r * w) - g.subs(beta, 0)) / (r * w)) for w in _roots(points)]
    return sp.expand(sum(terms) / points)


def cauchy(points=CAUCHY_POINTS):
    """The N-point Cauchy estimator aliases a_{1+N}, a_{1+2N}, … onto the gradient a_1.

    Parameters
    ----------
    points : iterable of int, default (2, 3, 4, 6)
        Numbers N of nudges on the circle.

    Returns
    -------
    dict of str → sympy expression
        ``aliasing_N``: estimate minus ``a_1 + a_{1+N} r^N + a_{1+2N} r^{2N}`` for a series
        truncated at order ``2N + 1``; ``N1_is_positive_ep``; ``N2_is_centered_ep``;
        ``g0_drops_out_N``: ``Σ_k 1/β_k`` (these vanish); ``error_order_N``: a Step, the
        error ``estimate − a_1`` is ``O(r^N)``.

    Notes
    -----
    With ``β_k = r ωᵏ``, ``ω = e^{2πi/N}``,

    .. math::

        \\frac1N\\sum_k \\frac{g(β_k) − g(0)}{β_k}
        = \\sum_{n≥1} a_n r^{n−1} \\frac1N \\sum_k ω^{k(n−1)}
        = \\sum_{m≥0} a_{1+mN} r^{mN},

    because ``(1/N) Σ_k ω^{kj}`` is 1 when N divides j and 0 otherwise. The error is
    ``a_{1+N} r^N + … = O(r^N)`` while the series converges on the circle, i.e. while r is
    below the radius of convergence of g. Subtracting g(0) changes nothing since
    ``Σ_k 1/β_k = 0`` for N ≥ 2 (it only removes round-off). The roots of unity are handled in
    radicals, so the statements are exact.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    """
    r = sp.Symbol("r", positive=True)
    out = {}
    for n in points:
        beta, a, g = _series(2 * n + 1)
        aliased = a[1] + a[1 + n] * r**n + a[1 + 2 * n] * r ** (2 * n)
        out[f"aliasing_{n}"] = _cauchy_estimate(g, beta, r, n) - aliased
        out[f"g0_drops_out_{n}"] = sp.expand(sum(1 / (r * w) for w in _roots(n)))
        out[f"error_order_{n}"] = Step(f"the {n}-point Cauchy error is O(r^{n})",
                                       out[f"aliasing_{n}"] + aliased - a[1], series=(r, n))
    beta, a, g = _series(7)
    positive, _, centre = _estimators(g, beta)
    out["N1_is_positive_ep"] = _cauchy_estimate(g, beta, r, 1) - positive.subs(beta, r)
    out["N2_is_centered_ep"] = _cauchy_estimate(g, beta, r, 2) - centre.subs(beta, r)
    return out


def conjugate_folding(points=CAUCHY_POINTS):
    """Relaxing only the nudges with Im β ≥ 0 gives the full Cauchy sum (real systems).

    Returns
    -------
    dict of str → sympy expression
        ``folding_N``: the half-circle sum, with weight 2 on each conjugate pair and the real
        part taken (as :meth:`physlearn.HolomorphicEP.nudge_points` does), minus the full sum.
        All vanish.

    Notes
    -----
    A real system has real Taylor coefficients, so ``g(β̄) = conj g(β)``: the terms at
    ``β_k`` and ``β_{N−k}`` are complex conjugates and sum to twice the real part. The nudges
    ``k = 0`` and ``k = N/2`` (N even) are real. About N/2 + 1 relaxations suffice.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    """
    r = sp.Symbol("r", positive=True)
    out = {}
    for n in points:
        beta, a, g = _series(2 * n + 1, real=True)
        roots = _roots(n)
        folded = 0
        for k in range(n // 2 + 1):
            term = sp.expand((g.subs(beta, r * roots[k]) - a[0]) / (r * roots[k]))
            paired = 0 < k and 2 * k != n
            folded += (2 if paired else 1) * sp.re(term)
        out[f"folding_{n}"] = sp.expand(folded / n - _cauchy_estimate(g, beta, r, n))
    return out


def negative_controls():
    """Deliberately wrong statements that must NOT vanish.

    Returns
    -------
    dict of str → sympy expression
        ``positive_is_second_order``: ``lim (ĝ_P − a_1)/β`` (equals a_2, not 0);
        ``cauchy_without_aliasing``: the 4-point estimate minus ``a_1`` alone.
    """
    beta, a, g = _series(9)
    positive, _, _ = _estimators(g, beta)
    r = sp.Symbol("r", positive=True)
    return {
        "positive_is_second_order": sp.limit((positive - a[1]) / beta, beta, 0),
        "cauchy_without_aliasing": _cauchy_estimate(g, beta, r, 4) - a[1],
    }


# -- derivation objects: the estimators of physlearn.rules against these series ------------------
_ASSUME_SERIES = ("g(β) = ∂E/∂θ(s_β) = Σ aₙ βⁿ is analytic at 0, with a₁ = dL/dθ (EP identity)",
                  None)


def _coefficients(rng, order, params=3):
    """Random Taylor coefficients ``a_n`` of ``params`` measurements, shape (order + 1, p)."""
    return rng.normal(size=(order + 1, params))


def _rule_on_series(rule, a):
    """What ``rule.gradient`` returns on a system whose measurement is ``g(β) = Σ a_n βⁿ``."""
    from ._numeric import PolynomialSystem

    return rule.gradient(PolynomialSystem(a), [[0.0]], [[0.0]])["theta"]


def _lambdified(expr, beta, a):
    """``expr(β, a_0, a_1, …)`` as a numpy function."""
    return sp.lambdify((beta, *a), expr, "numpy")


def _numeric_one_sided(rng, order=6):
    """Positive and negative EP on a known series g(β) against ``EP.gradient``."""
    from physlearn.rules.ep import EP

    beta_value, a_value = 0.3, _coefficients(rng, order)
    beta, a, g = _series(order)
    positive, negative, _ = _estimators(g, beta)
    return ({"positive": _lambdified(positive, beta, a)(beta_value, *a_value),
             "negative": _lambdified(negative, beta, a)(beta_value, *a_value)},
            {v: _rule_on_series(EP(beta_value, v), a_value) for v in ("positive", "negative")})


def _numeric_centered(rng, order=7):
    """Centered EP on a known series g(β) against ``EP.gradient(variant='centered')``."""
    from physlearn.rules.ep import EP

    beta_value, a_value = 0.3, _coefficients(rng, order)
    beta, a, g = _series(order)
    centre = _estimators(g, beta)[2]
    return (_lambdified(centre, beta, a)(beta_value, *a_value),
            _rule_on_series(EP(beta_value, "centered"), a_value))


def _numeric_cauchy(rng, points=CAUCHY_POINTS, radius=0.4):
    """The aliasing formula of :func:`cauchy` against HolomorphicEP on a truncated series."""
    from physlearn.rules.holomorphic import HolomorphicEP

    derived, implemented = {}, {}
    for n in points:
        a_value = _coefficients(rng, 2 * n + 1)
        derived[n] = a_value[1] + a_value[1 + n] * radius**n + a_value[1 + 2 * n] * radius**(2 * n)
        implemented[n] = _rule_on_series(HolomorphicEP(radius, n), a_value)
    return derived, implemented


def _numeric_folding(rng, points=CAUCHY_POINTS, radius=0.4):
    """The full-circle Cauchy sum against HolomorphicEP, which relaxes the half circle."""
    from physlearn.rules.holomorphic import HolomorphicEP

    r = sp.Symbol("r", positive=True)
    derived, implemented = {}, {}
    for n in points:
        beta, a, g = _series(2 * n + 1)
        full = sp.lambdify((r, *a), _cauchy_estimate(g, beta, r, n), "numpy")
        a_value = _coefficients(rng, 2 * n + 1)
        derived[n] = np.real(full(radius, *a_value))
        implemented[n] = _rule_on_series(HolomorphicEP(radius, n), a_value)
    return derived, implemented


def _build_one_sided():
    return content(one_sided(), "positive_leading", {}, [_ASSUME_SERIES])


def _build_centered():
    claims = {"even": "the centered error is even in β",
              "mean_of_one_sided": "centered EP is the mean of positive and negative EP"}
    return content(centered(), "leading", claims, [_ASSUME_SERIES])


def _build_cauchy():
    claims = {"aliasing": "the N-point Cauchy sum is a₁ + a_{1+N} rᴺ + a_{1+2N} r²ᴺ",
              "g0_drops_out": "Σ_k 1/β_k = 0: subtracting g(0) changes nothing",
              "N1_is_positive_ep": "N = 1 is positive EP",
              "N2_is_centered_ep": "N = 2 is centered EP"}
    return content(cauchy(), "aliasing", claims,
                   [_ASSUME_SERIES, ("the circle |β| = r lies inside the radius of convergence",
                                     None)])


def _build_folding():
    claims = {"folding": "the half-circle sum with conjugate pairs folded equals the full sum"}
    return content(conjugate_folding(), "folding", claims,
                   [("a real system: real Taylor coefficients, g(β̄) = conj g(β)", None)])


DERIVATIONS = [
    Derivation("bias.one_sided", "One-sided EP has a first-order bias ±a₂β.",
               _build_one_sided, implements="physlearn.rules.ep:EP.gradient",
               numeric=_numeric_one_sided, tolerance=1e-12, notes=notes_of(one_sided),
               references=("Laborieux et al., Front. Neurosci. 15:633674 (2021)",)),
    Derivation("bias.centered", "Centered EP has a second-order bias a₃β², even in β.",
               _build_centered, implements="physlearn.rules.ep:EP.gradient",
               numeric=_numeric_centered, tolerance=1e-12, notes=notes_of(centered),
               references=("Laborieux et al., Front. Neurosci. 15:633674 (2021)",)),
    Derivation("bias.cauchy", "The N-point Cauchy estimator aliases a_{1+N}rᴺ onto a₁.",
               _build_cauchy, implements="physlearn.rules.holomorphic:HolomorphicEP.gradient",
               numeric=_numeric_cauchy, tolerance=1e-12, notes=notes_of(cauchy),
               references=("Laborieux & Zenke, NeurIPS 2022, arXiv:2209.00530",)),
    Derivation("bias.conjugate_folding",
               "Relaxing the nudges with Im β ≥ 0 gives the full Cauchy sum (real systems).",
               _build_folding, implements="physlearn.rules.holomorphic:cauchy_nudges",
               numeric=_numeric_folding, tolerance=1e-12,
               notes=notes_of(conjugate_folding),
               references=("Laborieux & Zenke, NeurIPS 2022, arXiv:2209.00530",)),
]
"""The bias derivations, each tied to the estimator of :mod:`physlearn.rules` it describes."""
