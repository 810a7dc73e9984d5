"""Ideal diodes: the equilibrium of a resistor network with ideal diodes is a convex QP.

Physics
-------
An *ideal* diode ``d`` from anode ``a`` to cathode ``c`` either blocks (``u_d = V_a − V_c ≤ 0``,
zero current) or conducts with zero drop (``u_d = 0``, current ``μ_d ≥ 0`` from anode to
cathode). Its co-content is the indicator of ``u_d ≤ 0`` (zero on the feasible set, ``+∞``
off it), so the steady state of a network of resistors, voltage sources and ideal diodes
minimises the resistor co-content subject to linear inequalities (Millar 1951):

    min_V  ½ Σ_e g_e (V_a − V_b)²  (+ β C(o, y) under a soft nudge)
    s.t.   u_d = V_anode(d) − V_cathode(d) ≤ 0  for every diode d,

a strictly convex quadratic programme (QP) in the free node voltages whenever every resistor
component reaches a source. Its Karush–Kuhn–Tucker (KKT) conditions are the circuit laws:

* stationarity ``∂E/∂V_j + Σ_d D_dj μ_d = 0`` at every free node ``j`` — Kirchhoff's current law,
  the diode currents being the Lagrange multipliers (``D`` the diode incidence,
  ``u = D V``);
* dual feasibility ``μ_d ≥ 0`` (a diode conducts forward only);
* primal feasibility ``u_d ≤ 0`` (no forward drop);
* complementarity ``μ_d u_d = 0`` (a diode either blocks or conducts).

The solution is unique in ``V``; the currents are unique except around loops of conducting
diodes (a circulating current costs nothing), where one solution is picked.

**Solver.** (a) *Coordinate descent* over the nodes (projected Gauss–Seidel). With every other
voltage held, node ``j``'s energy is the 1-D quadratic ``½ a_j V_j² − b_j V_j`` (``a_j = Σ g``
of its resistors, ``b_j = Σ g V_nbr``), and its diodes confine ``V_j`` to the interval
``[max V_anode of diodes into j, min V_cathode of diodes out of j]``; the exact minimiser is
``clip(b_j/a_j, lo, hi)``. The current point lies in that interval, so the update never raises
the energy: CD is monotone (and stays feasible). Nodes of one colour of a proper colouring of
the resistor + diode graph share no term, so a colour is updated at once, vectorised over the
batch. CD converges only linearly, so (b) an *exact finish*: the primal–dual active-set method
(a semismooth Newton method on the KKT system; Hintermüller, Ito & Kunisch 2002), seeded
with the diodes CD leaves at zero drop, solves the equality-constrained QP of the current
active set (conducting diodes merge their two nodes: a resistor network on the contracted
graph, one sparse factorisation per sample), recovers the currents from Kirchhoff's law, then
drops conducting diodes with a negative current and adds blocking ones with a forward drop,
until nothing changes. The KKT conditions then hold to round-off; the residual is kept on the
state (:attr:`IdealDiodeState.kkt`, :func:`kkt_residual`).

**Feasibility.** The constraints are difference constraints ``V_a ≤ V_c`` with the fixed
(source, ground, clamped) voltages: they are feasible iff the constraint graph has no negative
cycle (Bellman–Ford), i.e. iff no directed path of diodes leads from a fixed node to a fixed
node at a lower voltage. Such a path would be forward biased with both ends held: the ideal
diodes would short the sources (a loop of voltage sources). It is checked per sample (the
sources depend on ``x``) and refused with a ``ValueError`` naming the diodes and voltages.

**Gradient.** Away from switching points (a conducting diode with zero current, a blocking one
at zero drop) the active set is locally constant, the conducting diodes are equality
constraints and the blocking ones are absent; implicit differentiation of the
equality-constrained QP gives the adjoint ``λ = Z (Zᵀ K Z)⁻¹ Zᵀ r`` with ``Z`` the contraction
(:func:`adjoint`), which is what :meth:`EquilibriumSystem.exact_gradient` needs.

References
----------
.. [1] W. Millar, "Some general theorems for non-linear systems possessing resistance",
   Phil. Mag. 42, 1150 (1951).
.. [2] M. Hintermüller, K. Ito, K. Kunisch, "The primal-dual active set strategy as a
   semismooth Newton method", SIAM J. Optim. 13, 865 (2002).
.. [3] B. Scellier, "A fast algorithm to simulate nonlinear resistive networks",
   ICML 2024, arXiv:2402.11674 (coordinate descent for ideal-diode networks).
.. [4] T. H. Cormen et al., *Introduction to Algorithms*, §24.4 "Difference constraints and
   shortest paths".
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from physlearn.nudges import Clamp, Nudge
from physlearn.system import ConvergenceError

from .resistor import ResistorState

#: coordinate-descent sweeps before the exact finish (fewer if CD stalls earlier)
CD_SWEEPS = 30
#: the SPICE stand-in of an ideal diode: ``D(IS=…, N=…)`` (see :func:`spice_error_bound`)
SPICE_IS = 1e-12
SPICE_N = 1e-4


@dataclass
class IdealDiodeState(ResistorState):
    """A state of a network with ideal diodes.

    Attributes
    ----------
    diode_currents : ndarray, shape (batch, n_diodes)
        The KKT multipliers ``μ_d ≥ 0``: the current through each diode, anode → cathode.
    conducting : ndarray of bool, shape (batch, n_diodes)
        The active set (diodes held at zero drop).
    kkt : ndarray, shape (batch,)
        The KKT residual of each sample (:func:`kkt_residual`).
    """

    diode_currents: np.ndarray = None
    conducting: np.ndarray = None
    kkt: np.ndarray = None


# -- construction ---------------------------------------------------------------------------------
def check_construction(net):
    """Refuse ideal diodes whose both ends are fixed and which can be forward biased.

    A diode between two fixed nodes (inputs, bias sources, ground) sits in a loop of voltage
    sources. Held at constant voltages with ``V_a ≤ V_c`` it blocks forever and is harmless
    (kept); an input end makes ``u`` depend on ``x``, so it can be forward biased, and a
    constant ``V_a > V_c`` is forward biased: both are refused.
    """
    index = {n: i for i, n in enumerate(net.nodes)}
    position = {int(i): p for p, i in enumerate(net._source)}
    varies = np.asarray(abs(net._source_map).sum(axis=1)).ravel() > 0
    for a, c in net.diode_pairs:
        ia, ic = index[a], index[c]
        if ia not in position or ic not in position:
            continue
        pa, pc = position[ia], position[ic]
        if varies[pa] or varies[pc]:
            raise ValueError(
                f"ideal diode ({a!r}, {c!r}) joins two source nodes and one of them is an "
                "input: with both ends fixed it is forward biased whenever V_anode > "
                "V_cathode, and an ideal diode would short the sources; remove it or put a "
                "resistor in series")
        u = net._source_const[pa] - net._source_const[pc]
        if u > 0:
            raise ValueError(
                f"ideal diode ({a!r}, {c!r}) forward-biased by sources: V_{a} - V_{c} = "
                f"{u:g} V > 0 with both ends fixed — an ideal diode would short the sources")


# -- helpers --------------------------------------------------------------------------------------
def _fixed_values(net, x, nudge):
    """Node-level fixed mask and the full voltage array with the fixed voltages filled in."""
    batch = x.shape[0]
    V = np.zeros((batch, len(net.nodes)))
    fixed = np.zeros(len(net.nodes), bool)
    V[:, net._source] = net.source_voltages(x)
    fixed[net._source] = True
    if isinstance(nudge, Clamp):
        out = net._free[net.output_index]
        V[:, out] = net.check_targets(nudge.values, batch)
        fixed[out] = True
    return fixed, V


def _ends(net):
    d = net._diode_incidence.tocoo()
    m = d.shape[0]
    anode, cathode = np.zeros(m, int), np.zeros(m, int)
    anode[d.row[d.data > 0]] = d.col[d.data > 0]
    cathode[d.row[d.data < 0]] = d.col[d.data < 0]
    return anode, cathode


def _scales(net, V):
    """Voltage and current scales of the tolerances (per sample)."""
    v = 1.0 + np.max(np.abs(V), axis=1)
    return v, v * float(np.max(net._params["conductance"]))


def _propagate(V, frm, to, changeable, op):
    """Bellman–Ford with zero weights: ``V[to] = op(V[to], V[frm])`` to a fixed point."""
    for _ in range(V.shape[1] + 1):
        new = V.copy()
        op.at(new, (slice(None), to), V[:, frm])
        new = np.where(changeable, new, V)
        if np.array_equal(new, V):
            return V
        V = new
    return V


def check_feasible(net, V, fixed, what=""):
    """Raise ``ValueError`` if a directed diode path joins fixed nodes uphill → downhill.

    ``L_j = max{V_k : k fixed, diode path k ⇝ j through free nodes}`` is a longest-path
    (Bellman–Ford) potential; the constraints are infeasible iff some fixed ``f`` has
    ``L_f > V_f``: a negative cycle of the constraint graph through the fixed nodes.
    """
    anode, cathode = _ends(net)
    if not anode.size:
        return
    L = np.where(fixed, V, -np.inf)
    L = _propagate(L, anode, cathode, ~fixed, np.maximum)
    scale, _ = _scales(net, V)
    gap = L[:, anode] - V[:, cathode]
    bad = fixed[cathode][None, :] & (gap > 1e-12 * scale[:, None])
    if not np.any(bad):
        return
    b, d = (int(i[0]) for i in np.nonzero(bad))
    f = cathode[d]
    graph = nx.DiGraph()
    for k, (ia, ic) in enumerate(zip(anode, cathode)):
        if not fixed[ic] or ic == f:
            graph.add_edge(int(ia), int(ic), diode=k)
    starts = [int(k) for k in np.flatnonzero(fixed)
              if V[b, k] > V[b, f] + 1e-12 * scale[b] and k in graph and nx.has_path(graph, k, f)]
    k = max(starts, key=lambda k: V[b, k])
    path = nx.shortest_path(graph, k, int(f))
    names = [net.nodes[i] for i in path]
    diodes = [(names[i], names[i + 1]) for i in range(len(path) - 1)]
    drop = V[b, k] - V[b, f]
    a_name, c_name = names[0], names[-1]
    if len(diodes) == 1:
        head = f"ideal diode {diodes[0]!r} forward-biased by sources"
    else:
        head = (f"ideal diodes {diodes} form a path from fixed node {a_name!r} to fixed node "
                f"{c_name!r}, forward-biased by the sources")
    raise ValueError(
        f"{head}{what} (sample {b}): V_{a_name} - V_{c_name} = {V[b, k]:g} V - {V[b, f]:g} V "
        f"= {drop:g} V > 0 with both ends fixed — an ideal diode would short the sources (a "
        "loop of voltage sources: the constraints u <= 0 have a negative cycle)")


def feasible_start(net, V, fixed):
    """A point satisfying every diode constraint, near ``V``, with the fixed voltages kept.

    Clip each free voltage below ``U_j = min{V_f : f fixed, j ⇝ f}`` (the lowest fixed node it
    must stay under), then raise it to the largest voltage upstream of it along the diodes:
    a diode ``a → c`` then has ``V_a ≤ V_c``, and no fixed voltage moves (given
    :func:`check_feasible`).
    """
    anode, cathode = _ends(net)
    if not anode.size:
        return V
    U = np.where(fixed, V, np.inf)
    U = _propagate(U, cathode, anode, ~fixed, np.minimum)
    V = np.where(fixed, V, np.minimum(V, U))
    return _propagate(V, anode, cathode, ~fixed, np.maximum)


def _energy(net, V, nudge):
    dv = np.asarray(net._incidence @ V.T).T
    e = 0.5 * (dv * dv) @ net._params["conductance"]
    if isinstance(nudge, Nudge):
        e = e + nudge.beta * nudge.cost.value(V[:, net._free[net.output_index]], nudge.target)
    return e


# -- (a) coordinate descent -------------------------------------------------------------------
def _colouring(net):
    cache = getattr(net, "_ideal_colours", None)
    if cache is not None and cache[0] is net.diode_pairs:
        return cache[1]
    graph = nx.Graph()
    graph.add_nodes_from(range(len(net.nodes)))
    a, b = net._ends
    graph.add_edges_from(zip(a.tolist(), b.tolist()))
    anode, cathode = _ends(net)
    graph.add_edges_from(zip(anode.tolist(), cathode.tolist()))
    out = net._free[net.output_index].tolist()
    graph.add_edges_from((i, j) for i in out for j in out if i < j)   # a cost couples outputs
    colour = nx.greedy_color(graph, strategy="largest_first")
    free = set(net._free.tolist())
    groups = {}
    for node, c in colour.items():
        if node in free:
            groups.setdefault(c, []).append(node)
    colours = [np.array(sorted(g)) for _, g in sorted(groups.items())]
    net._ideal_colours = (net.diode_pairs, colours)
    return colours


def coordinate_descent(net, V, fixed, nudge=None, sweeps=CD_SWEEPS, record=False, tol=0.0):
    """Projected Gauss–Seidel sweeps over the free nodes, from a feasible ``V``.

    Parameters
    ----------
    net : NonlinearResistorNetwork
    V : ndarray, shape (batch, n_nodes)
        A feasible start (:func:`feasible_start`); fixed entries are kept.
    fixed : ndarray of bool, shape (n_nodes,)
    nudge : Nudge or None
        A soft nudge adds ``β C`` (output nodes: a damped 1-D Newton step inside the interval,
        accepted only if it lowers the energy).
    sweeps : int
    record : bool
        Also return the energy ``E + βC`` after every sweep (the first entry: at the start).
    tol : float
        Stop early when no voltage moved by more than ``tol`` in a sweep.

    Returns
    -------
    V : ndarray
    energies : ndarray, shape (sweeps_done + 1, batch)  (only with ``record``)

    Notes
    -----
    Every update minimises the energy exactly (or decreases it, at a nudged output) along one
    coordinate over the interval the node's diodes allow given its neighbours, an interval
    that contains the current voltage: the energy never increases and the iterate stays
    feasible. Nodes of one colour share no resistor, diode or cost term, so their updates are
    independent and done together.
    """
    V = np.array(V, dtype=float)
    g = net._params["conductance"]
    a, b = net._ends
    n = len(net.nodes)
    W = sp.csr_matrix((np.r_[g, g], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
    degree = np.asarray(W.sum(axis=1)).ravel()
    anode, cathode = _ends(net)
    out_nodes = net._free[net.output_index]
    out_pos = {int(j): k for k, j in enumerate(out_nodes)}
    soft = isinstance(nudge, Nudge)
    plan = []
    for group in _colouring(net):
        group = group[~fixed[group]]
        if not group.size:
            continue
        pos = {int(j): k for k, j in enumerate(group)}
        into = [(d, pos[int(c)]) for d, c in enumerate(cathode) if int(c) in pos]
        outof = [(d, pos[int(x)]) for d, x in enumerate(anode) if int(x) in pos]
        plan.append((group, W[:, group].tocsc(), degree[group],
                     np.array([d for d, _ in into], int), np.array([p for _, p in into], int),
                     np.array([d for d, _ in outof], int), np.array([p for _, p in outof], int),
                     [(k, out_pos[int(j)]) for k, j in enumerate(group) if soft
                      and int(j) in out_pos]))
    energies = [_energy(net, V, nudge)] if record else None
    for _ in range(int(sweeps)):
        moved = 0.0
        for group, Wg, deg, d_in, p_in, d_out, p_out, outs in plan:
            bsum = np.asarray(Wg.T @ V.T).T
            lo = np.full((V.shape[0], group.size), -np.inf)
            hi = np.full((V.shape[0], group.size), np.inf)
            if d_in.size:
                np.maximum.at(lo, (slice(None), p_in), V[:, anode[d_in]])
            if d_out.size:
                np.minimum.at(hi, (slice(None), p_out), V[:, cathode[d_out]])
            new = np.clip(bsum / deg, lo, hi)
            for k, q in outs:        # a nudged output: damped 1-D Newton on q + βC
                new[:, k] = _nudged_coordinate(net, V, group[k], q, deg[k], bsum[:, k],
                                               lo[:, k], hi[:, k], nudge)
            moved = max(moved, float(np.max(np.abs(new - V[:, group]), initial=0.0)))
            V[:, group] = new
        if record:
            energies.append(_energy(net, V, nudge))
        if moved <= tol:
            break
    return (V, np.array(energies)) if record else V


def _nudged_coordinate(net, V, j, q, a, b, lo, hi, nudge, steps=4):
    out = net._free[net.output_index]

    def local(v):
        o = V[:, out].copy()
        o[:, q] = v
        return 0.5 * a * v * v - b * v + nudge.beta * nudge.cost.value(o, nudge.target)

    v = V[:, j].copy()
    for _ in range(steps):
        o = V[:, out].copy()
        o[:, q] = v
        grad = a * v - b + nudge.beta * nudge.cost.gradient(o, nudge.target)[:, q]
        curv = a + nudge.beta * nudge.cost.hessian(o, nudge.target)[:, q, q]
        step = np.where(curv > 0, grad / np.where(curv > 0, curv, 1.0), 0.0)
        f0 = local(v)
        t = np.ones_like(v)
        for _ in range(30):
            trial = np.clip(v - t * step, lo, hi)
            ok = local(trial) <= f0
            if np.all(ok):
                break
            t = np.where(ok, t, 0.5 * t)
        v = np.where(local(trial) <= f0, trial, v)
    return v


# -- (b) the exact finish: primal–dual active sets ---------------------------------------------
class _Problem:
    """The data of one relaxation shared by the samples: Laplacian blocks and index maps."""

    def __init__(self, net, fixed, nudge):
        self.net, self.fixed, self.nudge = net, fixed, nudge
        g = net._params["conductance"]
        D = net._incidence
        self.L = (D.T @ sp.diags(g) @ D).tocsr()
        self.var = np.flatnonzero(~fixed)
        self.fix = np.flatnonzero(fixed)
        self.L_vv = self.L[self.var][:, self.var].tocsc()
        self.L_vf = self.L[self.var][:, self.fix].tocsr()
        self.anode, self.cathode = _ends(net)
        self.Dv = net._diode_incidence[:, self.var].tocsr()        # (m, n_var), sparse
        where = {int(j): p for p, j in enumerate(self.var)}
        self.out = np.array([where.get(int(j), -1) for j in net._free[net.output_index]])
        self.soft = isinstance(nudge, Nudge)

    def classes(self, v_row, active, order):
        """Union–find over the conducting diodes; a class holds at most one fixed voltage.

        A diode that would join two fixed voltages that differ is left out of the active set
        (returned ``merged`` mask): the equalities would contradict each other. ``tree`` marks
        the merged diodes that form a spanning forest once all fixed nodes are identified:
        their columns of ``D`` (on the free nodes) are independent and span those of the rest,
        so the currents are solved on the forest (the others, closing loops, carry none).
        """
        n = len(self.net.nodes)
        parent = np.arange(n)
        pinned = {int(k): v_row[k] for k in self.fix}

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        merged = np.zeros(len(active), bool)
        tree = np.zeros(len(active), bool)
        forest = np.arange(n + 1)                # fixed nodes identified with node n

        def froot(i):
            while forest[i] != i:
                forest[i] = forest[forest[i]]
                i = forest[i]
            return i

        tol = 1e-12 * (1.0 + np.max(np.abs(v_row)))
        for d in order:
            if not active[d]:
                continue
            ends = [n if self.fixed[k] else int(k) for k in (self.anode[d], self.cathode[d])]
            fa, fc = froot(ends[0]), froot(ends[1])
            ra, rc = root(self.anode[d]), root(self.cathode[d])
            if ra != rc:
                pa, pc = pinned.get(int(ra)), pinned.get(int(rc))
                if pa is not None and pc is not None and abs(pa - pc) > tol:
                    continue
                parent[rc] = ra
                if pa is None and pc is not None:
                    pinned[int(ra)] = pc
            merged[d] = True
            if fa != fc:
                forest[fc] = fa
                tree[d] = True
        roots = np.array([root(i) for i in range(n)])
        return roots, pinned, merged, tree

    def contraction(self, roots, pinned):
        """``Pf`` (free nodes → free classes) and ``t`` (pinned voltages on free nodes)."""
        r = roots[self.var]
        t = np.array([pinned.get(int(k), 0.0) for k in r])
        loose = np.array([int(k) not in pinned for k in r], bool)
        labels, cls = np.unique(r[loose], return_inverse=True)
        rows = np.flatnonzero(loose)
        Pf = sp.csr_matrix((np.ones(rows.size), (rows, cls)), shape=(self.var.size, labels.size))
        t[loose] = 0.0
        return Pf, t

    def solve(self, b, v_row, active, order):
        """The equality-constrained QP of ``active``: voltages (full row), currents, merged."""
        roots, pinned, merged, tree = self.classes(v_row, active, order)
        Pf, t = self.contraction(roots, pinned)
        vfix = v_row[self.fix]
        h_fix = self.L_vf @ vfix
        w = np.zeros(Pf.shape[1])
        if Pf.shape[1]:
            counts = np.asarray(Pf.sum(axis=0)).ravel()
            w = (Pf.T @ v_row[self.var]) / counts
        Kc = (Pf.T @ self.L_vv @ Pf).tocsc()
        nudge = self.nudge
        y = None if not self.soft else nudge.target[b:b + 1]
        out = self.out

        def full(w):
            v = Pf @ w + t
            return v

        def reduced(w):
            v = full(w)
            e = 0.5 * v @ (self.L_vv @ v) + v @ h_fix
            if self.soft:
                e = e + nudge.beta * nudge.cost.value(v[out][None, :], y)[0]
            return e

        def gradient_var(v):
            r = self.L_vv @ v + h_fix
            if self.soft:
                r[out] += nudge.beta * nudge.cost.gradient(v[out][None, :], y)[0]
            return r

        if Pf.shape[1]:
            scale = 1.0 + np.max(np.abs(v_row))
            tol_g = 1e-14 * scale * (1.0 + float(np.max(Kc.diagonal(), initial=0.0)))
            if not self.soft:            # a quadratic: one Newton step, then one to polish
                lu = spla.splu(Kc)
                for _ in range(2):
                    w = w - lu.solve(Pf.T @ gradient_var(full(w)))
            for _ in range(100 if self.soft else 0):
                grad = Pf.T @ gradient_var(full(w))
                gnorm = float(np.max(np.abs(grad)))
                if gnorm < tol_g:
                    break
                Hc = nudge.beta * nudge.cost.hessian(full(w)[out][None, :], y)[0]
                Po = Pf[out]
                step = spla.splu((Kc + Po.T @ sp.csr_matrix(Hc) @ Po).tocsc()).solve(grad)
                if not (np.all(np.isfinite(step)) and grad @ step > 0):
                    raise ConvergenceError(
                        f"ideal-diode relaxation (beta={float(nudge.beta):g}): E + beta*C "
                        "has no minimum on the active set (the nudged Hessian is not "
                        "positive definite); reduce |beta|")
                f0, tt = reduced(w), 1.0
                for _ in range(60):
                    trial = w - tt * step
                    g_t = float(np.max(np.abs(Pf.T @ gradient_var(full(trial)))))
                    if reduced(trial) <= f0 - 1e-4 * tt * (grad @ step) or \
                            g_t <= (1 - 1e-4 * tt) * gnorm:
                        break
                    tt *= 0.5
                else:
                    raise ConvergenceError(
                        f"ideal-diode relaxation (beta={float(nudge.beta):g}): the Newton line "
                        f"search failed at |gradient| = {gnorm:.3e}")
                w = trial
            else:
                if self.soft:
                    raise ConvergenceError(
                        f"ideal-diode relaxation (beta={float(nudge.beta):g}): no minimum on "
                        "the active set after 100 Newton steps")
        v = full(w)
        r = gradient_var(v)
        mu = np.zeros(len(active))
        cols = np.flatnonzero(tree)
        if cols.size:        # M μ = −r is consistent; normal equations, one refinement step
            M = self.Dv[cols].T.tocsc()
            lu = spla.splu((M.T @ M).tocsc())
            mu[cols] = lu.solve(-(M.T @ r))
            mu[cols] += lu.solve(-(M.T @ (r + M @ mu[cols])))
        row = v_row.copy()
        row[self.var] = v
        return row, mu, merged, r + self.Dv.T @ mu


def _kkt_parts(u, mu, stationarity):
    return np.maximum.reduce([np.max(np.abs(stationarity), axis=-1, initial=0.0),
                              np.max(np.maximum(u, 0.0), axis=-1, initial=0.0),
                              np.max(np.maximum(-mu, 0.0), axis=-1, initial=0.0),
                              np.max(np.abs(mu * u), axis=-1, initial=0.0)])


def active_set_finish(net, V, fixed, nudge, seed, max_iter=None):
    """Primal–dual active-set iterations per sample from the active set ``seed``.

    Returns ``(V, currents, conducting, kkt)``.

    Notes
    -----
    Given the active set ``A`` the equality-constrained QP is solved exactly (:class:`_Problem`);
    then ``A ← (A \\ {μ_d < −ε}) ∪ {d ∉ A : u_d > ε}``: the semismooth Newton step on the
    complementarity function ``min(−u, μ)``. A revisited active set switches to one change per
    iteration (the largest violation), which ends the rare cycles of the simultaneous rule.
    """
    prob = _Problem(net, fixed, nudge)
    batch, m = V.shape[0], len(net.diode_pairs)
    max_iter = int(max_iter or max(net.max_iter, 2 * m + 10))
    v_scale, i_scale = _scales(net, V)
    currents = np.zeros((batch, m))
    conducting = np.zeros((batch, m), bool)
    kkt = np.zeros(batch)
    out = V.copy()
    for b in range(batch):
        A = seed[b].copy()
        u_prev = np.asarray(net._diode_incidence @ V[b])
        seen, single = set(), False
        for _ in range(max_iter):
            order = np.argsort(u_prev)[::-1]        # merge the most forward-biased first
            row, mu, merged, stat = prob.solve(b, V[b], A, order)
            u = np.asarray(net._diode_incidence @ row)
            add = ~merged & (u > 1e-12 * v_scale[b])
            drop = merged & (mu < -1e-12 * i_scale[b])
            if not (np.any(add) or np.any(drop)):
                break
            key = merged.tobytes()
            single = single or key in seen
            seen.add(key)
            if single:
                worst_add = np.max(np.where(add, u / v_scale[b], -np.inf))
                worst_drop = np.max(np.where(drop, -mu / i_scale[b], -np.inf))
                if worst_drop >= worst_add:
                    drop = drop & (np.arange(m) == np.argmax(np.where(drop, -mu, -np.inf)))
                    add[:] = False
                else:
                    add = add & (np.arange(m) == np.argmax(np.where(add, u, -np.inf)))
                    drop[:] = False
            A = (merged & ~drop) | add
            u_prev = u
        else:
            raise ConvergenceError(
                f"ideal-diode active-set iterations did not settle in {max_iter} steps for "
                f"sample {b}: KKT residual {_kkt_parts(u, mu, stat):.3e}")
        mu = np.where(merged, mu, 0.0)
        out[b], currents[b], conducting[b] = row, mu, merged
        kkt[b] = _kkt_parts(u, mu, stat)
    return out, currents, conducting, kkt


# -- the system's questions ---------------------------------------------------------------------
def equilibrium(net, x, nudge=None, start=None):
    """The ideal-diode equilibrium: feasibility check, CD sweeps, then the active-set finish.

    Returns
    -------
    IdealDiodeState
        With the diode currents (multipliers), the active set and the KKT residual.

    Raises
    ------
    ValueError
        If the diodes are forward biased between fixed nodes (sources, ground, clamped
        outputs): the constraints are infeasible (:func:`check_feasible`).
    ConvergenceError
        If the active set does not settle, the KKT residual exceeds the tolerance, or a nudge
        leaves ``E + βC`` without a minimum.
    """
    if isinstance(nudge, Nudge):
        nudge = Nudge(nudge.cost, net.check_targets(nudge.target, x.shape[0]),
                      float(np.real(nudge.beta)))
    fixed, V = _fixed_values(net, x, nudge)
    check_feasible(net, V, fixed, " (clamped outputs count as fixed)"
                   if isinstance(nudge, Clamp) else "")
    if start is not None and getattr(start, "voltages", None) is not None \
            and start.voltages.shape == V.shape and not np.iscomplexobj(start.voltages):
        V = np.where(fixed, V, start.voltages)
    V = feasible_start(net, V, fixed)
    v_scale, _ = _scales(net, V)
    V = coordinate_descent(net, V, fixed, nudge, tol=1e-9 * float(np.max(v_scale)))
    u = np.asarray(net._diode_incidence @ V.T).T
    seed = u > -1e-9 * v_scale[:, None]
    V, currents, conducting, kkt = active_set_finish(net, V, fixed, nudge, seed)
    tol = max(float(net.tol), 1e-9)
    i_scale = _scales(net, V)[1]
    if np.any(kkt > tol * i_scale):
        b = int(np.argmax(kkt / i_scale))
        raise ConvergenceError(f"ideal-diode equilibrium: KKT residual {kkt[b]:.3e} for sample "
                               f"{b} exceeds tol={tol:g} (scaled {tol * i_scale[b]:.3g})")
    s = V[:, net._free]
    return IdealDiodeState(s=s, x=x, nudge=nudge, voltages=V, nodes=net.nodes,
                           diode_currents=currents, conducting=conducting, kkt=kkt)


def energy_gradient(net, state, resistor_gradient):
    """``∂E/∂s`` with the diode currents of the state (a subgradient of the indicator).

    A state from :func:`equilibrium` carries the multipliers ``μ``: the gradient is
    ``∇E_R + D_freeᵀ μ`` (zero at equilibrium: Kirchhoff's law). Any other state (e.g. a
    perturbed one) has no diode currents and gets the resistor part alone, the gradient of the
    finite part of the energy.
    """
    mu = getattr(state, "diode_currents", None)
    if mu is None or mu.shape[0] != resistor_gradient.shape[0]:
        return resistor_gradient
    return resistor_gradient + np.asarray(net._diode_free.T @ mu.T).T


def kkt_residual(net, state):
    """Per-sample KKT residual: the largest of ``|KCL|``, ``max(u, 0)``, ``max(−μ, 0)``, ``|μu|``.

    The stationarity term is Kirchhoff's current law at every unclamped free node (with the
    nudging current under a soft nudge).
    """
    mu = state.diode_currents
    u = np.asarray(net._diode_incidence @ state.voltages.T).T
    stat = net.residual(state)
    return _kkt_parts(u, mu, stat)


def adjoint(net, state, rhs):
    """Solve the KKT-restricted Hessian system: ``λ = Z (Zᵀ K Z)⁻¹ Zᵀ rhs`` per sample.

    ``Z`` maps the classes of free nodes merged by the conducting diodes of ``state`` (those
    pinned to a fixed node get ``λ = 0``); blocking diodes do not enter. This is the implicit
    derivative of the equality-constrained QP, valid where the active set is locally constant.
    A state without an active set (not from :func:`equilibrium`) takes the diodes at zero drop
    (``u > −10⁻⁹``) as conducting.
    """
    rhs = np.asarray(rhs, dtype=float)
    nudge = state.nudge if isinstance(state.nudge, Clamp) else None
    fixed, _ = _fixed_values(net, state.x, nudge)
    prob = _Problem(net, fixed, None)
    V = state.voltages
    conducting = getattr(state, "conducting", None)
    if conducting is None:
        u = np.asarray(net._diode_incidence @ V.T).T
        conducting = u > -1e-9 * _scales(net, V)[0][:, None]
    free_pos = {int(j): p for p, j in enumerate(net._free)}
    var_in_free = np.array([free_pos[int(j)] for j in prob.var])
    lam = np.zeros_like(rhs)
    order = np.arange(len(net.diode_pairs))
    for b in range(rhs.shape[0]):
        roots, pinned, _, _ = prob.classes(V[b], conducting[b], order)
        Pf, _ = prob.contraction(roots, pinned)
        if not Pf.shape[1]:
            continue
        Kc = (Pf.T @ prob.L_vv @ Pf).tocsc()
        z = spla.splu(Kc).solve(np.asarray(Pf.T @ rhs[b, var_in_free]))
        lam[b, var_in_free] = Pf @ z
    return lam


# -- SPICE ------------------------------------------------------------------------------------
def spice_error_bound(net, x, *, spice_is=SPICE_IS, spice_n=SPICE_N, thermal_voltage=None,
                      gmin=1e-18, reltol=1e-9, vntol=1e-12):
    """A rigorous bound on ``|V_spice − V_ideal|`` at every node for the exported netlist.

    Parameters
    ----------
    net : NonlinearResistorNetwork
        With ``diode_law="ideal"``.
    x : array_like, shape (batch, n_features)
    spice_is, spice_n : float
        The stand-in diode ``D(IS, N)`` of :meth:`to_spice`.
    thermal_voltage : float, optional
        ngspice's ``kT/q`` (default: that of the diode module at 27 °C).
    gmin, reltol, vntol : float
        ngspice's ``GMIN`` (a conductance across every junction) and Newton tolerances, as set
        by :meth:`to_spice`'s ``.options`` line.

    Returns
    -------
    ndarray, shape (batch, n_nodes)
        The bound per node (at sources: ngspice's tolerance alone).

    Raises
    ------
    ValueError
        Where the bound cannot be established: the ideal solution is too close to a switching
        point for the SPICE diodes' drop and leakage, or the conducting diodes form loops or
        join two fixed nodes (then the message says which).

    Notes
    -----
    The stand-in diode carries ``i = I_s (e^{u/(N V_T)} − 1) + G_min u``. With every node
    voltage between the lowest and highest source voltage (maximum principle for monotone
    passive elements) a reverse diode leaks at most ``I_leak = I_s + G_min ΔV_src``, and a
    forward one drops at most ``δ = N V_T ln(1 + I_max/I_s)``, where
    ``I_max = Σ_e g_e ΔV_src + m I_leak`` bounds any branch current (a path decomposition of
    the currents: every source-to-source path crosses a resistor or a reverse diode).

    Write each SPICE diode as an ideal one with a series offset ``δ_d ∈ [0, δ]`` (forward: the
    drop) or a parallel current ``j_d ∈ [−I_leak, 0]`` (reverse: the leakage). The SPICE
    voltages then solve the perturbed QP ``min E_R + Σ j_d u_d`` s.t. ``u_d ≤ δ_d``. On the
    ideal active set ``A`` its KKT system is linear in ``(δ, j)``: with sensitivities ``S``
    (voltages per unit offset) and ``T`` (per unit leak) from the KKT matrix, the candidate
    ``V* + S δ + T j`` and its currents satisfy the KKT conditions for *every* ``(δ, j)`` of
    the box as long as ``μ*_d ≥ Σ|∂μ_d/∂δ| δ + Σ|∂μ_d/∂j| I_leak`` on ``A`` and
    ``−u*_d ≥ Σ|∂u_d/∂δ| δ + Σ|∂u_d/∂j| I_leak`` off it (checked); the QP being strictly
    convex, the candidate is then its solution, and ::

        |V_spice,i − V*_i| ≤ Σ_k |S_ik| δ + Σ_k |T_ik| I_leak + RELTOL·max|V| + VNTOL,

    the last terms for ngspice's own convergence test.
    """
    from .diode import SPICE_THERMAL_VOLTAGE

    vt = SPICE_THERMAL_VOLTAGE if thermal_voltage is None else thermal_voltage
    x = net.check_inputs(x)
    state = equilibrium(net, x)
    prob = _Problem(net, _fixed_values(net, x, None)[0], None)
    Dv = prob.Dv.toarray()       # dense sensitivities: meant for test-size networks
    g = net._params["conductance"]
    m = len(net.diode_pairs)
    bound = np.zeros((x.shape[0], len(net.nodes)))
    for b in range(x.shape[0]):
        V = state.voltages[b]
        vsrc = V[prob.fix]
        spread = float(np.max(vsrc) - np.min(vsrc))
        leak = spice_is + gmin * spread
        i_max = float(np.sum(g)) * spread + m * leak
        delta = spice_n * vt * np.log1p(i_max / spice_is)
        A = np.flatnonzero(state.conducting[b])
        graph = nx.Graph()
        graph.add_nodes_from(["fixed"])
        for d in A:
            ends = ["fixed" if prob.fixed[k] else int(k) for k in
                    (prob.anode[d], prob.cathode[d])]
            if graph.has_edge(*ends) or ends[0] == ends[1] or (
                    ends[0] in graph and ends[1] in graph and nx.has_path(graph, *ends)):
                raise ValueError(
                    f"sample {b}: the conducting diodes form a loop (or join two fixed nodes) "
                    f"at diode {net.diode_pairs[d]!r}; the drops of SPICE diodes around it "
                    "are not a small perturbation, so no bound is derived")
            graph.add_edge(*ends)
        nv, na = prob.var.size, A.size
        Da = sp.csr_matrix(Dv[A]) if na else sp.csr_matrix((0, nv))
        K = sp.bmat([[prob.L_vv, Da.T], [Da, None]], format="csc")
        lu = spla.splu(K)
        blocking = np.setdiff1d(np.arange(m), A)
        # columns: unit offsets on A, unit leak currents on the blocking diodes
        rhs = np.zeros((nv + na, na + blocking.size))
        rhs[nv + np.arange(na), np.arange(na)] = 1.0
        rhs[:nv, na:] = -Dv[blocking].T
        sens = lu.solve(rhs)
        dV = sens[:nv]                                       # voltages per unit (δ, j)
        dmu = sens[nv:]                                      # currents on A per unit (δ, j)
        weights = np.r_[np.full(na, delta), np.full(blocking.size, leak)]
        mu = state.diode_currents[b, A]
        u = np.asarray(net._diode_incidence @ V)[blocking]
        du = Dv[blocking] @ dV
        if np.any(mu < np.abs(dmu) @ weights) or np.any(-u < np.abs(du) @ weights):
            raise ValueError(
                f"sample {b}: the ideal solution is within the SPICE diodes' drop "
                f"({delta:.3g} V) or leakage ({leak:.3g}) of a switching point, so the active "
                "set may differ in SPICE and no bound is derived")
        bound[b, prob.var] = np.abs(dV) @ weights
        bound[b] += reltol * float(np.max(np.abs(V))) + vntol      # sources: this term only
    return bound
