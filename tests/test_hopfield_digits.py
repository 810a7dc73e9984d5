"""Issue-12 acceptance on digits: centered EP trains a convolutional Hopfield network to
>= 97 % test accuracy and a dense one to >= 95 % (example 58, full run: 3 seeds, the worst
seed must reach the bar). Slow: several minutes."""

import pytest
from example_runs import run_example


@pytest.mark.slow
def test_centered_ep_reaches_the_digits_accuracy_bars(tmp_path):
    lines = run_example("58_conv_hopfield_digits", tmp_path, CONV_FULL="1")
    verdicts = [line for line in lines if "over 3 seed(s); >=" in line]
    assert len(verdicts) == 2, lines[-10:]
    for line in verdicts:
        assert line.endswith("True"), line
