"""Issue-13 acceptance (metaplasticity): on digits then permuted digits, binary weights with
metaplastic hidden weights (:class:`physlearn.optim.Metaplastic`) keep task-1 accuracy at least
20 points above the same network without metaplasticity after task 2, while task-2 accuracy
stays within 3 points (example 60, full run, 3 seeds). Slow: a few minutes."""

import pytest
from example_runs import run_example


@pytest.mark.slow
def test_metaplasticity_keeps_the_first_task_at_little_cost_to_the_second(tmp_path):
    lines = run_example("60_metaplasticity", tmp_path, META_FULL="1", META_WORKERS="2")
    assert sum("after task" in line and " ± " in line for line in lines) == 4, lines
    verdict = [line for line in lines if line.startswith("task 1 after task 2")]
    assert len(verdict) == 1, lines[-10:]
    assert "20.0: True" in verdict[0] and "3.0: True" in verdict[0], verdict[0]
