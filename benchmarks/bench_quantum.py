"""Quantum EP: its cost in ground-state solves, against finite differences, and the solver
crossover.

* **Phase sensor** (Wanjura & Marquardt: a periodic cluster-Ising ring plus two sensor
  qubits, 51 couplings, β = 0.4, centered nudges): the whole gradient — free state with its
  gap, both nudged states, every measurement — in *ground-state-solve equivalents*, the time
  of one ``scipy.sparse.linalg.eigsh(H, k=1, which="SA")`` of the free Hamiltonian (what the
  authors' code calls three times per input). Median of interleaved runs, one BLAS thread.
* **Finite differences**: central differences of the loss prepare 2P ground states, quantum
  EP three whatever P is; the time ratio must be at least P/3.
* **Dense or Lanczos**: the "auto" solver switches from dense LAPACK to Lanczos above
  ``DENSE_MAX_DIM``; at half that dimension dense must be the faster, at twice it Lanczos
  (the ratio at the crossover itself, close to 1, is printed).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse.linalg as spla
from harness import Ratio, best_time

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems.blas import serial_blas
from physlearn.systems.quantum import NudgeNearGapWarning
from physlearn.systems.spin_chain import DENSE_MAX_DIM, SpinChain, phase_sensor_problem


def _chain(n_spins):
    rng = np.random.default_rng(0)
    return SpinChain.transverse_field_ising(
        n_spins, J=rng.uniform(0.8, 1.2, n_spins - 1), h=rng.uniform(1.2, 1.6, n_spins),
        g=0.05, observables=[f"Z{n_spins - 1}"], solver="sparse", seed=0)


def _n_params(chain):
    return sum(v.size for v in chain.params.values())


def solve_equivalents(n_system, repeats=7, **chain_options):
    """Median over interleaved runs of time(gradient per input) / time(one eigsh solve)."""
    chain = SpinChain.phase_sensor(n_system, **chain_options)
    x, y = phase_sensor_problem(chain, np.random.default_rng(0))
    rule = pl.EP(beta=0.4, variant="centered")
    hamiltonians = [chain.basis.combine(c) for c in chain._coefficients(x, 0 * y)]
    ratios = []
    with serial_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", NudgeNearGapWarning)     # beta = 0.4: the paper's
        for _ in range(repeats):
            t0 = time.perf_counter()
            for H in hamiltonians:
                spla.eigsh(H, k=1, which="SA")
            t1 = time.perf_counter()
            rule.gradient(chain, x, y)
            ratios.append((time.perf_counter() - t1) / (t1 - t0))
    return float(np.median(ratios)), chain


def _solver_time(n_system, solver):
    chain = SpinChain.phase_sensor(n_system, solver=solver)
    x, y = phase_sensor_problem(chain, np.random.default_rng(0))
    rule = pl.EP(beta=0.4, variant="centered")
    with serial_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", NudgeNearGapWarning)
        return best_time(lambda: rule.gradient(chain, x, y), repeat=5)


def _crossover():
    """Dense against Lanczos at half, at and at twice ``DENSE_MAX_DIM`` (phase sensors)."""
    n_system = int(np.log2(DENSE_MAX_DIM)) - 2          # + 2 sensor qubits: DENSE_MAX_DIM
    ratios = {d: _solver_time(n, "sparse") / _solver_time(n, "dense")
              for d, n in ((DENSE_MAX_DIM // 2, n_system - 1), (DENSE_MAX_DIM, n_system),
                           (2 * DENSE_MAX_DIM, n_system + 1))}
    at = f"time(Lanczos) / time(dense) at dim {DENSE_MAX_DIM}: {ratios[DENSE_MAX_DIM]:.2f}"
    return [Ratio(f"dim {DENSE_MAX_DIM // 2}: time(Lanczos) / time(dense)",
                  ratios[DENSE_MAX_DIM // 2], 1.0, "min", detail="auto: dense; " + at),
            Ratio(f"dim {2 * DENSE_MAX_DIM}: time(dense) / time(Lanczos)",
                  1 / ratios[2 * DENSE_MAX_DIM], 1.0, "min", detail="auto: Lanczos; " + at)]


def run(quick=False):
    rows = []
    for n_system, bound in ((8, 2.5),) if quick else ((8, 2.5), (10, 3.0), (12, 3.0)):
        value, chain = solve_equivalents(n_system, repeats=5 if quick else 9)
        rows.append(Ratio(f"phase sensor {n_system}+2 qubits: QEP gradient / eigsh solve",
                          value, bound, "max",
                          detail=f"dim {chain.dim}, P={_n_params(chain)}, "
                                 "per input, median of interleaved runs"))
    rows += _crossover()

    n_spins = 8 if quick else 12
    chain = _chain(n_spins)
    x, y = np.array([[0.4]]), np.array([[-0.3]])
    n_params = _n_params(chain)
    rule = pl.EP(beta=1e-3, variant="centered")
    t_qep = best_time(lambda: rule.gradient(chain, x, y), repeat=3)
    t0 = time.perf_counter()
    fd = pl.finite_difference_gradient(chain, x, y, h=1e-5)
    t_fd = time.perf_counter() - t0
    err = relative_error(rule.gradient(chain, x, y), fd)
    rows.append(Ratio(f"spin chain n={n_spins}: time(FD, 2P solves) / time(QEP, 3 solves)",
                      t_fd / t_qep, n_params / 3, kind="min",
                      detail=f"P={n_params}, QEP {t_qep:.3f}s, FD {t_fd:.2f}s, "
                             f"rel. diff {err:.1e}"))
    return rows


if __name__ == "__main__":
    for ratio in run():
        print(ratio)
