# %% [markdown]
# # Hamiltonian echo backpropagation: weights with momenta
#
# In a *self-learning machine* (López-Pastor & Marquardt 2023) the weights are not knobs set
# from outside: they are heavy particles inside the same Hamiltonian system as the signal.
# Here $n$ anharmonic *evaluation* oscillators $\psi_i$ are coupled pairwise through
# *learning* degrees of freedom $w_e$, one per pair $e = (i, j)$, of mass $M$
# (`systems/self_learning.py`):
#
# $$H = \tfrac12\|p_\psi\|^2 + \frac{\|p_w\|^2}{2M}
#   + \sum_i\Big(\tfrac12\omega^2\psi_i^2 + \tfrac14 g\,\psi_i^4\Big)
#   + \sum_{e=(i,j)} w_e\,\psi_i\psi_j .$$
#
# The input sets the initial displacement of the first oscillators, all momenta start at
# zero, and after a time $T$ the positions of the last oscillators are the outputs. The
# trainable parameters are the initial positions of the $w_e$.
#
# One learning cycle is purely physical (Hamiltonian echo backpropagation, HEB):
#
# 1. evolve for a time $T$;
# 2. *error injection*: kick the output momenta by $-\eta\,\partial C/\partial\psi$;
# 3. flip every momentum (time reversal) and 4. evolve again for $T$ under the same $H$;
# 5. flip again: the machine is back at its start, except for a momentum kick
#    $p_w \approx -\eta\,\partial C/\partial w$ on the weights (and a small spurious shift
#    $\delta w \approx \eta\,\partial C/\partial p_w$);
# 6. *decay*: friction $\gamma$ turns the kick into a displacement,
#    $w \leftarrow w + \kappa\,p_w/m$ with $\kappa = 1 - e^{-\gamma}$.
#
# Step 6 is a gradient step of rate $\eta\kappa/m$, and the machine needed no knowledge of $H$
# to take it. Dimensionless units: time in units of $1/\omega$.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.rules.heb import HEB, heb_step
from physlearn.systems.self_learning import SelfLearningMachine

FAST = fast_mode()                           # PHYSLEARN_FAST=1: fewer learning cycles
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
N_CYCLES = 60 if FAST else 200               # physical HEB learning cycles

# %% [markdown]
# ## 1. The displacement is the gradient: simple and averaged HEB
#
# Rescaled to a gradient, the displacement of one cycle is
# $\hat g = -m\,\Delta w/(\eta\kappa)$. With $\Delta w = \eta s - (\eta\kappa/m)\,g + O(\eta^2)$,
# where $g = \partial C/\partial w_0$ and $s = \partial C/\partial p_{w,0}$, the *simple*
# estimate carries a bias $-ms/\kappa$ that does **not** vanish as $\eta \to 0$. *Averaged*
# HEB repeats the cycle with $(-\eta, -m)$ from the same start: the gradient term keeps its
# sign, the spurious shift flips, and the sum is exact up to $O(\eta m)$. So theory predicts a
# simple-HEB error that stays put as η shrinks and an averaged-HEB error that falls with η.
# The reference is the exact gradient by backpropagation through time.
#
# The task is XOR on $\pm1$ inputs. The dynamics are odd under $\psi \to -\psi$, so a constant
# third input (a bias displacement) is needed to break the symmetry that XOR violates.

# %%
machine = SelfLearningMachine(5, 3, 1, seed=0)
x = np.array([[-1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, 1.0]])
y = 0.5 * np.array([[-1.0], [1.0], [1.0], [-1.0]])      # XOR on ±1 inputs
ref = pl.exact_gradient(machine, x, y)
for variant in ("simple", "averaged"):
    for eta in (1e-3, 1e-4):
        err = relative_error(HEB(eta=eta, variant=variant).gradient(machine, x, y), ref)
        print(f"{variant:>9} η={eta:.0e}: relative error vs BPTT {err:.2e}")

# %% [markdown]
# ## 2. Learning XOR by its own dynamics
#
# `heb_step` applies the mean displacement of one averaged HEB cycle over the four inputs
# ($\eta = 10^{-3}$, $m = 10^{-2}$, $\gamma = 5$: a learning rate $\eta\kappa/m$ close to 0.1)
# and assigns the new weights. Nothing but the physical cycle is run; the loss
# $C = \tfrac12(o - y)^2$ (batch mean) is only measured, to draw the learning curve.

# %%
losses = [pl.loss(machine, x, y)]
for _ in range(N_CYCLES):
    heb_step(machine, x, y, eta=1e-3, mass=1e-2)
    losses.append(pl.loss(machine, x, y))
print(f"loss before / after {N_CYCLES} physical HEB steps:", losses[0], losses[-1])
print("outputs:", machine.predict(x).ravel(), "targets:", y.ravel())
fig, ax = plt.subplots(figsize=(5.5, 3.5), layout="constrained")
ax.semilogy(losses)
ax.set_xlabel("HEB learning cycle (count)")
ax.set_ylabel("loss ½(o − y)², batch mean\n(dimensionless)")
ax.set_title("a self-learning machine learns XOR")
fig.savefig(FIGURES / "23_heb_learning_curve.png", dpi=120)
