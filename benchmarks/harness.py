"""A tiny benchmark harness: ratios against a baseline measured in the same run.

Each ``bench_*.py`` module in this folder defines ``run(quick=False) -> list[Ratio]``.
``python benchmarks/run.py`` runs them all, prints a table, and exits non-zero when a ratio
misses its threshold. Timings are the best of ``repeat`` runs (wall clock), never absolute
thresholds: only ratios between two measurements taken back to back are compared.
"""

from __future__ import annotations

import contextlib
import time
import tracemalloc
from dataclasses import dataclass


@dataclass
class Ratio:
    """One measured ratio and the bound it must respect."""

    name: str
    value: float
    bound: float
    kind: str = "max"   # "max": value <= bound; "min": value >= bound
    detail: str = ""

    @property
    def ok(self):
        return self.value <= self.bound if self.kind == "max" else self.value >= self.bound

    def __str__(self):
        sign = "<=" if self.kind == "max" else ">="
        flag = "ok" if self.ok else "FAIL"
        return f"{self.name:<58} {self.value:>10.3f} {sign} {self.bound:<8g} {flag}  {self.detail}"


def best_time(fn, repeat=3):
    """Best wall-clock time of ``repeat`` calls of ``fn()`` (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def interleaved_best_times(fns, repeat):
    """Best wall time of each of ``fns``, called in turn ``repeat`` times (seconds).

    Interleaving exposes every function to the same machine load, which keeps the ratio of two
    millisecond-scale timings stable on a busy machine.
    """
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], best_time(fn, 1))
    return best


def peak_memory(fn):
    """Peak memory traced by ``tracemalloc`` during ``fn()`` (bytes; numpy reports its
    buffers to it)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def blas_settings():
    """BLAS thread settings a baseline may run under: the default, and one thread (on a small
    or busy machine threaded BLAS can be many times slower; a baseline gets the faster)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return {"default": contextlib.nullcontext}
    return {"default": contextlib.nullcontext,
            "1": lambda: threadpool_limits(limits=1, user_api="blas")}
