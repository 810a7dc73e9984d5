"""Run directories: the files that rebuild, resume and document one training run.

A run directory holds

* ``config.toml`` — a config that rebuilds the run exactly (``physlearn run RUN_DIR/config.toml``
  reproduces its parameters bitwise), with a ``[provenance]`` table: package versions, the git
  revision of physlearn when it runs from a checkout, the seed, start time and wall time;
* ``experiment.toml`` — the config as the user gave it, when the run came from one;
* ``history.jsonl`` (one line per epoch), ``checkpoint.npz`` (atomic, every epoch),
  ``params.npz`` (final parameters) and ``learning_curve.png`` (redrawn at most every
  ``CURVE_INTERVAL`` seconds while training, and at the end);
* ``initial_params.npz`` when the system's parameters were set in Python after it was built
  (the config names it as ``params_file``, so the rebuild starts from the same values).

A run directory that already holds a run is never overwritten silently: resume it, or ask for
``overwrite``. Temporary files that a killed run left behind (``.NAME.XXXX.tmp`` of the atomic
writes) are removed when the directory is next opened.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np

from . import runio
from .encoding import EncodingError, encode

__all__ = ["RunDir", "RunExistsError", "describe_run", "provenance", "load_checkpoint",
           "save_checkpoint", "config_differences", "FILES", "CHECKPOINT_FORMAT"]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
CURVE_INTERVAL = 5.0      # seconds between redraws of the learning curve while training
FILES = {
    "config": "config.toml",
    "experiment": "experiment.toml",
    "history": "history.jsonl",
    "checkpoint": "checkpoint.npz",
    "params": "params.npz",
    "initial": "initial_params.npz",
    "curve": "learning_curve.png",
}
_PACKAGES = ("numpy", "scipy", "networkx", "sympy", "qutip", "scikit-learn", "matplotlib",
             "dask", "distributed")


class RunExistsError(FileExistsError):
    """The run directory already holds a run and neither resume nor overwrite was asked for."""


# -- describing a run as a config --------------------------------------------------------------
def _described(obj):
    """``{"class": "package.module:Class", **hyperparameters}`` of a system, rule, cost or
    optimizer: its encoding as a value, with the tag turned into the table's selector."""
    table = encode(obj, type(obj).__name__)
    if "$class" not in table:
        raise EncodingError(f"{type(obj).__name__} has no hyperparameters to write to a config")
    return {"class": table.pop("$class"), **table}


def _data_source(data):
    source = getattr(data, "source", None)
    if source:
        return dict(source)
    return {"name": getattr(data, "name", "custom")}


def describe_run(system, rule, optimizer, cost, data, *, epochs, batch_size, seed,
                 run_dir=None):
    """A config that rebuilds a run whose ingredients were built in Python.

    Returns
    -------
    config : dict
        TOML-writable; systems, rules, costs and optimizers as ``class = "module:Class"`` with
        their hyperparameters (see :mod:`physlearn.experiment.encoding`).
    problem : str or None
        Why the config cannot rebuild the run (None when it can).
    """
    config, problem = {}, None
    for table, obj in (("system", system), ("rule", rule), ("optimizer", optimizer),
                       ("cost", cost)):
        try:
            config[table] = _described(obj)
        except EncodingError as err:
            config[table] = {"class": f"{type(obj).__module__}:{type(obj).__qualname__}"}
            problem = str(err)
    config["data"] = _data_source(data)
    if "name" in config["data"] and config["data"]["name"] == "custom":
        problem = problem or "the data set was built in Python (not by a registered loader)"
    config["train"] = {"epochs": epochs, "batch_size": batch_size, "seed": seed}
    if run_dir is not None:
        config["train"]["run_dir"] = str(run_dir)
    return config, problem


def rebuilds_parameters(config, system):
    """True if building ``config``'s system gives ``system``'s current parameters."""
    from .config import ConfigError, _construct

    try:
        rebuilt = _construct("system", dict(config["system"]), None)
    except (ConfigError, EncodingError, TypeError, ValueError):
        return False
    return set(rebuilt.params) == set(system.params) and all(
        np.array_equal(rebuilt.params[k], system.params[k]) for k in system.params)


# -- provenance --------------------------------------------------------------------------------
def _git_revision():
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-"
                                "files=no"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(seed):
    """Versions, git revision, seed and start time of a run (a ``[provenance]`` table)."""
    from .. import __version__

    versions = {"physlearn": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    out = {"versions": versions, "seed": seed, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "host": platform.node()}
    revision = _git_revision()
    if revision:
        out["git_revision"] = revision
    return out


# -- checkpoints -------------------------------------------------------------------------------
def save_checkpoint(path, *, system, optimizer, rng, epoch, records, config) -> None:
    """Parameters, optimizer state, generator state, history and config, atomically."""
    arrays = {f"params/{k}": np.asarray(v) for k, v in system.params.items()}
    arrays.update({f"optimizer/{k}": np.asarray(v) for k, v in optimizer.state_dict().items()})
    arrays.update(
        format=np.asarray(CHECKPOINT_FORMAT),
        epoch=np.asarray(epoch),
        rng_state=np.asarray(json.dumps(rng.bit_generator.state)),
        history=np.asarray(json.dumps(records, default=runio._json_default)),
        config=np.asarray(json.dumps(config)),
    )
    runio.atomic_savez(path, **arrays)


def load_checkpoint(path) -> dict:
    """The contents of a checkpoint written by :func:`save_checkpoint`."""
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


def config_differences(saved: Mapping, current: Mapping) -> list[str]:
    """Tables/keys that differ, ignoring what may change on resume (epochs, run_dir,
    provenance)."""

    def strip(config):
        config = json.loads(json.dumps(config))
        config.pop("provenance", None)
        config.pop("physlearn_version", None)
        for key in ("epochs", "run_dir", "resume"):
            config.get("train", {}).pop(key, None)
        config.get("system", {}).pop("params_file", None)
        return config

    saved, current = strip(saved), strip(current)
    return [
        f"[{section}]: checkpoint {saved.get(section)!r} vs now {current.get(section)!r}"
        for section in sorted(set(saved) | set(current))
        if saved.get(section) != current.get(section)
    ]


# -- the directory -----------------------------------------------------------------------------
class RunDir:
    """The files of one run directory (every method is a no-op without a directory)."""

    def __init__(self, run_dir):
        self.root = None if run_dir is None else Path(run_dir)
        self.provenance = None
        self._drawn = -float("inf")
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
            runio.remove_stale_temporaries(self.root)      # left by a killed run

    def path(self, name: str) -> Path:
        return self.root / FILES[name]

    @property
    def checkpoint(self):
        return None if self.root is None else self.path("checkpoint")

    def refuse_existing(self):
        """A fresh run must not silently replace an existing one."""
        if self.root is not None and self.path("checkpoint").exists():
            epoch = load_checkpoint(self.path("checkpoint"))["epoch"]
            raise RunExistsError(
                f"run_dir {str(self.root)!r} already holds a run (checkpoint at epoch {epoch}); "
                "resume it (physlearn run CONFIG --resume, or resume=True) or start again "
                "(--overwrite, or overwrite=True)")

    def start(self, config: Mapping, records: list[dict], *, system=None, experiment=None,
              seed=0, problem=None) -> dict:
        """Write the config files and (re)write the log to match ``records`` exactly.

        Returns the config as written (with its provenance)."""
        if self.root is None:
            return dict(config)
        if not records:  # a fresh run: no file of an older run may survive to be mistaken
            for name in ("checkpoint", "params", "curve", "initial"):
                self.path(name).unlink(missing_ok=True)
        config = json.loads(json.dumps(config))
        if system is not None and "params_file" not in config.get("system", {}) \
                and not rebuilds_parameters(config, system):
            runio.atomic_savez(self.path("initial"), **system.params)
            config["system"]["params_file"] = FILES["initial"]
        self.provenance = provenance(seed)
        if problem:
            logger.warning("%s/config.toml cannot rebuild this run: %s", self.root, problem)
            self.provenance["not_rebuildable"] = problem
        if experiment is not None:
            runio.write_toml(self.path("experiment"), experiment)
        runio.write_toml(self.path("config"), {**config, "provenance": self.provenance})
        lines = "".join(json.dumps(r, default=runio._json_default) + "\n" for r in records)
        runio.atomic_write_bytes(self.path("history"), lines.encode("utf-8"))
        return config

    def end_epoch(self, record, *, system, optimizer, rng, records, config) -> None:
        if self.root is None:
            return
        runio.append_jsonl(self.path("history"), record)
        save_checkpoint(self.path("checkpoint"), system=system, optimizer=optimizer, rng=rng,
                        epoch=record["epoch"], records=records, config=config)
        # drawing costs more than a small epoch: redraw at most every CURVE_INTERVAL seconds
        if time.monotonic() - self._drawn >= CURVE_INTERVAL:
            self.draw_curve(records)

    def draw_curve(self, records) -> None:
        runio.plot_learning_curve(records, self.path("curve"))
        self._drawn = time.monotonic()

    def finish(self, params: Mapping, config: Mapping, wall_time: float, records=()) -> None:
        if self.root is None:
            return
        if records:
            self.draw_curve(records)
        runio.atomic_savez(self.path("params"), **params)
        done = {**(self.provenance or {}), "wall_time": round(float(wall_time), 3)}
        runio.write_toml(self.path("config"), {**config, "provenance": done})
