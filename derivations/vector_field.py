"""Generalized EP on vector fields: the bias from the Jacobian's asymmetry, and homeostasis.

Without an energy the state relaxes to a zero of a generalized force ``Φ(θ, s)`` (``∂E/∂s``
when an energy exists) with Jacobian ``J = ∂Φ/∂s``. A nudge ``Φ + β ∂C/∂s = 0`` moves the
fixed point at ``ds*/dβ = −J⁻¹ ∂C/∂s``, while the gradient needs ``J⁻ᵀ``; generalized EP's
estimate ``ĝ = (∂Φ/∂θ)ᵀ ds*/dβ`` (physlearn's sign convention) therefore differs from the
gradient by a term driven by ``J − Jᵀ`` (:data:`generalized_ep_bias`). Jacobian homeostasis
measures that asymmetry with random probes, ``E‖Jε‖² − E[εᵀJ²ε] = ½‖J − Jᵀ‖²_F``
(:data:`homeostasis_identity`).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._algebra import column, solve_linear, symmetric_matrix
from ._derivation import Derivation, Step

__all__ = ["DERIVATIONS", "generalized_ep_bias", "homeostasis_identity", "generic_matrix",
           "linear_field"]

N_STATE = 3
"""State size of the symbolic Jacobians (the numerical checks use a ``[2, 2, 1]`` network)."""

BETA = 1e-4
"""Nudge of the centered generalized-EP estimate in the numerical check (bias O(β²))."""


def generic_matrix(name, n):
    """``n × n`` matrix of independent symbols ``name_ij`` (no symmetry)."""
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{i + 1}{j + 1}", real=True))


def _inverse(J):
    """``J⁻¹`` as ``adj(J)/det(J)`` (one common denominator)."""
    return J.adjugate() / J.det()


def _bias_vector(J, c):
    """``J⁻¹ (Jᵀ − J) J⁻ᵀ c``: contracted with ``−(∂Φ/∂θ)ᵀ`` it is ``ĝ − dL/dθ``."""
    return _inverse(J) * (J.T - J) * _inverse(J.T) * c


# -- generalized EP bias ---------------------------------------------------------------------------
def linear_field(n=2):
    """Generalized EP on the field ``Φ = K s − b`` (generic ``K``), cost ``½(s − y)ᵀQ(s − y)``.

    Returns
    -------
    dict
        ``K``, ``Q``, ``beta``, ``theta`` (the entries of ``K`` and ``b``), ``dC`` (∂C/∂s at
        the fixed point), ``B`` (∂Φ/∂θ there), ``ds_dbeta``, ``dL`` (the gradient, by direct
        differentiation), ``g_hat`` (the estimate ``Bᵀ ds*/dβ``) and ``bias``
        (``−Bᵀ J⁻¹(Jᵀ − J)J⁻ᵀ ∂C/∂s``).
    """
    K = generic_matrix("k", n)
    b, y = column("b", n), column("y", n)
    Q = symmetric_matrix("q", n)
    beta = sp.Symbol("beta", real=True)
    theta = list(K) + list(b)
    s_star = solve_linear(K, b)                            # Φ(θ, s*) = 0
    s_beta = solve_linear(K + beta * Q, b + beta * Q * y)  # Φ + β ∂C/∂s = 0
    dC = Q * (s_star - y)                                  # ∂C/∂s at s*
    s = column("s", n)
    phi = K * s - b
    B = phi.jacobian(theta).subs(dict(zip(s, s_star)))     # ∂Φ/∂θ at s*, n × p
    ds_dbeta = sp.diff(s_beta, beta).subs(beta, 0)
    loss = ((s_star - y).T * Q * (s_star - y))[0] / 2
    dL = sp.Matrix([sp.diff(loss, t) for t in theta])
    return {"K": K, "Q": Q, "beta": beta, "theta": theta, "dC": dC, "B": B,
            "ds_dbeta": ds_dbeta, "dL": dL, "g_hat": B.T * ds_dbeta,
            "bias": -B.T * _bias_vector(K, dC)}


def _build_bias():
    # (1) The matrix identity behind the bias, for a generic 3 × 3 Jacobian.
    J3 = generic_matrix("J", N_STATE)
    inv, inv_t = _inverse(J3), _inverse(J3.T)
    steps = [Step("J⁻¹ − J⁻ᵀ = J⁻¹ (Jᵀ − J) J⁻ᵀ for a generic invertible 3 × 3 J",
                  inv - inv_t - inv * (J3.T - J3) * inv_t)]
    # (2) A field with a generic (non-symmetric) Jacobian: Φ = K s − b, θ = (K, b),
    #     and a general quadratic cost C = ½ (s − y)ᵀ Q (s − y).
    f = linear_field()
    K, Q, beta, dC, B = f["K"], f["Q"], f["beta"], f["dC"], f["B"]
    ds_dbeta, dL, g_hat, bias = f["ds_dbeta"], f["dL"], f["g_hat"], f["bias"]
    steps += [
        Step("the nudged fixed point moves at ds*/dβ = −J⁻¹ ∂C/∂s (J = K)",
             ds_dbeta + solve_linear(K, dC)),
        Step("the gradient of L = C(s*(θ)) is dL/dθ = −(∂Φ/∂θ)ᵀ J⁻ᵀ ∂C/∂s (recurrent "
             "backprop with the true transpose)", dL + B.T * solve_linear(K.T, dC)),
    ]
    symmetric = {K[0, 1]: K[1, 0]}
    steps.append(Step("for a symmetric Jacobian (an energy exists) the estimate is the gradient",
                      (g_hat - dL).subs(symmetric)))
    statement = Step("generalized EP's estimate ĝ = (∂Φ/∂θ)ᵀ ds*/dβ minus the gradient is "
                     "−(∂Φ/∂θ)ᵀ J⁻¹ (Jᵀ − J) J⁻ᵀ ∂C/∂s", g_hat - dL - bias)
    assumptions = [
        ("the Jacobian J = ∂Φ/∂s is invertible at the fixed point", sp.Ne(K.det(), 0)),
        ("the nudged fixed point Φ + β ∂C/∂s = 0 exists near β = 0 (implicit functions)",
         sp.Ne((K + beta * Q).det(), 0)),
        ("the cost's Hessian Q is symmetric (built symmetric)", None),
    ]
    return {"statement": statement, "steps": steps, "assumptions": assumptions}


_CACHE = {}


def _bias_function():
    """``(J, c) ↦ −J⁻¹ (Jᵀ − J) J⁻ᵀ c`` for a 3 × 3 J, lambdified (cached)."""
    if "bias" not in _CACHE:
        J, c = generic_matrix("J", N_STATE), column("c", N_STATE)
        _CACHE["bias"] = sp.lambdify((J, c), -_bias_vector(J, c), modules="numpy")
    return _CACHE["bias"]


def _network(rng):
    """A random ``[2, 2, 1]`` vector-field network (3 state units), inputs and targets."""
    from physlearn.systems.vector_field import VectorFieldNetwork

    net = VectorFieldNetwork([2, 2, 1], alpha=1.2, seed=int(rng.integers(1 << 30)))
    x = rng.normal(size=(3, 2))
    y = rng.normal(size=(3, 1))
    return net, x, y


def _numeric_bias(rng):
    import physlearn as pl
    from physlearn.costs import make_cost
    from physlearn.rules.generalized import GeneralizedEP

    net, x, y = _network(rng)
    cost = make_cost(None)
    free = net.equilibrium(x)
    J = np.real(net.jacobian(free))
    c = net.output_vjp(free, cost.gradient(net.outputs(free), y))
    f = _bias_function()
    lam = np.stack([np.asarray(f(Jb.ravel(), cb), dtype=float)[:, 0] for Jb, cb in zip(J, c)])
    derived = {k: v.mean(axis=0) for k, v in net.mixed_vjp(free, lam).items()}
    estimate = GeneralizedEP(beta=BETA, points=2).gradient(net, x, y, cost)
    exact = pl.exact_gradient(net, x, y, cost)
    return derived, {k: estimate[k] - exact[k] for k in derived}


generalized_ep_bias = Derivation(
    name="generalized_ep_bias",
    title="Generalized EP's estimate minus the gradient is −(∂Φ/∂θ)ᵀ J⁻¹ (Jᵀ − J) J⁻ᵀ ∂C/∂s: "
          "driven by the Jacobian's asymmetry, zero when J is symmetric",
    build=_build_bias,
    implements="physlearn.rules.generalized:GeneralizedEP.per_sample_gradient",
    numeric=_numeric_bias,
    tolerance=1e-6,
    notes="""
    Differentiating the free fixed point ``Φ(θ, s*) = 0`` in θ gives
    ``ds*/dθ = −J⁻¹ ∂Φ/∂θ``, so ``dL/dθ = −(∂Φ/∂θ)ᵀ J⁻ᵀ ∂C/∂s``. Differentiating the nudged
    fixed point ``Φ + β ∂C/∂s = 0`` in β gives ``ds*/dβ = −J⁻¹ ∂C/∂s``: a physical nudge
    propagates the error with ``J⁻¹``, not ``J⁻ᵀ``. The estimate ``ĝ = (∂Φ/∂θ)ᵀ ds*/dβ``
    (physlearn's sign; with an energy it is EP's ``d/dβ ∂E/∂θ``) therefore misses the
    gradient by ``−(∂Φ/∂θ)ᵀ (J⁻¹ − J⁻ᵀ) ∂C/∂s = −(∂Φ/∂θ)ᵀ J⁻¹ (Jᵀ − J) J⁻ᵀ ∂C/∂s``, which
    is linear in the antisymmetric part of J, vanishes when J is symmetric and does not
    shrink as β → 0. The matrix identity is proved for a generic 3 × 3 J; the whole chain
    (fixed point, nudge, gradient, bias) for a field ``Φ = K s − b`` with a generic 2 × 2
    ``K`` and a general quadratic cost, all six entries of ``K`` and ``b`` being parameters.
    The numerical check takes a random untied ``[2, 2, 1]`` network (asymmetry angle 1.2):
    the lambdified ``−J⁻¹(Jᵀ − J)J⁻ᵀ ∂C/∂s`` at its Jacobian, contracted with the network's
    ``∂Φ/∂θ`` (``mixed_vjp``), against ``GeneralizedEP(beta=1e-4, points=2)`` minus
    ``physlearn.exact_gradient``; the centered nudge adds an O(β²) ≈ 1e-8 bias, hence the
    tolerance 1e-6.
    """,
    references=(
        "A. Laborieux, F. Zenke, ICLR 2024, arXiv:2309.02214",
        "B. Scellier, A. Goyal, J. Binas, T. Mesnard, Y. Bengio, arXiv:1808.04873 (2018)",
    ),
)


# -- Jacobian homeostasis ------------------------------------------------------------------------
def _expectation(quadratic, eps, moments):
    """``E[q(ε)]`` of a quadratic form ``q`` given ``E[ε_iε_j] = moments[i, j]``."""
    poly = sp.Poly(sp.expand(quadratic), *eps)
    total = 0
    for powers, coeff in poly.terms():
        idx = [i for i, k in enumerate(powers) for _ in range(k)]
        if len(idx) != 2:
            raise ValueError("only quadratic forms in ε are supported")
        total += coeff * moments[idx[0], idx[1]]
    return total


def _frobenius_sq(A):
    return sum(a**2 for a in A)


def _build_homeostasis():
    n = N_STATE
    J = generic_matrix("J", n)
    eps = column("epsilon", n)
    M = symmetric_matrix("m", n)            # second moments E[ε_i ε_j]
    Je = J * eps
    norm_sq = (Je.T * Je)[0]
    twice = (eps.T * J * J * eps)[0]
    eye = {M[i, j]: int(i == j) for i in range(n) for j in range(n)}
    e_norm = _expectation(norm_sq, eps, M)
    e_twice = _expectation(twice, eps, M)
    asym = _frobenius_sq(J - J.T) / 2
    S = symmetric_matrix("S", n)
    Se = S * eps
    steps = [
        Step("E‖Jε‖² = tr(JᵀJ M) for any second moments M = E[εεᵀ]",
             e_norm - (J.T * J * M).trace()),
        Step("E[εᵀJ²ε] = tr(J² M)", e_twice - (J * J * M).trace()),
        Step("with E[εεᵀ] = I: E‖Jε‖² = tr(JᵀJ) = ‖J‖²_F", e_norm.subs(eye) - _frobenius_sq(J)),
        Step("with E[εεᵀ] = I: E[εᵀJ²ε] = tr(J²)", e_twice.subs(eye) - (J * J).trace()),
        Step("‖J‖²_F − tr(J²) = ½‖J − Jᵀ‖²_F", _frobenius_sq(J) - (J * J).trace() - asym),
        Step("εᵀJ²ε = (Jᵀε)·(Jε), the form the estimator evaluates",
             twice - ((J.T * eps).T * Je)[0]),
        Step("for a symmetric J every single probe gives ‖Jε‖² − εᵀJ²ε = 0",
             (Se.T * Se)[0] - (eps.T * S * S * eps)[0]),
    ]
    statement = Step("E‖Jε‖² − E[εᵀJ²ε] = ½‖J − Jᵀ‖²_F for probes with E[εεᵀ] = I "
                     "(generic 3 × 3 J)", (e_norm - e_twice).subs(eye) - asym)
    assumptions = [
        ("probes with identity second moments (Gaussian N(0, I) or Rademacher)",
         sp.Eq(M, sp.eye(n))),
        ("J is the Jacobian at the free fixed point, held fixed (no derivative through s*)",
         None),
    ]
    return {"statement": statement, "steps": steps, "assumptions": assumptions}


def _homeostasis_functions():
    """``J ↦ ½‖J − Jᵀ‖²_F`` and ``(J, ε) ↦ ‖Jε‖² − (Jᵀε)·(Jε)``, lambdified (cached)."""
    if "homeo" not in _CACHE:
        J, eps = generic_matrix("J", N_STATE), column("epsilon", N_STATE)
        Je = J * eps
        _CACHE["homeo"] = (
            sp.lambdify((J,), _frobenius_sq(J - J.T) / 2, modules="numpy"),
            sp.lambdify((J, eps), (Je.T * Je)[0] - ((J.T * eps).T * Je)[0], modules="numpy"))
    return _CACHE["homeo"]


def _numeric_homeostasis(rng):
    from physlearn.rules.homeostasis import _probes, homeostatic_loss

    net, x, _ = _network(rng)
    J = np.real(net.jacobian(net.equilibrium(x)))            # (batch, 3, 3)
    n = J.shape[-1]
    exact, probe = _homeostasis_functions()
    samples, seed = 7, int(rng.integers(1 << 30))
    eps = _probes(J.shape[:-1], samples, seed)                # the estimator's own probes
    derived = {
        "exact": np.array([exact(Jb.ravel()) for Jb in J]) / n,
        "hutchinson": np.array([np.mean([probe(J[b].ravel(), e[b]) for e in eps])
                                for b in range(len(J))]) / n,
    }
    implemented = {"exact": homeostatic_loss(J),
                   "hutchinson": homeostatic_loss(J, samples=samples, seed=seed)}
    return derived, implemented


homeostasis_identity = Derivation(
    name="homeostasis_identity",
    title="Jacobian homeostasis: E‖Jε‖² − E[εᵀJ²ε] = ½‖J − Jᵀ‖²_F for probes with "
          "E[εεᵀ] = I",
    build=_build_homeostasis,
    implements="physlearn.rules.homeostasis:homeostatic_loss",
    numeric=_numeric_homeostasis,
    tolerance=1e-12,
    notes="""
    For any matrix ``A``, ``E[εᵀAε] = Σ_ij A_ij E[ε_iε_j] = tr(A M)`` with the second
    moments ``M = E[εεᵀ]``; Gaussian and Rademacher probes have ``M = I``. Hence
    ``E‖Jε‖² = tr(JᵀJ) = ‖J‖²_F`` and ``E[εᵀJ²ε] = tr(J²)``, and
    ``‖J‖²_F − tr(J²) = Σ_ij J_ij² − Σ_ij J_ij J_ji = ½ Σ_ij (J_ij − J_ji)² = ½‖J − Jᵀ‖²_F``:
    the estimator measures the antisymmetric part of the Jacobian from two Jacobian–vector
    products per probe, and for a symmetric J every single probe gives exactly zero. The
    identity is proved for a generic 3 × 3 J (and the moment step for generic moments).
    physlearn's ``homeostatic_loss`` is normalised per unit of the state, ``½‖J − Jᵀ‖²_F / n``,
    and evaluates ``εᵀJ²ε`` as ``(Jᵀε)·(Jε)`` (proved equal). The numerical check takes the
    Jacobians of a random untied ``[2, 2, 1]`` network (n = 3) and compares the lambdified
    ``½‖J − Jᵀ‖²_F / n`` with the exact loss, and the lambdified per-probe expression averaged
    over the estimator's own probes (same seed) with its Hutchinson estimate.
    """,
    references=(
        "A. Laborieux, F. Zenke, ICLR 2024, arXiv:2309.02214",
        "M. F. Hutchinson, Commun. Stat. Simul. Comput. 19, 433 (1990)",
    ),
)

DERIVATIONS = [generalized_ep_bias, homeostasis_identity]
