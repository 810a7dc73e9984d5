"""Is a figure fit to publish? Titles, labelled axes, nothing clipped.

:func:`figure_problems` lists what a reader of a figure would miss: a figure without a title,
an axis with tick labels but no label (a physicist's axis label names the quantity and its
unit, or says "dimensionless"), a colour bar without a label, text cut off at the edge of the
canvas. The test suite runs it on every figure the examples save; it is as useful on one's own
figures before they go into a paper.
"""

from __future__ import annotations

__all__ = ["figure_problems"]


def _text(artist) -> str:
    return artist.get_text().strip() if artist is not None and artist.get_visible() else ""


def _title(ax) -> str:
    return " ".join(ax.get_title(loc).strip() for loc in ("left", "center", "right")).strip()


def _has_tick_labels(axis) -> bool:
    if not axis.get_visible():      # e.g. the x axis of a twinx overlay
        return False
    return any(t.get_visible() and t.get_text().strip() for t in axis.get_ticklabels())


def _colorbar_problems(ax, where) -> list[str]:
    bar = ax._colorbar
    axis = ax.yaxis if bar.orientation == "vertical" else ax.xaxis
    if _has_tick_labels(axis) and not _text(axis.label):
        return [f"{where}: colour bar without a label"]
    return []


def _axes_problems(ax, where) -> list[str]:
    if getattr(ax, "_colorbar", None) is not None:
        return _colorbar_problems(ax, where)
    problems = []
    axes = {"x": ax.xaxis, "y": ax.yaxis}
    if ax.name == "polar":          # the angle needs no axis label; the radius does
        axes = {"radius": ax.yaxis}
    if ax.name == "3d":
        axes["z"] = ax.zaxis
    for name, axis in axes.items():
        if _has_tick_labels(axis) and not _text(axis.label):
            problems.append(f"{where}: the {name} axis has tick labels but no label")
    return problems


def _same_place(ax, other) -> bool:
    return bool((ax.get_position().get_points() == other.get_position().get_points()).all())


def _outside(box, canvas) -> bool:
    return (box.x0 < canvas.x0 - 1 or box.y0 < canvas.y0 - 1 or box.x1 > canvas.x1 + 1
            or box.y1 > canvas.y1 + 1)


def _clipped(fig, visible, renderer) -> list[str]:
    """Drawn text leaving the canvas: per axes its tight box (tick labels in view, labels,
    title, legend), then the figure's own texts and legends."""
    problems = []
    for i, ax in enumerate(visible):
        box = ax.get_tightbbox(renderer)
        if box is not None and _outside(box, fig.bbox):
            problems.append(f"axes {i + 1} of {len(visible)}: its labels or title are clipped "
                            "by the figure's edge")
    texts = [t for t in (fig._suptitle, fig._supxlabel, fig._supylabel, *fig.texts) if _text(t)]
    for artist in texts + list(fig.legends):
        if _outside(artist.get_window_extent(renderer), fig.bbox):
            what = _text(artist)[:40] if hasattr(artist, "get_text") else "a legend"
            problems.append(f"{what!r} is clipped by the figure's edge")
    return problems


def figure_problems(fig, *, tight: bool = False) -> list[str]:
    """What a figure lacks to be published: an empty list when nothing.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, drawn or not (it is drawn here, so layout engines have run).
    tight : bool, default False
        True when the figure is saved with ``bbox_inches="tight"``, which grows the saved
        area to all text: then nothing can be clipped and that check is skipped.

    Returns
    -------
    list of str
        One sentence per problem, naming the axes (``axes 2 of 3``).

    Notes
    -----
    A figure has a title when it has a ``suptitle`` or every visible axes has a title. An
    axis needs a label when it shows tick labels (an axis hidden by ``label_outer`` or
    ``axis("off")`` does not); a polar axes needs a label on its radius only; a colour bar
    needs a label. A text is clipped when its extent leaves the canvas by more than a pixel.
    """
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    plots = [ax for ax in visible if getattr(ax, "_colorbar", None) is None]
    # a twin (twinx/twiny) overlays the axes it was made from and shares its title
    plots = [ax for i, ax in enumerate(plots)
             if not any(_same_place(ax, other) for other in plots[:i])]
    problems = []
    if not _text(fig._suptitle) and not all(_title(ax) for ax in plots):
        untitled = [i + 1 for i, ax in enumerate(plots) if not _title(ax)]
        problems.append(f"no title: neither a suptitle nor titles on axes {untitled}")
    for i, ax in enumerate(visible):
        problems += _axes_problems(ax, f"axes {i + 1} of {len(visible)}")
    if not tight:
        problems += _clipped(fig, visible, renderer)
    return problems
