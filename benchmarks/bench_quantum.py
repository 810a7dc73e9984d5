"""Quantum EP against finite differences: the full gradient of P couplings of a spin chain.

Quantum EP (centered) prepares three ground states per sample whatever P is (free, ±β, the
nudged ones Lanczos-warm-started from the free one); central finite differences of the loss
prepare 2P. The ratio of wall-clock times, measured back to back, must be at least P/3.
"""

from __future__ import annotations

import time

import numpy as np
from harness import Ratio, best_time

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems.spin_chain import SpinChain


def _chain(n_spins):
    rng = np.random.default_rng(0)
    return SpinChain.transverse_field_ising(
        n_spins, J=rng.uniform(0.8, 1.2, n_spins - 1), h=rng.uniform(1.2, 1.6, n_spins),
        g=0.05, observables=[f"Z{n_spins - 1}"], solver="sparse", seed=0)


def run(quick=False):
    n_spins = 8 if quick else 12
    chain = _chain(n_spins)
    x, y = np.array([[0.4]]), np.array([[-0.3]])
    n_params = sum(v.size for v in chain.params.values())
    rule = pl.EP(beta=1e-3, variant="centered")
    t_qep = best_time(lambda: rule.gradient(chain, x, y), repeat=3)
    t0 = time.perf_counter()
    fd = pl.finite_difference_gradient(chain, x, y, h=1e-5)
    t_fd = time.perf_counter() - t0
    err = relative_error(rule.gradient(chain, x, y), fd)
    return [Ratio(f"spin chain n={n_spins}: time(FD, 2P solves) / time(QEP, 3 solves)",
                  t_fd / t_qep, n_params / 3, kind="min",
                  detail=f"P={n_params}, QEP {t_qep:.3f}s, FD {t_fd:.2f}s, "
                         f"rel. diff {err:.1e}")]


if __name__ == "__main__":
    for ratio in run():
        print(ratio)
