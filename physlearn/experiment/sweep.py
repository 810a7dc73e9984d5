"""Parameter sweeps: one experiment config, a grid of changes to it, a cluster to run them.

A sweep maps :func:`~physlearn.experiment.config.run_experiment` over the Cartesian product of
a *grid* of config changes on top of a *base* config. Each grid point is an independent
experiment; the points run on a Dask ``distributed`` cluster, and their final metrics are
collected, as they arrive, into one tidy table::

    physlearn sweep regression.toml --grid rule.beta=1e-3,1e-2,1e-1 --grid train.seed=0:5

    >>> import physlearn
    >>> rows = physlearn.sweep("regression.toml",                       # doctest: +SKIP
    ...                        {"rule.beta": [1e-3, 1e-2, 1e-1], "train.seed": range(5)},
    ...                        "sweeps/regression")

Grid specification
------------------
A grid maps dotted keys ``table.key`` (a key of a config table, e.g. ``rule.beta``,
``system.layers``, ``train.seed``) to the values it takes; the sweep runs every combination.
On the command line each ``--grid TABLE.KEY=VALUES`` adds one axis, and ``VALUES`` is

* a comma-separated list, ``1e-3,1e-2,1e-1``;
* a half-open integer range in Python's convention, ``start:stop`` or ``start:stop:step``:
  ``0:5`` is 0, 1, 2, 3, 4 and ``0:10:3`` is 0, 3, 6, 9 (items of a list may be ranges too,
  ``0:3,10``).

Each value is read as an int, else a float, else a bool (``true``/``false``), else a string
(quotes force a string: ``'1'``). Values cannot contain commas. From Python, a grid is a dict
of dotted keys to lists (or ranges) of values, or a list of ``"table.key=VALUES"`` strings.
``[train] run_dir`` and ``resume`` belong to the sweep and cannot be swept.

Points and their keys
---------------------
A point is identified by its *content*, not its position in the grid: its key is a hash of
the canonical JSON (sorted keys) of the full point config, base included, with ``[train]
run_dir`` and ``resume`` left out. A point already recorded as done in the sweep folder is
skipped, so adding a value to an axis runs only the new points, and changing any setting of
the base (``train.epochs``, say) runs every point whose config it changes. Points recorded as
failed are run again. The base config and every point config are validated
(:func:`~physlearn.experiment.config.validate`) before anything is submitted or written.

The sweep folder
----------------
::

    OUT/
        .lock            held (fcntl.flock) while a sweep runs here; a second one is refused
        points.jsonl     append-only store: one JSON line per attempt of a point
        results.csv      the tidy table: one row per point of the current grid
        results.jsonl    the same rows as JSON lines
        points/KEY/      the run directory of each point (config, history, checkpoint, ...)

The store is the record of truth; ``results.csv`` and ``results.jsonl`` are rewritten from it
atomically (:func:`~physlearn.experiment.runio.atomic_write_bytes`) after every finished
point. A row has a column per grid key (its dotted name), ``key``, ``status`` (``"done"`` or
``"failed"``), ``error``, the final metrics of the run (``epoch``, ``train_loss``,
``test_loss``, ``train_accuracy``, ``test_accuracy``, ``grad_norm``, ``seconds``),
``gradient_error`` (the rule's relative gradient error at the final parameters),
``wall_time`` (seconds of the point's run) and ``run_dir``. A half-written last line of the
store, left by a crash, is dropped (that point runs again).

Execution and failures
----------------------
By default the points run on a ``LocalCluster`` of ``workers`` single-threaded worker
processes; ``scheduler`` connects to an existing cluster instead and ``client`` uses a given
:class:`distributed.Client` (its workers must be able to import every ``"package.module:Name"``
the config names, and to write to ``OUT``). ``workers=0`` runs the points one after the other
in this process, without Dask.

A point that raises is recorded as failed with its error; the others go on. A point whose
worker process dies (a segmentation fault, ``os._exit``, the memory limit) reaches the client
as :class:`distributed.KilledWorker` once Dask's own retries
(``distributed.scheduler.allowed-failures``; 0 on the cluster a sweep starts itself) are spent.
Such a death also takes down the points that were queued or running beside it on the same
worker, so every point that met a dead worker is run once more, alone on the cluster, after
the others have finished: bystanders then finish, and a point that kills its worker again is
recorded as failed. Nothing raised by a point ever stops the sweep.

Notes
-----
Results never depend on the order or place the points run in: each is the pure function
``run_experiment(config)`` of its config, seeds included.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
import socket
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from .runio import _json_default, append_jsonl, atomic_write_bytes, remove_stale_temporaries

__all__ = ["sweep", "parse_grid", "parse_values", "grid_points", "point_config", "point_key",
           "read_store", "main"]

STORE = "points.jsonl"
RESULTS_CSV = "results.csv"
RESULTS_JSONL = "results.jsonl"
LOCK = ".lock"
POINTS = "points"
_SWEEP_OWNED = ("run_dir", "resume")     # [train] keys the sweep sets itself
_ALLOWED_FAILURES = 0                    # Dask retries on the LocalCluster a sweep starts
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_-]*")
_RANGE_RE = re.compile(r"([+-]?\d+):([+-]?\d+)(?::([+-]?\d+))?")
_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


# -- the grid ----------------------------------------------------------------------------------
def parse_scalar(text):
    """A grid value: int, else float, else bool, else string (quotes force a string)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_values(text):
    """The values of one grid axis from ``"a,b,c"`` or a half-open range ``"start:stop[:step]"``.

    Parameters
    ----------
    text : str
        Comma-separated items; an item ``start:stop`` or ``start:stop:step`` of integers is
        ``range(start, stop, step)`` (so ``0:5`` is 0 … 4).

    Returns
    -------
    list
        The values, each an int, float, bool or string (see the module docstring).

    Raises
    ------
    ValueError
        For an empty list or item, a range of non-integers, an empty range, a zero step or a
        value given twice.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"no values in {text!r}; give a,b,c or start:stop[:step]")
    values = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise ValueError(f"empty value in {text!r}")
        match = _RANGE_RE.fullmatch(item)
        if match:
            start, stop, step = (int(g) if g is not None else 1 for g in match.groups())
            if step == 0:
                raise ValueError(f"range {item!r} has step 0")
            span = list(range(start, stop, step))
            if not span:
                raise ValueError(f"range {item!r} is empty (half-open: start:stop is start … "
                                 f"stop-1)")
            values += span
        elif ":" in item and all(_NUMBER_RE.fullmatch(p.strip()) for p in item.split(":")):
            raise ValueError(f"range {item!r}: ranges start:stop[:step] take integers; list "
                             f"other numbers as a,b,c")
        else:
            values.append(parse_scalar(item))
    _check_distinct(values, text)
    return values


def _plain(value):
    """Numpy scalars and arrays as Python numbers and lists (as a TOML config holds them)."""
    return json.loads(json.dumps(value, default=_json_default)) \
        if type(value).__module__ == "numpy" else value


def _check_distinct(values, where):
    seen = set()
    for value in values:
        token = json.dumps(value, sort_keys=True, default=_json_default)
        if token in seen:
            raise ValueError(f"value {value!r} appears twice in {where!r}")
        seen.add(token)


def _check_key(key):
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(f"grid key {key!r} must be 'table.key', e.g. 'rule.beta' or "
                         f"'train.seed'")
    table, name = key.split(".")
    if table == "train" and name in _SWEEP_OWNED:
        raise ValueError(f"grid key {key!r}: the sweep sets [train] {name} itself")


def parse_grid(grid):
    """A grid as an ordered dict ``"table.key" -> list of values``.

    Parameters
    ----------
    grid : dict or list of str or str
        Dotted keys to lists, ranges or arrays of values (a string is parsed by
        :func:`parse_values`, any other single value is an axis of one value); or command-line
        specs ``"table.key=VALUES"``.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        For a spec without ``=``, a malformed or repeated key, or bad values; the message is
        one line naming the spec.
    """
    if isinstance(grid, str):
        grid = [grid]
    out = {}
    if isinstance(grid, Mapping):
        for key, values in grid.items():
            _check_key(key)
            if isinstance(values, str):
                values = parse_values(values)
            elif isinstance(values, Iterable) and not isinstance(values, (bytes, Mapping)):
                values = [_plain(v) for v in values]          # lists, ranges, numpy arrays
            else:
                values = [_plain(values)]
            if not values:
                raise ValueError(f"grid[{key!r}] has no values")
            _check_distinct(values, key)
            out[key] = values
        return out
    for spec in grid:
        if not isinstance(spec, str) or "=" not in spec:
            raise ValueError(f"grid spec {spec!r} must be TABLE.KEY=VALUES, e.g. "
                             f"rule.beta=1e-3,1e-2 or train.seed=0:5")
        key, _, text = spec.partition("=")
        key = key.strip()
        _check_key(key)
        if key in out:
            raise ValueError(f"grid key {key!r} is given twice")
        try:
            out[key] = parse_values(text)
        except ValueError as err:
            raise ValueError(f"grid spec {spec!r}: {err}") from None
    return out


def grid_points(grid):
    """Every combination of the grid, in order (the last key varies fastest).

    Returns
    -------
    list of dict
        ``{"table.key": value, ...}`` per point; one empty point for an empty grid.
    """
    grid = parse_grid(grid)
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*grid.values())]


def point_config(base, point):
    """The config of one point: a deep copy of ``base`` with the point's keys set, and without
    the keys the sweep owns (``[train] run_dir``, ``resume``) or ``[provenance]``."""
    config = copy.deepcopy(base)
    config.pop("provenance", None)
    for key, value in point.items():
        table, name = key.split(".", 1)
        body = config.setdefault(table, {})
        if not isinstance(body, dict):
            raise ValueError(f"grid key {key!r}: [{table}] of the base config is not a table")
        body[name] = copy.deepcopy(value)
    train = config.get("train")
    if isinstance(train, dict):
        for name in _SWEEP_OWNED:
            train.pop(name, None)
        if not train:
            del config["train"]
    return config


def point_key(config):
    """The content key of a point config: 16 hex digits of the SHA-256 of its canonical JSON
    (sorted keys, no whitespace), ``[train] run_dir``/``resume`` and ``[provenance]`` left
    out."""
    canonical = json.dumps(point_config(config, {}), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True, default=_json_default)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# -- the sweep folder --------------------------------------------------------------------------
class _Lock:
    """An exclusive, non-blocking ``fcntl.flock`` on ``OUT/.lock`` (released when the process
    dies, however it dies)."""

    def __init__(self, path):
        self.path = Path(path)
        self.fd = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:       # pragma: no cover - not POSIX: no protection
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise ValueError(f"another sweep is running in {str(self.path.parent)!r}: its lock "
                             f"{str(self.path)!r} is held"
                             f"{f' by {holder}' if holder else ''}; wait for it to finish or "
                             f"choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            import fcntl

            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _repair_tail(path):
    """Drop a half-written last line (no newline, not valid JSON) so that the next append
    starts on a line of its own; terminate a complete one that lacks its newline."""
    if not path.exists():
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        try:
            json.loads(data[cut:])
        except ValueError:
            warnings.warn(f"{path}: dropped a half-written last line ({len(data) - cut} bytes)",
                          stacklevel=3)
            handle.truncate(cut)
        else:
            handle.write(b"\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_store(path):
    """Every attempt recorded in a sweep's ``points.jsonl``, in order.

    Lines that are not valid JSON objects (a half-written last line) are skipped with a
    warning; a missing file is an empty store.
    """
    path = Path(path)
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict) or "key" not in record:
                warnings.warn(f"{path}:{number}: skipped a line that is not a record",
                              stacklevel=2)
                continue
            records.append(record)
    return records


def _flatten(mapping, prefix=""):
    out = {}
    for name, value in (mapping or {}).items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


_FIXED = ("key", "status", "error")
_TAIL = ("gradient_error", "wall_time", "run_dir")


def _rows(points, latest):
    """The tidy table: one row per recorded point of the current grid, in grid order."""
    rows = []
    for key, point in points.items():
        record = latest.get(key)
        if record is None:
            continue
        metrics = {k: v for k, v in _flatten(record.get("final")).items()
                   if k not in point and k not in _FIXED + _TAIL}
        rows.append({**point, "key": key, "status": record.get("status"),
                     "error": record.get("error"), **metrics,
                     **{k: record.get(k) for k in _TAIL}})
    columns = list(dict.fromkeys(
        [*next(iter(points.values()), {}), *_FIXED,
         *(k for row in rows for k in row if k not in _TAIL), *_TAIL]))
    return [{c: row.get(c) for c in columns} for row in rows], columns


def _csv_text(value):
    if value is None or isinstance(value, float) and math.isnan(value):
        return "" if value is None else "nan"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=_json_default)
    return str(value)


def _write_results(out, rows, columns):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_text(row[c]) for c in columns])
    atomic_write_bytes(out / RESULTS_CSV, buffer.getvalue().encode("utf-8"))
    lines = "".join(json.dumps(row, default=_json_default) + "\n" for row in rows)
    atomic_write_bytes(out / RESULTS_JSONL, lines.encode("utf-8"))


# -- running one point -------------------------------------------------------------------------
def _one_line(err):
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _run_point(config, run_dir):
    """Run one point (in a worker); never raises: a failure is returned as a record."""
    from .config import run_experiment

    start = time.perf_counter()
    where = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        result = run_experiment(config, progress=False, resume=False, overwrite=True,
                                run_dir=run_dir)
    except Exception as err:      # recorded, not raised: the other points go on
        return {"status": "failed", "error": _one_line(err),
                "traceback": traceback.format_exc(limit=8), "final": None,
                "gradient_error": None, "wall_time": round(time.perf_counter() - start, 3),
                "run_dir": str(run_dir), **where}
    grad_err = result.get("gradient_error")
    return {"status": "done", "error": None, "final": result["final"],
            "gradient_error": None if grad_err is None else float(grad_err),
            "wall_time": round(time.perf_counter() - start, 3),
            "run_dir": str(result.get("run_dir") or run_dir), **where}


def _failure(error, run_dir):
    return {"status": "failed", "error": error, "final": None, "gradient_error": None,
            "wall_time": None, "run_dir": run_dir}


def _outcome(future, run_dir):
    """A finished future's record, or the ``KilledWorker`` that ended it."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as err:
        return err
    except Exception as err:      # lost or cancelled: recorded as failed, retried next run
        return _failure(_one_line(err), run_dir)


def _run_dask(client, todo, record):
    """Run ``todo`` (key -> (config, run_dir)) on ``client``; every point met by a dying worker
    is run once more, alone, after the rest."""
    from distributed import KilledWorker, as_completed

    def submit(key):
        config, run_dir = todo[key]
        return client.submit(_run_point, config, run_dir, pure=False,
                             key=f"physlearn-point-{key}-{os.urandom(4).hex()}")

    futures = {submit(key): key for key in todo}
    suspects = []
    try:
        for future in as_completed(list(futures)):
            key = futures.pop(future)
            outcome = _outcome(future, todo[key][1])
            future.release()
            if isinstance(outcome, KilledWorker):
                suspects.append(key)
            else:
                record(key, outcome)
        for key in suspects:          # alone on the cluster: a death now is this point's own
            future = submit(key)
            outcome = _outcome(future, todo[key][1])
            future.release()
            if isinstance(outcome, KilledWorker):
                last = getattr(outcome.last_worker, "address", "an unknown worker")
                outcome = _failure(f"KilledWorker: its worker process died while running it, "
                                   f"also when it ran alone on the cluster (last on {last}; "
                                   f"see that worker's log)", todo[key][1])
            record(key, outcome)
    finally:
        for future in futures:
            future.cancel()


def _local_cluster(workers):
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": _ALLOWED_FAILURES}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=":0")


# -- the sweep ---------------------------------------------------------------------------------
def _base_config(base):
    from .config import load_config

    config = load_config(base)
    if not isinstance(base, Mapping):
        system = config.get("system")
        if isinstance(system, dict) and isinstance(system.get("params_file"), str):
            system["params_file"] = str((Path(base).parent / system["params_file"]).resolve())
    return config


def _point_text(point):
    return ", ".join(f"{k}={v!r}" for k, v in point.items()) or "(the base config)"


def sweep(base: dict | str | os.PathLike, grid: Mapping[str, Sequence] | Sequence[str],
          out: str | os.PathLike, *, workers: int = 2, scheduler: str | None = None,
          client: object | None = None, progress: bool | None = None) -> list[dict]:
    """Run every point of ``grid`` on top of the ``base`` config; collect one tidy table.

    Parameters
    ----------
    base : dict or path
        A config (see :mod:`physlearn.experiment.config`) or the path of a TOML file.
    grid : dict or list of str
        Dotted keys (``"rule.beta"``) to lists of values, or ``"table.key=VALUES"`` specs
        (``"train.seed=0:5"``); the sweep is their product (see the module docstring).
    out : path
        The sweep folder (store, results, one run directory per point); created if needed.
    workers : int, default 2
        Worker processes of the ``LocalCluster`` started when neither ``scheduler`` nor
        ``client`` is given (``threads_per_worker=1``); 0 runs the points in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler (``"tcp://host:8786"``).
    client : distributed.Client, optional
        Run on this client's cluster (left open).
    progress : bool, optional
        Show a progress bar over points; default: only when output goes to a terminal.

    Returns
    -------
    list of dict
        One row per point of the grid recorded in ``out`` (every point, unless interrupted),
        in grid order: the columns of ``results.csv``.

    Raises
    ------
    ValueError
        Before anything is written or submitted: a malformed grid, an invalid base or point
        config (:class:`~physlearn.experiment.config.ConfigError`, naming the point), or
        another sweep holding ``out``'s lock. A point's own failure is never raised.
    """
    from .config import ConfigError, validate

    if client is not None and scheduler is not None:
        raise ValueError("give either client or scheduler, not both")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0, got {workers!r}")
    config = validate(_base_config(base))
    points, configs = {}, {}
    for point in grid_points(grid):
        cfg = point_config(config, point)
        try:
            validate(cfg)
        except ConfigError as err:
            raise ConfigError(f"grid point {_point_text(point)}: {err}") from None
        key = point_key(cfg)
        if key not in points:
            points[key], configs[key] = point, cfg

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _Lock(out / LOCK):
        remove_stale_temporaries(out)            # a killed sweep's half-written tables
        store = out / STORE
        _repair_tail(store)
        latest, attempts = {}, {}
        for r in read_store(store):
            latest[r["key"]] = r
            attempts[r["key"]] = attempts.get(r["key"], 0) + 1
        done = [k for k in points if latest.get(k, {}).get("status") == "done"]
        todo = {k: (configs[k], str((out / POINTS / k).resolve()))
                for k in points if k not in done}
        if latest:
            _write_results(out, *_rows(points, latest))
        bar = tqdm(total=len(points), initial=len(done), unit="point", desc="sweep",
                   disable=None if progress is None else not progress, dynamic_ncols=True)
        failed = 0

        def record(key, outcome):
            nonlocal failed
            attempts[key] = attempts.get(key, 0) + 1
            entry = {"key": key, **outcome, "point": points[key], "attempt": attempts[key],
                     "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "config": configs[key]}
            append_jsonl(store, entry)
            latest[key] = entry
            _write_results(out, *_rows(points, latest))
            failed += entry["status"] != "done"
            bar.update(1)
            if failed:
                bar.set_postfix(failed=failed)

        try:
            if not todo:
                pass                  # everything is done already: no cluster is started
            elif client is not None:
                _run_dask(client, todo, record)
            elif scheduler is not None:
                from distributed import Client

                with Client(scheduler) as remote:
                    _run_dask(remote, todo, record)
            elif workers == 0:
                for key, (cfg, run_dir) in todo.items():
                    record(key, _run_point(cfg, run_dir))
            else:
                with _local_cluster(workers) as cluster, cluster.get_client() as local:
                    _run_dask(local, todo, record)
        finally:
            bar.close()
    return _rows(points, latest)[0]


def main(args):
    """``physlearn sweep CONFIG --grid table.key=VALUES ...``; returns the exit code.

    0 when every point is done, 1 when any failed (their number is printed); a bad grid or
    config raises ``ValueError`` (the command line prints it and exits with 2).
    """
    config = Path(args.config)
    out = Path(args.out) if args.out else Path("sweeps") / config.stem
    try:
        rows = sweep(config, list(args.grid), out, workers=args.workers,
                     scheduler=args.scheduler, progress=False if args.no_progress else None)
    except KeyboardInterrupt:
        print(f"physlearn sweep: interrupted; finished points are kept in {out}, run the same "
              f"command again to do the rest")
        return 130
    failed = [row for row in rows if row["status"] != "done"]
    print(f"{len(rows)} points, {len(rows) - len(failed)} done, {len(failed)} failed: "
          f"{out / RESULTS_CSV}")
    for row in failed[:10]:
        print(f"  failed {row['key']}: {row['error']}")
    if len(failed) > 10:
        print(f"  ... and {len(failed) - 10} more")
    return 1 if failed else 0
