"""Exact references every rule is checked against.

* :func:`exact_gradient` — implicit differentiation at the free equilibrium (recurrent
  backprop / Almeida–Pineda): ``dL/dθ = −∂²E/∂θ∂s · [∂²E/∂s²]⁻¹ · ∂C/∂s``.
* :func:`finite_difference_gradient` — central differences of the loss, re-relaxing the
  system for every perturbed parameter (slow; small systems).
"""

from __future__ import annotations

import numpy as np

from .costs import make_cost
from .system import batch_mean


def loss(system, x, y, cost=None):
    """Mean cost of the free equilibrium: ``L(θ) = mean_b C(o(s⁰_b), y_b)``."""
    cost = make_cost(cost)
    x = system.check_inputs(x)
    y = system.check_targets(y, x.shape[0])
    return cost.mean(system.predict(x), y)


def exact_gradient(system, x, y, cost=None):
    """``dL/dθ`` by implicit differentiation at the free equilibrium (batch mean).

    Parameters
    ----------
    system : EquilibriumSystem
    x : array_like, shape (batch, n_features)
    y : array_like, shape (batch, n_outputs)
    cost : Cost, str or None
        None means squared error.

    Returns
    -------
    dict
        Same keys and shapes as ``system.params``.

    Notes
    -----
    At the free equilibrium ``∂E/∂s = 0``. Differentiating in θ gives
    ``ds/dθ = −H⁻¹ ∂²E/∂s∂θ`` with the Hessian ``H = ∂²E/∂s²``, so
    ``dL/dθ = −(H⁻¹ ∂C/∂s) · ∂²E/∂s∂θ``: one adjoint solve per sample.
    """
    cost = make_cost(cost)
    x = system.check_inputs(x)
    y = system.check_targets(y, x.shape[0])
    free = system.equilibrium(x)
    g_out = cost.gradient(system.outputs(free), y)
    lam = system.adjoint(free, system.output_vjp(free, g_out))
    return {k: -v for k, v in batch_mean(system.mixed_vjp(free, lam)).items()}


def finite_difference_gradient(system, x, y, cost=None, h=1e-6):
    """Central finite differences of the loss, one parameter entry at a time.

    Each entry is perturbed by ``±h`` (re-relaxing the system each time) and restored
    afterwards; the system's parameters are unchanged on return, even on error. Costs
    ``2 × (number of parameters)`` relaxations. Error ``O(h²)`` plus round-off ``O(ε/h)``.
    """
    cost = make_cost(cost)
    original = {k: v.copy() for k, v in system.params.items()}
    grads = {}
    try:
        for name, value in original.items():
            g = np.zeros(value.shape)
            for i in np.ndindex(value.shape):
                vals = []
                for sign in (1.0, -1.0):
                    trial = {k: v.copy() for k, v in original.items()}
                    trial[name][i] += sign * h
                    system._params = system._validate_params(trial)  # no projection: exact ±h
                    vals.append(loss(system, x, y, cost))
                g[i] = (vals[0] - vals[1]) / (2 * h)
            grads[name] = g
    finally:
        system._params = original
    return grads
