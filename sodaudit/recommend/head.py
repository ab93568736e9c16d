"""The head recommendation: a stride-4 (P2) level when too many boxes stay below the smallest
stride at the plan's scale."""

from __future__ import annotations

from typing import Any

import numpy as np

from sodaudit.analyzers.strides import StridesModel
from sodaudit.models import anchor_points
from sodaudit.recommend.base import Context, Recommendation, pct
from sodaudit.sizepresets import SIZE_TOLERANCE_PX

P2_STRIDE = 4
P2_MODEL_YAMLS = {
    "yolov8": "yolov8-p2.yaml",
    "yolo11": "yolov8-p2.yaml",  # Ultralytics 8.4.190 ships no yolo11-p2.yaml (cfg/models/11/)
    "yolo26": "yolo26-p2.yaml",
}
"""Ultralytics' model yamls with a stride-4 level (ultralytics/cfg/models/v8, 26 at 8.4.190)."""


def head_rec(ctx: Context) -> Recommendation | None:
    """A stride-4 (P2) level when too many boxes stay below the smallest stride."""
    cfg = ctx.config.recommend
    s = ctx.min_stride
    if s <= P2_STRIDE:
        return None
    now = ctx.short * ctx.rows["scale"].to_numpy(np.float64)
    after = ctx.short * ctx.final_scale
    tol = SIZE_TOLERANCE_PX
    below = after < s - tol
    share = float(below.mean())
    recovered = int((below & (after >= P2_STRIDE - tol)).sum())
    if share <= cfg.p2_share or recovered == 0:
        return None
    n = len(after)
    strides = [P2_STRIDE, *ctx.preset.strides]
    size = ctx.plan.chosen.imgsz
    points_before = anchor_points(ctx.preset.strides, size)
    points_after = anchor_points(strides, size)
    params: dict[str, Any] = {"strides": strides}
    if ctx.preset.name in P2_MODEL_YAMLS:
        params["model_cfg"] = P2_MODEL_YAMLS[ctx.preset.name]
    params["cost"] = {
        "imgsz": size,
        "anchor_points_before": points_before,
        "anchor_points_after": points_after,
        "pretrained_weights": "none for the P2 level: Ultralytics ships P2 model yamls, not P2 checkpoints; "
        "start from the base model's weights (transfer the shared layers) and train longer",
    }
    evidence = {
        "model": ctx.preset.name,
        "smallest_stride": s,
        "p2_share_threshold": cfg.p2_share,
        "scale": ctx.change,
        "below_stride": int(below.sum()),
        "share_below_stride": share,
        "below_stride_at_imgsz": int((now < s - tol).sum()),
        "recovered_at_imgsz": int(((now < s - tol) & (now >= P2_STRIDE - tol)).sum()),
        "num_boxes": n,
    }
    result = ctx.results.get("strides")
    models: dict[str, StridesModel] = result.stats.models if result is not None else {}
    if models:
        evidence["strides_analyzer"] = {
            name: models[name].below_smallest_stride_share
            for name in (ctx.preset.name, "yolov8-p2")
            if name in models
        }
    effect = {
        "boxes_recovered": recovered,
        "share_recovered": recovered / n,
        "share_below_after": float((after < P2_STRIDE - tol).mean()),
    }
    summary = (
        f"Add a stride-{P2_STRIDE} (P2) head: {pct(share)} of boxes ({int(below.sum())} of {n}) stay "
        f"below stride {s} {ctx.change} (threshold {cfg.p2_share:.0%}); P2 recovers {recovered} of them "
        f"({pct(recovered / n)}), {pct(effect['share_below_after'])} stay below {P2_STRIDE} px. Cost: "
        f"{points_before:,} -> {points_after:,} anchor points at imgsz {size} "
        f"({points_after / points_before:.1f}x head work and memory), and no pretrained P2 weights"
    )
    return Recommendation("head", summary, params, evidence, effect, 30)
