"""Small systems on which the numerical checks evaluate the code a derivation justifies.

* :class:`PolynomialSystem` — a duck-typed system whose measurement ``∂E/∂θ(s_β)`` is a known
  polynomial ``g(β) = Σ a_n βⁿ``: the estimators of :mod:`physlearn.rules` applied to it
  return exactly their combination of samples of ``g``, which the bias derivations predict.
* :class:`ScalarSystem` — one state variable with the non-quadratic energy
  ``E = θ s⁴/4 + s²/2 − x s`` and the squared error (the general EP identity).
* :func:`network` — a :class:`~physlearn.systems.ResistorNetwork` with the topology and the
  (random) conductances of a symbolic :class:`~physlearn.derivations.resistor.Circuit`.
"""

from __future__ import annotations

from types import SimpleNamespace

import networkx as nx
import numpy as np


class _Duck:
    """What :meth:`physlearn.rules.base.Rule.gradient` asks of a system, and no more."""

    capabilities = frozenset({"soft_nudge", "complex"})
    n_features = n_outputs = 1

    def check_inputs(self, x):
        return np.atleast_2d(np.asarray(x, dtype=float))

    def check_targets(self, y, batch):
        return np.asarray(y, dtype=float).reshape(batch, self.n_outputs)


class PolynomialSystem(_Duck):
    """``param_gradient`` at the nudge β is ``g(β) = Σ_n a_n βⁿ`` (one series per parameter).

    Parameters
    ----------
    coefficients : ndarray, shape (order + 1, p)
        ``a_n`` of the ``p`` parameters.
    """

    def __init__(self, coefficients):
        self.a = np.asarray(coefficients)

    def equilibrium(self, x, nudge=None, start=None):
        beta = 0.0 if nudge is None else nudge.beta
        return SimpleNamespace(s=np.zeros((len(x), 1)), beta=beta, batch=len(x))

    def param_gradient(self, state):
        powers = state.beta ** np.arange(len(self.a))
        return {"theta": np.tile(powers @ self.a, (state.batch, 1))}


class ScalarSystem(_Duck):
    """``E(θ, s) = θ s⁴/4 + s²/2 − x s`` (convex for θ > 0); ``∂E/∂θ = s⁴/4``."""

    capabilities = frozenset({"soft_nudge"})

    def __init__(self, theta):
        self.theta = float(theta)

    def equilibrium(self, x, nudge=None, start=None):
        beta = 0.0 if nudge is None else nudge.beta
        target = 0.0 if nudge is None else nudge.target
        s = x.copy()
        for _ in range(60):       # Newton on ∂F/∂s = θs³ + s − x + β(s − y)
            residual = self.theta * s**3 + s - x + beta * (s - target)
            s = s - residual / (3 * self.theta * s**2 + 1 + beta)
        return SimpleNamespace(s=s)

    def param_gradient(self, state):
        return {"theta": state.s**4 / 4}


def network(circuit, conductances):
    """The :class:`~physlearn.systems.ResistorNetwork` of a symbolic circuit.

    Parameters
    ----------
    circuit : physlearn.derivations.resistor.Circuit
        Input node ``"x"``, ground ``"ground"``, output the last free node.
    conductances : sequence of float
        Aligned with ``circuit.edges``.

    Returns
    -------
    net : ResistorNetwork
    order : ndarray of int
        ``order[k]`` is the index in ``circuit.edges`` of ``net.edges[k]``.
    """
    from physlearn.systems import ResistorNetwork

    graph = nx.Graph()
    for (a, b), g in zip(circuit.edges, conductances):
        graph.add_edge(a, b, conductance=float(g))
    net = ResistorNetwork(graph, ["x"], [circuit.free[-1]], "ground")
    position = {frozenset(e): k for k, e in enumerate(circuit.edges)}
    return net, np.array([position[frozenset(e)] for e in net.edges])


def free_voltages(circuit, state):
    """The free-node voltages of a network state, in the circuit's order (batch, n_free)."""
    voltages = state.node_voltages
    return np.stack([voltages[n] for n in circuit.free], axis=1)


def circuit_inputs(rng, circuit, batch=3):
    """Random conductances in [0.5, 2], inputs ``x`` and targets ``y`` (batch, 1)."""
    g = rng.uniform(0.5, 2.0, len(circuit.edges))
    return g, rng.normal(size=(batch, 1)), rng.normal(size=(batch, 1))
