"""Leapfrog integration of separable Hamiltonians, its time-reversed echo and its adjoint (BPTT).

One *block* of a trajectory system is a separable Hamiltonian ``H = T(p; θ) + V(q, u; θ)``
driven by an input sequence ``u_0 … u_{K−1}``. This module holds the numerics shared by every
such block:

* :func:`forward` — the free run ``S_{j+1} = M(S_j, u_j)`` with the drift–kick–drift map
  ``M = D_{δ/2} ∘ K_δ ∘ D_{δ/2}`` (position Verlet);
* :func:`echo` — RHEL's echo: flip the momenta of ``S_K``, replay the inputs backwards, nudge
  the momenta with the loss gradient, and integrate the local measurement ``∂H/∂θ`` read at the
  half step (Pourcel & Ernoult 2025, Alg. 1 / Cor. A.8);
* :func:`backward` — backpropagation through time of the same discrete map, the exact
  reference.

Conventions: ``q`` positions, ``p`` momenta, arrays of shape ``(..., n_dof)``; inputs
``(batch, K, n_inputs)``. Loss cotangents are position gradients ``g_k = ∂L/∂q_k`` of the
state after step ``k`` (``k = 1 … K``); losses must be time-reversal invariant, so they never
depend on momenta. Dimensionless units: time in units of the inverse oscillator frequency
scale, energies in units of the input scale squared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physlearn.abstract import not_implemented

KICKS = ("half-step", "start")


class UnstableStepError(ValueError):
    """The leapfrog's time step is beyond the stability bound of the current parameters, or
    the trajectory became non-finite."""


@dataclass(frozen=True)
class Leapfrog:
    """Drift–kick–drift integrator settings.

    Parameters
    ----------
    dt : float
        Time step δ > 0.
    damping : float, default 0
        Friction rate γ ≥ 0: the kick multiplies the momentum by ``exp(−γδ)``. Any γ > 0 breaks
        time-reversal invariance (a negative control for echo learning).
    kick : {"half-step", "start"}, default "half-step"
        Where the force is evaluated: at the drifted half-step position (leapfrog, symplectic
        and reversible), or at the start of the step (the public LinOSS-style code's choice;
        not symplectic, a negative control).
    """

    dt: float
    damping: float = 0.0
    kick: str = "half-step"

    def __post_init__(self):
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt={self.dt!r} must be a finite positive time step")
        if not (np.isfinite(self.damping) and self.damping >= 0):
            raise ValueError(f"damping={self.damping!r} must be a finite rate >= 0")
        if self.kick not in KICKS:
            raise ValueError(f"kick={self.kick!r} is not one of {list(KICKS)}")

    @property
    def reversible(self):
        """True when an echo retraces the free run (no friction, symplectic kick)."""
        return self.damping == 0 and self.kick == "half-step"

    @property
    def decay(self):
        return float(np.exp(-self.damping * self.dt))


class SeparableHamiltonian:
    """Physics of one block: ``H = T(p; θ) + V(q, u; θ)``, time-reversal invariant.

    Subclasses give the energies and their derivatives, batched over leading axes (every array
    argument has shape ``(..., n)`` and broadcasts against the others). Parameter dicts use the
    block's local names (see :meth:`param_shapes`); derivative dicts hold only the parameters
    the term depends on. ``kinetic_params`` names the parameters that appear in ``T``.
    ``linear`` says the equations of motion are linear in ``(q, p, u)`` for fixed θ (``T``
    and ``V`` quadratic, the input entering linearly).
    """

    n_dof: int
    n_inputs: int
    kinetic_params = frozenset()
    linear = False

    def param_shapes(self):
        raise not_implemented(self, "param_shapes", "a dict name → shape of the block's parameters")

    # -- energies ---------------------------------------------------------------------------
    def kinetic(self, params, p):
        """T per sample, shape (...)."""
        return 0.5 * np.sum(p * p, axis=-1)

    def potential(self, params, q, u):
        """V per sample, shape (...)."""
        raise not_implemented(self, "potential", "V(q, u) per sample, shape (...)")

    def energy(self, params, q, p, u):
        return self.kinetic(params, p) + self.potential(params, q, u)

    # -- first derivatives: the dynamics and the local measurements -------------------------
    def kinetic_grad(self, params, p):
        """∇_p T (the velocity); unit masses by default."""
        return p

    def potential_grad(self, params, q, u):
        """∇_q V (minus the force)."""
        raise not_implemented(self, "potential_grad", "∇_q V, shape like q")

    def kinetic_param_grad(self, params, p):
        """∂T/∂θ per sample: dict name → ``(..., *shape)``."""
        return {}

    def potential_param_grad(self, params, q, u):
        """∂V/∂θ per sample: dict name → ``(..., *shape)``."""
        raise not_implemented(self, "potential_param_grad",
                              "∂V/∂θ per sample: dict name → array of shape (..., *shape)")

    def potential_input_grad(self, params, q, u):
        """∂V/∂u, shape (..., n_inputs)."""
        raise not_implemented(self, "potential_input_grad", "∂V/∂u, shape (..., n_inputs)")

    def max_frequency(self, params):
        """Largest angular frequency ω_max of the linearised dynamics (√ of the largest
        eigenvalue of ``M⁻¹ ∇²V``, its upper bound over states for a nonlinear ``V``), or None
        when unknown. The leapfrog is stable only for ``dt·ω_max < 2``."""
        return None

    def kick_terms(self, params, q, u, want_params=True, want_inputs=False):
        """``(∇_q V, ∂V/∂θ or None, ∂V/∂u or None)`` at one point (override to share work)."""
        force = self.potential_grad(params, q, u)
        dtheta = self.potential_param_grad(params, q, u) if want_params else None
        du = self.potential_input_grad(params, q, u) if want_inputs else None
        return force, dtheta, du

    # -- second derivatives (BPTT only) -----------------------------------------------------
    def kinetic_hvp(self, params, p, v):
        """∇²_p T · v."""
        return v

    def kinetic_param_vjp(self, params, p, v):
        """``Σ_i v_i ∂²T/∂θ∂p_i``: dict name → ``(..., *shape)``."""
        return {}

    def potential_hvp(self, params, q, u, v):
        """∇²_q V · v."""
        raise not_implemented(self, "potential_hvp", "∇²_q V · v, shape like q")

    def potential_param_vjp(self, params, q, u, v):
        """``Σ_i v_i ∂²V/∂θ∂q_i``: dict name → ``(..., *shape)``."""
        raise not_implemented(self, "potential_param_vjp",
                              "Σ_i v_i ∂²V/∂θ∂q_i: dict name → array of shape (..., *shape)")

    def potential_input_vjp(self, params, q, u, v):
        """Σ_i v_i ∂²V/∂u∂q_i, shape (..., n_inputs)."""
        raise not_implemented(self, "potential_input_vjp",
                              "Σ_i v_i ∂²V/∂u∂q_i, shape (..., n_inputs)")


class Cotangents:
    """Loss gradients ``g_k = ∂L/∂q_k`` on the states ``k = 1 … K`` of one block.

    Built from a final-time gradient only (``final``, shape (batch, n)), a dense sequence
    (``dense``, shape (batch, K, n), entry ``k−1`` for state ``k``), or a function
    ``fn(k) -> (batch, n)`` (e.g. a readout pulled back lazily).
    """

    def __init__(self, n_steps, final=None, dense=None, fn=None):
        self.n_steps = n_steps
        self.final = final
        self.dense = dense
        self.fn = fn
        if dense is not None and dense.shape[1] != n_steps:
            raise ValueError(f"cotangent sequence has {dense.shape[1]} steps, expected {n_steps}")

    def at(self, k):
        """``g_k`` or None when the loss does not touch state ``k``."""
        if k < 1:
            return None
        if self.dense is not None:
            return self.dense[:, k - 1]
        if self.fn is not None:
            return self.fn(k)
        return self.final if k == self.n_steps else None


def _add(acc, terms, scale=1.0):
    for name, value in terms.items():
        acc[name] = acc[name] + scale * value if name in acc else scale * value
    return acc


@dataclass
class Flow:
    """Result of a free run: final state, optional stored trajectory and measurements."""

    q: np.ndarray
    p: np.ndarray
    qs: np.ndarray = None      # (batch, K+1, n) when stored
    ps: np.ndarray = None
    measure: dict = None       # ∫ ∂H/∂θ dt along the run (half-step read-out), per sample
    measure_inputs: np.ndarray = None  # δ ∂V/∂u_j, (batch, K, n_inputs)


def check_stability(unit, params, scheme):
    """Raise :class:`UnstableStepError` unless ``|dt|·ω_max < 2`` for the current parameters
    (nothing is checked when the unit does not know its ``ω_max``)."""
    omega = unit.max_frequency(params)
    if omega is None:
        return
    omega, dt = float(omega), abs(float(scheme.dt))
    if not dt * omega < 2.0:
        raise UnstableStepError(
            f"dt={scheme.dt} is beyond the leapfrog's stability bound for the current "
            f"parameters: dt·ω_max = {dt * omega:.4g} must be < 2, where ω_max = {omega:.4g} is "
            f"the largest linear frequency of {type(unit).__name__}; the trajectory would "
            f"diverge. Use dt < {2.0 / omega:.4g} (or softer parameters)")


def forward(unit, params, q0, p0, inputs, scheme, **options):
    """Free run ``S_{j+1} = M(S_j, u_j)`` for ``j = 0 … K−1``.

    Checks first that ``dt`` is within the stability bound of the current parameters
    (:func:`check_stability`), and afterwards that the state stayed finite; either failure
    raises :class:`UnstableStepError` naming ``dt``. Keyword options as for :func:`integrate`.
    """
    check_stability(unit, params, scheme)
    with np.errstate(over="ignore", invalid="ignore"):
        flow = integrate(unit, params, q0, p0, inputs, scheme, **options)
    if not (np.all(np.isfinite(flow.q)) and np.all(np.isfinite(flow.p))):
        where = ""
        if flow.qs is not None:
            ok = np.all(np.isfinite(flow.qs), axis=(0, 2)) & np.all(np.isfinite(flow.ps),
                                                                    axis=(0, 2))
            where = f" at step {int(np.argmin(ok))} of {len(ok) - 1}"
        raise UnstableStepError(
            f"the leapfrog trajectory of {type(unit).__name__} became non-finite{where} with "
            f"dt={scheme.dt}: the time step is too large for the current parameters (or the "
            "dynamics are unbounded); use a smaller dt or softer parameters")
    return flow


def integrate(unit, params, q0, p0, inputs, scheme, *, visit=None, store=False, measure=False,
              measure_inputs=False):
    """Free run ``S_{j+1} = M(S_j, u_j)`` for ``j = 0 … K−1``, unchecked (see :func:`forward`).

    Parameters
    ----------
    unit : SeparableHamiltonian
    params : dict
        The block's parameters (local names).
    q0, p0 : ndarray, shape (batch, n)
        Initial state.
    inputs : ndarray, shape (batch, K, n_inputs)
    scheme : Leapfrog
    visit : callable, optional
        ``visit(k, q, p)`` after each step ``k = 1 … K`` (read-outs, recording).
    store : bool
        Keep the whole trajectory (for BPTT); memory ``O(K)``.
    measure, measure_inputs : bool
        Integrate the half-step read-outs ``δ ∂H/∂θ`` (and record ``δ ∂V/∂u_j``) along the free
        run: the ``ε = 0`` measurement of the one-sided echo estimate.
    """
    h, dt, decay = scheme.dt / 2, scheme.dt, scheme.decay
    batch, n_steps = inputs.shape[:2]
    q, p = np.array(q0, dtype=float), np.array(p0, dtype=float)
    flow = Flow(q, p)
    if store:
        flow.qs = np.empty((batch, n_steps + 1, q.shape[-1]))
        flow.ps = np.empty_like(flow.qs)
        flow.qs[:, 0], flow.ps[:, 0] = q, p
    acc = {} if measure else None
    acc_u = np.empty((batch, n_steps, unit.n_inputs)) if measure_inputs else None
    for j in range(n_steps):
        u = inputs[:, j]
        a = q + h * unit.kinetic_grad(params, p)
        at = a if scheme.kick == "half-step" else q
        force, dv, du = unit.kick_terms(params, at, u, want_params=measure,
                                        want_inputs=measure_inputs)
        p_new = decay * p - dt * force
        if measure:
            _add(acc, dv, dt)
            _add(acc, unit.kinetic_param_grad(params, p), h)
            _add(acc, unit.kinetic_param_grad(params, p_new), h)
        if measure_inputs:
            acc_u[:, j] = dt * du
        q, p = a + h * unit.kinetic_grad(params, p_new), p_new
        if store:
            flow.qs[:, j + 1], flow.ps[:, j + 1] = q, p
        if visit is not None:
            visit(j + 1, q, p)
    flow.q, flow.p, flow.measure, flow.measure_inputs = q, p, acc, acc_u
    return flow


@dataclass
class Echo:
    """What an echo reports, stacked over the nudges ``eps`` (leading axis S).

    Attributes
    ----------
    measure : dict
        ``∫ ∂H/∂θ dt`` along each echo, read at the half steps: name → ``(S, batch, *shape)``.
    measure_inputs : ndarray or None
        ``δ ∂V/∂u_j`` for the input ``u_j`` replayed at echo step ``K−1−j``: (S, batch, K, n_in).
    q, p : ndarray, shape (S, batch, n)
        Final echo state (≈ the flipped initial state plus ε times the initial-state gradient).
    states : ndarray or None
        With ``record``: (S, batch, K+1, 2n), entry ``k`` the echo state that mirrors ``S_k``
        (after its nudge), as (q, p).
    steps : list or None
        With ``record``: per forward step ``j``, the dict of ``δ ∂H_{1/2}/∂θ`` read at the echo
        step that replays ``u_j``.
    """

    measure: dict
    measure_inputs: np.ndarray
    q: np.ndarray
    p: np.ndarray
    states: np.ndarray = None
    steps: list = None


def echo(unit, params, q_final, p_final, inputs, scheme, eps, cotangents, *,
         want_inputs=False, record=False):
    """RHEL echo(es) from the end of a free run, for every nudge in ``eps`` at once.

    The echo starts at the flipped final state ``(q_K, −p_K)`` nudged by ``ε g_K``, replays
    the inputs backwards and after the step that mirrors state ``k`` adds ``ε g_k`` to the
    momenta (the explicit nudge of Cor. A.8). During each step it reads
    ``∂H_{1/2}/∂θ = ∂V/∂θ(a) + ½(∂T/∂θ(p) + ∂T/∂θ(p'))`` at the half-step position ``a`` and
    the momenta before and after the kick (Eq. 14).

    Parameters
    ----------
    eps : array_like, shape (S,)
        Nudge strengths, run as one batch of size ``S × batch``.
    cotangents : Cotangents
        Loss gradients ``∂L/∂q_k`` of the free run.

    Returns
    -------
    Echo
    """
    h, dt, decay = scheme.dt / 2, scheme.dt, scheme.decay
    eps = np.asarray(eps, dtype=float).reshape(-1, 1, 1)
    batch, n_steps = inputs.shape[:2]
    q = np.broadcast_to(q_final, (eps.shape[0],) + q_final.shape).copy()
    p = np.broadcast_to(-p_final, q.shape).copy()
    g = cotangents.at(n_steps)
    if g is not None:
        p += eps * g
    acc = {}
    acc_u = np.empty((eps.shape[0], batch, n_steps, unit.n_inputs)) if want_inputs else None
    states = np.empty((eps.shape[0], batch, n_steps + 1, 2 * q.shape[-1])) if record else None
    steps = [None] * n_steps if record else None
    if record:
        states[:, :, n_steps] = np.concatenate([q, p], axis=-1)
    for m in range(n_steps):
        j = n_steps - 1 - m
        u = inputs[:, j]
        a = q + h * unit.kinetic_grad(params, p)
        at = a if scheme.kick == "half-step" else q
        force, dv, du = unit.kick_terms(params, at, u, want_params=True, want_inputs=want_inputs)
        p_new = decay * p - dt * force
        step = _add(_add({}, dv, dt), unit.kinetic_param_grad(params, p), h)
        _add(step, unit.kinetic_param_grad(params, p_new), h)
        _add(acc, step)
        if want_inputs:
            acc_u[:, :, j] = dt * du
        q, p = a + h * unit.kinetic_grad(params, p_new), p_new
        g = cotangents.at(j)
        if g is not None:
            p = p + eps * g
        if record:
            steps[j] = step
            states[:, :, j] = np.concatenate([q, p], axis=-1)
    return Echo(acc, acc_u, q, p, states, steps)


@dataclass
class Adjoint:
    """BPTT result for one block (per sample).

    Attributes
    ----------
    params : dict
        ``dL/dθ`` per sample: name → ``(batch, *shape)``.
    inputs : ndarray or None
        ``dL/du_j``, (batch, K, n_inputs).
    q, p : ndarray
        ``dL/dq_0``, ``dL/dp_0``: the initial-state gradient.
    adjoints : ndarray or None
        With ``record``: ``λ_k = dL/dS_k`` (batch, K+1, 2n) as (λ_q, λ_p).
    steps : list or None
        With ``record``: per step ``j``, ``λ_{j+1}ᵀ ∂M/∂θ`` (dict, per sample).
    """

    params: dict
    inputs: np.ndarray
    q: np.ndarray
    p: np.ndarray
    adjoints: np.ndarray = None
    steps: list = None


def backward(unit, params, flow, inputs, scheme, cotangents, *, want_inputs=False, record=False):
    """Backpropagation through time of the stored free run ``flow`` (from :func:`forward`).

    Reverse-mode differentiation of each drift–kick–drift step, exact for the discrete map
    (the reference RHEL is checked against). Memory ``O(K)`` for the stored trajectory.
    """
    h, dt, decay = scheme.dt / 2, scheme.dt, scheme.decay
    batch, n_steps = inputs.shape[:2]
    n = flow.qs.shape[-1]
    lq = np.zeros((batch, n))
    lp = np.zeros((batch, n))
    g = cotangents.at(n_steps)
    if g is not None:
        lq = lq + g
    grads = {}
    grads_u = np.empty((batch, n_steps, unit.n_inputs)) if want_inputs else None
    adjoints = np.empty((batch, n_steps + 1, 2 * n)) if record else None
    steps = [None] * n_steps if record else None
    if record:
        adjoints[:, n_steps] = np.concatenate([lq, lp], axis=-1)
    for j in range(n_steps - 1, -1, -1):
        q, p, u = flow.qs[:, j], flow.ps[:, j], inputs[:, j]
        a = q + h * unit.kinetic_grad(params, p)
        at = a if scheme.kick == "half-step" else q
        p_new = decay * p - dt * unit.potential_grad(params, at, u)
        step = {}
        # q' = a + h ∇T(p')
        la = lq
        lp_new = lp + h * unit.kinetic_hvp(params, p_new, lq)
        _add(step, unit.kinetic_param_vjp(params, p_new, lq), h)
        # p' = e^{−γδ} p − δ ∇V(at, u)
        hv = unit.potential_hvp(params, at, u, lp_new)
        _add(step, unit.potential_param_vjp(params, at, u, lp_new), -dt)
        if want_inputs:
            grads_u[:, j] = -dt * unit.potential_input_vjp(params, at, u, lp_new)
        lp_prev = decay * lp_new
        if scheme.kick == "half-step":
            la = la - dt * hv
            lq_prev = la
        else:
            lq_prev = la - dt * hv
        # a = q + h ∇T(p)
        lp_prev = lp_prev + h * unit.kinetic_hvp(params, p, la)
        _add(step, unit.kinetic_param_vjp(params, p, la), h)
        _add(grads, step)
        lq, lp = lq_prev, lp_prev
        g = cotangents.at(j)
        if g is not None:
            lq = lq + g
        if record:
            steps[j] = step
            adjoints[:, j] = np.concatenate([lq, lp], axis=-1)
    shapes = unit.param_shapes()
    for name, shape in shapes.items():
        if name not in grads:
            grads[name] = np.zeros((batch,) + tuple(shape))
    return Adjoint(grads, grads_u, lq, lp, adjoints, steps)


def zero_measure(unit, lead):
    """Zero arrays for every parameter of ``unit``, with leading shape ``lead``."""
    return {name: np.zeros(tuple(lead) + tuple(shape))
            for name, shape in unit.param_shapes().items()}
