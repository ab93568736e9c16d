"""Recommendations: what to change, each computed on the dataset itself.

``recommend`` turns the dataset, the analyzer results and the judged findings into advice:
- ``fix_data`` first, when the data itself breaks training or evaluation (error findings);
- the **plan** (:mod:`.plan`): nothing, a larger imgsz or tiling, chosen by one rule under one
  cost model, with the alternatives and what they cost;
- then every later recommendation (P2 head, anchors, merges, label policy, sampling,
  augmentation) judged at the scale the plan leaves boxes at (``Context.plan.box_scale``).
Boxes judged are valid, non-ignore boxes of images with a known size. Below
``recommend.min_boxes`` of them only ``fix_data`` is given, with a note saying why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import Finding
from sodaudit.models import MODELS
from sodaudit.recommend.anchors import anchors_rec
from sodaudit.recommend.augmentation import (
    AUGMENT_EXTRA_DROP_SHARE,
    AUGMENT_SCALES,
    augmentation_rec,
    drop_share,
    sorted_drop_share,
)
from sodaudit.recommend.base import KINDS, Context, Recommendation, count_prefix, what_small_means
from sodaudit.recommend.effective import effective_samples
from sodaudit.recommend.fix_data import fix_data_rec
from sodaudit.recommend.head import P2_STRIDE, head_rec
from sodaudit.recommend.judged import JudgedRows
from sodaudit.recommend.labels import flagged_per_class, labels_rec, most_common_box_image_size
from sodaudit.recommend.merges import merges_rec
from sodaudit.recommend.none import none_rec
from sodaudit.recommend.plan import (
    Plan,
    PlanOption,
    make_plan,
    resolution_candidates,
    share_reaching,
    tile_overlap_ratio,
)
from sodaudit.recommend.resolution import resolution_rec
from sodaudit.recommend.sampling import repeat_factors, sampling_rec
from sodaudit.recommend.scale_match import coco_mix, scale_gap, sorted_mix
from sodaudit.recommend.tiling import tiling_rec
from sodaudit.sizepresets import SIZE_PRESETS

__all__ = [
    "AUGMENT_EXTRA_DROP_SHARE",
    "AUGMENT_SCALES",
    "KINDS",
    "P2_STRIDE",
    "Advice",
    "Context",
    "Plan",
    "PlanOption",
    "Recommendation",
    "coco_mix",
    "count_prefix",
    "drop_share",
    "flagged_per_class",
    "most_common_box_image_size",
    "recommend",
    "repeat_factors",
    "resolution_candidates",
    "scale_gap",
    "share_reaching",
    "sorted_drop_share",
    "sorted_mix",
    "tile_overlap_ratio",
    "what_small_means",
]

PLAN_COLUMNS = (
    "image_id",
    "x",
    "y",
    "w",
    "h",
    "img_w",
    "img_h",
    "short_side",
    "long_side",
    "source_file",
    "source_line",
)
"""The box columns :func:`make_plan` reads (the tiling simulation and COCO polygons included)."""
CONTEXT_COLUMNS = tuple(
    dict.fromkeys(
        (
            "image_id",
            "class_name",
            "w",
            "h",
            "img_w",
            "img_h",
            "scale",
            "area",
            "coco_area",
            "short_side",
            *(p.measure for p in SIZE_PRESETS.values()),
        )
    )
)
"""The box columns the recommendations read from ``Context.rows`` (and the effective samples)."""
BOX_COLUMNS = tuple(dict.fromkeys((*PLAN_COLUMNS, *CONTEXT_COLUMNS)))
"""Every box column the recommendations read."""


@dataclass(frozen=True)
class Advice:
    """The plan (``None`` when no box could be judged), the recommendations most important
    first, the scale-gap information for pretrained weights, and notes on what was left out."""

    plan: Plan | None
    recommendations: tuple[Recommendation, ...]
    scale_gap: Mapping[str, object] | None = None
    notes: tuple[str, ...] = ()
    effective: Mapping[str, Any] | None = None
    """Effective sample size per class x size bucket at the plan's scale (recommend.effective)."""


def recommend(
    dataset: Dataset,
    config: Config,
    results: Mapping[str, AnalyzerResult],
    findings: Sequence[Finding] = (),
) -> Advice:
    """Every recommendation that applies, most important first; ``none`` when nothing does."""
    fix = fix_data_rec(findings)
    first = (fix,) if fix is not None else ()
    rows = JudgedRows.of(dataset, BOX_COLUMNS)  # each column taken when read (recommend.judged)
    minimum = config.recommend.min_boxes
    if len(rows) < minimum:
        note = (
            f"Only {len(rows)} valid, non-ignore boxes in images of known size (fewer than "
            f"recommend.min_boxes = {minimum}): no model or training advice, it would be noise."
        )
        recs = first or (Recommendation("none", note, evidence={"num_judged_boxes": len(rows)}),)
        return Advice(None, recs, notes=(note,))
    preset = MODELS.get(config.model, MODELS["yolov8"])
    plan = make_plan(dataset, config, preset, rows)
    short = rows["short_side"].to_numpy(np.float64)
    long_img = np.maximum(rows["img_w"].to_numpy(np.float64), rows["img_h"].to_numpy(np.float64))
    ctx = Context(dataset, config, results, rows, preset, short, long_img, plan)
    recs: list[Recommendation] = list(first)
    if plan.primary == "resolution":
        recs.append(resolution_rec(ctx))
    elif plan.primary == "tiling":
        recs.append(tiling_rec(ctx))
    for make in (head_rec, anchors_rec, merges_rec, labels_rec, sampling_rec, augmentation_rec):
        rec = make(ctx)
        if rec is not None:
            recs.append(rec)
    if not recs:
        recs.append(none_rec(ctx))
    gap = scale_gap(ctx)
    splits = results.get("splits")
    groups = splits.shared.get("sequence_groups") if splits is not None else None
    del ctx, short, long_img  # the context's arrays go before the effective samples' sorts
    # ``rows`` reads each column when asked: effective_samples holds w, h for one product only.
    effective = effective_samples(dataset.images, rows, plan.box_scale, config.recommend.min_count, groups)
    recs_sorted = tuple(sorted(recs, key=lambda r: r.priority))
    return Advice(plan, recs_sorted, scale_gap=gap, effective=effective)
