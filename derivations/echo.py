"""Derivations behind Hamiltonian echo learning (RHEL): the echo's contrast equals
backpropagation through time of the leapfrog map.

For a linear Hamiltonian recurrent unit the whole computation is polynomial in its symbols: a
few leapfrog steps of the free run, the loss, its exact gradient (BPTT is the derivative of the
discrete map, here taken by sympy), and the nudged, time-reversed echo.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._derivation import Derivation, Step

__all__ = ["DERIVATIONS", "rhel_bptt_linear"]

N_STEPS = 3


def _leapfrog(q, p, u, A, B, dt):
    """One drift–kick–drift step of ``H = ½p² + ½Aq² − Bqu``; returns ``(q', p', a)`` with
    ``a`` the half-step position where the force (and the read-out) is evaluated."""
    a = q + dt / 2 * p
    p_new = p - dt * (A * a - B * u)
    return a + dt / 2 * p_new, p_new, a


def _hru(n_steps=N_STEPS):
    """Symbols, loss, BPTT gradient and echo read-outs of a one-oscillator linear HRU."""
    A, B, C, d, y, dt, eps = sp.symbols("A B C d y delta epsilon", real=True)
    u = sp.symbols(f"u_0:{n_steps}", real=True)
    theta = (A, B)
    q, p = sp.Integer(0), sp.Integer(0)                  # every block starts at rest
    for k in range(n_steps):
        q, p, _ = _leapfrog(q, p, u[k], A, B, dt)
    q_final = sp.Symbol("q_K", real=True)
    cost = (C * q_final + d - y) ** 2 / 2
    loss = cost.subs(q_final, q)
    g = sp.diff(cost, q_final).subs(q_final, q)           # ∂L/∂q_K, the echo's nudge
    bptt = sp.Matrix([sp.diff(loss, th) for th in theta])

    # Echo: flip the momentum, nudge it by ε ∂L/∂q_K, replay the inputs backwards and
    # integrate the half-step read-out δ ∂V/∂θ(a) = δ (½a², −a u).
    qe, pe = q, -p + eps * g
    measure = sp.zeros(2, 1)
    for k in reversed(range(n_steps)):
        qe, pe, a = _leapfrog(qe, pe, u[k], A, B, dt)
        measure += dt * sp.Matrix([a**2 / 2, -a * u[k]])
    return dict(A=A, B=B, C=C, d=d, y=y, dt=dt, eps=eps, u=u, loss=loss, bptt=bptt,
                measure=measure, echo_end=sp.Matrix([qe, pe]))


def _build_rhel():
    s = _hru()
    eps, measure, bptt, end = s["eps"], s["measure"], s["bptt"], s["echo_end"]
    at = lambda e: measure.subs(eps, e)  # noqa: E731
    centered = -(at(eps) - at(-eps)) / (2 * eps)
    one_sided = -(at(eps) - at(0)) / eps
    return {
        "assumptions": [
            ("one unit-mass oscillator, H = ½p² + ½Aq² − Bqu_k, leapfrog (drift–kick–drift) "
             f"with step δ over {N_STEPS} inputs u_k, starting at rest", None),
            ("final read-out o = Cq_K + d, squared error L = ½(o − y)²", None),
            ("nudge strength ε ≠ 0", sp.Ne(eps, 0)),
        ],
        "steps": [
            Step("time reversal: the un-nudged echo (ε = 0) ends at the flipped initial state, "
                 "the rest state", end.subs(eps, 0)),
            Step("the echo is affine in ε (linear dynamics): its second derivative in ε is 0",
                 sp.diff(end, eps, 2)),
            Step("the one-sided contrast −(m(ε) − m(0))/ε is BPTT up to O(ε)",
                 one_sided - bptt, series=(eps, 1)),
        ],
        "statement": Step("the centered echo contrast −(m(+ε) − m(−ε))/2ε equals the BPTT "
                          "gradient (dL/dA, dL/dB) exactly, for every ε", centered - bptt),
    }


def _numeric_rhel(rng):
    from physlearn.costs import SquaredError
    from physlearn.rules.echo import RHEL
    from physlearn.systems.hru import HRU

    s = _hru()
    args = (s["A"], s["B"], s["C"], s["d"], s["y"], s["dt"], *s["u"])
    grad = sp.lambdify(args, s["bptt"], "numpy")
    A, B, C, d = rng.uniform(0.5, 1.5), rng.normal(), rng.normal(), rng.normal()
    dt, y, u = 0.3, rng.normal(), rng.normal(size=N_STEPS)
    net = HRU(1, 1, 1, kind="linear", dt=dt, seed=0)
    net.params = {"A": np.array([A]), "B": np.array([[B]]), "C": np.array([[C]]),
                  "d": np.array([d])}
    g = RHEL(eps=0.5).gradient(net, u.reshape(1, N_STEPS, 1), np.array([[y]]), SquaredError())
    derived = np.ravel(grad(A, B, C, d, y, dt, *u))
    return derived, np.array([g["A"][0], g["B"][0, 0]])


rhel_bptt_linear = Derivation(
    name="rhel_bptt_linear",
    title="RHEL's centered echo contrast equals BPTT for a linear HRU, exactly at every ε "
          f"({N_STEPS} symbolic leapfrog steps)",
    build=_build_rhel,
    implements="physlearn.rules.echo:RHEL.gradient",
    numeric=_numeric_rhel,
    tolerance=1e-10,
    notes="""
        A linear Hamiltonian recurrent unit (one oscillator, ``V = ½Aq² − Bqu``) is integrated
        by leapfrog from rest over three symbolic inputs; the squared error of a linear read-out
        of the final position is the loss, and its derivative in (A, B) — sympy's derivative of
        the discrete map, i.e. backpropagation through time — is the reference. The echo flips
        the final momentum, adds ``ε ∂L/∂q_K`` to it, replays the inputs backwards with the same
        leapfrog map and integrates the half-step read-out ``δ ∂V/∂θ``. Leapfrog is
        time-reversible, so without the nudge the echo retraces the run to the rest state; the
        dynamics are linear, so the echo is affine in ε and the read-out quadratic. Hence the
        centered contrast ``−(m(+ε) − m(−ε))/2ε`` equals BPTT for every ε, not only as ε → 0,
        while the one-sided contrast is BPTT only to first order (its O(ε) term does not vanish
        in general). The numerical check runs ``RHEL(eps=0.5)`` (a large nudge, to test the
        exactness) on a one-oscillator ``HRU(kind="linear")`` and compares with the lambdified
        gradient.
    """,
    references=("G. Pourcel, M. Ernoult, \"Learning long range dependencies through time "
                "reversal symmetry breaking\", NeurIPS 2025, arXiv:2506.05259",
                "V. López-Pastor, F. Marquardt, \"Self-learning machines based on Hamiltonian "
                "echo backpropagation\", Phys. Rev. X 13, 031020 (2023)"),
)


DERIVATIONS = [rhel_bptt_linear]
