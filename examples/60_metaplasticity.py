# %% [markdown]
# # Metaplastic binary synapses remember the first task (Laborieux et al. 2021)
#
# A network trained on one task, then on another, forgets the first: the second task's
# gradients overwrite the weights the first one needed. Metaplastic synapses resist. Each
# binary weight `W = α sign(W_h)` carries a hidden weight `W_h` that integrates the gradient
# estimates (Adam steps); a step that pushes `W_h` toward zero, toward a flip, is scaled by
# `1 − tanh²(m |W_h|)`, so a synapse that grew large while learning the first task becomes
# hard to flip (:class:`physlearn.optim.Metaplastic`). No task boundary is given to the
# network.
#
# Task 1 is scikit-learn's digits; task 2 the same digits with their 64 pixels permuted by a
# fixed random permutation (permuted digits, the paper's protocol on a small scale). A Hopfield
# network `64 → 1024 → 10` (hard sigmoid, linear read-out, odd/even sweeps) learns with
# centered EP (β = 0.25) and binary weights, task after task with one optimizer (Adam,
# lr 5·10⁻³), without metaplasticity (`m = 0`) and with it (`m = M`). After each task we
# measure the test accuracy on both tasks. `m` trades memory for plasticity: the larger it
# is, the more of task 1 survives and the less of task 2 is learnt; `M = 12` was chosen from
# a scan of `m` on one seed (set `M` below to move along that trade-off).
#
# The default run is reduced (one seed, 300 training images per task, two epochs per task,
# 256 hidden units; seconds). `META_FULL=1`: three seeds, the full training sets, five epochs
# per task, 1024 hidden units (a few minutes with `META_WORKERS=2`). Dimensionless units.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.parallel import run_jobs
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.systems.blas import serial_blas
from physlearn.systems.hopfield import HopfieldNetwork

FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("META_FULL") == "1"
WORKERS = int(os.environ.get("META_WORKERS", 1))
SEEDS, EPOCHS, N_TRAIN, HIDDEN = ((0, 1, 2), 5, None, 1024) if FULL else ((0,), 2, 300, 256)
BETA, LR, M = 0.25, 5e-3, 12.0
KEEP, COST = 20.0, 3.0     # points: task 1 kept at least this much better; task 2 within this


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
    return 100 * np.mean(np.argmax(net.predict(data.x_test), 1) == np.argmax(data.y_test, 1))


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


# %%
if __name__ == "__main__":
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

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, tested in zip(axes, (0, 1)):
        for m, style in ((0.0, "o--"), (M, "s-")):
            acc = table[m][:, :, tested]
            sd = acc.std(axis=0, ddof=1 if len(acc) > 1 else 0)
            ax.errorbar([1, 2], acc.mean(axis=0), yerr=sd, fmt=style, capsize=4,
                        label=f"m = {m:g}")
        ax.set(xticks=[1, 2], xlabel="tasks trained", title=f"test accuracy on task {tested + 1}")
        ax.legend()
    axes[0].set_ylabel("test accuracy (%)")
    fig.tight_layout()
    fig.savefig(FIGURES / "metaplasticity.png", dpi=110)
    print(f"done in {time.time() - start:.0f} s")
