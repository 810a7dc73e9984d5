# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Unsupervised phase exploration with quantum EP (Wanjura & Marquardt)
#
# Quantum EP needs no labelled data: any cost of the measured expectation values will do.
# Here the cost is an *order parameter* to be maximised, and gradient descent on the
# couplings walks through the phase diagram toward the phase where that order is largest.
#
# The system is an open chain of 10 spins,
#
# $$H = -\Big(\theta_X\sum_j X_j + \theta_{ZZ}\sum_j Z_jZ_{j+1}
#   + 0.5\sum_j Z_jX_{j+1}Z_{j+2}\Big),$$
#
# with two trainable couplings $\theta = (\theta_X, \theta_{ZZ})$ and a fixed cluster term.
# The output is the correlation $\langle X_0X_4\rangle$ in the ground state, and the cost
# $C = -|\langle X_0X_4\rangle|$ rewards a large correlation of either sign. Its error signal
# is $\varepsilon = \partial C/\partial\langle X_0X_4\rangle = -\operatorname{sign}\langle
# X_0X_4\rangle$, so the nudge adds $\beta\varepsilon\,X_0X_4$ to $H$, and quantum EP gives
#
# $$\frac{\partial C}{\partial\theta_j} \approx
#   \frac{\langle A_j\rangle_\beta - \langle A_j\rangle_0}{\beta}, \qquad
#   A_X = -\sum_j X_j,\quad A_{ZZ} = -\sum_j Z_jZ_{j+1},$$
#
# from one free and one nudged ground state (one-sided nudge, $\beta = 0.1$). Each step moves
# θ by a fixed length 0.1 along the normalised estimate, $\theta \leftarrow \theta - 0.1\,
# \hat g/\|\hat g\|$. Ground states come from Lanczos (Hilbert-space dimension $2^{10} =
# 1024$), the nudged one warm-started from the free one. Units: couplings in units of J.

# %%

import matplotlib.pyplot as plt

from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems.quantum_tasks import explore_phase

FAST = fast_mode()  # PHYSLEARN_FAST=1 changes nothing here: the whole example takes seconds
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## Two explorations
#
# Both starts have a weak transverse field $|\theta_X|$ against $\theta_{ZZ}$ and the cluster
# term: ordered phases (ferromagnetic or cluster), whose ground states on an open chain are
# nearly degenerate and carry little $X$ correlation between sites 0 and 4. `explore_phase`
# runs 30 normalised steps from each (it silences the gap-guard warnings, which the
# near-degenerate start would raise at every step) and returns $|\langle X_0X_4\rangle|$
# before each step and the trajectory of θ. The cell prints, per start, the order parameter
# before and after, the step at which it first reaches 0.98, and the final couplings.

# %%
runs = {start: explore_phase(10, steps=30, theta=start) for start in ((-0.1, 0.4), (0.2, 0.9))}
for start, run in runs.items():
    first = next((i for i, m in enumerate(run["magnitude"]) if m >= 0.98), None)
    print(f"start θ={start}: |<X0X4>| {run['magnitude'][0]:.3f} -> "
          f"{run['magnitude'][-1]:.3f}, >= 0.98 after {first} steps, final θ = "
          f"{run['theta'][-1].round(3)}")

# %% [markdown]
# Left: the order parameter along each exploration, with the 0.98 level dotted. Right: the
# same runs as trajectories in the $(\theta_X, \theta_{ZZ})$ plane, starts marked by squares.
# The largest possible $|\langle X_0X_4\rangle|$ is 1, reached by the product state with
# every spin along $\pm x$: the paramagnet of a dominant $|\theta_X|$ with $\theta_{ZZ} \to
# 0$. Wanjura & Marquardt report that the exploration finds that phase; compare the printed
# final couplings.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
for start, run in runs.items():
    axes[0].plot(run["magnitude"], marker="o", ms=3, label=f"θ₀ = {start}")
    line, = axes[1].plot(*run["theta"].T, marker="o", ms=3, label=f"θ₀ = {start}")
    axes[1].plot(*run["theta"][0], "s", ms=7, color=line.get_color())
axes[0].axhline(0.98, color="gray", lw=0.8, ls=":", label="0.98")
axes[0].set(xlabel="normalised gradient step", ylabel="|⟨X₀X₄⟩| (dimensionless)",
            title="order parameter along the exploration")
axes[1].set(xlabel=r"$\theta_X$ (units of J)", ylabel=r"$\theta_{ZZ}$ (units of J)",
            title="trajectories in coupling space")
for ax in axes:
    ax.legend()
fig.savefig(FIGURES / "quantum_phase_exploration.png", dpi=130)
print("wrote", FIGURES / "quantum_phase_exploration.png")
