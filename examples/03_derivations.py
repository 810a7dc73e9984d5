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
# # The theorems behind the rules, in sympy
#
# `physlearn.derivations` proves the identities every learning rule relies on: each
# derivation returns expressions `lhs − rhs` that must simplify to zero, and the test suite
# checks them (plus deliberately wrong variants that must *not* vanish). This notebook shows
# the key identities in readable form, then verifies the whole registry.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from physlearn import derivations
from physlearn.derivations.resistor import small_network
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir

FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures


def show(label, lhs, rhs):
    """Pretty-print ``lhs = rhs`` under a label."""
    print(f"\n{label}\n{sp.pretty(sp.Eq(lhs, rhs, evaluate=False), num_columns=100)}")


# %% [markdown]
# ## 1. The EP identity for any smooth energy
#
# The nudged equilibrium $s_\beta(\theta)$ minimises $F = E(\theta, s) + \beta C(s)$. Along
# it, total derivatives follow from the implicit-function theorem. Both sides of
# $\frac{d}{d\beta}\partial_\theta E(s_\beta) = \frac{d}{d\theta} C(s_\beta)$ reduce to the
# same expression because $\partial_\theta\partial_s E = \partial_s\partial_\theta E$.

# %%
theta, beta, s = sp.symbols("theta beta s")
E, C = sp.Function("E")(theta, s), sp.Function("C")(s)
F = E + beta * C
ds_dbeta = -sp.diff(F, s, beta) / sp.diff(F, s, 2)
ds_dtheta = -sp.diff(F, s, theta) / sp.diff(F, s, 2)
ep_side = sp.diff(E, theta, s) * ds_dbeta                 # d/dβ ∂θE(θ, s_β)
loss_side = sp.diff(C, s) * ds_dtheta                     # d/dθ C(s_β)
show("d/dβ ∂E/∂θ(s_β)  =  d/dθ C(s_β):", ep_side, loss_side)
print("checked:", derivations.check("ep_identity.general_energy"))

# %% [markdown]
# ## 2. Bias of the estimators: Taylor series of $g(\beta) = \partial_\theta E(s_\beta)$

# %%
b, r = sp.symbols("beta r", positive=True)
a = sp.symbols("a_0:10")
g = sum(a_n * b**n for n, a_n in enumerate(a))
positive = sp.expand((g - a[0]) / b)
centered = sp.expand((g - g.subs(b, -b)) / (2 * b))
show("positive EP  (g(β) − g(0))/β:", sp.Symbol("ĝ_P"), positive)
show("centered EP  (g(β) − g(−β))/2β:", sp.Symbol("ĝ_C"), centered)
roots = [sp.expand_complex(sp.exp(2 * sp.pi * sp.I * k / 4)) for k in range(4)]
cauchy4 = sp.expand(sum(sp.expand((g.subs(b, r * w) - a[0]) / (r * w)) for w in roots) / 4)
show("4-point Cauchy  (1/4) Σ_k (g(rω^k) − g(0))/(rω^k): aliasing", sp.Symbol("ĝ_4"),
     cauchy4)
print("checked:", derivations.verify("bias.one_sided") | derivations.verify("bias.centered")
      | derivations.verify("bias.cauchy"))

# %% [markdown]
# ## 3. A resistor bridge
#
# Input $x$, ground, free nodes 1–3 (output 3), six symbolic conductances. The co-content and
# its Hessian (a weighted Laplacian):

# %%
c = small_network()
show("co-content", sp.Symbol("E"), c.energy())
show("Hessian in the free voltages", sp.Symbol("K"), c.K)
R = sp.factor(c.response())
print("\noutput response (Thévenin resistance)  R = e^T K^-1 e =\n ", R)

# %% [markdown]
# The nudged output is a Möbius function of $\beta$ with one pole, at $\beta = -1/R$:

# %%
o0, Rs, y = sp.symbols("o_0 R y")
mobius = (o0 + b * Rs * y) / (1 + b * Rs)
show("nudged output", sp.Symbol("o(β)"), mobius)
show("its Taylor series (geometric, radius 1/R)", sp.Symbol("o(β)"),
     sp.series(mobius, b, 0, 5))
print("checked:", derivations.check("resistor.output_pole"))

# %% [markdown]
# ## 4. Coupled learning is EP at a rescaled β
#
# A clamp at $o_0 + \eta(y - o_0)$ equals a soft nudge with $\beta(\eta) = \eta/(R(1-\eta))$,
# so $\lim_{\eta\to0}$ CpL $= \beta'(0)\,dL/d\theta = (1/R)\,dL/d\theta$; at $\eta = 1$ the
# clamp is the target (contrastive learning), reached by the nudge only as $\beta\to\infty$.

# %%
eta = sp.Symbol("eta")
show("β(η)", sp.Symbol("β"), eta / (Rs * (1 - eta)))
show("dβ/dη at 0", sp.Symbol("β'(0)"), sp.diff(eta / (Rs * (1 - eta)), eta).subs(eta, 0))

# %% [markdown]
# ## 5. Verify everything
#
# Every registered derivation, statement by statement, and every negative control. In fast
# mode (`PHYSLEARN_FAST=1`) only the derivations of the sections above (the EP identity, the
# bias orders, coupled learning); the test suite verifies all of them.

# %%
FAST = fast_mode()
chosen = [name for name in derivations.DERIVATIONS
          if not FAST or name.split(".")[0] in ("ep_identity", "bias", "coupled")]
print(f"verifying {len(chosen)} of {len(derivations.DERIVATIONS)} derivations")
print(f"{'derivation':42s}{'statements':>11}{'holds':>7}{'seconds':>9}")
start = time.perf_counter()
for name in chosen:
    t0 = time.perf_counter()
    result = derivations.check(name)
    print(f"{name:42s}{len(result):>11}{str(all(result.values())):>7}"
          f"{time.perf_counter() - t0:>9.2f}")
for module, controls in derivations.CONTROLS.items():
    values = [derivations.is_zero(v) for v in controls().values()]
    print(f"negative controls of {module}: {len(values)} wrong statements, "
          f"all non-zero: {not any(values)}")
print(f"total {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## 6. The radius of convergence, seen
#
# Partial sums of the Taylor series of $o(\beta)$ for the bridge with numeric conductances:
# they converge to the exact Möbius curve for $|\beta| < 1/R$ and diverge beyond — which is
# why holomorphic EP must keep its circle of nudges inside $1/\lambda_{\max}(R)$.

# %%
values = dict(zip(c.g, (1.0, 0.5, 2.0, 1.5, 0.7, 0.3)))
values[c.sources["x"]] = 1.0
values[c.y] = 0.2
o0_num = float(c.free_state()[c.output].subs(values))
R_num = float(c.response().subs(values))
grid = np.linspace(-2.0 / R_num, 2.0 / R_num, 800)   # even count: skips the pole
exact = (o0_num + grid * R_num * 0.2) / (1 + grid * R_num)
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
x_axis = grid * R_num
for branch in (x_axis < -1, x_axis > -1):                 # do not draw across the pole
    ax.plot(x_axis[branch], exact[branch], "k", lw=2,
            label="exact o(β)" if branch[-1] else None)
for order in (2, 4, 8, 16):
    terms = [(0.2 - o0_num) * R_num * (-R_num) ** (n - 1) * grid**n for n in range(1, order + 1)]
    partial = o0_num + sum(terms)
    ax.plot(x_axis, partial, lw=1, label=f"Taylor, order {order}")
    bx.semilogy(x_axis, np.abs(partial - exact), lw=1, label=f"order {order}")
for axis in (ax, bx):
    for edge in (-1, 1):
        axis.axvline(edge, color="grey", ls="--", lw=0.8)
    axis.set_xlabel("β R")
ax.set(ylabel="output voltage o(β)", ylim=(-3, 3),
       title=f"bridge circuit: R = {R_num:.3f}, pole at β = −1/R")
bx.set(ylabel="|Taylor − exact|", ylim=(1e-12, 1e3),
       title="converges only for |β| < 1/R")
ax.legend(fontsize=8)
bx.legend(fontsize=8)
fig.tight_layout()
path = FIGURES / "03_radius_of_convergence.png"
fig.savefig(path, dpi=120)
print("wrote", path)
