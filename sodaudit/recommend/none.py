"""The ``none`` recommendation: nothing needs changing, with the numbers that show it."""

from __future__ import annotations

from typing import Any

from sodaudit.recommend.base import Context, Recommendation, pct, what_small_means


def none_rec(ctx: Context, resolution: dict[str, Any]) -> Recommendation:
    n = len(ctx.rows)
    evidence = {
        "num_boxes": n,
        "share_reach_min_side": resolution["current_share"],
        "target_share": resolution["target_share"],
        "min_side_px": ctx.min_stride,
        "imgsz": ctx.imgsz,
        "what_small_means": what_small_means(ctx),
    }
    summary = (
        f"Nothing needs changing: {pct(resolution['current_share'])} of {n} boxes reach {ctx.min_stride} px "
        f"at imgsz {ctx.imgsz} (target {resolution['target_share']:.0%}), no merge candidates, no labels "
        "below the size rules, and the size mix is close to COCO's."
    )
    return Recommendation("none", summary, {}, evidence, {}, 100)
