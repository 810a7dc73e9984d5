"""Figures of runs, sweeps and systems (importable as ``physlearn.plots``).

Every plotting function takes ``ax=`` (a matplotlib Axes to draw into; default: a new figure
with constrained layout, made without pyplot's global state) and returns the figure. Figures
carry a title, labelled axes with units (``dimensionless`` in physlearn's reduced units) and a
legend or colour bar; losses and errors are drawn on logarithmic axes, where power laws are
straight lines.

* :func:`learning_curve` — loss (and accuracy) against epoch of a run;
* :func:`gradient_error` — a rule's gradient error against the nudge strength β, log-log, with
  the fitted slope (the measured bias order) per rule;
* :func:`sweep_metric` — a final metric against the swept parameters of a sweep (lines with
  mean ± sd over seeds, or a heat map for two parameters);
* :func:`network` — a network drawn with its edges (or nodes) coloured by a parameter;
* :func:`plot_directory` — the standard figures of a run or sweep directory
  (``physlearn plot DIR``);
* :func:`seed_band` — the mean of per-seed curves with a band of ± their sample sd;
* :func:`figure_dir` — where examples put their figures.

Matplotlib is imported on first use, so ``import physlearn`` stays light.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from ..check import BiasOrder
    from ..costs import Cost
    from ..system import System
    from .train import History

__all__ = ["figure_dir", "accuracy_curves", "learning_curve", "gradient_error", "sweep_metric",
           "network", "plot_directory", "read_results", "save_figure", "seed_band"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike

_RUN_FILES = ("history.jsonl", "config.toml")
_SWEEP_FILES = ("results.jsonl", "results.csv")   # JSON keeps the types
_SWEEP_METRICS = ("test_loss", "test_accuracy", "gradient_error")


def figure_dir(script: PathLike | None = None) -> Path:
    """The folder for figures: ``$PHYSLEARN_FIGURES``, else ``figures/`` beside ``script``.

    Parameters
    ----------
    script : str or path, optional
        The calling script's ``__file__`` (None in a notebook: ``./figures`` is used).

    Returns
    -------
    pathlib.Path
        The folder, created if needed.
    """
    base = Path(script).resolve().parent if script else Path.cwd()
    folder = Path(os.environ.get("PHYSLEARN_FIGURES", base / "figures"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- shared helpers ----------------------------------------------------------------------------


def _new_axes(figsize, *, layout="constrained"):
    """One Axes on a new figure with an Agg canvas (no pyplot, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def seed_band(ax: Axes, curves: ArrayLike, *, label: str | None = None, alpha: float = 0.2,
              **line) -> tuple[np.ndarray, np.ndarray]:
    """Draw the mean of per-seed curves with a band of ± their sample sd (``ddof=1``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    curves : array_like, shape (n_seeds, n_points)
        One curve per seed (e.g. test accuracy per epoch); with one seed the band is empty.
    label : str, optional
        Legend label of the mean line.
    alpha : float, default 0.2
        Opacity of the band.
    **line
        Further keyword arguments of the mean line (default ``marker="o"``).

    Returns
    -------
    tuple of ndarray
        The mean and the sample sd drawn, each of shape (n_points,).
    """
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    mean = curves.mean(axis=0)
    sd = curves.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(mean.shape)
    ax.plot(mean, label=label, **{"marker": "o", **line})
    ax.fill_between(np.arange(len(mean)), mean - sd, mean + sd, alpha=alpha)
    return mean, sd


def accuracy_curves(curves: Mapping[str, ArrayLike], *, title: str, bar: float | None = None,
                    figsize: tuple[float, float] = (6, 4)) -> Figure:
    """Test accuracy against epoch, one seed band per setting, on a new figure.

    Parameters
    ----------
    curves : mapping of str to array_like
        Setting (the legend label) → per-seed curves of shape (n_seeds, n_epochs + 1), in
        percent; epoch 0 is the untrained network.
    title : str
        The axes title (name the task, the network and the number of seeds).
    bar : float, optional
        An accuracy to reach (percent), drawn as a dotted line.
    figsize : tuple of float, default (6, 4)
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        With constrained layout, labelled axes, integer epoch ticks and a legend.
    """
    from matplotlib.ticker import MaxNLocator

    ax = _new_axes(figsize)
    for label, runs in curves.items():
        seed_band(ax, runs, label=label)
    if bar is not None:
        ax.axhline(bar, color="k", ls=":", label=f"bar {bar:g} %")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    return ax.figure


def save_figure(fig, path: PathLike, *, dpi: int = 150) -> Path:
    """Save a figure atomically (readers never see a half-written image).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, e.g. as returned by the functions of this module.
    path : str or os.PathLike
        Output file; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).
    dpi : int, default 150
        Resolution of raster formats.

    Returns
    -------
    pathlib.Path
        The output path.
    """
    from .runio import _atomic_file

    path = Path(path)
    with _atomic_file(path) as handle:
        fig.savefig(handle, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    return path


def _words(name) -> str:
    """``"physlearn.costs:SquaredError"``, ``"squared_error"`` → ``"squared error"``."""
    text = str(name).rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text).replace("_", " ").replace("-", " ")
    text = " ".join(text.lower().split())
    return {"cross entropy": "cross-entropy"}.get(text, text)


def _fmt(value) -> str:
    """Short text of a parameter value (``1e-03`` → ``0.001``, ``[3, 8, 2]`` kept)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def _spans_decades(values, factor=10.0) -> bool:
    """All values positive and spanning at least ``factor``: draw them on a log axis."""
    values = _finite(values)
    return values.size > 1 and bool(np.all(values > 0)) and values.max() >= factor * values.min()


# -- learning curves ---------------------------------------------------------------------------

_METRIC_LABELS = {
    "accuracy": ("accuracy", "fraction correct"),
    "loss": ("loss", "dimensionless"),
    "grad_norm": (r"gradient norm $\|\hat g\|$", "dimensionless"),
    "gradient_error": (r"relative gradient error $\|\hat g - g\|/\|g\|$", "dimensionless"),
    "seconds": ("time per epoch", "s"),
    "wall_time": ("wall time", "s"),
}


def _metric_label(metric: str, cost: str | None = None, *, unit=True) -> str:
    """Axis label of a recorded quantity, e.g. ``test_loss`` → ``test loss, squared error``."""
    split = metric.split("_", 1)
    prefix, base = (split[0] + " ", split[1]) if split[0] in ("train", "test") and \
        len(split) == 2 else ("", metric)
    name, units = _METRIC_LABELS.get(base, (_words(base), "dimensionless"))
    if base == "loss" and cost:
        name = f"{cost} loss"
    text = f"{prefix}{name}"
    return f"{text} ({units})" if unit else text


def _cost_name(cost) -> str | None:
    """Readable name of a cost given as an object, a class path, a registry name or a table."""
    if cost is None:
        return None
    if isinstance(cost, Mapping):
        cost = cost.get("name") or cost.get("class")
        return None if cost is None else _words(cost)
    if isinstance(cost, str):
        return _words(cost)
    return _words(type(cost).__name__)


def _run_context(config: Mapping | None) -> dict:
    """Cost name and a title (system, rule and its nudge) from a run's config."""
    if not config:
        return {"cost": None, "title": None}
    system = config.get("system", {})
    rule = config.get("rule", {})
    system_name = system.get("builder") or system.get("class")
    rule_name = rule.get("name") or rule.get("class")
    title = None
    if system_name or rule_name:
        system_name = str(system_name or "system").rsplit(":", 1)[-1]
        rule_text = str(rule_name or "a rule").rsplit(":", 1)[-1]
        details = [str(rule["variant"])] if isinstance(rule.get("variant"), str) else []
        for key, symbol in (("beta", "β"), ("eta", "η")):
            if isinstance(rule.get(key), (int, float)) and not isinstance(rule[key], bool):
                details.append(f"{symbol}\u00a0=\u00a0{_fmt(rule[key])}")  # unbroken
        if details:
            rule_text += f" ({', '.join(details)})"
        title = f"{system_name} trained with {rule_text}"
    return {"cost": _cost_name(config.get("cost")), "title": title}


def _read_run_config(folder: Path) -> dict | None:
    from .runio import read_toml

    path = folder / "config.toml"
    if not path.is_file():
        return None
    try:
        return read_toml(path)
    except (OSError, ValueError) as err:
        logger.warning("cannot read %s: %s", path, err)
        return None


def _history_records(history) -> tuple[list[dict], dict | None]:
    """Records of a History, a list of records, a run directory or a history.jsonl file."""
    from .runio import read_jsonl

    if isinstance(history, (str, os.PathLike)):
        path = Path(history)
        folder, log = (path, path / "history.jsonl") if path.is_dir() else (path.parent, path)
        if not log.is_file():
            raise FileNotFoundError(f"{str(path)!r} has no history.jsonl: expected a run "
                                    "directory written by physlearn.train(..., run_dir=...)")
        return read_jsonl(log), _read_run_config(folder)
    records = getattr(history, "records", history)
    return [dict(r) for r in records], None


def _column(records, key):
    """Epochs and finite values of ``key`` over the records that have it."""
    pairs = [(r.get("epoch", i), r[key]) for i, r in enumerate(records)
             if isinstance(r.get(key), (int, float)) and not isinstance(r[key], bool)
             and math.isfinite(r[key])]
    if not pairs:
        return np.empty(0), np.empty(0)
    epochs, values = zip(*pairs)
    return np.asarray(epochs, dtype=float), np.asarray(values, dtype=float)


def _series(records, name):
    """``[(label, key)]`` of a quantity: its train and test columns, or the column itself."""
    found = [(split, f"{split}_{name}") for split in ("train", "test")
             if _column(records, f"{split}_{name}")[0].size]
    if not found and _column(records, name)[0].size:
        found = [(_metric_label(name, unit=False), name)]
    return found


def _wrap(title: str, chars: int) -> str:
    """Break a long title before its parenthesis, else between words."""
    import textwrap

    if len(title) <= chars:
        return title
    head, paren, tail = title.partition(" (")
    if paren and len(head) <= chars and len(tail) < chars:
        return f"{head}\n({tail}"
    return textwrap.fill(title, chars)


def _log_ticks(axis, values):
    """Plain tick labels (``0.085``) on a log axis spanning less than a decade, where the
    default labels every minor tick as ``8.5×10⁻²``; as many digits as tell the ticks apart."""
    from matplotlib.ticker import Formatter

    class Plain(Formatter):
        digits = 3

        def __call__(self, x, pos=None):
            return f"{x:.{self.digits}g}"

        def format_ticks(self, values):
            for self.digits in range(2, 9):
                labels = [self(v) for v in values]
                if len(set(labels)) == len(labels):
                    break
            return labels

    if not _spans_decades(values) and _finite(values).size:
        axis.set_major_formatter(Plain())
        axis.set_minor_formatter(Plain())


def _learning_figure(records, *, metric=None, cost=None, title=None, ax=None,
                     layout="constrained"):
    """The learning-curve figure (shared by :func:`learning_curve` and the per-epoch
    ``learning_curve.png`` of a run directory, which passes ``layout=None``)."""
    from matplotlib.ticker import MaxNLocator

    records = list(records)
    metric_name = metric
    if metric_name is None:
        metric_name = "accuracy" if _series(records, "accuracy") else None
    elif not _series(records, metric_name):
        available = sorted({k for r in records for k in r} - {"epoch"})
        raise ValueError(f"metric={metric!r} is not recorded; recorded: {available}")
    metric_series = _series(records, metric_name) if metric_name else []
    title = title or "Learning curve"

    if ax is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        panels = 2 if metric_series else 1
        width, height = (9.6, 4.0) if panels == 2 else (5.4, 4.0)
        title = _wrap(title, int(width * 9.5))
        fig = Figure(figsize=(width, height), layout=layout)
        FigureCanvasAgg(fig)
        axes = list(fig.subplots(1, panels, squeeze=False)[0])
        if layout is None:
            # fixed margins in inches (no layout engine: this figure is redrawn every epoch),
            # wide enough for the labels and the tick labels of _log_ticks
            top = 0.3 + 0.25 * (title.count("\n") + 1)
            fig.subplots_adjust(left=1.0 / width, right=1 - 0.2 / width, bottom=0.6 / height,
                                top=1 - top / height,
                                wspace=1.1 / ((width - 1.2 - 1.1 * (panels - 1)) / panels))
        fig.suptitle(title)
        loss_ax, metric_ax = axes[0], (axes[1] if metric_series else None)
    else:
        loss_ax = ax
        metric_ax = ax.twinx() if metric_series else None
        ax.set_title(title)

    marker = "." if len(records) <= 60 else None       # dots would hide a long curve
    styles = {"train": {"color": "C0"}, "test": {"color": "C1"}}
    for split, key in (("train", "train_loss"), ("test", "test_loss")):
        epochs, values = _column(records, key)
        positive = values > 0                    # a log axis cannot show a zero loss
        if positive.any():
            loss_ax.plot(epochs[positive], values[positive], marker=marker, label=split,
                         **styles[split])
    loss_ax.set_yscale("log")
    _log_ticks(loss_ax.yaxis, [v for line in loss_ax.lines for v in line.get_ydata()])
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel(_metric_label("loss", cost))
    loss_ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    if metric_series:
        twin = metric_ax is not loss_ax and ax is not None
        for split, key in metric_series:
            epochs, values = _column(records, key)
            label = f"{split} {_metric_label(metric_name, unit=False)}" if twin and split in (
                "train", "test") else split
            metric_ax.plot(epochs, values, marker=marker, linestyle="--" if twin else "-",
                           label=label, **styles.get(split, {"color": "C2"}))
        metric_ax.set_ylabel(_metric_label(metric_name))
        if metric_name == "accuracy":
            metric_ax.set_ylim(-0.02, 1.02)
        metric_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if twin:
            for line in loss_ax.lines:
                line.set_label(f"{line.get_label()} loss")
            handles = loss_ax.lines + metric_ax.lines
            loss_ax.legend(handles, [h.get_label() for h in handles], fontsize="small")
        else:
            metric_ax.set_xlabel("epoch")
            metric_ax.legend()
    if loss_ax.lines and not (metric_series and ax is not None):
        loss_ax.legend()
    return loss_ax.figure


def learning_curve(history: History | list[dict] | PathLike, *, metric: str | None = None,
                   cost: Cost | str | None = None, ax: Axes | None = None) -> Figure:
    """Train and test loss (log axis) and a metric (accuracy) against epoch.

    Parameters
    ----------
    history : physlearn.History, list of dict, or path
        The records of a run (``epoch``, ``train_loss``, ``test_loss``, optionally
        ``train_accuracy``, ``test_accuracy``, ...), or a run directory (or its
        ``history.jsonl``), whose ``config.toml`` then names the cost, system and rule.
    metric : str, optional
        Quantity drawn beside the loss: a name with ``train_``/``test_`` columns
        (``"accuracy"``) or a recorded column (``"grad_norm"``). Default: accuracy when
        recorded, else none.
    cost : Cost, str or None
        The cost the loss measures (an object, a registry name such as ``"cross_entropy"``, or a
        class path), named in the loss label; default from the run's config when known.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; the metric goes on a twin y axis. Default: a new figure with the
        loss and the metric in two panels.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``metric`` is not recorded.

    Notes
    -----
    The loss is the batch mean of the cost ``C(o, y)`` of the free equilibrium (epoch 0 is the
    untrained system), in the units of the cost, i.e. dimensionless in physlearn's reduced
    units. A log axis shows a power-law or exponential approach to the minimum as a straight
    line; zero losses cannot be drawn on it and are left out.

    Examples
    --------
    >>> fig = learning_curve(history)                     # doctest: +SKIP
    >>> fig.savefig("curve.png")                          # doctest: +SKIP
    """
    records, config = _history_records(history)
    context = _run_context(config)
    return _learning_figure(records, metric=metric,
                            cost=_cost_name(cost) if cost is not None else context["cost"],
                            title=context["title"], ax=ax)


# -- gradient error against β ------------------------------------------------------------------


def gradient_error(results: Mapping[str, BiasOrder] | BiasOrder, *,
                   ax: Axes | None = None) -> Figure:
    """Relative gradient error against nudge strength β, log-log, with the fitted slope per rule.

    Parameters
    ----------
    results : Mapping[str, physlearn.check.BiasOrder] or BiasOrder
        Rule label → result of :func:`physlearn.bias_order` (fields ``betas``, ``errors``,
        ``slope``). A single BiasOrder is labelled ``"rule"``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The relative error ``‖ĝ(β) − g‖/‖g‖`` of an EP-family estimate against the exact gradient
    ``g`` behaves as ``c β^p``, a straight line of slope ``p`` on log-log axes: ``p = 1`` for
    one-sided EP (the first-order term of the expansion of the nudged measurement in β survives),
    ``p = 2`` for centered EP (symmetric nudges ±β cancel the even terms). Each rule's points are
    drawn with the power law ``c β^p`` of its fitted slope ``p`` (dashed; ``c`` is the
    least-squares intercept at that slope). At very small β the estimate loses digits to
    round-off, ``∝ ε/β`` with the machine precision ``ε``, and the points turn up: fit the slope
    over the β where the bias dominates.

    References
    ----------
    .. [1] A. Laborieux, M. Ernoult, B. Scellier, Y. Bengio, J. Grollier, D. Querlioz,
       "Scaling equilibrium propagation to deep ConvNets by drastically reducing its gradient
       estimator bias", Front. Neurosci. 15:633674 (2021).
    """
    from physlearn.check import BiasOrder

    if isinstance(results, BiasOrder):
        results = {"rule": results}
    if not results:
        raise ValueError("results is empty: pass {label: physlearn.bias_order(...)}")
    ax = ax if ax is not None else _new_axes((5.4, 4.4))
    for i, (label, order) in enumerate(results.items()):
        betas = np.abs(np.asarray(order.betas, dtype=float))
        errors = np.asarray(order.errors, dtype=float)
        keep = (betas > 0) & (errors > 0) & np.isfinite(errors)
        if not keep.any():
            logger.warning("gradient_error: %s has no positive error to draw", label)
            continue
        color = f"C{i % 10}"
        b, e = betas[keep], errors[keep]
        slope = float(order.slope)
        ax.plot(b, e, marker="o", linestyle="none", color=color,
                label=f"{label}: p = {slope:.2f}" if math.isfinite(slope) else label)
        if math.isfinite(slope):
            intercept = float(np.mean(np.log(e) - slope * np.log(b)))
            grid = np.geomspace(b.min(), b.max(), 50)
            ax.plot(grid, np.exp(intercept) * grid ** slope, linestyle="--", color=color,
                    linewidth=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("nudge strength β (dimensionless)")
    ax.set_ylabel(r"relative error $\|\hat g - g\|/\|g\|$ (dimensionless)")
    ax.set_title("Gradient error against nudge strength")
    if ax.lines:
        from matplotlib.lines import Line2D

        handles = [h for h in ax.lines if not h.get_label().startswith("_")]
        handles.append(Line2D([], [], color="0.3", linestyle="--",
                              label=r"fit $c\,\beta^{\,p}$"))
        ax.legend(handles=handles, title="rule: fitted bias order p", fontsize="small",
                  title_fontsize="small")
    ax.grid(True, which="major", alpha=0.3)
    return ax.figure


# -- sweeps ------------------------------------------------------------------------------------


def _parse_cell(text):
    """A CSV cell as None (empty) or the value a grid spec would give it."""
    from .sweep import parse_scalar

    text = "" if text is None else text.strip()
    return None if text.lower() in ("", "none", "null") else parse_scalar(text)


def _flatten(row: Mapping) -> dict:
    """A results row, also accepting ``{"point": {...}, "final": {...}}`` records."""
    out = {}
    for key, value in row.items():
        if key == "point" and isinstance(value, Mapping):
            out.update(value)
        elif key == "final" and isinstance(value, Mapping):
            out.update({k: v for k, v in value.items() if k not in out})
        else:
            out[key] = value
    return out


def _table_file(path: Path) -> Path | None:
    if path.is_file():
        return path
    for name in _SWEEP_FILES:
        if (path / name).is_file():
            return path / name
    return None


def read_results(table: PathLike | list[dict]) -> list[dict]:
    """The rows of a sweep's results table.

    Parameters
    ----------
    table : path or list of dict
        A sweep folder (with ``results.csv`` or ``results.jsonl``), one of those files, or the
        rows themselves.

    Returns
    -------
    list of dict
        One dict per grid point; CSV cells are parsed as int, float or None (empty).
    """
    if not isinstance(table, (str, os.PathLike)):
        return [_flatten(row) for row in table]
    path = Path(table)
    file = _table_file(path)
    if file is None:
        raise FileNotFoundError(f"{str(path)!r} has no results.csv or results.jsonl: expected a "
                                "sweep folder written by physlearn sweep")
    if file.suffix == ".jsonl":
        from .runio import read_jsonl

        return [_flatten(row) for row in read_jsonl(file)]
    with open(file, newline="", encoding="utf-8") as handle:
        return [{k: _parse_cell(v) for k, v in row.items() if k is not None}
                for row in csv.DictReader(handle)]


def _hashable(value):
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def _ordered_values(values):
    """Distinct values, numerically sorted when all are numbers, else in first-seen order."""
    distinct = list(dict.fromkeys(values))
    if all(_is_number(v) for v in distinct):
        return sorted(distinct, key=float)
    return distinct


_KEY_NAMES = {"beta": "nudge strength β", "eta": "nudge amplitude η", "lr": "learning rate",
              "batch_size": "batch size", "epochs": "epochs", "temperature": "temperature T",
              "points": "contour points", "n_samples": "samples", "noise": "noise"}
_COUNTS = {"batch_size", "epochs", "points", "n_samples", "seed"}


def _key_label(key: str, values) -> str:
    """Axis label of a swept key: ``rule.beta`` → ``nudge strength β [rule.beta]
    (dimensionless)``."""
    name = key.rsplit(".", 1)[-1]
    text = f"{_KEY_NAMES[name]} [{key}]" if name in _KEY_NAMES else key
    numeric = all(_is_number(v) for v in values)
    if numeric and name not in _COUNTS and not name.endswith("seed") and not all(
            float(v).is_integer() for v in values):
        text += " (dimensionless)"
    return text


def _group_stats(rows, keys, metric):
    """Mean, sd and count of ``metric`` over rows grouped by the values of ``keys``."""
    groups: dict = {}
    for row in rows:
        value = row.get(metric)
        if not _is_number(value) or not math.isfinite(float(value)):
            continue
        groups.setdefault(tuple(_hashable(row.get(k)) for k in keys), []).append(float(value))
    stats = {}
    for group, values in groups.items():
        values = np.asarray(values)
        sd = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
        stats[group] = (float(values.mean()), sd, int(values.size))
    return stats


def _sweep_cost(rows, base: Path | None) -> str | None:
    """The cost of a sweep's runs, from the first run directory with a config."""
    for row in rows:
        run_dir = row.get("run_dir")
        if not isinstance(run_dir, str) or not run_dir:
            continue
        for folder in ((Path(run_dir),) if base is None else (base / run_dir, Path(run_dir))):
            config = _read_run_config(folder) if folder.is_dir() else None
            if config is not None:
                return _run_context(config)["cost"]
    return None


def _metric_is_fraction(metric: str) -> bool:
    return metric.endswith("accuracy")


def _sweep_layout(rows):
    """Grid keys, swept parameters and replicate keys of a results table."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    grid = [k for k in columns if "." in k]
    swept = [k for k in grid if len({_hashable(r.get(k)) for r in rows}) > 1]
    replicates = [k for k in swept if k.rsplit(".", 1)[-1].endswith("seed")]
    params = [k for k in swept if k not in replicates] or replicates[:1] or grid[:1]
    replicates = [k for k in swept if k not in params]
    return grid, params, replicates


def sweep_metric(table: PathLike | list[dict], metric: str, *, kind: str | None = None,
                 ax: Axes | None = None) -> Figure:
    """A final metric against the swept parameters of a sweep.

    Parameters
    ----------
    table : path or list of dict
        A sweep folder or its ``results.csv``/``results.jsonl``, or the rows: one dict per grid
        point with the swept keys under their dotted names (``"rule.beta"``), ``status``
        (``"done"``/``"failed"``) and the final metrics. Failed rows are ignored.
    metric : str
        Column to draw, e.g. ``"test_loss"``, ``"test_accuracy"``, ``"gradient_error"``.
    kind : {"lines", "heatmap"}, optional
        For two swept parameters: a heat map over both (default) or one line per value of the
        second. One parameter always gives a line; three or more give lines over the first,
        one per value of the second, averaged over the rest.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If no successful row has a finite ``metric``, or the table has no grid key.

    Notes
    -----
    Keys whose name ends in ``seed`` (``train.seed``, ``system.seed``) are replicates, not
    parameters: each point shows the mean over them, with error bars of one sample standard
    deviation (a spread over initialisations and data orders, not an error of the mean). A
    parameter spanning a decade or more (β, learning rates) is drawn on a log axis; so are
    positive losses and errors spanning a decade, and then the legend gives the fitted log-log
    slope, e.g. the bias order of a rule when the metric is the gradient error against β.
    """
    base = None
    if isinstance(table, (str, os.PathLike)):
        file = _table_file(Path(table))
        base = None if file is None else file.parent
    rows = read_results(table)
    ok = [r for r in rows if str(r.get("status", "done")).lower() not in ("failed", "error")]
    have = [r for r in ok if _is_number(r.get(metric)) and math.isfinite(float(r[metric]))]
    if not have:
        known = sorted({k for r in rows for k in r if "." not in k})
        raise ValueError(f"no successful row has a finite {metric!r} ({len(rows)} rows, "
                         f"{len(rows) - len(ok)} failed); columns: {known}")
    grid, params, replicates = _sweep_layout(have)
    if not params:
        raise ValueError(f"no grid key (a column with a dot, like 'rule.beta') in the rows with "
                         f"{metric!r}")
    cost = _sweep_cost(have, base) if "loss" in metric else None
    label = _metric_label(metric, cost)
    kind = kind or ("heatmap" if len(params) == 2 else "lines")
    if kind not in ("lines", "heatmap"):
        raise ValueError(f"kind={kind!r} must be 'lines' or 'heatmap'")
    if kind == "heatmap" and len(params) != 2:
        raise ValueError(f"kind='heatmap' needs two swept parameters, the table has {params}")
    averaged = [*params[2:], *replicates] if kind == "lines" else replicates
    over = ""
    if averaged:
        over = f"{'mean ± sd' if kind == 'lines' else 'mean'} over {', '.join(averaged)}"
    if ax is None:
        ax = _new_axes((6.0, 4.4) if kind == "heatmap" else (5.6, 4.0) if len(params) == 1
                       else (7.8, 4.2))
    if kind == "heatmap":
        _sweep_heatmap(ax, have, params, metric, label, over)
    else:
        _sweep_lines(ax, have, params, metric, label, over)
    return ax.figure


def _sweep_lines(ax, rows, params, metric, label, over):
    x_key = params[0]
    line_key = params[1] if len(params) > 1 else None
    x_values = _ordered_values(_hashable(r.get(x_key)) for r in rows)
    numeric_x = all(_is_number(v) for v in x_values)
    log_x = numeric_x and _spans_decades(x_values)
    fraction = _metric_is_fraction(metric)
    log_y = not fraction and _spans_decades([r[metric] for r in rows])
    line_values = ([None] if line_key is None else
                   _ordered_values(_hashable(r.get(line_key)) for r in rows))
    keys = [x_key] if line_key is None else [x_key, line_key]
    stats = _group_stats(rows, keys, metric)
    position = {v: (float(v) if numeric_x else i) for i, v in enumerate(x_values)}
    for i, line in enumerate(line_values):
        points = [(position[x], *stats[(x,) if line is None else (x, line)]) for x in x_values
                  if ((x,) if line is None else (x, line)) in stats]
        if not points:
            continue
        xs, mean, sd, _ = (np.asarray(c) for c in zip(*points))
        lower = np.minimum(sd, 0.9 * mean) if log_y else sd   # keep bars on a log axis
        if line is not None:
            text = f"{line_key} = {_fmt(line)}"
        else:
            text = over or "one run per point"
        if log_x and log_y and len(xs) > 1 and np.all(mean > 0):
            slope = float(np.polyfit(np.log(xs), np.log(mean), 1)[0])
            text += f" (log-log slope {slope:.2f})"
        ax.errorbar(xs, mean, yerr=np.vstack([lower, sd]) if np.any(sd > 0) else None,
                    marker="o", capsize=3, color=f"C{i % 10}", label=text)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    if not numeric_x:
        ax.set_xticks(range(len(x_values)), [_fmt(v) for v in x_values])
    if fraction:
        top = max(1.0, max(r[metric] for r in rows))
        ax.set_ylim(min(0.0, min(r[metric] for r in rows)) - 0.02, top + 0.02)
    ax.set_xlabel(_key_label(x_key, x_values))
    ax.set_ylabel(label)
    title = f"{_metric_label(metric, unit=False)} against {x_key}"
    ax.set_title(title)
    if line_key is None:
        ax.legend(fontsize="small")
    else:
        ax.legend(title=over or None, fontsize="small", title_fontsize="small",
                  loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.grid(True, which="major", alpha=0.3)


def _sweep_heatmap(ax, rows, params, metric, label, over):
    from matplotlib.colors import LogNorm, Normalize

    x_key, y_key = params
    x_values = _ordered_values(_hashable(r.get(x_key)) for r in rows)
    y_values = _ordered_values(_hashable(r.get(y_key)) for r in rows)
    stats = _group_stats(rows, [x_key, y_key], metric)
    grid = np.full((len(y_values), len(x_values)), np.nan)
    for i, y in enumerate(y_values):
        for j, x in enumerate(x_values):
            if (x, y) in stats:
                grid[i, j] = stats[(x, y)][0]
    fraction = _metric_is_fraction(metric)
    finite = _finite(grid)
    if not fraction and _spans_decades(finite):
        norm = LogNorm(finite.min(), finite.max())
    else:
        lo, hi = (0.0, 1.0) if fraction and finite.min() >= 0 and finite.max() <= 1 else (
            finite.min(), finite.max())
        norm = Normalize(lo, hi if hi > lo else lo + 1e-12)
    cmap = "viridis" if fraction else "viridis_r"     # bright = good: high accuracy, low loss
    import matplotlib as mpl

    colormap = mpl.colormaps[cmap].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=colormap,
                      norm=norm, interpolation="nearest")
    ax.set_xticks(range(len(x_values)), [_fmt(v) for v in x_values])
    ax.set_yticks(range(len(y_values)), [_fmt(v) for v in y_values])
    if grid.size <= 100:
        for i in range(len(y_values)):
            for j in range(len(x_values)):
                if np.isfinite(grid[i, j]):
                    shade = colormap(norm(grid[i, j]))
                    light = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2] > 0.55
                    ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center",
                            fontsize="small", color="black" if light else "white")
                else:
                    ax.text(j, i, "no run", ha="center", va="center", fontsize="x-small",
                            color="0.3")
    ax.set_xlabel(_key_label(x_key, x_values))
    ax.set_ylabel(_key_label(y_key, y_values))
    ax.set_title(f"{_metric_label(metric, unit=False)} over {x_key} × {y_key}")
    bar = ax.figure.colorbar(image, ax=ax)
    bar.set_label(label + (f"\n{over}" if over else ""))


# -- networks ----------------------------------------------------------------------------------

_PARAM_LABELS = {
    "conductance": "conductance g (reference conductance)",
    "stiffness": "spring stiffness k (dimensionless)",
    "rest_length": "rest length ℓ (dimensionless)",
    "J": "coupling J (energy units, $k_B = 1$)",
    "h": "field h (energy units, $k_B = 1$)",
    "coupling": "coupling W (dimensionless)",
    "field": "field strength h (dimensionless)",
    "field_phase": "field phase ψ (rad)",
    "spring": "spring constant k (ħ = m = 1 units)",
    "ground": "grounding spring k⁰ (ħ = m = 1 units)",
    "kappa": "coupling spring κ (dimensionless)",
    "k": "grounding spring k (dimensionless)",
    "m": "mass m (dimensionless)",
}

_ROLE_STYLE = {        # role -> (marker, face colour, legend label)
    "input": (">", "tab:green", "input"),
    "bias": ("D", "tab:orange", "bias source"),
    "ground": ("s", "black", "ground"),
    "pinned": ("s", "black", "pinned"),
    "source": ("^", "tab:green", "source pair (input strain)"),
    "target": ("D", "tab:red", "target pair (output strain)"),
    "output": ("o", "tab:red", "output"),
    "hidden": ("o", "white", "hidden"),
    "excitatory": ("^", "white", "diode from ground (excitatory)"),
    "inhibitory": ("v", "white", "diode to ground (inhibitory)"),
}


def _network_spec(system):
    """What :func:`network` draws of a system, or None if it has no network.

    Returns a dict: ``nodes`` (list), ``edges`` (list of node pairs aligned with the edge
    parameters), ``roles`` (node → role), ``positions`` (node → (x, y) or None: laid out),
    ``edge_params``, ``node_params`` (name → nodes the values belong to), ``default``,
    ``pairs`` (extra node pairs drawn dotted: elastic sources and targets), ``diodes``.
    """
    from physlearn.systems import (
        CoupledOscillators,
        ElasticNetwork,
        IsingModel,
        PhaseOscillatorNetwork,
        ResistorNetwork,
    )

    roles: dict = {}
    spec = {"positions": None, "pairs": [], "diodes": [], "node_params": {}}
    if isinstance(system, ResistorNetwork):
        nodes = list(system.nodes)
        roles = dict.fromkeys(nodes, "hidden")
        for entry in system.inputs:
            pair = entry if isinstance(entry, tuple) and len(entry) == 2 and entry not in \
                system.graph and all(n in system.graph for n in entry) else (entry,)
            roles.update(dict.fromkeys(pair, "input"))
        roles.update(dict.fromkeys(system.bias_sources or {}, "bias"))
        roles.update(dict.fromkeys(system.output_nodes, "output"))
        roles[system.ground] = "ground"
        for anode, cathode in getattr(system, "diode_pairs", ()):
            if anode == system.ground and roles.get(cathode) == "hidden":
                roles[cathode] = "excitatory"
            elif cathode == system.ground and roles.get(anode) == "hidden":
                roles[anode] = "inhibitory"
            else:
                spec["diodes"].append((anode, cathode))
        spec.update(nodes=nodes, edges=list(system.edges), edge_params=["conductance"],
                    default="conductance", sources=[n for n in nodes if roles[n] in
                                                    ("input", "bias", "ground")])
    elif isinstance(system, ElasticNetwork):
        positions = np.asarray(system.positions, dtype=float)
        nodes = list(range(len(positions)))
        roles = dict.fromkeys(nodes, "hidden")
        roles.update(dict.fromkeys((int(i) for i in np.ravel(system.pinned)), "pinned"))
        sources = [tuple(int(v) for v in p) for p in system.sources]
        targets = [tuple(int(v) for v in p) for p in system.targets]
        for pair in targets:
            roles.update({n: "target" for n in pair if roles[n] != "pinned"})
        for pair in sources:
            roles.update(dict.fromkeys(pair, "source"))
        spec.update(nodes=nodes, edges=[tuple(int(v) for v in e) for e in system.edges],
                    positions={n: positions[n] for n in nodes}, edge_params=["stiffness",
                    "rest_length"], default="stiffness",
                    pairs=[(p, "tab:green") for p in sources] + [(p, "tab:red")
                                                                 for p in targets])
    elif isinstance(system, IsingModel):
        nodes = list(range(int(system.n_spins)))
        roles = dict.fromkeys(nodes, "hidden")
        roles.update(dict.fromkeys((int(i) for i in system._inputs), "input"))
        roles.update(dict.fromkeys((int(i) for i in system.output_index), "output"))
        spec.update(nodes=nodes, edges=[tuple(map(int, e)) for e in system.edge_list],
                    edge_params=["J"], default="J", node_params={"h": nodes},
                    sources=[n for n in nodes if roles[n] == "input"],
                    labels={"input": "input-coupled spin", "output": "output spin",
                            "hidden": "hidden spin"})
    elif isinstance(system, PhaseOscillatorNetwork):
        n_in = int(system.n_inputs)
        nodes = list(range(int(system.n_oscillators)))
        roles = {n: "input" if n < n_in else "hidden" for n in nodes}
        roles.update(dict.fromkeys((n_in + int(i) for i in system.output_index), "output"))
        free = nodes[n_in:]
        spec.update(nodes=nodes, edges=list(system.edge_list), edge_params=["coupling"],
                    default="coupling", node_params={"field": free, "field_phase": free},
                    sources=nodes[:n_in])
    elif isinstance(system, CoupledOscillators):
        nodes = list(range(int(system.n_oscillators)))
        roles = dict.fromkeys(nodes, "hidden")
        roles[int(system.input_dof)] = "input"
        roles.update(dict.fromkeys(system.readout_dofs, "output"))
        spec.update(nodes=nodes, edges=[tuple(e) for e in system._unit.edges],
                    edge_params=["kappa"], default="kappa",
                    node_params={"k": nodes, "m": nodes}, sources=[int(system.input_dof)])
    elif _is_quantum_harmonic(system):
        nodes = list(range(int(system.n_modes)))
        roles = dict.fromkeys(nodes, "hidden")
        roles.update(dict.fromkeys((int(i) for i in system._in), "input"))
        roles.update(dict.fromkeys((int(i) for i in system._out), "output"))
        edges = np.asarray(system.edges, dtype=int).reshape(-1, 2)
        spec.update(nodes=nodes, edges=[tuple(map(int, e)) for e in edges],
                    edge_params=["spring"], default="spring", node_params={"ground": nodes},
                    sources=[int(i) for i in system._in])
    else:
        return None
    spec["roles"] = roles
    return spec


def _is_quantum_harmonic(system) -> bool:
    module = sys.modules.get("physlearn.systems.quantum_oscillators")  # imports QuTiP: only
    return module is not None and isinstance(system, module.QuantumHarmonicNetwork)  # if loaded


def _layered_positions(graph, sources, outputs):
    """Layers by graph distance from the sources, if that makes a clean layered drawing."""
    import networkx as nx

    if not sources or not nx.is_connected(graph):
        return None, None
    depth = nx.multi_source_dijkstra_path_length(graph, set(sources), weight=None)
    n_layers = max(depth.values()) + 1
    if n_layers < 2 or any(depth[u] == depth[v] for u, v in graph.edges) or \
            any(depth[n] != n_layers - 1 for n in outputs):
        return None, None
    layers = [[n for n in graph.nodes if depth[n] == d] for d in range(n_layers)]
    height = max(len(layer) for layer in layers)
    positions = {}
    for d, layer in enumerate(layers):
        # a full layer has unit spacing; smaller layers spread over 80% of its height
        step = 1.0 if len(layer) == height else 0.8 * (height - 1) / max(len(layer) - 1, 1)
        for i, node in enumerate(layer):
            positions[node] = (float(d), ((len(layer) - 1) / 2 - i) * step)
    return positions, layers


def _layout(graph, spec):
    import networkx as nx

    outputs = [n for n, r in spec["roles"].items() if r == "output"]
    positions, layers = _layered_positions(graph, spec.get("sources", []), outputs)
    if positions is not None:
        return positions, layers
    if nx.density(graph) >= 0.5:
        return nx.circular_layout(graph), None
    if graph.number_of_nodes() <= 100 and nx.is_connected(graph):
        return nx.kamada_kawai_layout(graph), None
    return nx.spring_layout(graph, seed=0), None


def network(system: System, param: str | ArrayLike | None = None, *,
            ax: Axes | None = None) -> Figure:
    """Draw a network with its edges (or nodes) coloured by a parameter.

    Parameters
    ----------
    system : System
        A network: :class:`~physlearn.systems.ResistorNetwork` and
        :class:`~physlearn.systems.NonlinearResistorNetwork` (edges of ``system.graph``, in
        the order of ``params["conductance"]``), :class:`~physlearn.systems.ElasticNetwork`
        (drawn at its reference positions), :class:`~physlearn.systems.IsingModel`,
        :class:`~physlearn.systems.PhaseOscillatorNetwork`,
        :class:`~physlearn.systems.CoupledOscillators` or
        :class:`~physlearn.systems.QuantumHarmonicNetwork`.
    param : str or array_like, optional
        A parameter with one value per edge (``"conductance"``, ``"stiffness"``,
        ``"rest_length"``, ``"J"``, ``"coupling"``, ``"spring"``, ``"kappa"``) or per node
        (``"h"``, ``"field"``, ``"field_phase"``, ``"ground"``, ...), or an array with one
        value per edge (e.g. a gradient). Default: the system's edge parameter.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; default a new figure. A colour bar is added beside it.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the system has no network to draw, or ``param`` is neither one of its edge or node
        parameters nor an array of one value per edge.

    Notes
    -----
    Networks with a layered structure (every edge joins consecutive layers of graph distance
    from the sources, outputs last) are drawn in layers, inputs on the left; others with a
    Kamada–Kawai (or circular, if dense) layout, and elastic networks at their physical node
    positions. Non-negative parameters (conductances, stiffnesses, springs) use a sequential
    colour map; signed ones (Ising couplings ``J``, oscillator couplings ``W``) a diverging one
    centred on zero, where ferro- and antiferromagnetic bonds separate; phases a cyclic one.
    """
    import matplotlib as mpl
    import networkx as nx
    from matplotlib.colors import Normalize, TwoSlopeNorm
    from matplotlib.lines import Line2D

    spec = _network_spec(system)
    if spec is None:
        raise ValueError(f"{type(system).__name__} has no network to draw: network() draws "
                         "resistor, diode, elastic, Ising, phase-oscillator, coupled-oscillator "
                         "and quantum harmonic networks")
    params = system.params
    edge_params = [p for p in spec["edge_params"] if p in params]
    node_params = {k: v for k, v in spec["node_params"].items() if k in params}
    name = spec["default"] if param is None else param
    if isinstance(name, str):
        if name not in edge_params and name not in node_params:
            raise ValueError(f"param={name!r}: {type(system).__name__} has edge parameters "
                             f"{edge_params} and node parameters {list(node_params)}")
        values = np.real(np.asarray(params[name], dtype=complex if np.iscomplexobj(
            params[name]) else float)).ravel()
        on_nodes = name in node_params
        label = _PARAM_LABELS.get(name, f"{name} (dimensionless)")
    else:
        values, on_nodes, name, label = np.real(np.asarray(param)).ravel(), False, "value", \
            "value per edge"
    owners = node_params[name] if on_nodes else spec["edges"]
    if values.size != len(owners):
        raise ValueError(f"param has {values.size} values, the network has {len(owners)} "
                         f"{'nodes' if on_nodes else 'edges'}")

    graph = nx.Graph()
    graph.add_nodes_from(spec["nodes"])
    graph.add_edges_from(spec["edges"])
    layers = None
    positions = spec["positions"]
    if positions is None:
        positions, layers = _layout(graph, spec)
    positions = {n: np.asarray(p, dtype=float) for n, p in positions.items()}

    n_nodes, n_edges = graph.number_of_nodes(), len(spec["edges"])
    physical = spec["positions"] is not None
    flat = layers is not None and max(len(layer) for layer in layers) == 1    # a chain
    if ax is None:
        size = 6.4 if n_nodes > 40 else 5.6
        ax = _new_axes((size + 0.9, 2.8 if flat else size * (0.85 if physical else 0.72)))
    finite = _finite(values)
    if name == "field_phase":
        cmap, norm = mpl.colormaps["twilight"], Normalize(-np.pi, np.pi)
        values = np.angle(np.exp(1j * values))
    elif finite.size and finite.min() < 0:
        bound = float(np.max(np.abs(finite))) or 1.0
        cmap, norm = mpl.colormaps["RdBu_r"], TwoSlopeNorm(0.0, -bound, bound)
    else:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi - lo <= 1e-9 * max(abs(lo), abs(hi), 1e-300):     # one value: a readable bar
            pad = 0.05 * abs(lo) or 0.5
            lo, hi = lo - pad, hi + pad
        cmap, norm = mpl.colormaps["viridis"], Normalize(lo, hi)

    width = 2.6 if n_edges <= 60 else 1.6 if n_edges <= 300 else 0.9
    node_size = 140 if n_nodes <= 40 else 60 if n_nodes <= 100 else 22
    if on_nodes:
        nx.draw_networkx_edges(graph, positions, edgelist=spec["edges"], ax=ax, width=1.0,
                               edge_color="0.6")
    else:
        nx.draw_networkx_edges(graph, positions, edgelist=spec["edges"], ax=ax, width=width,
                               edge_color=[cmap(norm(v)) for v in values])
    for (a, b), color in spec["pairs"]:
        ax.plot(*np.transpose([positions[a], positions[b]]), linestyle=":", color=color,
                linewidth=2.0, zorder=3)
    for anode, cathode in spec["diodes"]:
        ax.annotate("", xy=positions[cathode], xytext=positions[anode],
                    arrowprops={"arrowstyle": "-|>", "connectionstyle": "arc3,rad=0.25",
                                "color": "0.35", "linestyle": "--", "shrinkA": 6,
                                "shrinkB": 6})

    node_value = dict(zip(owners, values)) if on_nodes else {}
    handles = {}
    role_labels = spec.get("labels", {})
    for role in ("hidden", *(r for r in _ROLE_STYLE if r != "hidden")):   # hidden below
        marker, face, text = _ROLE_STYLE[role]
        members = [n for n in spec["nodes"] if spec["roles"][n] == role]
        if not members:
            continue
        colors = [cmap(norm(node_value[n])) if n in node_value else face for n in members]
        xy = np.array([positions[n] for n in members])
        special = role != "hidden"
        ax.scatter(xy[:, 0], xy[:, 1], s=node_size * (2.0 if special and n_nodes > 40 else 1),
                   marker=marker, c=colors, edgecolors="black", linewidths=0.8,
                   zorder=5 if special else 4)
        handles[role] = Line2D([], [], linestyle="none", marker=marker, markersize=7,
                               markerfacecolor="0.85" if on_nodes and face != "black" else face,
                               markeredgecolor="black", label=role_labels.get(role, text))
    handles = [handles[role] for role in _ROLE_STYLE if role in handles]    # inputs first
    if spec["diodes"]:
        handles.append(Line2D([], [], color="0.35", linestyle="--", label="diode (anode → "
                              "cathode)"))

    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    bar = ax.figure.colorbar(mappable, ax=ax, shrink=0.9 if not flat else 1.0)
    bar.set_label(label)
    bar.formatter.set_useOffset(False)
    what = "nodes" if on_nodes else "edges"
    ax.set_title(f"{type(system).__name__}: {what} coloured by {name}")
    labelled_layers = layers is not None and not flat
    if physical:
        ax.set_aspect("equal")
        ax.set_xlabel("x position (dimensionless)")
        ax.set_ylabel("y position (dimensionless)")
        ax.tick_params(bottom=True, left=True, labelbottom=True, labelleft=True)  # networkx
    else:                                                                          # hid them
        ax.set_aspect("equal" if layers is None else "auto")
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_yticks([])
        ax.set_xticks([])
        if labelled_layers:
            first = "sources" if any(spec["roles"][n] in ("bias", "ground")
                                     for n in layers[0]) else "inputs"
            hidden = [f"hidden {i}" if len(layers) > 3 else "hidden"
                      for i in range(1, len(layers) - 1)]
            ax.set_xticks(range(len(layers)), [first, *hidden, "outputs"])
            ax.tick_params(axis="x", length=0, labelbottom=True)
    below = -0.16 if physical else -0.09 if labelled_layers else -0.02
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, below),
              ncol=min(len(handles), 3), fontsize="small", frameon=False)
    ax.margins(0.08)
    return ax.figure


# -- directories -------------------------------------------------------------------------------


def _run_system(folder: Path):
    """The run's system rebuilt from its config, with its final (or last saved) parameters."""
    from .config import build

    experiment = build(folder / "config.toml")
    system = experiment.system
    params_file = folder / "params.npz"
    if params_file.is_file():
        with np.load(params_file) as npz:
            system.params = {k: npz[k] for k in npz.files}
    elif (folder / "checkpoint.npz").is_file():
        from .rundir import load_checkpoint

        system.params = load_checkpoint(folder / "checkpoint.npz")["params"]
    return system


def _plot_run(folder: Path) -> list[Path]:
    from . import runio

    written = [runio.plot_learning_curve(runio.read_jsonl(folder / "history.jsonl"),
                                         folder / "learning_curve.png")]
    if not (folder / "config.toml").is_file():
        return written
    try:
        system = _run_system(folder)
    except Exception as err:    # the curve is drawn; a network figure is a bonus
        logger.warning("%s: cannot rebuild the system for network.png: %s", folder,
                       str(err).splitlines()[0] if str(err) else type(err).__name__)
        return written
    if _network_spec(system) is not None:
        fig = network(system)
        written.append(save_figure(fig, folder / "network.png"))
    return written


def _plot_sweep(folder: Path, table: Path) -> list[Path]:
    written, problems = [], []
    for metric in _SWEEP_METRICS:
        try:
            fig = sweep_metric(table, metric)
        except ValueError as err:       # e.g. a classification metric of a regression sweep
            problems.append(str(err))
            continue
        written.append(save_figure(fig, folder / f"sweep_{metric}.png"))
    if not written:
        raise ValueError(f"{table}: nothing to plot: {problems[0]}")
    return written


def plot_directory(path: PathLike) -> list[Path]:
    """Draw the standard figures of a run or sweep directory into it (``physlearn plot``).

    Parameters
    ----------
    path : str or os.PathLike
        A run directory (with ``history.jsonl``; written by ``physlearn.train(...,
        run_dir=...)`` or ``physlearn run``), or a sweep directory (with ``results.csv`` or
        ``results.jsonl``), or that results file.

    Returns
    -------
    list of pathlib.Path
        The figures written. A run gives ``learning_curve.png`` (the figure the run redraws
        every epoch) and ``network.png`` when its system, rebuilt from ``config.toml`` with the
        parameters of ``params.npz``, is a network. A sweep gives ``sweep_<metric>.png`` for
        ``test_loss``, and ``test_accuracy`` and ``gradient_error`` when recorded.

    Raises
    ------
    ValueError
        If ``path`` is neither a run directory nor a sweep directory.
    """
    path = Path(path)
    if path.is_file() and path.name in _SWEEP_FILES:
        return _plot_sweep(path.parent, path)
    if not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a directory: expected a run directory (with "
                         "history.jsonl) or a sweep directory (with results.csv)")
    table = _table_file(path)
    if table is not None:
        return _plot_sweep(path, table)
    if (path / "history.jsonl").is_file():
        return _plot_run(path)
    raise ValueError(f"{str(path)!r} is neither a run directory (expected history.jsonl and "
                     "config.toml, as written by physlearn run) nor a sweep directory "
                     "(expected results.csv or results.jsonl, as written by physlearn sweep)")
