"""Training acceptance on the linear resistor network with centered EP."""

import numpy as np

import physlearn as pl
from physlearn.systems import ResistorNetwork


def test_linear_regression_reaches_one_percent_of_target_variance():
    data = pl.datasets.linear_regression(n_samples=200, n_inputs=3, n_outputs=2, seed=0)
    net = ResistorNetwork.layered([3, 24, 2], seed=0)
    assert len(net.nodes) >= 30
    before = np.mean((net.predict(data.x_test) - data.y_test) ** 2)
    pl.train(net, pl.EP(beta=0.1, variant="centered"), data, epochs=30,
             optimizer=pl.optim.Adam(lr=0.02), progress=False)
    mse = np.mean((net.predict(data.x_test) - data.y_test) ** 2)
    assert mse < 0.01 * np.var(data.y_test) < before


def test_iris_reaches_ninety_percent_with_centered_ep():
    data = pl.datasets.iris(seed=0)
    net = ResistorNetwork.layered([4, 16, 3], seed=0)
    history = pl.train(net, pl.EP(beta=0.05, variant="centered"), data, epochs=30,
                       optimizer=pl.optim.Adam(lr=0.02), cost=pl.CrossEntropy(temperature=0.2),
                       progress=False)
    assert history.final["test_accuracy"] >= 0.9
    assert history["test_accuracy"][0] < 0.5          # it was learned, not given
    assert np.all(net.params["conductance"] >= net.min_conductance)
