# %% [markdown]
# # Lagrangian EP: the boundary conditions decide the learning rule
#
# The leapfrog run of an HRU is the stationary path of a discrete action
# ``S_β = Σ ½|ΔQ|²/δ − δ Σ V(Q_i) − β Σ g_i·φ_i``. Nudging the action and contrasting the
# local observable ``G = δ Σ ∂_θV`` gives ``dC/dθ = dG/dβ − R``, where ``R`` is a boundary
# term. Four boundary conditions, four rules (see :mod:`physlearn.rules.glep`):
#
# * **fixed endpoints** and **periodic**: ``R = 0``, but each phase is a global solve over the
#   whole trajectory, and the model is not the causal one;
# * **initial value** (the physical forward problem): ``R ≠ 0``; the forward-nudged contrast is
#   wrong unless ``R`` is added, which needs RTRL-like Jacobians;
# * **final value** pinned to the free run's end: ``R = 0`` and causal when integrated
#   backwards — the echo: RHEL.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.plots import figure_dir
from physlearn.rules.echo import RHEL
from physlearn.rules.glep import boundary_gradient, glep_gradient
from physlearn.systems.hru import HRU

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

system = HRU(1, 3, 1, kind="nonlinear", readout="trajectory", dt=0.1, seed=0)
t = np.arange(20) * system.dt
phase = 2 * np.pi * t / 2.0                      # one period of the drive: periodic BC works
x = np.stack([np.sin(phase), np.sin(phase + 1.0)])[:, :, None]
y = 0.5 * np.stack([np.cos(phase), np.sin(phase)])[:, :, None]
block = ("A", "B", "b", "alpha")
causal = {k: v for k, v in pl.exact_gradient(system, x, y).items() if k in block}

# %%
betas = np.logspace(-4, -0.5, 8)
rows, curves = [], {}
for boundary in ("fixed-endpoints", "periodic", "initial-value", "final-value"):
    own = boundary_gradient(system, x, y, boundary=boundary)
    curves[boundary] = [relative_error(glep_gradient(system, x, y, boundary=boundary, beta=b), own)
                        for b in betas]
    rows.append((boundary, curves[boundary][2], relative_error(own, causal)))
curves["initial-value + R"] = [relative_error(glep_gradient(
    system, x, y, boundary="initial-value", beta=b, residual=True), causal) for b in betas]
print(f"{'boundary':<18}{'err vs own model':>18}{'own model vs causal':>22}")
for name, err, diff in rows:
    print(f"{name:<18}{err:>18.2e}{diff:>22.2e}")
pfvp = glep_gradient(system, x, y, boundary="final-value", beta=1e-3)
rhel = {k: v for k, v in RHEL(eps=1e-3).gradient(system, x, y).items() if k in block}
print("final-value contrast vs RHEL (same ε):", relative_error(pfvp, rhel))

fig, ax = plt.subplots(figsize=(5, 3.5))
for name, errs in curves.items():
    ax.loglog(betas, errs, "o-", ms=3, label=name)
ax.set_xlabel("β")
ax.set_ylabel("relative error vs the BC's exact gradient")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(FIGURES / "22_glep_boundary_conditions.png", dpi=120)
