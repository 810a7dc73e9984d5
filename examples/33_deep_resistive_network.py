# %% [markdown]
# # A deep resistive network learns digits with equilibrium propagation
#
# A *deep resistive network* (DRN) is a layered circuit of linear resistors, *ideal* diodes
# and sources (Scellier 2024). Its steady state minimises the power dissipation
#
# $$E(v) = \tfrac12\sum_{ij} g_{ij}\,(v_i - v_j)^2 - \sum_k b_k v_k$$
#
# over the free node voltages $v$, with resistors $g_{ij} \ge 0$ between consecutive layers
# and bias current sources $b_k$, under the diodes' inequality constraints: an ideal diode to
# ground keeps its node at $v \ge 0$ (excitatory unit) or $v \le 0$ (inhibitory unit). Because
# the network is layered, the nodes of one layer do not interact: given its two neighbour
# layers, $E$ restricted to a layer is a sum of independent parabolas
# $\tfrac12 d_k v_k^2 - c_k v_k$, minimised in closed form by $v_k = \Pi(c_k/d_k)$, the
# projection onto the diode's interval. Alternating even and odd layers is exact *block
# coordinate descent*: the energy never increases, and four such sweeps are the paper's budget.
#
# Here scikit-learn's 8×8 digits (64 standardised pixels) drive 128 voltage sources at
# $\pm\gamma x$ (a differential drive, so non-negative conductances realise signed weights);
# 1024 hidden nodes, half excitatory and half inhibitory, feed 10 linear outputs. Centered EP
# with β = 1 nudges the outputs with the currents $\pm(y - o)$ and reads
# $\partial C/\partial g_{ij}$ from the local measurement
# $\partial E/\partial g_{ij} = \tfrac12 (v_i - v_j)^2$, the squared voltage drop across
# each resistor, contrasted between the $+\beta$ and $-\beta$ states; as in the paper: batch
# 4, SGD at learning rate 0.006, conductances clipped at $g \ge 0$.
#
# The input gain: the paper's γ = 480 for 1024 hidden units was tuned for MNIST pixels in
# $[0, 1]$ (`pl.datasets.digits(scaling="intensity")` gives that convention, and a slow test,
# `tests/test_drn.py`, trains the same network on it with the paper's gain). Standardised
# pixels (mean 0, unit variance: signed, and centred) are a different drive; on them a
# smaller gain, γ = 40, trains in fewer epochs, and that is what this example uses.
# Dimensionless units: voltages in units of the input scale, conductances in units of a
# reference conductance, currents in their product.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

import physlearn as pl
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.nudges import Nudge
from physlearn.systems import DeepResistiveNetwork

FAST = fast_mode()         # PHYSLEARN_FAST=1: 256 hidden units, 2 epochs (DRN_EPOCHS wins)
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
EPOCHS = int(os.environ.get("DRN_EPOCHS", 2 if FAST else 10))
HIDDEN = 256 if FAST else 1024                   # hidden units: the first half excitatory
data = pl.datasets.digits()

# %% [markdown]
# ## 1. Four sweeps and the KKT certificate
#
# The constrained minimum is characterised by the Karush–Kuhn–Tucker (KKT) conditions: with
# $r = \partial E/\partial v$, the net current a node would need from its diode, $r_k = 0$ at
# every unclipped node, and a clipped node's diode may only push current in the direction it
# conducts. Every relaxation reports a *KKT certificate* (`state.kkt`, a current): the largest
# violation of these conditions. Theory: each sweep is an exact block minimisation, so the
# certificate falls with the number of sweeps; with the paper's four it is small but not
# zero, and relaxing to a tolerance drives it to round-off. The second column is the
# fraction of hidden nodes held at $v = 0$ by their diode.

# %%
net = DeepResistiveNetwork([64, HIDDEN, 10], input_gain=40.0, sweeps=4, seed=0)
x = data.x_test[:100]
for sweeps in (1, 2, 4, 8, 16):
    state = net.set_params(sweeps=sweeps).equilibrium(x)
    print(f"{sweeps:>2} sweeps: KKT certificate {state.kkt.max():.2e}, "
          f"clipped hidden nodes {np.mean(state.s[:, :HIDDEN] == 0):.0%}")
converged = net.set_params(sweeps=None, tol=1e-12).equilibrium(x)
print(f"to tolerance: {converged.sweeps} sweeps, certificate {converged.kkt.max():.1e}")

# %% [markdown]
# ## 2. EP against implicit differentiation
#
# The free equilibrium is piecewise linear in the conductances. Away from switching points
# (where a diode changes between blocking and conducting) the clipped nodes are constants,
# and implicit differentiation on the unclipped ones is the exact gradient. EP's centered
# estimate has a bias $O(\beta^2)$ as long as $\pm\beta$ switch no diode; at very small β the
# round-off of the two relaxations, divided by $2\beta$, takes over. The last line relaxes
# the β = 1 nudged state used in training to a tolerance and reports its certificate.

# %%
xs, ys = data.x_test[:4], data.y_test[:4]
exact = pl.exact_gradient(net, xs, ys)
for beta in (1e-2, 1e-3, 1e-4):
    err = pl.check.relative_error(pl.EP(beta=beta).gradient(net, xs, ys), exact)
    print(f"centered EP, beta = {beta:g}: relative error {err:.1e}")
nudged = net.equilibrium(xs, Nudge(pl.SquaredError(), ys, 1.0))
print(f"nudged (beta = 1) certificate {nudged.kkt.max():.1e} after {nudged.sweeps} sweeps")

# %% [markdown]
# ## 3. Training with the paper's settings
#
# Four sweeps per relaxation, centered EP with β = 1, batch 4, SGD at learning rate 0.006.
# Epoch 0 is the untrained network (near chance, one in ten, below the plotted range); the
# printed line gives the final test and training accuracies and the wall time per epoch of
# this simulation.

# %%
net.set_params(sweeps=4)
history = pl.train(net, pl.EP(beta=1.0, variant="centered"), data, epochs=EPOCHS,
                   batch_size=4, optimizer=pl.optim.SGD(lr=0.006), progress=False)
print(f"test accuracy after {EPOCHS} epochs: {history.final['test_accuracy']:.1%} "
      f"(train {history.final['train_accuracy']:.1%}); "
      f"{np.mean(history['seconds'][1:]):.2f} s per epoch")

fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
ax.plot(history["epoch"], history["test_accuracy"], "o-", label="test")
ax.plot(history["epoch"], history["train_accuracy"], "s--", label="train")
lowest = np.nanmin(np.r_[history["test_accuracy"][1:], history["train_accuracy"][1:]])
ax.set(xlabel="epoch", ylabel="accuracy (fraction correct)",
       ylim=(min(0.8, lowest - 0.02), 1.0), title=f"DRN 64-{HIDDEN}-10, centered EP")
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend()
fig.savefig(FIGURES / "drn_learning_curve.png", dpi=120)

# %% [markdown]
# ## 4. The trained network, coloured by conductance
#
# Left: the 24 hidden units with the largest total conductance to the outputs, with the
# strongest 32 of their resistors to the 128 input sources (the `+γx` nodes in the lower
# half, marked red, the `−γx` nodes in the upper half, blue) and all of their resistors to
# the outputs; colour and width follow the conductance.
# Right: the signed receptive field $g(+x_p) - g(-x_p)$ of six of those units over the
# 8×8 pixels $p$ (a positive value: the unit is driven up by a bright pixel), on one colour
# scale, each titled with the class it connects to most strongly.

# %%
g1, g2 = net.params["g1"], net.params["g2"]
top = np.argsort(g2.sum(axis=1))[::-1][:24]
pos_in = np.linspace(0, 1, 128)
pos_h = np.linspace(0.1, 0.9, len(top))
pos_o = np.linspace(0.25, 0.75, 10)
fig = plt.figure(figsize=(11, 5.2), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1.1, 1])
ax = left.subplots()
cmap = plt.get_cmap("viridis")
vmax = max(g1[:, top].max(), g2[top].max())
segments = []
for j, h in enumerate(top):
    strong = np.argsort(g1[:, h])[::-1][:32]
    segments += [((0.0, pos_in[i]), (0.5, pos_h[j]), g1[i, h]) for i in strong]
    segments += [((0.5, pos_h[j]), (1.0, pos_o[o]), g2[h, o]) for o in range(10)]
for (x0, y0), (x1, y1), g in sorted(segments, key=lambda s: s[2]):
    ax.plot([x0, x1], [y0, y1], color=cmap(g / vmax), lw=0.3 + 2.5 * g / vmax, alpha=0.8)
exc = top < HIDDEN // 2
ax.scatter(np.zeros(128), pos_in, s=6, c=np.r_[np.ones(64), -np.ones(64)], cmap="coolwarm")
ax.scatter(np.full(len(top), 0.5), pos_h, s=40, c=np.where(exc, "tab:red", "tab:blue"),
           zorder=3)
ax.scatter(np.ones(10), pos_o, s=60, c="k", zorder=3)
for o in range(10):
    ax.text(1.03, pos_o[o], str(o), va="center")
ax.text(0.0, 1.03, "inputs ±γx", ha="center")
ax.text(0.5, 0.95, "hidden (red v≥0, blue v≤0)", ha="center")
ax.text(1.0, 0.8, "outputs", ha="center")
ax.set(xlim=(-0.12, 1.1), ylim=(-0.03, 1.08))
ax.set_axis_off()
left.colorbar(plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, vmax)), ax=ax,
              fraction=0.04, label="conductance g (dimensionless)")
left.suptitle("24 strongest hidden units and their resistors")
fields = [(g1[:64, h] - g1[64:, h]).reshape(8, 8) for h in top[:6]]
lim = max(np.abs(field).max() for field in fields)
grid = right.subplots(2, 3)
for axf, h, field in zip(grid.flat, top[:6], fields):
    image = axf.imshow(field, cmap="coolwarm", vmin=-lim, vmax=lim)
    axf.set_title(f"unit {h} ({'exc' if h < HIDDEN // 2 else 'inh'})\n→ class "
                  f"{int(np.argmax(g2[h]))}", fontsize=8)
    axf.set_axis_off()
right.colorbar(image, ax=grid, shrink=0.7,
               label="receptive field g(+x_p) − g(−x_p) (dimensionless)")
right.suptitle("receptive fields over the 8×8 pixels")
fig.suptitle(f"DRN 64-{HIDDEN}-10 after {EPOCHS} epochs of centered EP")
fig.savefig(FIGURES / "drn_network.png", dpi=120)
print(f"figures written to {FIGURES}")
