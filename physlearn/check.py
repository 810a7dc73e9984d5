"""Gradient checks: a rule against the exact reference, and its measured bias order in β."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .reference import exact_gradient


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


def gradient_check(system, rule, x, y, cost=None, reference=None):
    """Compare ``rule.gradient`` with the exact gradient, parameter by parameter.

    Parameters
    ----------
    reference : dict, optional
        A precomputed reference gradient; default :func:`physlearn.exact_gradient`.

    Returns
    -------
    GradientCheck
        ``print()`` it for a table; fields give the numbers.
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


def bias_order(system, rule, x, y, betas, cost=None, param="beta", reference=None):
    """Fit the slope of log(relative error) against log(β) over ``betas``.

    The rule is copied and its hyperparameter ``param`` (``"beta"`` for EP and holomorphic EP,
    ``"eta"`` for coupled learning) set to each value. A slope ``p`` means error ``O(β^p)``.
    ``reference`` is a precomputed exact gradient (default :func:`physlearn.exact_gradient`).
    At least two strengths are needed.
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
