"""The merges recommendation: class pairs too small to tell apart *at the plan's scale*.

A pair is merged in a first version only when (1) the class_overlap analyzer found the two
alike in size and shape (``small_alike``), (2) both classes' median sqrt(w*h) at model input
*under the plan* stays below ``class_overlap.separability_px`` (a plan that enlarges objects
can make a merge moot), (3) both classes have ``recommend.min_count`` boxes, and (4) the
appearance test, when ``--pixels`` ran, did not separate them (balanced accuracy below
``class_overlap.separable_balanced_accuracy``). Pairs that are only co-located (one object
labelled with both classes, or a rider on a bicycle) are a labelling pattern for the
class_overlap findings, not a reason to merge; the patterns the analyzer found are named in
the evidence (``labelling_patterns``).

The dataset's own grouping is preferred (COCO ``supercategory``, kept by the loader in
``Dataset.meta["supercategories"]``): a group whose classes share a supercategory is merged into
that name (``params.from_supercategory`` true for it); a pair across two supercategories is said
so in ``evidence.across_supercategories`` and never chained with other pairs into a group.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sodaudit.analyzers.class_overlap_patterns import describe
from sodaudit.analyzers.class_overlap_stats import ClassOverlapMergeCandidate, ClassOverlapPattern
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


def supercategories(ctx: Context) -> dict[str, str]:
    """The dataset's own grouping, class name -> supercategory (COCO categories), or empty."""
    found = ctx.dataset.meta.get("supercategories")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def group_pairs(
    pairs: list[tuple[str, str]], supers: dict[str, str]
) -> tuple[list[list[str]], list[dict[str, object]]]:
    """Merge groups from the kept pairs, and the pairs that span two supercategories.

    Pairs within one supercategory (or where either class has none) chain into groups
    (a-b and b-c: one group). A pair across two of the dataset's supercategories is never
    merged: the dataset's own taxonomy says they are different kinds of object, and merging
    across it (a bench with a knife) is not a size decision; it is listed with the reason.
    """
    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    def spans(a: str, b: str) -> bool:
        return a in supers and b in supers and supers[a] != supers[b]

    for a, b in pairs:  # a loop over class pairs (bounded by max_merge_candidates)
        if not spans(a, b):
            parent[root(b)] = root(a)
    across: list[dict[str, object]] = [
        {
            "class_a": a,
            "class_b": b,
            "supercategory_a": supers[a],
            "supercategory_b": supers[b],
            "merged": False,
            "why": "the pair spans two of the dataset's supercategories: not merged",
        }
        for a, b in pairs
        if spans(a, b)
    ]
    groups: dict[str, list[str]] = {}
    for c in parent:
        groups.setdefault(root(c), []).append(c)
    return [sorted(g) for g in groups.values() if len(g) > 1], across


def group_names(groups: list[list[str]], supers: dict[str, str], classes: set[str]) -> list[tuple[str, bool]]:
    """Per group, the name to merge into and whether it is the group's supercategory: the
    shared supercategory when every class has the same one, no other group takes it, and it is
    not the name of a class outside the group; else the classes joined with ``+``."""
    shared = [
        supers[g[0]] if all(c in supers for c in g) and len({supers[c] for c in g}) == 1 else None
        for g in groups
    ]
    out = []
    for g, name in zip(groups, shared, strict=True):
        usable = name is not None and shared.count(name) == 1 and (name in g or name not in classes)
        out.append((name, True) if usable else ("+".join(g), False))
    return out


def _patterns(result) -> list[ClassOverlapPattern]:
    return list(getattr(result.stats, "patterns", None) or []) if result is not None else []


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
    supers = supercategories(ctx)
    groups_list, across = group_pairs([(c.class_a, c.class_b) for c in kept], supers)
    if not groups_list:
        return None
    names = group_names(groups_list, supers, set(ctx.class_counts()))
    group_of = {c: k for k, g in enumerate(groups_list) for c in g}
    merged = [c for c in kept if group_of.get(c.class_a, -1) == group_of.get(c.class_b, -2)]
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
    if supers:
        evidence["supercategories"] = {c: supers[c] for g in groups_list for c in g if c in supers}
    if across:
        evidence["across_supercategories"] = across
    patterns = _patterns(result)
    if patterns:
        evidence["labelling_patterns"] = [jsonable(p) for p in patterns]
        evidence["labelling_patterns_note"] = (
            "co-located pairs that follow a consistent labelling pattern (not merged): "
            + "; ".join(describe(p) for p in patterns)
        )
    params = {
        "pairs": [[c.class_a, c.class_b] for c in merged],
        "groups": groups_list,
        "into": [name for name, _ in names],
        "from_supercategory": [named for _, named in names],
    }
    effect = {
        "classes_before": n_classes,
        "classes_after": n_classes - sum(len(g) - 1 for g in groups_list),
        "boxes_relabelled": relabelled,
    }
    first = merged[0]
    why = (
        f"medians {medians[first.class_a]:.1f} and {medians[first.class_b]:.1f} px {ctx.change} (below "
        f"{co.separability_px:g}), KS size {first.ks_size:.2f}, aspect {first.ks_aspect:.2f}"
    )
    if not evidence["appearance_tested"]:
        why += "; run with --pixels to test whether their crops can be told apart"
    what = [
        " + ".join(g) + (f" into {n}" if named else "")
        for g, (n, named) in zip(groups_list, names, strict=True)
    ]
    summary = (
        f"Merge {'; '.join(what)} in a first version "
        f"({effect['classes_before']} -> {effect['classes_after']} classes, {relabelled} boxes relabelled): "
        f"{first.class_a} vs {first.class_b} {why}"
    )
    return Recommendation("merges", summary, params, evidence, effect, 40)
