"""Feedforward-tied energy-based models (physlearn.systems.ffebm.FFEBM, Nest & Ernoult 2024).

The chained EP rule against the end-to-end exact gradient (backprop + implicit
differentiation), that reference against finite differences of the loss, the bias orders of
the nudge pairs, the one-block case (exactly EP on a Hopfield network), parameter routing and
seeds, and which rules apply. Sizes are small: every test runs in about a second.
"""

import numpy as np
import pytest

import physlearn as pl
from physlearn import testing
from physlearn.check import fit_slope, relative_error
from physlearn.experiment import datasets
from physlearn.parameters import ReadOnlyParameterError
from physlearn.reference import finite_difference_gradient
from physlearn.registry import RULES, make_system
from physlearn.systems import FFEBM, HopfieldNetwork, Linear
from physlearn.systems.hopfield import Conv


def cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def flat(grads, keys):
    return np.concatenate([np.ravel(grads[k]) for k in keys])


@pytest.fixture(scope="module")
def digits_chain():
    """Linear 64→32 (sigmoid) → Hopfield [32, 40, 20] → Linear 20→10 on 16 digits, with its
    exact gradient (library defaults: gains 1, seed 0)."""
    data = datasets.digits(scaling="intensity")
    x, y = data.x_train[:16], data.y_train[:16]
    model = FFEBM([Linear(64, 32, "sigmoid"), HopfieldNetwork([32, 40, 20]), Linear(20, 10)])
    return model, x, y, pl.exact_gradient(model, x, y)


def small_chain(**kw):
    return FFEBM([Linear(3, 4, "tanh"), HopfieldNetwork([4, 5, 3]), Linear(3, 2, "sigmoid")],
                 **kw)


def problem(n_features, n_outputs, batch=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, n_features)), 0.3 * rng.normal(size=(batch, n_outputs))


# -- the acceptance test: chained EP against the exact gradient on digits ---------------------
def test_centered_chained_ep_matches_the_exact_gradient_on_digits(digits_chain):
    model, x, y, exact = digits_chain
    g = pl.EP(beta=1e-3, variant="centered").gradient(model, x, y)
    assert set(g) == set(model.params) == set(exact)
    for k in exact:
        assert g[k].shape == model.params[k].shape and g[k].dtype == np.float64
        assert cosine(g[k], exact[k]) >= 0.999, k
    assert cosine(flat(g, exact), flat(exact, exact)) >= 0.999
    assert relative_error(g, exact) < 1e-4


@pytest.mark.parametrize("variant,order", [("positive", 1), ("negative", 1), ("centered", 2)])
def test_bias_order_of_the_nudge_pairs(digits_chain, variant, order):
    """Error ∝ β for the one-sided pairs, ∝ β² for the centered one. Fitted slopes over
    β = 1e-3 … 8e-3 were 1.04 (positive), 0.97 (negative), 2.00 (centered); over 4e-3 … 3.2e-2
    the positive slope bends up to 1.23 (higher orders), so the fit stays at small β."""
    model, x, y, exact = digits_chain
    betas = np.array([0.001, 0.002, 0.004, 0.008])
    errors = np.array([relative_error(pl.EP(beta=b, variant=variant).gradient(model, x, y),
                                      exact) for b in betas])
    assert abs(fit_slope(betas, errors) - order) < 0.15, errors


def test_centered_is_the_mean_of_positive_and_negative():
    model = small_chain()
    x, y = problem(3, 2)
    g = {v: pl.EP(beta=1e-2, variant=v).gradient(model, x, y)
         for v in ("positive", "negative", "centered")}
    for k in model.params:
        np.testing.assert_allclose(g["centered"][k], 0.5 * (g["positive"][k] + g["negative"][k]),
                                   rtol=1e-9, atol=1e-12)


# -- the exact reference against finite differences --------------------------------------------
@pytest.mark.parametrize("cost", [pl.SquaredError(), pl.CrossEntropy()], ids=["se", "ce"])
@pytest.mark.parametrize("blocks", [
    lambda: [Linear(3, 4, "tanh"), HopfieldNetwork([4, 5, 3]), Linear(3, 2, "sigmoid")],
    lambda: [HopfieldNetwork([3, 4, 3], seed=2), HopfieldNetwork([3, 4, 2], seed=3)],
    lambda: [HopfieldNetwork([3, 4], seed=4), Linear(4, 3, "tanh"),
             HopfieldNetwork([3, 3, 2], activation="tanh", seed=5)],
], ids=["linear-hopfield-linear", "hopfield-hopfield", "hopfield-linear-hopfield"])
def test_exact_gradient_matches_finite_differences(blocks, cost):
    model = FFEBM(blocks())
    x, y = problem(model.n_features, model.n_outputs)
    exact = pl.exact_gradient(model, x, y, cost)
    fd = finite_difference_gradient(model, x, y, cost, h=1e-6)
    assert relative_error(exact, fd) < 1e-6


def test_chained_ep_through_two_energy_blocks_matches_the_exact_gradient():
    """An energy block feeding another one through its activity ρ(s_L)."""
    model = FFEBM([HopfieldNetwork([3, 4, 3], seed=2), HopfieldNetwork([3, 4, 2], seed=3)])
    x, y = problem(3, 2)
    exact = pl.exact_gradient(model, x, y)
    errors = [relative_error(pl.EP(beta=b, variant="centered").gradient(model, x, y), exact)
              for b in (2e-3, 1e-3)]
    assert errors[1] < 1e-5
    assert 3.0 < errors[0] / errors[1] < 5.0          # O(β²)


def test_feedforward_only_chain_is_backprop():
    """Without energy blocks the rule is plain backprop: equal to the exact gradient at every
    β, which matches finite differences."""
    model = FFEBM([Linear(3, 5, "sigmoid"), Linear(5, 4, "tanh"), Linear(4, 2)])
    x, y = problem(3, 2)
    exact = pl.exact_gradient(model, x, y)
    assert relative_error(exact, finite_difference_gradient(model, x, y, h=1e-6)) < 1e-7
    for variant in ("positive", "centered"):
        g = pl.EP(beta=0.5, variant=variant).gradient(model, x, y)
        for k in exact:
            np.testing.assert_allclose(g[k], exact[k], rtol=1e-12, atol=1e-15)


def test_convolutional_energy_block_reads_images():
    net = HopfieldNetwork([[1, 6, 6], Conv(2, 3), 4])
    model = FFEBM([net, Linear(4, 2)])
    images = np.random.default_rng(0).uniform(size=(2, 1, 6, 6))
    np.testing.assert_allclose(model.predict(images), model.predict(images.reshape(2, -1)),
                               rtol=0, atol=0)
    y = np.array([[0.1, -0.2], [0.3, 0.0]])
    exact = pl.exact_gradient(model, images, y)
    g = pl.EP(beta=1e-3, variant="centered").gradient(model, images, y)
    assert relative_error(g, exact) < 1e-5


# -- one energy block: exactly EP on it ---------------------------------------------------------
@pytest.mark.parametrize("variant", ["positive", "centered"])
def test_one_block_is_exactly_ep_on_that_network(variant):
    net = HopfieldNetwork([3, 5, 2], seed=7)
    model = FFEBM([net])
    x, y = problem(3, 2, batch=4)
    np.testing.assert_array_equal(model.predict(x), net.predict(x))
    rule = pl.EP(beta=1e-2, variant=variant)
    ours, theirs = rule.gradient(model, x, y), rule.gradient(net, x, y)
    assert set(ours) == {f"0.{k}" for k in theirs}
    for k in theirs:
        np.testing.assert_allclose(ours[f"0.{k}"], theirs[k], rtol=0, atol=1e-12)
    ex_ours, ex_theirs = pl.exact_gradient(model, x, y), pl.exact_gradient(net, x, y)
    for k in ex_theirs:
        np.testing.assert_allclose(ex_ours[f"0.{k}"], ex_theirs[k], rtol=0, atol=1e-12)


# -- parameters, blocks, seeds -------------------------------------------------------------------
def test_parameters_are_prefixed_and_routed_to_the_blocks():
    model = small_chain()
    assert list(model.param_shapes) == ["0.W", "0.b", "1.W1", "1.W2", "1.b1", "1.b2",
                                        "2.W", "2.b"]
    assert model.param_shapes["1.W2"] == (3, 5)
    x, _ = problem(3, 2)
    before = model.predict(x)
    new = model.params.copy()
    new["1.b2"] = new["1.b2"] + 0.5
    model.params = new
    assert not np.allclose(model.predict(x), before)
    np.testing.assert_array_equal(model._blocks[1].params["b2"], new["1.b2"])
    new["1.b2"][0] = 99.0                      # the caller's array does not reach the model
    assert model.params["1.b2"][0] != 99.0
    with pytest.raises(ReadOnlyParameterError, match=r"params\['0.W'\] is read-only"):
        model.params["0.W"][0, 0] = 1.0


def test_instances_are_copied_and_keep_their_parameters():
    net = HopfieldNetwork([4, 5, 3], seed=3)
    lin = Linear(3, 4, "tanh", seed=9)
    model = FFEBM([lin, net])
    np.testing.assert_array_equal(model.params["1.W1"], net.params["W1"])
    np.testing.assert_array_equal(model.params["0.W"], lin.params["W"])
    new = model.params.copy()
    new["1.W1"] = 0 * new["1.W1"]
    model.params = new
    assert np.any(net.params["W1"] != 0)      # the instance given is not changed


def test_config_dicts_build_the_same_model_as_instances():
    blocks = [{"kind": "linear", "n_in": 3, "n_out": 4, "activation": "sigmoid"},
              {"kind": "hopfield", "layers": [4, 5, 3]}]
    from_dicts = FFEBM(blocks, seed=5)
    from_instances = FFEBM([Linear(3, 4, "sigmoid", seed=5), HopfieldNetwork([4, 5, 3], seed=6)])
    for k, v in from_instances.params.items():
        np.testing.assert_array_equal(from_dicts.params[k], v)
    again = FFEBM(blocks, seed=5)
    other = FFEBM(blocks, seed=6)
    np.testing.assert_array_equal(again.params["0.W"], from_dicts.params["0.W"])
    assert not np.array_equal(other.params["0.W"], from_dicts.params["0.W"])
    assert FFEBM(blocks).get_params(deep=False) == {"blocks": blocks, "seed": 0}


def test_registered_default_and_config_build():
    model = make_system("ff-ebm")
    assert isinstance(model, FFEBM)
    assert model.capabilities == frozenset({"chained_nudge"})
    from physlearn.experiment.config import build

    experiment = build("examples/configs/ff-ebm.toml")
    assert isinstance(experiment.system, FFEBM)
    assert experiment.system.n_features == 64 and experiment.system.n_outputs == 10


# -- the contract suite and which rules apply ----------------------------------------------------
def test_contract_suite_skips_what_a_chain_does_not_have():
    model = make_system("ff-ebm")
    x, y = problem(model.n_features, model.n_outputs, batch=4)
    status = testing.check_system(model, x, y)
    for name in ("energy_gradient", "param_gradient", "residual_free", "residual_soft",
                 "residual_clamp"):
        assert status[name].startswith("skipped: FFEBM has no"), (name, status[name])
    for name in ("params_round_trip", "params_refused", "inputs_refused", "exact_gradient"):
        assert status[name] == "passed", (name, status[name])


def test_only_ep_rules_pair_with_ff_ebm():
    paired = {r for s, r, _ in testing.pairs() if s == "ff-ebm"}
    assert paired == {name for name in RULES if name.startswith("ep-")}
    for rule in ("ep-centered", "ep-positive", "ep-negative"):
        result = testing.check_pair("ff-ebm", rule)
        assert result.passed, result.report()


@pytest.mark.parametrize("rule", [pl.HolomorphicEP(beta=0.02, points=3),
                                  pl.ContrastiveLearning(), pl.CoupledLearning(),
                                  pl.GeneralizedEP(beta=1e-3, points=2), pl.RHEL(eps=1e-3)],
                         ids=lambda r: type(r).__name__)
def test_other_rules_refuse_a_chain(rule):
    model = small_chain()
    x, y = problem(3, 2)
    with pytest.raises(ValueError, match=r"needs \[.*\], which FFEBM does not offer"):
        rule.gradient(model, x, y)


def test_training_lowers_the_loss():
    model = FFEBM([Linear(4, 6, "tanh"), HopfieldNetwork([6, 6, 3])])
    data = datasets.iris()
    from physlearn.experiment.train import train

    history = train(model, pl.EP(beta=0.01), data, epochs=2, batch_size=16,
                    optimizer=pl.optim.Adam(lr=0.03), progress=False)
    assert history["test_loss"][-1] < history["test_loss"][0]
