# %% [markdown]
# # Seven energy-based learning algorithms side by side (Scellier et al. 2023)
#
# One deep Hopfield network with the energy
#
# $$E(\theta, x, s) = \tfrac12\|s\|^2 - \sum_l \rho(s_l)^\top W_l\,\rho(s_{l-1})
#   - \sum_l b_l^\top \rho(s_l), \qquad \rho(s_0) \equiv x,$$
#
# the papers' hard-sigmoid units $\rho(s) = \min(\max(s, 0), 1)$ relaxed by odd/even layer
# sweeps (`relaxation="async"`), trained by seven algorithms. They differ only in the two
# states they contrast: with the local measurements $\partial E/\partial\theta$ (for a
# weight, minus the product of the two unit activities it connects),
#
# $$\hat g = \frac{\partial E/\partial\theta\,(\text{state 2}) -
#   \partial E/\partial\theta\,(\text{state 1})}{\beta_2 - \beta_1}.$$
#
# | algorithm | (β₁, β₂) | state 1 | state 2 |
# |---|---|---|---|
# | CL (contrastive) | (0, 1) | free | outputs clamped at the target |
# | PEP / NEP / CEP | (0, β) / (−β, 0) / (−β, β) | free / −β / −β | +β / free / +β |
# | PCpL / NCpL / CCpL | (0, β) / (−β, 0) / (−β, β) | free / o₊ / o₊ | o₋ / free / o₋ |
#
# Equilibrium propagation (PEP, NEP, CEP: positive, negative, centered) relaxes every layer
# under $E + \beta C$. Contrastive learning and coupled learning (CpL) clamp the output layer
# instead, at $o_- = o - \beta(o - y)$ or $o_+ = o + \beta(o - y)$ ($o$ the free outputs), and
# relax the hidden layers under $E$. The published ordering: centered EP best, negative
# perturbations better than positive ones, contrastive learning weakest; the gaps grow with
# the difficulty of the task. The script trains each algorithm on digits and on a harder
# task (digits with Gaussian pixel noise) over several seeds and prints the table (test
# accuracy mean ± sd, wall time per epoch) and whether each part of the ordering holds.
#
# The default run is reduced (1 seed, 2 epochs, 400 training samples, digits only; well
# under a minute). `SEVEN_FULL=1`: 3 seeds, both tasks, full training sets, `SEVEN_EPOCHS`
# (default 10) epochs; `SEVEN_WORKERS=2` runs the trainings in two processes.
# The default run takes seconds, so `PHYSLEARN_FAST=1` keeps its sizes and only makes sure
# the trainings run in this process (a notebook's functions need not reach worker
# processes); `SEVEN_FULL=1` wins over it. Dimensionless units.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits

import physlearn as pl
from physlearn.experiment.datasets import Dataset, digits
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.optim import Momentum
from physlearn.experiment.parallel import run_jobs
from physlearn.experiment.plots import figure_dir
from physlearn.experiment.train import train
from physlearn.systems.hopfield import HopfieldNetwork

FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("SEVEN_FULL", "0") == "1"
# PHYSLEARN_FAST=1: the default sizes (seconds already), in one process; SEVEN_FULL wins
FAST = fast_mode() and not FULL
WORKERS = 1 if FAST else int(os.environ.get("SEVEN_WORKERS", 1))
EPOCHS = int(os.environ.get("SEVEN_EPOCHS", 10 if FULL else 2))
SEEDS = (0, 1, 2) if FULL else (0,)
N_TRAIN = None if FULL else 400
BETA, LR, HIDDEN, NOISE = 0.25, 0.05, 64, 0.5       # β as in the papers' comparison runs

ALGORITHMS = {
    "CL": lambda: pl.ContrastiveLearning(),
    "PEP": lambda: pl.EP(beta=BETA, variant="positive"),
    "NEP": lambda: pl.EP(beta=BETA, variant="negative"),
    "CEP": lambda: pl.EP(beta=BETA, variant="centered"),
    "PCpL": lambda: pl.CoupledLearning(eta=BETA, variant="positive"),
    "NCpL": lambda: pl.CoupledLearning(eta=BETA, variant="negative"),
    "CCpL": lambda: pl.CoupledLearning(eta=BETA, variant="centered"),
}


def tasks():
    """Digits in [0, 1], and digits with Gaussian pixel noise (σ = NOISE) — the harder task."""
    clean = digits(scaling="intensity")
    rng = np.random.default_rng(1234)
    noisy = Dataset(clean.x_train + NOISE * rng.normal(size=clean.x_train.shape), clean.y_train,
                    clean.x_test + NOISE * rng.normal(size=clean.x_test.shape), clean.y_test,
                    task="classification", n_classes=10, name="digits+noise")
    return {"digits": clean, "digits+noise": noisy} if FULL else {"digits": clean}


def run(job):
    """Train one (task, algorithm, seed); return its final test accuracy and epoch time."""
    task, name, seed = job
    data = tasks()[task]
    if N_TRAIN is not None:
        data = Dataset(data.x_train[:N_TRAIN], data.y_train[:N_TRAIN], data.x_test,
                       data.y_test, task="classification", n_classes=10, name=data.name)
    net = HopfieldNetwork([64, HIDDEN, 10], activation="hard-sigmoid", relaxation="async",
                          linear_output=True, gain=0.5, tol=1e-8, seed=seed)
    with threadpool_limits(1):       # small matrices: one BLAS thread per process is fastest
        history = train(net, ALGORITHMS[name](), data, epochs=EPOCHS, optimizer=Momentum(lr=LR),
                        batch_size=32, seed=seed, progress=False)
    return {"task": task, "algorithm": name, "seed": seed,
            "accuracy": float(history["test_accuracy"][-1]),
            "curve": history["test_accuracy"].tolist(),
            "seconds": float(np.mean(history["seconds"][1:])),
            "failed": int(history.failed_batches)}


# %% [markdown]
# ## The trainings
#
# Every (task, algorithm, seed) trains a fresh network 64–hidden–10 (linear output layer)
# with momentum SGD on mini-batches of 32, and records the test accuracy after every epoch.

# %%
jobs = [(task, name, seed) for task in tasks() for name in ALGORITHMS for seed in SEEDS]
start = time.perf_counter()
results = run_jobs(run, jobs, WORKERS)
print(f"{len(jobs)} trainings in {time.perf_counter() - start:.0f} s "
      f"({EPOCHS} epochs, seeds {SEEDS}, beta = {BETA}, lr = {LR})")

# %% [markdown]
# ## The table, and the published ordering
#
# With one seed and two epochs (the default) the ordering is a noisy test: small differences
# may lie within the spread between seeds, which one seed cannot show; `SEVEN_FULL=1`
# averages over three.

# %%
summary = {}
for task in tasks():
    print(f"\n{task}: test accuracy (mean ± sd over {len(SEEDS)} seed(s)), s per epoch")
    for name in ALGORITHMS:
        rows = [r for r in results if r["task"] == task and r["algorithm"] == name]
        acc = np.array([r["accuracy"] for r in rows])
        summary[task, name] = acc.mean()
        print(f"  {name:<5} {acc.mean():.4f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.4f}   "
              f"{np.mean([r['seconds'] for r in rows]):6.2f} s/epoch   "
              f"failed batches {sum(r['failed'] for r in rows)}")
    mean = {name: summary[task, name] for name in ALGORITHMS}
    best = max(mean, key=mean.get)
    print(f"  centered EP best: {best == 'CEP'} (best: {best})")
    print(f"  negative better than positive: EP {mean['NEP'] > mean['PEP']}, "
          f"coupled {mean['NCpL'] > mean['PCpL']}")
    print(f"  contrastive learning weakest: {min(mean, key=mean.get) == 'CL'} "
          f"(weakest: {min(mean, key=mean.get)})")

# %% [markdown]
# The test accuracy against the epoch, one line per algorithm (mean over the seeds).

# %%
fig, axes = plt.subplots(1, len(tasks()), figsize=(5.5 * len(tasks()), 4.0), squeeze=False,
                         layout="constrained")
for ax, task in zip(axes[0], tasks()):
    for name in ALGORITHMS:
        curves = np.array([r["curve"] for r in results
                           if r["task"] == task and r["algorithm"] == name])
        ax.plot(np.arange(curves.shape[1]), curves.mean(axis=0), marker="o", ms=3, label=name)
    ax.set(xlabel="epoch", ylabel="test accuracy (fraction)", title=task, ylim=(0, 1))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8, ncol=2)
fig.suptitle(f"seven algorithms, {len(SEEDS)} seed(s), β = {BETA}")
fig.savefig(FIGURES / "seven_algorithms.png", dpi=110)
