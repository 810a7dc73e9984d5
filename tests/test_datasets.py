"""Datasets: seeded, stratified splits, train-statistics standardisation, realisable maps."""

import dataclasses

import numpy as np
import pytest

from physlearn import datasets
from physlearn.experiment.datasets import Dataset, load
from physlearn.registry import DATASETS

CLASSIFICATION = ["iris", "digits"]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_loader_contract(name):
    data = load(name)
    assert data.name == name
    for part in ("x_train", "y_train", "x_test", "y_test"):
        array = getattr(data, part)
        assert array.dtype == np.float64 and array.ndim in (2, 3)
        assert not array.flags.writeable
    assert data.n_train == len(data.y_train) and data.n_test == len(data.y_test)
    if data.task == "classification":
        for y in (data.y_train, data.y_test):
            assert y.shape[1] == data.n_classes
            assert np.array_equal(y.sum(axis=1), np.ones(len(y)))
        assert data.labels_train.dtype == np.int64
        assert np.array_equal(data.y_train[np.arange(data.n_train), data.labels_train],
                              np.ones(data.n_train))
    else:
        assert data.n_classes is None


@pytest.mark.parametrize("name", CLASSIFICATION + ["linear_regression"])
def test_split_is_reproducible_by_seed(name):
    a, b, c = load(name, seed=3), load(name, seed=3), load(name, seed=4)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_split_is_stratified(name):
    data = load(name, seed=1)
    n_classes = data.n_classes
    counts_train = np.bincount(data.labels_train, minlength=n_classes)
    counts_test = np.bincount(data.labels_test, minlength=n_classes)
    total = counts_train + counts_test
    expected_test = total * data.n_test / total.sum()
    assert np.all(np.abs(counts_test - expected_test) <= 1.0)


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_inputs_standardised_with_train_statistics(name):
    data = load(name, seed=2)
    varying = data.meta["std"] != 1.0  # digits has pixels that are always blank
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.x_train.std(axis=0)[varying], 1.0, rtol=1e-12)
    # test statistics are not used: the test set is not exactly centred
    assert np.abs(data.x_test.mean(axis=0)).max() > 1e-3


@pytest.mark.parametrize("name", ["xor", "iris", "digits"])
def test_input_scale_multiplies_inputs(name):
    one, two = load(name, input_scale=1.0), load(name, input_scale=2.5)
    np.testing.assert_allclose(two.x_train, 2.5 * one.x_train, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(two.x_test, 2.5 * one.x_test, rtol=1e-13, atol=1e-14)


def test_xor_truth_table():
    data = datasets.xor()
    assert data.n_train == data.n_test == 4
    assert np.array_equal(data.x_train, data.x_test)
    assert set(np.abs(data.x_train).ravel()) == {1.0}
    differ = np.sign(data.x_train[:, 0]) != np.sign(data.x_train[:, 1])
    assert np.array_equal(data.labels_train, differ.astype(int))


def test_digits_and_iris_sizes():
    assert load("iris").x_train.shape == (105, 4)
    assert load("digits").n_classes == 10
    assert load("digits").n_features == 64


def test_digits_intensity_scaling_maps_pixels_onto_the_unit_interval():
    standard = datasets.digits()
    unit = datasets.digits(scaling="intensity")
    bright = datasets.digits(scaling="intensity", input_scale=2.0)
    assert unit.x_train.min() == 0.0 and unit.x_train.max() == 1.0
    np.testing.assert_allclose(bright.x_train, 2.0 * unit.x_train)
    np.testing.assert_array_equal(unit.labels_train, standard.labels_train)  # same split
    assert unit.meta["scaling"] == "intensity" and unit.source["scaling"] == "intensity"
    with pytest.raises(ValueError, match=r"scaling='minmax' is not one of"):
        datasets.digits(scaling="minmax")


@pytest.mark.parametrize("gain", [0.1, 0.4, 0.9])
def test_linear_regression_gain_honoured(gain):
    data = datasets.linear_regression(n_inputs=4, n_outputs=3, gain=gain, seed=5)
    A, b = data.meta["A"], data.meta["b"]
    np.testing.assert_allclose(np.abs(A).sum(axis=1), gain, rtol=1e-12)
    assert np.all(np.abs(A).sum(axis=1) + np.abs(b) <= 1.0)  # realisable by a passive network
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        np.testing.assert_allclose(y, x @ A.T + b, atol=1e-12)
    # the map is recoverable from the data alone (least squares with a bias column)
    design = np.hstack([data.x_train, np.ones((data.n_train, 1))])
    coef = np.linalg.lstsq(design, data.y_train, rcond=None)[0]
    np.testing.assert_allclose(np.abs(coef[:-1]).sum(axis=0), gain, rtol=1e-9)


def test_linear_regression_noise_and_sizes():
    data = datasets.linear_regression(n_samples=4000, noise=0.1, seed=0, test_size=0.25)
    assert (data.n_train, data.n_test) == (3000, 1000)
    residual = data.y_train - (data.x_train @ data.meta["A"].T + data.meta["b"])
    assert abs(residual.std() - 0.1) < 0.01


@pytest.mark.parametrize("gain", [0.0, 1.0, 1.5])
def test_linear_regression_rejects_unrealisable_gain(gain):
    with pytest.raises(ValueError, match="gain"):
        datasets.linear_regression(gain=gain)


def test_load_errors():
    with pytest.raises(ValueError, match=r"'mnist'.*digits"):
        load("mnist")
    with pytest.raises(TypeError, match="n_samples"):
        load("iris", n_samples=10)
    with pytest.raises(ValueError, match="seed"):
        load("iris", seed=-1)
    with pytest.raises(ValueError, match="test_size"):
        load("digits", test_size=1.5)
    assert load("Linear-Regression").name == "linear_regression"


def test_dataset_validation():
    x, y = np.zeros((5, 2)), np.zeros((4, 1))
    with pytest.raises(ValueError, match="x_train has 5 rows but y_train has 4"):
        Dataset(x, y, x, np.zeros((5, 1)), task="regression")
    with pytest.raises(ValueError, match="task"):
        Dataset(x, np.zeros((5, 1)), x, np.zeros((5, 1)), task="ranking")
    with pytest.raises(ValueError, match="one-hot"):
        Dataset(x, np.full((5, 2), 0.5), x, np.full((5, 2), 0.5), task="classification",
                n_classes=2)
    regression = Dataset(x, np.zeros((5, 1)), x, np.zeros((5, 1)), task="regression")
    with pytest.raises(AttributeError, match="regression"):
        _ = regression.labels_train


def test_dataset_is_frozen():
    data = datasets.xor()
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.task = "regression"
    with pytest.raises(ValueError):
        data.x_train[0, 0] = 5.0
    assert "xor" in repr(data)


def test_validation_split_is_carved_from_the_training_set_by_class():
    data = datasets.digits()
    val = data.validation(fraction=0.2, seed=3)
    assert val.n_train + val.n_test == data.n_train and val.name == "digits/validation"
    # every held-out and kept sample is a training sample, none twice, no test sample
    rows = {r.tobytes() for r in data.x_train}
    assert all(r.tobytes() in rows for r in np.vstack([val.x_train, val.x_test]))
    assert not {r.tobytes() for r in val.x_test} & {r.tobytes() for r in val.x_train}
    share = np.bincount(val.labels_test, minlength=10) / np.bincount(data.labels_train)
    assert np.allclose(share, 0.2, atol=0.02)            # stratified
    np.testing.assert_array_equal(data.validation(seed=3).x_test, val.x_test)
    with pytest.raises(ValueError, match=r"fraction must be a fraction in \(0, 1\), got 1.5"):
        data.validation(fraction=1.5)
