"""The augmentation recommendation: how far scale augmentation can shrink images before the
trainer's minimum box side drops too many boxes, at the plan's scale."""

from __future__ import annotations

import math

import numpy as np

from sodaudit.recommend.base import Context, Recommendation, count_prefix, pct
from sodaudit.sizepresets import SIZE_TOLERANCE_PX

AUGMENT_SCALES = tuple(round(0.5 + 0.05 * k, 2) for k in range(11))
"""Minimum scale-augmentation factors tried for the augmentation-survival table (0.5 .. 1.0)."""
AUGMENT_EXTRA_DROP_SHARE = 0.01
"""Scale augmentation is flagged when it drops more than this extra share of boxes."""


def drop_share(model_short: np.ndarray, scale: float, min_side: float) -> float:
    """Share of boxes a trainer drops after scaling by ``scale``: Ultralytics keeps a box only
    when both sides stay above ``min_side`` (``box_candidates``: w > 2 and h > 2)."""
    return (
        float(np.mean(model_short * scale <= min_side + SIZE_TOLERANCE_PX)) if len(model_short) else math.nan
    )


def sorted_drop_share(model_short: np.ndarray, scale: float, min_side: float) -> float:
    """:func:`drop_share` of ascending ``model_short``, by binary searches."""
    n = len(model_short)
    if not n:
        return math.nan
    limit = min_side + SIZE_TOLERANCE_PX
    dropped = count_prefix(model_short, limit / scale, lambda v: v * scale <= limit)
    return float(np.float64(dropped) / n)  # np.mean of the bool mask: its exact count over n


def augmentation_rec(ctx: Context) -> Recommendation | None:
    """How many boxes scale augmentation down to ``augment_min_scale`` loses to the 2 px rule."""
    cfg = ctx.config.recommend
    model_short = np.sort(ctx.short * ctx.final_scale)  # once: then each scale is a search
    floor = cfg.augment_min_side_px
    scales = sorted({*AUGMENT_SCALES, cfg.augment_min_scale, 1.0})
    table = [{"scale": s, "drop_share": sorted_drop_share(model_short, s, floor)} for s in scales]
    at_one = sorted_drop_share(model_short, 1.0, floor)
    at_min = sorted_drop_share(model_short, cfg.augment_min_scale, floor)
    if at_min - at_one <= AUGMENT_EXTRA_DROP_SHARE:
        return None
    safe = min(r["scale"] for r in table if r["drop_share"] - at_one <= AUGMENT_EXTRA_DROP_SHARE)
    n = len(model_short)
    params = {"min_scale": safe, "ultralytics_scale": round(1 - safe, 2), "min_side_px": floor}
    evidence = {
        "change": ctx.change,
        "table": table,
        "extra_drop_threshold": AUGMENT_EXTRA_DROP_SHARE,
        "num_boxes": n,
    }
    effect = {
        "drop_share_at_min_scale": at_min,
        "drop_share_at_1": at_one,
        "boxes_dropped_at_min_scale": round(at_min * n),
        "drop_share_at_safe_scale": sorted_drop_share(model_short, safe, floor),
    }
    summary = (
        f"Limit scale augmentation to >= {safe:g}x (Ultralytics scale={params['ultralytics_scale']:g}): at "
        f"{cfg.augment_min_scale:g}x the {floor:g} px minimum drops {pct(at_min)} of boxes "
        f"({effect['boxes_dropped_at_min_scale']} of {n}) {ctx.change}, against {pct(at_one)} unscaled"
    )
    return Recommendation("augmentation", summary, params, evidence, effect, 70)
