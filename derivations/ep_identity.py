"""The equilibrium-propagation identity dL/dθ = d/dβ|₀ ∂E/∂θ(s_β), derived twice.

1. :func:`quadratic_energy` — a quadratic energy with an arbitrary parameter dependence and a
   quadratic cost: the nudged state is solved in closed form, differentiated in β, and compared
   with implicit differentiation and with the direct derivative of the loss.
2. :func:`general_energy` — an arbitrary smooth energy and cost of a scalar state (sympy
   ``Function`` objects): the envelope theorem and the symmetry of mixed partial derivatives.
"""

from __future__ import annotations

import sympy as sp

from ._algebra import column, solve_linear, symmetric_matrix

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
    implicit = -((dA * s0 - db).T * solve_linear(A, Q * (s0 - y)))[0]
    loss = ((s0 - y).T * Q * (s0 - y))[0] / 2
    return {
        "stationarity": stationarity,
        "ep_vs_implicit": ep - implicit,
        "implicit_vs_direct": implicit - sp.diff(loss, theta),
    }


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
    F_ss = sp.diff(F, s, 2)
    ds = {theta: -sp.diff(F, s, theta) / F_ss, beta: -sp.diff(F, s, beta) / F_ss}

    def along(h, var):
        """Total derivative of h(θ, s, β) along the equilibrium manifold s = s_β(θ)."""
        return sp.diff(h, var) + sp.diff(h, s) * ds[var]

    # On the manifold ∂_s F = 0, i.e. ∂_s E = −σβ ∂_s C (exact node replacement, no calculus).
    stationary = {sp.diff(E, s): -nudge_sign * beta * sp.diff(C, s)}
    return {
        "envelope_theta": (along(F, theta) - sp.diff(E, theta)).xreplace(stationary),
        "envelope_beta": (along(F, beta) - nudge_sign * C).xreplace(stationary),
        "ep_identity": along(sp.diff(E, theta), beta) - along(C, theta),
    }


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
