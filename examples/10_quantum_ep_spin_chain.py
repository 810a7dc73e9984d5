# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Quantum equilibrium propagation on a spin chain
#
# A quantum system trained by EP: the couplings θ_j of a Hamiltonian H = Σ θ_j A_j + … are the
# weights, the outputs are expectation values ⟨B_k⟩ of the ground state, and the local learning
# signal is ⟨A_j⟩ = ⟨∂H/∂θ_j⟩. Nudging the outputs, H → H + β Σ_k ε_k B_k with ε = ∂L/∂⟨B⟩,
# and contrasting ⟨A_j⟩ gives the whole gradient — because the static susceptibilities are
# symmetric, χ_{B A} = χ_{A B} (Onsager reciprocity; Wanjura & Marquardt 2025).
#
# Units: energies in units of the coupling J, ħ = k_B = 1.

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.experiment.plots import figure_dir
from physlearn.systems import quantum as q
from physlearn.systems.quantum import ObservableCost
from physlearn.systems.spin_chain import SpinChain

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## A 6-spin transverse-field Ising chain
# H = −Σ J_b Z_i Z_{i+1} − Σ h_i X_i − 0.1 Σ Z_i − x Z_0: the bonds J and fields h are
# trainable, the input x is a longitudinal field on spin 0, the outputs are ⟨Z_5⟩ and ⟨X_2⟩.

# %%
chain = SpinChain.transverse_field_ising(6, J=np.linspace(0.8, 1.2, 5),
                                         h=np.linspace(1.2, 1.5, 6), g=0.1,
                                         observables=["Z5", "X2"], seed=0)
rng = np.random.default_rng(0)
x, y = rng.normal(size=(3, 1)), 0.3 * rng.normal(size=(3, 2))
print(chain.param_shapes, "gap:", chain.equilibrium(x).gap)

# %% [markdown]
# The engine's unchanged `EP` rule is quantum EP here; `exact_gradient` is linear response
# (the reduced resolvent), and finite differences of the loss are the independent reference.

# %%
fd = pl.finite_difference_gradient(chain, x, y, h=1e-5)
print(pl.gradient_check(chain, pl.EP(beta=1e-3, variant="centered"), x, y, reference=fd))
print(pl.gradient_check(chain, pl.EP(beta=1e-3, variant="positive"), x, y, reference=fd))
print("linear response vs finite differences:",
      pl.check.relative_error(pl.exact_gradient(chain, x, y), fd))
for variant in ("positive", "centered"):
    print(variant, pl.bias_order(chain, pl.EP(variant=variant), x, y,
                                 betas=(1e-1, 3e-2, 1e-2, 3e-3, 1e-3)))

# %% [markdown]
# ## Thermal states
# At T > 0 the identity holds exactly for thermal averages (⟨A_j⟩_T = ∂F/∂θ_j), and the
# exact reference is the isothermal Kubo–Mori susceptibility.

# %%
for T in (0.2, 1.0, 5.0):
    warm = SpinChain(**{**chain.get_params(), "temperature": T})
    warm.params = chain.params
    ref = pl.finite_difference_gradient(warm, x, y, h=1e-5)
    ep_error = pl.check.relative_error(pl.EP(1e-3).gradient(warm, x, y), ref)
    lr_error = pl.check.relative_error(pl.exact_gradient(warm, x, y), ref)
    print(f"T={T}: centered EP error {ep_error:.2e}, Kubo-Mori error {lr_error:.2e}")

# %% [markdown]
# ## Two objectives
# *Loss of expectation values* (W&M): L = ½(⟨Z⟩ − y)². *Expected cost observable* (Scellier):
# L = ⟨½(Z − y)²⟩ = ½(1 + y² − 2y⟨Z⟩), minimised at ⟨Z⟩ = sign y. With ⟨Z⟩ ≈ −0.7 and
# y = −0.5 they disagree on the direction.

# %%
single = SpinChain.transverse_field_ising(5, h=1.3, observables=["Z0"], seed=0)
xs, ys = np.array([[-1.0]]), np.array([[-0.5]])
print("<Z0> =", single.predict(xs)[0, 0])
g_w = pl.EP(1e-3).gradient(single, xs, ys, pl.SquaredError())
g_s = pl.EP(1e-3).gradient(single, xs, ys, ObservableCost())
flat = [np.concatenate([g[k] for k in sorted(g)]) for g in (g_w, g_s)]
print("cosine between the two gradients:", pl.check.cosine(*flat))

# %% [markdown]
# ## Reciprocity, shown rather than assumed
# An XXZ chain with a Dzyaloshinskii–Moriya term breaks time reversal. Its static
# susceptibility is still symmetric (it is a mixed second derivative of E₀), but the
# time-dependent Kubo response χ_AB(t) = −i⟨[A(t), B]⟩ (two `sesolve` runs) is not.

# %%
A, B = q.pauli("X0 X1", 5), q.pauli("Z3", 5)
times = np.linspace(0, 6, 121)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
for ax, dm in zip(axes, (0.0, 0.4)):
    H = SpinChain.xxz(5, Jxy=1.0, Jz=0.7, h=0.3, dm=dm).hamiltonian([0.4])
    ax.plot(times, q.kubo_response(H, A, B, times), label="χ_AB(t)")
    ax.plot(times, q.kubo_response(H, B, A, times), "--", label="χ_BA(t)")
    static = (q.static_susceptibility(H, A, B), q.static_susceptibility(H, B, A))
    ax.set(title=f"D = {dm}: time reversal {'kept' if dm == 0 else 'broken'}\n"
                 f"static χ_AB = {static[0]:.6f}, χ_BA = {static[1]:.6f}", xlabel="t (ħ/J)")
    ax.legend()
axes[0].set_ylabel("response of ⟨X₀X₁⟩ to Z₃ and back")
fig.tight_layout()
fig.savefig(FIGURES / "quantum_reciprocity.png", dpi=130)
print("wrote", FIGURES / "quantum_reciprocity.png")
