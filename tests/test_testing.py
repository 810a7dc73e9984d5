"""physlearn.testing on users' own systems and rules, and scikit-learn's clone on the registry."""

import dataclasses

import networkx as nx
import numpy as np
import pytest
from sklearn.base import clone

import physlearn as pl
from physlearn import testing
from physlearn.nudges import Clamp, Nudge
from physlearn.registry import COSTS, OPTIMIZERS, RULES, SYSTEMS
from physlearn.system import EquilibriumSystem, State


# -- a user's own system: a chain of springs with a quadratic energy ---------------------------
class SpringChain(EquilibriumSystem):
    """``E = ½ Σ a_i s_i² + ½ Σ k_e (s_{i+1} − s_i)² − sᵀ U x``; the last node is the output."""

    def __init__(self, n_state=4, n_features=2, *, seed=0):
        self.n_state = n_state
        self.n_features = n_features
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.n_outputs = 1
        self.output_index = np.array([n_state - 1])
        self._D = np.diff(np.eye(n_state), axis=0)  # (n−1, n): s_{i+1} − s_i
        self.params = {"a": rng.uniform(0.5, 1.5, n_state),
                       "k": rng.uniform(0.5, 1.5, n_state - 1),
                       "U": rng.normal(size=(n_state, n_features))}

    @property
    def param_shapes(self):
        return {"a": (self.n_state,), "k": (self.n_state - 1,),
                "U": (self.n_state, self.n_features)}

    def hessian(self):
        p = self.params
        return np.diag(p["a"]) + self._D.T @ (p["k"][:, None] * self._D)

    def energy(self, state):
        s, p = state.s, self.params
        stretch = s @ self._D.T
        return (0.5 * s**2 @ p["a"] + 0.5 * stretch**2 @ p["k"]
                - np.sum(s * (state.x @ p["U"].T), axis=1))

    def energy_gradient(self, state):
        return state.s @ self.hessian() - state.x @ self.params["U"].T

    def param_gradient(self, state):
        s = state.s
        return {"a": 0.5 * s**2, "k": 0.5 * (s @ self._D.T) ** 2,
                "U": -s[:, :, None] * state.x[:, None, :]}

    def outputs(self, state):
        return state.s[:, self.output_index]

    def output_vjp(self, state, g_out):
        g = np.zeros(state.s.shape, dtype=np.result_type(g_out, float))
        g[:, self.output_index] = g_out
        return g

    def adjoint(self, state, rhs):
        return np.linalg.solve(self.hessian(), rhs.T).T

    def mixed_vjp(self, state, lam):
        s = state.s
        return {"a": lam * s, "k": (lam @ self._D.T) * (s @ self._D.T),
                "U": -lam[:, :, None] * state.x[:, None, :]}

    def equilibrium(self, x, nudge=None, start=None):
        x = self.check_inputs(x)
        self.check_nudge(nudge)
        H, force = self.hessian(), x @ self.params["U"].T
        if isinstance(nudge, Clamp):
            out = self.output_index
            free = np.setdiff1d(np.arange(self.n_state), out)
            s = np.zeros((len(x), self.n_state))
            s[:, out] = nudge.values
            rhs = force[:, free] - s[:, out] @ H[np.ix_(out, free)]
            s[:, free] = np.linalg.solve(H[np.ix_(free, free)], rhs.T).T
            return State(s, x, nudge)
        s = np.linalg.solve(H, force.T).T
        if isinstance(nudge, Nudge):  # Newton on E + βC (one step for a quadratic cost)
            for _ in range(50):
                state = State(s, x, nudge)
                r = self.residual(state)
                if np.max(np.abs(r)) < 1e-13:
                    break
                o = self.outputs(state)
                K = np.broadcast_to(H, (len(x),) + H.shape).copy()
                K[:, -1:, -1:] += nudge.stiffness(o)
                s = s - np.linalg.solve(K, r[..., None])[..., 0]
        return State(s, x, nudge)


class WrongSignSpringChain(SpringChain):
    """A deliberately broken system: the measurement of ``a`` has the wrong sign."""

    def param_gradient(self, state):
        g = super().param_gradient(state)
        g["a"] = -g["a"]
        return g


class WrongEP(pl.EP):
    """A deliberately broken rule: EP with the sign of the contrast flipped."""

    def per_sample_gradient(self, system, x, y, cost):
        return {k: -v for k, v in super().per_sample_gradient(system, x, y, cost).items()}


def toy_problem(system, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(5, system.n_features)), 0.3 * rng.normal(size=(5, 1))


# -- check_system --------------------------------------------------------------------------------
def test_a_users_system_passes_check_system():
    system = SpringChain()
    status = testing.check_system(system, *toy_problem(system))
    assert all(s == "passed" for s in status.values()), status


def test_a_wrong_sign_param_gradient_fails_check_system_naming_the_check():
    system = WrongSignSpringChain()
    with pytest.raises(AssertionError, match=r"param_gradient") as err:
        testing.check_system(system, *toy_problem(system))
    assert str(err.value).splitlines()[0].endswith("failed param_gradient")  # only that one


def test_stochastic_systems_skip_tolerance_checks():
    system = SpringChain()
    status = testing.check_system(system, *toy_problem(system), stochastic=True)
    assert status["exact_gradient"].startswith("skipped")
    assert status["params_round_trip"] == "passed"


# -- check_rule ----------------------------------------------------------------------------------
def test_check_rule_on_a_users_system():
    system = SpringChain()
    results = testing.check_rule(pl.EP(beta=1e-3, variant="centered"), system,
                                 *toy_problem(system))
    assert results[0].bias is not None  # a registered rule: the bias order was measured
    assert abs(results[0].bias.slope - 2) < 0.15


def test_check_rule_fails_for_a_wrong_gradient():
    system = SpringChain()
    with pytest.raises(AssertionError, match="error_vs_reference"):
        testing.check_rule(WrongEP(beta=1e-3), system, *toy_problem(system))


def test_check_rule_without_a_system_runs_on_every_registered_system():
    results = testing.check_rule(pl.EP(beta=1e-3, variant="centered"))
    runnable = {name for name in SYSTEMS if testing.missing_requirements(name) is None}
    assert {r.system for r in results} == runnable   # those needing a missing program skip
    assert all(r.passed for r in results if r.applicable)
    assert any(not r.applicable for r in results)  # refusals are checked too


# -- check_pair, check_all, pairs ----------------------------------------------------------------
def test_check_pair_reports_the_claim_and_the_reference():
    result = testing.check_pair("resistor", "ep-centered")
    assert result.passed
    text = result.report()
    assert "PASS" in text and "declared bias order 2" in text
    assert "exact_gradient" in text and "implicit differentiation" in text.lower()


@pytest.mark.parametrize("system,rule,phrase", [
    ("hru-linear", "rhel", "exact at every strength"),
    ("coupled-oscillators", "rhel", "exact at every strength"),
    ("hssm", "bptt", "finite differences"),
    ("elastic", "contrastive", "biased by design"),
    ("spin-chain-tfim", "ep-centered", "Linear-response"),
])
def test_check_pair_says_what_it_checked(system, rule, phrase):
    result = testing.check_pair(system, rule)
    assert result.passed, result.report()
    assert phrase in result.report()


def test_check_pair_of_an_inapplicable_pair_and_unknown_names():
    result = testing.check_pair("resistor", "rhel")
    assert not result.applicable and not result.passed and not result.failures()
    with pytest.raises(ValueError, match="unknown rule"):
        testing.check_pair("resistor", "ep-sideways")


def test_pairs_and_check_all():
    listed = testing.pairs()
    assert listed and all(len(p) == 3 for p in listed)
    report = testing.check_all(progress=False)
    assert report.passed, str(report)
    assert len([r for r in report.results.values() if r.applicable]) == len(listed)
    text = str(report)
    rows = [line.split() for line in text.splitlines() if line.split()[:1] == ["resistor"]]
    assert rows and "biased" in rows[0] and "–" in rows[0] and "FAIL" not in rows[0]
    assert f"{len(listed)} applicable pairs" in text and " 0 FAIL" in text


# -- scikit-learn's clone ------------------------------------------------------------------------
def _equal(a, b):
    if isinstance(a, nx.Graph):
        return nx.utils.graphs_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k])
                                                                     for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(_equal(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if hasattr(a, "get_params") and not isinstance(a, type):
        return type(a) is type(b) and _equal(a.get_params(deep=False), b.get_params(deep=False))
    return a == b


ENTRIES = [(reg.kind, name) for reg in (SYSTEMS, RULES, COSTS, OPTIMIZERS) for name in sorted(reg)]


@pytest.mark.parametrize("kind,name", ENTRIES)
def test_sklearn_clone_of_every_registered_default(kind, name):
    registry = {"system": SYSTEMS, "rule": RULES, "cost": COSTS, "optimizer": OPTIMIZERS}[kind]
    entry = registry[name]
    if kind == "system" and testing.missing_requirements(name):
        pytest.skip(testing.missing_requirements(name))
    original = entry.build(seed=0) if kind == "system" else entry.build()
    copy = clone(original)
    assert type(copy) is type(original)
    assert _equal(original.get_params(deep=False), copy.get_params(deep=False))


def test_sklearn_clone_of_a_users_system():
    system = SpringChain(n_state=np.int64(5))
    assert clone(system).get_params(deep=False) == system.get_params(deep=False)
