# %% [markdown]
# # Hamiltonian echo backpropagation: weights with momenta
#
# In a self-learning machine (López-Pastor & Marquardt 2023) the weights are heavy particles
# inside the same Hamiltonian system as the signal. Run, kick the outputs by the error, flip
# all momenta, run again, flip back: the weights come home with a momentum kick
# ``−η ∂C/∂w`` (and a small spurious shift, which the averaged variant cancels). Friction then
# turns the kick into a gradient step — no knowledge of ``H`` needed.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.plots import figure_dir
from physlearn.rules.heb import HEB, heb_step
from physlearn.systems.self_learning import SelfLearningMachine

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# The dynamics are odd under ψ → −ψ, so a constant third input (a bias displacement) is
# needed to break the symmetry that XOR violates.
machine = SelfLearningMachine(5, 3, 1, seed=0)
x = np.array([[-1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, 1.0]])
y = 0.5 * np.array([[-1.0], [1.0], [1.0], [-1.0]])      # XOR on ±1 inputs
ref = pl.exact_gradient(machine, x, y)
for variant in ("simple", "averaged"):
    for eta in (1e-3, 1e-4):
        err = relative_error(HEB(eta=eta, variant=variant).gradient(machine, x, y), ref)
        print(f"{variant:>9} η={eta:.0e}: relative error vs BPTT {err:.2e}")

# %%
losses = [pl.loss(machine, x, y)]
for _ in range(200):
    heb_step(machine, x, y, eta=1e-3, mass=1e-2)
    losses.append(pl.loss(machine, x, y))
print("loss before / after 200 physical HEB steps:", losses[0], losses[-1])
print("outputs:", machine.predict(x).ravel(), "targets:", y.ravel())
fig, ax = plt.subplots(figsize=(5, 3))
ax.semilogy(losses)
ax.set_xlabel("HEB cycle")
ax.set_ylabel("loss")
fig.tight_layout()
fig.savefig(FIGURES / "23_heb_learning_curve.png", dpi=120)
