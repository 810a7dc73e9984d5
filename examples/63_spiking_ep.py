# %% [markdown]
# # Spiking networks compute EP's gradient: firing rates, spike pairs and pooling
#
# An integrate-and-fire neuron that integrates a constant current ``I`` and resets by
# subtraction fires a fraction ``clip(I/θ, 0, 1)`` of the time steps: the hard sigmoid. Wire
# such neurons with the symmetric couplings of a layered Hopfield network
# (:class:`physlearn.systems.SpikingNetwork`) and their firing fractions settle to the fixed
# point of the hard-sigmoid Hopfield network ``net.rate_network()``. EP then works on spikes:
# run a free phase, nudge the output neurons with the current ``−β ∂C/∂o``, and contrast
# what the synapses measured in the two phases.
#
# Two measurements are compared with the rate network's exact gradient (implicit
# differentiation) as the counting window grows:
#
# * **spiking EP** (Lin, Bal & Sengupta 2024): products of firing rates, ``physlearn.EP``;
# * **EqSpike** (Martin et al. 2021, reconstructed): each synapse adds up every pair of a spike
#   with the other neuron's trace just before it, a symmetric spike-timing window, contrasted
#   between the phases (``physlearn.EqSpike``);
# * and the usual spiking baseline, BPTT through the spikes with a surrogate derivative
#   (``physlearn.SurrogateBPTT``).
#
# Then the convolutional network with average and with max pooling: the time average of a
# window maximum of spikes is not the maximum of the averages, so max pooling biases EP.
# Dimensionless units (time in steps, currents in units of the threshold).

# %%
import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import cosine
from physlearn.experiment.plots import figure_dir
from physlearn.systems.hopfield import Conv
from physlearn.systems.spiking import SpikingNetwork, stdp_window

FIGURES = figure_dir(globals().get("__file__"))
WINDOWS = (100, 300, 1000, 3000)
BETA = 0.01                       # small enough that EP on the rate network is exact here
rng = np.random.default_rng(0)
x, y = rng.uniform(0, 1, (4, 3)), rng.uniform(0, 1, (4, 2))
images = rng.uniform(0, 1, (4, 1, 6, 6))

# %% [markdown]
# ## Firing rates and gradients against the window

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
# One presynaptic and one postsynaptic spike ``Δt`` apart: the pair term a synapse adds. It is
# added in the nudged phase and subtracted in the free one (each over β), so nearby spike
# pairs potentiate in the nudged phase and depress in the free one; its integral is the rate
# product, which is why the contrast tends to EP's.

# %%
lags = np.arange(-40, 41)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for name in rules:
    axes[0].semilogx(WINDOWS, rows[name], "o-", label=name)
axes[0].set(xlabel="window (steps)", ylabel="cosine with exact gradient",
            title="dense 3-5-2, IF neurons")
axes[0].legend()
for pool, values in pooling.items():
    axes[1].semilogx(WINDOWS, values, "o-", label=f"{pool} pooling")
axes[1].set(xlabel="window (steps)", ylabel="cosine with exact gradient",
            title="convolutional, spiking EP")
axes[1].legend()
for tau in (5.0, 10.0, 20.0):
    axes[2].plot(lags, stdp_window(lags, tau_trace=tau) / BETA, label=f"nudged, τ_x = {tau:g}")
axes[2].plot(lags, -stdp_window(lags, tau_trace=10.0) / BETA, "k--", label="free, τ_x = 10")
axes[2].set(xlabel="Δt = t_post − t_pre (steps)", ylabel="ΔW per spike pair (× 1/β)",
            title="EqSpike's window")
axes[2].legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "spiking_ep.png", dpi=110)
