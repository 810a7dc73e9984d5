"""Continual EP (:class:`physlearn.ContinualEP`, Ernoult et al. 2020).

Fast: the estimate tends to positive EP at the same β as the learning rate falls, at least
linearly (fitted log-log slope), on default-built Hopfield networks with the smooth and the hard
sigmoid; the cumulative updates after t nudged steps follow truncated BPTT through t steps
(Theorem 1, per step); one SGD step with the rule's learning rate lands exactly on the weights
the online updates reached; the parameters are restored, also on error; a nudged phase that
cannot converge within ``max_steps`` raises ``ConvergenceError`` naming the residual.
Slow: example 61's full run (three seeds) trains 64-128-10 on digits to at least 90 % mean test
accuracy, and its Theorem-1 fit is at least linear.
"""

import re

import numpy as np
import pytest
from example_runs import run_example

import physlearn as pl
from physlearn.check import fit_slope, relative_error
from physlearn.experiment.datasets import Dataset
from physlearn.systems import ResistorNetwork
from physlearn.systems.hopfield import HopfieldNetwork

BETA = 0.1
LRS = (1e-4, 3e-4, 1e-3, 3e-3)            # 1.5 decades


def problem(activation, seed=0):
    """A default-built 3-5-2 network and four samples (targets in [0, 1])."""
    rng = np.random.default_rng(seed + 1)
    net = HopfieldNetwork([3, 5, 2], activation=activation, seed=seed)
    return net, rng.normal(size=(4, 3)), rng.uniform(size=(4, 2))


@pytest.mark.parametrize("activation", ["sigmoid", "hard-sigmoid"])
def test_the_distance_to_ep_falls_at_least_linearly_with_the_learning_rate(activation):
    net, x, y = problem(activation)
    ep = pl.EP(beta=BETA, variant="positive").gradient(net, x, y)
    runs = [pl.ContinualEP(beta=BETA, lr=lr).run(net, x, y) for lr in LRS]
    distances = np.array([relative_error(r.gradient, ep) for r in runs])
    slope = fit_slope(np.array(LRS), distances)
    assert slope >= 0.9, f"fitted slope {slope:.3f} of distances {distances}"
    assert abs(slope - 1.0) < 0.15, f"fitted slope {slope:.3f}: expected about 1 (O(lr/beta))"
    assert np.all(np.diff(distances) > 0) and distances[-1] < 0.2, distances
    # lr -> 0: EP at the same beta, with the nudged phase converged
    limit = pl.ContinualEP(beta=BETA, lr=1e-12).run(net, x, y)
    assert limit.residual < net.tol
    assert relative_error(limit.gradient, ep) < 1e-7


def test_cumulative_updates_follow_truncated_bptt_step_by_step():
    """Theorem 1: after t nudged steps the summed updates / (-lr) tend to the gradient of the loss
    backpropagated through t synchronous sweeps from the steady state, with an error O(beta)."""
    rng = np.random.default_rng(1)
    net = HopfieldNetwork([3, 6, 2], activation="hard-sigmoid", relaxation="sync", seed=0)
    x, y = rng.normal(size=(4, 3)), rng.uniform(size=(4, 2))
    steps = 12
    bptt = [net.truncated_bptt(x, y, steps=t) for t in range(1, steps + 1)]
    errors = {}
    for beta in (1e-2, 1e-3):
        run = pl.ContinualEP(beta=beta, lr=1e-9).run(net, x, y)
        assert run.steps > steps
        total = {k: np.zeros(v.shape) for k, v in net.params.items()}
        errors[beta] = []
        for t, update in enumerate(run.updates[:steps]):
            total = {k: total[k] + update[k] for k in total}
            errors[beta].append(relative_error(total, bptt[t]))
    small, large = np.array(errors[1e-3]), np.array(errors[1e-2])
    assert np.all(small < 3e-3), small
    ratio = large / small                      # O(beta) at every step: a tenth of beta, a tenth
    assert np.all((ratio > 7) & (ratio < 13)), ratio


def test_one_sgd_step_lands_on_the_online_weights():
    net, x, y = problem("hard-sigmoid")
    lr = 1e-2
    rule = pl.ContinualEP(beta=BETA, lr=lr)
    before = net.params.copy()
    run = rule.run(net, x, y)
    for k, v in before.items():                # restored after the online updates
        np.testing.assert_array_equal(net.params[k], v)
    assert max(np.abs(run.params[k] - before[k]).max() for k in before) > 1e-4   # it moved
    stepped = pl.optim.SGD(lr=lr).step(net.params, rule.gradient(net, x, y))
    for k in before:
        np.testing.assert_array_equal(stepped[k], run.params[k], err_msg=k)
    # and through the training loop: one epoch, one batch
    data = Dataset(x, y, x, y, task="regression", name="four samples")
    pl.train(net, rule, data, epochs=1, batch_size=len(x), optimizer=pl.optim.SGD(lr=lr),
             progress=False)
    for k in before:
        np.testing.assert_array_equal(net.params[k], run.params[k], err_msg=k)


def test_negative_nudges_tend_to_negative_ep():
    net, x, y = problem("sigmoid")
    ep = pl.EP(beta=BETA, variant="negative").gradient(net, x, y)
    g = pl.ContinualEP(beta=BETA, lr=1e-12, variant="negative").gradient(net, x, y)
    assert relative_error(g, ep) < 1e-7
    positive = pl.EP(beta=BETA, variant="positive").gradient(net, x, y)
    assert relative_error(g, positive) > 1e-3        # another estimate, not the same one


def test_too_few_steps_raise_and_leave_the_parameters_unchanged():
    net, x, y = problem("sigmoid")
    before = net.params.copy()
    with pytest.raises(pl.ConvergenceError, match=r"max_steps=3 steps: residual .*e-"):
        pl.ContinualEP(beta=BETA, lr=1e-2, max_steps=3).gradient(net, x, y)
    for k, v in before.items():
        np.testing.assert_array_equal(net.params[k], v, err_msg=k)
    with pytest.raises(pl.ConvergenceError, match="tol=1e-30"):   # unreachable tolerance
        pl.ContinualEP(beta=BETA, lr=1e-2, max_steps=50, tol=1e-30).gradient(net, x, y)
    for k, v in before.items():
        np.testing.assert_array_equal(net.params[k], v, err_msg=k)


def test_refuses_systems_without_step():
    net = ResistorNetwork.layered([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match=r"ContinualEP needs \['step'\]"):
        pl.ContinualEP().gradient(net, np.zeros((2, 2)), np.zeros((2, 1)))


@pytest.mark.slow
def test_continual_ep_trains_digits_to_ninety_percent(tmp_path):
    lines = run_example("61_continual_ep", tmp_path, CEP_FULL="1", CEP_WORKERS="2")
    slope = [line for line in lines if "fitted slope" in line]
    assert len(slope) == 1 and "(at least linear: True)" in slope[0], lines
    seeds = [line for line in lines if "(seeds:" in line]
    assert len(seeds) == 1, lines
    assert len(re.search(r"\(seeds: ([^)]*)\)", seeds[0]).group(1).split(", ")) == 3, seeds
    assert "failed batches 0" in seeds[0], seeds
    verdict = [line for line in lines if line.startswith("C-EP on digits:")]
    assert len(verdict) == 1 and verdict[0].endswith("(bar 90 %): True"), lines[-10:]
