"""Contrastive learning and coupled learning: hard clamps of the outputs."""

from __future__ import annotations

from ..nudges import Clamp
from .base import Rule, check_choice, check_strength, contrast


class ContrastiveLearning(Rule):
    """Contrastive learning: outputs clamped at the target against the free state.

    Notes
    -----
    ``Δθ ∝ −(∂E/∂θ(clamped at y) − ∂E/∂θ(free))``: the Boltzmann-machine / contrastive Hebbian
    rule (Movellan 1991). It is not an estimate of ``dL/dθ`` (``bias_order`` is None) but
    lowers the cost for small steps in linear networks. Coupled learning with ``η = 1`` and the
    squared error is the same rule.

    References
    ----------
    .. [1] J. R. Movellan, "Contrastive Hebbian learning in the continuous Hopfield model",
       Connectionist Models (1991).
    .. [2] B. Scellier et al., "Energy-based learning algorithms for analog computing: a
       comparative study", NeurIPS 2023, arXiv:2312.15103.
    """

    requires = frozenset({"clamp"})

    def __init__(self):
        pass

    def per_sample_gradient(self, system, x, y, cost):
        free = system.equilibrium(x)
        clamped = system.equilibrium(x, Clamp(y), start=free)
        return contrast(system.param_gradient(clamped), system.param_gradient(free), 1.0)


_CLAMPS = {"positive": (0, 1), "negative": (-1, 0), "centered": (-1, 1)}


class CoupledLearning(Rule):
    """Coupled learning: outputs clamped a step ``η`` down (or up) the cost gradient.

    Parameters
    ----------
    eta : float, default 0.1
        Clamping strength η > 0: the clamped outputs are ``o_free ∓ η ∂C/∂o``; for the squared
        error ``o_free + η (y − o_free)`` (Stern et al. 2021).
    variant : {"positive", "negative", "centered"}, default "positive"
        Clamp pair ``(free, +η)``, ``(−η, free)`` or ``(−η, +η)``.

    Notes
    -----
    The estimate is ``(∂E/∂θ(clamp₂) − ∂E/∂θ(clamp₁)) / (η₂ − η₁)``. Only the hidden nodes relax
    under the clamp, so each run is local to the outputs. Coupled learning is not an estimator
    of ``dL/dθ`` (``bias_order`` is None), so tests check that a small step lowers the cost. On
    a linear network with the squared error (``physlearn.derivations.coupled``): as η → 0 it
    tends to ``R⁻¹``-weighted output errors, i.e. the gradient of ``½(o − y)ᵀR⁻¹(o − y)`` with
    the output response matrix ``R`` frozen — exactly ``dL/dθ / R`` for one output, a different
    direction for several; the centered variant does not depend on η at all.

    References
    ----------
    .. [1] M. Stern, D. Hexner, J. Rocks, A. Liu, Phys. Rev. X 11, 021045 (2021),
       arXiv:2011.03861.
    """

    requires = frozenset({"clamp"})

    def __init__(self, eta=0.1, variant="positive"):
        self.eta = eta
        self.variant = variant

    def per_sample_gradient(self, system, x, y, cost):
        eta = check_strength("eta", self.eta)
        lo, hi = _CLAMPS[check_choice("variant", self.variant, _CLAMPS)]
        free = system.equilibrium(x)
        o = system.outputs(free)
        step = cost.gradient(o, y)

        def measure(sign):
            if sign == 0:
                return system.param_gradient(free)
            state = system.equilibrium(x, Clamp(o - sign * eta * step), start=free)
            return system.param_gradient(state)

        return contrast(measure(hi), measure(lo), (hi - lo) * eta)
