"""Derivations behind quantum equilibrium propagation: Hellmann–Feynman, Onsager reciprocity
(static, and its failure for dynamics without time reversal), the two quantum-EP objectives
and the Gaussian ground state of a quantum harmonic network.

Two-level systems are written in the Pauli basis, ``H = h₀ + h·σ`` with real coefficients
(``h_y ≠ 0`` gives complex matrix entries, i.e. broken time reversal), so every 2×2 Hermitian
matrix is covered. The ground state is known in closed form: ``E₀ = h₀ − r`` with
``r = |h| > 0`` (non-degenerate) and the eigenvector ``ψ = (h_x − i h_y, −h_z − r)ᵀ``; every
expectation value below is ``ψ†Mψ / ψ†ψ`` of that explicit vector, so nothing is assumed
beyond the eigenvalue equation, which is itself a proved step.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._derivation import Derivation, Step

__all__ = ["DERIVATIONS", "hellmann_feynman", "onsager_static",
           "onsager_dynamic_counterexample", "quantum_ep_objectives", "qho_gaussian"]

_WM = ("C. C. Wanjura, F. Marquardt, \"Quantum equilibrium propagation for efficient training "
       "of quantum systems based on Onsager reciprocity\", Nat. Commun. 16, 6595 (2025), "
       "arXiv:2406.06482")
_SCELLIER = ("B. Scellier, \"Quantum equilibrium propagation: gradient-descent training of "
             "quantum systems\", arXiv:2406.00879 (2024)")
_MASSAR = ("S. Massar, B. M. Mognetti, \"Equilibrium propagation: the quantum and the thermal "
           "cases\", arXiv:2405.08467 (2024)")
_HF = ("R. P. Feynman, \"Forces in molecules\", Phys. Rev. 56, 340 (1939); H. Hellmann, "
       "Einführung in die Quantenchemie (1937)")
_KUBO = ("R. Kubo, \"Statistical-mechanical theory of irreversible processes. I\", J. Phys. "
         "Soc. Jpn. 12, 570 (1957)")
_ONSAGER = ("L. Onsager, \"Reciprocal relations in irreversible processes. I\", Phys. Rev. 37, "
            "405 (1931); H. B. G. Casimir, Rev. Mod. Phys. 17, 343 (1945)")

_PAULI = (sp.eye(2), sp.Matrix([[0, 1], [1, 0]]), sp.Matrix([[0, -sp.I], [sp.I, 0]]),
          sp.Matrix([[1, 0], [0, -1]]))


# -- two-level algebra -------------------------------------------------------------------------
def _pauli_sum(c):
    """``c₀ 1 + c_x σ_x + c_y σ_y + c_z σ_z`` for four coefficients."""
    return sum((ci * s for ci, s in zip(c, _PAULI)), sp.zeros(2))


def _qubit(h):
    """``(H, E₀, ψ, ψ†ψ)``: the Hamiltonian ``h₀ + h·σ``, its ground energy ``h₀ − |h|``, the
    unnormalised ground vector and its squared norm (real coefficients ``h``)."""
    h0, hx, hy, hz = h
    r = sp.sqrt(hx**2 + hy**2 + hz**2)
    psi = sp.Matrix([hx - sp.I * hy, -hz - r])
    return _pauli_sum(h), h0 - r, psi, (psi.H * psi)[0]


def _expect(M, psi, norm):
    """``ψ†Mψ / ψ†ψ``."""
    return (psi.H * M * psi)[0] / norm


def _real_symbols(name):
    return sp.symbols(f"{name}_0 {name}_x {name}_y {name}_z", real=True)


def _random_bloch(rng, n):
    """``n`` random real Pauli coefficients ``(c₀, c_x, c_y, c_z)``, rows of shape (n, 4)."""
    return rng.uniform(-1.0, 1.0, (n, 4))


def _qobj(c):
    import qutip as qt

    return qt.Qobj(np.array(_pauli_sum(c).evalf(), dtype=complex))


# -- Hellmann–Feynman --------------------------------------------------------------------------
def _build_hellmann_feynman():
    theta = sp.Symbol("theta", real=True)
    h = [sp.Function(f"h_{c}", real=True)(theta) for c in "0xyz"]
    H, E0, psi, norm = _qubit(h)
    r = sp.sqrt(h[1]**2 + h[2]**2 + h[3]**2)
    return {
        "assumptions": [
            ("H(θ) = h₀ + h·σ is a generic 2×2 Hermitian matrix (complex entries through h_y), "
             "smooth in θ", None),
            ("non-degenerate ground state: the gap 2|h| is positive", sp.Gt(2 * r, 0)),
            ("ψ is not the zero vector (h not along −z; the other branch is analogous)",
             sp.Gt(r + h[3], 0)),
        ],
        "steps": [
            Step("ψ = (h_x − i h_y, −h_z − |h|) is an eigenvector of H with eigenvalue "
                 "E₀ = h₀ − |h|", H * psi - E0 * psi),
            Step("its squared norm is 2|h|(|h| + h_z) > 0", norm - 2 * r * (r + h[3])),
            Step("E₀ is the lower eigenvalue: the trace fixes the other one at h₀ + |h|",
                 (H.trace() - E0) - (h[0] + r)),
        ],
        "statement": Step("dE₀/dθ = ⟨ψ|∂H/∂θ|ψ⟩/⟨ψ|ψ⟩ (Hellmann–Feynman)",
                          sp.diff(E0, theta) - _expect(H.diff(theta), psi, norm)),
    }


def _numeric_hellmann_feynman(rng):
    from physlearn.systems.spin_chain import Coupling, SpinChain

    hs = sp.symbols("h_x h_y h_z", real=True)
    _, E0, _, _ = _qubit((0, *hs))
    # H = θ·σ + x σ_x: ∂H/∂θ_j = σ_j, so Hellmann–Feynman reads ⟨σ_j⟩ = ∂E₀/∂h_j.
    grad = sp.lambdify(hs, [sp.diff(E0, v) for v in hs], "numpy")
    theta, x = rng.uniform(-1.0, 1.0, 3), rng.uniform(-1.0, 1.0)
    chain = SpinChain(1, [Coupling("t", ("X0", "Y0", "Z0"), "trainable", theta),
                          Coupling("x", ("X0",), "input")], ["Z0"])
    measured = chain.param_gradient(chain.equilibrium([[x]]))["t"][0]
    return np.array(grad(theta[0] + x, theta[1], theta[2])), measured


hellmann_feynman = Derivation(
    name="hellmann_feynman",
    title="dE₀/dθ = ⟨ψ₀|∂H/∂θ|ψ₀⟩ for a non-degenerate ground state (generic complex 2×2 H)",
    build=_build_hellmann_feynman,
    implements="physlearn.systems.spin_chain:SpinChain.param_gradient",
    numeric=_numeric_hellmann_feynman,
    tolerance=1e-10,
    notes="""
        The ground energy of a generic two-level Hamiltonian ``H(θ) = h₀(θ) + h(θ)·σ`` is
        ``E₀ = h₀ − |h|``, with the explicit eigenvector ``ψ = (h_x − i h_y, −h_z − |h|)``.
        Differentiating the closed-form eigenvalue and evaluating ``⟨ψ|∂H/∂θ|ψ⟩/⟨ψ|ψ⟩`` with
        the explicit vector give the same function of θ, for any smooth dependence h(θ) and
        complex (time-reversal breaking) entries: the derivative of the state never enters,
        because the state is stationary for the mean energy (⟨ψ|H|ψ⟩ is minimal at the ground
        state, so its first-order change vanishes). This is why a quantum learner can read its
        gradient locally: ``SpinChain.param_gradient`` reports ``⟨A_j⟩ = ⟨∂H/∂θ_j⟩`` and the
        numerical check compares it, on a random one-qubit Hamiltonian ``θ·σ + xσ_x``, with
        ``∂E₀/∂θ_j`` of the closed form.
    """,
    references=(_HF, _WM, _SCELLIER),
)


# -- static Onsager reciprocity ----------------------------------------------------------------
def _static_response():
    """Symbols and ``(χ_AB, χ_BA, E₀(λ), ⟨A⟩(λ), ⟨B⟩(λ))`` for ``H₀ + λ_A A + λ_B B``."""
    lam_a, lam_b = sp.symbols("lambda_A lambda_B", real=True)
    h, a, b = _real_symbols("h"), _real_symbols("a"), _real_symbols("b")
    coef = [hi + lam_a * ai + lam_b * bi for hi, ai, bi in zip(h, a, b)]
    _, E0, psi, norm = _qubit(coef)
    mean_a, mean_b = _expect(_pauli_sum(a), psi, norm), _expect(_pauli_sum(b), psi, norm)
    at0 = {lam_a: 0, lam_b: 0}
    chi_ab = sp.diff(mean_a, lam_b).subs(at0)
    chi_ba = sp.diff(mean_b, lam_a).subs(at0)
    return (lam_a, lam_b, h, a, b), (chi_ab, chi_ba, E0, mean_a, mean_b)


def _build_onsager_static():
    (lam_a, lam_b, h, _, _), (chi_ab, chi_ba, E0, mean_a, mean_b) = _static_response()
    at0 = {lam_a: 0, lam_b: 0}
    return {
        "assumptions": [
            ("H₀ = h₀ + h·σ, A = a₀ + a·σ, B = b₀ + b·σ: generic 2×2 Hermitian operators, with "
             "complex entries (no time-reversal symmetry is assumed)", None),
            ("non-degenerate ground state of H₀", sp.Gt(h[1]**2 + h[2]**2 + h[3]**2, 0)),
        ],
        "steps": [
            Step("⟨A⟩ = ∂E₀/∂λ_A along H(λ) (Hellmann–Feynman)", mean_a - sp.diff(E0, lam_a)),
            Step("⟨B⟩ = ∂E₀/∂λ_B", mean_b - sp.diff(E0, lam_b)),
            Step("χ_AB = ∂⟨A⟩/∂λ_B = +∂²E₀/∂λ_A∂λ_B at λ = 0",
                 chi_ab - sp.diff(E0, lam_a, lam_b).subs(at0)),
        ],
        "statement": Step("χ_AB = χ_BA: ∂⟨A⟩/∂λ_B = ∂⟨B⟩/∂λ_A in the ground state, for any "
                          "Hermitian H₀, A, B", chi_ab - chi_ba),
    }


def _numeric_onsager_static(rng):
    from physlearn.systems.quantum import static_susceptibility

    (_, _, h, a, b), (chi_ab, chi_ba, *_) = _static_response()
    args = (*h, *a, *b)
    f_ab, f_ba = sp.lambdify(args, chi_ab, "numpy"), sp.lambdify(args, chi_ba, "numpy")
    c = _random_bloch(rng, 3)
    vals = c.ravel()
    H, A, B = (_qobj(row) for row in c)
    derived = {"AB": np.real(f_ab(*vals)), "BA": np.real(f_ba(*vals))}
    code = {"AB": static_susceptibility(H, A, B), "BA": static_susceptibility(H, B, A)}
    return derived, code


onsager_static = Derivation(
    name="onsager_static",
    title="Static reciprocity ∂⟨A⟩/∂λ_B = ∂⟨B⟩/∂λ_A = ∂²E₀/∂λ_A∂λ_B, without time reversal",
    build=_build_onsager_static,
    implements="physlearn.systems.quantum:static_susceptibility",
    numeric=_numeric_onsager_static,
    tolerance=1e-10,
    notes="""
        For ``H(λ) = H₀ + λ_A A + λ_B B`` the Hellmann–Feynman theorem gives ``⟨A⟩ = ∂E₀/∂λ_A``
        and ``⟨B⟩ = ∂E₀/∂λ_B``, so both static susceptibilities are the same mixed second
        derivative of the ground energy, ``χ_AB = χ_BA = +∂²E₀/∂λ_A∂λ_B`` (negative
        semi-definite: E₀ is concave in λ). The sign is +: with ``+λB`` in H, not ``−λB``.
        Nothing about time reversal is used, and the two-level Hamiltonian and operators here
        are fully generic with complex entries. This symmetry is what quantum EP relies on
        (``∂⟨B_k⟩/∂θ_j = ∂⟨A_j⟩/∂ν_k``) and what ``SpinChain.exact_gradient``'s linear response
        evaluates. The numerical check compares the lambdified χ_AB and χ_BA with
        ``static_susceptibility(H, A, B)`` and ``static_susceptibility(H, B, A)`` (Lehmann sum
        over an exact diagonalisation) on random complex 2×2 H₀, A, B.
    """,
    references=(_WM, _ONSAGER, _KUBO),
)


# -- dynamical reciprocity fails without time reversal -----------------------------------------
def _ring():
    """A three-site ring with hopping ``−J e^{iπ/6}`` (a flux), its eigenpairs and χ(t)."""
    J, t = sp.symbols("J t", positive=True)
    w = sp.Rational(-1, 2) + sp.sqrt(3) * sp.I / 2                    # e^{2πi/3}
    hop = -J * (sp.sqrt(3) / 2 + sp.I / 2)                           # −J e^{iπ/6}
    H = sp.Matrix([[0, sp.conjugate(hop), hop],
                   [hop, 0, sp.conjugate(hop)],
                   [sp.conjugate(hop), hop, 0]])                    # ⟨j+1|H|j⟩ = −J e^{iπ/6}
    vecs = [sp.Matrix([1, w**k, w**(2 * k)]) / sp.sqrt(3) for k in range(3)]
    vecs = [v.applyfunc(sp.expand) for v in vecs]
    energies = [-sp.sqrt(3) * J, 0, sp.sqrt(3) * J]
    A = sp.diag(1, 0, 0)                                              # n₀
    B = sp.diag(0, 1, 0)                                              # n₁

    def chi(X, Y):
        """``−i⟨0|[X(t), Y]|0⟩`` with ``X(t) = U†XU``, ``U = Σ_k e^{−iE_k t}|k⟩⟨k|``."""
        U = sum((sp.exp(-sp.I * e * t) * v * v.H for e, v in zip(energies, vecs)), sp.zeros(3))
        Xt = U.H * X * U
        g = vecs[0]
        value = -sp.I * ((g.H * (Xt * Y - Y * Xt) * g)[0])
        return sp.expand(sp.expand_complex(value))

    return J, t, H, vecs, energies, A, B, chi


def _build_onsager_dynamic():
    J, t, H, vecs, energies, A, B, chi = _ring()
    difference = chi(A, B) - chi(B, A)
    value = 2 * sp.sqrt(3) / 9 * (sp.cos(2 * sp.sqrt(3) * J * t) - sp.cos(sp.sqrt(3) * J * t))
    gram = sp.Matrix(3, 3, lambda i, j: (vecs[i].H * vecs[j])[0])
    steps = [Step(f"|{k}⟩ = (1, ω^{k}, ω^{2 * k})/√3 is an eigenvector with E_{k} = "
                  f"{sp.sstr(e)}", (H * v - e * v).applyfunc(sp.expand))
             for k, (v, e) in enumerate(zip(vecs, energies))]
    steps += [
        Step("the eigenvectors are orthonormal", (gram - sp.eye(3)).applyfunc(sp.expand)),
        Step("H is not real in the site basis: its imaginary part is non-zero (time reversal "
             "broken), here Im⟨1|H|0⟩ = −J/2", sp.im(H[1, 0]) + J / 2),
        Step("at √3 J t = π the difference is 4√3/9 ≠ 0 (a witness)",
             difference.subs(t, sp.pi / (sp.sqrt(3) * J)) - 4 * sp.sqrt(3) / 9),
    ]
    return {
        "assumptions": [
            ("three-site ring with hopping −J e^{iφ} and flux φ = π/6, A = n₀, B = n₁ (real, "
             "even under time reversal)", sp.Gt(J, 0)),
            ("non-degenerate ground state |0⟩ (gap √3 J)", sp.Gt(sp.sqrt(3) * J, 0)),
            ("t ≥ 0, ħ = 1; χ_XY(t) = −i⟨[X(t), Y(0)]⟩", sp.Ge(t, 0)),
        ],
        "steps": steps,
        "statement": Step("χ_AB(t) − χ_BA(t) = (2√3/9)(cos 2√3Jt − cos √3Jt), not identically "
                          "zero: no dynamical reciprocity without time reversal",
                          difference - value),
    }


def _numeric_onsager_dynamic(rng):
    import qutip as qt

    from physlearn.systems.quantum import kubo_response

    J, t, H, _, _, A, B, chi = _ring()
    f_ab = sp.lambdify((J, t), chi(A, B), "numpy")
    f_ba = sp.lambdify((J, t), chi(B, A), "numpy")
    j_val = rng.uniform(0.5, 1.5)
    times = np.concatenate([[0.0], np.sort(rng.uniform(0.1, 3.0, 5))])
    Hq = qt.Qobj(np.array(H.subs(J, j_val).evalf(), dtype=complex))
    Aq, Bq = (qt.Qobj(np.array(M, dtype=complex)) for M in (A, B))
    derived = {"AB": f_ab(j_val, times) + 0 * times, "BA": f_ba(j_val, times) + 0 * times}
    code = {"AB": kubo_response(Hq, Aq, Bq, times), "BA": kubo_response(Hq, Bq, Aq, times)}
    return derived, code


onsager_dynamic_counterexample = Derivation(
    name="onsager_dynamic_counterexample",
    title="χ_AB(t) ≠ χ_BA(t) for a three-site ring with flux: dynamical reciprocity needs "
          "time reversal",
    build=_build_onsager_dynamic,
    implements="physlearn.systems.quantum:kubo_response",
    numeric=_numeric_onsager_dynamic,
    tolerance=1e-7,
    notes="""
        Three sites on a ring with complex hopping ``⟨j+1|H|j⟩ = −J e^{iπ/6}`` (a magnetic flux
        through the ring) have plane-wave eigenstates ``(1, ω^k, ω^{2k})/√3``, ``ω = e^{2πi/3}``,
        with energies ``−2J cos(2πk/3 − π/6) = −√3J, 0, √3J``: a non-degenerate ground state.
        The retarded response ``χ_XY(t) = −i⟨[X(t), Y]⟩`` of the site occupations ``A = n₀`` and
        ``B = n₁`` is computed from the time-evolution operator built on these eigenpairs. Its
        antisymmetric part is ``4 Σ_n Im(A_0n B_n0) cos((E_n − E₀)t)``, non-zero because the
        flux gives the products ``A_0n B_n0 = ω^{−n}/9`` a phase: ``χ_AB − χ_BA =
        (2√3/9)(cos 2√3Jt − cos √3Jt)``, e.g. ``4√3/9`` at ``√3Jt = π``. The static limit is
        still symmetric (see ``onsager_static``): quantum EP uses static responses only, and a
        time-domain version of it would need time-reversal symmetry with A, B of equal parity
        (Onsager–Casimir). The numerical check compares ``kubo_response`` (two ``sesolve``
        evolutions) with the lambdified χ_AB(t), χ_BA(t) at random times and J.
    """,
    references=(_KUBO, _ONSAGER, _WM),
)


# -- the two quantum-EP objectives -------------------------------------------------------------
def _gibbs_bloch(coef, T):
    """Bloch vector ``Tr(ρσ) = −tanh(|h|/T) h/|h|`` of the Gibbs state of ``h₀ + h·σ``."""
    r = sp.sqrt(sum(ci**2 for ci in coef[1:]))
    return [-sp.tanh(r / T) * ci / r for ci in coef[1:]]


def _ep_objectives():
    """Quantum-EP estimates and losses of both objectives, ground state and Gibbs state."""
    theta, beta, eps, u = sp.symbols("theta beta epsilon u", real=True)
    T = sp.Symbol("T", positive=True)
    h = [sp.Function(f"h_{c}", real=True)(theta) for c in "0xyz"]
    o, c = _real_symbols("o"), _real_symbols("c")
    C = sp.Function("C")
    dh = [sp.diff(hi, theta) for hi in h]

    def ground_mean(nudge, M):
        """⟨M⟩ in the ground state of ``H + β·nudge`` (Pauli coefficients)."""
        _, _, psi, norm = _qubit([hi + beta * ni for hi, ni in zip(h, nudge)])
        return _expect(_pauli_sum(M), psi, norm)

    def gibbs_mean(nudge, M):
        """``Tr(ρM)`` in the Gibbs state of ``H + β·nudge`` at temperature T."""
        m = _gibbs_bloch([hi + beta * ni for hi, ni in zip(h, nudge)], T)
        return M[0] + sum(mi * Mi for mi, Mi in zip(m, M[1:]))

    out = dict(theta=theta, T=T, h=h, o=o, c=c, C=C, u=u)
    for key, mean in (("0", ground_mean), ("T", gibbs_mean)):
        mean_o = mean((0, 0, 0, 0), o).subs(beta, 0)
        slope = sp.diff(C(u), u).subs(u, mean_o)        # ε = C'(⟨O⟩) at the free state
        wm = mean([eps * oi for oi in o], dh)
        out[f"ep_wm_{key}"] = sp.diff(wm, beta).subs(beta, 0).subs(eps, slope)
        out[f"loss_wm_{key}"] = C(mean_o)
        out[f"ep_sc_{key}"] = sp.diff(mean(c, dh), beta).subs(beta, 0)
        out[f"loss_sc_{key}"] = mean((0, 0, 0, 0), c).subs(beta, 0)
    return out


def _gibbs_steps(h, T, theta):
    """Steps: the Gibbs state of ``h₀ + h·σ`` has Bloch vector ``−tanh(r/T) h/r`` and obeys
    the thermal Hellmann–Feynman theorem ``Tr(ρ ∂H/∂θ) = ∂F/∂θ``."""
    H = _pauli_sum(h)
    r = sp.sqrt(h[1]**2 + h[2]**2 + h[3]**2)
    n_sigma = _pauli_sum([0, *(hi / r for hi in h[1:])])
    P0, P1 = (sp.eye(2) - n_sigma) / 2, (sp.eye(2) + n_sigma) / 2
    E0, E1 = h[0] - r, h[0] + r
    w0, w1 = sp.exp(-E0 / T), sp.exp(-E1 / T)
    rho = (w0 * P0 + w1 * P1) / (w0 + w1)
    F = -T * sp.log(w0 + w1)
    bloch = sp.Matrix([(rho * s).trace() for s in _PAULI[1:]]) - sp.Matrix(_gibbs_bloch(h, T))
    return [
        Step("P₀ = (1 − h·σ/r)/2 and P₁ = (1 + h·σ/r)/2 project onto the levels h₀ ∓ r",
             (H * P0 - E0 * P0).col_join(H * P1 - E1 * P1)),
        Step("the Gibbs state ρ = Σ e^{−E_n/T} P_n / Z has Bloch vector −tanh(r/T) h/r",
             bloch.applyfunc(lambda e: e.rewrite(sp.exp))),
        Step("thermal Hellmann–Feynman: Tr(ρ ∂H/∂θ) = ∂F/∂θ with F = −T ln Z",
             (rho * H.diff(theta)).trace() - sp.diff(F, theta)),
    ]


def _low_temperature_step():
    """Step: the first-order thermal correction of a two-level expectation value."""
    w = sp.Symbol("w", positive=True)                  # Boltzmann factor e^{−Δ/T} of the gap
    a0, *a = sp.symbols("a_0 a_x a_y a_z", real=True)
    h = sp.symbols("h_x h_y h_z", real=True)
    r = sp.sqrt(sum(hi**2 for hi in h))
    along = sum(ai * hi for ai, hi in zip(a, h)) / r  # a·h/|h|
    ground, excited = a0 - along, a0 + along           # ⟨A⟩ in the two levels h₀ ∓ |h|
    thermal = a0 - (1 - w) / (1 + w) * along           # tanh(|h|/T) = (1 − w)/(1 + w)
    return Step("first-order thermal correction: with w = e^{−Δ/T} (Δ = 2|h| the gap), "
                "⟨A⟩_T = ⟨A⟩₀ + w (⟨A⟩₁ − ⟨A⟩₀) + O(w²) for any observable A = a₀ + a·σ, so "
                "the estimates at low T differ from the ground-state ones by O(e^{−Δ/T})",
                thermal - (ground + w * (excited - ground)), series=(w, 2))


def _build_quantum_ep():
    s = _ep_objectives()
    theta, h = s["theta"], s["h"]
    y = sp.Symbol("y", real=True)
    Z, one = _PAULI[3], _PAULI[0]
    identities = sp.Matrix([s[f"ep_{kind}_{key}"] - sp.diff(s[f"loss_{kind}_{key}"], theta)
                            for key in ("0", "T") for kind in ("wm", "sc")])
    return {
        "assumptions": [
            ("H(θ) = h₀(θ) + h(θ)·σ, a generic smooth 2×2 Hermitian family", None),
            ("non-degenerate ground state (at T = 0)", sp.Gt(h[1]**2 + h[2]**2 + h[3]**2, 0)),
            ("temperature T > 0 for the Gibbs-state rows (k_B = 1)", sp.Gt(s["T"], 0)),
            ("(i) loss of an expectation value L = C(⟨O⟩), O = o₀ + o·σ, C smooth; the nudge "
             "ε = C'(⟨O⟩) is fixed at the free state", None),
            ("(ii) expected cost observable L = ⟨Ĉ⟩, Ĉ = c₀ + c·σ Hermitian", None),
        ],
        "steps": [
            *_gibbs_steps(h, s["T"], theta),
            Step("for a Pauli output the cost observable is affine in it: ½(Z − y)² = "
                 "½(1 + y²) − yZ, so its nudge is ε = −y (constant), not ⟨Z⟩ − y",
                 (Z - y * one) ** 2 / 2 - ((1 + y**2) / 2 * one - y * Z)),
            _low_temperature_step(),
        ],
        "statement": Step(
            "d/dβ⟨∂H/∂θ⟩_β at β = 0 equals dL/dθ for (i) L = C(⟨O⟩), nudge βC'(⟨O⟩)O, and "
            "(ii) L = ⟨Ĉ⟩, nudge βĈ; rows: ground state (i), (ii), Gibbs state (i), (ii)",
            identities.applyfunc(lambda e: e.rewrite(sp.exp))),
    }


def _numeric_quantum_ep(rng):
    import physlearn as pl
    from physlearn.systems.quantum import ObservableCost
    from physlearn.systems.spin_chain import Coupling, SpinChain

    s = _ep_objectives()
    theta, h, o, c = s["theta"], s["h"], s["o"], s["c"]
    hv = sp.symbols("v_0 v_x v_y v_z", real=True)
    y, T = sp.Symbol("y", real=True), s["T"]

    dv = sp.symbols("dv_0 dv_x dv_y dv_z", real=True)

    def per_parameter(expr, operator):
        """dL/dθ_j, j = x, y, z, for ``H = θ·σ + x σ_x`` (``∂h/∂θ_j = e_j``), with ``O = σ_z``
        and ``C(u) = ½(u − y)²`` (squared error) or ``Ĉ = ½(σ_z − y)²``, as a function of
        ``(v, y, T)`` where ``v`` are the Pauli coefficients of H."""
        atoms = {**{sp.Derivative(hi, theta): di for hi, di in zip(h, dv)}, **dict(zip(h, hv)),
                 **operator}
        e = expr.xreplace(atoms).replace(s["C"], sp.Lambda(s["u"], (s["u"] - y) ** 2 / 2))
        f = sp.lambdify((*hv, *dv, y, T), e.doit(), "numpy")
        return lambda *args: [f(*args[:4], *np.eye(4)[j], *args[4:]) for j in range(1, 4)]

    pauli_z = dict(zip(o, (0, 0, 0, 1)))
    cost_observable = dict(zip(c, ((1 + y**2) / 2, 0, 0, -y)))   # ½(σ_z − y)²
    theta_v, x, target = rng.uniform(-1.0, 1.0, 3), rng.uniform(-1.0, 1.0), rng.uniform(-1, 1)
    temperature = rng.uniform(0.3, 1.5)
    xs, ys = np.array([[x]]), np.array([[target]])
    rule = pl.EP(beta=1e-4, variant="centered")
    derived, code = {}, {}
    for key, temp in (("0", 0.0), ("T", temperature)):
        chain = SpinChain(1, [Coupling("t", ("X0", "Y0", "Z0"), "trainable", theta_v),
                              Coupling("x", ("X0",), "input")], ["Z0"], temperature=temp)
        args = (0.0, theta_v[0] + x, theta_v[1], theta_v[2], target, temp)
        for kind, cost, operator in (("wm", pl.SquaredError(), pauli_z),
                                     ("sc", ObservableCost(), cost_observable)):
            g = np.real(per_parameter(s[f"ep_{kind}_{key}"], operator)(*args))
            derived[f"{kind}_{key}_exact"] = derived[f"{kind}_{key}_ep"] = g
            code[f"{kind}_{key}_exact"] = chain.exact_gradient(xs, ys, cost)["t"]
            code[f"{kind}_{key}_ep"] = rule.gradient(chain, xs, ys, cost)["t"]
    return derived, code


quantum_ep_objectives = Derivation(
    name="quantum_ep_objectives",
    title="Quantum EP is exact for both objectives: a loss of expectation values (nudge "
          "βC'(⟨O⟩)O) and an expected cost observable (nudge βĈ)",
    build=_build_quantum_ep,
    implements="physlearn.systems.spin_chain:SpinChain.exact_gradient",
    numeric=_numeric_quantum_ep,
    tolerance=1e-6,
    notes="""
        With the explicit ground state of a generic two-level ``H(θ)``, the derivative in β of
        the local measurement ``⟨∂H/∂θ⟩`` of the nudged ground state is computed and compared
        with the derivative of the loss, for the two objectives of quantum EP. (i) Wanjura &
        Marquardt: ``L = C(⟨O⟩)``, nudge ``H + β ε O`` with ``ε = C'(⟨O⟩)`` frozen at the free
        state; the identity is the chain rule plus static reciprocity ``∂⟨O⟩/∂θ =
        ∂⟨∂H/∂θ⟩/∂ν``. (ii) Scellier: ``L = ⟨Ĉ⟩``, nudge ``H + βĈ``; here ``⟨Ĉ⟩`` is linear in
        the state and the identity is reciprocity alone. The objectives differ: for a Pauli
        output ``½(Z − y)² = ½(1 + y²) − yZ`` so the cost-observable nudge is ``ε = −y``, and
        its loss is minimised at ``⟨Z⟩ = sign y``, not ``⟨Z⟩ = y``. The same two identities
        hold exactly, at every temperature, for the Gibbs state ``ρ = e^{−H/T}/Z`` that
        re-thermalises under the nudge: its Bloch vector is ``−tanh(|h|/T) h/|h|`` (a step,
        from the level projectors), and ``Tr(ρ∂H/∂θ) = ∂F/∂θ`` with ``F = −T ln Z``, so the
        isothermal responses are mixed second derivatives of F and symmetric. There is thus no
        first-order thermal correction to the estimator: finite T changes the gradient (the
        loss is that of the thermal state) but not the EP identity. The numerical check runs a
        one-qubit ``SpinChain`` (``H = θ·σ + xσ_x``, output ``σ_z``) at T = 0 and at a random
        T > 0, with ``SquaredError`` and with ``ObservableCost``, and compares the lambdified
        gradients with both the chain's ``exact_gradient`` (linear response, Kubo–Mori at
        T > 0) and ``EP(beta=1e-4, variant="centered")`` (O(β²) bias).
    """,
    references=(_WM, _SCELLIER, _MASSAR),
)


# -- Gaussian ground state of a quantum harmonic network ---------------------------------------
def _qho():
    """Symbols and expressions of the two-mode Gaussian ground state (normal-mode form)."""
    w11, w12, w22 = sp.symbols("w_11 w_12 w_22", real=True)
    x1, x2, y = sp.symbols("x_1 x_2 y", real=True)
    w1, w2, s = sp.symbols("omega_1 omega_2 s", positive=True)
    W = sp.Matrix([[w11, w12], [w12, w22]])
    xv = sp.Matrix([x1, x2])
    psi = sp.exp(-(xv.T * W * xv)[0] / 2)
    # rational rotation: cos = (1 − s²)/(1 + s²), sin = 2s/(1 + s²)
    cs, sn = (1 - s**2) / (1 + s**2), 2 * s / (1 + s**2)
    R = sp.Matrix([[cs, -sn], [sn, cs]])
    K = R * sp.diag(w1**2, w2**2) * R.T
    moment = (sp.integrate(y**2 * sp.exp(-w1 * y**2), (y, -sp.oo, sp.oo))
              / sp.integrate(sp.exp(-w1 * y**2), (y, -sp.oo, sp.oo)))
    cov = R * sp.diag(1 / (2 * w1), 1 / (2 * w2)) * R.T
    return dict(W=W, xv=xv, psi=psi, R=R, K=K, moment=moment, cov=cov, w1=w1, w2=w2, s=s)


def _build_qho():
    q = _qho()
    W, xv, psi, R, K, cov = q["W"], q["xv"], q["psi"], q["R"], q["K"], q["cov"]
    laplacian = sum(sp.diff(psi, xi, 2) for xi in xv)
    h_psi = -laplacian / 2 + (xv.T * W * W * xv)[0] * psi / 2
    sqrt_k = R * sp.diag(q["w1"], q["w2"]) * R.T
    return {
        "assumptions": [
            ("H = ½pᵀp + ½xᵀKx with unit masses and ħ = 1, K symmetric positive definite", None),
            ("normal modes: K = R diag(ω₁², ω₂²) Rᵀ with a rotation R and ω₁, ω₂ > 0",
             sp.And(sp.Gt(q["w1"], 0), sp.Gt(q["w2"], 0))),
        ],
        "steps": [
            Step("ψ = exp(−½xᵀWx) solves Hψ = ½tr(W) ψ when K = W² (any symmetric W)",
                 (h_psi - W.trace() / 2 * psi) / psi),
            Step("R is a rotation (RᵀR = 1)", R.T * R - sp.eye(2)),
            Step("W = R diag(ω₁, ω₂) Rᵀ is the positive square root of K (ψ normalisable and "
                 "nodeless: the ground state)", sqrt_k * sqrt_k - K),
            Step("in each normal mode |ψ|² ∝ e^{−ω y²}: ⟨y²⟩ = 1/(2ω)",
                 q["moment"] - 1 / (2 * q["w1"])),
            Step("so ⟨xxᵀ⟩ = R diag(1/2ω₁, 1/2ω₂) Rᵀ = ½ W⁻¹",
                 cov - sqrt_k.inv() / 2),
        ],
        "statement": Step("⟨xxᵀ⟩ = ½ K^{−1/2}: (2⟨xxᵀ⟩) K (2⟨xxᵀ⟩) = 1 with ⟨xxᵀ⟩ positive",
                          4 * cov * K * cov - sp.eye(2)),
    }


def _numeric_qho(rng):
    from physlearn.systems.quantum_oscillators import QuantumHarmonicNetwork

    q = _qho()
    f = sp.lambdify((q["w1"], q["w2"], q["s"]), q["cov"], "numpy")
    net = QuantumHarmonicNetwork(2, [(0, 1)], [0], [1], spring=rng.uniform(0.5, 1.5, 1),
                                 ground=rng.uniform(0.5, 1.5, 2))
    w2, u = np.linalg.eigh(net.stiffness())
    if np.linalg.det(u) < 0:
        u[:, 1] = -u[:, 1]
    s = np.tan(np.arctan2(u[1, 0], u[0, 0]) / 2)      # R(s) = u
    return np.array(f(*np.sqrt(w2), s), dtype=float), net.covariances()[0]


qho_gaussian = Derivation(
    name="qho_gaussian",
    title="Ground-state position covariance of ½pᵀp + ½xᵀKx is ½K^{−1/2} (ħ = 1, unit masses)",
    build=_build_qho,
    implements="physlearn.systems.quantum_oscillators:QuantumHarmonicNetwork.covariances",
    numeric=_numeric_qho,
    tolerance=1e-10,
    notes="""
        The Gaussian ``ψ = exp(−½xᵀWx)`` satisfies the Schrödinger equation of ``H = ½pᵀp +
        ½xᵀKx`` (``p = −i∇``) with energy ``½ tr W`` exactly when ``W² = K``; it is normalisable
        and has no node, hence the ground state, when W is the positive square root. In the
        normal modes of K the density ``|ψ|²`` factorises into one-dimensional Gaussians
        ``e^{−ω y²}`` with ``⟨y²⟩ = 1/(2ω)``, so ``⟨xxᵀ⟩ = ½W⁻¹ = ½K^{−1/2}``: the zero-point
        spread that ``QuantumHarmonicNetwork`` adds to every strain measurement. (Forces only
        shift the mean, ``μ = K⁻¹f``, not the covariance.) Proved for a generic 2×2 K written
        through its rotation (a rational parametrisation, so no trigonometry) and frequencies.
        The numerical check draws a random two-mode network and compares ``covariances()[0]``
        with the lambdified normal-mode covariance.
    """,
    references=(_SCELLIER,),
)


DERIVATIONS = [hellmann_feynman, onsager_static, onsager_dynamic_counterexample,
               quantum_ep_objectives, qho_gaussian]
