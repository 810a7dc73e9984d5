"""Coupled learning and contrastive learning on a linear resistor network, symbolically.

Coupled learning (Stern et al. 2021) clamps the output at ``o₀ − η ∂C/∂o`` and contrasts the
local measurement with the free state, divided by η. On a two-free-node circuit
(:data:`physlearn.derivations.resistor.LADDER`: input ``x``, hidden node 1, output node 2,
five symbolic conductances)::

    x ──g₁── 1 ──g₃── 2 ──g₅── ground,    x ──g₂── 2,    1 ──g₄── ground

* with η = 1 and the squared error the clamp is at ``y``: coupled learning *is* contrastive
  learning;
* every clamp is a soft nudge in disguise: holding the output at ``c`` gives the same state as
  the nudge ``β = (c − o₀)/(R (y − c))``;
* hence for η → 0 coupled learning tends to ``(1/R) dL/dθ``: the gradient direction, rescaled
  by the output's Thévenin conductance (with several outputs ``R`` is a matrix and the
  direction changes too);
* contrastive learning is the β → ∞ limit of the nudged state.
"""

from __future__ import annotations

import sympy as sp

from ._algebra import limit_at_infinity, limit_at_zero
from ._derivation import Derivation, content, notes_of
from .resistor import LADDER, _on, evaluate, setup, small_network

__all__ = ["coupled_equals_contrastive", "clamp_is_nudge", "small_eta_limit",
           "contrastive_is_infinite_nudge", "negative_controls"]


def _coupled(c, eta):
    """Per-edge coupled-learning estimate ``[½ΔV²(clamp) − ½ΔV²(free)]/η`` (positive)."""
    v0 = c.free_state()
    o0 = v0[c.output]
    o = sp.Symbol("o")
    cost = (o - c.y) ** 2 / 2
    clamp = o0 - eta * sp.diff(cost, o).subs(o, o0)       # o₀ − η ∂C/∂o
    vc = c.clamped_state(clamp)
    return [(_on(h, c, vc) - _on(h, c, v0)) / eta for h in c.local()]


def _contrastive(c):
    """Per-edge contrastive-learning estimate ``½ΔV²(clamped at y) − ½ΔV²(free)``."""
    v0, vy = c.free_state(), c.clamped_state(c.y)
    return [_on(h, c, vy) - _on(h, c, v0) for h in c.local()]


def coupled_equals_contrastive():
    """Coupled learning with η = 1 and the squared error is contrastive learning.

    Returns
    -------
    dict of str → sympy expression
        ``edge_e``: ``CpL(η=1) − CL`` per edge. All vanish.

    Notes
    -----
    For ``C = ½(o − y)²`` the clamp ``o₀ − η ∂C/∂o = (1 − η) o₀ + η y`` is the target itself
    at η = 1, and the divisor η is 1. (For another cost the two rules differ.)

    References
    ----------
    .. [1] M. Stern, D. Hexner, J. Rocks, A. Liu, Phys. Rev. X 11, 021045 (2021).
    .. [2] B. Scellier et al., NeurIPS 2023, arXiv:2312.15103.
    """
    c = small_network(LADDER)
    cpl, cl = _coupled(c, sp.Integer(1)), _contrastive(c)
    return {f"edge_{k + 1}": a - b for k, (a, b) in enumerate(zip(cpl, cl))}


def clamp_is_nudge():
    """Clamping the output at ``c`` gives the nudged state with ``β = (c − o₀)/(R(y − c))``.

    Returns
    -------
    dict of str → sympy expression
        ``state``: ``v_clamp(c) − v_β`` at that β (a vector). Vanishes.

    Notes
    -----
    A voltage source holding the output at ``c`` injects whatever current ``I`` makes
    ``o₀ + R I = c``; the nudge injects ``I = β (y − o_β)``. Both states are the free state
    plus ``I K⁻¹e``, so they coincide when the currents agree: ``β (y − c) = (c − o₀)/R``.
    Coupled learning with clamp ``o₀ + η (y − o₀)`` is thus EP at
    ``β(η) = η / (R (1 − η))``.

    References
    ----------
    .. [1] M. Stern, D. Hexner, J. Rocks, A. Liu, "Supervised learning in physical networks:
       from machine learning to learning machines", Phys. Rev. X 11, 021045 (2021).
    """
    c = small_network(LADDER)
    clamp = sp.Symbol("c")
    o0 = c.free_state()[c.output]
    beta = (clamp - o0) / (c.response() * (c.y - clamp))
    # Solve with a symbolic β first: substituting a fraction into a determinant is costly.
    return {"state": c.clamped_state(clamp) - c.nudged_state().subs(c.beta, beta)}


def small_eta_limit():
    """For η → 0 coupled learning tends to ``(1/R) dL/dθ`` (one output, squared error).

    Returns
    -------
    dict of str → sympy expression
        ``edge_e``: ``lim_{η→0} CpL(η) − (1/R) dL/dg_e`` per edge. All vanish.

    Notes
    -----
    By :func:`clamp_is_nudge`, ``CpL(η) = [g(β(η)) − g(0)]/η`` with
    ``β(η) = η/(R(1 − η))``, so ``lim CpL = g'(0) β'(0) = (1/R) dL/dθ``. ``R`` depends on the
    conductances but not on the input, so for one output the batch-averaged limit is the true
    gradient times ``1/R > 0``: a learning-rate rescaling. With several outputs the clamp
    currents are ``η R⁻¹ (y − o₀)`` and the limit is the gradient of
    ``½ (o − y)ᵀ R⁻¹ (o − y)`` with R frozen: a different direction, so coupled learning is
    not a gradient estimator (Stern et al. 2021; arXiv:2606.15443 on the dynamics).

    References
    ----------
    .. [1] M. Stern, D. Hexner, J. Rocks, A. Liu, "Supervised learning in physical networks:
       from machine learning to learning machines", Phys. Rev. X 11, 021045 (2021).
    .. [2] B. Scellier et al., "Energy-based learning algorithms for analog computing: a
       comparative study", NeurIPS 2023, arXiv:2312.15103.
    """
    c = small_network(LADDER)
    eta = sp.Symbol("eta")
    o0 = c.free_state()[c.output]
    loss = (o0 - c.y) ** 2 / 2
    v0 = c.free_state()
    vc = c.clamped_state(o0 + eta * (c.y - o0))
    R = c.response()
    out = {}
    for k, (g, h) in enumerate(zip(c.g, c.local())):
        limit = limit_at_zero(_on(h, c, vc) - _on(h, c, v0), eta, eta)
        out[f"edge_{k + 1}"] = limit - sp.diff(loss, g) / R
    return out


def contrastive_is_infinite_nudge():
    """The clamp at the target is the infinitely strong nudge: ``lim_{β→∞} v_β = v_clamp(y)``.

    Returns
    -------
    dict of str → sympy expression
        ``node_i``: ``lim_{β→∞} v_β,i − v_clamp,i(y)``. All vanish.

    Notes
    -----
    The nudge is a conductance β to a source at ``y``; as β → ∞ it becomes an ideal voltage
    source, the clamp. So contrastive learning is ``lim_{β→∞} [g(β) − g(0)]`` — a finite
    difference at infinite β, not divided by β, hence not a gradient estimator.

    References
    ----------
    .. [1] J. R. Movellan, "Contrastive Hebbian learning in the continuous Hopfield model",
       Connectionist Models (1991).
    """
    c = small_network(LADDER)
    v_beta, v_clamp = c.nudged_state(), c.clamped_state(c.y)
    return {f"node_{node}": limit_at_infinity(v_beta[i], c.beta) - v_clamp[i]
            for i, node in enumerate(c.free)}


def negative_controls():
    """Deliberately wrong statements that must NOT vanish.

    Returns
    -------
    dict of str → sympy expression
        ``half_eta_is_contrastive``: CpL at η = ½ differs from CL;
        ``small_eta_is_gradient``: ``lim_{η→0} CpL − dL/dg`` (the 1/R factor is missing).
    """
    c = small_network(LADDER)
    k = 2
    half = _coupled(c, sp.Rational(1, 2))[k] - _contrastive(c)[k]
    eta = sp.Symbol("eta")
    v0 = c.free_state()
    o0 = v0[c.output]
    vc = c.clamped_state(o0 + eta * (c.y - o0))
    h = c.local()[k]
    limit = limit_at_zero(_on(h, c, vc) - _on(h, c, v0), eta, eta)
    return {
        "half_eta_is_contrastive": half,
        "small_eta_is_gradient": limit - sp.diff((o0 - c.y) ** 2 / 2, c.g[k]),
    }


# -- numerical ties to physlearn.rules.contrastive and the clamped network ------------------------
def _clamped(net, c, x, values):
    from physlearn.nudges import Clamp

    from ._numeric import free_voltages

    return free_voltages(c, net.equilibrium(x, Clamp(values)))


def _numeric_cpl_is_cl(rng):
    """CpL(η = 1) of the derivation against ``ContrastiveLearning.gradient``."""
    from physlearn.rules.contrastive import ContrastiveLearning

    c, net, order, g, x, y = setup(rng, LADDER)
    derived = evaluate(_coupled(c, sp.Integer(1)), c, g, x, y).mean(axis=0)
    return derived[order], ContrastiveLearning().gradient(net, x, y)["conductance"]


def _numeric_clamp(rng, eta=0.4):
    """The nudged state at ``β = (c − o₀)/(R(y − c))`` against the network clamped at c."""
    c, net, _, g, x, y = setup(rng, LADDER)
    o0 = c.free_state()[c.output]
    clamp = o0 + eta * (c.y - o0)
    beta = evaluate([(clamp - o0) / (c.response() * (c.y - clamp))], c, g, x, y)[:, 0]
    derived = evaluate(c.nudged_state(), c, g, x, y, beta)
    return derived, _clamped(net, c, x, evaluate([clamp], c, g, x, y))


def _numeric_small_eta(rng, eta=1e-6):
    """``(1/R) dL/dg`` against ``CoupledLearning.gradient`` at a small η."""
    from physlearn.rules.contrastive import CoupledLearning

    c, net, order, g, x, y = setup(rng, LADDER)
    loss = (c.free_state()[c.output] - c.y) ** 2 / 2
    R = c.response()
    derived = evaluate([sp.diff(loss, ge) / R for ge in c.g], c, g, x, y).mean(axis=0)
    return derived[order], CoupledLearning(eta).gradient(net, x, y)["conductance"]


def _numeric_infinite_nudge(rng):
    """``lim_{β→∞} v_β`` against the network clamped at the target."""
    c, net, _, g, x, y = setup(rng, LADDER)
    limit = [limit_at_infinity(v, c.beta) for v in c.nudged_state()]
    return evaluate(limit, c, g, x, y), _clamped(net, c, x, y)


def _build(function, statement, claims):
    assumptions = [("a linear resistor network with one output and the squared error "
                    "C = ½(o − y)²", None)]
    return lambda: content(function(), statement, claims, assumptions)


_STERN = "Stern, Hexner, Rocks, Liu, Phys. Rev. X 11, 021045 (2021)"
_NET = "physlearn.systems.resistor:ResistorNetwork"

DERIVATIONS = [
    Derivation("coupled.coupled_equals_contrastive",
               "Coupled learning with η = 1 and the squared error is contrastive learning.",
               _build(coupled_equals_contrastive, "edge",
                      {"edge": "CpL(η = 1) = CL on every edge"}),
               implements="physlearn.rules.contrastive:ContrastiveLearning.gradient",
               numeric=_numeric_cpl_is_cl, tolerance=1e-10,
               notes=notes_of(coupled_equals_contrastive), references=(_STERN,)),
    Derivation("coupled.clamp_is_nudge",
               "Clamping the output at c is the nudge β = (c − o₀)/(R(y − c)).",
               _build(clamp_is_nudge, "state", {"state": "v_clamp(c) = v_β at that β"}),
               implements=f"{_NET}.equilibrium", numeric=_numeric_clamp, tolerance=1e-10,
               notes=notes_of(clamp_is_nudge), references=(_STERN,)),
    Derivation("coupled.small_eta_limit",
               "For η → 0 coupled learning tends to (1/R) dL/dθ (one output).",
               _build(small_eta_limit, "edge", {"edge": "lim_{η→0} CpL(η) = (1/R) dL/dg_e"}),
               implements="physlearn.rules.contrastive:CoupledLearning.gradient",
               numeric=_numeric_small_eta, tolerance=1e-4, notes=notes_of(small_eta_limit),
               references=(_STERN, "Scellier et al., NeurIPS 2023, arXiv:2312.15103")),
    Derivation("coupled.contrastive_is_infinite_nudge",
               "The clamp at the target is the infinitely strong nudge.",
               _build(contrastive_is_infinite_nudge, "node",
                      {"node": "lim_{β→∞} v_β = v_clamp(y) at every free node"}),
               implements=f"{_NET}.equilibrium", numeric=_numeric_infinite_nudge,
               tolerance=1e-10, notes=notes_of(contrastive_is_infinite_nudge),
               references=("Movellan, Connectionist Models (1991)",)),
]
"""The coupled/contrastive-learning derivations, tied to physlearn.rules.contrastive."""
