"""Neuronal-error alignment, the nudge radius of vector-field networks, deeper networks and the
training guard for fixed points that do not exist."""

import warnings

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.train import FixedPointWarning
from physlearn.nudges import Nudge
from physlearn.rules.generalized import GeneralizedEP, error_alignment
from physlearn.systems.vector_field import VectorFieldNetwork


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(1)
    return rng.normal(size=(6, 3)), 0.3 * rng.normal(size=(6, 2))


@pytest.fixture(scope="module")
def digits():
    return pl.datasets.digits()


def cos(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# -- the alignment metric ----------------------------------------------------------------------
@pytest.mark.parametrize("layers", [[3, 5, 2], [3, 4, 3, 2]])
@pytest.mark.parametrize("beta,points", [(None, 2), (0.01, 2), (0.05, 4)])
def test_symmetric_network_is_aligned_on_every_layer(problem, layers, beta, points):
    x, y = problem
    net = VectorFieldNetwork(layers, alpha=0.0, seed=0)
    a = error_alignment(net, x, y, beta=beta, points=points)
    names = [f"hidden_{i + 1}" for i in range(len(layers) - 2)] + ["output", "hidden", "all"]
    for name in names:
        assert a[name] == pytest.approx(1.0, abs=1e-6), (name, a)
    assert pl.error_alignment is error_alignment


def test_per_layer_split_of_a_two_hidden_layer_net(problem):
    """Each entry is the batch mean of the per-sample cosine on that layer's units only."""
    x, y = problem
    net = VectorFieldNetwork([3, 4, 3, 2], alpha=1.2, seed=3)
    a = error_alignment(net, x, y, beta=None, per_sample=True)
    free = net.equilibrium(x)
    g = net.output_vjp(free, pl.SquaredError().gradient(net.outputs(free), y))
    J = net.jacobian(free)
    ds = -np.linalg.solve(J, g[..., None])[..., 0]                      # what a nudge moves
    delta = -np.linalg.solve(np.swapaxes(J, 1, 2), g[..., None])[..., 0]   # recurrent backprop
    for name, sl in (("hidden_1", slice(0, 4)), ("hidden_2", slice(4, 7)),
                     ("output", slice(7, 9)), ("hidden", slice(0, 7)), ("all", slice(0, 9))):
        np.testing.assert_allclose(a["samples"][name], cos(ds[:, sl], delta[:, sl]), atol=1e-12)
        assert a[name] == pytest.approx(np.mean(cos(ds[:, sl], delta[:, sl])), abs=1e-12)
    assert a["hidden_1"] != pytest.approx(a["hidden_2"], abs=1e-3)
    # the nudged estimate agrees with the exact ds/dβ to its bias in β
    est = error_alignment(net, x, y, beta=0.01, points=4)
    assert est["hidden"] == pytest.approx(a["hidden"], abs=1e-6)


def test_alignment_falls_with_the_asymmetry_angle(digits):
    x, y = digits.x_train[:16], digits.y_train[:16]
    hidden, output = [], []
    for degrees in (0, 45, 90):
        a = error_alignment(VectorFieldNetwork([64, 32, 10], alpha=np.radians(degrees)), x, y,
                            beta=None)
        hidden.append(a["hidden"])
        output.append(a["output"])
    assert hidden[0] == pytest.approx(1.0, abs=1e-9)
    assert hidden[0] > hidden[1] + 0.2 > hidden[2] + 0.4, hidden
    assert min(output) > 0.9, output      # the output layer is aligned by construction


# -- the nudge radius ------------------------------------------------------------------------
def test_nudge_radius_is_where_nudged_fixed_points_stop_existing(digits):
    """Inside 0.9 r every nudge of the circle relaxes, and at 0.5 r the Cauchy estimate is the
    exact ds/dβ to 1 %; at r the rule refuses, naming both. Beyond (check bypassed) the sum on
    the circle converges to a wrong value for the sample that sets the radius, while the
    others, whose own radii are larger, stay exact: the radius is the batch minimum."""
    x, y = digits.x_train[:8], digits.y_train[:8]
    cost = pl.SquaredError()
    net = VectorFieldNetwork([64, 32, 10], alpha=0.0, seed=0)
    free = net.equilibrium(x)
    r = net.nudge_radius(x, y, cost)
    assert r == pytest.approx(net.nudge_radius(x, y, cost, free=free), rel=1e-12)
    assert 0.03 < r < 0.3
    for k in range(8):
        beta = 0.9 * r * np.exp(2j * np.pi * k / 8)
        state = net.equilibrium(x, Nudge(cost, y, beta if k % 4 else beta.real), start=free)
        assert np.max(np.abs(net.residual(state))) < 1e-8
    exact = -np.linalg.solve(net.jacobian(free), net.output_vjp(
        free, cost.gradient(net.outputs(free), y))[..., None])[..., 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = GeneralizedEP(beta=0.5 * r, points=8).state_derivative(net, x, y, cost, free)
    assert np.max(np.abs(ds - exact)) < 0.01 * np.max(np.abs(exact))
    with pytest.raises(ValueError, match=f"{r:.6g}.*beta < {r:.6g}"):
        GeneralizedEP(beta=r, points=4).gradient(net, x, y)
    own = np.array([net.nudge_radius(x[i:i + 1], y[i:i + 1], cost) for i in range(len(x))])
    critical = int(np.argmin(own))
    assert own[critical] == pytest.approx(r, rel=1e-12) and np.sort(own)[1] > 2 * r
    net.nudge_radius = lambda *args, **kwargs: None     # unknown radius: the rule relaxes
    ds = GeneralizedEP(beta=1.5 * r, points=8).state_derivative(net, x, y, cost, free)
    err = np.max(np.abs(ds - exact), axis=1) / np.max(np.abs(exact), axis=1)
    assert err[critical] > 0.2 and np.max(np.delete(err, critical)) < 0.01, err
    del net.nudge_radius
    # real nudges need no series in β: only their relaxation is checked
    GeneralizedEP(beta=r, points=2).gradient(net, x[:2], y[:2])


# -- two hidden layers, both weight sets, both activations --------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_two_hidden_layers_train_forward_and_backward_weights(problem, activation):
    x, y = problem
    sym = VectorFieldNetwork([3, 4, 3, 2], alpha=0.0, seed=1, activation=activation)
    ex = pl.exact_gradient(sym, x, y)
    assert relative_error(ex, pl.finite_difference_gradient(sym, x, y)) < 1e-6
    assert relative_error(GeneralizedEP(beta=1e-3, points=2).gradient(sym, x, y), ex) < 1e-5
    assert relative_error(GeneralizedEP(beta=0.03, points=4).gradient(sym, x, y), ex) < 1e-5
    net = VectorFieldNetwork([3, 4, 3, 2], alpha=1.0, seed=1, activation=activation)
    ex = pl.exact_gradient(net, x, y)
    assert relative_error(ex, pl.finite_difference_gradient(net, x, y)) < 1e-6
    for rule in (GeneralizedEP(beta=1e-2), GeneralizedEP(beta=0.05, points=3),
                 GeneralizedEP(beta=1e-2, homeostasis=0.5)):
        g = rule.gradient(net, x, y)
        assert set(g) == {"W1", "W2", "W3", "B2", "B3", "b1", "b2", "b3"}
        for name in ("W2", "W3", "B2", "B3"):                  # forward and backward weights
            assert np.max(np.abs(g[name])) > 1e-6, (rule, name)
    before = {k: v.copy() for k, v in net.params.items()}
    g = GeneralizedEP(beta=1e-2).gradient(net, x, y)
    net.update_params({k: v - 0.1 * g[k] for k, v in net.params.items()})
    assert all(not np.array_equal(before[k], net.params[k]) for k in ("W2", "B2", "W3", "B3"))


def test_sigmoid_activation_is_the_papers_and_holomorphic(problem):
    x, _ = problem
    net = VectorFieldNetwork([3, 4, 2], alpha=0.5, seed=0, activation="sigmoid")
    s = np.linspace(-1, 1, 4)
    state = net.equilibrium(x[:1])
    rho = net._layers(state.replace(s=np.tile(np.r_[s, 0, 0], (1, 1))))[1][0]
    np.testing.assert_allclose(rho[0], 1 / (1 + np.exp(-4 * s + 2)), rtol=1e-14)
    h = 1e-30j                                          # complex step: holomorphic in s
    v = np.random.default_rng(0).normal(size=state.s.shape)
    dphi = np.imag(net.energy_gradient(state.replace(s=state.s + h * v))) / 1e-30
    np.testing.assert_allclose(dphi, np.einsum("bij,bj->bi", net.jacobian(state), v),
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="activation"):
        VectorFieldNetwork([3, 2], activation="relu")


# -- training never trains on a fixed point that does not exist -----------------------------------
def test_training_skips_and_counts_batches_without_a_fixed_point(digits, caplog):
    x, y = digits.x_train[:64], digits.y_train[:64]
    data = Dataset(x_train=x, y_train=y, x_test=x[:8], y_test=y[:8], task="classification",
                   n_classes=10)
    net = VectorFieldNetwork([64, 32, 10], alpha=0.0, seed=0)
    rule = GeneralizedEP(beta=0.12, points=2)   # −β is beyond the fold of some samples' s*(β)
    with pytest.warns(FixedPointWarning, match="not trained on"):
        history = pl.train(net, rule, data, epochs=1, batch_size=8, progress=False,
                           optimizer=pl.optim.SGD(lr=1e-3))
    assert 1 <= history.failed_batches < 8
    assert history.final["failed_batches"] == history.failed_batches
    assert "does not exist" in caplog.text
    # every batch failing stops the run, saying so
    net = VectorFieldNetwork([64, 32, 10], alpha=0.0, seed=0)
    with pytest.raises(pl.ConvergenceError, match="no batch could be trained on"):
        pl.train(net, GeneralizedEP(beta=2.0, points=2), data, epochs=1, batch_size=32,
                 progress=False)
