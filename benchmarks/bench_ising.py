"""Ising Monte Carlo: physlearn's sampler against a per-spin Python loop, in spin-flip attempts/s.

Acceptance: on a layered Ising network of the size Laydevant et al. train on MNIST (the hidden
layer of 120 spins fully coupled to 10 classes × 4 duplicated output spins: 160 spins, 4800
couplings; the 784 pixels enter as fields), with a batch of 16 samples and the model's default
16 chains per sample, physlearn's ``solver="monte-carlo"`` sampler (default ``update=
"heat-bath"``, T = 1) performs at least 50× as many single-spin-flip attempts per second as a
plain per-spin Python loop running the same Markov chain.

* **physlearn.** ``IsingModel.equilibrium(x)`` with ``solver="monte-carlo"``: ``burn_in +
  sweeps`` systematic sweeps of heat-bath updates, every spin of every chain of every sample
  (vectorised over batch × chains and over the spins of one colour class of the coupling
  graph, :meth:`~physlearn.systems.ising.IsingModel.update_classes`), the magnetisations and
  the edge correlations accumulated over the measured sweeps (the pair sums by batched
  products over buffered sweeps), the chain statistics at the end. An
  attempt is one spin of one chain in one sweep: ``(burn_in + sweeps) · n_spins · batch ·
  chains`` per call.
* **per-spin loop** (:func:`loop_sample`): the same chain written the straightforward way, in
  plain Python floats: chain by chain, spin by spin, the local field ``φ_i = h_i + Σ_j J_ij σ_j``
  summed over the spin's neighbour list (only its actual couplings, which is kinder than
  physlearn's dense row), ``ΔE = 2σ_iφ_i`` and the heat-bath test ``u (1 + e^{ΔE/T}) < 1``
  (Metropolis ``u < e^{−ΔE/T}`` also implemented and checked), then the same measurements
  after every measured sweep, visiting the spins in physlearn's class order (the same
  sequential sweep). It draws its random numbers in physlearn's layout (initial
  spins, then one uniform per spin, sample and chain per sweep, in bulk from numpy), so given
  the same generator it runs the *same* trajectories. Its cost per attempt does not depend on
  how many chains it runs, so it is timed on 2 samples × 2 chains of the timed problem, with
  the same sweeps, and its rate compared with physlearn's on the whole batch.

Correctness first, before anything is timed:

1. *same chain*: physlearn (seeded with a ``numpy.random.Generator``, which its runs consume)
   and the loop (given a copy of that generator's state) must return identical per-chain
   averages — magnetisations and correlations equal to 1e-12, i.e. the same spins at every
   sweep — on the 5-spin laterally coupled test network for both updates, and on 2 samples ×
   2 chains of the timed network.
2. *right distribution*, independent of physlearn's sampler: the loop's magnetisations and
   edge correlations on the 5-spin network agree with exact enumeration
   (``solver="exact"``, same parameters) within 5 standard errors of its chains.

A second ratio (informational, bound 1: physlearn no slower than the loop) is taken at the
size of the shipped config ``examples/configs/ising-monte-carlo.toml`` (6 spins, 8 chains,
batch 4, 100 + 200 sweeps), where the vectorisation runs over only 32 chains.

Timing: best of ``repeat`` for each, physlearn (one BLAS thread) and loop interleaved so that
both see the same machine load; the full run measures 10 + 100 sweeps, the quick one 2 + 10
(a smoke run: its fixed per-run costs weigh more, and it reads below the full run). The
detail also reports physlearn's rate
with only 2 measured sweeps (``burn_in`` taking the rest), which separates the cost of the
spin updates from that of the per-sweep measurements. At T = 1 the 160-spin network's chains
freeze into different basins within a hundred sweeps and physlearn warns
(``ChainsDisagreeWarning``); the warning is silenced here: every attempt costs the same whether
the chains mix or not, and throughput is what is measured.

Measured: physlearn 65 M attempts/s against the loop's 0.3 M/s, about 215× (full run; the
quick run 80–110×); before the class-wise updates and the buffered pair sums the ratio was
about 10, 80 % of it the per-sweep gather of both ends of every edge.
"""

from __future__ import annotations

import copy
import math
import time
import warnings

import numpy as np
from harness import Ratio, best_time

from physlearn.systems.blas import serial_blas
from physlearn.systems.ising import IsingModel
from physlearn.systems.ising_sampling import ChainsDisagreeWarning

SPEEDUP_BOUND = 50.0      # the acceptance line: physlearn attempts/s ÷ loop attempts/s
SHIPPED_BOUND = 1.0       # informational: physlearn no slower than the loop at the config size
SAME_CHAIN_TOL = 1e-12
Z_BOUND = 5.0
SHIPPED_REPEAT = 7       # its timings are tens of ms: more repeats for a stable best
LAYERS, DUPLICATES, BATCH, CHAINS, TEMPERATURE = [784, 120, 10], 4, 16, 16, 1.0
LOOP_SAMPLES, LOOP_CHAINS = 2, 2
EXP_MAX = 709.0           # math.exp overflows above ~709.78; beyond it the flip is refused


def timed_model(sweeps, burn_in, seed=0):
    """The timed network: 784 pixel fields → 120 hidden spins → 10 classes × 4 output spins."""
    return IsingModel.layered(LAYERS, duplicates=DUPLICATES, temperature=TEMPERATURE,
                              solver="monte-carlo", sweeps=sweeps, burn_in=burn_in,
                              chains=CHAINS, seed=seed)


def five_spin_model(**kwargs):
    """The 5-spin test network of ``tests/test_ising.py``: 3 hidden + 2 outputs, lateral."""
    return IsingModel.layered([2, 3, 2], lateral=True, temperature=1.0, seed=0, **kwargs)


def shipped_model():
    """The network of ``examples/configs/ising-monte-carlo.toml`` (burn_in left at 100)."""
    return IsingModel.layered([2, 4, 2], lateral=True, temperature=1.0, solver="monte-carlo",
                              sweeps=200, chains=8, seed=0)


def pixels(n, n_features, seed=1):
    """Seeded ±1 inputs (binarised pixels)."""
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(n, n_features))


# -- the per-spin loop -----------------------------------------------------------------------------
def loop_sample(edges, couplings, fields, temperature, rng, chains, burn_in, sweeps,
                update="heat-bath", order=None):
    """Single-spin-flip sampling of ``e^{−E/T}``, ``E = −Σ J_e σ_iσ_j − Σ h_i σ_i``, in plain
    Python: chain by chain, spin by spin.

    Parameters
    ----------
    edges : (m, 2) int array; couplings : (m,) array
        The coupled pairs and their ``J``.
    fields : (batch, n) array
        The total field on every spin, one row per sample.
    rng : numpy.random.Generator
        Consumed in physlearn's layout: the initial spins ``(batch, chains, n)``, then one
        ``(n, batch, chains)`` block of uniforms per sweep.
    update : {"heat-bath", "metropolis"}
    order : sequence of int, optional
        The spins in the order a sweep visits them (default ``0, 1, …, n − 1``). physlearn
        updates the classes of ``IsingModel.update_classes()`` one after the other, all spins
        of a class at once; as no two spins of a class are coupled, visiting them one by one in
        that order is the same chain.

    Returns
    -------
    s, pair : arrays (batch, chains, n) and (batch, chains, m)
        Per-chain averages of ``σ_i`` and of ``σ_iσ_j`` on the edges over the measured sweeps.
    """
    batch, n = fields.shape
    order = range(n) if order is None else [int(i) for i in order]
    neighbours = [[] for _ in range(n)]
    for (i, j), w in zip(edges.tolist(), couplings.tolist()):
        neighbours[i].append((j, w))
        neighbours[j].append((i, w))
    ends = [(int(i), int(j)) for i, j in edges.tolist()]
    heat_bath = update == "heat-bath"
    if not heat_bath and update != "metropolis":
        raise ValueError(f"update={update!r}")
    exp = math.exp
    spins = rng.choice([-1.0, 1.0], size=(batch, chains, n)).tolist()
    field = fields.tolist()
    sum_s = [[[0.0] * n for _ in range(chains)] for _ in range(batch)]
    sum_pair = [[[0.0] * len(ends) for _ in range(chains)] for _ in range(batch)]
    for sweep in range(burn_in + sweeps):
        uniforms = rng.random((n, batch, chains)).transpose(1, 2, 0).tolist()
        measure = sweep >= burn_in
        for b in range(batch):
            h = field[b]
            for c in range(chains):
                s, u = spins[b][c], uniforms[b][c]
                for i in order:
                    phi = h[i]
                    for j, w in neighbours[i]:
                        phi += w * s[j]
                    x = 2.0 * s[i] * phi / temperature          # ΔE / T of flipping spin i
                    if heat_bath:
                        flip = x < EXP_MAX and u[i] * (1.0 + exp(x)) < 1.0
                    else:
                        flip = x <= 0.0 or u[i] < exp(-x)
                    if flip:
                        s[i] = -s[i]
                if measure:
                    acc = sum_s[b][c]
                    for i in range(n):
                        acc[i] += s[i]
                    acc = sum_pair[b][c]
                    for e, (i, j) in enumerate(ends):
                        acc[e] += s[i] * s[j]
    return np.array(sum_s) / sweeps, np.array(sum_pair) / sweeps


def loop_for(model, x, rng, chains=None, update=None):
    """:func:`loop_sample` on ``model``'s couplings and fields, in its update order (public
    attributes only)."""
    return loop_sample(model.edge_list, np.asarray(model.params["J"]), model.fields(x),
                       model.temperature, rng, model.chains if chains is None else chains,
                       model.burn_in, model.sweeps, model.update if update is None else update,
                       order=np.concatenate(model.update_classes()))


# -- correctness -----------------------------------------------------------------------------------
def same_chain_error(model, x, seed=7):
    """Largest difference between physlearn's and the loop's averages on the same random numbers.

    A twin of ``model`` (same parameters) is seeded with a Generator; the loop gets a copy of
    the generator's state taken just before physlearn's run consumes it.
    """
    twin = copy.deepcopy(model)
    twin.set_params(seed=np.random.default_rng(seed))     # rebuilds: restore the parameters
    twin.params = model.params
    snapshot = copy.deepcopy(twin.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChainsDisagreeWarning)
        state = twin.equilibrium(x)
    s, pair = loop_for(twin, x, snapshot)
    return max(float(np.max(np.abs(s.mean(axis=1) - state.s))),
               float(np.max(np.abs(pair.mean(axis=1) - state.correlations))))


def exact_z(chains=32, sweeps=400, burn_in=50, update="heat-bath", seed=3):
    """Largest |loop − exact| / standard error over magnetisations and edge correlations."""
    exact = five_spin_model()
    x = pixels(4, exact.n_features, seed=1)
    ref = exact.equilibrium(x)
    mc = five_spin_model(solver="monte-carlo", sweeps=sweeps, burn_in=burn_in, chains=chains,
                    update=update)
    s, pair = loop_for(mc, x, np.random.default_rng(seed))
    z = 0.0
    for est, want in ((s, ref.s), (pair, ref.correlations)):
        err = est.std(axis=1, ddof=1) / np.sqrt(chains)
        if not np.all(err > 0):
            raise AssertionError("a loop chain average has zero spread: too few sweeps")
        z = max(z, float(np.max(np.abs(est.mean(axis=1) - want) / err)))
    return z


def check_loop(model, x, quick):
    """Run both checks; raise if the loop is not physlearn's chain. Returns (err, z)."""
    small = five_spin_model(solver="monte-carlo", sweeps=40, burn_in=10, chains=4)
    x_small = pixels(3, small.n_features, seed=2)
    errors = [same_chain_error(small.set_params(update=update), x_small)
              for update in ("heat-bath", "metropolis")]
    slice_ = copy.deepcopy(model).set_params(sweeps=4, burn_in=2, chains=2)
    errors.append(same_chain_error(slice_, x[:2]))
    err = max(errors)
    if not err <= SAME_CHAIN_TOL:
        raise AssertionError(f"the loop does not reproduce physlearn's trajectories (largest "
                             f"difference {err:.2e}): the ratio would be void")
    z = max(exact_z(chains=16 if quick else 32, sweeps=200 if quick else 400, update=update)
            for update in ("heat-bath", "metropolis"))
    if not z < Z_BOUND:
        raise AssertionError(f"the loop's averages are {z:.1f} standard errors from exact "
                             "enumeration: the baseline samples the wrong distribution")
    return err, z


# -- timing ----------------------------------------------------------------------------------------
def attempts(model, batch, chains=None):
    chains = model.chains if chains is None else chains
    return (model.burn_in + model.sweeps) * model.n_spins * batch * chains


def rates(model, x, loop_samples, loop_chains, repeat):
    """Attempts/s of physlearn (whole batch; also with 2 measured sweeps only) and of the loop
    (``loop_samples × loop_chains`` chains), best of ``repeat``, interleaved."""
    updates_only = copy.deepcopy(model).set_params(
        sweeps=2, burn_in=model.burn_in + model.sweeps - 2)
    x_loop = x[:loop_samples]
    t_pl = t_upd = t_loop = float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChainsDisagreeWarning)
        for _ in range(repeat):
            with serial_blas():
                t_pl = min(t_pl, best_time(lambda: model.equilibrium(x), 1))
                t_upd = min(t_upd, best_time(lambda: updates_only.equilibrium(x), 1))
            t0 = time.perf_counter()
            loop_for(model, x_loop, np.random.default_rng(11), chains=loop_chains)
            t_loop = min(t_loop, time.perf_counter() - t0)
    return (attempts(model, len(x)) / t_pl, attempts(updates_only, len(x)) / t_upd,
            attempts(model, loop_samples, loop_chains) / t_loop)


def run(quick=False):
    sweeps, burn_in, repeat = (10, 2, 2) if quick else (100, 10, 3)
    model = timed_model(sweeps, burn_in)
    x = pixels(BATCH, model.n_features, seed=1)
    err, z = check_loop(model, x, quick)

    r_pl, r_upd, r_loop = rates(model, x, LOOP_SAMPLES, LOOP_CHAINS, repeat)
    shipped = shipped_model()
    x_shipped = pixels(4, shipped.n_features, seed=1)
    s_pl, s_upd, s_loop = rates(shipped, x_shipped, len(x_shipped), shipped.chains,
                                SHIPPED_REPEAT)

    M = 1e6
    size = (f"{model.n_spins} spins, {len(model.edge_list)} couplings, batch {BATCH} x "
            f"{CHAINS} chains, {burn_in}+{sweeps} sweeps, heat-bath, T={TEMPERATURE:g}")
    return [
        Ratio("ising MC: physlearn / per-spin loop, attempts/s", r_pl / r_loop, SPEEDUP_BOUND,
              "min",
              f"physlearn {r_pl / M:.2f} M/s (updates only, 2 measured sweeps: "
              f"{r_upd / M:.2f} M/s), loop {r_loop / M:.3f} M/s on {LOOP_SAMPLES}x"
              f"{LOOP_CHAINS} chains; {size}; same trajectories to {err:.0e}, loop vs exact "
              f"enumeration {z:.1f} sigma (5-spin net); best of {repeat}, interleaved"),
        Ratio("ising MC at the shipped config size (info)", s_pl / s_loop, SHIPPED_BOUND, "min",
              f"physlearn {s_pl / M:.2f} M/s (updates only {s_upd / M:.2f} M/s), loop "
              f"{s_loop / M:.3f} M/s; {shipped.n_spins} spins, {len(shipped.edge_list)} "
              f"couplings, batch 4 x {shipped.chains} chains, {shipped.burn_in}+"
              f"{shipped.sweeps} sweeps"),
    ]


if __name__ == "__main__":
    for ratio in run():
        print(ratio)
