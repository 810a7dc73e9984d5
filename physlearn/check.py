"""Gradient checks: a rule against the exact reference, and its measured bias order in β."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .reference import exact_gradient

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .costs import Cost
    from .rules.base import Rule
    from .system import System


def relative_error(estimate, reference):
    """‖ĝ − g‖ / ‖g‖ over all parameters together."""
    num = sum(np.sum((estimate[k] - reference[k]) ** 2) for k in reference)
    den = sum(np.sum(reference[k] ** 2) for k in reference)
    return float(np.sqrt(num / den)) if den > 0 else float(np.sqrt(num))


def cosine(a, b):
    """Cosine similarity between two flattened arrays, or two gradient dicts (all parameters
    together, over the keys of ``b``)."""
    if hasattr(b, "keys"):
        a = np.concatenate([np.ravel(a[k]) for k in b])
        b = np.concatenate([np.ravel(b[k]) for k in b])
    a, b = np.ravel(a), np.ravel(b)
    n = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / n) if n > 0 else float("nan")


@dataclass
class GradientCheck:
    """Per-parameter comparison of a rule's gradient with a reference (printable table)."""

    rule: str
    system: str
    rows: list  # (name, size, relative error, cosine)
    total_relative_error: float

    def __str__(self):
        head = f"gradient check: {self.rule} on {self.system}\n"
        lines = [f"{'parameter':<16}{'size':>8}{'rel. error':>14}{'cosine':>14}"]
        for name, size, err, cos in self.rows:
            lines.append(f"{name:<16}{size:>8}{err:>14.3e}{cos:>14.10f}")
        lines.append(f"{'all':<16}{'':>8}{self.total_relative_error:>14.3e}")
        return head + "\n".join(lines)


def gradient_check(system: System, rule: Rule, x: ArrayLike, y: ArrayLike,
                   cost: Cost | str | None = None,
                   reference: dict[str, np.ndarray] | None = None) -> GradientCheck:
    """Compare ``rule.gradient`` with the exact gradient, parameter by parameter.

    Parameters
    ----------
    system : System
        The physical system the rule runs on.
    rule : Rule
        The learning rule whose estimate is checked (e.g. ``physlearn.EP(beta=1e-3)``).
    x : array_like, shape (batch, n_features)
        Inputs, in the system's input units.
    y : array_like, shape (batch, n_outputs)
        Targets, in the units of the output observables.
    cost : Cost, str or None, default None
        The cost ``C(o, y)``: an instance, a registered name, or None for squared error.
    reference : dict of str to ndarray, optional
        A precomputed reference gradient (same keys and shapes as ``system.params``);
        default :func:`physlearn.exact_gradient`.

    Returns
    -------
    GradientCheck
        ``print()`` it for a table; its fields ``rows`` (name, size, relative error, cosine)
        and ``total_relative_error`` give the numbers (dimensionless).

    Raises
    ------
    ValueError
        If the rule refuses the system (a missing capability) or the inputs or targets are
        malformed.

    Notes
    -----
    For every parameter the relative error and the cosine similarity are

    .. math::

        \\frac{‖\\hat g − g‖}{‖g‖}, \\qquad \\frac{\\hat g · g}{‖\\hat g‖\\,‖g‖},

    with :math:`\\hat g` the rule's batch-mean estimate and :math:`g` the reference;
    ``total_relative_error`` takes the norms over all parameters together. For EP the
    finite-nudge bias is :math:`O(β)` one-sided and :math:`O(β^2)` centered, so the relative
    error should fall with β down to the solver's tolerance (see :func:`bias_order`).

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    .. [2] A. Laborieux, M. Ernoult, B. Scellier, Y. Bengio, J. Grollier, D. Querlioz,
       "Scaling equilibrium propagation to deep ConvNets by drastically reducing its gradient
       estimator bias", Front. Neurosci. 15:633674 (2021).
    """
    ref = exact_gradient(system, x, y, cost) if reference is None else reference
    return compare(rule.gradient(system, x, y, cost), ref, repr(rule), type(system).__name__)


def compare(estimate, reference, rule="", system=""):
    """A :class:`GradientCheck` of an already computed estimate against a reference."""
    rows = [(k, np.size(reference[k]), relative_error({k: estimate[k]}, {k: reference[k]}),
             cosine(estimate[k], reference[k])) for k in reference]
    return GradientCheck(rule, system, rows, relative_error(estimate, reference))


@dataclass
class BiasOrder:
    """Measured error of a rule against nudge strength, with its fitted log-log slope."""

    betas: np.ndarray
    errors: np.ndarray
    slope: float
    param: str = "beta"

    def __str__(self):
        rows = "\n".join(f"  {self.param}={b:.3e}  rel. error={e:.3e}" for b, e in
                         zip(self.betas, self.errors))
        return f"bias order (fitted slope) = {self.slope:.3f}\n{rows}"


def fit_slope(betas, errors):
    """Least-squares slope of log(error) against log(β) (errors at exact zero are floored at
    the smallest positive double, so a rule exact to round-off gives a meaningless slope
    rather than a crash)."""
    errors = np.maximum(np.asarray(errors, dtype=float), np.finfo(float).tiny)
    return float(np.polyfit(np.log(np.asarray(betas, dtype=float)), np.log(errors), 1)[0])


def bias_order(system: System, rule: Rule, x: ArrayLike, y: ArrayLike,
               betas: Sequence[float], cost: Cost | str | None = None, param: str = "beta",
               reference: dict[str, np.ndarray] | None = None) -> BiasOrder:
    """Fit the slope of log(relative error) against log(β) over ``betas``.

    Parameters
    ----------
    system : System
        The physical system the rule runs on.
    rule : Rule
        The learning rule; it is copied, and the copy's hyperparameter ``param`` is set to
        each strength in turn (``rule`` itself is not changed).
    x : array_like, shape (batch, n_features)
        Inputs, in the system's input units.
    y : array_like, shape (batch, n_outputs)
        Targets, in the units of the output observables.
    betas : sequence of float
        At least two nudge strengths, > 0 (dimensionless: β multiplies the cost in
        ``E + βC``).
    cost : Cost, str or None, default None
        The cost ``C(o, y)``: an instance, a registered name, or None for squared error.
    param : str, default "beta"
        The hyperparameter that sets the strength: ``"beta"`` for EP, holomorphic EP and
        their relatives, ``"eta"`` for coupled learning, ``"eps"`` for RHEL.
    reference : dict of str to ndarray, optional
        A precomputed exact gradient; default :func:`physlearn.exact_gradient`.

    Returns
    -------
    BiasOrder
        ``betas``, the relative ``errors`` at each and the fitted ``slope`` (dimensionless).

    Raises
    ------
    ValueError
        If fewer than two strengths are given, or the rule refuses a strength.

    Notes
    -----
    The slope :math:`p` is the least-squares fit of :math:`\\log e(β) = p \\log β + c`, with
    :math:`e` the relative error of the estimate (all parameters together): error
    :math:`O(β^p)`. A Taylor expansion of :math:`g(β) = ∂_θE(s^β) = \\sum_n a_n β^n`, with
    :math:`a_1 = dL/dθ`, gives :math:`p = 1` for one-sided EP, :math:`p = 2` for centered EP
    and :math:`p = N` for holomorphic EP with :math:`N` points on the circle. An error that
    stops falling marks the relaxation tolerance; errors of exactly zero are floored at the
    smallest positive double, so an estimator exact to round-off yields a meaningless slope
    rather than an error.

    References
    ----------
    .. [1] A. Laborieux, M. Ernoult, B. Scellier, Y. Bengio, J. Grollier, D. Querlioz,
       "Scaling equilibrium propagation to deep ConvNets by drastically reducing its gradient
       estimator bias", Front. Neurosci. 15:633674 (2021).
    .. [2] A. Laborieux, F. Zenke, "Holomorphic equilibrium propagation computes exact
       gradients through finite size oscillations", NeurIPS 2022, arXiv:2209.00530.
    """
    if len(betas) < 2:
        raise ValueError(f"betas={tuple(betas)!r}: a bias order needs at least two strengths")
    ref = exact_gradient(system, x, y, cost) if reference is None else reference
    betas = np.asarray(betas, dtype=float)
    errors = []
    for b in betas:
        trial = copy.copy(rule).set_params(**{param: float(b)})
        errors.append(relative_error(trial.gradient(system, x, y, cost), ref))
    errors = np.array(errors)
    return BiasOrder(betas, errors, fit_slope(betas, errors), param)
