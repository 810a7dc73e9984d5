"""Lagrangian EP (GLEP): the boundary residual of the discrete action, and when it vanishes.

The leapfrog run of a unit-mass oscillator is the stationary path of the discrete action
(half-step positions ``Q_1 … Q_K``, virtual end points ``Q_0``, ``Q_{K+1}``)

    S_β[Q] = Σ_{i=0}^{K} ½(Q_{i+1} − Q_i)²/δ − δ Σ_{i=1}^{K} V(Q_i, u_{i−1})
             − β Σ_{i=1}^{K} g_i φ_i,

``φ_i = (Q_i + Q_{i+1})/2``. With the local measurement ``G = δ Σ_i ∂_θV(Q_i, u_{i−1})`` and the
end momenta ``P = ∂S/∂Q_{K+1}``, ``P_0 = −∂S/∂Q_0``, the mixed partials of the on-shell action
give ``dC/dθ = ∂_βG|₀ − R`` with the boundary residual

    R = [∂_βP ∂_θQ_{K+1} − ∂_θP ∂_βQ_{K+1}] − [∂_βP_0 ∂_θQ_0 − ∂_θP_0 ∂_βQ_0].

Proved for the linear oscillator ``V = ½AQ² − BuQ`` over K = 3 steps, with the paths solved
exactly under the boundary conditions of :mod:`physlearn.rules.glep`.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import sympy as sp

from ._algebra import solve_linear
from ._derivation import Derivation, Step

__all__ = ["DERIVATIONS", "glep_boundary_residual", "oscillator"]

K_STEPS = 3
BETA = 1e-3
"""Nudge of the centered GLEP estimates in the numerical check (exact here: G is quadratic in
β for a linear oscillator)."""


def oscillator():
    """The symbolic problem: parameters, inputs, nudges and the discrete action.

    Returns
    -------
    dict
        ``theta`` (``A``, ``B``), ``dt``, ``beta``, ``u`` (inputs ``u_0 … u_{K−1}``), ``g``
        (nudges ``g_1 … g_K``), ``Q`` (path symbols ``Q_0 … Q_{K+1}``), ``force``
        (``(q, u) ↦ ∇V``), ``dV`` (``(q, u) ↦ (∂_AV, ∂_BV)``), ``action``.
    """
    A, B = sp.symbols("A B", real=True)
    dt = sp.Symbol("delta", positive=True)
    beta = sp.Symbol("beta", real=True)
    u = sp.symbols(f"u_0:{K_STEPS}", real=True)
    g = sp.symbols(f"g_1:{K_STEPS + 1}", real=True)
    Q = sp.symbols(f"Q_0:{K_STEPS + 2}", real=True)

    def V(q, ui):
        return A * q**2 / 2 - B * ui * q

    links = [(Q[i] + Q[i + 1]) / 2 for i in range(1, K_STEPS + 1)]
    action = (sum((Q[i + 1] - Q[i]) ** 2 / (2 * dt) for i in range(K_STEPS + 1))
              - dt * sum(V(Q[i], u[i - 1]) for i in range(1, K_STEPS + 1))
              - beta * sum(gi * phi for gi, phi in zip(g, links)))
    point = sp.Symbol("q", real=True)

    def force(q, ui):
        """``∇V`` at ``q`` (differentiated at a free point, then evaluated)."""
        return sp.diff(V(point, ui), point).subs(point, q)

    def dV(q, ui):
        """``(∂_AV, ∂_BV)`` at fixed position ``q`` (not through a θ-dependent path)."""
        return [sp.diff(V(point, ui), t).subs(point, q) for t in (A, B)]

    return {"theta": (A, B), "dt": dt, "beta": beta, "u": u, "g": g, "Q": Q, "V": V,
            "force": force, "dV": dV, "action": action}


def _point_force(m, q, i, beta):
    """``δ²∇V(Q_i) + ½δβ(g_{i−1} + g_i)`` (``g_0 = 0``), the kick of interior point ``i``."""
    g_prev = m["g"][i - 2] if i >= 2 else 0
    dt = m["dt"]
    return dt**2 * m["force"](q, m["u"][i - 1]) + dt * beta * (g_prev + m["g"][i - 1]) / 2


def _causal(m, beta):
    """Initial-value path: ``Q_0 = Q_1 = 0`` (start at rest), the EL recursion forwards."""
    Q = [sp.Integer(0), sp.Integer(0)]
    for i in range(1, K_STEPS + 1):
        Q.append(sp.expand(2 * Q[i] - Q[i - 1] - _point_force(m, Q[i], i, beta)))
    return Q


def _final_value(m, beta):
    """Final-value path: ``Q_{K+1}`` and ``P`` pinned to the free run's, recursion backwards."""
    free = _causal(m, 0)
    dt, g = m["dt"], m["g"]
    p_end = (free[-1] - free[-2]) / dt
    Q = [None] * (K_STEPS + 2)
    Q[-1] = free[-1]
    Q[-2] = sp.expand(Q[-1] - dt * (p_end + beta * g[-1] / 2))
    for i in range(K_STEPS, 0, -1):
        Q[i - 1] = sp.expand(2 * Q[i] - Q[i + 1] - _point_force(m, Q[i], i, beta))
    return Q


def _fixed_endpoints(m, beta, ends):
    """Path with ``Q_0``, ``Q_{K+1}`` held at ``ends``: the EL equations solved for the rest."""
    Qs = m["Q"]
    inner = list(Qs[1:-1])
    eqs = [Qs[i + 1] - 2 * Qs[i] + Qs[i - 1] + _point_force(m, Qs[i], i, beta)
           for i in range(1, K_STEPS + 1)]
    eqs = [e.subs({Qs[0]: ends[0], Qs[-1]: ends[1]}) for e in eqs]
    M, rhs = sp.linear_eq_to_matrix(eqs, inner)
    return [ends[0], *solve_linear(M, rhs), ends[1]]


def _measure(m, Q):
    """``G = δ Σ_i ∂_θV(Q_i, u_{i−1})`` for θ = (A, B)."""
    per = [m["dV"](Q[i], m["u"][i - 1]) for i in range(1, K_STEPS + 1)]
    return [m["dt"] * sum(p[k] for p in per) for k in range(2)]


def _cost(m, Q):
    """The linearised cost ``Σ_i g_i φ_i`` (its θ-derivative at β = 0 is dC/dθ)."""
    return sum(gi * (Q[i] + Q[i + 1]) / 2 for i, gi in zip(range(1, K_STEPS + 1), m["g"]))


def _momenta(m, Q, beta):
    """``(P_0, P) = (−∂S/∂Q_0, ∂S/∂Q_{K+1})`` on a path."""
    dt = m["dt"]
    return (Q[1] - Q[0]) / dt, (Q[-1] - Q[-2]) / dt - beta * m["g"][-1] / 2


def _at0(e, beta):
    return sp.expand(e).subs(beta, 0)


def _residual(m, path):
    """``R`` for θ = (A, B) at β = 0, for a path family ``path(beta)``."""
    beta = m["beta"]
    Q = path(beta)
    P0, P = _momenta(m, Q, beta)

    def term(p, q):
        return [_at0(sp.diff(p, beta) * sp.diff(q, t) - sp.diff(p, t) * sp.diff(q, beta), beta)
                for t in m["theta"]]

    end, start = term(P, Q[-1]), term(P0, Q[0])
    return [e - s for e, s in zip(end, start)]


def _contrast(m, path):
    """``∂_βG`` at β = 0 (what GLEP's centered contrast estimates)."""
    beta = m["beta"]
    return [_at0(sp.diff(G, beta), beta) for G in _measure(m, path(beta))]


def _gradient(m, path):
    """``dC/dθ`` of the model the boundary condition defines (β = 0 path)."""
    C = _cost(m, path(0))
    return [sp.diff(C, t) for t in m["theta"]]


def _build():
    m = oscillator()
    Qs, beta, dt = m["Q"], m["beta"], m["dt"]
    S = m["action"]
    el = sp.Matrix([sp.diff(S, Qs[i]) * (-dt) - (Qs[i + 1] - 2 * Qs[i] + Qs[i - 1]
                                               + _point_force(m, Qs[i], i, beta))
                    for i in range(1, K_STEPS + 1)])
    P0, P = _momenta(m, Qs, beta)
    causal, final = partial(_causal, m), partial(_final_value, m)
    ends = sp.symbols("e_0 e_1", real=True)

    def fixed(beta):
        return _fixed_endpoints(m, beta, ends)

    R_causal = _residual(m, causal)
    identity = [dc - (gb - r) for dc, gb, r in zip(_gradient(m, causal), _contrast(m, causal),
                                                   R_causal)]
    steps = [
        Step("the Euler–Lagrange equations of S_β are the leapfrog recursion Q_{i+1} − 2Q_i + "
             "Q_{i−1} = −δ²∇V(Q_i) − ½δβ(g_{i−1} + g_i)", el),
        Step("end momenta: ∂S/∂Q_{K+1} = (Q_{K+1} − Q_K)/δ − ½βg_K and −∂S/∂Q_0 = "
             "(Q_1 − Q_0)/δ", sp.Matrix([sp.diff(S, Qs[-1]) - P, -sp.diff(S, Qs[0]) - P0])),
        Step("final-value paths ((Q_{K+1}, P) pinned to the free run's end): R = 0",
             sp.Matrix(_residual(m, final))),
        Step("final-value paths: dC/dθ = ∂_βG|₀ (the echo's clean contrast)",
             sp.Matrix([a - b for a, b in zip(_gradient(m, final), _contrast(m, final))])),
        Step("fixed endpoints (Q_0, Q_{K+1} held): dC/dθ = ∂_βG|₀ of the boundary-value model",
             sp.Matrix([a - b for a, b in zip(_gradient(m, fixed), _contrast(m, fixed))])),
    ]
    statement = Step("initial-value paths (start at rest): dC/dθ = ∂_βG|₀ − R with the "
                     "boundary residual R = [∂_βP ∂_θQ_{K+1} − ∂_θP ∂_βQ_{K+1}]_end − "
                     "[…]_start", sp.Matrix(identity))
    A, _ = m["theta"]
    assumptions = [
        ("unit mass, T = ½p²; V = ½AQ² − BuQ (one oscillator, K = 3 steps)", None),
        ("positive time step", sp.Gt(sp.Symbol(dt.name, real=True), 0)),
        ("the nudge is the per-step loss linearised about the β = 0 path (g_i fixed)", None),
        ("a stable step (not needed by the algebra)", sp.Lt(dt**2 * A, 4)),
    ]
    return {"statement": statement, "steps": steps, "assumptions": assumptions}


_CACHE = {}


def _functions():
    """``(A, B, δ, u, g) ↦`` (final-value contrast, initial-value contrast, R), lambdified."""
    if "f" not in _CACHE:
        m = oscillator()
        causal, final = partial(_causal, m), partial(_final_value, m)
        out = [_contrast(m, final), _contrast(m, causal), _residual(m, causal)]
        _CACHE["f"] = sp.lambdify((*m["theta"], m["dt"], m["u"], m["g"]), out, modules="numpy")
    return _CACHE["f"]


def _numeric(rng):
    from physlearn.rules import glep
    from physlearn.systems.hru import HRU

    system = HRU(1, 1, 1, kind="linear", readout="trajectory", dt=float(rng.uniform(0.2, 0.5)),
                 seed=int(rng.integers(1 << 30)))
    unit, prefix = system.blocks()[0]
    params = dict(system.params)
    params[prefix + "A"] = rng.uniform(0.5, 1.5, 1)
    params[prefix + "B"] = rng.normal(size=(1, 1))
    system.params = params
    x = rng.normal(size=(2, K_STEPS, 1))
    y = rng.normal(size=(2, K_STEPS, 1))
    prob = glep._problem(system, x, y, None, None)
    g = prob.nudges(prob.causal())                       # the code's nudges g_i = ∇ℓ_i
    f = _functions()
    rows = [f(params[prefix + "A"][0], params[prefix + "B"][0, 0], system.dt, x[b, :, 0],
              g[b, :, 0]) for b in range(len(x))]
    final, naive, R = (np.mean([np.array(r[k], dtype=float) for r in rows], axis=0)
                       for k in range(3))
    derived = {"final_value": final, "initial_value": naive, "residual": R}

    def flat(grad):
        return np.array([grad["A"].ravel()[0], grad["B"].ravel()[0]])

    est = {b: flat(glep.glep_gradient(system, x, y, boundary=b, beta=BETA))
           for b in ("final-value", "initial-value")}
    corrected = flat(glep.glep_gradient(system, x, y, boundary="initial-value", beta=BETA,
                                        residual=True))
    implemented = {"final_value": est["final-value"], "initial_value": est["initial-value"],
                   "residual": est["initial-value"] - corrected}
    return derived, implemented


glep_boundary_residual = Derivation(
    name="glep_boundary_residual",
    title="Lagrangian EP: dC/dθ = ∂_βG|₀ − R, with the boundary residual R of the discrete "
          "action; R = 0 for final-value (echo) and fixed-endpoint paths, not for "
          "initial-value ones",
    build=_build,
    implements="physlearn.rules.glep:glep_gradient",
    numeric=_numeric,
    tolerance=1e-7,
    notes="""
    On a stationary path the action's variation reduces to its boundary terms, so the
    on-shell action ``Ŝ(θ, β)`` has ``∂_θŜ = −G + P ∂_θQ_{K+1} − P_0 ∂_θQ_0`` and
    ``∂_βŜ = −Σ g_iφ_i + P ∂_βQ_{K+1} − P_0 ∂_βQ_0``. Equating the mixed partials, the
    second derivatives of the end points cancel and ``d/dθ Σ g_iφ_i = ∂_βG − R`` with
    ``R = [∂_βP ∂_θQ_{K+1} − ∂_θP ∂_βQ_{K+1}] − [∂_βP_0 ∂_θQ_0 − ∂_θP_0 ∂_βQ_0]``; at β = 0,
    with ``g_i`` the gradients of the per-step losses on the free path, the left side is
    ``dC/dθ``. Which boundary condition the nudged paths obey decides ``R``. Fixed end
    points: no end moves, ``R = 0``. Final value (the echo): ``Q_{K+1}`` and ``P`` are the
    free run's, independent of β, so the end term vanishes; the start term vanishes at
    β = 0 because the free run starts at rest for every θ. Initial value (the causal
    forward problem): the start is fixed but the end moves with both θ and β, and ``R ≠ 0``:
    the forward-nudged contrast is biased unless ``R`` is subtracted. All are proved
    exactly for a driven linear oscillator over K = 3 leapfrog steps (the paths are
    polynomial or rational in the parameters). The numerical check builds the same problem
    as a one-oscillator linear ``HRU`` with a trajectory readout (random A, B, δ, inputs and
    targets) and compares the lambdified final-value contrast, initial-value contrast and
    residual with ``glep_gradient`` (final-value; initial-value; and the difference of the
    initial-value estimate without and with ``residual=True``, whose R uses
    finite-difference θ-Jacobians, hence the tolerance).
    """,
    references=(
        "G. Pourcel, D. Basu, M. Ernoult, A. Gilra, arXiv:2506.06248 (2025)",
        "S. Massar, Phys. Rev. E 112, 035304 (2025), arXiv:2505.07363",
        "G. Pourcel, M. Ernoult, NeurIPS 2025, arXiv:2506.05259",
    ),
)

DERIVATIONS = [glep_boundary_residual]
