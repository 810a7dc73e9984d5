# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # A network of quantum harmonic oscillators
#
# The simplest quantum system EP can train, and one where every claim can be checked in
# closed form. Unit masses at the nodes of a graph, coupled by trainable springs $k_e$ along
# the edges and pinned by trainable grounding springs $k^0_i$, driven by static input forces
# $f$ on some nodes:
#
# $$H = \sum_i \frac{\hat p_i^2}{2} + \tfrac12\sum_{e=(i,j)} k_e(\hat x_i - \hat x_j)^2
#   + \tfrac12\sum_i k^0_i\hat x_i^2 - f^\top\hat x
#   = \sum_i \frac{\hat p_i^2}{2} + \tfrac12\hat x^\top K\hat x - f^\top\hat x .$$
#
# $H$ is quadratic, so its ground state is Gaussian: mean position $\mu = K^{-1}f$ (the
# classical equilibrium) and position covariance $\Sigma = \tfrac12 K^{-1/2}$ (the zero-point
# spread). The outputs are mean positions $\langle\hat x_o\rangle$; the local learning signals
# are $\langle\partial H/\partial k_e\rangle = \tfrac12\langle(\hat x_i - \hat x_j)^2\rangle$
# and $\langle\partial H/\partial k^0_i\rangle = \tfrac12\langle\hat x_i^2\rangle$.
# Units: $m = \hbar = 1$, springs in units of a reference $k$, so frequencies are in units of
# $\sqrt{k/m}$, energies of $\hbar\sqrt{k/m}$ and lengths of $\sqrt{\hbar/(m\omega_0)}$.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems.quantum_oscillators import QuantumHarmonicNetwork

FAST = fast_mode()  # PHYSLEARN_FAST=1 changes nothing here: the whole example takes seconds
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## Fock-basis cross-check (two and three modes)
#
# The Gaussian formulas are the library's model; an independent check is brute force.
# `fock_measurements` writes $H$ in a truncated Fock basis ($n$ number states per mode,
# $\hat x = (a + a^\dagger)/\sqrt2$), finds its ground state numerically (QuTiP operators,
# dimension $n^{\text{modes}}$) and measures the outputs, the local signals and $E_0$. For a
# 2-mode chain with 24 levels and a 3-mode chain with 16 levels, driven by the force 0.3 at
# node 0, the cell prints the largest difference from the Gaussian state in each quantity.

# %%
for n_modes, levels in ((2, 24), (3, 16)):
    net = QuantumHarmonicNetwork.chain(n_modes, ground=np.linspace(0.8, 1.3, n_modes), seed=0)
    fock = net.fock_measurements([0.3], levels)
    state = net.equilibrium([[0.3]])
    print(f"{n_modes} modes, {levels} levels each: "
          f"|Δ<x_out>| = {abs(fock['outputs'] - net.outputs(state)[0]).max():.1e}, "
          f"|Δ<dH/dk>| = {abs(fock['spring'] - net.param_gradient(state)['spring'][0]).max():.1e}, "
          f"|ΔE0| = {abs(fock['energy'] - net.energy(state)[0]):.1e}")

# %% [markdown]
# A Gaussian state's weight in the $n$-th number state falls off at least geometrically
# (faster than any power), so the truncation error should fall exponentially in the number of
# levels, a straight line on a log axis, until it reaches double-precision round-off. The
# cell scans the levels of the 2-mode chain and draws the three errors (floored at
# $10^{-17}$ for the log axis).

# %%
net = QuantumHarmonicNetwork.chain(2, ground=[0.8, 1.3], seed=0)
state = net.equilibrium([[0.3]])
levels = np.arange(4, 27, 2)
errors = {"⟨x_out⟩": [], "⟨∂H/∂k⟩": [], "E₀": []}
for n in levels:
    fock = net.fock_measurements([0.3], int(n))
    errors["⟨x_out⟩"].append(abs(fock["outputs"] - net.outputs(state)[0]).max())
    errors["⟨∂H/∂k⟩"].append(abs(fock["spring"] - net.param_gradient(state)["spring"][0]).max())
    errors["E₀"].append(abs(fock["energy"] - net.energy(state)[0]))
fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
for name, err in errors.items():
    ax.semilogy(levels, np.maximum(err, 1e-17), marker="o", ms=3, label=name)
ax.set(xlabel="Fock levels per mode", ylabel="|Fock − Gaussian| (dimensionless)",
       title="two coupled oscillators:\nFock basis against the exact Gaussian state")
ax.legend()
fig.savefig(FIGURES / "quantum_oscillators_fock.png", dpi=130)
print("wrote", FIGURES / "quantum_oscillators_fock.png")

# %% [markdown]
# ## Quantum EP on a 6-mode network
#
# The nudge is a force on the outputs, $H \to H + \sum_k \nu_k\hat x_{o_k}$ with
# $\nu = \beta\,\partial C/\partial\langle\hat x_o\rangle$ taken at the free outputs (the
# feed-forward protocol of Wanjura & Marquardt). A force shifts the mean,
# $\mu_\beta = K^{-1}(f - P^\top\nu)$, but not the covariance, which depends on $K$ alone.
# So in the local signal
#
# $$\tfrac12\langle(\hat x_i - \hat x_j)^2\rangle = \tfrac12(\mu_i - \mu_j)^2
#   + \tfrac12(\Sigma_{ii} + \Sigma_{jj} - 2\Sigma_{ij})$$
#
# the zero-point spread cancels in the EP contrast: for a loss of mean positions, quantum EP
# equals classical EP on the same springs. And because $\nu$ is fixed by the free state, the
# mean is exactly linear in β and the local signal exactly quadratic, so the centered
# difference is exact at *any* β, while the one-sided one keeps an $O(\beta)$ bias. At
# temperature $T$ the covariance becomes $\tfrac12 K^{-1/2}\coth(K^{1/2}/2T)$, still
# independent of the force, so the EP gradient should not depend on $T$ at all. On a random
# 6-mode network (a ring plus random chords, 2 inputs, 2 outputs) with 8 random samples the
# cell prints gradient checks of centered EP at $\beta = 0.5$ and positive EP at
# $\beta = 0.01$, and the difference between the EP gradients at $T = 2$ and $T = 0$.

# %%
net = QuantumHarmonicNetwork.random(6, n_inputs=2, n_outputs=2, seed=1)
rng = np.random.default_rng(0)
x, y = rng.normal(size=(8, 2)), 0.3 * rng.normal(size=(8, 2))
print(pl.gradient_check(net, pl.EP(beta=0.5, variant="centered"), x, y))
print(pl.gradient_check(net, pl.EP(beta=0.01, variant="positive"), x, y))
hot = QuantumHarmonicNetwork.random(6, n_inputs=2, n_outputs=2, seed=1, temperature=2.0)
print("T = 2 vs T = 0 gradient difference:",
      pl.check.relative_error(pl.EP(0.1).gradient(hot, x, y), pl.EP(0.1).gradient(net, x, y)))
