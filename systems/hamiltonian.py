"""A generic Hamiltonian trajectory system built from user-supplied kinetic and potential terms.

The user writes the energies as plain numpy functions; every derivative the echo and BPTT need
is then computed numerically:

* first derivatives (the force, the local measurements ``∂H/∂θ``, ``∂V/∂u``) by the complex
  step ``∂f/∂x_i = Im f(x + i h e_i) / h``, exact to round-off for analytic code;
* second derivatives (only for the BPTT reference) by central differences of those, accurate to
  about ``1e-9`` relative.

So the functions must be analytic numpy code (``+ − × /``, powers, ``exp``, ``tanh``, ``cos`` …;
no ``abs``, ``max`` or comparisons), accept complex arrays, and broadcast over leading axes:
``kinetic(p, params) -> (...)`` with ``p`` of shape ``(..., n_dof)`` and
``potential(q, u, params) -> (...)`` with ``u`` of shape ``(..., n_features)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from physlearn.registry import import_target

from .leapfrog import SeparableHamiltonian
from .trajectory import TrajectorySystem, check_count

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

_H = 1e-30  # complex step: no subtractive cancellation, so any tiny step is exact


def complex_step_grad(f, x):
    """∂f/∂x along the last axis of ``x`` by the complex step; ``f`` maps (..., n) → (...)."""
    n = x.shape[-1]
    basis = np.eye(n).reshape((n,) + (1,) * (x.ndim - 1) + (n,))
    values = f(x[None] + 1j * _H * basis)
    return np.moveaxis(np.imag(values) / _H, 0, -1)


def complex_step_param_grad(f, params, names):
    """∂f/∂θ for every entry of the parameters ``names``; ``f(params) -> (...)``."""
    out = {}
    for name in names:
        value = np.asarray(params[name], dtype=float)
        grads = []
        for i in np.ndindex(value.shape):
            trial = dict(params)
            bumped = value.astype(complex)
            bumped[i] += 1j * _H
            trial[name] = bumped
            grads.append(np.imag(f(trial)) / _H)
        out[name] = np.stack(grads, axis=-1).reshape(grads[0].shape + value.shape) if grads else 0
    return out


def _directional(fn, x, v, rel_step):
    """Central difference of ``fn`` along ``v`` at ``x`` (per-sample step)."""
    scale = np.maximum(1.0, np.max(np.abs(x), axis=-1, keepdims=True))
    vmax = np.max(np.abs(v), axis=-1, keepdims=True)
    tau = rel_step * scale / np.where(vmax > 0, vmax, 1.0)
    plus, minus = fn(x + tau * v), fn(x - tau * v)
    if isinstance(plus, dict):
        return {k: _div(plus[k] - minus[k], 2 * tau, plus[k].ndim - x.ndim + 1)
                for k in plus}
    return (plus - minus) / (2 * tau)


def _div(diff, tau, extra):
    tau = tau[..., 0]
    return diff / tau.reshape(tau.shape + (1,) * (diff.ndim - tau.ndim))


class UserTerms(SeparableHamiltonian):
    """A separable Hamiltonian from energy functions, differentiated numerically."""

    def __init__(self, kinetic, potential, n_dof, n_inputs, shapes, hvp_step=1e-5):
        self.kinetic_fn, self.potential_fn = kinetic, potential
        self.n_dof, self.n_inputs = n_dof, n_inputs
        self.shapes = shapes
        self.hvp_step = hvp_step
        self.kinetic_params = frozenset(shapes)

    def param_shapes(self):
        return dict(self.shapes)

    def kinetic(self, params, p):
        return self.kinetic_fn(p, params)

    def potential(self, params, q, u):
        return self.potential_fn(q, u, params)

    def kinetic_grad(self, params, p):
        return complex_step_grad(lambda z: self.kinetic_fn(z, params), p)

    def potential_grad(self, params, q, u):
        return complex_step_grad(lambda z: self.potential_fn(z, u, params), q)

    def kinetic_param_grad(self, params, p):
        return complex_step_param_grad(lambda th: self.kinetic_fn(p, th), params, self.shapes)

    def potential_param_grad(self, params, q, u):
        return complex_step_param_grad(lambda th: self.potential_fn(q, u, th), params, self.shapes)

    def potential_input_grad(self, params, q, u):
        u = np.broadcast_to(u, q.shape[:-1] + u.shape[-1:])
        return complex_step_grad(lambda z: self.potential_fn(q, z, params), u)

    def kinetic_hvp(self, params, p, v):
        return _directional(lambda z: self.kinetic_grad(params, z), p, v, self.hvp_step)

    def potential_hvp(self, params, q, u, v):
        return _directional(lambda z: self.potential_grad(params, z, u), q, v, self.hvp_step)

    def kinetic_param_vjp(self, params, p, v):
        return _directional(lambda z: self.kinetic_param_grad(params, z), p, v, self.hvp_step)

    def potential_param_vjp(self, params, q, u, v):
        return _directional(lambda z: self.potential_param_grad(params, z, u), q, v,
                            self.hvp_step)

    def potential_input_vjp(self, params, q, u, v):
        return _directional(lambda z: self.potential_input_grad(params, z, u), q, v,
                            self.hvp_step)


def split_hamiltonian(hamiltonian, n_dof, n_features, params, seed=0, tol=1e-9):
    """``(kinetic, potential)`` from a full ``H(q, p, u, params)``, after checking separability.

    Raises
    ------
    ValueError
        If ``H(q,p,u) − H(q,0,u) − H(0,p,0) + H(0,0,0) ≠ 0`` at random probes (``H`` is not
        ``T(p) + V(q, u)``: leapfrog cannot integrate it explicitly).
    """
    rng = np.random.default_rng(seed)
    q, p = rng.normal(size=(4, n_dof)), rng.normal(size=(4, n_dof))
    u = rng.normal(size=(4, n_features))
    zq, zu = np.zeros_like(q), np.zeros_like(u)
    h = np.real(hamiltonian(q, p, u, params))
    cross = (h - np.real(hamiltonian(q, 0 * p, u, params)) - np.real(hamiltonian(zq, p, zu, params))
             + np.real(hamiltonian(zq, 0 * p, zu, params)))
    worst = float(np.max(np.abs(cross)))
    if worst > tol * (1.0 + float(np.max(np.abs(h)))):
        raise ValueError(
            f"hamiltonian is not separable: H(q,p,u) − H(q,0,u) − H(0,p,0) + H(0,0,0) = "
            f"{worst:.3e} at a random probe, expected 0; the leapfrog (drift–kick–drift) "
            "integrator and its echo need H = T(p) + V(q, u)")

    def kinetic(p, th):
        zero = np.zeros(p.shape[:-1] + (n_dof,))
        return hamiltonian(zero, p, np.zeros(p.shape[:-1] + (n_features,)), th) - hamiltonian(
            zero, 0 * p, np.zeros(p.shape[:-1] + (n_features,)), th)

    def potential(q, u, th):
        return hamiltonian(q, np.zeros(q.shape[:-1] + (n_dof,)), u, th)

    return kinetic, potential


def check_time_reversal(kinetic, n_dof, params, seed=0, tol=1e-9):
    """Raise if ``T(p) ≠ T(−p)`` at random probes (the echo needs an even kinetic term)."""
    p = np.random.default_rng(seed).normal(size=(4, n_dof))
    t_plus, t_minus = np.real(kinetic(p, params)), np.real(kinetic(-p, params))
    worst = float(np.max(np.abs(t_plus - t_minus)))
    if worst > tol * (1.0 + float(np.max(np.abs(t_plus)))):
        raise ValueError(f"kinetic term is not time-reversal invariant: |T(p) − T(−p)| = "
                         f"{worst:.3e} at a random probe, expected 0")


class Hamiltonian(TrajectorySystem):
    """A Hamiltonian trajectory system from user-supplied energy terms.

    Parameters
    ----------
    n_dof : int
        Number of positions (and momenta).
    n_features : int
        Input channels per step (``u`` in the potential).
    initial_params : dict of array_like
        Trainable parameters and their initial values (their shapes are fixed from these).
    kinetic : callable or str, optional
        ``T(p, params) -> (...)``, even in ``p``; or the ``"package.module:function"`` that is
        it (so the system can be written to a config file and rebuilt, e.g. on a Dask worker).
    potential : callable or str, optional
        ``V(q, u, params) -> (...)``.
    hamiltonian : callable or str, optional
        ``H(q, p, u, params)`` instead of the two terms; it is checked to be separable and
        split as ``T(p) = H(0, p, 0) − H(0, 0, 0)``, ``V(q, u) = H(q, 0, u)``.
    readout_dofs : sequence of int, default (0,)
        Positions read as outputs (in the positions' units).
    dt : float, default 0.1
        Leapfrog time step δ > 0 (the time unit of the user's ``H``).
    readout : {"final", "trajectory"}, default "final"
        Read the outputs at the final time or at every step.
    damping : float, default 0
        Friction rate γ ≥ 0 (inverse time units; breaks time reversal, negative controls
        only).
    hvp_step : float, default 1e-5
        Relative step of the central differences used for second derivatives (BPTT only;
        dimensionless).

    Raises
    ------
    ValueError
        If ``n_dof`` or ``n_features`` is not a valid count, a readout index is outside
        ``0..n_dof − 1``, ``readout`` is unknown, ``dt`` or ``damping`` is invalid, both
        ``hamiltonian`` and a term (or neither) are given, ``hamiltonian`` is not separable,
        or the kinetic term is not even in ``p`` (``T(p) ≠ T(−p)``); also if a
        ``"package.module:function"`` name is malformed or cannot be imported.

    Notes
    -----
    The system integrates Hamilton's equations

    .. math::

        \\dot q = ∇_p T(p; θ), \\qquad \\dot p = −∇_q V(q, u(t); θ), \\qquad
        H = T(p; θ) + V(q, u; θ),

    from rest by leapfrog (drift–kick–drift), which is symplectic and, because :math:`T` is
    even in :math:`p`, time-reversal invariant: echo learning applies as to any
    :class:`~physlearn.systems.trajectory.TrajectorySystem`. First derivatives of the user's
    terms (forces, local measurements :math:`∂H/∂θ`) are computed by the complex step
    :math:`∂f/∂x_i = \\operatorname{Im} f(x + ih e_i)/h`, exact to round-off for analytic
    code; second derivatives (BPTT only) by central differences of those. See the module
    docstring for what the functions must support.

    References
    ----------
    .. [1] J. N. Lyness, C. B. Moler, "Numerical differentiation of analytic functions",
       SIAM J. Numer. Anal. 4, 202–210 (1967).
    .. [2] G. Pourcel, M. Ernoult, "Learning long range dependencies through time reversal
       symmetry breaking", NeurIPS 2025, arXiv:2506.05259.

    Examples
    --------
    A driven Duffing oscillator with trainable stiffness and anharmonicity:

    >>> from physlearn.systems.hamiltonian import Hamiltonian
    >>> duffing = Hamiltonian(
    ...     1, 1, {"k": 1.0, "g": 0.1},
    ...     kinetic=lambda p, th: 0.5 * p[..., 0] ** 2,
    ...     potential=lambda q, u, th: (0.5 * th["k"] * q[..., 0] ** 2
    ...                                 + 0.25 * th["g"] * q[..., 0] ** 4 - u[..., 0] * q[..., 0]))
    >>> duffing.predict(np.ones((2, 30, 1))).shape
    (2, 1)
    """

    def __init__(self, n_dof: int, n_features: int, initial_params: Mapping[str, ArrayLike], *,
                 kinetic: Callable | str | None = None, potential: Callable | str | None = None,
                 hamiltonian: Callable | str | None = None, readout_dofs: Sequence[int] = (0,),
                 dt: float = 0.1, readout: str = "final", damping: float = 0.0,
                 hvp_step: float = 1e-5):
        self.n_dof = n_dof
        self.n_features = n_features
        self.initial_params = initial_params
        self.kinetic = kinetic
        self.potential = potential
        self.hamiltonian = hamiltonian
        self.readout_dofs = readout_dofs
        self.dt = dt
        self.readout = readout
        self.damping = damping
        self.kick = "half-step"
        self.hvp_step = hvp_step
        self._check_readout()
        _ = self.scheme
        n_dof, n_features = check_count("n_dof", n_dof, 1), check_count("n_features", n_features)
        dofs = [check_count("readout_dofs entry", i) for i in readout_dofs]
        params = {k: np.asarray(v, dtype=float) for k, v in initial_params.items()}
        # "package.module:function" names keep the system writable to a config file
        kinetic, potential, hamiltonian = (
            None if f is None else import_target(f) for f in (kinetic, potential, hamiltonian))
        if hamiltonian is not None:
            if kinetic is not None or potential is not None:
                raise ValueError("give either hamiltonian= or kinetic= and potential=, not both")
            kinetic, potential = split_hamiltonian(hamiltonian, n_dof, n_features, params)
        elif kinetic is None or potential is None:
            raise ValueError("kinetic= and potential= (or hamiltonian=) are required")
        check_time_reversal(kinetic, n_dof, params)
        for i in dofs:
            if not 0 <= i < n_dof:
                raise ValueError(f"readout_dofs entry {i} is outside 0..{n_dof - 1}")
        self.n_outputs = len(dofs)
        self._unit = UserTerms(kinetic, potential, n_dof, n_features,
                               {k: v.shape for k, v in params.items()}, hvp_step)
        self.params = params

    @classmethod
    def duffing(cls, n_dof=2, n_features=1, *, seed=0, **kwargs):
        """Driven Duffing oscillators in a chain: trainable stiffness, anharmonicity, couplings
        and input weights (the registry's example of a user Hamiltonian).

        ``H = Σ_i [p_i²/2 + k_i q_i²/2 + g_i q_i⁴/4] + Σ_i κ_i (q_{i+1} − q_i)²/2
        − Σ_i (u·w)_i q_i`` in dimensionless units; the last oscillator is read out. Initial
        values are drawn from ``seed``: ``k`` in [0.5, 1.5], ``g`` in [0.05, 0.2], ``κ`` in
        [0.1, 0.5], ``w`` Gaussian of scale 0.5.

        Returns
        -------
        Hamiltonian
        """
        check_count("n_dof", n_dof, 1)
        rng = np.random.default_rng(seed)
        initial = {"k": rng.uniform(0.5, 1.5, n_dof).tolist(),
                   "g": rng.uniform(0.05, 0.2, n_dof).tolist(),
                   "kappa": rng.uniform(0.1, 0.5, n_dof - 1).tolist(),
                   "w": (0.5 * rng.normal(size=(n_features, n_dof))).tolist()}
        kwargs.setdefault("readout_dofs", [n_dof - 1])
        return cls(n_dof, n_features, initial, kinetic=f"{__name__}:duffing_kinetic",
                   potential=f"{__name__}:duffing_potential", **kwargs)

    @property
    def param_shapes(self):
        return self._unit.param_shapes()

    def blocks(self):
        return [(self._unit, "")]


def duffing_kinetic(p, params):
    """``T(p) = Σ p²/2`` (unit masses)."""
    return 0.5 * np.sum(p * p, axis=-1)


def duffing_potential(q, u, params):
    """Duffing chain potential of :meth:`Hamiltonian.duffing`."""
    onsite = 0.5 * params["k"] * q * q + 0.25 * params["g"] * q ** 4
    bonds = 0.5 * params["kappa"] * (q[..., 1:] - q[..., :-1]) ** 2
    drive = np.einsum("...f,fd->...d", u, params["w"]) * q
    return np.sum(onsite - drive, axis=-1) + np.sum(bonds, axis=-1)
