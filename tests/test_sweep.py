"""Sweeps: grid expansion, failed points recorded, resumption skips finished points."""

import pytest

from physlearn.experiment.runio import read_jsonl
from physlearn.experiment.sweep import grid_points, point_config, sweep

BASE = {
    "system": {"builder": "resistor-layered", "layers": [3, 4, 2], "seed": 0},
    "rule": {"name": "EP", "beta": 0.1, "variant": "centered"},
    "data": {"name": "linear_regression", "n_samples": 24, "seed": 0},
    "optimizer": {"name": "sgd", "lr": 0.05},
    "train": {"epochs": 1, "batch_size": 8},
}


def test_grid_expands_to_the_product():
    points = grid_points({"rule.beta": [0.1, 0.01], "train.seed": [0, 1, 2]})
    assert len(points) == 6 and {"rule.beta": 0.01, "train.seed": 2} in points
    assert point_config(BASE, points[0])["rule"]["beta"] == 0.1
    with pytest.raises(ValueError, match="section.name"):
        grid_points({"beta": [1]})


def test_failed_point_is_recorded_and_others_go_on(tmp_path):
    records = sweep(BASE, {"rule.variant": ["centered", "sideways", "positive"]}, tmp_path,
                    progress=False)
    status = [r["status"] for r in records]
    assert status == ["done", "failed", "done"]
    assert "variant='sideways'" in records[1]["error"]
    assert (tmp_path / "point-0002" / "history.jsonl").exists()


def test_resume_skips_finished_points(tmp_path):
    grid = {"rule.beta": [0.1, 0.05]}
    sweep(BASE, grid, tmp_path, progress=False)
    first = read_jsonl(tmp_path / "sweep.jsonl")
    records = sweep(BASE, grid, tmp_path, progress=False)
    assert read_jsonl(tmp_path / "sweep.jsonl") == first      # nothing re-run
    assert [r["status"] for r in records] == ["done", "done"]


def test_local_processes_give_the_same_results(tmp_path):
    grid = {"train.seed": [0, 1]}
    serial = sweep(BASE, grid, tmp_path / "serial", progress=False)
    parallel = sweep(BASE, grid, tmp_path / "parallel", workers=2, progress=False)
    assert [r["final"]["test_loss"] for r in serial] == [r["final"]["test_loss"] for r in parallel]
