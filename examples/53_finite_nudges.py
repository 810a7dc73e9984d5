# %% [markdown]
# # Finite nudges under noisy dynamics (Laborieux & Zenke 2022)
#
# Equilibrium propagation (EP) estimates a gradient from the difference of the local
# measurements $g(\beta) = \partial E/\partial\theta\,(s^\beta)$ at a free and a nudged
# equilibrium $s^\beta$ (a minimum of $E + \beta C$):
#
# $$\hat g_{\rm one\text{-}sided} = \frac{g(\beta) - g(0)}{\beta}
#   = \frac{dL}{d\theta} + O(\beta), \qquad
#   \hat g_{\rm centered} = \frac{g(\beta) - g(-\beta)}{2\beta}
#   = \frac{dL}{d\theta} + O(\beta^2).$$
#
# With a small nudge the difference is tiny, and any noise on the states is amplified by
# $1/\beta$; with a large one-sided nudge the estimate is biased. Holomorphic EP (Laborieux &
# Zenke 2022) nudges on a circle of $N$ complex $\beta_k = r e^{2\pi i k/N}$ and takes the
# Cauchy integral
#
# $$\hat g_N = \frac1N \sum_{k=0}^{N-1} \frac{g(\beta_k) - g(0)}{\beta_k}
#   = \frac{dL}{d\theta} + O(r^N),$$
#
# so $r$ can be large, as long as the circle stays inside the radius of convergence of the
# nudged fixed point $s^*(\beta)$, and the noise, divided by $r$ instead of a small $\beta$,
# stays small.
#
# **System.** A layered Hopfield network on digits (64 pixels in, 10 classes out; tanh
# units, tied weights: `VectorFieldNetwork(..., tied=True)`) with the energy
#
# $$E = \tfrac12\|s\|^2 - \sum_l \rho(s_l)^\top W_l\,\rho(s_{l-1}) - \sum_l b_l^\top
#   \rho(s_l), \qquad \rho = \tanh .$$
#
# The three estimators are `EP(variant="positive")` (one-sided), `EP(variant="centered")`
# and `HolomorphicEP(points=N)`. The weights are drawn at gain 0.8, small enough that every
# digit has a free fixed point (at gain 1 some seeds lose one).
#
# **Noise.** `RelaxationNoise`: every relaxation returns a thermal sample of the state
# around its fixed point, as overdamped Langevin dynamics $ds = -\partial_s(E + \beta C)\,dt
# + \sqrt{2T}\,dW$ at temperature $T$ would after a long time (drawn at harmonic order:
# $s = s^* + \delta$, $\delta \sim \mathcal N(0, T H^{-1})$ for the Hessian $H$).
#
# **Nudges.** "Large" is half the nudge radius the library measures for the network
# (`nudge_radius` on the training set, a first-order estimate of the radius of convergence of
# $s^*(\beta)$); "small" is a fiftieth of it. Dimensionless units.
#
# Fast mode (`PHYSLEARN_FAST=1`) uses a 64-16-10 network, two seeds, fewer samples and one
# epoch: the same steps, with rougher numbers. `FINITE_NUDGES_EPOCHS` and
# `FINITE_NUDGES_TRAIN` override the training epochs and samples.

# %%
import dataclasses
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits

import physlearn as pl
from physlearn.check import cosine
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.optim import SGD
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import FixedPointWarning
from physlearn.noise import RelaxationNoise
from physlearn.rules.ep import EP
from physlearn.rules.holomorphic import HolomorphicEP
from physlearn.systems.vector_field import VectorFieldNetwork

# the per-sample 42×42 eigen-decompositions of the noise run ~6× faster on one BLAS thread
threadpool_limits(1)
FAST = fast_mode()    # PHYSLEARN_FAST=1: smaller network, 2 seeds, fewer samples
FIGURES = figure_dir(globals().get("__file__"))
# training epochs and samples (0: all 1437); FINITE_NUDGES_* win over fast mode
EPOCHS = int(os.environ.get("FINITE_NUDGES_EPOCHS", 1 if FAST else 2))
N_TRAIN = int(os.environ.get("FINITE_NUDGES_TRAIN", 64 if FAST else 480))
SEEDS = (0, 1) if FAST else (0, 1, 2)   # seed of the network's weights and of the noise
LAYERS, GAIN, BATCH = [64, 16 if FAST else 32, 10], 0.8, 16 if FAST else 64
N_RADIUS = 240 if FAST else None    # samples where the radius is measured (None: all)
N_TEST = 64 if FAST else None       # test samples of the training runs (None: all)
START = time.time()

data = pl.datasets.digits()
cost = pl.SquaredError()
x, y = data.x_train[:BATCH], data.y_train[:BATCH]     # the fixed batch of the cosines


def flat(d):
    return np.concatenate([np.real(d[k]).ravel() for k in sorted(d)])


def network(seed):
    return VectorFieldNetwork(LAYERS, tied=True, gain=GAIN, seed=seed)


# %% [markdown]
# ## 1. The radius of the nudged fixed point, and the nudges
#
# The nudged fixed point $s^*(\beta)$ is an analytic function of $\beta$ as long as the
# Jacobian of the nudged force stays invertible; the nearest complex $\beta$ where it does
# not sets the radius of convergence. `nudge_radius` estimates it to first order for every
# sample and returns the smallest over the set; the circle of the Cauchy estimate must stay
# inside it. Each seed draws a different network, so each gets its own radius and nudges.

# %%
radius = {}
for seed in SEEDS:
    net = network(seed)
    net.equilibrium(np.vstack([data.x_train[:N_RADIUS],   # every free fixed point exists
                               data.x_test[:N_TEST]]))
    radius[seed] = net.nudge_radius(data.x_train[:N_RADIUS], data.y_train[:N_RADIUS], cost)
    print(f"seed {seed}: nudge radius (training set) {radius[seed]:.4f}, large |β| = "
          f"{0.5 * radius[seed]:.4f}, small β = {radius[seed] / 50:.5f}")

RULES = {   # name: (points, fraction of the radius)
    "one-sided, small β": (1, 1 / 50),
    "one-sided, large β": (1, 1 / 2),
    "centered (N=2), large β": (2, 1 / 2),
    "holomorphic N=4, large |β|": (4, 1 / 2),
    "holomorphic N=8, large |β|": (8, 1 / 2),
}


def rule(name, seed):
    """One-sided EP (1 point), centered EP (2) or holomorphic EP (N ≥ 3 on a circle)."""
    points, fraction = RULES[name]
    beta = fraction * radius[seed]
    if points < 3:
        return EP(beta=beta, variant="positive" if points == 1 else "centered")
    return HolomorphicEP(beta=beta, points=points)


def cosines(name, temperature, error=False):
    """Cosine with the exact (noiseless) gradient on the fixed batch, one per seed (and the
    relative error ``‖ĝ − g‖/‖g‖`` with ``error=True``)."""
    out, errors = [], []
    for seed in SEEDS:
        net = network(seed)
        noisy = RelaxationNoise(net, temperature=temperature, seed=seed)
        estimate = flat(rule(name, seed).gradient(noisy, x, y, cost))
        exact = flat(pl.exact_gradient(net, x, y, cost))
        out.append(cosine(estimate, exact))
        errors.append(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))
    return (np.array(out), np.array(errors)) if error else np.array(out)


# %% [markdown]
# ## 2. The temperature, fixed before the rules are compared
#
# The quality of an estimate $\hat g$ is its cosine with the exact, noiseless gradient $g$
# (implicit differentiation, `pl.exact_gradient`) on a fixed batch,
# $\cos = \hat g\cdot g/(\|\hat g\|\,\|g\|)$. The noise level is fixed by a rule chosen
# before any comparison: the smallest $T$ of the grid $10^{k/2}$ at which one-sided EP at
# small $\beta$ has a mean cosine below 0.5 (it is then dominated by noise). The noise on
# $\hat g$ grows like $\sqrt{T}/\beta$, so the cosine should fall as $T$ rises.

# %%
for k in range(-16, -5):
    T = 10.0 ** (k / 2)
    c = cosines("one-sided, small β", T)
    print(f"T = {T:.2e}: one-sided, small β: cosine {c.mean():.3f} ± {c.std():.3f}")
    if c.mean() < 0.5:
        break
TEMPERATURE = T
print(f"temperature of the experiment: T = {TEMPERATURE:.3g}")

# %% [markdown]
# ## 3. Gradient cosines (mean ± sd over the seeds), noiseless and at T
#
# Every estimator on the same batch, without noise (where only the bias of the finite nudge
# separates it from $g$: the relative error $\|\hat g - g\|/\|g\|$ measures it) and at the
# temperature just fixed.

# %%
table = {}
for name in RULES:
    c0, e0 = cosines(name, 0.0, error=True)
    table[name] = {"noiseless": c0, "error": e0, "noisy": cosines(name, TEMPERATURE)}

# %% [markdown]
# ## 4. Training under the same noise
#
# Each estimator trains a fresh network of every seed under the same `RelaxationNoise`
# (SGD, step 0.2, mini-batches of 32). A batch whose nudged fixed point does not exist would
# be skipped by `pl.train` and counted in `failed_batches`; here every batch must succeed
# (the assertion), so the large nudges stay inside the radius all through training.

# %%
train_data = data if N_TRAIN <= 0 else dataclasses.replace(
    data, x_train=data.x_train[:N_TRAIN], y_train=data.y_train[:N_TRAIN])
if N_TEST is not None:
    train_data = dataclasses.replace(train_data, x_test=data.x_test[:N_TEST],
                                     y_test=data.y_test[:N_TEST])
curves = {}
for name in RULES:
    curves[name] = []
    for seed in SEEDS:
        net = network(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FixedPointWarning)
            history = pl.train(RelaxationNoise(net, temperature=TEMPERATURE, seed=seed),
                               rule(name, seed), train_data, epochs=EPOCHS,
                               optimizer=SGD(lr=0.2), batch_size=32, seed=seed,
                               progress=False)
        print(f"{name}, seed {seed}: failed_batches = {history.failed_batches}, "
              f"test accuracy {history['test_accuracy'][-1]:.3f}")
        assert history.failed_batches == 0
        curves[name].append(history["test_accuracy"])

# %%
print(f"\ndigits, {LAYERS} tied, gain {GAIN}, RelaxationNoise T = {TEMPERATURE:.3g}, "
      f"batch of {BATCH} for the cosines; {EPOCHS} epochs on {len(train_data.x_train)} "
      f"samples (SGD lr 0.2, batch 32); {len(SEEDS)} seeds, mean ± sd")
print(f"{'rule':26s} {'rel. error, T = 0':>20s} {'cosine, T = 0':>16s} {'cosine at T':>16s} "
      f"{'test accuracy':>16s}")
for name in RULES:
    c0, e0, c = table[name]["noiseless"], table[name]["error"], table[name]["noisy"]
    acc = np.array([a[-1] for a in curves[name]])
    print(f"{name:26s} {e0.mean():10.2e} ± {e0.std():.1e} {c0.mean():9.4f} ± {c0.std():.4f} "
          f"{c.mean():9.4f} ± {c.std():.4f} {acc.mean():9.3f} ± {acc.std():.3f}")
cauchy, biased = table["holomorphic N=4, large |β|"]["noisy"], table["one-sided, large β"]["noisy"]
gap = cauchy - biased
print(f"paired gap cosine(holomorphic N=4) − cosine(one-sided, same |β|) at T: "
      f"{gap.mean():.4f} ± {gap.std():.4f} (per seed {np.round(gap, 4).tolist()})")
print(f"acceptance: holomorphic N=4 cosine {cauchy.mean():.4f} >= 0.99: {cauchy.mean() >= 0.99}; "
      f"gap {gap.mean():.4f} > seed spread of the one-sided cosine {biased.std():.4f}: "
      f"{gap.mean() > biased.std()}; one-sided small β cosine "
      f"{table['one-sided, small β']['noisy'].mean():.3f} < 1/√2 (noise-dominated): "
      f"{table['one-sided, small β']['noisy'].mean() < 2 ** -0.5}; paired: gap "
      f"{gap.mean():.4f} > its spread {gap.std():.4f}: {gap.mean() > gap.std()}")
e1, e4 = table["one-sided, large β"]["error"], table["holomorphic N=4, large |β|"]["error"]
print(f"noiseless bias per seed, rel. error one-sided large β {np.round(e1, 4).tolist()} vs "
      f"holomorphic N=4 {np.round(e4, 5).tolist()}")
print(f"total {time.time() - START:.0f} s")

# %% [markdown]
# Reading the table: without noise every estimate should be close to the gradient, with a
# relative error that falls with the order of the nudge (one-sided $O(\beta)$, centered
# $O(\beta^2)$, Cauchy $O(r^N)$). At $T$ one-sided EP at small $\beta$ has lost the gradient
# to the noise; the noise on the estimates at large $|\beta|$ is about 25 times smaller (the
# ratio of the nudges), and among them the one-sided estimate also carries its bias. The
# acceptance line compares the cosines as unpaired seed means and, because each seed's
# rules share the network, also paired. (In fast mode, with a smaller network and fewer
# seeds, the acceptance tests need not all pass.)
#
# The figure: left, the cosines (mean ± sd over the seeds) with and without noise; middle,
# $1 - \cos$ on a log scale, where the orders of the biases show; right, the test accuracy
# during training (mean ± sd over the seeds).

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
fig.suptitle(f"finite nudges on a noisy tied network ({len(SEEDS)} seed(s))")
names = list(RULES)
pos = np.arange(len(names))
ticks = [n.replace(", ", "\n").replace(" (", "\n(").replace(" N=", "\nN=") for n in names]
for offset, key, label in ((-0.18, "noiseless", "T = 0"),
                           (0.18, "noisy", f"T = {TEMPERATURE:.2g}")):
    m = [table[n][key].mean() for n in names]
    s = [table[n][key].std() for n in names]
    axes[0].bar(pos + offset, m, 0.36, yerr=s, label=label, capsize=3)
axes[0].set_xticks(pos, ticks, fontsize=7)
axes[0].set_ylabel("cosine with the exact gradient\n(dimensionless)")
axes[0].set_xlabel("estimator")
axes[0].set_ylim(0, 1.25)
axes[0].legend(fontsize=8, loc="upper center", ncol=2)
for offset, key, label in ((-0.18, "noiseless", "T = 0"),
                           (0.18, "noisy", f"T = {TEMPERATURE:.2g}")):
    one_minus = [np.maximum(1 - table[n][key], 1e-12) for n in names]
    axes[1].bar(pos + offset, [np.mean(v) for v in one_minus], 0.36, label=label)
    for i, v in enumerate(one_minus):
        axes[1].plot(np.full(len(v), pos[i] + offset), v, "k.", ms=4)
axes[1].set_yscale("log")
axes[1].set_xticks(pos, ticks, fontsize=7)
axes[1].set_ylabel("1 − cosine (dimensionless;\nbars: mean, dots: seeds)")
axes[1].set_xlabel("estimator")
axes[1].legend(fontsize=8)
for name in names:
    a = np.array(curves[name])
    epochs = np.arange(a.shape[1])
    axes[2].errorbar(epochs, a.mean(axis=0), yerr=a.std(axis=0), marker="o", capsize=3,
                     label=name)
axes[2].set_xlabel("epoch")
axes[2].xaxis.get_major_locator().set_params(integer=True)
axes[2].set_ylabel("test accuracy (fraction)")
axes[2].legend(fontsize=7)
fig.savefig(FIGURES / "finite_nudges.png", dpi=110)
