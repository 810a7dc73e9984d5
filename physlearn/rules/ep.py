"""Equilibrium propagation with finite real nudges (positive, negative, centered)."""

from __future__ import annotations

from ..nudges import Nudge
from .base import Rule, check_choice, check_strength, contrast

_NUDGES = {"positive": (0, 1), "negative": (-1, 0), "centered": (-1, 1)}


class EP(Rule):
    """Equilibrium propagation: contrast two relaxations under nudges ``β₁ < β₂``.

    Parameters
    ----------
    beta : float, default 0.1
        Nudge strength β > 0 (dimensionless, in units of the energy per unit cost).
    variant : {"positive", "negative", "centered"}, default "centered"
        Nudge pair ``(0, β)``, ``(−β, 0)`` or ``(−β, β)``.

    Raises
    ------
    ValueError
        From :meth:`gradient`: ``beta`` not a finite positive real number, an unknown
        ``variant``, or a system without the ``"soft_nudge"`` capability.

    Notes
    -----
    With total energy :math:`F = E + βC` minimised at :math:`s^β`, the EP identity (Scellier &
    Bengio 2017) is

    .. math::

        \\frac{dL}{dθ} = \\frac{d}{dβ}\\Big|_{β=0} \\frac{∂E}{∂θ}(s^β).

    The estimate is the finite difference

    .. math::

        \\hat g = \\frac{∂_θE(s^{β_2}) − ∂_θE(s^{β_1})}{β_2 − β_1},

    whose error is ``O(β)`` for the one-sided variants and ``O(β²)`` for the centered one
    (Laborieux et al. 2021). The centered estimate is exactly the mean of the positive and
    negative ones. Only the free state and the nudged states are relaxed; the nudged runs are
    warm-started from the free state.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    .. [2] A. Laborieux et al., "Scaling equilibrium propagation to deep ConvNets by drastically
       reducing its gradient estimator bias", Front. Neurosci. 15:633674 (2021).
    """

    chains = True     # trains FFEBM chains (capability "chained_nudge") block by block

    def __init__(self, beta: float = 0.1, variant: str = "centered"):
        self.beta = beta
        self.variant = variant

    @property
    def bias_order(self):
        return 2 if self.variant == "centered" else 1

    def nudges(self):
        """The two nudge strengths ``(β₁, β₂)``."""
        beta = check_strength("beta", self.beta)
        lo, hi = _NUDGES[check_choice("variant", self.variant, _NUDGES)]
        return lo * beta, hi * beta

    def per_sample_gradient(self, system, x, y, cost):
        b1, b2 = self.nudges()
        if "chained_nudge" in system.capabilities:   # FFEBM: EP inside each energy block
            return system.chained_gradient((b1, b2), x, y, cost)
        free = self._relax(system, x)

        def measure(beta):
            state = free if beta == 0 else self._relax(system, x, Nudge(cost, y, beta), free)
            return self._measure(system, state)

        return contrast(measure(b2), measure(b1), b2 - b1)

    def _relax(self, system, x, nudge=None, start=None):
        """One run of the system (a subclass may ask it to record more)."""
        return system.equilibrium(x, nudge, start=start)

    def _measure(self, system, state):
        """The local measurement contrasted between the runs: ``∂E/∂θ`` at the state."""
        return system.param_gradient(state)

