"""Noise models in configs: the ``[noise]`` table wraps the system the ``[system]`` table builds.

A registered noise model (``physlearn.registry.NOISES``) is reachable from a config, the
schema (``docs/config.md``), ``physlearn list`` and sweeps, like any other ingredient; zero
noise trains bitwise like the bare system, and a wrong key is refused naming the valid ones.
"""

from pathlib import Path

import pytest

from physlearn.experiment.cli import main
from physlearn.experiment.config import ConfigError, build, run_experiment, schema
from physlearn.experiment.runio import read_toml
from physlearn.experiment.sweep import grid_points, point_config
from physlearn.noise import RelaxationNoise
from physlearn.registry import NOISES

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "configs" / "noise" / \
    "vector-field-tied-relaxation.toml"


def base(noise=None, epochs=2):
    config = {"system": {"builder": "resistor-layered", "seed": 1},
              "rule": {"name": "ep-centered", "beta": 0.05},
              "data": {"name": "linear_regression", "n_samples": 40, "n_inputs": 3,
                       "n_outputs": 2, "seed": 0},
              "train": {"epochs": epochs, "batch_size": 8}}
    if noise is not None:
        config["noise"] = noise
    return config


def test_every_noise_model_is_registered_and_in_the_schema():
    assert set(NOISES) == {"measurement", "relaxation", "device", "quantised", "readout"}
    entries = schema()["noise"]["entries"]
    assert set(entries) == set(NOISES)
    assert "temperature" in entries["relaxation"][1]
    assert all("system" not in keys for _, keys in entries.values())


def test_noise_table_wraps_the_built_system():
    experiment = build(read_toml(CONFIG))
    assert isinstance(experiment.system, RelaxationNoise)
    assert experiment.system.temperature == 1e-5
    assert type(experiment.system.system).__name__ == "VectorFieldNetwork"


@pytest.mark.parametrize("noise", [{"name": "relaxation", "temperature": 0.0},
                                   {"name": "measurement", "std": 0.0},
                                   {"name": "readout", "std": 0.0}])
def test_zero_noise_trains_bitwise_like_the_bare_system(noise):
    bare = run_experiment(base(), progress=False)
    noisy = run_experiment(base(noise), progress=False)
    assert bare["final"]["train_loss"] == noisy["final"]["train_loss"]
    assert bare["final"]["grad_norm"] == noisy["final"]["grad_norm"]


def test_noise_changes_the_training():
    bare = run_experiment(base(), progress=False)
    noisy = run_experiment(base({"name": "measurement", "std": 1e-3, "seed": 0}),
                           progress=False)
    assert noisy["final"]["train_loss"] != bare["final"]["train_loss"]


@pytest.mark.parametrize("noise, match", [
    ({"name": "relaxation", "temprature": 1e-3}, r"unknown key 'temprature'.*temperature"),
    ({"name": "relaxation", "system": "resistor"}, r"unknown key 'system'"),
    ({"name": "thermal"}, r"\[noise\] name = 'thermal'.*registered|valid"),
    ({"name": "relaxation", "temperature": -1.0}, r"temperature"),
])
def test_bad_noise_tables_are_refused_naming_the_problem(noise, match):
    with pytest.raises(ConfigError, match=match):
        build(base(noise))


def test_example_config_runs_from_the_command_line(tmp_path, capsys):
    assert main(["run", str(CONFIG), "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "gradient error against the exact reference" in out
    history = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert len(history) == 6


def test_list_shows_the_noise_models(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "noise models:" in out and "relaxation" in out


def test_a_sweep_reaches_noise_keys():
    config = read_toml(CONFIG)
    points = grid_points(["noise.temperature=0,1e-5"])
    temps = [build(point_config(config, p)).system.temperature for p in points]
    assert temps == [0.0, 1e-5]
