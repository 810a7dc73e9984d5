"""Equilibrium propagation for thermal averages: mixed partials of the free energy.

A system in thermal equilibrium at temperature ``T`` with configurations ``σ`` and energy
``E(θ, σ)`` is nudged by adding ``β C(σ)`` to the energy of every configuration. The free
energy ``F(θ, β) = −T log Σ_σ exp(−(E(θ, σ) + βC(σ))/T)`` has ``∂_θF = ⟨∂_θE⟩_β`` and
``∂_βF = ⟨C⟩_β``; equality of its mixed partials is the thermal EP identity

    d⟨C⟩₀/dθ = d/dβ ⟨∂_θE⟩_β |_{β=0},

and for the Ising energy ``E = −Σ J_ij σ_iσ_j − Σ h_i σ_i`` it is the fluctuation–dissipation
(contrastive-Hebbian, Boltzmann-machine) form ``∂⟨C⟩/∂J_ij = −(1/T) Cov(C, −σ_iσ_j)``. Both are
proved exactly on enumerated state spaces: four configurations with arbitrary smooth energies
``E_k(θ)``, and three spins with symbolic couplings and fields. The numerical tie is
:meth:`physlearn.systems.ising.IsingModel.thermal_derivative` (the exact solver's
fluctuation–dissipation derivative).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._derivation import Derivation, Step

__all__ = ["DERIVATIONS", "thermal_ep", "ising_model"]

EDGES = ((0, 1), (0, 2), (1, 2))
"""Couplings of the three-spin model (a triangle)."""


def _average(weights, values):
    """``Σ w_k v_k / Σ w_k``."""
    return sum(w * v for w, v in zip(weights, values)) / sum(weights)


def _weights(energies, costs, beta, T):
    """Boltzmann weights ``exp(−(E_k + βC_k)/T)`` of the nudged ensemble."""
    return [sp.exp(-(e + beta * c) / T) for e, c in zip(energies, costs)]


def ising_model():
    """The symbolic three-spin Ising model, enumerated.

    Returns
    -------
    dict
        ``J`` (symbols, one per edge of :data:`EDGES`), ``h`` (fields), ``T`` (temperature),
        ``beta``, ``c`` (the cost of every configuration, a free symbol each), ``configs``
        (the 8 spin tuples, ordered as :meth:`IsingModel._configs`: bit ``i`` of the index set
        means ``σ_i = −1``) and ``energies`` (``E(σ)`` of each).
    """
    J = sp.symbols("J_12 J_13 J_23", real=True)
    h = sp.symbols("h_1:4", real=True)
    T = sp.Symbol("T", positive=True)
    beta = sp.Symbol("beta", real=True)
    configs = [tuple(1 - 2 * ((k >> i) & 1) for i in range(3)) for k in range(8)]
    c = sp.symbols("c_0:8", real=True)
    energies = [-sum(Jij * s[i] * s[j] for Jij, (i, j) in zip(J, EDGES))
                - sum(hi * si for hi, si in zip(h, s)) for s in configs]
    return {"J": J, "h": h, "T": T, "beta": beta, "c": c, "configs": configs,
            "energies": energies}


def _ising_gradients(m):
    """``(θ, ∂E/∂θ per configuration)`` for every coupling and field of the model ``m``."""
    out = []
    for Jij, (i, j) in zip(m["J"], EDGES):
        out.append((Jij, [-s[i] * s[j] for s in m["configs"]]))
    for k, hk in enumerate(m["h"]):
        out.append((hk, [-s[k] for s in m["configs"]]))
    return out


def _ep_side(m):
    """``d/dβ ⟨∂E/∂θ⟩_β`` at β = 0 for every parameter: the thermal EP estimate's limit."""
    beta, T = m["beta"], m["T"]
    w = _weights(m["energies"], m["c"], beta, T)
    return [sp.diff(_average(w, dE), beta).subs(beta, 0) for _, dE in _ising_gradients(m)]


def _build():
    theta, beta = sp.symbols("theta beta", real=True)
    T = sp.Symbol("T", positive=True)
    # (1) Any four-state system: energies E_k(θ) arbitrary smooth functions, costs C_k.
    E = [sp.Function(f"E_{k}")(theta) for k in range(4)]
    C = sp.symbols("C_0:4", real=True)
    w = _weights(E, C, beta, T)
    F = -T * sp.log(sum(w))
    dE = [sp.diff(e, theta) for e in E]
    steps = [
        Step("∂F/∂θ is the nudged thermal average of ∂E/∂θ (any β)",
             sp.diff(F, theta) - _average(w, dE)),
        Step("∂F/∂β is the nudged thermal average of the cost (any β)",
             sp.diff(F, beta) - _average(w, C)),
        Step("mixed partials of F: d⟨C⟩_β/dθ = d/dβ ⟨∂E/∂θ⟩_β for any β (four states, "
             "arbitrary smooth energies E_k(θ))",
             sp.diff(_average(w, C), theta) - sp.diff(_average(w, dE), beta)),
    ]
    # (2) The Ising model: EP limit = covariance (contrastive Hebbian) = direct derivative.
    m = ising_model()
    w0 = _weights(m["energies"], m["c"], 0, m["T"])
    mean_c = _average(w0, m["c"])
    ep = _ep_side(m)
    direct, covariance = [], []
    for (p, dEp), ep_p in zip(_ising_gradients(m), ep):
        cov = _average(w0, [a * b for a, b in zip(dEp, m["c"])]) - _average(w0, dEp) * mean_c
        direct.append(sp.diff(mean_c, p) - ep_p)
        covariance.append(sp.diff(mean_c, p) + cov / m["T"])
    n_j = len(m["J"])
    steps.append(Step("Ising, fields: ∂⟨C⟩/∂h_i = −(1/T) Cov(C, −σ_i) "
                      "(fluctuation–dissipation)", sp.Matrix(covariance[n_j:])))
    steps.append(Step("Ising, couplings: ∂⟨C⟩/∂J_ij = −(1/T)(⟨σ_iσ_jC⟩ − ⟨σ_iσ_j⟩⟨C⟩) "
                      "(contrastive-Hebbian / Boltzmann-machine form)",
                      sp.Matrix(covariance[:n_j])))
    steps.append(Step("Ising, fields: ∂⟨C⟩/∂h_i = d/dβ ⟨−σ_i⟩_β at β = 0",
                      sp.Matrix(direct[n_j:])))
    statement = Step("thermal EP (three-spin Ising model, every coupling): ∂⟨C⟩/∂J_ij = "
                     "d/dβ ⟨−σ_iσ_j⟩_β at β = 0", sp.Matrix(direct[:n_j]))
    assumptions = [
        ("temperature positive", sp.Gt(sp.Symbol("T", real=True), 0)),
        ("Boltzmann distribution of the nudged energy E + βC at every β", None),
        ("configurations enumerated: finite state space (sums, not integrals)", None),
        ("spins σ_i = ±1; E = −Σ_{i<j} J_ij σ_iσ_j − Σ_i h_i σ_i", None),
    ]
    return {"statement": statement, "steps": steps, "assumptions": assumptions}


_LAMBDIFIED = {}


def _derived_function():
    """``(J, h, T, c) ↦ d/dβ ⟨∂E/∂θ⟩_β|₀`` lambdified from :func:`_ep_side` (cached)."""
    if "f" not in _LAMBDIFIED:
        m = ising_model()
        _LAMBDIFIED["f"] = sp.lambdify((m["J"], m["h"], m["T"], m["c"]), _ep_side(m),
                                       modules="numpy")
    return _LAMBDIFIED["f"]


def _numeric(rng):
    from physlearn.systems.ising import IsingModel

    J = rng.uniform(-0.9, 0.9, len(EDGES))
    h = rng.uniform(-0.9, 0.9, 3)
    T = float(rng.uniform(0.5, 2.0))
    c = rng.normal(size=8)
    values = np.array(_derived_function()(J, h, T, c), dtype=float)
    derived = {"J": values[:len(EDGES)], "h": values[len(EDGES):]}
    model = IsingModel(3, list(EDGES), [2], n_features=0, temperature=T, solver="exact")
    model.params = {"J": J, "h": h}
    got = model.thermal_derivative(np.zeros((1, 0)), lambda S: c)
    return derived, {k: got[k][0] for k in derived}


thermal_ep = Derivation(
    name="thermal_ep",
    title="Thermal EP: d⟨C⟩/dθ = d/dβ ⟨∂E/∂θ⟩_β at β = 0, and the Boltzmann-machine "
          "covariance form, from the mixed partials of the free energy",
    build=_build,
    implements="physlearn.systems.ising:IsingModel.thermal_derivative",
    numeric=_numeric,
    tolerance=1e-10,
    notes="""
    The nudge adds ``βC(σ)`` to the energy of every configuration, so the nudged ensemble is
    the Boltzmann distribution of ``E + βC`` and the free energy ``F(θ, β)`` generates both
    averages: ``∂_θF = ⟨∂_θE⟩_β`` and ``∂_βF = ⟨C⟩_β``. The mixed partials of ``F`` agree,
    so ``∂_θ⟨C⟩_β = ∂_β⟨∂_θE⟩_β``; at β = 0 the left side is the gradient of the expected
    cost and the right side is what thermal EP measures (a difference of thermal averages of
    the local quantity ``∂_θE``). Differentiating the Boltzmann weights directly gives the
    fluctuation–dissipation form ``∂⟨C⟩/∂θ = −(1/T) Cov(C, ∂_θE)``: for a coupling,
    ``−(1/T)(⟨σ_iσ_jC⟩ − ⟨σ_iσ_j⟩⟨C⟩)``, the covariance the Boltzmann-machine rule contrasts.
    The identities are exact on an enumerated state space; the general one is proved for
    four configurations with arbitrary smooth energies, the Ising forms for three spins
    with symbolic couplings, fields and an arbitrary cost of each of the 8 configurations.
    The numerical check evaluates the lambdified EP limit on random couplings, fields,
    temperature and costs and compares it with the exact solver's
    ``IsingModel.thermal_derivative`` (a covariance by enumeration).
    """,
    references=(
        "B. Scellier, Y. Bengio, Front. Comput. Neurosci. 11:24 (2017)",
        "D. H. Ackley, G. E. Hinton, T. J. Sejnowski, Cogn. Sci. 9, 147 (1985)",
        "J. Laydevant, D. Marković, J. Grollier, Nat. Commun. 15, 3671 (2024), "
        "arXiv:2305.18321",
    ),
)

DERIVATIONS = [thermal_ep]
