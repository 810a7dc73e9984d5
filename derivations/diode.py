"""Kirchhoff, Tellegen and the co-content for networks of resistors and Shockley diodes.

The circuit (input source ``x``, ground, free nodes 1 and 2; output node 2)::

      x ──g₁── 1 ──g₂── 2 ──g₃── ground
               │  ◄D₂─┘
               D₁
               ▼
             ground

Resistors ``g₁, g₂, g₃``; a Shockley diode ``D₁`` from node 1 (anode) to ground and ``D₂``
from node 2 (anode) to node 1. A two-terminal element with the monotone law ``i(u)`` has the
co-content ``∫₀ᵘ i``; the steady state is a stationary point (the minimum) of the total
co-content, because its gradient is Kirchhoff's current law.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._derivation import Derivation, Step

__all__ = ["DERIVATIONS", "diode_cocontent", "circuit", "RESISTORS", "DIODES"]

RESISTORS = (("x", 1), (1, 2), (2, "ground"))
"""Resistor branches ``(a, b)``: current ``g (V_a − V_b)`` from a to b."""

DIODES = ((1, "ground"), (2, 1))
"""Diode branches ``(anode, cathode)``: current ``i(V_anode − V_cathode)`` from anode to
cathode."""

FREE = (1, 2)


def circuit():
    """The symbolic circuit.

    Returns
    -------
    dict
        ``V`` (free-node voltage symbols), ``x``, ``g`` (conductances), ``I_s``, ``a``
        (``n V_T``), ``law`` (``u ↦ i(u)``), ``cocontent`` (``u ↦ D(u)``), ``branches``
        (``(a, b, u, i)`` of every element, sources excluded), ``potentials`` and the energy
        ``E``.
    """
    V = sp.Matrix(sp.symbols("V_1 V_2", real=True))
    x = sp.Symbol("x", real=True)
    g = sp.symbols("g_1:4", positive=True)
    I_s, a = sp.symbols("I_s a", positive=True)

    def law(u):
        return I_s * (sp.exp(u / a) - 1)

    def cocontent(u):
        return I_s * a * (sp.exp(u / a) - 1) - I_s * u

    pot = {"x": x, "ground": 0, 1: V[0], 2: V[1]}
    branches = []
    for ge, (p, q) in zip(g, RESISTORS):
        u = pot[p] - pot[q]
        branches.append((p, q, u, ge * u))
    for p, q in DIODES:
        u = pot[p] - pot[q]
        branches.append((p, q, u, law(u)))
    energy = (sum(ge * (pot[p] - pot[q]) ** 2 for ge, (p, q) in zip(g, RESISTORS)) / 2
              + sum(cocontent(pot[p] - pot[q]) for p, q in DIODES))
    return {"V": V, "x": x, "g": g, "I_s": I_s, "a": a, "law": law, "cocontent": cocontent,
            "branches": branches, "potentials": pot, "E": energy}


def _current_out(c, node):
    """Net current leaving ``node`` through the circuit's elements."""
    total = 0
    for p, q, _, i in c["branches"]:
        total += i if p == node else (-i if q == node else 0)
    return total


def _build():
    c = circuit()
    V, E, I_s, a = c["V"], c["E"], c["I_s"], c["a"]
    u, w, theta = sp.symbols("u w theta", real=True)
    gradient = sp.Matrix([sp.diff(E, v) for v in V])
    currents = sp.Matrix([_current_out(c, n) for n in FREE])
    power = sum(ub * ib for _, _, ub, ib in c["branches"])
    nodes = ["x", "ground", *FREE]
    pot = c["potentials"]
    tellegen = power - sum(pot[n] * _current_out(c, n) for n in nodes)
    at_rest = (power - c["x"] * _current_out(c, "x")
               - sum(v * k for v, k in zip(V, gradient)))
    diode_u = [pot[p] - pot[q] for p, q in DIODES]
    # Envelope: along any curve V*(θ) in voltage space, dE/dθ = ∂_θE + Σ_k I_k dV*_k/dθ with
    # I_k the net current out of node k; at an equilibrium (KCL) the second term vanishes.
    path = {v: sp.Function(f"V{k + 1}")(theta) for k, v in enumerate(V)}
    along = {c["g"][1]: theta}
    E_path = E.subs(along).subs(path)
    envelope = (sp.diff(E_path, theta) - sp.diff(E, c["g"][1]).subs(along).subs(path)
                - sum(currents[k].subs(along).subs(path) * sp.diff(path[v], theta)
                      for k, v in enumerate(V)))
    steps = [
        Step("the Shockley co-content D(u) = I_s a (e^{u/a} − 1) − I_s u is ∫₀ᵘ i(w) dw",
             c["cocontent"](u) - sp.integrate(c["law"](w), (w, 0, u))),
        Step("D′(u) = i(u) = I_s (e^{u/a} − 1)", sp.diff(c["cocontent"](u), u) - c["law"](u)),
        Step("Tellegen: Σ_branches u_b i_b = Σ_nodes V_n I_n (net current out), any voltages",
             tellegen),
        Step("power balance: Σ_branches u_b i_b = x I_x + Σ_free V_k ∂E/∂V_k, so at the "
             "steady state (∂E/∂V = 0) the elements dissipate what the source delivers",
             at_rest),
        Step("the local learning signal of a resistor: ∂E/∂g_e = ½ ΔV_e²",
             sp.Matrix([sp.diff(E, ge) - (pot[p] - pot[q]) ** 2 / 2
                        for ge, (p, q) in zip(c["g"], RESISTORS)])),
        Step("the diode's parameter: ∂E/∂I_s = Σ_d [a (e^{u_d/a} − 1) − u_d] = Σ_d D(u_d)/I_s",
             sp.Matrix([sp.diff(E, I_s) - sum(a * (sp.exp(ud / a) - 1) - ud for ud in diode_u),
                        sp.diff(E, I_s) - sum(c["cocontent"](ud) for ud in diode_u) / I_s])),
        Step("envelope: dE/dθ along V*(θ) = ∂E/∂θ + Σ_k I_k dV*_k/dθ (I_k = 0 at the "
             "steady state, so dE*/dg₂ = ½ΔV₂²)", envelope),
    ]
    statement = Step("Kirchhoff's current law is stationarity of the total co-content: "
                     "∂E/∂V_k = net current out of free node k (resistors and diodes)",
                     gradient - currents)
    assumptions = [
        # (relations in unassumed copies of the symbols, which would otherwise read True)
        ("positive conductances",
         sp.And(*[sp.Gt(sp.Symbol(ge.name, real=True), 0) for ge in c["g"]])),
        ("saturation current and n V_T positive (i strictly increasing, E strictly convex)",
         sp.And(*[sp.Gt(sp.Symbol(s.name, real=True), 0) for s in (I_s, a)])),
        ("no series resistance: the junction voltage is the branch voltage", None),
        ("ground at 0 V; the input is an ideal voltage source", None),
    ]
    return {"statement": statement, "steps": steps, "assumptions": assumptions}


_CACHE = {}


def _functions():
    """``(V, x, g, I_s, a) ↦ (E, ∂E/∂V, ∂E/∂g)`` lambdified (cached)."""
    if "f" not in _CACHE:
        c = circuit()
        E = c["E"]
        args = (list(c["V"]), c["x"], c["g"], c["I_s"], c["a"])
        _CACHE["f"] = sp.lambdify(args, [E, [sp.diff(E, v) for v in c["V"]],
                                         [sp.diff(E, ge) for ge in c["g"]]], modules="numpy")
    return _CACHE["f"]


def _numeric(rng):
    import networkx as nx

    from physlearn.systems.diode import NonlinearResistorNetwork

    names = {"x": "in", "ground": "ground", 1: "n1", 2: "out"}
    graph = nx.Graph()
    graph.add_edges_from([(names[p], names[q]) for p, q in RESISTORS])
    g = rng.uniform(0.5, 2.0, len(RESISTORS))
    I_s, n_ideal, vt = 10 ** rng.uniform(-7, -5), rng.uniform(1.0, 2.0), 0.02585
    net = NonlinearResistorNetwork(graph, ["in"], ["out"], "ground", conductance=g,
                                   diodes=[(names[p], names[q]) for p, q in DIODES],
                                   diode_law="shockley", saturation_current=I_s,
                                   ideality=n_ideal, thermal_voltage=vt)
    x = rng.uniform(-1.0, 1.0, size=(4, 1))
    free = net.equilibrium(x)
    state = net.with_s(free, free.s + rng.uniform(-0.05, 0.05, free.s.shape))  # off rest
    volts = state.node_voltages
    f = _functions()
    derived = {"energy": [], "kcl": [], "conductance": []}
    for b in range(len(x)):
        E, grad, dg = f([volts["n1"][b], volts["out"][b]], x[b, 0], g, I_s, n_ideal * vt)
        derived["energy"].append(E)
        derived["kcl"].append(grad)
        derived["conductance"].append(dg)
    derived = {k: np.array(v, dtype=float) for k, v in derived.items()}
    free_nodes = [net.nodes[i] for i in net._free]
    order = [free_nodes.index(names[k]) for k in FREE]
    implemented = {"energy": net.energy(state),
                   "kcl": net.energy_gradient(state)[:, order],
                   "conductance": net.param_gradient(state)["conductance"]}
    return derived, implemented


diode_cocontent = Derivation(
    name="diode_cocontent",
    title="Diode networks: Kirchhoff's current law is stationarity of the total co-content "
          "½Σg ΔV² + Σ∫₀ᵘ i_D; Tellegen; ∂E/∂g = ½ΔV², ∂E/∂I_s of a Shockley diode",
    build=_build,
    implements="physlearn.systems.diode:NonlinearResistorNetwork.energy_gradient",
    numeric=_numeric,
    tolerance=1e-10,
    notes="""
    Each two-terminal element with current law ``i(u)`` contributes its co-content
    ``∫₀ᵘ i`` to the energy (Millar 1951): ``½ g u²`` for a resistor, and for a Shockley diode
    ``i = I_s (e^{u/nV_T} − 1)`` the co-content ``D(u) = I_s nV_T (e^{u/nV_T} − 1) − I_s u``.
    Since ``∂u_b/∂V_k`` is ``+1`` where node k is the branch's first terminal and ``−1``
    where it is the second, ``∂E/∂V_k = Σ_b i_b ∂u_b/∂V_k`` is the net current leaving node
    k: stationarity is Kirchhoff's current law, and with increasing laws the co-content is
    strictly convex, so the steady state is its unique minimum. Summation by parts on the
    graph is Tellegen's theorem ``Σ_b u_b i_b = Σ_n V_n I_n``; at the steady state only the
    source node carries a net current, so the elements dissipate what the source delivers.
    The parameter derivatives at fixed voltages, ``∂E/∂g_e = ½ΔV_e²`` and
    ``∂E/∂I_s = Σ_d D(u_d)/I_s``, are also the derivatives of the minimum (envelope: the
    voltage redistribution enters only through the currents, zero at rest). The numerical
    check builds the same circuit as a ``NonlinearResistorNetwork`` (Shockley law, random
    conductances, ``I_s`` and ideality) and compares the lambdified ``E``, ``∂E/∂V`` and
    ``∂E/∂g`` with ``energy``, ``energy_gradient`` and ``param_gradient`` at voltages
    displaced from the steady state (so that the currents are not zero).
    """,
    references=(
        "W. Millar, Phil. Mag. 42, 1150 (1951)",
        "B. D. H. Tellegen, Philips Res. Rep. 7, 259 (1952)",
        "J. Kendall et al., arXiv:2006.01981 (2020)",
        "B. Scellier, ICML 2024, arXiv:2402.11674",
    ),
)

DERIVATIONS = [diode_cocontent]
