# %% [markdown]
# # Metaplastic binary synapses remember the first task (Laborieux et al. 2021)
#
# A network trained on one task, then on another, forgets the first: the second task's
# gradients overwrite the weights the first one needed (*catastrophic forgetting*).
# Biological synapses are thought to resist by *metaplasticity*, a plasticity that depends on
# the synapse's own history. Laborieux et al. gave binary synapses such a memory, and no
# task boundary needs to be announced to the network.
#
# Here a Hopfield network trained by equilibrium propagation (EP) with binary weights learns
# two tasks one after the other, once with plain binary synapses and once with metaplastic
# ones, and after each task we measure the test accuracy on both tasks. Dimensionless units
# throughout.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.parallel import run_jobs
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.systems.blas import serial_blas
from physlearn.systems.hopfield import HopfieldNetwork

FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("META_FULL") == "1"
FAST = fast_mode() and not FULL          # META_FULL=1 wins over PHYSLEARN_FAST=1
# fast mode trains in this process (no pool), whatever META_WORKERS says
WORKERS = 1 if FAST else int(os.environ.get("META_WORKERS", 1))
SEEDS, EPOCHS, N_TRAIN, HIDDEN = (((0, 1, 2), 5, None, 1024) if FULL
                                  else ((0,), 2, 150, 128) if FAST else ((0,), 2, 300, 256))
BETA, LR, M = 0.25, 5e-3, 12.0
KEEP, COST = 20.0, 3.0     # points: task 1 kept at least this much better; task 2 within this

# %% [markdown]
# ## Two tasks
#
# Task 1 is scikit-learn's 8×8 digits (pixel intensities in $[0, 1]$); task 2 the same
# digits with their 64 pixels shuffled by one fixed random permutation (*permuted digits*,
# the paper's protocol on a small scale). The input weights that read one task's pixels do
# not suit the other's, so whatever the network learns for task 2 it must store in weights
# that task 1 also uses.

# %%
def tasks():
    """Digits, and the same digits with a fixed pixel permutation."""
    data = pl.datasets.digits(scaling="intensity")
    perm = np.random.default_rng(99).permutation(64)
    first = Dataset(data.x_train[:N_TRAIN], data.y_train[:N_TRAIN], data.x_test, data.y_test,
                    task="classification", n_classes=10, name="digits")
    second = Dataset(first.x_train[:, perm], first.y_train, first.x_test[:, perm],
                     first.y_test, task="classification", n_classes=10, name="permuted digits")
    return first, second


def accuracy(net, data):
    """Test accuracy (%) of the network's free equilibrium."""
    return 100 * np.mean(np.argmax(net.predict(data.x_test), 1) == np.argmax(data.y_test, 1))


# %% [markdown]
# ## The network, the estimate and the metaplastic update
#
# A layered Hopfield network `64 → h → 10` with the hard sigmoid
# $\rho(s) = \mathrm{clip}(s, 0, 1)$, a linear read-out and the papers' odd/even relaxation
# sweeps, whose energy is
#
# $$E = \tfrac12\|s\|^2 - \sum_l \rho(s_l)^\top (W_l\, \rho(s_{l-1}) + b_l).$$
#
# Centered EP ($\beta = 0.25$) estimates $g = \partial L/\partial W$ from a free relaxation
# and two relaxations nudged by $\pm\beta$ times the squared error,
# $g \approx [\partial E/\partial W(s^{+\beta}) - \partial E/\partial W(s^{-\beta})]/2\beta$.
#
# Each binary weight is $W = \alpha\, \mathrm{sign}(W_h)$, with a fixed scale $\alpha$ (the
# mean magnitude of the initial weights) and a *hidden* weight $W_h$ that integrates the
# estimates by Adam steps $u$ (lr $5\cdot 10^{-3}$). A step that pushes $W_h$ toward zero,
# toward a flip of the binary weight, is attenuated (`physlearn.optim.Metaplastic`):
#
# $$u \leftarrow \big(1 - \tanh^2(m\, |W_h|)\big)\, u \quad \text{where } \mathrm{sign}(W_h)\,
#   u < 0.$$
#
# A synapse whose hidden weight grew large while it learned task 1 becomes hard to flip
# while the network learns task 2; steps away from zero are never attenuated, so the synapse
# can still consolidate. $m = 0$ is a plain binarised network trained by Adam on hidden
# weights. One optimizer (its hidden weights and Adam moments) carries over from task 1 to
# task 2.
#
# $m$ trades memory for plasticity: the larger it is, the more of task 1 survives and the
# less of task 2 is learnt; $M = 12$ was chosen from a scan of $m$ on one seed (set `M` to
# move along that trade-off).
#
# The default run is reduced (one seed, 300 training images per task, two epochs per task,
# $h = 256$; seconds). `META_FULL=1`: three seeds, the full training sets, five epochs per
# task, $h = 1024$ (a few minutes with `META_WORKERS=2`). `PHYSLEARN_FAST=1`: 150 images,
# $h = 128$, in this process.

# %%
def run(job):
    """Train task 1 then task 2 with one optimizer; accuracies on both after each task."""
    m, seed = job
    net = HopfieldNetwork([64, HIDDEN, 10], activation="hard-sigmoid", relaxation="async",
                          linear_output=True, gain=0.5, tol=1e-8, seed=seed)
    optimizer, data = pl.optim.Metaplastic(m=m, lr=LR), tasks()
    after = []
    with serial_blas():          # small matrices: one BLAS thread per process is fastest
        for task in data:
            train(net, pl.EP(beta=BETA, variant="centered"), task, epochs=EPOCHS,
                  optimizer=optimizer, batch_size=32, seed=seed, progress=False)
            after.append([accuracy(net, t) for t in data])
    return {"m": m, "seed": seed, "after": np.array(after)}   # after[task trained, task tested]


# %% [markdown]
# ## Task after task, without and with metaplasticity
#
# The table: test accuracy on each task (mean ± sd over the seeds) after training task 1 and
# after training task 2, for $m = 0$ and $m = M$. The verdict line compares, after task 2,
# how much more of task 1 metaplasticity kept (bar: at least 20 points) and how much of task
# 2 it cost (bar: at most 3 points). The reduced runs are too short to test these bars; the
# full run does.

# %%
start = time.time()
jobs = [(m, seed) for m in (0.0, M) for seed in SEEDS]
results = run_jobs(run, jobs, WORKERS)
mode = "full" if FULL else "reduced (META_FULL=1 for the comparison proper)"
print(f"metaplasticity, {mode}: 64-{HIDDEN}-10 binary weights, centered EP beta={BETA}, "
      f"Adam lr={LR}, {EPOCHS} epochs per task, seeds {SEEDS}")
table = {}
for m in (0.0, M):
    after = np.array([r["after"] for r in results if r["m"] == m])   # (seed, trained, tested)
    table[m] = after
    ddof = 1 if len(after) > 1 else 0
    for trained in (0, 1):
        cells = [f"task {tested + 1} {after[:, trained, tested].mean():.1f} ± "
                 f"{after[:, trained, tested].std(ddof=ddof):.1f} %" for tested in (0, 1)]
        print(f"  m = {m:4.1f}, after task {trained + 1}: {', '.join(cells)}")
kept = table[M][:, 1, 0].mean() - table[0.0][:, 1, 0].mean()
cost = table[0.0][:, 1, 1].mean() - table[M][:, 1, 1].mean()
print(f"task 1 after task 2: metaplasticity keeps {kept:+.1f} points (at least {KEEP}: "
      f"{kept >= KEEP}); task 2 costs {cost:+.1f} points (at most {COST}: {cost <= COST})")

# %% [markdown]
# The figure: the test accuracy on task 1 (left) and task 2 (right) after one and after two
# tasks trained (error bars ± sd over the seeds). Forgetting is the fall of the left panel's
# curves; metaplasticity should flatten it.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")
for ax, tested in zip(axes, (0, 1)):
    for m, style in ((0.0, "o--"), (M, "s-")):
        acc = table[m][:, :, tested]
        sd = acc.std(axis=0, ddof=1 if len(acc) > 1 else 0)
        ax.errorbar([1, 2], acc.mean(axis=0), yerr=sd, fmt=style, capsize=4,
                    label=f"m = {m:g}")
    ax.set(xticks=[1, 2], xticklabels=["task 1", "tasks 1, 2"], xlim=(0.7, 2.3),
           xlabel="tasks trained",
           title=f"test accuracy on task {tested + 1}")
    ax.legend()
axes[0].set_ylabel("test accuracy (%)")
fig.suptitle(f"Binary synapses, 64-{HIDDEN}-10, {len(SEEDS)} seed(s)")
fig.savefig(FIGURES / "metaplasticity.png", dpi=110)
print(f"done in {time.time() - start:.0f} s")
