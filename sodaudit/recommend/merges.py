"""The merges recommendation: class pairs to merge in a first version, from class_overlap."""

from __future__ import annotations

from sodaudit.analyzers.class_overlap_stats import ClassOverlapMergeCandidate
from sodaudit.jsonable import jsonable
from sodaudit.recommend.base import Context, Recommendation


def merges_rec(ctx: Context) -> Recommendation | None:
    """Merge look-alike or co-located class pairs in a first version, from class_overlap."""
    result = ctx.results.get("class_overlap")
    cands: list[ClassOverlapMergeCandidate] = result.stats.merge_candidates if result is not None else []
    if not cands:
        return None
    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for c in cands:  # a loop over class pairs
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
    evidence = {"candidates": [jsonable(c) for c in cands], "imgsz": ctx.imgsz}  # every field
    evidence["separability_px"] = ctx.config.class_overlap.separability_px
    params = {
        "pairs": [[c.class_a, c.class_b] for c in cands],
        "groups": groups_list,
        "into": ["+".join(g) for g in groups_list],
    }
    effect = {
        "classes_before": n_classes,
        "classes_after": n_classes - sum(len(g) - 1 for g in groups_list),
        "boxes_relabelled": relabelled,
    }
    first = cands[0]
    why = (
        f"median {first.median_px_a:.1f} and {first.median_px_b:.1f} px at imgsz {ctx.imgsz}, "
        f"KS size {first.ks_size:.2f}, aspect {first.ks_aspect:.2f}"
        if "small_alike" in first.reasons
        else f"{max(first.share_a, first.share_b):.0%} co-located at IoU >= "
        f"{ctx.config.class_overlap.cross_class_iou:g}"
    )
    summary = (
        f"Merge {'; '.join(' + '.join(g) for g in groups_list)} in a first version "
        f"({effect['classes_before']} -> {effect['classes_after']} classes, {relabelled} boxes relabelled): "
        f"{first.class_a} vs {first.class_b} {why}"
    )
    return Recommendation("merges", summary, params, evidence, effect, 40)
