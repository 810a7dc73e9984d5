"""Peak memory of spiking EP against surrogate-gradient BPTT as the number of time steps grows.

Acceptance (issue 14): on the same network, EP's peak memory stays flat as the time steps grow
while BPTT's grows linearly; at 1,000 steps per phase EP's is at most 1/10 of BPTT's.

Network: ``SpikingNetwork([[1, 8, 8], Conv(16, 3, padding=1, pool="avg"), 10])`` (the digits
network of example 64), a mini-batch of 32 digits, squared error to one-hot targets.
``window`` steps are counted per phase after ``window // 2`` settling steps. **EP**: centered
``EP(beta=0.2)`` (three phases; each keeps one step's membranes, spikes and traces);
**BPTT**: ``SurrogateBPTT()`` (every step's membranes and spikes of the free phase, then the
backward pass). Peak memory is ``tracemalloc``'s (numpy reports its buffers to it) during one
gradient call; both include the per-sample gradients, ``batch × parameters``.
"""

from __future__ import annotations

import numpy as np
from harness import Ratio, peak_memory
from tqdm import tqdm

import physlearn as pl
from physlearn.systems.hopfield import Conv
from physlearn.systems.spiking import SpikingNetwork

LAYERS = [[1, 8, 8], Conv(16, 3, padding=1, pool="avg"), 10]
BOUND = 0.1                    # EP / BPTT peak memory at 1,000 steps
FLAT = 1.2                     # EP's peak at the longest window / at the shortest


def peaks(windows, batch=32):
    data = pl.datasets.digits(scaling="intensity")
    x = data.x_train[:batch].reshape(batch, 1, 8, 8)
    y = data.y_train[:batch]
    out = {"ep": [], "bptt": []}
    rules = {"ep": pl.EP(beta=0.2), "bptt": pl.SurrogateBPTT()}
    for window in tqdm(windows, desc="bench_spiking_memory", leave=False):
        net = SpikingNetwork(LAYERS, window=window, gain=0.5, initial_bias=0.3)
        for name, rule in rules.items():
            out[name].append(peak_memory(lambda rule=rule, net=net: rule.gradient(net, x, y)))
    return out


def run(quick=False):
    windows = (100, 300, 1000) if quick else (100, 300, 1000, 3000)
    mb = peaks(windows)
    at = windows.index(1000)
    table = ", ".join(f"T={w}: EP {e / 1e6:.1f} MB, BPTT {b / 1e6:.0f} MB"
                      for w, e, b in zip(windows, mb["ep"], mb["bptt"]))
    slope = np.polyfit(np.log(windows), np.log(mb["bptt"]), 1)[0]
    detail = f"{table}; BPTT log-log slope {slope:.2f}"
    return [
        Ratio("spiking EP / BPTT peak memory at 1,000 steps", mb["ep"][at] / mb["bptt"][at],
              BOUND, "max", detail),
        Ratio("spiking EP peak memory, longest / shortest window", mb["ep"][-1] / mb["ep"][0],
              FLAT, "max", detail),
        Ratio("BPTT peak memory growth (log-log slope)", slope, 0.9, "min", detail),
    ]


if __name__ == "__main__":
    for ratio in run():
        print(ratio)
