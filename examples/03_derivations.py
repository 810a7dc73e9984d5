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
# Every learning rule of physlearn rests on an identity of physics or calculus: the EP
# identity, the Taylor-series bias of a finite nudge, Kirchhoff's law as the minimum of an
# energy, the equivalence of a clamp and a nudge. `physlearn.derivations` holds each of them
# as a `Derivation`: its statement and intermediate steps as sympy expressions
# `lhs − rhs` that must simplify to zero (or vanish to a stated order in a small
# parameter). `derivations.check(name)` proves them claim by claim, and registered *negative
# controls*, deliberately wrong statements, must **not** simplify to zero, so a check that
# always passed would be caught. This notebook shows the key identities in readable form,
# then verifies the whole registry.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from physlearn import derivations
from physlearn.derivations.resistor import small_network
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir

FAST = fast_mode()  # PHYSLEARN_FAST=1: section 5 verifies only quick derivations
FIGURES = figure_dir(globals().get("__file__"))  # $PHYSLEARN_FIGURES or ./figures


def show(label, lhs, rhs):
    """Pretty-print ``lhs = rhs`` under a label."""
    print(f"\n{label}\n{sp.pretty(sp.Eq(lhs, rhs, evaluate=False), num_columns=100)}")


# %% [markdown]
# ## 1. The EP identity for any smooth energy
#
# The nudged equilibrium $s_\beta(\theta)$ minimises $F = E(\theta, s) + \beta C(s)$, so
# $\partial_s F = 0$ along it. Differentiating that condition (the implicit-function theorem)
# gives the response of the state,
#
# $$\frac{ds}{d\beta} = -\frac{\partial_s\partial_\beta F}{\partial_s^2 F}, \qquad
#   \frac{ds}{d\theta} = -\frac{\partial_s\partial_\theta F}{\partial_s^2 F}.$$
#
# The cell builds both sides of $\frac{d}{d\beta}\partial_\theta E(s_\beta) =
# \frac{d}{d\theta} C(s_\beta)$ with an undefined energy $E(\theta, s)$ and cost $C(s)$ (one
# state variable, for display) and prints them: they are the same expression, because
# $\partial_\theta\partial_s E = \partial_s\partial_\theta E$. At $\beta = 0$ the right-hand
# side is $dL/d\theta$, which is the EP identity. The registered derivation proves it by the
# envelope theorem and prints its steps.

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
#
# A finite nudge measures $g(\beta)$, whose derivative at 0 is the gradient $a_1$. With a
# generic series $g = \sum_{n=0}^{9} a_n\beta^n$ the cell expands the one-sided difference
# quotient (every power of β survives: a first-order bias $a_2\beta$), the centered one (odd
# coefficients only: a second-order bias $a_3\beta^2$), and the 4-point Cauchy estimate on
# the circle $\beta = r\,\omega^k$, $\omega = e^{2\pi i/4}$ (holomorphic EP). Summing over the
# roots of unity cancels every power except multiples of 4, so the coefficients
# $a_5, a_9, \dots$ *alias* onto $a_1$: a bias of order $r^4$.

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
# A concrete energy: input source $x$, ground, free nodes 1–3 (node 3 is the output), six
# symbolic conductances $g_1 \dots g_6$. The co-content $E = \tfrac12\sum_e g_e\Delta V_e^2$
# is quadratic in the free voltages; its Hessian $K$ is the weighted graph Laplacian
# restricted to the free nodes, and the free state solves $K v = b$ (Kirchhoff's current
# law). The output's response to a current injected there, $R = e^\top K^{-1} e$ with $e$ the
# unit vector of the output, is its Thévenin resistance, printed factorised.

# %%
c = small_network()
show("co-content", sp.Symbol("E"), c.energy())
show("Hessian in the free voltages", sp.Symbol("K"), c.K)
R = sp.factor(c.response())
print("\noutput response (Thévenin resistance)  R = e^T K^-1 e =\n ", R)

# %% [markdown]
# A nudge $\beta\,\tfrac12(o - y)^2$ injects the current $\beta(y - o)$ at the output, so
# $o_\beta = o_0 + R\,\beta(y - o_\beta)$: the nudged output is a Möbius function of $\beta$
# with one pole, at $\beta = -1/R$. Its Taylor series about 0 is geometric in $-\beta R$, with
# radius of convergence $1/R$; the registered derivation proves the pole for the bridge.

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
# Coupled learning clamps the output at $c = o_0 + \eta(y - o_0)$ instead of nudging it.
# Setting the Möbius output equal to $c$ and solving gives $\beta(\eta) = \eta/(R(1-\eta))$:
# the clamp is a soft nudge in disguise. So $\lim_{\eta\to0}$ CpL
# $= \beta'(0)\,dL/d\theta = (1/R)\,dL/d\theta$; at $\eta = 1$ the clamp is the target
# (contrastive learning), reached by the nudge only as $\beta\to\infty$. The cell prints
# $\beta(\eta)$ and its slope at 0.

# %%
eta = sp.Symbol("eta")
show("β(η)", sp.Symbol("β"), eta / (Rs * (1 - eta)))
show("dβ/dη at 0", sp.Symbol("β'(0)"), sp.diff(eta / (Rs * (1 - eta)), eta).subs(eta, 0))

# %% [markdown]
# ## 5. Verify everything
#
# Every registered derivation, statement by statement (number of claims, whether all hold,
# and the time sympy took), then every negative control, each of which must stay non-zero.
# In fast mode (`PHYSLEARN_FAST=1`) only the quick derivations of the sections above (the EP
# identity, the bias orders, the output pole, coupled learning) and the quick negative
# controls are verified; the test suite verifies the whole registry.

# %%
FAST_CHOICE = ("ep_identity.general_energy", "bias.one_sided", "bias.centered", "bias.cauchy",
               "resistor.output_pole", "coupled.coupled_equals_contrastive",
               "coupled.clamp_is_nudge", "coupled.small_eta_limit",
               "coupled.contrastive_is_infinite_nudge")
FAST_CONTROLS = ("ep_identity", "bias", "coupled")    # the resistor controls take longest
chosen = [name for name in derivations.DERIVATIONS if not FAST or name in FAST_CHOICE]
print(f"verifying {len(chosen)} of {len(derivations.DERIVATIONS)} derivations")
print(f"{'derivation':42s}{'statements':>11}{'holds':>7}{'seconds':>9}")
start = time.perf_counter()
for name in chosen:
    t0 = time.perf_counter()
    result = derivations.check(name)
    print(f"{name:42s}{len(result):>11}{str(all(result.values())):>7}"
          f"{time.perf_counter() - t0:>9.2f}")
for module, controls in derivations.CONTROLS.items():
    if FAST and module not in FAST_CONTROLS:
        continue
    values = [derivations.is_zero(v) for v in controls().values()]
    print(f"negative controls of {module}: {len(values)} wrong statements, "
          f"all non-zero: {not any(values)}")
print(f"total {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## 6. The radius of convergence, seen
#
# Numbers for the bridge: conductances $g = (1, 0.5, 2, 1.5, 0.7, 0.3)$, input $x = 1$,
# target $y = 0.2$. The cell evaluates $o_0$ and $R$, and draws the exact Möbius curve
# $o(\beta)$ against the partial sums of its Taylor series,
# $o_0 + (y - o_0)\sum_{n=1}^{N} (-1)^{n-1}(\beta R)^n$. They converge to the exact curve for
# $|\beta| < 1/R$ and diverge beyond, which is why holomorphic EP must keep its circle of
# nudges inside $1/\lambda_{\max}(R)$. The horizontal axis is $\beta R$, so the radius sits
# at $\pm 1$ (dashed) for any circuit. The right panel shows the error of each partial sum on
# a log axis: inside the radius it falls as the order grows, outside it grows.

# %%
values = dict(zip(c.g, (1.0, 0.5, 2.0, 1.5, 0.7, 0.3)))
values[c.sources["x"]] = 1.0
values[c.y] = 0.2
o0_num = float(c.free_state()[c.output].subs(values))
R_num = float(c.response().subs(values))
grid = np.linspace(-2.0 / R_num, 2.0 / R_num, 800)   # even count: skips the pole
exact = (o0_num + grid * R_num * 0.2) / (1 + grid * R_num)
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
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
    axis.set_xlabel("β R (dimensionless)")
ax.set(ylabel="output voltage o(β) (units of the input x)", ylim=(-3, 3),
       title=f"bridge circuit: R = {R_num:.3f}, pole at β = −1/R")
bx.set(ylabel="|Taylor − exact| (units of the input x)", ylim=(1e-12, 1e3),
       title="converges only for |β| < 1/R")
ax.legend(fontsize=8)
bx.legend(fontsize=8)
path = FIGURES / "03_radius_of_convergence.png"
fig.savefig(path, dpi=120)
print("wrote", path)
