# %% [markdown]
# # ngspice in the loop: training a diode circuit that only a simulator knows
#
# A hardware team does not have the in-process model of its circuit: it has a netlist and a
# circuit simulator (or the chip itself). Equilibrium propagation needs nothing more. The
# circuit's DC operating point minimises its total co-content (Millar 1951), so the free
# state is what ngspice computes; the nudge ``β C(o, y)`` is a current source ``β ∂C/∂V`` at
# each output (for the squared error: a conductance β to a voltage source at the target);
# and the local learning signal of every resistor is ``½ ΔV²``, read from the branch voltages
# ngspice writes back (Kendall et al. 2020; Scellier 2024).
#
# ``SpiceNetwork`` wraps an in-process circuit description (here a layered network of
# resistors with Shockley diodes from the hidden nodes to ground) that provides the topology,
# the trainable conductances and the netlist; every relaxation is one ngspice run over the
# whole batch. Units: volts, siemens, amperes. Needs ngspice on the ``PATH``
# (Debian/Ubuntu: ``apt-get install ngspice``); without it the script trains only the
# in-process model and says how to install ngspice.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.plots import figure_dir
from physlearn.systems import SpiceNetwork
from physlearn.systems.diode import NonlinearResistorNetwork
from physlearn.systems.spice import INSTALL_HINT, ngspice_available

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
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
# Centered EP (nudges ``±β``) on a batch of XOR points with a cross-entropy of the two output
# voltages. ngspice's operating points and the in-process Newton solver agree to round-off,
# so the two estimates agree too. Against the exact gradient (implicit differentiation at
# ngspice's free point) EP has its O(β²) bias: large at β = 0.05 for a softmax at
# temperature 0.1 (the effective nudge is β/T), small at β = 0.001.

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
# The library's ``train`` drives the circuit through ngspice exactly as it drives the model:
# every gradient costs three ngspice runs (free, ``+β``, ``−β``), each over the whole batch.
# The in-process twin trained identically ends at the same conductances.

# %%
def run(system):
    """25 epochs of Adam (a fresh optimizer per run: its state belongs to one run)."""
    return pl.train(system, rule, data, epochs=25, batch_size=4,
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

fig, ax = plt.subplots(figsize=(4.5, 3.3))
for (name, history), style in zip(histories.items(), ("-", "--")):
    ax.plot(history["epoch"], history["train_loss"], style, label=name)
ax.set(xlabel="epoch", ylabel="cross-entropy", title="XOR, centered EP, Shockley diodes")
ax.legend()
fig.tight_layout()
fig.savefig(FIGURES / "ngspice_in_the_loop.png", dpi=120)
