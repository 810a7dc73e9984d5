"""Contract suite: every registered system, and every registered rule on every system whose
physics allows it. A new system or rule is tested by registering it (physlearn.registry)."""

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.nudges import Clamp, Nudge
from physlearn.registry import RULES, SYSTEMS, make_rule, make_system, rule_entry, system_entry


def implements(system, method):
    """True where the system defines ``method`` beyond the base-class stub."""
    from physlearn.system import EquilibriumSystem, System

    impl = getattr(type(system), method, None)
    return impl is not None and impl not in (getattr(EquilibriumSystem, method, None),
                                             getattr(System, method, None))


def needs(system, *methods):
    missing = [m for m in methods if not implements(system, m)]
    if missing:
        pytest.skip(f"{type(system).__name__} has no {missing}")


def problem(name):
    system = make_system(name, seed=0)
    x, y = system_entry(name).problem(system, seed=1)
    return system, x, y


def fd_grad(f, s, h=1e-6):
    """Central differences of a per-sample scalar function along each state component."""
    g = np.zeros(s.shape)
    for j in range(s.shape[1]):
        d = np.zeros_like(s)
        d[:, j] = h
        g[:, j] = (f(s + d) - f(s - d)) / (2 * h)
    return g


@pytest.mark.parametrize("name", sorted(SYSTEMS))
class TestSystemContract:
    def test_energy_gradient_matches_finite_differences(self, name):
        system, x, _ = problem(name)
        needs(system, "energy", "energy_gradient")
        state = system.equilibrium(x)
        s = state.s + 0.1 * np.random.default_rng(2).normal(size=state.s.shape)
        moved = system.with_s(state, s)
        fd = fd_grad(lambda t: system.energy(system.with_s(state, t)), s)
        np.testing.assert_allclose(system.energy_gradient(moved), fd, rtol=1e-6, atol=1e-8)

    def test_param_gradient_matches_finite_differences(self, name):
        system, x, _ = problem(name)
        needs(system, "energy", "param_gradient")
        state = system.equilibrium(x)
        measured = system.param_gradient(state)
        original = {k: v.copy() for k, v in system.params.items()}
        h = 1e-6
        for k, v in original.items():
            flat = v.ravel()
            for i in np.random.default_rng(3).choice(flat.size, min(flat.size, 8), replace=False):
                e = []
                for sign in (1, -1):
                    trial = {kk: vv.copy() for kk, vv in original.items()}
                    trial[k].ravel()[i] += sign * h
                    system._params = trial
                    e.append(system.energy(state))
                system._params = original
                np.testing.assert_allclose(measured[k].reshape(len(x), -1)[:, i],
                                           (e[0] - e[1]) / (2 * h), rtol=1e-5, atol=1e-9)

    @pytest.mark.parametrize("nudge", ["free", "soft", "clamp"])
    def test_equilibrium_residual_vanishes(self, name, nudge):
        system, x, y = problem(name)
        needs(system, "energy_gradient", "equilibrium")
        if nudge == "free":
            n = None
        elif nudge == "soft":
            n = Nudge(pl.SquaredError(), y, 0.5)
        else:
            if "clamp" not in system.capabilities:
                pytest.skip("system cannot clamp")
            n = Clamp(y)
        state = system.equilibrium(x, n)
        assert np.max(np.abs(system.residual(state))) < 1e-10
        if nudge == "clamp":
            np.testing.assert_allclose(system.outputs(state), y, atol=1e-12)

    def test_params_round_trip(self, name):
        system, x, _ = problem(name)
        before = system.predict(x)
        params = {k: v.copy() for k, v in system.params.items()}
        system.params = params
        for k in params:
            assert system.params[k].dtype == np.float64
            np.testing.assert_array_equal(system.params[k], params[k])
        rebuilt = type(system)(**system.get_params())
        rebuilt.params = params
        np.testing.assert_allclose(rebuilt.predict(x), before, rtol=1e-12, atol=1e-14)

    def test_params_reject_wrong_shape_and_nan(self, name):
        system, _, _ = problem(name)
        k, v = next(iter(system.params.items()))
        with pytest.raises(ValueError, match=k):
            system.params = {**system.params, k: np.zeros(v.size + 1)}
        bad = v.copy()
        bad.ravel()[0] = np.nan
        with pytest.raises(ValueError, match="non-finite"):
            system.params = {**system.params, k: bad}

    def test_inputs_of_wrong_shape_are_refused(self, name):
        system, x, _ = problem(name)
        with pytest.raises(ValueError, match="x"):
            system.predict(x[..., :-1])
        bad = np.array(x, dtype=float)
        bad.flat[0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            system.predict(bad)

    def test_exact_gradient_matches_finite_differences(self, name):
        system, x, y = problem(name)
        for cost in (pl.SquaredError(), pl.CrossEntropy()):
            ex = pl.exact_gradient(system, x, y, cost)
            fd = pl.finite_difference_gradient(system, x, y, cost, h=1e-6)
            assert relative_error(ex, fd) < 1e-6


PAIRS = [(s, r) for s in sorted(SYSTEMS) for r in sorted(RULES)]


@pytest.mark.parametrize("system_name,rule_name", PAIRS)
class TestRuleContract:
    def test_gradient_keys_and_shapes(self, system_name, rule_name):
        system, x, y = problem(system_name)
        rule = make_rule(rule_name)
        if not rule.applies_to(system):
            with pytest.raises(ValueError, match="needs"):
                rule.gradient(system, x, y)
            return
        g = rule.gradient(system, x, y)
        assert set(g) == set(system.params)
        for k in g:
            assert g[k].shape == system.params[k].shape and g[k].dtype == np.float64

    def test_matches_exact_reference(self, system_name, rule_name):
        system, x, y = problem(system_name)
        rule, entry = make_rule(rule_name), rule_entry(rule_name)
        if not rule.applies_to(system) or rule.bias_order is None:
            pytest.skip("no gradient-estimator claim for this pair")
        rule.set_params(**{entry.param: min(entry.betas)})
        err = relative_error(rule.gradient(system, x, y), pl.exact_gradient(system, x, y))
        assert err < entry.tolerance

    def test_measured_bias_order(self, system_name, rule_name):
        system, x, y = problem(system_name)
        rule, entry = make_rule(rule_name), rule_entry(rule_name)
        if not rule.applies_to(system) or rule.bias_order is None:
            pytest.skip("no bias-order claim for this pair")
        measured = pl.bias_order(system, rule, x, y, entry.betas, param=entry.param)
        assert abs(measured.slope - rule.bias_order) < 0.15, str(measured)

    def test_small_step_lowers_the_cost(self, system_name, rule_name):
        system, x, y = problem(system_name)
        rule = make_rule(rule_name)
        if not rule.applies_to(system):
            pytest.skip("rule does not apply")
        g = rule.gradient(system, x, y)
        before = pl.loss(system, x, y)
        norm = np.sqrt(sum(np.sum(v * v) for v in g.values()))
        system.params = {k: v - 1e-3 * g[k] / norm for k, v in system.params.items()}
        assert pl.loss(system, x, y) < before
