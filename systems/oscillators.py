"""Masses on springs driven by an input force: a mechanical trajectory system.

Physics
-------
``n`` point masses on a line, each tied to its rest position by a spring ``k_i`` and to the
others by coupling springs ``κ_e`` (edge ``e = (i, j)``), with an input force ``u(t)`` acting
on mass ``input_dof``:

    H = Σ_i p_i² / 2m_i + ½ Σ_i k_i q_i² + ½ Σ_e κ_e (q_j − q_i)² − u(t) q_input.

Trainable: the masses ``m``, the springs ``k`` and the couplings ``kappa``; the outputs are the
positions of ``readout_dofs`` (no trainable readout), at every step by default, as in the
six-oscillator check of Pourcel & Ernoult (2025, Fig. 2, Eq. 8 — whose sign of the drive is
inconsistent between ``H`` and ``ṗ``; here ``+u`` is a force). Because the masses sit in the
kinetic term, the echo read-out averages ``∂T/∂m`` before and after each kick. Dimensionless
units: masses in units of a reference mass, time in units of its inverse spring frequency.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from physlearn.system import Bound, check_positive

from .leapfrog import SeparableHamiltonian
from .trajectory import TrajectorySystem, check_count


class SpringPhysics(SeparableHamiltonian):
    """``H = Σ p²/2m + ½ Σ k q² + ½ Σ κ_e (Δq_e)² − u q_input`` (see module notes)."""

    kinetic_params = frozenset({"m"})
    linear = True

    def __init__(self, n_dof, edges, input_dof):
        self.n_dof, self.n_inputs = n_dof, 1
        self.edges = edges
        self.input_dof = input_dof
        self.incidence = np.zeros((len(edges), n_dof))
        for e, (i, j) in enumerate(edges):
            self.incidence[e, i], self.incidence[e, j] = -1.0, 1.0

    def param_shapes(self):
        return {"m": (self.n_dof,), "k": (self.n_dof,), "kappa": (len(self.edges),)}

    def kinetic(self, params, p):
        return 0.5 * np.sum(p * p / params["m"], axis=-1)

    def kinetic_grad(self, params, p):
        return p / params["m"]

    def kinetic_param_grad(self, params, p):
        return {"m": -0.5 * p * p / params["m"] ** 2}

    def kinetic_hvp(self, params, p, v):
        return v / params["m"]

    def kinetic_param_vjp(self, params, p, v):
        return {"m": -v * p / params["m"] ** 2}

    def potential(self, params, q, u):
        stretch = q @ self.incidence.T
        springs = 0.5 * np.sum(params["k"] * q * q, -1)
        couplings = 0.5 * np.sum(params["kappa"] * stretch**2, -1)
        return springs + couplings - u[..., 0] * q[..., self.input_dof]

    def _drive(self, u, like):
        f = np.zeros(np.broadcast_shapes(u.shape[:-1], like.shape[:-1]) + (self.n_dof,))
        f[..., self.input_dof] = u[..., 0]
        return f

    def potential_grad(self, params, q, u):
        stretch = q @ self.incidence.T
        return params["k"] * q + (params["kappa"] * stretch) @ self.incidence - self._drive(u, q)

    def potential_param_grad(self, params, q, u):
        stretch = q @ self.incidence.T
        return {"k": 0.5 * q * q, "kappa": 0.5 * stretch**2}

    def potential_input_grad(self, params, q, u):
        return -q[..., [self.input_dof]]

    def potential_hvp(self, params, q, u, v):
        return params["k"] * v + (params["kappa"] * (v @ self.incidence.T)) @ self.incidence

    def potential_param_vjp(self, params, q, u, v):
        return {"k": v * q, "kappa": (v @ self.incidence.T) * (q @ self.incidence.T)}

    def potential_input_vjp(self, params, q, u, v):
        return -v[..., [self.input_dof]]

    def max_frequency(self, params):
        """``√`` of the largest eigenvalue of ``M^{−½} K M^{−½}`` (normal modes)."""
        stiffness = np.diag(params["k"]) + self.incidence.T @ (
            params["kappa"][:, None] * self.incidence)
        scale = 1.0 / np.sqrt(np.maximum(params["m"], 1e-300))
        top = np.linalg.eigvalsh(scale[:, None] * stiffness * scale[None, :])[-1]
        return float(np.sqrt(max(top, 0.0)))


class CoupledOscillators(TrajectorySystem):
    """Masses on springs driven by an input force, with trainable masses and springs.

    Parameters
    ----------
    n_oscillators : int, default 6
        Number of point masses on the line (≥ 1).
    edges : sequence of (i, j), optional
        Coupling springs; default all pairs ``i < j``.
    input_dof : int, default 0
        The mass the input force acts on.
    readout_dofs : sequence of int, default (3,)
        Masses whose positions (length units) are the outputs.
    dt : float, default 0.1
        Leapfrog time step δ > 0 (units of the inverse reference spring frequency).
    readout : {"trajectory", "final"}, default "trajectory"
        Read the outputs at every step (targets (batch, T, n_outputs)) or at the final time.
    damping : float, default 0
        Friction rate γ ≥ 0 (inverse time units; negative control only: it breaks time
        reversal).
    min_mass : float, default 1e-2
        Floor of the masses > 0 (units of the reference mass): an assignment below is
        refused, a learning step (:meth:`update_params`) clips onto it.
    min_spring : float, default 0.0
        Floor of the springs ``k`` and couplings ``κ`` >= 0 (units of the reference spring
        constant), likewise.
    seed : int, optional
        Seed of the initial masses (in [0.5, 1.5]) and springs (in [0.5, 1.5] and [0, 0.5]).

    Raises
    ------
    ValueError
        If ``n_oscillators`` is not a positive integer, an index is outside the chain, an edge
        does not join two different masses or appears twice, ``readout`` is unknown, ``dt``
        or ``damping`` is invalid, ``min_mass`` is not positive or ``min_spring`` is
        negative.

    Notes
    -----
    The Hamiltonian, with the input force :math:`u(t)` on mass ``input_dof``, is

    .. math::

        H = \\sum_i \\frac{p_i^2}{2 m_i} + \\tfrac12 \\sum_i k_i q_i^2
          + \\tfrac12 \\sum_{e = (i, j)} κ_e (q_j − q_i)^2 − u(t)\\, q_{\\text{input}}.

    The per-parameter read-outs are the local observables :math:`∂H/∂k_i = ½q_i^2`,
    :math:`∂H/∂κ_e = ½(q_j − q_i)^2` (the spring's stored energy per unit stiffness) and
    :math:`∂H/∂m_i = −p_i^2/2m_i^2`; because the masses sit in the kinetic term, the echo
    read-out averages :math:`∂T/∂m` before and after each kick. Dimensionless units: masses
    in units of a reference mass, time in units of its inverse spring frequency.

    References
    ----------
    .. [1] G. Pourcel, M. Ernoult, "Learning long range dependencies through time reversal
       symmetry breaking", NeurIPS 2025, arXiv:2506.05259, Fig. 2 and Eq. 8.
    """

    def __init__(self, n_oscillators: int = 6, *, edges: Sequence[tuple[int, int]] | None = None,
                 input_dof: int = 0, readout_dofs: Sequence[int] = (3,), dt: float = 0.1,
                 readout: str = "trajectory", damping: float = 0.0, min_mass: float = 1e-2,
                 min_spring: float = 0.0, seed: int | None = None):
        self.n_oscillators = n_oscillators
        self.edges = edges
        self.input_dof = input_dof
        self.readout_dofs = readout_dofs
        self.dt = dt
        self.readout = readout
        self.damping = damping
        self.kick = "half-step"
        self.min_mass = min_mass
        self.min_spring = min_spring
        self.seed = seed
        self._check_readout()
        _ = self.scheme
        n = check_count("n_oscillators", n_oscillators, 1)
        dofs = [check_count("readout_dofs entry", i) for i in readout_dofs]
        input_dof = check_count("input_dof", input_dof)
        pairs = list(combinations(range(n), 2)) if edges is None else [tuple(e) for e in edges]
        for i in (input_dof, *dofs):
            if not 0 <= i < n:
                raise ValueError(f"oscillator index {i} is outside 0..{n - 1}")
        for e in pairs:
            if len(e) != 2 or not all(isinstance(v, (int, np.integer)) and 0 <= v < n
                                      for v in e) or e[0] == e[1]:
                raise ValueError(f"edges entry {e!r} must join two different oscillators in "
                                 f"0..{n - 1}")
        if len({frozenset(e) for e in pairs}) != len(pairs):
            raise ValueError(f"edges={edges!r} lists a spring twice")
        check_positive("min_mass", min_mass)
        check_positive("min_spring", min_spring, allow_zero=True)
        self._unit = SpringPhysics(n, pairs, input_dof)
        self.n_features, self.n_outputs = 1, len(dofs)
        rng = np.random.default_rng(seed)
        self.params = {"m": rng.uniform(0.5, 1.5, n),
                       "k": rng.uniform(0.5, 1.5, n),
                       "kappa": rng.uniform(0.0, 0.5, len(pairs))}

    @property
    def param_shapes(self):
        return self._unit.param_shapes()

    def blocks(self):
        return [(self._unit, "")]

    @property
    def param_bounds(self):
        """Masses ``m > 0`` floored at ``min_mass``; springs ``k, κ ≥ 0`` floored at
        ``min_spring``."""
        spring = Bound(0.0, floor=self.min_spring, floor_name="min_spring",
                       label="spring constant")
        return {"m": Bound(0.0, strict=True, floor=self.min_mass, floor_name="min_mass",
                           label="mass"), "k": spring, "kappa": spring}

    def describe_param_index(self, name, index):
        return f" (spring {self._unit.edges[index]})" if name == "kappa" else \
            f" (oscillator {index})"
