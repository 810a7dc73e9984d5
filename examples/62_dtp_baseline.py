# %% [markdown]
# # Difference target propagation with trained feedback weights (Ernoult et al. 2022)
#
# Backpropagation sends the error down a network through the *transposes* of the forward
# weights, $\delta_{i-1} = W_i^\top (f'(a_i) \odot \delta_i)$: every synapse must know the
# strength of a synapse running the other way. No physical substrate offers that symmetry
# for free. Equilibrium propagation gets it from a symmetric energy; target propagation,
# the digital baseline of this notebook, does without it. It sends *targets* down through
# separate, learned feedback maps, and every layer learns locally to reach its own target.
#
# The question is empirical: on a real network, how well do learned feedback maps stand in
# for the transposes, and what does that cost in accuracy against backprop? We train a
# `64 → 256 → 256 → 10` feedforward network on scikit-learn's 8×8 digits both ways and
# compare, layer by layer, the direction of DTP's update with the backprop gradient.
#
# Dimensionless units: activations, weights and costs are pure numbers.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

import physlearn as pl
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.parallel import run_jobs
from physlearn.experiment.plots import figure_dir
from physlearn.systems.blas import serial_blas
from physlearn.systems.feedforward import FeedforwardNetwork

FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("DTP_FULL") == "1"
FAST = fast_mode() and not FULL          # DTP_FULL=1 wins over PHYSLEARN_FAST=1
# fast mode trains in this process (no pool), whatever DTP_WORKERS says
WORKERS = 1 if FAST else int(os.environ.get("DTP_WORKERS", 1))
SEEDS, EPOCHS, N_TRAIN = (((0, 1, 2), 10, None) if FULL else ((0,), 2, 200) if FAST
                          else ((0,), 2, 400))
LAYERS, BATCH, LR = [64, 256, 256, 10], 64, 1e-3
DTP_SETTINGS = {"beta": 0.7, "feedback_iterations": [40, 20], "feedback_lr": 0.02,
                "feedback_noise": 0.1}
TOLERANCE, MIN_COSINE = 2.0, 0.8      # points of test accuracy; cosine in every layer
RULES = {"DTP": lambda seed: pl.DTP(**DTP_SETTINGS, seed=seed), "backprop": lambda seed:
         pl.Backprop()}

# %% [markdown]
# ## Targets instead of errors
#
# The network (`physlearn.systems.FeedforwardNetwork`) computes
# $h_i = F_i(h_{i-1}) = f(W_i h_{i-1} + b_i)$ with ELU hidden layers and linear logits $h_N$;
# the cost $C$ is the softmax cross-entropy. DTP (`physlearn.DTP`) first nudges the outputs
# down the cost,
#
# $$t_N = h_N - \beta\, \frac{\partial C}{\partial h_N},$$
#
# then carries the target down through learned feedback maps
# $G_i(h) = f(V_i h + c_i): h_i \to h_{i-1}$ by the *difference correction*
#
# $$t_{i-1} = h_{i-1} + G_i(t_i) - G_i(h_i),$$
#
# which sends $t_i = h_i$ to $t_{i-1} = h_{i-1}$ whatever $G_i$ is. Each layer descends
# $\tfrac12\|h_i - t_i\|^2$ in its own $W_i, b_i$ with $h_{i-1}$ and $t_i$ held fixed; the
# rule returns that update divided by $\beta$, to compare with $\partial L/\partial\theta$.
# To first order in $\beta$, $t_{i-1} - h_{i-1} \approx J_{G_i}(t_i - h_i)$: if every
# Jacobian $J_{G_i}$ were $J_{F_i}^\top$, the targets would be $h - \beta\,\partial L/\partial h$
# and DTP would *be* backprop. For the last layer it is, whatever the feedback maps: its
# target is $t_N$ itself and its layer is linear, so the last layer's cosine is 1 exactly.
#
# **Learning the feedback (L-DRL).** Before each forward update, every feedback map takes a
# few plain SGD steps on
#
# $$\mathcal L_i = \frac{1}{\sigma^2}\Big(-2\,\varepsilon_x^\top \big[G_i(F_i(h_{i-1} +
#   \varepsilon_x)) - G_i(h_i)\big] + \big\|G_i(h_i + \varepsilon_y) - G_i(h_i)\big\|^2\Big),$$
#
# with noise $\varepsilon_x, \varepsilon_y \sim N(0, \sigma^2)$ on the layer's input and
# output. For small $\sigma$ its mean is $\|J_{G_i} - J_{F_i}^\top\|_F^2 - \|J_{F_i}\|_F^2$,
# minimal at the Jacobian matching $J_{G_i} = J_{F_i}^\top$ that makes the targets backprop's.
#
# **Settings.** Adam (lr $10^{-3}$, batches of 64) for the forward weights of both rules,
# the same seeds. DTP: $\beta = 0.7$ (the paper's), feedback lr 0.02, $\sigma = 0.1$, 40
# L-DRL steps per mini-batch for $G_2$ (256 → 256) and 20 for $G_3$ (10 → 256). These were
# tuned on seed 0 only; seeds 1 and 2 were first run with them as they stand.
#
# The default run is reduced (one seed, 400 training images, two epochs; seconds).
# `DTP_FULL=1`: three seeds, the full training set (1437 images, 360 test), ten epochs (a few
# minutes on one core; `DTP_WORKERS=2` trains in two processes). `PHYSLEARN_FAST=1`: 200
# training images, in this process.

# %%
def digits():
    """scikit-learn's digits, standardised pixels; the first ``N_TRAIN`` training images."""
    data = pl.datasets.digits()
    return Dataset(data.x_train[:N_TRAIN], data.y_train[:N_TRAIN], data.x_test, data.y_test,
                   task="classification", n_classes=10, name="digits")


def cosine(a, b):
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def layer_cosines(net, x, y):
    """Cosine between DTP's update (feedback maps as they are) and backprop, per layer
    (its weights and biases together)."""
    dtp = pl.DTP(beta=DTP_SETTINGS["beta"]).estimate(net, x, y, "cross_entropy")
    bp = pl.exact_gradient(net, x, y, "cross_entropy")
    return [cosine(np.concatenate([dtp[f"W{i}"].ravel(), dtp[f"b{i}"]]),
                   np.concatenate([bp[f"W{i}"].ravel(), bp[f"b{i}"]]))
            for i in range(1, net.n_layers + 1)]


def alignment(net, data):
    """``(mean over training mini-batches, whole training set)`` of the per-layer cosines."""
    x, y = data.x_train, data.y_train
    per_batch = [layer_cosines(net, x[s:s + BATCH], y[s:s + BATCH])
                 for s in range(0, len(x), BATCH)]
    return np.mean(per_batch, axis=0), np.array(layer_cosines(net, x, y))


# %% [markdown]
# ## Training, and measuring the alignment
#
# `run` trains one (rule, seed) with `physlearn.train`. For DTP, after every epoch (and
# before the first), a callback measures the cosine between DTP's update with the current
# feedback maps and the backprop gradient, per layer ($W_i$ and $b_i$ together):
#
# $$\cos_i = \frac{\langle \hat g_i^{\rm DTP}, g_i^{\rm BP}\rangle}
#   {\|\hat g_i^{\rm DTP}\|\, \|g_i^{\rm BP}\|},$$
#
# once on every training mini-batch (mean over the batches: the steps the optimizer actually
# takes) and once on the whole training set at once. Before training the feedback maps are
# random, so the hidden layers' cosines start near 0.

# %%
def run(job):
    """Train one (rule, seed); return the accuracy curve, the cosines and the epoch times."""
    name, seed = job
    data = digits()
    net = FeedforwardNetwork(LAYERS, "elu", seed=seed)
    cosines = []

    def record(epoch, rec, system):
        if name == "DTP":
            cosines.append(alignment(system, data))

    with serial_blas():          # one BLAS thread per process
        history = pl.train(net, RULES[name](seed), data, epochs=EPOCHS, batch_size=BATCH,
                           optimizer=pl.optim.Adam(lr=LR), cost="cross_entropy", seed=seed,
                           progress=False, callback=record)
    return {"name": name, "seed": seed, "curve": 100 * np.asarray(history["test_accuracy"]),
            "seconds": np.asarray(history["seconds"][1:]), "cosines": np.array(cosines),
            "failed": int(history.failed_batches)}


def mean_sd(values):
    values = np.asarray(values, dtype=float)
    return values.mean(axis=0), values.std(axis=0, ddof=1 if len(values) > 1 else 0)


# %% [markdown]
# ## Run both rules
#
# Every (rule, seed) trains independently. The table gives the final test accuracy (mean
# ± sample sd over the seeds, and each seed's) and the wall time per epoch: DTP pays for its
# feedback training, 60 L-DRL steps per mini-batch.

# %%
start = time.time()
jobs = [(name, seed) for name in RULES for seed in SEEDS]
results = run_jobs(run, jobs, WORKERS)
mode = "full" if FULL else "reduced (DTP_FULL=1 for the comparison proper)"
print(f"DTP vs backprop on digits, {mode}: {'-'.join(map(str, LAYERS))} ELU, Adam lr {LR}, "
      f"batch {BATCH}, {EPOCHS} epochs, seeds {SEEDS}; DTP {DTP_SETTINGS}")
final = {}
for name in RULES:
    rows = [r for r in results if r["name"] == name]
    acc = [r["curve"][-1] for r in rows]
    final[name] = acc
    m, sd = mean_sd(acc)
    per_epoch = np.mean([r["seconds"].mean() for r in rows])
    print(f"  {name:9s} test accuracy {m:.1f} ± {sd:.1f} % "
          f"(seeds: {', '.join(f'{a:.1f}' for a in acc)}); wall time {per_epoch:.2f} s "
          f"per epoch; failed batches {sum(r['failed'] for r in rows)}")

# %% [markdown]
# ## How well do the learned feedback maps stand in for the transposes?
#
# Per epoch and layer: the cosine averaged over the training mini-batches ("batches", mean ±
# sd over the seeds) and on the whole training set ("set"). The two verdict lines compare
# with the bars set before the full run: DTP within 2 points of backprop's test accuracy,
# and a mini-batch cosine of at least 0.8 in every layer after the last epoch, in every seed.
# The reduced runs are far too short to pass them; only the full run tests the claim.

# %%
dtp_rows = [r for r in results if r["name"] == "DTP"]
batches = np.array([r["cosines"][:, 0] for r in dtp_rows])     # seed, epoch, layer
whole = np.array([r["cosines"][:, 1] for r in dtp_rows])
print("cosine DTP update vs backprop gradient per layer (W_i, b_i), mean ± sd over seeds:")
print("  epoch  " + "  ".join(f"{'layer ' + str(i + 1):>26s}" for i in range(len(LAYERS) - 1)))
for e in range(batches.shape[1]):
    cells = []
    for i in range(batches.shape[2]):
        (mb, sb), (mw, sw) = mean_sd(batches[:, e, i]), mean_sd(whole[:, e, i])
        cells.append(f"batches {mb:.3f}±{sb:.3f} set {mw:.3f}")
    print(f"  {e:5d}  " + "  ".join(f"{c:>26s}" for c in cells))
last = batches[:, -1, :]
print(f"final cosine per layer, mean over training mini-batches (seeds x layers): "
      f"{np.array2string(last, precision=3)}; over the whole training set: "
      f"{np.array2string(whole[:, -1, :], precision=3)}")
gap = np.mean(final["backprop"]) - np.mean(final["DTP"])
print(f"DTP within {TOLERANCE:g} points of backprop: {abs(gap) <= TOLERANCE} "
      f"(backprop - DTP = {gap:.1f} points)")
print(f"cosine >= {MIN_COSINE} in every layer: {bool(np.all(last >= MIN_COSINE))} "
      f"(lowest {last.min():.3f}, mean over the training mini-batches, final epoch, "
      "every seed)")

# %% [markdown]
# ## Figure
#
# Left: the per-layer alignment against the epoch (mean over the mini-batches; band ± sd
# over the seeds; dashed, the bar). Right: the test accuracy of both rules (the epoch-0
# point, chance, is left out of the vertical range).

# %%
fig, (ax_cos, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
epochs = np.arange(batches.shape[1])
for i in range(batches.shape[2]):
    m, sd = mean_sd(batches[:, :, i])
    ax_cos.plot(epochs, m, marker="o", label=f"layer {i + 1}")
    ax_cos.fill_between(epochs, m - sd, m + sd, alpha=0.2)
ax_cos.axhline(MIN_COSINE, color="grey", lw=0.8, ls="--", label=f"bar {MIN_COSINE:g}")
ax_cos.set(xlabel="epoch", ylabel="cosine(DTP, backprop) (dimensionless)",
           ylim=(-0.05, 1.05), title="alignment (mean over mini-batches)")
ax_cos.xaxis.set_major_locator(MaxNLocator(integer=True))
ax_cos.legend()
for name in RULES:
    m, sd = mean_sd([r["curve"] for r in results if r["name"] == name])
    ax_acc.plot(np.arange(len(m)), m, marker="o", label=name)
    ax_acc.fill_between(np.arange(len(m)), m - sd, m + sd, alpha=0.2)
low = min(r["curve"][1:].min() for r in results)       # epoch 0 (chance) left out of view
ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(max(0.0, low - 3), 100),
           title=f"digits, {'-'.join(map(str, LAYERS))} ({len(SEEDS)} seed(s))")
ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
ax_acc.legend()
fig.suptitle("Difference target propagation against backprop")
fig.savefig(FIGURES / "dtp_baseline.png", dpi=110)
print(f"done in {time.time() - start:.0f} s")
