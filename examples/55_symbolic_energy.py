# %% [markdown]
# # Systems from a symbolic energy
#
# A physical learning machine is defined by its energy. `SymbolicSystem` takes that energy as
# one sympy expression — state symbols `s`, input symbols `x`, parameter symbols `θ` — and
# physlearn does the rest: it differentiates it symbolically (the gradient `∂E/∂s`, the
# Hessian `∂²E/∂s²` with its sparsity pattern, the local measurements `∂E/∂θ` and the mixed
# derivatives `∂²E/∂θ∂s`), lambdifies every derivative into a batched numpy function,
# relaxes by damped Newton, and proves the equilibrium-propagation identity
# `d/dβ ∂E/∂θ(s_β)|₀ = dL/dθ` for that very energy (`system.derivation()`).
#
# Two energies, each trained with centered EP (`EP(variant="centered")`) on a small
# generated regression task, with the EP gradient checked against the exact reference
# (implicit differentiation, `pl.exact_gradient`):
#
# 1. a resistor network whose elements carry a custom nonlinear law `I = gΔV + aΔV³`
#    (co-content `gΔV²/2 + aΔV⁴/4`), checked first against the hand-written linear
#    `ResistorNetwork` with the cubic term off;
# 2. a 2-D spring network with a Lennard-Jones–like term on every bond,
#    `½k(r − r⁰)² + ε[(σr⁰/r)¹² − 2(σr⁰/r)⁶]`.
#
# Dimensionless units throughout (voltages in the input scale, lengths in the lattice
# spacing). Runs in well under a minute.

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

FIGURES = figure_dir(globals().get("__file__"))
START = time.time()
cost = pl.SquaredError()
rule = pl.EP(beta=1e-2, variant="centered")

# %% [markdown]
# ## 1. A resistor network with a custom nonlinear element
#
# The graph, inputs, outputs and conductances are those of `ResistorNetwork.random(12)`;
# every edge gets the co-content `g_e ΔV²/2 + a_e ΔV⁴/4`. With `a = 0` it is the linear
# network, and the hand-written class gives the same numbers.

# %%
net = ResistorNetwork.random(12, n_inputs=2, n_outputs=2, seed=1)
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

EPOCHS = 2 if fast_mode() else 6   # PHYSLEARN_FAST=1: two epochs
history = pl.train(circuit, rule, data, epochs=EPOCHS, batch_size=16,
                   optimizer=pl.optim.Adam(lr=0.03), progress=False)
circuit_losses = losses = history["test_loss"]
print(f"test loss {losses[0]:.4f} → {losses[-1]:.4f} over {len(losses) - 1} epochs")

# %% [markdown]
# ## 2. A spring network with a Lennard-Jones–like term
#
# A 3×3 lattice (one diagonal per cell), left column pinned, the bottom-right node pulled
# along x by the input; the outputs are the displacement of the top-right node. The
# parameters are the stiffnesses and the Lennard-Jones well depths of the 16 bonds. The task:
# a random linear map of the input displacement (gain 0.4, no offset), shifted by the
# network's own rest displacement so that it is realisable.

# %%
springs = spring_network(3, seed=0)
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

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
for ax, losses, title in ((axes[0], circuit_losses, "nonlinear resistor network"),
                          (axes[1], spring_losses, "Lennard-Jones spring network")):
    ax.semilogy(losses, "o-")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test loss, centered EP (dimensionless)")
fig.savefig(FIGURES / "symbolic_energy.png", dpi=110)
