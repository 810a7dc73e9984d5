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
# EP needs a system that settles into the minimum of an energy. A quantum system at zero
# temperature does: its ground state minimises $\langle H\rangle$. Make some couplings
# $\theta_j$ of the Hamiltonian trainable,
#
# $$H(\theta, x) = \sum_j \theta_j A_j + (\text{fixed and input terms}),$$
#
# take the ground-state expectation values $\langle B_k\rangle$ of some observables as the
# outputs, and a loss $L(\langle B\rangle)$ of them. The local learning signal is
# $\langle A_j\rangle = \langle\partial H/\partial\theta_j\rangle = \partial E_0/\partial
# \theta_j$ (Hellmann–Feynman). Nudge the outputs, $H \to H + \beta\sum_k \varepsilon_k B_k$
# with the error signal $\varepsilon = \partial L/\partial\langle B\rangle$ at the free state,
# and contrast $\langle A_j\rangle$:
#
# $$\frac{dL}{d\theta_j} = \sum_k \varepsilon_k \frac{\partial\langle B_k\rangle}
#   {\partial\theta_j} = \frac{d\langle A_j\rangle}{d\beta}\Big|_{\beta = 0}.$$
#
# The second equality is the symmetry of the static susceptibilities,
# $\chi_{B_k A_j} = \chi_{A_j B_k}$ (both are the mixed second derivative of $E_0$; Onsager
# reciprocity), so two or three ground-state preparations give the gradient with respect to
# *every* coupling (Wanjura & Marquardt 2025). This notebook checks the identity on a
# transverse-field Ising chain, at zero and finite temperature, compares two definitions of
# the objective, and shows that static reciprocity survives broken time reversal while the
# dynamical one does not.
#
# Units: energies in units of the coupling J, $\hbar = k_B = 1$ (times in units of $\hbar/J$).

# %%

import matplotlib.pyplot as plt
import numpy as np

import physlearn as pl
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.systems import quantum as q
from physlearn.systems.quantum import ObservableCost
from physlearn.systems.spin_chain import SpinChain

FAST = fast_mode()  # PHYSLEARN_FAST=1 changes nothing here: the whole example takes seconds
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures

# %% [markdown]
# ## A 6-spin transverse-field Ising chain
#
# $$H = -\sum_b J_b Z_b Z_{b+1} - \sum_i h_i X_i - 0.1\sum_i Z_i - x\,Z_0 .$$
#
# The 5 bonds $J_b$ and 6 transverse fields $h_i$ are trainable; the weak longitudinal field
# $0.1$ is fixed and breaks the symmetry $Z \to -Z$; the input $x$ is a
# longitudinal field on spin 0; the outputs are $\langle Z_5\rangle$ and $\langle X_2\rangle$.
# `SpinChain` builds $H$ from Pauli strings (QuTiP) and prepares its ground state by exact
# diagonalisation (dimension $2^6$). The cell draws three random inputs and targets and
# prints the parameter shapes and the spectral gap $\Delta = E_1 - E_0$ for each input: EP
# needs a gap, since the nudge must not reorder the levels.

# %%
chain = SpinChain.transverse_field_ising(6, J=np.linspace(0.8, 1.2, 5),
                                         h=np.linspace(1.2, 1.5, 6), g=0.1,
                                         observables=["Z5", "X2"], seed=0)
rng = np.random.default_rng(0)
x, y = rng.normal(size=(3, 1)), 0.3 * rng.normal(size=(3, 2))
print(chain.param_shapes, "gap:", chain.equilibrium(x).gap)

# %% [markdown]
# ## The gradient, three ways
#
# The engine's unchanged `pl.EP` rule is quantum EP here: its "relaxation" is a ground-state
# preparation of $H + \beta\sum_k\varepsilon_k B_k$. The reference is finite differences of
# the loss (step $10^{-5}$), independent of any theory; `pl.exact_gradient` is linear
# response (the reduced resolvent of the ground state). The cell prints gradient checks of
# centered and positive EP at $\beta = 10^{-3}$ against the finite differences, the
# agreement of linear response with them, and `pl.bias_order`: the slope of
# $\log(\text{error})$ against $\log\beta$, which theory predicts to be 1 for the one-sided
# and 2 for the centered estimate.

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
#
# At temperature $T > 0$ the chain is in its Gibbs state $\rho = e^{-H/T}/Z$, which minimises
# the free energy $F = -T\ln Z$. The same argument holds with $F$ in place of $E_0$:
# $\langle A_j\rangle_T = \partial F/\partial\theta_j$, and mixed partial derivatives of $F$
# commute, so the EP identity is exact for thermal averages. The exact reference is the
# isothermal (Kubo–Mori) susceptibility, the response of a state that re-thermalises after
# the nudge. For three temperatures the cell prints the error of centered EP
# ($\beta = 10^{-3}$) and of the Kubo–Mori gradient against finite differences.

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
#
# "The loss" of a quantum output has two inequivalent definitions.
#
# * *Loss of expectation values* (Wanjura & Marquardt): $L = \tfrac12(\langle Z\rangle -
#   y)^2$, error signal $\varepsilon = \langle Z\rangle - y$; minimised at
#   $\langle Z\rangle = y$.
# * *Expected cost observable* (Scellier): $L = \langle\tfrac12(Z - y)^2\rangle =
#   \tfrac12(1 + y^2 - 2y\langle Z\rangle)$ for a Pauli $Z$ ($Z^2 = 1$), error signal
#   $\varepsilon = -y$; minimised at $\langle Z\rangle = \operatorname{sign} y$.
#
# Both gradients are $\varepsilon\,\partial\langle Z\rangle/\partial\theta$, so they are
# parallel or antiparallel: their cosine is $\pm1$, negative when the two error signals have
# opposite signs, i.e. when $\langle Z\rangle$ lies between $y$ and $\operatorname{sign} y$.
# The cell uses a 5-spin chain with output $\langle Z_0\rangle$, input $x = -1$ and target
# $y = -0.5$, prints $\langle Z_0\rangle$ and the cosine between the two EP gradients.

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
#
# Quantum EP relies on *static* reciprocity, $\chi_{AB} = \chi_{BA}$. That symmetry does not
# need time-reversal invariance: $\chi_{AB} = \partial^2 E_0/\partial\nu_A\partial\nu_B$ for
# $H + \nu_A A + \nu_B B$. The *dynamical* response does. The time-dependent Kubo response
#
# $$\chi_{AB}(t) = -i\,\langle[A(t), B(0)]\rangle \qquad (\hbar = 1)$$
#
# (the change of $\langle A\rangle$ at time $t$ after a kick of $B$ at time 0, computed from
# two `qutip.sesolve` runs) obeys $\chi_{AB}(t) = \chi_{BA}(t)$ only when $H$, $A$ and $B$ are
# time-reversal symmetric (Onsager–Casimir). An XXZ chain with a Dzyaloshinskii–Moriya term
# $D\sum_b(X_bY_{b+1} - Y_bX_{b+1})$ breaks time reversal. For $D = 0$ and $D = 0.4$ the cell
# draws $\chi_{AB}(t)$ and $\chi_{BA}(t)$ for $A = X_0X_1$, $B = Z_3$, with the static
# susceptibilities in each title.

# %%
A, B = q.pauli("X0 X1", 5), q.pauli("Z3", 5)
times = np.linspace(0, 6, 121)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True, layout="constrained")
for ax, dm in zip(axes, (0.0, 0.4)):
    H = SpinChain.xxz(5, Jxy=1.0, Jz=0.7, h=0.3, dm=dm).hamiltonian([0.4])
    ax.plot(times, q.kubo_response(H, A, B, times), label="χ_AB(t)")
    ax.plot(times, q.kubo_response(H, B, A, times), "--", label="χ_BA(t)")
    static = (q.static_susceptibility(H, A, B), q.static_susceptibility(H, B, A))
    ax.set(title=f"D = {dm}: time reversal {'kept' if dm == 0 else 'broken'}\n"
                 f"static χ_AB = {static[0]:.6f}, χ_BA = {static[1]:.6f}",
           xlabel="time t (units of ħ/J)")
    ax.legend()
axes[0].set_ylabel("Kubo response χ(t), A = X₀X₁, B = Z₃\n(dimensionless)")
fig.suptitle("XXZ chain, 5 spins: static reciprocity holds, dynamical needs time reversal")
fig.savefig(FIGURES / "quantum_reciprocity.png", dpi=130)
print("wrote", FIGURES / "quantum_reciprocity.png")
