"""Contract suite: every registered system, and every registered rule on every registered system.

Built on :mod:`physlearn.testing` and parametrised over the registry (physlearn.registry): a
new system or rule is tested by registering it. Each system check runs on the registry's
default instance and example problem; each pair is checked against the rule's declared claim
(bias order and tolerance, exact at every strength, the exact reference, biased by design, or
shapes only on a stochastic system); a rule on a system it does not apply to must refuse.
"""

import pytest

from physlearn import testing
from physlearn.derivations import DERIVATIONS
from physlearn.registry import RULES, SYSTEMS, make_rule, make_system, system_entry

SYSTEM_CHECKS = list(testing.SYSTEM_CHECKS)
PAIRS = [(s, r) for s in sorted(SYSTEMS) for r in sorted(RULES)]


def skip_unavailable(name):
    """Skip a system whose external program (``requires``, e.g. ngspice) is missing."""
    reason = testing.missing_requirements(name)
    if reason:
        pytest.skip(reason)


def problem(name, seed=0):
    skip_unavailable(name)
    system = make_system(name, seed=seed)
    x, y = system_entry(name).problem(system, seed=seed + 1)
    return system, x, y


@pytest.mark.parametrize("check", SYSTEM_CHECKS)
@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_system_contract(name, check):
    system, x, y = problem(name)
    status = testing.check_system(system, x, y, stochastic=system_entry(name).stochastic,
                                  checks=[check])
    if status[check].startswith("skipped"):
        pytest.skip(status[check])


@pytest.mark.parametrize("system_name,rule_name", PAIRS)
def test_rule_contract(system_name, rule_name):
    skip_unavailable(system_name)
    result = testing.check_pair(system_name, rule_name)
    if not result.applicable:
        # the rule must refuse a system that lacks what it needs, with a clear message
        assert not result.failures(), result.report()
        return
    assert result.passed, result.report()


def test_every_registered_rule_and_system_is_reached():
    covered = testing.pairs()
    assert {s for s, _, _ in covered} == {s for s in SYSTEMS
                                          if not testing.missing_requirements(s)}
    assert {r for _, r, _ in covered} == set(RULES)


@pytest.mark.parametrize("name", sorted(RULES))
def test_declared_claims_are_consistent(name):
    rule, entry = make_rule(name), RULES[name]
    if rule.bias_order is not None and not getattr(rule, "is_reference", False):
        assert len(entry.betas) >= 2, f"{name} declares bias order {rule.bias_order} but the " \
                                      "registry gives no strengths to measure it over"
        assert hasattr(rule, entry.param), f"{name} has no hyperparameter {entry.param!r}"


@pytest.mark.parametrize("name", sorted(DERIVATIONS))
def test_derivation_contract(name):
    """Every theorem holds symbolically and agrees with the code it names (``implements``)."""
    ok, report = testing.check_derivation(name)
    assert ok, report
