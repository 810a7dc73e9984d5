"""The compiled leapfrog loops against the Python loops, option by option.

Both HRU kinds run their free runs, echoes and adjoints through compiled loops
(:mod:`physlearn.systems.leapfrog_kernels`); the Python loops of
:mod:`physlearn.systems.leapfrog`, built on the units' numpy physics (``kick_terms``,
``potential_hvp`` …), are the independent reference. The same unit with ``loops = None``
takes the Python loops.
"""

import copy

import numpy as np
import pytest

from physlearn.systems import leapfrog as lf
from physlearn.systems.hru import HRU

CASES = [(kind, kick, damping) for kind in ("linear", "nonlinear")
         for kick, damping in (("half-step", 0.0), ("start", 0.0), ("half-step", 0.2))]
FEATURES = [1, 2]       # one input channel takes its own loop (the read-out joins the kick)


def _units(kind, kick, damping, n_features=2):
    system = HRU(n_features, 5, 2, kind=kind, kick=kick, damping=damping, seed=1)
    unit, params = system.blocks()[0][0], system.local(0)
    python = copy.copy(unit)
    python.loops = None
    assert unit.loops is not None
    return system, unit, python, params


def _close(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _close(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y)
    elif a is None:
        assert b is None
    else:
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("n_features", FEATURES)
@pytest.mark.parametrize("n_steps", [1, 7, 300])
@pytest.mark.parametrize("kind, kick, damping", CASES)
def test_forward_matches_python_loop(kind, kick, damping, n_steps, n_features):
    system, unit, python, params = _units(kind, kick, damping, n_features)
    rng = np.random.default_rng(0)
    q0, p0 = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    x = rng.normal(size=(3, n_steps, n_features))
    options = dict(store=True, positions=True, measure=True, measure_inputs=True)
    fast = lf.forward(unit, params, q0, p0, x, system.scheme, **options)
    slow = lf.forward(python, params, q0, p0, x, system.scheme, **options)
    for name in ("q", "p", "qs", "ps", "positions", "measure", "measure_inputs"):
        _close(getattr(fast, name), getattr(slow, name))
    bare = lf.forward(unit, params, q0, p0, x, system.scheme)
    _close(bare.q, slow.q)
    assert bare.qs is None and bare.measure is None and bare.positions is None


def _free_run(kind, kick, damping, dense, seed, n_features=2, n_steps=300):
    """A stored free run and its cotangents (final-time, or one per step with dense)."""
    system, unit, python, params = _units(kind, kick, damping, n_features)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, n_steps, n_features))
    flow = lf.forward(unit, params, np.zeros((3, 5)), np.zeros((3, 5)), x, system.scheme,
                      store=True)
    cot = (lf.Cotangents(n_steps, dense=rng.normal(size=(3, n_steps, 5))) if dense
           else lf.Cotangents(n_steps, final=rng.normal(size=(3, 5))))
    return system, (unit, python), params, x, flow, cot


@pytest.mark.parametrize("n_features", FEATURES)
@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("kind, kick, damping", CASES)
def test_echo_matches_python_loop(kind, kick, damping, record, dense, n_features):
    system, units, params, x, flow, cot = _free_run(kind, kick, damping, dense, 1, n_features)
    eps = [1e-2, -1e-2, 3e-2]
    fast, slow = (lf.echo(u, params, flow.q, flow.p, x, system.scheme, eps, cot,
                          want_inputs=True, record=record) for u in units)
    for name in ("measure", "measure_inputs", "q", "p", "states", "steps"):
        _close(getattr(fast, name), getattr(slow, name))


@pytest.mark.parametrize("n_features", FEATURES)
@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("kind, kick, damping", CASES)
def test_centered_echo_pair_matches_python_loop(kind, kick, damping, dense, n_features):
    """RHEL's two echoes at ±ε without per-step records run as one loop over both (the
    paired kernel); the same read-outs and final states as the numpy loop."""
    system, units, params, x, flow, cot = _free_run(kind, kick, damping, dense, 3, n_features)
    fast, slow = (lf.echo(u, params, flow.q, flow.p, x, system.scheme, [1e-2, -1e-2], cot)
                  for u in units)
    assert ("_echo_pair", kick == "half-step", dense, n_features == 1) in \
        units[0].loops._compiled
    for name in ("measure", "q", "p"):
        _close(getattr(fast, name), getattr(slow, name))


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("kind, kick, damping", CASES)
def test_backward_matches_python_loop(kind, kick, damping, record, dense):
    system, units, params, x, flow, cot = _free_run(kind, kick, damping, dense, seed=2)
    fast, slow = (lf.backward(u, params, flow, x, system.scheme, cot, want_inputs=True,
                              record=record) for u in units)
    for name in ("params", "inputs", "q", "p", "adjoints", "steps"):
        _close(getattr(fast, name), getattr(slow, name))


def test_trajectory_readout_matches_per_step_readout():
    """The trajectory read-out is computed for every step at once from the kept positions:
    its loss gradient equals BPTT's through the Python loop (per step)."""
    import physlearn as pl

    system = HRU(1, 4, 2, kind="nonlinear", readout="trajectory", seed=0)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 40, 1)), rng.normal(size=(2, 40, 2))
    fast = system.exact_gradient(x, y, pl.SquaredError())
    unit = system._unit
    system._unit = copy.copy(unit)
    system._unit.loops = None
    slow = system.exact_gradient(x, y, pl.SquaredError())
    system._unit = unit
    _close(fast, slow)
    run = system.run(x, y, pl.SquaredError())
    assert run.outputs.shape == (2, 40, 2) and run.flows[-1].positions is None


def test_a_subclass_that_changes_the_physics_runs_the_numpy_loops():
    """Inherited compiled loops would integrate the parent's Hamiltonian: a subclass that
    redefines a physics method (and brings no loops of its own) takes the numpy loops."""
    from physlearn.systems.hru_physics import LinearHRUPhysics

    class Stiffer(LinearHRUPhysics):
        def potential_grad(self, params, q, u):
            return 2.0 * params["A"] * q - u @ params["B"].T

    class Same(LinearHRUPhysics):
        """A subclass that changes nothing keeps the compiled loops."""

    assert Stiffer.loops is None and Same.loops is LinearHRUPhysics.loops
    system, unit, _, params = _units("linear", "half-step", 0.0)
    stiffer = Stiffer(unit.n_dof, unit.n_inputs)
    x = np.random.default_rng(4).normal(size=(2, 50, 2))
    zero = np.zeros((2, 5))
    runs = [lf.forward(u, params, zero, zero, x, system.scheme).q for u in (unit, stiffer)]
    assert np.max(np.abs(runs[0] - runs[1])) > 1e-3         # the override is integrated
