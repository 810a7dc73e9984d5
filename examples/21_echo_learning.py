# %% [markdown]
# # Echo learning: a Hamiltonian system computes its own gradient by running backwards
#
# A *Hamiltonian recurrent unit* (HRU) is a bank of unit-mass oscillators driven by an input
# sequence $u_k$. Its state $S = (q, p)$ obeys Hamilton's equations for
#
# $$H(q, p, u; \theta) = \tfrac12\|p\|^2 + V(q, u; \theta),$$
#
# integrated by leapfrog with time step $\delta$; a linear readout $o = Cq_K + d$ of the final
# positions is compared with a target, $L = c(o, y)$. Training needs $dL/d\theta$ through the
# whole trajectory. Backpropagation through time (BPTT) gets it by storing the trajectory and
# running the adjoint equations backwards on a computer.
#
# *Recurrent Hamiltonian echo learning* (RHEL, Pourcel & Ernoult 2025) gets it from physics.
# Leapfrog is symplectic and time-reversal invariant: flip the momenta at the end, replay the
# inputs backwards, and the system retraces its run back to the (flipped) start. RHEL runs
# two such *echoes*, each with the momenta nudged by $\pm\varepsilon\,\partial L/\partial q$,
# and contrasts a local measurement, the time integral of $\partial H/\partial\theta$:
#
# $$\frac{dL}{d\theta} \approx -\frac{1}{2\varepsilon}\Big[\int \partial_\theta H\,dt
#   \Big|_{+\varepsilon} - \int \partial_\theta H\,dt\Big|_{-\varepsilon}\Big].$$
#
# Three physical runs (forward and two echoes), no stored trajectory. This notebook checks
# the estimate against BPTT, the exact reference, measures its order of accuracy in
# $\varepsilon$, looks at it step by step, applies it to a mechanical system, and breaks it
# on purpose. Dimensionless units throughout: time in units of an inverse natural frequency,
# the input sets the force scale.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.rules.echo import RHEL
from physlearn.systems.hru import HRU
from physlearn.systems.oscillators import CoupledOscillators

FAST = fast_mode()                           # PHYSLEARN_FAST=1: shorter sequences, fewer ε
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
N_STEPS = 100 if FAST else 200               # steps per input sequence
N_EPS = 8 if FAST else 14                    # points of the ε sweep
N_OSC_STEPS = 200 if FAST else 400           # steps of the mechanical drive
rng = np.random.default_rng(0)
x = 0.5 * rng.normal(size=(4, N_STEPS, 2))   # 4 sequences, N_STEPS steps, 2 channels
y = rng.normal(size=(4, 3))                  # final-time targets

# %% [markdown]
# ## 1. With ε = 0 the echo retraces the run exactly
#
# The leapfrog map $M = D_{\delta/2} K_\delta D_{\delta/2}$ (half a drift, a kick, half a
# drift) satisfies $M(\Sigma_z S_{k+1}) = \Sigma_z S_k$, where $\Sigma_z(q, p) = (q, -p)$ flips
# the momenta. So an un-nudged echo ($\varepsilon = 0$) started from $\Sigma_z S_K$, with the
# inputs played backwards, must end at $\Sigma_z S_0$: the rest state $(0, 0)$. The printed
# distance is what is left, floating-point round-off.

# %%
net = HRU(2, 8, 3, kind="nonlinear", seed=0)
run = net.run(x, y, pl.SquaredError())
back = net.echo(run, 0, run.cotangents, [0.0])
print("echo(ε=0) distance to the flipped initial state:",
      max(np.abs(back.q).max(), np.abs(back.p).max()))

# %% [markdown]
# ## 2. Accuracy against BPTT: exact for a linear unit, O(ε²) for a nonlinear one
#
# Two potentials (see `systems/hru_physics.py`):
#
# * **linear**: $V = \tfrac12\sum_i A_i q_i^2 - q^\top B u$, a bank of harmonic oscillators;
# * **nonlinear**: $V = \tfrac{\alpha}{2}\|q\|^2 + \sum_i \log\cosh(A_i q_i + (Bu)_i + b_i)/A_i$,
#   whose force $\alpha q + \tanh(Aq + Bu + b)$ saturates.
#
# For the linear unit with a squared-error loss each echo is affine in ε and the measured
# $\partial_\theta H$ quadratic in the state, so the centered contrast is exact at every ε:
# only round-off remains. For the nonlinear unit the even terms cancel in the centered
# contrast and the bias is $O(\varepsilon^2)$; the *one-sided* variant (forward run with
# read-outs, one echo at $+\varepsilon$) keeps an $O(\varepsilon)$ bias. At very small ε the
# round-off of the two echoes, divided by $2\varepsilon$, takes over and the error grows as
# $1/\varepsilon$. `pl.gradient_check` compares every parameter with BPTT; `pl.bias_order`
# fits the slope of $\log(\text{error})$ against $\log\varepsilon$ (theory: 2).

# %%
eps_grid = np.logspace(-7, -0.5, N_EPS)
errors = {}
for kind in ("linear", "nonlinear"):
    net = HRU(2, 8, 3, kind=kind, seed=0)
    ref = pl.exact_gradient(net, x, y)
    errors[kind] = [relative_error(RHEL(eps=e).gradient(net, x, y), ref) for e in eps_grid]
    one = [relative_error(RHEL(eps=e, variant="one-sided").gradient(net, x, y), ref)
           for e in eps_grid]
    errors[kind + " one-sided"] = one
net = HRU(2, 8, 3, kind="nonlinear", seed=0)
print(pl.gradient_check(net, RHEL(eps=1e-4), x, y))
print(pl.bias_order(net, RHEL(), x, y, [1e-1, 3e-2, 1e-2], param="eps"))

fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
for label, errs in errors.items():
    centered = "one" not in label
    ax.loglog(eps_grid, errs, "o-" if centered else "s--", ms=3,
              label=f"{label} centered" if centered else label)
ax.loglog(eps_grid, eps_grid**2, "k:", label="ε² (guide)")
ax.loglog(eps_grid, eps_grid, "k-.", lw=0.8, label="ε (guide)")
ax.set_xlabel("echo nudge ε (dimensionless)")
ax.set_ylabel("relative error vs BPTT (dimensionless)")
ax.set_title("RHEL gradient against BPTT, HRU with 8 oscillators")
ax.legend(fontsize=7)
fig.savefig(FIGURES / "21_rhel_error_vs_eps.png", dpi=120)

# %% [markdown]
# ## 3. Per time step: the echo contrast *is* the BPTT adjoint
#
# BPTT propagates the adjoint $\lambda_k = dL/dS_k$ backwards from the end. RHEL's theorem
# (Pourcel & Ernoult 2025, Thm. 3.2) says the echoes carry the same object physically: at the
# echo step that mirrors step $k$,
#
# $$\lambda_k = \Sigma_x\,\frac{\Phi^e_k(+\varepsilon) - \Phi^e_k(-\varepsilon)}{2\varepsilon}
#   + O(\varepsilon^2),$$
#
# where $\Phi^e_k$ is the echo state and $\Sigma_x$ swaps positions and momenta. With a
# *trajectory* readout (a loss at every step, so the echo is nudged at every step) we record
# both echoes and compare the whole adjoint trajectory.

# %%
net = HRU(2, 8, 3, kind="nonlinear", readout="trajectory", seed=0)
yt = 0.5 * rng.normal(size=(4, N_STEPS, 3))
cost = pl.SquaredError()
ref = net.bptt(x, yt, cost, record=True).blocks[0].adjoints
run = net.run(x, yt, cost)
e = 1e-4
echo = net.echo(run, 0, run.cotangents, [e, -e], record=True)
d = (echo.states[0] - echo.states[1]) / (2 * e)
lam = np.concatenate([d[..., 8:], d[..., :8]], axis=-1)
print("max |λ_echo − λ_BPTT| / max |λ|:", np.abs(lam - ref).max() / np.abs(ref).max())
time_axis = np.arange(ref.shape[1]) * net.dt
fig, ax = plt.subplots(figsize=(5.5, 3.5), layout="constrained")
ax.plot(time_axis, ref[0, :, 0], "k", lw=3, alpha=0.4, label="BPTT adjoint")
ax.plot(time_axis, lam[0, :, 0], "r--", label=f"echo contrast (ε = {e:g})")
ax.set_xlabel("time t = k·δ (dimensionless units)")
ax.set_ylabel("adjoint dL/dq₀ at step k (dimensionless)")
ax.set_title("adjoint of oscillator 0, sequence 0")
ax.legend()
fig.savefig(FIGURES / "21_per_step_adjoint.png", dpi=120)

# %% [markdown]
# ## 4. Mechanical oscillators with trainable masses
#
# Six masses on a line, each on its own spring $k_i$ and coupled to all others by springs
# $\kappa_e$, driven by a force $u(t)$ on mass 1; the position of mass 4, the read-out, is
# nudged toward a target trajectory (the six-oscillator check of the paper's Fig. 2; two drive
# and target sequences):
#
# $$H = \sum_i \frac{p_i^2}{2m_i} + \tfrac12\sum_i k_i q_i^2
#   + \tfrac12\sum_e \kappa_e (q_j - q_i)^2 - u(t)\,q_1 .$$
#
# The masses sit in the *kinetic* energy, so the local measurement is
# $\partial T/\partial m_i = -p_i^2/2m_i^2$, read before and after each kick. The system is
# linear, so the centered estimate is exact up to round-off even at a large ε.

# %%
osc = CoupledOscillators(6, seed=0)
t = np.arange(N_OSC_STEPS) * osc.dt
xo = np.stack([np.sin(0.7 * t), np.sin(0.7 * t + 1.0)])[:, :, None]
yo = 0.3 * np.stack([np.sin(0.5 * t), np.cos(0.4 * t)])[:, :, None]
print(pl.gradient_check(osc, RHEL(eps=1e-2), xo, yo))

# %% [markdown]
# ## 5. Negative controls: friction and a non-symplectic kick break the echo
#
# The echo needs exact time reversal. Friction ($\dot p = -\partial_q H - \gamma p$) loses
# the information needed to retrace the run; a kick evaluated at the start of the step instead
# of the half step is not symplectic, so $M(\Sigma_z S_{k+1}) \ne \Sigma_z S_k$. In both cases
# the estimate is no longer the gradient of the system's own loss: the printed relative errors
# against the exact gradient stay large, however small ε is. (Such systems lack the
# `"echo"` capability, so `RHEL.gradient` refuses them; the controls call the per-sample
# estimate directly, and RHEL's self-check reports the failed echo with an
# `EchoMissWarning`: the midpoint of the $\pm\varepsilon$ echoes does not return home.)

# %%
for label, kwargs in (("damping 0.2", {"damping": 0.2}), ("kick at step start", {"kick": "start"})):
    broken = HRU(2, 8, 3, kind="nonlinear", seed=0, **kwargs)
    est = pl.system.batch_mean(RHEL(eps=1e-4).per_sample_gradient(broken, x, y, cost))
    print(f"{label:>20}: relative error {relative_error(est, pl.exact_gradient(broken, x, y)):.2f}")
