"""Coupled phase oscillators (XY / Kuramoto energy) trained with equilibrium propagation.

Physics
-------
``N`` phase oscillators with phases ``φ_j`` relax (overdamped, ``φ̇ = −∂E/∂φ``) on the XY
energy

    E(θ, x, φ) = −Σ_{(j,k)} W_jk cos(φ_j − φ_k) − Σ_j h_j cos(φ_j − ψ_j),

with couplings ``W_jk`` on the edges of a graph (``W > 0`` aligns, ``W < 0`` anti-aligns),
local fields of strength ``h_j`` pinning oscillator ``j`` toward the phase ``ψ_j``. The first
``n_inputs`` oscillators are clamped at the input phases ``x`` (e.g. the codes ``±π/2``),
the rest — hidden oscillators, then output oscillators — are free. Steady states of the
gradient flow are the stationary points of ``E``; only its (local) minima are stable, and
the relaxation here returns minima only. Outputs are the output phases.

The energy is 2π-periodic in every phase and, with ``h = 0``, invariant under a global shift
``φ → φ + c`` of all phases (inputs included). The landscape is multistable: which minimum
is reached depends on the starting phases, so every relaxation starts from the same seeded
initial phases (or from ``start``), which makes the free state a smooth function of ``θ``
and ``x`` within a basin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from physlearn.costs import Cost
from physlearn.nudges import Clamp, Nudge
from physlearn.system import ConvergenceError, EquilibriumSystem, State
from physlearn.systems.batched import cho_solve, shifted_cholesky
from physlearn.systems.solvers import relax, residual_scale

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@dataclass
class PhaseState(State):
    """A state of a :class:`PhaseOscillatorNetwork`.

    Parameters
    ----------
    s : ndarray, shape (batch, n_free)
        Free phases (hidden, then outputs; radians), unwrapped (not reduced modulo 2π).
    x, nudge, info : see :class:`physlearn.State`
        As for :class:`physlearn.State`.
    phases : ndarray, shape (batch, n_oscillators), optional
        All phases (radians), the clamped input phases first.

    Notes
    -----
    A free or nudged state is a local minimum of the XY energy
    :math:`E = −\\sum_{(j,k)} W_{jk}\\cos(φ_j − φ_k) − \\sum_j h_j \\cos(φ_j − ψ_j)` (plus
    :math:`βC`) over the free phases, a stable steady state of the gradient flow
    :math:`\\dot φ = −∂E/∂φ`.

    References
    ----------
    .. [1] Q. Wang, C. C. Wanjura, F. Marquardt, "Training coupled phase oscillators as a
       neuromorphic platform using equilibrium propagation", Neuromorph. Comput. Eng. 4,
       034014 (2024), arXiv:2402.08579.
    """

    phases: np.ndarray = None


class PhaseCost(Cost):
    """Phase-alignment cost ``C = −Σ_k log((1 + cos(o_k − y_k)) / 2)``.

    Notes
    -----
    With ``d = o − y`` and ``(1 + cos d)/2 = cos²(d/2)``: ``C = −2 Σ log cos(d/2)``,
    gradient ``∂C/∂o = sin d / (1 + cos d) = tan(d/2)`` and Hessian
    ``diag(1/(1 + cos d))``. The nudging force on an output oscillator is therefore
    ``−β sin d/(1 + cos d)`` (Wang, Wanjura & Marquardt 2024): it vanishes at alignment, grows
    without bound toward the anti-aligned phase ``d = π`` and so keeps nudged outputs away from
    the unstable anti-aligned point. ``C`` is 2π-periodic in ``o`` and holomorphic away from
    ``d = π (mod 2π)``, so it can be evaluated at complex states (holomorphic EP).

    Gradient checks of EP must difference *this* cost, the one that generates the nudge force;
    the look-alike ``(1 − cos d)/2`` (:class:`ChordCost` up to a factor) gives a different
    gradient.
    """

    def __init__(self):
        pass

    def value(self, outputs, y):
        return -np.sum(np.log(0.5 * (1.0 + np.cos(outputs - y))), axis=-1)

    def gradient(self, outputs, y):
        d = outputs - y
        return np.sin(d) / (1.0 + np.cos(d))

    def hessian(self, outputs, y):
        c = 1.0 / (1.0 + np.cos(outputs - y))
        return c[..., :, None] * np.eye(c.shape[-1])


class ChordCost(Cost):
    """Chord cost ``C = Σ_k (1 − cos(o_k − y_k))``.

    Notes
    -----
    ``1 − cos d = ½ |e^{io} − e^{iy}|²``: the squared error of the readout
    ``(cos o, sin o)`` against ``(cos y, sin y)``. Bounded and 2π-periodic, but its force
    ``−β sin d`` vanishes at the anti-aligned point as well, which a nudge can then stall on.
    """

    def __init__(self):
        pass

    def value(self, outputs, y):
        return np.sum(1.0 - np.cos(outputs - y), axis=-1)

    def gradient(self, outputs, y):
        return np.sin(outputs - y)

    def hessian(self, outputs, y):
        c = np.cos(outputs - y)
        return c[..., :, None] * np.eye(c.shape[-1])


class PhaseOscillatorNetwork(EquilibriumSystem):
    """Coupled phase oscillators on the XY energy, trained through ``W``, ``h`` and ``ψ``.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        Oscillators clamped at the input phases (≥ 1; inputs in radians), free hidden
        oscillators (≥ 0), free output oscillators (≥ 1; outputs in radians), numbered in this
        order, ``0 … N−1``.
    edges : list of (j, k), optional
        Coupled pairs of oscillators. Default: all pairs except input–input pairs (whose
        couplings are constants of the energy and could not be learned).
    coupling : array_like, shape (n_edges,), optional
        Initial couplings ``W_jk`` (units of the reference coupling energy) aligned with
        ``edges``; default ``N(0, 1)`` from ``seed``.
    field : array_like, shape (n_free,), optional
        Initial field strengths ``h_j`` of the free oscillators (units of the reference
        coupling energy); default uniform in
        ``[0.5, 1.5]`` from ``seed`` (fields of the order of the couplings break the
        reflection symmetry of ``±π/2`` input codes, which otherwise leaves outputs nearly
        anti-aligned with half of the targets).
    field_phase : array_like, shape (n_free,), optional
        Initial field phases ``ψ_j`` (radians); default uniform in ``[−π, π)`` from ``seed``.
    seed : int, default 0
        Seeds the default parameters and the initial phases of the free oscillators, from
        which every relaxation without ``start`` begins (the same for every sample).
    tol : float, default 1e-10
        Relaxation stops once ``‖∂(E + βC)/∂φ‖∞ < tol`` (energy per radian; plus one
        polishing Newton step).
    max_iter : int, default 200
        Newton steps before :class:`~physlearn.ConvergenceError` is raised.

    Raises
    ------
    ValueError
        If a size is not an integer at or above its minimum, ``tol`` is not a finite number
        > 0, ``max_iter`` is not a positive integer, ``seed`` is not an integer, an edge is
        invalid, or an initial parameter has the wrong shape or is not finite.

    Notes
    -----
    **Energy.** The phases relax (overdamped, :math:`\\dot φ = −∂E/∂φ`) on the XY energy

    .. math::

        E(θ, x, φ) = −\\sum_{(j, k)} W_{jk} \\cos(φ_j − φ_k) − \\sum_j h_j \\cos(φ_j − ψ_j),

    with the first ``n_inputs`` phases clamped at the inputs :math:`x`; the relaxation returns
    local minima only. :math:`E` is 2π-periodic in every phase and, with :math:`h = 0`,
    invariant under a global shift of all phases; the landscape is multistable, so every
    relaxation starts from the same seeded phases (or from ``start``).

    **Parameters** (``params``): ``"coupling"`` = ``W_e`` per edge, ``"field"`` = ``h_j`` and
    ``"field_phase"`` = ``ψ_j`` per free oscillator. No sign constraint: negative couplings
    anti-align, and ``(h, ψ)`` and ``(−h, ψ + π)`` are the same field.

    **Local measurements** (``param_gradient``): ``∂E/∂W_jk = −cos(φ_j − φ_k)``,
    ``∂E/∂h_j = −cos(φ_j − ψ_j)``, ``∂E/∂ψ_j = −h_j sin(φ_j − ψ_j)``. EP contrasts these
    between a free and a nudged relaxation: ``ΔW_jk ∝ cos(φ^β_j − φ^β_k) − cos(φ⁰_j − φ⁰_k)``.

    **Outputs** are the output phases themselves, unwrapped (not reduced modulo 2π). The
    natural costs are the periodic :class:`PhaseCost` (the log cost of Wang et al., whose
    nudge force is ``−β sin d/(1 + cos d)``) and :class:`ChordCost` (``1 − cos d``, the
    squared error of the ``(cos φ, sin φ)`` readout). ``SquaredError`` also works on the raw
    phases and is what the contract suite uses; with it the 2π shift of an output is visible.

    **Relaxation.** Damped Newton (:func:`physlearn.systems.solvers.relax`) on the free phases
    with the exact Hessian ``∂²E/∂φ²`` (a weighted graph Laplacian with the edge weights
    ``W_jk cos(φ_j − φ_k)``, plus ``h_j cos(φ_j − ψ_j)`` on the diagonal, plus the cost's
    curvature under a nudge). Indefinite Hessians are shifted so the relaxation descends to a
    minimum; ending on a saddle or maximum (e.g. starting exactly on one) raises
    :class:`~physlearn.ConvergenceError`, as does a nudge strong enough to leave no minimum.
    :meth:`changed_basin` reports whether a nudged state still belongs to the basin of the
    free state (relaxing it with ``β = 0`` returns to the free state modulo 2π): EP's
    two-state estimate is meaningful only when it does.

    **Complex nudges.** ``cos`` and ``sin`` are entire, so ``E`` is holomorphic in the phases
    and a complex β continues the nudged minimum analytically (the nudged equilibrium solves
    ``∂(E + βC)/∂φ = 0``, by undamped Newton from the free state). The radius of holomorphy of
    ``g(β) = ∂E/∂θ(φ_β)`` is set by the nearest complex β at which the Hessian of ``E + βC``
    becomes singular (for :class:`PhaseCost` also by the pole at ``d = π``). Holomorphic EP is
    therefore offered (``"complex"``) and tested; shallow minima (a small Hessian eigenvalue)
    mean a small radius.

    Dimensionless units: phases in radians, ``W`` and ``h`` in units of a reference coupling
    energy, time in units of the relaxation time over that energy.

    References
    ----------
    .. [1] Q. Wang, C. C. Wanjura, F. Marquardt, "Training coupled phase oscillators as a
       neuromorphic platform using equilibrium propagation", Neuromorph. Comput. Eng. 4,
       034014 (2024), arXiv:2402.08579.
    .. [2] B. Scellier, Y. Bengio, "Equilibrium propagation", Front. Comput. Neurosci. 11:24
       (2017).

    Examples
    --------
    >>> import numpy as np
    >>> from physlearn.systems.phase_oscillators import PhaseOscillatorNetwork
    >>> net = PhaseOscillatorNetwork(2, 2, 1, seed=0)
    >>> state = net.equilibrium(np.pi / 2 * np.array([[1.0, -1.0]]))
    >>> bool(np.abs(net.residual(state)).max() < 1e-10)
    True
    """

    capabilities = frozenset({"soft_nudge", "clamp", "complex"})

    def __init__(self, n_inputs: int, n_hidden: int, n_outputs: int, *,
                 edges: Sequence[tuple[int, int]] | None = None,
                 coupling: ArrayLike | None = None, field: ArrayLike | None = None,
                 field_phase: ArrayLike | None = None, seed: int = 0, tol: float = 1e-10,
                 max_iter: int = 200):
        self.n_inputs = n_inputs
        self.n_hidden = n_hidden
        self.n_outputs = n_outputs
        self.edges = edges
        self.coupling = coupling
        self.field = field
        self.field_phase = field_phase
        self.seed = seed
        self.tol = tol
        self.max_iter = max_iter
        self._check_hyperparameters()
        self._build_topology()
        rng = np.random.default_rng(self.seed)
        self.initial_phases = rng.uniform(-np.pi, np.pi, self.n_free)
        defaults = {"coupling": rng.normal(size=len(self.edge_list)),
                    "field": rng.uniform(0.5, 1.5, self.n_free),
                    "field_phase": rng.uniform(-np.pi, np.pi, self.n_free)}
        given = {"coupling": coupling, "field": field, "field_phase": field_phase}
        self.params = {k: defaults[k] if given[k] is None else np.asarray(given[k], float)
                       for k in defaults}

    def _check_hyperparameters(self):
        for name, low in (("n_inputs", 1), ("n_hidden", 0), ("n_outputs", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"{name}={value!r} must be an integer >= {low}")
        if not (np.isfinite(self.tol) and self.tol > 0):
            raise ValueError(f"tol={self.tol!r} must be a finite number > 0")
        if int(self.max_iter) != self.max_iter or self.max_iter < 1:
            raise ValueError(f"max_iter={self.max_iter!r} must be a positive integer")
        if self.seed is None or int(self.seed) != self.seed:
            raise ValueError(f"seed={self.seed!r} must be an integer (it fixes the initial "
                             "phases, and with them which minimum a relaxation reaches)")

    def _build_topology(self):
        n_in, n = int(self.n_inputs), int(self.n_inputs + self.n_hidden + self.n_outputs)
        if self.edges is None:
            pairs = [(j, k) for j in range(n) for k in range(j + 1, n) if k >= n_in]
        else:
            pairs = [tuple(int(v) for v in e) for e in self.edges]
            for e in pairs:
                if len(e) != 2 or not all(0 <= v < n for v in e) or e[0] == e[1]:
                    raise ValueError(f"edge {e!r} must join two distinct oscillators in "
                                     f"0..{n - 1}")
            if len(set(map(frozenset, pairs))) != len(pairs):
                raise ValueError(f"edges={self.edges!r} lists a pair twice")
        self.edge_list = tuple(pairs)
        self.n_oscillators = n
        self.n_free = n - n_in
        self.output_index = np.arange(int(self.n_hidden), self.n_free)
        a = np.array([p[0] for p in pairs], dtype=int).reshape(-1)
        b = np.array([p[1] for p in pairs], dtype=int).reshape(-1)
        self._a, self._b = a, b
        m = len(pairs)
        # incidence over all oscillators: Δ_e = φ_a − φ_b
        self._incidence = sp.csr_matrix(
            (np.r_[np.ones(m), -np.ones(m)], (np.r_[np.arange(m), np.arange(m)], np.r_[a, b])),
            shape=(m, n))
        self._d_free_t = self._incidence[:, n_in:].T.toarray()     # (n_free, n_edges)
        self._laplacian_layout = _laplacian_layout(a - n_in, b - n_in, self.n_free)

    @property
    def n_features(self):
        return int(self.n_inputs)

    @property
    def param_shapes(self):
        return {"coupling": (len(self.edge_list),), "field": (self.n_free,),
                "field_phase": (self.n_free,)}

    # -- states ---------------------------------------------------------------------------------
    def _state(self, s, x, nudge):
        phases = np.concatenate([x.astype(s.dtype), s], axis=1)
        return PhaseState(s=s, x=x, nudge=nudge, phases=phases)

    def with_s(self, state, s):
        return self._state(s, state.x, state.nudge)

    def _drops(self, state):
        """``Δ_e = φ_a − φ_b`` per edge, shape (batch, n_edges)."""
        return state.phases[:, self._a] - state.phases[:, self._b]

    def _field_angle(self, state):
        return state.s - self._params["field_phase"]

    # -- the three questions --------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """Relax the free phases to a minimum of ``E + βC`` (or with clamped outputs).

        Parameters
        ----------
        x : array_like, shape (batch, n_inputs)
            Input phases (radians), held fixed.
        nudge : Nudge, Clamp or None
            ``Nudge``: adds ``β C(o, y)``; a complex β continues the free minimum analytically
            (undamped Newton from ``start``, or from the free state). ``Clamp``: holds the
            output phases and relaxes the hidden ones.
        start : PhaseState, optional
            Initial phases (typically the free state of the same ``x``); default the seeded
            ``initial_phases`` for every sample.

        Returns
        -------
        PhaseState

        Raises
        ------
        ConvergenceError
            If no minimum is reached within ``max_iter`` Newton steps, or the relaxation ends
            on a stationary point that is not a minimum.
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        batch = x.shape[0]
        s0 = np.tile(self.initial_phases, (batch, 1))
        if start is not None and np.shape(start.s) == s0.shape:
            s0 = np.array(start.s)
        if isinstance(nudge, Nudge):
            nudge = Nudge(nudge.cost, self.check_targets(nudge.target, batch), nudge.beta)
            if nudge.is_complex:
                if np.iscomplexobj(s0) or start is None:
                    s0 = self.equilibrium(x, start=start).s
                return self._complex_newton(np.asarray(s0, complex), x, nudge)
            nudge = Nudge(nudge.cost, nudge.target, float(np.real(nudge.beta)))
        s0 = np.real(s0).astype(float)
        active = np.ones(self.n_free, bool)
        if isinstance(nudge, Clamp):
            s0[:, self.output_index] = self.check_targets(nudge.values, batch)
            active[self.output_index] = False

        def newton_step(state, r):
            H = self.hessian(state, nudge)
            d = np.zeros_like(r)
            d[:, active], exact = _dense_newton_direction(H[:, active][:, :, active],
                                                          r[:, active])
            return d, exact

        with np.errstate(divide="ignore", invalid="ignore"):
            s = relax(self, lambda s: self._state(s, x, nudge), s0, nudge, newton_step,
                      active=active)
        # the minimum is a point on the torus: take the copy nearest the starting phases, so
        # that the state is a continuous function of θ and x (a Newton path from a distant
        # start may cross several 2π copies, and which one it ends in is not continuous)
        s = s - 2 * np.pi * np.round((s - s0) / (2 * np.pi))
        return self._state(s, x, nudge)

    def _complex_newton(self, s, x, nudge):
        """Solve ``∂(E + βC)/∂φ = 0`` at complex β by Newton with residual backtracking."""
        def residual(s):
            return self.residual(self._state(s, x, nudge))

        r = residual(s)
        tol = self.tol * residual_scale(self, self._state(s, x, nudge), nudge)
        for _ in range(int(self.max_iter)):
            norm = np.max(np.abs(r), axis=1)
            if np.all(norm < tol):
                d = np.linalg.solve(self.hessian(self._state(s, x, nudge), nudge), r[..., None])
                trial = s - d[..., 0]
                better = np.max(np.abs(residual(trial)), axis=1) <= norm
                s = np.where(better[:, None], trial, s)
                return self._state(s, x, nudge)
            d = np.linalg.solve(self.hessian(self._state(s, x, nudge), nudge), r[..., None])[..., 0]
            t = np.ones(len(s))
            for _ in range(40):
                trial = s - t[:, None] * d
                with np.errstate(all="ignore"):
                    r_t = residual(trial)
                    ok = np.max(np.abs(r_t), axis=1) < norm
                ok |= norm < tol
                if np.all(ok):
                    break
                t = np.where(ok, t, 0.5 * t)
            else:
                break
            s, r = trial, r_t
        raise ConvergenceError(
            f"{type(self).__name__}: no complex equilibrium at beta={nudge.beta!r}: residual "
            f"max|dF/ds| = {np.max(np.abs(r)):.3e} (tol={tol:g}); |beta| is probably "
            "beyond the radius of holomorphy of the nudged minimum; reduce it")

    def outputs(self, state):
        """Output phases (radians, unwrapped), shape (batch, n_outputs)."""
        return state.s[:, self.output_index]

    def param_gradient(self, state):
        """Local measurements ``∂E/∂W_e = −cos Δ_e``, ``∂E/∂h = −cos(φ − ψ)``,
        ``∂E/∂ψ = −h sin(φ − ψ)``."""
        u = self._field_angle(state)
        return {"coupling": -np.cos(self._drops(state)), "field": -np.cos(u),
                "field_phase": -self._params["field"] * np.sin(u)}

    # -- physics for references and contract tests ---------------------------------------------
    def energy(self, state):
        p = self._params
        return (-np.cos(self._drops(state)) @ p["coupling"]
                - np.cos(self._field_angle(state)) @ p["field"])

    def energy_gradient(self, state):
        p = self._params
        torque = p["coupling"] * np.sin(self._drops(state))                 # per edge
        return (torque @ self._d_free_t.T
                + p["field"] * np.sin(self._field_angle(state)))

    def hessian(self, state, nudge=None):
        """Dense Hessian ``∂²E/∂φ²`` (plus the nudge's curvature), shape (batch, n, n)."""
        p = self._params
        batch, n = state.s.shape
        w = p["coupling"] * np.cos(self._drops(state))                      # (batch, m)
        # the weighted Laplacian in one sparse product (not 4 indexed updates per edge)
        H = np.ascontiguousarray((self._laplacian_layout @ w.T).T).reshape(batch, n, n)
        idx = np.arange(n)
        H[:, idx, idx] += p["field"] * np.cos(self._field_angle(state))
        if isinstance(nudge, Nudge):
            out = self.output_index
            H = H.astype(np.result_type(H, nudge.beta))
            H[:, out[:, None], out[None, :]] += nudge.stiffness(self.outputs(state))
        return H

    def output_vjp(self, state, g_out):
        out = np.zeros(state.s.shape, dtype=np.result_type(state.s, g_out))
        out[:, self.output_index] = g_out
        return out

    def adjoint(self, state, rhs):
        return np.linalg.solve(self.hessian(state), np.asarray(rhs)[..., None])[..., 0]

    def mixed_vjp(self, state, lam):
        p = self._params
        full = np.zeros((lam.shape[0], self.n_oscillators), dtype=lam.dtype)
        full[:, int(self.n_inputs):] = lam
        u = self._field_angle(state)
        return {"coupling": np.sin(self._drops(state)) * (full[:, self._a] - full[:, self._b]),
                "field": np.sin(u) * lam,
                "field_phase": -p["field"] * np.cos(u) * lam}

    # -- basins ---------------------------------------------------------------------------------
    def changed_basin(self, free, state, atol=1e-6):
        """Whether ``state`` lies outside the basin of the free minimum ``free``.

        ``state`` (e.g. a nudged equilibrium) is relaxed with ``β = 0`` and compared with
        ``free`` modulo 2π.

        Returns
        -------
        ndarray of bool, shape (batch,)
            True where the relaxation from ``state`` ends in a different minimum.
        """
        back = self.equilibrium(free.x, start=self.with_s(free, np.real(state.s)))
        diff = np.angle(np.exp(1j * (back.s - free.s)))
        return np.max(np.abs(diff), axis=1) > atol

    # -- builders --------------------------------------------------------------------------------
    @classmethod
    def xor(cls, *, seed=0, **kwargs):
        """The 5-oscillator XOR network of Wang et al.: 2 inputs, 2 hidden, 1 output."""
        return cls(2, 2, 1, seed=seed, **kwargs)


def _laplacian_layout(a, b, n):
    """The map from edge weights ``w`` to the weighted Laplacian of the free oscillators.

    Parameters
    ----------
    a, b : ndarray of int, shape (n_edges,)
        The ends of every edge among the free oscillators (negative for a clamped input).
    n : int
        Free oscillators.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n·n, n_edges)
        ``(layout @ w).reshape(n, n)`` is ``Σ_e w_e (u_a − u_b)(u_a − u_b)ᵀ`` over the free
        ends: ``+w_e`` on the diagonal of each free end, ``−w_e`` at ``(a, b)`` and ``(b, a)``
        when both are free. Every entry sums its edges in edge order.
    """
    e = np.arange(len(a))
    both = (a >= 0) & (b >= 0)
    terms = [(a, a, 1.0, a >= 0), (b, b, 1.0, b >= 0), (a, b, -1.0, both), (b, a, -1.0, both)]
    rows = np.concatenate([(i * n + j)[keep] for i, j, _, keep in terms])
    cols = np.concatenate([e[keep] for *_, keep in terms])
    vals = np.concatenate([np.full(np.count_nonzero(keep), v) for *_, v, keep in terms])
    layout = sp.csr_matrix((vals, (rows, cols)), shape=(n * n, len(a)))
    layout.sort_indices()
    return layout


def _dense_newton_direction(H, r, max_shifts=60):
    """Solve ``H_b d_b = r_b`` per sample; shift indefinite blocks until positive definite.

    The dense counterpart of :func:`physlearn.systems.solvers.newton_direction` for the small
    Hessians of oscillator networks: a block whose Cholesky factorisation fails is replaced
    by ``H_b + τ_b 1`` with ``τ_b`` doubled from ``10⁻³ max|H_ii|`` until it succeeds, which
    makes ``d`` a descent direction (shifts that leave a diagonal entry ``≤ 0`` are skipped
    unfactorised: they cannot succeed). Returns ``(d, exact)``, ``exact`` True where no shift
    was needed.
    """
    batch, n = r.shape
    d = np.zeros((batch, n))
    exact = np.ones(batch, bool)
    if n == 0:
        return d, exact
    scale = max(float(np.max(np.abs(np.diagonal(H, axis1=1, axis2=2)))), 1e-12)
    try:                                  # the common case: every block positive definite
        chol = np.linalg.cholesky(H)
        y = np.linalg.solve(chol, r[..., None])
        return np.linalg.solve(np.swapaxes(chol, 1, 2), y)[..., 0], exact
    except np.linalg.LinAlgError:
        pass
    eye = np.eye(n)
    diagonal = np.diagonal(H, axis1=1, axis2=2)
    for b in range(batch):
        factor, tau = shifted_cholesky(lambda tau, b=b: H[b] + tau * eye, scale, max_shifts,
                                       diagonal=diagonal[b])
        exact[b] = tau == 0.0
        d[b] = cho_solve(factor, r[b])
    return d, exact


def xor_problem():
    """XOR in phase codes: inputs ``±π/2``, target ``+π/2`` where the inputs differ.

    Returns
    -------
    x : ndarray, shape (4, 2)
    y : ndarray, shape (4, 1)
    """
    bits = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    x = np.pi / 2 * (2 * bits - 1.0)
    y = np.pi / 2 * (2 * (bits[:, :1] ^ bits[:, 1:]) - 1.0)
    return x, y


def phase_accuracy(outputs, y):
    """Fraction of samples whose every output phase lies within π/2 of its target."""
    return float(np.mean(np.all(np.cos(np.asarray(outputs) - y) > 0, axis=1)))


def contract_problem(system, rng):
    """Input phases in (−π/2, π/2) and targets near the free outputs, 4 samples (the contract
    suite's problem)."""
    x = rng.uniform(-np.pi / 2, np.pi / 2, size=(4, system.n_features))
    y = system.predict(x) + 0.3 * rng.normal(size=(4, system.n_outputs))
    return x, y
