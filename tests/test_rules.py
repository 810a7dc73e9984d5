"""Rule-level behaviour that does not depend on a particular system."""

import numpy as np
import pytest

import physlearn as pl
from physlearn.nudges import Nudge
from physlearn.systems import NonlinearResistorNetwork, ResistorNetwork


def test_complex_beta_refused_by_non_holomorphic_system():
    net = NonlinearResistorNetwork.layered([2, 3, 1], seed=0)   # diodes: not holomorphic
    x, y = np.zeros((2, 2)), np.zeros((2, 1))
    with pytest.raises(ValueError, match="HolomorphicEP needs \\['complex'\\]"):
        pl.HolomorphicEP().gradient(net, x, y)
    with pytest.raises(ValueError, match="complex beta=.*not holomorphic"):
        net.equilibrium(x, Nudge(pl.SquaredError(), y, 0.1j))


@pytest.mark.parametrize("rule", [pl.EP(beta=0.0), pl.EP(beta=-1.0), pl.EP(beta=1j),
                                  pl.CoupledLearning(eta=float("nan")),
                                  pl.HolomorphicEP(points=0)])
def test_bad_strength_is_refused(rule):
    net = ResistorNetwork.layered([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match="beta|eta|points"):
        rule.gradient(net, np.zeros((1, 2)), np.zeros((1, 1)))


def test_hyperparameters_round_trip():
    rule = pl.EP(beta=0.3, variant="negative")
    assert rule.get_params() == {"beta": 0.3, "variant": "negative"}
    clone = type(rule)(**rule.get_params())
    assert clone.get_params() == rule.get_params()
    with pytest.raises(ValueError, match="no hyperparameter 'gamma'"):
        rule.set_params(gamma=1)


def test_declared_bias_orders():
    assert pl.EP(variant="positive").bias_order == 1
    assert pl.EP(variant="centered").bias_order == 2
    assert pl.HolomorphicEP(points=5).bias_order == 5
    assert pl.ContrastiveLearning().bias_order is None


def test_gradient_check_table_prints():
    net = ResistorNetwork.layered([2, 3, 1], seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 1))
    report = pl.gradient_check(net, pl.EP(beta=1e-4), x, y)
    text = str(report)
    assert "conductance" in text and "cosine" in text
    assert report.total_relative_error < 1e-6
    assert report.rows[0][3] > 0.9999999
