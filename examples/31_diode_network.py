# %% [markdown]
# # Diodes make a resistor network nonlinear — and it still computes its own gradient
#
# A network of resistors and diodes, driven by voltage sources, settles in a steady state
# that minimises its total *co-content* (Millar 1951) over the free node voltages $V$:
#
# $$E(g, x, V) = \tfrac12\sum_e g_e\,(V_a - V_b)^2 + \sum_d D(u_d),
#   \qquad D(u) = \int_0^u i_D(u')\,du' ,$$
#
# a sum over the resistors $e = (a, b)$ with conductances $g_e$ and over the diodes $d$ with
# voltage drops $u_d$. Setting $\partial E/\partial V = 0$ is Kirchhoff's current law. Because
# the steady state minimises an energy, *equilibrium propagation* (EP) applies unchanged:
# add a nudge $\beta\,C(o, y)$ that pulls the output voltages $o$ toward the target $y$ (a
# current injected at the outputs), let the circuit re-settle, and contrast the local
# quantity $\partial E/\partial g_e = \tfrac12\Delta V_e^2$ of every resistor:
#
# $$\frac{dC}{dg_e} \approx \frac{1}{2\beta}\Big[\tfrac12\Delta V_e^2\big|_{+\beta}
#   - \tfrac12\Delta V_e^2\big|_{-\beta}\Big]$$
#
# (Kendall et al. 2020; Scellier 2024). Each resistor needs only the voltage across itself.
# This notebook shows the smooth diode model and the rectification it brings, checks EP
# against implicit differentiation, and trains XOR, which a linear resistor network cannot
# represent. Dimensionless units: voltages in units of the input scale, conductances in units
# of a reference conductance, currents in their product.

# %%

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

import physlearn as pl
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems import ResistorNetwork
from physlearn.systems.diode import NonlinearResistorNetwork

FAST = fast_mode()                           # PHYSLEARN_FAST=1: shorter sweeps and training
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
N_BETAS = 4 if FAST else 7                   # nudges of the bias-order fit
XOR_EPOCHS = 25 if FAST else 60

# %% [markdown]
# ## 1. The smooth diode
#
# The default diode law is a smoothed *ideal* diode (not Shockley's exponential):
#
# $$i_D(u) = g_D V_T\big[\operatorname{softplus}((u - u_0)/V_T)
#   - \operatorname{softplus}(-u_0/V_T)\big],$$
#
# blocking below the knee and ohmic with on-conductance $g_D$ above it, with turn-on voltage
# $u_0$ (here 0). The knee width $V_T$ is the sharpness parameter; $V_T \to 0$ is the ideal
# diode. The differential conductance $i_D'(u) = g_D\,\sigma((u - u_0)/V_T)$ is positive
# everywhere, so the co-content is strictly convex and the steady state unique; the price is
# a small reverse leak, which vanishes as $g_D V_T \to 0$.

# %%
u = np.linspace(-1, 1, 401)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
for knee in (0.2, 0.05, 0.01):
    d = NonlinearResistorNetwork.layered([1, 1, 1], seed=0, knee=knee, diode_conductance=1.0)
    axes[0].plot(u, d.diode_current(u), label=f"V_T = {knee}")
    axes[1].plot(u, d.diode_cocontent(u), label=f"V_T = {knee}")
axes[0].set(xlabel="diode voltage u (dimensionless)", ylabel="current i_D(u) (dimensionless)",
            title="current–voltage curve")
axes[1].set(xlabel="diode voltage u (dimensionless)",
            ylabel="co-content D(u) (dimensionless)", title="energy term")
for ax in axes:
    ax.set_xticks(np.linspace(-1, 1, 5))
    ax.legend()
fig.suptitle("smooth diode, on-conductance g_D = 1, three knee widths")
fig.savefig(FIGURES / "diode_curve.png", dpi=120)

# %% [markdown]
# ## 2. Rectification in a circuit
#
# A chain `in —g— h —g— out —g— ground` (three unit conductances) with a diode from ground to
# the hidden node `h` (an *excitatory* unit, Scellier 2024). Without the diode the chain is a
# voltage divider, $V_\text{out} = V_\text{in}/3$. With it, the diode conducts as soon as
# $V_h < 0$ and clamps the hidden voltage near zero, so for negative inputs the output
# (almost) vanishes: the transfer curve bends, like a rectified linear unit. For positive
# inputs the diode is reverse biased and the smooth law's leak, $g_D V_T\ln 2$ at $u_0 = 0$,
# draws a constant current from `h`, which shifts the conducting branch down.

# %%
graph = nx.path_graph(["in", "h", "out", "ground"])
sweep = np.linspace(-1, 1, 41 if FAST else 81)[:, None]
linear = ResistorNetwork(graph, ["in"], ["out"], "ground", conductance=[1, 1, 1])
rectifier = NonlinearResistorNetwork(graph, ["in"], ["out"], "ground", conductance=[1, 1, 1],
                                     diodes=[("ground", "h")], diode_conductance=20.0)
fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
ax.plot(sweep, linear.predict(sweep), label="resistors only")
ax.plot(sweep, rectifier.predict(sweep), label="with a diode ground → h")
ax.set(xlabel="input voltage (dimensionless)", ylabel="output voltage (dimensionless)",
       title="a diode rectifies")
ax.legend()
fig.savefig(FIGURES / "diode_rectifier.png", dpi=120)

# %% [markdown]
# ## 3. EP against implicit differentiation
#
# A layered network `[3, 8, 2]`: three inputs applied differentially ($\pm x$), eight hidden
# nodes each with a diode to ground (alternately excitatory and inhibitory), two outputs. The
# exact gradient comes from implicit differentiation of the steady state. Theory: EP's
# one-sided estimates (nudge $+\beta$ or $-\beta$ only, contrasted with the free state) have
# a bias $O(\beta)$, the centered one $O(\beta^2)$; `pl.bias_order` fits the slope of
# $\log(\text{error})$ against $\log\beta$.
#
# The diode network has no `"complex"` capability: a physical diode curve has no analytic
# continuation, and the softplus has branch points a distance $\pi V_T$ from the real axis,
# so holomorphic EP (complex β) is refused, as the last line shows.

# %%
net = NonlinearResistorNetwork.layered([3, 8, 2], seed=2)
rng = np.random.default_rng(0)
x, y = rng.normal(size=(6, 3)), 0.3 * rng.normal(size=(6, 2))
print(pl.gradient_check(net, pl.EP(beta=1e-3, variant="centered"), x, y))
betas = np.logspace(-1, -4, N_BETAS)
fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
for variant in ("positive", "negative", "centered"):
    measured = pl.bias_order(net, pl.EP(variant=variant), x, y, betas)
    print(f"{variant:>9}: fitted bias order {measured.slope:.3f}")
    ax.loglog(betas, measured.errors, "o-", ms=3, label=f"{variant} (slope {measured.slope:.2f})")
ax.set(xlabel="nudge β (dimensionless)",
       ylabel="relative error vs implicit diff. (dimensionless)",
       title="EP bias in a diode network")
ax.legend()
fig.savefig(FIGURES / "diode_ep_bias.png", dpi=120)
try:
    pl.HolomorphicEP().gradient(net, x, y)
except ValueError as err:
    print("HolomorphicEP:", err)

# %% [markdown]
# ## 4. XOR: diodes learn it, a linear network cannot
#
# Same layered topology `[2, 8, 2]` with and without diodes; centered EP (β = 0.05), the
# cross-entropy of a softmax over the two output voltages at temperature 0.1, Adam. The
# output voltages of a linear network are linear functions of the inputs, so the class
# decision is a straight line in the input plane and at best three of the four XOR points
# can be classified correctly. The diodes' kinks are what the network needs.

# %%
data = pl.datasets.xor()
histories = {}
for cls in (NonlinearResistorNetwork, ResistorNetwork):
    model = cls.layered([2, 8, 2], seed=0)
    histories[cls.__name__] = pl.train(
        model, pl.EP(beta=0.05, variant="centered"), data, epochs=XOR_EPOCHS, batch_size=4,
        optimizer=pl.optim.Adam(lr=0.1), cost=pl.CrossEntropy(temperature=0.1), progress=False)
    print(f"{cls.__name__:>26}: loss {histories[cls.__name__].final['train_loss']:.3f}, "
          f"accuracy {histories[cls.__name__].final['train_accuracy']:.2f}")

fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
for name, history in histories.items():
    ax.plot(history["epoch"], history["train_loss"], label=name)
ax.set(xlabel="epoch", ylabel="cross-entropy (nats)", title="XOR with centered EP")
ax.legend()
fig.savefig(FIGURES / "diode_xor_training.png", dpi=120)
