"""Parameter sweeps: map :func:`physlearn.experiment.config.run_experiment` over a grid of configs.

Each point of the grid is a pure function call ``run_experiment(config) -> result``; points
run sequentially, in local processes, or on a Dask cluster (``client=`` a
``dask.distributed.Client``, e.g. ``Client("tcp://scheduler:8786")``; Dask is an optional
extra: ``pip install physlearn[sweeps]``). A point that fails is recorded with its error and
the others go on. Results are appended to ``sweep.jsonl`` as they arrive, so an interrupted
sweep resumes where it stopped: points already recorded as done are skipped.
"""

from __future__ import annotations

import copy
import itertools
import json
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from .runio import append_jsonl, read_jsonl


def grid_points(grid):
    """Expand ``{"rule.beta": [0.1, 0.01], "train.seed": [0, 1]}`` into a list of dicts."""
    keys = list(grid)
    for key in keys:
        if "." not in key:
            raise ValueError(f"grid key {key!r} must be 'section.name', e.g. 'rule.beta'")
        if not isinstance(grid[key], (list, tuple)) or not grid[key]:
            raise ValueError(f"grid[{key!r}] must be a non-empty list of values")
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def point_config(base, point, out=None, index=None):
    """The config of one grid point: ``base`` with the point's dotted keys set."""
    config = copy.deepcopy(base)
    for key, value in point.items():
        section, name = key.split(".", 1)
        config.setdefault(section, {})[name] = value
    if out is not None:
        config.setdefault("train", {})["run_dir"] = str(Path(out) / f"point-{index:04d}")
    return config


def _run_point(config):
    from .config import run_experiment

    try:
        result = run_experiment(config, progress=False)
        return {"status": "done", "final": result["final"]}
    except Exception as err:   # recorded, not raised: the other points go on
        return {"status": "failed", "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc(limit=5)}


def sweep(base, grid, out, *, workers=1, client=None, progress=True):
    """Run every point of ``grid`` on top of the ``base`` config.

    Parameters
    ----------
    base : dict
        A config as accepted by :func:`physlearn.experiment.config.run_experiment`.
    grid : dict
        Dotted keys (``"rule.beta"``) → lists of values; the sweep is their product.
    out : path
        Folder for ``sweep.jsonl`` and one run directory per point.
    workers : int, default 1
        Local processes (1: run in this process).
    client : dask.distributed.Client, optional
        Run the points on this Dask cluster instead.

    Returns
    -------
    list of dict
        One record per point (``index``, ``point``, ``status``, ``final`` or ``error``),
        including those recorded by an earlier, interrupted call.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "sweep.jsonl"
    points = grid_points(grid)
    done = {r["index"]: r for r in (read_jsonl(log) if log.exists() else [])
            if r["status"] == "done"}
    todo = [i for i in range(len(points)) if i not in done]
    configs = {i: point_config(base, points[i], out, i) for i in todo}
    records = dict(done)
    bar = tqdm(total=len(points), initial=len(done), disable=not progress, unit="point")

    def record(i, result):
        entry = {"index": i, "point": points[i], **result}
        append_jsonl(log, json.loads(json.dumps(entry, default=str)))
        records[i] = entry
        bar.update(1)

    if client is not None:
        futures = {client.submit(_run_point, configs[i], pure=False): i for i in todo}
        from dask.distributed import as_completed as dask_completed
        for future in dask_completed(futures):
            record(futures[future], future.result())
    elif workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_run_point, configs[i]): i for i in todo}
            for future in as_completed(futures):
                record(futures[future], future.result())
    else:
        for i in todo:
            record(i, _run_point(configs[i]))
    bar.close()
    return [records[i] for i in sorted(records)]
