"""The resolution recommendation: the plan's larger input size, with its cost and reach."""

from __future__ import annotations

from sodaudit.recommend.base import Context, Recommendation, pct


def resolution_rec(ctx: Context) -> Recommendation:
    """Train (and infer) at the plan's imgsz: letterboxed, upsampled where images are smaller."""
    plan = ctx.plan
    chosen = plan.chosen
    n = plan.num_boxes
    s = plan.min_side_px
    params = {"imgsz": chosen.imgsz, "ultralytics": f"yolo train imgsz={chosen.imgsz}"}
    evidence = {
        "current_imgsz": ctx.imgsz,
        "current_share": plan.current_share,
        "target_share": plan.target_share,
        "min_side_px": s,
        "max_cost": plan.max_cost,
        "max_imgsz": ctx.config.plan.max_imgsz,
        "reason": plan.reason,
        "num_boxes": n,
        "options": [o.to_dict() for o in plan.options],
    }
    effect = {
        "share_before": plan.current_share,
        "share_after": chosen.reach_share,
        "boxes_recovered": round((chosen.reach_share - plan.current_share) * n),
        "cost_factor": chosen.cost_factor,
    }
    summary = (
        f"Train and infer at imgsz {chosen.imgsz} instead of {ctx.imgsz} ({chosen.cost_factor:.2f}x the "
        f"compute): {pct(chosen.reach_share)} of {n} boxes then have a short side >= {s} px (now "
        f"{pct(plan.current_share)}, target {plan.target_share:.0%}); {plan.reason}"
    )
    if plan.alternatives:
        summary += ". Alternatives: " + "; ".join(a.text for a in plan.alternatives)
    return Recommendation("resolution", summary, params, evidence, effect, 10)
