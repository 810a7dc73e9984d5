"""The training loop: mini-batch gradient estimates from a rule, steps from an optimizer.

::

    history = train(system, EP(beta=0.1), datasets.iris(), epochs=20,
                    optimizer=Adam(lr=0.01), run_dir="runs/iris-ep")

Each epoch shuffles the training set with a generator seeded by ``seed``, asks the
rule for the gradient of every mini-batch (the physical runs happen there), lets the
optimizer move the parameters and lets the system project them back onto its
physical constraints. After each epoch the loss on the full training and test sets
is recorded.

With a ``run_dir`` the run is reproducible and resumable: the configuration, a
per-epoch log, the learning curve and an atomic checkpoint (parameters, optimizer
state, random-generator state, history) are written every epoch, and
``resume=True`` continues an interrupted run so that its final parameters are
bitwise equal to those of an uninterrupted run. This holds provided the system
keeps no hidden state between relaxations that changes their result (e.g. a warm
start carried across mini-batches) and the rule draws no random numbers of its own.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import runio
from .costs import make_cost
from .optim import SGD, Optimizer, make_optimizer

__all__ = ["History", "train", "evaluate"]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
_FILES = {
    "config": "config.toml",
    "history": "history.jsonl",
    "checkpoint": "checkpoint.npz",
    "params": "params.npz",
    "curve": "learning_curve.png",
}


# -- history ------------------------------------------------------------------------------


class History:
    """Per-epoch records of a training run.

    Parameters
    ----------
    records : list of dict, optional
        One dict per recorded epoch (epoch 0 is the untrained system).
    params : dict of ndarray, optional
        Parameters at the end of training.

    Examples
    --------
    >>> history["test_loss"]          # doctest: +SKIP
    array([0.52, 0.31, 0.22])
    >>> history.final["epoch"]        # doctest: +SKIP
    2
    """

    def __init__(self, records=None, params=None):
        self.records: list[dict] = list(records or [])
        self.params: dict[str, np.ndarray] = dict(params or {})

    def __getitem__(self, key: str) -> np.ndarray:
        """Column ``key`` over all records as a float array (missing or None -> nan).

        Raises
        ------
        KeyError
            If no record has ``key``.
        """
        if not any(key in r for r in self.records):
            raise KeyError(f"no record has {key!r}; available: {self.keys()}")
        values = [r.get(key) for r in self.records]
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    def keys(self) -> list[str]:
        """Names of all recorded quantities, in first-seen order."""
        return list(dict.fromkeys(k for r in self.records for k in r))

    @property
    def final(self) -> dict:
        """The last record (metrics at the end of training)."""
        if not self.records:
            raise IndexError("the history is empty")
        return self.records[-1]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        last = {k: v for k, v in self.final.items() if k != "seconds"} if self.records else {}
        return f"History({len(self)} records, final={last})"


# -- evaluation ---------------------------------------------------------------------------


def evaluate(system, data_x, data_y, cost=None, task="regression") -> dict:
    """Loss (and accuracy) of the system's free equilibrium on a data set.

    Parameters
    ----------
    system : EquilibriumSystem
        Anything with ``predict(x) -> (batch, n_out)``.
    data_x : ndarray, shape (n, n_features)
        Inputs.
    data_y : ndarray, shape (n, n_out)
        Targets (one-hot rows for classification).
    cost : Cost, str or None
        Per-sample cost; None means squared error.
    task : {"regression", "classification"}
        For classification the accuracy (argmax of outputs vs argmax of targets) is added.

    Returns
    -------
    dict
        ``{"loss": mean cost}`` plus ``"accuracy"`` for classification.
    """
    cost = make_cost(cost)
    data_y = np.asarray(data_y, dtype=float)
    outputs = np.asarray(system.predict(data_x))
    if outputs.shape != data_y.shape:
        raise ValueError(
            f"system outputs have shape {outputs.shape} but data_y has shape {data_y.shape}"
        )
    result = {"loss": float(np.mean(np.real(cost.value(outputs, data_y))))}
    if task == "classification":
        hits = np.argmax(np.real(outputs), axis=1) == np.argmax(data_y, axis=1)
        result["accuracy"] = float(np.mean(hits))
    elif task != "regression":
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    return result


def _metrics(system, data, cost) -> dict:
    record = {}
    for part in ("train", "test"):
        result = evaluate(
            system, getattr(data, f"x_{part}"), getattr(data, f"y_{part}"), cost, data.task
        )
        record[f"{part}_loss"] = result["loss"]
        if "accuracy" in result:
            record[f"{part}_accuracy"] = result["accuracy"]
    return record


# -- argument checks ----------------------------------------------------------------------


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _check_data(data) -> None:
    for attr in ("x_train", "y_train", "x_test", "y_test", "task"):
        if not hasattr(data, attr):
            raise TypeError(
                f"data must be a Dataset (with x_train, y_train, x_test, y_test, task); "
                f"{type(data).__name__} has no {attr!r}"
            )
    for part in ("train", "test"):
        x, y = np.shape(getattr(data, f"x_{part}")), np.shape(getattr(data, f"y_{part}"))
        if len(x) != 2 or len(y) != 2:
            raise ValueError(f"data.x_{part} and data.y_{part} must be 2-D, got {x} and {y}")
        if x[0] != y[0]:
            raise ValueError(
                f"data.x_{part} has {x[0]} rows but data.y_{part} has {y[0]} rows"
            )
    if np.shape(data.x_train)[0] == 0:
        raise ValueError("data.x_train is empty")
    if data.task not in ("regression", "classification"):
        raise ValueError(f"data.task must be 'regression' or 'classification', got {data.task!r}")


def _resolve_optimizer(optimizer) -> Optimizer:
    if optimizer is None:
        return SGD()
    if isinstance(optimizer, str):
        return make_optimizer(optimizer)
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "state_dict")):
        raise TypeError(f"optimizer must be an Optimizer or a name, got {optimizer!r}")
    return optimizer


# -- configuration ------------------------------------------------------------------------

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _config_value(value):
    """A TOML-writable rendering of a hyperparameter (None -> omitted by the caller)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return _config_value(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): _config_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple, set, frozenset)):
        return ["None" if v is None else _config_value(v) for v in value]
    if hasattr(value, "get_params"):
        return _described(value)
    # last resort: a readable, stable description (no memory addresses, so configs compare)
    return _ADDRESS.sub("", str(value))


def _described(obj) -> dict:
    """``{"class": name, **hyperparameters}`` of a system, rule, optimizer or cost."""
    params = obj.get_params() if hasattr(obj, "get_params") else {}
    return {"class": type(obj).__name__, **_config_value(params)}


def _config(system, rule, optimizer, cost, data, *, epochs, batch_size, seed) -> dict:
    from . import __version__

    return {
        "physlearn_version": __version__,
        "train": {"epochs": epochs, "batch_size": batch_size, "seed": seed},
        "dataset": {
            "name": getattr(data, "name", "custom"),
            "task": data.task,
            "n_train": int(np.shape(data.x_train)[0]),
            "n_test": int(np.shape(data.x_test)[0]),
        },
        "system": _described(system),
        "rule": _described(rule),
        "optimizer": _described(optimizer),
        "cost": _described(cost),
    }


def _config_differences(saved: Mapping, current: Mapping) -> list[str]:
    """Sections/keys that differ, ignoring what may change on resume (epochs, version)."""

    def strip(config):
        config = json.loads(json.dumps(config))
        config.pop("physlearn_version", None)
        config.get("train", {}).pop("epochs", None)
        return config

    saved, current = strip(saved), strip(current)
    return [
        f"{section}: checkpoint {saved.get(section)!r} vs now {current.get(section)!r}"
        for section in sorted(set(saved) | set(current))
        if saved.get(section) != current.get(section)
    ]


# -- checkpoints --------------------------------------------------------------------------


def _save_checkpoint(path, *, system, optimizer, rng, epoch, records, config) -> None:
    arrays = {f"params/{k}": np.asarray(v) for k, v in system.params.items()}
    arrays.update({f"optimizer/{k}": np.asarray(v) for k, v in optimizer.state_dict().items()})
    arrays.update(
        format=np.asarray(CHECKPOINT_FORMAT),
        epoch=np.asarray(epoch),
        rng_state=np.asarray(json.dumps(rng.bit_generator.state)),
        history=np.asarray(json.dumps(records)),
        config=np.asarray(json.dumps(config)),
    )
    runio.atomic_savez(path, **arrays)


def _load_checkpoint(path) -> dict:
    with np.load(path, allow_pickle=False) as npz:
        data = {key: npz[key] for key in npz.files}
    if int(data.get("format", -1)) != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a physlearn checkpoint of format {CHECKPOINT_FORMAT}")

    def section(prefix):
        return {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}

    return {
        "params": section("params/"),
        "optimizer": section("optimizer/"),
        "epoch": int(data["epoch"]),
        "rng_state": json.loads(str(data["rng_state"])),
        "history": json.loads(str(data["history"])),
        "config": json.loads(str(data["config"])),
    }


class _RunDir:
    """The files of one run directory (None-safe: every method is a no-op without a dir)."""

    def __init__(self, run_dir):
        self.root = None if run_dir is None else Path(run_dir)
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / _FILES[name]

    def start(self, config: Mapping, records: list[dict]) -> None:
        """Write the config and (re)write the log to match ``records`` exactly."""
        if self.root is None:
            return
        if not records:  # a fresh run: no file of an older run may survive to be mistaken
            if self.path("checkpoint").exists():
                logger.warning("overwriting the run in %s (resume=False)", self.root)
            for name in ("checkpoint", "params", "curve"):
                self.path(name).unlink(missing_ok=True)
        runio.write_toml(self.path("config"), config)
        lines = "".join(json.dumps(r, default=runio._json_default) + "\n" for r in records)
        runio.atomic_write_bytes(self.path("history"), lines.encode("utf-8"))

    def end_epoch(self, record, *, system, optimizer, rng, records, config) -> None:
        if self.root is None:
            return
        runio.append_jsonl(self.path("history"), record)
        _save_checkpoint(
            self.path("checkpoint"), system=system, optimizer=optimizer, rng=rng,
            epoch=record["epoch"], records=records, config=config,
        )
        runio.plot_learning_curve(records, self.path("curve"))

    def finish(self, params: Mapping) -> None:
        if self.root is not None:
            runio.atomic_savez(self.path("params"), **params)


# -- the loop -----------------------------------------------------------------------------


def _global_norm(grads: Mapping) -> float:
    return math.sqrt(sum(float(np.sum(np.abs(g) ** 2)) for g in grads.values()))


def _train_epoch(system, rule, optimizer, x, y, cost, batch_size, rng, epoch) -> float:
    """One pass over a fresh permutation of the training set; returns the mean gradient norm."""
    order = rng.permutation(x.shape[0])
    norms = []
    for number, start in enumerate(range(0, x.shape[0], batch_size)):
        batch = order[start:start + batch_size]
        grads = rule.gradient(system, x[batch], y[batch], cost=cost)
        norm = _global_norm(grads)
        if not math.isfinite(norm):
            raise FloatingPointError(
                f"non-finite gradient at epoch {epoch}, batch {number}; parameters left "
                "at the previous step (try a smaller learning rate or nudge)"
            )
        norms.append(norm)
        system.update_params(optimizer.step(system.params, grads))
    return float(np.mean(norms))


def _postfix(record: Mapping) -> dict:
    keys = {"train_loss": "train", "test_loss": "test", "test_accuracy": "acc"}
    return {short: f"{record[k]:.4g}" for k, short in keys.items() if k in record}


def train(
    system,
    rule,
    data,
    *,
    epochs: int = 10,
    optimizer=None,
    batch_size: int = 16,
    cost=None,
    seed: int = 0,
    run_dir=None,
    resume: bool = False,
    progress: bool = True,
    callback: Callable | None = None,
) -> History:
    """Train a physical system with a learning rule by mini-batch gradient descent.

    Parameters
    ----------
    system : EquilibriumSystem
        The physical system; its ``params`` are updated in place (via the setter,
        which projects onto physical constraints).
    rule : Rule
        Gradient estimator, ``rule.gradient(system, x, y, cost) -> dict``.
    data : Dataset
        Train/test split (see :mod:`physlearn.datasets`).
    epochs : int, default 10
        Total number of epochs (passes over the training set). On resume, the
        number to reach, counting the epochs already done.
    optimizer : Optimizer, str or None
        An optimizer instance, a name from :data:`physlearn.optim.OPTIMIZERS`, or
        None for ``SGD(lr=0.01)``. Its state is advanced (and, on resume, restored).
    batch_size : int, default 16
        Samples per gradient estimate (the last batch of an epoch may be smaller).
    cost : Cost, str or None
        Cost used both for the gradient and for the recorded losses; None is squared error.
    seed : int, default 0
        Seed of the generator that shuffles the training set each epoch.
    run_dir : str or os.PathLike, optional
        Directory for ``config.toml``, ``history.jsonl``, ``checkpoint.npz`` (every
        epoch, atomic), ``learning_curve.png`` (every epoch) and ``params.npz`` (final).
    resume : bool, default False
        Continue from ``run_dir/checkpoint.npz``; starts fresh (with a log message)
        if there is none. The configuration must match the checkpoint's, except
        ``epochs``. With ``resume=False`` an existing run in ``run_dir`` is overwritten.
    progress : bool, default True
        Show a tqdm progress bar over epochs.
    callback : callable, optional
        ``callback(epoch, record, system)`` after each recorded epoch (including
        epoch 0 of a fresh run), once the checkpoint is on disk; returning ``False``
        stops training. Exceptions propagate, leaving the last checkpoint valid.

    Returns
    -------
    History
        Records of epochs 0..epochs with ``epoch``, ``train_loss``, ``test_loss``,
        ``grad_norm`` (mean over the epoch's batches; None for epoch 0), ``seconds``
        (wall time of the epoch including evaluation) and, for classification,
        ``train_accuracy`` and ``test_accuracy``; ``params`` are the final parameters.

    Raises
    ------
    ValueError
        For ``epochs`` or ``batch_size`` < 1, inconsistent data shapes, ``resume``
        without ``run_dir``, or a checkpoint whose configuration differs.
    FloatingPointError
        If a gradient estimate is not finite.
    """
    epochs = _check_positive_int("epochs", epochs)
    batch_size = _check_positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if resume and run_dir is None:
        raise ValueError("resume=True needs a run_dir holding checkpoint.npz")
    _check_data(data)
    optimizer = _resolve_optimizer(optimizer)
    cost = make_cost(cost)
    config = _config(system, rule, optimizer, cost, data,
                     epochs=epochs, batch_size=batch_size, seed=int(seed))
    run = _RunDir(run_dir)
    rng = np.random.default_rng(int(seed))
    records: list[dict] = []

    checkpoint = run.path("checkpoint") if run.root is not None else None
    if resume and checkpoint.exists():
        records = _restore(checkpoint, system, optimizer, rng, config)
        logger.info("resuming %s from epoch %d", run.root, records[-1]["epoch"])
    elif resume:
        logger.warning("no checkpoint in %s; starting a fresh run", run.root)
    run.start(config, records)

    x_train = np.asarray(data.x_train, dtype=float)
    y_train = np.asarray(data.y_train, dtype=float)
    start = records[-1]["epoch"] if records else 0

    def finish_epoch(record) -> bool:
        records.append(record)
        run.end_epoch(record, system=system, optimizer=optimizer, rng=rng,
                      records=records, config=config)
        bar.set_postfix(_postfix(record))
        return callback is None or callback(record["epoch"], record, system) is not False

    with tqdm(total=epochs, initial=start, disable=not progress, unit="epoch",
              desc=type(rule).__name__) as bar:
        keep_going = True
        if not records:
            tic = time.perf_counter()
            record = {"epoch": 0, **_metrics(system, data, cost), "grad_norm": None}
            keep_going = finish_epoch({**record, "seconds": time.perf_counter() - tic})
        for epoch in range(start + 1, epochs + 1):
            if not keep_going:
                break
            tic = time.perf_counter()
            grad_norm = _train_epoch(system, rule, optimizer, x_train, y_train, cost,
                                     batch_size, rng, epoch)
            record = {"epoch": epoch, **_metrics(system, data, cost), "grad_norm": grad_norm}
            keep_going = finish_epoch({**record, "seconds": time.perf_counter() - tic})
            bar.update(1)

    params = {k: np.array(v, copy=True) for k, v in system.params.items()}
    run.finish(params)
    return History(records, params)


def _restore(path, system, optimizer, rng, config) -> list[dict]:
    """Load a checkpoint into system, optimizer and generator; return its history."""
    state = _load_checkpoint(path)
    differences = _config_differences(state["config"], config)
    if differences:
        raise ValueError(
            f"cannot resume from {path}: the configuration differs from the checkpoint's "
            f"(only epochs may change); use resume=False or a new run_dir.\n  "
            + "\n  ".join(differences)
        )
    system.params = state["params"]
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["rng_state"]
    return state["history"]
