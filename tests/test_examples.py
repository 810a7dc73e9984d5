"""The teaching examples run as plain scripts and write their figures.

Each example runs in a subprocess with ``PHYSLEARN_FIGURES`` pointing at a temporary directory
and the Agg backend. The examples in ``QUICK`` (about 35 s together) run by default; every
other example found in ``examples/`` is marked slow (``make test-slow``), so a new example is
always exercised somewhere. Move an example into ``QUICK`` only if it takes a few seconds.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
QUICK = {"01_ep_on_a_resistor_network", "02_coupled_vs_ep", "03_derivations"}


def _param(script):
    marks = () if script.stem in QUICK else (pytest.mark.slow,)
    return pytest.param(script, id=script.stem, marks=marks)


def test_quick_examples_exist():
    assert QUICK <= {p.stem for p in EXAMPLES}


@pytest.mark.parametrize("script", [_param(p) for p in EXAMPLES])
def test_example_runs_and_writes_figures(script, tmp_path):
    env = {**os.environ, "PHYSLEARN_FIGURES": str(tmp_path), "MPLBACKEND": "Agg"}
    # RuntimeWarnings (overflow, division by zero) are errors: an example must run clean.
    result = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", str(script)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stderr[-3000:]}"
    figures = list(tmp_path.glob("*.png"))
    assert figures, f"{script.name} wrote no figure into PHYSLEARN_FIGURES"
    assert all(f.stat().st_size > 1000 for f in figures)
