"""Every teaching example runs, as a script and as a notebook, and its figures are publishable.

By default each example in ``examples/`` runs in its fast mode (``PHYSLEARN_FAST=1``) twice:
as a script in a subprocess (RuntimeWarnings are errors) and as a notebook (jupytext →
nbclient, in an empty working directory, as a reader opening it in Jupyter would), each in
under two minutes. Every figure it saves must exist, not be blank, and pass
:func:`physlearn.experiment.figure_check.figure_problems` (title, labelled axes, nothing
clipped): ``tests/figure_audit_site`` is put on ``PYTHONPATH`` so that its ``sitecustomize``
audits each ``savefig`` in the script or the kernel. The default-mode runs (the sizes a
reader would use) are the slow variant (``make test-slow``).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
AUDIT_SITE = Path(__file__).resolve().parent / "figure_audit_site"
LIMIT = 120.0   # seconds, per example and per way of running it (the bound)


def _folders(tmp_path):
    folders = {name: tmp_path / name for name in ("figures", "audit", "cwd")}
    for folder in folders.values():
        folder.mkdir()
    return folders


def _environment(folders, fast=True):
    path = os.pathsep.join(filter(None, [str(AUDIT_SITE), os.environ.get("PYTHONPATH")]))
    env = {"PHYSLEARN_FIGURES": str(folders["figures"]), "MPLBACKEND": "Agg",
           "PHYSLEARN_FIGURE_AUDIT": str(folders["audit"]), "PYTHONPATH": path,
           "PHYSLEARN_FAST": "1" if fast else "0"}
    return env


def _check_figures(name, folders):
    """Figures exist, are not blank, were all audited, and the audit found nothing."""
    figures = sorted(folders["figures"].glob("*.png"))
    assert figures, f"{name} wrote no figure into PHYSLEARN_FIGURES"
    for figure in figures:
        pixels = matplotlib.image.imread(figure)[..., :3]
        assert np.ptp(pixels) > 0.1, f"{name}: {figure.name} is blank"
    reports = [json.loads(p.read_text()) for p in sorted(folders["audit"].glob("*.json"))]
    audited = {report["figure"] for report in reports}
    unaudited = [f.name for f in figures if f.name not in audited]
    assert not unaudited, f"{name}: {unaudited} were not saved through Figure.savefig"
    problems = [f"{r['figure']}: {p}" for r in reports for p in r["problems"]]
    assert not problems, f"{name}: figure problems\n" + "\n".join(problems)


def _run_script(script, folders, fast=True, timeout=LIMIT):
    env = {**os.environ, **_environment(folders, fast)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", str(script)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, f"{script.name} failed:\n{result.stderr[-3000:]}"
    return elapsed


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_as_a_script(script, tmp_path):
    folders = _folders(tmp_path)
    elapsed = _run_script(script, folders, timeout=2 * LIMIT)
    assert elapsed < LIMIT, f"{script.name} took {elapsed:.0f} s in fast mode (limit {LIMIT:g})"
    _check_figures(script.name, folders)


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_as_a_notebook(script, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    folders = _folders(tmp_path)
    for key, value in _environment(folders).items():   # the kernel inherits them
        monkeypatch.setenv(key, value)
    notebook = jupytext.read(script)
    assert len(notebook.cells) > 2 and any(c.cell_type == "markdown" for c in notebook.cells), \
        f"{script.name} is not a percent-format notebook with markdown cells"
    # As the script's -W error::RuntimeWarning: an overflow is an error in the notebook too.
    notebook.cells.insert(0, nbformat.v4.new_code_cell(
        "import warnings; warnings.simplefilter('error', RuntimeWarning)"))
    client = nbclient.NotebookClient(notebook, timeout=int(2 * LIMIT), kernel_name="python3",
                                     resources={"metadata": {"path": str(folders["cwd"])}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    assert elapsed < LIMIT, f"{script.name} took {elapsed:.0f} s as a notebook (limit {LIMIT:g})"
    _check_figures(script.name, folders)


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_default_mode(script, tmp_path):
    """The sizes a reader runs by default (minutes for some)."""
    folders = _folders(tmp_path)
    _run_script(script, folders, fast=False, timeout=3600)
    _check_figures(script.name, folders)
