"""Optimizers: update formulas, convergence on a quadratic, resumable state."""

import numpy as np
import pytest

from physlearn.experiment.optim import (
    SGD,
    Adam,
    BinaryFlip,
    Metaplastic,
    Momentum,
    make_optimizer,
)
from physlearn.registry import OPTIMIZERS

# a well-conditioned quadratic L(θ) = ½ Σ h (θ − θ*)², with two parameter arrays
CURVATURE = {"a": np.array([1.0, 3.0]), "b": np.array([[0.5, 2.0], [1.5, 1.0]])}
OPTIMUM = {"a": np.array([0.3, -1.2]), "b": np.array([[2.0, -0.5], [0.0, 1.0]])}
SETTINGS = {"sgd": {"lr": 0.3}, "momentum": {"lr": 0.1, "momentum": 0.5}, "adam": {"lr": 0.05}}
#: optimizers with binary parameters: no continuous optimum to converge to (own tests below);
#: the settings name the binary parameter of the quadratic's pair
BINARY = {"binary-flip": {"binary": "b"}, "metaplastic": {"binary": "b"}}


def quadratic_grad(params):
    return {k: CURVATURE[k] * (params[k] - OPTIMUM[k]) for k in params}


def start():
    return {"a": np.zeros(2), "b": np.ones((2, 2))}


def test_settings_cover_registry():
    assert set(SETTINGS) | set(BINARY) == set(OPTIMIZERS)
    assert not set(SETTINGS) & set(BINARY)


def build(name, **kwargs):
    """``make_optimizer`` with the settings a binary optimizer needs on the quadratic."""
    return make_optimizer(name, **{**BINARY.get(name, {}), **kwargs})


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_converges_on_quadratic(name):
    opt = make_optimizer(name, **SETTINGS[name])
    params = start()
    for _ in range(1000):
        params = opt.step(params, quadratic_grad(params))
    for k in params:
        np.testing.assert_allclose(params[k], OPTIMUM[k], atol=1e-6)
    assert opt.t == 1000


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_does_not_mutate_inputs(name):
    opt = build(name)
    params, grads = start(), quadratic_grad(start())
    params_before = {k: v.copy() for k, v in params.items()}
    grads_before = {k: v.copy() for k, v in grads.items()}
    new = opt.step(params, grads)
    for k in params:
        assert np.array_equal(params[k], params_before[k])
        assert np.array_equal(grads[k], grads_before[k])
        assert new[k] is not params[k]
        assert new[k].dtype == np.float64


def test_sgd_step_formula():
    new = SGD(lr=0.1).step({"w": np.array([1.0, 2.0])}, {"w": np.array([4.0, -2.0])})
    np.testing.assert_array_equal(new["w"], [0.6, 2.2])


def test_momentum_accumulates_velocity():
    opt = Momentum(lr=0.1, momentum=0.5)
    g1, g2 = np.array([1.0]), np.array([2.0])
    p1 = opt.step({"w": np.array([0.0])}, {"w": g1})
    p2 = opt.step(p1, {"w": g2})
    # v1 = g1, v2 = 0.5 g1 + g2
    np.testing.assert_allclose(p1["w"], -0.1 * g1)
    np.testing.assert_allclose(p2["w"], -0.1 * g1 - 0.1 * (0.5 * g1 + g2))


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_adam_first_step_has_magnitude_lr(scale):
    grads = {"w": scale * np.array([1.0, -2.0, 0.5])}
    new = Adam(lr=0.01).step({"w": np.zeros(3)}, grads)
    np.testing.assert_allclose(np.abs(new["w"]), 0.01, rtol=1e-4)
    np.testing.assert_array_equal(np.sign(new["w"]), -np.sign(grads["w"]))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_continues_identically(name, tmp_path):
    original = build(name)
    params = start()
    for _ in range(5):
        params = original.step(params, quadratic_grad(params))
    np.savez(tmp_path / "state.npz", **original.state_dict())
    restored = build(name)
    with np.load(tmp_path / "state.npz") as npz:
        restored.load_state_dict({k: npz[k] for k in npz.files})
    assert restored.t == original.t == 5

    p_orig, p_rest = params, {k: v.copy() for k, v in params.items()}
    for _ in range(5):
        p_orig = original.step(p_orig, quadratic_grad(p_orig))
        p_rest = restored.step(p_rest, quadratic_grad(p_rest))
    for k in params:
        assert np.array_equal(p_orig[k], p_rest[k])


def test_fresh_optimizer_differs_from_restored():
    """Guards the round-trip test: without the state, Adam would take another path."""
    opt = Adam(lr=0.1)
    params = start()
    for _ in range(3):
        params = opt.step(params, quadratic_grad(params))
    continued = opt.step(params, quadratic_grad(params))
    fresh = Adam(lr=0.1).step(params, quadratic_grad(params))
    assert not np.array_equal(continued["a"], fresh["a"])


def test_state_dict_is_a_copy():
    opt = Momentum()
    opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    state = opt.state_dict()
    state["velocity/w"][:] = 100.0
    assert np.array_equal(opt.state_dict()["velocity/w"], np.ones(2))


def test_load_state_dict_rejects_foreign_keys():
    with pytest.raises(ValueError, match="'m/w'"):
        Momentum().load_state_dict({"t": 1, "m/w": np.zeros(2)})
    with pytest.raises(ValueError, match="'t'"):
        Adam().load_state_dict({"m/w": np.zeros(2)})


def test_mismatched_grads_are_rejected():
    opt = SGD()
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        opt.step({"a": np.zeros(2), "b": np.zeros(1)}, {"a": np.zeros(2)})
    with pytest.raises(ValueError, match=r"grads\['a'\] has shape \(3,\)"):
        opt.step({"a": np.zeros(2)}, {"a": np.zeros(3)})


def test_reuse_on_other_parameters_needs_reset():
    opt = Adam()
    opt.step({"a": np.zeros(2)}, {"a": np.ones(2)})
    with pytest.raises(ValueError, match="reset"):
        opt.step({"z": np.zeros(2)}, {"z": np.ones(2)})
    opt.reset()
    opt.step({"z": np.zeros(2)}, {"z": np.ones(2)})
    assert opt.t == 1


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_get_params_rebuilds(name):
    opt = build(name, lr=0.123)
    assert opt.get_params()["lr"] == 0.123
    clone = type(opt)(**opt.get_params())
    assert clone.get_params() == opt.get_params()


def test_make_optimizer_unknown_name_lists_valid():
    valid = "adam, binary-flip, metaplastic, momentum, sgd"
    with pytest.raises(ValueError, match=rf"'rmsprop'.*{valid}"):
        make_optimizer("rmsprop")
    assert isinstance(make_optimizer("Adam"), Adam)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_weight_decay_is_the_step_on_the_l2_penalised_loss(name):
    """``weight_decay=λ`` steps on ``g + λθ`` (the gradient of ``L + ½λ‖θ‖²``), and the
    penalised quadratic's minimum moves to ``hθ*/(h + λ)``."""
    lam = 0.4
    decayed = make_optimizer(name, **SETTINGS[name], weight_decay=lam)
    plain = make_optimizer(name, **SETTINGS[name])
    p, q = start(), start()
    for _ in range(3):
        g = quadratic_grad(p)
        p = decayed.step(p, g)
        q = plain.step(q, {k: g[k] + lam * q[k] for k in g})
        for k in p:
            np.testing.assert_array_equal(p[k], q[k])
    for _ in range(3000):
        p = decayed.step(p, quadratic_grad(p))
    for k in p:
        np.testing.assert_allclose(p[k], CURVATURE[k] * OPTIMUM[k] / (CURVATURE[k] + lam),
                                   atol=1e-6)


def test_weight_decay_acts_only_on_the_decayed_names():
    p = {"a": np.ones(2), "b": np.ones((2, 2))}
    zero = {k: np.zeros_like(v) for k, v in p.items()}
    new = SGD(lr=0.1, weight_decay=0.5, decayed="a").step(p, zero)
    np.testing.assert_allclose(new["a"], 0.95)
    np.testing.assert_array_equal(new["b"], p["b"])
    with pytest.raises(ValueError, match=r"decayed='W\*' matches no parameter of \['a', 'b'\]"):
        Adam(weight_decay=0.1, decayed="W*").step(p, zero)
    Adam(decayed="W*").step(p, zero)          # no decay, no pattern to match


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (SGD, {"lr": 0.0}, "lr"),
        (SGD, {"lr": float("nan")}, "lr"),
        (Momentum, {"momentum": 1.0}, "momentum"),
        (Adam, {"beta2": -0.1}, "beta2"),
        (Adam, {"eps": 0}, "eps"),
        (Adam, {"weight_decay": -1e-3}, "weight_decay"),
        (SGD, {"weight_decay": float("inf")}, "weight_decay"),
    ],
)
def test_invalid_hyperparameters(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


# -- BinaryFlip: the binary-EP optimizer (Laydevant et al. 2021) --------------------------------
def _binary_start(seed=0):
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=4)}


def test_binary_flip_binarises_at_mean_magnitude_and_keeps_it():
    params = _binary_start()
    alpha = np.mean(np.abs(params["W1"]))
    opt, rng = BinaryFlip(threshold=0.05, momentum=0.5), np.random.default_rng(1)
    for t in range(30):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        new = opt.step(params, grads)
        np.testing.assert_allclose(np.abs(new["W1"]), alpha, rtol=0, atol=1e-15)
        if t == 0:
            np.testing.assert_array_equal(np.sign(new["W1"]), np.sign(params["W1"]))
        params = new


def test_binary_flip_flips_exactly_where_the_filter_crosses_the_threshold():
    opt = BinaryFlip(threshold=0.3, momentum=0.5, lr=0.1)
    params = opt.step(_binary_start(), {"W1": np.zeros((4, 3)), "b1": np.zeros(4)})
    g = np.random.default_rng(2).normal(size=(4, 3))
    new = opt.step(params, {"W1": g, "b1": np.ones(4)})
    flip = np.sign(params["W1"]) * (0.5 * g) > 0.3          # m = μ·0 + (1 − μ) g
    assert flip.any() and not flip.all()
    np.testing.assert_array_equal(new["W1"], np.where(flip, -params["W1"], params["W1"]))
    np.testing.assert_allclose(new["b1"], params["b1"] - 0.1)   # biases: plain SGD


def test_binary_flip_without_memory_or_threshold_follows_the_gradient_sign():
    """``μ = 0, τ = 0``: after one step the weights are ``−α sign(g)`` wherever ``g ≠ 0``."""
    opt = BinaryFlip(threshold=0.0, momentum=0.0)
    params = opt.step(_binary_start(), {"W1": np.zeros((4, 3)), "b1": np.zeros(4)})
    alpha = np.abs(params["W1"]).max()
    g = np.random.default_rng(3).normal(size=(4, 3))
    new = opt.step(params, {"W1": g, "b1": np.zeros(4)})
    np.testing.assert_array_equal(new["W1"], -alpha * np.sign(g))


def test_binary_flip_with_an_infinite_threshold_freezes_the_weights():
    opt, params = BinaryFlip(threshold=np.inf), _binary_start()
    first = opt.step(params, {"W1": np.ones((4, 3)), "b1": np.zeros(4)})
    later = first
    for _ in range(5):
        later = opt.step(later, {"W1": 1e6 * np.ones((4, 3)), "b1": np.zeros(4)})
    np.testing.assert_array_equal(later["W1"], first["W1"])


def test_binary_flip_refuses_weights_changed_outside_it():
    opt = BinaryFlip()
    params = opt.step(_binary_start(), {"W1": np.zeros((4, 3)), "b1": np.zeros(4)})
    params["W1"][1, 2] *= 1.5
    with pytest.raises(ValueError, match=r"params\['W1'\] is not binary: entry \(1, 2\)"):
        opt.step(params, {"W1": np.zeros((4, 3)), "b1": np.zeros(4)})


def test_binary_flip_schedule_scales_the_filter_intake():
    """A schedule ``s`` scales what enters the filter, so the flips at threshold ``τ`` under
    ``s = ½`` are those at ``2τ`` under ``s = 1``; ``s → 0`` freezes the signs."""
    rng = np.random.default_rng(5)
    grads = [{"W1": rng.normal(size=(4, 3)), "b1": np.zeros(4)} for _ in range(8)]

    def run(threshold, scale):
        opt, params = BinaryFlip(threshold=threshold, momentum=0.5), _binary_start()
        opt.lr_scale = scale
        for g in grads:
            params = opt.step(params, g)
        return params["W1"]

    np.testing.assert_array_equal(run(0.1, 0.5), run(0.2, 1.0))
    assert not np.array_equal(run(0.1, 0.5), run(0.1, 1.0))
    np.testing.assert_array_equal(np.sign(run(0.0, 0.0)), np.sign(_binary_start()["W1"]))


def test_binary_flip_per_layer_thresholds_act_on_their_own_layer():
    """``threshold={"W1": τ1, "W2": τ2}``: each matrix flips against its own threshold, the
    same flips as two optimizers with one threshold each."""
    rng = np.random.default_rng(4)
    start = {"W1": rng.normal(size=(4, 3)), "W2": rng.normal(size=(2, 4))}
    grads = [{k: rng.normal(size=v.shape) for k, v in start.items()} for _ in range(6)]

    def run(threshold, keys):
        opt, params = BinaryFlip(threshold=threshold, momentum=0.5), {k: start[k] for k in keys}
        for g in grads:
            params = opt.step(params, {k: g[k] for k in keys})
        return params

    both = run({"W1": 0.05, "W*": 0.5}, ("W1", "W2"))      # first matching pattern wins
    np.testing.assert_array_equal(both["W1"], run(0.05, ("W1",))["W1"])
    np.testing.assert_array_equal(both["W2"], run(0.5, ("W2",))["W2"])
    assert not np.array_equal(both["W1"], run(0.5, ("W1",))["W1"])   # the thresholds matter


@pytest.mark.parametrize("threshold, match", [
    ({"W2": 0.1}, r"threshold pattern 'W2' matches no binary parameter"),
    ({"W1": 0.1}, r"gives no threshold for the binary parameters \['W3'\]")])
def test_binary_flip_per_layer_thresholds_must_cover_the_binary_parameters(threshold, match):
    params = {"W1": np.ones(2), "W3": np.ones(2)}
    with pytest.raises(ValueError, match=match):
        BinaryFlip(threshold=threshold).step(params, params)


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": -1.0}, "threshold"), ({"threshold": float("nan")}, "threshold"),
    ({"threshold": {"W1": -1.0}}, "threshold"),
    ({"momentum": 1.0}, "momentum"), ({"lr": 0.0}, "lr"), ({"binary": ()}, "binary"),
    ({"binary": 3}, "binary")])
def test_binary_flip_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BinaryFlip(**kwargs)


def test_binary_flip_pattern_must_match_a_parameter():
    with pytest.raises(ValueError, match=r"binary pattern 'J\*' matches no parameter"):
        BinaryFlip(binary="J*").step({"W1": np.ones(2)}, {"W1": np.ones(2)})


def test_binary_flip_learns_its_scale_by_gradient_descent():
    opt = BinaryFlip(threshold=np.inf, scale_lr=0.01)
    params = opt.step(_binary_start(), {"W1": np.zeros((4, 3)), "b1": np.zeros(4)})
    alpha = np.abs(params["W1"]).max()
    g = np.random.default_rng(4).normal(size=(4, 3))
    new = opt.step(params, {"W1": g, "b1": np.zeros(4)})
    expected = alpha - 0.01 * np.sum(np.sign(params["W1"]) * g)     # dL/dα = Σ sign(W) g
    np.testing.assert_allclose(new["W1"], expected * np.sign(params["W1"]), rtol=1e-14)
    opt.step(new, {"W1": g, "b1": np.zeros(4)})                      # |W| = the new α: accepted


def test_binary_flip_refuses_a_scale_that_would_vanish_and_keeps_its_state():
    opt = BinaryFlip(scale_lr=1.0, momentum=0.5, threshold=0.0)
    params = opt.step(_binary_start(), {"W1": np.zeros((4, 3)), "b1": np.zeros(4)})
    before = {k: np.copy(v) for k, v in opt.state_dict().items()}
    push = {"W1": 100.0 * np.sign(params["W1"]), "b1": np.zeros(4)}   # α − 1200 < 0
    with pytest.raises(ValueError, match=r"scale alpha of params\['W1'\] would become"):
        opt.step(params, push)
    after = opt.state_dict()
    assert set(after) == set(before)
    assert all(np.array_equal(after[k], before[k]) for k in before)


def test_binary_flip_refuses_all_zero_weights():
    with pytest.raises(ValueError, match=r"params\['W1'\] is all zeros"):
        BinaryFlip().step({"W1": np.zeros(3)}, {"W1": np.ones(3)})


def test_binary_flip_comes_from_a_config_and_trains_a_hopfield_network(tmp_path):
    """One registration reaches the configs: ``[optimizer] name = "binary-flip"``."""
    from physlearn.experiment import runio
    from physlearn.experiment.config import run_experiment

    config = {
        "system": {"builder": "hopfield", "layers": [3, 8, 2], "seed": 0},
        "rule": {"name": "ep-centered", "beta": 0.05},
        "data": {"name": "linear_regression", "n_samples": 80, "n_inputs": 3, "n_outputs": 2,
                 "seed": 0},
        "optimizer": {"name": "binary-flip", "threshold": 1e-4, "momentum": 0.9, "lr": 0.05,
                      "scale_lr": 1e-3, "binary": ["W*"]},
        "train": {"epochs": 3, "batch_size": 16, "seed": 0, "run_dir": str(tmp_path / "run")},
    }
    summary = run_experiment(config, progress=False)
    assert summary["config"]["optimizer"]["name"] == "binary-flip"
    with np.load(tmp_path / "run" / "params.npz") as params:
        for name in ("W1", "W2"):
            assert np.unique(np.abs(params[name])).size == 1
    losses = [r["test_loss"] for r in runio.read_jsonl(tmp_path / "run" / "history.jsonl")]
    assert losses[-1] < losses[0]


# -- Metaplastic: binary weights as signs of hidden weights (Laborieux et al. 2021) -----------
def test_metaplastic_without_metaplasticity_is_adam_on_the_hidden_weights():
    params, rng = _binary_start(), np.random.default_rng(5)
    meta, adam = Metaplastic(m=0.0, lr=0.05), Adam(lr=0.05)
    alpha = np.mean(np.abs(params["W1"]))
    hidden = dict(params)
    for _ in range(20):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        params, hidden = meta.step(params, grads), adam.step(hidden, grads)
        np.testing.assert_array_equal(params["W1"], alpha * np.where(hidden["W1"] < 0, -1, 1))
        np.testing.assert_allclose(params["b1"], hidden["b1"], rtol=1e-15)
    np.testing.assert_allclose(meta.state_dict()["hidden/W1"], hidden["W1"], rtol=1e-14)


def test_metaplastic_attenuates_only_the_steps_toward_a_flip():
    meta, adam = Metaplastic(m=2.0, lr=0.1), Adam(lr=0.1)
    w = np.array([[0.5, -0.5, 0.5, -0.5]])
    g = np.array([[1.0, 1.0, -1.0, -1.0]])              # steps −, −, +, +: toward 0 at 0 and 3
    meta.step({"W": w}, {"W": g})
    step = adam.step({"W": w}, {"W": g})["W"] - w
    factor = 1.0 - np.tanh(2.0 * 0.5) ** 2
    expected = w + np.array([[factor, 1.0, 1.0, factor]]) * step
    np.testing.assert_allclose(meta.state_dict()["hidden/W"], expected, rtol=1e-14)


def test_metaplastic_hidden_weights_survive_between_trainings_and_reset_forgets_them():
    meta, params = Metaplastic(lr=0.1), _binary_start()
    zero = {"W1": np.zeros((4, 3)), "b1": np.zeros(4)}
    binary = meta.step(params, zero)
    again = meta.step(binary, {"W1": np.ones((4, 3)), "b1": np.zeros(4)})
    assert meta.state_dict()["hidden/W1"].shape == (4, 3)
    binary["W1"][0, 0] *= -1                               # a flip the hidden weight did not make
    with pytest.raises(ValueError, match=r"not the sign of its hidden weight: entry \(0, 0\)"):
        meta.step(binary, zero)
    meta.reset()
    assert "hidden/W1" not in meta.state_dict()
    meta.step(again, zero)                                 # binarises afresh


@pytest.mark.parametrize("kwargs, match", [({"m": -1.0}, "m must"), ({"m": float("inf")}, "m must"),
                                           ({"lr": 0.0}, "lr"), ({"binary": ""}, "matches no")])
def test_metaplastic_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Metaplastic(**kwargs).step({"W1": np.ones(2)}, {"W1": np.ones(2)})
