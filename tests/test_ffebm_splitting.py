"""Issue-12 acceptance on digits: splitting a deep Hopfield network (three hidden layers and
the output, four layers of units) into 1, 2 and 4 energy blocks of equal size keeps the mean
test accuracy over 3 seeds within 1.5 points (example 57, full run). Slow: about a quarter of
an hour on two cores.

This line of the issue does not hold yet: on the full run the unsplit network reaches
93.9 ± 1.4 % against 95.6 ± 1.0 % (2 blocks) and 96.4 ± 0.7 % (4 blocks). Its energy is not
convex (curvature about -0.4 after training; 4-7 % of the test images reach another minimum
from another start), while the blocks of the splits are (nearly) convex. The test is a strict
expected failure: once the line holds it fails, and the marker must go."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "57_ff_ebm_splitting.py"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 12: the unsplit deep Hopfield network trails its "
                   "splits by 2.5 points on digits (non-convex energy)")
def test_splitting_the_network_into_blocks_keeps_its_accuracy(tmp_path):
    env = {**os.environ, "FFEBM_FULL": "1", "FFEBM_WORKERS": "2",
           "PHYSLEARN_FIGURES": str(tmp_path), "MPLBACKEND": "Agg"}
    env.pop("FFEBM_DEPTH", None)
    run = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True,
                         text=True, timeout=7200)
    assert run.returncode == 0, run.stderr[-3000:]
    means = [line for line in run.stdout.splitlines() if line.endswith(" %")
             and line.startswith(("1 block:", "2 blocks:", "4 blocks:"))]
    assert len(means) == 3, run.stdout[-3000:]
    verdict = [line for line in run.stdout.splitlines() if "within 1.5 points" in line]
    assert verdict == ["all splits (EP) within 1.5 points of each other: True"], \
        run.stdout[-3000:]
