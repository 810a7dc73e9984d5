"""EP on a linear resistor network, symbolically: a 3-free-node bridge with 6 conductances.

The circuit (input source ``x``, ground ``0``, free nodes 1, 2, 3, output node 3)::

          ┌──g₁── 1 ──g₄──┐
      x ──┤       │g₃      3 ──g₆── ground
          └──g₂── 2 ──g₅──┘

Statements: Kirchhoff's current law is the stationarity of the co-content, ``∂E/∂g = ½ΔV²``
(also along the equilibrium: an envelope theorem), the nudge is a current injection, power
balance (Tellegen), the exact gradient is the limit of centered EP, and the nudged output is a
Möbius function of β with a single pole at ``β = −1/R``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from ._algebra import limit_at_zero, solve_linear
from ._derivation import Derivation, content, notes_of

__all__ = ["Circuit", "small_network", "BRIDGE", "LADDER", "kirchhoff", "cocontent_gradient",
           "current_injection", "power_balance", "ep_gradient", "output_pole",
           "negative_controls"]

BRIDGE = (("x", 1), ("x", 2), (1, 2), (1, 3), (2, 3), (3, "ground"))
"""Edges of the 3-free-node bridge (output node 3) used by this module."""

LADDER = (("x", 1), ("x", 2), (1, 2), (1, "ground"), (2, "ground"))
"""Edges of a 2-free-node circuit (output node 2), small enough for nested clamps."""


@dataclass
class Circuit:
    """A linear resistor network with symbolic conductances, one input source and one output.

    Attributes
    ----------
    edges : tuple of (node, node)
    g : tuple of Symbol
        Conductances, aligned with ``edges`` (positive symbols).
    free : tuple
        Free nodes (Kirchhoff's current law holds there); the last one is the output.
    sources : dict
        Node → fixed potential (input ``x``, ground ``0``).
    v : Matrix
        Symbols of the free-node voltages (a generic, not necessarily equilibrium, state).
    y : Symbol
        Target of the output voltage.

    Notes
    -----
    The co-content (half the dissipated power) ``E = ½ Σ_e g_e ΔV_e²`` is quadratic in the
    free voltages: ``E = ½ vᵀKv − bᵀv + const`` with the weighted Laplacian block ``K``.
    """

    edges: tuple
    g: tuple
    free: tuple
    sources: dict
    v: sp.Matrix
    y: sp.Symbol
    beta: sp.Symbol = field(default_factory=lambda: sp.Symbol("beta"))

    @property
    def output(self):
        return len(self.free) - 1

    def potentials(self, v=None):
        """Node → potential, for free voltages ``v`` (default: the generic symbols)."""
        v = self.v if v is None else v
        return {**self.sources, **{n: v[i] for i, n in enumerate(self.free)}}

    def drops(self, v=None):
        """Voltage drops ``ΔV_e = V_a − V_b`` across every edge."""
        p = self.potentials(v)
        return [p[a] - p[b] for a, b in self.edges]

    def energy(self, v=None):
        """Co-content ``E = ½ Σ g_e ΔV_e²``."""
        return sum(g * d**2 for g, d in zip(self.g, self.drops(v))) / 2

    def local(self, v=None):
        """The local measurements ``½ ΔV_e²`` (one per edge)."""
        return [d**2 / 2 for d in self.drops(v)]

    def current_out(self, node, v=None):
        """Net current leaving ``node`` through the resistors (Ohm's law per edge)."""
        p = self.potentials(v)
        total = 0
        for g, (a, b) in zip(self.g, self.edges):
            if node == a:
                total += g * (p[a] - p[b])
            elif node == b:
                total += g * (p[b] - p[a])
        return total

    @cached_property
    def K(self):
        """Hessian of E in the free voltages (the free block of the weighted Laplacian)."""
        return sp.hessian(self.energy(), list(self.v))

    @cached_property
    def b(self):
        """Source term: ``b = −∂E/∂v`` at ``v = 0`` (currents pushed in by the sources)."""
        grad = sp.Matrix([sp.diff(self.energy(), vi) for vi in self.v])
        return -grad.subs({vi: 0 for vi in self.v})

    def unit(self):
        """Indicator vector of the output node."""
        e = sp.zeros(len(self.free), 1)
        e[self.output] = 1
        return e

    def free_state(self):
        """Free equilibrium ``v₀ = K⁻¹ b``."""
        return solve_linear(self.K, self.b)

    def nudged_state(self, beta=None):
        """Minimiser of ``E + β ½ (v_out − y)²``: ``(K + β e eᵀ) v = b + β y e``."""
        beta = self.beta if beta is None else beta
        e = self.unit()
        return solve_linear(self.K + beta * e * e.T, self.b + beta * self.y * e)

    def clamped_state(self, c):
        """Equilibrium with the output held at ``c`` by a voltage source (hidden nodes relax)."""
        hidden = [i for i in range(len(self.free)) if i != self.output]
        K, rhs = self.K, self.b - self.K[:, self.output] * c
        v_h = solve_linear(K.extract(hidden, hidden), rhs.extract(hidden, [0]))
        v = sp.zeros(len(self.free), 1)
        for row, i in enumerate(hidden):
            v[i] = v_h[row]
        v[self.output] = c
        return v

    def response(self):
        """Output response ``R = eᵀ K⁻¹ e``: the output voltage per unit injected current."""
        K = self.K
        return K.adjugate()[self.output, self.output] / K.det()


def small_network(edges=BRIDGE):
    """A circuit with symbolic conductances, input source ``x`` and ground.

    Parameters
    ----------
    edges : tuple of (node, node), default :data:`BRIDGE`
        Nodes other than ``"x"`` and ``"ground"`` are free; the largest is the output.

    Returns
    -------
    Circuit
    """
    g = sp.symbols(f"g_1:{len(edges) + 1}", positive=True)
    x, y = sp.symbols("x y", real=True)
    free = tuple(sorted({n for e in edges for n in e} - {"x", "ground"}))
    v = sp.Matrix(sp.symbols(f"v_1:{len(free) + 1}", real=True))
    return Circuit(edges=edges, g=g, free=free, sources={"x": x, "ground": 0}, v=v, y=y)


def _on(expr, circuit, state):
    """Evaluate an expression in the generic free voltages at a given state."""
    return expr.subs(dict(zip(circuit.v, state)), simultaneous=True)


def kirchhoff():
    """Kirchhoff's current law is the stationarity condition of the co-content.

    Returns
    -------
    dict of str → sympy expression
        ``kcl_node_i``: ``∂E/∂V_i −`` (net current out of node i), for any voltages;
        ``equilibrium_i``: that current at the solved free state;
        ``hessian_is_laplacian``: ``K − Dᵀ diag(g) D`` (D: incidence matrix on the free
        nodes). All vanish.

    Notes
    -----
    ``∂/∂V_i ½ Σ_e g_e (V_a − V_b)² = Σ_{e ∋ i} g_e (V_i − V_j)``, the current leaving node i
    through its resistors. So ``∇_V E = 0`` at the free nodes is KCL, and since ``K`` is a
    weighted Laplacian block (positive definite when every node is connected to a source)
    the steady state is the unique minimum of E. Power is ``2E``: the circuit minimises
    dissipation (Maxwell's minimum heat theorem).

    References
    ----------
    .. [1] J. Kendall et al., "Training end-to-end analog neural networks with equilibrium
       propagation", arXiv:2006.01981 (2020).
    """
    c = small_network()
    out = {}
    v0 = c.free_state()
    for i, node in enumerate(c.free):
        out[f"kcl_node_{node}"] = sp.diff(c.energy(), c.v[i]) - c.current_out(node)
        out[f"equilibrium_{node}"] = _on(c.current_out(node), c, v0)
    D = sp.Matrix([[sp.diff(d, vi) for vi in c.v] for d in c.drops()])
    out["hessian_is_laplacian"] = c.K - D.T * sp.diag(*c.g) * D
    return out


def cocontent_gradient():
    """``∂E/∂g_e = ½ ΔV_e²``, also as a total derivative along the equilibrium.

    Returns
    -------
    dict of str → sympy expression
        ``minimum``: ``E(v₀) − E*`` with the closed form ``E*`` below; ``partial_e``:
        ``∂E/∂g_e − ½ΔV_e²`` at fixed voltages; ``envelope_e``: ``dE*/dg_e − ½ΔV_e²(v₀)``,
        the derivative of the minimum along the equilibrium. All vanish.

    Notes
    -----
    The minimum is ``E* = E(v=0) − ½ bᵀK⁻¹b`` (completing the square), a rational function
    of the conductances. The envelope statement says that changing ``g_e`` moves every node
    voltage, but at a minimum of E that redistribution does not change E to first order: the
    learning signal of an edge is its own measured voltage drop — local in space.

    References
    ----------
    .. [1] J. Kendall et al., "Training end-to-end analog neural networks with equilibrium
       propagation", arXiv:2006.01981 (2020).
    .. [2] B. Scellier, "A fast algorithm to simulate nonlinear resistive networks",
       ICML 2024, arXiv:2402.11674.
    """
    c = small_network()
    v0 = c.free_state()
    # Minimum of ½vᵀKv − bᵀv + E(0), by completing the square (a compact closed form).
    e_star = c.energy(sp.zeros(len(c.free), 1)) - (c.b.T * v0)[0] / 2
    out = {"minimum": c.energy(v0) - e_star}
    for k, (g, half_sq) in enumerate(zip(c.g, c.local())):
        out[f"partial_{k + 1}"] = sp.diff(c.energy(), g) - half_sq
        out[f"envelope_{k + 1}"] = sp.diff(e_star, g) - _on(half_sq, c, v0)
    return out


def current_injection():
    """The nudge ``β ½(V_out − y)²`` is a current ``β (y − V_out)`` injected at the output.

    Returns
    -------
    dict of str → sympy expression
        ``stationarity_output``: ``∂F/∂V_out −`` (current out through resistors
        ``−`` injected current), for any voltages; ``superposition``: ``v_β − v₀ −
        I_β K⁻¹e`` with ``I_β = β (y − o_β)``: the nudged state is the free state plus the
        response to the injected current. All vanish.

    Notes
    -----
    In hardware the nudge is a current source (Kendall et al. 2020): the output node receives
    ``I = β (y − V_out)``, pulling its voltage toward the target with a conductance β.

    References
    ----------
    .. [1] J. Kendall et al., "Training end-to-end analog neural networks with equilibrium
       propagation", arXiv:2006.01981 (2020).
    """
    c = small_network()
    beta, y = c.beta, c.y
    out_v = c.v[c.output]
    F = c.energy() + beta * (out_v - y) ** 2 / 2
    injected = beta * (y - out_v)
    v_beta = c.nudged_state()
    current = beta * (y - v_beta[c.output])
    return {
        "stationarity_output": sp.diff(F, out_v) - (c.current_out(c.free[c.output]) - injected),
        "superposition": v_beta - c.free_state() - current * solve_linear(c.K, c.unit()),
    }


def power_balance():
    """Tellegen's theorem: dissipated power equals the power delivered by the sources.

    Returns
    -------
    dict of str → sympy expression
        ``tellegen``: ``Σ g ΔV² − Σ_sources V_s I_s − Σ_free V_i I_i`` for any voltages;
        ``free``: ``Σ g ΔV² − x I_x`` at the free state; ``nudged``:
        ``Σ g ΔV² − x I_x − V_out I_inj`` at the nudged state. All vanish.

    Notes
    -----
    ``Σ_e g_e ΔV_e² = Σ_e I_e (V_a − V_b) = Σ_n V_n I_n`` with ``I_n`` the net current out of
    node n (sum by parts on the graph). KCL makes ``I_n = 0`` at free nodes, except the output
    under a nudge where it equals the injected current; ground contributes ``0 · I = 0``.

    References
    ----------
    .. [1] B. D. H. Tellegen, "A general network theorem, with applications", Philips Res.
       Rep. 7, 259–269 (1952).
    """
    c = small_network()
    power = sum(g * d**2 for g, d in zip(c.g, c.drops()))
    p = c.potentials()
    nodes = list(c.sources) + list(c.free)
    tellegen = power - sum(p[n] * c.current_out(n) for n in nodes)
    x = c.sources["x"]
    from_input = power - x * c.current_out("x")
    v_beta = c.nudged_state()
    injected = c.beta * (c.y - v_beta[c.output])
    return {
        "tellegen": tellegen,
        "free": _on(from_input, c, c.free_state()),
        "nudged": _on(from_input, c, v_beta) - v_beta[c.output] * injected,
    }


def ep_gradient():
    """The exact gradient of the squared error equals the β → 0 limit of centered EP.

    Returns
    -------
    dict of str → sympy expression
        ``edge_e``: ``dL/dg_e − lim_{β→0} [½ΔV_e²(v_β) − ½ΔV_e²(v_{−β})]/(2β)``, where
        ``L = ½ (o₀(g) − y)²`` is differentiated directly. All vanish.

    Notes
    -----
    Both sides are computed independently: ``dL/dg_e`` from the explicit free solution
    ``v₀ = K(g)⁻¹ b(g)`` by the quotient rule; the EP side from two nudged solutions and the
    local measurement ½ΔV². The limit of the centered quotient (0/0 at β = 0) is taken exactly
    by l'Hôpital's rule.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, Front. Comput. Neurosci. 11:24 (2017).
    .. [2] A. Laborieux et al., Front. Neurosci. 15:633674 (2021), arXiv:2006.03824.
    """
    c = small_network()
    beta = c.beta
    o0 = c.free_state()[c.output]
    loss = (o0 - c.y) ** 2 / 2
    plus, minus = c.nudged_state(beta), c.nudged_state(-beta)
    out = {}
    for k, (g, half_sq) in enumerate(zip(c.g, c.local())):
        contrast = _on(half_sq, c, plus) - _on(half_sq, c, minus)
        out[f"edge_{k + 1}"] = sp.diff(loss, g) - limit_at_zero(contrast, 2 * beta, beta)
    return out


def output_pole():
    """The nudged output ``o(β) = (o₀ + βRy)/(1 + βR)``: one pole at β = −1/R.

    Returns
    -------
    dict of str → sympy expression
        ``mobius``: ``o_β − (o₀ + βRy)/(1 + βR)``; ``determinant``:
        ``det(K + β e eᵀ) − det K · (1 + βR)`` (the only zero, hence the only pole, is at
        ``β = −1/R``); ``thevenin``: ``R · (K_oo − K_oh K_hh⁻¹ K_ho) − 1``;
        ``taylor_n`` (n = 1…4): the n-th Taylor coefficient minus ``(y − o₀) R (−R)^{n−1}``;
        ``radius``: ``|c_n / c_{n+1}| − 1/R``. All vanish.

    Notes
    -----
    ``R = eᵀK⁻¹e`` is the output's Thévenin resistance (inputs shorted): the output sees a
    source ``o₀`` behind resistance R, and the nudge adds a conductance β to a source ``y``.
    The voltage divider gives the Möbius form ``o(β) = (o₀/R + βy)/(1/R + β)``, whose
    geometric series ``o₀ + (y − o₀) Σ_{n≥1} (−1)^{n−1} (βR)ⁿ`` converges for ``|β| < 1/R``.
    Every ``∂E/∂g`` at the nudged state is a polynomial in ``o(β)``, so holomorphic EP must use
    a radius ``r < 1/R``; with several outputs, ``r < 1/λ_max(R)`` for the response matrix.

    References
    ----------
    .. [1] A. Laborieux, F. Zenke, NeurIPS 2022, arXiv:2209.00530.
    """
    c = small_network()
    beta, y = c.beta, c.y
    o0 = c.free_state()[c.output]
    R = c.response()
    e = c.unit()
    hidden = [i for i in range(len(c.free)) if i != c.output]
    K = c.K
    schur = K[c.output, c.output] - (K.extract([c.output], hidden)
                                     * solve_linear(K.extract(hidden, hidden),
                                                    K.extract(hidden, [c.output])))[0]
    out = {
        "mobius": c.nudged_state()[c.output] - (o0 + beta * R * y) / (1 + beta * R),
        "determinant": (K + beta * e * e.T).det() - K.det() * (1 + beta * R),
        "thevenin": R * schur - 1,
    }
    # Series of the (proved) Möbius form, in plain symbols for o₀ and R.
    o0_, R_ = sp.Symbol("o_0"), sp.Symbol("R", positive=True)
    series = sp.series((o0_ + beta * R_ * y) / (1 + beta * R_), beta, 0, 6).removeO()
    coeff = [series.coeff(beta, n) for n in range(6)]
    for n in range(1, 5):
        out[f"taylor_{n}"] = coeff[n] - (y - o0_) * R_ * (-R_) ** (n - 1)
    out["radius"] = sp.Abs(sp.cancel(coeff[4] / coeff[5])) - 1 / R_
    return out


def negative_controls():
    """Deliberately wrong statements that must NOT vanish.

    Returns
    -------
    dict of str → sympy expression
        ``one_sided_unbiased``: the β² Taylor coefficient ``a_2`` of ``½ΔV²(v_β)`` (the
        first-order bias of positive EP) is not zero for this circuit;
        ``wrong_local_rule``: ``∂E/∂g_e ≠ ΔV_e²`` (a factor ½ lost);
        ``pole_at_plus``: ``det(K + βeeᵀ)`` does not vanish at ``β = +1/R``.
    """
    c = small_network()
    beta = c.beta
    half_sq = c.local()[3]
    h = _on(half_sq, c, c.nudged_state())
    R = c.response()
    return {
        "one_sided_unbiased": sp.diff(h, beta, 2).subs(beta, 0) / 2,
        "wrong_local_rule": sp.diff(c.energy(), c.g[3]) - 2 * half_sq,
        "pole_at_plus": (c.K + beta * c.unit() * c.unit().T).det().subs(beta, 1 / R),
    }


# -- numerical ties to physlearn.systems.resistor.ResistorNetwork -------------------------------
_NET = "physlearn.systems.resistor:ResistorNetwork"


def evaluate(exprs, c, g, x, y, beta=0.0):
    """Expressions of a circuit's conductances, input, target and β at numbers.

    Parameters
    ----------
    exprs : sequence of sympy expressions
    c : Circuit
    g : sequence of float
        Conductances aligned with ``c.edges``.
    x, y : ndarray, shape (batch, 1)
    beta : float

    Returns
    -------
    ndarray, shape (batch, len(exprs))
    """
    f = sp.lambdify((c.g, c.sources["x"], c.y, c.beta), list(exprs), "numpy")
    values = np.broadcast_arrays(x[:, 0], *f(g, x[:, 0], y[:, 0], beta))[1:]
    return np.stack(values, axis=-1)


def setup(rng, edges=BRIDGE):
    """``(c, net, order, g, x, y)``: a symbolic circuit and its ResistorNetwork at random g."""
    from ._numeric import circuit_inputs, network

    c = small_network(edges)
    g, x, y = circuit_inputs(rng, c)
    net, order = network(c, g)
    return c, net, order, g, x, y


def _squared_error_nudge(y, beta):
    from physlearn.costs import SquaredError
    from physlearn.nudges import Nudge

    return Nudge(SquaredError(), y, beta)


def _numeric_kirchhoff(rng):
    """The free state ``K⁻¹b`` of the bridge against ``ResistorNetwork.equilibrium``."""
    from ._numeric import free_voltages

    c, net, _, g, x, y = setup(rng)
    return evaluate(c.free_state(), c, g, x, y), free_voltages(c, net.equilibrium(x))


def _numeric_cocontent(rng):
    """``dE*/dg_e`` (the envelope statement) against ``param_gradient`` at the free state."""
    c, net, order, g, x, y = setup(rng)
    e_star = c.energy(sp.zeros(len(c.free), 1)) - (c.b.T * c.free_state())[0] / 2
    derived = evaluate([sp.diff(e_star, ge) for ge in c.g], c, g, x, y)
    return derived[:, order], net.param_gradient(net.equilibrium(x))["conductance"]


def _numeric_injection(rng, beta=0.7):
    """The nudged state of the bridge against ``equilibrium`` under a squared-error nudge."""
    from ._numeric import free_voltages

    c, net, _, g, x, y = setup(rng)
    nudged = net.equilibrium(x, _squared_error_nudge(y, beta))
    return evaluate(c.nudged_state(), c, g, x, y, beta), free_voltages(c, nudged)


def _numeric_power(rng, beta=0.7):
    """``E = ½ (x I_x + V_out I_inj)`` (Tellegen) against ``ResistorNetwork.energy``."""
    c, net, _, g, x, y = setup(rng)
    derived = {}
    for key, state, b in (("free", c.free_state(), 0.0), ("nudged", c.nudged_state(), beta)):
        power = c.sources["x"] * _on(c.current_out("x"), c, state)
        power += state[c.output] * c.beta * (c.y - state[c.output])
        derived[key] = evaluate([power / 2], c, g, x, y, b)[:, 0]
    free = net.equilibrium(x)
    nudged = net.equilibrium(x, _squared_error_nudge(y, beta), start=free)
    return derived, {"free": net.energy(free), "nudged": net.energy(nudged)}


def _numeric_ep_gradient(rng, beta=1e-4):
    """The direct ``dL/dg_e`` of the solved loss against centered EP on the network."""
    from physlearn.rules.ep import EP

    c, net, order, g, x, y = setup(rng)
    loss = (c.free_state()[c.output] - c.y) ** 2 / 2
    derived = evaluate([sp.diff(loss, ge) for ge in c.g], c, g, x, y).mean(axis=0)
    return derived[order], EP(beta, "centered").gradient(net, x, y)["conductance"]


def _numeric_pole(rng):
    """The radius ``1/R`` of the Möbius output against ``convergence_radius``."""
    c, net, _, g, x, y = setup(rng)
    radius = evaluate([1 / c.response()], c, g, x, y)[0, 0]
    return radius, net.convergence_radius()


def _build(function, statement, claims, assumptions=()):
    return lambda: content(function(), statement, claims,
                           [("a linear resistor network, every free node connected to a source "
                             "(K positive definite)", None), *assumptions])


_KENDALL = "Kendall et al., arXiv:2006.01981 (2020)"

DERIVATIONS = [
    Derivation("resistor.kirchhoff", "Kirchhoff's current law is the stationarity of the "
               "co-content.", _build(kirchhoff, "kcl_node", {
                   "kcl_node": "∂E/∂V_i is the net current out of node i, for any voltages",
                   "equilibrium": "no net current leaves a free node at the free state",
                   "hessian_is_laplacian": "∂²E/∂V² = Dᵀ diag(g) D (weighted Laplacian)"}),
               implements=f"{_NET}.equilibrium", numeric=_numeric_kirchhoff, tolerance=1e-10,
               notes=notes_of(kirchhoff), references=(_KENDALL,)),
    Derivation("resistor.cocontent_gradient", "∂E/∂g_e = ½ΔV_e², also along the equilibrium.",
               _build(cocontent_gradient, "envelope", {
                   "minimum": "the minimum of E is E* = E(0) − ½ bᵀK⁻¹b",
                   "partial": "∂E/∂g_e = ½ΔV_e² at fixed voltages",
                   "envelope": "dE*/dg_e = ½ΔV_e² at the free state (envelope theorem)"}),
               implements=f"{_NET}.param_gradient", numeric=_numeric_cocontent,
               tolerance=1e-10, notes=notes_of(cocontent_gradient), references=(_KENDALL,)),
    Derivation("resistor.current_injection", "The nudge is a current β(y − V_out) injected at "
               "the output.", _build(current_injection, "superposition", {
                   "stationarity_output": "∂F/∂V_out = current out through the resistors − "
                                          "injected current",
                   "superposition": "v_β = v₀ + I_β K⁻¹e with I_β = β(y − o_β)"}),
               implements=f"{_NET}.equilibrium", numeric=_numeric_injection, tolerance=1e-10,
               notes=notes_of(current_injection), references=(_KENDALL,)),
    Derivation("resistor.power_balance", "Tellegen: dissipated power = power delivered by the "
               "sources.", _build(power_balance, "tellegen", {
                   "tellegen": "Σ gΔV² = Σ_n V_n I_n, for any voltages",
                   "free": "Σ gΔV² = x I_x at the free state",
                   "nudged": "Σ gΔV² = x I_x + V_out I_inj at the nudged state"}),
               implements=f"{_NET}.energy", numeric=_numeric_power, tolerance=1e-10,
               notes=notes_of(power_balance),
               references=("Tellegen, Philips Res. Rep. 7, 259 (1952)",)),
    Derivation("resistor.ep_gradient", "The exact gradient is the β → 0 limit of centered EP.",
               _build(ep_gradient, "edge", {
                   "edge": "dL/dg_e = lim_{β→0} [½ΔV_e²(v_β) − ½ΔV_e²(v_{−β})]/(2β)"}),
               implements="physlearn.rules.ep:EP.gradient", numeric=_numeric_ep_gradient,
               tolerance=1e-6, notes=notes_of(ep_gradient), references=(_KENDALL,)),
    Derivation("resistor.output_pole", "The nudged output is Möbius in β, with one pole at "
               "β = −1/R.", _build(output_pole, "mobius", {
                   "mobius": "o_β = (o₀ + βRy)/(1 + βR)",
                   "determinant": "det(K + βeeᵀ) = det K · (1 + βR)",
                   "thevenin": "R is the inverse Schur complement of the output",
                   "taylor": "the Taylor coefficients are (y − o₀) R (−R)^{n−1}",
                   "radius": "the radius of convergence is 1/R"}),
               implements=f"{_NET}.convergence_radius", numeric=_numeric_pole,
               tolerance=1e-10, notes=notes_of(output_pole),
               references=("Laborieux & Zenke, NeurIPS 2022, arXiv:2209.00530",)),
]
"""The resistor-network derivations, tied to the methods of ResistorNetwork."""
