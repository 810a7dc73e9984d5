"""RHEL against BPTT on a long sequence, against three forward passes, and against JAX.

RHEL needs one forward run and two echoes (run as one batch) and stores no trajectory, so its
memory does not grow with the sequence length; BPTT stores every state of the forward run.
Peak memory is measured with ``tracemalloc`` (numpy reports its buffers to it) in a separate
call from the timing.

The JAX baseline (``jax_rhel.py``: a jit-compiled ``lax.scan`` forward, RHEL's two echoes in
one scan, ``jax.grad`` for BPTT) runs in its own environment, ``benchmarks/.jax-venv``, made
with pip at the first run (``PHYSLEARN_JAX_PYTHON`` names another interpreter that has JAX);
JAX is never a dependency of physlearn. Both sides run on one thread, on the same linear HRU
(parameters, inputs and targets passed to the baseline), and the baseline's gradients are
checked against physlearn's BPTT before its time counts.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from harness import Ratio, best_time, interleaved_best_times, peak_memory
from tqdm import tqdm

import physlearn as pl
from physlearn.rules.echo import BPTT, RHEL
from physlearn.systems.blas import serial_blas
from physlearn.systems.hru import HRU


def run(quick=False):
    n_steps = 5_000 if quick else 50_000
    system = HRU(1, 32, 4, kind="linear", dt=0.05, seed=0)  # linear: the adjoint stays bounded
    rng = np.random.default_rng(0)
    x = 0.5 * rng.normal(size=(4, n_steps, 1))
    y = rng.normal(size=(4, 4))
    cost = pl.SquaredError()
    rules = {"rhel": RHEL(eps=1e-6), "bptt": BPTT()}
    times, peaks = {}, {}
    for name, rule in tqdm(rules.items(), desc=f"bench_rhel T={n_steps}", leave=False):
        def call(rule=rule):
            return rule.gradient(system, x, y, cost)
        rule.gradient(system, x[:, :10], y, cost)     # compile the loops outside the timing
        times[name] = best_time(call, repeat=2 if not quick else 3)
        peaks[name] = peak_memory(call)
    err = pl.check.relative_error(rules["rhel"].gradient(system, x, y, cost),
                                  pl.exact_gradient(system, x, y, cost))
    detail = (f"T={n_steps}: RHEL {peaks['rhel'] / 1e6:.2f} MB {times['rhel']:.2f} s, "
              f"BPTT {peaks['bptt'] / 1e6:.1f} MB {times['bptt']:.2f} s, rel. error {err:.1e}")
    return [
        Ratio("RHEL / BPTT peak memory", peaks["rhel"] / peaks["bptt"], 1 / 20, "max", detail),
        Ratio("RHEL / BPTT wall time", times["rhel"] / times["bptt"], 2.0, "max", detail),
        forward_passes(10_000 if not quick else 1_000),
        *against_jax(quick),
    ]


def forward_passes(n_steps, repeat=5):
    """RHEL's cost in forward passes of the same unit (one BLAS thread, interleaved): one
    forward run and two echoes (run as one batch of twice the size) is the floor, three."""
    system = HRU(1, 32, 4, kind="linear", dt=0.05, seed=0)
    rng = np.random.default_rng(0)
    x = 0.5 * rng.normal(size=(4, n_steps, 1))
    y = rng.normal(size=(4, 4))
    rule, cost = RHEL(eps=1e-6), pl.SquaredError()
    with serial_blas():
        t_forward, t_rhel = interleaved_best_times(
            [lambda: system.run(x), lambda: rule.gradient(system, x, y, cost)], repeat)
    return Ratio(f"RHEL gradient / 3 forward passes (T={n_steps})", t_rhel / (3 * t_forward),
                 1.3, "max", detail=f"32 dof, batch 4: forward {t_forward * 1e3:.1f} ms, "
                                    f"RHEL {t_rhel * 1e3:.1f} ms")


HERE = pathlib.Path(__file__).resolve().parent
JAX_VENV = HERE / ".jax-venv"
JAX_AGREEMENT = 1e-8        # the baseline's gradients against physlearn's BPTT (relative)


def jax_python():
    """An interpreter with JAX: ``PHYSLEARN_JAX_PYTHON``, or ``benchmarks/.jax-venv`` (made
    with pip on first use). Returns ``(path, None)`` or ``(None, reason)``."""
    named = os.environ.get("PHYSLEARN_JAX_PYTHON")
    if named:
        return named, None
    python = JAX_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(JAX_VENV)], check=True,
                           capture_output=True)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "jax>=0.4.30",
                            "numpy"], check=True, capture_output=True, timeout=1800)
        except (subprocess.SubprocessError, OSError) as err:
            return None, f"could not install JAX in {JAX_VENV}: {err}"
    return str(python), None


def jax_times(python, system, x, y, eps, repeat):
    """Best times and gradients of the JAX baseline on ``system``'s problem."""
    with tempfile.TemporaryDirectory() as tmp:
        problem, result = pathlib.Path(tmp, "problem.npz"), pathlib.Path(tmp, "result.json")
        np.savez(problem, **{k: system.params[k] for k in "ABCd"}, x=x, y=y, dt=system.dt,
                 eps=eps, repeat=repeat)
        env = dict(os.environ, OMP_NUM_THREADS="1", XLA_FLAGS=(
            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"))
        subprocess.run([python, str(HERE / "jax_rhel.py"), str(problem), str(result)],
                       check=True, env=env, capture_output=True)
        out = json.loads(result.read_text())
    grads = {rule: {k: np.asarray(v) for k, v in g.items()} for rule, g in out["grads"].items()}
    return out["times"], grads, out["jax"]


def against_jax(quick, repeat=5):
    """JAX RHEL time / physlearn RHEL time (≥ 1: physlearn at least as fast), linear HRU,
    batch 4: 32 degrees of freedom at 1,000, 10,000 and 50,000 steps, and 256 at 10,000."""
    python, reason = jax_python()
    sizes = [(32, 1_000), (32, 5_000)] if quick else [(32, 1_000), (32, 10_000),
                                                        (32, 50_000), (256, 10_000)]
    if python is None:
        return [Ratio(f"JAX / physlearn RHEL time ({n} dof, T={t})", 0.0, 1.0, "min", reason)
                for n, t in sizes]
    return [_against_jax_at(python, n, n_steps, repeat)
            for n, n_steps in tqdm(sizes, desc="bench_rhel against JAX", leave=False)]


def _against_jax_at(python, n, n_steps, repeat):
    system = HRU(1, n, 4, kind="linear", dt=0.05, seed=0)
    rng = np.random.default_rng(0)
    x, y = 0.5 * rng.normal(size=(4, n_steps, 1)), rng.normal(size=(4, 4))
    rule, cost = RHEL(), pl.SquaredError()
    jax, grads, version = jax_times(python, system, x, y, rule.eps, repeat)
    with serial_blas():
        t_rhel, t_bptt = interleaved_best_times(
            [lambda: rule.gradient(system, x, y, cost),
             lambda: BPTT().gradient(system, x, y, cost)], repeat)
    exact = pl.exact_gradient(system, x, y, cost)
    agree = max(pl.check.relative_error(g, exact) for g in grads.values())
    detail = (f"JAX {version}: RHEL {jax['rhel'] * 1e3:.2f} ms, BPTT {jax['bptt'] * 1e3:.2f} "
              f"ms; physlearn RHEL {t_rhel * 1e3:.2f} ms, BPTT {t_bptt * 1e3:.2f} ms "
              f"(JAX/physlearn {jax['bptt'] / t_bptt:.2f}); JAX gradients vs physlearn BPTT "
              f"{agree:.1e}")
    ratio = jax["rhel"] / t_rhel if agree <= JAX_AGREEMENT else 0.0   # a wrong baseline
    return Ratio(f"JAX / physlearn RHEL time ({n} dof, T={n_steps})", ratio, 1.0, "min",
                 detail)


if __name__ == "__main__":
    for ratio in run():
        print(ratio)
