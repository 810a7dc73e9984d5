"""The two tutorials run as written and build what they promise.

Each page's ``python`` blocks run in order in one fresh namespace (working directory a
temporary folder, Agg backend), as a reader following the page would run them. Then, without
trusting what the page prints:

* write-your-own-system: the page defines a subclass of ``physlearn.EquilibriumSystem`` and
  an instance of it that passes every check of ``physlearn.testing.check_system`` on a
  problem drawn here; a copy with a wrong local measurement fails (negative control);
* write-your-own-rule: the page defines a subclass of ``physlearn.Rule`` whose bias order,
  measured here on a resistor network the page did not use, is within 0.5 of 4; centered EP,
  measured the same way, is not (negative control).

Registrations the pages make are undone afterwards, so that the rest of the suite sees the
built-in registry only.
"""

import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import physlearn
from physlearn import registry, testing
from physlearn.systems import ResistorNetwork

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NAMESPACE = "__tutorial__"


def run_page(name, folder):
    """Execute every python block of ``docs/tutorials/<name>`` in one fresh namespace."""
    page = TUTORIALS / name
    blocks = BLOCK.findall(page.read_text())
    assert blocks, f"{page.relative_to(ROOT)} has no python blocks"
    namespace = {"__name__": NAMESPACE}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("MPLBACKEND", "Agg")
        matplotlib.use("Agg")
        for number, code in enumerate(blocks, start=1):
            try:
                exec(compile(code, f"{name}, block {number}", "exec"), namespace)
            except Exception as error:
                raise AssertionError(f"{page.relative_to(ROOT)}: block {number} raised "
                                     f"{type(error).__name__}: {error}\n{code}") from error
    return namespace


@pytest.fixture(scope="module", autouse=True)
def registry_restored():
    """Undo the pages' register_system / register_rule calls after this module."""
    saved = {kind: dict(table) for kind, table in registry.TABLES.items()}
    yield
    for kind, table in registry.TABLES.items():
        table.clear()
        table.update(saved[kind])


def defined_subclasses(namespace, base):
    """Classes the page itself defines (not imported) that subclass ``base``."""
    return [value for value in namespace.values()
            if isinstance(value, type) and issubclass(value, base) and value is not base
            and value.__module__ == NAMESPACE]


@pytest.fixture(scope="module")
def system_page(tmp_path_factory):
    return run_page("write-your-own-system.md", tmp_path_factory.mktemp("system"))


@pytest.fixture(scope="module")
def rule_page(tmp_path_factory):
    return run_page("write-your-own-rule.md", tmp_path_factory.mktemp("rule"))


def problem(system, seed, batch=5):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(batch, system.n_features)),
            0.3 * rng.normal(size=(batch, system.n_outputs)))


def the_system(namespace):
    classes = defined_subclasses(namespace, physlearn.EquilibriumSystem)
    assert classes, "the page defines no subclass of physlearn.EquilibriumSystem"
    instances = [value for value in namespace.values() if isinstance(value, tuple(classes))]
    assert instances, f"the page builds no instance of {[c.__name__ for c in classes]}"
    return classes, instances


def test_system_page_passes_every_check(system_page):
    classes, instances = the_system(system_page)
    for system in instances + [cls() for cls in classes]:
        x, y = problem(system, seed=11)
        report = testing.check_system(system, x, y)
        assert set(report) == set(testing.SYSTEM_CHECKS), report
        assert all(status == "passed" for status in report.values()), \
            f"{type(system).__name__}: not every check passed: {report}"


def test_system_checks_catch_a_wrong_measurement(system_page):
    classes, _ = the_system(system_page)

    class Wrong(classes[0]):
        def param_gradient(self, state):       # twice the true ∂E/∂θ
            return {k: 2 * v for k, v in super().param_gradient(state).items()}

    system = Wrong()
    x, y = problem(system, seed=11)
    with pytest.raises(AssertionError, match="param_gradient"):
        testing.check_system(system, x, y)


def measured_order(rule):
    """Bias order of ``rule`` on a resistor network and problem the rule page does not use,
    at strengths scaled to the network's radius of convergence 1/λ_max(R): large enough that
    the bias is far above round-off, small enough that the leading term dominates."""
    net = ResistorNetwork.layered([2, 7, 3], seed=5)
    x, y = problem(net, seed=7, batch=6)
    betas = net.convergence_radius() * np.array([1 / 8, 1 / 16, 1 / 32, 1 / 64])
    return physlearn.bias_order(net, rule, x, y, betas).slope


def test_rule_page_bias_order_is_four(rule_page):
    classes = defined_subclasses(rule_page, physlearn.Rule)
    assert classes, "the page defines no subclass of physlearn.Rule"
    for cls in classes:
        slope = measured_order(cls())
        assert abs(slope - 4) < 0.5, f"{cls.__name__}: measured bias order {slope:.3f}, not 4"


def test_bias_order_measurement_tells_orders_apart():
    slope = measured_order(physlearn.EP(variant="centered"))
    assert abs(slope - 2) < 0.5, f"centered EP measured at {slope:.3f}, expected 2"
