# %% [markdown]
# # A convolutional Hopfield network learns digits by centered EP, and its filters
#
# A deep convolutional Hopfield network (Laborieux et al. 2021; Scellier et al. 2023): the
# 8×8 digit image is the clamped input ``x``; a convolutional layer of 32 3×3 kernels with
# zero padding and 2×2 max pooling holds ``32 × 4 × 4`` hard-sigmoid units; a linear
# output layer of 10 units reads them out. The energy
#
#     E = ½‖s‖² − ρ(s₁)ᵀ (P(W₁ ⋆ x) + b₁) − oᵀ (W₂ ρ(s₁) + b₂)
#
# (``P`` the max pooling; its feedback unpools onto the window maxima, the papers' inverse
# pooling)
# is relaxed by the papers' odd/even sweeps (``relaxation="async"``: each half-sweep
# minimises ``E`` exactly over one parity of layers) to a residual below ``tol``, and
# centered EP (nudges ``±β`` on the squared error) estimates the gradient from three such
# relaxations; SGD with momentum 0.9, its rate lowered by 15 % per epoch. A dense network
# (64 → 128 → 10) is trained the same way for comparison.
# The run prints the test accuracies and draws the learned filters ``W₁``.
#
# The default run is reduced (600 training samples, 3 epochs, 1 seed; under a minute).
# ``CONV_FULL=1``: the full training set, 15 epochs, 3 seeds. Dimensionless units.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits

import physlearn as pl
from physlearn.experiment.datasets import Dataset, digits
from physlearn.experiment.optim import Momentum
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.systems.hopfield import Conv, HopfieldNetwork

threadpool_limits(1)                 # small matrices: one BLAS thread is fastest
FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("CONV_FULL", "0") == "1"
EPOCHS = int(os.environ.get("CONV_EPOCHS", 15 if FULL else 3))
SEEDS = (0, 1, 2) if FULL else (0,)
N_TRAIN = None if FULL else 600
BETA, LR, DECAY, CHANNELS = 0.2, 0.05, 0.85, 32

data = digits(scaling="intensity")         # pixels in [0, 1]
if N_TRAIN is not None:
    data = Dataset(data.x_train[:N_TRAIN], data.y_train[:N_TRAIN], data.x_test, data.y_test,
                   task="classification", n_classes=10, name="digits")


def network(kind, seed):
    layers = ([[1, 8, 8], Conv(CHANNELS, 3, padding=1, pool="max"), 10] if kind == "conv"
              else [64, 128, 10])
    return HopfieldNetwork(layers, activation="hard-sigmoid", relaxation="async",
                           linear_output=True, gain=0.5, tol=1e-8, seed=seed)


# %%
runs = {}
for kind in ("conv", "dense"):
    for seed in SEEDS:
        net, optimizer = network(kind, seed), Momentum(lr=LR)

        def schedule(epoch, record, system, optimizer=optimizer):
            optimizer.lr = LR * DECAY ** epoch         # the rate of epoch e + 1

        start = time.perf_counter()
        history = train(net, pl.EP(beta=BETA, variant="centered"), data, epochs=EPOCHS,
                        optimizer=optimizer, batch_size=32, seed=seed, progress=True,
                        callback=schedule)
        runs[kind, seed] = (net, history)
        print(f"{kind} seed {seed}: test accuracy {history['test_accuracy'][-1]:.4f} after "
              f"{EPOCHS} epochs ({time.perf_counter() - start:.0f} s, "
              f"{history.failed_batches} failed batches)")

for kind, target in (("conv", 0.97), ("dense", 0.95)):
    acc = np.array([runs[kind, seed][1]["test_accuracy"][-1] for seed in SEEDS])
    sd = acc.std(ddof=1) if len(acc) > 1 else 0.0
    print(f"{kind}: test accuracy {acc.mean():.4f} ± {sd:.4f} (min {acc.min():.4f}) "
          f"over {len(SEEDS)} seed(s); >= {target:.0%}: {bool(acc.min() >= target)}")

# %% [markdown]
# ## The learned filters
#
# Each 3×3 kernel of ``W₁`` (blue negative, red positive), and the learning curves.

# %%
net, _ = runs["conv", SEEDS[0]]
W = net.params["W1"][:, 0]                              # (channels, 3, 3)
rows, per_row = 4, CHANNELS // 4
fig = plt.figure(figsize=(11, 4.2))
grid = fig.add_gridspec(rows, per_row + 5)
scale = np.abs(W).max()
for c in range(CHANNELS):
    ax = fig.add_subplot(grid[c // per_row, c % per_row])
    ax.imshow(W[c], cmap="RdBu_r", vmin=-scale, vmax=scale)
    ax.set_xticks([])
    ax.set_yticks([])
ax = fig.add_subplot(grid[:, per_row + 1:])
for (kind, seed), (_, history) in runs.items():
    ax.plot(history["epoch"], history["test_accuracy"], color="C0" if kind == "conv" else "C1",
            alpha=0.8, label=kind if seed == SEEDS[0] else None)
ax.set(xlabel="epoch", ylabel="test accuracy", ylim=(0.5, 1.0))
ax.legend()
fig.suptitle("Convolutional Hopfield network, centered EP: learned 3×3 filters")
fig.subplots_adjust(bottom=0.16, top=0.86)
fig.savefig(FIGURES / "conv_hopfield_filters.png", dpi=110)
