"""Exact references every rule is checked against.

* :func:`exact_gradient` — the system's own exact derivative: implicit differentiation at the
  free equilibrium (recurrent backprop / Almeida–Pineda) for equilibrium systems.
* :func:`finite_difference_gradient` — central differences of the loss, re-relaxing the
  system for every perturbed parameter (slow; small systems).
"""

from __future__ import annotations

import numpy as np

from .costs import make_cost


def loss(system, x, y, cost=None):
    """The system's objective, by default ``L(θ) = mean_b C(o(s⁰_b), y_b)`` (``system.loss``)."""
    cost = make_cost(cost)
    x = system.check_inputs(x)
    y = system.check_targets(y, x.shape[0])
    return system.loss(x, y, cost)


def exact_gradient(system, x, y, cost=None):
    """The exact ``dL/dθ`` (batch mean) of a system: the reference every rule is checked against.

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
    Each system supplies its own exact reference through ``system.exact_gradient``: implicit
    differentiation for equilibrium systems (see
    :meth:`physlearn.EquilibriumSystem.exact_gradient`), linear response for quantum states,
    backpropagation through time for trajectories.
    """
    cost = make_cost(cost)
    x = system.check_inputs(x)
    y = system.check_targets(y, x.shape[0])
    return system.exact_gradient(x, y, cost)


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
                    # no bounds, no projection: exact ±h also at a parameter on its bound
                    system._params = system._validate_shapes(trial)
                    vals.append(loss(system, x, y, cost))
                g[i] = (vals[0] - vals[1]) / (2 * h)
            grads[name] = g
    finally:
        system._params = original
    return grads
