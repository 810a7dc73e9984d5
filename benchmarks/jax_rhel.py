"""A plain JAX implementation of the linear HRU, RHEL and BPTT: the baseline of bench_rhel.

Runs in its own environment (``benchmarks/.jax-venv``, made by bench_rhel; JAX is never a
dependency of physlearn). Usage: ``python jax_rhel.py problem.npz result.json``. The problem
file holds the parameters ``A, B, C, d``, inputs ``x`` (batch, T, n_in), targets ``y``, the
step ``dt``, the nudge ``eps`` and ``repeat``. The result holds the best wall times (seconds,
after compilation) of the forward pass, the centered RHEL gradient and the BPTT gradient,
and both gradients (batch means, for the check that the baseline computes what physlearn
computes).

The implementation is what a JAX user would write: the leapfrog step (drift–kick–drift) of
``H = ½‖p‖² + ½ Σ A q² − qᵀ B u`` in a jit-compiled ``lax.scan``; RHEL as two echoes (±ε,
stacked on the batch axis) from the flipped final state, accumulating the half-step
read-outs ``δ ∂V/∂θ`` in the scan's carry; BPTT as ``jax.grad`` of the loss through the scan.
The loss is ``mean_b ½‖C q_K + d − y‖²``.
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)


def main(problem, out):
    data = np.load(problem)
    A, B, C, d = (jnp.asarray(data[k]) for k in ("A", "B", "C", "d"))
    x, y = jnp.asarray(data["x"]), jnp.asarray(data["y"])
    dt, eps, repeat = float(data["dt"]), float(data["eps"]), int(data["repeat"])
    h = 0.5 * dt
    batch, n = x.shape[0], A.shape[0]
    inputs = jnp.swapaxes(x, 0, 1)                       # (T, batch, n_in) for lax.scan

    def step(A, B, state, u):
        q, p = state
        a = q + h * p
        p = p - dt * (A * a - u @ B.T)
        return (a + h * p, p), a

    def run(A, B, inputs, q, p):
        (q, p), _ = jax.lax.scan(lambda s, u: step(A, B, s, u), (q, p), inputs)
        return q, p

    def loss(params):
        A, B, C, d = params
        zero = jnp.zeros((batch, n))
        q, _ = run(A, B, inputs, zero, zero)
        return jnp.mean(0.5 * jnp.sum((q @ C.T + d - y) ** 2, axis=-1))

    forward = jax.jit(lambda A, B: run(A, B, inputs, jnp.zeros((batch, n)),
                                       jnp.zeros((batch, n)))[0])
    bptt = jax.jit(jax.grad(loss))

    def rhel(params):
        A, B, C, d = params
        zero = jnp.zeros((batch, n))
        q, p = run(A, B, inputs, zero, zero)
        err = q @ C.T + d - y                                # ∂L_b/∂o per sample
        g = err @ C
        signs = jnp.repeat(jnp.array([eps, -eps]), batch)[:, None]
        q2, p2 = jnp.concatenate([q, q]), jnp.concatenate([-p, -p]) + signs * jnp.concatenate(
            [g, g])
        u2 = jnp.concatenate([inputs, inputs], axis=1)[::-1]

        def echo_step(carry, u):
            q, p, mA, mB = carry
            a = q + h * p
            sign = jnp.sign(signs)                           # +1 for +ε rows, −1 for −ε
            mA = mA + dt * jnp.sum(sign * 0.5 * a * a, axis=0)
            mB = mB - dt * (sign * a).T @ u
            p = p - dt * (A * a - u @ B.T)
            return (a + h * p, p, mA, mB), None

        (_, _, mA, mB), _ = jax.lax.scan(echo_step, (q2, p2, jnp.zeros(n), jnp.zeros(B.shape)),
                                         u2)
        scale = -1.0 / (2 * eps * batch)                     # centered contrast, batch mean
        return scale * mA, scale * mB, err.T @ q / batch, jnp.mean(err, axis=0)

    rhel = jax.jit(rhel)
    params = (A, B, C, d)
    calls = {"forward": lambda: forward(A, B), "rhel": lambda: rhel(params),
             "bptt": lambda: bptt(params)}
    times = {}
    for name, fn in calls.items():
        jax.block_until_ready(fn())                          # compile
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    names = ("A", "B", "C", "d")
    grads = {k: {n_: np.asarray(v).tolist() for n_, v in zip(names, calls[k]())}
             for k in ("rhel", "bptt")}
    json.dump({"times": times, "grads": grads, "jax": jax.__version__}, open(out, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
