# %% [markdown]
# # Diodes make a resistor network nonlinear — and it still computes its own gradient
#
# A network of resistors and diodes settles at the minimum of its total *co-content*
# (Millar 1951): ``½ Σ g ΔV²`` for the resistors plus ``∫ i_D`` for every diode. Because the
# steady state minimises an energy, equilibrium propagation applies unchanged: nudge the
# outputs, let the circuit re-settle, and contrast the squared voltage drops of the resistors
# (Kendall et al. 2020; Scellier 2024). This script shows the smooth diode model, the
# rectification it brings, checks EP against implicit differentiation, and trains XOR — which
# a linear resistor network cannot represent. Dimensionless units: voltages in units of the
# input scale, conductances in units of a reference conductance.

# %%

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

import physlearn as pl
from physlearn.experiment.plots import figure_dir
from physlearn.systems import ResistorNetwork
from physlearn.systems.diode import NonlinearResistorNetwork

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## 1. The smooth diode
#
# ``i_D(u) = g_D V_T [softplus((u − u₀)/V_T) − softplus(−u₀/V_T)]``: blocked below the knee,
# ohmic with on-conductance ``g_D`` above it. The knee width ``V_T`` is the sharpness
# parameter; ``V_T → 0`` is the ideal diode. The differential conductance ``g_D σ(·)`` is
# positive everywhere, so the co-content is strictly convex and the steady state unique.

# %%
u = np.linspace(-1, 1, 401)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
for knee in (0.2, 0.05, 0.01):
    d = NonlinearResistorNetwork.layered([1, 1, 1], seed=0, knee=knee, diode_conductance=1.0)
    axes[0].plot(u, d.diode_current(u), label=f"V_T = {knee}")
    axes[1].plot(u, d.diode_cocontent(u), label=f"V_T = {knee}")
axes[0].set(xlabel="diode voltage u", ylabel="current i_D(u)", title="current–voltage curve")
axes[1].set(xlabel="diode voltage u", ylabel="co-content D(u)", title="energy term")
axes[0].legend()
fig.tight_layout()
fig.savefig(FIGURES / "diode_curve.png", dpi=120)

# %% [markdown]
# ## 2. Rectification in a circuit
#
# ``in —g— h —g— out —g— ground`` with a diode from ground to ``h`` (an *excitatory* unit,
# Scellier 2024): the hidden voltage cannot go below zero, so the transfer curve bends.

# %%
graph = nx.path_graph(["in", "h", "out", "ground"])
sweep = np.linspace(-1, 1, 81)[:, None]
linear = ResistorNetwork(graph, ["in"], ["out"], "ground", conductance=[1, 1, 1])
rectifier = NonlinearResistorNetwork(graph, ["in"], ["out"], "ground", conductance=[1, 1, 1],
                                     diodes=[("ground", "h")], diode_conductance=20.0)
fig, ax = plt.subplots(figsize=(4.5, 3.3))
ax.plot(sweep, linear.predict(sweep), label="resistors only")
ax.plot(sweep, rectifier.predict(sweep), label="with a diode ground → h")
ax.set(xlabel="input voltage", ylabel="output voltage", title="a diode rectifies")
ax.legend()
fig.tight_layout()
fig.savefig(FIGURES / "diode_rectifier.png", dpi=120)

# %% [markdown]
# ## 3. EP against implicit differentiation
#
# The diode network has no ``"complex"`` capability — a physical diode curve has no analytic
# continuation, and the softplus has branch points ``πV_T`` away from the real axis — so
# holomorphic EP is refused. Real-β EP converges to the exact gradient with error O(β)
# (one-sided) and O(β²) (centered).

# %%
net = NonlinearResistorNetwork.layered([3, 8, 2], seed=2)
rng = np.random.default_rng(0)
x, y = rng.normal(size=(6, 3)), 0.3 * rng.normal(size=(6, 2))
print(pl.gradient_check(net, pl.EP(beta=1e-3, variant="centered"), x, y))
betas = np.logspace(-1, -4, 7)
fig, ax = plt.subplots(figsize=(4.5, 3.3))
for variant in ("positive", "negative", "centered"):
    measured = pl.bias_order(net, pl.EP(variant=variant), x, y, betas)
    print(f"{variant:>9}: fitted bias order {measured.slope:.3f}")
    ax.loglog(betas, measured.errors, "o-", ms=3, label=f"{variant} (slope {measured.slope:.2f})")
ax.set(xlabel="nudge β", ylabel="relative error vs implicit diff.", title="EP bias")
ax.legend()
fig.tight_layout()
fig.savefig(FIGURES / "diode_ep_bias.png", dpi=120)
try:
    pl.HolomorphicEP().gradient(net, x, y)
except ValueError as err:
    print("HolomorphicEP:", err)

# %% [markdown]
# ## 4. XOR: diodes learn it, a linear network cannot
#
# Same layered topology ``[2, 8, 2]``, centered EP (β = 0.05), cross-entropy at temperature
# 0.1, Adam. The output voltages of a linear network are linear in the inputs, so at best
# three of the four XOR points are classified correctly.

# %%
data = pl.datasets.xor()
histories = {}
for cls in (NonlinearResistorNetwork, ResistorNetwork):
    model = cls.layered([2, 8, 2], seed=0)
    histories[cls.__name__] = pl.train(
        model, pl.EP(beta=0.05, variant="centered"), data, epochs=60, batch_size=4,
        optimizer=pl.optim.Adam(lr=0.1), cost=pl.CrossEntropy(temperature=0.1), progress=False)
    print(f"{cls.__name__:>26}: loss {histories[cls.__name__].final['train_loss']:.3f}, "
          f"accuracy {histories[cls.__name__].final['train_accuracy']:.2f}")

fig, ax = plt.subplots(figsize=(4.5, 3.3))
for name, history in histories.items():
    ax.plot(history["epoch"], history["train_loss"], label=name)
ax.set(xlabel="epoch", ylabel="cross-entropy", title="XOR with centered EP")
ax.legend()
fig.tight_layout()
fig.savefig(FIGURES / "diode_xor_training.png", dpi=120)
