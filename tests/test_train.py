"""Training loop, run-directory I/O, checkpoints and exact resumption."""

import json
import logging
import math
import os
import types

import numpy as np
import pytest

from physlearn import datasets
from physlearn.experiment import runio
from physlearn.experiment.optim import SGD, Adam, BinaryFlip, Momentum
from physlearn.experiment.train import History, evaluate, train


class LinearSystem:
    """A stand-in physical system: outputs = x W + b, with |W| ≤ 5 as a 'physical' bound."""

    def __init__(self, n_inputs=3, n_outputs=2, seed=0):
        self.n_inputs, self.n_outputs, self.seed = n_inputs, n_outputs, seed
        rng = np.random.default_rng(seed)
        self.params = {"W": 0.1 * rng.standard_normal((n_inputs, n_outputs)),
                       "b": np.zeros(n_outputs)}

    @property
    def params(self):
        return self._params

    @params.setter
    def params(self, new):
        self._params = {"W": np.clip(np.asarray(new["W"], float), -5, 5),
                        "b": np.asarray(new["b"], float)}

    def update_params(self, new):
        self.params = new

    def predict(self, x):
        return np.asarray(x) @ self._params["W"] + self._params["b"]

    def get_params(self):
        return {"n_inputs": self.n_inputs, "n_outputs": self.n_outputs, "seed": self.seed}


class ExactRule:
    """Exact batch-mean gradient of the squared error ½‖o − y‖² for LinearSystem."""

    def gradient(self, system, x, y, cost=None):
        error = system.predict(x) - y
        return {"W": x.T @ error / len(x), "b": error.mean(axis=0)}

    def get_params(self):
        return {}


def regression_data():
    return datasets.linear_regression(n_samples=120, seed=1)


def run(tmp_path=None, *, epochs=6, optimizer=None, **kwargs):
    system = LinearSystem()
    history = train(system, ExactRule(), regression_data(), epochs=epochs,
                    optimizer=optimizer or Adam(lr=0.05), batch_size=16, progress=False,
                    run_dir=tmp_path, **kwargs)
    return system, history


# -- the loop -----------------------------------------------------------------------------


def test_training_fits_a_realisable_map():
    system, history = run(epochs=40, optimizer=Momentum(lr=0.05))
    assert history["test_loss"][-1] < 1e-3 * history["test_loss"][0]
    A = regression_data().meta["A"]
    np.testing.assert_allclose(system.params["W"], A.T, atol=0.02)


def test_history_records():
    system, history = run(epochs=4)
    assert len(history) == 5
    assert np.array_equal(history["epoch"], np.arange(5))
    assert np.isnan(history["grad_norm"][0]) and np.all(history["grad_norm"][1:] > 0)
    assert np.all(history["seconds"] >= 0)
    assert history.final is history.records[-1] and history.final["epoch"] == 4
    assert {"train_loss", "test_loss"} <= set(history.keys())
    assert "test_accuracy" not in history.keys()  # regression
    for k, v in system.params.items():
        assert np.array_equal(history.params[k], v) and history.params[k] is not v
    with pytest.raises(KeyError, match="test_accuracy"):
        history["test_accuracy"]
    # the recorded loss is the mean cost on the full train set at the end of the epoch
    data = regression_data()
    outputs = system.predict(data.x_train)
    assert history.final["train_loss"] == pytest.approx(
        np.mean(0.5 * np.sum((outputs - data.y_train) ** 2, axis=1)), rel=1e-12)


def test_classification_records_accuracy():
    data = datasets.iris(seed=0)
    system = LinearSystem(n_inputs=4, n_outputs=3)
    history = train(system, ExactRule(), data, epochs=15, optimizer=Adam(lr=0.05),
                    progress=False)
    accuracy = history["test_accuracy"]
    assert accuracy[0] < 0.5 < 0.7 < accuracy[-1]  # a linear map reaches about 0.8 on iris
    assert history.final["test_accuracy"] == evaluate(
        system, data.x_test, data.y_test, task="classification")["accuracy"]


def test_same_seed_same_run_other_seed_other_run():
    _, a = run(seed=7)
    _, b = run(seed=7)
    _, c = run(seed=8)
    assert np.array_equal(a.params["W"], b.params["W"])
    assert not np.array_equal(a.params["W"], c.params["W"])


def test_batches_cover_the_training_set_each_epoch():
    seen = []

    class Recording(ExactRule):
        def gradient(self, system, x, y, cost=None):
            seen.append(np.asarray(x).copy())
            return super().gradient(system, x, y, cost)

    data = regression_data()
    train(LinearSystem(), Recording(), data, epochs=2, batch_size=32, progress=False)
    n = data.n_train
    sizes = [len(b) for b in seen]
    assert sum(sizes) == 2 * n and max(sizes) == 32
    first_epoch = np.concatenate(seen[: math.ceil(n / 32)])
    assert np.array_equal(np.sort(first_epoch, axis=0), np.sort(data.x_train, axis=0))
    assert not np.array_equal(first_epoch, data.x_train)  # shuffled


def test_history_columns_and_errors():
    history = History([{"epoch": 0, "loss": 1.0, "grad_norm": None}, {"epoch": 1, "loss": 0.5}],
                      params={"W": np.ones(2)})
    assert np.array_equal(history["loss"], [1.0, 0.5])
    assert np.isnan(history["grad_norm"]).all()  # None and missing both read as nan
    assert history.final == {"epoch": 1, "loss": 0.5}
    with pytest.raises(IndexError):
        _ = History().final


def test_callback_returning_false_stops():
    _, history = run(epochs=10, callback=lambda epoch, record, system: epoch < 3)
    assert history.final["epoch"] == 3


def test_progress_bar_shows_loss(capsys):
    train(LinearSystem(), ExactRule(), regression_data(), epochs=2, progress=True)
    assert "train=" in capsys.readouterr().err


def test_evaluate_accuracy_and_loss():
    system = types.SimpleNamespace(predict=lambda x: np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]))
    y = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    result = evaluate(system, np.zeros((3, 1)), y, task="classification")
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["loss"] == pytest.approx(np.mean([0.5, 1.0, 2.5]))
    with pytest.raises(ValueError, match="shape"):
        evaluate(system, np.zeros((3, 1)), np.zeros((3, 3)))


# -- argument errors ----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs must be an int >= 1, got 0"),
    ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
    ({"epochs": 2.5}, "epochs"),
    ({"resume": True}, "run_dir"),
    ({"seed": -3}, "seed"),
    ({"schedule": "linear"}, "schedule must be one of \\['constant', 'cosine'\\], got 'linear'"),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train(LinearSystem(), ExactRule(), regression_data(), progress=False, **kwargs)


def test_data_shape_mismatch_is_named():
    data = regression_data()
    bad = types.SimpleNamespace(x_train=data.x_train, y_train=data.y_train[:-1],
                                x_test=data.x_test, y_test=data.y_test, task="regression")
    with pytest.raises(ValueError, match=r"data.x_train has 90 rows but data.y_train has 89"):
        train(LinearSystem(), ExactRule(), bad, progress=False)


def test_non_finite_gradient_raises():
    class Broken(ExactRule):
        def gradient(self, system, x, y, cost=None):
            return {"W": np.full((3, 2), np.nan), "b": np.zeros(2)}

    with pytest.raises(FloatingPointError, match="epoch 1, batch 0"):
        train(LinearSystem(), Broken(), regression_data(), progress=False)


# -- run directory ------------------------------------------------------------------------


def test_run_dir_files(tmp_path):
    run_dir = tmp_path / "nested" / "run"
    system, history = run(run_dir, epochs=2)
    names = {"config.toml", "history.jsonl", "checkpoint.npz", "params.npz", "learning_curve.png"}
    assert names <= set(os.listdir(run_dir))
    assert not [n for n in os.listdir(run_dir) if n.endswith(".tmp")]

    config = runio.read_toml(run_dir / "config.toml")
    assert config["system"] == {"class": "test_train:LinearSystem", "n_inputs": 3,
                                "n_outputs": 2, "seed": 0}
    assert config["optimizer"]["class"].endswith(":Adam") and config["optimizer"]["lr"] == 0.05
    assert config["rule"]["class"] == "test_train:ExactRule"
    assert config["cost"]["class"] == "physlearn.costs:SquaredError"
    assert config["train"] == {"epochs": 2, "batch_size": 16, "seed": 0, "run_dir": str(run_dir)}
    assert config["data"]["name"] == "linear_regression"
    assert config["provenance"]["seed"] == 0 and config["provenance"]["wall_time"] >= 0
    assert config["provenance"]["versions"]["numpy"] == np.__version__

    assert runio.read_jsonl(run_dir / "history.jsonl") == json.loads(json.dumps(history.records))
    with np.load(run_dir / "params.npz") as saved:
        assert np.array_equal(saved["W"], system.params["W"])
    assert (run_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_interrupt_then_resume_is_bitwise_exact(tmp_path):
    _, uninterrupted = run(tmp_path / "full", epochs=4)

    def interrupt(epoch, record, system):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", epochs=4, callback=interrupt)
    with np.load(tmp_path / "cut" / "checkpoint.npz") as checkpoint:
        assert int(checkpoint["epoch"]) == 2
    assert not (tmp_path / "cut" / "params.npz").exists()

    # a new process: fresh system and optimizer objects, state only from disk
    _, resumed = run(tmp_path / "cut", epochs=4, resume=True)
    for k in uninterrupted.params:
        assert np.array_equal(resumed.params[k], uninterrupted.params[k])
    for key in ("epoch", "train_loss", "test_loss", "grad_norm"):
        assert np.array_equal(resumed[key], uninterrupted[key], equal_nan=True)
    epochs_logged = [r["epoch"] for r in runio.read_jsonl(tmp_path / "cut" / "history.jsonl")]
    assert epochs_logged == list(range(5))


def test_crash_inside_an_epoch_keeps_last_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    exact = ExactRule.gradient

    def crashing(self, system, x, y, cost=None):
        calls["n"] += 1
        if calls["n"] == 14:  # mid-way through epoch 3 (6 batches per epoch)
            raise RuntimeError("power cut")
        return exact(self, system, x, y, cost)

    monkeypatch.setattr(ExactRule, "gradient", crashing)  # same class: the config matches
    with pytest.raises(RuntimeError, match="power cut"):
        run(tmp_path, epochs=4)
    monkeypatch.undo()
    with np.load(tmp_path / "checkpoint.npz") as checkpoint:
        assert int(checkpoint["epoch"]) == 2
    _, resumed = run(tmp_path, epochs=4, resume=True)
    _, uninterrupted = run(None, epochs=4)
    assert [r["epoch"] for r in resumed.records] == list(range(5))
    assert np.array_equal(resumed.params["W"], uninterrupted.params["W"])


def test_resume_can_extend_training(tmp_path):
    run(tmp_path, epochs=2)
    _, extended = run(tmp_path, epochs=3, resume=True)
    _, straight = run(None, epochs=3)
    assert np.array_equal(extended.params["W"], straight.params["W"])


def test_resume_without_checkpoint_starts_fresh(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="physlearn.experiment.train"):
        _, history = run(tmp_path, epochs=2, resume=True)
    assert "no checkpoint" in caplog.text
    assert len(history) == 3


# -- learning-rate schedule ----------------------------------------------------------------


def test_cosine_schedule_scales_every_step_of_an_epoch():
    """Each epoch's steps are the optimizer's with ``lr`` times the cosine factor: replaying
    the run by hand with SGD at those rates gives the same parameters bit for bit."""
    system, history = run(epochs=3, optimizer=SGD(lr=0.1), schedule="cosine")
    factors = [0.5 * (1 + math.cos(math.pi * (e - 1) / 3)) for e in (1, 2, 3)]
    assert history["lr_scale"][1:] == pytest.approx(factors, rel=1e-15)
    assert factors[0] == 1.0 and factors[-1] == pytest.approx(0.25)
    replay, data, rng = LinearSystem(), regression_data(), np.random.default_rng(0)
    for factor in factors:
        order = rng.permutation(len(data.x_train))
        for start in range(0, len(order), 16):
            batch = order[start:start + 16]
            g = ExactRule().gradient(replay, data.x_train[batch], data.y_train[batch])
            replay.params = {k: replay.params[k] - 0.1 * factor * g[k] for k in g}
    np.testing.assert_array_equal(system.params["W"], replay.params["W"])
    constant = run(epochs=3, optimizer=SGD(lr=0.1))[0]
    assert not np.array_equal(constant.params["W"], system.params["W"])


def test_schedule_leaves_the_optimizer_as_it_came_and_resumes_exactly(tmp_path):
    optimizer = Adam(lr=0.05)
    run(epochs=2, optimizer=optimizer, schedule="cosine")
    assert optimizer.lr_scale == 1.0 and optimizer.get_params()["lr"] == 0.05
    _, straight = run(None, epochs=4, schedule="cosine")
    run(tmp_path, epochs=4, schedule="cosine",
        callback=lambda epoch, record, system: epoch < 2)
    _, resumed = run(tmp_path, epochs=4, schedule="cosine", resume=True)
    assert np.array_equal(resumed.params["W"], straight.params["W"])
    with pytest.raises(ValueError, match="schedule"):
        run(tmp_path, epochs=5, resume=True)          # a constant schedule is another run


def test_binary_weights_stay_binary_and_resume_exactly(tmp_path):
    """BinaryFlip through the loop: the weights end as ``±α`` (α learnt), and a run cut after
    two epochs resumes (filter and scale from the checkpoint) to the uninterrupted result."""
    def binary():
        return BinaryFlip(threshold=1e-4, momentum=0.9, lr=0.05, scale_lr=1e-3)

    system, straight = run(None, epochs=4, optimizer=binary())
    levels = np.unique(np.abs(system.params["W"]))
    assert levels.size == 1 and levels[0] > 0
    assert straight["train_loss"][-1] < straight["train_loss"][0]
    run(tmp_path, epochs=4, optimizer=binary(), callback=lambda epoch, record, system: epoch < 2)
    resumed, _ = run(tmp_path, epochs=4, optimizer=binary(), resume=True)
    assert np.array_equal(resumed.params["W"], system.params["W"])


def test_resume_refuses_a_changed_configuration(tmp_path):
    run(tmp_path, epochs=2)
    with pytest.raises(ValueError, match="optimizer"):
        run(tmp_path, epochs=4, resume=True, optimizer=Adam(lr=0.01))


def test_fresh_run_refuses_an_old_run_unless_overwrite(tmp_path):
    run(tmp_path, epochs=3)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(FileExistsError, match="already holds a run.*epoch 3.*resume"):
        run(tmp_path, epochs=1, optimizer=SGD(lr=0.1))
    assert (tmp_path / "checkpoint.npz").read_bytes() == before       # nothing touched
    _, history = run(tmp_path, epochs=1, optimizer=SGD(lr=0.1), overwrite=True)
    assert [r["epoch"] for r in runio.read_jsonl(tmp_path / "history.jsonl")] == [0, 1]
    with np.load(tmp_path / "checkpoint.npz") as checkpoint:
        assert int(checkpoint["epoch"]) == 1


# -- runio --------------------------------------------------------------------------------


def test_toml_round_trip(tmp_path):
    config = {
        "name": 'a "quoted"\nline \\ ünïcode\x01',
        "count": 3, "big": -(2**40), "rate": 1e-8, "third": 1 / 3, "flag": True, "off": False,
        "special": [float("inf"), float("-inf")],
        "layers": [3, 8, 2], "nested_list": [[1, 2], ["a", 1.5]], "empty": [],
        "train": {"epochs": 10, "odd key": "x", "deeper": {"beta": 0.1, "inline": [{"a": 1}]}},
        "empty_table": {},
    }
    runio.write_toml(tmp_path / "c.toml", config)
    loaded = runio.read_toml(tmp_path / "c.toml")
    assert loaded == config
    runio.write_toml(tmp_path / "nan.toml", {"x": float("nan")})
    assert math.isnan(runio.read_toml(tmp_path / "nan.toml")["x"])


def test_toml_rejects_unrepresentable_values():
    with pytest.raises(TypeError, match="train.beta"):
        runio.dumps_toml({"train": {"beta": None}})
    with pytest.raises(TypeError, match="obj"):
        runio.dumps_toml({"obj": object()})


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    target = tmp_path / "data.bin"
    runio.atomic_write_bytes(target, b"first")
    runio.atomic_write_bytes(target, b"second")
    runio.atomic_savez(tmp_path / "arrays.npz", a=np.arange(3), **{"p/q": np.ones(2)})
    assert target.read_bytes() == b"second"
    with np.load(tmp_path / "arrays.npz") as npz:
        assert np.array_equal(npz["p/q"], np.ones(2))

    class Exploding:  # savez fails half-way through writing
        def __array__(self, *args, **kwargs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runio.atomic_savez(target, a=np.arange(3), b=Exploding())
    assert target.read_bytes() == b"second"  # old content intact
    assert sorted(os.listdir(tmp_path)) == ["arrays.npz", "data.bin"]


def test_jsonl_round_trip(tmp_path):
    path = tmp_path / "log.jsonl"
    records = [{"epoch": 0, "loss": np.float64(0.5), "grad": None}, {"epoch": np.int64(1)}]
    for record in records:
        runio.append_jsonl(path, record)
    assert runio.read_jsonl(path) == [{"epoch": 0, "loss": 0.5, "grad": None}, {"epoch": 1}]
    with open(path, "a") as handle:
        handle.write("{broken\n")
    with pytest.raises(ValueError, match=r"log.jsonl:3"):
        runio.read_jsonl(path)


def test_learning_curve_png(tmp_path):
    records = [{"epoch": e, "train_loss": 1 / (e + 1), "test_loss": 0.0 if e == 2 else 2 / (e + 1),
                "test_accuracy": e / 4} for e in range(5)]
    path = runio.plot_learning_curve(records, tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    regression_only = [{k: v for k, v in r.items() if k != "test_accuracy"} for r in records]
    small = runio.plot_learning_curve(regression_only, tmp_path / "small.png")
    assert small.stat().st_size < path.stat().st_size  # one panel instead of two


# -- the real physics, once available -----------------------------------------------------


def test_resistor_network_with_ep_resumes_exactly(tmp_path):
    systems = pytest.importorskip("physlearn.systems")
    from physlearn import EP

    data = datasets.linear_regression(n_samples=80, seed=0)

    def go(run_dir, **kwargs):
        network = systems.ResistorNetwork.layered([3, 8, 2], seed=0)
        return train(network, EP(beta=0.1, variant="centered"), data, epochs=3,
                     optimizer=SGD(lr=0.05), batch_size=16, progress=False, run_dir=run_dir,
                     **kwargs)

    def interrupt(epoch, record, system):
        if epoch == 2:
            raise KeyboardInterrupt

    full = go(tmp_path / "full")
    assert full["train_loss"][-1] < full["train_loss"][0]
    with pytest.raises(KeyboardInterrupt):
        go(tmp_path / "cut", callback=interrupt)
    resumed = go(tmp_path / "cut", resume=True)
    assert np.array_equal(resumed.params["conductance"], full.params["conductance"])
