# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Equilibrium propagation on a resistor network
#
# A network of resistors driven by voltage sources settles, by Kirchhoff's laws, into the
# state that minimises its **co-content** (half the dissipated power)
#
# $$E(g, V) = \tfrac12 \sum_e g_e\, \Delta V_e^2 ,$$
#
# over the voltages of the free nodes: $\partial E/\partial V_i$ is the net current leaving
# node $i$, so stationarity *is* Kirchhoff's current law. The conductances $g_e$ are the
# weights, the output-node voltages $o$ the predictions.
#
# Equilibrium propagation (EP) nudges the outputs toward the targets by injecting the current
# $\beta\,(y - o)$ at each output node — the physical form of adding $\beta C$ with
# $C = \tfrac12\|o - y\|^2$ to the energy — and reads out the *local* quantity
# $\partial E/\partial g_e = \tfrac12 \Delta V_e^2$ in each run. The contrast
#
# $$\hat g_e = \frac{\tfrac12\Delta V_e^2(s_{\beta}) - \tfrac12\Delta V_e^2(s_{-\beta})}{2\beta}
# \;\xrightarrow{\beta\to 0}\; \frac{dL}{dg_e}$$
#
# is the gradient of the loss (proved symbolically in `physlearn.derivations`). This notebook
# builds a network, looks at its free and nudged states, checks the gradient, and measures the
# bias of every EP variant against $\beta$.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.plots import figure_dir
from physlearn.systems import ResistorNetwork

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## A layered network
#
# Three input features, each driving a pair of nodes at $\pm x_k$ (so a passive network can
# realise negative weights), a bias node at 1 V and ground, eight hidden nodes and two output
# nodes; every layer is connected all-to-all to the next.

# %%
net = ResistorNetwork.layered([3, 8, 2], seed=0)
rng = np.random.default_rng(1)
x = rng.normal(size=(16, 3))
y = rng.uniform(-0.3, 0.3, size=(16, 2))
print(f"{len(net.nodes)} nodes, {len(net.edges)} resistors, outputs {net.output_nodes}")

# %% [markdown]
# ## The free state: Kirchhoff's law and power balance
#
# `energy_gradient` is $\partial E/\partial V$ at the free nodes, i.e. the net current out of
# each node: it vanishes at equilibrium. Tellegen's theorem then says the dissipated power
# $\sum_e g_e \Delta V_e^2 = 2E$ equals the power $\sum_s V_s I_s$ delivered by the sources.

# %%
free = net.equilibrium(x)
print("max |KCL residual| at free nodes:", np.abs(net.energy_gradient(free)).max())

g = net.params["conductance"]
volts = free.node_voltages
currents = {n: 0.0 for n in net.nodes}            # net current out of each node
for g_e, (a, b) in zip(g, net.edges):
    i_e = g_e * (volts[a] - volts[b])
    currents[a] = currents[a] + i_e
    currents[b] = currents[b] - i_e
sources = [n for pair in net.inputs for n in pair] + list(net.bias_sources) + [net.ground]
source_power = sum(volts[n] * currents[n] for n in sources)
print("dissipated power 2E:", 2 * net.energy(free)[:3])
print("source power ΣVI:  ", source_power[:3])

# %% [markdown]
# ## Nudged states
#
# A nudge of strength $\beta$ is a current source at each output. Because the network is
# linear, the outputs only feel it through the **output response matrix**
# $R = P K^{-1} P^\top$ (voltage at the outputs per unit current injected there), and
#
# $$o_\beta = (1 + \beta R)^{-1}\,(o_0 + \beta R\, y).$$
#
# For one output this is the voltage divider $o_\beta = (o_0 + \beta R y)/(1 + \beta R)$: a
# pole at $\beta = -1/R$. With several outputs the poles sit at $\beta = -1/\lambda$ for the
# eigenvalues $\lambda$ of $R$, so the Taylor series of everything measured in a nudged run
# converges for $|\beta| < 1/\lambda_{\max}(R)$.

# %%
cost = pl.SquaredError()
beta = 0.5
nudged = net.equilibrium(x, pl.Nudge(cost, y, beta), start=free)
R = net.response_matrix()                      # output response matrix (symmetric, positive)
o0 = net.outputs(free)
predicted = np.linalg.solve(np.eye(2) + beta * R, (o0 + beta * y @ R.T).T).T
print("R =\n", R)
print("max |o_beta - (1 + beta R)^-1 (o0 + beta R y)|:",
      np.abs(net.outputs(nudged) - predicted).max())
radius = 1 / np.linalg.eigvalsh(R).max()
print(f"radius of convergence 1/lambda_max(R) = {radius:.3f}")

# %% [markdown]
# ## The local contrast is the gradient
#
# `param_gradient` returns $\tfrac12 \Delta V_e^2$ per sample. Contrasting two nudged runs by
# hand gives centered EP; `pl.exact_gradient` is implicit differentiation at the free state.

# %%
b = 1e-3
plus = net.equilibrium(x, pl.Nudge(cost, y, +b), start=free)
minus = net.equilibrium(x, pl.Nudge(cost, y, -b), start=free)
by_hand = (net.param_gradient(plus)["conductance"]
           - net.param_gradient(minus)["conductance"]).mean(axis=0) / (2 * b)
exact = pl.exact_gradient(net, x, y)["conductance"]
print("first edges, EP by hand:", np.round(by_hand[:4], 6))
print("first edges, exact     :", np.round(exact[:4], 6))
print(pl.gradient_check(net, pl.EP(beta=b, variant="centered"), x, y))
print(pl.gradient_check(net, pl.HolomorphicEP(beta=float(0.3 * radius), points=6), x, y))

# %% [markdown]
# ## Bias against the nudge strength
#
# With $g(\beta) = \sum_n a_n \beta^n$ the one-sided estimators err by $\pm a_2\beta$, the
# centered one by $a_3 \beta^2$, and the $N$-point Cauchy estimator (holomorphic EP, nudges
# $\beta e^{2\pi i k/N}$) by $a_{N+1}\beta^N$ — *while the circle stays inside the radius of
# convergence*. Beyond $1/\lambda_{\max}(R)$ the circle encloses the pole at
# $-1/\lambda_{\max}$; its residue is added to the sum and more points no longer help. The
# positive estimator only samples $\beta > 0$ and never meets the pole. The library reports
# both failures instead of returning a wrong gradient: a real nudge $\beta < -1/\lambda_{\max}$
# leaves $E + \beta C$ without a minimum (`ConvergenceError` naming β and the bound) and
# `HolomorphicEP` refuses a circle outside the radius (`ValueError`), so the negative,
# centered and holomorphic curves stop at $1/\lambda_{\max}$.

# %%
betas = np.logspace(-4, np.log10(20 * radius), 41)
reference = pl.exact_gradient(net, x, y)
rules = {
    "EP positive": lambda s: pl.EP(beta=s, variant="positive"),
    "EP negative": lambda s: pl.EP(beta=s, variant="negative"),
    "EP centered": lambda s: pl.EP(beta=s, variant="centered"),
    "holomorphic N=2": lambda s: pl.HolomorphicEP(beta=s, points=2),
    "holomorphic N=4": lambda s: pl.HolomorphicEP(beta=s, points=4),
    "holomorphic N=6": lambda s: pl.HolomorphicEP(beta=s, points=6),
}


def error(rule):
    """Relative error of a rule, NaN where the library refuses the nudge (see below)."""
    try:
        return relative_error(rule.gradient(net, x, y), reference)
    except (pl.ConvergenceError, ValueError):
        return np.nan


errors = {name: np.array([error(make(s)) for s in betas]) for name, make in rules.items()}
for name, err in errors.items():
    i = np.searchsorted(betas, 0.1 * radius)
    print(f"{name:18s} rel. error at beta = {betas[i]:.3g}: {err[i]:.2e}")

# %%
styles = {"EP positive": ("C0", "-"), "EP negative": ("C1", "-"), "EP centered": ("C2", "-"),
          "holomorphic N=2": ("k", ":"), "holomorphic N=4": ("C3", "-"),
          "holomorphic N=6": ("C4", "-")}
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, err in errors.items():
    color, line = styles[name]
    ax.loglog(betas, err, line, color=color, label=name, lw=2 if line == ":" else 1.5)
# Reference slopes, drawn a decade below each curve through its value at 0.1/λ_max.
i = np.searchsorted(betas, 0.1 * radius)
for order, name in ((1, "EP positive"), (2, "EP centered"), (4, "holomorphic N=4"),
                    (6, "holomorphic N=6")):
    ref = 0.1 * errors[name][i] * (betas / betas[i]) ** order
    keep = (ref > 1e-13) & (betas < radius)
    color = styles[name][0]
    ax.loglog(betas[keep], ref[keep], "--", color=color, lw=0.8)
    mid = np.flatnonzero(keep)[len(np.flatnonzero(keep)) // 2]
    ax.annotate(rf"$\propto\beta^{order}$", (betas[mid], ref[mid]), color=color, fontsize=8,
                xytext=(4, -10), textcoords="offset points")
ax.axvline(radius, color="grey", lw=1)
ax.text(radius * 1.15, 1e-13, r"$1/\lambda_{\max}(R)$", color="grey", rotation=90, va="bottom")
ax.set(xlabel="nudge strength β (radius |β| for holomorphic EP)",
       ylabel="relative error vs exact gradient", ylim=(1e-14, 1e2),
       title="EP bias on a resistor network (3-8-2)")
ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()
path = FIGURES / "01_ep_bias_vs_beta.png"
fig.savefig(path, dpi=120)
print("wrote", path)
