# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Where quantum EP is exact, where it breaks, and how temperature repairs it
#
# Quantum EP (see `10_quantum_ep_spin_chain.py`) estimates $\partial L/\partial\theta$ from
# ground states nudged by $H \to H + \nu B$ with $\nu = \beta\varepsilon$
# ($\varepsilon = \partial L/\partial\langle B\rangle$). A finite β costs a bias, $O(\beta)$
# for the one-sided and $O(\beta^2)$ for the centered estimate, and perturbation theory says
# how big: the $k$-th order response of the ground state to $\nu B$ carries $k$ energy
# denominators, so the bias coefficients grow like $(|\varepsilon|\,\|B\|/\Delta)^k$ with
# $\Delta = E_1 - E_0$ the gap. Two predictions follow:
#
# * the estimate must fail where the gap is small: the ordered phase of a finite
#   transverse-field Ising chain, whose two "cat" ground states (all up, all down) are split
#   only by a weak longitudinal field;
# * it must fail once the nudge $\beta|\varepsilon|$ reaches the gap, where the nudge starts
#   to reorder the levels.
#
# At temperature $T$ the chain is in its Gibbs state and the relevant (isothermal)
# susceptibility is smooth on the scale $\max(\Delta, T)$, so the same nudge should become
# accurate again once $T$ exceeds the gap. This notebook tests all three.
#
# System: a 6-spin open chain,
#
# $$H = -J\sum_i Z_i Z_{i+1} - h\sum_i X_i - g\sum_i Z_i, \qquad J = 1,\ g = 10^{-3},$$
#
# with output $\langle Z_5\rangle$, target $-0.5$ and the squared error. The infinite chain
# has its quantum phase transition at $h = J$: ordered (ferromagnet) for $h < J$,
# paramagnet with gap $2(h - J)$ for $h > J$. *Fidelity* here means the relative error
# $\|\hat g - g\|/\|g\|$ of the EP estimate against the exact linear-response gradient (the
# reduced resolvent at $T = 0$, the Kubo–Mori susceptibility at $T > 0$). Dimensionless
# units: energies and $T$ in units of $J$, $\hbar = k_B = 1$.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems.quantum import NudgeNearGapWarning
from physlearn.systems.spin_chain import SpinChain

FAST = fast_mode()   # PHYSLEARN_FAST=1: coarser grids, same panels
warnings.simplefilter("ignore", NudgeNearGapWarning)   # breakdown is what we want to see
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## The set-up
#
# `chain(h, T)` builds the chain (no input features: `X` is an empty batch of one sample).
# It switches off the gap guard, which would otherwise refuse or flag the near-degenerate
# states and the large nudges we want to study; with the guard off the free state does not
# compute its gap either, so `scale` rebuilds the chain with the guard on to read the gap
# $\Delta$ and the error signal $|\varepsilon| = |\langle Z_5\rangle - y|$ of the free state.
# `fidelity` is the relative error of an EP variant at a given β.

# %%
X, Y = np.zeros((1, 0)), np.array([[-0.5]])


def chain(h, temperature=0.0, gap_guard="off"):
    return SpinChain.transverse_field_ising(6, J=1.0, h=h, g=1e-3, inputs=(),
                                            observables=["Z5"], temperature=temperature,
                                            gap_guard=gap_guard)


def fidelity(system, beta, variant="centered"):
    exact = pl.exact_gradient(system, X, Y)
    return relative_error(pl.EP(beta=beta, variant=variant).gradient(system, X, Y), exact)


def scale(system):
    """Gap Δ and error signal |ε| of the free state (of the same chain with the gap guard on,
    which is what computes the gap)."""
    guarded = SpinChain(**{**system.get_params(), "gap_guard": "raise"})
    guarded.params = system.params
    state = guarded.equilibrium(X)
    return state.gap[0], abs(guarded.outputs(state)[0, 0] - Y[0, 0])


# %% [markdown]
# ## (a) Error against β: slopes 1 and 2, until the nudge reaches the gap
#
# Deep in the paramagnet ($h = 1.5$, large gap) and in the ordered phase ($h = 0.5$, gap set
# by $g$), the cell sweeps β over five and a half decades for the positive and the centered
# estimate. It prints each gap and the β at which $\beta|\varepsilon| = \Delta$, where the
# power laws should end.

# %%
betas = np.logspace(-5, 0.5, 9 if FAST else 23)
panel_a = {}
for h in tqdm((1.5, 0.5), desc="beta sweep"):
    system = chain(h)
    panel_a[h] = {v: [fidelity(system, b, v) for b in betas] for v in ("positive", "centered")}
    panel_a[h]["nudge_at_gap"] = np.divide(*scale(system))
    print(f"h/J={h}: gap={scale(system)[0]:.3e}, beta at which beta|eps| = gap: "
          f"{panel_a[h]['nudge_at_gap']:.3e}")

# %% [markdown]
# ## (b) Error against h/J at fixed β, for several temperatures
#
# At $\beta = 10^{-2}$, centered, the cell scans the transverse field across the transition
# for $T = 0$ and two temperatures, and records the $T = 0$ gap at each field.

# %%
fields = np.linspace(0.2, 2.0, 7 if FAST else 37)
temperatures_b = (0.0, 0.05, 0.3)
beta_b = 1e-2
panel_b = {T: [] for T in temperatures_b}
gaps = []
for h in tqdm(fields, desc="field sweep"):
    gaps.append(scale(chain(h))[0])
    for T in temperatures_b:
        panel_b[T].append(fidelity(chain(h, T), beta_b))

# %% [markdown]
# ## (c) Error against T in the ordered phase (small gap)
#
# At $h = 0.5$ the cell scans the temperature over four decades for three nudge strengths.

# %%
temps = np.logspace(-3, 1, 7 if FAST else 33)
h_c = 0.5
gap_c = scale(chain(h_c))[0]
panel_c = {b: [fidelity(chain(h_c, T), b) for T in tqdm(temps, desc=f"T sweep beta={b}")]
           for b in (1e-3, 1e-2, 1e-1)}

# %% [markdown]
# The three panels, all errors on log axes. In (a) the dotted black lines are reference
# slopes $\propto\beta$ and $\propto\beta^2$, and the grey verticals mark
# $\beta|\varepsilon| = \Delta$ for each field; in (b) the dotted black curve (right axis) is
# the $T = 0$ gap and the grey vertical the infinite-chain transition $h = J$; in (c) the grey
# vertical is the gap at $h = 0.5$.

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained")
ax = axes[0]
for h, style in zip(panel_a, ("-", "--")):
    for variant, marker in (("positive", "o"), ("centered", "s")):
        ax.loglog(betas, panel_a[h][variant], style, marker=marker, ms=3,
                  label=f"{variant}, h/J={h}")
    ax.axvline(panel_a[h]["nudge_at_gap"], color="gray", ls=style, lw=0.8)
ax.loglog(betas, 0.3 * betas, ":", color="k", lw=0.8)
ax.loglog(betas, 0.3 * betas**2, ":", color="k", lw=0.8)
ax.set(xlabel="nudge strength β (units of J)",
       ylabel="relative error vs linear response (dimensionless)",
       title="(a) bias order; gray: β|ε| = Δ")
ax.legend(fontsize=7)

ax = axes[1]
for T in temperatures_b:
    ax.semilogy(fields, panel_b[T], marker="o", ms=3, label=f"T = {T}")
ax.axvline(1.0, color="gray", lw=0.8)
ax.set(xlabel="transverse field h (units of J)",
       ylabel=f"relative error, centered, β = {beta_b} (dimensionless)",
       title="(b) small gap (ordered phase) breaks it")
twin = ax.twinx()
twin.semilogy(fields, gaps, "k:", label="gap Δ (T = 0)")
twin.set_ylabel("gap Δ (units of J)")
handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
ax.legend(handles=handles, fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))

ax = axes[2]
for b in panel_c:
    ax.loglog(temps, panel_c[b], marker="o", ms=3, label=f"β = {b}")
ax.axvline(gap_c, color="gray", lw=0.8, label="gap Δ")
ax.set(xlabel="temperature T (units of J)", ylabel="relative error, centered (dimensionless)",
       title=f"(c) temperature repairs it (h/J = {h_c})")
ax.legend(fontsize=7)
path = FIGURES / "quantum_gradient_fidelity.png"
fig.savefig(path, dpi=130)
print(f"wrote {path}")

# %% [markdown]
# What to look for. In the paramagnet the predicted slopes, 1 and 2, should hold from the
# round-off floor up to the grey line $\beta|\varepsilon| = \Delta$. In the ordered phase the
# gap is set by the weak field $g$, so the same β is already "large": the estimate fails, and
# the centered one jumps where the nudge crosses levels. Panel (b) should show the failure
# tracking the gap across the transition, and the thermal curves staying accurate where
# $T \gtrsim \Delta$; panel (c) the error falling as $T$ grows past $\Delta$, because the
# isothermal susceptibility is smooth on the scale $\max(\Delta, T)$, while the EP identity
# itself holds at every $T$. The last cell prints the fitted slopes in the paramagnet (over
# $3\cdot10^{-4} \le \beta \le 3\cdot10^{-2}$, above round-off and below the gap) and the
# error at the smallest field without and with temperature.

# %%
fit = (betas >= 3e-4) & (betas <= 3e-2)          # above round-off, below the gap
print("fitted slopes in the paramagnet (h/J = 1.5):",
      {v: round(float(np.polyfit(np.log(betas[fit]), np.log(np.array(panel_a[1.5][v])[fit]),
                                 1)[0]), 3) for v in ("positive", "centered")})
print(f"T = 0 error at h/J = 0.2: {panel_b[0.0][0]:.2e}; at T = 0.3: {panel_b[0.3][0]:.2e}")
