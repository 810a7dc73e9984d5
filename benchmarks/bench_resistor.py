"""Resistor network: cost of one centered-EP gradient against two baselines, in one run.

Acceptance: on a 32×32 grid network with a batch of 64 samples, one centered-EP gradient costs
at most 2× one ``exact_gradient``, and is at least 20× faster than solving each sample's system
separately with a dense solver (the way published coupled-learning code does it).

* **EP / exact.** ``EP(variant="centered").gradient`` (free state + two nudged states, batched)
  against ``exact_gradient`` (free state + one adjoint solve, batched). Both pay one sparse
  factorisation: the network caches it keyed on the conductances, and in training the
  conductances change every step, so each timed call starts with ``net.clear_cache()``.
* **dense per sample / EP.** :func:`dense_centered_ep` re-implements, with numpy/scipy only, the
  way published coupled-learning code relaxes a resistor network (in the style of the code
  accompanying Stern et al., PRX 11, 021045, 2021): one dense bordered ("extended") Laplacian
  system per sample and per state, the imposed voltages entering through Lagrange-multiplier
  rows, solved with
  ``scipy.linalg.solve(..., assume_a="sym")``. It computes the *same* centered-EP estimate
  (free state, then the ±β nudged states; the squared-error nudge adds ±β on the output
  diagonal and ±β·y to the right-hand side) and is checked against physlearn to a relative
  error < 1e-8 before it is timed: a wrong baseline would invalidate the ratio. The baseline is
  kinder than the published code: the dense Laplacian is assembled once per gradient (the
  published code rebuilds it from a dense incidence product for every solve).
* **per-sample / batched** (physlearn only): the same EP gradient computed one sample at a time
  (factorisation shared, as the conductances do not change within a batch) against one
  batched call; it measures what batching the samples through one factorisation buys.

Timing: the three physlearn timings are interleaved (best of ``repeat`` each) so that they see
the same machine load; the dense baseline runs once over the whole batch, at whichever BLAS
thread setting (default or one thread) is faster for it on a few probe samples.
"""

from __future__ import annotations

import contextlib
from functools import partial

import networkx as nx
import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from harness import Ratio, best_time, blas_settings, interleaved_best_times

import physlearn as pl
from physlearn.check import relative_error
from physlearn.systems import ResistorNetwork

BETA = 1e-3
BASELINE_TOL = 1e-8


def grid_network(n, n_inputs=4, n_outputs=3, seed=0):
    """An ``n × n`` grid: inputs on the first row, outputs on the last, ground in a corner.

    Conductances are uniform in [0.1, 1] drawn from ``seed`` (the ResistorNetwork default).
    """
    graph = nx.grid_2d_graph(n, n)

    def spread(k):  # k distinct interior columns, evenly spaced
        return [int(c) for c in np.linspace(1, n - 2, k + 2)[1:-1].round()]

    inputs = [(0, c) for c in spread(n_inputs)]
    outputs = [(n - 1, c) for c in spread(n_outputs)]
    return ResistorNetwork(graph, inputs, outputs, ground=(n - 1, n - 1), seed=seed)


def make_batch(net, batch, seed=0):
    """Seeded random inputs (standard normal) and targets (0.3 × standard normal)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, net.n_features))
    y = 0.3 * rng.normal(size=(batch, net.n_outputs))
    return x, y


# -- the dense per-sample baseline ---------------------------------------------------------------
def dense_problem(net):
    """Everything the dense baseline needs, read from the graph and the public attributes only.

    Returns the dense weighted Laplacian ``H`` (N × N), the constraint matrix ``Q`` (one row per
    imposed node: the ground, then the inputs), the output node indices and the edge ends.
    """
    index = {node: i for i, node in enumerate(net.nodes)}
    if net.bias_sources:
        raise ValueError("the dense baseline handles inputs and ground only")
    for entry in net.inputs:
        if entry not in index:
            raise ValueError("the dense baseline handles single-node (not differential) inputs")
    n = len(net.nodes)
    a = np.array([index[u] for u, _ in net.edges])
    b = np.array([index[v] for _, v in net.edges])
    g = net.params["conductance"]
    H = np.zeros((n, n))
    np.add.at(H, (a, a), g)
    np.add.at(H, (b, b), g)
    np.add.at(H, (a, b), -g)
    np.add.at(H, (b, a), -g)
    imposed = [index[net.ground]] + [index[node] for node in net.inputs]
    Q = np.zeros((len(imposed), n))
    Q[np.arange(len(imposed)), imposed] = 1.0
    out = np.array([index[node] for node in net.output_nodes])
    return H, Q, out, (a, b)


def dense_centered_ep(net, x, y, beta=BETA):
    """Centered-EP gradient (batch mean), one dense bordered solve per sample and per state.

    For each sample: the free state and the states nudged by ``±β`` with the squared error
    ``C = ½‖V_out − y‖²`` solve the extended system

        [ H + β PᵀP   Qᵀ ] [ V ]   [ β Pᵀ y ]
        [ Q           0  ] [ μ ] = [ v_imp  ]

    (``H`` the weighted Laplacian, ``Q`` selects the imposed nodes: ground at 0 V and inputs at
    ``x``; ``μ`` are the currents the sources supply). The estimate per edge is
    ``(½ΔV(β)² − ½ΔV(−β)²) / 2β``, as in physlearn's ``EP(variant="centered")``.
    """
    H, Q, out, (a, b) = dense_problem(net)
    n, n_c = H.shape[0], Q.shape[0]
    base = np.zeros((n + n_c, n + n_c))
    base[:n, :n] = H
    base[:n, n:] = Q.T
    base[n:, :n] = Q
    grads = np.zeros((len(x), len(a)))

    def relax(nudge, x_k, y_k):
        A = base.copy()
        rhs = np.zeros(n + n_c)
        A[out, out] += nudge
        rhs[out] = nudge * y_k
        rhs[n + 1:] = x_k                        # row n is the ground: 0 V
        return scipy.linalg.solve(A, rhs, assume_a="sym", check_finite=False)[:n]

    for k in range(len(x)):
        relax(0.0, x[k], y[k])                   # free state (outputs, loss)
        v_plus, v_minus = relax(+beta, x[k], y[k]), relax(-beta, x[k], y[k])
        dv_plus, dv_minus = v_plus[a] - v_plus[b], v_minus[a] - v_minus[b]
        grads[k] = (0.5 * dv_plus**2 - 0.5 * dv_minus**2) / (2 * beta)
    return {"conductance": grads.mean(axis=0)}


def check_baseline(n=8, batch=4, seed=0, beta=BETA):
    """Relative error of the dense baseline against physlearn's centered EP (same β)."""
    net = grid_network(n, seed=seed)
    x, y = make_batch(net, batch, seed=seed)
    ours = pl.EP(beta=beta, variant="centered").gradient(net, x, y)
    return relative_error(dense_centered_ep(net, x, y, beta), ours)


def time_dense(net, x, y, beta=BETA, n_probe=4):
    """Wall time of :func:`dense_centered_ep` on the whole batch, at its fastest BLAS setting.

    Multi-threaded dense LAPACK can be several times slower than one thread on a small or busy
    machine; the baseline gets whichever of the two is faster on ``n_probe`` samples, so the
    ratio is not inflated by a badly threaded baseline. Returns (seconds, setting).
    """
    limits = blas_settings()
    probe = {name: best_time(partial(_with, limit, dense_centered_ep, net, x[:n_probe],
                                     y[:n_probe], beta), 1)
             for name, limit in limits.items()}
    name = min(probe, key=probe.get)
    return best_time(partial(_with, limits[name], dense_centered_ep, net, x, y, beta), 1), name


def _with(limit, fn, *args):
    with limit():
        return fn(*args)


# -- the floor: one factorisation and its solves ---------------------------------------------------
def floor_work(net, x):
    """What any exact linear-network gradient must at least do, written with scipy alone: build
    and factorise the free-node block ``K`` of the weighted Laplacian (``splu``), solve for the
    free states of the batch, and for the response to a current at every output (the nudged
    states and the adjoint are combinations of these columns)."""
    g = net.params["conductance"]
    G = sp.diags(g)
    K = (net._d_free.T @ G @ net._d_free).tocsc()
    B = net._d_free.T @ G @ net._d_src
    lu = spla.splu(K)
    free = lu.solve(np.asarray(B @ net.source_voltages(x).T))
    columns = np.zeros((K.shape[0], net.n_outputs))
    columns[net.output_index, np.arange(net.n_outputs)] = 1.0
    return free, lu.solve(columns)


def floor_ratio(n, batch, repeat):
    """Centered EP on an ``n × n`` grid against :func:`floor_work` (one BLAS thread)."""
    net = grid_network(n, seed=0)
    x, y = make_batch(net, batch, seed=1)
    rule = pl.EP(beta=BETA, variant="centered")

    def ep():
        net.clear_cache()
        return rule.gradient(net, x, y)

    single = blas_settings().get("1", contextlib.nullcontext)
    with single():
        t_ep, t_floor = interleaved_best_times([ep, lambda: floor_work(net, x)], repeat)
    return Ratio(f"resistor {n}x{n}: centered-EP gradient / one factorisation + solves",
                 t_ep / t_floor, 2.0, "max",
                 f"EP {t_ep * 1e3:.0f} ms, splu + {batch} free + {net.n_outputs} response "
                 f"solves {t_floor * 1e3:.0f} ms; {len(net.nodes)} nodes, batch {batch}")


# -- the benchmark -------------------------------------------------------------------------------
def run(quick=False):
    # quick: a smoke run, still large enough for the dense baseline to pay its O(N³) per solve
    n, batch, repeat = (16, 32, 5) if quick else (32, 64, 5)
    net = grid_network(n, seed=0)
    x, y = make_batch(net, batch, seed=1)
    rule = pl.EP(beta=BETA, variant="centered")
    size = (f"{n}x{n} grid, {len(net.nodes)} nodes, {len(net.edges)} edges, "
            f"{net.n_features} in / {net.n_outputs} out, batch {batch}")

    def ep():
        net.clear_cache()
        return rule.gradient(net, x, y)

    def exact():
        net.clear_cache()
        return pl.exact_gradient(net, x, y)

    def per_sample():
        net.clear_cache()                        # one factorisation for the whole batch
        return [rule.gradient(net, x[k:k + 1], y[k:k + 1]) for k in range(batch)]

    # Correctness first: the baseline must compute the same estimate (checked on the first
    # samples of the same network; the code path is the one timed below).
    n_check = min(batch, 8)
    err_baseline = relative_error(dense_centered_ep(net, x[:n_check], y[:n_check], BETA),
                                  rule.gradient(net, x[:n_check], y[:n_check]))
    if not err_baseline < BASELINE_TOL:
        raise AssertionError(f"dense baseline disagrees with physlearn: relative error "
                             f"{err_baseline:.2e} >= {BASELINE_TOL:g}; the ratio would be void")
    err_exact = relative_error(ep(), exact())

    # physlearn's runs are timed with one BLAS thread: sparse LU's dense kernels gain nothing
    # from threads at this size, and threaded BLAS on a loaded machine makes timings erratic
    single = blas_settings().get("1", contextlib.nullcontext)
    with single():
        t_ep, t_exact, t_per = interleaved_best_times([ep, exact, per_sample], repeat)
    t_dense, threads = time_dense(net, x, y, BETA)                         # seconds long
    ms = 1e3
    return [
        Ratio("resistor: centered-EP gradient / exact_gradient", t_ep / t_exact, 2.0, "max",
              f"EP {t_ep * ms:.2f} ms, exact {t_exact * ms:.2f} ms; |EP-exact|/|exact| = "
              f"{err_exact:.1e} (beta={BETA:g}); {size}"),
        Ratio("resistor: dense per-sample solves / centered-EP", t_dense / t_ep, 20.0, "min",
              f"dense {t_dense * ms:.0f} ms ({3 * batch} bordered solves of size "
              f"{len(net.nodes) + net.n_features + 1}, assume_a='sym', BLAS threads {threads}), "
              f"EP {t_ep * ms:.2f} ms; baseline agrees with EP to {err_baseline:.1e}"),
        Ratio("resistor: EP one sample at a time / batched", t_per / t_ep, 1.5, "min",
              f"per-sample {t_per * ms:.2f} ms ({batch} calls, one factorisation), "
              f"batched {t_ep * ms:.2f} ms"),
        floor_ratio(64 if quick else 256, batch, 3),
    ]
