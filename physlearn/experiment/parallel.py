"""Independent jobs (one training per seed and setting) in worker processes.

The examples train grids of (setting, seed) with no shared state; :func:`run_jobs` maps a
picklable function over them in ``workers`` processes, or in this process for ``workers=1``
(the default, and what a test or a debugger wants). For sweeps with failure records,
resumption and a Dask cluster, use :mod:`physlearn.experiment.sweep`.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

__all__ = ["run_jobs"]


def run_jobs(function, jobs, workers=1):
    """``[function(job) for job in jobs]``, in ``workers`` processes when ``workers > 1``.

    Parameters
    ----------
    function : callable
        A module-level function (it is pickled to the workers). Workers are forked where
        the platform can fork, so a function defined in a script without a
        ``if __name__ == "__main__"`` guard, or in a notebook, runs without re-running it.
    jobs : iterable
        Its arguments, one per call.
    workers : int, default 1
        Worker processes; 1 runs the jobs here, one after the other.

    Returns
    -------
    list
        The results, in the order of ``jobs``.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} must be a positive integer")
    jobs = list(jobs)
    if workers == 1:
        return [function(job) for job in jobs]
    # fork: the examples are notebooks too, with no main guard for spawned workers to honour
    context = (multiprocessing.get_context("fork")
               if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(function, jobs))
