"""A method missing in one's own subclass names itself, its base class and what it must return."""

import pytest

import physlearn as pl
from physlearn.costs import Cost
from physlearn.systems.leapfrog import SeparableHamiltonian
from physlearn.systems.trajectory import TrajectorySystem


class Bare(pl.EquilibriumSystem):
    pass


class BareRule(pl.Rule):
    pass


class BareCost(Cost):
    pass


class BareHamiltonian(SeparableHamiltonian):
    pass


class BareTrajectory(TrajectorySystem):
    pass


CASES = [
    (Bare, "EquilibriumSystem", "equilibrium", (None,), "a State"),
    (Bare, "EquilibriumSystem", "outputs", (None,), "shape (batch, n_outputs)"),
    (Bare, "EquilibriumSystem", "param_gradient", (None,), "dict name"),
    (Bare, "EquilibriumSystem", "energy", (None,), "shape (batch,)"),
    (Bare, "EquilibriumSystem", "energy_gradient", (None,), "(batch, n_state)"),
    (Bare, "EquilibriumSystem", "output_vjp", (None, None), "shape like state.s"),
    (Bare, "EquilibriumSystem", "adjoint", (None, None), "shape like rhs"),
    (Bare, "EquilibriumSystem", "mixed_vjp", (None, None), "dict name"),
    (BareRule, "Rule", "per_sample_gradient", (None, None, None, None), "per-sample"),
    (BareCost, "Cost", "value", (None, None), "shape (batch,)"),
    (BareCost, "Cost", "gradient", (None, None), "∂C/∂o"),
    (BareCost, "Cost", "hessian", (None, None), "∂²C/∂o²"),
    (BareHamiltonian, "SeparableHamiltonian", "potential", (None, None, None), "V(q, u)"),
    (BareHamiltonian, "SeparableHamiltonian", "potential_grad", (None, None, None), "∇_q V"),
    (BareHamiltonian, "SeparableHamiltonian", "param_shapes", (), "shape"),
    (BareTrajectory, "TrajectorySystem", "blocks", (), "(unit, prefix)"),
]


@pytest.mark.parametrize("cls, base, method, args, returns", CASES,
                         ids=[f"{c[0].__name__}.{c[2]}" for c in CASES])
def test_missing_method_names_itself(cls, base, method, args, returns):
    obj = object.__new__(cls)       # no __init__: the base classes need no state to refuse
    with pytest.raises(NotImplementedError) as info:
        getattr(obj, method)(*args)
    message = str(info.value)
    assert message.startswith(f"{cls.__name__}.{method} is not implemented: a subclass of {base}")
    assert returns in message
