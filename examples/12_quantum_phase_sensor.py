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
# A learning machine made of qubits, trained by measuring it. The input is a quantum state of
# matter: the ground state of a cluster-Ising ring of 6 spins (periodic),
#
# $$H_{\text{ring}} = g_{zxz}\sum_j Z_jX_{j+1}Z_{j+2} - g_{zz}\sum_j Z_jZ_{j+1}
#   - g_x\sum_j X_j ,$$
#
# whose couplings $(g_{zxz}, g_{zz}, g_x)$ are drawn on the triangle
# $g_{zxz} + g_{zz} + g_x = 4$. The infinite ring has three phases there: the
# symmetry-protected topological cluster phase (I), the ferromagnet (II, $g_{zz} \ge 2$) and
# the paramagnet (III). Two extra *sensor* qubits are coupled to sites 0 and 1 by 51
# trainable Pauli couplings (36 system–sensor terms $\sigma^a_i\sigma^b_s$, 6 sensor fields,
# 9 sensor–sensor terms). The whole 8-qubit system relaxes to its ground state, and the
# sensor must answer with its measurement outcome: the projectors $P_k$ onto ↑↑, ↑↓ and ↓↓
# stand for phases I, II and III. This is the phase-recognition task of Wanjura & Marquardt
# (2025), on a smaller ring.
#
# Training uses the physical protocol: centered nudges $\beta = \pm 0.4$ on the three
# projectors, every expectation value estimated from 10 projective measurements (shots), and
# an Adam step per batch of 10 fresh samples. Units: couplings in units of J, $\hbar = 1$.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems.quantum_tasks import train_phase_sensor
from physlearn.systems.spin_chain import cluster_ising_phases

FAST = fast_mode()
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
# 40 batches by default; PHYSLEARN_SENSOR_BATCHES=400 is the full run (minutes).
# PHYSLEARN_FAST=1: 10 batches, a smaller test set, fewer evaluations and a coarser map of
# the triangle (PHYSLEARN_SENSOR_BATCHES still sets the number of batches).
BATCHES = int(os.environ.get("PHYSLEARN_SENSOR_BATCHES", 10 if FAST else 40))
N_TEST = 40 if FAST else 200          # test couplings for the accuracy curve
N_MAP = 120 if FAST else 400          # couplings on the triangle in the right panel
EVAL_EVERY = max(BATCHES // 2, 1) if FAST else max(BATCHES // 8, 1)

# %% [markdown]
# ## Quantum EP, step by step
#
# For each sample the system is prepared three times: in its ground state $|\psi_0\rangle$ of
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
# with an $O(\beta^2)$ bias while $\beta\,\|C\|$ stays below the spectral gap. So three
# preparations per sample give all 51 components of the gradient. Each expectation is
# estimated from a finite number $M$ of shots, so the estimate is noisy as well as biased:
# the shot noise of a contrast divided by $2\beta$ has a variance $\propto 1/(M\beta^2)$,
# which is why a large β is used with only 10 shots.
#
# `train_phase_sensor` runs this loop and evaluates the sensor every few batches on a fixed
# test set with exact expectations: the *max-choice* accuracy (the largest
# $\langle P_k\rangle$ names the phase) and the *single-shot* accuracy (the mean probability
# that one measurement of the sensor gives the right answer). It also counts the nudges the
# gap guard flags as too large for linear response. The cell prints the final numbers.

# %%
result = train_phase_sensor(6, batches=BATCHES, beta=0.4, shots=10, lr=0.01, seed=0,
                            n_test=N_TEST, eval_every=EVAL_EVERY)
print(f"test accuracy (max-choice): {result['accuracy']:.3f}, "
      f"single-shot: {result['single_shot']:.3f}, "
      f"nudges flagged by the gap guard: {result['near_gap_warnings']}")

# %% [markdown]
# The gap guard warns once per nudged relaxation of a batch (two per batch, $+\beta$ and
# $-\beta$) in which some sample's nudge strength $\beta\sum_k|\varepsilon_k|\,\|P_k\|$
# exceeds a tenth of its gap, the edge of the linear-response regime: compare the count with
# twice the number of batches. Where it warns, the finite-β estimate is biased, but it can
# still point downhill, and that is what the accuracy curve tests.
#
# Left panel: the accuracy curves. Right panel: the trained sensor's answer (exact
# expectations) for fresh couplings on the phase triangle, drawn in barycentric coordinates,
# with the infinite-chain phase boundaries ($g_{zz} = 2$ and $g_x = g_{zxz}$) dashed and the
# misclassified points circled.

# %%
sensor = result["sensor"]
sensor.set_params(shots=None)
grid, labels, _ = cluster_ising_phases(N_MAP, seed=123)
pred = np.argmax(sensor.predict(grid), axis=1)
steps, acc, single = np.array(result["history"]).T

fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
axes[0].plot(steps, acc, marker="o", ms=3, label="max-choice")
axes[0].plot(steps, single, marker="o", ms=3, label="single-shot")
axes[0].set(xlabel="training batch (10 samples, 10 shots per expectation)",
            ylabel="test accuracy (fraction)", ylim=(0, 1),
            title="quantum EP training of the phase sensor")
axes[0].legend()


def triangle(g):
    """Barycentric coordinates of couplings (g_zxz, g_zz, g_x) on g_zxz + g_zz + g_x = 4."""
    g = np.atleast_2d(g)
    return g[:, 1] + 0.5 * g[:, 2], np.sqrt(3) / 2 * g[:, 2]


px, py = triangle(grid)
for k, name in enumerate(("I (cluster)", "II (ferro)", "III (para)")):
    axes[1].scatter(px[pred == k], py[pred == k], s=8, label=name)
wrong = pred != labels
axes[1].scatter(px[wrong], py[wrong], s=20, facecolors="none", edgecolors="k", label="wrong")
corners = np.array([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0], [4.0, 0, 0]])
axes[1].plot(*triangle(corners), color="k", lw=0.8)
for ends in ([[2.0, 2.0, 0], [0, 2.0, 2.0]], [[2.0, 0, 2.0], [1.0, 2.0, 1.0]]):
    axes[1].plot(*triangle(ends), color="k", ls="--", lw=0.8)
for corner, text, align in ((corners[0], "$g_{zxz} = 4$", "right"),
                            (corners[1], "$g_{zz} = 4$", "left"),
                            (corners[2], "$g_x = 4$", "center")):
    cx, cy = triangle(corner)
    axes[1].annotate(text, (cx[0], cy[0]), xytext=(0, 6 if align == "center" else -12),
                     textcoords="offset points", ha=align, fontsize=8)
axes[1].set(title="sensor answer on the phase triangle", xticks=[], yticks=[], aspect="equal")
axes[1].margins(0.08)
for side in axes[1].spines.values():
    side.set_visible(False)
axes[1].legend(fontsize=7, loc="upper right")
fig.savefig(FIGURES / "quantum_phase_sensor.png", dpi=130)
print("wrote", FIGURES / "quantum_phase_sensor.png")
