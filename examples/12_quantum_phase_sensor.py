# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # A quantum phase sensor trained by quantum EP (Wanjura & Marquardt, scaled down)
#
# A cluster-Ising ring H = g_zxz Σ ZXZ − g_zz Σ ZZ − g_x Σ X (6 spins, periodic) is in one of
# three phases: cluster/SPT (I), ferromagnet (II, g_zz ≥ 2) or paramagnet (III). Two extra
# sensor qubits, coupled to sites 0 and 1 by 51 trainable Pauli couplings, must learn to
# answer with the projector onto one of three outcomes (↑↑, ↑↓, ↓↓). The inputs (g_zxz, g_zz,
# g_x) are drawn on the triangle g_zxz + g_zz + g_x = 4.
#
# Training uses the physical protocol: centered nudges β = ±0.4 on the three projectors, and
# every expectation value is estimated from 10 shots. Only three ground states per sample are
# prepared per step, for all 51 couplings. Units: couplings in units of J.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems.quantum_tasks import train_phase_sensor
from physlearn.systems.spin_chain import cluster_ising_phases

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
# 40 batches take about half a minute; PHYSLEARN_SENSOR_BATCHES=400 is the full run (minutes)
# PHYSLEARN_FAST=1: 10 batches (PHYSLEARN_SENSOR_BATCHES still wins)
BATCHES = int(os.environ.get("PHYSLEARN_SENSOR_BATCHES", 10 if fast_mode() else 40))

# %% [markdown]
# ## Quantum EP, step by step
#
# For each sample the chain is prepared three times: in its ground state $|\psi_0\rangle$ of
# $H(\theta, x)$, and in the ground states of $H \pm \beta C$, where the cost
# $C = \tfrac12 \sum_k (\langle P_k\rangle - y_k)^2$ is the squared error of the three
# sensor-projector expectations against the one-hot phase label (to first order the nudge
# adds $\beta \sum_k (\langle P_k\rangle - y_k) P_k$ to the Hamiltonian). By
# Hellmann–Feynman, $\partial E_0/\partial\theta_j = \langle \partial H/\partial\theta_j
# \rangle$, and by Onsager reciprocity of the static linear response the gradient of the loss
# is the response of these local expectations to the nudge,
#
# $$\frac{dL}{d\theta_j} \approx \frac{\langle A_j\rangle_{+\beta} -
#   \langle A_j\rangle_{-\beta}}{2\beta}, \qquad A_j = \partial H/\partial\theta_j ,$$
#
# with an $O(\beta^2)$ bias while $\beta\,\|C\|$ stays below the spectral gap. Each expectation
# is estimated from a finite number of projective measurements (shots), so the estimate is
# noisy as well as biased; the run prints the accuracy it reaches.

# %%
result = train_phase_sensor(6, batches=BATCHES, beta=0.4, shots=10, lr=0.01, seed=0,
                            eval_every=max(BATCHES // 8, 1))
print(f"test accuracy (max-choice): {result['accuracy']:.3f}, "
      f"single-shot: {result['single_shot']:.3f}, "
      f"nudges flagged by the gap guard: {result['near_gap_warnings']}")

# %% [markdown]
# The gap guard flags nearly every nudge: β = 0.4 is far beyond the linear-response regime.
# The finite-β estimate is then biased, but it still points downhill, and with 10 shots a
# large β is needed anyway (the shot-noise variance scales as 1/(Mβ²)).

# %%
sensor = result["sensor"]
sensor.set_params(shots=None)
grid, labels, _ = cluster_ising_phases(400, seed=123)
pred = np.argmax(sensor.predict(grid), axis=1)
steps, acc, single = np.array(result["history"]).T

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
axes[0].plot(steps, acc, label="max-choice")
axes[0].plot(steps, single, label="single-shot")
axes[0].set(xlabel="batch (10 samples, 10 shots)", ylabel="test accuracy (fraction)", ylim=(0, 1),
            title="quantum EP training of the phase sensor")
axes[0].legend()
# barycentric coordinates of the triangle g_zxz + g_zz + g_x = 4
px, py = grid[:, 1] + 0.5 * grid[:, 2], np.sqrt(3) / 2 * grid[:, 2]
for k, name in enumerate(("I (cluster)", "II (ferro)", "III (para)")):
    axes[1].scatter(px[pred == k], py[pred == k], s=8, label=name)
wrong = pred != labels
axes[1].scatter(px[wrong], py[wrong], s=20, facecolors="none", edgecolors="k", label="wrong")
axes[1].set(title="sensor answer on the phase triangle", xticks=[], yticks=[])
axes[1].legend(fontsize=7)
fig.savefig(FIGURES / "quantum_phase_sensor.png", dpi=130)
print("wrote", FIGURES / "quantum_phase_sensor.png")
