"""Figures of issue 18's measurements: what stays visible at each input size (``--pixels``), and
how often two noisy labelings of one object agree, per size bucket."""

from __future__ import annotations

from typing import Any

import numpy as np

from sodaudit.figures.axes import legend_below, text_sizes
from sodaudit.figures.common import (
    COLUMN_WIDTH,
    FONT,
    MODEL_COLOR,
    NATIVE_COLOR,
    SMALL_FONT,
    THRESHOLD_COLOR,
    Figure,
    encode,
    new_figure,
    text,
)
from sodaudit.sizepresets import PRESET_TITLES

MAX_CURVE_CLASSES = 8
"""Classes drawn as thin lines on the visibility curve (those with the most measured boxes)."""


def visibility_curve(report: Any) -> Figure | None:
    """Share of measured small boxes visible natively but lost at each candidate imgsz."""
    result = report.analyzers.get("visibility")
    s = None if result is None else result.stats
    if s is None or s.status != "ok" or not s.curve:
        return None
    sizes = [p.imgsz for p in s.curve]
    fig = new_figure(COLUMN_WIDTH, 3.4)
    ax = fig.add_subplot()
    text_sizes(ax)
    for c in sorted(s.classes, key=lambda c: -c.measured)[:MAX_CURVE_CLASSES]:
        ax.plot(sizes, 100 * np.asarray(c.invisible_share_by_imgsz, dtype=float), lw=0.9, alpha=0.6,
                marker=".", label=text(c.class_name, 18))  # fmt: skip
    ax.plot(sizes, [100 * p.invisible_share for p in s.curve], color="black", lw=2.2, marker="o", label="all")
    ax.set_xticks(sizes, [str(x) for x in sizes])
    ax.set_xlabel("model input size (imgsz)")
    ax.set_ylabel("% visible in the file, lost at input")
    ax.set_ylim(bottom=0)
    legend_below(ax, ncol=3)
    today = s.curve[0]
    caption = (
        f"{100 * today.invisible_share:.1f}% of {s.measured:,} sampled small boxes (short side < "
        f"{s.small_side_px:g} px at imgsz {s.imgsz}) are visible in the image files but not at imgsz "
        f"{s.imgsz}: contrast to their surroundings below {s.visible_scr:g} times the surroundings' "
        f"spread, or gradient energy kept below {s.visible_energy_kept:g} after the trainer's resize."
    )
    return Figure(
        "visibility.curve",
        "visibility",
        "Small objects lost in the resize, per input size",
        caption,
        encode(fig),
        "Line chart of the share of small boxes visible natively but not at each model input size",
    )


def noise_ceiling(report: Any) -> Figure | None:
    """P(IoU >= 0.5) and P(IoU >= 0.75) of two noisy labelings per populated size bucket."""
    result = report.analyzers.get("sizes")
    noise = None if result is None else getattr(result.stats, "label_noise", None)
    if noise is None:
        return None
    buckets = [(name, b) for name, b in noise.buckets.items() if b.boxes]
    if not buckets:
        return None
    fig = new_figure(COLUMN_WIDTH, 3.0)
    ax = fig.add_subplot()
    text_sizes(ax)
    x = np.arange(len(buckets))
    ax.bar(x - 0.19, [100 * b.p_iou_50 for _, b in buckets], 0.38, color=NATIVE_COLOR, label="IoU ≥ 0.5")
    ax.bar(x + 0.19, [100 * b.p_iou_75 for _, b in buckets], 0.38, color=MODEL_COLOR, label="IoU ≥ 0.75")
    ax.axhline(100 * noise.min_p, color=THRESHOLD_COLOR, ls=":", lw=1.4, label=f"{noise.min_p:.0%} agreement")
    ax.set_xticks(x, [f"{name.replace('_', ' ')}\n{b.boxes:,}" for name, b in buckets], fontsize=SMALL_FONT)
    ax.set_ylabel("% of labeling pairs", fontsize=FONT)
    ax.set_ylim(0, 100)
    legend_below(ax, ncol=3)
    preset = PRESET_TITLES.get(noise.preset, noise.preset)
    caption = (
        f"With each box corner off by σ = {noise.sigma_px:g} px at model input, how often two "
        f"labelings of one object reach IoU 0.5 and 0.75, per {preset} bucket (with its "
        f"label count): an evaluation at that IoU cannot measure more than this."
    )
    return Figure(
        "sizes.noise_ceiling",
        "sizes",
        "Label-noise ceiling per size bucket",
        caption,
        encode(fig),
        "Bar chart of the probability that two noisy labelings agree at IoU 0.5 and 0.75 per size bucket",
    )
