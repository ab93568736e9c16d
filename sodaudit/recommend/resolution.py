"""The resolution recommendation: the smallest imgsz reaching the target, or the capture limit."""

from __future__ import annotations

from typing import Any

from sodaudit.recommend.base import Context, Recommendation, pct


def resolution_rec(ctx: Context, plan: dict[str, Any], tiling: bool) -> Recommendation:
    cfg = ctx.config.recommend
    pick = plan["pick"]
    n = plan["num_boxes"]
    s = ctx.min_stride
    ev = {k: plan[k] for k in ("current_imgsz", "current_share", "target_share", "min_side_px", "candidates")}
    ev.update(native_share=plan["native_share"], native_imgsz=plan["native_imgsz"], num_boxes=n)
    ev["max_cost"] = cfg.max_cost
    now = f"{pct(plan['current_share'])} of {n} boxes have a short side >= {s} px at imgsz {ctx.imgsz}"
    if pick is None:
        summary = (
            f"Resolution cannot reach the target: {now}; even at native resolution (imgsz "
            f"{plan['native_imgsz']}) only {pct(plan['native_share'])} do (target "
            f"{cfg.target_share:.0%}). Only a higher capture resolution can; upsampling adds no information."
        )
        params = {"imgsz": None, "capture_limited": True, "native_imgsz": plan["native_imgsz"]}
        best = plan["candidates"][-1]
        effect = {"share_at_native": best["share"], "cost_at_native": best["cost"]}
    else:
        cost = plan["pick_cost"]
        reached = next(c["share"] for c in plan["candidates"] if c["imgsz"] == pick)
        params = {"imgsz": pick, "capture_limited": False}
        effect = {
            "share_before": plan["current_share"],
            "share_after": reached,
            "boxes_recovered": round((reached - plan["current_share"]) * n),
            "relative_compute": cost,
        }
        summary = (
            f"Raise imgsz from {ctx.imgsz} to {pick}: {pct(reached)} of boxes then reach {s} px "
            f"(now {pct(plan['current_share'])}, target {cfg.target_share:.0%}) at {cost:.2f}x the compute"
        )
        if cost > cfg.max_cost:
            summary += f", more than the {cfg.max_cost:g}x cap" + ("; tile instead" if tiling else "")
    return Recommendation("resolution", summary, params, ev, effect, 20 if tiling or pick is None else 10)
