# %% [markdown]
# # Echo fidelity: where RHEL stays exact on a chaotic trajectory
#
# RHEL (`examples/21_echo_learning.py`) computes a gradient from two *echoes*: flip the
# momenta at the end of the run, replay the inputs backwards with a nudge $\pm\varepsilon$,
# and contrast the two. The contrast is the gradient only while both echoes stay in the
# *linear-response* regime of the trajectory, i.e. while they remain within
# $O(\varepsilon)$ of the time-reversed free run. A nonlinear Hamiltonian recurrent unit can
# be chaotic: it amplifies every difference between the two echoes (and every round-off
# error) by roughly $e^{\lambda t}$, with $\lambda$ the largest Lyapunov exponent and
# $t = T\,\delta t$ the physical duration of the run. Over a long enough time the echoes leave
# the linear regime, and the centered contrast returns a number that has nothing to do with
# the gradient.
#
# This notebook maps RHEL's relative error against BPTT (the exact gradient) over the time step
# $\delta t$ and the number of steps $T$ for a small nonlinear HRU (4 oscillators, one input
# channel, one output, one sequence of Gaussian inputs, ε = 10⁻³, the default), and records
# where RHEL's own echo check fires: the midpoint of the $\pm\varepsilon$ echoes must return
# to the flipped initial state, and when it misses by more than `echo_tol` = 0.3 times the
# echoes' response to the nudge, RHEL raises
# :class:`~physlearn.rules.echo.EchoMissWarning`. Dimensionless units: time in units of an
# inverse natural frequency.

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.rules.echo import RHEL, EchoMissWarning
from physlearn.systems.hru import HRU

FAST = fast_mode()                           # PHYSLEARN_FAST=1: a 3 × 3 map of short runs
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
DTS = (0.1, 0.01, 1e-3) if FAST else (0.1, 0.03, 0.01, 1e-3, 1e-4)
STEPS = (500, 2000, 8000) if FAST else (1000, 5000, 20000, 50000)

# %% [markdown]
# ## 1. Relative error and echo check over δt × T
#
# Each cell is one forward run, two echoes (the RHEL estimate) and one BPTT pass on the first
# $T$ steps of the same input sequence. The echo check costs nothing extra: it reads the two
# final echo states RHEL computes anyway. A `*` marks the cells where it warned.

# %%
tic = time.perf_counter()
rng = np.random.default_rng(0)
x_all = rng.normal(size=(1, max(STEPS), 1))
y = 0.5 * rng.normal(size=(1, 1))
errors = np.empty((len(DTS), len(STEPS)))
warned = np.zeros_like(errors, dtype=bool)
for i, dt in enumerate(DTS):
    net = HRU(1, 4, 1, kind="nonlinear", dt=dt, seed=0)
    for j, n_steps in enumerate(STEPS):
        x = x_all[:, :n_steps]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EchoMissWarning)
            estimate = RHEL().gradient(net, x, y)
        warned[i, j] = any(issubclass(w.category, EchoMissWarning) for w in caught)
        errors[i, j] = relative_error(estimate, pl.exact_gradient(net, x, y))

print("relative error of RHEL (ε = 1e-3) against BPTT; * = EchoMissWarning raised")
print("dt \\ T   " + "".join(f"{n:>12d}" for n in STEPS))
for i, dt in enumerate(DTS):
    cells = "".join(f"{errors[i, j]:>11.1e}{'*' if warned[i, j] else ' '}"
                    for j in range(len(STEPS)))
    print(f"{dt:<9g}{cells}")
print(f"(computed in {time.perf_counter() - tic:.0f} s)")

# %% [markdown]
# ## 2. The map, and the error against the physical time
#
# Left: the map itself, $\log_{10}$ of the relative error per cell. Right: the same errors
# against the physical duration $t = T\,\delta t$ of the run. If the loss of fidelity is the
# chaotic amplification $e^{\lambda t}$, the boundary of the exact region is set mainly by
# the total time, not by the number of steps: once $t$ passes it the error rises steeply, at
# roughly the same $t$ for every δt (roughly: the time step also changes the discrete
# dynamics a little). A smaller δt buys exactness over more steps because those steps cover
# less time. Cells where the echo check warned are ringed.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), layout="constrained")
ax = axes[0]
image = ax.imshow(np.log10(np.maximum(errors, 1e-16)), cmap="viridis", origin="lower",
                  aspect="auto", vmin=-12, vmax=1)
for i in range(len(DTS)):
    for j in range(len(STEPS)):
        ax.text(j, i, f"{errors[i, j]:.0e}" + ("\n(warned)" if warned[i, j] else ""),
                ha="center", va="center", fontsize=7,
                color="white" if errors[i, j] < 1e-4 else "black")
ax.set_xticks(range(len(STEPS)), [str(n) for n in STEPS])
ax.set_yticks(range(len(DTS)), [f"{dt:g}" for dt in DTS])
ax.set_xlabel("number of steps T (count)")
ax.set_ylabel("time step δt (dimensionless units)")
ax.set_title("RHEL vs BPTT, nonlinear HRU")
fig.colorbar(image, ax=ax, label="log₁₀ relative error (dimensionless)")

ax = axes[1]
for i, dt in enumerate(DTS):
    total = np.array(STEPS) * dt
    ax.loglog(total, np.maximum(errors[i], 1e-16), "o-", ms=4, label=f"δt = {dt:g}")
flagged = np.outer(DTS, STEPS)[warned]
ax.loglog(flagged, np.maximum(errors[warned], 1e-16), "o", ms=11, mfc="none", mec="red",
          label="EchoMissWarning")
ax.set_xlabel("physical time t = T·δt (dimensionless units)")
ax.set_ylabel("relative error vs BPTT (dimensionless)")
ax.set_title("the boundary follows the physical time")
ax.legend(fontsize=7)
fig.savefig(FIGURES / "echo_fidelity.png", dpi=120)

# %% [markdown]
# ## 3. The check agrees with the map
#
# The square of the check's miss ratio tracks the gradient's relative error (the
# $O(\varepsilon^2)$ midpoint miss and the $O(\varepsilon^3)$ contrast error come from the same
# curvature of the flow), so `echo_tol = 0.3` flags errors from about $0.3^2 \approx 10\,\%$.
# The two assertions below test exactly that on this map: every cell with an error above
# 10 % must have raised the warning, and no cell below 1 % may have.

# %%
assert np.all(warned[errors > 0.1]), (errors, warned)
assert not np.any(warned[errors < 0.01]), (errors, warned)
print("echo check consistent with the error map")
