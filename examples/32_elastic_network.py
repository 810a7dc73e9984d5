# %% [markdown]
# # An elastic network learns an allosteric response
#
# A two-dimensional network of springs, pinned along its convex hull. Straining one *source*
# spring (an imposed displacement of its two nodes) deforms the whole network; we ask for a
# prescribed strain on two distant *target* springs — allostery, as in proteins (Rocks et al.
# 2017; Stern et al. 2021). The energy ``E = ½ Σ k (r − ℓ)²`` is minimised by Newton's method;
# the trainable stiffnesses ``k`` and rest lengths ``ℓ`` are learned from local measurements,
# ``½ (r − ℓ)²`` and the tension ``−k (r − ℓ)``, contrasted between a free and a clamped (or
# nudged) state. Dimensionless units: lengths in units of the mean node spacing, stiffnesses in
# units of a reference stiffness, strains are pure numbers.

# %%

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.datasets import Dataset
from physlearn.experiment.plots import figure_dir
from physlearn.nudges import Clamp, Nudge
from physlearn.systems.elastic import ElasticNetwork

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures


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
# A Delaunay triangulation of 40 random points; hull pinned, one source, two targets.

# %%
net = ElasticNetwork.random(40, n_sources=1, n_targets=2, seed=1)
x = np.array([[0.1]])                        # stretch the source spring by 10 %
free = net.equilibrium(x)
print("target strains of the untrained network:", net.outputs(free)[0])
fig, ax = plt.subplots(figsize=(5, 5))
tension = net.tensions(free)[0]
lines = draw(ax, net, free.positions[0], tension, "free response: spring tensions")
fig.colorbar(lines, ax=ax, shrink=0.7, label="tension k(r − ℓ)")
u = free.positions[0] - net.positions
ax.quiver(*net.positions.T, *u.T, angles="xy", scale_units="xy", scale=0.05, width=0.004)
fig.tight_layout()
fig.savefig(FIGURES / "elastic_free_response.png", dpi=120)

# %% [markdown]
# ## 2. Gradients: EP against implicit differentiation, and an exact clamp
#
# The outputs (strains against the fixed reference lengths) are a nonlinear function of the
# positions; EP still converges to the implicit-differentiation gradient with O(β) or O(β²)
# bias. A clamp of a strain is a nonlinear constraint, held exactly with Lagrange multipliers;
# a stiff spring (a large soft nudge) only approaches it as 1/β.

# %%
rng = np.random.default_rng(0)
xs, ys = 0.05 * rng.normal(size=(4, 1)), 0.02 * rng.normal(size=(4, 2))
print(pl.gradient_check(net, pl.EP(beta=1e-3), xs, ys))
for variant in ("positive", "centered"):
    order = pl.bias_order(net, pl.EP(variant=variant), xs, ys, np.logspace(-1.5, -3, 4))
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
# Target: ``+3 %`` and ``−3 %`` on the target springs for a ``10 %`` source strain.
#
# * Coupled learning (η = 0.5) clamps the targets half-way to the goal and updates every spring
#   from its own free and clamped length — for the rest lengths ``Δℓ ∝ k (r^C − r^F)/η`` —
#   followed by plain gradient descent with step 1.
# * Centered EP (β = 0.01) with Adam.
#
# Coupled learning converges geometrically here, and the reason is physical. As η → 0 its
# estimate is not the gradient ``(o − y)ᵀ ∂o/∂θ`` but ``(o − y)ᵀ R⁻¹ ∂o/∂θ``, weighted by the
# inverse of the target compliance ``R = J H⁻¹ Jᵀ`` (``J = ∂ε/∂s``, ``H`` the Hessian; checked
# numerically below). For the rest lengths, ``∂o/∂ℓ = J H⁻¹ Gᵀ K`` with the rigidity matrix
# ``G = ∂r/∂s`` and ``K = diag(k)``; in an unstressed network ``H = Gᵀ K G``, so for equal
# stiffnesses ``(∂o/∂ℓ)(∂o/∂ℓ)ᵀ = k R`` and a step of size ``1/k`` moves the outputs by
# ``−(o − y)``: a Newton step in output space (derived here; the stiffnesses are only roughly
# equal, ``k ∈ [0.5, 1.5]``, and the network becomes prestressed as it learns).

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

# %%
y = np.array([[0.03, -0.03]])
task = Dataset(x, y, x, y, task="regression", name="allostery")
start = {k: v.copy() for k, v in net.params.items()}
runs = {}
for label, rule, optimizer in (
        ("coupled learning + SGD", pl.CoupledLearning(eta=0.5), pl.optim.SGD(lr=1.0)),
        ("centered EP + Adam", pl.EP(beta=0.01), pl.optim.Adam(lr=0.01))):
    net.params = start
    runs[label] = pl.train(net, rule, task, epochs=40, batch_size=1, optimizer=optimizer,
                           progress=False)
    print(f"{label}: strains {net.predict(x)[0]} (goal {y[0]}), loss "
          f"{runs[label]['train_loss'][0]:.2e} -> {runs[label].final['train_loss']:.2e}")
net.params = runs["coupled learning + SGD"].params
trained = net.equilibrium(x)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for label, history in runs.items():
    axes[0].semilogy(history["epoch"], history["train_loss"], label=label)
axes[0].set(xlabel="epoch", ylabel="½ Σ (ε − ε*)²", title="allosteric training")
axes[0].legend()
change = net.params["rest_length"] / start["rest_length"] - 1
lines = draw(axes[1], net, trained.positions[0], change,
             "rest-length change (coupled learning)")
fig.colorbar(lines, ax=axes[1], shrink=0.7, label="ℓ / ℓ₀ − 1")
fig.tight_layout()
fig.savefig(FIGURES / "elastic_allostery_training.png", dpi=120)
