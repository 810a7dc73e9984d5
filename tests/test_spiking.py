"""Spiking networks: integrate-and-fire rates, the rate network, spiking EP, EqSpike and
surrogate-gradient BPTT, each against an exact reference."""

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import cosine
from physlearn.nudges import Nudge
from physlearn.systems.hopfield import Conv
from physlearn.systems.spiking import SpikingNetwork, _Phase, stdp_window

COST = pl.SquaredError()


def problem(shape=(3,), n_out=2, seed=0, batch=4):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (batch, *shape)), rng.uniform(0, 1, (batch, n_out))


def single_layer(bias, threshold=1.0, window=500, neuron="if", tau=20.0):
    """Neurons driven only by a constant bias current (no input coupling)."""
    net = SpikingNetwork([1, len(bias)], window=window, threshold=threshold, neuron=neuron,
                         tau=tau)
    net.params = {"W1": np.zeros((len(bias), 1)), "b1": np.asarray(bias, dtype=float)}
    return net


@pytest.mark.parametrize("threshold", [1.0, 2.5])
def test_if_rate_is_the_hard_sigmoid_of_the_drive(threshold):
    bias = np.array([-0.4, 0.0, 0.13, 0.5, 0.77, 1.0, 1.6]) * threshold
    for window in (50, 500):
        net = single_layer(bias, threshold, window)
        rate = net.predict(np.zeros((1, 1)))[0]
        assert np.all(np.abs(rate - np.clip(bias / threshold, 0, 1)) <= 1.0 / window + 1e-12)


def test_input_neurons_fire_at_their_rate():
    net = SpikingNetwork([4, 4], window=400)
    net.params = {"W1": np.eye(4), "b1": np.zeros(4)}
    x = np.array([[0.0, 0.25, 0.6, 1.0]])
    assert np.abs(net.predict(x)[0] - x[0]).max() <= 2.0 / 400


def test_lif_rate_approximates_its_rate_network():
    bias = np.linspace(0.05, 0.95, 7)
    net = single_layer(bias, window=2000, neuron="lif", tau=50.0)
    rate = net.predict(np.zeros((1, 1)))[0]
    expected = net.rate_network().predict(np.zeros((1, 1)))[0]
    assert np.abs(rate - expected).max() < 0.02
    # without the leak correction the rates would be off by (1 - λ)/2 ≈ 0.01
    assert np.abs(rate - bias).max() > 0.005


@pytest.mark.parametrize("layers,shape", [([3, 5, 2], (3,)),
                                          ([[1, 6, 6], Conv(4, 3, padding=1), 2], (1, 6, 6))])
def test_rates_approach_the_rate_network_fixed_point(layers, shape):
    x, _ = problem(shape)
    errors = []
    for window in (100, 1000, 5000):
        net = SpikingNetwork(layers, window=window, seed=1)
        errors.append(np.abs(net.predict(x) - net.rate_network().predict(x)).max())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3


def test_rate_network_parameters_and_loss():
    net = SpikingNetwork([3, 5, 2], threshold=2.0, seed=1)
    rate = net.rate_network()
    for k, v in net.params.items():
        np.testing.assert_allclose(rate.params[k], v / 2.0)
    x, y = problem()
    assert net.loss(x, y, COST) == pytest.approx(pl.loss(rate, x, y, COST))
    ex, ref = net.exact_gradient(x, y, COST), pl.exact_gradient(rate, x, y, COST)
    for k in ex:        # dL/dW = dL/dW' / θ with W' = W/θ
        np.testing.assert_allclose(ex[k], ref[k] / 2.0)
    fd = pl.finite_difference_gradient(net, x, y, COST)
    assert pl.check.relative_error(ex, fd) < 1e-6


def test_spiking_ep_tends_to_the_exact_gradient_as_the_window_grows():
    """Acceptance: cosine >= 0.99 with the rate network's exact gradient, rising with the
    window (small network, library defaults; beta small enough that rate EP is exact)."""
    x, y = problem()
    cosines = []
    for window in (100, 1000, 4000):
        net = SpikingNetwork([3, 5, 2], window=window, seed=1)
        cosines.append(cosine(pl.EP(beta=0.01).gradient(net, x, y, COST),
                              net.exact_gradient(x, y, COST)))
    assert cosines[0] < cosines[1] < cosines[2]
    assert cosines[2] >= 0.99


def test_max_pooling_biases_spiking_ep_and_average_pooling_does_not():
    """Acceptance: with max pooling the cosine with the exact gradient is lower by >= 0.01."""
    x, y = problem((1, 6, 6))
    result = {}
    for pool in ("avg", "max"):
        net = SpikingNetwork([[1, 6, 6], Conv(4, 3, padding=1, pool=pool), 2], window=1000,
                             seed=1)
        result[pool] = cosine(pl.EP(beta=0.01).gradient(net, x, y, COST),
                              net.exact_gradient(x, y, COST))
    assert result["avg"] > 0.99
    assert result["avg"] - result["max"] >= 0.01


def test_time_average_commutes_with_average_pooling_only():
    """Two alternating spikes in one pooling window: the time average of the average-pooled
    map is the pooled time average (¼); max pooling gives 1 against a max of averages ½."""
    net = SpikingNetwork([[1, 2, 2], Conv(1, 1, pool="avg", pool_size=2), 1])
    op = net._ops[0]
    W = np.ones(op.w_shape)
    z = [np.array([[1.0, 0, 0, 0]]), np.array([[0, 1.0, 0, 0]])]
    pooled = np.mean([op.forward(W, s) for s in z], axis=0)
    np.testing.assert_allclose(pooled, op.forward(W, np.mean(z, axis=0)))
    np.testing.assert_allclose(pooled, 0.25)          # each step's window average is ¼
    maxed = SpikingNetwork([[1, 2, 2], Conv(1, 1, pool="max", pool_size=2), 1])._ops[0]
    assert np.mean([maxed.forward(W, s) for s in z]) == 1.0
    assert maxed.forward(W, np.mean(z, axis=0)).item() == 0.5


def test_eqspike_tends_to_spiking_ep():
    x, y = problem()
    net = SpikingNetwork([3, 5, 2], window=2000, seed=1, tau_trace=20.0)
    eq, ep = pl.EqSpike(beta=0.05).gradient(net, x, y), pl.EP(beta=0.05).gradient(net, x, y)
    assert cosine(eq, ep) > 0.999
    small = pl.EqSpike(beta=0.01).gradient(net, x, y)       # rate EP is exact at this beta
    assert cosine(small, net.exact_gradient(x, y, COST)) > 0.99


def test_pair_accumulator_matches_the_spike_trains():
    """The chunked accumulation equals the pair sum written out from recorded spikes."""
    net = SpikingNetwork([3, 4, 2], window=70, settle=5, seed=2)
    x, y = problem()
    phase = _Phase(net, net.check_inputs(x), None, True)
    rec = []
    nudge = Nudge(COST, y, 0.3)
    for t in range(net.n_settle + net.window):
        before = (phase.trace.copy(), phase.trace0.copy())
        phase.step(nudge, count=t >= net.n_settle)
        if t >= net.n_settle:
            rec.append((phase.z.copy(), before[0], phase.z0.copy(), before[1]))
    got = phase.state(nudge).info["pairs"]
    sl = net._slices
    W1 = sum(0.5 * (np.einsum("bi,bj->bij", z[:, sl[0]], x0) + np.einsum("bi,bj->bij",
                                                                        xt[:, sl[0]], z0))
             for z, xt, z0, x0 in rec)
    W2 = sum(0.5 * (np.einsum("bi,bj->bij", z[:, sl[1]], xt[:, sl[0]])
                    + np.einsum("bi,bj->bij", xt[:, sl[1]], z[:, sl[0]])) for z, xt, _, _ in rec)
    np.testing.assert_allclose(got["W1"], -W1 / net.window)
    np.testing.assert_allclose(got["W2"], -W2 / net.window)
    np.testing.assert_allclose(got["b2"], -sum(z[:, sl[1]] for z, *_ in rec) / net.window)


def test_stdp_window_shape():
    lags = np.arange(-30, 31)
    w = stdp_window(lags, tau_trace=8.0)
    a = 1 - 1 / 8.0
    expected = np.where(lags == 0, 0.0, 0.5 / 8.0 * a ** (np.abs(lags) - 1.0))
    np.testing.assert_allclose(w, expected, atol=1e-15)
    np.testing.assert_allclose(w, w[::-1])                     # symmetric in Δt


def _soft_forward_loss(net, x, y, params, frozen):
    """The dense network's free phase with spikes H(v*) + S(v) − S(v*): equal to the spiking
    run at the frozen membranes v*, differentiable with S′ the triangle surrogate."""
    W1, W2, b1, b2 = params["W1"], params["W2"], params["b1"], params["b2"]
    S = lambda u: np.where(u < -1, 0.0, np.where(u < 0, 0.5 * (u + 1) ** 2,           # noqa
                                                 np.where(u < 1, 1 - 0.5 * (1 - u) ** 2, 1.0)))
    n1 = W1.shape[0]
    u = np.zeros((len(x), n1 + W2.shape[0]))
    z = np.zeros_like(u)
    u0, z0 = np.zeros(x.shape), np.zeros(x.shape)
    count = 0.0
    for t, vstar in enumerate(frozen):
        h, o = z[:, :n1], z[:, n1:]
        current = np.concatenate([z0 @ W1.T + o @ W2 + b1, h @ W2.T + b2], axis=1)
        v0 = u0 + x
        z0 = (v0 >= 1.0).astype(float)
        u0 = v0 - z0
        v = u + current / net.threshold
        z = (vstar >= 1).astype(float) + S(v - 1) - S(vstar - 1)
        u = v - z
        if t >= net.n_settle:
            count = count + z[:, n1:]
    return COST.value(count / net.window, y)


def test_surrogate_bptt_is_the_gradient_of_the_surrogate_model():
    net = SpikingNetwork([3, 4, 2], window=40, settle=10, seed=3, threshold=1.3)
    # nonzero biases: no membrane sits exactly at a kink of S (v = 0 from rest)
    rng = np.random.default_rng(5)
    net.params = {k: v + 0.3 * rng.normal(size=v.shape) for k, v in net.params.items()}
    x, y = problem(seed=4)
    per = net.surrogate_bptt(x, y, COST)
    # the membranes of the real run, frozen
    phase = _Phase(net, net.check_inputs(x), None, False)
    frozen = []
    for t in range(net.n_settle + net.window):
        phase.step(None, count=t >= net.n_settle)
        frozen.append(phase.u + phase.z)
    p = {k: v.copy() for k, v in net.params.items()}
    h = 1e-6
    rng = np.random.default_rng(0)
    for k in p:
        for i in rng.choice(p[k].size, min(3, p[k].size), replace=False):
            up, dn = ({kk: vv.copy() for kk, vv in p.items()} for _ in range(2))
            up[k].flat[i] += h
            dn[k].flat[i] -= h
            fd = (_soft_forward_loss(net, x, y, up, frozen)
                  - _soft_forward_loss(net, x, y, dn, frozen)) / (2 * h)
            np.testing.assert_allclose(per[k].reshape(len(x), -1)[:, i], fd, rtol=1e-5,
                                       atol=1e-8)
        assert np.abs(per[k]).max() > 1e-3          # the comparison is not between zeros


def test_surrogate_bptt_tends_to_the_rate_gradient():
    x, y = problem()
    net = SpikingNetwork([3, 5, 2], window=1000, seed=1)
    g = pl.SurrogateBPTT().gradient(net, x, y, COST)
    assert cosine(g, net.exact_gradient(x, y, COST)) > 0.999


def test_nudged_phase_continues_the_free_one():
    net = SpikingNetwork([3, 5, 2], window=300, seed=1)
    x, y = problem()
    free = net.equilibrium(x)
    again = net.equilibrium(x, start=free)
    assert np.abs(again.s - free.s).max() < 0.02
    nudged = net.equilibrium(x, Nudge(COST, y, 0.5), start=free)
    # E + βC minimised: the nudged state has the lower cost (up to the counting error)
    assert np.all(COST.value(net.outputs(nudged), y) < COST.value(net.outputs(free), y) + 0.01)
    assert COST.mean(net.outputs(nudged), y) < 0.9 * COST.mean(net.outputs(free), y)


def test_training_on_a_batch_lowers_the_loss():
    x, y = problem(batch=8)
    net = SpikingNetwork([3, 6, 2], window=200, seed=2, )
    before = net.loss(x, y, COST)
    for _ in range(20):
        g = pl.EqSpike(beta=0.2).gradient(net, x, y)
        net.params = {k: v - 0.2 * g[k] for k, v in net.params.items()}
    assert net.loss(x, y, COST) < 0.8 * before


@pytest.mark.parametrize("kwargs,match", [
    ({"threshold": -1.0}, "threshold"), ({"threshold": 0.0}, "threshold"),
    ({"tau": -5.0}, "tau"), ({"dt": 0.0}, "dt"), ({"tau_trace": -1.0}, "tau_trace"),
    ({"tau_trace": 0.5}, "tau_trace"), ({"window": 0}, "window"), ({"window": 2.5}, "window"),
    ({"settle": -1}, "settle"), ({"neuron": "hh"}, "neuron")])
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpikingNetwork([3, 5, 2], **kwargs)


def test_bad_inputs_and_nudges():
    net = SpikingNetwork([3, 5, 2], dt=0.5)
    with pytest.raises(ValueError, match=r"x\[0, 1\]=2.5.*\[0, 2\]"):
        net.predict([[0.1, 2.5, 0.0]])
    with pytest.raises(ValueError, match=r"outside \[0, 1/dt\]"):
        net.predict([[0.1, -0.1, 0.0]])
    with pytest.raises(ValueError, match="cannot clamp"):
        net.equilibrium([[0.1, 0.2, 0.3]], pl.Clamp(np.array([[0.5, 0.5]])))
    with pytest.raises(ValueError, match="needs"):
        pl.ContrastiveLearning().gradient(net, [[0.1, 0.2, 0.3]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="record"):
        net.equilibrium([[0.1, 0.2, 0.3]], record="all")
    with pytest.raises(ValueError, match="width"):
        pl.SurrogateBPTT(width=0.0).gradient(net, [[0.1, 0.2, 0.3]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="needs"):
        pl.EqSpike().gradient(pl.systems.HopfieldNetwork([3, 5, 2]), [[0.1, 0.2, 0.3]],
                              [[0.5, 0.5]])


@pytest.mark.slow
def test_spiking_networks_learn_digits(tmp_path):
    """Acceptance (example 64, 3 seeds): layered EqSpike >= 93 %, convolutional spiking EP
    with average pooling >= 95 % and within 2 points of surrogate BPTT on the same network."""
    from example_runs import run_example

    lines = run_example("64_spiking_digits", tmp_path, SPIKING_FULL="1", SPIKING_WORKERS="2")
    rows = [line for line in lines if "test accuracy" in line]
    assert len(rows) == 3 and all("failed batches 0" in line for line in rows), lines
    verdict = {line.split(":")[0]: ": True" in line for line in lines
               if ": True" in line or ": False" in line}
    assert len(verdict) == 3, lines[-8:]
    assert all(verdict.values()), lines[-8:]


def test_initial_bias_and_gain_per_layer():
    net = SpikingNetwork([3, 5, 2], gain=[2.0, 0.5], initial_bias=[0.0, 0.3], seed=1)
    ref = SpikingNetwork([3, 5, 2], gain=1.0, seed=1)
    np.testing.assert_allclose(net.params["W1"], 2.0 * ref.params["W1"])
    np.testing.assert_allclose(net.params["W2"], 0.5 * ref.params["W2"])
    np.testing.assert_array_equal(net.params["b1"], 0.0)
    np.testing.assert_array_equal(net.params["b2"], 0.3)
    rebuilt = net.rate_network()
    np.testing.assert_allclose(rebuilt.params["W2"], net.params["W2"])
