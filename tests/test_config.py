"""Configs: a documented, validated schema; errors in one line before anything is written;
run directories that rebuild their run; resume, Ctrl-C and leftovers of killed runs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import physlearn as pl
from physlearn.experiment import runio
from physlearn.experiment.cli import main
from physlearn.experiment.config import ConfigError, build, schema_markdown, validate
from physlearn.experiment.encoding import EncodingError, decode, encode
from physlearn.systems import ResistorNetwork

ROOT = Path(__file__).resolve().parents[1]

BASE = {
    "system": {"builder": "resistor-layered", "layers": [3, 4, 2], "seed": 0},
    "rule": {"name": "EP", "beta": 0.1, "variant": "centered"},
    "data": {"name": "linear_regression", "n_samples": 40, "seed": 0},
    "optimizer": {"name": "adam", "lr": 0.02},
    "train": {"epochs": 2, "batch_size": 8},
}


def with_changes(**tables):
    config = {k: dict(v) for k, v in BASE.items()}
    for table, body in tables.items():
        if body is None:
            config.pop(table, None)
        else:
            config[table] = body
    return config


# -- the schema is documented ------------------------------------------------------------------
def test_config_docs_are_current():
    """docs/config.md is generated from the code (the command is in the file's first line)."""
    assert (ROOT / "docs" / "config.md").read_text() == schema_markdown()


def test_docs_list_every_registered_name_with_its_keys():
    text = schema_markdown()
    from physlearn.registry import TABLES

    for registry in TABLES.values():
        for name in registry:
            assert f"### `{name}`" in text, name
    assert "| `layers` |" in text and "| `beta` | float | `0.001` |" in text


# -- errors name themselves, in one line, exit 2, nothing written ---------------------------------
BAD = {
    "unknown key": (with_changes(system={"builder": "resistor-layered", "layer": [3, 4, 2]}),
                    r"\[system\] builder = 'resistor-layered': unknown key 'layer' "
                    r"\(did you mean 'layers'\?\); valid keys: .*layers"),
    "misspelt table": ({**BASE, "trian": {"epochs": 1}},
                       r"unknown table \[trian\] \(did you mean 'train'\?\); valid tables: "),
    "wrong type": (with_changes(rule={"name": "EP", "beta": "big"}),
                   r"\[rule\] name = 'EP': beta = 'big' should be of type float, got str"),
    "wrong type in train": (with_changes(train={"epochs": 2.5}),
                            r"\[train\]: epochs = 2.5 should be of type int"),
    "unknown builder": (with_changes(system={"builder": "resistor-layred"}),
                        r"unknown system 'resistor-layred' \(did you mean 'resistor-layered'\?\)"
                        r"; valid: .*hru-linear.*'package.module:Name'"),
    "unknown rule": (with_changes(rule={"name": "EQ"}), r"unknown rule 'EQ'.*valid: .*EP"),
    "unknown data": (with_changes(data={"name": "mnist"}), r"unknown dataset 'mnist'.*digits"),
    "missing table": (with_changes(rule=None), r"config has no \[rule\] table"),
    "two selectors": (with_changes(system={"builder": "resistor", "class": "ResistorNetwork"}),
                      r"\[system\] has both 'builder' and 'class'"),
    "bad import": (with_changes(system={"class": "no_such_module:Thing"}),
                   r"cannot import module 'no_such_module'"),
    "data does not fit": (with_changes(data={"name": "iris"}),
                          r"\[data\] 'iris' does not fit \[system\] ResistorNetwork: x has shape"),
    "rule does not apply": (with_changes(rule={"name": "rhel"}), r"\[rule\] RHEL needs \['echo'\]"),
    "constructor refuses": (with_changes(system={"builder": "resistor-layered", "layers": [3]}),
                            r"\[system\] builder = 'resistor-layered': layers=\[3\]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_config_error_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    config, pattern = BAD[case]
    config = {**config, "train": {**config.get("train", {}), "run_dir": str(tmp_path / "run")}}
    path = tmp_path / "bad.toml"
    runio.write_toml(path, config)
    assert main(["run", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("physlearn run: error: "), err
    import re

    assert re.search(pattern, err), err
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError):
        build(config)


def test_bad_toml_names_the_file_and_line(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text('[system]\nbuilder = "resistor-layered\n[rule]\nname = "EP"\n')
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:2: invalid TOML" in err


def test_missing_config_file_is_one_line(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nowhere.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_validate_accepts_defaults_and_provenance():
    config = {**BASE, "provenance": {"seed": 0, "anything": [1, 2]}}
    assert validate(config) is config
    assert build({k: v for k, v in BASE.items() if k != "optimizer"}).optimizer.lr > 0


def test_registered_class_name_and_module_path_select_factories():
    exp = build(with_changes(system={"class": "physlearn.systems.resistor:ResistorNetwork.layered",
                                     "layers": [3, 4, 2]},
                             rule={"name": "HolomorphicEP", "beta": 0.05, "points": 4},
                             cost={"class": "physlearn.costs:SquaredError"}))
    assert isinstance(exp.system, ResistorNetwork) and exp.rule.points == 4
    assert build(with_changes(rule={"name": "ep-positive"})).rule.variant == "positive"


# -- encoding of values TOML cannot hold -----------------------------------------------------------
def test_encoding_round_trips_python_values(tmp_path):
    graph = nx.Graph()
    graph.add_edge(("in", 0, "+"), "out", weight=0.5)
    values = {"none": None, "tuple": (1, ("a", 2.5)), "items": {(0, 1): 2.0},
              "array": np.arange(6.0).reshape(2, 3), "complex": np.array([1 + 2j]),
              "graph": graph, "cost": pl.CrossEntropy(temperature=0.3),
              "function": runio.read_toml, "nested": {"a": [None, (1,)]}}
    path = tmp_path / "values.toml"
    runio.write_toml(path, {"v": encode(values)})
    back = decode(runio.read_toml(path)["v"])
    assert back["none"] is None and back["tuple"] == (1, ("a", 2.5))
    assert back["items"] == {(0, 1): 2.0} and back["function"] is runio.read_toml
    assert back["array"].shape == (2, 3) and back["complex"].dtype == np.complex128
    assert np.array_equal(back["complex"], values["complex"])
    assert set(back["graph"].edges) == set(graph.edges)
    assert back["graph"].edges[("in", 0, "+"), "out"]["weight"] == 0.5
    assert back["cost"].get_params() == {"temperature": 0.3}
    assert back["nested"] == {"a": [None, (1,)]}


def test_encoding_refuses_what_no_config_can_hold():
    with pytest.raises(EncodingError, match="system.kinetic.*top level of an importable module"):
        encode(lambda p: p, "system.kinetic")
    with pytest.raises(EncodingError, match="Generator"):
        encode({"rng": np.random.default_rng(0)}, "x")


# -- run directories rebuild their run ---------------------------------------------------------
def _params(folder):
    with np.load(Path(folder) / "params.npz") as npz:
        return {k: npz[k] for k in npz.files}


def _same(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_python_run_with_edited_parameters_is_rebuilt_bitwise(tmp_path, capsys):
    net = ResistorNetwork.random(12, n_inputs=3, n_outputs=2, seed=3)
    net.params = {"conductance": net.params["conductance"] * 1.5}   # not what the seed gives
    pl.train(net, pl.EP(beta=0.05), pl.datasets.linear_regression(n_samples=40),
             epochs=2, optimizer=pl.optim.Adam(lr=0.02), run_dir=tmp_path / "a", progress=False)
    saved = runio.read_toml(tmp_path / "a" / "config.toml")
    assert saved["system"]["params_file"] == "initial_params.npz"
    assert "$graph" in saved["system"]["graph"]
    assert main(["run", str(tmp_path / "a" / "config.toml"), "--run-dir", str(tmp_path / "b"),
                 "--no-progress"]) == 0
    assert _same(_params(tmp_path / "a"), _params(tmp_path / "b"))


def test_run_directory_records_provenance(tmp_path):
    config = with_changes(train={"epochs": 1, "batch_size": 8, "seed": 3,
                                 "run_dir": str(tmp_path / "run")})
    pl.config.run_experiment(config, progress=False)
    saved = runio.read_toml(tmp_path / "run" / "config.toml")
    provenance = saved.pop("provenance")
    assert provenance["seed"] == 3 and provenance["wall_time"] > 0
    assert provenance["versions"]["physlearn"] == pl.__version__
    assert "git_revision" in provenance or not (ROOT / ".git").exists()
    assert saved["system"] == config["system"] and saved["train"]["epochs"] == 1
    assert runio.read_toml(tmp_path / "run" / "experiment.toml") == config


def test_resume_check_comes_before_anything_is_written(tmp_path, capsys):
    run_dir = tmp_path / "run"
    path = tmp_path / "exp.toml"
    runio.write_toml(path, with_changes(train={"epochs": 1, "run_dir": str(run_dir)}))
    assert main(["run", str(path), "--no-progress"]) == 0
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    changed = with_changes(rule={"name": "EP", "beta": 0.2},
                           train={"epochs": 2, "run_dir": str(run_dir)})
    runio.write_toml(path, changed)
    capsys.readouterr()
    assert main(["run", str(path), "--resume", "--no-progress"]) == 2
    assert "configuration differs" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_stale_temporary_files_are_removed_by_the_next_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stale = run_dir / ".checkpoint.npz.k3j2.tmp"
    stale.write_bytes(b"half a checkpoint")
    pl.config.run_experiment(with_changes(train={"epochs": 1, "run_dir": str(run_dir)}),
                             progress=False)
    assert not stale.exists()


def test_ctrl_c_prints_one_line_and_resume_continues(tmp_path):
    run_dir = tmp_path / "run"
    path = tmp_path / "long.toml"
    runio.write_toml(path, with_changes(data={"name": "linear_regression", "n_samples": 400},
                                        train={"epochs": 400, "batch_size": 4,
                                               "run_dir": str(run_dir)}))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    # a shell without job control starts background jobs with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: give the child the default disposition
    proc = subprocess.Popen([sys.executable, "-m", "physlearn", "run", str(path),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not (run_dir / "checkpoint.npz").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "--resume" in err and "Traceback" not in err
    done = pl.experiment.rundir.load_checkpoint(run_dir / "checkpoint.npz")["epoch"]
    assert 0 <= done < 400
    text = path.read_text().replace("epochs = 400", f"epochs = {done + 1}")
    path.write_text(text)
    assert main(["run", str(path), "--resume", "--no-progress"]) == 0
    history = runio.read_jsonl(run_dir / "history.jsonl")
    assert [r["epoch"] for r in history] == list(range(done + 2))
