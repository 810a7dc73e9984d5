"""Vector-field networks, generalized EP and Jacobian homeostasis."""

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import cosine, relative_error
from physlearn.nudges import Nudge
from physlearn.rules.generalized import GeneralizedEP
from physlearn.rules.homeostasis import homeostatic_gradient, homeostatic_loss
from physlearn.systems import ResistorNetwork
from physlearn.systems.vector_field import VectorFieldNetwork

NAME = "vector-field"


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(1)
    return rng.normal(size=(4, 3)), 0.3 * rng.normal(size=(4, 2))


def flat(d):
    return np.concatenate([d[k].ravel() for k in sorted(d)])


# -- the field ---------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_jacobian_matches_finite_differences(problem, alpha):
    x, y = problem
    net = VectorFieldNetwork([3, 4, 3, 2], alpha=alpha, seed=2)
    state = net.equilibrium(x)
    s = state.s + 0.2 * np.random.default_rng(0).normal(size=state.s.shape)
    J = net.jacobian(state.replace(s=s))
    h = 1e-6
    for j in range(s.shape[1]):
        d = np.zeros_like(s)
        d[:, j] = h
        fd = (net.energy_gradient(state.replace(s=s + d))
              - net.energy_gradient(state.replace(s=s - d))) / (2 * h)
        np.testing.assert_allclose(J[:, :, j], fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(net.vector_field(state), -net.energy_gradient(state))
    symmetric = np.allclose(J, np.swapaxes(J, 1, 2), atol=1e-13)
    assert symmetric == (alpha == 0.0) == net.is_symmetric()


def test_fixed_points_are_stable_and_exact_reference_holds(problem):
    x, y = problem
    net = VectorFieldNetwork([3, 5, 2], alpha=0.8, seed=0)
    state = net.equilibrium(x, Nudge(pl.SquaredError(), y, 0.3))
    assert np.max(np.abs(net.residual(state))) < 1e-10
    assert np.all(np.linalg.eigvals(net.jacobian(state)).real > 0)
    ex = pl.exact_gradient(net, x, y)
    assert relative_error(ex, pl.finite_difference_gradient(net, x, y)) < 1e-7


# -- generalized EP ------------------------------------------------------------------------------
@pytest.mark.parametrize("points,betas", [(1, (1e-2, 3e-3, 1e-3)), (2, (1e-2, 3e-3, 1e-3)),
                                          (3, (0.08, 0.04, 0.02)), (4, (0.2, 0.1, 0.05))])
def test_symmetric_network_gives_the_exact_gradient(problem, points, betas):
    x, y = problem
    net = VectorFieldNetwork([3, 5, 2], alpha=0.0, seed=0)
    m = pl.bias_order(net, GeneralizedEP(points=points), x, y, betas)
    assert abs(m.slope - points) < 0.15, str(m)
    assert m.errors[-1] < (1e-3 if points == 1 else 1e-5)


def test_bias_grows_with_asymmetry_and_survives_beta_to_zero(problem):
    x, y = problem
    errors = []
    for alpha in (0.0, 0.3, 0.6, 1.0, 1.5):
        net = VectorFieldNetwork([3, 5, 2], alpha=alpha, seed=0)
        ref = pl.exact_gradient(net, x, y)
        errors.append(relative_error(GeneralizedEP(beta=1e-3).gradient(net, x, y), ref))
        if alpha > 0:       # the J − Jᵀ bias does not vanish with β
            small = relative_error(GeneralizedEP(beta=1e-4).gradient(net, x, y), ref)
            assert small == pytest.approx(errors[-1], rel=1e-3)
    assert errors[0] < 1e-6
    assert np.all(np.diff(errors) > 0), errors


def test_estimate_is_the_j_inverse_vjp(problem):
    """ĝ → −(∂Φ/∂θ)ᵀ J⁻¹ ∂C/∂s, the true gradient has J⁻ᵀ: the bias is driven by J − Jᵀ."""
    x, y = problem
    net = VectorFieldNetwork([3, 5, 2], alpha=1.0, seed=0)
    free = net.equilibrium(x)
    dc = net.output_vjp(free, pl.SquaredError().gradient(net.outputs(free), y))
    J = net.jacobian(free)
    predicted = {k: v.mean(0) for k, v in
                 net.mixed_vjp(free, -np.linalg.solve(J, dc[..., None])[..., 0]).items()}
    g = GeneralizedEP(beta=0.02, points=4).gradient(net, x, y)
    assert relative_error(g, predicted) < 1e-6
    JT = np.swapaxes(J, 1, 2)
    true = {k: v.mean(0) for k, v in
            net.mixed_vjp(free, -np.linalg.solve(JT, dc[..., None])[..., 0]).items()}
    assert relative_error(true, pl.exact_gradient(net, x, y)) < 1e-12


def test_rules_refuse_what_they_cannot_do(problem):
    x, y = problem
    net = VectorFieldNetwork([3, 5, 2], alpha=0.5)
    for rule in (pl.EP(), pl.HolomorphicEP(), pl.ContrastiveLearning()):
        with pytest.raises(ValueError, match="needs"):
            rule.gradient(net, x, y)
    with pytest.raises(ValueError, match="no energy"):
        net.param_gradient(net.equilibrium(x))
    resistor = ResistorNetwork.layered([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="vector_field"):
        GeneralizedEP().gradient(resistor, x, y)
    assert GeneralizedEP(points=3).requires == {"vector_field", "complex"}
    with pytest.raises(ValueError, match="points"):
        GeneralizedEP(points=0).gradient(net, x, y)
    with pytest.raises(ValueError, match="homeostasis"):
        GeneralizedEP(homeostasis=-1.0).gradient(net, x, y)
    with pytest.raises(ValueError, match="alpha"):
        VectorFieldNetwork([3, 2], alpha=2.0)
    with pytest.raises(ValueError, match="layers"):
        VectorFieldNetwork([3])


# -- Jacobian homeostasis --------------------------------------------------------------------------
def test_hutchinson_mean_is_half_the_squared_asymmetry_per_unit():
    """The loss is per unit, ½‖J − Jᵀ‖²_F / n, as in Laborieux & Zenke's code (it used to be
    the unnormalised ½‖J − Jᵀ‖²_F, which made λ grow in effect with the network's size)."""
    J = np.array([[1.0, 2.0, 0.0], [-1.0, 0.5, 0.3], [0.4, 0.0, 2.0]])
    exact = 0.5 * np.sum((J - J.T) ** 2) / 3
    assert homeostatic_loss(J) == pytest.approx(exact, rel=1e-14)
    k = 200_000
    est = homeostatic_loss(J, samples=k, seed=3)
    eps = np.random.default_rng(3).normal(size=(k, 3))     # the same probes, for the error bar
    per = np.sum((eps @ J.T - eps @ J) * (eps @ J.T), axis=1) / 3
    assert abs(est - exact) < 4 * per.std() / np.sqrt(k)
    assert abs(est - exact) < 0.02 * exact
    S = J + J.T
    assert homeostatic_loss(S, samples=7, seed=0) == 0.0
    assert homeostatic_loss(S) == 0.0


def test_homeostatic_loss_is_size_independent_and_probes_are_per_sample():
    """Per unit, the loss of random couplings at a fixed weight scale (N(0, 1/n), as networks
    are initialised) does not grow with n (E ½‖J − Jᵀ‖²_F / n = (n − 1)/n); every matrix of
    a batch gets its own probes (two equal matrices give two different estimates)."""
    rng = np.random.default_rng(0)
    values = [homeostatic_loss(rng.normal(size=(n, n)) / np.sqrt(n)) for n in (20, 80, 320)]
    np.testing.assert_allclose(values, 1.0, rtol=0.15)
    J = np.eye(4) + np.triu(np.ones((4, 4)), 1)
    est = homeostatic_loss(np.stack([J, J]), samples=3, seed=1)
    assert est[0] != est[1]
    assert homeostatic_loss(np.stack([J, J]), samples=3, seed=1)[0] == est[0]


def test_homeostatic_gradient(problem):
    x, _ = problem
    net = VectorFieldNetwork([3, 5, 2], alpha=1.0, seed=0)
    state = net.equilibrium(x)
    exact = homeostatic_gradient(net, state, samples=None)
    original = {k: v.copy() for k, v in net.params.items()}
    for name in ("W2", "B2", "b1"):
        fd = np.zeros((len(x),) + original[name].shape)
        for i in np.ndindex(original[name].shape):
            vals = []
            for sign in (1, -1):
                trial = {k: v.copy() for k, v in original.items()}
                trial[name][i] += sign * 1e-6
                net._params = trial
                vals.append(homeostatic_loss(net.jacobian(state)))
            fd[(slice(None),) + i] = (vals[0] - vals[1]) / 2e-6
        net._params = original
        np.testing.assert_allclose(exact[name], fd, rtol=1e-6, atol=1e-8)
    hutch = homeostatic_gradient(net, state, samples=2000, seed=1)
    assert relative_error({k: v.sum(0) for k, v in hutch.items()},
                          {k: v.sum(0) for k, v in exact.items()}) < 0.1
    symmetric = VectorFieldNetwork([3, 5, 2], alpha=0.0, seed=0)
    g0 = homeostatic_gradient(symmetric, symmetric.equilibrium(x), samples=None)
    assert max(np.max(np.abs(v)) for v in g0.values()) < 1e-12


def train_cosine(seed, homeostasis, steps=100):
    """Train an asymmetric network on a teacher; return (cosine before, cosine after)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3))
    y = VectorFieldNetwork([3, 5, 2], seed=99, gain=1.5).predict(x)
    net = VectorFieldNetwork([3, 5, 2], alpha=1.2, seed=seed)
    rule, plain = GeneralizedEP(beta=0.01, homeostasis=homeostasis), GeneralizedEP(beta=0.01)

    def cos():
        return cosine(flat(plain.gradient(net, x, y)), flat(pl.exact_gradient(net, x, y)))

    before = cos()
    for _ in range(steps):
        g = rule.gradient(net, x, y)
        net.update_params({k: v - 0.2 * g[k] for k, v in net.params.items()})
    return before, cos()


def test_homeostasis_aligns_the_estimate_with_the_gradient():
    for seed in (0, 1):
        before, plain = train_cosine(seed, 0.0)
        _, homeo = train_cosine(seed, 0.35)     # λ per unit: 0.05 × n_state (7) before
        assert homeo > plain + 0.1 and homeo > 0.85, (seed, before, plain, homeo)


def test_probes_are_fresh_per_batch_and_per_sample_yet_reproducible(problem):
    """As in the paper every sample gets its own probes and every mini-batch new ones; the
    same batch always gives the same estimate (the rule has no random state)."""
    from physlearn.rules.homeostasis import probe_seed

    x, y = problem
    net = VectorFieldNetwork([3, 5, 2], alpha=1.0, seed=0)
    rule = GeneralizedEP(beta=0.01, homeostasis=1.0, samples=1)
    g1, g2 = rule.gradient(net, x, y), rule.gradient(net, x, y)
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)
    a = np.random.default_rng(probe_seed(0, x)).normal(size=4)
    b = np.random.default_rng(probe_seed(0, x[::-1])).normal(size=4)
    assert not np.array_equal(a, b)
    state = net.equilibrium(np.repeat(x[:1], 2, axis=0))      # two identical samples
    h = homeostatic_gradient(net, state, samples=1, seed=0)
    assert not np.allclose(h["W2"][0], h["W2"][1])


def test_a_barely_stable_fixed_point_is_found_by_following_the_flow():
    """Digits sample 1358 under seed 1: Newton alone stalls at a residual ~6e-5 (the smallest
    Jacobian eigenvalue is ~0.01); the dynamics converge there, and the relaxation follows
    them before polishing."""
    x = pl.datasets.digits().x_train[1358:1359]
    net = VectorFieldNetwork([64, 32, 10], alpha=0.0, seed=1)
    state = net.equilibrium(x)
    assert np.max(np.abs(net.residual(state))) < 1e-9
    assert np.min(np.linalg.eigvals(net.jacobian(state)).real) > 0


def test_a_sample_relaxes_to_the_same_state_in_any_batch():
    """Euler flow and Newton stop per sample: a state does not depend on its batch-mates."""
    x = pl.datasets.digits().x_train[:48]
    net = VectorFieldNetwork([64, 32, 32, 10], alpha=1.2, seed=0)
    alone = np.concatenate([net.equilibrium(x[i:i + 1]).s for i in range(0, 48, 12)])
    together = net.equilibrium(x).s[::12]
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-13)


def test_an_oscillating_network_is_named_as_such():
    """Strong opposite forward and backward couplings of two units: the flow circles a limit
    cycle (its residual swings without decaying) and never rests; the error says so."""
    net = VectorFieldNetwork([1, 1, 1], alpha=np.pi / 2, seed=0)
    net._RESCUE_STEPS = 2000
    net.params = {"W1": np.array([[3.18]]), "W2": np.array([[5.634]]),
                  "B2": np.array([[-9.149]]), "b1": np.array([2.713]), "b2": np.array([-0.964])}
    with pytest.raises(pl.ConvergenceError, match=r"samples \[0\] oscillate.*limit cycle"):
        net.equilibrium([[0.5]])


def test_tied_network_is_the_energy_based_hopfield_network(problem):
    """``tied=True``: B ≡ Wᵀ, the same fixed points as the untied network at α = 0, an
    energy whose state gradient is the field, and EP's ∂E/∂θ contrast is exact; holomorphic
    EP's bias falls as r^N (N = 4: ×16 per halving of the radius)."""
    from physlearn.rules.ep import EP
    from physlearn.rules.holomorphic import HolomorphicEP
    x, y = problem
    cost = pl.SquaredError()
    tied = VectorFieldNetwork([3, 4, 3, 2], tied=True, seed=2)
    untied = VectorFieldNetwork([3, 4, 3, 2], alpha=0.0, seed=2)
    assert "B2" not in tied.params and tied.is_symmetric()
    assert {"soft_nudge", "complex"} <= tied.capabilities
    np.testing.assert_allclose(tied.equilibrium(x).s, untied.equilibrium(x).s, atol=1e-12)
    state = tied.equilibrium(x)
    h = 1e-6
    fd = np.stack([(tied.energy(state.replace(s=state.s + h * e))
                    - tied.energy(state.replace(s=state.s - h * e))) / (2 * h)
                   for e in np.eye(state.s.shape[1])], axis=1)
    np.testing.assert_allclose(fd, tied.energy_gradient(state), atol=1e-8)
    exact = pl.exact_gradient(tied, x, y, cost)
    assert relative_error(EP(beta=1e-5, variant="centered").gradient(tied, x, y, cost),
                          exact) < 1e-8
    errors = [relative_error(HolomorphicEP(beta=r, points=4).gradient(tied, x, y, cost), exact)
              for r in (0.2, 0.1)]
    assert 10 < errors[0] / errors[1] < 24
    with pytest.raises(ValueError, match="param_gradient: no energy"):
        untied.param_gradient(state)
