"""Training survives bad steps: a step that would make the state non-finite is refused, the
parameter is named, the system keeps its last good parameters and the checkpoint its epoch."""

import numpy as np

from physlearn.experiment.datasets import Dataset
from physlearn.experiment.optim import SGD
from physlearn.experiment.rundir import load_checkpoint
from physlearn.experiment.train import train
from physlearn.rules.echo import BPTT
from physlearn.systems.hru import HRU


def sequences(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(16, 30, 1))
    y = 0.5 * rng.normal(size=(16, 1))
    return Dataset(x[:8], y[:8], x[8:], y[8:], "regression")


def fit(tmp_path, lr_after_epoch_1):
    system = HRU(1, 4, 1, kind="linear", seed=0)
    optimizer = SGD(lr=0.01)
    seen = {}

    def callback(epoch, record, system):
        seen[epoch] = {k: np.array(v) for k, v in system.params.items()}
        if epoch == 1:
            optimizer.lr = lr_after_epoch_1
            seen["checkpoint"] = (tmp_path / "run" / "checkpoint.npz").read_bytes()

    history = None
    error = None
    try:
        history = train(system, BPTT(), sequences(), epochs=3, batch_size=4, optimizer=optimizer,
                        run_dir=tmp_path / "run", progress=False, callback=callback)
    except FloatingPointError as err:
        error = err
    return system, seen, history, error


def test_a_step_that_makes_the_state_non_finite_is_refused(tmp_path):
    system, seen, history, error = fit(tmp_path, 1e7)
    assert error is not None, history
    message = str(error)
    assert "would make the state non-finite" in message and "epoch 2, batch 0" in message
    assert "'A'" in message and "dt=0.1" in message  # the stiffness, past the leapfrog bound
    # the system keeps the last good step, the checkpoint on disk is epoch 1's, untouched
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    assert checkpoint.read_bytes() == seen["checkpoint"]
    assert load_checkpoint(checkpoint)["epoch"] == 1
    assert all(np.all(np.isfinite(v)) for v in system.params.values())
    assert np.isfinite(system.predict(sequences().x_train)).all()


def test_ordinary_steps_are_not_refused(tmp_path):
    system, seen, history, error = fit(tmp_path, 0.01)
    assert error is None
    assert history.final["epoch"] == 3 and np.isfinite(history["train_loss"]).all()
    assert load_checkpoint(tmp_path / "run" / "checkpoint.npz")["epoch"] == 3
