"""The typed stats of the anchors analyzer (``analyzers.anchors.stats`` in report.json).

Their own module: :mod:`~sodaudit.analyzers.anchor_fit` writes the YAML of a suggestion and
:mod:`~sodaudit.analyzers.anchors` fills them in, so both import them from here.

A preset is one of two shapes, told apart by its ``assigner`` (a msgspec tag, written first
in JSON): the ratio rule (YOLOv5-style anchors) or IoU matching on the stride grid.
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class AnchorsRatioGroup(msgspec.Struct, kw_only=True):
    """Ratio-rule coverage of one group of boxes (a size bucket or a class)."""

    n: int
    bpr: float
    anchors_per_target: float


class AnchorsIouGroup(msgspec.Struct, kw_only=True):
    """IoU-matching coverage of one group of boxes (a size bucket or a class)."""

    n: int
    coverage: float
    ignore_band_share: float
    mean_best_iou: float


class AnchorsRatioPreset(msgspec.Struct, kw_only=True, tag_field="assigner", tag="ratio"):
    """Anchors matched by the ratio rule max(r, 1/r) < ratio_thr (YOLOv5 check_anchors)."""

    strides: list[int]
    anchors: list[list[tuple[float, float]]]
    """Per level, the (w, h) of each anchor in pixels at imgsz."""
    ratio_thr: float
    bpr: Annotated[
        float,
        msgspec.Meta(
            description="Best possible recall: share of valid non-ignore boxes at imgsz (no random "
            "scaling) that at least one anchor covers by the ratio rule."
        ),
    ]
    anchors_per_target: Annotated[
        float,
        msgspec.Meta(description="Mean number of anchors that cover a box by the ratio rule."),
    ]
    num_uncovered: int
    by_bucket: dict[str, AnchorsRatioGroup]
    """AI-TOD size buckets at model input; empty buckets left out."""
    by_class: dict[str, AnchorsRatioGroup]


class AnchorsIouPreset(msgspec.Struct, kw_only=True, tag_field="assigner", tag="iou"):
    """Anchors on the stride grid matched by IoU (RetinaNet, Faster R-CNN)."""

    strides: list[int]
    iou_pos: float
    iou_neg: float
    coverage: float
    """Share of boxes that some anchor reaches with IoU >= iou_pos."""
    ignore_band_share: float
    below_neg_share: float
    median_best_iou: float
    num_uncovered: int
    by_bucket: dict[str, AnchorsIouGroup]
    by_class: dict[str, AnchorsIouGroup]


AnchorsPreset = AnchorsRatioPreset | AnchorsIouPreset
"""A preset's coverage, of either shape."""


class AnchorsSuggestion(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Anchors fitted as YOLOv5's ``kmean_anchors`` does (k-means, then evolution), judged as its
    ``check_anchors`` does: they replace the default anchors only with a higher BPR.

    ``anchors``, ``levels``, ``bpr`` and ``fitness`` describe the result: the fitted anchors
    (``ok``) or the default ones (``defaults_kept``). ``fitted_*``, ``*_kmeans`` describe the fit
    whether or not it was kept.
    """

    status: str
    """``ok`` (the fitted anchors beat the defaults), ``defaults_kept`` (their BPR is not higher:
    ``anchors`` are the defaults, ``reason`` says so), ``too_few_boxes`` (no anchors) or
    ``not_applicable`` (the selected model has no YOLOv5-style anchors to fit: anchor-free or
    IoU-matched; no fit is run, ``reason`` says so)."""
    imgsz: int
    """Model input size the box sides were measured at."""
    num_anchors: int
    ratio_thr: float
    seed: int
    evolve_generations: int
    num_boxes: int
    """Boxes BPR is measured over: every valid non-ignore box."""
    before_model: str
    bpr_before: float
    anchors_per_target_before: float
    strides: list[int]
    num_kmeans_boxes_total: int
    """Boxes with a side of at least 2 px at imgsz: YOLOv5 clusters all of them."""
    num_kmeans_boxes: int
    """Boxes clustered and evolved on: a seeded sample when there are more than the cap."""
    subsampled: bool
    init: str | None = None
    """``kmeans``, or ``random`` when scipy's k-means lost a cluster (YOLOv5's fallback)."""
    bpr_kmeans: float | None = None
    """BPR of the k-means anchors (rounded to integers) before the evolution."""
    fitness_kmeans: float | None = None
    fitted_anchors: list[tuple[int, int]] | None = None
    """The k-means + evolution anchors (integers, by area), kept or not."""
    bpr_fitted: float | None = None
    fitness_fitted: float | None = None
    anchors: list[tuple[int, int]]
    levels: list[list[tuple[int, int]]]
    bpr: float
    anchors_per_target: float | None = None
    fitness: Annotated[
        float | None,
        msgspec.Meta(
            description="YOLOv5's anchor fitness of ``anchors`` on the clustered boxes: mean of "
            "best * (best > 1/ratio_thr), best being a box's best ratio metric."
        ),
    ] = None
    improves: bool | None = None
    """Whether ``anchors`` are the fitted ones with a higher BPR than the defaults."""
    reason: str | None = None


class AnchorsStats(msgspec.Struct, kw_only=True):
    """Whether the anchors of anchor-based presets can match the boxes at model input."""

    imgsz: int
    model: str
    ratio_thr: float
    num_boxes: int
    num_boxes_without_image_size: int
    presets: dict[str, AnchorsPreset]
    suggested: AnchorsSuggestion
