# %% [markdown]
# # Echo learning: a Hamiltonian system computes its own gradient by running backwards
#
# A Hamiltonian recurrent unit (HRU) is a bank of oscillators driven by an input sequence.
# RHEL (Pourcel & Ernoult 2025) trains it with three physical runs: forward, then two
# *echoes* — flip the momenta, replay the inputs backwards, nudge the momenta by ``±ε ∂L/∂q`` —
# and contrasts the local observable ``∫ ∂H/∂θ dt`` of the two echoes. This script checks it
# against backpropagation through time (BPTT), the exact reference, and measures its accuracy
# order in ε. Dimensionless units throughout.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.plots import figure_dir
from physlearn.rules.echo import RHEL
from physlearn.systems.hru import HRU
from physlearn.systems.oscillators import CoupledOscillators

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
rng = np.random.default_rng(0)
x = 0.5 * rng.normal(size=(4, 200, 2))       # 4 sequences, 200 steps, 2 channels
y = rng.normal(size=(4, 3))                  # final-time targets

# %% [markdown]
# ## 1. With ε = 0 the echo retraces the run exactly

# %%
net = HRU(2, 8, 3, kind="nonlinear", seed=0)
run = net.run(x, y, pl.SquaredError())
back = net.echo(run, 0, run.cotangents, [0.0])
print("echo(ε=0) distance to the flipped initial state:",
      max(np.abs(back.q).max(), np.abs(back.p).max()))

# %% [markdown]
# ## 2. Accuracy against BPTT: exact for a linear unit, O(ε²) for a nonlinear one

# %%
eps_grid = np.logspace(-7, -0.5, 14)
errors = {}
for kind in ("linear", "nonlinear"):
    net = HRU(2, 8, 3, kind=kind, seed=0)
    ref = pl.exact_gradient(net, x, y)
    errors[kind] = [relative_error(RHEL(eps=e).gradient(net, x, y), ref) for e in eps_grid]
    one = [relative_error(RHEL(eps=e, variant="one-sided").gradient(net, x, y), ref)
           for e in eps_grid]
    errors[kind + " one-sided"] = one
net = HRU(2, 8, 3, kind="nonlinear", seed=0)
print(pl.gradient_check(net, RHEL(eps=1e-4), x, y))
print(pl.bias_order(net, RHEL(), x, y, [1e-1, 3e-2, 1e-2], param="eps"))

fig, ax = plt.subplots(figsize=(5, 3.5))
for label, errs in errors.items():
    ax.loglog(eps_grid, errs, "o-" if "one" not in label else "s--", label=label, ms=3)
ax.loglog(eps_grid, eps_grid**2, "k:", label="ε²")
ax.set_xlabel("ε")
ax.set_ylabel("relative error vs BPTT")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(FIGURES / "21_rhel_error_vs_eps.png", dpi=120)

# %% [markdown]
# ## 3. Per time step: the echo contrast *is* the BPTT adjoint
#
# ``Σ_x(Φ^e_k(+ε) − Φ^e_k(−ε))/2ε`` — the swapped position/momentum contrast of the two echoes
# at the step mirroring ``k`` — equals ``λ_k = dL/dS_k`` at every ``k`` (Thm. 3.2).

# %%
net = HRU(2, 8, 3, kind="nonlinear", readout="trajectory", seed=0)
yt = 0.5 * rng.normal(size=(4, 200, 3))
cost = pl.SquaredError()
ref = net.bptt(x, yt, cost, record=True).blocks[0].adjoints
run = net.run(x, yt, cost)
e = 1e-4
echo = net.echo(run, 0, run.cotangents, [e, -e], record=True)
d = (echo.states[0] - echo.states[1]) / (2 * e)
lam = np.concatenate([d[..., 8:], d[..., :8]], axis=-1)
print("max |λ_echo − λ_BPTT| / max |λ|:", np.abs(lam - ref).max() / np.abs(ref).max())
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(ref[0, :, 0], "k", lw=3, alpha=0.4, label="BPTT λ_q[0]")
ax.plot(lam[0, :, 0], "r--", label="echo contrast")
ax.set_xlabel("step k")
ax.legend()
fig.tight_layout()
fig.savefig(FIGURES / "21_per_step_adjoint.png", dpi=120)

# %% [markdown]
# ## 4. Mechanical oscillators with trainable masses
#
# Six masses on springs, driven at mass 1, oscillator 4 nudged toward a target trajectory
# (the paper's Fig. 2 check). Masses enter the kinetic energy; the echo reads
# ``∂T/∂m`` before and after each kick.

# %%
osc = CoupledOscillators(6, seed=0)
t = np.arange(400) * osc.dt
xo = np.stack([np.sin(0.7 * t), np.sin(0.7 * t + 1.0)])[:, :, None]
yo = 0.3 * np.stack([np.sin(0.5 * t), np.cos(0.4 * t)])[:, :, None]
print(pl.gradient_check(osc, RHEL(eps=1e-2), xo, yo))

# %% [markdown]
# ## 5. Negative controls: friction and a non-symplectic kick break the echo

# %%
for label, kwargs in (("damping 0.2", {"damping": 0.2}), ("kick at step start", {"kick": "start"})):
    broken = HRU(2, 8, 3, kind="nonlinear", seed=0, **kwargs)
    est = pl.system.batch_mean(RHEL(eps=1e-4).per_sample_gradient(broken, x, y, cost))
    print(f"{label:>20}: relative error {relative_error(est, pl.exact_gradient(broken, x, y)):.2f}")
