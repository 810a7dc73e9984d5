# %% [markdown]
# # ngspice in the loop: training a diode circuit that only a simulator knows
#
# A hardware team often does not have an in-process model of its circuit: it has a netlist
# and a circuit simulator (or the chip itself). Equilibrium propagation (EP) needs nothing
# more, because a resistive circuit *computes by minimising an energy*. For two-terminal
# elements with monotone current–voltage curves, the DC operating point minimises the total
# co-content (Millar 1951) over the free node voltages $V$,
#
# $$E(g, x, V) = \tfrac12 \sum_e g_e (V_a - V_b)^2 + \sum_d \int_0^{u_d} i_D(u')\,du' ,$$
#
# with conductances $g_e$ on the resistors and diodes $d$ of forward voltage $u_d$; its
# stationarity condition $\partial E/\partial V = 0$ is Kirchhoff's current law. So:
#
# * the **free state** of EP is what ngspice computes (`.op`);
# * the **nudge** $\beta\,C(o, y)$ on the output voltages $o$ is a current source
#   $\beta\,\partial C/\partial V$ at each output (for the squared error, a conductance
#   $\beta$ to a voltage source at the target, Kendall et al. 2020);
# * the **local learning signal** of every resistor is
#   $\partial E/\partial g_e = \tfrac12 \Delta V_e^2$, read from the branch voltages
#   ngspice writes back, and EP's gradient estimate is
#   $$\hat g_e = \frac{1}{2\beta}\Big[\tfrac12 \Delta V_e^2\big|_{+\beta}
#     - \tfrac12 \Delta V_e^2\big|_{-\beta}\Big] \approx \frac{\partial L}{\partial g_e}$$
#   for the centered variant (Scellier 2024).
#
# `SpiceNetwork` wraps an in-process circuit description (here a layered network of
# resistors with Shockley diodes $i_D = I_s(e^{u/nV_T} - 1)$ from the hidden nodes to
# ground) that provides the topology, the trainable conductances and the netlist; every
# relaxation is one ngspice run over the whole batch (disjoint copies of the circuit in one
# netlist). Units: volts, siemens, amperes. Needs ngspice on the `PATH`
# (Debian/Ubuntu: `apt-get install ngspice`); without it the script trains only the
# in-process model and says how to install ngspice.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems import SpiceNetwork
from physlearn.systems.diode import NonlinearResistorNetwork
from physlearn.systems.spice import INSTALL_HINT, ngspice_available

FAST = fast_mode()                               # PHYSLEARN_FAST=1: fewer training epochs
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
EPOCHS = 8 if FAST else 25                       # training epochs of section 2
HAVE_NGSPICE = ngspice_available()
if not HAVE_NGSPICE:
    print(f"ngspice is not installed: install it with `{INSTALL_HINT}` to run the circuit in "
          "the loop; training the in-process model only.")


def make_circuit():
    """2 differential inputs, 8 hidden nodes with alternating Shockley diodes, 2 outputs."""
    return NonlinearResistorNetwork.layered([2, 8, 2], seed=0, diode_law="shockley")


# %% [markdown]
# ## 1. The same gradient from ngspice and from the model
#
# Centered EP (nudges $\pm\beta$) on the four XOR points, with the cross-entropy of a
# softmax of the two output voltages at temperature $T$,
# $C = -\sum_k y_k \log p_k$, $p = \mathrm{softmax}(o/T)$. The same circuit is relaxed twice:
# by ngspice, and by the in-process Newton solver of the model. Both find the same operating
# point up to the simulator's tolerances, so the two EP estimates agree too (the first
# printed lines measure by how much, and how long one batch takes each way).
#
# Against the exact gradient (implicit differentiation at ngspice's free point,
# `pl.exact_gradient`) centered EP has a bias of order $\beta^2$. With a softmax at
# temperature $T = 0.1$ the effective nudge is $\beta/T$, so the bias at $\beta = 0.05$ is
# large and at $\beta = 10^{-3}$ small: the last two lines compare them.

# %%
data = pl.datasets.xor()
cost = pl.CrossEntropy(temperature=0.1)
rule = pl.EP(beta=0.05, variant="centered")
twin = make_circuit()
x, y = data.x_train, data.y_train
if HAVE_NGSPICE:
    net = SpiceNetwork(make_circuit())
    t0 = time.perf_counter()
    free = net.equilibrium(x)
    t_spice = time.perf_counter() - t0
    t0 = time.perf_counter()
    reference = twin.equilibrium(x)
    t_model = time.perf_counter() - t0
    g_spice, g_model = rule.gradient(net, x, y, cost), rule.gradient(twin, x, y, cost)
    print(f"largest voltage difference ngspice vs model: "
          f"{np.max(np.abs(free.voltages - reference.voltages)):.2e} V")
    print(f"one batch of {len(x)}: ngspice {1e3 * t_spice:.1f} ms, in-process "
          f"{1e3 * t_model:.1f} ms")
    print(f"centered EP, ngspice vs model: relative difference "
          f"{relative_error(g_spice, g_model):.2e}")
    exact = pl.exact_gradient(net, x, y, cost)
    for beta in (0.05, 1e-3):
        g = pl.EP(beta=beta, variant="centered").gradient(net, x, y, cost)
        print(f"centered EP (ngspice, beta={beta:g}) vs exact gradient: relative error "
              f"{relative_error(g, exact):.2e}")

# %% [markdown]
# ## 2. Training in the loop
#
# The library's `train` drives the circuit through ngspice exactly as it drives the model:
# every gradient costs three ngspice runs (free, $+\beta$, $-\beta$), each over the whole
# batch, and Adam updates the conductances (floored at the circuit's minimum conductance).
# The `SpiceNetwork` shares its parameters with the circuit description it wraps, so after
# training that description is the digital twin of the trained circuit. An independent
# in-process model, trained identically, should end at the same conductances: the script
# prints the largest difference, and the loss and accuracy of both.

# %%
def run(system):
    """EPOCHS epochs of Adam (a fresh optimizer per run: its state belongs to one run)."""
    return pl.train(system, rule, data, epochs=EPOCHS, batch_size=4,
                    optimizer=pl.optim.Adam(lr=0.1), cost=cost, progress=False)


histories = {"in-process model": run(twin)}
if HAVE_NGSPICE:
    histories["ngspice in the loop"] = run(net)
    drift = np.max(np.abs(net.params["conductance"] - twin.params["conductance"]))
    print(f"largest conductance difference after training: {drift:.2e} S")
for name, history in histories.items():
    losses = history["train_loss"]
    print(f"{name:>20}: loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy "
          f"{history.final['train_accuracy']:.2f}")

# %% [markdown]
# The learning curves of the two runs lie on top of each other (dashed: ngspice).

# %%
fig, ax = plt.subplots(figsize=(4.8, 3.5), layout="constrained")
for (name, history), style in zip(histories.items(), ("-", "--")):
    ax.plot(history["epoch"], history["train_loss"], style, label=name)
ax.set(xlabel="epoch", ylabel="cross-entropy (dimensionless)",
       title="XOR, centered EP, Shockley diodes")
ax.legend()
fig.savefig(FIGURES / "ngspice_in_the_loop.png", dpi=120)
