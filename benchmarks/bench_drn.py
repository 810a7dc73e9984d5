"""Deep resistive network: physlearn's batched block coordinate descent against a plain one.

Acceptance: one epoch of digits (80/20 split, 1437 training samples, pixels in [0, 1]) at
H = 1024 hidden units and the paper's input gain 480, batch 4, centered EP with β = 1 and the
paper's learning rate 0.006, through ``physlearn.train``, takes at most 1.5 s with one BLAS
thread (best of 3).

* **free phase, batch 1000.** ``DeepResistiveNetwork.equilibrium`` (4 sweeps of exact block
  coordinate descent, the batch and each layer vectorised) against :func:`plain_relax`: the
  same sweeps written directly from the closed-form node update, in numpy, one sample at a
  time (the way a per-sample circuit simulation proceeds).
* **epoch, batch 4.** ``physlearn.train`` for one epoch (the library's public training path:
  the EP rule, the SGD optimizer, the clip onto ``g ≥ 0`` and the end-of-epoch evaluation)
  against :func:`plain_epoch`: the same epoch with the plain per-sample relaxation, the
  per-sample ``½ΔV²`` measurements averaged over the mini-batch, the same SGD steps, clip and
  evaluation.

Correctness first: the plain free phase must give physlearn's voltages and the plain epoch
physlearn's parameters after a few mini-batches (relative error < 1e-10) before anything is
timed; a wrong baseline would void the ratios. Timings are best of ``repeat``, interleaved,
with one BLAS thread.
"""

from __future__ import annotations

import numpy as np
from harness import Ratio, best_time

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems import DeepResistiveNetwork
from physlearn.systems.blas import serial_blas

HIDDEN, GAIN, SWEEPS, BETA, LR, BATCH = 1024, 480.0, 4, 1.0, 0.006, 4   # the paper's
EPOCH_BOUND = 1.5          # seconds, the acceptance line
BASELINE_TOL = 1e-10


def digits():
    """Digits with pixels in [0, 1], the convention the paper's gain 480 was tuned for."""
    return pl.datasets.digits(scaling="intensity")


def make_net(hidden=HIDDEN, seed=0):
    return DeepResistiveNetwork([64, hidden, 10], input_gain=GAIN, sweeps=SWEEPS, seed=seed)


# -- the plain implementation --------------------------------------------------------------------
def plain_relax(params, gain, x, y=None, beta=0.0, start=None, sweeps=SWEEPS):
    """One sample, one hidden layer: ``sweeps`` sweeps of the closed-form node updates.

    Hidden node k: ``v_k = Π((Σ_i g1_ik u_i + Σ_o g2_ko v_o + b1_k) / (Σ_i g1_ik + Σ_o g2_ko))``
    with the diode clip Π (first half ``v ≥ 0``, second half ``v ≤ 0``); output o:
    ``v_o = (Σ_k g2_ko v_k + b2_o + β y_o) / (Σ_k g2_ko + β)``.
    """
    g1, g2, b1, b2 = params["g1"], params["g2"], params["b1"], params["b2"]
    u = gain * np.concatenate([x, -x])
    h, o = (np.zeros(g1.shape[1]), np.zeros(g2.shape[1])) if start is None else \
        (start[0].copy(), start[1].copy())
    n_exc = g1.shape[1] // 2
    y = np.zeros(g2.shape[1]) if y is None else y
    for _ in range(sweeps):
        h = (u @ g1 + g2 @ o + b1) / (g1.sum(axis=0) + g2.sum(axis=1))
        h[:n_exc] = np.maximum(h[:n_exc], 0.0)
        h[n_exc:] = np.minimum(h[n_exc:], 0.0)
        o = (h @ g2 + b2 + beta * y) / (g2.sum(axis=0) + beta)
    return h, o


def plain_free_phase(params, gain, x):
    return np.array([np.concatenate(plain_relax(params, gain, xi)) for xi in x])


def plain_gradient(params, gain, x, y, beta=BETA):
    """Centered EP, one sample at a time: ``(½ΔV²(s₊) − ½ΔV²(s₋)) / 2β``, batch mean."""
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    for xi, yi in zip(x, y):
        free = plain_relax(params, gain, xi)
        u = gain * np.concatenate([xi, -xi])
        measured = []
        for b in (beta, -beta):
            h, o = plain_relax(params, gain, xi, yi, b, start=free)
            measured.append({"g1": 0.5 * (u[:, None] - h[None, :]) ** 2,
                             "g2": 0.5 * (h[:, None] - o[None, :]) ** 2, "b1": -h, "b2": -o})
        for k in grads:
            grads[k] += (measured[0][k] - measured[1][k]) / (2 * beta) / len(x)
    return grads


def plain_epoch(params, gain, data, order, batches=None):
    """One epoch of SGD (lr 0.006) in the order ``order``; clip ``g ≥ 0``; then the accuracy."""
    params = {k: v.copy() for k, v in params.items()}
    x, y = data.x_train, data.y_train
    starts = range(0, len(order), BATCH)
    for number, start in enumerate(starts):
        if batches is not None and number >= batches:
            break
        batch = order[start:start + BATCH]
        grads = plain_gradient(params, gain, x[batch], y[batch])
        for k in params:
            params[k] = params[k] - LR * grads[k]
            if k.startswith("g"):
                params[k] = np.maximum(params[k], 0.0)
    accuracy = {}
    if batches is None:   # the end-of-epoch evaluation, as physlearn.train records it
        for part in ("train", "test"):
            xs, ys = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
            out = plain_free_phase(params, gain, xs)[:, -ys.shape[1]:]
            accuracy[part] = float(np.mean(np.argmax(out, axis=1) == np.argmax(ys, axis=1)))
    return params, accuracy


# -- checks ----------------------------------------------------------------------------------------
def check_baseline(hidden=64, n=16, batches=3, seed=0):
    """Relative errors of the plain free phase and plain epoch against physlearn."""
    data = digits()
    net = make_net(hidden, seed)
    x = data.x_test[:n]
    err_free = relative_error({"s": plain_free_phase(net.params, GAIN, x)},
                              {"s": net.equilibrium(x).s})
    order = np.random.default_rng(seed).permutation(data.n_train)[:batches * BATCH]
    plain, _ = plain_epoch(net.params, GAIN, data, order, batches=batches)
    rule, opt = pl.EP(beta=BETA, variant="centered"), pl.optim.SGD(lr=LR)
    for start in range(0, len(order), BATCH):
        batch = order[start:start + BATCH]
        grads = rule.gradient(net, data.x_train[batch], data.y_train[batch])
        net.update_params(opt.step(net.params, grads))
    return err_free, relative_error(plain, dict(net.params))


def physlearn_epoch(net, data):
    return pl.train(net, pl.EP(beta=BETA, variant="centered"), data, epochs=1,
                    batch_size=BATCH, optimizer=pl.optim.SGD(lr=LR), progress=False)


# -- the benchmark ---------------------------------------------------------------------------------
def run(quick=False):
    data = digits()
    hidden, n_free, repeat = (256, 200, 2) if quick else (HIDDEN, 1000, 3)
    err_free, err_epoch = check_baseline()
    if not (err_free < BASELINE_TOL and err_epoch < BASELINE_TOL):
        raise AssertionError(f"plain baseline disagrees with physlearn: free phase {err_free:.2e}"
                             f", epoch parameters {err_epoch:.2e} (>= {BASELINE_TOL:g}); the "
                             "ratios would be void")
    x_free = np.concatenate([data.x_train, data.x_test])[:n_free]
    with serial_blas():
        net = make_net(hidden)
        t_free = best_time(lambda: net.equilibrium(x_free), repeat)
        t_plain_free = best_time(lambda: plain_free_phase(net.params, GAIN, x_free), 1)

        order = np.random.default_rng(0).permutation(data.n_train)
        # the epoch's own record: training steps plus its end-of-epoch evaluation
        t_epochs = [float(physlearn_epoch(make_net(hidden), data)["seconds"][1])
                    for _ in range(repeat)]
        t_epoch = min(t_epochs)
        if quick:   # a part of the plain epoch, scaled: the full one takes tens of seconds
            part = 40
            t_plain_epoch = best_time(lambda: plain_epoch(make_net(hidden).params, GAIN, data,
                                                          order, batches=part), 1)
            t_plain_epoch *= -(-data.n_train // BATCH) / part
        else:
            t_plain_epoch = best_time(lambda: plain_epoch(make_net(hidden).params, GAIN, data,
                                                          order), 1)
    size = f"64-{hidden}-10, {SWEEPS} sweeps"
    ratios = [
        Ratio(f"drn: plain per-sample free phase / physlearn (batch {n_free})",
              t_plain_free / t_free, 5.0, "min",
              f"{size}; physlearn {t_free * 1e3:.1f} ms, plain {t_plain_free * 1e3:.0f} ms; "
              f"baseline error {err_free:.1e}"),
        Ratio(f"drn: plain per-sample epoch / physlearn.train epoch (batch {BATCH})",
              t_plain_epoch / t_epoch, 2.0, "min",
              f"{size}; physlearn {t_epoch:.2f} s, plain {t_plain_epoch:.2f} s"
              f"{' (extrapolated)' if quick else ''}; baseline error {err_epoch:.1e}"),
    ]
    if not quick:
        ratios.append(Ratio("drn: epoch seconds, digits, H=1024, batch 4, 1 thread",
                            t_epoch, EPOCH_BOUND, "max",
                            f"physlearn.train, centered EP beta=1, SGD lr {LR}; best of "
                            f"{repeat}: {', '.join(f'{t:.2f}' for t in t_epochs)} s"))
    return ratios


if __name__ == "__main__":
    for ratio in run():
        print(ratio)
