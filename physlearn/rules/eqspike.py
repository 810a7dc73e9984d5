"""EqSpike: equilibrium propagation whose synapses measure spike pairs instead of rates."""

from __future__ import annotations

from .ep import EP


class EqSpike(EP):
    """EqSpike: EP on a spiking network with a spike-timing-dependent local update.

    Parameters
    ----------
    beta : float, default 0.2
        Nudge strength β > 0 (dimensionless, energy per unit cost).
    variant : {"positive", "negative", "centered"}, default "centered"
        Nudge pair ``(0, β)``, ``(−β, 0)`` or ``(−β, β)``, as for :class:`physlearn.EP`.

    Raises
    ------
    ValueError
        From :meth:`gradient`: ``beta`` not a finite positive real number, an unknown
        ``variant``, or a system without the ``"spikes"`` capability.

    Notes
    -----
    EP's free and nudged runs (:class:`physlearn.EP`), with another measurement. Each synapse
    ``W_ij`` accumulates, over the counted window of a phase, every pair of a
    spike of one neuron with the trace of the other just before it,
    ``P_ij = (1/T) Σ_t ½ (z_i(t) x_j(t−1) + x_i(t−1) z_j(t))``: a symmetric spike-timing
    window ``e^{−|Δt|/τ_x}`` (:func:`physlearn.systems.spiking.stdp_window`), local in space and
    in time (the synapse updates at each of its spikes). The update contrasts the nudged and
    the free phase (θ the firing threshold),

    .. math::

        \\hat g = −\\frac{P(β_2) − P(β_1)}{θ\\,(β_2 − β_1)},

    so nearby spike pairs potentiate in the nudged phase and depress in the free one. Its mean
    is EP's ``(∂E/∂W(r_β₂) − ∂E/∂W(r_β₁))/(β₂ − β₁)`` on the firing rates, ``∂E/∂W = −r_i r_j/θ``,
    up to the spike-train covariances within ``τ_x`` (``O(1/τ_x)``) and the counting error
    ``O(1/T)``: EqSpike tends to EP on the rate network as ``T ≫ τ_x → ∞``, and that, as
    β → 0, to the rate network's exact gradient. Biases contrast spike counts. Needs the
    capability ``"spikes"`` (:class:`~physlearn.systems.SpikingNetwork`).

    This is a reconstruction from the paper's abstract and the discrete-time EP it builds on
    (no public code, full text not read): the paper's own window may differ.

    References
    ----------
    .. [1] E. Martin, M. Ernoult, J. Laydevant, S. Li, D. Querlioz, T. Petrisor, J. Grollier,
       "EqSpike: spike-driven equilibrium propagation for neuromorphic implementations",
       iScience 24:102222 (2021), arXiv:2010.07859.
    """

    requires = frozenset({"soft_nudge", "spikes"})
    chains = False    # spike pairs need spikes: no FFEBM chain
    bias_order = None            # the spike pairs' covariance does not vanish with beta

    def __init__(self, beta: float = 0.2, variant: str = "centered"):
        super().__init__(beta=beta, variant=variant)

    def _relax(self, system, x, nudge=None, start=None):
        return system.equilibrium(x, nudge, start=start, record="pairs")

    def _measure(self, system, state):
        return state.info["pairs"]
