"""Elastic spring networks in two dimensions, trained through stiffnesses and rest lengths.

Physics
-------
Nodes at positions ``p_i ∈ ℝ²`` are joined by central-force springs ``e = (i, j)`` of stiffness
``k_e ≥ 0`` and rest length ``ℓ_e > 0``. The elastic energy

    E(k, ℓ, x, p) = ½ Σ_e k_e (r_e − ℓ_e)²,     r_e = ‖p_j − p_i‖,

is minimised over the positions of the free nodes. Pinned nodes stay at their reference
positions (removing rigid motions); an input ``x_k`` is an imposed strain of a *source* pair of
nodes ``(a, b)``, whose nodes are displaced symmetrically along their reference separation so
that ``‖p_b − p_a‖ = r⁰_ab (1 + x_k)`` (a Dirichlet condition). Outputs are the strains of
*target* pairs, ``ε_T = r_T / r⁰_T − 1``, measured against the reference geometry — a nonlinear
function of the state. This is the allosteric task of Stern et al. (2021): strain one place,
get a prescribed response elsewhere.

Dimensionless units: lengths in units of the mean node spacing ``a`` of the reference
configuration, stiffnesses in units of a reference stiffness ``k₀``, energies in ``k₀a²``,
forces in ``k₀a``; strains are pure numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from physlearn.costs import Cost
from physlearn.nudges import Clamp, Nudge
from physlearn.system import Bound, ConvergenceError, EquilibriumSystem, State
from physlearn.systems.solvers import damped_newton, newton_direction, relax

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@dataclass
class ElasticState(State):
    """A spring-network state; ``positions`` holds every node (pinned and source included).

    Parameters
    ----------
    s, x, nudge, info : see :class:`physlearn.State`
        As for :class:`physlearn.State`: ``s`` holds the flattened positions of the free
        nodes.
    positions : ndarray, shape (batch, n_nodes, 2), optional
        Every node's position (units of the mean node spacing ``a``).
    multipliers : ndarray, shape (batch, n_outputs), or None
        Under a clamp: the Lagrange multipliers ``μ`` (the generalised forces, in energy units,
        that hold the target strains: ``∂E/∂s = −μ ∂ε/∂s``).

    Notes
    -----
    A free or nudged state is a minimum of :math:`E = ½ \\sum_e k_e (r_e − ℓ_e)^2` (plus
    :math:`βC`) over the free positions; a clamped one is a stationary point of the Lagrangian
    :math:`E + μ · (ε(s) − c)`, with :math:`∂E/∂s = −μ\\,∂ε/∂s`.

    References
    ----------
    .. [1] M. Stern, D. Hexner, J. W. Rocks, A. J. Liu, "Supervised learning in physical
       networks: from machine learning to learning machines", Phys. Rev. X 11, 021045 (2021).
    """

    positions: np.ndarray = None
    multipliers: np.ndarray = None


class ElasticNetwork(EquilibriumSystem):
    """A 2-D central-force spring network with trainable stiffnesses and rest lengths.

    Parameters
    ----------
    positions : array_like, shape (n_nodes, 2)
        Reference node positions (the input-free, unstressed configuration when ``ℓ = r⁰``),
        in units of the mean node spacing ``a``.
    edges : sequence of (int, int)
        The springs, as pairs of node indices.
    pinned : sequence of int
        Nodes held at their reference positions.
    sources : sequence of (int, int)
        One node pair per input feature; ``x_k`` is the imposed strain of pair ``k``
        (dimensionless). Source nodes are held (at the displaced positions) and may not be
        pinned or shared.
    targets : sequence of (int, int)
        Node pairs whose strains (dimensionless) are the outputs; each needs at least one free
        node.
    stiffness : array_like, optional
        Initial stiffnesses ``k_e ≥ 0`` (units of ``k₀``, aligned with ``edges``); default
        uniform in ``[0.5, 1.5]`` drawn from ``seed``.
    rest_length : array_like, optional
        Initial rest lengths ``ℓ_e > 0`` (units of ``a``); default the reference lengths
        ``r⁰`` (no prestress).
    min_stiffness : float, default 1e-6
        Floor of the stiffness > 0 (units of ``k₀``; keeps the network rigid): an assignment
        below it is refused, :meth:`update_params` clips onto it.
    min_rest_length : float, default 1e-3
        Floor of the rest lengths > 0 (units of ``a``): an assignment below it is refused,
        :meth:`update_params` clips onto it.
    tol : float, default 1e-10
        Newton stops once ``‖∂F/∂s‖∞ < tol`` (force units ``k₀a``; then one more full step
        to round-off).
    max_iter : int, default 100
        Newton steps before :class:`~physlearn.ConvergenceError` is raised.
    seed : int, optional
        Seed of the default stiffnesses.

    Raises
    ------
    ValueError
        If ``positions`` is not a finite ``(n_nodes, 2)`` array; a pair refers to a node
        outside it, repeats a spring or joins a node to itself; there are no springs or no
        targets; source nodes are pinned or shared; a target has no free node; the network is
        floppy in its reference geometry; ``min_stiffness``, ``min_rest_length`` or ``tol`` is
        not a finite number > 0; ``max_iter`` is not a positive integer; or the initial
        parameters are outside their bounds.

    Notes
    -----
    **Energy.** Central-force springs between nodes :math:`p_i ∈ ℝ^2`,

    .. math::

        E(k, ℓ, x, p) = \\tfrac12 \\sum_{e = (i, j)} k_e\\,(r_e − ℓ_e)^2, \\qquad
        r_e = ‖p_j − p_i‖,

    minimised over the free nodes, with each source pair displaced so that
    :math:`‖p_b − p_a‖ = r^0_{ab}(1 + x_k)`; the outputs are the target strains
    :math:`ε_T = r_T/r^0_T − 1` (the allosteric task of Stern et al. 2021). Dimensionless
    units: lengths in the mean node spacing :math:`a`, stiffnesses in :math:`k_0`, energies in
    :math:`k_0 a^2`.

    **Local measurements.** ``∂E/∂k_e = ½ (r_e − ℓ_e)²`` (elastic energy per unit stiffness)
    and ``∂E/∂ℓ_e = −k_e (r_e − ℓ_e)`` (minus the spring tension). Coupled learning gives the
    rest-length rule ``ℓ̇_e ∝ (k_e/η)(r^C_e − r^F_e)``: a spring that is longer in the clamped
    state than in the free one grows (Stern et al. 2021, in this library's sign convention).

    **Relaxation.** Damped Newton on the free positions with the analytic gradient and the
    sparse Hessian (2×2 blocks ``k ûûᵀ + (T/r)(1 − ûûᵀ)`` per spring, with tension
    ``T = k(r − ℓ)``), one block-diagonal sparse LU for the batch per step. ``E`` is not convex
    (a compressed spring has negative transverse stiffness ``T/r``, which is how networks
    buckle), so the LU is an ``LDLᵀ`` whose pivots give each sample's inertia: an indefinite
    block is shifted, ``H + τ1``, until positive definite (modified Newton), and only steps that
    lower ``E + βC`` are accepted there. The iteration therefore converges to a *minimum*; a
    start exactly at a saddle (a perfectly straight compressed chain) is reported as a
    :class:`~physlearn.ConvergenceError`. Networks that are floppy in their reference geometry
    (a zero mode of ``GᵀG`` for the rigidity matrix ``G = ∂r/∂s``) are refused at
    construction.

    **Soft nudge.** ``F = E + β C(ε(s), y)``: the cost acts like extra springs on the target
    pairs; its Hessian adds ``Jᵀ β∂²C J + Σ_T β ∂C/∂ε_T ∂²ε_T/∂s²`` with ``J = ∂ε/∂s``.

    **Clamp (exact).** Holding the output strains at ``c`` is a nonlinear constraint
    ``ε(s) = c``; it is imposed with Lagrange multipliers ``μ`` (returned in the state: the
    generalised forces that hold the strains). An augmented-Lagrangian phase (minimising
    ``E + μ·(ε − c) + ½ρ‖ε − c‖²`` and updating ``μ``) brings the state into the basin of a
    constrained minimum; Newton's method on the KKT system ``∂E/∂s + Jᵀμ = 0, ε(s) = c`` then
    converges quadratically to it. Third-party codes instead rescale the rest length of a
    stiff output spring; like any penalty, that holds the strain only to ``O(1/stiffness)``,
    and round-off (``β ε_mach |p|``) limits how stiff it can be. The residual reported for a
    clamped state is ``∂E/∂s`` projected onto the tangent space of the constraint: the
    stationarity residual with the best multipliers.

    **Coupled learning.** As η → 0 the coupled-learning estimate tends to
    ``(o − y)ᵀ R⁻¹ ∂o/∂θ`` with the target compliance ``R = J H⁻¹ Jᵀ``, not to the gradient
    ``(o − y)ᵀ ∂o/∂θ`` (the clamp contrast is the derivative of the clamped energy at fixed
    clamp values). For rest lengths in an unstressed network with equal stiffnesses,
    ``(∂o/∂ℓ)(∂o/∂ℓ)ᵀ = k R``, so a coupled-learning step of size ``1/k`` is a Newton step on
    the outputs; allosteric training then converges geometrically.

    **Outputs and θ.** Strains are measured against the fixed reference lengths ``r⁰``, not the
    trainable rest lengths, so the outputs depend on θ only through the state and the EP
    identity holds without a direct ``∂C/∂θ`` term.

    Complex nudges are not offered (``E`` is analytic for ``r > 0``, but the relaxation here is
    real); HolomorphicEP is refused.

    References
    ----------
    .. [1] M. Stern, D. Hexner, J. Rocks, A. Liu, "Supervised learning in physical networks:
       from machine learning to learning machines", Phys. Rev. X 11, 021045 (2021),
       arXiv:2011.03861.
    .. [2] J. W. Rocks et al., "Designing allostery-inspired response in mechanical networks",
       PNAS 114, 2520 (2017).
    .. [3] B. Scellier, Y. Bengio, "Equilibrium propagation", Front. Comput. Neurosci. 11:24
       (2017).

    Examples
    --------
    >>> import numpy as np
    >>> from physlearn.systems.elastic import ElasticNetwork
    >>> net = ElasticNetwork.random(20, seed=0)
    >>> state = net.equilibrium([[0.05]])
    >>> net.outputs(state).shape
    (1, 2)
    """

    capabilities = frozenset({"soft_nudge", "clamp"})

    def __init__(self, positions: ArrayLike, edges: Sequence[tuple[int, int]],
                 pinned: Sequence[int], sources: Sequence[tuple[int, int]],
                 targets: Sequence[tuple[int, int]], *, stiffness: ArrayLike | None = None,
                 rest_length: ArrayLike | None = None, min_stiffness: float = 1e-6,
                 min_rest_length: float = 1e-3, tol: float = 1e-10, max_iter: int = 100,
                 seed: int | None = None):
        self.positions = positions
        self.edges = edges
        self.pinned = pinned
        self.sources = sources
        self.targets = targets
        self.stiffness = stiffness
        self.rest_length = rest_length
        self.min_stiffness = min_stiffness
        self.min_rest_length = min_rest_length
        self.tol = tol
        self.max_iter = max_iter
        self.seed = seed
        self._check_hyperparameters()
        self._build_topology()
        self.params = self._initial_params()

    # -- construction -------------------------------------------------------------------------
    def _check_hyperparameters(self):
        for name in ("min_stiffness", "min_rest_length", "tol"):
            value = getattr(self, name)
            if not (np.isscalar(value) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a finite number > 0")
        if int(self.max_iter) != self.max_iter or self.max_iter < 1:
            raise ValueError(f"max_iter={self.max_iter!r} must be a positive integer")

    def _build_topology(self):
        ref = np.asarray(self.positions, dtype=float)
        if ref.ndim != 2 or ref.shape[1] != 2 or not np.all(np.isfinite(ref)):
            raise ValueError(f"positions must be a finite (n_nodes, 2) array, got shape "
                             f"{ref.shape}")
        self._ref = ref
        n = len(ref)
        self._edges = self._pairs(self.edges, "edges", n)
        if len(self._edges) == 0:
            raise ValueError("edges is empty: the network has no springs")
        pairs = [tuple(sorted(e)) for e in self._edges.tolist()]
        if len(set(pairs)) != len(pairs):
            twice = sorted({e for e in pairs if pairs.count(e) > 1})
            raise ValueError(f"edges lists a spring twice: {twice}")
        self._sources = self._pairs(self.sources, "sources", n)
        self._targets = self._pairs(self.targets, "targets", n)
        self.n_features, self.n_outputs = len(self._sources), len(self._targets)
        if self.n_outputs == 0:
            raise ValueError("targets is empty: the network has no outputs")
        self._classify_nodes(n)
        self._reference_lengths = self._lengths(ref[None], self._edges)[0]
        self._target_r0 = self._lengths(ref[None], self._targets)[0]
        self._source_r0 = self._lengths(ref[None], self._sources)[0]
        for name, r0, pairs in (("edge", self._reference_lengths, self._edges),
                                ("target", self._target_r0, self._targets),
                                ("source", self._source_r0, self._sources)):
            if np.any(r0 <= 0):
                bad = pairs[np.flatnonzero(r0 <= 0)[0]]
                raise ValueError(f"{name} {tuple(bad)} joins two nodes at the same position")
        self._source_pattern = self._source_displacements()
        self._free_incidence = self._incidence(self._edges)
        self._target_incidence = self._incidence(self._targets)
        self._spring_pattern = self._block_pattern(self._edges)
        self._target_pattern = self._block_pattern(self._targets)
        self._jacobian_pattern = self._strain_jacobian_pattern()
        self._check_rigid()

    def _check_rigid(self):
        """Refuse floppy networks: the reference geometry must be infinitesimally rigid.

        With unit stiffnesses and no prestress the Hessian is ``RᵀR`` for the rigidity matrix
        ``R``; a zero pivot of its ``LDLᵀ`` factorisation is a zero mode (a node held by too few
        springs, or by collinear ones), which no equilibrium could fix.
        """
        _, u = self._geometry(self._ref[None], self._edges)
        rows, cols, vals = self._pair_blocks(self._spring_pattern, np.ones(len(self._edges)),
                                             np.zeros((1, len(self._edges))), u)
        n = 2 * self._free.size
        H = sp.csc_matrix((vals.ravel(), (rows, cols)), shape=(n, n))
        try:
            lu = spla.splu(H, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                           options={"SymmetricMode": True})
            pivots = lu.U.diagonal()
            bad = pivots <= 1e-10 * np.max(np.abs(pivots))
            where = np.argsort(lu.perm_c)[bad]
        except RuntimeError:
            bad, where = [True], np.arange(n)
        if np.any(bad):
            nodes = sorted({int(self._free[i // 2]) for i in where})[:10]
            raise ValueError(f"the network is floppy: a zero mode involves free node(s) "
                             f"{nodes} (too few springs, or collinear ones); pin them or add "
                             "springs")

    @staticmethod
    def _pairs(pairs, name, n):
        arr = np.asarray(pairs, dtype=int).reshape(-1, 2) if len(pairs) else \
            np.zeros((0, 2), dtype=int)
        if np.any(arr < 0) or np.any(arr >= n):
            raise ValueError(f"{name} refer to nodes outside 0..{n - 1}: {pairs!r}")
        if np.any(arr[:, 0] == arr[:, 1]):
            raise ValueError(f"{name} contain a pair joining a node to itself: {pairs!r}")
        return arr

    def _classify_nodes(self, n):
        pinned = np.unique(np.asarray(self.pinned, dtype=int))
        if np.any(pinned < 0) or np.any(pinned >= n):
            raise ValueError(f"pinned nodes outside 0..{n - 1}: {self.pinned!r}")
        driven = self._sources.ravel()
        if len(np.unique(driven)) != len(driven):
            raise ValueError(f"sources {self.sources!r} share a node; each source node is "
                             "driven by one input")
        clash = np.intersect1d(driven, pinned)
        if clash.size:
            raise ValueError(f"source node(s) {clash.tolist()} are also pinned")
        fixed = np.zeros(n, bool)
        fixed[pinned] = True
        fixed[driven] = True
        self._free = np.flatnonzero(~fixed)
        if self._free.size == 0:
            raise ValueError("every node is pinned or driven: nothing can relax")
        self._free_pos = np.full(n, -1)
        self._free_pos[self._free] = np.arange(self._free.size)
        dead = [tuple(t) for t in self._targets.tolist() if fixed[t[0]] and fixed[t[1]]]
        if dead:
            raise ValueError(f"target(s) {dead} have no free node: their strain cannot respond")

    def _source_displacements(self):
        """Displacement of every node per unit source strain, shape (n_features, n_nodes, 2)."""
        pattern = np.zeros((self.n_features, len(self._ref), 2))
        for k, (a, b) in enumerate(self._sources):
            half = 0.5 * (self._ref[b] - self._ref[a])     # r⁰ û / 2
            pattern[k, a] -= half
            pattern[k, b] += half
        return pattern

    def _incidence(self, pairs):
        """Sparse (n_pairs, n_free) incidence: −1 at the first node, +1 at the second (free)."""
        rows, cols, vals = [], [], []
        for e, (i, j) in enumerate(pairs):
            for node, sign in ((i, -1.0), (j, 1.0)):
                if self._free_pos[node] >= 0:
                    rows.append(e)
                    cols.append(self._free_pos[node])
                    vals.append(sign)
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(pairs), self._free.size))

    def _block_pattern(self, pairs):
        """COO pattern of a sum of 2×2 pair blocks ``±B_e`` on the free coordinates.

        Returns ``(which, a, c, rows, cols, sign)``: entry ``p`` adds
        ``sign[p] · B[which[p], a[p], c[p]]`` at ``(rows[p], cols[p])``.
        """
        out = [[] for _ in range(6)]
        for e, (i, j) in enumerate(pairs):
            for u, v, sign in ((i, i, 1.0), (j, j, 1.0), (i, j, -1.0), (j, i, -1.0)):
                pu, pv = self._free_pos[u], self._free_pos[v]
                if pu < 0 or pv < 0:
                    continue
                for a in (0, 1):
                    for c in (0, 1):
                        for lst, val in zip(out, (e, a, c, 2 * pu + a, 2 * pv + c, sign)):
                            lst.append(val)
        which, a, c, rows, cols = (np.array(v, dtype=int) for v in out[:5])
        return which, a, c, rows, cols, np.array(out[5], dtype=float)

    def _strain_jacobian_pattern(self):
        """``(which, coord, cols, sign)``: ``J[which, cols] = sign · û[which, coord] / r⁰``."""
        out = [[] for _ in range(4)]
        for k, (i, j) in enumerate(self._targets):
            for node, sign in ((i, -1.0), (j, 1.0)):
                if self._free_pos[node] < 0:
                    continue
                for a in (0, 1):
                    for lst, val in zip(out, (k, a, 2 * self._free_pos[node] + a, sign)):
                        lst.append(val)
        which, coord, cols = (np.array(v, dtype=int) for v in out[:3])
        return which, coord, cols, np.array(out[3], dtype=float)

    @staticmethod
    def _lengths(pos, pairs):
        return np.linalg.norm(pos[:, pairs[:, 1]] - pos[:, pairs[:, 0]], axis=-1)

    # -- parameters ---------------------------------------------------------------------------
    @property
    def param_shapes(self):
        m = len(self._edges)
        return {"stiffness": (m,), "rest_length": (m,)}

    def _initial_params(self):
        m = len(self._edges)
        k = (np.random.default_rng(self.seed).uniform(0.5, 1.5, m) if self.stiffness is None
             else np.asarray(self.stiffness, dtype=float))
        ell = (self._reference_lengths.copy() if self.rest_length is None
               else np.asarray(self.rest_length, dtype=float))
        return {"stiffness": k, "rest_length": ell}

    @property
    def param_bounds(self):
        """Stiffness ``k ≥ 0`` floored at ``min_stiffness`` (keeps the network rigid); rest
        lengths ``ℓ > 0`` floored at ``min_rest_length``."""
        return {"stiffness": Bound(0.0, floor=self.min_stiffness, floor_name="min_stiffness"),
                "rest_length": Bound(0.0, strict=True, floor=self.min_rest_length,
                                     floor_name="min_rest_length", label="rest length")}

    def describe_param_index(self, name, index):
        return f" (edge {tuple(int(v) for v in self._edges[index])})"

    @property
    def reference_lengths(self):
        """Spring lengths ``r⁰`` in the reference configuration."""
        return self._reference_lengths.copy()

    # -- inputs and states --------------------------------------------------------------------
    def check_inputs(self, x):
        x = super().check_inputs(x)
        if np.any(x <= -1):
            b, k = np.argwhere(x <= -1)[0]
            raise ValueError(f"x[{b}, {k}] = {x[b, k]} compresses source {tuple(self._sources[k])}"
                             " to zero length or beyond; source strains must be > -1")
        return x

    def boundary_positions(self, x):
        """Node positions with every fixed node placed (pinned: reference; sources: driven)."""
        return self._ref[None] + np.einsum("bk,knc->bnc", x, self._source_pattern)

    def _state(self, s, x, nudge, boundary, multipliers=None):
        pos = boundary.copy()
        pos[:, self._free] = s.reshape(len(s), -1, 2)
        return ElasticState(s=s, x=x, nudge=nudge, positions=pos, multipliers=multipliers)

    def with_s(self, state, s):
        return self._state(s, state.x, state.nudge, state.positions, state.multipliers)

    def _geometry(self, pos, pairs):
        """Separation lengths ``r`` and unit vectors ``û`` of node pairs, batched."""
        d = pos[:, pairs[:, 1]] - pos[:, pairs[:, 0]]
        r = np.linalg.norm(d, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return r, d / r[..., None]

    # -- the three questions ------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """Mechanical equilibrium for imposed source strains ``x``.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
            Source strains (> −1).
        nudge : Nudge, Clamp or None
            ``Nudge``: minimise ``E + β C(ε, y)`` (real β). ``Clamp``: hold the target strains
            at the given values (Lagrange multipliers; exact).
        start : ElasticState, optional
            Initial guess (typically the free state of the same ``x``); default: the fixed
            nodes displaced, the free nodes at their reference positions.

        Returns
        -------
        ElasticState

        Raises
        ------
        ConvergenceError
            If the residual does not fall below ``tol`` within ``max_iter`` Newton steps.
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        boundary = self.boundary_positions(x)
        if start is not None and start.s.shape == (len(x), 2 * self._free.size):
            s0 = np.array(np.real(start.s), dtype=float)
        else:
            s0 = boundary[:, self._free].reshape(len(x), -1)
        if isinstance(nudge, Clamp):
            return self._clamped(x, self.check_targets(nudge.values, len(x)), s0, boundary)
        if isinstance(nudge, Nudge):
            nudge = Nudge(nudge.cost, self.check_targets(nudge.target, len(x)),
                          float(np.real(nudge.beta)))
        return self._state(self._minimise(x, nudge, s0, boundary), x, nudge, boundary)

    def _minimise(self, x, nudge, s0, boundary, what=None):
        """Minimise ``E + βC`` over the free coordinates by damped (modified) Newton."""
        def newton_step(state, r):
            return newton_direction(self.hessian(state, nudge), r, len(r), keep_factor=True)

        return relax(self, lambda s: self._state(s, x, nudge, boundary), s0, nudge,
                     newton_step, what=what)

    def outputs(self, state):
        """Strains ``ε_T = r_T / r⁰_T − 1`` of the target pairs, shape (batch, n_outputs)."""
        return self._lengths(state.positions, self._targets) / self._target_r0 - 1.0

    def param_gradient(self, state):
        """``∂E/∂k = ½(r − ℓ)²`` and ``∂E/∂ℓ = −k(r − ℓ)`` for every spring."""
        stretch = self._lengths(state.positions, self._edges) - self._params["rest_length"]
        return {"stiffness": 0.5 * stretch * stretch,
                "rest_length": -self._params["stiffness"] * stretch}

    # -- physics for references and contract tests --------------------------------------------
    def energy(self, state):
        stretch = self._lengths(state.positions, self._edges) - self._params["rest_length"]
        return 0.5 * (stretch * stretch) @ self._params["stiffness"]

    def tensions(self, state):
        """Spring tensions ``T_e = k_e (r_e − ℓ_e)`` (positive when stretched)."""
        r = self._lengths(state.positions, self._edges)
        return self._params["stiffness"] * (r - self._params["rest_length"])

    def energy_gradient(self, state):
        r, u = self._geometry(state.positions, self._edges)
        tension = self._params["stiffness"] * (r - self._params["rest_length"])
        return self._scatter(self._free_incidence, tension[..., None] * u)

    def _scatter(self, incidence, pair_forces):
        """``Σ_e ±f_e`` onto the free coordinates: (batch, n_pairs, 2) → (batch, 2·n_free)."""
        batch, m, _ = pair_forces.shape
        flat = pair_forces.transpose(1, 0, 2).reshape(m, 2 * batch)
        nodes = np.asarray(incidence.T @ flat).reshape(-1, batch, 2)
        return nodes.transpose(1, 0, 2).reshape(batch, -1)

    def output_vjp(self, state, g_out):
        """``Jᵀ g`` with ``∂ε_T/∂p_j = û_T / r⁰_T = −∂ε_T/∂p_i``."""
        _, u = self._geometry(state.positions, self._targets)
        return self._scatter(self._target_incidence, (g_out / self._target_r0)[..., None] * u)

    def adjoint(self, state, rhs):
        """Solve ``∂²E/∂s² λ = rhs`` with the exact (sparse, block-diagonal) Hessian."""
        batch, n = state.s.shape
        return _sparse_solve(self.hessian(state), np.asarray(rhs, dtype=float)).reshape(batch, n)

    def mixed_vjp(self, state, lam):
        """``λ · ∂²E/∂θ∂s``: ``(r − ℓ) û·Δλ`` for ``k`` and ``−k û·Δλ`` for ``ℓ``."""
        r, u = self._geometry(state.positions, self._edges)
        full = np.zeros(state.positions.shape)
        full[:, self._free] = lam.reshape(len(lam), -1, 2)
        dlam = full[:, self._edges[:, 1]] - full[:, self._edges[:, 0]]
        along = np.sum(u * dlam, axis=-1)
        return {"stiffness": (r - self._params["rest_length"]) * along,
                "rest_length": -self._params["stiffness"] * along}

    def residual(self, state):
        """``∂(E + βC)/∂s``; under a clamp, ``∂E/∂s`` projected onto the constraint surface."""
        r = self.energy_gradient(state)
        if isinstance(state.nudge, Nudge):
            return r + self.output_vjp(state, state.nudge.force(self.outputs(state)))
        if isinstance(state.nudge, Clamp):
            J = self.strain_jacobian(state)
            jjt = np.einsum("bks,bls->bkl", J, J)
            mu = np.linalg.solve(jjt, np.einsum("bks,bs->bk", J, r)[..., None])[..., 0]
            return r - np.einsum("bks,bk->bs", J, mu)
        return r

    # -- Hessians -----------------------------------------------------------------------------
    def strain_jacobian(self, state):
        """``J = ∂ε/∂s``, dense, shape (batch, n_outputs, 2·n_free)."""
        which, coord, cols, sign = self._jacobian_pattern
        _, u = self._geometry(state.positions, self._targets)
        J = np.zeros((len(state.s), self.n_outputs, state.s.shape[1]))
        J[:, which, cols] = sign * u[:, which, coord] / self._target_r0[which]
        return J

    def hessian(self, state, nudge=None, multipliers=None):
        """Block-diagonal sparse Hessian over the batch.

        Parameters
        ----------
        state : ElasticState
        nudge : Nudge, optional
            Add the Hessian of ``β C(ε(s))``.
        multipliers : ndarray (batch, n_outputs), optional
            Add ``Σ_T μ_T ∂²ε_T/∂s²`` (the Lagrangian of a clamp).

        Returns
        -------
        scipy.sparse.csc_matrix, shape (batch·2n_free, batch·2n_free)
        """
        batch, n = state.s.shape
        r, u = self._geometry(state.positions, self._edges)
        tension = self._params["stiffness"] * (r - self._params["rest_length"])
        parts = [self._pair_blocks(self._spring_pattern, self._params["stiffness"], tension / r,
                                   u)]
        pull = None
        if isinstance(nudge, Nudge):
            o = self.outputs(state)
            pull = nudge.force(o)
            parts.append(self._jtmj(state, nudge.stiffness(o)))
        elif multipliers is not None:
            pull = multipliers
        if pull is not None:
            rt, ut = self._geometry(state.positions, self._targets)
            parts.append(self._pair_blocks(self._target_pattern, 0.0,
                                           pull / (self._target_r0 * rt), ut))
        offset = n * np.arange(batch)[:, None]
        rows = np.concatenate([(p[0][None, :] + offset).ravel() for p in parts])
        cols = np.concatenate([(p[1][None, :] + offset).ravel() for p in parts])
        vals = np.concatenate([p[2].ravel() for p in parts])
        return sp.csc_matrix((vals, (rows, cols)), shape=(batch * n, batch * n))

    @staticmethod
    def _pair_blocks(pattern, axial, transverse, u):
        """Entries of ``Σ_e ±[axial_e ûûᵀ + transverse_e (1 − ûûᵀ)]`` over the pattern."""
        which, a, c, rows, cols, sign = pattern
        uu = u[:, which, a] * u[:, which, c]
        eye = (a == c).astype(float)
        axial = np.broadcast_to(axial, transverse.shape)
        vals = sign * (axial[:, which] * uu + transverse[:, which] * (eye - uu))
        return rows, cols, vals

    def _jtmj(self, state, curvature):
        """Entries of ``Jᵀ M J`` (batch of ``M = β∂²C/∂ε²``) on the free coordinates."""
        which, coord, cols, sign = self._jacobian_pattern
        _, u = self._geometry(state.positions, self._targets)
        jv = sign * u[:, which, coord] / self._target_r0[which]          # (batch, nnz_J)
        m = np.asarray(curvature)[:, which[:, None], which[None, :]]      # (batch, nnz, nnz)
        vals = m * jv[:, :, None] * jv[:, None, :]
        rows = np.repeat(cols, len(cols))
        return rows, np.tile(cols, len(cols)), vals.reshape(len(jv), -1)

    # -- clamp: Newton on the KKT system ------------------------------------------------------
    def _clamped(self, x, c, s0, boundary, max_outer=50):
        """Hold ``ε(s) = c``: augmented Lagrangian into the basin, then Newton on the KKT system.

        The augmented-Lagrangian phase minimises ``E + μ·(ε − c) + ½ρ‖ε − c‖²`` (a soft nudge,
        so a *minimum* is found) and updates ``μ ← μ + ρ(ε − c)`` until the strains are within
        ``1e-6`` of the clamp; Newton's method on ``∂E/∂s + Jᵀμ = 0, ε(s) = c`` then converges
        quadratically to the exact clamped equilibrium.
        """
        mu = np.zeros((len(s0), self.n_outputs))
        rho = self.clamp_penalty()
        s = s0
        what = f"{type(self).__name__} (clamp)"
        for _ in range(max_outer):
            pull = Nudge(_AugmentedLagrangian(mu, rho), c, 1.0)
            s = self._minimise(x, pull, s, boundary, what)
            violation = self.outputs(self._state(s, x, pull, boundary)) - c
            mu = mu + rho * violation
            if np.max(np.abs(violation)) < 1e-6:
                break
        else:
            raise ConvergenceError(f"{what}: augmented Lagrangian did not reach the clamp: "
                                   f"max|ε − c| = {np.max(np.abs(violation)):.3e}")
        n = s0.shape[1]
        clamp = Clamp(c)

        def split(z):
            return z[:, :n], z[:, n:]

        def kkt_residual(z):
            s, mu = split(z)
            state = self._state(s, x, clamp, boundary)
            stationarity = self.energy_gradient(state) + self.output_vjp(state, mu)
            return np.concatenate([stationarity, self.outputs(state) - c], axis=1)

        def kkt_step(z, r):
            s, mu = split(z)
            d = self._kkt_solve(self._state(s, x, clamp, boundary), mu, r)
            return d, np.ones(len(z), bool)

        z = damped_newton(np.concatenate([s, mu], axis=1), None, kkt_residual, kkt_step,
                          tol=self.tol, max_iter=int(self.max_iter), what=what)
        s, mu = split(z)
        return self._state(s, x, clamp, boundary, multipliers=mu)

    def clamp_penalty(self):
        """Penalty ``ρ`` of the augmented Lagrangian: 1000 × the stiffness of a target spring.

        In energy units (a strain is dimensionless): ``1000 · mean(k) · mean(r⁰_T²)``. Each
        augmented-Lagrangian update shrinks the clamp violation by about
        ``k_T/(k_T + ρ)``, where ``k_T`` is the network's stiffness against the target strain.
        """
        return 1e3 * float(np.mean(self._params["stiffness"])) * float(
            np.mean(self._target_r0 ** 2))

    def _kkt_solve(self, state, mu, rhs):
        """Solve the bordered system ``[[H + Σμ∇²ε, Jᵀ], [J, 0]] d = rhs`` for the batch."""
        batch, n = state.s.shape
        k = self.n_outputs
        H = self.hessian(state, multipliers=mu)
        J = self.strain_jacobian(state)
        Jb = sp.block_diag(list(J), format="csr")                # (batch·k, batch·n)
        kkt = sp.bmat([[H, Jb.T], [Jb, None]], format="csc")
        rhs_s, rhs_mu = rhs[:, :n], rhs[:, n:]
        sol = _sparse_solve(kkt, np.concatenate([rhs_s.ravel(), rhs_mu.ravel()]))
        return np.concatenate([sol[:batch * n].reshape(batch, n),
                               sol[batch * n:].reshape(batch, k)], axis=1)

    # -- builders -----------------------------------------------------------------------------
    @classmethod
    def random(cls, n_nodes, *, n_sources=1, n_targets=2, seed=0, **kwargs):
        """A Delaunay spring network on random points with its convex hull pinned.

        ``n_nodes`` points are drawn uniformly in a square of side ``√n_nodes`` (unit mean
        spacing). Source pairs are random interior springs; target pairs are springs with a
        free node, sharing no node with a source and chosen among the half farthest from the
        sources (an allosteric task: the response is asked for far from the drive).

        Returns
        -------
        ElasticNetwork
        """
        from scipy.spatial import Delaunay

        if int(n_nodes) < 8:
            raise ValueError(f"n_nodes={n_nodes!r}: need at least 8 points")
        rng = np.random.default_rng(seed)
        points = rng.uniform(0.0, np.sqrt(n_nodes), size=(int(n_nodes), 2))
        tri = Delaunay(points)
        edges = sorted({tuple(sorted((int(s[i]), int(s[j]))))
                        for s in tri.simplices for i, j in ((0, 1), (1, 2), (0, 2))})
        pinned = np.unique(tri.convex_hull).tolist()
        sources = cls._pick_sources(edges, pinned, n_sources, rng)
        targets = cls._pick_targets(points, edges, pinned, sources, n_targets, rng)
        return cls(points, edges, pinned, sources, targets, seed=seed, **kwargs)

    @staticmethod
    def _pick_sources(edges, pinned, n_sources, rng):
        interior = [e for e in edges if e[0] not in pinned and e[1] not in pinned]
        chosen, used = [], set()
        for i in rng.permutation(len(interior)):
            if len(chosen) == n_sources:
                break
            if not used & set(interior[i]):
                chosen.append(interior[i])
                used |= set(interior[i])
        if len(chosen) < n_sources:
            raise ValueError(f"n_sources={n_sources}: not enough disjoint interior springs")
        return chosen

    @staticmethod
    def _pick_targets(points, edges, pinned, sources, n_targets, rng):
        driven = {n for s in sources for n in s}
        candidates = [e for e in edges if not driven & set(e) and e not in sources
                      and not (e[0] in pinned and e[1] in pinned)]
        if len(candidates) < n_targets:
            raise ValueError(f"n_targets={n_targets}: only {len(candidates)} candidate springs")
        mid = np.array([points[list(e)].mean(0) for e in candidates])
        centre = np.array([points[list(s)].mean(0) for s in sources]).mean(0)
        far = np.argsort(-np.linalg.norm(mid - centre, axis=1))[:max(n_targets,
                                                                    len(candidates) // 2)]
        return [candidates[i] for i in rng.choice(far, n_targets, replace=False)]


class _AugmentedLagrangian(Cost):
    """``C(ε, c) = μ·(ε − c) + ½ρ‖ε − c‖²``: the pull of an augmented-Lagrangian clamp."""

    def __init__(self, multipliers, penalty):
        self.multipliers = multipliers
        self.penalty = penalty

    def value(self, outputs, y):
        d = outputs - y
        return np.sum(self.multipliers * d, axis=-1) + 0.5 * self.penalty * np.sum(d * d, -1)

    def gradient(self, outputs, y):
        return self.multipliers + self.penalty * (outputs - y)

    def hessian(self, outputs, y):
        n = outputs.shape[-1]
        return self.penalty * np.broadcast_to(np.eye(n), outputs.shape[:-1] + (n, n))


def _sparse_solve(matrix, rhs):
    """Sparse LU solve of ``matrix · x = rhs`` (rhs flattened), with a clear error if singular."""
    try:
        return spla.splu(matrix.tocsc()).solve(np.ascontiguousarray(rhs).ravel())
    except RuntimeError as err:
        raise ConvergenceError(
            f"singular Hessian ({err}): the network is floppy (a zero mode not removed by the "
            "pinned nodes, or zero stiffnesses)") from err


def contract_problem(system, rng):
    """Small displacements and target strains, 4 samples (the contract suite's problem)."""
    x = 0.05 * rng.normal(size=(4, system.n_features))
    y = 0.05 * rng.normal(size=(4, system.n_outputs))
    return x, y
