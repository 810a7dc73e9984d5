"""Symbolic derivations of the theorems the learning rules rely on (``physlearn.derivations``).

Each derivation is a function returning a dict ``{statement: sympy expression}``; every
expression is an identity rearranged to ``lhs − rhs`` and must simplify to zero. The math is in
each function's Notes. :data:`DERIVATIONS` registers them by name, :data:`CONTROLS` registers
deliberately wrong statements (which must *not* vanish, so the checks can fail), and
:func:`verify` checks them.

Modules
-------
ep_identity
    ``dL/dθ = d/dβ|₀ ∂E/∂θ(s_β)``: quadratic energies in closed form, and any smooth energy.
bias
    Taylor-series bias of positive, negative, centered EP and of the N-point Cauchy estimator.
resistor
    Kirchhoff ⇔ stationarity of the co-content, ``∂E/∂g = ½ΔV²``, nudge = current injection,
    Tellegen, exact gradient = centered-EP limit, the pole of the nudged output at ``−1/R``.
coupled
    Coupled learning vs contrastive learning vs EP on a small circuit.

Examples
--------
>>> from physlearn import derivations
>>> derivations.verify("bias.centered")
{'bias.centered': True}
"""

from __future__ import annotations

from . import bias, coupled, ep_identity, resistor
from ._algebra import is_zero, witness

__all__ = ["DERIVATIONS", "CONTROLS", "verify", "check", "is_zero", "witness"]

DERIVATIONS = {
    "ep_identity.quadratic_energy": ep_identity.quadratic_energy,
    "ep_identity.quadratic_energy_3x3_output": lambda: ep_identity.quadratic_energy(
        n=3, cost="output"),
    "ep_identity.general_energy": ep_identity.general_energy,
    "bias.one_sided": bias.one_sided,
    "bias.centered": bias.centered,
    "bias.cauchy": bias.cauchy,
    "bias.conjugate_folding": bias.conjugate_folding,
    "resistor.kirchhoff": resistor.kirchhoff,
    "resistor.cocontent_gradient": resistor.cocontent_gradient,
    "resistor.current_injection": resistor.current_injection,
    "resistor.power_balance": resistor.power_balance,
    "resistor.ep_gradient": resistor.ep_gradient,
    "resistor.output_pole": resistor.output_pole,
    "coupled.coupled_equals_contrastive": coupled.coupled_equals_contrastive,
    "coupled.clamp_is_nudge": coupled.clamp_is_nudge,
    "coupled.small_eta_limit": coupled.small_eta_limit,
    "coupled.contrastive_is_infinite_nudge": coupled.contrastive_is_infinite_nudge,
}
"""Name → derivation; each returns ``{statement: expression}`` with every expression zero."""

CONTROLS = {
    "ep_identity": ep_identity.negative_controls,
    "bias": bias.negative_controls,
    "resistor": resistor.negative_controls,
    "coupled": coupled.negative_controls,
}
"""Module → negative controls; each returns ``{statement: expression}``, every one NON-zero."""


def check(name):
    """Check one derivation statement by statement.

    Parameters
    ----------
    name : str
        A key of :data:`DERIVATIONS`.

    Returns
    -------
    dict of str → bool
        Statement → whether its expression simplifies to zero.
    """
    if name not in DERIVATIONS:
        raise KeyError(f"unknown derivation {name!r}; known: {sorted(DERIVATIONS)}")
    return {statement: is_zero(expr) for statement, expr in DERIVATIONS[name]().items()}


def verify(name=None):
    """Verify derivations: every returned expression simplifies to zero.

    Parameters
    ----------
    name : str, optional
        A key of :data:`DERIVATIONS`; default: all of them (about 20 s).

    Returns
    -------
    dict of str → bool
        Derivation name → True if all its statements hold.
    """
    names = sorted(DERIVATIONS) if name is None else [name]
    return {n: all(check(n).values()) for n in names}
