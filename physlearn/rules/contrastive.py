"""Contrastive learning and coupled learning: hard clamps of the outputs."""

from __future__ import annotations

from ..nudges import Clamp
from .base import Rule, check_choice, check_strength, contrast


class ContrastiveLearning(Rule):
    """Contrastive learning: outputs clamped at the target against the free state.

    The rule has no hyperparameters.

    Raises
    ------
    ValueError
        From :meth:`gradient`, on a system without the ``"clamp"`` capability.

    Notes
    -----
    With :math:`s^0` the free state and :math:`s^{\\text{cl}}` the state relaxed with the
    outputs clamped at the target :math:`y`, the returned "gradient" is

    .. math::

        \\hat g = \\frac{∂E}{∂θ}(s^{\\text{cl}}) − \\frac{∂E}{∂θ}(s^0),

    so a descent step :math:`Δθ = −η\\,\\hat g` is the Boltzmann-machine / contrastive Hebbian
    rule (Movellan 1991); for an Ising model, :math:`Δ J_{ij} ∝ ⟨σ_iσ_j⟩_{\\text{clamped}} −
    ⟨σ_iσ_j⟩_{\\text{free}}`. It is not an estimate of ``dL/dθ`` (``bias_order`` is None) but
    lowers the cost for small steps in linear networks. Coupled learning with ``η = 1`` and the
    squared error is the same rule.

    References
    ----------
    .. [1] J. R. Movellan, "Contrastive Hebbian learning in the continuous Hopfield model",
       Connectionist Models (1991).
    .. [2] D. H. Ackley, G. E. Hinton, T. J. Sejnowski, "A learning algorithm for Boltzmann
       machines", Cognitive Science 9, 147–169 (1985).
    .. [3] B. Scellier et al., "Energy-based learning algorithms for analog computing: a
       comparative study", NeurIPS 2023, arXiv:2312.15103.
    """

    requires = frozenset({"clamp"})

    def __init__(self) -> None:
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

    Raises
    ------
    ValueError
        From :meth:`gradient`: ``eta`` not a finite positive real number, an unknown
        ``variant``, or a system without the ``"clamp"`` capability.

    Notes
    -----
    With the outputs clamped at :math:`o^{η} = o^0 − η\\,∂C/∂o` (the free outputs
    :math:`o^0`, the cost gradient there), the estimate is

    .. math::

        \\hat g = \\frac{∂_θE(s^{η_2}) − ∂_θE(s^{η_1})}{η_2 − η_1},

    with :math:`(η_1, η_2)` the variant's pair (0 is the free state). For a flow or resistor
    network and the squared error this is Stern et al.'s rule
    :math:`\\dot k_j ∝ \\frac{1}{η}\\big[(Δp_j^F)^2 − (Δp_j^C)^2\\big]`. Only the hidden nodes relax
    under the clamp, so each run is local to the outputs. Coupled learning is not an estimator
    of ``dL/dθ`` (``bias_order`` is None), so tests check that a small step lowers the cost. On
    a linear network with the squared error (``physlearn.derivations.coupled``): as η → 0 it
    tends to ``R⁻¹``-weighted output errors, i.e. the gradient of ``½(o − y)ᵀR⁻¹(o − y)`` with
    the output response matrix ``R`` frozen — exactly ``dL/dθ / R`` for one output, a different
    direction for several; the centered variant does not depend on η at all.

    References
    ----------
    .. [1] M. Stern, D. Hexner, J. W. Rocks, A. J. Liu, "Supervised learning in physical
       networks: from machine learning to learning machines", Phys. Rev. X 11, 021045
       (2021), arXiv:2011.03861.
    .. [2] B. Scellier et al., "Energy-based learning algorithms for analog computing: a
       comparative study", NeurIPS 2023, arXiv:2312.15103.
    """

    requires = frozenset({"clamp"})

    def __init__(self, eta: float = 0.1, variant: str = "positive"):
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
