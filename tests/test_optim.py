"""Optimizers: update formulas, convergence on a quadratic, resumable state."""

import numpy as np
import pytest

from physlearn.experiment.optim import SGD, Adam, Momentum, make_optimizer
from physlearn.registry import OPTIMIZERS

# a well-conditioned quadratic L(θ) = ½ Σ h (θ − θ*)², with two parameter arrays
CURVATURE = {"a": np.array([1.0, 3.0]), "b": np.array([[0.5, 2.0], [1.5, 1.0]])}
OPTIMUM = {"a": np.array([0.3, -1.2]), "b": np.array([[2.0, -0.5], [0.0, 1.0]])}
SETTINGS = {"sgd": {"lr": 0.3}, "momentum": {"lr": 0.1, "momentum": 0.5}, "adam": {"lr": 0.05}}


def quadratic_grad(params):
    return {k: CURVATURE[k] * (params[k] - OPTIMUM[k]) for k in params}


def start():
    return {"a": np.zeros(2), "b": np.ones((2, 2))}


def test_settings_cover_registry():
    assert set(SETTINGS) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
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
    opt = make_optimizer(name)
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
    original = make_optimizer(name)
    params = start()
    for _ in range(5):
        params = original.step(params, quadratic_grad(params))
    np.savez(tmp_path / "state.npz", **original.state_dict())
    restored = make_optimizer(name)
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
    opt = make_optimizer(name, lr=0.123)
    assert opt.get_params()["lr"] == 0.123
    clone = type(opt)(**opt.get_params())
    assert clone.get_params() == opt.get_params()


def test_make_optimizer_unknown_name_lists_valid():
    with pytest.raises(ValueError, match=r"'rmsprop'.*adam, momentum, sgd"):
        make_optimizer("rmsprop")
    assert isinstance(make_optimizer("Adam"), Adam)


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (SGD, {"lr": 0.0}, "lr"),
        (SGD, {"lr": float("nan")}, "lr"),
        (Momentum, {"momentum": 1.0}, "momentum"),
        (Adam, {"beta2": -0.1}, "beta2"),
        (Adam, {"eps": 0}, "eps"),
    ],
)
def test_invalid_hyperparameters(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)
