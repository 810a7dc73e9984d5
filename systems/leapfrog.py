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


_PHYSICS = ("kinetic", "potential", "kinetic_grad", "potential_grad", "kinetic_param_grad",
            "potential_param_grad", "potential_input_grad", "kick_terms", "kinetic_hvp",
            "kinetic_param_vjp", "potential_hvp", "potential_param_vjp", "potential_input_vjp",
            "energy", "param_shapes")


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
    #: compiled loops (:class:`~physlearn.systems.leapfrog_kernels.Loops`) for a bank of
    #: unit-mass oscillators driven through ``d = B u``, with ``packed(params)`` giving the
    #: parameter tuple they take; ``None``: the numpy loops of this module
    loops = None

    def __init_subclass__(cls, **kwargs):
        # a subclass that redefines the physics without its own compiled loops must not run
        # the inherited ones (they would integrate the parent's Hamiltonian)
        super().__init_subclass__(**kwargs)
        if "loops" not in cls.__dict__ and any(name in cls.__dict__ for name in _PHYSICS):
            cls.loops = None

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

    Built from a final-time gradient only (``final``, shape (batch, n)) or a dense sequence
    (``dense``, shape (batch, K, n), entry ``k−1`` for state ``k``).
    """

    def __init__(self, n_steps, final=None, dense=None):
        self.n_steps = n_steps
        self.final = final
        self.dense = dense
        if dense is not None and dense.shape[1] != n_steps:
            raise ValueError(f"cotangent sequence has {dense.shape[1]} steps, expected {n_steps}")

    def at(self, k):
        """``g_k`` or None when the loss does not touch state ``k``."""
        if k < 1:
            return None
        if self.dense is not None:
            return self.dense[:, k - 1]
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
    positions: np.ndarray = None       # q_k after step k = 1 … K, (batch, K, n), when kept


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


def integrate(unit, params, q0, p0, inputs, scheme, *, store=False, positions=False,
              measure=False, measure_inputs=False):
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
    store : bool
        Keep the whole trajectory (for BPTT); memory ``O(K)``.
    positions : bool
        Keep the positions after every step (``Flow.positions``, for read-outs and coupled
        blocks); memory ``O(K)``.
    measure, measure_inputs : bool
        Integrate the half-step read-outs ``δ ∂H/∂θ`` (and record ``δ ∂V/∂u_j``) along the free
        run: the ``ε = 0`` measurement of the one-sided echo estimate.

    Notes
    -----
    A unit with compiled physics (a ``loops`` attribute, see
    :mod:`~physlearn.systems.leapfrog_kernels`) runs its compiled loop; any other unit runs
    the loop below, one numpy call per term and step.
    """
    if getattr(unit, "loops", None) is not None:
        return _integrate_compiled(unit, params, q0, p0, inputs, scheme, store, positions,
                                   measure, measure_inputs)
    h, dt, decay = scheme.dt / 2, scheme.dt, scheme.decay
    batch, n_steps = inputs.shape[:2]
    q, p = np.array(q0, dtype=float), np.array(p0, dtype=float)
    flow = Flow(q, p)
    if store:
        flow.qs = np.empty((batch, n_steps + 1, q.shape[-1]))
        flow.ps = np.empty_like(flow.qs)
        flow.qs[:, 0], flow.ps[:, 0] = q, p
    if positions:
        flow.positions = np.empty((batch, n_steps, q.shape[-1]))
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
        if positions:
            flow.positions[:, j] = q
    flow.q, flow.p, flow.measure, flow.measure_inputs = q, p, acc, acc_u
    return flow


# -- compiled loops (units with a ``loops`` attribute) -----------------------------------------
_NONE = np.empty((0, 0, 0))           # an option's array when the option is off
_NONE1 = np.empty(0)


def _rows(x, n):
    return np.array(np.reshape(x, (-1, n)), dtype=float, order="C")


def _accumulators(unit, rows):
    return tuple(np.zeros((rows,) + tuple(shape)) for shape in unit.param_shapes().values())


def _named_rows(unit, acc, lead):
    """The accumulators as a dict name → ``(*lead, *shape)``."""
    return {name: a.reshape(tuple(lead) + a.shape[1:])
            for name, a in zip(unit.param_shapes(), acc)}


def _per_step(unit, steps, n_steps, lead):
    """Per-step accumulators (a row per (step, row)) as a list of dicts, and their sum."""
    rows = int(np.prod(lead))
    split = tuple(a.reshape((n_steps, rows) + a.shape[1:]) for a in steps)
    listed = [_named_rows(unit, tuple(a[j] for a in split), lead) for j in range(n_steps)]
    return listed, tuple(a.sum(axis=0) for a in split)


def _integrate_compiled(unit, params, q0, p0, inputs, scheme, store, positions, measure,
                        measure_inputs):
    n = unit.n_dof
    q, p = _rows(q0, n), _rows(p0, n)
    rows, n_steps = q.shape[0], inputs.shape[1]
    if inputs.shape[0] != rows:
        inputs = np.broadcast_to(inputs, (rows,) + inputs.shape[1:])
    inputs = np.ascontiguousarray(inputs, dtype=float)
    qs = np.empty((rows, n_steps + 1, n)) if store else _NONE
    ps = np.empty_like(qs) if store else _NONE
    kept = np.empty((rows, n_steps, n)) if positions else _NONE
    acc = _accumulators(unit, rows if measure else 0)
    acc_u = np.empty((rows, n_steps, unit.n_inputs)) if measure_inputs else _NONE
    unit.loops.run(unit.packed(params), q, p, inputs, _NONE1, _NONE, float(scheme.dt),
                   scheme.decay, False, qs, ps, kept, acc, acc_u,
                   half=scheme.kick == "half-step", read=measure, read_inputs=measure_inputs,
                   dense=False)
    shape = np.shape(q0)
    return Flow(q.reshape(shape), p.reshape(shape), qs if store else None,
                ps if store else None, _named_rows(unit, acc, (rows,)) if measure else None,
                acc_u if measure_inputs else None, kept if positions else None)


def _reversed_nudges(cotangents):
    """Cotangents in the order a run backwards in time meets them (an echo, an adjoint
    sweep): entry ``m`` is ``g_j``, ``j = K−1−m``, added after the ``m``-th step back (the
    one that replays ``u_j``); zero after the last step (``g_0`` is never added)."""
    if cotangents.dense is None:
        return _NONE
    nudges = np.zeros_like(cotangents.dense, dtype=float)
    nudges[:, :-1] = cotangents.dense[:, -2::-1]
    return nudges


def _echo_compiled(unit, params, q, p, inputs, scheme, eps, cotangents, want_inputs, record):
    # a run through the inputs reversed: echo step m replays u_j, j = K−1−m, then adds
    # ε g_j; what it records is flipped back to the order of j
    lead, n_steps = q.shape[:2], inputs.shape[1]
    q, p = _rows(q, unit.n_dof), _rows(p, unit.n_dof)
    rows = q.shape[0]
    acc = _accumulators(unit, n_steps * rows if record else rows)
    acc_u = np.empty((rows, n_steps, unit.n_inputs)) if want_inputs else _NONE
    qs = np.empty((rows, n_steps + 1, unit.n_dof)) if record else _NONE
    ps = np.empty_like(qs) if record else _NONE
    unit.loops.run(unit.packed(params), q, p, np.asarray(inputs, dtype=float)[:, ::-1],
                   np.ascontiguousarray(eps.ravel()), _reversed_nudges(cotangents),
                   float(scheme.dt), scheme.decay, record, qs, ps, _NONE, acc,
                   acc_u, half=scheme.kick == "half-step", read=True,
                   read_inputs=want_inputs, dense=cotangents.dense is not None)
    states = steps = None
    if record:
        states = np.concatenate([qs, ps], axis=-1)[:, ::-1].reshape(lead + (n_steps + 1, -1))
        steps, acc = _per_step(unit, acc, n_steps, lead)
        steps = steps[::-1]
    return Echo(_named_rows(unit, acc, lead),
                acc_u[:, ::-1].reshape(lead + acc_u.shape[1:]) if want_inputs else None,
                q.reshape(lead + (-1,)), p.reshape(lead + (-1,)), states, steps)


def _backward_compiled(unit, params, flow, inputs, scheme, cotangents, lq, want_inputs,
                       record):
    # the sweep runs through reversed views; what it records is flipped back
    batch, n_steps = inputs.shape[:2]
    n = unit.n_dof
    lq, lp = _rows(lq, n), np.zeros((batch, n))
    grads = _accumulators(unit, n_steps * batch if record else batch)
    grads_u = np.empty((batch, n_steps, unit.n_inputs)) if want_inputs else _NONE
    adjoints = np.empty((batch, n_steps + 1, 2 * n)) if record else _NONE
    unit.loops.backward(unit.packed(params), flow.qs, flow.ps,
                        np.asarray(inputs, dtype=float)[:, ::-1], _reversed_nudges(cotangents),
                        float(scheme.dt), scheme.decay, record, lq, lp, grads, grads_u,
                        adjoints, half=scheme.kick == "half-step", read_inputs=want_inputs,
                        dense=cotangents.dense is not None)
    steps = None
    if record:
        steps, grads = _per_step(unit, grads, n_steps, (batch,))
        steps = steps[::-1]
    return Adjoint(_named_rows(unit, grads, (batch,)),
                   grads_u[:, ::-1] if want_inputs else None, lq, lp,
                   adjoints[:, ::-1] if record else None, steps)


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
    q = np.empty((eps.shape[0],) + np.shape(q_final))     # (filled in place: broadcast_to
    q[...] = q_final                                      # costs microseconds per call)
    p = np.empty_like(q)
    np.negative(p_final, out=p[0])
    p[1:] = p[0]
    g = cotangents.at(n_steps)
    if g is not None:
        p += eps * g
    if getattr(unit, "loops", None) is not None:
        return _echo_compiled(unit, params, q, p, inputs, scheme, eps, cotangents, want_inputs,
                              record)
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
    if getattr(unit, "loops", None) is not None:
        return _backward_compiled(unit, params, flow, inputs, scheme, cotangents, lq,
                                  want_inputs, record)
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
