"""Nudges: how the outputs of a system are pushed during a learning run.

Two kinds exist in the EP family:

* :class:`Nudge` — a soft nudge of strength β (real or complex): the system relaxes to a minimum
  of ``E + β C(o, y)``. Used by EP (positive / negative / centered) and holomorphic EP.
* :class:`Clamp` — a hard clamp: the outputs are held at given values and the rest of the system
  relaxes. Used by contrastive learning (clamp at the target) and coupled learning (clamp at
  ``o_free − η ∂C/∂o``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .costs import Cost


@dataclass(frozen=True)
class Nudge:
    """Soft nudge: add ``beta * cost(outputs, target)`` to the energy.

    Parameters
    ----------
    cost : Cost
        The cost whose gradient is the nudging force.
    target : ndarray, shape (batch, n_out)
        Targets ``y``.
    beta : float or complex
        Nudge strength β (dimensionless: it multiplies the cost, so ``β C`` has the units of
        the energy when ``C`` is measured in them). Positive β pulls the outputs toward lower
        cost, negative β pushes them away (negative and centered EP); a complex β, on a
        system with the ``"complex"`` capability, is a point on holomorphic EP's circle.

    Notes
    -----
    The nudged system relaxes to a minimum of the total energy

    .. math::

        F_β(θ, x, s) = E(θ, x, s) + β\\, C(o(s), y),

    so the outputs feel the extra force :math:`−β\\,∂C/∂o` (:meth:`force` returns the term
    :math:`β\\,∂C/∂o` added to :math:`∂E/∂o`) and the Hessian gains :math:`β\\,∂^2C/∂o^2`
    (:meth:`stiffness`). The EP identity
    :math:`dL/dθ = \\frac{d}{dβ}\\big|_{β=0}\\, ∂_θE(s^β)` turns two such relaxations into a
    gradient estimate.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    """

    cost: Cost
    target: np.ndarray
    beta: complex

    @property
    def is_complex(self):
        return np.iscomplexobj(self.beta) and np.imag(self.beta) != 0

    def force(self, outputs):
        """β ∂C/∂o: the term added to ∂E/∂o."""
        return self.beta * self.cost.gradient(outputs, self.target)

    def stiffness(self, outputs):
        """β ∂²C/∂o²: the term added to the output block of the Hessian."""
        return self.beta * self.cost.hessian(outputs, self.target)


@dataclass(frozen=True)
class Clamp:
    """Hard clamp: the outputs are held at ``values`` while the rest of the system relaxes.

    Parameters
    ----------
    values : ndarray, shape (batch, n_out)
        The clamped output values, in the units of the output observables (volts at a
        resistor network's output nodes, ±1 for Ising output spins, ...).

    Notes
    -----
    The clamped state minimises :math:`E(θ, x, s)` over the unclamped degrees of freedom with
    :math:`o(s) = \\text{values}`; the clamped outputs carry a reaction force, so they are left
    out of the equilibrium residual. Contrastive learning clamps at the target
    (:math:`\\text{values} = y`, the contrastive Hebbian / Boltzmann-machine rule), coupled
    learning at :math:`o^0 ∓ η\\,∂C/∂o` (:math:`(1 − η)\\,o^0 + η\\,y` for squared error).
    Only systems with the ``"clamp"`` capability accept it.

    References
    ----------
    .. [1] J. R. Movellan, "Contrastive Hebbian learning in the continuous Hopfield model",
       Connectionist Models: Proceedings of the 1990 Summer School, Morgan Kaufmann (1991).
    .. [2] M. Stern, D. Hexner, J. W. Rocks, A. J. Liu, "Supervised learning in physical
       networks: from machine learning to learning machines", Phys. Rev. X 11, 021045 (2021).
    """

    values: np.ndarray
