"""Convolutional Hopfield network on digits: physlearn's training epoch against plain ones.

Acceptance (issue 12): the time per training epoch of the convolutional network on digits,
physlearn against a straightforward implementation (a loop of dense matrix products with the
convolution unrolled as a dense matrix), same run: physlearn at least 5× faster.

Network and training: ``HopfieldNetwork([[1, 8, 8], Conv(16, 3, padding=1, pool="avg"), 10],
activation="hard-sigmoid", relaxation="async", gain=0.5)`` (the papers' hard sigmoid and
odd/even fixed-point sweeps to the residual tolerance 1e-10), centered EP with β = 0.2 (free
relaxation, then the two nudged ones warm-started from the free state), plain SGD with
lr 0.05, mini-batches of 32 in a fixed random order; digits with pixels in [0, 1] (1437
training images of 1×8×8).

* **physlearn**: ``EP(beta=0.2, variant="centered").gradient(net, x, y)`` per mini-batch, then
  ``net.update_params(SGD.step(...))``.
* **per-sample loop** (:func:`loop_gradient`, the acceptance baseline): the same energy and
  algorithm written the straightforward way. Once per parameter update the convolution with
  its average pooling is unrolled into a dense (256, 64) matrix ``M`` (from a basis built by
  explicit loops, :func:`unrolling_basis`); then each sample of the mini-batch is relaxed on
  its own by a loop of dense matrix–vector products: the odd/even sweeps
  ``h ← clip(h − ∂E/∂h)``, ``o ← clip(o − ∂(E + βC)/∂o / (1 + β))`` until its projected
  residual is below the tolerance (three gradient evaluations per sweep: one per half-sweep,
  one for the stopping test; the input's drive ``M x + b̂1`` computed once per relaxation);
  the same gradient formulas (``−ρ(s_l) a_{l−1}ᵀ`` per dense map, chained through the
  unrolling for the kernels), the same SGD step.
* **closed-form loop** (:func:`closed_form_gradient`, informational): the same per-sample loop
  with each layer's exact minimiser written in closed form as the papers write it,
  ``h ← clip(M x + b̂1 + W2ᵀ o)``, ``o ← clip((W2 h + b2 + β y)/(1 + β))``: the same states
  with 4 matrix–vector products per sweep instead of 9; a leaner, still unbatched baseline.
* **batched dense** (:func:`batched_gradient`, informational): the same dense matrices, every
  relaxation vectorised over the mini-batch (matrix–matrix products, stopping on the batch's
  largest residual, as physlearn does). It shows where physlearn's speed comes from: from
  batching (and from applying the small convolution as one cached dense matrix), not from a
  cleverer algorithm, so physlearn is expected to sit near it, not above it.

Correctness first: the three baselines must give ``physlearn.EP(...).gradient`` on a small batch
and physlearn's parameters after a few SGD steps (relative error < 1e-8); a wrong baseline
would void the ratios. Timings are with one BLAS thread, best of ``repeat``, interleaved; the
full run times a whole epoch (45 mini-batches), the quick one its first 8 mini-batches, scaled
to an epoch the same way for every implementation. The per-sample loop stops each sample at
its own residual (fewer sweeps than the batch's worst sample needs), which is why its gradient
agrees to ~1e-9 rather than to round-off.
"""

from __future__ import annotations

import numpy as np
from harness import Ratio, interleaved_best_times

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems.blas import serial_blas
from physlearn.systems.hopfield import Conv, HopfieldNetwork

IMAGE, CHANNELS, KERNEL, PAD, POOL, N_OUT = (1, 8, 8), 16, 3, 1, 2, 10
BETA, LR, BATCH, TOL, MAX_SWEEPS = 0.2, 0.05, 32, 1e-10, 20_000
SPEEDUP_BOUND = 5.0        # the acceptance line: loop of dense products / physlearn
CLOSED_BOUND = 1.0         # informational: physlearn no slower than the closed-form loop
BATCHED_BOUND = 0.5        # informational: physlearn within 2x of hand-batched numpy
BASELINE_TOL = 1e-8


def digits():
    return pl.experiment.datasets.digits(scaling="intensity")


def make_net(seed=0):
    return HopfieldNetwork([list(IMAGE), Conv(CHANNELS, KERNEL, padding=PAD, pool="avg"),
                            N_OUT], activation="hard-sigmoid", relaxation="async", gain=0.5,
                           seed=seed, tol=TOL, max_sweeps=MAX_SWEEPS)


# -- the unrolled convolution ----------------------------------------------------------------------
def unrolling_basis(in_shape=IMAGE, channels=CHANNELS, k=KERNEL, pad=PAD, q=POOL):
    """``B[w, i, j]``: the dense matrix of convolution (stride 1, zero padding ``pad``) then
    ``q × q`` average pooling for the unit kernel ``w`` (flat index of ``(o, c, u, v)``), so that
    the layer map of kernels ``W`` is ``M = Σ_w W_w B_w`` (rows: pooled units ``(o, I, J)``,
    columns: input pixels ``(c, y, x)``). Built once, by explicit loops."""
    c_in, h, w = in_shape
    ho, wo = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    B = np.zeros((channels, c_in, k, k, channels, ho // q, wo // q, c_in, h, w))
    for o in range(channels):
        for c in range(c_in):
            for u in range(k):
                for v in range(k):
                    for i in range(ho):
                        for j in range(wo):
                            yy, xx = i + u - pad, j + v - pad
                            if 0 <= yy < h and 0 <= xx < w:
                                B[o, c, u, v, o, i // q, j // q, c, yy, xx] += 1.0 / q ** 2
    n_out = channels * (ho // q) * (wo // q)
    return B.reshape(channels * c_in * k * k, n_out, c_in * h * w)


def unroll(params, basis):
    """The dense layer maps ``(M, b̂1, W2, b2)`` of the current parameters (once per update)."""
    M = np.tensordot(params["W1"].ravel(), basis, axes=1)                # (256, 64)
    b1 = np.repeat(params["b1"], M.shape[0] // len(params["b1"]))        # per channel
    return M, b1, params["W2"], params["b2"]


def chain(grad_M, grad_b1hat, grad_W2, grad_b2, basis, params):
    """Gradients of the dense maps → gradients of the parameters (kernels through the
    unrolling, channel biases summed over their maps)."""
    return {"W1": (basis.reshape(len(basis), -1) @ grad_M.ravel()).reshape(params["W1"].shape),
            "W2": grad_W2,
            "b1": grad_b1hat.reshape(len(params["b1"]), -1).sum(axis=1),
            "b2": grad_b2}


# -- the straightforward per-sample loop -------------------------------------------------------
def at_rest(maps, x, start):
    """``(h, o)`` to start from: a copy of ``start``, or the network at rest (``s = 0``, as
    physlearn and the papers start), for one sample or a batch (rows) like ``x``."""
    if start is not None:
        return start[0].copy(), start[1].copy()
    return np.zeros((*x.shape[:-1], len(maps[1]))), np.zeros((*x.shape[:-1], len(maps[3])))


def box_residual(h, o, g_h, g_o):
    """The stopping test's ``max|s − clip(s − ∂(E+βC)/∂s, 0, 1)|`` over both layers."""
    return max(np.max(np.abs(h - np.clip(h - g_h, 0.0, 1.0))),
               np.max(np.abs(o - np.clip(o - g_o, 0.0, 1.0))))


def loop_relax(maps, x, y=None, beta=0.0, start=None):
    """Odd/even sweeps of exact layer minimisations of ``E + βC`` (hard sigmoid, state in the
    box ``[0, 1]`` where ``ρ(s) = s``) until :func:`box_residual` is below ``TOL``;
    ``E = ½|s|² − h·(M x + b̂1) − o·(W2 h + b2)``, ``C = ½|o − y|²``. One sample (``x`` of
    shape ``(n_in,)``, the per-sample loop), or a mini-batch in rows (the batched baseline,
    stopping on the batch's largest residual)."""
    M, b1, W2, b2 = maps
    h, o = at_rest(maps, x, start)
    y = np.zeros_like(o) if y is None else y
    drive = x @ M.T + b1                     # the input's drive, fixed during the relaxation

    def gradient(h, o):
        return h - (drive + o @ W2), o - (h @ W2.T + b2) + beta * (o - y)

    for _ in range(MAX_SWEEPS):
        h = np.clip(h - gradient(h, o)[0], 0.0, 1.0)                     # odd layer
        o = np.clip(o - gradient(h, o)[1] / (1.0 + beta), 0.0, 1.0)      # even layer
        worst = box_residual(h, o, *gradient(h, o))
        if worst < TOL:
            return h, o
    raise RuntimeError(f"sweeps did not converge: residual {worst:.3e}")


def closed_form_relax(maps, x, y=None, beta=0.0, start=None):
    """:func:`loop_relax` with each layer's exact minimiser written in closed form, as the
    papers write the update (``h ← clip(M x + b̂1 + W2ᵀ o)``, ``o ← clip((W2 h + b2 + β y) /
    (1 + β))``): the same sweeps and stopping rule with 4 matrix–vector products per sweep
    instead of the 9 of three gradient evaluations."""
    M, b1, W2, b2 = maps
    h, o = at_rest(maps, x, start)
    y = np.zeros_like(o) if y is None else y
    drive = M @ x + b1
    for _ in range(MAX_SWEEPS):
        h = np.clip(drive + W2.T @ o, 0.0, 1.0)
        o = np.clip((W2 @ h + b2 + beta * y) / (1.0 + beta), 0.0, 1.0)
        worst = box_residual(h, o, h - (drive + W2.T @ o), o - (W2 @ h + b2) + beta * (o - y))
        if worst < TOL:
            return h, o
    raise RuntimeError(f"per-sample sweeps did not converge: residual {worst:.3e}")


def loop_gradient(params, basis, x, y, beta=BETA, relax=loop_relax):
    """Centered EP, one sample at a time: ``(∂E/∂θ(s₊) − ∂E/∂θ(s₋)) / 2β``, batch mean."""
    maps = unroll(params, basis)
    grad_M, grad_b1 = np.zeros_like(maps[0]), np.zeros_like(maps[1])
    grad_W2, grad_b2 = np.zeros_like(maps[2]), np.zeros_like(maps[3])
    scale = 1.0 / (2.0 * beta * len(x))
    for xi, yi in zip(x, y):
        free = relax(maps, xi)
        for sign in (1.0, -1.0):                 # ∂E/∂θ = −ρ(s_l) a_{l−1}ᵀ, −ρ(s_l)
            h, o = relax(maps, xi, yi, sign * beta, start=free)
            rh, ro = np.clip(h, 0.0, 1.0), np.clip(o, 0.0, 1.0)
            grad_M -= sign * scale * np.outer(rh, xi)
            grad_b1 -= sign * scale * rh
            grad_W2 -= sign * scale * np.outer(ro, rh)
            grad_b2 -= sign * scale * ro
    return chain(grad_M, grad_b1, grad_W2, grad_b2, basis, params)


def closed_form_gradient(params, basis, x, y, beta=BETA):
    return loop_gradient(params, basis, x, y, beta, relax=closed_form_relax)


# -- the same dense maps, batched ----------------------------------------------------------------
def batched_gradient(params, basis, x, y, beta=BETA):
    maps = unroll(params, basis)
    free = loop_relax(maps, x)                     # the whole mini-batch at once
    (hp, op), (hm, om) = (loop_relax(maps, x, y, b, start=free) for b in (beta, -beta))
    scale = 1.0 / (2.0 * beta * len(x))
    return chain(-scale * (hp.T @ x - hm.T @ x), -scale * (hp - hm).sum(axis=0),
                 -scale * (op.T @ hp - om.T @ hm), -scale * (op - om).sum(axis=0),
                 basis, params)


# -- epochs ----------------------------------------------------------------------------------------
def batches(order, count=None):
    starts = range(0, len(order), BATCH)
    return [order[s:s + BATCH] for s in starts][:count]


def physlearn_epoch(data, order, count=None, seed=0):
    net, rule, opt = make_net(seed), pl.EP(beta=BETA, variant="centered"), pl.optim.SGD(lr=LR)
    for batch in batches(order, count):
        grads = rule.gradient(net, data.x_train[batch], data.y_train[batch])
        net.update_params(opt.step(net.params, grads))
    return dict(net.params)


def plain_epoch(gradient, basis, data, order, count=None, seed=0):
    params = {k: np.array(v) for k, v in make_net(seed).params.items()}
    for batch in batches(order, count):
        grads = gradient(params, basis, data.x_train[batch], data.y_train[batch])
        params = {k: params[k] - LR * grads[k] for k in params}
    return params


# -- checks ----------------------------------------------------------------------------------------
def check_baselines(basis, n=8, steps=3, seed=0):
    """Relative errors against physlearn: the unrolled matrix, the gradient on ``n`` samples,
    and the parameters after ``steps`` SGD steps on batches of ``BATCH``, for both baselines."""
    data = digits()
    net = make_net(seed)
    M = unroll(net.params, basis)[0]
    reference_M = net.layer_matrices(net.equilibrium(data.x_train[:1]))[0]
    err_M = relative_error({"M": M}, {"M": reference_M})
    x, y = data.x_train[:n], data.y_train[:n]
    ref = pl.EP(beta=BETA, variant="centered").gradient(net, x, y)
    errors = {"matrix": err_M}
    order = np.random.default_rng(seed).permutation(data.n_train)
    ref_params = physlearn_epoch(data, order, steps, seed)
    for name, fn in (("loop", loop_gradient), ("closed-form loop", closed_form_gradient),
                     ("batched", batched_gradient)):
        errors[f"{name} gradient"] = relative_error(fn(dict(net.params), basis, x, y), ref)
        errors[f"{name} {steps} steps"] = relative_error(
            plain_epoch(fn, basis, data, order, steps, seed), ref_params)
    return errors


# -- the benchmark ---------------------------------------------------------------------------------
def run(quick=False):
    data = digits()
    basis = unrolling_basis()
    errors = check_baselines(basis)
    worst = max(errors.values())
    if not worst < BASELINE_TOL:
        raise AssertionError("dense baselines disagree with physlearn (relative errors "
                             + ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
                             + f"; bound {BASELINE_TOL:g}): the ratios would be void")
    order = np.random.default_rng(1).permutation(data.n_train)
    n_batches = len(batches(order))
    count, repeat = (8, 2) if quick else (None, 3)
    scale = 1.0 if count is None else n_batches / count
    with serial_blas():
        runs = {"physlearn": lambda: physlearn_epoch(data, order, count)}
        for name, fn in (("loop", loop_gradient), ("closed", closed_form_gradient),
                         ("batched", batched_gradient)):
            runs[name] = lambda fn=fn: plain_epoch(fn, basis, data, order, count)
        best = interleaved_best_times(list(runs.values()), repeat)
    t = {name: value * scale for name, value in zip(runs, best)}
    t_pl, t_loop, t_closed, t_batched = t["physlearn"], t["loop"], t["closed"], t["batched"]
    how = (f"{count} of {n_batches} batches, scaled to an epoch" if count else
           f"{n_batches} batches") + f", best of {repeat}, 1 thread"
    size = f"1x8x8-conv16(3,pad1,avg2)-10, batch {BATCH}, centered EP beta={BETA}, lr {LR}"
    return [
        Ratio("hopfield conv epoch: loop of dense products / physlearn", t_loop / t_pl,
              SPEEDUP_BOUND, "min",
              f"{size}; epoch physlearn {t_pl:.2f} s, per-sample loop {t_loop:.2f} s ({how}); "
              f"baseline error {worst:.1e}"),
        Ratio("hopfield conv epoch: closed-form loop / physlearn (info)", t_closed / t_pl,
              CLOSED_BOUND, "min",
              f"per-sample loop, papers' closed-form layer update (4 mat-vecs per sweep, 9 "
              f"above): {t_closed:.2f} s per epoch"),
        Ratio("hopfield conv epoch: batched dense / physlearn (info)", t_batched / t_pl,
              BATCHED_BOUND, "min",
              f"same dense maps vectorised over the batch: {t_batched:.2f} s per epoch"),
    ]


if __name__ == "__main__":
    for ratio in run():
        print(ratio)
