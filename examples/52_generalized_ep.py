# %% [markdown]
# # Generalized EP without weight symmetry, and Jacobian homeostasis
#
# A Hopfield-like network with separate forward weights $W$ and backward weights $B$ has no
# energy: its units $s$ relax along a vector field $ds/dt = -\Phi(s)$, with
#
# $$\Phi_l = s_l - \rho'(s_l)\odot\big(W_l\,\rho(s_{l-1}) + B_{l+1}\,\rho(s_{l+1}) + b_l\big),
#   \qquad \rho = \tanh .$$
#
# Only when $B_{l+1} = W_{l+1}^\top$ is $\Phi = \partial E/\partial s$ the gradient of a
# Hopfield energy, and its Jacobian $J = \partial\Phi/\partial s$ symmetric. Generalized EP
# (Laborieux & Zenke 2024) still nudges the outputs, $\Phi + \beta\,\partial C/\partial s =
# 0$, estimates how the fixed point moves,
#
# $$\frac{ds^*}{d\beta} = -J^{-1}\frac{\partial C}{\partial s},$$
#
# and contracts it with $\partial\Phi/\partial\theta$:
# $\hat g = (\partial\Phi/\partial\theta)^\top ds^*/d\beta$. The true gradient (recurrent
# backprop) needs $J^{-\top}$ instead of $J^{-1}$, so
#
# $$\hat g - \frac{dL}{d\theta} = -\Big(\frac{\partial\Phi}{\partial\theta}\Big)^{\!\top}
#   J^{-1}\,(J^\top - J)\,J^{-\top}\frac{\partial C}{\partial s}$$
#
# is driven by the antisymmetric part of the Jacobian and does not vanish as $\beta \to 0$.
# The backward weights start at $B = \sin\alpha\,B_{\rm rand} + \cos\alpha\,W^\top$; the bias
# should grow with the asymmetry angle $\alpha$. *Jacobian homeostasis* adds the gradient of
#
# $$L_{\rm homeo} = \frac{1}{2n}\,\|J - J^\top\|_F^2$$
#
# ($n$ units in the state; estimated with random probes) to training, with a weight
# $\lambda$ per unit, which should re-align the estimate with the true gradient.
# Dimensionless units.

# %%
import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import cosine, relative_error
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.rules.generalized import GeneralizedEP
from physlearn.rules.homeostasis import homeostatic_loss
from physlearn.systems.vector_field import VectorFieldNetwork

FAST = fast_mode()                               # PHYSLEARN_FAST=1: fewer angles and steps
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures
N_ALPHAS = 4 if FAST else 7                      # asymmetry angles of section 1
STEPS = 40 if FAST else 100                      # training steps of section 2


def flat(d):
    return np.concatenate([d[k].ravel() for k in sorted(d)])


# %% [markdown]
# ## 1. The bias grows with the asymmetry angle and does not vanish as β → 0
#
# A network 3–6–2 on 8 random inputs and targets. For each $\alpha$ the script prints the
# relative error of the (centered) generalized EP estimate against the exact gradient
# (implicit differentiation with $J^{-\top}$, `pl.exact_gradient`) at $\beta = 10^{-3}$, and
# the homeostatic loss $L_{\rm homeo}$ of the free fixed point, averaged over the batch. The
# figure shows the error at two values of $\beta$: if the bias came from the finite nudge,
# the two curves would differ by a factor 100 ($O(\beta^2)$); they should nearly coincide.

# %%
rng = np.random.default_rng(1)
x, y = rng.normal(size=(8, 3)), 0.3 * rng.normal(size=(8, 2))
alphas = np.linspace(0, np.pi / 2, N_ALPHAS)
errors = {b: [] for b in (1e-2, 1e-3)}
asym = []
for alpha in alphas:
    net = VectorFieldNetwork([3, 6, 2], alpha=alpha, seed=0)
    ref = pl.exact_gradient(net, x, y)
    for b in errors:
        errors[b].append(relative_error(GeneralizedEP(beta=b).gradient(net, x, y), ref))
    asym.append(np.mean(homeostatic_loss(net.jacobian(net.equilibrium(x)))))
    print(f"alpha={alpha:.2f}  rel. error {errors[1e-3][-1]:.2e}  ½‖J−Jᵀ‖²/n = {asym[-1]:.3f}")

# %% [markdown]
# The bias shows on the neuronal errors: the rate $ds^*/d\beta = -J^{-1}\partial C/\partial s$
# a nudge produces against the adjoint $\delta = -J^{-\top}\partial C/\partial s$ of recurrent
# backprop, compared layer by layer by their cosine (`pl.error_alignment`, here with the
# exact $ds^*/d\beta$, `beta=None`). At $\alpha = 0$ the two coincide; with asymmetry the
# hidden layers, far from where the error is injected, should lose the alignment first.
#
# How large $\beta$ may be is set by the radius of convergence of $s^*(\beta)$ in the complex
# $\beta$ plane, which the network estimates to first order (`nudge_radius`); holomorphic
# (Cauchy) nudges on a circle are refused at or beyond it, and half of it is a safe circle.
# The last column is the hidden-layer cosine of a 4-point Cauchy estimate there: the finite
# nudge adds little, the asymmetry bias stays.

# %%
for degrees in (0, 45, 90):
    net = VectorFieldNetwork([3, 6, 4, 2], alpha=np.radians(degrees), seed=0)
    a = pl.error_alignment(net, x, y, beta=None)
    radius = net.nudge_radius(x, y, pl.SquaredError())
    cauchy = pl.error_alignment(net, x, y, beta=0.5 * radius, points=4)
    print(f"alpha={degrees:2d}°  cosine hidden 1 {a['hidden_1']:.3f}, hidden 2 "
          f"{a['hidden_2']:.3f}, output {a['output']:.3f}; nudge radius {radius:.3g}, "
          f"Cauchy at half of it: hidden {cauchy['hidden']:.3f}")

# %% [markdown]
# ## 2. Training an asymmetric network with and without homeostasis
#
# A 3–5–2 network at $\alpha = 1.2$ rad learns the outputs of a random "teacher" network of
# the same shape (16 samples, gradient descent with step 0.2, centered generalized EP with
# $\beta = 0.01$). Every 10 steps the script measures the cosine between the plain estimate
# $\hat g$ (without the homeostatic term) and the true gradient. Without homeostasis, $W$
# and $B$ are trained separately and nothing pulls them together; with $\lambda = 0.35$ per
# unit (the loss is divided by the 7 units of the state) the Jacobian is pushed toward
# symmetry and the cosine should rise toward 1.

# %%
x_train = rng.normal(size=(16, 3))
y_train = VectorFieldNetwork([3, 5, 2], seed=99, gain=1.5).predict(x_train)
history = {}
for lam in (0.0, 0.35):      # λ per unit (the loss is divided by the 7 units of the state)
    net = VectorFieldNetwork([3, 5, 2], alpha=1.2, seed=0)
    rule, probe = GeneralizedEP(beta=0.01, homeostasis=lam), GeneralizedEP(beta=0.01)
    cos, loss = [], []
    for step in range(STEPS):
        if step % 10 == 0:
            cos.append(cosine(flat(probe.gradient(net, x_train, y_train)),
                              flat(pl.exact_gradient(net, x_train, y_train))))
            loss.append(pl.loss(net, x_train, y_train))
        g = rule.gradient(net, x_train, y_train)
        net.update_params({k: v - 0.2 * g[k] for k, v in net.params.items()})
    history[lam] = (cos, loss)
    print(f"homeostasis={lam}: cosine(ĝ, true gradient) {cos[0]:.3f} -> {cos[-1]:.3f}, "
          f"loss {loss[0]:.4f} -> {loss[-1]:.4f}")

# %% [markdown]
# Left: the bias of generalized EP against the asymmetry angle, at two nudges (α = 0, where
# the estimate is unbiased up to $O(\beta^2)$, is left out of the log scale). Right: the
# alignment of the estimate with the true gradient during training.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
for (b, e), style in zip(errors.items(), ("o-", "s--")):    # the lines overlap
    axes[0].semilogy(np.degrees(alphas[1:]), e[1:], style, mfc="none", label=f"β = {b:g}")
axes[0].set_xlabel("asymmetry angle α (degrees)")
axes[0].set_ylabel("relative error of generalized EP\n(dimensionless)")
axes[0].set_title("bias vs asymmetry")
axes[0].legend()
steps = np.arange(0, STEPS, 10)
for lam, (cos, _) in history.items():
    axes[1].plot(steps, cos, "o-", label=f"homeostasis λ = {lam}")
axes[1].set_xlabel("training step")
axes[1].set_ylabel("cosine(ĝ, dL/dθ) (dimensionless)")
axes[1].set_title("alignment during training (α = 1.2 rad)")
axes[1].legend()
fig.savefig(FIGURES / "generalized_ep.png", dpi=110)
