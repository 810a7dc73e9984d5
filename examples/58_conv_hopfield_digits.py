# %% [markdown]
# # A convolutional Hopfield network learns digits by centered EP, and its filters
#
# Equilibrium propagation (EP) trains a physical system that relaxes to a minimum of an
# energy: the input is clamped, the units settle, and each parameter's update is the
# contrast of a local quantity between relaxations nudged toward and away from the target.
# Deep EP (Laborieux et al. 2021; Scellier et al. 2023) makes the energy convolutional,
# with weight sharing and pooling as in a convolutional neural network, so that the units
# feel a few learned local filters instead of one dense matrix.
#
# Here a small convolutional Hopfield network learns scikit-learn's 8×8 digits by centered
# EP; a dense network of comparable size is trained the same way for comparison, and the
# run draws the learned 3×3 filters. Dimensionless units throughout.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from threadpoolctl import threadpool_limits

import physlearn as pl
from physlearn.experiment.datasets import Dataset, digits
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.optim import Momentum
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.systems.hopfield import Conv, HopfieldNetwork

threadpool_limits(1)                 # small matrices: one BLAS thread is fastest
FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("CONV_FULL", "0") == "1"
FAST = fast_mode() and not FULL      # CONV_FULL=1 wins over PHYSLEARN_FAST=1
EPOCHS = int(os.environ.get("CONV_EPOCHS", 15 if FULL else 2 if FAST else 3))
SEEDS = (0, 1, 2) if FULL else (0,)
N_TRAIN = None if FULL else 200 if FAST else 600
BETA, LR, DECAY = 0.2, 0.05, 0.85
CHANNELS = 16 if FAST else 32        # feature maps of the convolution

# %% [markdown]
# ## The energy
#
# The 8×8 image is the clamped input $x$. A convolutional layer of 3×3 kernels $W_1$ (zero
# padding, stride 1) followed by 2×2 max pooling $P$ holds `channels × 4 × 4` units $s_1$;
# a linear output layer of 10 units $o$ reads them out. With the hard sigmoid
# $\rho(s) = \mathrm{clip}(s, 0, 1)$ the energy (`HopfieldNetwork`) is
#
# $$E = \tfrac12\|s\|^2 - \rho(s_1)^\top \big(P(W_1 \star x) + b_1\big)
#   - o^\top \big(W_2\, \rho(s_1) + b_2\big),$$
#
# with $s = (s_1, o)$. The feedback of the pooled units onto the convolution unpools onto the
# window maxima (the papers' inverse pooling). The state relaxes by the papers' odd/even
# sweeps (`relaxation="async"`): the two layers are updated in turn, each half-sweep
# minimising $E$ exactly over one layer, $s_l \leftarrow \mathrm{clip}(z_l, 0, 1)$ with
# $z_l$ the layer's drive, until the residual is below `tol`.
#
# **Centered EP.** The output is nudged by $\pm\beta$ times the squared error $C$: the state
# relaxes to the minima $s^{\pm\beta}$ of $E \pm \beta C$, and the gradient estimate is
#
# $$\hat g = \frac{1}{2\beta}\Big[\frac{\partial E}{\partial\theta}(s^{+\beta})
#   - \frac{\partial E}{\partial\theta}(s^{-\beta})\Big],$$
#
# whose bias falls as $\beta^2$ (the one-sided estimate's as $\beta$). For the kernels,
# $\partial E/\partial W_1$ is the correlation of the unpooled activities $\rho(s_1)$ with
# the input patches: a quantity local to each filter. Training: $\beta = 0.2$, SGD with
# momentum 0.9, learning rate 0.05 lowered by 15 % per epoch, batches of 32. The dense
# network for comparison is `64 → 128 → 10`, trained the same way.
#
# The default run is reduced (600 training images, 3 epochs, 1 seed; seconds).
# `CONV_FULL=1`: the full training set (1437 images), 15 epochs, 3 seeds; `CONV_EPOCHS` sets
# the epochs. `PHYSLEARN_FAST=1`: 200 images, 2 epochs, 16 kernels.

# %%
data = digits(scaling="intensity")         # pixels in [0, 1]
if N_TRAIN is not None:
    data = Dataset(data.x_train[:N_TRAIN], data.y_train[:N_TRAIN], data.x_test, data.y_test,
                   task="classification", n_classes=10, name="digits")


def network(kind, seed):
    layers = ([[1, 8, 8], Conv(CHANNELS, 3, padding=1, pool="max"), 10] if kind == "conv"
              else [64, 128, 10])
    return HopfieldNetwork(layers, activation="hard-sigmoid", relaxation="async",
                           linear_output=True, gain=0.5, tol=1e-8, seed=seed)


# %% [markdown]
# ## Training
#
# Each network and seed is trained by `physlearn.train`; a callback lowers the learning rate
# after every epoch. The run prints each final test accuracy, then per network the mean ± sd
# over the seeds against the bars of the full run (97 % for the convolutional network, 95 %
# for the dense one); the reduced runs are too short to reach them.

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
# Each 3×3 kernel of $W_1$ after training (first seed; blue negative, red positive, one
# colour scale for all), and the learning curves of both networks (test accuracy per epoch,
# epoch 0 the untrained network).

# %%
net, _ = runs["conv", SEEDS[0]]
W = net.params["W1"][:, 0]                              # (channels, 3, 3)
rows, per_row = 4, CHANNELS // 4
fig = plt.figure(figsize=(11, 4.4), layout="constrained")
grid = fig.add_gridspec(rows, per_row + 6)
scale = np.abs(W).max()
for c in range(CHANNELS):
    ax = fig.add_subplot(grid[c // per_row, c % per_row])
    image = ax.imshow(W[c], cmap="RdBu_r", vmin=-scale, vmax=scale)
    ax.set_xticks([])
    ax.set_yticks([])
bar = fig.colorbar(image, ax=fig.axes, location="left", shrink=0.8)
bar.set_label("kernel weight (dimensionless)")
ax = fig.add_subplot(grid[:, per_row + 1:])
for (kind, seed), (_, history) in runs.items():
    ax.plot(history["epoch"], history["test_accuracy"], color="C0" if kind == "conv" else "C1",
            alpha=0.8, marker="o", label=kind if seed == SEEDS[0] else None)
ax.set(xlabel="epoch", ylabel="test accuracy (fraction)", ylim=(0.0, 1.0),
       title="learning curves")
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend()
fig.suptitle("Convolutional Hopfield network, centered EP: learned 3×3 filters")
fig.savefig(FIGURES / "conv_hopfield_filters.png", dpi=110)
