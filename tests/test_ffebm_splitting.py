"""Issue-12 acceptance on digits: splitting a deep Hopfield network (three hidden layers and
the output, four layers of units) into 1, 2 and 4 energy blocks of equal size keeps the mean
test accuracy over 3 seeds within 1.5 points (example 57, full run: each split first chooses
the weight decay of its couplings, none or 1e-2, on a validation split). Slow: about half an
hour on two cores.

Without weight decay the line fails: the unsplit network's energy becomes non-convex
(curvature about -0.4) and it trails its 4-block split by 2.5 points, with its exact gradient
too; the weight decay it chooses keeps the curvature near -0.15."""

import pytest
from example_runs import run_example


@pytest.mark.slow
def test_splitting_the_network_into_blocks_keeps_its_accuracy(tmp_path):
    lines = run_example("57_ff_ebm_splitting", tmp_path, timeout=7200, FFEBM_FULL="1",
                        FFEBM_WORKERS="2", FFEBM_DEPTH="3")
    means = [line for line in lines if line.endswith(" %")
             and line.startswith(("1 block:", "2 blocks:", "4 blocks:"))]
    assert len(means) == 3, lines[-12:]
    assert "all splits (EP) within 1.5 points of each other: True" in lines, lines[-12:]
