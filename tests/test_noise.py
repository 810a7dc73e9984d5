"""Noise wrappers (physlearn.noise): exact pass-through at zero noise, measured effects with
noise on.

Statistical tolerances: a sample variance of N independent Gaussian draws has relative
standard deviation sqrt(2/N); a mean of N draws has standard error s/sqrt(N). Every check
below allows 5 such standard deviations (a false failure rate < 1e-6 per check) unless stated.
"""

import numpy as np
import pytest

from physlearn import EP, RHEL, ContinualEP, GeneralizedEP, noise, testing
from physlearn.registry import SYSTEMS, make_system, system_entry

WRAPPERS = {
    "measurement": lambda s: noise.MeasurementNoise(s, std=0.0),
    "readout": lambda s: noise.ReadoutNoise(s, std=0.0),
    "relaxation": lambda s: noise.RelaxationNoise(s, temperature=0.0),
    "device": lambda s: noise.DeviceVariability(s, level=0.0),
    "quantised": lambda s: noise.QuantisedUpdates(s, levels=None),
}
# the slow registered systems (QuTiP, many relaxations) are checked under -m slow
FAST = ["resistor", "resistor-layered", "diode-layered", "vector-field", "ising-exact",
        "elastic", "hru-linear", "phase-oscillators"]


def problem(name, seed=0):
    reason = testing.missing_requirements(name)
    if reason:
        pytest.skip(reason)
    system = make_system(name, seed=seed)
    x, y = system_entry(name).problem(system, seed=seed + 1)
    return system, x, y


def rule_for(system):
    caps = set(system.capabilities)
    if "soft_nudge" in caps:
        return EP(beta=1e-3, variant="centered")
    if "vector_field" in caps:
        return GeneralizedEP(beta=1e-3, points=2)
    if "echo" in caps:
        return RHEL(eps=1e-3)
    return None


def _zero_noise_identical(name, wrapper):
    system, x, y = problem(name)
    rule = rule_for(system)
    if rule is None:
        pytest.skip(f"no EP-family rule applies to {name}")
    bare = rule.gradient(system, x, y)
    wrapped = WRAPPERS[wrapper](system)
    assert wrapped.params is system.params
    # noise on the relaxation or the outputs withdraws "step": the one-step map would skip it
    skips = {"equilibrium", "outputs"} & set(wrapped._noisy_methods)
    assert wrapped.capabilities == system.capabilities - ({"step"} if skips else set())
    got = rule.gradient(wrapped, x, y)
    assert set(got) == set(bare)
    for k in bare:
        np.testing.assert_array_equal(got[k], bare[k], err_msg=f"{name} {wrapper} {k}")


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
@pytest.mark.parametrize("name", FAST)
def test_zero_noise_gives_identical_gradients(name, wrapper):
    _zero_noise_identical(name, wrapper)


@pytest.mark.slow
@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
@pytest.mark.parametrize("name", sorted(set(SYSTEMS) - set(FAST)))
def test_zero_noise_gives_identical_gradients_everywhere(name, wrapper):
    _zero_noise_identical(name, wrapper)


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
@pytest.mark.parametrize("name", ["resistor-layered", "vector-field", "ising-exact",
                                  "hru-linear"])
def test_contract_suite_at_zero_noise(name, wrapper):
    """check_system passes on the wrapped system, with the bare system's skips."""
    system, x, y = problem(name)
    stochastic = system_entry(name).stochastic
    bare = testing.check_system(system, x, y, stochastic=stochastic)
    wrapped = testing.check_system(WRAPPERS[wrapper](system), x, y, stochastic=stochastic)
    assert [k for k, v in wrapped.items() if v == "passed"] == \
        [k for k, v in bare.items() if v == "passed"]


def test_rebuild_from_get_params():
    net = make_system("resistor-layered")
    for w in (noise.MeasurementNoise(net, std=0.1, seed=3),
              noise.DeviceVariability(net, level=0.2, seed=4, distribution="lognormal")):
        rebuilt = type(w)(**w.get_params(deep=False))
        assert rebuilt.get_params(deep=False) == w.get_params(deep=False)
    w = noise.DeviceVariability(net, level=0.2, seed=4)
    np.testing.assert_array_equal(type(w)(**w.get_params(deep=False)).factor["conductance"],
                                  w.factor["conductance"])


def test_continual_ep_refuses_noise_its_steps_would_skip():
    # the one-step map runs on the wrapped physics: noise in the relaxation or the read-out
    # would be skipped by continual EP's nudged steps, so the wrapper does not offer "step"
    net = make_system("hopfield")
    x, y = system_entry("hopfield").problem(net, seed=1)
    rule = ContinualEP(beta=0.1, lr=1e-6)
    for wrapped in (noise.RelaxationNoise(net, temperature=0.01),
                    noise.ReadoutNoise(net, std=0.01)):
        assert "step" not in wrapped.capabilities
        with pytest.raises(ValueError, match=r"ContinualEP needs \['step'\]"):
            rule.gradient(wrapped, x, y)
    measured = noise.MeasurementNoise(net, std=0.0)
    assert "step" in measured.capabilities
    np.testing.assert_allclose(rule.gradient(measured, x, y)["W1"], rule.gradient(net, x, y)["W1"])


def test_noise_on_a_system_without_the_method_is_refused():
    hru = make_system("hru-linear")
    with pytest.raises(ValueError, match="param_gradient"):
        noise.MeasurementNoise(hru, std=0.1)
    with pytest.raises(ValueError, match="equilibrium"):
        noise.RelaxationNoise(hru, temperature=0.1)
    with pytest.raises(ValueError, match="std"):
        noise.MeasurementNoise(make_system("resistor-layered"), std=-1.0)


# -- measurement noise ------------------------------------------------------------------------
@pytest.mark.parametrize("variant,factor", [("positive", 2.0), ("centered", 0.5)])
def test_measurement_noise_variance_falls_as_inverse_beta_squared(variant, factor):
    """Var(ĝ − g) = factor·std²/(β² B): 2 for one-sided EP, 1/2 for centered EP."""
    system, x, y = problem("resistor-layered")
    std, reps, batch = 1e-3, 60, len(x)
    wrapped = noise.MeasurementNoise(system, std=std, seed=1)
    betas = np.array([1e-3, 1e-2, 1e-1])
    variances = []
    for beta in betas:
        rule = EP(beta=beta, variant=variant)
        clean = rule.gradient(system, x, y)["conductance"]
        d = np.array([rule.gradient(wrapped, x, y)["conductance"] - clean
                      for _ in range(reps)])
        n = d.size
        var = np.mean(d ** 2)                      # mean zero by construction
        expected = factor * std ** 2 / (beta ** 2 * batch)
        assert abs(var / expected - 1) < 5 * np.sqrt(2 / n), (beta, var, expected)
        variances.append(var)
    slope = np.polyfit(np.log(betas), np.log(variances), 1)[0]
    # each log-variance has std sqrt(2/n) = 0.024 (n = 3600); the least-squares slope over
    # log β at 1e-3, 1e-2, 1e-1 has std sqrt(2/n)/sqrt(Σ(log β − mean)²) = 0.0072: 0.05 ≈ 7σ
    assert abs(slope + 2) < 0.05, slope


def test_measurement_noise_is_independent_per_call():
    system, x, _ = problem("resistor-layered")
    w = noise.MeasurementNoise(system, std=0.1, seed=0)
    state = w.equilibrium(x)
    a, b = w.param_gradient(state)["conductance"], w.param_gradient(state)["conductance"]
    clean = system.param_gradient(state)["conductance"]
    corr = np.corrcoef((a - clean).ravel(), (b - clean).ravel())[0, 1]
    assert abs(corr) < 5 / np.sqrt(a.size)
    again = noise.MeasurementNoise(system, std=0.1, seed=0)
    np.testing.assert_array_equal(again.param_gradient(state)["conductance"], a)  # seeded


# -- relaxation noise -------------------------------------------------------------------------
def _fd_hessian(system, state, h=1e-5):
    n = state.s.shape[1]
    H = np.zeros((len(state.s), n, n))
    for j in range(n):
        d = np.zeros_like(state.s)
        d[:, j] = h
        H[:, :, j] = (system.energy_gradient(system.with_s(state, state.s + d))
                      - system.energy_gradient(system.with_s(state, state.s - d))) / (2 * h)
    return H


def test_relaxation_noise_equipartition_on_a_resistor_network():
    """⟨δᵀHδ⟩/(nT) = 1: δᵀHδ/T is χ²_n, so the mean over M draws has std sqrt(2/(nM))."""
    system, x, y = problem("resistor")
    T = 1e-2
    w = noise.RelaxationNoise(system, temperature=T, seed=2)
    fixed = system.equilibrium(x)
    H = _fd_hessian(system, fixed)             # independent of the wrapper's adjoint solves
    n, m = fixed.s.shape[1], 0
    total = 0.0
    for _ in range(50):
        d = w.equilibrium(x).s - fixed.s
        total += np.einsum("bi,bij,bj->", d, H, d)
        m += len(d)
    ratio = total / (m * n * T)
    assert abs(ratio - 1) < 5 * np.sqrt(2 / (n * m)), ratio


def test_relaxation_noise_nudged_phases_start_from_the_noiseless_state():
    system, x, y = problem("resistor-layered")
    w = noise.RelaxationNoise(system, temperature=1e-2, seed=0)
    free = w.equilibrium(x)
    assert free._noiseless is not None
    from physlearn import Nudge
    from physlearn.costs import SquaredError
    nudged = w.equilibrium(x, Nudge(SquaredError(), y, 0.1), start=free)
    clean = system.equilibrium(x, Nudge(SquaredError(), y, 0.1))
    np.testing.assert_allclose(nudged._noiseless.s, clean.s, atol=1e-12)
    # fresh fluctuation per phase: the two phases' δ are uncorrelated
    d1, d2 = free.s - free._noiseless.s, nudged.s - nudged._noiseless.s
    assert not np.allclose(d1, d2)


def test_relaxation_noise_vector_field_matches_langevin_simulation():
    """The sampled covariance Σ (Lyapunov) against Euler–Maruyama Langevin of the nonlinear
    field itself: ⟨δᵀΣ⁻¹δ⟩/n over C independent chains is 1 ± sqrt(2/(nC)), plus the
    Euler–Maruyama bias ≤ λ_max dt / 2 and an O(T) anharmonic term (T = 1e-4: negligible)."""
    system = make_system("vector-field", alpha=0.8)
    x = np.array([[0.4, -0.3, 0.2]])
    T, dt, chains, steps = 1e-4, 0.01, 4000, 1500
    w = noise.RelaxationNoise(system, temperature=T, seed=5)
    fixed = system.equilibrium(x)
    J = system.jacobian(fixed)[0]
    sigma = w.covariance(fixed)[0]
    # Σ solves the Lyapunov equation and is not T J⁻¹ (J is not symmetric)
    np.testing.assert_allclose(J @ sigma + sigma @ J.T, 2 * T * np.eye(len(J)), atol=1e-12)
    assert not np.allclose(sigma, T * np.linalg.inv(0.5 * (J + J.T)), rtol=1e-2)
    rng = np.random.default_rng(0)
    xs = np.repeat(x, chains, axis=0)
    state = system.with_s(system.equilibrium(xs), np.repeat(fixed.s, chains, axis=0))
    s = state.s.copy()
    for _ in range(steps):
        s = s - dt * system.energy_gradient(state.replace(s=s)) \
            + np.sqrt(2 * T * dt) * rng.standard_normal(s.shape)
    d = s - fixed.s
    n = d.shape[1]
    stat = np.mean(np.einsum("bi,ij,bj->b", d, np.linalg.inv(sigma), d)) / n
    lam = np.max(np.abs(np.linalg.eigvals(J)))
    assert abs(stat - 1) < 5 * np.sqrt(2 / (n * chains)) + lam * dt / 2, stat
    # and the wrapper's own draws
    draws = np.array([w.equilibrium(x).s[0] - fixed.s[0] for _ in range(2000)])
    stat_w = np.mean(np.einsum("bi,ij,bj->b", draws, np.linalg.inv(sigma), draws)) / n
    assert abs(stat_w - 1) < 5 * np.sqrt(2 / (n * len(draws))), stat_w


# -- device variability -----------------------------------------------------------------------
def test_device_variability_is_frozen_and_follows_the_chain_rule():
    system, x, y = problem("resistor-layered")
    level = 0.2
    w = noise.DeviceVariability(system, level=level, seed=7)
    m = w.factor["conductance"]
    real = w.realised_params()["conductance"].copy()
    np.testing.assert_allclose(real, system.params["conductance"] * m, rtol=1e-15)
    # frozen: the same factor after calls and updates
    rule = EP(beta=1e-3)
    g = rule.gradient(w, x, y)["conductance"]
    w.update_params({"conductance": system.params["conductance"] - 0.1 * g})
    np.testing.assert_allclose(w.realised_params()["conductance"],
                               system.params["conductance"] * m, rtol=1e-15)
    # gradient = bare system at the realised parameters, times m
    bare = make_system("resistor-layered")
    bare.params = w.realised_params().copy()
    g_bare = rule.gradient(bare, x, y)["conductance"]
    # the EP contrast carries round-off ~ eps·|∂E/∂θ|/β ≈ 1e-14 whether m multiplies the two
    # phases or their difference: atol 1e-12
    np.testing.assert_allclose(rule.gradient(w, x, y)["conductance"], m * g_bare,
                               rtol=1e-10, atol=1e-12)
    ex = testing.exact_gradient(w, x, y)["conductance"]
    np.testing.assert_allclose(ex, m * testing.exact_gradient(bare, x, y)["conductance"],
                               rtol=1e-12)
    assert testing.relative_error({"c": rule.gradient(w, x, y)["conductance"]},
                                  {"c": ex}) < 1e-5
    device = noise.DeviceVariability(system, level=level, seed=7, measure="device")
    np.testing.assert_allclose(rule.gradient(device, x, y)["conductance"], g_bare,
                               rtol=1e-10, atol=1e-12)


def test_device_variability_passes_the_contract_suite_with_mismatch_on():
    system, x, y = problem("resistor-layered")
    status = testing.check_system(noise.DeviceVariability(system, level=0.3, seed=1), x, y)
    assert all(v == "passed" or v.startswith("skipped") for v in status.values())


@pytest.mark.parametrize("distribution", ["normal", "lognormal"])
def test_device_variability_statistics(distribution):
    """The factor has mean 1 and std ``level``: over N entries the mean has standard error
    level/sqrt(N) and the variance relative error sqrt(2/N) (the lognormal's is larger:
    its kurtosis, bounded here by sqrt((κ−1)/N) with κ ≈ 3.6 at level 0.25)."""
    system = make_system("resistor", n_nodes=40)
    level = 0.25
    factors = np.concatenate([
        noise.DeviceVariability(system, level=level, seed=s,
                                distribution=distribution).factor["conductance"]
        for s in range(60)])
    n = factors.size
    assert abs(np.mean(factors) - 1) < 5 * level / np.sqrt(n)
    rel = np.sqrt(2 / n) if distribution == "normal" else np.sqrt(2.6 / n)
    assert abs(np.std(factors) / level - 1) < 5 * rel / 2   # std: half the variance's error
    if distribution == "lognormal":
        assert np.all(factors > 0)


# -- quantised updates ------------------------------------------------------------------------
def test_quantised_updates_stay_on_the_grid():
    system, x, y = problem("resistor-layered")
    grid = np.linspace(0.05, 2.0, 12)
    w = noise.QuantisedUpdates(system, levels=12, value_range=(0.05, 2.0))
    spacing = grid[1] - grid[0]
    rule = EP(beta=1e-2)
    for _ in range(5):
        g = rule.gradient(w, x, y)["conductance"]
        target = system.params["conductance"] - 3.0 * g
        w.update_params({"conductance": target})
        got = system.params["conductance"]
        assert np.all(np.min(np.abs(got[:, None] - grid[None, :]), axis=1) == 0)
        inside = (target >= grid[0]) & (target <= grid[-1])
        assert np.all(np.abs(got - target)[inside] <= spacing / 2 + 1e-15)
    w.params = {"conductance": np.full_like(got, 0.333)}
    assert np.all(system.params["conductance"] == grid[np.argmin(np.abs(grid - 0.333))])


def test_quantised_updates_explicit_levels_and_unbounded_parameters():
    net = make_system("vector-field")
    with pytest.raises(ValueError, match="value_range"):
        noise.QuantisedUpdates(net, levels=3)
    w = noise.QuantisedUpdates(net, levels=[-1.0, 0.0, 1.0])     # binary/ternary weights
    assert all(set(np.unique(v)) <= {-1.0, 0.0, 1.0} for v in net.params.values())
    assert isinstance(w.params, type(net.params))
    exact = make_system("resistor-layered")
    before = exact.params["conductance"].copy()
    q = noise.QuantisedUpdates(exact, levels=None)
    q.update_params({"conductance": before + 1e-3})
    np.testing.assert_array_equal(exact.params["conductance"], before + 1e-3)


# -- readout noise ----------------------------------------------------------------------------
def test_readout_noise_output_variance():
    system, x, _ = problem("resistor-layered")
    std = 0.05
    w = noise.ReadoutNoise(system, std=std, seed=3)
    state = system.equilibrium(x)
    d = np.array([w.outputs(state) - system.outputs(state) for _ in range(500)])
    assert abs(np.var(d) / std ** 2 - 1) < 5 * np.sqrt(2 / d.size)
    assert abs(np.mean(d)) < 5 * std / np.sqrt(d.size)


def test_readout_noise_ep_is_unbiased_with_a_beta_independent_variance():
    """Squared error on a linear network: centered EP with a noisy nudge is unbiased (mean
    within 5 standard errors of the noiseless estimate) and its variance does not grow as β
    shrinks (unlike measurement noise): the ratio of variances at β = 1e-3 and 1e-1 is 1
    within 5·sqrt(4/N) (two sample variances, N draws each), plus the O(β²) term at 1e-1."""
    system, x, y = problem("resistor-layered")
    std, reps = 0.05, 400
    w = noise.ReadoutNoise(system, std=std, seed=4)
    variances = []
    for beta in (1e-3, 1e-1):
        rule = EP(beta=beta)
        clean = rule.gradient(system, x, y)["conductance"]
        d = np.array([rule.gradient(w, x, y)["conductance"] - clean for _ in range(reps)])
        se = d.std(axis=0) / np.sqrt(reps)
        assert np.all(np.abs(d.mean(axis=0)) < 5 * se + 1e-15)
        variances.append(np.mean(d.var(axis=0)))
    # entries are correlated, so treat the N = reps draws as the independent unit
    assert abs(variances[0] / variances[1] - 1) < 5 * np.sqrt(4 / reps) + 0.05, variances
