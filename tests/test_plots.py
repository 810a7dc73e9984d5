"""physlearn.plots: learning curves, gradient error against β, sweeps, networks, plot CLI."""

import csv
from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

import physlearn
from physlearn import plots
from physlearn.experiment import datasets, runio
from physlearn.experiment.cli import main
from physlearn.systems import ElasticNetwork, Hamiltonian, IsingModel, ResistorNetwork

# -- helpers -----------------------------------------------------------------------------------


def titles(fig):
    """Every title of a figure: suptitle and axes titles."""
    found = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    return found + [ax.get_title() for ax in fig.axes if ax.get_title()]


def assert_nothing_clipped(fig):
    """Everything drawn (texts, tick labels, legends, colour bars) lies inside the canvas."""
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())      # inches, as bbox_inches="tight"
    width, height = fig.get_size_inches()
    tolerance = 0.02
    assert drawn.x0 >= -tolerance and drawn.y0 >= -tolerance, drawn
    assert drawn.x1 <= width + tolerance and drawn.y1 <= height + tolerance, drawn


def assert_png(path, min_height=200, min_width=300):
    """A real image: big enough, and not blank."""
    assert path.is_file(), path
    image = matplotlib.image.imread(path)
    assert image.shape[0] >= min_height and image.shape[1] >= min_width, image.shape
    assert image[..., :3].std() > 0.02, f"{path.name} is blank"


def write_results(path, rows):
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def sweep_rows(failed=True):
    """A synthetic sweep: rule.beta × train.seed, bias error ∝ β², plus a failed point."""
    rows = []
    for i, beta in enumerate([1e-3, 1e-2, 1e-1]):
        for seed in (0, 1, 2):
            noise = 1 + 0.05 * seed
            rows.append({"rule.beta": beta, "train.seed": seed, "key": f"{i}-{seed}",
                         "status": "done", "error": "", "train_loss": 0.1 * noise,
                         "test_loss": 0.2 * beta ** 0.5 * noise,
                         "test_accuracy": 0.9 - beta - 0.01 * seed,
                         "gradient_error": 3 * beta ** 2 * noise, "wall_time": 1.0,
                         "run_dir": ""})
    if failed:
        rows.append({"rule.beta": 10.0, "train.seed": 0, "key": "x", "status": "failed",
                     "error": "ConvergenceError: no equilibrium", "run_dir": ""})
    return rows


# -- fixtures: small real runs -----------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A regression run (linear_regression, squared error) and a classification run (iris,
    cross-entropy) of layered resistor networks, each in its run directory."""
    root = tmp_path_factory.mktemp("runs")
    regression = physlearn.train(
        ResistorNetwork.layered([3, 4, 2], seed=0), physlearn.EP(beta=1e-3),
        datasets.linear_regression(n_samples=40), epochs=2, optimizer="adam",
        run_dir=root / "regression", progress=False)
    iris = physlearn.train(
        ResistorNetwork.layered([4, 4, 3], seed=0), physlearn.EP(beta=1e-3), datasets.iris(),
        epochs=1, cost="cross_entropy", run_dir=root / "iris", progress=False)
    return {"regression": (root / "regression", regression), "iris": (root / "iris", iris)}


# -- learning curves ---------------------------------------------------------------------------


def test_learning_curve_of_a_history(runs):
    _, history = runs["regression"]
    fig = plots.learning_curve(history)
    (ax,) = fig.axes                                      # no accuracy recorded: one panel
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    assert "loss" in ax.get_ylabel() and "dimensionless" in ax.get_ylabel()
    assert titles(fig) and [t.get_text() for t in ax.get_legend().texts] == ["train", "test"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), history["train_loss"])
    assert_nothing_clipped(fig)

    fig = plots.learning_curve(history.records, cost=physlearn.SquaredError())
    assert "squared error" in fig.axes[0].get_ylabel()


def test_learning_curve_of_a_run_directory_names_cost_system_and_rule(runs):
    run_dir, history = runs["iris"]
    fig = plots.learning_curve(run_dir)
    loss_ax, accuracy_ax = fig.axes
    assert "cross-entropy" in loss_ax.get_ylabel()        # from config.toml's [cost]
    assert "accuracy" in accuracy_ax.get_ylabel() and accuracy_ax.get_ylim() == (-0.02, 1.02)
    assert "ResistorNetwork" in titles(fig)[0] and "EP" in titles(fig)[0]
    np.testing.assert_allclose(accuracy_ax.lines[1].get_ydata(), history["test_accuracy"])
    assert_nothing_clipped(fig)
    assert plots.learning_curve(run_dir / "history.jsonl").axes[0].get_ylabel() == \
        loss_ax.get_ylabel()


def test_learning_curve_on_given_axes_puts_the_metric_on_a_twin_axis(runs):
    _, history = runs["iris"]
    fig = Figure(layout="constrained")
    ax = fig.add_subplot()
    assert plots.learning_curve(history, ax=ax) is fig
    assert len(fig.axes) == 2 and ax.get_title()           # the loss axes and its twin
    legend = [t.get_text() for t in ax.get_legend().texts]
    assert legend == ["train loss", "test loss", "train accuracy", "test accuracy"]

    fig = plots.learning_curve(history, metric="grad_norm")
    assert "gradient norm" in fig.axes[1].get_ylabel()
    with pytest.raises(ValueError, match="recorded"):
        plots.learning_curve(history, metric="nonsense")


def test_per_epoch_curve_is_the_same_code_and_keeps_its_text_inside(tmp_path):
    # narrow loss range (every tick labelled), a long title and a long cost name
    records = [{"epoch": e, "train_loss": 1.0855 - 1e-4 * e, "test_loss": 1.0885 - 1e-4 * e,
                "train_accuracy": 0.7, "test_accuracy": 0.71} for e in range(4)]
    title = "NonlinearResistorNetwork trained with GeneralizedEP (centered, β\u00a0=\u00a00.001)"
    for accuracy in (True, False):
        rows = records if accuracy else [{k: v for k, v in r.items() if "acc" not in k}
                                         for r in records]
        fig = plots._learning_figure(rows, cost="cross-entropy", title=title, layout=None)
        assert fig.get_layout_engine() is None              # no layout engine every epoch
        assert_nothing_clipped(fig)
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
        assert len(set(labels)) == len(labels)              # ticks told apart
    path = runio.plot_learning_curve(records, tmp_path / "curve.png", cost="cross_entropy")
    assert_png(path)


# -- gradient error against β ------------------------------------------------------------------


def test_gradient_error_shows_the_bias_order_of_each_rule():
    net = ResistorNetwork.layered([3, 4, 2], seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), 0.3 * rng.normal(size=(4, 2))
    betas = np.geomspace(1e-3, 1e-1, 4)
    results = {f"EP {v}": physlearn.bias_order(net, physlearn.EP(beta=1e-3, variant=v), x, y,
                                               betas) for v in ("positive", "centered")}
    assert results["EP positive"].slope == pytest.approx(1, abs=0.1)
    assert results["EP centered"].slope == pytest.approx(2, abs=0.1)
    fig = plots.gradient_error(results)
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "β" in ax.get_xlabel() and "dimensionless" in ax.get_ylabel() and ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().texts]
    assert f"EP positive: p = {results['EP positive'].slope:.2f}" in legend
    assert f"EP centered: p = {results['EP centered'].slope:.2f}" in legend
    np.testing.assert_allclose(ax.lines[0].get_ydata(), results["EP positive"].errors)
    assert_nothing_clipped(fig)
    assert len(plots.gradient_error(results["EP centered"]).axes[0].get_legend().texts) == 2


# -- sweeps ------------------------------------------------------------------------------------


def test_sweep_metric_one_key_is_a_line_with_the_spread_over_seeds(tmp_path):
    write_results(tmp_path / "results.csv", sweep_rows())
    fig = plots.sweep_metric(tmp_path, "gradient_error")
    (ax,) = fig.axes
    (bars,) = ax.containers                                   # one errorbar line
    line = bars.lines[0]
    np.testing.assert_allclose(line.get_xdata(), [1e-3, 1e-2, 1e-1])   # failed β = 10 left out
    np.testing.assert_allclose(line.get_ydata(), 3 * np.array([1e-3, 1e-2, 1e-1]) ** 2 * 1.05)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "rule.beta" in ax.get_xlabel() and "gradient error" in ax.get_ylabel()
    (legend,) = [t.get_text() for t in ax.get_legend().texts]
    assert "mean ± sd over train.seed" in legend and "slope 2.00" in legend
    assert ax.get_title()
    assert_nothing_clipped(fig)

    accuracy = plots.sweep_metric(sweep_rows(), "test_accuracy").axes[0]   # rows work too
    assert accuracy.get_yscale() == "linear" and "fraction" in accuracy.get_ylabel()
    with pytest.raises(ValueError, match="finite 'test_mse'"):
        plots.sweep_metric(sweep_rows(), "test_mse")


def test_sweep_metric_two_keys_is_a_heat_map_or_lines():
    rows = [{"rule.beta": beta, "optimizer.lr": lr, "train.seed": seed, "status": "done",
             "test_loss": beta / lr * (1 + 0.1 * seed)}
            for beta in (0.01, 0.1, 1.0) for lr in (0.01, 0.1) for seed in (0, 1)]
    rows.append({"rule.beta": 0.01, "optimizer.lr": 1.0, "status": "failed"})
    fig = plots.sweep_metric(rows, "test_loss")
    ax, bar = fig.axes                                         # the map and its colour bar
    (image,) = ax.images
    assert image.get_array().shape == (2, 3)                   # lr rows × beta columns
    assert image.get_array()[0, 0] == pytest.approx(0.01 / 0.01 * 1.05)
    assert "rule.beta" in ax.get_xlabel() and "optimizer.lr" in ax.get_ylabel()
    assert "test loss" in bar.get_ylabel() and "mean over train.seed" in bar.get_ylabel()
    assert_nothing_clipped(fig)

    fig = plots.sweep_metric(rows, "test_loss", kind="lines")
    assert len(fig.axes[0].containers) == 2                    # one line per learning rate
    assert_nothing_clipped(fig)
    with pytest.raises(ValueError, match="two swept parameters"):
        plots.sweep_metric(sweep_rows(), "test_loss", kind="heatmap")


# -- networks ----------------------------------------------------------------------------------


def test_network_colours_each_resistor_by_its_conductance():
    net = ResistorNetwork.layered([3, 4, 2], seed=0)
    g = np.linspace(0.1, 1.0, len(net.edges))[::-1].copy()
    net.params = {"conductance": g}
    fig = plots.network(net)
    ax, bar = fig.axes
    (edges,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(edges.get_segments()) == len(net.edges)
    expected = matplotlib.colormaps["viridis"](Normalize(g.min(), g.max())(g))
    np.testing.assert_allclose(edges.get_edgecolor(), expected)
    layer = {"h": 1.0, "out": 2.0}                             # sources, hidden, outputs

    def depth(node):
        return layer.get(node[0], 0.0) if isinstance(node, tuple) else 0.0

    for (a, b), segment in zip(net.edges, edges.get_segments()):
        assert tuple(segment[:, 0]) == (depth(a), depth(b))   # edge order = params order
    assert "conductance" in bar.get_ylabel() and "conductance" in ax.get_title()
    assert {"input", "output", "ground", "bias source", "hidden"} <= {
        t.get_text() for t in ax.get_legend().texts}
    assert_nothing_clipped(fig)


def test_network_of_other_systems_and_errors():
    elastic = plots.network(ElasticNetwork.random(12, seed=0), "rest_length")
    ax = elastic.axes[0]
    assert "position" in ax.get_xlabel() and "rest length" in elastic.axes[1].get_ylabel()
    assert_nothing_clipped(elastic)

    ising = IsingModel.layered([2, 3, 2], seed=0)
    fig = plots.network(ising, "h", ax=Figure(layout="constrained").add_subplot())
    assert "nodes coloured by h" in fig.axes[0].get_title()
    fig = plots.network(ising)                                  # signed J: centred on zero
    assert fig.axes[1].get_ylim()[0] == pytest.approx(-fig.axes[1].get_ylim()[1])

    with pytest.raises(ValueError, match="Hamiltonian has no network"):
        plots.network(Hamiltonian.duffing())
    with pytest.raises(ValueError, match="edge parameters"):
        plots.network(ising, "conductance")
    with pytest.raises(ValueError, match="values"):
        plots.network(ising, np.ones(3))


# -- physlearn plot ----------------------------------------------------------------------------


def test_physlearn_plot_on_a_run_directory(runs, capsys):
    run_dir, _ = runs["iris"]
    per_epoch = matplotlib.image.imread(run_dir / "learning_curve.png")
    (run_dir / "network.png").unlink(missing_ok=True)
    assert main(["plot", str(run_dir)]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(run_dir / "learning_curve.png"), str(run_dir / "network.png")]
    assert_png(run_dir / "learning_curve.png")
    assert_png(run_dir / "network.png")
    # the figure the run drew at its last epoch, redrawn identically
    np.testing.assert_array_equal(matplotlib.image.imread(run_dir / "learning_curve.png"),
                                  per_epoch)


def test_physlearn_plot_on_a_sweep_directory(tmp_path, capsys):
    write_results(tmp_path / "results.csv", sweep_rows())
    assert main(["plot", str(tmp_path)]) == 0
    paths = [Path(p) for p in capsys.readouterr().out.split()]
    assert paths == [tmp_path / f"sweep_{m}.png" for m in ("test_loss", "test_accuracy",
                                                           "gradient_error")]
    for path in paths:
        assert_png(path)

    regression_only = [{k: v for k, v in r.items() if k not in ("test_accuracy",
                                                                "gradient_error")}
                       for r in sweep_rows()]
    (tmp_path / "two").mkdir()
    write_results(tmp_path / "two" / "results.csv", regression_only)
    assert [p.name for p in plots.plot_directory(tmp_path / "two")] == ["sweep_test_loss.png"]


def test_physlearn_plot_refuses_a_folder_that_is_neither(tmp_path, capsys):
    with pytest.raises(ValueError, match="neither a run directory.*nor a sweep directory"):
        plots.plot_directory(tmp_path)
    assert main(["plot", str(tmp_path)]) == 2
    assert "results.csv" in capsys.readouterr().err


def test_seed_band_draws_the_mean_and_the_sample_sd():
    fig = Figure()
    ax = fig.subplots()
    curves = np.array([[1.0, 2.0, 4.0], [3.0, 2.0, 8.0]])
    mean, sd = plots.seed_band(ax, curves, label="two seeds")
    np.testing.assert_array_equal(mean, [2.0, 2.0, 6.0])
    np.testing.assert_allclose(sd, [np.sqrt(2.0), 0.0, np.sqrt(8.0)])      # ddof=1
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), mean)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.min(), mean[0] - sd[0]) and np.isclose(band.max(), mean[2] + sd[2])
    _, single = plots.seed_band(ax, curves[:1])
    np.testing.assert_array_equal(single, 0.0)
