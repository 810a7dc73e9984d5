# %% [markdown]
# # Weight asymmetry and Jacobian homeostasis (Laborieux & Zenke 2024, reproductions 2 and 3)
#
# A vector-field network (`VectorFieldNetwork`) relaxes along $ds/dt = -\Phi(s)$ with
# separate forward weights $W$ and backward weights $B$; only for $B = W^\top$ is $\Phi$ the
# gradient of an energy. The backward weights start at
#
# $$B = \sin\alpha\,B_{\rm rand} + \cos\alpha\,W^\top ,$$
#
# so the angle $\alpha$ sets the initial asymmetry. Generalized EP measures the rate at
# which a nudge moves the fixed point, $ds^*/d\beta = -J^{-1}\,\partial C/\partial s$
# ($J = \partial\Phi/\partial s$), where recurrent backprop needs the adjoint
# $\delta = -J^{-\top}\,\partial C/\partial s$; the two neuronal error vectors drift apart
# as $\alpha$ grows, and so do the parameter updates built from them.
#
# * **Asymmetry** (reproduction 2): the hidden-layer cosine of the two error vectors
#   (`pl.error_alignment`, exact $ds^*/d\beta$), and the test accuracy after training,
#   against $\alpha$ from 0° to 90°.
# * **Homeostasis** (reproduction 3): the same with the homeostatic loss
#   $L_{\rm homeo} = \|J - J^\top\|_F^2/(2n)$ ($n$ units in the state; its weight
#   $\lambda$ is per unit, as in the paper) added to training, which pushes the Jacobian
#   toward symmetry. $\lambda$ is chosen on a validation split carved from the training set
#   (a stratified 20 %; the network at α = 90° is trained on the other 80 % and the λ of the
#   best validation accuracy is kept), then every run trains on the whole training set and
#   is tested on the held-out test set.
#
# Both with one and with two hidden layers, on digits and on a harder task picked by the rule
# *the hardest candidate on which tied-weight generalized EP (α = 0) still comes within 2
# points of training on the exact gradient*, fixed before any asymmetric run. No run may
# contain a batch whose nudged fixed point did not exist (`History.failed_batches`).
#
# The default run is reduced (digits only, one hidden layer, 256 training samples, 4 epochs,
# α ∈ {0°, 45°, 90°}, λ ∈ {5, 20}; about a minute). `ASYM_FULL=1`: full training sets, 10
# epochs (enough for the test accuracy to settle), α ∈ {0°, 45°, 90°}, λ ∈ {1, 5, 20}, one
# and two hidden layers and the harder task (hours of one core; `ASYM_WORKERS=2` runs the
# independent trainings in two processes). `PHYSLEARN_FAST=1` shrinks the default run
# further (two seeds, two epochs on 96 samples, 96 test samples, one process); `ASYM_FULL=1`
# wins over it.
# `ASYM_EPOCHS`, `ASYM_ALPHAS`, `ASYM_DEPTHS`, `ASYM_SEEDS`, `ASYM_HARDER`, `ASYM_BETA`,
# `ASYM_LR` override single settings. Dimensionless units.

# %%
import multiprocessing
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

import physlearn as pl
from physlearn.experiment.datasets import Dataset, one_hot
from physlearn.experiment.fast import fast_mode
from physlearn.experiment.plots import figure_dir
from physlearn.rules.base import Rule
from physlearn.rules.generalized import GeneralizedEP
from physlearn.systems.vector_field import VectorFieldNetwork

# 42×42 … 74×74 solves and eigenvalue problems run several times faster on one BLAS thread
threadpool_limits(1)
FIGURES = figure_dir(globals().get("__file__"))
FULL = os.environ.get("ASYM_FULL", "0") == "1"
# PHYSLEARN_FAST=1: two seeds, two epochs on 96 samples, one process (ASYM_FULL and
# ASYM_EPOCHS/ALPHAS/SEEDS/... win over it)
FAST = fast_mode() and not FULL
WORKERS = 1 if FAST else int(os.environ.get("ASYM_WORKERS", 1))
EPOCHS = int(os.environ.get("ASYM_EPOCHS", 10 if FULL else 2 if FAST else 4))
# training samples per task (None: all of them)
N_TRAIN = None if FULL else 96 if FAST else 256
ALPHAS = tuple(int(a) for a in os.environ.get(
    "ASYM_ALPHAS", "0,45,90").split(","))      # degrees
LAMBDAS = (1.0, 5.0, 20.0) if FULL else (5.0, 20.0)    # candidates for λ (per unit)
SEEDS = tuple(int(v) for v in os.environ.get("ASYM_SEEDS", "0,1" if FAST else "0,1,2").split(","))
# two hidden layers relax ~4x slower: by default only the full run includes them
HIDDEN = tuple((32,) * int(n) for n in os.environ.get(
    "ASYM_DEPTHS", "1,2" if FULL else "1").split(","))
# the task selection needs trained networks: by default only in the full run (0: digits only)
HARDER = os.environ.get("ASYM_HARDER", "1" if FULL else "0") == "1"
BETA = float(os.environ.get("ASYM_BETA", 0.01))       # nudge of the centered estimate
LR, BATCH = float(os.environ.get("ASYM_LR", 0.05)), 16
N_ALIGN = 64                             # test samples on which the alignment is measured
N_TEST = 96 if FAST else None            # test samples (None: all of them)
started = time.perf_counter()


class ExactGradient(Rule):
    """Trains on the exact gradient (recurrent backprop, ``pl.exact_gradient``): the
    reference generalized EP is compared with when the harder task is chosen."""

    requires = frozenset()
    is_reference = True

    def gradient(self, system, x, y, cost=None):
        return pl.exact_gradient(system, x, y, cost)


def dataset(x, labels, name, seed=0, test_size=0.2):
    """Stratified split, training-set standardisation, one-hot targets."""
    x_tr, x_te, l_tr, l_te = train_test_split(np.asarray(x, float), labels, test_size=test_size,
                                              random_state=seed, stratify=labels)
    mean, sd = x_tr.mean(0), x_tr.std(0)
    sd[sd == 0] = 1.0
    k = int(labels.max()) + 1
    return Dataset((x_tr - mean) / sd, one_hot(l_tr, k), (x_te - mean) / sd, one_hot(l_te, k),
                   task="classification", n_classes=k, name=name)


def subset(data, n, name=None):
    """The first ``n`` training samples (the split is already shuffled and stratified)."""
    if n is None:
        return data
    return Dataset(data.x_train[:n], data.y_train[:n], data.x_test, data.y_test,
                   task=data.task, n_classes=data.n_classes, name=name or data.name)


def run(data, hidden, alpha_deg, lam, seed, rule=None, epochs=EPOCHS):
    """Train one network; return test accuracy, hidden-layer cosines and failed batches."""
    layers = [data.x_train.shape[1], *hidden, data.n_classes]
    net = VectorFieldNetwork(layers, alpha=np.radians(alpha_deg), seed=seed)
    rule = GeneralizedEP(beta=BETA, points=2, homeostasis=lam, seed=seed) if rule is None \
        else rule
    try:
        history = pl.train(net, rule, data, epochs=epochs, batch_size=BATCH, seed=seed,
                           optimizer=pl.optim.SGD(lr=LR), progress=False)
    except (pl.ConvergenceError, FloatingPointError) as error:   # no free fixed point
        print(f"  run {data.name} {hidden} α={alpha_deg}° λ={lam:g} seed {seed} stopped: "
              f"{str(error)[:120]} … {str(error)[-320:]}")
        return {"accuracy": np.nan, "failed": 1, "hidden": np.nan,
                **{f"hidden_{i + 1}": np.nan for i in range(len(hidden))}}
    x, y = data.x_test[:N_ALIGN], data.y_test[:N_ALIGN]
    a = pl.error_alignment(net, x, y, beta=None)
    out = {"accuracy": history.final["test_accuracy"], "failed": history.failed_batches,
           "train_accuracy": history.final["train_accuracy"], "hidden": a["hidden"]}
    out.update({k: a[k] for k in a if k.startswith("hidden_") and not k.endswith("_std")})
    return out


_SPECS = []


def _run(i):
    return run(**_SPECS[i])


def run_many(specs):
    """``run(**spec)`` for every spec, in ``WORKERS`` forked processes (the runs are
    independent and seeded; the forked workers read the specs from ``_SPECS``, as data sets
    and rules do not pickle); prints one line per finished run."""
    done = []
    if WORKERS > 1:
        _SPECS[:] = specs
        with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
            results = pool.imap(_run, range(len(specs)))
            for spec, r in zip(specs, results):
                done.append(r)
                _report(spec, r, len(done), len(specs))
        return done
    for spec in specs:
        done.append(run(**spec))
        _report(spec, done[-1], len(done), len(specs))
    return done


def _report(spec, r, i, n):
    if FULL:
        print(f"  [{i}/{n} {time.perf_counter() - started:5.0f} s] {spec['data'].name} "
              f"{spec['hidden']} α={spec['alpha_deg']}° λ={spec['lam']:g} seed {spec['seed']}"
              f"{' exact' if spec.get('rule') else ''}: accuracy {r['accuracy']:.3f}, hidden "
              f"cos {r['hidden']:.3f}, failed {r['failed']}", flush=True)


def mean_sd(values):
    return f"{np.mean(values):6.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.3f}"


# %% [markdown]
# ## 1. Choosing the harder task (tied weights only, before any asymmetric run)
#
# Candidates: digits with only 25 % of the training samples, digits with Gaussian pixel
# noise (σ = 1 after standardisation), and ``make_classification`` with 64 features of which
# 32 informative, 10 classes. Each is trained at α = 0 with generalized EP and with the exact
# gradient (one hidden layer, seed 0); the hardest is the one with the lowest exact-gradient
# accuracy among those where generalized EP is within 2 points of it. The reference rule
# `ExactGradient` trains on `pl.exact_gradient` (recurrent backprop through the fixed point).
# The selection needs trained networks, so it runs only with `ASYM_HARDER=1` (the default of
# `ASYM_FULL=1`); otherwise the table below stays empty and only digits is used.

# %%
digits = pl.datasets.digits()
if N_TEST is not None:
    digits = Dataset(digits.x_train, digits.y_train, digits.x_test[:N_TEST],
                     digits.y_test[:N_TEST], task="classification", n_classes=10,
                     name=digits.name)
noise_rng = np.random.default_rng(0)
noisy = Dataset(digits.x_train + noise_rng.normal(size=digits.x_train.shape), digits.y_train,
                digits.x_test + noise_rng.normal(size=digits.x_test.shape), digits.y_test,
                task="classification", n_classes=10, name="digits+noise")
xs, ls = make_classification(n_samples=1797, n_features=64, n_informative=32, n_redundant=0,
                             n_classes=10, n_clusters_per_class=1, class_sep=1.5,
                             random_state=0)
synthetic = dataset(xs, ls, "make_classification")
n_full = len(digits.x_train)
candidates = {"digits/4": (digits, (N_TRAIN or n_full) // 4), "digits+noise": (noisy, N_TRAIN),
              "make_classification": (synthetic, N_TRAIN)} if HARDER else {}
print(f"{'candidate':20s} {'samples':>7s} {'exact':>7s} {'GEP α=0':>8s} {'gap':>6s}  failed")
selection = {}
specs = [dict(data=subset(data, n, name), hidden=(32,), alpha_deg=0, lam=0.0, seed=0,
              rule=rule) for name, (data, n) in candidates.items()
         for rule in (ExactGradient(), None)]
pairs = iter(run_many(specs))
for name, (data, n) in candidates.items():
    small = subset(data, n)
    ex, gep = next(pairs), next(pairs)
    gap = ex["accuracy"] - gep["accuracy"]
    selection[name] = (ex["accuracy"], gep["accuracy"], gap, gep["failed"] + ex["failed"])
    print(f"{name:20s} {len(small.x_train):7d} {ex['accuracy']:7.3f} {gep['accuracy']:8.3f} "
          f"{gap:6.3f}  {gep['failed'] + ex['failed']}")
eligible = [k for k in candidates if selection[k][2] <= 0.02 and selection[k][3] == 0]
harder = min(eligible, key=lambda k: selection[k][0]) if eligible else None
print("harder task:", harder or ("none within 2 points: digits only" if HARDER
                              else "not looked for (ASYM_HARDER=0): digits only"))

# %% [markdown]
# ## 2. λ on a validation split, then α from 0° to 90° with and without homeostasis
#
# Every run trains a fresh network with centered generalized EP (nudges $\pm\beta$) by SGD,
# and afterwards measures the alignment of the error vectors on test samples. The homeostatic
# term adds $\lambda\,\partial L_{\rm homeo}/\partial\theta$ to the estimate, computed with
# a few Gaussian probes $\varepsilon$ per sample, fresh for every mini-batch: by Hutchinson's
# trace estimator $\|J\varepsilon\|^2 - \varepsilon^\top J^2\varepsilon$ has the mean
# $\tfrac12\|J - J^\top\|_F^2$, and needs only the products $J\varepsilon$ and
# $J(J\varepsilon)$, which a physical system can measure locally. First λ is chosen on the
# validation split at α = 90° (the hardest case), then every (α, with/without homeostasis,
# seed) is trained.

# %%
tasks = {"digits": (digits, N_TRAIN)}
if harder is not None:
    tasks[harder] = candidates[harder]
tasks = {k: subset(data, n, k) for k, (data, n) in tasks.items()}
combos = [(name, hidden) for name in tasks for hidden in HIDDEN]
validation = iter(run_many([dict(data=tasks[name].validation(), hidden=hidden,
                                 alpha_deg=90, lam=lam, seed=0)
                            for name, hidden in combos for lam in LAMBDAS]))
chosen = {}
for name, hidden in combos:
    scores = {lam: next(validation)["accuracy"] for lam in LAMBDAS}
    chosen[name, hidden] = max(scores, key=scores.get)
    print(f"{name} {hidden}: validation accuracy at α = 90° "
          + ", ".join(f"λ={k:g}: {v:.3f}" for k, v in scores.items())
          + f" -> λ = {chosen[name, hidden]:g}")
keys = [(name, hidden, alpha, homeo) for name, hidden in combos for alpha in ALPHAS
        for homeo in (False, True)]
runs = iter(run_many([dict(data=tasks[k[0]], hidden=k[1], alpha_deg=k[2],
                           lam=chosen[k[:2]] if k[3] else 0.0, seed=seed)
                      for k in keys for seed in SEEDS]))
results = {k: [next(runs) for _ in SEEDS] for k in keys}
print(f"[{time.perf_counter() - started:.0f} s]")

# %% [markdown]
# ## 3. Tables (mean ± sd over the seeds, test set)
#
# Per task and depth: the hidden-layer cosine and the test accuracy against α, without
# (λ = 0) and with homeostasis. Theory predicts that without homeostasis the cosine falls
# with α and takes the accuracy with it, and that homeostasis pulls the cosine back toward
# 1 (the more, the longer it trains). The last line of each table is the accuracy lost from
# α = 0° to 90° and the part of it homeostasis wins back (both as mean ± sd over the seeds).

# %%
failed = sum(r["failed"] for rs in results.values() for r in rs)
for name, data in tasks.items():
    for hidden in HIDDEN:
        lam = chosen[name, hidden]
        print(f"\n{name}, layers {[data.x_train.shape[1], *hidden, data.n_classes]}, "
              f"λ = {lam:g}, {EPOCHS} epochs, {len(data.x_train)} samples, SGD lr {LR:g}")
        print(f"{'α':>4s} {'hidden cos λ=0':>16s} {'hidden cos λ':>16s} "
              f"{'accuracy λ=0':>16s} {'accuracy λ':>16s}")
        for alpha in ALPHAS:
            r0, r1 = results[name, hidden, alpha, False], results[name, hidden,
                                                                      alpha, True]
            print(f"{alpha:4d} {mean_sd([r['hidden'] for r in r0]):>16s} "
                  f"{mean_sd([r['hidden'] for r in r1]):>16s} "
                  f"{mean_sd([r['accuracy'] for r in r0]):>16s} "
                  f"{mean_sd([r['accuracy'] for r in r1]):>16s}")
        if len(hidden) > 1:
            for i in range(1, len(hidden) + 1):
                key = f"hidden_{i}"
                print(f"  α = 90°, {key}: λ=0 "
                      f"{mean_sd([r[key] for r in results[name, hidden, 90, False]])}, "
                      f"λ={lam:g} "
                      f"{mean_sd([r[key] for r in results[name, hidden, 90, True]])}")
        acc = {k: np.array([r["accuracy"] for r in results[(name, hidden) + k]])
               for k in ((0, False), (90, False), (90, True))}
        gap = acc[0, False] - acc[90, False]
        recovered = acc[90, True] - acc[90, False]
        print(f"  accuracy gap α=0° − α=90°: {mean_sd(gap)}; recovered by homeostasis: "
              f"{mean_sd(recovered)}")
print(f"\nbatches without a nudged fixed point in all runs: {failed}")
if failed:
    print("NOT A VALID TABLE: some runs lost a fixed point (nan: the run stopped)")

# %% [markdown]
# The figure: one column per task and depth; top, the hidden-layer cosine of the error
# vectors, bottom, the test accuracy, both against α, without (circles) and with (squares)
# homeostasis; error bars are the sample sd over the seeds.

# %%
fig, axes = plt.subplots(2, len(tasks) * len(HIDDEN), squeeze=False, layout="constrained",
                         figsize=(max(5.0, 3.4 * len(tasks) * len(HIDDEN)), 5.6))
fig.suptitle(f"weight asymmetry and Jacobian homeostasis ({len(SEEDS)} seed(s))")
column = 0
for name in tasks:
    for hidden in HIDDEN:
        for homeo, style in ((False, "o-"), (True, "s--")):
            rs = [results[name, hidden, a, homeo] for a in ALPHAS]
            label = f"λ = {chosen[name, hidden]:g}" if homeo else "λ = 0"
            for row, key in enumerate(("hidden", "accuracy")):
                values = np.array([[r[key] for r in runs] for runs in rs])
                spread = values.std(1, ddof=min(1, values.shape[1] - 1))   # 1 seed: 0
                axes[row, column].errorbar(ALPHAS, values.mean(1), spread, fmt=style, capsize=3,
                                           label=label)
        axes[0, column].set_title(f"{name} {list(hidden)}", fontsize=9)
        axes[1, column].set_xlabel("asymmetry angle α (degrees)")
        column += 1
for ax in axes[0]:
    ax.set_xlabel("asymmetry angle α (degrees)")
axes[0, 0].set_ylabel("hidden-layer cosine (dimensionless)")
axes[1, 0].set_ylabel("test accuracy (fraction)")
axes[0, 0].legend(fontsize=8)
fig.savefig(FIGURES / "asymmetry_and_homeostasis.png", dpi=110)
print(f"total {time.perf_counter() - started:.0f} s")
