"""Axis furniture shared by the size plots: plain-number log axes, the model's stride lines with
the sub-threshold minimum, and a legend below the plot."""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.ticker import LogFormatter

from sodaudit.figures.common import STRIDE_COLOR, THRESHOLD_COLOR, model_strides


def size_lines(ax: Axes, report: Any) -> None:
    """The selected model's stride lines (labelled above the axes) and the sub-threshold minimum."""
    model, strides = model_strides(report)
    for i, stride in enumerate(strides):
        ax.axvline(stride, color=STRIDE_COLOR, ls="--", lw=0.9, label=f"{model} strides" if i == 0 else None)
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
    threshold = report.config.subthreshold.min_side_model_px
    ax.axvline(
        threshold,
        color=THRESHOLD_COLOR,
        ls=":",
        lw=1.4,
        label=f"min side {threshold:g} px (sub-threshold rule)",
    )


def log_axis(ax: Axes, which: str) -> None:
    """Log scale labelled in plain numbers (3, 20, 100), not 3x10^0: these are pixel sizes.
    Over a narrow range matplotlib also labels some minor ticks (2, 3, 5)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


def legend_below(ax: Axes) -> None:
    """Legend at the bottom of the figure, in the ``LEGEND_ROW`` its figure keeps free below the
    axes, where it never hides data or the stride labels."""
    handles, labels = ax.get_legend_handles_labels()
    ax.figure.legend(handles, labels, loc="lower center", fontsize=8, ncol=4, frameon=False)
