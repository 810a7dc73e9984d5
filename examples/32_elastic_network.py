# %% [markdown]
# # An elastic network learns an allosteric response
#
# A two-dimensional network of springs, pinned along its convex hull. Straining one *source*
# spring (an imposed displacement of its two nodes) deforms the whole network; we ask for a
# prescribed strain on two distant *target* springs: allostery, as in proteins (Rocks et al.
# 2017; Stern et al. 2021). The elastic energy of springs $e = (i, j)$ with stiffness $k_e$,
# rest length $\ell_e$ and length $r_e = \|p_j - p_i\|$,
#
# $$E(k, \ell; p) = \tfrac12 \sum_e k_e\,(r_e - \ell_e)^2 ,$$
#
# is minimised over the free node positions $p$ by Newton's method. The outputs are the
# target strains $\varepsilon_T = r_T/r^0_T - 1$ against the reference geometry, a nonlinear
# function of the state. Training changes the $k_e$ and $\ell_e$ from quantities every spring
# can measure on itself,
#
# $$\frac{\partial E}{\partial k_e} = \tfrac12 (r_e - \ell_e)^2, \qquad
#   \frac{\partial E}{\partial \ell_e} = -k_e\,(r_e - \ell_e) \;(\text{minus the tension}),$$
#
# contrasted between a free state and a state whose targets are clamped or nudged toward the
# goal. Dimensionless units: lengths in units of the mean node spacing, stiffnesses in units of
# a reference stiffness, energies and tensions in the corresponding units; strains are pure
# numbers.

# %%

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.nudges import Clamp, Nudge
from physlearn.systems.elastic import ElasticNetwork

FAST = fast_mode()                           # PHYSLEARN_FAST=1: fewer nudges and epochs
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
N_BETAS = 3 if FAST else 4                   # nudges of the bias-order fit
EPOCHS = 15 if FAST else 40                  # training epochs of section 3


def draw(ax, net, positions, colors, title, cmap="coolwarm", limit=None):
    """Springs coloured by ``colors``; pinned nodes black, source red, targets green."""
    edges = np.array(net.edges)
    segments = positions[edges]
    limit = limit or np.max(np.abs(colors)) or 1.0
    lines = LineCollection(segments, array=colors, cmap=cmap, clim=(-limit, limit), lw=2)
    ax.add_collection(lines)
    for pairs, color, width in ((net.sources, "red", 5), (net.targets, "green", 5)):
        for i, j in pairs:
            ax.plot(*positions[[i, j]].T, color=color, lw=width, alpha=0.5)
    ax.plot(*positions[net.pinned].T, "ks", ms=4)
    ax.set(aspect="equal", title=title, xticks=[], yticks=[])
    return lines


# %% [markdown]
# ## 1. The network and its free response
#
# A Delaunay triangulation of 40 random points; the nodes of the convex hull are pinned
# (black squares), which removes the rigid motions. One source spring (red) is stretched by
# 10 %; two target springs (green) are read out. The colours show the tension of every
# spring in the free equilibrium, the arrows the node displacements (magnified).

# %%
net = ElasticNetwork.random(40, n_sources=1, n_targets=2, seed=1)
x = np.array([[0.1]])                        # stretch the source spring by 10 %
free = net.equilibrium(x)
print("target strains of the untrained network:", net.outputs(free)[0])
fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
tension = net.tensions(free)[0]
lines = draw(ax, net, free.positions[0], tension, "free response: spring tensions")
fig.colorbar(lines, ax=ax, shrink=0.7, label="tension k(r − ℓ) (dimensionless)")
u = free.positions[0] - net.positions
ax.quiver(*net.positions.T, *u.T, angles="xy", scale_units="xy", scale=0.05, width=0.004)
fig.savefig(FIGURES / "elastic_free_response.png", dpi=120)

# %% [markdown]
# ## 2. Gradients: EP against implicit differentiation, and an exact clamp
#
# Equilibrium propagation nudges the energy, $E + \beta C$ with
# $C = \tfrac12\|\varepsilon_T - \varepsilon^*\|^2$, and contrasts the local measurements
# between the nudged and the free (or the $\pm\beta$) equilibria. The outputs are a nonlinear
# function of the positions, yet EP still converges to the implicit-differentiation gradient:
# theory predicts a bias $O(\beta)$ for the one-sided (positive) estimate and $O(\beta^2)$ for
# the centered one, and `pl.bias_order` fits the slope.
#
# Coupled learning *clamps* the outputs instead. A clamp of a strain is a nonlinear constraint,
# held exactly with Lagrange multipliers (the generalised forces that hold the strains); a
# stiff spring pulling the strains toward the target (a soft nudge of large β) only approaches
# it, with a residual that falls as $1/\beta$.

# %%
rng = np.random.default_rng(0)
xs, ys = 0.05 * rng.normal(size=(4, 1)), 0.02 * rng.normal(size=(4, 2))
print(pl.gradient_check(net, pl.EP(beta=1e-3), xs, ys))
for variant in ("positive", "centered"):
    order = pl.bias_order(net, pl.EP(variant=variant), xs, ys, np.logspace(-1.5, -3, N_BETAS))
    print(f"{variant:>9}: fitted bias order {order.slope:.3f}")
clamped = net.equilibrium(xs, Clamp(ys))
print("clamp: max |strain − target| =", np.abs(net.outputs(clamped) - ys).max())
for beta in (1e1, 1e2, 1e3):
    soft = net.equilibrium(xs, Nudge(pl.SquaredError(), ys, beta))
    print(f"stiff nudge β = {beta:6.0f}: max |strain − target| = "
          f"{np.abs(net.outputs(soft) - ys).max():.2e}")

# %% [markdown]
# ## 3. Learning the allosteric task
#
# Target: strains $\varepsilon^* = (+3\,\%, -3\,\%)$ on the two target springs for a 10 %
# source strain. Two learning rules:
#
# * **Coupled learning** (Stern et al. 2021, η = 0.5) clamps the target strains half-way from
#   the free response to the goal, $\varepsilon^C = \varepsilon^F + \eta(\varepsilon^* -
#   \varepsilon^F)$, and updates every spring from its own free and clamped length; for the
#   rest lengths the step is $\Delta\ell_e \propto k_e (r^C_e - r^F_e)/\eta$. Plain gradient
#   descent with step 1.
# * **Centered EP** (β = 0.01) with Adam.
#
# Why coupled learning should converge fast here is physical. As η → 0 its estimate is not
# the gradient $(o - y)^\top \partial o/\partial\theta$ but
# $(o - y)^\top R^{-1}\,\partial o/\partial\theta$, weighted by the inverse of the target
# compliance $R = J H^{-1} J^\top$ ($J = \partial\varepsilon/\partial s$ with $s$ the free
# coordinates, $H$ the Hessian of $E$; checked numerically in the next cell). For the rest
# lengths, $\partial o/\partial\ell = J H^{-1} G^\top K$ with the rigidity matrix
# $G = \partial r/\partial s$ and $K = \mathrm{diag}(k)$; in an unstressed network
# $H = G^\top K G$, so for equal stiffnesses
# $(\partial o/\partial\ell)(\partial o/\partial\ell)^\top = kR$ and a step of size $1/k$
# moves the outputs by $-(o - y)$: a Newton step in output space, which converges
# geometrically. (Derived here, not a theorem of the library: the stiffnesses are only
# roughly equal, $k \in [0.5, 1.5]$, and the network becomes prestressed as it learns.)

# %%
free = net.equilibrium(x)
J, H = net.strain_jacobian(free)[0], net.hessian(free).toarray()
R = J @ np.linalg.solve(H, J.T)
weights = np.linalg.solve(R, (net.outputs(free) - [[0.03, -0.03]])[0])[None]
lam = net.adjoint(free, net.output_vjp(free, weights))
weighted = {k: -v.mean(0) for k, v in net.mixed_vjp(free, lam).items()}
for eta in (1e-2, 1e-3):
    cpl = pl.CoupledLearning(eta=eta).gradient(net, x, [[0.03, -0.03]])
    print(f"η = {eta:g}: CpL vs (o − y)ᵀR⁻¹∂o/∂θ relative difference "
          f"{relative_error(cpl, weighted):.1e}")

# %% [markdown]
# The task is one input and one target, so each epoch is one learning step. The printed lines
# give the final strains and the loss before and after training; the figure shows the
# learning curves and, for coupled learning, where in the network the rest lengths changed.

# %%
y = np.array([[0.03, -0.03]])
task = Dataset(x, y, x, y, task="regression", name="allostery")
start = {k: v.copy() for k, v in net.params.items()}
runs = {}
for label, rule, optimizer in (
        ("coupled learning + SGD", pl.CoupledLearning(eta=0.5), pl.optim.SGD(lr=1.0)),
        ("centered EP + Adam", pl.EP(beta=0.01), pl.optim.Adam(lr=0.01))):
    net.params = start
    runs[label] = pl.train(net, rule, task, epochs=EPOCHS, batch_size=1, optimizer=optimizer,
                           progress=False)
    print(f"{label}: strains {net.predict(x)[0]} (goal {y[0]}), loss "
          f"{runs[label]['train_loss'][0]:.2e} -> {runs[label].final['train_loss']:.2e}")
net.params = runs["coupled learning + SGD"].params
trained = net.equilibrium(x)

fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.5), layout="constrained")
for label, history in runs.items():
    axes[0].semilogy(history["epoch"], history["train_loss"], label=label)
axes[0].set(xlabel="epoch", ylabel="loss ½ Σ (ε − ε*)² (dimensionless)",
            title="allosteric training")
axes[0].legend()
change = net.params["rest_length"] / start["rest_length"] - 1
lines = draw(axes[1], net, trained.positions[0], change,
             "rest-length change (coupled learning)")
fig.colorbar(lines, ax=axes[1], shrink=0.7, label="relative change ℓ / ℓ₀ − 1 (dimensionless)")
fig.savefig(FIGURES / "elastic_allostery_training.png", dpi=120)
