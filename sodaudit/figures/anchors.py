"""The anchor figure: label shapes at model input against YOLOv5's anchors and the suggested ones.

Its own module because it reads the anchors analyzer's stats and samples the scatter points.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.collections import PolyCollection

from sodaudit.analyzers.anchors_stats import AnchorsRatioPreset, AnchorsStats
from sodaudit.figures.axes import log_axis, text_sizes
from sodaudit.figures.common import (
    COLUMN_WIDTH,
    NATIVE_COLOR,
    SMALL_FONT,
    THRESHOLD_COLOR,
    Figure,
    encode,
    new_figure,
)

MAX_SCATTER = 20000
"""Points drawn in the w x h scatter; more are sampled down (seeded, so reports are stable)."""


def anchor_scatter(report: Any) -> Figure | None:
    sel = report.dataset.selected_boxes("w_model", "h_model")
    w = sel["w_model"].to_numpy(dtype=np.float64)
    h = sel["h_model"].to_numpy(dtype=np.float64)
    keep = np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
    w, h = w[keep], h[keep]
    if len(w) == 0:
        return None
    n_total = len(w)
    if n_total > MAX_SCATTER:
        pick = np.random.default_rng(0).choice(n_total, MAX_SCATTER, replace=False)
        w, h = w[pick], h[pick]
    stats: AnchorsStats = report.analyzers["anchors"].stats
    yolo = stats.presets["yolov5"]
    assert isinstance(yolo, AnchorsRatioPreset)  # yolov5 is always reported by the ratio rule
    anchors = np.asarray(yolo.anchors, dtype=np.float64).reshape(-1, 2)
    thr = float(yolo.ratio_thr)
    suggested = stats.suggested
    sug = np.asarray(suggested.anchors, dtype=np.float64).reshape(-1, 2)

    fig = new_figure(COLUMN_WIDTH, 5.0)
    ax = fig.add_subplot()
    text_sizes(ax)
    # Ratio rule: a box is covered by an anchor when w and h are within thr x of it, i.e. it lies
    # inside the rectangle [a_w/thr, a_w*thr] x [a_h/thr, a_h*thr] of this plot.
    verts = [
        [(aw / thr, ah / thr), (aw * thr, ah / thr), (aw * thr, ah * thr), (aw / thr, ah * thr)]
        for aw, ah in anchors
    ]
    ax.add_collection(PolyCollection(verts, facecolors="#2ca02c", alpha=0.06, edgecolors="none"))
    ax.scatter(w, h, s=3, alpha=0.35, color=NATIVE_COLOR, linewidths=0, rasterized=True, label="labels")
    ax.scatter(
        anchors[:, 0],
        anchors[:, 1],
        marker="s",
        s=40,
        facecolors="none",
        edgecolors="#2ca02c",
        linewidths=1.5,
        label=f"YOLOv5 anchors (shaded: within {thr:g}x)",
    )
    if len(sug):
        ax.scatter(
            sug[:, 0],
            sug[:, 1],
            marker="x",
            s=45,
            color=THRESHOLD_COLOR,
            linewidths=1.5,
            label="suggested anchors",
        )
    points = np.concatenate([w, h, anchors.ravel(), sug.ravel()])
    lo, hi = max(0.3, float(points.min()) / 1.5), float(points.max()) * 1.5
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"width at model input {report.config.imgsz}, px (log)")
    ax.set_ylabel("height at model input, px (log)")
    ax.legend(fontsize=SMALL_FONT, loc="upper left")
    caption = f"{n_total} labels" + (f" ({MAX_SCATTER} sampled)" if n_total > MAX_SCATTER else "") + "."
    bpr = yolo.bpr
    if math.isfinite(bpr):
        caption += (
            f" YOLOv5's default anchors cover {bpr:.1%} of them (best possible recall, ratio rule {thr:g}x);"
            " points outside the shaded area have no anchor."
        )
    if len(sug) and math.isfinite(suggested.bpr):
        caption += f" The {len(sug)} suggested anchors reach {suggested.bpr:.1%}"
        caption += "." if suggested.improves else ", no better than the defaults."
    return Figure(
        "anchors.scatter",
        "anchors",
        "Box shapes and anchors at model input",
        caption,
        encode(fig),
        "Log-log scatter of label width versus height at model input with the YOLOv5 anchors"
        + (" and the suggested anchors." if len(sug) else "."),
    )
