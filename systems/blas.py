"""BLAS threading: run many small dense factorisations single-threaded.

Loops over samples that factorise or diagonalise small matrices (dimension up to a few
hundred, or a few thousand for eigensolvers) gain nothing from BLAS threads, and on a loaded
machine threaded OpenBLAS spins and can be slower by orders of magnitude (measured: a
190 × 190 Cholesky 80× slower with two threads on two busy cores than with one).
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def serial_blas():
    """Context manager running BLAS/LAPACK single-threaded."""
    return _blas_controller().limit(limits=1, user_api="blas")
