"""The rule side of the seam: which nudges to run and how to contrast their measurements."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..abstract import not_implemented
from ..costs import make_cost
from ..params import HyperParams
from ..system import batch_mean

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..costs import Cost
    from ..system import System


class Rule(HyperParams):
    """Base class of learning rules.

    A rule estimates ``dL/dθ`` (batch mean over the rows of ``x``) from a few relaxations of the
    system. ``requires`` lists the system capabilities the rule needs; ``bias_order`` is the
    declared order ``p`` of the estimator's error ``O(β^p)`` (``None``: not a gradient
    estimator, e.g. contrastive learning). ``is_reference`` marks a rule that *is* the exact
    gradient (BPTT), checked against finite differences rather than against a reference.

    A subclass implements ``per_sample_gradient(system, x, y, cost)`` (checked inputs, a cost
    instance; dict name → array of shape ``(batch, *params[name].shape)``) and declares
    ``requires``; :meth:`gradient` checks the inputs and the capabilities and averages over the
    batch. Its constructor arguments are its hyperparameters (``get_params``/``set_params``).

    Raises
    ------
    ValueError
        From :meth:`gradient`, when the system lacks a capability in ``requires`` or the
        inputs or targets are malformed.

    Notes
    -----
    Most rules of the equilibrium-propagation family contrast a local measurement
    :math:`∂E/∂θ` at two states of the system relaxed under two nudges :math:`β_1, β_2`,

    .. math::

        \\hat g = \\frac{∂_θE(s^{β_2}) − ∂_θE(s^{β_1})}{β_2 − β_1},
        \\qquad s^β = \\arg\\min_s\\, E(θ, x, s) + β\\,C(o(s), y),

    which tends to :math:`dL/dθ` as the nudges shrink (the EP identity). The declared
    ``bias_order`` :math:`p` is the order of the error :math:`O(β^p)` that
    :func:`physlearn.bias_order` measures.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    .. [2] B. Scellier, M. Ernoult, J. Kendall, S. Kumar, "Energy-based learning algorithms
       for analog computing: a comparative study", NeurIPS 2023, arXiv:2312.15103.
    """

    requires = frozenset({"soft_nudge"})
    #: True for a rule that can train a chain of blocks nudged block by block (capability
    #: ``"chained_nudge"``, e.g. FFEBM) through the system's ``chained_gradient``
    chains = False
    bias_order = None
    is_reference = False

    def gradient(self, system: System, x: ArrayLike, y: ArrayLike,
                 cost: Cost | str | None = None) -> dict[str, np.ndarray]:
        """Gradient estimate (batch mean): dict with the keys and shapes of ``system.params``.

        Parameters
        ----------
        system : System
            The physical system; it must offer the capabilities in ``requires``.
        x : array_like, shape (batch, n_features)
            Inputs, in the system's input units.
        y : array_like, shape (batch, n_outputs)
            Targets, in the units of the output observables.
        cost : Cost, str or None, default None
            The cost ``C(o, y)``: an instance, a registered name, or None for squared error.

        Returns
        -------
        dict of str to ndarray
            The estimate of ``dL/dθ``, averaged over the batch.

        Raises
        ------
        ValueError
            If the system lacks a required capability, or ``x`` or ``y`` is malformed.
        """
        x = system.check_inputs(x)
        y = system.check_targets(y, x.shape[0])
        self.check_system(system)
        return batch_mean(self.per_sample_gradient(system, x, y, make_cost(cost)))

    def per_sample_gradient(self, system, x, y, cost):
        raise not_implemented(self, "per_sample_gradient",
                              "the per-sample gradient estimate: dict name → array of shape "
                              "(batch, *system.params[name].shape)")

    def check_system(self, system):
        if self.chains and "chained_nudge" in system.capabilities:
            return
        missing = self.requires - set(system.capabilities)
        if missing:
            raise ValueError(f"{type(self).__name__} needs {sorted(missing)}, which "
                             f"{type(system).__name__} does not offer")

    def applies_to(self, system):
        capabilities = set(system.capabilities)
        return (self.chains and "chained_nudge" in capabilities) or self.requires <= capabilities

    def exact_on(self, system, cost=None):
        """True where the estimate equals ``dL/dθ`` at every nudge strength (up to round-off),
        so there is no bias to measure; False by default."""
        return False


def contrast(g2, g1, denominator):
    """(∂E/∂θ(state 2) − ∂E/∂θ(state 1)) / denominator, per parameter, real part."""
    return {k: np.real(g2[k] - g1[k]) / denominator for k in g2}


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {list(choices)}")
    return value


def check_strength(name, value):
    """A nudge strength must be a finite non-zero real number."""
    if isinstance(value, complex) or np.iscomplexobj(value):
        raise ValueError(f"{name}={value!r} must be real")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a finite positive number")
    return value
