# %% [markdown]
# # Spiking networks compute EP's gradient: firing rates, spike pairs and pooling
#
# Equilibrium propagation (EP) needs a physical system that settles to a minimum of an energy
# and a way to measure, at each synapse, a local quantity in two phases: a *free* phase and a
# phase *nudged* toward the target. Here the physical system is a network of
# integrate-and-fire (IF) neurons, the building block of neuromorphic chips, and the
# question is whether what its synapses can measure from spikes is EP's gradient.
#
# The notebook compares three ways of obtaining a gradient from a small spiking network with
# the exact gradient of the network it approximates, as the counting window grows:
#
# * **spiking EP** (Lin, Bal & Sengupta 2024): products of firing rates (`physlearn.EP`);
# * **EqSpike** (Martin et al. 2021, reconstructed): spike pairs seen through a
#   spike-timing window (`physlearn.EqSpike`);
# * the usual spiking baseline, backpropagation through time (BPTT) through the spikes with a
#   surrogate derivative (`physlearn.SurrogateBPTT`).
#
# Then a convolutional spiking network, with average and with max pooling: the time average
# of a window maximum of spikes is not the maximum of the averages, so max pooling biases
# EP. Dimensionless units throughout: time in steps, currents and membranes in units of the
# threshold.

# %%
import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import cosine
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems.hopfield import Conv
from physlearn.systems.spiking import SpikingNetwork, stdp_window

FAST = fast_mode()                # PHYSLEARN_FAST=1: three windows instead of four
FIGURES = figure_dir(globals().get("__file__"))

# %% [markdown]
# ## An integrate-and-fire neuron is a hard sigmoid
#
# Each time step a neuron adds its input current to its membrane, fires a spike
# $z(t) = H(v(t) - 1)$ when the membrane crosses the threshold (here 1) and then subtracts
# the threshold (reset by subtraction):
#
# $$v_l(t) = u_l(t-1) + A_l z_{l-1}(t-1) + A_{l+1}^\top z_{l+1}(t-1) + \hat b_l, \qquad
#   u_l(t) = v_l(t) - z_l(t).$$
#
# A constant current $I$ makes a neuron fire a fraction $r = \mathrm{clip}(I, 0, 1)$ of
# the steps (at most one spike per step): the hard sigmoid $\rho(s) = \mathrm{clip}(s, 0, 1)$.
# With the symmetric couplings of a layered Hopfield network
# (`physlearn.systems.SpikingNetwork`), the firing fractions, counted over a window of $T$
# steps after a settling time of $T/2$, settle to the fixed point
# $r = \mathrm{clip}(A r + \hat b, 0, 1)$ of the hard-sigmoid Hopfield network
# `net.rate_network()`, a minimum of its energy
#
# $$E(r) = \tfrac12 \|r\|^2 - \sum_l r_l^\top (A_l r_{l-1} + \hat b_l).$$
#
# The counting error of a fraction is of order $1/T$. Everything below is compared with the
# *exact* gradient of the rate network's loss (implicit differentiation at its fixed point),
# `net.exact_gradient`. The test problem: a dense 3–5–2 network, four random inputs and
# targets, and a small nudge $\beta$ (small enough that EP on the rate network itself would be
# exact to many digits, so that what remains is the spiking error).

# %%
WINDOWS = (100, 300, 1000) if FAST else (100, 300, 1000, 3000)   # counting windows (steps)
BETA = 0.01                       # small enough that EP on the rate network is exact here
rng = np.random.default_rng(0)
x, y = rng.uniform(0, 1, (4, 3)), rng.uniform(0, 1, (4, 2))
images = rng.uniform(0, 1, (4, 1, 6, 6))

# %% [markdown]
# ## Firing rates and gradients against the window
#
# **Spiking EP.** Run the free phase, then nudge the output neurons with the extra current
# $-\beta\, \partial C/\partial o$ ($o$ the output neurons' spike traces, $C$ the squared
# error) and run on from where the free phase ended. Each synapse contrasts the product of
# its two neurons' firing fractions, $\partial E/\partial W_{ij} = -r_i r_j$, between the
# phases (here the centered pair of nudges $\pm\beta$):
#
# $$\hat g_{W_{ij}} = -\frac{r_i^{+\beta} r_j^{+\beta} - r_i^{-\beta} r_j^{-\beta}}{2\beta}.$$
#
# **EqSpike.** The synapse never computes a rate. It adds up every spike of one neuron times
# the other neuron's trace $x_j$ (a running average of its spikes, time constant $\tau_x$)
# just before it,
#
# $$P_{ij} = \frac{1}{T}\sum_t \tfrac12 \big(z_i(t)\, x_j(t-1) + x_i(t-1)\, z_j(t)\big),$$
#
# a symmetric spike-timing window $\propto e^{-|\Delta t|/\tau_x}$, and contrasts it between
# the phases like $r_i r_j$ above. Its mean is $r_i r_j$ up to spike-train correlations
# within $\tau_x$, so it tends to spiking EP as $T \gg \tau_x$.
#
# **Surrogate BPTT** differentiates the free phase's spike counts through every time step,
# replacing the derivative of the step function $H$ by a triangle of width 1; it must store
# all $T$ steps, where EP keeps only the present one.
#
# The first printed row is the largest distance between the spiking firing fractions and the
# rate network's fixed point; the others are the cosines between each estimate and the exact
# gradient (1 means the same direction).

# %%
rules = {"spiking EP": pl.EP(beta=BETA), "EqSpike": pl.EqSpike(beta=BETA),
         "surrogate BPTT": pl.SurrogateBPTT()}
rows = {name: [] for name in ["rate error", *rules]}
for window in WINDOWS:
    net = SpikingNetwork([3, 5, 2], window=window, seed=1)
    exact = net.exact_gradient(x, y, pl.SquaredError())
    rows["rate error"].append(np.abs(net.predict(x) - net.rate_network().predict(x)).max())
    for name, rule in rules.items():
        rows[name].append(cosine(rule.gradient(net, x, y), exact))
print(f"network 3-5-2 (IF, threshold 1), 4 samples, beta = {BETA}")
print("window  " + "  ".join(f"{w:>7d}" for w in WINDOWS))
for name, values in rows.items():
    label = "max |r - r*|" if name == "rate error" else f"cos {name}"
    print(f"{label:22s}" + "  ".join(f"{v:7.4f}" for v in values))

# %% [markdown]
# ## Pooling: average against max
#
# A convolutional layer of 4 maps of 3×3 kernels with 2×2 pooling, $A a = P(W \star a)$. With
# **average pooling** $P$ is linear: the time average of the pooled spikes is the pooled
# average of the rates, and the firing fractions still obey the rate network's fixed-point
# equation. With **max pooling** the network picks, at every step, the window maximum of the
# *spike* map. The time average of a maximum is not the maximum of the time averages: two
# neurons that spike on alternate steps give a pooled signal of 1 every step, where their
# rates give $\max(\tfrac12, \tfrac12) = \tfrac12$. The spiking network then settles
# somewhere other than the rate network whose couplings EP's estimate assumes, and the
# estimate need not point along the exact gradient however long the window.

# %%
pooling = {}
for pool in ("avg", "max"):
    pooling[pool] = []
    for window in WINDOWS:
        net = SpikingNetwork([[1, 6, 6], Conv(4, 3, padding=1, pool=pool), 2], window=window,
                             seed=1)
        pooling[pool].append(cosine(pl.EP(beta=BETA).gradient(net, images, y),
                                    net.exact_gradient(images, y, pl.SquaredError())))
    print(f"conv 4x3x3, {pool} pooling: cos(spiking EP, exact) "
          + ", ".join(f"{c:.4f}" for c in pooling[pool]) + f" for windows {WINDOWS}")
gap = pooling["avg"][-1] - pooling["max"][-1]
print(f"at window {WINDOWS[-1]}: average pooling above max pooling by {gap:.3f} "
      f"(at least 0.01: {gap >= 0.01})")

# %% [markdown]
# ## EqSpike's spike-timing window
#
# One presynaptic and one postsynaptic spike $\Delta t$ apart in an otherwise silent window:
# the pair term a synapse adds (`stdp_window`). It is added in the nudged phase and
# subtracted in the free one (each divided by $\beta$), so nearby spike pairs potentiate in
# the nudged phase and depress in the free one. Its integral over $\Delta t$ is what makes the
# mean of $P_{ij}$ the rate product $r_i r_j$, which is why the contrast tends to EP's; a
# longer trace $\tau_x$ gives a wider, lower window.
#
# The figure: (left) the cosines of the first table against the window, (middle) the
# pooling comparison, (right) the window for three trace time constants.

# %%
lags = np.arange(-40, 41)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
for name in rules:
    axes[0].semilogx(WINDOWS, rows[name], "o-", label=name)
axes[0].set(xlabel="counting window T (steps)",
            ylabel="cosine with exact gradient (dimensionless)",
            title="dense 3-5-2, IF neurons")
axes[0].legend()
for pool, values in pooling.items():
    axes[1].semilogx(WINDOWS, values, "o-", label=f"{pool} pooling")
axes[1].set(xlabel="counting window T (steps)",
            ylabel="cosine with exact gradient (dimensionless)",
            title="convolutional, spiking EP")
axes[1].legend()
for tau in (5.0, 10.0, 20.0):
    axes[2].plot(lags, stdp_window(lags, tau_trace=tau) / BETA, label=f"nudged, τ_x = {tau:g}")
axes[2].plot(lags, -stdp_window(lags, tau_trace=10.0) / BETA, "k--", label="free, τ_x = 10")
axes[2].set(xlabel="Δt = t_post − t_pre (steps)",
            ylabel="pair term / β (dimensionless)",
            title="EqSpike's spike-timing window")
axes[2].legend(fontsize=8)
fig.suptitle("Spiking networks measure EP's gradient")
fig.savefig(FIGURES / "spiking_ep.png", dpi=110)

# %% [markdown]
# ## What to read in the output
#
# * The rate error falls roughly as $1/T$: the firing fractions are counts.
# * Spiking EP and EqSpike approach the exact direction as the window grows; EqSpike carries,
#   on top of the counting error, the spike-train correlations within $\tau_x$, which do not
#   vanish with $\beta$.
# * Surrogate BPTT also tends to the exact gradient as the window grows (for IF neurons),
#   at the price of storing every time step.
# * With average pooling, spiking EP on the convolutional network behaves like the dense
#   one; with max pooling it does not converge to the exact gradient, and the printed gap at
#   the longest window says by how much.
#
# Example 64 trains such networks on digits.
