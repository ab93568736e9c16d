"""The size figures of the report: object-size histogram, per-class box plot, labels per image
against detection caps, and the heatmap of box centres.

One module for the plots of the sizes section, drawn from aggregates of the box table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import offset_copy

from sodaudit.figures.axes import _legend_below, _light_ticks, _log_axis, _vlines
from sodaudit.figures.common import (
    AXIS_LABEL_IN,
    LEGEND_ROW_IN,
    MODEL_COLOR,
    NATIVE_COLOR,
    STRIDE_LABELS_IN,
    THRESHOLD_COLOR,
    X_TICKS_IN,
    Figure,
    _finite_positive,
    _fit_left,
    _imgsz,
    _label_width,
    _new_figure,
    _pct,
    _selected,
    _stats,
    _strides,
    _threshold,
    encode,
    per_image_counts,
    text,
)

MAX_BOX_CLASSES = 80
"""Classes shown in the per-class box plot (the smallest by median when there are more)."""
HIST_BINS = 60


def _log_edges(values: Iterable[np.ndarray], bins: int = HIST_BINS) -> np.ndarray:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    lo, hi = min(float(v.min()) for v in arrays), max(float(v.max()) for v in arrays)
    lo, hi = lo / 1.05, hi * 1.05
    if hi <= lo * 1.5:
        lo, hi = lo / 1.5, hi * 1.5
    return np.geomspace(lo, hi, bins + 1)


def _size_histogram(report: Any) -> Figure | None:
    sel = _selected(report.dataset, "sqrt_area", "sqrt_area_model")
    native = _finite_positive(sel["sqrt_area"].to_numpy())
    model = _finite_positive(sel["sqrt_area_model"].to_numpy())
    if len(native) == 0:
        return None
    imgsz = _imgsz(report)
    edges = _log_edges([native, model] if len(model) else [native])
    fig = _new_figure(8, 3.6, (0.8, 0.15, X_TICKS_IN + AXIS_LABEL_IN + LEGEND_ROW_IN, STRIDE_LABELS_IN))
    ax = fig.add_subplot()
    counts_native, _ = np.histogram(native, edges)
    ax.stairs(counts_native, edges, fill=True, alpha=0.45, color=NATIVE_COLOR, label="native pixels")
    if len(model):
        counts_model, _ = np.histogram(model, edges)
        ax.stairs(
            counts_model, edges, fill=True, alpha=0.45, color=MODEL_COLOR, label=f"at model input ({imgsz})"
        )
    threshold = _threshold(report)
    _vlines(ax, report, threshold=threshold)
    ax.set_xscale("log")
    _log_axis(ax, "x")
    ax.set_xlabel("object size √(w·h), pixels (log scale)")
    ax.set_ylabel("labels")
    _legend_below(ax)
    _fit_left(fig, ax)
    _light_ticks(ax, "x")
    _light_ticks(ax, "y")
    model_name, strides = _strides(report)
    caption = f"Median object size is {np.median(native):.1f} px native"
    if len(model):
        caption += f" and {np.median(model):.1f} px at imgsz {imgsz}"
        if strides:
            below = int((model < strides[0]).sum())
            caption += (
                f"; {below} of {len(model)} labels ({_pct(below, len(model))}) are smaller than "
                f"{model_name}'s smallest stride ({strides[0]} px) at model input"
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


def _class_boxplot(report: Any) -> Figure | None:
    sel = _selected(report.dataset, "sqrt_area_model", "class_name")
    values = sel["sqrt_area_model"].to_numpy(dtype=np.float64)
    keep = np.isfinite(values) & (values > 0)
    if not keep.any():
        return None
    column = sel["class_name"]
    # The column is categorical already: its codes, no re-factorising of every row. Unused
    # categories give empty groups, which are skipped below.
    classes = column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column)
    codes = np.asarray(classes.codes)[keep]
    values = values[keep]
    names = [str(c) for c in classes.categories]
    order = np.argsort(codes, kind="stable")  # small integer codes: a radix sort
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    grouped = values[order]  # once: indexing inside the loop cost a full gather per class
    stats = []
    for i, name in enumerate(names):
        v = grouped[bounds[i] : bounds[i + 1]]
        if len(v) == 0:
            continue
        p5, q1, med, q3, p95 = np.percentile(v, [5, 25, 50, 75, 95])
        stats.append(
            {
                "label": text(name, 28),
                "whislo": p5,
                "q1": q1,
                "med": med,
                "q3": q3,
                "whishi": p95,
                "n": len(v),
                "name": name,
            }
        )
    stats.sort(key=lambda s: s["med"])
    shown = stats[:MAX_BOX_CLASSES]
    height = max(2.4, 1.2 + 0.17 * len(shown))
    fig = _new_figure(8, height, (1.5, 0.15, X_TICKS_IN + AXIS_LABEL_IN + LEGEND_ROW_IN, STRIDE_LABELS_IN))
    ax = fig.add_subplot()
    # Drawn by hand: Axes.bxp iterates rcParams, which makes matplotlib import pyplot.
    pos = np.arange(len(shown), dtype=np.float64)
    col = {
        k: np.array([s[k] for s in shown], dtype=np.float64) for k in ("whislo", "q1", "med", "q3", "whishi")
    }
    half = 0.32
    # Whiskers and their caps in one collection, medians in another: a few artists, not 80 x 5.
    whiskers = np.concatenate(
        [
            np.stack([np.c_[col["whislo"], pos], np.c_[col["q1"], pos]], axis=1),
            np.stack([np.c_[col["q3"], pos], np.c_[col["whishi"], pos]], axis=1),
            np.stack([np.c_[col["whislo"], pos - half / 2], np.c_[col["whislo"], pos + half / 2]], axis=1),
            np.stack([np.c_[col["whishi"], pos - half / 2], np.c_[col["whishi"], pos + half / 2]], axis=1),
        ]
    )
    ax.add_collection(LineCollection(whiskers, colors="#333333", linewidths=0.9))
    verts = np.stack(
        [
            np.c_[col["q1"], pos - half],
            np.c_[col["q3"], pos - half],
            np.c_[col["q3"], pos + half],
            np.c_[col["q1"], pos + half],
        ],
        axis=1,
    )
    ax.add_collection(PolyCollection(verts, facecolors=MODEL_COLOR, alpha=0.7, edgecolors="#333333", lw=0.8))
    medians = np.stack([np.c_[col["med"], pos - half], np.c_[col["med"], pos + half]], axis=1)
    ax.add_collection(LineCollection(medians, colors="black", linewidths=1.6))
    ax.set_ylim(len(shown) - 0.5, -0.5)
    # Class names as plain text left of the axes, not 80 tick objects (each one five artists,
    # measured again for the axis layout): they were a third of this figure's time.
    labels = [s["label"] for s in shown]
    ax.set_yticks([])
    place = offset_copy(ax.get_yaxis_transform(), fig=fig, x=-4, units="points")
    names_drawn = [
        ax.text(0, y, label, transform=place, fontsize=8, ha="right", va="center_baseline")
        for y, label in zip(pos, labels, strict=True)
    ]
    _vlines(ax, report, threshold=_threshold(report))
    ax.set_xscale("log")
    _log_axis(ax, "x")
    ax.set_xlabel(f"√(w·h) at model input {_imgsz(report)}, pixels (log scale)")
    _legend_below(ax)
    # Measured on the text objects themselves: the drawing reuses these glyph metrics.
    renderer = fig.canvas.get_renderer()
    widest = max(t.get_window_extent(renderer).width for t in names_drawn) / fig.dpi
    fig.subplots_adjust(left=(widest + 4 / 72 + 0.1) / fig.get_figwidth())
    _light_ticks(ax, "x")
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


def _boxes_per_image(report: Any) -> Figure | None:
    dataset = report.dataset
    if dataset.images.empty:
        return None
    sel = _selected(dataset, "image_id")
    ids = dataset.images["image_id"].to_numpy()
    counts = per_image_counts(ids, sel["image_id"].to_numpy())
    top = int(counts.max())
    caps = list(getattr(getattr(report.config, "sizes", None), "max_det_caps", ()) or ())
    caps = sorted(((str(n), int(c)) for n, c in caps), key=lambda nc: nc[1])
    # Show caps up to the first one above the busiest image, so there is always headroom to see.
    visible = []
    for name, cap in caps:
        visible.append((name, cap))
        if cap >= top:
            break
    xmax = max([top, *[c for _, c in visible]]) if visible else top
    fig = _new_figure(8, 3.2, (0.8, 0.15, X_TICKS_IN + AXIS_LABEL_IN + 0.05, 0.1))
    ax = fig.add_subplot()
    # One bin per count while that stays readable, else 100 bins.
    edges = np.arange(-0.5, xmax + 1.5, 1.0) if xmax <= 120 else np.linspace(0, xmax * 1.02, 101)
    hist, _ = np.histogram(counts, edges)
    ax.stairs(hist, edges, fill=True, color=NATIVE_COLOR, alpha=0.7)
    for i, (name, cap) in enumerate(visible):
        ax.axvline(cap, color=THRESHOLD_COLOR, ls="--", lw=1)
        ax.annotate(
            f"{text(name)} {cap}",
            (cap, 1 - 0.08 * (i % 3)),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=THRESHOLD_COLOR,
            xytext=(2, -2),
            textcoords="offset points",
            va="top",
        )
    if hist.max() > 50 * max(1, np.median(hist[hist > 0])):
        ax.set_yscale("log")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("labels per image (valid, not ignored)")
    ax.set_ylabel("images")
    _fit_left(fig, ax)
    # Cap labels start at their line and run right: room for those near the right edge.
    near_edge = [f"{text(n)} {c}" for n, c in visible if c >= 0.7 * xmax]
    if near_edge:
        right = max(0.15, _label_width(fig, near_edge, 7) + 0.08)
        fig.subplots_adjust(right=1 - right / fig.get_figwidth())
    _light_ticks(ax, "x")
    _light_ticks(ax, "y")
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


def _heatmap(report: Any) -> Figure | None:
    heat = _stats(report, "sizes").get("heatmap")
    if not isinstance(heat, Mapping) or not heat.get("num_boxes"):
        return None
    shares = np.asarray(heat.get("shares"), dtype=np.float64)
    if shares.ndim != 2 or shares.size == 0 or not np.isfinite(shares).all():
        return None
    rows, cols = shares.shape
    width, height = 5.2, 4.2
    left, bottom, top, bar_right = 0.6, X_TICKS_IN + AXIS_LABEL_IN + 0.05, 0.12, 0.85
    fig = _new_figure(width, height, (left, bar_right + 0.35, bottom, top))
    ax = fig.add_subplot()
    im = ax.imshow(shares * 100, extent=(0, 1, 1, 0), cmap="viridis", interpolation="nearest", aspect="auto")
    # The colour bar in its own axes at a fixed place right of the map.
    bar = fig.add_axes(
        (1 - (bar_right + 0.17) / width, bottom / height, 0.17 / width, 1 - (bottom + top) / height)
    )
    fig.colorbar(im, cax=bar, label="% of box centres")
    ax.set_xlabel("x / image width")
    ax.set_ylabel("y / image height")
    _light_ticks(ax, "x")
    _light_ticks(ax, "y")
    r, c = np.unravel_index(int(np.argmax(shares)), shares.shape)
    ys = (np.arange(rows) + 0.5) / rows
    xs = (np.arange(cols) + 0.5) / cols
    central = shares[np.ix_((ys > 0.25) & (ys < 0.75), (xs > 0.25) & (xs < 0.75))].sum()
    caption = (
        f"Centres of {int(heat['num_boxes'])} boxes on a {rows}x{cols} grid over the normalised image. "
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
