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
# Unit masses coupled by trainable springs: H = Σ p²/2 + ½ xᵀK x − fᵀx. The ground state is
# Gaussian (mean K⁻¹f, spread ½K^{−1/2}), so the whole theory is exact in closed form — and a
# truncated Fock basis in QuTiP must reproduce it. Units: m = ħ = 1, springs in units of k.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.experiment.plots import figure_dir
from physlearn.systems.quantum_oscillators import QuantumHarmonicNetwork

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## Fock-basis cross-check (two and three modes)

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
# The truncated basis converges exponentially in the number of levels to the Gaussian result.

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
ax.set(xlabel="Fock levels per mode", ylabel="|Fock − Gaussian| (dimensionless units)",
       title="two coupled oscillators:\nFock basis against the exact Gaussian state")
ax.legend()
fig.savefig(FIGURES / "quantum_oscillators_fock.png", dpi=130)
print("wrote", FIGURES / "quantum_oscillators_fock.png")

# %% [markdown]
# ## Quantum EP on a 6-mode network
# The local signal ½⟨(x_i − x_j)²⟩ contains the zero-point spread, but a nudge that pushes the
# outputs (a force) only shifts the mean, so the spread cancels in the EP contrast: for a loss
# of mean positions, quantum EP equals classical EP. With the feed-forward nudge the mean is
# exactly linear in β, so the centered estimate is exact at any β.

# %%
net = QuantumHarmonicNetwork.random(6, n_inputs=2, n_outputs=2, seed=1)
rng = np.random.default_rng(0)
x, y = rng.normal(size=(8, 2)), 0.3 * rng.normal(size=(8, 2))
print(pl.gradient_check(net, pl.EP(beta=0.5, variant="centered"), x, y))
print(pl.gradient_check(net, pl.EP(beta=0.01, variant="positive"), x, y))
hot = QuantumHarmonicNetwork.random(6, n_inputs=2, n_outputs=2, seed=1, temperature=2.0)
print("T = 2 vs T = 0 gradient difference:",
      pl.check.relative_error(pl.EP(0.1).gradient(hot, x, y), pl.EP(0.1).gradient(net, x, y)))
