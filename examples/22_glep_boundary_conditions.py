# %% [markdown]
# # Lagrangian EP: the boundary conditions decide the learning rule
#
# Equilibrium propagation (EP) trains a system that settles at a minimum of an energy: nudge
# the outputs toward the target with strength β and contrast a local measurement. A system
# that *moves* has no minimum to settle at, but it has an *action*, and its trajectory is a
# stationary point of that action. Lagrangian EP (Pourcel, Basu, Ernoult & Gilra 2025;
# Massar 2025) nudges the action instead of an energy.
#
# For the leapfrog run of a Hamiltonian recurrent unit (unit masses, time step $\delta$,
# potential $V(q, u; \theta)$) with half-step positions $Q_1, \dots, Q_K$ and virtual end
# points $Q_0$, $Q_{K+1}$, the discrete action is
#
# $$S_\beta[Q] = \sum_{i=0}^{K} \frac{\|Q_{i+1} - Q_i\|^2}{2\delta}
#   - \delta \sum_{i=1}^{K} V(Q_i, u_{i-1}) - \beta \sum_{i=1}^{K} g_i\cdot\phi_i ,$$
#
# with $\phi_i = (Q_i + Q_{i+1})/2$ the positions the readout sees and $g_i$ the per-step loss
# gradient on the free path. Its Euler–Lagrange equations,
# $Q_{i+1} - 2Q_i + Q_{i-1} = -\delta^2\nabla V(Q_i) - \tfrac12\delta\beta(g_{i-1} + g_i)$,
# are the leapfrog recursion with a nudging force. Contrasting the local observable
# $G = \delta\sum_i \partial_\theta V(Q_i)$ between the paths at $\pm\beta$ gives
#
# $$\frac{dC}{d\theta} = \frac{dG}{d\beta}\Big|_0 - R ,$$
#
# where $R$ is a *boundary term* built from the end momenta and end positions. A path needs
# two boundary conditions, and which two decides whether $R$ vanishes
# (`physlearn/rules/glep.py`):
#
# * **fixed endpoints** ($Q_0$, $Q_{K+1}$) and **periodic**: $R = 0$, but each phase is a
#   global (Newton) solve over the whole trajectory, and the model they define is not the
#   causal one a physical system runs;
# * **initial value** ($Q_0$, $Q_1$: start at rest, the physical forward problem):
#   $R \ne 0$; the forward-nudged contrast is wrong unless $R$ is added, which needs the
#   Jacobians $\partial_\theta(Q_{K+1}, P)$ at the end (as costly as real-time recurrent
#   learning);
# * **final value** (end point and end momentum pinned to the free run's end): $R = 0$ and
#   causal when integrated backwards from the end. That is the echo of RHEL
#   (`examples/21_echo_learning.py`).
#
# Dimensionless units: time in units of an inverse natural frequency.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.rules.echo import RHEL
from physlearn.rules.glep import boundary_gradient, glep_gradient
from physlearn.systems.hru import HRU

FAST = fast_mode()                               # PHYSLEARN_FAST=1: a shorter β sweep
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## The problem
#
# A nonlinear HRU with three oscillators, one input channel, one output read at every step
# (`readout="trajectory"`, as GLEP needs), 20 steps of $\delta = 0.1$: exactly one period of
# a sinusoidal drive, so that a periodic orbit exists. Two drive/target sequences. `causal`
# is the exact gradient (BPTT) of the physical, initial-value model, for the block's own
# parameters $A, B, b, \alpha$ (GLEP holds the readout fixed).

# %%
system = HRU(1, 3, 1, kind="nonlinear", readout="trajectory", dt=0.1, seed=0)
t = np.arange(20) * system.dt
phase = 2 * np.pi * t / 2.0                      # one period of the drive: periodic BC works
x = np.stack([np.sin(phase), np.sin(phase + 1.0)])[:, :, None]
y = 0.5 * np.stack([np.cos(phase), np.sin(phase)])[:, :, None]
block = ("A", "B", "b", "alpha")
causal = {k: v for k, v in pl.exact_gradient(system, x, y).items() if k in block}

# %% [markdown]
# ## Four boundary conditions, one contrast
#
# For each boundary condition, `boundary_gradient` is the exact gradient (central finite
# differences in θ) of the model that boundary condition defines, and `glep_gradient` the
# centered contrast $[G(\beta) - G(-\beta)]/2\beta$. The table prints, at $\beta = 10^{-3}$,
# how far the contrast is from its own model's gradient (small when $R = 0$) and how far that
# model's gradient is from the causal one (zero only for the two causal boundary conditions).
# The last curve adds the boundary residual $R$ to the initial-value contrast. Theory: with
# $R = 0$ the centered contrast has an $O(\beta^2)$ bias, until round-off divided by $2\beta$
# dominates at small β.

# %%
betas = np.logspace(-4, -1, 4) if FAST else np.logspace(-4, -0.5, 8)
at = int(np.argmin(np.abs(np.log10(betas) + 3)))    # the table's β = 1e-3
rows, curves = [], {}
for boundary in ("fixed-endpoints", "periodic", "initial-value", "final-value"):
    own = boundary_gradient(system, x, y, boundary=boundary)
    curves[boundary] = [relative_error(glep_gradient(system, x, y, boundary=boundary, beta=b), own)
                        for b in betas]
    rows.append((boundary, curves[boundary][at], relative_error(own, causal)))
curves["initial-value + R"] = [relative_error(glep_gradient(
    system, x, y, boundary="initial-value", beta=b, residual=True), causal) for b in betas]
print(f"{'boundary':<18}{'err vs own model':>18}{'own model vs causal':>22}")
for name, err, diff in rows:
    print(f"{name:<18}{err:>18.2e}{diff:>22.2e}")

# %% [markdown]
# ## The final-value contrast is RHEL
#
# Integrating the final-value problem backwards from the pinned end is what RHEL's echo does
# physically (flip the momenta, replay the inputs, nudge). With the same nudge strength the
# two estimates should agree to round-off.

# %%
pfvp = glep_gradient(system, x, y, boundary="final-value", beta=1e-3)
rhel = {k: v for k, v in RHEL(eps=1e-3).gradient(system, x, y).items() if k in block}
print("final-value contrast vs RHEL (same ε):", relative_error(pfvp, rhel))

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, errs in curves.items():
    ax.loglog(betas, errs, "o-", ms=3, label=name)
ax.set_xlabel("nudge strength β (dimensionless)")
ax.set_ylabel("relative error vs the BC's exact gradient\n(dimensionless)")
ax.set_title("Lagrangian EP under four boundary conditions")
ax.legend(fontsize=7)
fig.savefig(FIGURES / "22_glep_boundary_conditions.png", dpi=120)
