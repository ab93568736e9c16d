"""Recommendations: what to change, each computed on the dataset itself.

``recommend`` turns the dataset and the analyzer results into a short list of concrete changes
(resolution, tiling, merges, anchors, head, label policy, sampling, augmentation, scale match),
each with parameters, the numbers behind it and its simulated effect. When nothing needs
changing it returns one recommendation of kind ``none`` with the numbers that show it.

The changes build on each other: the *primary* change (a larger imgsz, or tiling) sets the
scale at which every box reaches the model, and the later recommendations (P2 head, ignore
rule, oversampling, augmentation survival) are judged at that scale, so they say what is
still needed after it. Boxes judged are valid, non-ignore boxes of images with a known size.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset
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
from sodaudit.recommend.head import P2_STRIDE, head_rec
from sodaudit.recommend.labels import flagged_per_class, labels_rec, most_common_box_image_size
from sodaudit.recommend.merges import merges_rec
from sodaudit.recommend.none import none_rec
from sodaudit.recommend.plan import (
    resolution_candidates,
    resolution_plan,
    share_reaching,
    tile_overlap_ratio,
    tiling_plan,
)
from sodaudit.recommend.resolution import resolution_rec
from sodaudit.recommend.sampling import oversample_factor, sampling_rec
from sodaudit.recommend.scale_match import (
    SCALE_MATCH_FACTORS,
    SCALE_MATCH_MIN_DISTANCE,
    SCALE_MATCH_MIN_GAIN,
    coco_mix,
    scale_match_rec,
    sorted_mix,
)
from sodaudit.recommend.tiling import tiling_rec
from sodaudit.sizepresets import SIZE_PRESETS

__all__ = [
    "AUGMENT_EXTRA_DROP_SHARE",
    "AUGMENT_SCALES",
    "KINDS",
    "P2_STRIDE",
    "SCALE_MATCH_FACTORS",
    "SCALE_MATCH_MIN_DISTANCE",
    "SCALE_MATCH_MIN_GAIN",
    "Context",
    "Recommendation",
    "coco_mix",
    "count_prefix",
    "drop_share",
    "flagged_per_class",
    "most_common_box_image_size",
    "oversample_factor",
    "recommend",
    "resolution_candidates",
    "resolution_plan",
    "share_reaching",
    "sorted_drop_share",
    "sorted_mix",
    "tile_overlap_ratio",
    "tiling_plan",
    "what_small_means",
]

BOX_COLUMNS = tuple(
    dict.fromkeys(
        (
            "image_id",
            "class_name",
            "x",
            "y",
            "w",
            "h",
            "img_w",
            "img_h",
            "scale",
            "area",
            "short_side",
            "long_side",
            *(p.measure for p in SIZE_PRESETS.values()),
        )
    )
)
"""The box columns the recommendations read (``Context.rows``, the tiling simulation)."""


def recommend(
    dataset: Dataset, config: Config, results: Mapping[str, AnalyzerResult]
) -> list[Recommendation]:
    """Every recommendation that applies, most important first; ``none`` when nothing does."""
    b = dataset.selected_boxes(*BOX_COLUMNS)
    img_w = b["img_w"].to_numpy(np.float64)
    img_h = b["img_h"].to_numpy(np.float64)
    sized = np.isfinite(img_w) & np.isfinite(img_h) & (img_w > 0) & (img_h > 0)
    rows = (b if sized.all() else b[sized]).reset_index(drop=True)
    preset = MODELS.get(config.model, MODELS["yolov8"])
    ctx = Context(
        dataset,
        config,
        results,
        rows,
        preset,
        rows["short_side"].to_numpy(np.float64),
        np.maximum(rows["img_w"].to_numpy(np.float64), rows["img_h"].to_numpy(np.float64)),
    )
    if len(rows) == 0:
        return [
            Recommendation(
                "none",
                "No valid, non-ignore boxes in images of known size: nothing to recommend.",
                evidence={"num_boxes": len(b), "num_judged_boxes": 0},
            )
        ]
    ctx.final_scale = rows["scale"].to_numpy(np.float64)
    ctx.change = f"at imgsz {config.imgsz}"

    recs: list[Recommendation] = []
    resolution = resolution_plan(ctx)
    tiling = None
    if resolution["needs_change"] and resolution["tiling_preferred"]:
        tiling = tiling_plan(ctx)
    if tiling is not None:
        recs.append(tiling_rec(ctx, tiling, resolution))
    if resolution["needs_change"]:
        recs.append(resolution_rec(ctx, resolution, tiling is not None))
        if (
            tiling is None
            and resolution["pick"] is not None
            and resolution["pick_cost"] <= config.recommend.max_cost
        ):
            pick = resolution["pick"]
            ctx.final_scale = pick / ctx.long_img
            ctx.change = f"at imgsz {pick}"
    for make in (
        head_rec,
        anchors_rec,
        merges_rec,
        labels_rec,
        sampling_rec,
        augmentation_rec,
        scale_match_rec,
    ):
        rec = make(ctx)
        if rec is not None:
            recs.append(rec)
    if not recs:
        recs.append(none_rec(ctx, resolution))
    return sorted(recs, key=lambda r: r.priority)
