"""The ``none`` recommendation: nothing needs changing, with the numbers that show it."""

from __future__ import annotations

from sodaudit.recommend.base import Context, Recommendation, pct, what_small_means


def none_rec(ctx: Context) -> Recommendation:
    plan = ctx.plan
    n = len(ctx.rows)
    evidence = {
        "num_boxes": n,
        "share_reach_min_side": plan.current_share,
        "target_share": plan.target_share,
        "min_side_px": plan.min_side_px,
        "imgsz": ctx.imgsz,
        "plan_reason": plan.reason,
        "what_small_means": what_small_means(ctx),
    }
    summary = (
        f"Nothing needs changing: {pct(plan.current_share)} of {n} boxes reach {plan.min_side_px} px "
        f"at imgsz {ctx.imgsz} (target {plan.target_share:.0%}); no stride, anchor, label-size, sampling or "
        "augmentation rule applies."
    )
    if plan.current_share < plan.target_share:
        summary = (
            f"No affordable change: {pct(plan.current_share)} of {n} boxes reach {plan.min_side_px} px "
            f"at imgsz {ctx.imgsz} (target {plan.target_share:.0%}) and {plan.reason}."
        )
        if plan.alternatives:
            summary += " Beyond the cap: " + "; ".join(a.text for a in plan.alternatives)
    return Recommendation("none", summary, {}, evidence, {}, 100)
