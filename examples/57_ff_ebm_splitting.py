# %% [markdown]
# # Splitting a deep Hopfield network into a chain of energy blocks (ff-EBMs)
#
# A deep layered Hopfield network relaxes as *one* energy minimisation: every layer feels
# every other through the couplings, so every relaxation involves the whole network, and the
# deeper the network the slower and the more fragile it becomes. Nest & Ernoult (2024)
# split such a network into *blocks*: each block is a smaller energy-based model whose input
# is held at the previous block's output activity, and the blocks relax one after the other,
# feedforward between blocks and recurrent inside them (a *feedforward-tied energy-based
# model*, ff-EBM). Training is equilibrium propagation (EP) inside every block, with the
# error passed from block to block.
#
# We train the same architecture, the 64 pixels of scikit-learn's 8×8 digits, $d$ hidden
# layers of $h$ units and 10 outputs, as 1, 2 and 4 blocks of (about) equal size, and
# compare test accuracies. The paper's claim: splitting costs (almost) no accuracy, while
# the relaxations get much cheaper. Dimensionless units throughout.

# %%
import dataclasses
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

import physlearn as pl
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.parallel import run_jobs
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.system import State
from physlearn.systems import FFEBM, HopfieldNetwork
from physlearn.systems.blas import serial_blas

FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("FFEBM_FULL") == "1"
FAST = fast_mode() and not FULL          # FFEBM_FULL=1 wins over PHYSLEARN_FAST=1
ACTIVATION = os.environ.get("FFEBM_ACTIVATION", "hard-sigmoid")
DEPTH = int(os.environ.get("FFEBM_DEPTH", 3))
SETTINGS = (dict(width=48, depth=DEPTH, seeds=(0, 1, 2), epochs=20, n_train=None, n_test=None)
            if FULL else
            dict(width=16, depth=DEPTH, seeds=(0,), epochs=2, n_train=128, n_test=64)
            if FAST else
            dict(width=32, depth=DEPTH, seeds=(0,), epochs=2, n_train=256, n_test=128))
# fast mode trains in this process (no pool), whatever FFEBM_WORKERS says
WORKERS = 1 if FAST else int(os.environ.get("FFEBM_WORKERS", 1))
BETA, LR, BATCH, GAIN = 0.05, 0.001, 32, 0.5
# the weight decays λ of the couplings that each split chooses from on a validation split
DECAYS = tuple(float(v) for v in os.environ.get("FFEBM_DECAYS", "0,1e-2").split(","))
TOLERANCE = 1.5       # percentage points between the splits' mean test accuracies

# %% [markdown]
# ## Energy blocks
#
# Each block is a layered Hopfield network (`HopfieldNetwork`) whose input $a$ is clamped.
# With the papers' hard sigmoid $\rho(s) = \mathrm{clip}(s, 0, 1)$ its energy is
#
# $$E_k(\theta_k, a, s) = \tfrac12\|s\|^2 - \sum_l \rho(s_l)^\top (W_l\, \rho(s_{l-1}) + b_l),
#   \qquad \rho(s_0) = a,$$
#
# relaxed by the papers' odd/even fixed-point sweeps (`relaxation="async"`: each half-sweep
# minimises $E_k$ exactly over one parity of layers), from rest, $s = 0$, as the papers
# start. Block $k$ hands the activity $\rho(s_{k,L})$ of its last layer to block $k+1$; the
# last block's output layer is the papers' linear read-out (`linear_output=True`), and its
# state is the prediction. Initial weights $N(0, 0.5^2/\text{fan-in})$.
#
# Splitting $d$ hidden layers and the output layer, $d + 1$ layers of units, into $n$ blocks
# (`splits`): with $d = 3$,
#
# * 1 block: `HopfieldNetwork([64, h, h, h, 10])` (plain EP),
# * 2 blocks: `[64, h, h] → [h, h, 10]`,
# * 4 blocks: `[64, h] → [h, h] → [h, h] → [h, 10]`.
#
# A block's input layer is a copy of the previous block's last layer, *clamped*: it is not
# pulled back by the couplings of the next block, which is what breaks the one energy into a
# chain. `FFEBM_DEPTH=4` runs a deeper network, four hidden layers, split as
# `[64, h, h] → [h, h, h, 10]` and `[64, h] → [h, h] → [h, h] → [h, h, 10]` (when 4 does not
# divide the layers, the later blocks hold one more).
#
# Activation: with the smooth sigmoid $\tfrac12(1 + \tanh(2s - 1))$
# (`FFEBM_ACTIVATION=sigmoid`), whose slope at rest is $1 - \tanh^2(1) \approx 0.42$, the
# error signal fades through the layers and these deep networks did not learn in short runs;
# with the hard sigmoid they do.

# %%
def hopfield(layers, seed, last):
    """One energy block; the hard sigmoid relaxes by the papers' odd/even sweeps; the last
    block's output layer is the papers' linear read-out."""
    kw = {"relaxation": "async"} if ACTIVATION == "hard-sigmoid" else {}
    return HopfieldNetwork(layers, activation=ACTIVATION, gain=GAIN, seed=seed,
                           linear_output=last, tol=1e-8, **kw)


def splits(h, depth, seed):
    """The same architecture, ``depth`` hidden layers of ``h`` units and the 10 outputs, as 1,
    2 and 4 blocks of consecutive layers (block k seeded seed·10+k). The blocks are of equal
    size when 4 divides the ``depth + 1`` layers; otherwise the later blocks hold one more."""
    sizes = [h] * depth + [10]
    layouts = {}
    for n in (1, 2, 4):
        counts = [len(c) for c in np.array_split(sizes, n)][::-1]
        ends = np.cumsum(counts)
        layouts[n] = [[64 if k == 0 else sizes[ends[k - 1] - 1], *sizes[end - count:end]]
                      for k, (count, end) in enumerate(zip(counts, ends))]
    return {n: FFEBM([hopfield(layers, 10 * seed + k, k == len(blocks) - 1)
                      for k, layers in enumerate(blocks)])
            for n, blocks in layouts.items()}


def load_digits(n_train=None, n_test=None):
    data = pl.datasets.digits(scaling="intensity")
    return dataclasses.replace(data, x_train=data.x_train[:n_train],
                               y_train=data.y_train[:n_train], x_test=data.x_test[:n_test],
                               y_test=data.y_test[:n_test])


# %% [markdown]
# ## Training a chain: EP inside the blocks, errors between them
#
# The ff-EBM rule (`FFEBM.chained_gradient`, run by `pl.EP`) sweeps backward over the blocks,
# last block first. The last block is nudged by the cost $C$ as in EP; every earlier block by
# the linear cost $C_k = \langle \delta_k, s_{k,L}\rangle$, with $\delta_k$ the error on its
# output units that the block above it measured. Block $k$, its input held at $a_{k-1}$, relaxes
# from its free state under the two nudges $\pm\beta$ of $E_k + \beta C_k$, and
#
# $$\hat g_{\theta_k} = \frac{1}{2\beta}\Big[\frac{\partial E_k}{\partial\theta_k}(s^{+\beta})
#   - \frac{\partial E_k}{\partial\theta_k}(s^{-\beta})\Big], \qquad
#   \hat\delta_{k-1} = \frac{1}{2\beta}\Big[\frac{\partial E_k}{\partial a_{k-1}}(s^{+\beta})
#   - \frac{\partial E_k}{\partial a_{k-1}}(s^{-\beta})\Big]$$
#
# ($\hat\delta_{k-1}$ estimates $\partial L/\partial a_{k-1}$; block $k-1$ is then nudged with
# $\delta_{k-1} = \rho'(s_{k-1,L}) \odot \hat\delta_{k-1}$): the EP identity
# $\frac{d}{d\beta}\frac{\partial E}{\partial\theta}(s^\beta)\big|_0 = \frac{dL}{d\theta}$
# applied to the parameters *and* to the block's input. Both are exact as $\beta \to 0$; the
# centered pair's error is $O(\beta^2)$, also where it passes through later blocks. With a
# single block this is plain centered EP.
#
# **The exact gradient as a control.** The run also trains the unsplit network with its
# exact gradient, $dL/d\theta$ by implicit differentiation at the free equilibrium, instead
# of EP. That tells what the model itself can learn apart from what EP's estimate costs.
#
# Training: centered EP with $\beta = 0.05$, Adam (lr $10^{-3}$, cosine-annealed over the
# epochs as the papers train: `schedule="cosine"`), batches of 32.

# %%
class ExactGradient(pl.Rule):
    """The exact ``dL/dθ`` (implicit differentiation at the free equilibrium), what EP
    estimates: training with it separates what the model can learn from EP's estimate."""

    def gradient(self, system, x, y, cost=None):
        return pl.exact_gradient(system, x, y, cost)


#: what is trained: (number of blocks, rule), labelled as in the printout
RUNS = {"1 block": (1, "EP"), "2 blocks": (2, "EP"), "4 blocks": (4, "EP"),
        "1 block, exact gradient": (1, "exact")}


# %% [markdown]
# ## Curvature: one minimum or several?
#
# On the box $[0, 1]^n$ the hard-sigmoid energy is quadratic with Hessian $I - A$, $A$ the
# symmetric couplings between layers. Its smallest eigenvalue, the block's *curvature*
# (`HopfieldNetwork.curvature`), decides whether the block has one minimum: positive, $E_k$
# is strictly convex and the equilibrium does not depend on where the relaxation starts;
# negative, there can be several minima, and the output then depends on the start, not on
# the parameters alone. A block of one layer has no couplings among its units (curvature
# exactly 1); the longer a block, the more negative its curvature can become. After
# training, the run prints per block the curvature (the smallest over the test images) and
# the fraction of test images whose free equilibrium moves when the relaxation starts from
# $s = \tfrac12$ instead of at rest.
#
# **Weight decay.** An L2 penalty $\tfrac12\lambda\|W\|^2$ on the couplings (Adam's
# `weight_decay`, `decayed="*W*"`; not the biases) keeps the couplings, and with them the
# negative curvature, small; but it starves the one-layer blocks, which need large weights.
# Trained without it, the unsplit network, the longest chain of coupled layers, became
# non-convex in the full runs and trained worst, with its exact gradient too: the model,
# not EP's estimate, fell behind. So each split chooses its $\lambda$ from `DECAYS` (none or
# $10^{-2}$) by its accuracy on a validation split (a stratified 20 % of the training set,
# seed 0); the test set is not looked at, and the exact-gradient run takes the unsplit
# network's choice. `FFEBM_DECAYS=0` trains without weight decay.

# %%
def other_minima(model, x):
    """Per energy block: the fraction of inputs whose free equilibrium moves (by > 1e-4) when
    the relaxation starts from s = ½ instead of at rest (s = 0), and the block's curvature,
    the smallest eigenvalue of its Hessian ``I − A`` on the box (the smallest over the
    inputs). A negative curvature allows several minima: the output then depends on where
    the relaxation starts, not on the parameters alone."""
    moved, curvatures, a = [], [], model.check_inputs(x)
    for k, block in enumerate(model._blocks):
        state = block.equilibrium(a)
        half = block.equilibrium(a, start=State(s=np.full_like(state.s, 0.5), x=state.x))
        moved.append(float(np.mean(np.max(np.abs(half.s - state.s), axis=1) > 1e-4)))
        curvatures.append(float(np.min(block.curvature(state))))
        a = block.outputs(state) if k == len(model._blocks) - 1 else block.activity(state)
    return moved, curvatures


# %% [markdown]
# ## Choosing λ, then training every run
#
# `train_one` trains one split for one seed; `choose_decays` runs it on the validation split
# for every $\lambda$ of `DECAYS` (seed 0) and keeps the best; `run` then trains every run for
# every seed (in `WORKERS` processes). A training step that leaves the network without a
# free fixed point is refused and counted as a skipped batch; a run that cannot continue is
# reported as stopped.

# %%
def train_one(job):
    """Train one split for one seed with weight decay ``decay`` on its couplings; on the
    validation split, return its validation accuracy; otherwise print its blocks'
    curvatures and other-minima fractions on the test images and return its history."""
    label, seed, width, depth, epochs, n_train, n_test, decay, validate = job
    n, rule = RUNS[label]
    data = load_digits(n_train, n_test)
    with serial_blas():                    # many small dense solves: BLAS threads only spin
        model = splits(width, depth, seed)[n]
        start = time.time()
        try:
            history = train(model, ExactGradient() if rule == "exact" else
                            pl.EP(beta=BETA, variant="centered"),
                            data.validation() if validate else data, epochs=epochs,
                            optimizer=pl.optim.Adam(lr=LR, weight_decay=decay, decayed="*W*"),
                            schedule="cosine", batch_size=BATCH, seed=seed, progress=False)
        except FloatingPointError as err:     # a step refused: no free fixed point after it
            print(f"  {label} (weight decay {decay:g}), seed {seed}"
                  f"{' (validation)' if validate else ''}: stopped, {err}", flush=True)
            return -np.inf if validate else None
        if validate:
            return float(history["test_accuracy"][-1])
        moved, curvatures = other_minima(model, data.x_test)
    print(f"  {label} (weight decay {decay:g}), seed {seed}: test accuracy "
          f"{100 * history['test_accuracy'][-1]:.1f} %, "
          f"{history.failed_batches} skipped batches, {time.time() - start:.0f} s; per block, "
          f"curvature {', '.join(f'{c:+.3f}' for c in curvatures)} and test images with "
          f"another minimum from s = ½ {', '.join(f'{100 * f:.0f} %' for f in moved)}",
          flush=True)
    return history


def choose_decays(width, depth, epochs, n_train, n_test):
    """Per split, the weight decay of ``DECAYS`` with the best accuracy on a validation split
    (a stratified 20 % of the training set; seed 0; the first of equals); the exact-gradient
    run takes the unsplit network's."""
    splits_ep = [label for label, (_, rule) in RUNS.items() if rule == "EP"]
    jobs = [(label, 0, width, depth, epochs, n_train, n_test, decay, True)
            for label in splits_ep for decay in DECAYS]
    scores = dict(zip([(job[0], job[7]) for job in jobs], run_jobs(train_one, jobs, WORKERS)))
    chosen = {}
    for label in splits_ep:
        print(f"  {label}: validation accuracy " + ", ".join(
            f"{100 * scores[label, d]:.1f} % at λ = {d:g}" for d in DECAYS))
        chosen[label] = max(DECAYS, key=lambda d: scores[label, d])
    chosen["1 block, exact gradient"] = chosen["1 block"]
    return chosen


def run(width, depth, seeds, epochs, n_train, n_test):
    """Choose every split's weight decay, then train every run for every seed (in
    ``WORKERS`` processes); label → histories, label → weight decay."""
    decays = choose_decays(width, depth, epochs, n_train, n_test)
    jobs = [(label, seed, width, depth, epochs, n_train, n_test, decays[label], False)
            for seed in seeds for label in RUNS]
    done = run_jobs(train_one, jobs, WORKERS)
    histories = {}
    for (label, *_), history in zip(jobs, done):
        histories.setdefault(label, []).append(history)
    return histories, decays


def summarise(histories):
    """Mean and sd of the final test accuracy (in %) per run over the seeds that finished,
    their number, and whether the EP-trained splits agree (every one of their seeds
    finished)."""
    stats = {}
    for label, hs in histories.items():
        acc = [100 * h["test_accuracy"][-1] for h in hs if h is not None]
        stats[label] = (np.mean(acc), np.std(acc, ddof=1 if len(acc) > 1 else 0), len(acc))
    ep = [label for label, (_, rule) in RUNS.items() if rule == "EP"]
    means = [stats[label][0] for label in ep]
    finished = all(h is not None for label in ep for h in histories[label])
    return stats, finished and max(means) - min(means) <= TOLERANCE


def plot(histories, stats, path):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for label, hs in histories.items():
        acc = 100 * np.mean([h["test_accuracy"] for h in hs if h is not None], axis=0)
        ax1.plot(np.arange(len(acc)), acc, marker="o", label=label)
    ax1.set(xlabel="epoch", ylabel="test accuracy (%)", title="learning curves")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.legend()
    names = list(stats)
    ax2.bar([name.replace(", ", "\n") for name in names], [stats[n][0] for n in names],
            yerr=[stats[n][1] for n in names], capsize=4,
            color=["tab:gray" if RUNS[n][1] == "EP" else "tab:red" for n in names])
    ax2.set(xlabel="energy blocks (training rule)", ylabel="final test accuracy (%)",
            title=f"mean ± sd over {len(next(iter(histories.values())))} seed(s)")
    fig.suptitle(f"Deep Hopfield network ({DEPTH} hidden layers) split into energy blocks")
    fig.savefig(path, dpi=110)     # left open: a notebook shows it below the cell


# %% [markdown]
# ## The runs
#
# The default run is reduced (one seed, $h = 32$, 256 training and 128 test images, two
# epochs; seconds): it checks that everything runs, and its accuracies are far from
# converged. `FFEBM_FULL=1` runs the comparison proper: $h = 48$, three seeds, the full data
# set (1437 training, 360 test images), 20 epochs, after the validation runs (tens of
# minutes of one core, dominated by the unsplit network's relaxations; `FFEBM_WORKERS=2`
# trains in two processes). `PHYSLEARN_FAST=1`: $h = 16$, 128 training and 64 test images,
# in this process.
#
# The output: the validation accuracies behind each split's choice of $\lambda$, one line per
# trained run (test accuracy, skipped batches, curvature and other-minima fraction per
# block), the mean ± sd test accuracy per run over the seeds, and the verdict: do the
# EP-trained splits' mean accuracies lie within 1.5 points of each other?

# %%
start = time.time()
mode = "full" if FULL else "reduced (FFEBM_FULL=1 for the full comparison)"
print(f"ff-EBM splitting, {mode}: {SETTINGS}, activation {ACTIVATION}, gain {GAIN}, "
      f"centered EP beta={BETA}, Adam lr={LR} (cosine), couplings' weight decay chosen "
      f"from {DECAYS} on validation, batch {BATCH}")
histories, decays = run(**SETTINGS)
stats, agree = summarise(histories)
for label, (mean, sd, finished) in stats.items():
    print(f"{label}: test accuracy {mean:.1f} ± {sd:.1f} %" + (
        "" if finished == len(histories[label]) else
        f" ({finished} of {len(histories[label])} seeds finished)"))
print("weight decay per run: " + ", ".join(f"{k} {v:g}" for k, v in decays.items()))
print(f"all splits (EP) within {TOLERANCE} points of each other: {agree}")

# %% [markdown]
# Left: the test accuracy per epoch (mean over the seeds that finished). Right: the final
# test accuracy per run, mean ± sd over the seeds (grey: EP, red: the exact-gradient
# control).

# %%
plot(histories, stats, FIGURES / "ff_ebm_splitting.png")
print(f"done in {time.time() - start:.0f} s")
