"""RHEL against BPTT on a long sequence: peak memory and wall time, measured in the same run.

RHEL needs one forward run and two echoes (run as one batch) and stores no trajectory, so its
memory does not grow with the sequence length; BPTT stores every state of the forward run.
Peak memory is measured with ``tracemalloc`` (numpy reports its buffers to it) in a separate
call from the timing, because tracing slows the Python loop.
"""

from __future__ import annotations

import numpy as np
from harness import Ratio, best_time, interleaved_best_times, peak_memory
from tqdm import tqdm

import physlearn as pl
from physlearn.rules.echo import BPTT, RHEL
from physlearn.systems.blas import serial_blas
from physlearn.systems.hru import HRU


def run(quick=False):
    n_steps = 5_000 if quick else 50_000
    system = HRU(1, 32, 4, kind="linear", dt=0.05, seed=0)  # linear: the adjoint stays bounded
    rng = np.random.default_rng(0)
    x = 0.5 * rng.normal(size=(4, n_steps, 1))
    y = rng.normal(size=(4, 4))
    cost = pl.SquaredError()
    rules = {"rhel": RHEL(eps=1e-6), "bptt": BPTT()}
    times, peaks = {}, {}
    for name, rule in tqdm(rules.items(), desc=f"bench_rhel T={n_steps}", leave=False):
        def call(rule=rule):
            return rule.gradient(system, x, y, cost)
        times[name] = best_time(call, repeat=1 if not quick else 2)
        peaks[name] = peak_memory(call)
    err = pl.check.relative_error(rules["rhel"].gradient(system, x, y, cost),
                                  pl.exact_gradient(system, x, y, cost))
    detail = (f"T={n_steps}: RHEL {peaks['rhel'] / 1e6:.2f} MB {times['rhel']:.2f} s, "
              f"BPTT {peaks['bptt'] / 1e6:.1f} MB {times['bptt']:.2f} s, rel. error {err:.1e}")
    return [
        Ratio("RHEL / BPTT peak memory", peaks["rhel"] / peaks["bptt"], 1 / 20, "max", detail),
        Ratio("RHEL / BPTT wall time", times["rhel"] / times["bptt"], 2.0, "max", detail),
        forward_passes(10_000 if not quick else 1_000),
    ]


def forward_passes(n_steps, repeat=5):
    """RHEL's cost in forward passes of the same unit (one BLAS thread, interleaved): one
    forward run and two echoes (run as one batch of twice the size) is the floor, three."""
    system = HRU(1, 32, 4, kind="linear", dt=0.05, seed=0)
    rng = np.random.default_rng(0)
    x = 0.5 * rng.normal(size=(4, n_steps, 1))
    y = rng.normal(size=(4, 4))
    rule, cost = RHEL(eps=1e-6), pl.SquaredError()
    with serial_blas():
        t_forward, t_rhel = interleaved_best_times(
            [lambda: system.run(x), lambda: rule.gradient(system, x, y, cost)], repeat)
    return Ratio(f"RHEL gradient / 3 forward passes (T={n_steps})", t_rhel / (3 * t_forward),
                 1.3, "max", detail=f"32 dof, batch 4: forward {t_forward * 1e3:.1f} ms, "
                                    f"RHEL {t_rhel * 1e3:.1f} ms")


if __name__ == "__main__":
    for ratio in run():
        print(ratio)
