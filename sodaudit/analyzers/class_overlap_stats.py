"""The typed stats of the class_overlap analyzer: ``analyzers.class_overlap.stats`` in report.json."""

from __future__ import annotations

from typing import Annotated

import msgspec


class ClassOverlapPair(msgspec.Struct, kw_only=True):
    """One pair of classes whose boxes overlap with IoU >= cross_class_iou."""

    class_a: str
    class_b: str
    pairs: Annotated[int, msgspec.Meta(description="overlapping box pairs")]
    boxes_a: Annotated[int, msgspec.Meta(description="class-a boxes overlapping a class-b box")]
    boxes_b: int
    share_a: Annotated[float, msgspec.Meta(description="boxes_a over every class-a box")]
    share_b: float
    pattern_pairs: Annotated[
        int, msgspec.Meta(description="of pairs, those in a consistent labelling pattern (see patterns)")
    ] = 0


class ClassOverlapPattern(msgspec.Struct, kw_only=True):
    """A class pair whose overlapping boxes follow one annotation protocol (a rider on a
    bicycle): many images, a consistent IoU, one box consistently larger on one side."""

    class_a: str
    class_b: str
    pairs: Annotated[int, msgspec.Meta(description="pairs that follow the pattern: not double labels")]
    images: Annotated[int, msgspec.Meta(description="images with a pair that follows the pattern")]
    other_pairs: Annotated[
        int, msgspec.Meta(description="pairs of the two classes off the pattern: still double labels")
    ]
    iou_median: Annotated[float, msgspec.Meta(description="over every pair of the two classes")]
    iou_iqr: Annotated[float, msgspec.Meta(description="interquartile range of the pairs' IoU")]
    larger_class: Annotated[str, msgspec.Meta(description="the class whose box is the larger on side")]
    side: Annotated[str, msgspec.Meta(description="height or width")]
    side_ratio_median: Annotated[
        float, msgspec.Meta(description="median side of larger_class over the other's, pattern pairs")
    ]
    consistent_share: Annotated[
        float, msgspec.Meta(description="share of the pairs where larger_class's side is the larger")
    ]


class ClassOverlapPairAppearance(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The crop classifier of one merge candidate (--pixels): empty when it was not run."""

    crops_a: int | None = None
    crops_b: int | None = None
    balanced_accuracy: Annotated[
        float | None,
        msgspec.Meta(description="cross-validated; null when a class had too few readable crops"),
    ] = None
    """NaN (null in JSON) when a class had too few crops; None (left out) when not run."""
    folds: int | None = None
    reason: str | None = None


class ClassOverlapMergeCandidate(msgspec.Struct, kw_only=True):
    """A class pair that may not be separable at model input, and its evidence."""

    class_a: str
    class_b: str
    n_a: int
    n_b: int
    reasons: Annotated[list[str], msgspec.Meta(description="colocation and/or small_alike")]
    pairs: int
    share_a: float
    share_b: float
    median_px_a: Annotated[float, msgspec.Meta(description="median sqrt(area) at model input")]
    median_px_b: float
    ks_size: Annotated[float, msgspec.Meta(description="two-sample KS statistic on log size")]
    ks_aspect: Annotated[float, msgspec.Meta(description="two-sample KS statistic on log aspect")]
    pattern_pairs: Annotated[
        int, msgspec.Meta(description="of pairs, those in a consistent labelling pattern")
    ] = 0
    appearance: ClassOverlapPairAppearance = msgspec.field(default_factory=ClassOverlapPairAppearance)


class ClassOverlapAppearance(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The crop classifier over the merge candidates (--pixels): the counts when it ran."""

    ran: bool
    reason: str | None = None
    crop_px: int | None = None
    crops_read: int | None = None
    crops_failed: int | None = None
    max_crops_per_class: int | None = None


class ClassOverlapStats(msgspec.Struct, kw_only=True):
    """Cross-class double labels, same-class ground truth NMS would remove, merge candidates."""

    num_boxes: Annotated[int, msgspec.Meta(description="valid non-ignore boxes")]
    images_over_pair_limit: int
    cross_class_pairs: Annotated[
        int, msgspec.Meta(description="cross-class pairs with IoU >= cross_class_iou, patterns included")
    ]
    cross_class_images: int
    cross_class_double_labels: Annotated[
        int, msgspec.Meta(description="cross_class_pairs minus the pattern pairs: the finding's count")
    ]
    cross_class_double_label_images: int
    cross_class_pattern_pairs: int
    patterns: Annotated[
        list[ClassOverlapPattern],
        msgspec.Meta(description="class pairs whose overlaps are a labelling pattern, not double labels"),
    ]
    cross_class_by_pair: list[ClassOverlapPair]
    cross_class_pair_counts: Annotated[
        dict[str, dict[str, int]], msgspec.Meta(description="class -> other class -> overlapping pairs")
    ]
    cross_class_matrix: Annotated[
        dict[str, dict[str, float]],
        msgspec.Meta(description="class a -> class b -> share of a's boxes overlapping a b box; 0 left out"),
    ]
    nms_suppressed_pairs: int
    nms_suppressed_boxes: int
    nms_suppressed_by_class: dict[str, int]
    appearance: ClassOverlapAppearance
    num_merge_candidates: int
    merge_candidates: Annotated[
        list[ClassOverlapMergeCandidate], msgspec.Meta(description="the first max_merge_candidates")
    ]
