"""The figure audit finds what a reader would miss, and fast mode refuses a mistyped switch."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from physlearn.experiment.fast import fast_mode  # noqa: E402
from physlearn.experiment.figure_check import figure_problems  # noqa: E402


def _good():
    fig, (a, b) = plt.subplots(1, 2, figsize=(7, 3), layout="constrained")
    a.plot([1, 2], [3, 4], label="EP")
    a.set(title="bias", xlabel="β (dimensionless)", ylabel="error (dimensionless)")
    a.legend()
    image = b.imshow(np.eye(3))
    b.set(title="conductances", xlabel="node", ylabel="node")
    fig.colorbar(image, ax=b, label="g (S)")
    return fig


def test_a_published_figure_has_no_problems():
    fig = _good()
    assert figure_problems(fig) == []
    plt.close(fig)


@pytest.mark.parametrize("spoil, expected", [
    (lambda fig: fig.axes[0].set_title(""), "no title"),
    (lambda fig: fig.axes[0].set_xlabel(""), "axes 1 of 3: the x axis"),
    (lambda fig: fig.axes[2].set_ylabel(""), "colour bar without a label"),
    (lambda fig: fig.text(0.98, 0.5, "a long note that runs off the edge"), "clipped"),
    (lambda fig: fig.axes[1].set_title("x" * 400), "axes 2 of 3: its labels or title are"),
])
def test_each_missing_piece_is_named(spoil, expected):
    fig = _good()
    spoil(fig)
    problems = figure_problems(fig)
    assert any(expected in p for p in problems), problems
    plt.close(fig)


def test_suptitle_suffices_and_hidden_axes_need_no_label():
    fig, axes = plt.subplots(2, 2, sharex=True, sharey=True, layout="constrained")
    fig.suptitle("four panels")
    for ax in axes.flat:
        ax.plot([0, 1])
        ax.label_outer()
    for ax in axes[1]:
        ax.set_xlabel("t (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("V (V)")
    assert figure_problems(fig) == []
    fig.axes[0].set_ylabel("")
    assert figure_problems(fig) == ["axes 1 of 4: the y axis has tick labels but no label"]
    plt.close(fig)


def test_a_twin_axis_shares_the_title_and_the_x_axis():
    fig, ax = plt.subplots(layout="constrained")
    ax.plot([0, 1], [0, 1])
    ax.set(title="gap and error", xlabel="h / J", ylabel="error (dimensionless)")
    twin = ax.twinx()
    twin.plot([0, 1], [1, 0])
    assert figure_problems(fig) == ["axes 2 of 2: the y axis has tick labels but no label"]
    twin.set_ylabel("gap Δ / J")
    assert figure_problems(fig) == []
    plt.close(fig)


def test_tight_saving_skips_the_clipping_check():
    fig = _good()
    fig.text(0.98, 0.5, "a long note that runs off the edge")
    assert any("clipped" in p for p in figure_problems(fig))
    assert figure_problems(fig, tight=True) == []
    plt.close(fig)


@pytest.mark.parametrize("value, expected", [("", False), ("0", False), ("1", True),
                                             (" 1 ", True)])
def test_fast_mode_values(monkeypatch, value, expected):
    monkeypatch.setenv("PHYSLEARN_FAST", value)
    assert fast_mode() is expected


def test_fast_mode_unset_and_typo(monkeypatch):
    monkeypatch.delenv("PHYSLEARN_FAST", raising=False)
    assert fast_mode() is False
    monkeypatch.setenv("PHYSLEARN_FAST", "yes")
    with pytest.raises(ValueError, match="PHYSLEARN_FAST='yes'"):
        fast_mode()


def test_accuracy_curves_is_publishable():
    from physlearn.experiment.plots import accuracy_curves

    fig = accuracy_curves({"EP": [[10, 50, 80], [12, 55, 82]], "BP": [[10, 60, 90]]},
                          title="digits (2 seeds)", bar=85)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["EP", "BP", "bar 85 %"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [11, 52.5, 81])
    assert figure_problems(fig) == []
