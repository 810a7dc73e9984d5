"""Slow acceptance runs: the phase sensor, phase exploration, a 12-spin chain (make test-slow)."""


import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems.quantum_tasks import explore_phase, train_phase_sensor
from physlearn.systems.spin_chain import SpinChain

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::physlearn.systems.quantum.NudgeNearGapWarning")]


def test_phase_sensor_learns_the_cluster_ising_phases():
    """6-spin ring + 2 sensor qubits, centered β = 0.4, 10 shots per expectation value."""
    result = train_phase_sensor(6, batches=200, beta=0.4, shots=10, seed=0, progress=False)
    assert result["history"][0][1] < 0.7            # untrained: not already solved
    assert result["accuracy"] >= 0.85, result["history"]


def test_phase_sensor_coupled_through_z_only_fails():
    """Control (Wanjura & Marquardt): Z couplings alone cannot tell the phases apart."""
    result = train_phase_sensor(6, batches=100, system_ops="Z", seed=0, progress=False)
    assert result["accuracy"] < 0.75, result["history"]


@pytest.mark.parametrize("theta", [(-0.1, 0.4), (0.2, 0.9)])
def test_phase_exploration_finds_large_x0x4(theta):
    run = explore_phase(10, steps=30, theta=theta, progress=False)
    assert run["magnitude"][0] < 0.1
    assert run["magnitude"].max() >= 0.98, run["magnitude"]


def test_twelve_spin_chain_gradient():
    """Correctness at benchmark size; the speed ratio is measured by make bench."""
    rng = np.random.default_rng(0)
    chain = SpinChain.transverse_field_ising(
        12, J=rng.uniform(0.8, 1.2, 11), h=rng.uniform(1.2, 1.6, 12), g=0.05,
        observables=["Z11"], solver="sparse", seed=0)
    x, y = np.array([[0.4]]), np.array([[-0.3]])
    n_params = sum(v.size for v in chain.params.values())
    assert n_params >= 20 and chain.dim == 4096
    qep = pl.EP(beta=1e-3).gradient(chain, x, y)
    fd = pl.finite_difference_gradient(chain, x, y, h=1e-5)
    assert relative_error(qep, fd) < 1e-5
    assert relative_error(pl.exact_gradient(chain, x, y), fd) < 1e-7
