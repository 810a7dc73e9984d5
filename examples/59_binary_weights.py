# %% [markdown]
# # Binary weights trained by equilibrium propagation (Laydevant et al. 2021)
#
# Hardware synapses with two states are cheap and robust; can a Hopfield network learn when
# every weight is ``±α``? Binary EP keeps the physics (relaxation, nudge, local contrast)
# and changes only the update: the EP estimate of ``∂L/∂W`` is low-pass filtered,
# ``m ← μ m + (1 − μ) g``, and a weight flips sign where the filter says flipping lowers the
# loss by more than a threshold, ``sign(W) m > τ`` (:class:`physlearn.optim.BinaryFlip`).
# The scale ``α`` of each weight matrix starts at the mean magnitude of the initial weights
# and is learnt by gradient descent (``scale_lr``); the biases stay full precision.
#
# We train the same network, `64 → 256 → 10` with the papers' hard sigmoid and a linear
# read-out, relaxed by odd/even sweeps, with centered EP (β = 0.25) on scikit-learn's digits:
# once with full-precision weights (SGD with momentum, lr 0.05), once with binary weights
# (filter μ = 0.9999, threshold τ = 10⁻⁵, biases lr 0.05, scales lr 10⁻⁴), and compare test
# accuracies. The paper: binary weights match full precision on MNIST.
#
# The default run is reduced (one seed, 400 training images, three epochs; seconds).
# `BINARY_FULL=1`: three seeds, the full training set (1437 images), ten epochs (a few
# minutes; `BINARY_WORKERS=2` trains in two processes). Dimensionless units.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.parallel import run_jobs
from physlearn.experiment.plots import figure_dir, seed_band
from physlearn.experiment.train import train
from physlearn.systems.blas import serial_blas
from physlearn.systems.hopfield import HopfieldNetwork

FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("BINARY_FULL") == "1"
WORKERS = int(os.environ.get("BINARY_WORKERS", 1))
SEEDS, EPOCHS, N_TRAIN = ((0, 1, 2), 10, None) if FULL else ((0,), 3, 400)
HIDDEN, BETA, LR = 256, 0.25, 0.05
TOLERANCE = 2.0                 # percentage points: binary weights against full precision

OPTIMIZERS = {
    "full precision": lambda: pl.optim.Momentum(lr=LR),
    "binary weights": lambda: pl.optim.BinaryFlip(threshold=1e-5, momentum=0.9999, lr=LR,
                                                  scale_lr=1e-4),
}


# %%
def digits():
    data = pl.datasets.digits(scaling="intensity")
    return Dataset(data.x_train[:N_TRAIN], data.y_train[:N_TRAIN], data.x_test, data.y_test,
                   task="classification", n_classes=10, name="digits")


def run(job):
    """Train one (weights, seed); return its test-accuracy curve and the final weights' values."""
    name, seed = job
    net = HopfieldNetwork([64, HIDDEN, 10], activation="hard-sigmoid", relaxation="async",
                          linear_output=True, gain=0.5, tol=1e-8, seed=seed)
    with serial_blas():          # small matrices: one BLAS thread per process is fastest
        history = train(net, pl.EP(beta=BETA, variant="centered"), digits(), epochs=EPOCHS,
                        optimizer=OPTIMIZERS[name](), batch_size=32, seed=seed,
                        progress=False)
    levels = {k: np.unique(np.abs(v)).size for k, v in net.params.items() if k.startswith("W")}
    return {"name": name, "seed": seed, "curve": 100 * np.asarray(history["test_accuracy"]),
            "levels": levels, "failed": int(history.failed_batches)}


# %%
if __name__ == "__main__":
    start = time.time()
    jobs = [(name, seed) for name in OPTIMIZERS for seed in SEEDS]
    results = run_jobs(run, jobs, WORKERS)
    mode = "full" if FULL else "reduced (BINARY_FULL=1 for the comparison proper)"
    print(f"binary EP on digits, {mode}: 64-{HIDDEN}-10, centered EP beta={BETA}, "
          f"{EPOCHS} epochs, seeds {SEEDS}")
    final = {}
    for name in OPTIMIZERS:
        rows = [r for r in results if r["name"] == name]
        acc = [r["curve"][-1] for r in rows]
        final[name] = acc
        sd = np.std(acc, ddof=1 if len(acc) > 1 else 0)
        print(f"  {name:15s} test accuracy {np.mean(acc):.1f} ± {sd:.1f} % "
              f"(seeds: {', '.join(f'{a:.1f}' for a in acc)}); distinct |W| values per "
              f"matrix {rows[0]['levels']}; failed batches {sum(r['failed'] for r in rows)}")
    gap = np.mean(final["full precision"]) - np.mean(final["binary weights"])
    print(f"binary weights within {TOLERANCE} points of full precision: {gap <= TOLERANCE} "
          f"(gap {gap:.1f} points)")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in OPTIMIZERS:
        seed_band(ax, [r["curve"] for r in results if r["name"] == name], label=name)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)",
           title=f"digits, 64-{HIDDEN}-10, centered EP ({len(SEEDS)} seed(s))")
    ax.legend()
    fig.tight_layout()
    fig.savefig(FIGURES / "binary_weights.png", dpi=110)
    print(f"done in {time.time() - start:.0f} s")
