"""Nonlinear resistor networks: resistors plus diodes (a smooth law, Shockley's, or ideal).

Physics
-------
A resistor network (see :mod:`physlearn.systems.resistor`) in which some branches are diodes.
The steady state of a circuit of two-terminal elements with monotone current–voltage curves
``i_e(u)`` minimises the total *co-content* over the free node voltages (Millar 1951):

    E(g, x, V) = ½ Σ_e g_e (V_a − V_b)²  +  Σ_d D(V_anode(d) − V_cathode(d)),
    D(u) = ∫₀ᵘ i_D(u′) du′.

Stationarity is Kirchhoff's current law; strict convexity of ``E`` (``i_D`` strictly
increasing) makes the steady state unique. Three diode laws are available (``diode_law``):
two smooth, strictly convex ones relaxed by Newton, and the ideal diode, a constraint.

**Smooth law** (``"smooth"``, the default). Not a physical diode model: a smoothed
*ideal* (piecewise-linear) diode, neither Shockley's exponential nor a SPICE model. It
conducts ``g_D/2`` at zero bias and leaks in reverse (see below). Above its
knee it conducts with the on-conductance ``g_D``, below it blocks, and the knee has width
``V_T`` (the sharpness parameter, 1/V_T)::

    i_D(u) = g_D V_T [softplus((u − u₀)/V_T) − softplus(−u₀/V_T)],
    i_D′(u) = g_D σ((u − u₀)/V_T) > 0,

with the turn-on voltage ``u₀`` (``threshold``). ``i_D(0) = 0``; a reverse-biased diode
leaks the saturation current ``−g_D V_T softplus(−u₀/V_T)`` (the analogue of Shockley's
``−I_s``; ``g_D V_T ln 2`` for ``u₀ = 0``). Some leak is unavoidable for a strictly convex
co-content with ``i_D(0) = 0``: it is the area ``∫_{−∞}^0 i_D′`` under the differential
conductance below zero bias. It vanishes in the ideal-diode limit ``g_D V_T → 0`` or for a
turn-on voltage of several ``V_T`` (``u₀ ≫ V_T``, like a silicon diode). The co-content is

    D(u) = g_D V_T² [Ψ(t) − Ψ(t₀)] − g_D V_T softplus(t₀) u,   t = (u − u₀)/V_T,  t₀ = −u₀/V_T,

with ``Ψ(t) = ∫_{−∞}^t softplus = −Li₂(−eᵗ)`` (a dilogarithm), so ``E`` is smooth and
strictly convex. In the limit ``V_T → 0, g_D → ∞`` a diode from ground to node ``k`` imposes
``V_k ≥ −u₀`` and one from node ``k`` to ground imposes ``V_k ≤ u₀``: Scellier's excitatory and
inhibitory units. In SPICE it is a behavioural current source (``B`` element), see
:meth:`NonlinearResistorNetwork.to_spice`.

**Shockley law** (``"shockley"``). The ideal junction diode

    i_D(u) = I_s (exp(u / (n V_T)) − 1),     i_D′(u) = (I_s / (n V_T)) exp(u / (n V_T)),
    D(u) = I_s n V_T (exp(u / (n V_T)) − 1) − I_s u,

with saturation current ``I_s``, ideality factor ``n`` and thermal voltage ``V_T``; ``D`` is
strictly convex, so Newton and implicit differentiation apply unchanged. Units: volts,
siemens and amperes (the network's conductances are then in siemens, its input voltages in
volts); ``V_T = 0.02585`` V is room temperature. It is SPICE's diode ``D`` with ``IS``,
``N``, no breakdown, and the series resistance ``R_s`` (``series_resistance``, default 0;
SPICE's ``RS``). The exponential grows fast: a relaxation step that would overflow it is
damped by the Newton line search (a non-finite trial is refused); a state at which it
overflows raises ``FloatingPointError``.

*Series resistance.* With ``R_s > 0`` the branch current solves the implicit law
``i = I_s (exp((u − i R_s)/(n V_T)) − 1)``. Writing ``a = n V_T`` and ``w = (i + I_s) R_s/a``,
it reads ``w eʷ = (I_s R_s/a) exp((u + I_s R_s)/a)``: ``w`` is Lambert's ``W`` of that, i.e.
the Wright omega function ``ω(z) = W(eᶻ)`` at ``z = ln(I_s R_s/a) + (u + I_s R_s)/a``
(``scipy.special.wrightomega``, no overflow for large ``u``), and

    i(u) = (a/R_s) ω(z) − I_s,      i′(u) = ω / (R_s (1 + ω))   (from ω′ = ω/(1 + ω)),
    D(u) = u i − C(i),   C(i) = a [(I_s + i) ln(1 + i/I_s) − i] + ½ R_s i²,

the co-content being the Legendre transform of the content ``C(i) = ∫₀ⁱ u(i′) di′`` of the
inverse law ``u(i) = a ln(1 + i/I_s) + R_s i``. ``ln(1 + i/I_s) = (u + I_s R_s)/a − ω`` needs no
logarithm of a small number. As ``R_s → 0``, ``D → a i − I_s u`` (the plain law). The curve is
asymptotically ohmic (``i′ → 1/R_s``), so large voltages no longer overflow.

**Ideal law** (``"ideal"``). The ideal diode: blocking (``u ≤ 0``, no current) or conducting
with zero drop (``u = 0``, current ``≥ 0``). Its co-content is the indicator of ``u ≤ 0``, so
the equilibrium minimises the resistor co-content subject to ``u_d ≤ 0`` for every diode: a
convex quadratic programme whose KKT conditions are Kirchhoff's law with the diode currents
as multipliers, ``μ_d ≥ 0``, ``u_d ≤ 0`` and complementarity ``μ_d u_d = 0``. It is solved by
coordinate descent (monotone) followed by an exact primal–dual active-set finish, and
differentiated on the active set; see :mod:`physlearn.systems.ideal_diode`. The constraints
must be feasible: a diode path forward biased between fixed nodes (sources, ground, clamped
outputs) is refused with a ``ValueError``, as is a node that reaches a source only through
ideal diodes (its voltage is not unique). In SPICE it is approximated by a sharp ``D``
element with a proven node-voltage error bound (:meth:`NonlinearResistorNetwork.to_spice`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.special import expit, spence, wrightomega

from physlearn.nudges import Clamp, Nudge
from physlearn.systems.solvers import relax

from . import batched
from . import ideal_diode as _ideal
from .resistor import ResistorNetwork

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

_PATTERNS = ("alternating", "excitatory", "inhibitory")
_LAWS = ("smooth", "shockley", "ideal")
_EXP_MAX = 700.0     # exp(709.8) overflows a float64
#: ngspice's simulation temperature for exported Shockley diodes (°C) and its kT/q there
SPICE_TEMPERATURE_C = 27.0
SPICE_THERMAL_VOLTAGE = 1.38064852e-23 / 1.6021766208e-19 * (SPICE_TEMPERATURE_C + 273.15)


class NonlinearResistorNetwork(ResistorNetwork):
    """A resistor network with diodes (smooth or Shockley), trained through its conductances.

    Parameters
    ----------
    graph : networkx.Graph
        Undirected simple graph, as for :class:`~physlearn.systems.ResistorNetwork`: its edges
        are the trainable resistors.
    inputs : list
        One node (held at ``+x_k``) or node pair (held at ``±x_k``) per input feature.
    outputs : list
        Free nodes whose voltages are the outputs.
    ground : node
        The reference node, held at 0 V.
    bias_sources : dict, optional
        Extra fixed voltage sources, node → volts.
    conductance : array_like, optional
        Initial conductances aligned with the graph's edges (default: edge attributes, else
        uniform in ``[0.1, 1]`` from ``seed``); units of the reference conductance (siemens
        for the Shockley law).
    min_conductance : float, default 1e-6
        Floor of the conductances > 0, in the same units.
    diodes : {"alternating", "excitatory", "inhibitory"} or list of (anode, cathode)
        Where the diodes sit. A pattern puts one diode between every *hidden* node (free, not
        an output; in graph order) and ground: ``"excitatory"`` from ground to the node (the
        node voltage is kept above ``−threshold``), ``"inhibitory"`` from the node to ground
        (kept below ``threshold``), ``"alternating"`` excitatory and inhibitory in turn
        (Scellier 2024). A list gives explicit diode branches (node pairs; current flows from
        anode to cathode when forward biased). Diodes are branches of their own, in parallel
        with any resistor between the same nodes; they are not trained.
    diode_law : {"smooth", "shockley", "ideal"}, default "smooth"
        The diodes' current–voltage law (module notes). ``"smooth"``: the smoothed ideal diode
        of ``diode_conductance``, ``knee`` and ``threshold`` (not a physical diode model: it
        conducts ``g_D/2`` at zero bias and leaks in reverse). ``"shockley"``: the junction
        diode ``I_s (exp(u/(n V_T)) − 1)`` of ``saturation_current``, ``ideality`` and
        ``thermal_voltage`` (SPICE's ``D`` element), with ``series_resistance``. ``"ideal"``:
        blocking or conducting with zero drop, an inequality constraint (module notes).
    diode_conductance : float, default 10.0
        Smooth law: on-conductance ``g_D > 0`` of every diode (units of the reference
        conductance).
    knee : float, default 0.02
        Smooth law: knee width ``V_T > 0`` of the current–voltage curve (units of the input
        voltage). The sharpness is ``1/V_T``; ``V_T → 0`` is the ideal (piecewise-linear)
        diode. A reverse-biased diode leaks ``g_D V_T softplus(−u₀/V_T)`` (0.14 with the
        defaults).
    threshold : float, default 0.0
        Smooth law: turn-on voltage ``u₀`` of the diodes (units of the input voltage).
    saturation_current : float, default 1e-6
        Shockley law: saturation current ``I_s > 0`` (amperes). With the defaults a diode
        carries 1 A at ``V_T ln(10⁶ + 1) ≈ 0.36`` V, a knee inside the unit-scale voltages.
    ideality : float, default 1.0
        Shockley law: ideality (emission) factor ``n > 0`` (dimensionless).
    thermal_voltage : float, default 0.02585
        Shockley law: thermal voltage ``V_T = kT/q > 0`` (volts; 0.02585 V near 300 K).
    series_resistance : float, default 0.0
        Shockley law: series resistance ``R_s ≥ 0`` of every diode (ohms; SPICE's ``RS``), the
        Lambert-W law of the module notes. Must be 0 for the other laws.
    tol : float, default 1e-10
        Newton stops once ``‖∂F/∂s‖∞ < tol`` (units of current; then takes one more full
        step, which quadratic convergence takes to round-off).
    max_iter : int, default 100
        Newton steps before :class:`~physlearn.ConvergenceError` is raised. Ideal law: ``tol``
        bounds the KKT residual (scaled by the voltage and current scales, at least 1e-9) and
        the active-set iterations are capped at ``max(max_iter, 2 n_diodes + 10)``.
    linear_solver : {"auto", "dense", "sparse", "cg"}, default "auto"
        How each Newton step (and the adjoint) solves its linear systems, one sample at a time
        or in chunks of bounded memory, never the whole batch as one matrix
        (:mod:`physlearn.systems.batched`): ``"dense"`` Cholesky per sample, ``"sparse"``
        ``LDLᵀ`` over memory-bounded chunks, ``"cg"`` Jacobi-preconditioned conjugate
        gradients on the whole batch (inexact Newton), ``"auto"`` by operation counts.
    seed : int, optional
        Seed for the initial conductances.

    Raises
    ------
    TypeError
        If ``graph`` is not a :class:`networkx.Graph`.
    ValueError
        If the topology is invalid (as for :class:`~physlearn.systems.ResistorNetwork`, plus
        diodes on nodes outside the graph, a diode joining a node to itself, a node reached
        only through ideal diodes); ``diode_law`` or ``linear_solver`` is unknown; a diode
        constant (``diode_conductance``, ``knee``, ``saturation_current``, ``ideality``,
        ``thermal_voltage``) is not a finite number > 0; ``threshold`` is not finite;
        ``series_resistance`` is negative or non-zero for a law other than Shockley's;
        ``tol`` is not positive or ``max_iter`` not a positive integer.

    Notes
    -----
    **Energy.** The steady state of two-terminal elements with monotone current–voltage
    curves minimises the total co-content over the free node voltages (Millar 1951),

    .. math::

        E(g, x, V) = \\tfrac12 \\sum_e g_e (V_a − V_b)^2 + \\sum_d D(u_d), \\qquad
        D(u) = \\int_0^u i_D(u')\\,du', \\qquad u_d = V_{\\text{anode}} − V_{\\text{cathode}},

    with, for the smooth law, :math:`i_D(u) = g_D V_T[σ_+((u − u_0)/V_T) − σ_+(−u_0/V_T)]`
    (:math:`σ_+` the softplus) and, for Shockley's, :math:`i_D(u) = I_s(e^{u/nV_T} − 1)`; the ideal
    law makes each diode a linear inequality on the voltages. Otherwise ``E`` is a
    twice-differentiable, strictly convex function of the free voltages. The local learning signal
    is unchanged from the linear network, :math:`∂E/∂g_e = ½ ΔV_e^2`.

    **Relaxation.** Damped Newton on the free voltages, warm-started from ``start``. The
    Hessian is the free block of the weighted Laplacian plus the diode curvature,
    ``K + D_dᵀ diag(i_D′(u)) D_d`` (plus ``β ∂²C/∂o²`` on the outputs under a soft nudge);
    the samples of a batch are independent and share ``K``, so each sample's system is solved
    on its own (dense Cholesky, sparse ``LDLᵀ`` in memory-bounded chunks, or batched conjugate
    gradients: ``linear_solver``) and memory does not grow with the batch beyond the states.
    A clamp fixes the outputs and relaxes the hidden nodes only. ``E`` is strictly convex, but
    a negative nudge can make ``E + βC`` non-convex: a failed Cholesky, a negative ``LDLᵀ``
    pivot or negative curvature met by conjugate gradients flags the block, which is shifted
    (modified Newton); a nudge too strong for any minimum to exist raises
    :class:`~physlearn.ConvergenceError`.

    **No complex nudges.** A physical diode has a measured, real current–voltage curve with no
    analytic continuation; in this model ``softplus`` has branch points at
    ``u − u₀ = iπV_T(2n+1)``, a distance ``πV_T`` from the real axis, so ``g(β) = ∂E/∂g(s_β)``
    is holomorphic only in a disc whose radius shrinks to zero as the knee sharpens (the ideal
    diode is not analytic at all). Holomorphic EP is therefore refused (no ``"complex"``
    capability); EP with real β, contrastive and coupled learning apply.

    Dimensionless units: voltages in units of the input scale, conductances in units of a
    reference conductance, currents in their product.

    References
    ----------
    .. [1] J. Kendall et al., "Training end-to-end analog neural networks with equilibrium
       propagation", arXiv:2006.01981 (2020).
    .. [2] B. Scellier, "A fast algorithm to simulate nonlinear resistive networks",
       ICML 2024, arXiv:2402.11674.
    .. [3] W. Millar, "Some general theorems for non-linear systems possessing resistance",
       Phil. Mag. 42, 1150 (1951).

    Examples
    --------
    >>> import numpy as np
    >>> from physlearn.systems.diode import NonlinearResistorNetwork
    >>> net = NonlinearResistorNetwork.layered([2, 4, 1], seed=0)
    >>> state = net.equilibrium([[0.5, -0.2]])
    >>> bool(np.abs(net.residual(state)).max() < 1e-10)
    True
    """

    capabilities = frozenset({"soft_nudge", "clamp"})

    def __init__(self, graph: nx.Graph, inputs: Sequence, outputs: Sequence, ground: Hashable,
                 *, bias_sources: Mapping[Hashable, float] | None = None,
                 conductance: ArrayLike | None = None, min_conductance: float = 1e-6,
                 diodes: str | Sequence[tuple[Hashable, Hashable]] = "alternating",
                 diode_law: str = "smooth", diode_conductance: float = 10.0, knee: float = 0.02,
                 threshold: float = 0.0, saturation_current: float = 1e-6,
                 ideality: float = 1.0, thermal_voltage: float = 0.02585,
                 series_resistance: float = 0.0, tol: float = 1e-10, max_iter: int = 100,
                 linear_solver: str = "auto", seed: int | None = None):
        self.diodes = diodes
        self.linear_solver = linear_solver
        self.diode_law = diode_law
        self.saturation_current = saturation_current
        self.ideality = ideality
        self.thermal_voltage = thermal_voltage
        self.series_resistance = series_resistance
        self.diode_conductance = diode_conductance
        self.knee = knee
        self.threshold = threshold
        self.tol = tol
        self.max_iter = max_iter
        self._check_diode_hyperparameters()
        super().__init__(graph, inputs, outputs, ground, bias_sources=bias_sources,
                         conductance=conductance, min_conductance=min_conductance, seed=seed)

    def _check_diode_hyperparameters(self):
        if not (isinstance(self.diode_law, str) and self.diode_law in _LAWS):
            raise ValueError(f"diode_law={self.diode_law!r} is not one of {list(_LAWS)}")
        for name in ("diode_conductance", "knee", "saturation_current", "ideality",
                     "thermal_voltage"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (np.isscalar(value) and np.isreal(value)
                                               and np.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a finite number > 0")
        if not (np.isscalar(self.threshold) and np.isfinite(self.threshold)):
            raise ValueError(f"threshold={self.threshold!r} must be a finite number")
        r_s = self.series_resistance
        if isinstance(r_s, bool) or not (np.isscalar(r_s) and np.isreal(r_s)
                                         and np.isfinite(r_s) and r_s >= 0):
            raise ValueError(f"series_resistance={r_s!r} must be a finite number >= 0 (ohms)")
        if r_s != 0 and self.diode_law != "shockley":
            raise ValueError(f"series_resistance={r_s!r} applies to diode_law='shockley' only "
                             f"(diode_law={self.diode_law!r})")
        if not (np.isfinite(self.tol) and self.tol > 0):
            raise ValueError(f"tol={self.tol!r} must be a finite number > 0")
        if int(self.max_iter) != self.max_iter or self.max_iter < 1:
            raise ValueError(f"max_iter={self.max_iter!r} must be a positive integer")
        if self.linear_solver not in batched.METHODS:
            raise ValueError(f"linear_solver={self.linear_solver!r} is not one of "
                             f"{list(batched.METHODS)}")

    # -- topology: the resistor graph plus the diode branches ---------------------------------
    def _build_topology(self):
        super()._build_topology()
        pairs = self._diode_pairs()
        index = {n: i for i, n in enumerate(self.nodes)}
        for anode, cathode in pairs:
            for node in (anode, cathode):
                if node not in index:
                    raise ValueError(f"diode node {node!r} is not in the graph")
            if anode == cathode:
                raise ValueError(f"diode ({anode!r}, {cathode!r}) connects a node to itself")
        self.diode_pairs = tuple(pairs)
        m = len(pairs)
        rows = np.r_[np.arange(m), np.arange(m)]
        cols = np.array([index[a] for a, _ in pairs] + [index[c] for _, c in pairs], dtype=int)
        incidence = sp.csr_matrix((np.r_[np.ones(m), -np.ones(m)], (rows, cols)),
                                  shape=(m, len(self.nodes)))
        self._diode_incidence = incidence           # u_d = V_anode − V_cathode
        self._diode_free = incidence[:, self._free].tocsr()
        self._laplacian_cache = None
        self._method_choice = None                  # (linear_solver, method), see _solver_method
        self._check_floating()
        if self.diode_law == "ideal":
            _ideal.check_construction(self)

    def _check_connected(self, is_source):
        self._is_source = is_source       # checked once the diodes are known (_check_floating)

    def _check_floating(self):
        """Refuse nodes without a unique voltage: no path to a source or ground.

        Smooth and Shockley diodes count as connections (their co-content is strictly convex
        in ``u``, so a node reached only through diodes still has a unique voltage); ideal
        diodes do not: a blocking ideal diode carries no current whatever its voltage, so a
        node (or a resistor component) reached only through ideal diodes is undetermined.
        """
        sources = {self.nodes[i] for i in np.flatnonzero(self._is_source)}
        graph = nx.Graph()
        graph.add_nodes_from(self.graph.nodes)
        graph.add_edges_from(self.graph.edges)
        if self.diode_law != "ideal":
            graph.add_edges_from(self.diode_pairs)
        floating = [n for comp in nx.connected_components(graph)
                    if not comp & sources for n in comp]
        if floating:
            how = ("through resistors (ideal diodes do not fix a voltage: a blocking one "
                   "leaves the node floating)" if self.diode_law == "ideal" else
                   "through resistors or diodes")
            raise ValueError(
                f"floating node(s) {floating[:10]}: no path {how} to a voltage source or "
                "ground, so their voltage is undefined; connect them or remove them")

    def _diode_pairs(self):
        if isinstance(self.diodes, str):
            if self.diodes not in _PATTERNS:
                raise ValueError(f"diodes={self.diodes!r} is not one of {list(_PATTERNS)} or "
                                 "a list of (anode, cathode) pairs")
            hidden = np.setdiff1d(self._free, self._free[self.output_index], assume_unique=True)
            pairs = []
            for j, node in enumerate(self.nodes[i] for i in np.sort(hidden)):
                excitatory = self.diodes == "excitatory" or (
                    self.diodes == "alternating" and j % 2 == 0)
                pairs.append((self.ground, node) if excitatory else (node, self.ground))
            return pairs
        try:
            pairs = [tuple(p) for p in self.diodes]
        except TypeError:
            raise ValueError(f"diodes={self.diodes!r} is neither a pattern name nor a list of "
                             "(anode, cathode) pairs") from None
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"diodes={self.diodes!r}: every diode is an (anode, cathode) pair")
        return pairs

    # -- the diode curve ---------------------------------------------------------------------
    def _knee_variable(self, u):
        return (u - self.threshold) / self.knee

    @property
    def _nvt(self):
        return self.ideality * self.thermal_voltage

    def _shockley_exp(self, u):
        """``exp(u/(n V_T))``; a FloatingPointError rather than a silent inf on overflow.

        Inside the Newton line search (errors suppressed by ``np.errstate``) an overflowing
        trial gives ``inf`` and is refused, which damps the step.
        """
        arg = np.asarray(u, dtype=float) / self._nvt
        if np.geterr()["over"] != "ignore" and np.any(arg > _EXP_MAX):
            raise FloatingPointError(
                f"Shockley diode voltage {np.max(arg) * self._nvt:.6g} V overflows "
                f"exp(u/(n V_T)) (n V_T = {self._nvt:.6g} V): the state is unphysical")
        with np.errstate(over="ignore"):
            return np.exp(arg)

    def _series_branch(self, u):
        """Shockley diode in series with ``R_s > 0``: ``(i, ω, t)`` from the Wright ω function.

        ``ω = W(e^z)``, ``z = ln(I_s R_s/(nV_T)) + (u + I_s R_s)/(nV_T)``, gives
        ``i = (nV_T/R_s) ω − I_s``; ``t = (u − i R_s)/(nV_T) = (u + I_s R_s)/(nV_T) − ω`` is the
        junction's share of ``u`` over ``nV_T``, so also ``i = I_s expm1(t)`` (used for ``ω < 1``,
        where the first form cancels).
        """
        a, r, i_s = self._nvt, float(self.series_resistance), float(self.saturation_current)
        u = np.asarray(u, dtype=float)
        z = np.log(i_s * r / a) + (u + i_s * r) / a
        w = np.real(wrightomega(z))
        t = (u + i_s * r) / a - w
        i = np.where(w < 1.0, i_s * np.expm1(t), a / r * w - i_s)
        return i, w, t

    def _no_ideal_curve(self, what):
        if self.diode_law == "ideal":
            raise ValueError(
                f"an ideal diode has no {what} as a function of its voltage: its current is the "
                "KKT multiplier of u <= 0 (state.diode_currents of an equilibrium)")

    def diode_current(self, u):
        """Current ``i_D(u)`` through a diode with voltage ``u = V_anode − V_cathode``.

        Raises ``ValueError`` for ideal diodes (their current is a Lagrange multiplier: see
        ``state.diode_currents``).
        """
        self._no_ideal_curve("current")
        if self.diode_law == "shockley" and self.series_resistance > 0:
            return self._series_branch(u)[0]
        if self.diode_law == "shockley":
            e = self._shockley_exp(u)
            with np.errstate(over="ignore", invalid="ignore"):
                small = np.abs(np.asarray(u, float)) < self._nvt
                return self.saturation_current * np.where(small, np.expm1(
                    np.where(small, np.asarray(u, float) / self._nvt, 0.0)), e - 1.0)
        t0 = -self.threshold / self.knee
        return self.diode_conductance * self.knee * (
            np.logaddexp(0.0, self._knee_variable(u)) - np.logaddexp(0.0, t0))

    def diode_differential_conductance(self, u):
        """``di_D/du``: the diode's curvature in the energy (``> 0``).

        With a series resistance, ``di/du = ω / (R_s (1 + ω))`` (implicit differentiation of
        ``i = I_s(exp((u − iR_s)/(nV_T)) − 1)``: ``di/du = G/(1 + R_s G)`` with
        ``G = (i + I_s)/(nV_T)``).
        """
        self._no_ideal_curve("differential conductance")
        if self.diode_law == "shockley" and self.series_resistance > 0:
            w = self._series_branch(u)[1]
            return w / (float(self.series_resistance) * (1.0 + w))
        if self.diode_law == "shockley":
            return self.saturation_current / self._nvt * self._shockley_exp(u)
        return self.diode_conductance * expit(self._knee_variable(u))

    def diode_cocontent(self, u):
        """Co-content ``D(u) = ∫₀ᵘ i_D``: the diode's contribution to the energy.

        Ideal law: zero, the finite part of the indicator of ``u ≤ 0`` (exact on the feasible
        set, where every equilibrium lies; off it the indicator is ``+∞``, which is not
        reported so that perturbed states keep a finite, differentiable energy). With a series
        resistance: the Legendre transform of the content, ``D(u) = u i − nV_T[(I_s + i) t − i]
        − ½ R_s i²`` with ``t = ln(1 + i/I_s)`` (module notes).
        """
        if self.diode_law == "ideal":
            return np.zeros(np.shape(u))
        if self.diode_law == "shockley" and self.series_resistance > 0:
            u = np.asarray(u, dtype=float)
            i, _, t = self._series_branch(u)
            return (u * i - self._nvt * ((self.saturation_current + i) * t - i)
                    - 0.5 * float(self.series_resistance) * i * i)
        if self.diode_law == "shockley":
            u = np.asarray(u, dtype=float)
            return self._nvt * self.diode_current(u) - self.saturation_current * u
        gd, vt = self.diode_conductance, self.knee
        t0 = -self.threshold / vt
        return (gd * vt * vt * (_softplus_integral(self._knee_variable(u))
                                - _softplus_integral(t0))
                - gd * vt * np.logaddexp(0.0, t0) * u)

    def _diode_voltages(self, state):
        return np.asarray(self._diode_incidence @ state.voltages.T).T

    # -- SPICE export ---------------------------------------------------------------------------
    def _check_spice_sample(self, x):
        """Ideal law: a sample whose sources forward-bias a diode path is a source loop."""
        if self.diode_law == "ideal":
            fixed, V = _ideal._fixed_values(self, x, None)
            _ideal.check_feasible(self, V, fixed)

    def _spice_elements(self, names):
        """Diodes as SPICE elements (see :meth:`to_spice`).

        Shockley law: a ``D`` element of ``.model dshockley D(IS=I_s N=N)`` with
        ``N = n V_T / V_T,spice``, where ``V_T,spice = kT/q`` at the simulation temperature
        (``TEMP = TNOM = 27 °C``, set by an ``.options`` line, so ``IS`` is not rescaled) with
        ngspice's constants (k = 1.38064852e-23 J/K, q = 1.6021766208e-19 C): then ``N V_T,spice``
        equals ``ideality · thermal_voltage``. Smooth law: a behavioural current source
        ``B… I = g_D V_T [softplus((V(a,c) − u₀)/V_T) − softplus(−u₀/V_T)]`` with the overflow-
        free ``softplus(t) = (|t| + t)/2 + ln(1 + exp(−|t|))``. A series resistance is the
        model's ``RS=`` (SPICE puts it between the anode and the junction: the same law).

        Ideal law: an approximation, a ``D`` element of ``.model dideal D(IS=1e-12 N=0.0001)``
        (:data:`physlearn.systems.ideal_diode.SPICE_IS`, ``SPICE_N``): it leaks at most
        ``I_s + G_min ΔV`` in reverse and drops at most ``N V_T ln(1 + I_max/I_s)`` forward
        (about 0.1 mV at unit scales). The node-voltage error this causes is bounded, per node,
        by :func:`physlearn.systems.ideal_diode.spice_error_bound` (a sensitivity bound on the
        ideal active set, valid away from switching points; derivation in its notes).
        """
        lines = []
        if self.diode_law == "ideal":
            n_spice = _ideal.SPICE_N
            lines.append(f".options TEMP={SPICE_TEMPERATURE_C:g} TNOM={SPICE_TEMPERATURE_C:g}")
            lines.append(f".model dideal D(IS={float(_ideal.SPICE_IS)!r} N={float(n_spice)!r})")
            for k, (a, c) in enumerate(self.diode_pairs):
                lines.append(f"D{k} {names[a]} {names[c]} dideal")
            return lines
        if self.diode_law == "shockley":
            n_spice = self._nvt / SPICE_THERMAL_VOLTAGE
            rs = (f" RS={float(self.series_resistance)!r}" if self.series_resistance > 0
                  else "")
            lines.append(f".options TEMP={SPICE_TEMPERATURE_C:g} TNOM={SPICE_TEMPERATURE_C:g}")
            lines.append(f".model dshockley D(IS={float(self.saturation_current)!r} "
                         f"N={float(n_spice)!r}{rs})")
            for k, (a, c) in enumerate(self.diode_pairs):
                lines.append(f"D{k} {names[a]} {names[c]} dshockley")
            return lines
        gd, vt, u0 = self.diode_conductance, self.knee, self.threshold
        offset = np.logaddexp(0.0, -u0 / vt)
        for k, (a, c) in enumerate(self.diode_pairs):
            t = f"((V({names[a]},{names[c]})-({float(u0)!r}))/{float(vt)!r})"
            softplus = f"((abs({t})+{t})/2+ln(1+exp(-abs({t}))))"
            lines.append(f"B{k} {names[a]} {names[c]} "
                         f"I={float(gd * vt)!r}*({softplus}-{float(offset)!r})")
        return lines

    # -- the three questions ------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """Steady state for inputs ``x`` by damped Newton on the free node voltages.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        nudge : Nudge, Clamp or None
            ``Nudge``: adds ``β C(o, y)`` to the energy (real β only). ``Clamp``: holds the
            outputs at the given voltages and relaxes the hidden nodes.
        start : ResistorState, optional
            Initial guess (typically the free state of the same ``x``).

        Returns
        -------
        ResistorState

        Raises
        ------
        ConvergenceError
            If ``‖∂F/∂s‖∞`` does not fall below ``tol`` within ``max_iter`` Newton steps.
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        if self.diode_law == "ideal":
            return _ideal.equilibrium(self, x, nudge, start)
        v_src = self.source_voltages(x)
        s0 = np.zeros((x.shape[0], len(self._free)))
        if start is not None and start.s.shape == s0.shape and not np.iscomplexobj(start.s):
            s0 = np.array(start.s, dtype=float)
        active = np.ones(len(self._free), bool)
        if isinstance(nudge, Clamp):
            s0[:, self.output_index] = self.check_targets(nudge.values, x.shape[0])
            active[self.output_index] = False
        elif isinstance(nudge, Nudge):
            nudge = Nudge(nudge.cost, self.check_targets(nudge.target, x.shape[0]),
                          float(np.real(nudge.beta)))

        s = relax(self, lambda s: self._state(s, x, nudge, v_src), s0, nudge,
                  lambda state, r: self._newton_step(state, r, active, nudge), active=active)
        return self._state(s, x, nudge, v_src)

    # -- physics for references and contract tests --------------------------------------------
    def energy(self, state):
        return super().energy(state) + np.sum(self.diode_cocontent(self._diode_voltages(state)),
                                              axis=1)

    def energy_gradient(self, state):
        if self.diode_law == "ideal":       # the diode currents are the state's multipliers
            return _ideal.energy_gradient(self, state, super().energy_gradient(state))
        current = self.diode_current(self._diode_voltages(state))      # anode → cathode
        return super().energy_gradient(state) + np.asarray(self._diode_free.T @ current.T).T

    def adjoint(self, state, rhs):
        """Solve ``∂²E/∂s² λ = rhs``: the Hessian at ``state`` (Laplacian + diode curvature).

        One solve per sample (or per memory-bounded chunk), see ``linear_solver``. Ideal
        law: the Hessian restricted to the active set
        (:func:`physlearn.systems.ideal_diode.adjoint`).
        """
        if self.diode_law == "ideal":
            return _ideal.adjoint(self, state, rhs)
        rhs = np.ascontiguousarray(rhs, dtype=float)
        lam, _ = batched.solve(self.batch_hessian(state), rhs, method=self._solver_method())
        return lam

    def kkt_residual(self, state):
        """Ideal law: the KKT residual of each sample (``max`` of ``|KCL|``, ``max(u, 0)``,
        ``max(−μ, 0)``, ``|μ u|``; :func:`physlearn.systems.ideal_diode.kkt_residual`)."""
        if self.diode_law != "ideal":
            raise ValueError("kkt_residual is the certificate of the ideal-diode law")
        return _ideal.kkt_residual(self, state)

    # inherited unchanged: outputs, param_gradient (½ΔV²), output_vjp, mixed_vjp (diodes are not
    # trained, so ∂²E/∂g∂V is the resistor term alone), with_s, residual.

    # -- Hessians ------------------------------------------------------------------------------
    def _laplacian(self):
        """Free-node block ``K`` of the weighted Laplacian (CSR), cached per ``g``.

        The cache also keeps the dense copy of ``K``, made on first use.
        """
        g = self._params["conductance"]
        cache = self._laplacian_cache
        if cache is None or not np.array_equal(cache["g"], g):
            K = (self._d_free.T @ sp.diags(g) @ self._d_free).tocsr()
            self._laplacian_cache = cache = {"g": g.copy(), "K": K, "dense": None}
        return cache

    def _solver_method(self):
        """The solve method of ``linear_solver``; ``"auto"`` chooses once per network, on the
        conductances of its first solve and the diodes' curvature at zero voltage (the
        Hessian where a relaxation from rest starts; a condition estimate per training step
        would cost Lanczos iterations on the hot path, and training changes ``K`` only
        gradually). Ideal diodes have no curvature: ``K`` alone."""
        chosen = getattr(self, "_method_choice", None)
        if chosen is None or chosen[0] != self.linear_solver:
            K = self._laplacian()["K"]
            at_rest = batched.BatchHessian(K)
            if self.diode_law != "ideal" and len(self.diode_pairs):
                c0 = self.diode_differential_conductance(np.zeros((1, len(self.diode_pairs))))
                at_rest = batched.BatchHessian(K, self._diode_free, c0)
            chosen = (self.linear_solver, batched.choose_method(at_rest, self.linear_solver))
            self._method_choice = chosen
        return chosen[1]

    def batch_hessian(self, state, nudge=None):
        """The Hessians of ``E`` (or ``E + βC``) of every sample, as one shared operator.

        Returns
        -------
        physlearn.systems.batched.BatchHessian
            ``H_b = K + D_dᵀ diag(i_D′(u_b)) D_d`` (plus ``β ∂²C/∂o²`` on the outputs under a
            soft nudge), with ``K`` the free block of the weighted Laplacian, shared by the
            batch and never copied per sample.
        """
        cache = self._laplacian()
        curvature = self.diode_differential_conductance(self._diode_voltages(state))
        S = None
        if isinstance(nudge, Nudge):
            k = len(self.output_index)
            S = np.asarray(nudge.stiffness(self.outputs(state))).reshape(-1, k, k)
        H = batched.BatchHessian(cache["K"], self._diode_free, curvature, self.output_index,
                                 S, dense_K=cache["dense"])
        if self._solver_method() in ("dense", "cg") and H.density > 0.05:
            cache["dense"] = H.dense_K()
        return H

    def hessian(self, state, nudge=None):
        """Block-diagonal sparse Hessian of ``E`` (or ``E + βC``) over the batch.

        For inspection and small batches only: the solvers never form it (see
        :meth:`batch_hessian`).

        Returns
        -------
        scipy.sparse.csc_matrix, shape (batch·n_free, batch·n_free)
            Sample ``b`` occupies rows and columns ``b·n_free … (b+1)·n_free − 1``.
        """
        H = self.batch_hessian(state, nudge)
        return sp.block_diag([H.block(b) for b in range(state.s.shape[0])], format="csc")

    def _newton_step(self, state, r, active, nudge):
        """Newton direction on the ``active`` free nodes (zero on clamped outputs).

        Conjugate gradients stop at the relative residual ``min(10⁻², ‖r_b‖∞)`` (an inexact
        Newton step with a forcing term that vanishes with the residual, so convergence stays
        superlinear); direct methods are exact.
        """
        H = self.batch_hessian(state, nudge)
        rtol = np.minimum(1e-2, np.max(np.abs(r), axis=1))
        keep = np.flatnonzero(active)
        if len(keep) < len(active):
            H = H.restrict(keep)
        d = np.zeros_like(r)
        d[:, keep], exact, solve = batched.solve(H, r[:, keep], method=self._solver_method(),
                                                 rtol=rtol, keep_factor=True)
        return d, exact, None if solve is None else _on(keep, solve, r.shape[1])


def _on(keep, solve, n):
    """``solve`` on the components ``keep`` of an ``n``-vector, zero elsewhere (a clamp's
    held outputs)."""
    def on(r):
        d = np.zeros((len(r), n))
        d[:, keep] = solve(r[:, keep])
        return d
    return on


def _softplus_integral(t):
    """``Ψ(t) = ∫_{−∞}^t log(1 + e^τ) dτ = −Li₂(−eᵗ)``, evaluated without overflow.

    For ``t > 0`` the inversion formula of the dilogarithm gives
    ``Ψ(t) = π²/6 + t²/2 + Li₂(−e^{−t})``; scipy's ``spence(z) = Li₂(1 − z)``.
    """
    t = np.asarray(t, dtype=float)
    small = spence(1.0 + np.exp(-np.abs(t)))        # Li₂(−e^{−|t|})
    return np.where(t <= 0, -small, np.pi**2 / 6 + 0.5 * t * t + small)
