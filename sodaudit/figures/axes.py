"""Axis furniture shared by the plots: text sizes, plain-number log axes, the model's stride lines
with the sub-threshold minimum, and a legend below the plot."""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.ticker import LogFormatter

from sodaudit.figures.common import FONT, SMALL_FONT, STRIDE_COLOR, THRESHOLD_COLOR, model_strides


def text_sizes(ax: Axes) -> None:
    """Every text of ``ax`` at a size legible where the report shows it: tick labels (major and
    minor, made later at draw time from these settings) and the axis offset text at
    ``SMALL_FONT``, axis labels and title at ``FONT``."""
    ax.tick_params(which="both", labelsize=SMALL_FONT)
    for axis in (ax.xaxis, ax.yaxis):
        axis.get_offset_text().set_fontsize(SMALL_FONT)
        axis.label.set_fontsize(FONT)
    ax.title.set_fontsize(FONT)


def size_lines(ax: Axes, report: Any) -> None:
    """The selected model's stride lines (labelled above the axes) and the sub-threshold minimum.

    The stride labels sit just above the top spine. They are annotations in the figure's
    constrained layout, so the axes shrink to make room for them (and for a label at the end of
    the axis, which reaches past it by half its width) rather than them being cut at the edge."""
    model, strides = model_strides(report)
    for i, stride in enumerate(strides):
        ax.axvline(stride, color=STRIDE_COLOR, ls="--", lw=0.9, label=f"{model} strides" if i == 0 else None)
        ax.annotate(
            f"s{stride}",
            (stride, 1),
            xycoords=("data", "axes fraction"),
            fontsize=SMALL_FONT,
            color=STRIDE_COLOR,
            xytext=(0, 1.5),
            textcoords="offset points",
            va="bottom",
            ha="center",
            annotation_clip=False,
        ).set_in_layout(True)
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


def legend_below(ax: Axes, ncol: int = 2) -> None:
    """Legend below the plot, outside the axes (the constrained layout keeps a row for it), where
    it never hides data or the stride labels. Two columns: four entries at ``SMALL_FONT`` do not
    fit one row of a column-wide figure."""
    handles, labels = ax.get_legend_handles_labels()
    ax.figure.legend(
        handles,
        labels,
        loc="outside lower center",
        fontsize=SMALL_FONT,
        ncol=ncol,
        frameon=False,
        handlelength=1.6,
        columnspacing=1.2,
        borderaxespad=0.2,
    )
