"""Monte Carlo chains that disagree (split-R̂ across chains) warn, however many sweeps."""

import warnings

import numpy as np
import pytest

from physlearn.systems.ising import IsingModel
from physlearn.systems.ising_sampling import ChainsDisagreeWarning, split_rhat


def ferromagnet(temperature, coupling, sweeps):
    model = IsingModel.fully_connected(1, 10, 1, temperature=temperature, solver="monte-carlo",
                                       sweeps=sweeps, burn_in=10, chains=8, seed=0)
    params = model.params.copy()
    params["J"] = np.full_like(params["J"], coupling)
    params["h"] = np.zeros_like(params["h"])
    params["W"] = np.zeros_like(params["W"])
    model.params = params
    return model


def test_chains_frozen_in_opposite_basins_of_a_cold_ferromagnet_warn():
    # T = 0.2 ≪ T_c ≈ 9 J: every chain freezes in the basin it fell into, for good
    model = ferromagnet(0.2, 1.0, sweeps=2000)
    with pytest.warns(ChainsDisagreeWarning, match=r"split-R̂ = inf > 1\.1 .* between -1 and 1 "
                                                   r"after 10 \+ 2000 sweeps"):
        model.predict(np.zeros((2, 1)))


def test_chains_of_a_warm_model_agree():
    model = ferromagnet(1.0, 0.1, sweeps=200)  # T_c ≈ 0.9: paramagnetic, chains mix
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(np.zeros((2, 1)))


def test_split_rhat_values():
    rng = np.random.default_rng(0)
    same = np.full((1, 4, 1), 0.2) + 0.01 * rng.normal(size=(1, 4, 1))
    assert split_rhat(same, same, 500)[0, 0] < 1.01
    apart = np.array([0.9, -0.9, 0.9, -0.9])[None, :, None]
    assert split_rhat(apart, apart, 500)[0, 0] > 2  # √((W + var of the means) / W)
    frozen = np.ones((1, 4, 1))
    assert split_rhat(frozen, frozen, 500)[0, 0] == 1.0
    assert split_rhat(frozen, -frozen, 500)[0, 0] == np.inf
