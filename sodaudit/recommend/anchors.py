"""The anchors recommendation: k-means anchors for a ratio-rule model with a low BPR."""

from __future__ import annotations

from sodaudit.analyzers.anchors_stats import AnchorsRatioPreset, AnchorsStats
from sodaudit.recommend.base import Context, Recommendation


def anchors_rec(ctx: Context) -> Recommendation | None:
    """New anchors for a ratio-rule (YOLOv5-style) model whose BPR is below the warning level."""
    if ctx.preset.assigner != "ratio":
        return None
    result = ctx.results.get("anchors")
    if result is None:
        return None
    stats: AnchorsStats = result.stats
    current = stats.presets.get(ctx.preset.name)
    suggested = stats.suggested
    warn = ctx.config.anchors.bpr_warn
    if not isinstance(current, AnchorsRatioPreset) or current.bpr >= warn:
        return None
    if suggested.status != "ok" or not suggested.improves:
        return None
    from sodaudit.analyzers.anchors import anchors_yaml  # the analyzer writes the YAML once

    params = {
        "anchors": suggested.levels,
        "strides": suggested.strides,
        "yaml": anchors_yaml(suggested),
    }
    evidence = {
        "model": ctx.preset.name,
        "bpr": current.bpr,
        "anchors_per_target": current.anchors_per_target,
        "bpr_warn": warn,
        "num_uncovered": current.num_uncovered,
        "imgsz": ctx.imgsz,
    }
    effect = {"bpr_before": current.bpr, "bpr_after": suggested.bpr}
    effect["anchors_per_target_after"] = suggested.anchors_per_target
    anchors = [list(a) for a in suggested.anchors]  # shown as [[w, h], ...], as in report.json
    summary = (
        f"Replace the {ctx.preset.name} anchors: BPR {current.bpr:.3f} at imgsz {ctx.imgsz} (below "
        f"{warn:g}); k-means anchors {anchors} reach BPR {suggested.bpr:.3f}"
    )
    return Recommendation("anchors", summary, params, evidence, effect, 35)
