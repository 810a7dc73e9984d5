"""Test-only helper: run an example's full mode as a script and return its printed lines.

The acceptance tests of the deep-network issues (digits accuracies, splitting, binary and
metaplastic weights) run an example with its ``*_FULL`` switch and read the verdict it
prints, so the number in the test is the number the example shows a reader.
"""

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(stem, figures, timeout=3600, **env):
    """Run ``examples/<stem>.py`` with ``env`` added (figures into ``figures``, Agg backend);
    assert it exits 0 and return its standard output as lines."""
    environment = {**os.environ, "PHYSLEARN_FIGURES": str(figures), "MPLBACKEND": "Agg",
                   **env}
    run = subprocess.run([sys.executable, str(EXAMPLES / f"{stem}.py")], env=environment,
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.splitlines()
