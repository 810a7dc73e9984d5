"""Sweeps on a real Dask cluster: grids, content keys, the sweep folder, dying workers, the CLI.

One ``LocalCluster`` (2 single-threaded worker processes, Dask's own retries off, as on the
cluster a sweep starts itself) serves the module; the command-line test starts its own.
Points are tiny (one epoch on 12 training samples, ~0.3 s), so the module takes ~1 min.
"""

import csv
import fcntl
import json
import os
import re
import signal
import threading
import time

import dask
import numpy as np
import pytest
import sweep_helpers
from distributed import LocalCluster

import physlearn
from physlearn.experiment import cli
from physlearn.experiment.runio import read_jsonl, write_toml
from physlearn.experiment.sweep import (
    grid_points,
    parse_grid,
    parse_values,
    point_config,
    point_key,
    read_store,
    sweep,
)

# two equilibrium families on the same data: nonlinear resistor (diode) networks and
# mean-field Ising models, both 2 inputs -> 2 outputs
BASE = {
    "system": {"builder": "diode-layered", "seed": 0},
    "rule": {"name": "EP", "beta": 0.1, "variant": "centered"},
    "data": {"name": "linear_regression", "n_samples": 16, "n_inputs": 2, "n_outputs": 2,
             "seed": 0},
    "optimizer": {"name": "sgd", "lr": 0.05},
    "train": {"epochs": 1, "batch_size": 8},
}


def flaky(**system):
    """A config of the test-module class ``sweep_helpers:FlakyResistor``."""
    return {
        "system": {"class": "sweep_helpers:FlakyResistor", "layers": [3, 4, 2], **system},
        "rule": {"name": "EP", "beta": 0.1, "variant": "centered"},
        "data": {"name": "linear_regression", "n_samples": 16, "seed": 0},
        "optimizer": {"name": "sgd", "lr": 0.05},
        "train": {"epochs": 1, "batch_size": 8},
    }


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
    client = cluster.get_client()
    client.run(sweep_helpers.warm_up)
    yield client
    client.close()
    cluster.close()


def store(out):
    return read_store(out / "points.jsonl")


def results_csv(out):
    with open(out / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


# -- grids -------------------------------------------------------------------------------------
def test_grid_values_ranges_lists_and_types():
    assert parse_values("0:5") == [0, 1, 2, 3, 4]                 # half-open, like range
    assert parse_values("0:10:3") == [0, 3, 6, 9]
    assert parse_values("5:0:-2") == [5, 3, 1]
    assert parse_values("0:3,10") == [0, 1, 2, 10]
    assert parse_values("1e-3,1e-2,0.1") == [1e-3, 1e-2, 0.1]
    values = parse_values("1, 2.5, true, False, centered, '7', pkg.mod:Cls")
    assert values == [1, 2.5, True, False, "centered", "7", "pkg.mod:Cls"]
    assert [type(v) for v in values] == [int, float, bool, bool, str, str, str]
    grid = parse_grid(["rule.beta=1e-3,1e-2,1e-1", "train.seed=0:5"])
    assert grid == {"rule.beta": [1e-3, 1e-2, 1e-1], "train.seed": [0, 1, 2, 3, 4]}
    points = grid_points(grid)
    assert len(points) == 15 and points[1] == {"rule.beta": 1e-3, "train.seed": 1}
    assert grid_points({"rule.beta": [0.1], "train.seed": range(2)}) == \
        [{"rule.beta": 0.1, "train.seed": 0}, {"rule.beta": 0.1, "train.seed": 1}]
    assert grid_points({"train.seed": "0:2"}) == [{"train.seed": 0}, {"train.seed": 1}]
    betas = parse_grid({"rule.beta": np.logspace(-3, -1, 3), "train.seed": np.arange(2)})
    assert betas["rule.beta"] == pytest.approx([1e-3, 1e-2, 1e-1])
    assert [type(v) for v in [*betas["rule.beta"], *betas["train.seed"]]] == [float] * 3 + [int] * 2
    assert grid_points({}) == [{}]
    assert physlearn.sweep is sweep
    with pytest.raises(ValueError, match="given twice"):
        parse_grid(["train.seed=0:2", "train.seed=3"])


@pytest.mark.parametrize("spec, message", [
    ("rule.beta", "TABLE.KEY=VALUES"),
    ("beta=0.1", "'table.key'"),
    ("rule.beta.x=1", "'table.key'"),
    ("rule.beta=", "no values"),
    ("rule.beta=0.1,,0.2", "empty value"),
    ("train.seed=5:0", "empty"),
    ("train.seed=0:5:0", "step 0"),
    ("rule.beta=0.1:0.5", "take integers"),
    ("rule.beta=0.1,0.1", "appears twice"),
    ("train.run_dir=a,b", "sets [train] run_dir itself"),
])
def test_bad_grid_specs_are_one_line_value_errors(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        parse_grid([spec])
    assert "\n" not in str(err.value)


def test_bad_grid_or_config_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "sweep"
    with pytest.raises(ValueError, match=r"grid point rule\.bta=0\.1: .*unknown key 'bta' "
                                         r"\(did you mean 'beta'\?\)"):
        sweep(BASE, {"rule.bta": [0.1]}, out, workers=0)
    with pytest.raises(ValueError, match="unknown table"):
        sweep({**BASE, "sytem": {}}, {"rule.beta": [0.1]}, out, workers=0)
    with pytest.raises(ValueError, match="should be of type float"):
        sweep(BASE, ["rule.beta=0.1,fast"], out, workers=0)
    assert not out.exists()
    config = tmp_path / "base.toml"
    write_toml(config, BASE)
    code = cli.main(["sweep", str(config), "--grid", "train.seed=3:1", "--out", str(out)])
    assert code == 2 and "range '3:1' is empty" in capsys.readouterr().err
    assert cli.main(["sweep", str(config), "--grid", "train.sed=0:2", "--out", str(out)]) == 2
    assert not out.exists()


# -- sweeps on the cluster ---------------------------------------------------------------------
def _kill_a_worker_after(client, store_path, n_records, killed):
    """SIGKILL one worker process (as the kernel's OOM killer would) once the sweep has
    recorded ``n_records`` points; the nanny starts a fresh one."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if store_path.exists() and len(store_path.read_text().splitlines()) >= n_records:
            pids = client.run(os.getpid)
            victim = sorted(pids.values())[0]
            killed["records_before"] = read_jsonl(store_path)
            os.kill(victim, signal.SIGKILL)
            killed["pid"] = victim
            return
        time.sleep(0.01)


def test_sweep_of_two_families_on_a_local_cluster(client, tmp_path, capsys):
    """24 points over two system families; one worker is killed mid-sweep."""
    out = tmp_path / "sweep"
    grid = {"system.builder": ["diode-layered", "ising-mean-field"],
            "rule.beta": [0.2, 0.1, 0.05], "train.seed": range(4)}
    killed = {}
    killer = threading.Thread(target=_kill_a_worker_after,
                              args=(client, out / "points.jsonl", 6, killed))
    killer.start()
    rows = sweep(BASE, grid, out, client=client)
    killer.join(60)
    assert killed.get("pid"), "no worker was killed"
    assert "sweep" not in capsys.readouterr().err            # no bar when not on a terminal
    assert len(rows) == 24 and all(r["status"] == "done" for r in rows)
    finished = store(out)
    for record in killed["records_before"]:                  # no finished row lost
        assert record in finished
    points = grid_points(grid)
    assert [{k: r[k] for k in grid} for r in rows] == points  # grid order, a column per key
    for row, point in zip(rows, points):
        key = point_key(point_config(BASE, point))
        assert row["key"] == key
        assert row["run_dir"] == str((out / "points" / key).resolve())
        assert (out / "points" / key / "history.jsonl").exists()
        assert row["test_loss"] > 0 and row["train_loss"] > 0 and row["epoch"] == 1
        assert 0 <= row["gradient_error"] < 0.1 and row["wall_time"] > 0
    assert len({r["key"] for r in rows}) == 24
    by_family = {b: [r["test_loss"] for r in rows if r["system.builder"] == b]
                 for b in grid["system.builder"]}
    assert by_family["diode-layered"] != by_family["ising-mean-field"]
    table = results_csv(out)
    assert list(table[0])[:6] == ["system.builder", "rule.beta", "train.seed", "key", "status",
                                  "error"]
    assert list(table[0])[-3:] == ["gradient_error", "wall_time", "run_dir"]
    assert {"train_loss", "test_loss", "grad_norm"} <= set(table[0])
    assert [float(t["test_loss"]) for t in table] == [r["test_loss"] for r in rows]
    assert read_jsonl(out / "results.jsonl") == rows
    assert len(store(out)) == 24


def test_rerun_runs_only_the_points_whose_config_changed(client, tmp_path, capsys):
    out = tmp_path / "sweep"
    grid = {"rule.beta": [0.1, 0.01], "train.seed": [0, 1]}
    sweep(BASE, grid, out, client=client)
    first = (out / "points.jsonl").read_bytes()
    assert len(store(out)) == 4
    rows = sweep(BASE, grid, out, scheduler=client.scheduler.address, progress=True)
    assert (out / "points.jsonl").read_bytes() == first               # nothing ran again
    assert "4/4" in capsys.readouterr().err                           # an explicit bar
    assert [r["status"] for r in rows] == ["done"] * 4
    config = tmp_path / "base.toml"                                   # the same, as TOML
    write_toml(config, BASE)
    code = cli.main(["sweep", str(config), "--grid", "rule.beta=0.1,0.01", "--grid",
                     "train.seed=0:2", "--out", str(out), "--scheduler",
                     client.scheduler.address, "--no-progress"])
    assert code == 0 and "4 points, 4 done, 0 failed" in capsys.readouterr().out
    assert (out / "points.jsonl").read_bytes() == first

    grid["rule.beta"].append(0.05)                                     # one more value
    rows = sweep(BASE, grid, out, client=client)
    new = store(out)[4:]
    assert sorted((r["point"]["rule.beta"], r["point"]["train.seed"]) for r in new) == \
        [(0.05, 0), (0.05, 1)]
    assert len(rows) == 6 and len(results_csv(out)) == 6

    rows = sweep(BASE, {"rule.beta": [0.1], "train.seed": [1]}, out, client=client)
    assert len(store(out)) == 6 and len(rows) == 1 and len(results_csv(out)) == 1  # a subset

    longer = {**BASE, "train": {**BASE["train"], "epochs": 2}}      # a base setting
    rows = sweep(longer, grid, out, client=client)
    assert len(store(out)) == 12 and {r["epoch"] for r in rows} == {2}
    assert {r["key"] for r in rows}.isdisjoint({r["key"] for r in store(out)[:6]})


def test_failed_points_are_recorded_and_retried_without_duplicate_rows(client, tmp_path):
    out, gate = tmp_path / "sweep", tmp_path / "gate"
    base = flaky(bad_seed=1, fail_unless=str(gate))
    grid = {"system.seed": range(3), "rule.variant": ["centered", "sideways"]}
    rows = sweep(base, grid, out, client=client)
    status = {(r["system.seed"], r["rule.variant"]): r["status"] for r in rows}
    assert status == {(0, "centered"): "done", (1, "centered"): "failed",
                      (2, "centered"): "done", (0, "sideways"): "failed",
                      (1, "sideways"): "failed", (2, "sideways"): "failed"}
    errors = {r["system.seed"]: r["error"] for r in rows if r["rule.variant"] == "centered"}
    assert errors[1] == f"RuntimeError: {gate} does not exist" and errors[0] is None
    assert all("variant='sideways'" in r["error"] for r in rows
               if r["rule.variant"] == "sideways" and r["system.seed"] != 1)
    assert [t["status"] for t in results_csv(out)] == [r["status"] for r in rows]
    # a class of a test module, imported by name on the workers
    config = (out / "points" / rows[0]["key"] / "config.toml").read_text()
    assert 'class = "sweep_helpers:FlakyResistor"' in config

    gate.touch()
    rows = sweep(base, {"system.seed": range(3), "rule.variant": ["centered"]}, out,
                 client=client)
    assert [r["status"] for r in rows] == ["done"] * 3
    attempts = store(out)
    assert len(attempts) == 7 and attempts[-1]["point"]["system.seed"] == 1
    assert attempts[-1]["attempt"] == 2
    table = results_csv(out)
    assert len(table) == 3 and len({t["key"] for t in table}) == 3


def test_a_half_written_last_line_of_the_store_is_tolerated(client, tmp_path):
    out = tmp_path / "sweep"
    grid = {"train.seed": range(3)}
    sweep(BASE, grid, out, client=client)
    stale = out / ".results.csv.x1y2.tmp"                    # a killed sweep's leftover
    stale.write_text("half a table")
    path = out / "points.jsonl"
    data = path.read_bytes()
    path.write_bytes(data[:-40])                             # the last record, cut short
    with pytest.warns(UserWarning, match="half-written"):
        rows = sweep(BASE, grid, out, client=client)
    assert [r["status"] for r in rows] == ["done"] * 3
    assert not stale.exists()
    records = read_jsonl(path)                               # every line valid JSON again
    assert len(records) == 3 and records[-1]["key"] == json.loads(data.splitlines()[-1])["key"]
    with open(path, "a") as handle:                          # garbage, no newline
        handle.write('{"key": "0123", "sta')
    with pytest.warns(UserWarning, match="half-written"):
        sweep(BASE, {"train.seed": range(4)}, out, client=client)
    assert len(read_jsonl(path)) == 4


def test_a_second_sweep_on_the_same_folder_is_refused(client, tmp_path):
    out, gate = tmp_path / "sweep", tmp_path / "gate"
    base = flaky(bad_seed=0, wait_for=str(gate))
    first = {}
    thread = threading.Thread(target=lambda: first.update(
        rows=sweep(base, {"system.seed": range(2)}, out, client=client)))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (out / ".lock").exists() or not (out / ".lock").read_text():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(ValueError, match=r"another sweep .*lock '.*\.lock' is held by pid"):
            sweep(base, {"system.seed": range(2)}, out, client=client)
    finally:
        gate.touch()
        thread.join(60)
    assert [r["status"] for r in first["rows"]] == ["done", "done"]
    assert len(store(out)) == 2                               # the refused sweep wrote nothing

    fd = os.open(out / ".lock", os.O_RDWR)                   # any holder of the lock
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(ValueError, match=r"\.lock"):
            sweep(base, {"system.seed": range(2)}, out, workers=0)
    finally:
        os.close(fd)
    assert len(sweep(base, {"system.seed": range(2)}, out, workers=0)) == 2


def test_in_process_points_match_the_cluster(client, tmp_path):
    grid = {"train.seed": [0, 1]}
    local = sweep(BASE, grid, tmp_path / "local", workers=0)
    remote = sweep(BASE, grid, tmp_path / "remote", client=client)
    assert [r["test_loss"] for r in local] == [r["test_loss"] for r in remote]
    assert [r["key"] for r in local] == [r["key"] for r in remote]


# -- dying workers -----------------------------------------------------------------------------
def test_a_worker_killed_mid_sweep_loses_no_finished_row(client, tmp_path):
    out, marker = tmp_path / "sweep", tmp_path / "killed"
    base = flaky(bad_seed=4, die="once", marker=str(marker))
    rows = sweep(base, {"system.seed": range(8)}, out, client=client)
    assert marker.exists()                                   # a worker did die
    assert [r["status"] for r in rows] == ["done"] * 8
    attempts = store(out)
    assert sorted(r["point"]["system.seed"] for r in attempts) == list(range(8))
    assert all(r["status"] == "done" for r in attempts)      # one attempt each, none lost
    killed = int(marker.read_text())
    victim = next(r for r in attempts if r["point"]["system.seed"] == 4)
    assert victim["pid"] != killed                           # ran again on a live worker
    assert len(results_csv(out)) == 8


def test_a_point_that_always_kills_its_worker_fails_alone(tmp_path, capsys):
    """Through the command line, on the LocalCluster the sweep starts itself."""
    config, out = tmp_path / "flaky.toml", tmp_path / "sweep"
    write_toml(config, flaky(bad_seed=2, die="always"))
    code = cli.main(["sweep", str(config), "--grid", "system.seed=0:5", "--out", str(out),
                     "--workers", "2", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "5 points, 4 done, 1 failed" in printed
    rows = read_jsonl(out / "results.jsonl")
    assert [r["status"] for r in rows] == ["done", "done", "failed", "done", "done"]
    assert rows[2]["error"].startswith("KilledWorker: its worker process died")
    assert "alone on the cluster" in rows[2]["error"]
    assert f"failed {rows[2]['key']}: KilledWorker" in printed
    assert len(store(out)) == 5
