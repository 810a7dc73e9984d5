"""Diode networks on general graphs: equilibria per second against ngspice, in bounded memory.

Acceptance: on a ~1,000-node network with 800 Shockley diodes (939 nodes: 128 input sources,
ground, 800 hidden nodes each with a diode to ground, 10 outputs; a Watts–Strogatz graph of
degree 114, 53,523 resistors), a batch of 1,000 samples solves in bounded memory, and
physlearn's equilibria per second are at least 1,000× those of ngspice solving 20 of the same
samples one after another, with the same node voltages to 1e-6 V.

* **physlearn / ngspice.** ``net.equilibrium(x)`` on the batch of 1,000 (damped Newton; each
  Newton step solved per sample or batched by conjugate gradients, never as one matrix for the
  whole batch) against ``operating_point(net.to_spice(x_b))`` for the first 20 samples, each a
  separate ``ngspice -b`` run (netlist parsing included: that is what solving a sample costs
  in ngspice; ``.options acct`` shows that most of a run is Sparse 1.3's reordering and
  factorisation of the dense-ish 810-node matrix, about a minute per sample here). The 20
  operating points are compared with physlearn's node voltages first: a
  disagreement fails the benchmark before any ratio is reported.
* **peak memory / budget.** ``tracemalloc``'s peak during the batch-1,000 solve, against a
  budget of 512 MB (the whole-batch factorisation this replaces needed 3.7 GB and failed).

Without ngspice the comparison is skipped with the install command. ``quick=True`` uses a
network of 200 nodes and 2 ngspice samples (a smoke run of the same code; its ratio bound is 1,
since ngspice's start-up cost dominates on so small a circuit).
"""

from __future__ import annotations

import time

import numpy as np
from harness import Ratio, peak_memory
from tqdm.auto import tqdm

from physlearn.systems.diode import NonlinearResistorNetwork
from physlearn.systems.spice import INSTALL_HINT, ngspice_available, operating_point

MEMORY_BUDGET = 512 * 2**20
VOLTAGE_TOL = 1e-6
SPICE_TIMEOUT = 1800      # s per run: ngspice's Markowitz reordering of this dense-ish matrix


def network(quick=False, seed=0):
    """The benchmark's network: 800 diodes on 939 nodes (quick: 150 diodes on 200 nodes)."""
    n, n_in, n_out, degree = (200, 40, 10, 30) if quick else (939, 128, 10, 114)
    return NonlinearResistorNetwork.random(n, n_inputs=n_in, n_outputs=n_out, degree=degree,
                                           diode_law="shockley", seed=seed)


def samples(net, batch, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (batch, net.n_features))


def spice_voltages(net, x):
    """ngspice's node voltages for each row of ``x`` (one run per sample) and the seconds."""
    names = net.spice_node_names()
    out = np.empty((len(x), len(net.nodes)))
    t0 = time.perf_counter()
    for b, row in enumerate(tqdm(x, desc="ngspice, one sample per run", unit="run")):
        v = operating_point(net.to_spice(row), timeout=SPICE_TIMEOUT)
        out[b] = [v[names[n]] for n in net.nodes]
    return out, time.perf_counter() - t0


def run(quick=False):
    net = network(quick)
    batch, n_spice = (200, 2) if quick else (1000, 20)
    x = samples(net, batch)
    net.equilibrium(x[:2])                                  # method choice, caches
    t0 = time.perf_counter()
    state = net.equilibrium(x)
    seconds = time.perf_counter() - t0
    peak = peak_memory(lambda: net.equilibrium(x))
    rate = batch / seconds
    ratios = [Ratio(f"peak memory, batch {batch} / {MEMORY_BUDGET >> 20} MB budget",
                    peak / MEMORY_BUDGET, 1.0,
                    detail=f"{peak / 2**20:.0f} MB; {len(net.nodes)} nodes, "
                           f"{len(net.edges)} resistors, {len(net.diode_pairs)} diodes, "
                           f"solver {net._solver_method()}")]
    if not ngspice_available():
        print(f"ngspice not installed ({INSTALL_HINT}): the comparison is skipped")
        return ratios
    spice, spice_seconds = spice_voltages(net, x[:n_spice])
    err = float(np.max(np.abs(spice - state.voltages[:n_spice])))
    if not err < VOLTAGE_TOL:
        raise AssertionError(f"ngspice and physlearn disagree by {err:.3g} V (> {VOLTAGE_TOL})")
    spice_rate = n_spice / spice_seconds
    ratios.append(Ratio("equilibria per second, physlearn / ngspice", rate / spice_rate,
                        1.0 if quick else 1000.0, kind="min",
                        detail=f"{rate:.1f}/s (batch {batch}, {seconds:.1f} s) vs "
                               f"{spice_rate:.4f}/s ({n_spice} runs, {spice_seconds:.0f} s); "
                               f"max |ΔV| {err:.1e} V"))
    return ratios
