"""The example configs in ``examples/configs/``: one per registered system, each runs and learns.

Every system of :data:`physlearn.registry.SYSTEMS` has ``examples/configs/<name>.toml`` (a
system registered without one fails here). Each config is run once through the command line
(``physlearn run CONFIG --run-dir DIR``, cached per module) and must write its run directory
and lower the test loss. On top of those runs: the saved ``config.toml`` of a run rebuilds its
parameters bitwise (a resistor network, a spin chain, an HRU, and a run built in Python whose
config encodes a networkx graph), and ``--resume`` with more epochs continues a finished run
to the parameters of an uninterrupted run.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import physlearn as pl
from physlearn.experiment.cli import main
from physlearn.experiment.runio import read_toml, write_toml
from physlearn.registry import SYSTEMS
from physlearn.testing import missing_requirements

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "examples" / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.toml"))
RUN_FILES = ("config.toml", "history.jsonl", "params.npz")
REPRODUCED = ("resistor-layered", "spin-chain-tfim", "hru-nonlinear")


def _run(argv, capsys):
    """``physlearn ARGV`` in-process; asserts exit code 0 (showing stderr otherwise)."""
    code = main([*map(str, argv), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, f"physlearn {' '.join(map(str, argv))} exited {code}:\n{captured.err}"
    return captured.out


def _params(run_dir):
    with np.load(Path(run_dir) / "params.npz") as npz:
        return {k: npz[k] for k in npz.files}


def _assert_same_params(a, b):
    pa, pb = _params(a), _params(b)
    assert set(pa) == set(pb)
    for key in pa:
        assert pa[key].dtype == pb[key].dtype, key
        assert np.array_equal(pa[key], pb[key]), f"{key} differs between {a} and {b}"


def _history(run_dir):
    lines = (Path(run_dir) / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module", autouse=True)
def _no_learning_curves():
    """Skip drawing the learning curve of every run directory.

    Drawing it takes about 0.1 s, more than most of these small runs compute, and it does not
    touch the parameters; ``tests/test_cli.py`` checks that runs write it.
    """
    from physlearn.experiment import runio

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runio, "plot_learning_curve", lambda records, path: Path(path))
        yield


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """``example_run(name)``: the run directory of ``examples/configs/<name>.toml`` (run once)."""
    runs = {}

    def run(name, capsys):
        if name not in runs:
            run_dir = tmp_path_factory.mktemp(f"run-{name}")
            _run(["run", CONFIG_DIR / f"{name}.toml", "--run-dir", run_dir], capsys)
            runs[name] = run_dir
        return runs[name]

    return run


def test_every_registered_system_has_an_example_config():
    names = {path.stem for path in CONFIGS}
    missing = sorted(set(SYSTEMS) - names)
    assert not missing, (f"registered systems without examples/configs/<name>.toml: {missing}; "
                         "add a small config that trains each of them in a few seconds")
    assert set(REPRODUCED) <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_example_config_names_its_system_and_says_what_it_trains(path):
    text = path.read_text()
    config = read_toml(path)
    assert config["system"].get("builder") == path.stem, "the file is named after its builder"
    assert text.startswith("# "), "a header comment says what the config trains and why"
    assert f"physlearn run examples/configs/{path.name}" in text


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_example_config_runs_and_learns(path, example_run, capsys):
    if path.stem in SYSTEMS and missing_requirements(path.stem):
        pytest.skip(missing_requirements(path.stem))
    run_dir = example_run(path.stem, capsys)
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    history = _history(run_dir)
    epochs = read_toml(path)["train"]["epochs"]
    assert [r["epoch"] for r in history] == list(range(epochs + 1))
    assert history[-1]["test_loss"] < history[0]["test_loss"], \
        f"{path.name}: the test loss did not go down: {[r['test_loss'] for r in history]}"


@pytest.mark.parametrize("name", REPRODUCED)
def test_saved_config_reproduces_parameters_bitwise(name, example_run, capsys, tmp_path):
    run_dir = example_run(name, capsys)
    _run(["run", run_dir / "config.toml", "--run-dir", tmp_path / "again"], capsys)
    _assert_same_params(run_dir, tmp_path / "again")


def test_run_built_in_python_is_reproduced_from_its_config(tmp_path, capsys):
    from physlearn.systems import ResistorNetwork

    net = ResistorNetwork.layered([3, 6, 2], seed=3)
    data = pl.datasets.linear_regression(n_samples=40, seed=1)
    history = pl.train(net, pl.EP(beta=0.1), data, epochs=3, batch_size=8,
                       optimizer=pl.optim.Adam(lr=0.02), run_dir=tmp_path / "python",
                       progress=False)
    saved = (tmp_path / "python" / "config.toml").read_text()
    assert "$graph" in saved, "the system's networkx graph is written as a tagged value"
    _run(["run", tmp_path / "python" / "config.toml", "--run-dir", tmp_path / "rebuilt"], capsys)
    _assert_same_params(tmp_path / "python", tmp_path / "rebuilt")
    rebuilt = _params(tmp_path / "rebuilt")
    assert all(np.array_equal(rebuilt[k], v) for k, v in history.params.items())


def test_resume_with_more_epochs_matches_an_uninterrupted_run(tmp_path, capsys):
    config = read_toml(CONFIG_DIR / "resistor-layered.toml")
    short, longer = 3, 6
    write_toml(tmp_path / "short.toml", {**config, "train": {**config["train"], "epochs": short}})
    _run(["run", tmp_path / "short.toml", "--run-dir", tmp_path / "resumed"], capsys)
    assert _history(tmp_path / "resumed")[-1]["epoch"] == short

    # continue the finished run from a copy of its saved config with more epochs
    saved = read_toml(tmp_path / "resumed" / "config.toml")
    saved["train"]["epochs"] = longer
    write_toml(tmp_path / "more.toml", saved)
    _run(["run", tmp_path / "more.toml", "--resume"], capsys)

    write_toml(tmp_path / "full.toml", {**config, "train": {**config["train"], "epochs": longer}})
    _run(["run", tmp_path / "full.toml", "--run-dir", tmp_path / "uninterrupted"], capsys)
    _assert_same_params(tmp_path / "resumed", tmp_path / "uninterrupted")
    assert [r["epoch"] for r in _history(tmp_path / "resumed")] == list(range(longer + 1))
    resumed, uninterrupted = _history(tmp_path / "resumed"), _history(tmp_path / "uninterrupted")
    assert [r["test_loss"] for r in resumed] == [r["test_loss"] for r in uninterrupted]


def test_resume_of_a_moved_run_directory(tmp_path, example_run, capsys):
    """A run directory copied elsewhere resumes there (``--run-dir``) to the same result."""
    run_dir = example_run("hru-nonlinear", capsys)
    shutil.copytree(run_dir, tmp_path / "moved")
    saved = read_toml(run_dir / "config.toml")
    epochs = saved["train"]["epochs"]
    saved["train"]["epochs"] = epochs + 2
    write_toml(tmp_path / "more.toml", saved)
    _run(["run", tmp_path / "more.toml", "--resume", "--run-dir", tmp_path / "moved"], capsys)
    config = read_toml(CONFIG_DIR / "hru-nonlinear.toml")
    config["train"]["epochs"] = epochs + 2
    write_toml(tmp_path / "full.toml", config)
    _run(["run", tmp_path / "full.toml", "--run-dir", tmp_path / "uninterrupted"], capsys)
    _assert_same_params(tmp_path / "moved", tmp_path / "uninterrupted")
