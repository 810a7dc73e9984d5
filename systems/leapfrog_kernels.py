"""Compiled leapfrog loops (numba) for banks of oscillators driven through an input map.

A Python loop over time steps costs microseconds per step whatever the work inside, which
dominates a small block (32 oscillators, batch 4: ~200 flops per step). A block whose
potential is a sum of one-oscillator terms driven through a linear input map,

    V(q, u) = Σ_i V_i(q_i, d_i),    d = B u,

(both Hamiltonian recurrent units) gets the free run, the RHEL echo and the BPTT adjoint of
:mod:`physlearn.systems.leapfrog` as compiled loops instead: the same drift–kick–drift map,
the same half-step read-outs, the same adjoint. A loop takes one sample (row) at a time, step
after step; a step is one pass over the oscillators (drift, force, kick and the oscillator's
own read-outs, unit-stride so that the compiler vectorises it) between the drive ``d = B u``
and the read-outs that involve the inputs, ``∂V/∂B_ik = c_i u_k`` and
``∂V/∂u_k = Σ_i c_i B_ik`` with ``c_i = ∂V_i/∂d_i``. Every option of the Python loops is
covered (stored trajectories, kept positions, free-run measurements, input read-outs,
recorded echo states, adjoints and per-step read-outs, friction and the start-of-step kick),
so such a block takes no other path. An echo is a free run through the inputs reversed (a
reversed view, no copy).

The physics is a :class:`Physics` of two numba functions of oscillator ``i`` of one row
(``P`` is the tuple of the block's parameter arrays with the input map ``B`` at ``P[1]``,
``a`` the position where the force is read, ``d`` the oscillator's drive, ``w`` a weight,
``acc`` the tuple of per-row accumulators in the order of ``P``, ``r`` the accumulator row):

* ``kick(P, i, a, d, w, acc, r, read, couple) -> (∂V_i/∂q_i, ∂V_i/∂d_i)``, adding
  ``w ∂V_i/∂θ`` for the oscillator's own parameters (all but ``B``) to ``acc[·][r]`` when
  ``read``; the second value is only used when ``couple``;
* ``vjp(P, i, a, d, v, w, acc, r) -> (v ∂²V_i/∂q_i², v ∂²V_i/∂d_i∂q_i)``, adding
  ``w v ∂²V_i/∂θ∂q_i`` for the oscillator's own parameters to ``acc[·][r]``.

The kinetic term is ``T = ½‖p‖²`` (unit masses): velocity ``p``, no kinetic parameters.
A loop is compiled (at its first call, a second or two) for each combination of the options
that act inside the time loop: the kick's position, the read-outs, the nudges, one input
channel or several, per-step read-out rows, stored states, kept positions; there they are
constants, so the loop carries no branch it does not take and its indices are loop-invariant
where they can be (a run-time flag there kept the oscillator loop from vectorising: the
echo of a 32-oscillator unit took twice as long). RHEL's two centered echoes of a sample
run in one loop over both (:func:`_echo_pair`): they share the drive, and their two
independent chains keep the core busy. Compiled code is not
cached on disk (numba cannot cache closures), so every process compiles what it uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numba import njit

# reassociation and fused multiply-adds let the oscillator loop vectorise; NaN and inf keep
# their IEEE meaning (a diverging run must end non-finite, and is refused as such)
_FAST = {"contract", "reassoc", "nsz", "arcp"}


@dataclass(frozen=True)
class Physics:
    """The numba functions of one oscillator's potential (see the module notes)."""

    kick: Callable
    vjp: Callable


@dataclass
class Loops:
    """The compiled runs (free run and echo) and adjoint of one :class:`Physics`, one loop
    per set of options (compiled at first use)."""

    physics: Physics
    _compiled: dict = field(default_factory=dict, repr=False)

    def run(self, *args, half, read, read_inputs, dense):
        """A run (see :func:`_run`); the keywords select the compiled loop, and so do
        what the arguments ask for (per-step read-outs, stored states, kept positions, one
        input channel): a flag fixed at compile time keeps the oscillator loop free of
        run-time branches and loop-variant indices, which lets it vectorise."""
        single = args[3].shape[2] == 1                 # one input channel
        per_step, store, keep = bool(args[8]), args[9].shape[0] > 0, args[11].shape[0] > 0
        if (read and args[4].shape[0] == 2 and args[1].shape[0] == 2 * args[3].shape[0]
                and not (per_step or store or keep or read_inputs)):
            return self._get(_echo_pair, half, dense, single)(*args)
        return self._get(_run, half, read, read_inputs, dense, single, per_step, store,
                         keep)(*args)

    def backward(self, *args, half, read_inputs, dense):
        """The adjoint sweep (see :func:`_backward`); the keywords and ``per_step`` select
        the compiled loop."""
        return self._get(_backward, half, read_inputs, dense, bool(args[7]))(*args)

    def _get(self, make, *options):
        key = (make.__name__,) + tuple(bool(o) for o in options)
        if key not in self._compiled:
            self._compiled[key] = make(self.physics, *key[1:])
        return self._compiled[key]


def compile_loops(physics: Physics) -> Loops:
    """The leapfrog loops around ``physics`` (each compiled at its first call)."""
    return Loops(physics)


@njit(inline="always")
def _drive(BT, u, out):
    """``out = B u`` (``BT`` is ``Bᵀ``, (n_in, n))."""
    out[:] = 0.0
    for k in range(u.size):
        uk = u[k]
        for i in range(out.size):
            out[i] += BT[k, i] * uk


@njit(inline="always")
def _drive_single(BT, u0, out):
    """``out = B u`` for one input channel."""
    for i in range(out.size):
        out[i] = BT[0, i] * u0


@njit(inline="always")
def _input(BT, inputs, b, j, u, d, single):
    """Load ``u = inputs[b, j]`` (the inputs may be a reversed view) and its drive
    ``d = B u``."""
    for k in range(u.size):
        u[k] = inputs[b, j, k]
    if single:
        _drive_single(BT, u[0], d)
    else:
        _drive(BT, u, d)


@njit(inline="always")
def _outer_add(acc, row, c, u, w):
    """``acc[row] += w c uᵀ`` (the input map's read-out, ``∂V/∂B_ik = c_i u_k``)."""
    for k in range(u.size):
        wu = w * u[k]
        for i in range(c.size):
            acc[row, i, k] += c[i] * wu


@njit(inline="always")
def _contract(BT, c, w, out, r, j):
    """``out[r, j] = w Bᵀ c`` (the inputs' read-out, ``∂V/∂u_k = Σ_i c_i B_ik``)."""
    for k in range(BT.shape[0]):
        total = 0.0
        for i in range(c.size):
            total += BT[k, i] * c[i]
        out[r, j, k] = w * total


def _oscillator(physics, half, read, single, need_c):
    """One oscillator's drift–kick–drift step of one row, with its read-outs (inlined)."""
    kick = physics.kick
    couple = read or need_c

    @njit(inline="always")
    def step(P, i, qr, pr, d, u, cb, c, acc, row, h, dt, decay):
        a = qr[i] + h * pr[i]
        force, ci = kick(P, i, a if half else qr[i], d[i], dt, acc, row, read, couple)
        if need_c:
            c[i] = ci
        if read and single:
            cb[i] += u[0] * ci
        pr[i] = decay * pr[i] - dt * force
        qr[i] = a + h * pr[i]

    return step


def _run(physics, half, read, read_inputs, dense, single, per_step, store, keep):
    """A run from ``(q, p)`` through the inputs in order, compiled for ``half`` (the force at
    the half step, or at the start of the step), ``read`` (the read-outs ``δ ∂V/∂θ``),
    ``read_inputs`` (``δ ∂V/∂u`` per step), ``dense`` (nudges), ``single`` (one input
    channel: the input map's read-out joins the oscillator loop), ``per_step`` (a read-out
    row per step), ``store`` (every state) and ``keep`` (every position).

    Rows ``r = s·batch + b`` run sample ``b``; with ``dense`` the momenta of row ``r`` are
    nudged by ``eps[s] nudges[b, j]`` after step ``j`` (an echo is such a run through the
    inputs reversed). ``per_step``: ``acc`` has a row per (step, row), ``j·rows + r``.
    """
    need_c = (read and not single) or read_inputs      # c outlives the oscillator loop
    step = _oscillator(physics, half, read, single, need_c)

    @njit(nogil=True, fastmath=_FAST)
    def run(P, q, p, inputs, eps, nudges, dt, decay, _per_step, qs, ps, positions, acc,
            acc_u):
        # q, p: (rows, n), updated in place; qs, ps[r, k] (when store) hold S_k,
        # positions[r, j] (when keep) the positions after step j
        batch, n_steps, n_in = inputs.shape
        rows, n = q.shape
        h = 0.5 * dt
        BT = np.ascontiguousarray(P[1].T)           # (n_in, n): loops over i run unit-stride
        u, d, c = np.empty(n_in), np.empty(n), np.empty(n)
        qr, pr = np.empty(n), np.empty(n)     # a row's state, local: no aliasing with acc
        cb = np.zeros(n)       # one channel: this row's B read-out Σ u c, flushed times dt
        for r in range(rows):
            s, b = r // batch, r % batch
            qr[:] = q[r]
            pr[:] = p[r]
            cb[:] = 0.0
            if store:
                qs[r, 0] = qr
                ps[r, 0] = pr
            for j in range(n_steps):
                _input(BT, inputs, b, j, u, d, single)
                row = j * rows + r if per_step else r
                for i in range(n):
                    step(P, i, qr, pr, d, u, cb, c, acc, row, h, dt, decay)
                if read and single and per_step:
                    for i in range(n):
                        acc[1][row, i, 0] += dt * cb[i]
                        cb[i] = 0.0
                if read and not single:
                    _outer_add(acc[1], row, c, u, dt)
                if read_inputs:
                    _contract(BT, c, dt, acc_u, r, j)
                if dense:
                    for i in range(n):
                        pr[i] += eps[s] * nudges[b, j, i]
                if store:
                    for i in range(n):
                        qs[r, j + 1, i] = qr[i]
                        ps[r, j + 1, i] = pr[i]
                if keep:
                    for i in range(n):
                        positions[r, j, i] = qr[i]
            q[r] = qr
            p[r] = pr
            if read and single and not per_step:
                for i in range(n):
                    acc[1][r, i, 0] += dt * cb[i]

    return run


def _echo_pair(physics, half, dense, single):
    """The echoes at two nudges ``eps[0], eps[1]`` of every sample together, one oscillator
    loop over both (rows ``b`` and ``batch + b``): the drive is shared and the two independent
    chains fill each other's latency (the read-outs of a centered echo came at ~20 % less).
    Read-outs at run end only: the options of :func:`_run` that record per step are not
    taken here."""
    need_c = not single
    step = _oscillator(physics, half, True, single, need_c)

    @njit(nogil=True, fastmath=_FAST)
    def run(P, q, p, inputs, eps, nudges, dt, decay, _per_step, qs, ps, positions, acc,
            acc_u):
        batch, n_steps, n_in = inputs.shape
        n = q.shape[1]
        h = 0.5 * dt
        BT = np.ascontiguousarray(P[1].T)
        u, d = np.empty(n_in), np.empty(n)
        q1, p1, q2, p2 = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        cb1, cb2, c1, c2 = np.zeros(n), np.zeros(n), np.empty(n), np.empty(n)
        for b in range(batch):
            r1, r2 = b, batch + b
            q1[:] = q[r1]
            p1[:] = p[r1]
            q2[:] = q[r2]
            p2[:] = p[r2]
            cb1[:] = 0.0
            cb2[:] = 0.0
            for j in range(n_steps):
                _input(BT, inputs, b, j, u, d, single)
                for i in range(n):
                    step(P, i, q1, p1, d, u, cb1, c1, acc, r1, h, dt, decay)
                    step(P, i, q2, p2, d, u, cb2, c2, acc, r2, h, dt, decay)
                if not single:
                    _outer_add(acc[1], r1, c1, u, dt)
                    _outer_add(acc[1], r2, c2, u, dt)
                if dense:
                    for i in range(n):
                        p1[i] += eps[0] * nudges[b, j, i]
                        p2[i] += eps[1] * nudges[b, j, i]
            q[r1] = q1
            p[r1] = p1
            q[r2] = q2
            p[r2] = p2
            if single:
                for i in range(n):
                    acc[1][r1, i, 0] += dt * cb1[i]
                    acc[1][r2, i, 0] += dt * cb2[i]

    return run


def _backward(physics, half, read_inputs, dense, per_step):
    """The adjoint of a stored run ``qs, ps`` (states 0 … K), sweeping back: its ``m``-th step
    undoes step ``K−1−m``, with the input ``inputs[r, m]`` (the caller passes the inputs and
    the nudges reversed), and adds ``nudges[r, m]`` to ``λ_q`` after it."""
    vjp = physics.vjp

    @njit(nogil=True, fastmath=_FAST)
    def backward(P, qs, ps, inputs, nudges, dt, decay, _per_step, lq, lp, grads, grads_u,
                 adjoints):
        # lq, lp: (rows, n), from dL/dS_K to dL/dS_0; with per_step, adjoints[r, m] is λ
        # after m steps back and grads has a row per (step, row), m·rows + r
        rows, n_steps, n_in = inputs.shape
        n = lq.shape[1]
        h = 0.5 * dt
        BT = np.ascontiguousarray(P[1].T)
        u, d, c = np.empty(n_in), np.empty(n), np.empty(n)
        for r in range(rows):
            lqr, lpr = lq[r], lp[r]
            if per_step:
                adjoints[r, 0, :n] = lqr
                adjoints[r, 0, n:] = lpr
            for m in range(n_steps):
                for k in range(n_in):
                    u[k] = inputs[r, m, k]
                row = m * rows + r if per_step else r
                _drive(BT, u, d)
                jj = n_steps - 1 - m                           # the step undone
                for i in range(n):
                    a = qs[r, jj, i] + h * ps[r, jj, i]
                    lp_new = lpr[i] + h * lqr[i]              # q' = a + h p'
                    hv, c[i] = vjp(P, i, a if half else qs[r, jj, i], d[i], lp_new, -dt,
                                   grads, row)                # p' = e^{−γδ}p − δ∂V/∂q
                    old = lqr[i]
                    lqr[i] = old - dt * hv
                    lpr[i] = decay * lp_new + h * (lqr[i] if half else old)  # a = q + hp
                _outer_add(grads[1], row, c, u, -dt)
                if read_inputs:
                    _contract(BT, c, -dt, grads_u, r, m)
                if dense:
                    for i in range(n):
                        lqr[i] += nudges[r, m, i]
                if per_step:
                    adjoints[r, m + 1, :n] = lqr
                    adjoints[r, m + 1, n:] = lpr

    return backward
