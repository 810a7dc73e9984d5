"""Linear resistor networks (equivalently: linear flow networks).

Physics
-------
Nodes carry voltages ``V``; edge ``e = (a, b)`` is a resistor of conductance ``g_e ≥ 0``.
Input nodes are held by ideal voltage sources relative to a ground node (0 V). At steady state
Kirchhoff's current law holds at every other node, which is the condition for a minimum of the
total co-content (half the dissipated power)

    E(g, x, V) = ½ Σ_e g_e (V_a − V_b)²,

over the voltages of the free nodes. Outputs are node voltages. A soft nudge injects the current
−β ∂C/∂V_out at each output node; a clamp holds the outputs with extra voltage sources.

Everything is linear in ``V``: the free-node block ``K`` of the weighted Laplacian is factorised
once (sparse LU) and serves every sample of a batch and every nudged phase, because a nudge only
acts on the ``n_out`` output nodes. The nudged outputs solve an ``n_out``-dimensional problem
``o = o₀ − β R ∇C(o)`` with the output response matrix ``R = P K⁻¹ Pᵀ`` (a Schur complement).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from physlearn.nudges import Clamp
from physlearn.system import Bound, ConvergenceError, EquilibriumSystem, State
from physlearn.systems.solvers import check_nudge_stability, stability_interval

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

SPICE_RAW_FILE = "op.raw"   # where a netlist of ``to_spice`` writes its operating point


@dataclass
class ResistorState(State):
    """A resistor-network state: the voltage of every node and the drop across every edge.

    ``voltages`` holds every node (sources included), ``drops`` the voltage across every edge
    (filled when first needed).

    Parameters
    ----------
    s, x, nudge, info : see :class:`physlearn.State`
        As for :class:`physlearn.State`: ``s`` holds the voltages of the free nodes.
    voltages : ndarray, shape (batch, n_nodes), optional
        The voltage of every node (volts, in units of the input scale), in the order of
        ``nodes``.
    nodes : tuple, default ()
        The network's nodes, in the order of the columns of ``voltages``.

    Notes
    -----
    At equilibrium Kirchhoff's current law holds at every free node: the voltages minimise
    the co-content :math:`E = ½ \\sum_e g_e ΔV_e^2`, and ``drops`` holds the
    :math:`ΔV_e = V_a − V_b` that the learning rules read (:math:`∂E/∂g_e = ½ΔV_e^2`).

    References
    ----------
    .. [1] W. Millar, "Some general theorems for non-linear systems possessing resistance",
       Phil. Mag. 42, 1150–1160 (1951).
    """

    voltages: np.ndarray = None
    nodes: tuple = ()
    drops: np.ndarray = field(default=None, init=False, repr=False)   # not kept by replace()

    @property
    def node_voltages(self):
        """Map node → voltage array of shape (batch,) (one entry per sample)."""
        return {node: self.voltages[:, i] for i, node in enumerate(self.nodes)}


class ResistorNetwork(EquilibriumSystem):
    """A linear resistor (or flow) network trained through its conductances.

    Parameters
    ----------
    graph : networkx.Graph
        Undirected simple graph; every edge is a resistor. If every edge has a
        ``"conductance"`` attribute it gives the initial conductances.
    inputs : list
        One entry per input feature: a node held at ``+x_k`` volts, or a pair ``(n_plus,
        n_minus)`` held at ``+x_k`` and ``−x_k`` (a differential drive, which lets a passive
        network realise negative weights; Kendall et al. 2020).
    outputs : list
        Nodes whose voltages (volts) are the outputs. They must be free (not sources, not
        ground).
    ground : node
        The reference node, held at 0 V.
    bias_sources : dict, optional
        Extra fixed voltage sources, node → volts (a bias).
    conductance : array_like, optional
        Initial conductances ``g_e ≥ 0`` (units of the reference conductance) aligned with
        ``net.edges``; default: edge attributes, else uniform in ``[0.1, 1]`` drawn from
        ``seed``.
    min_conductance : float, default 1e-6
        Floor of the conductances > 0 (units of the reference conductance; keeps the network
        connected): an assignment below it is refused, a learning step
        (:meth:`update_params`) clips onto it.
    seed : int, optional
        Seed for the initial conductances.

    Raises
    ------
    TypeError
        If ``graph`` is not a :class:`networkx.Graph`.
    ValueError
        If the graph is directed, a multigraph, has self-loops or no edges; a node of
        ``inputs``, ``outputs``, ``ground`` or ``bias_sources`` is not in it; a node carries
        two voltage sources; an output is not a free node; a node has no path to a source
        (floating); ``min_conductance`` is not a finite number > 0; or the initial
        conductances have the wrong shape, are not finite or lie below ``min_conductance``.

    Notes
    -----
    Dimensionless units: voltages in units of the input scale, conductances in units of a
    reference conductance. At steady state Kirchhoff's current law holds at every free node,
    which is the condition for a minimum over the free-node voltages of the co-content (half
    the dissipated power)

    .. math::

        E(g, x, V) = \\tfrac12 \\sum_{e = (a, b)} g_e\\, (V_a − V_b)^2,

    with the input nodes held at :math:`±x_k` and the ground at 0 (Millar 1951). A soft nudge
    injects the current :math:`−β\\,∂C/∂V_{\\text{out}}` at each output node. The same class
    describes a *flow network*: read pressures for voltages and pipe conductances for
    conductances (Stern et al. 2021); the dissipated power is the same quadratic form.

    The local learning signal is :math:`∂E/∂g_e = ½\\,ΔV_e^2`, the squared voltage drop across
    the resistor, so every EP-family rule only needs the drops of a few runs. Everything is
    linear in :math:`V`: the free-node Laplacian block is factorised once per parameter value
    and serves every sample and every nudged phase.

    References
    ----------
    .. [1] J. Kendall et al., "Training end-to-end analog neural networks with equilibrium
       propagation", arXiv:2006.01981 (2020).
    .. [2] M. Stern, D. Hexner, J. Rocks, A. Liu, "Supervised learning in physical networks:
       from machine learning to learning machines", Phys. Rev. X 11, 021045 (2021).
    .. [3] B. Scellier, "A fast algorithm to simulate nonlinear resistive networks",
       ICML 2024, arXiv:2402.11674.
    .. [4] W. Millar, "Some general theorems for non-linear systems possessing resistance",
       Phil. Mag. 42, 1150–1160 (1951).

    Examples
    --------
    >>> from physlearn.systems import ResistorNetwork
    >>> net = ResistorNetwork.layered([2, 4, 1], seed=0)
    >>> state = net.equilibrium([[0.5, -0.2]])
    >>> net.outputs(state).shape
    (1, 1)
    """

    capabilities = frozenset({"soft_nudge", "clamp", "complex"})
    _param_aliases = {"outputs": "output_nodes"}   # ``outputs(state)`` is the seam's method

    def __init__(self, graph: nx.Graph, inputs: Sequence, outputs: Sequence, ground: Hashable,
                 *, bias_sources: Mapping[Hashable, float] | None = None,
                 conductance: ArrayLike | None = None, min_conductance: float = 1e-6,
                 seed: int | None = None):
        self.graph = graph
        self.inputs = inputs
        self.ground = ground
        self.bias_sources = bias_sources
        self.conductance = conductance
        self.min_conductance = min_conductance
        self.seed = seed
        self.output_nodes = outputs
        self._build_topology()
        self._cache = None
        self.params = {"conductance": self._initial_conductance()}

    # -- topology -----------------------------------------------------------------------------
    def _build_topology(self):
        g = self.graph
        if not isinstance(g, nx.Graph):
            raise TypeError(f"graph must be an undirected networkx.Graph, got {type(g).__name__}")
        if g.is_directed() or g.is_multigraph():
            raise ValueError(
                f"graph is a {type(g).__name__}: it must be a simple undirected networkx.Graph "
                "(a resistor has no direction; parallel resistors are one edge of summed "
                "conductance)")
        loops = list(nx.selfloop_edges(g))
        if loops:
            raise ValueError(f"graph has self-loop edge(s) {loops[:5]}: a resistor must join "
                             "two different nodes")
        m = self.min_conductance
        if isinstance(m, bool) or not isinstance(m, (int, float, np.number)) \
                or not (np.isfinite(m) and m > 0):
            raise ValueError(f"min_conductance={m!r} must be a finite number > 0")
        self.nodes = tuple(g.nodes)
        index = {n: i for i, n in enumerate(self.nodes)}
        self.edges = tuple(g.edges)
        if not self.edges:
            raise ValueError("graph has no edges")

        def node_index(node, what):
            if node not in index:
                raise ValueError(f"{what} node {node!r} is not in the graph")
            return index[node]

        # Sources: x → source voltages is the linear map  v_src = S x + c.
        src, rows, cols, signs, const = [], [], [], [], []
        for k, entry in enumerate(self.inputs):
            pair = entry if isinstance(entry, tuple) and len(entry) == 2 and all(
                n in index for n in entry) and entry not in index else (entry,)
            if len(pair) == 2 and pair[0] == pair[1]:
                raise ValueError(
                    f"input pair {entry!r} holds one node at +x and at -x: two voltage sources "
                    "in parallel form a loop of voltage sources; give two different nodes")
            for sign, node in zip((1.0, -1.0), pair):
                rows.append(len(src))
                cols.append(k)
                signs.append(sign)
                src.append(node_index(node, "input"))
                const.append(0.0)
        for node, volts in (self.bias_sources or {}).items():
            src.append(node_index(node, "bias source"))
            const.append(float(volts))
        src.append(node_index(self.ground, "ground"))
        const.append(0.0)
        if len(set(src)) != len(src):
            twice = [self.nodes[i] for i in sorted(set(src)) if src.count(i) > 1]
            raise ValueError(f"node(s) {twice} listed twice among inputs, bias sources and "
                             "ground: two voltage sources on one node form a loop of voltage "
                             "sources (they would fight); give each fixed node one source")
        self.n_features = len(self.inputs)
        self._source = np.array(src)
        self._source_map = sp.csr_matrix((signs, (rows, cols)), shape=(len(src), self.n_features))
        self._source_const = np.array(const)

        is_source = np.zeros(len(self.nodes), bool)
        is_source[self._source] = True
        self._free = np.flatnonzero(~is_source)
        free_pos = {int(i): p for p, i in enumerate(self._free)}
        out = [node_index(n, "output") for n in self.output_nodes]
        if any(is_source[i] for i in out):
            raise ValueError("output nodes must be free nodes, not inputs, bias sources or ground")
        self.output_index = np.array([free_pos[i] for i in out], dtype=int)
        self.n_outputs = len(out)
        self._check_connected(is_source)

        a = np.array([index[u] for u, _ in self.edges])
        b = np.array([index[v] for _, v in self.edges])
        m = len(self.edges)
        self._ends = (a, b)
        incidence = sp.csr_matrix(
            (np.r_[np.ones(m), -np.ones(m)], (np.r_[np.arange(m), np.arange(m)], np.r_[a, b])),
            shape=(m, len(self.nodes)))
        self._incidence = incidence
        self._d_free = incidence[:, self._free].tocsc()
        self._d_src = incidence[:, self._source].tocsc()

    def _check_connected(self, is_source):
        sources = {self.nodes[i] for i in np.flatnonzero(is_source)}
        floating = [n for comp in nx.connected_components(self.graph)
                    if not comp & sources for n in comp]
        if floating:
            raise ValueError(
                f"floating node(s) {floating[:10]}: no path to a voltage source or ground, so "
                "their voltage is undefined; connect them or remove them")

    @property
    def param_shapes(self):
        return {"conductance": (len(self.edges),)}

    def _initial_conductance(self):
        if self.conductance is not None:
            return np.asarray(self.conductance, dtype=float)
        attrs = [d.get("conductance") for *_, d in self.graph.edges(data=True)]
        if all(a is not None for a in attrs):
            return np.asarray(attrs, dtype=float)
        return np.random.default_rng(self.seed).uniform(0.1, 1.0, len(self.edges))

    @property
    def param_bounds(self):
        """Conductances ``g ≥ 0``, floored at ``min_conductance`` (keeps the network connected)."""
        return {"conductance": Bound(0.0, floor=self.min_conductance,
                                     floor_name="min_conductance", label="conductance")}

    def describe_param_index(self, name, index):
        return f" (edge {self.edges[index]!r})"

    # -- factorisation, shared by every sample and every phase -------------------------------
    def _factor(self):
        g = self._params["conductance"]
        if self._cache is not None and np.array_equal(self._cache["g"], g):
            return self._cache
        G = sp.diags(g)
        K = (self._d_free.T @ G @ self._d_free).tocsc()
        B = (self._d_free.T @ G @ self._d_src).tocsr()
        try:
            lu = spla.splu(K)
        except RuntimeError as err:  # exactly singular: an island of zero conductance
            raise ValueError(f"the conductance matrix is singular ({err}); some node is "
                             "disconnected from every source by zero conductances") from err
        P = sp.csr_matrix((np.ones(self.n_outputs), (np.arange(self.n_outputs),
                          self.output_index)), shape=(self.n_outputs, len(self._free)))
        U = lu.solve(P.T.toarray())          # K⁻¹ Pᵀ: response of every node to output currents
        R = U[self.output_index]              # P K⁻¹ Pᵀ: output response (symmetric)
        drop_response = np.asarray(self._d_free @ U)      # edge drops per unit output current
        self._cache = {"g": g.copy(), "lu": lu, "B": B, "U": U, "R": 0.5 * (R + R.T),
                       "drop_response": drop_response}
        return self._cache

    def response_matrix(self):
        """The output response matrix ``R = P K⁻¹ Pᵀ`` (n_out × n_out, symmetric positive).

        ``R[i, j]`` is the voltage at output ``i`` per unit current injected at output ``j``
        with every source held: the outputs' Thévenin resistance matrix. The nudged outputs
        obey ``o = o₀ − β R ∇C(o)``; for the squared error ``g(β)`` has poles at ``β = −1/λ``
        for the eigenvalues ``λ`` of ``R``, so holomorphic EP needs ``|β| < 1/λ_max(R)``.
        """
        return self._factor()["R"].copy()

    def convergence_radius(self):
        """``1/λ_max(R)``: the radius of convergence of ``g(β)`` for the squared error."""
        return 1.0 / np.linalg.eigvalsh(self.response_matrix()).max()

    def nudge_radius(self, x, y, cost, beta=None):
        """Radius of convergence of ``g(β) = ∂E/∂θ(s_β)`` around β = 0, or None if unknown.

        Notes
        -----
        For the squared error the nudged outputs are ``o = (1 + βR)⁻¹(o₀ + βRy)``, with poles
        at ``β = −1/λ`` for the eigenvalues ``λ`` of ``R``: the radius is ``1/λ_max(R)``
        (:meth:`convergence_radius`), the same for every sample. Other costs make the nudged
        outputs nonlinear in β and the radius is not known in closed form (None).
        """
        from physlearn.costs import SquaredError

        return self.convergence_radius() if isinstance(cost, SquaredError) else None

    def stability_interval(self, cost, outputs, y):
        """Real β for which ``E + βC`` has a minimum at ``outputs``: ``(lo, hi)`` per sample.

        Notes
        -----
        The nudge acts on the outputs only, so the nudged Hessian is positive definite iff
        ``R⁻¹ + β ∂²C/∂o²`` is (:func:`~physlearn.systems.solvers.stability_interval`); for
        the squared error this is ``1 + βλ > 0`` for every eigenvalue ``λ`` of ``R``, i.e.
        ``β > −1/λ_max(R)`` at every state. Beyond it ``E + βC`` is unbounded below and its
        stationary point is a saddle, which :meth:`equilibrium` refuses.
        """
        return stability_interval(self._factor()["R"], cost.hessian(outputs, y))

    def clear_cache(self):
        """Forget the factorisation (the next relaxation refactorises)."""
        self._cache = None

    def source_voltages(self, x):
        """Voltages of the source nodes (inputs, bias sources, ground) for inputs ``x``."""
        return (self._source_map @ x.T).T + self._source_const

    # -- the three questions ------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """Steady state for inputs ``x`` (batch, n_features).

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        nudge : Nudge, Clamp or None
            ``Nudge``: injects the current −β ∂C/∂V at the outputs (β may be complex).
            ``Clamp``: holds the outputs at the given voltages.
        start : ResistorState, optional
            The free state of the same ``x``; reused instead of solving it again.

        Returns
        -------
        ResistorState
        """
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        f = self._factor()
        v_src = self.source_voltages(x)
        free = None
        if start is not None and start.nudge is None and start.s.shape[0] == x.shape[0] \
                and np.array_equal(start.x, x):
            free, s_free = start, start.s
        else:
            s_free = -f["lu"].solve(np.asarray(f["B"] @ v_src.T)).T
        if nudge is None:
            return self._state(s_free, x, nudge, v_src)
        if isinstance(nudge, Clamp):
            o0 = s_free[:, self.output_index]
            c = self.check_targets(nudge.values, x.shape[0])
            currents = -np.linalg.solve(f["R"], (c - o0).T).T   # output currents that hold it
        else:
            o = self._nudged_outputs(s_free[:, self.output_index], nudge, f["R"])
            if not nudge.is_complex:
                lo, hi = stability_interval(f["R"], nudge.cost.hessian(o, nudge.target))
                check_nudge_stability(nudge.beta, lo, hi, type(self).__name__,
                                      " at the nudged outputs; for the squared error the bound "
                                      f"is -1/lambda_max(R) = {-self.convergence_radius():.6g}")
            currents = nudge.force(o)
        state = self._state(s_free - currents @ f["U"].T, x, nudge, v_src)
        if free is not None:      # superposition: the free drops plus the currents' response
            state.drops = self._drops(free) - currents @ f["drop_response"].T
        return state

    def _nudged_outputs(self, o0, nudge, R, tol=1e-13, max_iter=50):
        """Solve ``o = o₀ − β R ∇C(o)`` by damped Newton (one step for a quadratic cost)."""
        o = o0.astype(np.result_type(o0, nudge.beta))
        eye = np.eye(len(R))
        with np.errstate(all="ignore"):   # round-off grows with the state and with β ∇C
            push = np.max(np.abs(nudge.force(o0) @ R.T), initial=0.0)
        scale = 1.0 + np.max(np.abs(o0)) + (push if np.isfinite(push) else 0.0)

        def residual(o):
            return o - o0 + nudge.force(o) @ R.T

        r = residual(o)
        for _ in range(max_iter):
            if np.max(np.abs(r)) <= tol * scale:
                return o
            J = eye + np.einsum("ij,bjk->bik", R, nudge.stiffness(o))
            step = np.linalg.solve(J, r[..., None])[..., 0]
            for _ in range(30):   # backtrack until the residual shrinks
                trial = o - step
                r_trial = residual(trial)
                if np.max(np.abs(r_trial)) < np.max(np.abs(r)):
                    break
                step = step / 2
            o, r = trial, r_trial
        if np.max(np.abs(r)) <= 1e3 * tol * scale:
            return o
        raise ConvergenceError(
            f"nudged relaxation did not converge in {max_iter} Newton steps: residual "
            f"{np.max(np.abs(r)):.3e} (beta={nudge.beta!r}). A negative or large nudge can "
            "out-weigh the network's stiffness, leaving E + beta*C without a minimum; "
            "reduce |beta| or soften the cost")

    def _state(self, s, x, nudge, v_src):
        v = np.zeros((x.shape[0], len(self.nodes)), dtype=s.dtype)
        v[:, self._free] = s
        v[:, self._source] = v_src
        return ResistorState(s=s, x=x, nudge=nudge, voltages=v, nodes=self.nodes)

    def outputs(self, state):
        return state.s[:, self.output_index]

    def _drops(self, state):
        if state.drops is None:
            state.drops = self._edge_differences(state.voltages)
        return state.drops

    def _edge_differences(self, node_values):
        """``u_a − u_b`` for every edge (a, b): one sparse incidence product for the batch."""
        return np.asarray(self._incidence @ node_values.T).T

    def param_gradient(self, state):
        """∂E/∂g_e = ½ ΔV_e² for every edge (the local measurement)."""
        dv = self._drops(state)
        return {"conductance": 0.5 * dv * dv}

    # -- physics for references and contract tests --------------------------------------------
    def with_s(self, state, s):
        v_src = state.voltages[:, self._source]
        return self._state(s, state.x, state.nudge, v_src)

    def _edge_chunks(self, batch):
        """Row slices of a batch such that a (rows, n_edges) array stays within 32 MB."""
        step = max(1, (1 << 22) // max(len(self.edges), 1))
        return [slice(i, i + step) for i in range(0, batch, step)]

    def energy(self, state):
        g = self._params["conductance"]
        out = np.empty(state.voltages.shape[0], dtype=state.voltages.dtype)
        for rows in self._edge_chunks(len(out)):         # bounded memory on large batches
            dv = self._edge_differences(state.voltages[rows])
            out[rows] = 0.5 * (dv * dv) @ g
        return out

    def energy_gradient(self, state):
        g = self._params["conductance"]
        v = state.voltages
        out = np.empty((v.shape[0], len(self._free)), dtype=v.dtype)
        for rows in self._edge_chunks(len(out)):
            current = self._edge_differences(v[rows]) * g            # Ohm's law, per edge
            out[rows] = np.asarray(self._d_free.T @ current.T).T      # net current out of nodes
        return out

    def output_vjp(self, state, g_out):
        out = np.zeros(state.s.shape, dtype=np.result_type(state.s, g_out))
        out[:, self.output_index] = g_out
        return out

    def adjoint(self, state, rhs):
        return self._factor()["lu"].solve(np.ascontiguousarray(rhs.T)).T

    def mixed_vjp(self, state, lam):
        full = np.zeros((lam.shape[0], len(self.nodes)), dtype=lam.dtype)
        full[:, self._free] = lam
        return {"conductance": self._drops(state) * self._edge_differences(full)}

    # -- SPICE export -------------------------------------------------------------------------
    def spice_node_names(self):
        """Map node → SPICE node name: ``"0"`` for ground, ``"n<i>"`` for ``nodes[i]``."""
        return {node: "0" if node == self.ground else f"n{i}"
                for i, node in enumerate(self.nodes)}

    def _spice_elements(self, names):
        """Netlist lines of the elements beyond resistors and sources (none here)."""
        return []

    def _check_spice_sample(self, x):
        """Refuse a sample the exported circuit cannot represent (nothing to check here)."""

    def to_spice(self, x, title=None):
        """The circuit as an ngspice netlist, its sources set to one sample ``x``.

        Parameters
        ----------
        x : array_like, shape (n_features,) or (1, n_features)
            One sample.
        title : str, optional
            The netlist's title line.

        Returns
        -------
        str
            Resistors ``R = 1/g``, one voltage source per input and bias node (to ground ``0``),
            the elements of subclasses (diodes), an ``.op`` analysis and a ``.control`` block
            that runs it and writes every node voltage to the ASCII raw file ``op.raw`` in the
            working directory (full precision). Node names are those of
            :meth:`spice_node_names` (listed in comment lines). Run it with
            :func:`physlearn.systems.spice.operating_point`.
        """
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            x = x[None, :]
        x = self.check_inputs(x)
        if x.shape[0] != 1:
            raise ValueError(f"to_spice takes one sample, got a batch of {x.shape[0]}")
        if len(set(self._source.tolist())) != len(self._source):
            raise ValueError("two voltage sources on one node: a loop of voltage sources has "
                             "no SPICE operating point")
        self._check_spice_sample(x)
        names = self.spice_node_names()
        lines = [f"* {title or type(self).__name__ + ' (physlearn)'}"]
        lines += [f"* {names[n]} = {n!r}".replace("\n", " ") for n in self.nodes]
        g = self._params["conductance"]
        for k, ((a, b), gk) in enumerate(zip(self.edges, g)):
            lines.append(f"R{k} {names[a]} {names[b]} {float(1.0 / gk)!r}")
        v_src = self.source_voltages(x)[0]
        for j, (i, volts) in enumerate(zip(self._source, v_src)):
            node = self.nodes[i]
            if node != self.ground:
                lines.append(f"V{j} {names[node]} 0 DC {float(volts)!r}")
        lines += self._spice_elements(names)
        lines += [".options RELTOL=1e-9 ABSTOL=1e-15 VNTOL=1e-12 GMIN=1e-18", ".op",
                  ".control", "set filetype=ascii", "run", f"write {SPICE_RAW_FILE}", ".endc",
                  ".end"]
        return "\n".join(lines) + "\n"

    # -- builders -----------------------------------------------------------------------------
    @classmethod
    def layered(cls, layers, *, seed=0, bias=1.0, differential=True, **kwargs):
        """A layered network: ``layers = [n_in, *hidden, n_out]``, all-to-all between layers.

        Each input feature drives a pair of nodes at ``±x`` (``differential=True``) or one node
        at ``+x``; a bias node at ``bias`` volts and the ground node join the input layer, so
        the first layer after the inputs sees every source.

        Returns
        -------
        ResistorNetwork
        """
        if len(layers) < 2 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers={layers!r}: need [n_in, *hidden, n_out] with sizes >= 1")
        n_in, *hidden, n_out = (int(n) for n in layers)
        graph = nx.Graph()
        inputs = [(("in", k, "+"), ("in", k, "-")) if differential else ("in", k, "+")
                  for k in range(n_in)]
        first = [n for entry in inputs for n in (entry if differential else (entry,))]
        first += (["bias"] if bias is not None else []) + ["ground"]
        groups = [first] + [[("h", l, j) for j in range(n)] for l, n in enumerate(hidden)]
        groups.append([("out", j) for j in range(n_out)])
        for layer in groups:
            graph.add_nodes_from(layer)
        for lower, upper in zip(groups, groups[1:]):
            graph.add_edges_from((u, v) for u in lower for v in upper)
        return cls(graph, inputs, groups[-1], "ground",
                   bias_sources=None if bias is None else {"bias": bias}, seed=seed, **kwargs)

    @classmethod
    def random(cls, n_nodes, *, n_inputs=3, n_outputs=2, degree=4, rewire=0.3, seed=0,
               conductance_range=(0.1, 1.0), **kwargs):
        """A random connected small-world graph with randomly placed inputs, outputs, ground.

        Conductances are uniform in ``conductance_range``. Inputs drive single nodes.
        """
        need = n_inputs + n_outputs + 1
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, (int, np.integer)) \
                or n_nodes < max(need, degree + 1):
            raise ValueError(f"n_nodes={n_nodes!r} must be an integer >= {max(need, degree + 1)} "
                             f"(n_inputs + n_outputs + ground = {need}, degree = {degree})")
        rng = np.random.default_rng(seed)
        graph = nx.connected_watts_strogatz_graph(n_nodes, degree, rewire, seed=int(seed))
        picks = rng.choice(n_nodes, n_inputs + n_outputs + 1, replace=False).tolist()
        g = rng.uniform(*conductance_range, graph.number_of_edges())
        return cls(graph, picks[:n_inputs], picks[n_inputs:-1], picks[-1], conductance=g,
                   seed=seed, **kwargs)
