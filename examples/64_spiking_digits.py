# %% [markdown]
# # Spiking networks learn digits by EP: EqSpike, convolutional spiking EP and BPTT
#
# Example 63 showed, on a toy network, that what the synapses of a spiking network can
# measure from spikes tends to equilibrium propagation's (EP's) gradient. Here the same
# networks are trained at the size of a task: scikit-learn's 8×8 digits, pixel intensities in
# $[0, 1]$ as the firing rates of 64 input neurons, integrate-and-fire (IF) neurons everywhere
# else, ten output neurons whose firing fractions are the prediction. Three rows:
#
# * **layered, EqSpike**: `64 → 256 → 10`; every synapse contrasts the spike pairs of the
#   nudged and free phases (`physlearn.EqSpike`);
# * **convolutional, spiking EP**: 32 maps of 3×3 kernels with 2×2 average pooling, then the
#   10 outputs (Lin et al. 2024); EP contrasts products of firing rates (`physlearn.EP`);
# * **convolutional, BPTT**: the same network trained by backpropagation through the spikes
#   of the free phase with a surrogate derivative (`physlearn.SurrogateBPTT`), the usual way
#   to train spiking networks, which keeps every time step in memory.
#
# Dimensionless units: time in steps, currents in units of the threshold.

# %%
import os
import time

import numpy as np

import physlearn as pl
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.parallel import run_jobs
from physlearn.experiment.plots import accuracy_curves, figure_dir
from physlearn.experiment.train import train
from physlearn.systems.blas import serial_blas
from physlearn.systems.hopfield import Conv
from physlearn.systems.spiking import SpikingNetwork

FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("SPIKING_FULL") == "1"
FAST = fast_mode() and not FULL          # SPIKING_FULL=1 wins over PHYSLEARN_FAST=1
# fast mode trains in this process (no pool), whatever SPIKING_WORKERS says
WORKERS = 1 if FAST else int(os.environ.get("SPIKING_WORKERS", 1))
SEEDS, N_TRAIN = ((0, 1, 2), None) if FULL else ((0,), 64) if FAST else ((0,), 300)
N_TEST = 100 if FAST else None           # fast mode: 100 of the 360 test images
COST = pl.SquaredError(low=0.1, high=0.9)
DENSE = [64, 256, 10]
CONV = [[1, 8, 8], Conv(32, 3, padding=1, pool="avg"), 10]

# %% [markdown]
# ## Neurons, phases and the estimates
#
# Every time step each IF neuron integrates the spikes of its neighbours through symmetric
# couplings, fires when its membrane crosses the threshold and resets by subtraction
# (`physlearn.systems.SpikingNetwork`):
#
# $$v_l(t) = u_l(t-1) + A_l z_{l-1}(t-1) + A_{l+1}^\top z_{l+1}(t-1) + \hat b_l, \qquad
#   z_l(t) = H(v_l(t) - 1), \qquad u_l(t) = v_l(t) - z_l(t).$$
#
# The firing fractions $r$ settle to the fixed point $r = \mathrm{clip}(A r + \hat b, 0, 1)$ of
# a hard-sigmoid Hopfield network. Each phase settles for half its counting window $T$,
# then counts spikes; the nudged phase adds the current $-\beta\, \partial C/\partial o$ to
# the output neurons and continues from the free phase. EP's estimate contrasts
# $\partial E/\partial W_{ij} = -r_i r_j$ between the phases; EqSpike contrasts the spike-pair
# sums $P_{ij} = T^{-1}\sum_t \tfrac12 (z_i(t) x_j(t-1) + x_i(t-1) z_j(t))$ ($x$ the spike
# traces), whose mean is $r_i r_j$ up to spike-train correlations:
#
# $$\hat g_{W_{ij}} = -\frac{r_i^{+\beta} r_j^{+\beta} - r_i^{-\beta} r_j^{-\beta}}{2\beta}
#   \quad\text{(EP)}, \qquad
#   \hat g_{W_{ij}} = -\frac{P_{ij}^{+\beta} - P_{ij}^{-\beta}}{2\beta} \quad\text{(EqSpike)},$$
#
# both with the centered pair of nudges $\pm\beta$, $\beta = 0.5$ (the rules' default
# variant).
#
# ## Starting points and targets
#
# The outputs aim at firing fractions 0.9 (the class) and 0.1 (the others),
# `SquaredError(low=0.1, high=0.9)`: a neuron pushed to silence for every input would
# receive neither a gradient nor (below $-\beta$) a nudge again. The output neurons start
# with biases of 0.3 threshold, so that they fire from the start; the layered network's
# hidden neurons too. The read-outs start with weights of gain 0.5 (initial weights
# $N(0, \mathrm{gain}^2/\text{fan-in})$). The convolution starts with gain 1.5 and no bias:
# most of its neurons then begin silent or saturated for part of the image, in the kinks of
# their rate curve $\mathrm{clip}(\cdot, 0, 1)$. With gain 0.5 they would fire at rates
# linear in their input, the average pooling is linear too, and the network would be little
# more than a linear classifier. Settings tuned on seed 0: plain SGD for the layered
# network, Adam for the convolutional one, whose kernel and read-out gradients differ in
# scale by the 64 positions a kernel is shared over; learning rates on a cosine schedule.
#
# The default run is reduced (one seed, 300 training images, two epochs; under a minute).
# `SPIKING_FULL=1`: three seeds, the full training set (1437 images), the epochs in
# `SETTINGS` (some minutes per run; `SPIKING_WORKERS=2` trains in two processes;
# `SPIKING_ROWS=conv` only the rows whose name contains `conv`). `PHYSLEARN_FAST=1`: 64
# training and 100 test images, in this process.

# %%
# initial weight gain and bias current per layer of couplings
START = {"dense": dict(gain=0.5, initial_bias=0.3),
         "conv": dict(gain=[1.5, 0.5], initial_bias=[0.0, 0.3])}
# name: (layers, counting window, rule, optimizer, epochs of the full run)
SETTINGS = {
    "layered, EqSpike": (DENSE, 150, lambda: pl.EqSpike(beta=0.5),
                         lambda: pl.optim.SGD(lr=0.02), 20),
    "conv, spiking EP": (CONV, 60, lambda: pl.EP(beta=0.5), lambda: pl.optim.Adam(lr=1e-3), 30),
    "conv, surrogate BPTT": (CONV, 60, lambda: pl.SurrogateBPTT(),
                             lambda: pl.optim.Adam(lr=1e-3), 30),
}
# SPIKING_ROWS="conv": only the settings whose name contains it
SETTINGS = {k: v for k, v in SETTINGS.items() if os.environ.get("SPIKING_ROWS", "") in k}
ACCURACY = {"layered, EqSpike": 93.0, "conv, spiking EP": 95.0}     # the acceptance lines
GAP = 2.0                         # conv EP within this many points of conv BPTT


# %%
def digits():
    data = pl.datasets.digits(scaling="intensity")
    return Dataset(data.x_train[:N_TRAIN], data.y_train[:N_TRAIN], data.x_test[:N_TEST],
                   data.y_test[:N_TEST], task="classification", n_classes=10, name="digits")


def run(job):
    """Train one (setting, seed); return its test-accuracy curve (%)."""
    name, seed = job
    layers, window, rule, optimizer, epochs = SETTINGS[name]
    net = SpikingNetwork(layers, window=window, seed=seed,
                         **START["conv" if "conv" in name else "dense"])
    with serial_blas():
        history = train(net, rule(), digits(), epochs=epochs if FULL else 2,
                        optimizer=optimizer(), batch_size=32, cost=COST, seed=seed,
                        progress=False, schedule="cosine")
    return {"name": name, "seed": seed, "curve": 100 * np.asarray(history["test_accuracy"]),
            "failed": int(history.failed_batches)}


# %% [markdown]
# ## Train the three rows
#
# The table: final test accuracy per row (mean ± sd over the seeds, and each seed's) and
# the failed batches (a relaxation that did not settle). The verdict lines compare with the
# bars of the full run: layered EqSpike at least 93 %, convolutional spiking EP at least
# 95 % and within 2 points of surrogate BPTT on the same network. The reduced runs are far
# too short to reach them.

# %%
start = time.time()
results = run_jobs(run, [(name, seed) for name in SETTINGS for seed in SEEDS], WORKERS)
mode = "full" if FULL else "reduced (SPIKING_FULL=1 for the comparison proper)"
print(f"spiking networks on digits, {mode}: IF neurons, each phase settling for half its "
      f"counting window, SGD (layered) or Adam (conv) on a cosine schedule, seeds {SEEDS}")
final = {}
for name in SETTINGS:
    acc = [r["curve"][-1] for r in results if r["name"] == name]
    final[name] = acc
    sd = np.std(acc, ddof=1 if len(acc) > 1 else 0)
    print(f"  {name:22s} (window {SETTINGS[name][1]}) test accuracy {np.mean(acc):.1f} ± "
          f"{sd:.1f} % (seeds: {', '.join(f'{a:.1f}' for a in acc)}); failed batches "
          f"{sum(r['failed'] for r in results if r['name'] == name)}")
for name, bound in ACCURACY.items():
    if name in final:
        print(f"{name} >= {bound:g} %: {np.mean(final[name]) >= bound}")
if {"conv, surrogate BPTT", "conv, spiking EP"} <= set(final):
    gap = np.mean(final["conv, surrogate BPTT"]) - np.mean(final["conv, spiking EP"])
    print(f"conv spiking EP within {GAP:g} points of BPTT on the same network: "
          f"{gap <= GAP} (BPTT - EP = {gap:.1f} points)")

# %% [markdown]
# The learning curves (mean over the seeds, band ± sd; epoch 0 is the untrained network).

# %%
fig = accuracy_curves({name: [r["curve"] for r in results if r["name"] == name]
                       for name in SETTINGS},
                      title=f"spiking networks on digits ({len(SEEDS)} seed(s))")
fig.savefig(FIGURES / "spiking_digits.png", dpi=110)
print(f"done in {time.time() - start:.0f} s")
fig  # noqa: B018  (the last expression of a cell: a notebook shows the figure)
