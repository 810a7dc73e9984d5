# %% [markdown]
# # Thermal equilibrium propagation on a classical Ising model
#
# Spins $\sigma_i = \pm 1$ with couplings $J$, fields $h$ and input couplings $W$ have the
# energy
#
# $$E(\sigma) = -\sum_{i<j} J_{ij}\,\sigma_i\sigma_j - \sum_i h_i\,\sigma_i
#   - \sum_{l,i} x_l W_{li}\,\sigma_i$$
#
# (physlearn's sign convention; D-Wave's $+J$ convention is $J^{\rm DW} = -J$). At
# temperature $T$ the machine samples the Boltzmann distribution $p(\sigma) \propto
# e^{-E(\sigma)/T}$, and the *local* measurements are the thermal correlations
# $\langle\sigma_i\sigma_j\rangle$ and magnetisations $\langle\sigma_i\rangle$: since
# $\partial E/\partial J_{ij} = -\sigma_i\sigma_j$, they are the averages
# $\langle\partial E/\partial\theta\rangle$.
#
# The nudged free energy $F(\theta, \beta) = -T \log \sum_\sigma e^{-(E + \beta C)/T}$ has
# $\partial_\theta F = \langle\partial_\theta E\rangle_\beta$ and
# $\partial_\beta F = \langle C\rangle_\beta$, so equality of the mixed derivatives gives the
# thermal EP identity
#
# $$\frac{\partial}{\partial\beta}\,\langle\partial_\theta E\rangle_\beta\Big|_{\beta=0}
#   = \frac{\partial}{\partial\theta}\,\langle C\rangle :$$
#
# contrasting correlations between a free and a nudged run gives the gradient of the loss
# (Scellier & Bengio 2017; Laydevant et al. 2024).
#
# This script checks that identity against the exact thermal derivative (enumeration of all
# $2^n$ states) for two objectives, looks at Monte Carlo sampling and at the mean-field
# approximation, and trains a small Ising network on XOR. Dimensionless units: energies and
# $T$ in units of the maximal coupling, $k_B = 1$.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems.ising import IsingModel

FAST = fast_mode()               # PHYSLEARN_FAST=1: fewer nudges, sweeps and epochs
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
N_BETAS = 5 if FAST else 8                        # nudges of the bias curves (section 1)
SWEEPS = (100, 300) if FAST else (100, 300, 1000)  # Monte Carlo run lengths (section 3)
EPOCHS = 30 if FAST else 100                      # XOR training epochs (section 5)
T0 = time.perf_counter()

# %% [markdown]
# ## 1. Two objectives, two nudges
#
# * `objective="mean"`: the loss is the cost of the magnetisations,
#   $L = C(\langle\sigma_{\rm out}\rangle, y)$. The nudge is a field on the output spins,
#   $\beta \sum_k \varepsilon_k \sigma_k$ with $\varepsilon = \partial C/\partial\langle\sigma
#   \rangle$ read at the free state (as in quantum EP).
# * `objective="expected"`: the loss is the thermal average of the cost of each
#   configuration, $L = \langle C(\sigma_{\rm out}, y)\rangle$, and the nudge adds
#   $\beta\,C(\sigma_{\rm out}, y)$ to the energy of every configuration. For the squared
#   error and single spins this is Laydevant's $h_{\rm out} \leftarrow h_{\rm out} + \beta y$.
#
# Both exact references are fluctuation–dissipation covariances,
# $\partial\langle A\rangle/\partial\theta = -\tfrac1T\,\mathrm{Cov}(A, \partial E/\partial
# \theta)$, with $A = \sum_k \varepsilon_k\sigma_k$ resp. $A = C(\sigma_{\rm out}, y)$.
#
# The network: 2 inputs, 4 hidden and 2 output spins with lateral couplings inside each
# layer (6 spins, 64 states: exact enumeration is cheap), 8 random $\pm1$ inputs and targets.
# Theory predicts a bias $O(\beta)$ for the one-sided (positive) estimate and $O(\beta^2)$
# for the centered one; `pl.bias_order` fits the slope of the centered curve.

# %%
rng = np.random.default_rng(1)
x = rng.choice([-1.0, 1.0], size=(8, 2))
y = np.sign(rng.normal(size=(8, 2)))
betas = np.logspace(-4, -0.5, N_BETAS)
fig, ax = plt.subplots(figsize=(5.4, 4.0), layout="constrained")
for objective, style in (("mean", "-"), ("expected", "--")):
    model = IsingModel.layered([2, 4, 2], lateral=True, temperature=1.0, seed=0,
                               objective=objective)
    ref = pl.exact_gradient(model, x, y)
    for variant, marker in (("positive", "o"), ("centered", "s")):
        errors = [relative_error(pl.EP(beta=b, variant=variant).gradient(model, x, y), ref)
                  for b in betas]
        ax.loglog(betas, errors, style, marker=marker, label=f"{objective}, {variant}")
    fit = pl.bias_order(model, pl.EP(variant="centered"), x, y, (1e-2, 3e-3, 1e-3))
    print(f"objective={objective!r}: centered EP bias slope {fit.slope:.3f}, "
          f"rel. error at beta=1e-3: {fit.errors[-1]:.2e}")
ax.set(xlabel="nudge β (dimensionless)",
       ylabel="relative error vs exact\nthermal derivative (dimensionless)",
       title="thermal EP on a 6-spin Ising model (exact)")
ax.legend(fontsize=8, title="objective, EP variant", title_fontsize=8)
fig.savefig(FIGURES / "ising_ep_bias.png", dpi=120)

# %% [markdown]
# ## 2. The Boltzmann-machine limit
#
# With `objective="expected"` and $y = \pm1$, a large nudge forces the output spins to the
# target: the nudged ensemble becomes the clamped one, and the contrast
# $g(\beta) - g(0)$ of the measurements $g = \langle\partial E/\partial J\rangle =
# -\langle\sigma_i\sigma_j\rangle$ tends to the Boltzmann-machine (contrastive) rule
# $-(\langle\sigma_i\sigma_j\rangle_{\rm clamped} - \langle\sigma_i\sigma_j\rangle_{\rm free})$
# as $\beta$ grows. The printed distance should fall with $\beta$.

# %%
model = IsingModel.layered([2, 4, 2], lateral=True, temperature=1.0, seed=0,
                           objective="expected")
free = model.equilibrium(x)
boltzmann = -(model.equilibrium(x, pl.Clamp(y)).correlations - free.correlations)
for beta in (1.0, 4.0, 16.0):
    nudged = model.equilibrium(x, pl.Nudge(pl.SquaredError(), y, beta), start=free)
    contrast = -(nudged.correlations - free.correlations)
    print(f"beta={beta:5.1f}: |g(beta) - g(0) - Boltzmann rule| / |rule| = "
          f"{np.linalg.norm(contrast - boltzmann) / np.linalg.norm(boltzmann):.2e}")

# %% [markdown]
# ## 3. Monte Carlo
#
# An Ising machine does not enumerate, it samples. The `"monte-carlo"` solver runs
# heat-bath chains (single-spin flips accepted with probability $1/(1 + e^{\Delta E/T})$,
# 16 chains per sample) and reports standard errors from the spread of the chains. With an
# integer seed every run reuses the same random numbers (common random numbers), so the
# free and nudged runs of one EP estimate are correlated and their difference is not
# swamped by sampling noise of order $1/\sqrt{\text{sweeps}}$ divided by $\beta$.
#
# For each run length the script prints the largest deviation of the sampled
# magnetisations from the exact ones in units of their standard error (of order one if the
# error bars are honest), and the error of centered EP at $\beta = 0.3$. The figure compares
# the sampled estimates with the exact-enumeration one: at small $\beta$ the sampling noise
# dominates, at large $\beta$ the $O(\beta^2)$ bias.

# %%
exact = IsingModel.layered([2, 4, 2], lateral=True, temperature=1.0, seed=0)
ref = pl.exact_gradient(exact, x, y)
fig, ax = plt.subplots(figsize=(5.4, 4.0), layout="constrained")
for sweeps in SWEEPS:
    mc = IsingModel.layered([2, 4, 2], lateral=True, temperature=1.0, seed=0,
                            solver="monte-carlo", sweeps=sweeps)
    mc.params = exact.params
    errors = [relative_error(pl.EP(beta=b).gradient(mc, x, y), ref) for b in (0.1, 0.3, 1.0)]
    ax.loglog((0.1, 0.3, 1.0), errors, "o-", label=f"Monte Carlo, {sweeps} sweeps")
    state = mc.equilibrium(x)
    z = np.abs(state.s - exact.equilibrium(x).s) / state.stderr["s"]
    print(f"{sweeps:5d} sweeps: max |MC - exact| / stderr = {z.max():.2f}; "
          f"EP (beta=0.3) rel. error {errors[1]:.3f}")
ax.loglog((0.1, 0.3, 1.0), [relative_error(pl.EP(beta=b).gradient(exact, x, y), ref)
                            for b in (0.1, 0.3, 1.0)], "k--", label="exact enumeration")
ax.set(xlabel="nudge β (dimensionless)", ylabel="relative error (dimensionless)",
       title="centered EP from sampled correlations")
ax.legend(fontsize=8)
fig.savefig(FIGURES / "ising_monte_carlo.png", dpi=120)

# %% [markdown]
# ## 4. Mean field
#
# `solver="mean-field"` replaces the thermal averages by the self-consistent magnetisations
#
# $$m = \tanh\!\big((Jm + h + xW)/T\big),$$
#
# minima of the mean-field free energy. That is a deterministic equilibrium system: EP on it
# matches its own implicit-differentiation reference to the usual $O(\beta^2)$, but the
# gradient it follows is the mean-field one, which differs from the true thermal gradient.
# Correlations between spins, which mean field neglects, weaken as $T$ grows, so the
# second printed error should shrink with $T$.

# %%
for T in (1.0, 2.0, 4.0):
    mf = IsingModel.layered([2, 4, 2], lateral=True, temperature=T, seed=0, init_scale=0.3,
                            solver="mean-field")
    ep = relative_error(pl.EP(beta=1e-3).gradient(mf, x, y), pl.exact_gradient(mf, x, y))
    approx = relative_error(pl.exact_gradient(mf, x, y), mf.thermal_reference(x, y))
    print(f"T={T}: mean-field EP vs implicit diff. {ep:.1e}; "
          f"mean-field vs exact thermal gradient {approx:.3f}")

# %% [markdown]
# ## 5. Learning XOR
#
# A layered network $2$ inputs $\to 8$ hidden spins $\to 1$ output spin at $T = 0.5$,
# trained with centered EP ($\beta = 0.1$) and Adam; $J, W$ are clipped to $[-1, 1]$ after
# every step as on an Ising machine. The targets are $\pm1$ and the loss is
# $\tfrac12(\langle\sigma_{\rm out}\rangle - y)^2$. The same network in the mean-field
# approximation (deterministic magnetisations) is trained alongside. At this low temperature
# mean-field magnetisations saturate ($\tanh$ near $\pm1$, where its slope vanishes), so its
# gradient can die out in a local minimum with a pattern still wrong; the thermal
# fluctuations of the exact model keep the gradient alive. The printed outputs show which
# patterns each network gets right.

# %%
xor_x = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
xor_y = np.array([[-1.0], [1.0], [1.0], [-1.0]])
data = Dataset(xor_x, xor_y, xor_x, xor_y, task="regression", name="xor-pm1")
fig, ax = plt.subplots(figsize=(5.4, 4.0), layout="constrained")
for solver, kwargs in (("exact", {}), ("mean-field", {"init_scale": 0.3})):
    model = IsingModel.layered([2, 8, 1], temperature=0.5, seed=0, solver=solver, **kwargs)
    history = pl.train(model, pl.EP(beta=0.1), data, epochs=EPOCHS, batch_size=4,
                       optimizer=pl.optim.Adam(lr=0.05), progress=False)
    ax.semilogy(history["epoch"], history["train_loss"], label=f"solver={solver!r}")
    print(f"{solver}: loss {history['train_loss'][0]:.3f} -> {history['train_loss'][-1]:.2e}, "
          f"outputs {np.round(model.predict(xor_x).ravel(), 2)}")
ax.set(xlabel="epoch", ylabel="loss ½(⟨σ_out⟩ − y)² (dimensionless)",
       title="XOR on an Ising network (T = 0.5)")
ax.legend()
fig.savefig(FIGURES / "ising_xor_learning_curve.png", dpi=120)
print(f"total time {time.perf_counter() - T0:.1f} s")
