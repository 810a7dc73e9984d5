"""Surrogate-gradient backpropagation through time for spiking networks (the EP baseline)."""

from __future__ import annotations

from ..system import check_positive
from .base import Rule


class SurrogateBPTT(Rule):
    """BPTT through the spikes of a network's free phase, with a surrogate spike derivative.

    Parameters
    ----------
    width : float, default 1.0
        Half-width of the triangular surrogate ``H′(v − 1) ≈ max(0, 1 − |v − 1|/width)/width``
        (membranes in units of the threshold).

    Raises
    ------
    ValueError
        From :meth:`gradient`: ``width`` not a finite positive number, or a system without
        the ``"spikes"`` capability.

    Notes
    -----
    The spike :math:`z = H(v − 1)` (membrane :math:`v` in threshold units) has derivative
    zero almost everywhere; backpropagation through time replaces it by the triangle

    .. math::

        \\frac{∂z}{∂v} ≈ \\frac{1}{w}\\max\\Big(0,\\; 1 − \\frac{|v − 1|}{w}\\Big),

    with :math:`w` the ``width``. The loss is the cost of the output firing fractions counted in the
    free phase; the gradient flows back through every step's membranes, resets and recurrent
    couplings (:meth:`~physlearn.systems.SpikingNetwork.surrogate_bptt`). Memory grows with the
    number of steps, ``O(N T)``, where EP keeps one step, ``O(N)``. The surrogate makes it a biased
    gradient of the spiking loss (whose true gradient is zero almost everywhere); for IF neurons it
    tends to the rate network's exact gradient as the window grows (tested), but no bias order in a
    strength is claimed.

    References
    ----------
    .. [1] E. O. Neftci, H. Mostafa, F. Zenke, "Surrogate gradient learning in spiking neural
       networks", IEEE Signal Process. Mag. 36:51 (2019).
    """

    requires = frozenset({"spikes"})
    bias_order = None

    def __init__(self, width: float = 1.0):
        self.width = width

    def per_sample_gradient(self, system, x, y, cost):
        check_positive("width", self.width)
        return system.surrogate_bptt(x, y, cost, width=self.width)
