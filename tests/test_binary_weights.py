"""Issue-13 acceptance on digits (binary weights): centered EP with binary weights ``±α``
(:class:`physlearn.optim.BinaryFlip`) reaches a mean test accuracy over 3 seeds within 2 points
of the same network with full-precision weights (example 59, full run). Slow: a few minutes."""

import pytest
from example_runs import run_example


@pytest.mark.slow
def test_binary_weights_come_within_two_points_of_full_precision(tmp_path):
    lines = run_example("59_binary_weights", tmp_path, BINARY_FULL="1", BINARY_WORKERS="2")
    rows = [line for line in lines if "test accuracy" in line and "(seeds:" in line]
    assert len(rows) == 2 and all(line.count(",") >= 2 for line in rows), lines
    assert all("failed batches 0" in line for line in rows), rows
    assert "'W1': 1, 'W2': 1" in rows[1], rows[1]            # binary: one magnitude per matrix
    verdict = [line for line in lines if "within 2.0 points of full precision" in line]
    assert len(verdict) == 1 and ": True" in verdict[0], lines[-10:]
