# %% [markdown]
# # Generalized EP without weight symmetry, and Jacobian homeostasis
#
# A Hopfield-like network with separate forward weights ``W`` and backward weights ``B`` has no
# energy: it relaxes along a vector field ``ds/dt = −Φ(s)``. Generalized EP (Laborieux & Zenke
# 2024) still nudges the outputs, estimates how the fixed point moves, ``ds*/dβ = −J⁻¹ ∂C/∂s``,
# and contracts it with ``∂Φ/∂θ``. The true gradient needs ``J⁻ᵀ`` instead, so the estimate is
# biased by the antisymmetric part of the Jacobian ``J = ∂Φ/∂s``. The backward weights start at
# ``B = sin α B_rand + cos α Wᵀ``; the bias grows with the angle α. Jacobian homeostasis adds the
# gradient of ``½‖J − Jᵀ‖²_F / n`` (per unit of the state, estimated with random probes) to
# training, which re-aligns the estimate with the true gradient. Dimensionless units.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.check import cosine, relative_error
from physlearn.experiment.plots import figure_dir
from physlearn.rules.generalized import GeneralizedEP
from physlearn.rules.homeostasis import homeostatic_loss
from physlearn.systems.vector_field import VectorFieldNetwork

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures


def flat(d):
    return np.concatenate([d[k].ravel() for k in sorted(d)])


# %% [markdown]
# ## 1. The bias grows with the asymmetry angle and does not vanish as β → 0

# %%
rng = np.random.default_rng(1)
x, y = rng.normal(size=(8, 3)), 0.3 * rng.normal(size=(8, 2))
alphas = np.linspace(0, np.pi / 2, 7)
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
# The bias shows on the neuronal errors: the rate ``ds*/dβ`` a nudge produces against the
# adjoint of recurrent backprop, layer by layer (``pl.error_alignment``). The output layer is
# aligned by construction; the hidden layers carry the ``J⁻¹`` vs ``J⁻ᵀ`` difference. How
# large β may be is set by the radius of convergence of ``s*(β)``, which the network
# estimates (``nudge_radius``); Cauchy points are refused at or beyond it, and half of it is a
# safe circle.

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

# %%
x_train = rng.normal(size=(16, 3))
y_train = VectorFieldNetwork([3, 5, 2], seed=99, gain=1.5).predict(x_train)
history = {}
for lam in (0.0, 0.35):      # λ per unit (the loss is divided by the 7 units of the state)
    net = VectorFieldNetwork([3, 5, 2], alpha=1.2, seed=0)
    rule, probe = GeneralizedEP(beta=0.01, homeostasis=lam), GeneralizedEP(beta=0.01)
    cos, loss = [], []
    for step in range(100):
        if step % 10 == 0:
            cos.append(cosine(flat(probe.gradient(net, x_train, y_train)),
                              flat(pl.exact_gradient(net, x_train, y_train))))
            loss.append(pl.loss(net, x_train, y_train))
        g = rule.gradient(net, x_train, y_train)
        net.update_params({k: v - 0.2 * g[k] for k, v in net.params.items()})
    history[lam] = (cos, loss)
    print(f"homeostasis={lam}: cosine(ĝ, true gradient) {cos[0]:.3f} -> {cos[-1]:.3f}, "
          f"loss {loss[0]:.4f} -> {loss[-1]:.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
for b, e in errors.items():
    axes[0].semilogy(np.degrees(alphas[1:]), e[1:], "o-", label=f"β = {b:g}")
axes[0].set_xlabel("asymmetry angle α (degrees)")
axes[0].set_ylabel("rel. error of generalized EP")
axes[0].set_title("bias against the asymmetry")
axes[0].legend()
steps = np.arange(0, 100, 10)
for lam, (cos, _) in history.items():
    axes[1].plot(steps, cos, "o-", label=f"homeostasis {lam}")
axes[1].set_xlabel("training step")
axes[1].set_ylabel("cosine(ĝ, dL/dθ) (dimensionless)")
axes[1].set_title("alignment during training")
axes[1].legend()
fig.savefig(FIGURES / "generalized_ep.png", dpi=110)
