"""The command line: demo, run CONFIG.toml, check SYSTEM RULE, list."""

import pytest

from physlearn.experiment.cli import main
from physlearn.experiment.runio import read_jsonl, write_toml


def test_check_prints_table_and_bias_order(capsys):
    assert main(["check", "resistor", "ep-centered"]) == 0
    out = capsys.readouterr().out
    assert "gradient check" in out and "conductance" in out
    assert "declared bias order 2" in out


def test_check_unknown_rule_is_a_clear_error(capsys):
    assert main(["check", "resistor", "ep-sideways"]) == 2
    assert "unknown rule 'ep-sideways'" in capsys.readouterr().err


def test_run_config_writes_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    config = {
        "system": {"builder": "resistor-layered", "layers": [3, 6, 2], "seed": 0},
        "rule": {"name": "EP", "beta": 0.1, "variant": "centered"},
        "data": {"name": "linear_regression", "n_samples": 40, "seed": 0},
        "optimizer": {"name": "adam", "lr": 0.02},
        "train": {"epochs": 2, "batch_size": 8, "run_dir": str(run_dir)},
    }
    path = tmp_path / "exp.toml"
    write_toml(path, config)
    assert main(["run", str(path), "--no-progress"]) == 0
    for name in ("experiment.toml", "config.toml", "history.jsonl", "params.npz",
                 "checkpoint.npz", "learning_curve.png"):
        assert (run_dir / name).exists(), name
    assert [r["epoch"] for r in read_jsonl(run_dir / "history.jsonl")] == [0, 1, 2]


def test_run_config_with_unknown_builder_fails_clearly(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    write_toml(path, {"system": {"builder": "teapot"}, "rule": {"name": "EP"},
                      "data": {"name": "iris"}})
    assert main(["run", str(path)]) == 2
    assert "builder='teapot' is unknown" in capsys.readouterr().err


def test_demo_runs_and_writes_learning_curves(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path), "--epochs", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert "HolomorphicEP" in out and "test accuracy" in out
    for name in ("regression", "iris"):
        assert (tmp_path / f"demo-{name}" / "learning_curve.png").exists()


def test_list_names_registered_things(capsys):
    assert main(["list"]) == 0
    assert "resistor" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["run"], ["check", "resistor"]])
def test_missing_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit):
        main(argv)
