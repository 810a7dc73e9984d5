# %% [markdown]
# # Echo fidelity: where RHEL stays exact on a chaotic trajectory
#
# RHEL's echo retraces the forward run only as long as the run is not too chaotic: a
# nonlinear HRU amplifies every difference between the two echoes (and every round-off) by
# ``e^{λ t}``, so over a long enough time ``t = T·dt`` the echoes at ``±ε`` leave the linear
# regime and the contrast returns a gradient that has nothing to do with the true one.
# This script maps RHEL's relative error against BPTT over the time step ``dt`` and the number
# of steps ``T`` for a small nonlinear HRU (4 oscillators, one input channel, one output, one
# sequence of Gaussian inputs), and records where RHEL's own echo check
# (:class:`~physlearn.rules.echo.EchoMissWarning`: the midpoint of the ``±ε`` echoes must
# return to the flipped initial state) fires. Dimensionless units; ε = 1e-3 (the default).

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.plots import figure_dir
from physlearn.rules.echo import RHEL, EchoMissWarning
from physlearn.systems.hru import HRU

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
DTS = (0.1, 0.03, 0.01, 1e-3, 1e-4)
STEPS = (1000, 5000, 20000, 50000)

# %% [markdown]
# ## 1. Relative error and echo check over dt × T

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
# ## 2. The map
#
# Each cell is one forward run, two echoes and one BPTT pass. The boundary of the exact
# region is a line of constant total time ``t = T·dt`` (the chaos grows with the physical
# time, not with the number of steps); the echo check fires exactly where the error is large.

# %%
fig, ax = plt.subplots(figsize=(5.5, 4))
image = ax.imshow(np.log10(np.maximum(errors, 1e-16)), cmap="viridis", origin="lower",
                  aspect="auto", vmin=-12, vmax=1)
for i in range(len(DTS)):
    for j in range(len(STEPS)):
        ax.text(j, i, f"{errors[i, j]:.0e}" + ("\n(warned)" if warned[i, j] else ""),
                ha="center", va="center", fontsize=7,
                color="white" if errors[i, j] < 1e-4 else "black")
ax.set_xticks(range(len(STEPS)), [str(n) for n in STEPS])
ax.set_yticks(range(len(DTS)), [f"{dt:g}" for dt in DTS])
ax.set_xlabel("number of steps T")
ax.set_ylabel("time step dt")
ax.set_title("RHEL vs BPTT, nonlinear HRU (log10 relative error)")
fig.colorbar(image, ax=ax, label="log10 relative error")
fig.tight_layout()
fig.savefig(FIGURES / "echo_fidelity.png", dpi=120)

# %% [markdown]
# ## 3. The check agrees with the map
#
# Every cell with an error above 10 % raised the warning and no cell below 1 % did (the square
# of the check's miss ratio tracks the gradient's relative error, and ``echo_tol = 0.3``
# flags errors from about 10 %).

# %%
assert np.all(warned[errors > 0.1]), (errors, warned)
assert not np.any(warned[errors < 0.01]), (errors, warned)
print("echo check consistent with the error map")
