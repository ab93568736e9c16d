"""The anchor figure: label shapes at model input against YOLOv5's anchors and the suggested ones.

Its own module because it reads the anchors analyzer's stats and samples the scatter points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.collections import PolyCollection

from sodaudit.figures.axes import _light_ticks, _log_axis
from sodaudit.figures.common import (
    AXIS_LABEL_IN,
    NATIVE_COLOR,
    THRESHOLD_COLOR,
    X_TICKS_IN,
    Figure,
    _fit_left,
    _imgsz,
    _new_figure,
    _selected,
    _stats,
    encode,
)
from sodaudit.models import MODELS

MAX_SCATTER = 20000
"""Points drawn in the w x h scatter; more are sampled down (seeded, so reports are stable)."""


def _anchor_scatter(report: Any) -> Figure | None:
    sel = _selected(report.dataset, "w_model", "h_model")
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
    stats = _stats(report, "anchors")
    yolo = stats.get("presets", {}).get("yolov5", {}) if isinstance(stats.get("presets"), Mapping) else {}
    levels = yolo.get("anchors") or [list(level) for level in MODELS["yolov5"].anchors]
    anchors = np.asarray([a for level in levels for a in level], dtype=np.float64).reshape(-1, 2)
    thr = float(yolo.get("ratio_thr") or stats.get("ratio_thr") or MODELS["yolov5"].ratio_thr)
    suggested = stats.get("suggested") if isinstance(stats.get("suggested"), Mapping) else {}
    sug = np.asarray(suggested.get("anchors") or [], dtype=np.float64).reshape(-1, 2)

    fig = _new_figure(6.4, 5.4, (0.8, 0.15, X_TICKS_IN + AXIS_LABEL_IN + 0.05, 0.1))
    ax = fig.add_subplot()
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
    lo = max(0.3, float(min(w.min(), h.min(), anchors.min(), *(sug.min(),) if len(sug) else ())) / 1.5)
    hi = float(max(w.max(), h.max(), anchors.max(), *(sug.max(),) if len(sug) else ())) * 1.5
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    _log_axis(ax, "x")
    _log_axis(ax, "y")
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"width at model input {_imgsz(report)}, px (log)")
    ax.set_ylabel("height at model input, px (log)")
    ax.legend(fontsize=8, loc="upper left")
    _fit_left(fig, ax)
    ax.apply_aspect()  # the square plot area now, so the ticks are chosen for its real size
    _light_ticks(ax, "x")
    _light_ticks(ax, "y")
    caption = f"{n_total} labels" + (f" ({MAX_SCATTER} sampled)" if n_total > MAX_SCATTER else "") + "."
    bpr = yolo.get("bpr")
    if isinstance(bpr, (int, float)) and math.isfinite(bpr):
        caption += (
            f" YOLOv5's default anchors cover {bpr:.1%} of them (best possible recall, ratio rule {thr:g}x);"
            " points outside the shaded area have no anchor."
        )
    sug_bpr = suggested.get("bpr")
    if len(sug) and isinstance(sug_bpr, (int, float)) and math.isfinite(sug_bpr):
        caption += f" The {len(sug)} suggested anchors reach {sug_bpr:.1%}"
        caption += "." if suggested.get("improves", True) else ", no better than the defaults."
    return Figure(
        "anchors.scatter",
        "anchors",
        "Box shapes and anchors at model input",
        caption,
        encode(fig),
        "Log-log scatter of label width versus height at model input with the YOLOv5 anchors"
        + (" and the suggested anchors." if len(sug) else "."),
    )
