"""Detectors of trajectories the echo cannot retrace: RHEL's echo self-check
(:class:`EchoMissWarning`) and the leapfrog's stability bound (:class:`UnstableStepError`)."""

import warnings

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.rules.echo import RHEL, EchoMissWarning, echo_miss
from physlearn.systems.hamiltonian import Hamiltonian
from physlearn.systems.hru import HRU
from physlearn.systems.hssm import HSSM
from physlearn.systems.leapfrog import UnstableStepError
from physlearn.systems.oscillators import CoupledOscillators


def problem(n_steps, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(1, n_steps, 1)), 0.5 * rng.normal(size=(1, 1))


# -- RHEL's echo self-check -----------------------------------------------------------------


def test_chaotic_echo_warns_with_the_measured_miss():
    # the case: a nonlinear HRU over 50,000 steps at the default dt = 0.1
    system = HRU(1, 4, 1, kind="nonlinear", dt=0.1, seed=0)
    x, y = problem(50_000)
    with pytest.warns(EchoMissWarning, match=r"dt=0\.1 over 50000 steps") as record:
        estimate = RHEL().gradient(system, x, y)
    message = str(record[0].message)
    assert "missed the flipped initial state" in message and "times the echo's response" in message
    # and the warning is right: the gradient is 100 % off
    assert relative_error(estimate, pl.exact_gradient(system, x, y)) > 0.5


def test_echo_at_a_safe_setting_is_silent_and_exact():
    system = HRU(1, 4, 1, kind="nonlinear", dt=0.1, seed=0)
    x, y = problem(200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate = RHEL().gradient(system, x, y)
    assert relative_error(estimate, pl.exact_gradient(system, x, y)) < 1e-6


def test_long_echo_at_the_papers_time_step_is_silent():
    # 50,000 steps at δ = 1e-4 (Pourcel & Ernoult): the echo comes home, no warning
    system = HRU(1, 4, 1, kind="nonlinear", dt=1e-4, seed=0)
    x, y = problem(50_000)
    cost = pl.SquaredError()
    run = system.run(x, y, cost)
    result = system.echo(run, 0, run.cotangents, RHEL().nudges())
    miss, response = echo_miss(result)
    assert miss[0] < 1e-6 * response[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RHEL()._check_echo(system, 0, result, x.shape[1])


def test_miss_ratio_squared_tracks_the_gradient_error_and_tol_switches_it_off():
    system = HRU(1, 4, 1, kind="nonlinear", dt=0.1, seed=0)
    x, y = problem(5000)
    cost = pl.SquaredError()
    run = system.run(x, y, cost)
    result = system.echo(run, 0, run.cotangents, RHEL().nudges())
    miss, response = echo_miss(result)
    ratio = miss[0] / response[0]
    error = relative_error(RHEL().gradient(system, x, y), pl.exact_gradient(system, x, y))
    assert 0.1 < error / ratio**2 < 10, (ratio, error)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RHEL(eps=1.0, echo_tol=None).gradient(system, x, y)
    with pytest.warns(EchoMissWarning):
        RHEL(eps=1.0).gradient(system, x, y)
    with pytest.raises(ValueError, match="echo_tol"):
        RHEL(echo_tol=-1.0).gradient(system, x, y)


# -- leapfrog stability -----------------------------------------------------------------------


@pytest.mark.parametrize("make, dt", [
    (lambda dt: HRU(1, 4, 1, kind="linear", dt=dt, seed=0), 2.0),
    (lambda dt: HRU(1, 4, 1, kind="nonlinear", dt=dt, seed=0), 2.0),
    (lambda dt: HSSM(1, 4, 1, dt=dt, seed=0), 2.0),
    (lambda dt: CoupledOscillators(6, dt=dt, seed=0), 1.0),
])
def test_time_step_beyond_the_stability_bound_is_refused(make, dt):
    x = np.zeros((2, 10, 1))
    with pytest.raises(UnstableStepError, match=rf"dt={dt} is beyond .* dt·ω_max = [\d.]+ must "
                                               r"be < 2.*Use dt < [\d.]+"):
        make(dt).predict(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(make(0.1).predict(x)).all()


def test_stability_bound_follows_the_current_parameters():
    system = HRU(1, 4, 1, kind="linear", dt=0.1, seed=0)
    params = system.params.copy()
    params["A"] = np.array([1.0, 1.0, 1.0, 401.0])  # ω_max = 20.02: dt·ω_max = 2.002
    system.params = params
    with pytest.raises(UnstableStepError, match=r"ω_max = 20\.02"):
        system.predict(np.zeros((1, 5, 1)))
    params["A"] = np.array([1.0, 1.0, 1.0, 399.0])
    system.params = params
    assert np.isfinite(system.predict(np.ones((1, 500, 1)))).all()


def test_non_finite_trajectory_of_a_user_hamiltonian_names_dt():
    x = np.ones((2, 200, 1))
    with pytest.raises(UnstableStepError, match=r"became non-finite with dt=2\.5"):
        Hamiltonian.duffing(dt=2.5).predict(x)
    with pytest.raises(UnstableStepError, match=r"non-finite at step \d+ of 200 with dt=2\.5"):
        pl.exact_gradient(Hamiltonian.duffing(dt=2.5), x, np.zeros((2, 1)))
    assert np.isfinite(Hamiltonian.duffing(dt=0.1).predict(x)).all()


@pytest.mark.parametrize("n_steps, warns", [(300, True), (200, False)])
def test_heb_checks_its_echo_too(n_steps, warns):
    from physlearn.rules.heb import HEB
    from physlearn.systems.self_learning import SelfLearningMachine

    machine = SelfLearningMachine(n_steps=n_steps, seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, machine.n_features)), rng.normal(size=(2, machine.n_outputs))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimate = HEB().gradient(machine, x, y)
    missed = [w for w in caught if issubclass(w.category, EchoMissWarning)]
    error = relative_error(estimate, pl.exact_gradient(machine, x, y))
    assert bool(missed) == warns, (error, [str(w.message) for w in caught])
    assert (error > 1.0) if warns else (error < 1e-3)
