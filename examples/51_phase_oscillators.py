# %% [markdown]
# # Coupled phase oscillators learn XOR by equilibrium propagation
#
# Phase oscillators with XY (Kuramoto-type) couplings relax, overdamped, along
# $\dot\varphi = -\partial E/\partial\varphi$ to a minimum of
#
# $$E(\theta, x, \varphi) = -\sum_{(j,k)} W_{jk}\cos(\varphi_j - \varphi_k)
#   - \sum_j h_j\cos(\varphi_j - \psi_j)$$
#
# (Wang, Wanjura & Marquardt 2024): couplings $W_{jk}$ ($W > 0$ aligns, $W < 0$
# anti-aligns) and local fields of strength $h_j$ pinning oscillator $j$ toward a phase
# $\psi_j$. Input oscillators are clamped at the phases $\pm\pi/2$; the output phase is read
# out. The local learning signal of a coupling is the cosine of a phase difference,
# $\partial E/\partial W_{jk} = -\cos(\varphi_j - \varphi_k)$, contrasted between a free and
# a nudged relaxation.
#
# The nudge comes from the cost
#
# $$C = -\sum_k \log\frac{1 + \cos d_k}{2}, \qquad d = o - y,$$
#
# whose force on an output, $-\beta \sin d/(1 + \cos d) = -\beta\tan(d/2)$, vanishes at
# alignment and grows without bound toward anti-alignment $d = \pi$, so a nudged output is
# never left at the unstable anti-aligned point. This script checks EP against implicit
# differentiation (bias orders in $\beta$), shows why gradient checks must use that same
# cost, and trains XOR on a 5-oscillator network with centered EP. Dimensionless units:
# phases in radians, couplings in units of a reference energy.

# %%
import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems.phase_oscillators import (
    ChordCost,
    PhaseCost,
    PhaseOscillatorNetwork,
    phase_accuracy,
    xor_problem,
)

FAST = fast_mode()                               # PHYSLEARN_FAST=1: fewer seeds and epochs
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
SEEDS = range(2) if FAST else range(3)           # XOR training seeds (section 2)
MAX_EPOCHS = 60 if FAST else 400                 # XOR steps at most, per seed

# %% [markdown]
# ## 1. EP against the exact gradient
#
# The exact reference is implicit differentiation at the free minimum. Theory predicts a
# bias $O(\beta)$ for one-sided EP, $O(\beta^2)$ for centered EP, and, because the energy is
# entire in the phases and the cost holomorphic away from $d = \pi$, complex nudges work
# too: holomorphic EP with $N$ nudges $\beta_k = r e^{2\pi i k/N}$ on a circle takes the
# Cauchy integral
# $\frac1N\sum_k [\partial_\theta E(s^{\beta_k}) - \partial_\theta E(s^0)]/\beta_k$, with a
# bias $O(r^N)$. `pl.bias_order` fits the slope of the relative error against $|\beta|$ on a
# log–log scale; the printed slopes are the measured orders.
#
# Two more checks: the exact gradient against finite differences of the log cost, and EP
# nudged with the log cost against the exact gradient of the look-alike "chord" cost
# $1 - \cos d$. The two costs differ, so must their gradients: a gradient check of EP has to
# difference the cost that generates the nudge force.

# %%
net = PhaseOscillatorNetwork(3, 3, 2, seed=0)
rng = np.random.default_rng(1)
x = rng.uniform(-np.pi / 2, np.pi / 2, size=(4, 3))
y = net.predict(x) + 0.3 * rng.normal(size=(4, 2))
cost = PhaseCost()
betas = np.array([3e-2, 1e-2, 3e-3, 1e-3])
orders = {}
for label, rule in [("EP positive", pl.EP(variant="positive")),
                    ("EP centered", pl.EP(variant="centered")),
                    ("holomorphic EP, N=4", pl.HolomorphicEP(points=4))]:
    bs = betas * (10 if "holo" in label else 1)
    orders[label] = (bs, pl.bias_order(net, rule, x, y, bs, cost=cost))
    print(f"{label:22s} fitted order {orders[label][1].slope:.2f}")

fd = pl.finite_difference_gradient(net, x, y, cost)
print("exact vs finite differences of the log cost:",
      f"{relative_error(pl.exact_gradient(net, x, y, cost), fd):.1e}")
chord = pl.exact_gradient(net, x, y, ChordCost())
ep_log = pl.EP(beta=1e-3).gradient(net, x, y, cost)
print(f"EP (log-cost nudge) vs the gradient of the chord cost 1 - cos d: "
      f"{relative_error(ep_log, chord):.2f}")

# %% [markdown]
# ## 2. XOR with centered EP
#
# Five oscillators: 2 inputs, 2 hidden, 1 output; target $+\pi/2$ where the inputs differ,
# $-\pi/2$ otherwise. A pattern counts as right when the output lies within $\pi/2$ of its
# target. Each step moves the parameters by $-0.5\,\hat g/\max(1, \|\hat g\|)$: steps are
# normalised because the log cost's force is large near anti-alignment. A small
# $\beta = 10^{-3}$ matters for centered EP here: the negative nudge $E - \beta C$ has no
# minimum once an output is nearly anti-aligned with its target (there $-\beta C \to
# -\infty$). Training stops when every pattern is right with $\cos(o - y) > 0.9$.

# %%
xx, yy = xor_problem()
curves = []
for seed in SEEDS:
    xor = PhaseOscillatorNetwork.xor(seed=seed)
    rule, losses = pl.EP(beta=1e-3, variant="centered"), []
    for _ in range(MAX_EPOCHS):
        g = rule.gradient(xor, xx, yy, cost)
        norm = np.sqrt(sum(np.sum(v * v) for v in g.values()))
        xor.update_params({k: v - 0.5 * g[k] / max(1.0, norm) for k, v in xor.params.items()})
        o = xor.predict(xx)
        losses.append(cost.mean(o, yy))
        if phase_accuracy(o, yy) == 1 and np.min(np.cos(o - yy)) > 0.9:
            break
    curves.append(losses)
    wrapped = np.angle(np.exp(1j * xor.predict(xx))).ravel()
    print(f"seed {seed}: accuracy {phase_accuracy(xor.predict(xx), yy):.2f} after "
          f"{len(losses)} epochs; output phases mod 2π {np.round(wrapped, 2)}")

# %% [markdown]
# Left: the bias of the three estimates against the nudge (straight lines on log–log axes,
# slopes in the legend). Right: the log cost during training, one line per seed.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
for label, (bs, m) in orders.items():
    axes[0].loglog(bs, m.errors, "o-", label=f"{label} (slope {m.slope:.2f})")
axes[0].set_xlabel("nudge |β| (dimensionless)")
axes[0].set_ylabel("relative error vs implicit\ndifferentiation (dimensionless)")
axes[0].set_title("bias of the EP estimates")
axes[0].legend(fontsize=7)
for seed, losses in zip(SEEDS, curves):
    axes[1].semilogy(np.arange(1, len(losses) + 1), losses, label=f"seed {seed}")
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("mean log cost C (dimensionless)")
axes[1].set_title("XOR, 5 oscillators, centered EP")
axes[1].legend(fontsize=7)
fig.savefig(FIGURES / "phase_oscillators.png", dpi=110)
