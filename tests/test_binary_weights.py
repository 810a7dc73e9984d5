"""Issue-13 acceptance on digits (binary weights): centered EP with binary weights ``±α``
(:class:`physlearn.optim.BinaryFlip`) reaches a mean test accuracy over 3 seeds within 2 points
of the same network with full-precision weights (example 59, full run). Slow: a few minutes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "59_binary_weights.py"


@pytest.mark.slow
def test_binary_weights_come_within_two_points_of_full_precision(tmp_path):
    env = {**os.environ, "BINARY_FULL": "1", "BINARY_WORKERS": "2",
           "PHYSLEARN_FIGURES": str(tmp_path), "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True,
                         text=True, timeout=3600)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    rows = [line for line in lines if "test accuracy" in line and "(seeds:" in line]
    assert len(rows) == 2 and all(line.count(",") >= 2 for line in rows), run.stdout[-3000:]
    assert all("failed batches 0" in line for line in rows), run.stdout[-3000:]
    assert "'W1': 1, 'W2': 1" in rows[1], rows[1]            # binary: one magnitude per matrix
    verdict = [line for line in lines if "within 2.0 points of full precision" in line]
    assert len(verdict) == 1 and ": True" in verdict[0], run.stdout[-3000:]
