# %% [markdown]
# # Splitting a deep Hopfield network into a chain of energy blocks (ff-EBMs)
#
# A deep layered Hopfield network `64 → [h, h, h] → 10` relaxes as one energy
# minimisation: every layer feels every other through the couplings. Nest & Ernoult (2024)
# split such a network into *blocks*, each a smaller energy-based model whose input is held
# at the previous block's output activity `ρ(s_L)`: the blocks then relax one after the
# other (feedforward between blocks, recurrent inside them). Training is equilibrium
# propagation inside every block, last block first: the last block is nudged by the cost,
# every earlier block by the error on its outputs that the block above it measured with its
# own nudged relaxations, `δ = (∂E/∂x(s^β) − ∂E/∂x(s^−β)) / 2β`.
#
# We train the same architecture, four layers of units, as blocks of equal size:
#
# * 1 block: `HopfieldNetwork([64, h, h, h, 10])` (plain centered EP),
# * 2 blocks: `[64, h, h] → [h, h, 10]`,
# * 4 blocks: `[64, h] → [h, h] → [h, h] → [h, 10]`,
#
# on scikit-learn's 8×8 digits with centered EP, and compare test accuracies. The paper's
# claim: splitting costs (almost) no accuracy, while the relaxations get much cheaper.
#
# Training: centered EP with β = 0.05, Adam (lr 10⁻³, cosine-annealed over the epochs as
# the papers train: `schedule="cosine"`), batches of 32; the last block's output layer is
# the papers' linear read-out (`linear_output=True`); every relaxation starts at rest,
# s = 0, as the papers' do.
#
# After training, the run prints for every block its *curvature*, the smallest eigenvalue
# of the Hessian `I − A` of its box energy, and the fraction of test images whose free
# equilibrium moves when the relaxation starts from s = ½ instead: a negative curvature
# allows several minima, and then the output depends on the start, not on the parameters
# alone. A block of one layer has no couplings among its units (curvature exactly 1: one
# minimum); the longer a block, the more negative its curvature can become. The run also
# trains the unsplit network with its exact gradient (implicit differentiation at the free
# equilibrium) instead of EP, which tells what the model can learn apart from what EP's
# estimate costs.
#
# Weight decay. Trained without it, the unsplit network, the longest chain, reaches a
# curvature of about −0.4 and trains worst, with its exact gradient too: the model, not
# EP's estimate, falls behind. An L2 penalty `½λ‖W‖²` on the couplings (Adam's
# `weight_decay`, `decayed="*W*"`; not the biases) keeps the couplings, and with them the
# negative curvature, small, but it starves the one-layer blocks, which need large weights.
# So each split chooses its λ from `DECAYS` (none or 10⁻²) by its accuracy on a validation
# split (a stratified 20 % of the training set, seed 0); the test set is not looked at.
# `FFEBM_DECAYS=0` trains without weight decay. `FFEBM_DEPTH=4` runs a deeper network,
# four hidden layers (`64 → [h, h, h, h] → 10`, split as `[64, h, h] → [h, h, h, 10]` and
# `[64, h] → [h, h] → [h, h] → [h, h, 10]`): its unsplit energy is more strongly non-convex
# and it falls further behind its splits.
#
# The default run is reduced (one seed, h = 32, 256 training and 128 test images, two
# epochs; seconds): it checks that everything runs, its accuracies are far from converged.
# `FFEBM_FULL=1` runs the comparison proper: h = 48, three seeds, the full data set (1437
# training, 360 test images), 20 epochs, after the validation runs (about forty minutes of
# one core, dominated by the unsplit network's relaxations; `FFEBM_WORKERS=2` trains in two
# processes).
#
# Activation: the papers' hard sigmoid `ρ(s) = clip(s, 0, 1)`, relaxed by their odd/even
# fixed-point sweeps (`relaxation="async"`), initial weights `N(0, 0.5²/fan_in)`. With the
# smooth sigmoid `½(1 + tanh(2s − 1))` (`FFEBM_ACTIVATION=sigmoid`) these deep
# networks did not learn in short runs (the error signal fades through the layers, whose
# slope at rest is 0.42), whereas with the hard sigmoid they do.
#
# Dimensionless units throughout.

# %%
import dataclasses
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.experiment.parallel import run_jobs
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.system import State
from physlearn.systems import FFEBM, HopfieldNetwork
from physlearn.systems.blas import serial_blas

FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("FFEBM_FULL") == "1"
ACTIVATION = os.environ.get("FFEBM_ACTIVATION", "hard-sigmoid")
DEPTH = int(os.environ.get("FFEBM_DEPTH", 3))
SETTINGS = (dict(width=48, depth=DEPTH, seeds=(0, 1, 2), epochs=20, n_train=None, n_test=None)
            if FULL else dict(width=32, depth=DEPTH, seeds=(0,), epochs=2, n_train=256,
                              n_test=128))
WORKERS = int(os.environ.get("FFEBM_WORKERS", 1))
BETA, LR, BATCH, GAIN = 0.05, 0.001, 32, 0.5
# the weight decays λ of the couplings that each split chooses from on a validation split
DECAYS = tuple(float(v) for v in os.environ.get("FFEBM_DECAYS", "0,1e-2").split(","))
TOLERANCE = 1.5       # percentage points between the splits' mean test accuracies


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


class ExactGradient(pl.Rule):
    """The exact ``dL/dθ`` (implicit differentiation at the free equilibrium), what EP
    estimates: training with it separates what the model can learn from EP's estimate."""

    def gradient(self, system, x, y, cost=None):
        return pl.exact_gradient(system, x, y, cost)


#: what is trained: (number of blocks, rule), labelled as in the printout
RUNS = {"1 block": (1, "EP"), "2 blocks": (2, "EP"), "4 blocks": (4, "EP"),
        "1 block, exact gradient": (1, "exact")}


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
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for label, hs in histories.items():
        acc = 100 * np.mean([h["test_accuracy"] for h in hs if h is not None], axis=0)
        ax1.plot(np.arange(len(acc)), acc, marker="o", label=label)
    ax1.set(xlabel="epoch", ylabel="test accuracy (%)", title="deep Hopfield network, split")
    ax1.legend()
    names = list(stats)
    ax2.bar([name.replace(", ", "\n") for name in names], [stats[n][0] for n in names],
            yerr=[stats[n][1] for n in names], capsize=4,
            color=["tab:gray" if RUNS[n][1] == "EP" else "tab:red" for n in names])
    ax2.set(ylabel="final test accuracy (%)",
            title=f"mean ± sd over {len(next(iter(histories.values())))} seed(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# %%
if __name__ == "__main__":
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
    plot(histories, stats, FIGURES / "ff_ebm_splitting.png")
    print(f"done in {time.time() - start:.0f} s")
