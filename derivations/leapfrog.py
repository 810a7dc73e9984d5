"""The leapfrog map is reversible and symplectic: why an echo retraces a free run exactly.

physlearn's integrator (:mod:`physlearn.systems.leapfrog`) is the drift–kick–drift
(position-Verlet) form of the leapfrog for ``H = ½ pᵀM⁻¹p + V(q, u)``: with step δ,

    a = q + (δ/2) M⁻¹p,    p′ = p − δ ∇V(a, u),    q′ = a + (δ/2) M⁻¹p′.

Flipping the momenta, stepping again with the same input and flipping back returns the
initial state exactly, for any force; and the map preserves the symplectic form
(``DMᵀ Ω DM = Ω``, hence ``det DM = 1``) when the force is a gradient.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._derivation import Derivation, Step

__all__ = ["DERIVATIONS", "leapfrog_reversibility", "leapfrog_step"]

N_DOF = 2
N_STEPS = 50
"""Steps of the numerical round trip."""


def leapfrog_step(q, p, force, dt, mass):
    """One drift–kick–drift step ``(q, p) ↦ (q′, p′)`` (sympy matrices, diagonal masses).

    Parameters
    ----------
    q, p : sympy Matrix, shape (n, 1)
    force : callable
        ``force(a) -> Matrix (n, 1)``: ``∇V`` at the half-step position ``a``.
    dt : sympy expression
    mass : sequence of sympy expressions
        Diagonal of ``M``.
    """
    inv_m = sp.diag(*[1 / m for m in mass])
    a = q + dt / 2 * inv_m * p
    p_new = p - dt * force(a)
    return a + dt / 2 * inv_m * p_new, p_new


def _generic_force(u):
    """``a ↦ (F_1(a, u), …, F_n(a, u))``: an arbitrary (not necessarily conservative) force."""
    fs = [sp.Function(f"F_{i + 1}") for i in range(N_DOF)]
    # Arguments expanded to a canonical form, so that a retraced half-step point is the same
    # expression as the one the forward step read.
    return lambda a: sp.Matrix([f(*[sp.expand(ai) for ai in a], u) for f in fs])


def _symbols():
    q = sp.Matrix(sp.symbols(f"q_1:{N_DOF + 1}", real=True))
    p = sp.Matrix(sp.symbols(f"p_1:{N_DOF + 1}", real=True))
    dt = sp.Symbol("delta", positive=True)
    mass = sp.symbols(f"m_1:{N_DOF + 1}", positive=True)
    return q, p, dt, mass


def _cubic_potential(q):
    """A generic cubic polynomial in two variables (symbolic coefficients)."""
    terms = [(j, k) for j in range(4) for k in range(4) if 0 < j + k <= 3]
    return sum(sp.Symbol(f"c_{j}{k}", real=True) * q[0]**j * q[1]**k for j, k in terms)


def _build():
    q, p, dt, mass = _symbols()
    u0, u1 = sp.symbols("u_0 u_1", real=True)
    # Reversibility for an arbitrary force: one step, and two steps with different inputs.
    f0, f1 = _generic_force(u0), _generic_force(u1)
    q1, p1 = leapfrog_step(q, p, f0, dt, mass)
    qb, pb = leapfrog_step(q1, -p1, f0, dt, mass)
    one = sp.Matrix.vstack(qb - q, -pb - p)
    q2, p2 = leapfrog_step(*leapfrog_step(q, p, f0, dt, mass), f1, dt, mass)
    qr, pr = leapfrog_step(*leapfrog_step(q2, -p2, f1, dt, mass), f0, dt, mass)
    two = sp.Matrix.vstack(qr - q, -pr - p)
    # Symplecticity for a conservative force (generic cubic potential).
    a_sym = sp.Matrix(sp.symbols(f"a_1:{N_DOF + 1}", real=True))
    V = _cubic_potential(a_sym)
    grad = sp.Matrix([sp.diff(V, ai) for ai in a_sym])

    def conservative(a):
        return grad.subs(dict(zip(a_sym, a)), simultaneous=True)

    qc, pc = leapfrog_step(q, p, conservative, dt, mass)
    DM = sp.Matrix.vstack(qc, pc).jacobian(list(q) + list(p)).applyfunc(sp.expand)
    n = N_DOF
    omega = sp.Matrix(sp.BlockMatrix([[sp.zeros(n), sp.eye(n)], [-sp.eye(n), sp.zeros(n)]]))
    energy_half = (p.T * sp.diag(*[1 / m for m in mass]) * p)[0] / 2
    steps = [
        Step("one step, flip the momenta, one step with the same input, flip: the initial "
             "state (any force F(a, u))", one),
        Step("symplectic: DMᵀ Ω DM = Ω for a conservative force (generic cubic V, 2 dof)",
             DM.T * omega * DM - omega),
        Step("hence volume preserving: det DM = 1", DM.det(method="berkowitz") - 1),
        Step("the kinetic energy is even in p (time-reversal invariance of H)",
             energy_half - energy_half.subs(dict(zip(p, -p)), simultaneous=True)),
    ]
    statement = Step("leapfrog reversibility: two steps with inputs u₀, u₁, flip, two steps "
                     "with u₁, u₀, flip = identity (any force, 2 dof)", two)
    assumptions = [
        ("positive step and masses",
         sp.And(*[sp.Gt(sp.Symbol(s.name, real=True), 0) for s in (dt, *mass)])),
        ("separable Hamiltonian H = ½ pᵀM⁻¹p + V(q, u), M diagonal", None),
        ("no friction, force read at the half-step position (kick='half-step')", None),
        ("exact arithmetic (in floating point the round trip holds to round-off)", None),
    ]
    return {"statement": statement, "steps": steps, "assumptions": assumptions}


_CACHE = {}


def _step_function():
    """``(q, p, δ, u, force_1, force_2) ↦ (q′, p′)`` for unit masses, lambdified (cached)."""
    if "step" not in _CACHE:
        q, p, dt, _ = _symbols()
        u = sp.Symbol("u", real=True)
        q1, p1 = leapfrog_step(q, p, _generic_force(u), dt, [1] * N_DOF)
        _CACHE["step"] = (q, p, dt, u, list(q1) + list(p1))
    q, p, dt, u, out = _CACHE["step"]
    return lambda *forces: sp.lambdify(
        (list(q), list(p), dt, u), out,
        modules=[{f"F_{i + 1}": f for i, f in enumerate(forces)}, "numpy"])


def _numeric(rng):
    from physlearn.systems.hru_physics import NonlinearHRUPhysics
    from physlearn.systems.leapfrog import Leapfrog, integrate

    unit = NonlinearHRUPhysics(N_DOF, 1)
    params = {"A": rng.uniform(0.5, 1.5, N_DOF), "B": rng.normal(size=(N_DOF, 1)),
              "b": rng.normal(scale=0.3, size=N_DOF), "alpha": np.array(0.5)}
    scheme = Leapfrog(dt=0.1)
    batch = 4
    q0, p0 = rng.normal(size=(batch, N_DOF)), rng.normal(size=(batch, N_DOF))
    inputs = rng.normal(size=(batch, N_STEPS, 1))

    def component(i):
        def force(*args):
            *a, u = args
            a = np.stack(np.broadcast_arrays(*a), axis=-1)
            return unit.potential_grad(params, a, np.reshape(u, np.shape(u) + (1,)))[..., i]
        return force

    step = _step_function()(*[component(i) for i in range(N_DOF)])
    one = np.array(step(list(q0.T), list(p0.T), scheme.dt, inputs[:, 0, 0]), dtype=float).T
    ref = integrate(unit, params, q0, p0, inputs[:, :1], scheme)
    run = integrate(unit, params, q0, p0, inputs, scheme)
    back = integrate(unit, params, run.q, -run.p, inputs[:, ::-1], scheme)
    derived = {"step": one, "round_trip": np.concatenate([q0, p0], axis=1)}
    implemented = {"step": np.concatenate([ref.q, ref.p], axis=1),
                   "round_trip": np.concatenate([back.q, -back.p], axis=1)}
    return derived, implemented


leapfrog_reversibility = Derivation(
    name="leapfrog_reversibility",
    title="The drift–kick–drift leapfrog is time-reversible (step, flip p, step, flip p = "
          "identity) and symplectic",
    build=_build,
    implements="physlearn.systems.leapfrog:integrate",
    numeric=_numeric,
    tolerance=1e-12,
    notes="""
    A drift moves ``q`` by ``(δ/2)M⁻¹p``, a kick moves ``p`` by ``−δ∇V`` at the drifted
    position. With the momenta flipped the second step's first drift undoes the first step's
    last drift exactly, so its kick reads the force at the *same* half-step point and undoes
    the kick; the last drift undoes the first. This holds for an arbitrary force (proved with
    undefined functions ``F_i(a, u)``, for one step and for two steps whose inputs are
    replayed in reverse order), which is why RHEL's echo — flip the momenta of the final
    state, replay the inputs backwards — retraces the free run. Each sub-map is a shear
    with unit determinant; for a conservative force the kick's Jacobian ``−δ∇²V`` is
    symmetric, which makes the map symplectic, ``DMᵀ Ω DM = Ω`` (proved for a generic
    cubic potential in two degrees of freedom). Friction (a decay factor on the kick) or
    reading the force at the start of the step breaks both. physlearn's integrator is this
    position-Verlet form (not velocity Verlet, which puts the kicks at the ends). The
    numerical check drives the two-oscillator nonlinear HRU physics (``NonlinearHRUPhysics``)
    with random parameters, states and inputs: one step of ``integrate`` against the
    lambdified symbolic step evaluated with the unit's own force, and 50 steps, a momentum
    flip and 50 steps with the inputs reversed against the initial state (round-off only).
    """,
    references=(
        "L. Verlet, Phys. Rev. 159, 98 (1967)",
        "E. Hairer, C. Lubich, G. Wanner, Geometric Numerical Integration, Springer (2006)",
        "G. Pourcel, M. Ernoult, NeurIPS 2025, arXiv:2506.05259",
    ),
)

DERIVATIONS = [leapfrog_reversibility]
