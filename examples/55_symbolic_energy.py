# %% [markdown]
# # Systems from a symbolic energy
#
# A physical learning machine is defined by its energy. `SymbolicSystem` takes that energy as
# one sympy expression $E(\theta, x, s)$ of state symbols $s$ (the free degrees of freedom),
# input symbols $x$ (held by the environment) and parameter symbols $\theta$, and physlearn
# does the rest: it differentiates it symbolically (the gradient $\partial E/\partial s$, the
# Hessian $\partial^2 E/\partial s^2$ with its sparsity pattern, the local measurements
# $\partial E/\partial\theta$ and the mixed derivatives $\partial^2 E/\partial\theta\,
# \partial s$), lambdifies every derivative into a batched numpy function, relaxes to the
# minimum of $E + \beta C(o(s), y)$ by damped Newton (the outputs $o$ are some of the state
# symbols), and proves the equilibrium-propagation identity
#
# $$\frac{d}{d\beta}\,\frac{\partial E}{\partial\theta}\big(s^\beta\big)\Big|_{\beta=0}
#   = \frac{dL}{d\theta}, \qquad L = C\big(o(s^0), y\big),$$
#
# for that very energy (`system.derivation()`), by implicit differentiation of the
# equilibrium condition $\partial_s(E + \beta C) = 0$.
#
# Two energies, each trained with centered EP,
# $\hat g = [\partial_\theta E(s^{\beta}) - \partial_\theta E(s^{-\beta})]/2\beta$
# (`EP(variant="centered")`, bias $O(\beta^2)$), on a small generated regression task, with
# the EP gradient checked against the exact reference (implicit differentiation,
# `pl.exact_gradient`):
#
# 1. a resistor network whose elements carry a custom nonlinear law $I = g\Delta V + a\Delta
#    V^3$ (co-content $g\Delta V^2/2 + a\Delta V^4/4$), checked first against the
#    hand-written linear `ResistorNetwork` with the cubic term off;
# 2. a 2-D spring network with a Lennard-Jones–like term on every bond,
#    $\tfrac12 k(r - r^0)^2 + \varepsilon[(\sigma r^0/r)^{12} - 2(\sigma r^0/r)^6]$.
#
# Dimensionless units throughout (voltages in the input scale, conductances in a reference
# conductance, lengths in the lattice spacing). Most of the run time is sympy's: the
# symbolic derivatives and proofs grow quickly with the number of elements, so fast mode
# (`PHYSLEARN_FAST=1`) uses smaller networks.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems import ResistorNetwork
from physlearn.systems.symbolic import resistor_cocontent, spring_network

FAST = fast_mode()              # PHYSLEARN_FAST=1: smaller networks
FIGURES = figure_dir(globals().get("__file__"))
N_NODES = 8 if FAST else 12     # nodes of the resistor network
N_SIDE = 2 if FAST else 3       # side of the square spring lattice
EPOCHS = 6                       # training epochs of both systems
START = time.time()
cost = pl.SquaredError()
rule = pl.EP(beta=1e-2, variant="centered")

# %% [markdown]
# ## 1. A resistor network with a custom nonlinear element
#
# The graph, inputs, outputs and conductances are those of `ResistorNetwork.random` (12
# nodes, 8 in fast mode: a small-world graph with 2 input nodes, 2 outputs and a ground). Every
# edge $e$ gets the co-content $g_e\Delta V_e^2/2 + a_e\Delta V_e^4/4$ with two trainable,
# non-negative parameters: the conductance $g_e$ and the cubic coefficient $a_e$. The local
# measurements are $\partial E/\partial g_e = \Delta V_e^2/2$ and $\partial E/\partial a_e =
# \Delta V_e^4/4$. With $a = 0$ it is the linear network, and the hand-written class should
# give the same outputs and EP gradients up to round-off (first printed line). Then every
# $a_e = 0.5$: EP against the exact gradient, the symbolic proof, and training (Adam).

# %%
net = ResistorNetwork.random(N_NODES, n_inputs=2, n_outputs=2, seed=1)
a = sp.symbols(f"a0:{len(net.edges)}")
circuit = resistor_cocontent(
    net.graph, net.inputs, net.output_nodes, net.ground,
    conductance=net.params["conductance"],
    element=lambda dv, g, e: g * dv ** 2 / 2 + a[e] * dv ** 4 / 4,
    extra_params={"cubic": list(a)}, nonnegative=["conductance", "cubic"], floor=0.0,
    init={"cubic": np.zeros(len(net.edges))})
data = pl.datasets.linear_regression(n_samples=96, n_inputs=2, n_outputs=2, seed=0)
x, y = data.x_train[:16], data.y_train[:16]
same = np.max(np.abs(circuit.predict(x) - net.predict(x)))
grad_same = np.max(np.abs(rule.gradient(circuit, x, y, cost)["conductance"]
                          - rule.gradient(net, x, y, cost)["conductance"]))
print(f"a = 0: outputs differ from ResistorNetwork by {same:.1e}, "
      f"centered-EP gradients by {grad_same:.1e}")

circuit.params = {**circuit.params.copy(), "cubic": np.full(len(net.edges), 0.5)}
ep = rule.gradient(circuit, x, y, cost)
exact = pl.exact_gradient(circuit, x, y, cost)
print(f"nonlinear (a = 0.5): centered EP vs exact gradient, relative error "
      f"{relative_error(ep, exact):.2e}")
proof = circuit.derivation().verify()
print(f"derivation for this energy: {'proved' if proof else 'NOT proved'} "
      f"({len(proof.lines)} claims)")

history = pl.train(circuit, rule, data, epochs=EPOCHS, batch_size=16,
                   optimizer=pl.optim.Adam(lr=0.03), progress=False)
circuit_losses = losses = history["test_loss"]
print(f"test loss {losses[0]:.4f} → {losses[-1]:.4f} over {len(losses) - 1} epochs")

# %% [markdown]
# ## 2. A spring network with a Lennard-Jones–like term
#
# A square lattice of unit spacing (3×3 nodes; 2×2 in fast mode) with one diagonal per
# cell, the left column pinned, the bottom-right node pulled along $x$ by the input
# displacement; the state is the displacements of the other nodes, the outputs the
# displacement of the top-right node. Every bond $e$ of reference length $r^0_e$ and length
# $r_e$ has the energy
#
# $$E_e = \tfrac12 k_e\,(r_e - r^0_e)^2 + \varepsilon_e\big[(\sigma r^0_e/r_e)^{12}
#   - 2\,(\sigma r^0_e/r_e)^6\big],$$
#
# a harmonic spring of stiffness $k_e \ge 0$ plus a Lennard-Jones well of depth
# $\varepsilon_e \ge 0$ at $r = \sigma r^0$ ($\sigma = 0.9$), whose short-range repulsion
# keeps bonds from collapsing; both are trained. The task: a random linear map of the input
# displacement (coefficients uniform in ±0.4, no offset), shifted by the network's own rest
# displacement so that it is realisable. The derivation here treats the Hessian and mixed
# derivatives as generic symbols on their sparsity patterns, and is tied to numbers by
# comparing with `exact_gradient` (`check_numeric`).

# %%
springs = spring_network(N_SIDE, seed=0)
rng = np.random.default_rng(0)
xs = 0.1 * rng.normal(size=(96, 1))
rest = springs.predict(np.zeros((1, 1)))
A = rng.uniform(-0.4, 0.4, size=(2, 1))
ys = rest + xs @ A.T
task = pl.datasets.Dataset(xs[:72], ys[:72], xs[72:], ys[72:], task="regression")
ep = rule.gradient(springs, xs[:16], ys[:16], cost)
exact = pl.exact_gradient(springs, xs[:16], ys[:16], cost)
print(f"springs: centered EP vs exact gradient, relative error "
      f"{relative_error(ep, exact):.2e}")
derivation = springs.derivation()
print(f"derivation ({derivation.title.split('(')[-1].rstrip(')')}): "
      f"{'proved' if derivation.verify() else 'NOT proved'}; numerical tie: "
      f"{derivation.check_numeric().report().split(': ')[-1]}")
history = pl.train(springs, rule, task, epochs=EPOCHS, batch_size=16,
                   optimizer=pl.optim.Adam(lr=0.05), progress=False)
spring_losses = losses = history["test_loss"]
print(f"test loss {losses[0]:.2e} → {losses[-1]:.2e} over {len(losses) - 1} epochs")
print(f"total {time.time() - START:.1f} s")

# %% [markdown]
# The test loss (the squared error $\tfrac12\|o - y\|^2$, mean over the test set) of both
# systems during training, on a log scale. (In fast mode the 2×2 lattice has a single free
# node, and its loss need not fall in six epochs.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
for ax, losses, title in ((axes[0], circuit_losses, "nonlinear resistor network"),
                          (axes[1], spring_losses, "Lennard-Jones spring network")):
    ax.semilogy(losses, "o-")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test loss, centered EP (dimensionless)")
fig.savefig(FIGURES / "symbolic_energy.png", dpi=110)
