"""The command line: demo, run, check, list, plot, derive, --version, python -m physlearn."""

import subprocess
import sys

import pytest

import physlearn as pl
from physlearn.experiment.cli import main
from physlearn.experiment.runio import read_jsonl, write_toml


def test_check_prints_table_and_verdict(capsys):
    assert main(["check", "resistor", "ep-centered"]) == 0
    out = capsys.readouterr().out
    assert "gradient check" in out and "conductance" in out
    assert "pass" in out.lower()


def test_check_unknown_rule_is_a_clear_error(capsys):
    assert main(["check", "resistor", "ep-sideways"]) == 2
    err = capsys.readouterr().err
    assert "unknown rule 'ep-sideways'" in err and err.count("\n") == 1


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


def test_demo_runs_and_writes_learning_curves(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path), "--epochs", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert "HolomorphicEP" in out and "test accuracy" in out
    for name in ("regression", "iris"):
        assert (tmp_path / f"demo-{name}" / "learning_curve.png").exists()


def test_list_names_everything_registered(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("resistor", "spin-chain-phase-sensor", "rhel", "cross_entropy", "sequences",
                 "adam"):
        assert name in out


def test_list_pairs(capsys):
    assert main(["list", "--pairs"]) == 0
    out = capsys.readouterr().out
    assert "applicable system × rule pairs" in out
    assert any("hru-nonlinear" in line and "rhel" in line for line in out.splitlines())


def test_derive_lists_verifies_and_prints_latex(capsys):
    assert main(["derive", "bias.centered"]) == 0
    assert "verified" in capsys.readouterr().out
    assert main(["derive", "bias.centered", "--latex"]) == 0
    assert "\\" in capsys.readouterr().out
    assert main(["derive", "bias.sideways"]) == 2
    assert "unknown derivation" in capsys.readouterr().err


@pytest.mark.slow
def test_derive_verifies_everything(capsys):
    from physlearn import derivations

    assert main(["derive"]) == 0
    assert capsys.readouterr().out.count("verified") == len(derivations.DERIVATIONS)


def test_version_and_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "physlearn", "--version"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == f"physlearn {pl.__version__}"


@pytest.mark.parametrize("argv", [["run"], ["check", "resistor", "ep-centered", "extra"]])
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_check_needs_a_pair_or_all(capsys):
    assert main(["check", "resistor"]) == 2
    assert "--all" in capsys.readouterr().err
