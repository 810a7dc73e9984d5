"""QuantumHarmonicNetwork: Gaussian reference, Fock-basis (QuTiP) cross-check, quantum EP."""

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems.quantum import ObservableCost
from physlearn.systems.quantum_oscillators import QuantumHarmonicNetwork


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    return rng.normal(size=(4, 2)), 0.3 * rng.normal(size=(4, 2))


def network(**kwargs):
    return QuantumHarmonicNetwork.random(5, n_inputs=2, n_outputs=2, seed=0, **kwargs)


@pytest.mark.parametrize("n_modes,levels,tol", [(2, 24, 1e-9), (3, 16, 5e-8)])
def test_gaussian_state_matches_the_fock_basis_ground_state(n_modes, levels, tol):
    net = QuantumHarmonicNetwork.chain(n_modes, ground=np.linspace(0.8, 1.3, n_modes), seed=0)
    for nu in (None, [0.2]):
        fock = net.fock_measurements([0.3], levels, nu=nu)
        state = net.equilibrium([[0.3]])
        if nu is not None:   # the same nudge through the engine
            nudge = pl.Nudge(pl.SquaredError(), net.outputs(state) - 0.2, 1.0)
            state = net.equilibrium([[0.3]], nudge, start=state)
        np.testing.assert_allclose(fock["outputs"], net.outputs(state)[0], atol=tol)
        for k in ("spring", "ground"):
            np.testing.assert_allclose(fock[k], net.param_gradient(state)[k][0], atol=tol)
        assert abs(fock["energy"] - (net.energy(state)[0] + (nu[0] * net.outputs(state)[0, 0]
                                                             if nu else 0.0))) < tol


def test_zero_point_energy_and_spread():
    net = QuantumHarmonicNetwork(1, [], [0], [0], ground=4.0)   # ω = 2
    state = net.equilibrium([[0.0]])
    np.testing.assert_allclose(state.cov_x, [[0.25]])           # ħ/(2mω)
    np.testing.assert_allclose(net.energy(state), [1.0])        # ħω/2
    hot = QuantumHarmonicNetwork(1, [], [0], [0], ground=4.0, temperature=100.0)
    np.testing.assert_allclose(hot.covariances()[0], [[100.0 / 4.0]], rtol=1e-4)  # T/k


def test_exact_gradient_matches_finite_differences(problem):
    net = network()
    fd = pl.finite_difference_gradient(net, *problem)
    assert relative_error(pl.exact_gradient(net, *problem), fd) < 1e-8


def test_centered_ep_is_exact_with_the_feed_forward_nudge(problem):
    """ν fixed by the free outputs: μ is linear and ⟨∂H/∂k⟩ quadratic in β."""
    net = network()
    exact = pl.exact_gradient(net, *problem)
    for beta in (1e-3, 0.1, 1.0):
        assert relative_error(pl.EP(beta=beta).gradient(net, *problem), exact) < 1e-10
    slope = pl.bias_order(net, pl.EP(variant="positive"), *problem, betas=(1e-1, 1e-2, 1e-3))
    assert abs(slope.slope - 1) < 0.1


def test_self_consistent_nudge_has_the_usual_bias_orders(problem):
    net = network(nudge_mode="self_consistent")
    betas = (1e-2, 3e-3, 1e-3)
    assert abs(pl.bias_order(net, pl.EP(variant="centered"), *problem, betas).slope - 2) < 0.15
    assert abs(pl.bias_order(net, pl.EP(variant="positive"), *problem, betas).slope - 1) < 0.15
    state = net.equilibrium(problem[0], pl.Nudge(pl.SquaredError(), problem[1], 0.5))
    assert np.max(np.abs(net.residual(state))) < 1e-12
    np.testing.assert_allclose(state.nu, 0.5 * (net.outputs(state) - problem[1]), atol=1e-12)


def test_quantum_ep_equals_classical_ep_because_the_spread_cancels(problem):
    """Thermal or zero-point spread shifts ⟨∂H/∂k⟩ but not its β-derivative."""
    cold, hot = network(), network(temperature=3.0)
    g_cold = pl.EP(beta=0.1).gradient(cold, *problem)
    g_hot = pl.EP(beta=0.1).gradient(hot, *problem)
    assert relative_error(g_hot, g_cold) < 1e-10
    f_cold = cold.param_gradient(cold.equilibrium(problem[0]))["spring"]
    f_hot = hot.param_gradient(hot.equilibrium(problem[0]))["spring"]
    assert np.all(f_hot > f_cold)


def test_shots_and_bad_input():
    net = network(shots=20)
    assert not np.allclose(net.predict([[0.1, 0.2]]), network().predict([[0.1, 0.2]]))
    with pytest.raises(ValueError, match="negative spring"):
        net.params = {**net.params, "spring": -np.ones_like(net.params["spring"])}
    with pytest.raises(ValueError, match="temperature=-2"):
        network(temperature=-2)
    with pytest.raises(ValueError, match="out of range"):
        QuantumHarmonicNetwork(2, [(0, 1)], [0], [5])
    with pytest.raises(ValueError, match="ObservableCost"):
        pl.EP(beta=0.1).gradient(network(), [[0.1, 0.2]], [[0.0, 0.0]], ObservableCost())
    with pytest.raises(ValueError, match="needs \\['complex'\\]"):
        pl.HolomorphicEP().gradient(network(), [[0.1, 0.2]], [[0.0, 0.0]])
