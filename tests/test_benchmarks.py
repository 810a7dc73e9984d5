"""The benchmarks' baselines compute what they claim to (correctness only; timing lives in
``benchmarks/``)."""

import importlib.util
import pathlib

import numpy as np
import pytest

import physlearn as pl
from physlearn.check import relative_error

BENCH_DIR = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def load(name):
    """``benchmarks/<name>.py`` imported by path (it imports ``harness`` beside it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCH_DIR))
        spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench_resistor():
    return load("bench_resistor")


@pytest.mark.parametrize("seed", [0, 1])
def test_dense_baseline_matches_physlearn_centered_ep(bench_resistor, seed):
    err = bench_resistor.check_baseline(n=8, batch=4, seed=seed)
    assert err < bench_resistor.BASELINE_TOL


def test_dense_baseline_matches_exact_gradient(bench_resistor):
    """Independent of physlearn's EP: at small β the baseline is the true gradient."""
    net = bench_resistor.grid_network(8, seed=2)
    x, y = bench_resistor.make_batch(net, 4, seed=2)
    dense = bench_resistor.dense_centered_ep(net, x, y, beta=1e-4)
    assert relative_error(dense, pl.exact_gradient(net, x, y)) < 1e-6


def test_grid_network_layout(bench_resistor):
    net = bench_resistor.grid_network(8, n_inputs=4, n_outputs=3, seed=0)
    assert len(net.nodes) == 64 and len(net.edges) == 2 * 8 * 7
    assert all(r == 0 for r, _ in net.inputs) and len(net.inputs) == 4
    assert all(r == 7 for r, _ in net.output_nodes) and len(net.output_nodes) == 3
    assert net.ground == (7, 7)
    g = net.params["conductance"]
    assert g.min() >= 0.1 and g.max() <= 1.0
    x, y = bench_resistor.make_batch(net, 5, seed=0)
    assert x.shape == (5, 4) and y.shape == (5, 3) and np.all(np.isfinite(x))


@pytest.fixture(scope="module")
def bench_throughput():
    return load("bench_diode_throughput")


def test_throughput_network_is_the_one_described(bench_throughput):
    """939 nodes, 128 sources + ground, 800 hidden nodes each with a diode, 10 outputs."""
    net = bench_throughput.network()
    assert len(net.nodes) == 939 and len(net.diode_pairs) == 800
    assert net.n_features == 128 and net.n_outputs == 10 and len(net.edges) == 53523
    assert net.diode_law == "shockley"


def test_relaxation_baselines_are_the_systems_energies():
    """The L-BFGS-B objectives of bench_relaxation equal the networks' own energies and
    gradients, and minimise to physlearn's equilibria."""
    bench = load("bench_relaxation")
    rng = np.random.default_rng(0)
    for net, energy, x in (
            (bench.diode_network(8), bench.DiodeEnergy, rng.standard_normal((2, 4))),
            (bench.elastic_network(150), bench.ElasticEnergy, None)):
        x = 0.05 * rng.standard_normal((2, net.n_features)) if x is None else x
        baseline = energy(net)
        state = net.equilibrium(x)
        assert bench.check_energy(baseline, net, x, state) < bench.ENERGY_TOL
        rel2, _ = bench.agreement(baseline, net, state, bench.lbfgs(baseline, x))
        assert rel2 < bench.AGREE_TOL


def test_ising_loop_is_physlearns_markov_chain():
    """bench_ising's per-spin loop reproduces physlearn's trajectories given the same random
    numbers (heat-bath and Metropolis)."""
    bench = load("bench_ising")
    model = bench.five_spin_model(solver="monte-carlo", sweeps=20, burn_in=5, chains=3)
    x = bench.pixels(2, model.n_features, seed=2)
    for update in ("heat-bath", "metropolis"):
        assert bench.same_chain_error(model.set_params(update=update), x) <= bench.SAME_CHAIN_TOL


def test_oscillator_gradient_flow_ends_in_physlearns_minimum():
    """bench_oscillators' solve_ivp gradient flow, from physlearn's start, ends where
    physlearn's Newton relaxation does for the shipped network (most samples)."""
    bench = load("bench_oscillators")
    net, x = bench.make_problem(bench.SHIPPED, 6)
    free = net.equilibrium(x)
    phases, fired, _ = bench.flow_relax(bench.Flow(net, x), net.tol, "LSODA", 1e-6,
                                        stacked=False)
    assert fired
    assert np.sum(bench.distance(phases, free.s) < bench.AGREE_TOL) >= 4
