# %% [markdown]
# # Thermal equilibrium propagation on a classical Ising model
#
# Spins ``σ = ±1`` with couplings ``J``, fields ``h`` and input couplings ``W`` have the energy
# ``E = −Σ J_ij σ_iσ_j − Σ h_i σ_i − Σ x_l W_li σ_i`` (physlearn's sign convention; D-Wave's
# ``+J`` convention is ``J^DW = −J``). At temperature ``T`` the machine samples the Boltzmann
# distribution, and the *local* measurements are the thermal correlations ``⟨σ_iσ_j⟩`` and
# magnetisations ``⟨σ_i⟩``. The free energy ``F(θ, β) = −T log Σ e^{−(E + βC)/T}`` has
# ``∂_θF = ⟨∂_θE⟩_β`` and ``∂_βF = ⟨C⟩_β``, so the mixed derivatives give the thermal EP
# identity ``∂_β⟨∂_θE⟩_β = ∂_θ⟨C⟩``: contrasting correlations between a free and a nudged run
# gives the gradient (Scellier & Bengio 2017; Laydevant et al. 2024).
#
# This script checks that identity against the exact thermal derivative (enumeration of all
# 2ⁿ states) for both objectives, looks at Monte Carlo sampling and at the mean-field
# approximation, and trains a small Ising network on XOR. Dimensionless units: energies and
# ``T`` in units of the maximal coupling, ``k_B = 1``.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.plots import figure_dir
from physlearn.systems.ising import IsingModel

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
T0 = time.perf_counter()

# %% [markdown]
# ## 1. Two objectives, two nudges
#
# * ``objective="mean"``: the loss is the cost of the magnetisations, ``L = C(⟨σ_out⟩, y)``.
#   The nudge is a field on the output spins, ``β Σ_k ε_k σ_k`` with ``ε = ∂C/∂⟨σ⟩`` read at the
#   free state (as in quantum EP).
# * ``objective="expected"``: the loss is the thermal average of the cost of each
#   configuration, ``L = ⟨C(σ_out, y)⟩``, and the nudge adds ``β C(σ_out, y)`` to the energy of
#   every configuration. For the squared error and single spins this is Laydevant's
#   ``h_out ← h_out + βy``.
#
# Both exact references are fluctuation–dissipation covariances,
# ``∂⟨A⟩/∂θ = −(1/T) Cov(A, ∂E/∂θ)``, with ``A = Σ ε_k σ_k`` resp. ``A = C(σ_out, y)``.

# %%
rng = np.random.default_rng(1)
x = rng.choice([-1.0, 1.0], size=(8, 2))
y = np.sign(rng.normal(size=(8, 2)))
betas = np.logspace(-4, -0.5, 8)
fig, ax = plt.subplots(figsize=(5.2, 3.8))
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
ax.set(xlabel="nudge β", ylabel="relative error vs exact thermal derivative",
       title="thermal EP on a 6-spin Ising model (exact)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "ising_ep_bias.png", dpi=120)

# %% [markdown]
# ## 2. The Boltzmann-machine limit
#
# With ``objective="expected"`` and ``y = ±1``, a large nudge forces the output spins to the
# target: the nudged ensemble becomes the clamped one, and ``g(β) − g(0)`` tends to the
# Boltzmann-machine (contrastive) rule ``−(⟨σ_iσ_j⟩_clamped − ⟨σ_iσ_j⟩_free)``.

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
# An Ising machine does not enumerate, it samples. The ``"monte-carlo"`` solver runs
# heat-bath chains (16 per sample) and reports standard errors from the spread of the chains.
# With an integer seed every run reuses the same random numbers (common random numbers), so the
# free and nudged runs of one EP estimate are correlated.

# %%
exact = IsingModel.layered([2, 4, 2], lateral=True, temperature=1.0, seed=0)
ref = pl.exact_gradient(exact, x, y)
fig, ax = plt.subplots(figsize=(5.2, 3.8))
for sweeps in (100, 300, 1000):
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
ax.set(xlabel="nudge β", ylabel="relative error", title="centered EP from sampled correlations")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "ising_monte_carlo.png", dpi=120)

# %% [markdown]
# ## 4. Mean field
#
# ``solver="mean-field"`` replaces the thermal averages by the self-consistent magnetisations
# ``m = tanh((Jm + h + xW)/T)``, minima of the mean-field free energy. That is a deterministic
# equilibrium system: EP on it matches its own implicit-differentiation reference to the usual
# O(β²), but the gradient it follows is the mean-field one, which differs from the true thermal
# gradient by an amount that shrinks as T grows.

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
# A layered network ``2 inputs → 8 hidden spins → 1 output spin`` at ``T = 0.5``, trained with
# centered EP (β = 0.1) and Adam; ``J, W`` are clipped to [−1, 1] after every step as on an
# Ising machine. The targets are ``±1``. The same network in the mean-field approximation
# (deterministic magnetisations) is trained alongside: at this low temperature its
# magnetisations saturate, and from this initialisation it gets stuck in a local minimum
# (loss 0.5, one pattern wrong) — the thermal fluctuations of the exact model keep the
# gradient alive.

# %%
xor_x = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
xor_y = np.array([[-1.0], [1.0], [1.0], [-1.0]])
data = Dataset(xor_x, xor_y, xor_x, xor_y, task="regression", name="xor-pm1")
fig, ax = plt.subplots(figsize=(5.2, 3.8))
for solver, kwargs in (("exact", {}), ("mean-field", {"init_scale": 0.3})):
    model = IsingModel.layered([2, 8, 1], temperature=0.5, seed=0, solver=solver, **kwargs)
    history = pl.train(model, pl.EP(beta=0.1), data, epochs=100, batch_size=4,
                       optimizer=pl.optim.Adam(lr=0.05), progress=False)
    ax.semilogy(history["epoch"], history["train_loss"], label=f"solver={solver!r}")
    print(f"{solver}: loss {history['train_loss'][0]:.3f} -> {history['train_loss'][-1]:.2e}, "
          f"outputs {np.round(model.predict(xor_x).ravel(), 2)}")
ax.set(xlabel="epoch", ylabel="½(⟨σ_out⟩ − y)²", title="XOR on an Ising network (T = 0.5)")
ax.legend()
fig.tight_layout()
fig.savefig(FIGURES / "ising_xor_learning_curve.png", dpi=120)
print(f"total time {time.perf_counter() - T0:.1f} s")
