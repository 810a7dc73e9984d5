"""run_jobs: the examples' grids of independent trainings, here or in worker processes."""

import os

import pytest

from physlearn.experiment.parallel import run_jobs


def square_and_pid(job):
    return job * job, os.getpid()


def test_results_come_back_in_job_order_in_this_process_and_in_workers():
    here = run_jobs(square_and_pid, range(6))
    assert [r for r, _ in here] == [0, 1, 4, 9, 16, 25]
    assert {pid for _, pid in here} == {os.getpid()}
    there = run_jobs(square_and_pid, range(6), workers=2)
    assert [r for r, _ in there] == [0, 1, 4, 9, 16, 25]
    assert os.getpid() not in {pid for _, pid in there}


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_positive_integer(workers):
    with pytest.raises(ValueError, match="workers"):
        run_jobs(square_and_pid, [1], workers=workers)
