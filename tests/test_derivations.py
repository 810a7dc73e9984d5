"""Symbolic derivations: every statement simplifies to zero, every negative control does not."""

import pytest
import sympy as sp

from physlearn import derivations
from physlearn.derivations import CONTROLS, DERIVATIONS, is_zero, witness


@pytest.mark.parametrize("name", sorted(DERIVATIONS))
def test_derivation_holds(name):
    statements = DERIVATIONS[name]()
    assert statements, f"{name} returned no statements"
    failed = [s for s, expr in statements.items() if not is_zero(expr)]
    assert not failed, f"{name}: statements not zero: {failed}"


@pytest.mark.parametrize("module", sorted(CONTROLS))
def test_negative_controls_fail(module):
    """A wrong sign, factor or estimator must give a non-zero expression (the checks can fail).

    ``witness`` evaluates at a random rational point: a non-zero value proves the expression is
    not identically zero, independently of ``simplify``.
    """
    controls = CONTROLS[module]()
    assert controls
    for statement, expr in controls.items():
        assert not is_zero(expr), f"{module}.{statement} unexpectedly simplifies to zero"
        assert witness(expr) != 0, f"{module}.{statement} vanishes at the witness point"


def test_every_module_has_derivations_and_controls():
    modules = {name.split(".")[0] for name in DERIVATIONS}
    assert modules == set(CONTROLS) == {"ep_identity", "bias", "resistor", "coupled"}


def test_is_zero_decides_simple_cases():
    x, y = sp.symbols("x y")
    assert is_zero((x + y) ** 2 - x**2 - 2 * x * y - y**2)
    assert is_zero(1 / (x - 1) - 1 / (x - 1))
    assert is_zero(sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1)              # via simplify
    assert is_zero(sp.Matrix([x - x, (1 + sp.sqrt(3)) * (1 - sp.sqrt(3)) + 2]))
    assert not is_zero(x / (x + 1))
    assert not is_zero(sp.Matrix([0, x]))


def test_verify_reports_by_name():
    assert derivations.verify("bias.centered") == {"bias.centered": True}
    with pytest.raises(KeyError, match="unknown derivation"):
        derivations.verify("bias.nonexistent")
