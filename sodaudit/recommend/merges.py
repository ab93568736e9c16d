"""The merges recommendation: class pairs too small to tell apart *at the plan's scale*.

A pair is merged in a first version only when (1) the class_overlap analyzer found the two
alike in size and shape (``small_alike``), (2) both classes' median sqrt(w*h) at model input
*under the plan* stays below ``class_overlap.separability_px`` (a plan that enlarges objects
can make a merge moot), (3) both classes have ``recommend.min_count`` boxes, and (4) the
appearance test, when ``--pixels`` ran, did not separate them (balanced accuracy below
``class_overlap.separable_balanced_accuracy``). Pairs that are only co-located (one object
labelled with both classes, or a rider on a bicycle) are a labelling pattern for the
class_overlap findings, not a reason to merge.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sodaudit.analyzers.class_overlap_stats import ClassOverlapMergeCandidate
from sodaudit.jsonable import jsonable
from sodaudit.recommend.base import Context, Recommendation


def class_medians_at_plan(ctx: Context) -> dict[str, float]:
    """Per class name: median sqrt(w*h) at model input under the plan."""
    size = np.sqrt(ctx.rows["w"].to_numpy(np.float64) * ctx.rows["h"].to_numpy(np.float64)) * ctx.final_scale
    medians = pd.Series(size).groupby(ctx.rows["class_name"], observed=True, sort=False).median()
    return {str(k): float(v) for k, v in medians.items()}


def _separated(c: ClassOverlapMergeCandidate, threshold: float) -> bool:
    acc = c.appearance.balanced_accuracy
    return acc is not None and math.isfinite(acc) and acc >= threshold


def merges_rec(ctx: Context) -> Recommendation | None:
    """Merge the look-alike pairs that stay too small to tell apart at the plan's scale."""
    result = ctx.results.get("class_overlap")
    cands: list[ClassOverlapMergeCandidate] = result.stats.merge_candidates if result is not None else []
    alike = [c for c in cands if "small_alike" in c.reasons]
    if not alike:
        return None
    co = ctx.config.class_overlap
    minimum = ctx.config.recommend.min_count
    medians = class_medians_at_plan(ctx)
    kept: list[ClassOverlapMergeCandidate] = []
    judged = []
    for c in alike:  # a loop over class pairs (bounded by max_merge_candidates)
        ma, mb = medians.get(c.class_a, math.nan), medians.get(c.class_b, math.nan)
        small = ma < co.separability_px and mb < co.separability_px
        enough = c.n_a >= minimum and c.n_b >= minimum
        separated = _separated(c, co.separable_balanced_accuracy)
        judged.append(
            {
                "class_a": c.class_a,
                "class_b": c.class_b,
                "median_px_a_at_plan": ma,
                "median_px_b_at_plan": mb,
                "too_small_at_plan": small,
                "enough_boxes": enough,
                "separated_by_appearance": separated,
            }
        )
        if small and enough and not separated:
            kept.append(c)
    if not kept:
        return None
    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for c in kept:
        parent[root(c.class_b)] = root(c.class_a)
    groups: dict[str, list[str]] = {}
    for c in parent:
        groups.setdefault(root(c), []).append(c)
    groups_list = [sorted(g) for g in groups.values() if len(g) > 1]
    counts = ctx.class_counts()
    relabelled = sum(
        int(sum(counts.get(c, 0) for c in g) - max(counts.get(c, 0) for c in g)) for g in groups_list
    )
    n_classes = len(counts)
    evidence = {
        "candidates": [jsonable(c) for c in kept],
        "judged_at_plan": judged,
        "change": ctx.change,
        "separability_px": co.separability_px,
        "appearance_tested": any(c.appearance.balanced_accuracy is not None for c in kept),
    }
    params = {
        "pairs": [[c.class_a, c.class_b] for c in kept],
        "groups": groups_list,
        "into": ["+".join(g) for g in groups_list],
    }
    effect = {
        "classes_before": n_classes,
        "classes_after": n_classes - sum(len(g) - 1 for g in groups_list),
        "boxes_relabelled": relabelled,
    }
    first = kept[0]
    why = (
        f"medians {medians[first.class_a]:.1f} and {medians[first.class_b]:.1f} px {ctx.change} (below "
        f"{co.separability_px:g}), KS size {first.ks_size:.2f}, aspect {first.ks_aspect:.2f}"
    )
    if not evidence["appearance_tested"]:
        why += "; run with --pixels to test whether their crops can be told apart"
    summary = (
        f"Merge {'; '.join(' + '.join(g) for g in groups_list)} in a first version "
        f"({effect['classes_before']} -> {effect['classes_after']} classes, {relabelled} boxes relabelled): "
        f"{first.class_a} vs {first.class_b} {why}"
    )
    return Recommendation("merges", summary, params, evidence, effect, 40)
