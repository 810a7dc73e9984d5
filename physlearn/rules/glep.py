"""Lagrangian equilibrium propagation (GLEP/LEP): the action of a trajectory and its boundary
conditions.

The leapfrog run of a unit-mass Hamiltonian block is the stationary path of a discrete action.
With the half-step positions ``Q_1 … Q_K`` (where the kicks act) and the virtual end points
``Q_0``, ``Q_{K+1}``, the state after step ``i`` is the link ``(φ_i, π_i) = ((Q_i + Q_{i+1})/2,
(Q_{i+1} − Q_i)/δ)``, and

.. math::

    S_β[Q] = \\sum_{i=0}^{K} \\frac{‖Q_{i+1} − Q_i‖^2}{2δ} − δ \\sum_{i=1}^{K} V(Q_i, u_{i−1})
             − β \\sum_{i=1}^{K} g_i · φ_i,

whose Euler–Lagrange equations ``Q_{i+1} − 2Q_i + Q_{i−1} = −δ²∇V(Q_i) − ½δβ(g_{i−1} + g_i)``
are the leapfrog recursion. The nudge is the per-step loss ``ℓ_i(φ_i)`` linearised about the
``β = 0`` path (``g_i = ∇ℓ_i``; RHEL's explicit nudge), for which the master identity below is
exact. With ``G = δ Σ_i ∂_θV(Q_i)`` and the end momenta ``P_0 = π_0``, ``P = (Q_{K+1} − Q_K)/δ
− ½β g_K``, mixed partials of the on-shell action give

.. math::

    \\frac{dC}{dθ} = \\frac{dG}{dβ}\\Big|_{β=0} − R, \\qquad
    R = \\big[∂_βP · ∂_θQ_{K+1} − ∂_θP · ∂_βQ_{K+1}\\big]
        − \\big[\\text{the same at the start}\\big].

Which boundary conditions the paths obey decides whether ``R`` vanishes:

=================  =====================================  ======  ============================
boundary           what is fixed                          ``R``   the rule and its cost
=================  =====================================  ======  ============================
fixed-endpoints    ``Q_0``, ``Q_{K+1}``                   0       clean contrast, but each phase
                                                                  is a boundary-value problem
                                                                  over the whole trajectory (a
                                                                  Newton solve, non-causal) and
                                                                  the model is not the causal one
periodic           ``Q`` periodic in ``i`` (period K)     0       clean contrast; needs periodic
                                                                  inputs and a periodic orbit
                                                                  (another global solve)
initial-value      ``Q_0``, ``Q_1`` (start at rest)       ≠ 0     the physical forward problem:
                                                                  the forward-nudged contrast
                                                                  is wrong unless ``R`` is added,
                                                                  which needs the n×d Jacobian
                                                                  ``∂_θ(Q, P)`` at the end (RTRL)
final-value        ``Q_{K+1}``, ``P`` pinned to the free  0       clean contrast, causal when
                   run's end (θ-dependent, β-free)                integrated backwards from the
                                                                  end: that is the echo (RHEL)
=================  =====================================  ======  ============================

The module works on single-block trajectory systems with unit masses and a trajectory readout
(e.g. :class:`physlearn.systems.hru.HRU` with ``readout="trajectory"``); only the block's
parameters are learned here (the readout is held fixed).

References
----------
.. [1] G. Pourcel, D. Basu, M. Ernoult, A. Gilra, "Lagrangian-based equilibrium propagation:
   generalisation to arbitrary boundary conditions & equivalence with Hamiltonian echo
   learning", arXiv:2506.06248 (2025).
.. [2] S. Massar, "Equilibrium propagation for learning in Lagrangian dynamical systems",
   Phys. Rev. E 112, 035304 (2025), arXiv:2505.07363.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..costs import make_cost
from ..system import ConvergenceError
from .base import check_choice, check_strength

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..costs import Cost

BOUNDARIES = ("fixed-endpoints", "periodic", "initial-value", "final-value")


@dataclass
class Problem:
    """A trajectory learning problem on the discrete action (one block, unit masses).

    Parameters
    ----------
    system : TrajectorySystem
        A single-block system with ``readout="trajectory"`` and unit masses
        (``T = ½‖p‖²``), e.g. :class:`physlearn.systems.hru.HRU`.
    x : ndarray, shape (batch, K, n_features)
        Input sequences (``K`` steps of the time step ``δ = system.dt``).
    y : ndarray
        Targets of the trajectory readout, as the system checks them.
    cost : Cost, str or None
        The per-step cost ``c(o_i, y_i)``; None: squared error.
    end : ndarray, shape (batch, n), optional
        The fixed end point ``Q_{K+1}`` of the fixed-endpoints problem.

    Raises
    ------
    ValueError
        If the system has more than one block, another readout or non-unit masses, or ``x``
        and ``y`` do not fit it.

    Notes
    -----
    The stationary paths of the discrete action :math:`S_β[Q]` (module docstring) under the
    four boundary conditions: :meth:`causal` (initial value, integrated forwards),
    :meth:`final_value` (integrated backwards from the free run's end), and :meth:`relaxed`
    (fixed endpoints or periodic: Newton's method on the Euler–Lagrange equations
    :math:`Q_{i+1} − 2Q_i + Q_{i−1} = −δ^2∇V(Q_i) − ½δβ(g_{i−1} + g_i)` of all points at
    once).

    References
    ----------
    .. [1] G. Pourcel, D. Basu, M. Ernoult, A. Gilra, "Lagrangian-based equilibrium propagation:
       generalisation to arbitrary boundary conditions & equivalence with Hamiltonian echo
       learning", arXiv:2506.06248 (2025).
    .. [2] S. Massar, "Equilibrium propagation for learning in Lagrangian dynamical systems",
       Phys. Rev. E 112, 035304 (2025), arXiv:2505.07363.
    """

    system: object
    x: np.ndarray
    y: np.ndarray
    cost: object
    end: np.ndarray = None   # fixed end point Q_{K+1} of the fixed-endpoints problem

    def __post_init__(self):
        s = self.system
        if len(s.blocks()) != 1 or s.readout != "trajectory":
            raise ValueError("GLEP needs a single-block system with readout='trajectory'")
        unit, _ = s.blocks()[0]
        probe = np.linspace(-1.0, 1.0, unit.n_dof)
        if unit.kinetic_params or not np.allclose(unit.kinetic_grad(s.local(0), probe), probe):
            raise ValueError("GLEP's action here assumes unit masses, T = ½‖p‖²")
        self.x = s.check_inputs(self.x)
        self.y = s.check_targets(self.y, self.x.shape[0])
        s._check_lengths(self.x, self.y)
        self.cost = make_cost(self.cost)

    @property
    def unit(self):
        return self.system.blocks()[0][0]

    @property
    def dt(self):
        return self.system.dt

    @property
    def n_steps(self):
        return self.x.shape[1]

    def params(self):
        return self.system.local(0)

    # -- the action's ingredients -----------------------------------------------------------
    def links(self, Q):
        """Full-step positions ``φ_i = (Q_i + Q_{i+1})/2`` for ``i = 1 … K`` (batch, K, n)."""
        return 0.5 * (Q[:, 1:-1] + Q[:, 2:])

    def loss(self, Q):
        """Per-sample ``C = (1/K) Σ_i c(o_i, y_i)`` on the path (batch,)."""
        o = self.system.read(self.links(Q))
        return np.mean(self.cost.value(o, self.y), axis=1)

    def nudges(self, Q):
        """``g_i = ∂ℓ_i/∂φ_i`` on the path, i = 1 … K (batch, K, n)."""
        o = self.system.read(self.links(Q))
        return self.system.read_vjp(self.cost.gradient(o, self.y)) / self.n_steps

    def measure(self, Q):
        """``G = δ Σ_i ∂_θV(Q_i, u_{i−1})`` per sample: the local measurement."""
        dv = self.unit.potential_param_grad(self.params(), Q[:, 1:-1], self.x)
        return {k: self.dt * np.sum(np.broadcast_to(v, Q[:, 1:-1].shape[:2] + np.shape(v)[2:]),
                                    axis=1) for k, v in dv.items()}

    def force(self, Q, beta, g, periodic=False):
        """``δ²∇V(Q_i) + ½δβ(g_{i−1} + g_i)`` at the interior points (batch, K, n)."""
        grad = self.unit.potential_grad(self.params(), Q[:, 1:-1], self.x)
        g_prev = np.concatenate([g[:, -1:] if periodic else np.zeros_like(g[:, :1]), g[:, :-1]],
                                axis=1)
        return self.dt**2 * grad + 0.5 * self.dt * beta * (g_prev + g)

    def end_momentum(self, Q, beta, g):
        """``P = ∂S/∂Q_{K+1} = (Q_{K+1} − Q_K)/δ − ½β g_K``."""
        return (Q[:, -1] - Q[:, -2]) / self.dt - 0.5 * beta * g[:, -1]

    # -- stationary paths -------------------------------------------------------------------
    def causal(self, beta=0.0, g=None):
        """Initial-value path: start at rest, integrate the nudged EL equations forwards."""
        batch, K, n = self.x.shape[0], self.n_steps, self.unit.n_dof
        g = np.zeros((batch, K, n)) if g is None else g
        Q = np.zeros((batch, K + 2, n))
        for i in range(1, K + 1):
            f = self._point_force(Q[:, i], i, beta, g)
            Q[:, i + 1] = 2 * Q[:, i] - Q[:, i - 1] - f
        return Q

    def _point_force(self, q, i, beta, g):
        grad = self.unit.potential_grad(self.params(), q, self.x[:, i - 1])
        g_prev = g[:, i - 2] if i >= 2 else 0.0
        return self.dt**2 * grad + 0.5 * self.dt * beta * (g_prev + g[:, i - 1])

    def final_value(self, free, beta, g):
        """Final-value path: pin ``(Q_{K+1}, P)`` to the free run's, integrate backwards."""
        K = self.n_steps
        Q = np.empty_like(free)
        Q[:, K + 1] = free[:, K + 1]
        p_end = (free[:, K + 1] - free[:, K]) / self.dt
        Q[:, K] = Q[:, K + 1] - self.dt * (p_end + 0.5 * beta * g[:, K - 1])
        for i in range(K, 0, -1):
            f = self._point_force(Q[:, i], i, beta, g)
            Q[:, i - 1] = 2 * Q[:, i] - Q[:, i + 1] - f
        return Q

    def relaxed(self, beta, g, guess, periodic, tol=1e-11, max_iter=50):
        """Fixed-endpoints or periodic path: Newton on the EL equations of every point.

        Unknowns ``Q_1 … Q_K``; the ends are held at ``guess``'s (fixed-endpoints) or wrapped
        (``Q_0 ≡ Q_K``, ``Q_{K+1} ≡ Q_1``; periodic). A dense solve per sample.
        """
        Q = guess.copy()
        K, n = self.n_steps, self.unit.n_dof
        for _ in range(max_iter):
            if periodic:
                Q[:, 0], Q[:, -1] = Q[:, K], Q[:, 1]
            r = 2 * Q[:, 1:-1] - Q[:, :-2] - Q[:, 2:] - self.force(Q, beta, g, periodic)
            worst = float(np.max(np.abs(r)))
            if worst < tol:
                return Q
            for b in range(Q.shape[0]):
                J = self._jacobian(Q[b], b, periodic)
                Q[b, 1:-1] -= np.linalg.solve(J, r[b].ravel()).reshape(K, n)
        raise ConvergenceError(f"GLEP relaxation did not converge: residual {worst:.3e} after "
                               f"{max_iter} Newton steps")

    def _jacobian(self, Qb, b, periodic):
        K, n = self.n_steps, self.unit.n_dof
        eye = np.eye(n)
        hess = self.unit.potential_hvp(self.params(), Qb[1:-1, None, :], self.x[b, :, None, :],
                                       np.broadcast_to(eye, (K, n, n)))
        J = np.zeros((K * n, K * n))
        for i in range(K):
            J[i * n:(i + 1) * n, i * n:(i + 1) * n] = 2 * eye - self.dt**2 * hess[i]
            for j in (i - 1, i + 1):
                if 0 <= j < K or periodic:
                    j %= K
                    J[i * n:(i + 1) * n, j * n:(j + 1) * n] -= eye
        return J

    def free(self, boundary):
        """The ``β = 0`` stationary path under ``boundary``."""
        if boundary in ("initial-value", "final-value"):
            return self.causal()
        g0 = np.zeros((self.x.shape[0], self.n_steps, self.unit.n_dof))
        if boundary == "fixed-endpoints":
            guess = self.causal()
            if self.end is not None:
                guess[:, -1] = self.end
            return self.relaxed(0.0, g0, guess, periodic=False)
        return self.relaxed(0.0, g0, np.zeros_like(self.causal()), periodic=True)

    def nudged(self, boundary, beta, free, g):
        """The stationary path of ``S_β`` under ``boundary`` (nudges ``g`` from ``free``)."""
        if boundary == "initial-value":
            return self.causal(beta, g)
        if boundary == "final-value":
            return self.final_value(free, beta, g)
        return self.relaxed(beta, g, free, periodic=boundary == "periodic")


def _problem(system, x, y, cost, end):
    return Problem(system, np.asarray(x, dtype=float), y, cost, end)


def glep_gradient(system: object, x: ArrayLike, y: ArrayLike, cost: Cost | str | None = None,
                  *, boundary: str = "final-value", beta: float = 1e-3, residual: bool = False,
                  end: np.ndarray | None = None,
                  theta_step: float = 1e-6) -> dict[str, np.ndarray]:
    """The GLEP estimate of ``dC/dθ`` (batch mean) for the block's parameters.

    Parameters
    ----------
    system : TrajectorySystem
        Single block, unit masses, ``readout="trajectory"``.
    x : array_like, shape (batch, K, n_features)
        Input sequences.
    y : array_like
        Targets of the trajectory readout.
    cost : Cost, str or None, default None
        The per-step cost; None: squared error.
    boundary : {"fixed-endpoints", "periodic", "initial-value", "final-value"}, optional
        The boundary conditions the free and nudged paths obey (see the module docstring);
        default "final-value".
    beta : float, default 1e-3
        Nudge strength > 0 (dimensionless); the contrast is centered,
        ``(G(β) − G(−β)) / 2β``.
    residual : bool, default False
        Subtract the boundary residual ``R`` (only non-zero for "initial-value"), computed
        from finite-difference Jacobians ``∂_θ(Q_{K+1}, P)`` (``2 × n_params`` extra runs).
    end : ndarray, optional
        The fixed end point ``Q_{K+1}`` for "fixed-endpoints" (default: the causal run's).
    theta_step : float, default 1e-6
        Finite-difference step of the parameters for the residual's Jacobians (parameter
        units).

    Returns
    -------
    dict of str to ndarray
        name → array, the block's parameters (without the block prefix of the system).

    Raises
    ------
    ValueError
        An unknown ``boundary``, ``beta`` not finite and positive, or a system the action does
        not describe (see :class:`Problem`).
    ConvergenceError
        If the Newton solve of a fixed-endpoints or periodic path does not converge.

    Notes
    -----
    With :math:`G = δ \\sum_i ∂_θV(Q_i, u_{i−1})` measured on the nudged stationary paths,

    .. math::

        \\widehat{\\frac{dC}{dθ}} = \\frac{G(β) − G(−β)}{2β} \\;[\\,−\\, R\\,],

    which equals the gradient of the model the boundary conditions define up to
    :math:`O(β^2)` when :math:`R = 0` (fixed endpoints, periodic, final value) and, for the
    initial-value problem, only once the residual :math:`R` is subtracted. The final-value
    contrast is RHEL's echo.

    References
    ----------
    .. [1] G. Pourcel, D. Basu, M. Ernoult, A. Gilra, "Lagrangian-based equilibrium propagation:
       generalisation to arbitrary boundary conditions & equivalence with Hamiltonian echo
       learning", arXiv:2506.06248 (2025).
    .. [2] S. Massar, "Equilibrium propagation for learning in Lagrangian dynamical systems",
       Phys. Rev. E 112, 035304 (2025), arXiv:2505.07363.
    """
    boundary = check_choice("boundary", boundary, BOUNDARIES)
    beta = check_strength("beta", beta)
    prob = _problem(system, x, y, cost, end)
    free = prob.free(boundary)
    g = prob.nudges(free)
    paths = {s: prob.nudged(boundary, s * beta, free, g) for s in (1, -1)}
    plus, minus = prob.measure(paths[1]), prob.measure(paths[-1])
    grads = {k: (plus[k] - minus[k]) / (2 * beta) for k in plus}
    if residual and boundary == "initial-value":
        R = _initial_value_residual(prob, paths, beta, g, theta_step)
        grads = {k: grads[k] - R[k] for k in grads}
    return {k: v.mean(axis=0) for k, v in grads.items()}


def _initial_value_residual(prob, paths, beta, g, h):
    """Per-sample ``R = ∂_βP·∂_θQ_{K+1} − ∂_θP·∂_βQ_{K+1}`` at the end (the start is fixed)."""
    d_beta_q = (paths[1][:, -1] - paths[-1][:, -1]) / (2 * beta)
    p_plus = prob.end_momentum(paths[1], beta, g)
    p_minus = prob.end_momentum(paths[-1], -beta, g)
    d_beta_p = (p_plus - p_minus) / (2 * beta)
    system = prob.system
    original = {k: v.copy() for k, v in system.params.items()}
    unit, prefix = system.blocks()[0]
    R = {}
    try:
        for name, shape in unit.param_shapes().items():
            out = np.zeros((prob.x.shape[0],) + tuple(shape))
            for i in np.ndindex(*shape):
                ends = []
                for sign in (1.0, -1.0):
                    trial = {k: v.copy() for k, v in original.items()}
                    trial[prefix + name][i] += sign * h
                    system._params = trial
                    Q = prob.causal()
                    ends.append((Q[:, -1], (Q[:, -1] - Q[:, -2]) / prob.dt))
                d_theta_q = (ends[0][0] - ends[1][0]) / (2 * h)
                d_theta_p = (ends[0][1] - ends[1][1]) / (2 * h)
                out[(slice(None),) + i] = (np.sum(d_beta_p * d_theta_q, -1)
                                           - np.sum(d_theta_p * d_beta_q, -1))
            R[name] = out
    finally:
        system._params = original
    return R


def boundary_loss(system: object, x: ArrayLike, y: ArrayLike, cost: Cost | str | None = None,
                  *, boundary: str = "final-value", end: np.ndarray | None = None) -> float:
    """Batch-mean loss of the ``β = 0`` path under ``boundary`` (the model that BC defines).

    Parameters
    ----------
    system : TrajectorySystem
        Single block, unit masses, ``readout="trajectory"``.
    x : array_like, shape (batch, K, n_features)
        Input sequences.
    y : array_like
        Targets of the trajectory readout.
    cost : Cost, str or None, default None
        The per-step cost; None: squared error.
    boundary : {"fixed-endpoints", "periodic", "initial-value", "final-value"}, optional
        The boundary conditions of the path; default "final-value".
    end : ndarray, optional
        The fixed end point ``Q_{K+1}`` for "fixed-endpoints" (default: the causal run's).

    Returns
    -------
    float
        ``mean_b (1/K) Σ_i c(o_i, y_i)`` on the free stationary path.

    Raises
    ------
    ValueError
        A system the action does not describe (see :class:`Problem`).
    ConvergenceError
        If the Newton solve of a fixed-endpoints or periodic path does not converge.

    Notes
    -----
    "initial-value" and "final-value" share the causal free path (the leapfrog run from
    rest); "fixed-endpoints" and "periodic" define other models, whose free path is the
    solution of a boundary-value problem over the whole trajectory.

    References
    ----------
    .. [1] G. Pourcel, D. Basu, M. Ernoult, A. Gilra, "Lagrangian-based equilibrium propagation:
       generalisation to arbitrary boundary conditions & equivalence with Hamiltonian echo
       learning", arXiv:2506.06248 (2025).
    .. [2] S. Massar, "Equilibrium propagation for learning in Lagrangian dynamical systems",
       Phys. Rev. E 112, 035304 (2025), arXiv:2505.07363.
    """
    prob = _problem(system, x, y, cost, end)
    return float(np.mean(prob.loss(prob.free(boundary))))


def boundary_gradient(system: object, x: ArrayLike, y: ArrayLike,
                      cost: Cost | str | None = None, *, boundary: str = "final-value",
                      end: np.ndarray | None = None, h: float = 1e-6) -> dict[str, np.ndarray]:
    """The exact ``dC/dθ`` of the model ``boundary`` defines (central differences), batch mean.

    For "initial-value" and "final-value" this is the causal model (equal to BPTT); for the
    other two it is a different model: the stationary path of a global problem.

    Parameters
    ----------
    system : TrajectorySystem
        Single block, unit masses, ``readout="trajectory"``; its parameters are restored on
        return, also on error.
    x : array_like, shape (batch, K, n_features)
        Input sequences.
    y : array_like
        Targets of the trajectory readout.
    cost : Cost, str or None, default None
        The per-step cost; None: squared error.
    boundary : {"fixed-endpoints", "periodic", "initial-value", "final-value"}, optional
        The boundary conditions of the model; default "final-value".
    end : ndarray, optional
        The fixed end point ``Q_{K+1}`` for "fixed-endpoints" (default: the causal run's at
        the current parameters, held fixed while they are perturbed).
    h : float, default 1e-6
        Central-difference step of each parameter entry (parameter units).

    Returns
    -------
    dict of str to ndarray
        name → array, the block's parameters (without the block prefix of the system).

    Raises
    ------
    ValueError
        A system the action does not describe (see :class:`Problem`).
    ConvergenceError
        If the Newton solve of a fixed-endpoints or periodic path does not converge.

    Notes
    -----
    Each entry is :math:`(C(θ + h e_i) − C(θ − h e_i))/2h` with :func:`boundary_loss`:
    ``2 × n_params`` solves of the free path, the reference :func:`glep_gradient` is checked
    against.

    References
    ----------
    .. [1] G. Pourcel, D. Basu, M. Ernoult, A. Gilra, "Lagrangian-based equilibrium propagation:
       generalisation to arbitrary boundary conditions & equivalence with Hamiltonian echo
       learning", arXiv:2506.06248 (2025).
    .. [2] S. Massar, "Equilibrium propagation for learning in Lagrangian dynamical systems",
       Phys. Rev. E 112, 035304 (2025), arXiv:2505.07363.
    """
    original = {k: v.copy() for k, v in system.params.items()}
    unit, prefix = system.blocks()[0]
    if end is None and boundary == "fixed-endpoints":
        end = _problem(system, x, y, cost, None).causal()[:, -1]
    grads = {}
    try:
        for name, shape in unit.param_shapes().items():
            out = np.zeros(shape)
            for i in np.ndindex(*shape):
                vals = []
                for sign in (1.0, -1.0):
                    trial = {k: v.copy() for k, v in original.items()}
                    trial[prefix + name][i] += sign * h
                    system._params = trial
                    vals.append(boundary_loss(system, x, y, cost, boundary=boundary, end=end))
                out[i] = (vals[0] - vals[1]) / (2 * h)
            grads[name] = out
    finally:
        system._params = original
    return grads
