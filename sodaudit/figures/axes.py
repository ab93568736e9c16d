"""Axis furniture drawn with few matplotlib objects: light ticks, plain-number log axes, the
model's stride lines and a legend below the plot.

Tick objects were most of a figure's drawing time, so these helpers replace them with one
marker line and plain texts; they live here, apart from the plots that call them.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.markers import TICKDOWN, TICKLEFT
from matplotlib.ticker import LogFormatter, NullLocator
from matplotlib.transforms import offset_copy

from sodaudit.figures.common import STRIDE_COLOR, THRESHOLD_COLOR, _strides


def _vlines(ax: Any, report: Any, *, threshold: float | None) -> None:
    """The selected model's stride lines (labelled above the axes) and the sub-threshold minimum."""
    model, strides = _strides(report)
    line = ax.axvline
    for i, stride in enumerate(strides):
        line(stride, color=STRIDE_COLOR, ls="--", lw=0.9, label=f"{model} strides" if i == 0 else None)
        ax.annotate(
            f"s{stride}",
            (stride, 1),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=STRIDE_COLOR,
            xytext=(0, 1),
            textcoords="offset points",
            va="bottom",
            ha="center",
            annotation_clip=False,
        )
    if threshold is not None:
        line(
            threshold,
            color=THRESHOLD_COLOR,
            ls=":",
            lw=1.4,
            label=f"min side {threshold:g} px (sub-threshold rule)",
        )


def _log_axis(ax: Any, which: str) -> None:
    """Log scale labelled in plain numbers (3, 20, 100), not 3x10^0: these are pixel sizes.

    Call once the limits are final. Over a wide range the minor ticks carry no label, and then
    they are drawn as one line of tick markers instead of one tick object each: creating and
    laying out those objects was most of a figure's time.
    """
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    lo, hi = sorted(axis.get_view_interval())
    minor = np.asarray(axis.get_minor_locator()(), dtype=np.float64)
    minor = minor[(minor >= lo) & (minor <= hi)]
    if len(minor) == 0 or any(axis.get_minor_formatter().format_ticks(minor)):
        return  # a narrow range labels its minor ticks (2, 3, 4, 6): keep them as they are
    axis.set_minor_locator(NullLocator())
    rc = matplotlib.rcParams
    size, width, color = (rc[f"{which}tick.{k}"] for k in ("minor.size", "minor.width", "color"))
    zeros = np.zeros_like(minor)
    ticks = Line2D(
        minor if which == "x" else zeros,
        zeros if which == "x" else minor,
        transform=ax.get_xaxis_transform() if which == "x" else ax.get_yaxis_transform(),
        marker=TICKDOWN if which == "x" else TICKLEFT,
        linestyle="None",
        markersize=size,
        markeredgewidth=width,
        color=color,
        clip_on=False,
    )
    ax.add_artist(ticks)


def _light_ticks(ax: Any, which: str) -> None:
    """Draw an axis' major ticks as one line of tick marks and plain text labels.

    Same places and label texts as matplotlib's locator and formatter give, same sizes and
    colours, and the axis label the same distance outside them; but no Tick object (two marks,
    a grid line and two texts) per tick: making and updating those cost about as much as
    drawing the labels. Call once the limits and the margins are final.
    """
    x = which == "x"
    axis = ax.xaxis if x else ax.yaxis
    formatter = axis.get_major_formatter()
    locs = np.asarray(axis.get_major_locator()(), dtype=np.float64)
    labels = formatter.format_ticks(locs) if len(locs) else []  # as a set, as matplotlib does
    if formatter.get_offset():  # an offset or exponent shown at the axis end: leave it to matplotlib
        return
    view = np.sort(np.asarray(axis.get_view_interval(), dtype=np.float64))
    scale = axis.get_transform()
    t_lo, t_hi = scale.transform(view)
    t_locs = scale.transform(locs) if len(locs) else locs
    tol = 1e-10 * abs(t_hi - t_lo)  # matplotlib's own tolerance for a tick at the view's edge
    keep = (t_locs >= t_lo - tol) & (t_locs <= t_hi + tol)
    shown = [(loc, label) for loc, label, k in zip(locs, labels, keep, strict=True) if k]
    axis.set_major_locator(NullLocator())
    rc = matplotlib.rcParams
    size, width, pad = (rc[f"{which}tick.major.{k}"] for k in ("size", "width", "pad"))
    color = rc[f"{which}tick.color"]
    label_color = color if rc[f"{which}tick.labelcolor"] == "inherit" else rc[f"{which}tick.labelcolor"]
    along = ax.get_xaxis_transform() if x else ax.get_yaxis_transform()
    at = np.array([loc for loc, _ in shown], dtype=np.float64)
    zeros = np.zeros_like(at)
    marks = Line2D(
        at if x else zeros,
        zeros if x else at,
        transform=along,
        marker=TICKDOWN if x else TICKLEFT,
        linestyle="None",
        markersize=size,
        markeredgewidth=width,
        color=color,
        clip_on=False,
    )
    ax.add_artist(marks)
    fig = ax.figure
    place = offset_copy(
        along, fig=fig, x=0 if x else -(size + pad), y=-(size + pad) if x else 0, units="points"
    )
    texts = [
        ax.text(
            loc if x else 0,
            0 if x else loc,
            label,
            transform=place,
            fontsize=rc[f"{which}tick.labelsize"],
            color=label_color,
            ha="center" if x else "right",
            va="top" if x else "center_baseline",
        )
        for loc, label in shown
        if label
    ]
    renderer = fig.canvas.get_renderer()
    extents = [t.get_window_extent(renderer) for t in texts]
    depth = max((e.height if x else e.width for e in extents), default=0.0) * 72 / fig.dpi
    offset = size + pad + depth + axis.labelpad
    axis.set_label_coords(
        0.5 if x else 0.0,
        0.0 if x else 0.5,
        transform=offset_copy(
            ax.transAxes, fig=fig, x=0 if x else -offset, y=-offset if x else 0, units="points"
        ),
    )


def _legend_below(ax: Any) -> None:
    """Legend at the bottom of the figure, under the axis label, where it never hides data or
    the stride labels (its row is part of the figure's bottom margin)."""
    handles, labels = ax.get_legend_handles_labels()
    ax.figure.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        fontsize=8,
        ncol=4,
        frameon=False,
        borderaxespad=0.3,
    )
