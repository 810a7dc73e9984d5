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
# # EP in ten minutes: a resistor network
#
# Many physical systems *compute by relaxing*: apply inputs, wait, and the system settles into
# the minimum of an energy; read the outputs off that equilibrium. A circuit of resistors is
# the simplest example. Its knobs (the conductances) decide which function of the inputs the
# outputs are, so they are the weights of a learning machine. To train it we need the
# gradient of a loss with respect to every conductance.
#
# On a computer that gradient comes from backpropagation through a *model* of the circuit.
# **Equilibrium propagation** (EP; Scellier & Bengio 2017) gets it from the circuit itself,
# with one or two relaxations beyond the free one and one *local* measurement per resistor,
# the voltage drop across it. This notebook goes through the idea in five steps:
#
# 1. the machine: a layered resistor network;
# 2. computing by relaxing: Kirchhoff's laws as an energy minimum;
# 3. nudging: pulling the outputs gently toward the targets;
# 4. the EP identity: the change of a local measurement under the nudge is the gradient;
# 5. the price of a finite nudge: the bias of each EP estimator against the nudge strength β.
#
# Units are dimensionless: voltages in units of the input scale, conductances in units of a
# reference conductance, so the energy (a power) is in units of conductance × voltage².

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir, network
from physlearn.systems import ResistorNetwork

FAST = fast_mode()  # PHYSLEARN_FAST=1: a coarser β grid in step 5, everything else the same
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## 1. The machine: a layered network
#
# `ResistorNetwork.layered([3, 8, 2])` builds three layers joined all-to-all by resistors.
# Each of the 3 input features $x_k$ drives a *pair* of nodes held at $+x_k$ and $-x_k$ by
# voltage sources (a passive network only averages voltages; the pair lets it realise
# negative weights), and a bias node at 1 V and the ground (0 V) join the input layer. Then
# come 8 free hidden nodes and 2 free output nodes, whose voltages $o = (o_1, o_2)$ are the
# predictions. The trainable parameters $\theta$ are the 80 conductances $g_e > 0$, drawn at
# random from the seed. The data are 16 random inputs with random targets $y$.

# %%
net = ResistorNetwork.layered([3, 8, 2], seed=0)
rng = np.random.default_rng(1)
x = rng.normal(size=(16, 3))
y = rng.uniform(-0.3, 0.3, size=(16, 2))
print(f"{len(net.nodes)} nodes, {len(net.edges)} resistors, outputs {net.output_nodes}")

# %% [markdown]
# `physlearn.plots.network` draws the network with each resistor coloured by its conductance
# (the helper labels the layers but leaves the horizontal axis unnamed, so it is named here,
# and its legend is moved below that label).

# %%
fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
network(net, ax=ax)
ax.set_xlabel("layer (sources → hidden → outputs)")
ax.get_legend().set_bbox_to_anchor((0.5, -0.16))   # below the axis label
ax.set_title("the 3-8-2 network, resistors coloured by their conductance")
fig.savefig(FIGURES / "01_network.png", dpi=120)

# %% [markdown]
# ## 2. Computing by relaxing: the free state
#
# With the sources held, the free node voltages $V$ settle where Kirchhoff's current law
# holds: no net current leaves any free node. That is the stationarity condition of the
# **co-content** (half the dissipated power),
#
# $$E(g, V) = \tfrac12 \sum_e g_e\, \Delta V_e^2 , \qquad
#   \frac{\partial E}{\partial V_i} = \sum_{e \ni i} g_e\,\Delta V_e
#   = \text{net current leaving node } i ,$$
#
# where $\Delta V_e$ is the drop across resistor $e$. $E$ is a positive quadratic form in the
# free voltages, so the equilibrium is its unique minimum (Millar 1951): the network
# *minimises an energy*, and $E$ plays the role of the energy of an energy-based model.
#
# The cell checks both statements. `energy_gradient` is $\partial E/\partial V$ at the free
# nodes, which must vanish up to round-off. And by Tellegen's theorem the dissipated power
# $\sum_e g_e \Delta V_e^2 = 2E$ equals the power $\sum_s V_s I_s$ the sources deliver, where
# $I_s$ is the current leaving source node $s$ into the network (first three samples shown).

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
# ## 3. Nudging the outputs toward the targets
#
# The loss is the batch mean of the squared error $C(o, y) = \tfrac12\|o - y\|^2$ at the free
# state, $L(g) = \langle C(o(g), y)\rangle$. Its gradient $dL/dg_e$ depends on how *every*
# output responds to *every* conductance: a global quantity, which backpropagation would get
# from a model of the whole circuit.
#
# EP instead adds $\beta C$ to the energy and lets the circuit relax again: the **nudged
# state** $s_\beta$ minimises $E + \beta C$. For the squared error this is plain electronics:
# inject the current $\beta\,(y - o)$ into each output node, i.e. connect each output through
# a conductance $\beta$ to a voltage source at its target. Small $\beta$ pulls the outputs a
# little toward $y$; $\beta \to \infty$ clamps them at $y$.
#
# Because the network is linear, the outputs only feel the nudge through the **output
# response matrix** $R = P K^{-1} P^\top$ (the outputs' Thévenin resistance: voltage at the
# outputs per unit current injected there, sources held; $K$ is the conductance matrix of the
# free nodes and $P$ picks the outputs). Solving $o_\beta = o_0 - \beta R\,(o_\beta - y)$,
#
# $$o_\beta = (1 + \beta R)^{-1}\,(o_0 + \beta R\, y).$$
#
# For one output this is the voltage divider $o_\beta = (o_0 + \beta R y)/(1 + \beta R)$,
# with a pole at $\beta = -1/R$. With several outputs the poles sit at $\beta = -1/\lambda$ for
# the eigenvalues $\lambda$ of $R$, so everything measured in a nudged run is an analytic
# function of $\beta$ whose Taylor series converges for $|\beta| < 1/\lambda_{\max}(R)$. This
# radius returns in step 5. The cell compares the relaxed outputs at $\beta = 0.5$ with the
# formula and prints $R$ and the radius.

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
# ## 4. The EP identity: a local contrast is the gradient
#
# Let $\Phi(\theta, \beta) = \min_s \big[E(\theta, s) + \beta C(s)\big]$ be the total energy
# at the nudged equilibrium. Since $\partial_s(E + \beta C) = 0$ there, the dependence of the
# state drops out of its first derivatives (the envelope theorem):
#
# $$\frac{\partial\Phi}{\partial\theta} = \frac{\partial E}{\partial\theta}(s_\beta), \qquad
#   \frac{\partial\Phi}{\partial\beta} = C(s_\beta).$$
#
# Mixed partial derivatives commute, so
# $\frac{d}{d\beta}\frac{\partial E}{\partial\theta}(s_\beta) = \frac{d}{d\theta} C(s_\beta)$,
# and at $\beta = 0$ the right-hand side is the gradient of the loss:
#
# $$\frac{dL}{d\theta} = \frac{d}{d\beta}\Big|_{\beta = 0}
#   \frac{\partial E}{\partial\theta}(s_\beta).$$
#
# For a resistor, $\partial E/\partial g_e = \tfrac12\Delta V_e^2$: each resistor only needs
# *its own* voltage drop, measured in two runs. The **centered EP** estimate contrasts the
# nudges $\pm\beta$,
#
# $$\hat g_e = \frac{\tfrac12\Delta V_e^2(s_{+\beta}) - \tfrac12\Delta V_e^2(s_{-\beta})}
#   {2\beta} \;\xrightarrow{\beta\to 0}\; \frac{dL}{dg_e}.$$
#
# The cell computes it by hand from `param_gradient` ($\tfrac12\Delta V_e^2$ per sample,
# averaged over the batch) at $\beta = 10^{-3}$, and compares it with `pl.exact_gradient`
# (implicit differentiation of the free state, the reference every rule is checked against).
# `pl.gradient_check` then runs the library's rules: `pl.EP` (centered) and
# `pl.HolomorphicEP`, which nudges with complex $\beta$ on a circle (step 5).

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
# ## 5. The price of a finite nudge: bias against β
#
# A real circuit cannot take the limit $\beta \to 0$: the voltage changes would drown in
# noise. So how wrong is a finite $\beta$? Expand the measured signal in powers of the nudge,
# $g(\beta) = \partial_\theta E(s_\beta) = \sum_n a_n \beta^n$, with $a_1 = dL/d\theta$:
#
# | estimator (nudges) | estimate of $a_1$ | bias |
# | --- | --- | --- |
# | positive EP ($0, +\beta$) | $[g(\beta) - g(0)]/\beta$ | $+a_2\beta$ |
# | negative EP ($-\beta, 0$) | $[g(0) - g(-\beta)]/\beta$ | $-a_2\beta$ |
# | centered EP ($\pm\beta$) | $[g(\beta) - g(-\beta)]/2\beta$ | $a_3\beta^2$ |
# | holomorphic ($N$ points $\beta_k$) | $\sum_k [g(\beta_k) - g(0)]/N\beta_k$ | $a_{N+1}\beta^N$ |
#
# The last row is Cauchy's integral formula for $g'(0)$ on a circle of radius $\beta$ in the
# complex plane, sampled at the $N$ points $\beta_k = \beta e^{2\pi i k/N}$ (Laborieux & Zenke
# 2022); $N = 2$ is centered EP.
#
# These orders hold *while the circle stays inside the radius of convergence*. Beyond
# $1/\lambda_{\max}(R)$ the circle encloses the pole at $-1/\lambda_{\max}$, its residue is
# added to the sum, and more points no longer help. The positive estimator only samples
# $\beta > 0$ and never meets the pole. The library reports both failures instead of
# returning a wrong gradient: a real nudge $\beta < -1/\lambda_{\max}$ leaves $E + \beta C$
# without a minimum (`ConvergenceError` naming β and the bound), and `HolomorphicEP` refuses a
# circle outside the radius (`ValueError`). The function `error` turns both into NaN, so the
# negative, centered and holomorphic curves stop at $1/\lambda_{\max}$.
#
# The cell sweeps β over six decades for six estimators and prints each relative error
# $\|\hat g - g\|/\|g\|$ at $\beta \approx 0.1/\lambda_{\max}$.

# %%
# PHYSLEARN_FAST=1: 21 nudge strengths instead of 41 (same range)
betas = np.logspace(-4, np.log10(20 * radius), 21 if FAST else 41)
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
    """Relative error of a rule, NaN where the library refuses the nudge (see above)."""
    try:
        return relative_error(rule.gradient(net, x, y), reference)
    except (pl.ConvergenceError, ValueError):
        return np.nan


errors = {name: np.array([error(make(s)) for s in betas]) for name, make in rules.items()}
for name, err in errors.items():
    i = np.searchsorted(betas, 0.1 * radius)
    print(f"{name:18s} rel. error at beta = {betas[i]:.3g}: {err[i]:.2e}")

# %% [markdown]
# The figure shows the errors on log–log axes, where a bias $\propto\beta^n$ is a straight
# line of slope $n$; dashed lines of slopes 1, 2, 4 and 6 are drawn a decade below the curves
# for comparison. Two things end the power laws: at small β round-off (the contrast of two
# nearly equal drops, divided by β), at large β the pole at $1/\lambda_{\max}(R)$ (grey line).
# Positive and negative EP have the same slope and opposite signs of bias, which is why their
# mean, centered EP, gains an order.

# %%
styles = {"EP positive": ("C0", "-"), "EP negative": ("C1", "-"), "EP centered": ("C2", "-"),
          "holomorphic N=2": ("k", ":"), "holomorphic N=4": ("C3", "-"),
          "holomorphic N=6": ("C4", "-")}
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
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
ax.set(xlabel="nudge strength β (dimensionless; circle radius |β| for holomorphic EP)",
       ylabel=r"relative error $\|\hat g - g\|/\|g\|$ (dimensionless)", ylim=(1e-14, 1e2),
       title="EP bias on a 3-8-2 resistor network")
ax.legend(fontsize=8, loc="upper left")
path = FIGURES / "01_ep_bias_vs_beta.png"
fig.savefig(path, dpi=120)
print("wrote", path)

# %% [markdown]
# ## What to take away
#
# * A physical system that minimises an energy $E(\theta, s)$ can compute its own loss
#   gradient: relax freely, relax with the outputs nudged by $\beta C$, and contrast the
#   local quantity $\partial E/\partial\theta$ (here $\tfrac12\Delta V_e^2$ per resistor).
# * A finite nudge costs a bias: first order in β for a one-sided nudge, second order for the
#   centered pair, $N$-th order for $N$ complex nudges, as long as the nudges stay inside the
#   radius of convergence set by the circuit's response.
#
# Next: `02_coupled_vs_ep.py` compares EP with coupled and contrastive learning, which clamp
# the outputs instead of nudging them; `03_derivations.py` proves the identities used here
# symbolically, in sympy.
