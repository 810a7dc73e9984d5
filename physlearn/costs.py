"""Costs C(o, y) of the output observables o, with their gradient and Hessian in o.

A cost enters the physics as the nudge term β·C of the total energy F = E + β C, so it is also
what generates the nudging force −β ∂C/∂o on the output degrees of freedom. All functions are
holomorphic in o (no conjugation, no absolute values), so that holomorphic EP can evaluate them
at complex states.
"""

from __future__ import annotations

import numpy as np

from .abstract import not_implemented
from .params import HyperParams, check_finite


class Cost(HyperParams):
    """Base class: a per-sample cost of outputs ``o`` of shape (batch, n_out)."""

    def value(self, outputs, y):
        """Per-sample cost, shape (batch,)."""
        raise not_implemented(self, "value", "the per-sample cost C(o, y), shape (batch,)")

    def gradient(self, outputs, y):
        """∂C/∂o, shape (batch, n_out)."""
        raise not_implemented(self, "gradient", "∂C/∂o, shape (batch, n_out)")

    def hessian(self, outputs, y):
        """∂²C/∂o², shape (batch, n_out, n_out)."""
        raise not_implemented(self, "hessian", "∂²C/∂o², shape (batch, n_out, n_out)")

    def mean(self, outputs, y):
        """Batch mean of :meth:`value` (the loss)."""
        return float(np.mean(np.real(self.value(outputs, y))))


class SquaredError(Cost):
    """Squared error ``C = ½ Σ_k (o_k − t_k)²`` to the targets ``t = low + (high − low) y``.

    Parameters
    ----------
    low, high : float, default 0.0 and 1.0
        Where the target values 0 and 1 land (``y`` itself by default). Bounded outputs (firing
        fractions in ``[0, 1]``, hard sigmoids) want targets inside their range, e.g. 0.1 and
        0.9: an output pushed to the edge 0 by one-hot zeros rests where its unit no longer
        responds, and neither a nudge nor a gradient reaches it again.

    Raises
    ------
    ValueError
        If ``low`` or ``high`` is not a finite number, or ``high <= low``.

    Notes
    -----
    With targets :math:`t = \\mathrm{low} + (\\mathrm{high} − \\mathrm{low})\\,y`,

    .. math::

        C(o, y) = \\tfrac12 \\sum_k (o_k − t_k)^2, \\qquad
        \\frac{∂C}{∂o} = o − t, \\qquad \\frac{∂^2C}{∂o^2} = I.

    The nudging force :math:`−β(o − t)` pulls each output toward its target; in a resistor
    network it is a current :math:`β(t − V)` injected at the output node (Kendall et al.
    2020), and the Hessian term :math:`βI` is a conductance β from the output node to a
    source at the target voltage. The cost is a polynomial in :math:`o`, hence holomorphic,
    as holomorphic EP requires.

    References
    ----------
    .. [1] J. Kendall, R. Pantone, K. Manickavasagam, Y. Bengio, B. Scellier, "Training
       end-to-end analog neural networks with equilibrium propagation", arXiv:2006.01981
       (2020).
    .. [2] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    """

    def __init__(self, low: float = 0.0, high: float = 1.0):
        self.low = low
        self.high = high
        check_finite("low", low)
        check_finite("high", high)
        if not high > low:
            raise ValueError(f"high={high!r} must be above low={low!r} (the targets of y = 1 "
                             "and y = 0)")

    def _targets(self, y):
        return self.low + (self.high - self.low) * y

    def value(self, outputs, y):
        d = outputs - self._targets(y)
        return 0.5 * np.sum(d * d, axis=-1)

    def gradient(self, outputs, y):
        return outputs - self._targets(y)

    def hessian(self, outputs, y):
        n = outputs.shape[-1]
        return np.broadcast_to(np.eye(n), outputs.shape[:-1] + (n, n))


class CrossEntropy(Cost):
    """Cross-entropy of a softmax over the output observables.

    ``C = −Σ_k y_k log p_k`` with ``p = softmax(o / temperature)``; ``y`` is one-hot (or a
    probability vector).

    Parameters
    ----------
    temperature : float, default 1.0
        Scale of the output observables in the softmax (dimensionless). Physical outputs such as
        node voltages are bounded; a temperature below one sharpens the class probabilities.

    Raises
    ------
    ValueError
        If ``temperature`` is not a finite number > 0 (or is a bool).

    Notes
    -----
    With :math:`p = \\mathrm{softmax}(o/T)` and :math:`Σ_k y_k = w` (1 for a one-hot label),

    .. math::

        C = −\\sum_k y_k \\log p_k, \\qquad
        \\frac{∂C}{∂o} = \\frac{w\\,p − y}{T}, \\qquad
        \\frac{∂^2C}{∂o^2} = w\\,\\frac{\\mathrm{diag}\\,p − p\\,p^{\\mathsf T}}{T^2}.

    Putting the cost inside the total energy :math:`E + βC` (Laborieux et al. 2021) makes the
    nudge a softmax-shaped force on the outputs. The log-sum-exp is shifted by the largest
    real part, exact also at complex outputs, so the cost stays holomorphic for holomorphic EP.

    References
    ----------
    .. [1] A. Laborieux, M. Ernoult, B. Scellier, Y. Bengio, J. Grollier, D. Querlioz,
       "Scaling equilibrium propagation to deep ConvNets by drastically reducing its gradient
       estimator bias", Front. Neurosci. 15:633674 (2021).
    """

    def __init__(self, temperature: float = 1.0):
        if isinstance(temperature, bool) or not isinstance(
                temperature, (int, float, np.integer, np.floating)) \
                or not (np.isfinite(temperature) and temperature > 0):
            raise ValueError(f"CrossEntropy temperature={temperature!r} must be a finite "
                             "number > 0 (it divides the outputs in the softmax)")
        self.temperature = temperature

    def _probs(self, outputs):
        z = outputs / self.temperature
        z = z - np.max(np.real(z), axis=-1, keepdims=True)  # shift is exact for complex too
        e = np.exp(z)
        return e / np.sum(e, axis=-1, keepdims=True)

    def value(self, outputs, y):
        z = outputs / self.temperature
        shift = np.max(np.real(z), axis=-1, keepdims=True)
        log_norm = np.log(np.sum(np.exp(z - shift), axis=-1, keepdims=True)) + shift
        return -np.sum(y * (z - log_norm), axis=-1)

    def gradient(self, outputs, y):
        p = self._probs(outputs)
        return (p * np.sum(y, axis=-1, keepdims=True) - y) / self.temperature

    def hessian(self, outputs, y):
        p = self._probs(outputs)
        w = np.sum(y, axis=-1)[..., None, None]
        h = np.einsum("bi,ij->bij", p, np.eye(p.shape[-1])) - np.einsum("bi,bj->bij", p, p)
        return w * h / self.temperature**2


def make_cost(cost):
    """Return a cost instance from ``None`` (squared error), a registered name
    (:data:`physlearn.registry.COSTS`), or an instance."""
    if cost is None:
        return SquaredError()
    if isinstance(cost, Cost):
        return cost
    from .registry import COSTS

    if isinstance(cost, str) and cost in COSTS:
        return COSTS[cost].build()
    raise ValueError(f"cost={cost!r} is not a Cost instance or one of {sorted(COSTS)}")
