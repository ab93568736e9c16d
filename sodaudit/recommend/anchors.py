"""The anchors recommendation: YOLOv5 autoanchor's k-means anchors for a ratio-rule model whose
BPR is low *at the plan's scale* (the plan changes every box's size at model input, so
anchors fitted at today's imgsz would be fitted to the wrong sizes)."""

from __future__ import annotations

import numpy as np

from sodaudit.analyzers.anchor_match import ratio_count
from sodaudit.recommend.base import Context, Recommendation


def anchors_rec(ctx: Context) -> Recommendation | None:
    """New anchors for a ratio-rule (YOLOv5-style) model whose BPR under the plan is below
    ``anchors.bpr_warn``, when the suggestion beats the current anchors."""
    if ctx.preset.assigner != "ratio" or not ctx.preset.anchors:
        return None
    from sodaudit.analyzers.anchor_fit import anchors_yaml
    from sodaudit.analyzers.anchor_suggest import suggest_for_sizes

    cfg = ctx.config.anchors
    w = ctx.rows["w"].to_numpy(np.float64) * ctx.final_scale
    h = ctx.rows["h"].to_numpy(np.float64) * ctx.final_scale
    current = np.asarray([a for level in ctx.preset.anchors for a in level], dtype=np.float64)
    count = ratio_count(w, h, current, cfg.ratio_thr)
    n = len(w)
    bpr = float(np.count_nonzero(count)) / n if n else float("nan")
    if not n or bpr >= cfg.bpr_warn:
        return None
    suggested = suggest_for_sizes(w, h, ctx.config, imgsz=ctx.plan.chosen.imgsz)
    if suggested.status != "ok" or not suggested.improves:
        return None
    params = {"anchors": suggested.levels, "strides": suggested.strides, "yaml": anchors_yaml(suggested)}
    evidence = {
        "model": ctx.preset.name,
        "change": ctx.change,
        "bpr": bpr,
        "anchors_per_target": float(count.sum()) / n,
        "bpr_warn": cfg.bpr_warn,
        "num_uncovered": int(n - np.count_nonzero(count)),
        "evolve_generations": cfg.evolve_generations,
    }
    effect = {
        "bpr_before": bpr,
        "bpr_after": suggested.bpr,
        "anchors_per_target_after": suggested.anchors_per_target,
    }
    anchors = [list(a) for a in suggested.anchors]  # shown as [[w, h], ...], as in report.json
    summary = (
        f"Replace the {ctx.preset.name} anchors: BPR {bpr:.3f} {ctx.change} (below {cfg.bpr_warn:g}); "
        f"autoanchor's k-means and evolution give {anchors}, BPR {suggested.bpr:.3f}"
    )
    return Recommendation("anchors", summary, params, evidence, effect, 35)
