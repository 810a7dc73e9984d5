"""The training loop: mini-batch gradient estimates from a rule, steps from an optimizer.

::

    history = train(system, EP(beta=0.1), datasets.iris(), epochs=20,
                    optimizer=Adam(lr=0.01), run_dir="runs/iris-ep")

Each epoch shuffles the training set with a generator seeded by ``seed``, asks the
rule for the gradient of every mini-batch (the physical runs happen there), lets the
optimizer move the parameters and lets the system project them back onto its
physical constraints. After each epoch the loss on the full training and test sets
is recorded.

With a ``run_dir`` the run is reproducible and resumable (:mod:`physlearn.experiment.rundir`):
a config that rebuilds it, a per-epoch log, the learning curve and an atomic checkpoint
(parameters, optimizer state, random-generator state, history) are written every epoch, and
``resume=True`` continues an interrupted run so that its final parameters are
bitwise equal to those of an uninterrupted run. This holds provided the system
keeps no hidden state between relaxations that changes their result (e.g. a warm
start carried across mini-batches) and the rule draws no random numbers of its own.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from ..costs import make_cost
from ..system import ConvergenceError
from .optim import SGD, Optimizer, lr_factor, make_optimizer
from .rundir import RunDir, config_differences, describe_run, load_checkpoint

if TYPE_CHECKING:
    import os

    from numpy.typing import ArrayLike

    from ..costs import Cost
    from ..rules.base import Rule
    from ..system import System
    from .datasets import Dataset

__all__ = ["History", "train", "evaluate", "FixedPointWarning"]

logger = logging.getLogger(__name__)

# -- history ------------------------------------------------------------------------------


class History:
    """Per-epoch records of a training run.

    Parameters
    ----------
    records : list of dict, optional
        One dict per recorded epoch (epoch 0 is the untrained system).
    params : dict of ndarray, optional
        Parameters at the end of training.

    Raises
    ------
    KeyError
        From ``history[key]``, when no record has ``key``.
    IndexError
        From :attr:`final`, when the history is empty.

    Notes
    -----
    A record holds the quantities :func:`train` measures after an epoch: ``train_loss`` and
    ``test_loss`` (the batch-mean cost of the free equilibrium on each set, in the cost's
    units), ``grad_norm`` (the mean norm :math:`‖\\hat g‖` of the epoch's gradient estimates),
    ``seconds``, and for classification the accuracies; ``history[key]`` is one column as a
    float array. Learning curves of physical learning are read from it
    (:func:`physlearn.plots.learning_curve`).

    Examples
    --------
    >>> history["test_loss"]          # doctest: +SKIP
    array([0.52, 0.31, 0.22])
    >>> history.final["epoch"]        # doctest: +SKIP
    2
    """

    def __init__(self, records: list[dict] | None = None,
                 params: Mapping[str, np.ndarray] | None = None):
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

    @property
    def failed_batches(self) -> int:
        """Batches not trained on over the run: a fixed point their gradient needs (a nudge the
        rule asked for, e.g. beyond the radius of ``s*(β)``) did not exist."""
        return int(sum(r.get("failed_batches") or 0 for r in self.records))

    def __repr__(self) -> str:
        last = {k: v for k, v in self.final.items() if k != "seconds"} if self.records else {}
        return f"History({len(self)} records, final={last})"


class FixedPointWarning(UserWarning):
    """Some mini-batches were skipped: a fixed point their gradient needs does not exist."""


# -- evaluation ---------------------------------------------------------------------------


def evaluate(system: System, data_x: ArrayLike, data_y: ArrayLike,
             cost: Cost | str | None = None, task: str = "regression") -> dict:
    """Loss (and accuracy) of the system's free equilibrium on a data set.

    Parameters
    ----------
    system : EquilibriumSystem
        Anything with ``predict(x) -> (batch, n_out)``.
    data_x : ndarray, shape (n, n_features)
        Inputs, in the system's input units.
    data_y : ndarray, shape (n, n_out)
        Targets (one-hot rows for classification), in the units of the outputs.
    cost : Cost, str or None, default None
        Per-sample cost; None means squared error.
    task : {"regression", "classification"}, default "regression"
        For classification the accuracy (argmax of outputs vs argmax of targets) is added.

    Returns
    -------
    dict
        ``{"loss": mean cost}`` (the cost's units) plus ``"accuracy"`` (a fraction in
        ``[0, 1]``) for classification.

    Raises
    ------
    ValueError
        If the outputs and ``data_y`` differ in shape, or ``task`` is unknown.
    ConvergenceError
        If a free relaxation does not converge.

    Notes
    -----
    The loss is :math:`\\frac1n \\sum_b \\operatorname{Re} C(o(s^0_b), y_b)` at the free
    equilibria :math:`s^0_b` (the real part, for a system evaluated at a complex state); the
    accuracy is the fraction of samples with :math:`\\arg\\max_k o_{bk} = \\arg\\max_k y_{bk}`.
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
        if len(x) not in (2, 3) or len(y) not in (2, 3):
            raise ValueError(f"data.x_{part} and data.y_{part} must be 2-D (or 3-D sequences), "
                             f"got {x} and {y}")
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


# -- the loop -----------------------------------------------------------------------------


def _global_norm(grads: Mapping) -> float:
    return math.sqrt(sum(float(np.sum(np.abs(g) ** 2)) for g in grads.values()))


# what a system raises (or, under ``-W error``, warns) when its state is not finite
_STATE_ERRORS = (ValueError, ArithmeticError, RuntimeWarning)


class _StepGuard:
    """Refuses a learning step that makes the system's state non-finite.

    Nothing is relaxed for the check: the parameters (and optimizer state) before the latest
    step are remembered, and when the next run that uses the new parameters — the next
    mini-batch's gradient, or the end-of-epoch evaluation — fails or is not finite, one probe
    (``system.predict`` on the failing inputs) tells whether the state is to blame. If so the
    step is undone, the parameters whose change alone breaks the state are found, and a
    :class:`FloatingPointError` names them. The epoch's checkpoint is not written, so the last
    good checkpoint stays on disk.
    """

    def __init__(self, system, optimizer):
        self.system, self.optimizer = system, optimizer
        self.last = None

    def step(self, grads, epoch, number):
        before = {k: np.array(v, copy=True) for k, v in self.system.params.items()}
        state = self.optimizer.state_dict()
        proposed = self.optimizer.step(self.system.params, grads)
        try:
            self.system.update_params(proposed)
        except ValueError as err:
            self.optimizer.load_state_dict(state)
            raise FloatingPointError(
                f"the step at epoch {epoch}, batch {number} is refused: {err}; parameters left "
                "at the previous step (try a smaller learning rate or nudge)") from err
        self.last = (epoch, number, before, state)

    def state_ok(self, x):
        """Whether the free state on ``x`` is finite (a probe, on the failure path only)."""
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = np.asarray(self.system.predict(x))
        except (*_STATE_ERRORS, ConvergenceError):   # no free fixed point: not ok either
            return False
        return bool(np.all(np.isfinite(out)))

    def check(self, x, cause):
        """Undo the latest step and raise if it made the state on ``x`` non-finite."""
        if self.last is None or self.state_ok(x):
            return
        epoch, number, before, state = self.last
        after = {k: np.array(v) for k, v in self.system.params.items()}
        culprits = []
        for name in before:
            if np.array_equal(before[name], after[name]):
                continue
            try:
                self.system.update_params({**before, name: after[name]})
            except ValueError:
                culprits.append(name)
                continue
            if not self.state_ok(x):
                culprits.append(name)
        self.system.update_params(before)
        self.optimizer.load_state_dict(state)
        self.last = None

        def change(name):
            delta = np.max(np.abs(after[name] - before[name]))
            return (f"{name!r} (max |Δ| = {delta:.3g}, from max |θ| = "
                    f"{np.max(np.abs(before[name]), initial=0.0):.3g})")

        if culprits:
            named = "the change of " + ", ".join(change(n) for n in culprits) + " alone does it"
        else:
            sizes = {n: np.max(np.abs(after[n] - before[n]))
                     / max(1.0, np.max(np.abs(before[n]), initial=0.0)) for n in before}
            named = "no single parameter does it alone; largest change in " + change(
                max(sizes, key=sizes.get))
        raise FloatingPointError(
            f"the step at epoch {epoch}, batch {number} would make the state non-finite "
            "or leave no free fixed point "
            f"({cause}); it is refused and the parameters are left at the previous step "
            f"(the last checkpoint is intact): {named}. Try a smaller learning rate"
        ) from (cause if isinstance(cause, BaseException) else None)


def _train_epoch(system, rule, optimizer, x, y, cost, batch_size, rng, epoch,
                 guard=None, failed=None) -> float:
    """One pass over a fresh permutation of the training set; returns the mean gradient norm.

    A batch whose gradient needs a fixed point that does not exist (the rule raises
    :class:`~physlearn.ConvergenceError`, e.g. a nudge beyond the radius of ``s*(β)``) is not
    trained on: if the free state of the batch exists it is skipped, logged and appended to
    ``failed`` (``(batch number, message)``); if it does not, the latest step is to blame and
    the guard refuses it. An epoch in which every batch fails raises the error.
    """
    guard = _StepGuard(system, optimizer) if guard is None else guard
    failed = [] if failed is None else failed
    order = rng.permutation(x.shape[0])
    norms = []
    n_batches = 0
    for number, start in enumerate(range(0, x.shape[0], batch_size)):
        batch = order[start:start + batch_size]
        n_batches += 1
        try:
            grads = rule.gradient(system, x[batch], y[batch], cost=cost)
        except _STATE_ERRORS as err:
            guard.check(x[batch], err)
            raise
        except ConvergenceError as err:
            guard.check(x[batch], err)          # the free state broke: refuse the last step
            failed.append((number, str(err)))
            logger.warning("epoch %d, batch %d not trained on: a fixed point the rule needs "
                           "does not exist (%s)", epoch, number, err)
            continue
        norm = _global_norm(grads)
        if not math.isfinite(norm):
            guard.check(x[batch], "non-finite gradient")
            raise FloatingPointError(
                f"non-finite gradient at epoch {epoch}, batch {number}; parameters left "
                "at the previous step (try a smaller learning rate or nudge)"
            )
        norms.append(norm)
        guard.step(grads, epoch, number)
    if not norms:
        raise ConvergenceError(
            f"epoch {epoch}: no batch could be trained on, every one needs a fixed point that "
            f"does not exist (first: {failed[0][1] if failed else '?'}); use a "
            "smaller nudge or weaker weights")
    return float(np.mean(norms))


def _checked_metrics(system, data, cost, guard, x_train) -> dict:
    """The epoch's metrics, refusing the epoch's last step if they are not finite."""
    try:
        record = _metrics(system, data, cost)
    except (*_STATE_ERRORS, ConvergenceError) as err:   # no free fixed point after the step
        guard.check(np.concatenate([x_train, data.x_test]), err)   # test samples break too
        raise
    if not all(math.isfinite(v) for v in record.values()):
        guard.check(x_train, "non-finite loss")
    guard.last = None  # these parameters are checkpointed now: no step left to refuse
    return record


def _postfix(record: Mapping) -> dict:
    keys = {"train_loss": "train", "test_loss": "test", "test_accuracy": "acc"}
    return {short: f"{record[k]:.4g}" for k, short in keys.items() if k in record}


def train(
    system: System,
    rule: Rule,
    data: Dataset,
    *,
    epochs: int = 10,
    optimizer: Optimizer | str | None = None,
    batch_size: int = 16,
    schedule: str = "constant",
    cost: Cost | str | None = None,
    seed: int = 0,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callback: Callable | None = None,
    config: Mapping | None = None,
    experiment: Mapping | None = None,
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
        Train/test split (see :mod:`physlearn.experiment.datasets`).
    epochs : int, default 10
        Total number of epochs (passes over the training set). On resume, the
        number to reach, counting the epochs already done.
    optimizer : Optimizer, str or None
        An optimizer instance, a name from :data:`physlearn.experiment.optim.OPTIMIZERS`, or
        None for ``SGD(lr=0.01)``. Its state is advanced (and, on resume, restored).
    batch_size : int, default 16
        Samples per gradient estimate (the last batch of an epoch may be smaller).
    schedule : {"constant", "cosine"}, default "constant"
        Learning-rate schedule over the epochs: the optimizer's ``lr`` is multiplied by
        :func:`~physlearn.experiment.optim.lr_factor` in every epoch (``"cosine"``: from 1
        down to nearly 0 at ``epochs``; on resume with another ``epochs`` the rest of the
        schedule is re-planned). Epoch records then carry ``lr_scale``.
    cost : Cost, str or None
        Cost used both for the gradient and for the recorded losses; None is squared error.
    seed : int, default 0
        Seed of the generator that shuffles the training set each epoch.
    run_dir : str or os.PathLike, optional
        Directory for ``config.toml`` (a config that rebuilds the run, with its provenance),
        ``history.jsonl``, ``checkpoint.npz`` (every epoch, atomic), ``learning_curve.png``
        (while training at most every few seconds, and at the end) and ``params.npz``
        (final); see :mod:`physlearn.experiment.rundir`.
    resume : bool, default False
        Continue from ``run_dir/checkpoint.npz``; starts fresh (with a log message)
        if there is none. The configuration must match the checkpoint's, except
        ``epochs``.
    overwrite : bool, default False
        Start afresh in a ``run_dir`` that already holds a run. Without it (and without
        ``resume``) that is refused with :class:`~physlearn.experiment.rundir.RunExistsError`.
    progress : bool, default True
        Show a tqdm progress bar over epochs.
    callback : callable, optional
        ``callback(epoch, record, system)`` after each recorded epoch (including
        epoch 0 of a fresh run), once the checkpoint is on disk; returning ``False``
        stops training. Exceptions propagate, leaving the last checkpoint valid.
    config : Mapping, optional
        The config that rebuilds this run (given by :func:`physlearn.experiment.config.
        run_experiment`); default: described from the objects themselves.
    experiment : Mapping, optional
        The user's config as given, written to ``experiment.toml``.

    Returns
    -------
    History
        Records of epochs 0..epochs with ``epoch``, ``train_loss``, ``test_loss``,
        ``grad_norm`` (mean over the epoch's batches; None for epoch 0), ``failed_batches``
        (batches not trained on because a fixed point the rule needs does not exist, see
        below; absent for epoch 0; :attr:`History.failed_batches` sums them), ``seconds``
        (wall time of the epoch including evaluation) and, for classification,
        ``train_accuracy`` and ``test_accuracy``; ``params`` are the final parameters.

    Raises
    ------
    ValueError
        For ``epochs`` or ``batch_size`` < 1, inconsistent data shapes, ``resume``
        without ``run_dir``, or a checkpoint whose configuration differs.
    ConvergenceError
        If no batch of an epoch could be trained on (every one needs a fixed point that does
        not exist). Single such batches are skipped instead: logged, counted in
        ``failed_batches`` and reported by a :class:`FixedPointWarning` at the end of the
        epoch, never trained on.
    FloatingPointError
        If a gradient estimate is not finite, or a step would make the parameters or the
        system's state non-finite: the step is refused (parameters and optimizer state left
        at the previous step, the last checkpoint intact) and the error names the parameters
        whose change breaks the state.

    Notes
    -----
    Each epoch draws a fresh permutation of the training set and, for every mini-batch
    :math:`\\mathcal B`, asks the rule for its estimate
    :math:`\\hat g ≈ \\frac{1}{|\\mathcal B|}\\sum_{b∈\\mathcal B} ∂C_b/∂θ` (the physical
    relaxations happen there) and lets the optimizer step, e.g. for SGD

    .. math::

        θ ← Π\\big(θ − η\\, f(e)\\, \\hat g\\big),

    with :math:`f(e)` the schedule's factor in epoch :math:`e` and :math:`Π` the projection
    onto the system's physical bounds (``update_params``: a conductance or a spring constant
    saturates at its floor, as a device does). This is stochastic gradient descent on
    :math:`L(θ)` whenever the rule's estimate is unbiased in the limit of small nudges.

    References
    ----------
    .. [1] H. Robbins, S. Monro, "A stochastic approximation method", Ann. Math. Stat. 22,
       400–407 (1951).
    .. [2] B. Scellier, Y. Bengio, "Equilibrium propagation: bridging the gap between
       energy-based models and backpropagation", Front. Comput. Neurosci. 11:24 (2017).
    """
    epochs = _check_positive_int("epochs", epochs)
    batch_size = _check_positive_int("batch_size", batch_size)
    lr_factor(schedule, 1, epochs)          # refuses an unknown schedule before anything runs
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if resume and run_dir is None:
        raise ValueError("resume=True needs a run_dir holding checkpoint.npz")
    _check_data(data)
    optimizer = _resolve_optimizer(optimizer)
    cost = make_cost(cost)
    run = RunDir(run_dir)
    problem, described = None, config is None
    if described:
        config, problem = describe_run(system, rule, optimizer, cost, data, epochs=epochs,
                                       batch_size=batch_size, seed=int(seed))
    config = {**config, "train": {**config.get("train", {}), "epochs": epochs,
                                  "batch_size": batch_size, "seed": int(seed)}}
    config["train"].pop("schedule", None)
    if schedule != "constant":          # older configs (without the key) stay comparable
        config["train"]["schedule"] = schedule
    if run.root is not None:
        config["train"]["run_dir"] = str(run.root)
    rng = np.random.default_rng(int(seed))
    records: list[dict] = []

    if resume and run.checkpoint.exists():
        records, saved = _restore(run.checkpoint, system, optimizer, rng, config)
        config = run.start({**saved, "train": config["train"]}, records, experiment=experiment,
                           seed=int(seed))
        logger.info("resuming %s from epoch %d", run.root, records[-1]["epoch"])
    else:
        if resume:
            logger.warning("no checkpoint in %s; starting a fresh run", run.root)
        elif not overwrite:
            run.refuse_existing()
        # a config that built this very system rebuilds it by construction; one described
        # from the objects is checked (and gets initial_params.npz if it does not)
        config = run.start(config, records, system=system if described else None,
                        experiment=experiment,
                           seed=int(seed), problem=problem)

    x_train = np.asarray(data.x_train, dtype=float)
    y_train = np.asarray(data.y_train, dtype=float)
    start = records[-1]["epoch"] if records else 0
    started = time.perf_counter()

    def finish_epoch(record) -> bool:
        records.append(record)
        run.end_epoch(record, system=system, optimizer=optimizer, rng=rng,
                      records=records, config=config)
        bar.set_postfix(_postfix(record))
        return callback is None or callback(record["epoch"], record, system) is not False

    guard = _StepGuard(system, optimizer)
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
            failed = []
            optimizer.lr_scale = lr_factor(schedule, epoch, epochs)
            try:
                grad_norm = _train_epoch(system, rule, optimizer, x_train, y_train, cost,
                                         batch_size, rng, epoch, guard, failed)
            finally:
                optimizer.lr_scale = 1.0        # the optimizer leaves as it came
            record = {"epoch": epoch, **_checked_metrics(system, data, cost, guard, x_train),
                      "grad_norm": grad_norm, "failed_batches": len(failed)}
            if schedule != "constant":
                record["lr_scale"] = lr_factor(schedule, epoch, epochs)
            if failed:
                warnings.warn(
                    f"{type(rule).__name__}: {len(failed)} batch(es) of epoch {epoch} were not "
                    "trained on because a fixed point they need does not exist (first: "
                    f"{failed[0][1]})", FixedPointWarning, stacklevel=2)
            keep_going = finish_epoch({**record, "seconds": time.perf_counter() - tic})
            bar.update(1)

    params = {k: np.array(v, copy=True) for k, v in system.params.items()}
    run.finish(params, config, time.perf_counter() - started, records)
    return History(records, params)


def _restore(path, system, optimizer, rng, config):
    """Load a checkpoint into system, optimizer and generator; return its history and the
    config it was written with."""
    state = load_checkpoint(path)
    differences = config_differences(state["config"], config)
    if differences:
        raise ValueError(
            f"cannot resume from {path}: the configuration differs from the checkpoint's "
            f"(only epochs may change); use overwrite=True (--overwrite) or a new run_dir: "
            + "; ".join(differences)
        )
    system.params = state["params"]
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["rng_state"]
    return state["history"], state["config"]
