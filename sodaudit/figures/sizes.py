"""The size figures of the report: object-size histogram, per-class box plot, labels per image
against detection caps, and the heatmap of box centres.

One module for the plots of the sizes section. The box plot and the heatmap are drawn from the
sizes analyzer's stats (the numbers of report.json); the histograms bin the box table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from sodaudit.analyzers.sizes import SizesStats, boxes_per_image
from sodaudit.figures.axes import legend_below, log_axis, size_lines, text_sizes
from sodaudit.figures.common import (
    COLUMN_WIDTH,
    FONT,
    MODEL_COLOR,
    NATIVE_COLOR,
    SMALL_FONT,
    THRESHOLD_COLOR,
    Figure,
    encode,
    finite_positive,
    model_strides,
    new_figure,
    pct,
    text,
)
from sodaudit.sizepresets import below_min_side

MAX_BOX_CLASSES = 80
"""Classes shown in the per-class box plot (the smallest by median when there are more)."""
HIST_BINS = 60
BOX_KEYS = {"whislo": "p5", "q1": "p25", "med": "p50", "q3": "p75", "whishi": "p95"}
"""Box plot parts and the per-class percentiles of the sizes stats that they show."""
BOX_ROW = 0.18
"""Height of one class of the box plot, in inches: a ``SMALL_FONT`` class name (0.13 in) and a gap."""


def log_edges(values: list[np.ndarray], bins: int = HIST_BINS) -> np.ndarray:
    """Log-spaced bin edges a little wider than the data (and at least 1.5x wide each way)."""
    lo = min(float(v.min()) for v in values) / 1.05
    hi = max(float(v.max()) for v in values) * 1.05
    if hi <= lo * 1.5:
        lo, hi = lo / 1.5, hi * 1.5
    return np.geomspace(lo, hi, bins + 1)


def size_histogram(report: Any) -> Figure | None:
    sel = report.dataset.selected_boxes("sqrt_area", "sqrt_area_model", "short_side_model")
    native = finite_positive(sel["sqrt_area"])
    model = finite_positive(sel["sqrt_area_model"])
    short_model = finite_positive(sel["short_side_model"])
    if len(native) == 0:
        return None
    imgsz = report.config.imgsz
    edges = log_edges([native, model] if len(model) else [native])
    fig = new_figure(COLUMN_WIDTH, 3.6)
    ax = fig.add_subplot()
    text_sizes(ax)
    ax.stairs(
        np.histogram(native, edges)[0],
        edges,
        fill=True,
        alpha=0.45,
        color=NATIVE_COLOR,
        label="native pixels",
    )
    if len(model):
        ax.stairs(
            np.histogram(model, edges)[0],
            edges,
            fill=True,
            alpha=0.45,
            color=MODEL_COLOR,
            label=f"at model input ({imgsz})",
        )
    size_lines(ax, report)
    log_axis(ax, "x")
    ax.set_xlabel("object size √(w·h), pixels (log scale)")
    ax.set_ylabel("labels")
    legend_below(ax)
    model_name, strides = model_strides(report)
    caption = f"Median object size is {np.median(native):.1f} px native"
    if len(model):
        caption += f" and {np.median(model):.1f} px at imgsz {imgsz}"
        if strides and len(short_model):
            # the one definition (sizepresets.below_min_side): the short side, not √(w·h)
            below = int(below_min_side(short_model, strides[0]).sum())
            caption += (
                f"; {below} of {len(short_model)} labels ({pct(below, len(short_model))}) have a short "
                f"side < {strides[0]} px at model input ({model_name}'s smallest stride)"
            )
    caption += ". Dashed lines: model strides; dotted: the sub-threshold minimum side."
    return Figure(
        "sizes.histogram",
        "sizes",
        "Object sizes, native and at model input",
        caption,
        encode(fig),
        f"Histogram of object sizes on a log axis, native pixels versus at model input {imgsz}, "
        "with stride lines.",
    )


def class_boxplot(report: Any) -> Figure | None:
    """Per class, the percentiles of √area at model input that the sizes stats report."""
    sizes: SizesStats = report.analyzers["sizes"].stats
    stats = []
    for name, group in sizes.per_class.items():
        q = group.model.sqrt_area
        if group.count and all(k in q and math.isfinite(q[k]) for k in BOX_KEYS.values()):
            stats.append(
                {"label": text(name, 28), "name": name, "n": group.count}
                | {part: q[key] for part, key in BOX_KEYS.items()}
            )
    if not stats:
        return None
    stats.sort(key=lambda s: s["med"])
    shown = stats[:MAX_BOX_CLASSES]
    labels = [s["label"] for s in shown]
    # The class names are the y tick labels: the constrained layout makes the left margin as wide
    # as the widest of them (28 characters at most), the plot takes what is left.
    fig = new_figure(COLUMN_WIDTH, max(2.8, 1.4 + BOX_ROW * len(shown)))
    ax = fig.add_subplot()
    text_sizes(ax)
    # A box plot from the report's percentiles, drawn as three collections (whiskers, boxes,
    # medians) rather than ax.bxp's five artists per class: 80 classes drew in 1.3 s that way.
    part = {key: np.array([s[key] for s in shown]) for key in BOX_KEYS}
    rows = np.arange(len(shown))
    ax.hlines(rows, part["whislo"], part["whishi"], color="#333333", linewidth=0.9)
    ax.barh(
        rows,
        part["q3"] - part["q1"],
        left=part["q1"],
        height=0.64,
        color=MODEL_COLOR,
        alpha=0.7,
        edgecolor="#333333",
        linewidth=0.8,
    )
    ax.vlines(part["med"], rows - 0.32, rows + 0.32, color="black", linewidth=1.6)
    ax.set_yticks(rows, labels)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    size_lines(ax, report)
    log_axis(ax, "x")
    # Ends at the axis' right end: long class names leave a narrow plot, and a label centred
    # under it would run off the figure's right edge.
    ax.set_xlabel(f"√(w·h) at model input {report.config.imgsz}, pixels (log scale)", loc="right")
    legend_below(ax)
    caption = (
        f"Boxes span the 25th–75th percentile, whiskers the 5th–95th. Smallest class by median: "
        f"{shown[0]['name']} ({shown[0]['med']:.1f} px, {shown[0]['n']} labels); largest: "
        f"{stats[-1]['name']} ({stats[-1]['med']:.1f} px)."
    )
    if len(stats) > len(shown):
        caption += f" The {len(shown)} classes with the smallest medians of {len(stats)} are shown."
    return Figure(
        "sizes.per_class",
        "sizes",
        "Object size per class at model input",
        caption,
        encode(fig),
        "Box plot of object size per class at model input, sorted by median, with stride lines.",
    )


def labels_per_image(report: Any) -> Figure | None:
    dataset = report.dataset
    if dataset.images.empty:
        return None
    counts = boxes_per_image(dataset, dataset.selected_boxes("image_id"))
    top = int(counts.max())
    caps = sorted(((str(n), int(c)) for n, c in report.config.sizes.max_det_caps), key=lambda nc: nc[1])
    # Show caps up to the first one above the busiest image, so there is always headroom to see.
    visible = []
    for name, cap in caps:
        visible.append((name, cap))
        if cap >= top:
            break
    xmax = max([top, *[c for _, c in visible]])
    fig = new_figure(COLUMN_WIDTH, 3.0)
    ax = fig.add_subplot()
    text_sizes(ax)
    # One bin per count while that stays readable, else 100 bins.
    edges = np.arange(-0.5, xmax + 1.5, 1.0) if xmax <= 120 else np.linspace(0, xmax * 1.02, 101)
    hist, _ = np.histogram(counts, edges)
    ax.stairs(hist, edges, fill=True, color=NATIVE_COLOR, alpha=0.7)
    for i, (name, cap) in enumerate(visible):
        ax.axvline(cap, color=THRESHOLD_COLOR, ls="--", lw=1)
        # Labelled on the side of the line facing the middle of the plot, so it stays inside.
        right_half = cap > xmax / 2
        ax.annotate(
            f"{text(name)} {cap}",
            (cap, 1 - 0.08 * (i % 3)),
            xycoords=("data", "axes fraction"),
            fontsize=SMALL_FONT,
            color=THRESHOLD_COLOR,
            xytext=(-2 if right_half else 2, -2),
            textcoords="offset points",
            va="top",
            ha="right" if right_half else "left",
        )
    if hist.max() > 50 * max(1, np.median(hist[hist > 0])):
        ax.set_yscale("log")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("labels per image (valid, not ignored)")
    ax.set_ylabel("images")
    over = [f"{text(n)} {c}: {int((counts > c).sum())} images over" for n, c in caps if (counts > c).any()]
    caption = (
        f"{len(counts)} images, median {np.median(counts):g} and at most {top} labels per image; "
        f"{int((counts == 0).sum())} images have none."
    )
    caption += (
        " Over a detector or evaluator cap: " + "; ".join(over) + "."
        if over
        else " No image exceeds any detector or evaluator cap (dashed lines)."
    )
    return Figure(
        "sizes.per_image",
        "sizes",
        "Labels per image against detection caps",
        caption,
        encode(fig),
        "Histogram of labels per image with vertical lines at the detector and evaluator caps.",
    )


def heatmap(report: Any) -> Figure | None:
    heat = report.analyzers["sizes"].stats.heatmap
    if not heat.num_boxes:
        return None
    shares = np.asarray(heat.shares, dtype=np.float64)
    rows, cols = shares.shape
    fig = new_figure(COLUMN_WIDTH, 4.4)
    ax = fig.add_subplot()
    text_sizes(ax)
    im = ax.imshow(shares * 100, extent=(0, 1, 1, 0), cmap="viridis", interpolation="nearest", aspect="auto")
    # The colour bar beside the axes, in the constrained layout (its labels inside the figure).
    bar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
    text_sizes(bar.ax)
    bar.set_label("% of box centres", fontsize=FONT)
    ax.set_xlabel("x / image width")
    ax.set_ylabel("y / image height")
    r, c = np.unravel_index(int(np.argmax(shares)), shares.shape)
    ys = (np.arange(rows) + 0.5) / rows
    xs = (np.arange(cols) + 0.5) / cols
    central = shares[np.ix_((ys > 0.25) & (ys < 0.75), (xs > 0.25) & (xs < 0.75))].sum()
    caption = (
        f"Centres of {int(heat.num_boxes)} boxes on a {rows}x{cols} grid over the normalised image. "
        f"{central:.1%} lie in the central half (25–75% on both axes; 25% if uniform); the busiest cell, "
        f"around x={xs[c]:.2f}, y={ys[r]:.2f}, holds {shares[r, c]:.1%}."
    )
    return Figure(
        "sizes.heatmap",
        "sizes",
        "Where the objects are",
        caption,
        encode(fig),
        "Heatmap of box centre positions over the normalised image area.",
    )
