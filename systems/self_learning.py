"""A self-learning machine: weights that are dynamical degrees of freedom with their own momenta.

Physics
-------
``n`` anharmonic *evaluation* oscillators ``ψ`` are coupled pairwise through *learning*
degrees of freedom ``w_e`` (one per pair ``e = (i, j)``), which are themselves heavy particles
of mass ``M`` on the same footing:

    H = ½‖p_ψ‖² + ‖p_w‖² / 2M + Σ_i (½ω²ψ_i² + ¼gψ_i⁴) + Σ_e w_e ψ_i ψ_j.

The input sets the initial displacement of the first ``n_features`` oscillators (all momenta
start at zero); after ``n_steps`` leapfrog steps the positions of the last ``n_outputs``
oscillators are the outputs. The trainable parameters are the *initial positions* of the
learning degrees of freedom — as in Hamiltonian echo backpropagation (López-Pastor &
Marquardt 2023), where the gradient arrives as a momentum kick on them. Dimensionless units:
time in units of ``1/ω``.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from physlearn.system import System, check_positive

from . import leapfrog as lf
from .trajectory import check_count


class MachinePhysics(lf.SeparableHamiltonian):
    """The machine's Hamiltonian on the joint state ``q = (ψ, w)``; no static parameters."""

    def __init__(self, n_eval, omega, anharmonicity, mass):
        self.n_eval = n_eval
        self.pairs = np.array(list(combinations(range(n_eval), 2)), dtype=int).reshape(-1, 2)
        self.n_dof = n_eval + len(self.pairs)
        self.n_inputs = 0
        self.omega2, self.g, self.mass = omega**2, anharmonicity, mass
        self.inv_mass = np.concatenate([np.ones(n_eval), np.full(len(self.pairs), 1.0 / mass)])

    def param_shapes(self):
        return {}

    def _split(self, q):
        return q[..., :self.n_eval], q[..., self.n_eval:]

    def kinetic(self, params, p):
        return 0.5 * np.sum(self.inv_mass * p * p, axis=-1)

    def kinetic_grad(self, params, p):
        return self.inv_mass * p

    def kinetic_hvp(self, params, p, v):
        return self.inv_mass * v

    def potential(self, params, q, u):
        psi, w = self._split(q)
        i, j = self.pairs.T
        return (np.sum(0.5 * self.omega2 * psi**2 + 0.25 * self.g * psi**4, axis=-1)
                + np.sum(w * psi[..., i] * psi[..., j], axis=-1))

    def potential_grad(self, params, q, u):
        psi, w = self._split(q)
        i, j = self.pairs.T
        d_psi = self.omega2 * psi + self.g * psi**3
        d_psi = d_psi + _scatter(w * psi[..., j], i, self.n_eval) + _scatter(
            w * psi[..., i], j, self.n_eval)
        return np.concatenate([d_psi, psi[..., i] * psi[..., j]], axis=-1)

    def potential_hvp(self, params, q, u, v):
        psi, w = self._split(q)
        v_psi, v_w = self._split(v)
        i, j = self.pairs.T
        h_psi = (self.omega2 + 3 * self.g * psi**2) * v_psi
        h_psi = h_psi + _scatter(w * v_psi[..., j] + v_w * psi[..., j], i, self.n_eval)
        h_psi = h_psi + _scatter(w * v_psi[..., i] + v_w * psi[..., i], j, self.n_eval)
        h_w = v_psi[..., i] * psi[..., j] + psi[..., i] * v_psi[..., j]
        return np.concatenate([h_psi, h_w], axis=-1)

    def potential_param_grad(self, params, q, u):
        return {}

    def potential_param_vjp(self, params, q, u, v):
        return {}

    def potential_input_grad(self, params, q, u):
        return np.zeros(q.shape[:-1] + (0,))

    def potential_input_vjp(self, params, q, u, v):
        return np.zeros(q.shape[:-1] + (0,))


def _scatter(values, index, n):
    out = np.zeros(values.shape[:-1] + (n,))
    np.add.at(out, (..., index), values)
    return out


class SelfLearningMachine(System):
    """Anharmonic oscillators coupled through dynamical weights (see module notes).

    Parameters
    ----------
    n_oscillators : int, default 4
        Evaluation oscillators ``ψ`` (≥ 2); one learning degree of freedom per pair.
    n_features : int, default 2
        Inputs: initial displacements of the first oscillators (length units).
    n_outputs : int, default 1
        Outputs: final positions of the last oscillators (length units).
    n_steps : int, default 50
        Leapfrog steps of one run (≥ 1).
    dt : float, default 0.1
        Leapfrog time step > 0 (units of ``1/ω``).
    omega : float, default 1.0
        Natural frequency ``ω > 0`` of the evaluation oscillators (sets the time unit).
    anharmonicity : float, default 0.5
        Quartic coefficient ``g ≥ 0`` (energy per length⁴): the nonlinearity that lets the
        machine learn XOR-like maps.
    weight_mass : float, default 10.0
        Mass ``M > 0`` of the learning degrees of freedom, in units of the evaluation
        oscillators' mass (heavy: they barely move during a run).
    seed : int, optional
        Seed of the initial weights (normal, scale 0.3).

    Raises
    ------
    ValueError
        If a count is below its minimum, ``n_features + n_outputs > n_oscillators``,
        ``omega`` or ``weight_mass`` is not positive, ``anharmonicity`` is negative, or ``dt``
        is not a finite positive step.

    Notes
    -----
    The evaluation oscillators :math:`ψ` and the learning degrees of freedom :math:`w_e`
    (one per pair :math:`e = (i, j)`) share one Hamiltonian,

    .. math::

        H = \\tfrac12‖p_ψ‖^2 + \\frac{‖p_w‖^2}{2M}
          + \\sum_i \\big(\\tfrac12 ω^2 ψ_i^2 + \\tfrac14 g ψ_i^4\\big)
          + \\sum_{e = (i, j)} w_e\\, ψ_i ψ_j,

    integrated by leapfrog from the input displacements at rest. The trainable parameters are the
    *initial positions* of the :math:`w_e`, as in Hamiltonian echo backpropagation, where the
    gradient arrives as a momentum kick on them. ``capabilities = {"heb"}``: the machine is
    time-reversal invariant and can take an error kick, a momentum flip and an echo.
    :meth:`exact_gradient` is BPTT with respect to the initial positions of the learning degrees of
    freedom.

    References
    ----------
    .. [1] V. López-Pastor, F. Marquardt, "Self-learning machines based on Hamiltonian echo
       backpropagation", Phys. Rev. X 13, 031020 (2023), arXiv:2103.04992.
    """

    capabilities = frozenset({"heb"})

    def __init__(self, n_oscillators: int = 4, n_features: int = 2, n_outputs: int = 1, *,
                 n_steps: int = 50, dt: float = 0.1, omega: float = 1.0,
                 anharmonicity: float = 0.5, weight_mass: float = 10.0, seed: int | None = None):
        self.n_oscillators = check_count("n_oscillators", n_oscillators, 2)
        self.n_features = check_count("n_features", n_features, 1)
        self.n_outputs = check_count("n_outputs", n_outputs, 1)
        self.n_steps = check_count("n_steps", n_steps, 1)
        self.dt = dt
        self.omega = omega
        self.anharmonicity = anharmonicity
        self.weight_mass = weight_mass
        self.seed = seed
        if self.n_features + self.n_outputs > self.n_oscillators:
            raise ValueError(f"n_features + n_outputs = {self.n_features + self.n_outputs} "
                             f"exceeds n_oscillators = {self.n_oscillators}")
        check_positive("omega", omega)                  # a frequency
        check_positive("anharmonicity", anharmonicity, allow_zero=True)  # V bounded below
        check_positive("weight_mass", weight_mass)      # a mass
        self.scheme = lf.Leapfrog(dt)
        self.unit = MachinePhysics(self.n_oscillators, omega, anharmonicity, weight_mass)
        rng = np.random.default_rng(seed)
        self.params = {"w": rng.normal(scale=0.3, size=len(self.unit.pairs))}

    @property
    def param_shapes(self):
        return {"w": (len(self.unit.pairs),)}

    @property
    def output_dofs(self):
        return np.arange(self.n_oscillators - self.n_outputs, self.n_oscillators)

    def initial_state(self, x, w=None):
        """``(q_0, p_0)``: inputs as displacements, weights at ``w`` (default: params), at rest."""
        w = self.params["w"] if w is None else w
        q = np.zeros((x.shape[0], self.unit.n_dof))
        q[:, :self.n_features] = x
        q[:, self.n_oscillators:] = w
        return q, np.zeros_like(q)

    def _inputs(self, batch):
        return np.zeros((batch, self.n_steps, 0))

    def evolve(self, q, p, store=False):
        """Leapfrog for ``n_steps`` from ``(q, p)``; returns the Flow."""
        return lf.forward(self.unit, {}, q, p, self._inputs(q.shape[0]), self.scheme, store=store)

    def outputs_of(self, q):
        return q[:, self.output_dofs]

    def predict(self, x):
        x = self.check_inputs(x)
        flow = self.evolve(*self.initial_state(x))
        return self.outputs_of(flow.q)

    def output_cotangent(self, q, y, cost):
        """``∂c/∂q`` at the final state (non-zero on the output oscillators only)."""
        g = np.zeros_like(q)
        g[:, self.output_dofs] = cost.gradient(self.outputs_of(q), y)
        return g

    def exact_gradient(self, x, y, cost):
        """BPTT: ``dL/dw_0``, the adjoint of the initial weight positions (batch mean)."""
        return {"w": self.initial_adjoint(x, y, cost)[0][:, self.n_oscillators:].mean(axis=0)}

    def initial_adjoint(self, x, y, cost):
        """Per-sample ``(dc/dq_0, dc/dp_0)`` by BPTT."""
        flow = self.evolve(*self.initial_state(x), store=True)
        cot = lf.Cotangents(self.n_steps, final=self.output_cotangent(flow.q, y, cost))
        adj = lf.backward(self.unit, {}, flow, self._inputs(x.shape[0]), self.scheme, cot)
        return adj.q, adj.p

    def echo_cycle(self, x, y, cost, eta):
        """One HEB cycle: run, error kick ``p −= η ∂c/∂q``, flip, echo, flip back.

        Returns the per-sample final ``(q, p)``: the initial state displaced by
        ``η (∂c/∂p_0, −∂c/∂q_0) + O(η²)`` — the weights' momenta carry ``−η ∂c/∂w``.
        """
        flow = self.evolve(*self.initial_state(x))
        cot = lf.Cotangents(self.n_steps, final=self.output_cotangent(flow.q, y, cost))
        back = lf.echo(self.unit, {}, flow.q, flow.p, self._inputs(x.shape[0]), self.scheme,
                       [eta], cot)
        return back.q[0], -back.p[0]
