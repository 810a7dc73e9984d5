"""The equilibrium-propagation identity dL/dθ = d/dβ|₀ ∂E/∂θ(s_β), derived twice.

1. :func:`quadratic_energy` — a quadratic energy with an arbitrary parameter dependence and a
   quadratic cost: the nudged state is solved in closed form, differentiated in β, and compared
   with implicit differentiation and with the direct derivative of the loss.
2. :func:`general_energy` — an arbitrary smooth energy and cost of a scalar state (sympy
   ``Function`` objects): the envelope theorem and the symmetry of mixed partial derivatives.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from ._algebra import column, solve_linear, symmetric_matrix
from ._derivation import Derivation, content, notes_of

__all__ = ["quadratic_energy", "general_energy", "negative_controls"]


def quadratic_energy(n=2, cost="general"):
    """EP identity for ``E = ½ sᵀA(θ)s − b(θ)ᵀs`` with a quadratic cost, in closed form.

    Parameters
    ----------
    n : int, default 2
        Dimension of the state ``s``.
    cost : {"general", "output"}, default "general"
        ``"general"``: ``C = ½ (s − y)ᵀ Q (s − y)`` with a symbolic symmetric ``Q``;
        ``"output"``: the squared error ``C = ½ (s_n − y_n)²`` of the last component (the
        physlearn situation: the cost reads an output node).

    Returns
    -------
    dict of str → sympy expression
        ``stationarity``: ∇_s F at the closed-form ``s_β`` (a vector);
        ``ep_vs_implicit``: EP derivative minus the implicit-differentiation gradient;
        ``implicit_vs_direct``: implicit-differentiation gradient minus ``dL/dθ`` of the
        explicitly solved loss. All vanish.

    Notes
    -----
    ``A(θ)`` and ``b(θ)`` are undefined functions of θ (any smooth dependence); ``A`` is
    symmetric, as for every energy Hessian. With ``F = E + βC`` minimised,

    .. math::

        s_β = (A + βQ)^{-1}(b + βQy), \\qquad g(β) = ∂E/∂θ(s_β) = ½ s_βᵀ A' s_β − b'ᵀ s_β,

    and the EP derivative ``g'(0)`` is compared with the implicit-differentiation
    (Almeida–Pineda, recurrent backprop) gradient

    .. math::

        \\frac{dL}{dθ} = −(∂²E/∂θ∂s)ᵀ A^{-1} ∂C/∂s \\big|_{s_0},
        \\qquad ∂²E/∂θ∂s = A' s_0 − b'.

    ``n = 2`` with a general ``Q`` takes about a second; ``n = 3`` is fast with
    ``cost="output"`` but slow (~20 s) with a general ``Q``.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    """
    return _quadratic(n, cost, nudge_sign=1)


def _quadratic(n, cost, nudge_sign):
    theta, beta = sp.symbols("theta beta")
    A = symmetric_matrix("a", n, theta)
    b = column("b", n, theta)
    y = column("y", n)
    if cost == "general":
        Q = symmetric_matrix("q", n)
    elif cost == "output":
        Q = sp.zeros(n)
        Q[n - 1, n - 1] = 1
    else:
        raise ValueError(f"cost={cost!r} is not 'general' or 'output'")
    dA, db = A.diff(theta), b.diff(theta)

    # Nudged equilibrium of F = E + σβC (σ = +1 is the EP convention).
    s_beta = solve_linear(A + nudge_sign * beta * Q, b + nudge_sign * beta * Q * y)
    stationarity = A * s_beta - b + nudge_sign * beta * Q * (s_beta - y)
    g = (s_beta.T * dA * s_beta / 2 - db.T * s_beta)[0]
    ep = sp.diff(g, beta).subs(beta, 0)

    s0 = solve_linear(A, b)
    implicit = _implicit(A, dA, b, db, Q, y)
    loss = ((s0 - y).T * Q * (s0 - y))[0] / 2
    return {
        "stationarity": stationarity,
        "ep_vs_implicit": ep - implicit,
        "implicit_vs_direct": implicit - sp.diff(loss, theta),
    }


def _implicit(A, dA, b, db, Q, y):
    """Implicit-differentiation gradient ``−(A' s₀ − b')ᵀ A⁻¹ Q (s₀ − y)``, ``s₀ = A⁻¹b``."""
    s0 = solve_linear(A, b)
    return -((dA * s0 - db).T * solve_linear(A, Q * (s0 - y)))[0]


def general_energy():
    """EP identity for an arbitrary smooth energy ``E(θ, s)`` and cost ``C(s)`` (scalar s).

    Returns
    -------
    dict of str → sympy expression
        ``envelope_theta``: ``dΦ/dθ − ∂E/∂θ(s_β)``; ``envelope_beta``: ``dΦ/dβ − C(s_β)``;
        ``ep_identity``: ``d/dβ ∂E/∂θ(s_β) − d/dθ C(s_β)`` for every β (at β = 0 the right
        side is ``dL/dθ``). All vanish.

    Notes
    -----
    Let ``s_β(θ)`` minimise ``F = E(θ, s) + β C(s)``, so ``∂_s F = 0`` along the equilibrium
    manifold. The implicit-function theorem gives

    .. math::

        ∂_β s_β = −∂²_{sβ}F / ∂²_{ss}F, \\qquad ∂_θ s_β = −∂²_{sθ}F / ∂²_{ss}F,

    and a total derivative along the manifold is ``d/dv h = ∂_v h + ∂_s h · ∂_v s_β``. For the
    free energy ``Φ(θ, β) = F(θ, s_β, β)`` the ``∂_s F`` term vanishes (envelope theorem):
    ``∂_θΦ = ∂_θE(s_β)`` and ``∂_βΦ = C(s_β)``. Equality of the mixed partials of Φ then reads

    .. math::

        \\frac{d}{dβ} ∂_θE(s_β) = \\frac{d}{dθ} C(s_β),

    which at β = 0 is the EP identity. In the algebra the two sides are
    ``−E_{θs} C_s / F_{ss}`` and ``−C_s E_{sθ} / F_{ss}``: they agree because
    ``E_{θs} = E_{sθ}`` (Schwarz), which sympy applies by ordering partial derivatives
    canonically. Nothing else about E or C is used.

    References
    ----------
    .. [1] B. Scellier, Y. Bengio, Front. Comput. Neurosci. 11:24 (2017), Theorem 1.
    .. [2] B. Scellier, "A deep learning theory for neural networks grounded in physics",
       PhD thesis, arXiv:2103.09985 (2021), ch. 2.
    """
    return _general(nudge_sign=1)


def _general(nudge_sign):
    theta, beta, s = sp.symbols("theta beta s")
    E = sp.Function("E")(theta, s)
    C = sp.Function("C")(s)
    F = E + nudge_sign * beta * C

    def along(h, var):
        return _along(F, h, var, s)

    # On the manifold ∂_s F = 0, i.e. ∂_s E = −σβ ∂_s C (exact node replacement, no calculus).
    stationary = {sp.diff(E, s): -nudge_sign * beta * sp.diff(C, s)}
    return {
        "envelope_theta": (along(F, theta) - sp.diff(E, theta)).xreplace(stationary),
        "envelope_beta": (along(F, beta) - nudge_sign * C).xreplace(stationary),
        "ep_identity": along(sp.diff(E, theta), beta) - along(C, theta),
    }


def _along(F, h, var, s):
    """Total derivative of ``h(v, s)`` along the equilibrium manifold ``∂_s F = 0``."""
    return sp.diff(h, var) - sp.diff(h, s) * sp.diff(F, s, var) / sp.diff(F, s, 2)


def negative_controls():
    """Deliberately wrong statements that must NOT vanish (the checks can fail).

    Returns
    -------
    dict of str → sympy expression
        The EP identity with the nudge sign flipped (``F = E − βC``): the contrast then
        estimates ``−dL/dθ``, so the difference with ``dL/dθ`` is ``−2 dL/dθ ≠ 0``.
    """
    return {
        "quadratic_flipped_nudge": _quadratic(2, "general", nudge_sign=-1)["ep_vs_implicit"],
        "general_flipped_nudge": _general(nudge_sign=-1)["ep_identity"],
    }


# -- derivation objects ----------------------------------------------------------------------------
def _quadratic_form(net, x, edge):
    """``(A, A', b, b')`` of a resistor network's co-content in its free voltages, θ = g_edge.

    ``E = ½ Σ_e g_e (D_f s + D_s v)_e²`` gives ``A = D_fᵀ G D_f`` and ``b = −D_fᵀ G D_s v``
    (one column per sample), hence ``A' = d dᵀ`` and ``b' = −d (D_s v)_edge`` with ``d`` the
    edge's row of ``D_f``.
    """
    d_free, d_src = net._d_free.toarray(), net._d_src.toarray()
    g = net.params["conductance"]
    src = d_src @ net.source_voltages(x).T                     # (edges, batch)
    d = d_free[edge][:, None]
    return (d_free.T @ (g[:, None] * d_free), d @ d.T, -d_free.T @ (g[:, None] * src),
            -d * src[edge])


def _numeric_quadratic(rng, layers, implemented):
    """The closed-form gradient of :func:`quadratic_energy` on a resistor network, per edge."""
    from physlearn.costs import SquaredError
    from physlearn.systems import ResistorNetwork

    net = ResistorNetwork.layered(layers, seed=int(rng.integers(1 << 16)))
    x = rng.normal(size=(3, layers[0]))
    y = rng.normal(size=(3, layers[-1]))
    P = np.eye(net._d_free.shape[1])[net.output_index]          # outputs = P s
    implicit = _implicit_function(P.shape[1])
    derived = np.zeros(len(net.edges))
    for e in range(len(net.edges)):
        A, dA, b, db = _quadratic_form(net, x, e)
        derived[e] = np.mean(implicit(*A.ravel(), *dA.ravel(), *b, *db, *(P.T @ P).ravel(),
                                      *(P.T @ y.T)))
    return {"conductance": derived}, implemented(net, x, y, SquaredError())


@functools.lru_cache
def _implicit_function(n):
    """:func:`_implicit` lambdified: ``f(A…, A'…, b…, b'…, Q…, y…)``, entries row by row."""
    def matrix(name, cols=n):
        return sp.Matrix(n, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}"))
    args = [matrix("A"), matrix("dA"), matrix("b", 1), matrix("db", 1), matrix("Q"),
            matrix("y", 1)]
    return sp.lambdify([s for m in args for s in m], _implicit(*args), "numpy")


def _ep_gradient(net, x, y, cost, beta=1e-3):
    from physlearn.rules.ep import EP

    return EP(beta, "centered").gradient(net, x, y, cost)


def _numeric_quadratic_2(rng):
    """The implicit gradient of a [1, 2] resistor network (n = 2) against centered EP."""
    return _numeric_quadratic(rng, [1, 2], _ep_gradient)


def _numeric_quadratic_3(rng):
    """The implicit gradient of a [1, 2, 1] network (n = 3) against ``exact_gradient``."""
    return _numeric_quadratic(rng, [1, 2, 1],
                              lambda net, x, y, cost: net.exact_gradient(x, y, cost))


def _numeric_general(rng, beta=1e-3):
    """dL/dθ = −C_s E_sθ / E_ss for ``E = θs⁴/4 + s²/2 − xs`` against EP on that system."""
    from physlearn.rules.ep import EP

    from ._numeric import ScalarSystem

    theta, s, x, y = sp.symbols("theta s x y")
    E = theta * s**4 / 4 + s**2 / 2 - x * s
    C = (s - y) ** 2 / 2
    gradient = sp.lambdify((theta, s, y), _along(E, C, theta, s))   # F = E at β = 0
    system = ScalarSystem(rng.uniform(0.5, 1.5))
    xs, ys = rng.normal(size=(3, 1)), rng.normal(size=(3, 1))
    s0 = system.equilibrium(xs).s
    derived = np.mean(gradient(system.theta, s0, ys))
    return derived, EP(beta, "centered").gradient(system, xs, ys)["theta"]


_CLAIMS_QUADRATIC = {
    "stationarity": "the closed-form s_β = (A + βQ)⁻¹(b + βQy) is stationary for F = E + βC",
    "ep_vs_implicit": "the EP derivative d/dβ|₀ ∂E/∂θ(s_β) equals the implicit-differentiation "
                      "gradient −(A's₀ − b')ᵀ A⁻¹ ∂C/∂s",
    "implicit_vs_direct": "the implicit-differentiation gradient equals dL/dθ of the solved loss",
}


def _build_quadratic(n=2, cost="general"):
    A = sp.MatrixSymbol("A", n, n)
    assumptions = [("E = ½ sᵀA(θ)s − b(θ)ᵀs with A(θ) symmetric (an energy Hessian)",
                    sp.Eq(A, A.T)),
                   ("A(θ) invertible near β = 0 (a unique equilibrium)", None)]
    return content(quadratic_energy(n, cost), "ep_vs_implicit", _CLAIMS_QUADRATIC, assumptions)


def _build_general():
    claims = {"envelope_theta": "envelope theorem: dΦ/dθ = ∂E/∂θ(s_β)",
              "envelope_beta": "envelope theorem: dΦ/dβ = C(s_β)",
              "ep_identity": "d/dβ ∂E/∂θ(s_β) = d/dθ C(s_β) for every β (dL/dθ at β = 0)"}
    theta, s = sp.symbols("theta s")
    E = sp.Function("E")(theta, s)
    assumptions = [("E(θ, s) and C(s) smooth, ∂²F/∂s² ≠ 0 at the equilibrium", None),
                   ("Schwarz: mixed partials commute",
                    sp.Eq(sp.Derivative(E, theta, s), sp.Derivative(E, s, theta)))]
    return content(general_energy(), "ep_identity", claims, assumptions)


_SCELLIER = "Scellier & Bengio, Front. Comput. Neurosci. 11:24 (2017)"

DERIVATIONS = [
    Derivation("ep_identity.quadratic_energy",
               "EP identity for a quadratic energy and a quadratic cost, in closed form (n = 2).",
               _build_quadratic, implements="physlearn.rules.ep:EP.gradient",
               numeric=_numeric_quadratic_2, tolerance=1e-4,
               notes=notes_of(quadratic_energy), references=(_SCELLIER,)),
    Derivation("ep_identity.quadratic_energy_3x3_output",
               "EP identity and implicit differentiation for n = 3 with the cost on one output.",
               lambda: _build_quadratic(3, "output"),
               implements="physlearn.system:EquilibriumSystem.exact_gradient",
               numeric=_numeric_quadratic_3, tolerance=1e-9,
               notes=notes_of(quadratic_energy), references=(_SCELLIER,)),
    Derivation("ep_identity.general_energy",
               "EP identity for any smooth energy and cost: envelope theorem and Schwarz.",
               _build_general, implements="physlearn.rules.ep:EP.gradient",
               numeric=_numeric_general, tolerance=1e-4, notes=notes_of(general_energy),
               references=(_SCELLIER, "Scellier, PhD thesis, arXiv:2103.09985 (2021)")),
]
"""The EP-identity derivations, tied to EP and to the implicit-differentiation reference."""
