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
        Nudge strength. Positive β pulls the outputs toward lower cost.
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
    """Hard clamp: outputs are held at ``values`` (shape (batch, n_out))."""

    values: np.ndarray
