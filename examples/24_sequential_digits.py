# %% [markdown]
# # Sequential digits: training a Hamiltonian state-space model with its own echoes
#
# Each 8×8 digit of scikit-learn is read pixel by pixel as a 64-step scalar sequence. A
# 2-block HSSM (banks of oscillators joined by a tanh coupling, natural frequencies spread over
# [0.1, 1]) reads the top block's final positions into 10 class scores. We train it twice from
# the same start: with RHEL (forward run + two echoes per block, chained down the stack; no
# trajectory stored) and with BPTT (the exact gradient). Set ``EPOCHS`` lower for a quick look.

# %%
import os

import matplotlib.pyplot as plt

import physlearn as pl
from physlearn import datasets, optim
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.rules.echo import BPTT, RHEL
from physlearn.systems.hssm import HSSM

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
EPOCHS = int(os.environ.get("EPOCHS", 12))

data = datasets.digits(seed=0)
histories = {}
for name, rule in (("RHEL ε=1e-3", RHEL(eps=1e-3)), ("BPTT", BPTT())):
    model = HSSM(1, 32, 10, n_blocks=2, kind="linear", coupling="tanh", dt=1.0,
                 stiffness=(0.01, 1.0), seed=0)
    histories[name] = train(model, rule, data, epochs=EPOCHS, optimizer=optim.Adam(lr=5e-3),
                            batch_size=32, cost=pl.CrossEntropy(), seed=0)
    print(f"{name}: test accuracy {histories[name].final['test_accuracy']:.3f}")

# %%
fig, ax = plt.subplots(figsize=(5, 3))
for name, history in histories.items():
    ax.plot(history["epoch"], history["test_accuracy"], "o-", ms=3, label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("test accuracy")
ax.legend()
fig.tight_layout()
fig.savefig(FIGURES / "24_sequential_digits.png", dpi=120)
