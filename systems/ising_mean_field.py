"""Mean-field Ising model (``IsingModel(..., solver="mean-field")``): an equilibrium system.

The naive mean-field (variational) free energy of the magnetisations ``m_i ∈ (−1, 1)``,

    F(θ, x, m) = −Σ_e J_e m_i m_j − Σ_i b_i m_i
                 + T Σ_i [ (1+m_i)/2 · log((1+m_i)/2) + (1−m_i)/2 · log((1−m_i)/2) ],

with ``b = h + xW``, is the energy ``E`` of a deterministic equilibrium system: its stationary
points are the self-consistent magnetisations ``m = tanh((J m + b)/T)``, and its Hessian
``−J + T diag(1/(1 − m²))`` gives the implicit-differentiation reference of
:class:`physlearn.EquilibriumSystem`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import xlogy

from physlearn.nudges import Clamp, Nudge
from physlearn.system import ConvergenceError, EquilibriumSystem
from physlearn.systems.solvers import damped_newton

from .ising import IsingModel, IsingState, register_solver

__all__ = ["MeanFieldIsing", "MeanFieldSolver"]


class MeanFieldIsing(IsingModel, EquilibriumSystem):
    """Ising model in the naive mean-field approximation: magnetisations minimise ``F(m)``.

    Built by ``IsingModel(..., solver="mean-field")`` (or directly, same arguments); the
    hyperparameters ``tol`` (residual of the self-consistency equations in units of the
    field, ``max|T u − J m − b + β Pᵀ∂C/∂o|`` with ``m = tanh u``) and ``max_iter`` (Newton
    steps) apply.

    Parameters
    ----------
    n_spins : int
        Number of spins (magnetisations ``m_i ∈ (−1, 1)``).
    edges : sequence of (int, int)
        Coupled pairs; one trainable coupling ``J_e`` each.
    output_spins : sequence of int or of tuples of int
        One spin or group of spins per output (the output is the group's mean magnetisation).
    input_spins : sequence of int, optional
        Spins the input features couple to (default: every non-output spin).
    n_features : int, default 1
        Number of input features.
    temperature : float, default 1.0
        T > 0 in units of the couplings (``k_B = 1``).
    solver : str, default "mean-field"
        Must name the mean-field solver (another solver needs :class:`IsingModel`).
    objective : {"mean"}, default "mean"
        Only the loss of the magnetisations exists here.
    coupling_range : float, default 1.0
        Range of ``J`` and ``W`` (units of the couplings).
    field_range : float, default 1.0
        Range of ``h`` (units of the couplings).
    init_scale : float, default 0.5
        Initial parameters uniform in ``±init_scale`` × their range.
    sweeps : int, default 1000
        Unused (Monte Carlo setting of :class:`IsingModel`).
    burn_in : int, default 100
        Unused (Monte Carlo setting).
    chains : int, default 16
        Unused (Monte Carlo setting).
    update : str, default "heat-bath"
        Unused (Monte Carlo setting).
    tol : float, default 1e-12
        Residual tolerance of the self-consistency equations (field units).
    max_iter : int, default 100
        Newton iterations before :class:`~physlearn.ConvergenceError`.
    seed : int, default 0
        Seeds the initial parameters (a ``numpy.random.Generator`` is accepted too).

    Raises
    ------
    ValueError
        As for :class:`IsingModel`, and for ``objective="expected"`` or a thermal solver.

    Notes
    -----
    The naive mean-field (variational) free energy of the magnetisations, with
    :math:`b = h + xW`,

    .. math::

        F(θ, x, m) = −\\sum_e J_e m_i m_j − \\sum_i b_i m_i
          + T \\sum_i \\Big[\\frac{1 + m_i}{2}\\log\\frac{1 + m_i}{2}
                            + \\frac{1 − m_i}{2}\\log\\frac{1 − m_i}{2}\\Big],

    is the energy of a deterministic equilibrium system whose stationary points are the
    self-consistent magnetisations :math:`m = \\tanh((Jm + b)/T)`. The state is ``s = m``; the
    outputs are group means ``P m``; the local measurements are ``∂F/∂J_e = −m_i m_j``,
    ``∂F/∂h_i = −m_i``, ``∂F/∂W_li = −x_l m_i`` (the mean-field factorisation of the thermal
    correlations). A soft nudge adds ``β C(P m, y)`` to ``F``, as in deterministic EP; the EP
    identity then holds exactly for ``L = C(P m⁰, y)`` and the reference is implicit
    differentiation, ``dL/dθ = −λ · ∂²F/∂θ∂m`` with ``(−J + T diag(1/(1 − m²))) λ = Pᵀ ∂C/∂o``
    (:meth:`exact_gradient`). A clamp holds every copy of an output at a value in the open interval
    (−1, 1); ``±1`` is where the entropy's slope diverges.

    Only ``objective="mean"`` exists here: the magnetisations are deterministic, there is no
    per-configuration cost. :meth:`thermal_reference` gives the exact thermal derivative of the
    same parameters (by enumeration), to measure the mean-field error itself.

    The relaxation is damped Newton (:func:`physlearn.systems.solvers.damped_newton`) on the
    self-consistency equations written in the local fields ``u = artanh m`` (well conditioned
    even when spins saturate beyond round-off, where ``∂F/∂m`` is not), started from a few
    damped fixed-point iterations ``m ← tanh((Jm + b)/T)`` (or from ``start``); the result is
    checked to be a minimum (``T − D^½ J D^½`` positive definite, ``D = 1 − m²``). Below the
    mean-field critical temperature (``T < λ_max(J)`` for uniform couplings) ``F`` has several
    minima; the relaxation finds the one reached from its start and refuses saddles.

    References
    ----------
    .. [1] C. Peterson, J. R. Anderson, "A mean field theory learning algorithm for neural
       networks", Complex Systems 1, 995 (1987).
    .. [2] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    """

    _solver_kind = "equilibrium"
    exact_gradient = EquilibriumSystem.exact_gradient

    def __init__(self, n_spins: int, edges: Sequence[tuple[int, int]],
                 output_spins: Sequence[int | Sequence[int]], *,
                 input_spins: Sequence[int] | None = None, n_features: int = 1,
                 temperature: float = 1.0, solver: str = "mean-field", objective: str = "mean",
                 coupling_range: float = 1.0, field_range: float = 1.0,
                 init_scale: float = 0.5, sweeps: int = 1000, burn_in: int = 100,
                 chains: int = 16, update: str = "heat-bath", tol: float = 1e-12,
                 max_iter: int = 100, seed: int | np.random.Generator | None = 0):
        super().__init__(n_spins, edges, output_spins, input_spins=input_spins,
                         n_features=n_features, temperature=temperature, solver=solver,
                         objective=objective, coupling_range=coupling_range,
                         field_range=field_range, init_scale=init_scale, sweeps=sweeps,
                         burn_in=burn_in, chains=chains, update=update, tol=tol,
                         max_iter=max_iter, seed=seed)

    # -- free energy --------------------------------------------------------------------------
    def _free_energy(self, m, b):
        T = self.temperature
        with np.errstate(invalid="ignore", divide="ignore"):
            up, down = 0.5 * (1 + m), 0.5 * (1 - m)
            entropy_term = np.sum(xlogy(up, up) + xlogy(down, down), axis=-1)
        return (-0.5 * np.einsum("bi,ij,bj->b", m, self.coupling_matrix(), m)
                - np.sum(b * m, axis=-1) + T * entropy_term)

    def _free_energy_gradient(self, m, b):
        with np.errstate(invalid="ignore", divide="ignore"):
            return -m @ self.coupling_matrix() - b + self.temperature * np.arctanh(m)

    # -- relaxation ---------------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """Relax ``F(m) + βC(Pm, y)`` (or clamp the outputs) to a minimum.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        nudge : physlearn.Nudge or physlearn.Clamp, optional
            Clamp values must lie in (−1, 1).
        start : IsingState, optional
            Warm start (a state of the same inputs).

        Returns
        -------
        IsingState
            ``s = m``; ``correlations`` are the products ``m_i m_j`` on the edges.

        Raises
        ------
        physlearn.ConvergenceError
            If Newton's method does not reach ``tol`` in ``max_iter`` steps, or ends on a saddle.
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        b = self.fields(x)
        B, n = len(x), self.n_spins
        m = self._initial(x, b, start)
        free = np.arange(n)
        if isinstance(nudge, Clamp):
            values = self._mean_field_clamp(nudge, B)
            m[:, self.output_index] = values
            free = np.setdiff1d(free, self.output_index)
        beta, cost, y = 0.0, None, None
        if isinstance(nudge, Nudge):
            beta, cost = float(np.real(nudge.beta)), nudge.cost
            y = self.check_targets(nudge.target, B)
        if len(free):
            m = self._relax(m, b, free, beta, cost, y)
        return self._state(m, x, nudge, b)

    def _relax(self, m, b, free, beta, cost, y):
        """Newton on the self-consistency ``T u = J m + b − β Pᵀ∂C/∂o`` with ``m = tanh u``.

        Written in the local fields ``u = artanh m`` the equations stay well conditioned when
        spins saturate (``1 − m²`` below round-off), where ``∂F/∂m`` itself is not.
        """
        T, Jm, P = self.temperature, self.coupling_matrix(), self._P
        fixed = m.copy()

        def full(u):
            out = fixed.copy()
            out[:, free] = np.tanh(u)
            return out

        def stiffness(mm):
            A = np.broadcast_to(Jm, (len(mm),) + Jm.shape)
            if cost is not None:
                A = A - beta * np.einsum("ki,bkl,lj->bij", P, cost.hessian(mm @ P.T, y), P)
            return A

        def residual(u):
            mm = full(u)
            drive = mm @ Jm + b
            if cost is not None:
                drive = drive - beta * cost.gradient(mm @ P.T, y) @ P
            return T * u - drive[:, free]

        def newton_step(u, r):
            mm = full(u)
            A = stiffness(mm)[:, free][:, :, free]
            jac = T * np.eye(len(free)) - A * (1.0 - mm[:, None, free] ** 2)
            return np.linalg.solve(jac, r[..., None])[..., 0], np.ones(len(r), bool)

        with np.errstate(divide="ignore"):
            u0 = np.arctanh(np.clip(m[:, free], -1 + 1e-15, 1 - 1e-15))
        # round-off of T u and of the drive (which carries β ∂C/∂o) sets a floor under tol
        with np.errstate(all="ignore"):
            size = max(float(np.max(np.abs(T * u0), initial=0.0)),
                       float(np.max(np.abs(residual(u0) - T * u0), initial=0.0)))
        tol = max(float(self.tol), 64 * np.finfo(float).eps * size) if np.isfinite(size) \
            else self.tol
        nudged = f" (beta={beta:g})" if cost is not None else ""
        u = damped_newton(u0, None, residual, newton_step, tol=tol, max_iter=self.max_iter,
                          what=f"{type(self).__name__} relaxation{nudged}")
        m = full(u)
        # a minimum of F + βC: T − D^½ A D^½ positive definite (D = 1 − m², free block)
        root = np.sqrt(1.0 - m[:, free] ** 2)
        K = T * np.eye(len(free)) - root[:, :, None] * stiffness(m)[:, free][:, :, free] \
            * root[:, None, :]
        lowest = np.linalg.eigvalsh(K)[:, 0]
        if np.any(lowest <= 0):
            bad = np.flatnonzero(lowest <= 0)[:5].tolist()
            raise ConvergenceError(
                f"{type(self).__name__} relaxation{nudged}: samples {bad} reached a stationary "
                "point of the mean-field free energy that is not a minimum (a saddle; the "
                f"nudged Hessian T - D^1/2 A D^1/2 has lowest eigenvalue {np.min(lowest):.3e}); "
                "start elsewhere, or reduce |beta| if the nudge is negative")
        return m

    def _state(self, m, x, nudge, b):
        i, j = self._edges.T
        return IsingState(s=m, x=x, nudge=nudge, correlations=m[:, i] * m[:, j], field=b,
                          temperature=self.temperature)

    def _initial(self, x, b, start):
        if (isinstance(start, IsingState) and start.s.shape == (len(x), self.n_spins)
                and np.array_equal(start.x, x)):
            return np.real(start.s).copy()
        T, Jm = self.temperature, self.coupling_matrix()
        m = np.tanh(b / T)
        for _ in range(30):                      # damped fixed point: a start near a minimum
            m = 0.5 * m + 0.5 * np.tanh((m @ Jm + b) / T)
        return m

    def _mean_field_clamp(self, nudge, batch):
        values = np.asarray(nudge.values)
        if values.shape != (batch, self.n_outputs):
            raise ValueError(f"clamp values have shape {values.shape}, expected "
                             f"({batch}, {self.n_outputs})")
        values = np.asarray(values, dtype=float)
        bad = ~(np.abs(values) < 1)
        if np.any(bad):
            k = tuple(int(v) for v in np.argwhere(bad)[0])
            raise ValueError(f"clamp value {values[k]!r} at {k} is not in (-1, 1): mean-field "
                             "magnetisations can only be clamped strictly inside (-1, 1)")
        return np.concatenate([np.repeat(values[:, [k]], len(g), axis=1)
                               for k, g in enumerate(self._groups)], axis=1)

    # -- the seam -----------------------------------------------------------------------------
    def param_gradient(self, state):
        """``∂F/∂θ`` at ``m``: ``−m_i m_j`` (J), ``−m_i`` (h), ``−x_l m_i`` (W)."""
        m = state.s
        i, j = self._edges.T
        out = {"J": -m[:, i] * m[:, j], "h": -m}
        if self.n_features:
            out["W"] = -state.x[:, :, None] * m[:, None, self._inputs]
        return out

    def energy(self, state):
        """The mean-field free energy ``F(θ, x, m)`` per sample (no nudge)."""
        return self._free_energy(state.s, self.fields(state.x))

    def energy_gradient(self, state):
        """``∂F/∂m = −J m − b + T artanh(m)``."""
        return self._free_energy_gradient(state.s, self.fields(state.x))

    def output_vjp(self, state, g_out):
        return g_out @ self._P

    def adjoint(self, state, rhs):
        """Solve ``(−J + T diag(1/(1 − m²))) λ = rhs`` per sample.

        Solved as ``λ = D^½ (T − D^½ J D^½)⁻¹ D^½ rhs`` with ``D = diag(1 − m²)``, which stays
        finite for saturated spins (they do not respond: ``λ_i = 0``).
        """
        m = np.real(state.s)
        root = np.sqrt(np.maximum(1.0 - m * m, 0.0))
        K = self.temperature * np.eye(self.n_spins) \
            - root[:, :, None] * self.coupling_matrix() * root[:, None, :]
        return root * np.linalg.solve(K, (root * rhs)[..., None])[..., 0]

    def mixed_vjp(self, state, lam):
        m = state.s
        i, j = self._edges.T
        out = {"J": -(lam[:, i] * m[:, j] + m[:, i] * lam[:, j]), "h": -lam}
        if self.n_features:
            out["W"] = -state.x[:, :, None] * lam[:, None, self._inputs]
        return out

    def thermal_reference(self, x, y, cost=None):
        """The exact *thermal* ``dC(⟨σ̄⟩)/dθ`` of the same parameters, by enumeration.

        Measures the mean-field approximation itself (not an EP bias).
        """
        from physlearn.costs import make_cost

        cost = make_cost(cost)
        x = self.check_inputs(x)
        return IsingModel.exact_gradient(self, x, self.check_targets(y, len(x)), cost)

    def thermal_magnetisations(self, x):
        """Exact thermal ``⟨σ_i⟩`` of the same parameters (enumeration), (batch, n_spins)."""
        x = self.check_inputs(x)
        return self._exact_distribution(x) @ self._configs()


class MeanFieldSolver:
    """``solver="mean-field"``: selects :class:`MeanFieldIsing` (an equilibrium system)."""

    kind = "equilibrium"
    model_class = MeanFieldIsing
    capabilities = frozenset({"soft_nudge", "clamp"})

    @staticmethod
    def check_settings(model):
        if model.objective != "mean":
            raise ValueError(f"objective={model.objective!r} is not available with "
                             "solver='mean-field' (deterministic magnetisations have no "
                             "per-configuration cost); use objective='mean'")
        if not (np.isfinite(model.tol) and model.tol > 0):
            raise ValueError(f"tol={model.tol!r} must be a finite positive number")
        if isinstance(model.max_iter, bool) or not isinstance(model.max_iter, int) \
                or model.max_iter < 1:
            raise ValueError(f"max_iter={model.max_iter!r} must be a positive integer")


register_solver("mean-field", MeanFieldSolver)
