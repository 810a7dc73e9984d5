# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Coupled learning, contrastive learning and EP
#
# Equilibrium propagation is one of several *contrastive* rules for physical networks. Each
# relaxes the network twice and contrasts the same local measurement, the per-resistor
# $\partial E/\partial g_e = \tfrac12\Delta V_e^2$; they differ in how the second run pushes
# the outputs:
#
# | rule | second run | divisor |
# | --- | --- | --- |
# | EP (centered) | soft nudges $\pm\beta$: currents $\pm\beta(y - o)$ injected | $2\beta$ |
# | coupled learning (CpL) | outputs **clamped** at $o_0 + \eta\,(y - o_0)$ | $\eta$ |
# | contrastive learning (CL) | outputs clamped at $y$ | 1 |
#
# A clamp holds the output voltages with extra sources (Stern et al. 2021), which is easy to
# build; a nudge injects a current that depends on the output, which needs feedback. The
# price of the clamp is the direction of the update. The derivations in
# `physlearn.derivations.coupled` prove, for a linear network and the squared error:
#
# * CpL with $\eta = 1$ is CL (the clamp lands on the target);
# * a clamp at $c$ is a soft nudge in disguise, with $\beta = (c - o_0)/(R\,(y - c))$, where
#   $R$ is the output's response (Thévenin resistance);
# * so as $\eta \to 0$, CpL $\to (1/R)\,dL/d\theta$ for one output: the gradient direction,
#   rescaled. With several outputs $R$ is a matrix and the limit is the gradient of
#   $\tfrac12 (o-y)^\top R^{-1} (o-y)$ with $R$ held fixed: a *different direction*. EP alone
#   converges to the gradient of the loss.
#
# Below: the cosine with the exact gradient against $\eta$ or $\beta$, the $1/R$ rescaling for
# one output, and a short training run with plain gradient steps. Units are dimensionless
# (voltages in units of the input scale, conductances in units of a reference conductance).

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn import datasets
from physlearn.check import cosine
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.optim import SGD
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.systems import ResistorNetwork

FAST = fast_mode()  # PHYSLEARN_FAST=1: 9 strengths instead of 17, 3 epochs instead of 15
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## A regression task a passive network can realise
#
# `datasets.linear_regression` draws an affine map $y = A x + b$ with gain below one: node
# voltages of a passive network are weighted averages of the applied ones, and with the
# inputs applied differentially ($\pm x_k$) and a 1 V bias source a row of $A$ is realisable
# when $\|A_k\|_1 + |b_k| \le 1$. The network is a 3-12-2 layered resistor network; the
# reference `pl.exact_gradient` is the exact $dL/dg$ of the batch-mean squared error
# $L = \langle\tfrac12\|o - y\|^2\rangle$ over the training set.

# %%
data = datasets.linear_regression(n_samples=200, n_inputs=3, n_outputs=2, seed=0)
x, y = data.x_train, data.y_train
net = ResistorNetwork.layered([3, 12, 2], seed=0)
exact = pl.exact_gradient(net, x, y)["conductance"]
print(f"{len(net.edges)} conductances, {len(x)} training samples, "
      f"loss {pl.loss(net, x, y):.4f}")

# %% [markdown]
# ## Cosine with the exact gradient against the nudge or clamp strength
#
# Each rule comes in one-sided ("positive": free run against a push toward the target) and
# centered (push toward against push away, $\pm\beta$ or $\pm\eta$) form. For every strength
# the cell computes the estimate on the whole training set and its cosine with the exact
# gradient; `compare` also returns the ratio of norms, used below. The table prints the
# cosines at every fourth strength, and the first line the cosines of CL and of CpL at
# $\eta = 1$, which the first bullet above says are the same rule.

# %%
# PHYSLEARN_FAST=1: a coarser grid over the same four decades
strengths = np.logspace(-4, 0, 9 if FAST else 17)
rules = {
    "EP positive": lambda s: pl.EP(beta=s, variant="positive"),
    "EP centered": lambda s: pl.EP(beta=s, variant="centered"),
    "CpL positive": lambda s: pl.CoupledLearning(eta=s, variant="positive"),
    "CpL centered": lambda s: pl.CoupledLearning(eta=s, variant="centered"),
}


def compare(rule, system=net, reference=exact):
    """(cosine, norm ratio) of a rule's gradient against the reference, on the training set."""
    est = rule.gradient(system, x, y)["conductance"]
    return cosine(est, reference), np.linalg.norm(est) / np.linalg.norm(reference)


sweep = {name: np.array([compare(make(s)) for s in strengths]) for name, make in rules.items()}
cl_cos, cl_ratio = compare(pl.ContrastiveLearning())
cpl_one_cos, _ = compare(pl.CoupledLearning(eta=1.0))
print(f"contrastive learning: cosine {cl_cos:.6f};  CpL(eta=1): cosine {cpl_one_cos:.6f}")
print(f"{'strength':>10}" + "".join(f"{n:>15}" for n in sweep))
for i in range(0, len(strengths), (len(strengths) - 1) // 4):   # one row per decade
    print(f"{strengths[i]:>10.1e}" + "".join(f"{sweep[n][i, 0]:>15.8f}" for n in sweep))

# %% [markdown]
# Reading the table: $1 - \cos$ is quadratic in the relative error (only the error
# perpendicular to the gradient tilts the estimate, $1 - \cos\phi \approx \phi^2/2$), so it
# falls as $\beta^2$ for one-sided EP and as $\beta^4$ for centered EP, down to round-off.
# Coupled learning levels off at a fixed angle to the gradient: the $R^{-1}$ weighting of the
# two outputs. Centered CpL does not depend on $\eta$ at all: in a linear network the state
# is affine in the clamp value, $\tfrac12\Delta V^2$ is quadratic in it, and a centered
# difference of a quadratic is exact. At $\eta = 1$ positive CpL and contrastive learning
# coincide.

# %% [markdown]
# ## One output: coupled learning is the gradient divided by $R$
#
# Solve the nudged output $o_\beta = (o_0 + \beta R y)/(1 + \beta R)$ for the $\beta$ that
# lands on the clamp $c = o_0 + \eta(y - o_0)$: $\beta(\eta) = \eta/(R(1 - \eta))$. The CpL
# estimate is then an EP difference quotient taken over $\eta$ instead of $\beta$, so
# $\lim_{\eta\to0}\mathrm{CpL} = \beta'(0)\,dL/d\theta = (1/R)\,dL/d\theta$. With a single
# output $R$ is a number that depends on the conductances but not on the input, so the limit
# is the exact gradient times $1/R$ for the whole batch. The cell builds a 3-12-1 network,
# prints $R$ and compares the CpL estimate at $\eta = 10^{-5}$ with the gradient, then
# sweeps $\eta$ for the norm ratio (plotted on the right below).

# %%
net1 = ResistorNetwork.layered([3, 12, 1], seed=0)
y1 = y[:, :1]
exact1 = pl.exact_gradient(net1, x, y1)["conductance"]
R1 = net1.response_matrix()[0, 0]
est1 = pl.CoupledLearning(eta=1e-5).gradient(net1, x, y1)["conductance"]
print(f"R = {R1:.5f}, 1/R = {1 / R1:.5f}")
print(f"CpL(eta=1e-5): cosine {cosine(est1, exact1):.10f}, "
      f"|CpL| / |grad| = {np.linalg.norm(est1) / np.linalg.norm(exact1):.5f}")
ratio1 = np.array([np.linalg.norm(pl.CoupledLearning(eta=s).gradient(net1, x, y1)["conductance"])
                   / np.linalg.norm(exact1) for s in strengths])

# %% [markdown]
# Left: the misalignment $1 - \cos$ with the gradient on log–log axes (floored at $10^{-16}$,
# double-precision round-off), where EP's power laws are straight lines and CpL's plateau is
# the fixed angle. Right: the norm ratio of one-output CpL against the predicted $1/R$; it
# departs from $1/R$ as $\eta$ approaches 1, where $\beta(\eta)$ diverges.

# %%
fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
for name, values in sweep.items():
    ax.loglog(strengths, np.maximum(1 - values[:, 0], 1e-16), "o-", ms=3, label=name)
ax.loglog([1.0], [1 - cl_cos], "k*", ms=10, label="contrastive (= CpL, η=1)")
ax.set(xlabel="nudge β (EP) or clamp η (CpL) (dimensionless)",
       ylabel="1 − cos(estimate, exact gradient) (dimensionless)",
       title="2 outputs: only EP converges to the gradient")
ax.legend(fontsize=8)
bx.semilogx(strengths, ratio1, "o-", ms=3, color="C2", label="|CpL| / |exact gradient|")
bx.axhline(1 / R1, color="grey", ls="--", label="1/R")
bx.axhline(1, color="k", lw=0.5)
bx.set(xlabel="clamp η (dimensionless)", ylabel="norm ratio |CpL| / |dL/dg| (dimensionless)",
       title="1 output: CpL → (1/R) dL/dg")
bx.legend(fontsize=8)
path = FIGURES / "02_cosine_vs_strength.png"
fig.savefig(path, dpi=120)
print("wrote", path)

# %% [markdown]
# ## Training with plain gradient steps
#
# Does the angle matter in practice? Each rule trains a fresh copy of the 3-12-2 network with
# plain SGD, $g \leftarrow g - \text{lr}\cdot\hat g$ (conductances floored at a small positive
# value), on mini-batches of 10 with the same learning rate and the same shuffling seed. CpL
# and CL take larger steps than EP at the same learning rate (their estimate is about $1/R$
# times the gradient), so EP is also run with its learning rate multiplied by
# $\kappa = |\mathrm{CpL}|/|\nabla L|$ measured at initialisation (at $\eta = 0.1$): a fair
# comparison of directions rather than step sizes. The cell prints each run's test loss
# before and after training.

# %%
kappa = sweep["CpL positive"][np.searchsorted(strengths, 0.1), 1]
lr, epochs = 0.3, 3 if FAST else 15
runs = {
    "EP centered β=0.1": (pl.EP(beta=0.1), lr),
    f"EP centered β=0.1, lr×{kappa:.1f}": (pl.EP(beta=0.1), lr * kappa),
    "CpL positive η=0.1": (pl.CoupledLearning(eta=0.1), lr),
    "contrastive": (pl.ContrastiveLearning(), lr),
}
histories = {}
for name, (rule, step) in runs.items():
    model = ResistorNetwork.layered([3, 12, 2], seed=0)
    histories[name] = train(model, rule, data, epochs=epochs, optimizer=SGD(lr=step),
                            batch_size=10, seed=0, progress=False)
    print(f"{name:32s} test loss: {histories[name]['test_loss'][0]:.2e} -> "
          f"{histories[name]['test_loss'][-1]:.2e}")

# %% [markdown]
# The learning curves, on a log axis where a constant rate of improvement is a straight line
# (epoch 0 is the untrained network). The two EP curves differ only in step size; the
# rescaled EP curve against the CpL curve shows what CpL's angle to the gradient costs on
# this task.

# %%
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, history in histories.items():
    ax.semilogy(history["epoch"], history["test_loss"], "o-", ms=3, label=name)
ax.set(xlabel="epoch", ylabel="test loss, squared error (dimensionless)",
       title=f"3-12-2 network, plain gradient steps, lr = {lr}")
ax.legend(fontsize=8)
path = FIGURES / "02_training.png"
fig.savefig(path, dpi=120)
print("wrote", path)
