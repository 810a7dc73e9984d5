"""Classical Ising models: thermal EP against exact thermal derivatives, Monte Carlo, mean field."""

import itertools

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import cosine, relative_error
from physlearn.experiment.datasets import Dataset
from physlearn.nudges import Clamp, Nudge
from physlearn.systems.ising import IsingModel, IsingState, solver_class
from physlearn.systems.ising_mean_field import MeanFieldIsing

BETAS = (1e-2, 3e-3, 1e-3, 3e-4)


def small(**kwargs):
    """6 spins: 3 hidden (input-coupled) + 2 outputs, laterally coupled (15 - 4 edges)."""
    kwargs = {"lateral": True, "temperature": 1.0, "seed": 0, **kwargs}
    return IsingModel.layered([2, 3, 2], **kwargs)


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    x = rng.choice([-1.0, 1.0], size=(4, 2))
    y = rng.uniform(-0.6, 0.6, size=(4, 2))
    return x, y


def brute_force(model, x):
    """⟨σ⟩ and ⟨σ_iσ_j⟩ on the edges by an explicit loop over configurations (one sample)."""
    configs = np.array(list(itertools.product([-1.0, 1.0], repeat=model.n_spins)))
    E = model.configuration_energy(configs[:, None, :], x[None, :])[:, 0]
    w = np.exp(-(E - E.min()) / model.temperature)
    p = w / w.sum()
    i, j = model.edge_list.T
    return p @ configs, p @ (configs[:, i] * configs[:, j])


def test_energy_convention_and_dwave_mapping():
    model = small()
    rng = np.random.default_rng(0)
    sigma = rng.choice([-1.0, 1.0], size=(3, model.n_spins))
    x = rng.normal(size=(3, 2))
    J, h, W = model.params["J"], model.params["h"], model.params["W"]
    i, j = model.edge_list.T
    b = h + np.zeros((3, 1))
    b[:, model._inputs] += x @ W
    ours = -np.sum(J * sigma[:, i] * sigma[:, j], axis=1) - np.sum(b * sigma, axis=1)
    np.testing.assert_allclose(model.configuration_energy(sigma, x), ours, atol=1e-13)
    # D-Wave: E = Σ J^DW σσ + Σ h^DW σ with J^DW = −J, h^DW = −h (fields incl. inputs)
    dwave = np.sum(-J * sigma[:, i] * sigma[:, j], axis=1) + np.sum(-b * sigma, axis=1)
    np.testing.assert_allclose(dwave, ours, atol=1e-13)


def test_exact_solver_matches_a_brute_force_loop(problem):
    x, _ = problem
    model = small(temperature=0.7)
    state = model.equilibrium(x)
    for b in range(len(x)):
        m, pair = brute_force(model, x[b])
        np.testing.assert_allclose(state.s[b], m, atol=1e-13)
        np.testing.assert_allclose(state.correlations[b], pair, atol=1e-13)
    g = model.param_gradient(state)
    assert set(g) == set(model.params)
    np.testing.assert_allclose(g["W"], -x[:, :, None] * state.s[:, None, model._inputs])


def test_solver_dispatch_round_trip_and_shapes(problem):
    x, _ = problem
    assert type(small()) is IsingModel
    mf = small(solver="mean-field", init_scale=0.3)
    assert isinstance(mf, MeanFieldIsing) and isinstance(mf, IsingModel)
    for model in (small(), mf, small(solver="monte-carlo", sweeps=50)):
        rebuilt = type(model)(**model.get_params())
        rebuilt.params = model.params
        np.testing.assert_allclose(rebuilt.predict(x), model.predict(x), atol=1e-14)
    dup = IsingModel.layered([2, 3, 2], duplicates=4, seed=0)
    assert dup.n_spins == 11 and dup.n_outputs == 2
    np.testing.assert_allclose(dup.output_matrix().sum(axis=1), 1.0)
    assert dup.output_matrix()[0, 3:7].tolist() == [0.25] * 4


def test_update_params_clips_to_the_device_range():
    model = small(coupling_range=0.5, field_range=0.2)
    new = {k: 10 * np.ones_like(v) for k, v in model.params.items()}
    model.update_params(new)
    assert np.all(model.params["J"] == 0.5) and np.all(model.params["W"] == 0.5)
    assert np.all(model.params["h"] == 0.2)


# -- thermal EP against the exact thermal derivative --------------------------------------------
@pytest.mark.parametrize("objective", ["mean", "expected"])
@pytest.mark.parametrize("cost", [pl.SquaredError(), pl.CrossEntropy()], ids=["se", "ce"])
def test_centered_ep_matches_exact_thermal_derivative(problem, objective, cost):
    x, y = problem
    model = small(objective=objective)
    err = relative_error(pl.EP(beta=1e-4, variant="centered").gradient(model, x, y, cost),
                         pl.exact_gradient(model, x, y, cost))
    assert err < 1e-6


@pytest.mark.parametrize("objective", ["mean", "expected"])
def test_bias_orders(problem, objective):
    x, y = problem
    model = small(objective=objective)
    for variant, order, tol in (("positive", 1, 0.15), ("negative", 1, 0.15),
                                ("centered", 2, 0.2)):
        measured = pl.bias_order(model, pl.EP(variant=variant), x, y, BETAS)
        assert abs(measured.slope - order) < tol, str(measured)
    holo = pl.bias_order(model, pl.HolomorphicEP(points=4), x, y, (0.2, 0.1, 0.05))
    assert abs(holo.slope - 4) < 0.3, str(holo)


@pytest.mark.parametrize("cost", [pl.SquaredError(), pl.CrossEntropy()], ids=["se", "ce"])
def test_exact_references_match_finite_differences(problem, cost):
    x, y = problem
    mean = small(objective="mean")
    assert relative_error(pl.exact_gradient(mean, x, y, cost),
                          pl.finite_difference_gradient(mean, x, y, cost)) < 1e-7
    expected = small(objective="expected")
    assert pl.loss(expected, x, y, cost) == expected.loss(x, y, cost)   # references follow
    assert relative_error(pl.exact_gradient(expected, x, y, cost),
                          pl.finite_difference_gradient(expected, x, y, cost)) < 1e-7


def test_objectives_differ_and_expected_squared_error_is_linear(problem):
    """⟨½(σ − y)²⟩ = ½(1 + y² − 2y⟨σ⟩) for single spins: differs from ½(⟨σ⟩ − y)² by the
    variance ½(1 − ⟨σ⟩²)."""
    x, y = problem
    model = small(objective="expected")
    m = model.predict(x)
    np.testing.assert_allclose(model.expected_cost(x, y),
                               0.5 * np.sum(1 + y * y - 2 * y * m, axis=1), atol=1e-13)
    g_mean = pl.exact_gradient(small(objective="mean"), x, y)
    g_expected = pl.exact_gradient(model, x, y)
    assert relative_error(g_mean, g_expected) > 0.05


def test_thermal_derivative_of_a_magnetisation_by_finite_differences(problem):
    x, _ = problem
    model = small(temperature=0.8)
    d = model.thermal_derivative(x, lambda S: S[:, 4])          # ∂⟨σ_4⟩/∂θ
    original = {k: v.copy() for k, v in model.params.items()}
    for name, value in original.items():
        for i in list(np.ndindex(value.shape))[:4]:
            vals = []
            for sign in (1, -1):
                trial = {k: v.copy() for k, v in original.items()}
                trial[name][i] += sign * 1e-6
                model._params = trial
                vals.append(model.equilibrium(x).s[:, 4])
            model._params = original
            np.testing.assert_allclose(d[name][(slice(None),) + i],
                                       (vals[0] - vals[1]) / 2e-6, atol=1e-8)


def test_spin_flip_symmetry_at_zero_field():
    model = small()
    model.params = {**model.params, "h": np.zeros(model.n_spins)}
    x0 = np.zeros((1, 2))
    sigma = np.random.default_rng(0).choice([-1.0, 1.0], size=(8, 1, model.n_spins))
    np.testing.assert_allclose(model.configuration_energy(sigma, x0),
                               model.configuration_energy(-sigma, x0), atol=1e-14)
    state = model.equilibrium(x0)
    np.testing.assert_allclose(state.s, 0.0, atol=1e-14)
    # flipping every field (h, x) flips the magnetisations and keeps the correlations
    model = small()
    x = np.array([[0.3, -0.7]])
    a = model.equilibrium(x)
    model.params = {**model.params, "h": -model.params["h"]}
    b = model.equilibrium(-x)
    np.testing.assert_allclose(b.s, -a.s, atol=1e-14)
    np.testing.assert_allclose(b.correlations, a.correlations, atol=1e-14)


def test_large_beta_reduces_to_the_boltzmann_machine_rule(problem):
    """Expected objective, y = ±1: as β → ∞ the nudged ensemble is the output-clamped one, so
    g(β) − g(0) → ⟨∂E/∂θ⟩_clamped − ⟨∂E/∂θ⟩_free (contrastive / Boltzmann-machine rule)."""
    x, y = problem
    y = np.sign(y)
    model = small(objective="expected")
    free = model.equilibrium(x)
    clamped = model.equilibrium(x, Clamp(y))
    np.testing.assert_allclose(model.outputs(clamped), y, atol=1e-14)
    rule = pl.ContrastiveLearning().per_sample_gradient(model, x, y, pl.SquaredError())
    errors = []
    for beta in (2.0, 8.0, 32.0):
        nudged = model.equilibrium(x, Nudge(pl.SquaredError(), y, beta), start=free)
        contrast = {k: model.param_gradient(nudged)[k] - model.param_gradient(free)[k]
                    for k in rule}
        errors.append(relative_error(contrast, rule))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-10
    # the clamped-minus-free correlation difference is the Boltzmann rule for J
    np.testing.assert_allclose(rule["J"], -(clamped.correlations - free.correlations))


# -- Monte Carlo -------------------------------------------------------------------------------
@pytest.mark.parametrize("update", ["heat-bath", "metropolis"])
def test_monte_carlo_agrees_with_exact_within_standard_errors(problem, update):
    x, y = problem
    exact = small(objective="expected")
    mc = small(objective="expected", solver="monte-carlo", update=update, sweeps=400,
               burn_in=50, chains=32)
    y = np.sign(y)
    for nudge in (None, Nudge(pl.SquaredError(), y, 0.7), Clamp(y)):
        a, b = exact.equilibrium(x, nudge), mc.equilibrium(x, nudge)
        for key, ref, est, err in (("s", a.s, b.s, b.stderr["s"]),
                                   ("corr", a.correlations, b.correlations,
                                    b.stderr["correlations"])):
            ok = err > 0
            z = np.abs(est - ref)[ok] / err[ok]
            assert np.max(z) < 4.5, (key, nudge, np.max(z))
            np.testing.assert_allclose(est[~ok], ref[~ok], atol=1e-12)    # clamped spins
    se = mc.param_gradient_stderr(mc.equilibrium(x))
    assert set(se) == set(mc.params) and np.all(se["J"] > 0)


def test_monte_carlo_is_seeded_and_ep_estimate_is_close(problem):
    x, y = problem
    exact = small()
    mc = small(solver="monte-carlo", sweeps=1000)
    np.testing.assert_array_equal(mc.predict(x), mc.predict(x))           # common random numbers
    other = small(solver="monte-carlo", sweeps=1000, seed=1)
    other.params = mc.params
    assert not np.array_equal(other.predict(x), mc.predict(x))
    g = pl.EP(beta=0.3).gradient(mc, x, y)
    ref = pl.exact_gradient(exact, x, y)
    assert relative_error(g, ref) < 0.2 and cosine(
        np.concatenate([v.ravel() for v in g.values()]),
        np.concatenate([v.ravel() for v in ref.values()])) > 0.98
    assert "complex" not in mc.capabilities
    with pytest.raises(ValueError, match="complex"):
        mc.equilibrium(x, Nudge(pl.SquaredError(), y, 0.1j))


# -- mean field --------------------------------------------------------------------------------
def test_mean_field_is_self_consistent_and_matches_its_references(problem):
    x, y = problem
    mf = small(solver="mean-field", init_scale=0.3)
    state = mf.equilibrium(x)
    m = state.s
    np.testing.assert_allclose(m, np.tanh((m @ mf.coupling_matrix() + mf.fields(x)) / 1.0),
                               atol=1e-12)
    ref = pl.exact_gradient(mf, x, y)
    assert relative_error(ref, pl.finite_difference_gradient(mf, x, y)) < 1e-7
    assert relative_error(pl.EP(beta=1e-4).gradient(mf, x, y), ref) < 1e-6
    for variant, order, tol in (("positive", 1, 0.15), ("centered", 2, 0.2)):
        measured = pl.bias_order(mf, pl.EP(variant=variant), x, y, BETAS)
        assert abs(measured.slope - order) < tol, str(measured)
    clamped = mf.equilibrium(x, Clamp(y), start=state)
    np.testing.assert_allclose(mf.outputs(clamped), y, atol=1e-14)
    assert np.max(np.abs(mf.residual(clamped))) < 1e-10


def test_mean_field_approaches_the_thermal_model_at_high_temperature(problem):
    x, y = problem
    errors = []
    for T in (1.0, 4.0, 16.0):
        mf = small(solver="mean-field", init_scale=0.3, temperature=T)
        errors.append(np.max(np.abs(mf.equilibrium(x).s - mf.thermal_magnetisations(x))))
    assert errors[0] > 4 * errors[1] > 16 * errors[2]           # O(1/T²) or faster


def test_mean_field_survives_saturated_spins(problem):
    x, y = problem
    mf = small(solver="mean-field", temperature=0.02, init_scale=1.0)
    state = mf.equilibrium(x)
    assert np.max(np.abs(state.s)) == 1.0                     # saturated beyond round-off
    g = pl.exact_gradient(mf, x, y)
    assert all(np.all(np.isfinite(v)) for v in g.values())
    assert relative_error(pl.EP(beta=1e-4).gradient(mf, x, y), g) < 1e-4


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [0.0, -1.0, np.nan, np.inf, "hot"])
def test_bad_temperature(T):
    with pytest.raises(ValueError, match="temperature"):
        small(temperature=T)


def test_bad_input_errors(problem):
    x, y = problem
    with pytest.raises(ValueError, match="monte-carlo"):
        IsingModel.fully_connected(1, 17, 1)
    big = IsingModel.fully_connected(1, 17, 1, solver="monte-carlo", sweeps=5)
    with pytest.raises(ValueError, match="monte-carlo"):
        pl.exact_gradient(big, np.zeros((1, 1)), np.zeros((1, 1)))
    model = small()
    with pytest.raises(ValueError, match="not ±1"):
        model.equilibrium(x, Clamp(np.full((4, 2), 0.5)))
    with pytest.raises(ValueError, match=r"\(-1, 1\)"):
        small(solver="mean-field").equilibrium(x, Clamp(np.ones((4, 2))))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)
    with pytest.raises(ValueError, match="non-finite"):
        model.params = {**model.params, "J": np.full(len(model.params["J"]), np.nan)}
    with pytest.raises(ValueError, match="solver"):
        small(solver="annealing")
    with pytest.raises(ValueError, match="objective"):
        small(solver="mean-field", objective="expected")
    with pytest.raises(ValueError, match="objective"):
        small(objective="likelihood")
    with pytest.raises(ValueError, match="edge"):
        IsingModel(3, [(0, 0)], [2])
    with pytest.raises(ValueError, match="sweeps"):
        small(solver="monte-carlo", sweeps=0)
    with pytest.raises(ValueError, match="update"):
        small(solver="monte-carlo", update="wolff")
    with pytest.raises(ValueError, match="different model class"):
        small().set_params(solver="mean-field")
    with pytest.raises(ValueError, match="seed"):
        small(seed="zero")
    with pytest.raises(ValueError, match="clamp values have shape"):
        model.equilibrium(x, Clamp(np.ones((3, 2))))


# -- learning ----------------------------------------------------------------------------------
def test_learns_xor_with_exact_thermal_ep():
    x = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    y = np.array([[-1.0], [1.0], [1.0], [-1.0]])
    data = Dataset(x, y, x, y, task="regression", name="xor-pm1")
    model = IsingModel.layered([2, 8, 1], temperature=0.5, seed=0)
    history = pl.train(model, pl.EP(beta=0.1), data, epochs=100, batch_size=4,
                       optimizer=pl.optim.Adam(lr=0.05), progress=False)
    assert history["train_loss"][0] > 0.5 and history["train_loss"][-1] < 0.01
    assert np.all(np.sign(model.predict(x)) == y)
    for k, v in model.params.items():
        limit = model.field_range if k == "h" else model.coupling_range
        assert np.all(np.abs(v) <= limit)


def test_state_type():
    assert issubclass(IsingState, pl.State)
    assert solver_class("exact").capabilities == frozenset({"soft_nudge", "complex"})


@pytest.mark.parametrize("lateral", [False, True])
def test_update_classes_are_a_proper_colouring_of_every_spin(lateral):
    """A Monte Carlo sweep updates a class at once: no two of its spins may be coupled, and
    every spin is in exactly one class (under the expected-cost objective the output spins
    count as coupled)."""
    for objective in ("mean", "expected"):
        model = IsingModel.layered([3, 5, 4], lateral=lateral, objective=objective, seed=0)
        classes = model.update_classes()
        assert sorted(np.concatenate(classes).tolist()) == list(range(model.n_spins))
        colour = {int(s): k for k, c in enumerate(classes) for s in c}
        assert all(colour[int(i)] != colour[int(j)] for i, j in model.edges)
        if objective == "expected":
            outs = [colour[int(s)] for s in model.output_index]
            assert len(set(outs)) == len(outs)
