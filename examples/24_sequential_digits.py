# %% [markdown]
# # Sequential digits: training a Hamiltonian state-space model with its own echoes
#
# Each 8×8 digit of scikit-learn is read pixel by pixel as a 64-step scalar sequence $u_k$,
# and the network must name the digit after the last pixel: a task that needs memory over the
# whole sequence. The network is a *Hamiltonian state-space model* (HSSM,
# `systems/hssm.py`): a stack of two banks of 32 unit-mass linear oscillators,
#
# $$H^{(\ell)} = \tfrac12\|p^{(\ell)}\|^2 + \tfrac12\sum_i A^{(\ell)}_i \big(q^{(\ell)}_i\big)^2
#   - q^{(\ell)\top} B^{(\ell)} u^{(\ell)}_k ,$$
#
# integrated by leapfrog with time step $\delta = 1$. Block 0 is driven by the pixels; block 1
# by the positions of block 0 through a tanh coupling,
# $u^{(1)}_k = \tanh(W q^{(0)}_{k+1} + c)$, which makes the stack nonlinear. The initial
# stiffnesses $A_i$ are spread over $[0.01, 1]$, so the natural frequencies $\sqrt{A_i}$ span
# $[0.1, 1]$: slow oscillators remember early pixels. A linear readout of the top block's
# final positions, $o = Cq^{(1)}_K + d$, gives ten class scores, trained with the softmax
# cross-entropy.
#
# We train it twice from the same start:
#
# * with **RHEL** (ε = 10⁻³): per block a forward run and two echoes nudged by $\pm\varepsilon$;
#   the top block's echo also measures the gradient with respect to its inputs, which the
#   coupling's chain rule turns into the nudges of the echo of the block below (RHEL chaining,
#   Pourcel & Ernoult 2025, Thm. 3.3). Only each block's input sequence is stored, never a
#   trajectory of momenta;
# * with **BPTT**, the exact gradient, which stores the whole trajectory.
#
# RHEL's centered estimate differs from BPTT by $O(\varepsilon^2)$, so the two learning
# curves should be close. Dimensionless units: time in units of the inverse of the fastest
# initial natural frequency. Set `EPOCHS` lower for a quick look.

# %%
import dataclasses
import os

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

import physlearn as pl
from physlearn import datasets, optim
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.rules.echo import BPTT, RHEL
from physlearn.systems.hssm import HSSM

FAST = fast_mode()         # PHYSLEARN_FAST=1: a subset of the digits, 3 epochs (EPOCHS wins)
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
EPOCHS = int(os.environ.get("EPOCHS", 3 if FAST else 12))

data = datasets.digits(seed=0)
if FAST:                   # 256 training and 128 test digits instead of 1437 and 360
    data = dataclasses.replace(data, x_train=data.x_train[:256], y_train=data.y_train[:256],
                               x_test=data.x_test[:128], y_test=data.y_test[:128])

# %% [markdown]
# ## Training
#
# Same initial parameters (seed 0), same mini-batches (batch 32, seed 0), Adam at learning
# rate $5\times10^{-3}$; only the gradient estimator differs. The printed test accuracy is
# measured on held-out digits after the last epoch.

# %%
histories = {}
for name, rule in (("RHEL ε=1e-3", RHEL(eps=1e-3)), ("BPTT", BPTT())):
    model = HSSM(1, 32, 10, n_blocks=2, kind="linear", coupling="tanh", dt=1.0,
                 stiffness=(0.01, 1.0), seed=0)
    histories[name] = train(model, rule, data, epochs=EPOCHS, optimizer=optim.Adam(lr=5e-3),
                            batch_size=32, cost=pl.CrossEntropy(), seed=0)
    print(f"{name}: test accuracy {histories[name].final['test_accuracy']:.3f}")

# %% [markdown]
# ## Learning curves
#
# Left: the training loss (cross-entropy, in nats, on a log scale); right: the test
# accuracy. Epoch 0 is the untrained network. Where the two rules give the same gradient to
# many digits, their curves lie on top of each other.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
styles = {"RHEL ε=1e-3": ("o-", 5), "BPTT": ("s--", 3)}
for name, history in histories.items():
    style, size = styles[name]
    axes[0].semilogy(history["epoch"], history["train_loss"], style, ms=size, label=name)
    axes[1].plot(history["epoch"], history["test_accuracy"], style, ms=size, label=name)
axes[0].set(xlabel="epoch", ylabel="training cross-entropy (nats)", title="training loss")
axes[1].set(xlabel="epoch", ylabel="test accuracy (fraction correct)", title="test accuracy")
for ax in axes:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
fig.suptitle("HSSM on sequential 8×8 digits: RHEL against BPTT")
fig.savefig(FIGURES / "24_sequential_digits.png", dpi=120)
