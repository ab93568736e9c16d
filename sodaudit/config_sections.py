"""The configuration's sections: one frozen dataclass per analyzer (and the plan, the
recommendations, limits, baseline, diff), each field with its named default and, under it, the
docstring ``sodaudit config`` and ``--help`` show. :class:`sodaudit.config.Config` holds one of
each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IntegrityConfig:
    outside_tolerance_px: float = 0.5
    """A box may overhang the image by rounding error; beyond this it is reported."""
    area_mismatch_ratio: float = 0.5
    """COCO ``area`` vs w*h: relative difference above which the two disagree."""
    duplicate_iou: float = 0.95
    """Same class, same image, IoU at or above this: a duplicate label."""
    hash_max_images: int = 20000
    """Content-hash image files (identical images across splits) only up to this many images."""
    dense_boxes_per_image: float = 20.0
    """Median boxes per image from which a dataset without ignore regions gets a note."""
    dense_small_px: float = 32.0
    """... counting boxes under this √(w·h) at model input as small (COCO's small bound) ..."""
    dense_small_share: float = 0.5
    """... when at least this share of its boxes is small."""


@dataclass(frozen=True)
class SizesConfig:
    quantiles: tuple[float, ...] = (1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0)
    """Percentiles reported for every size distribution."""
    max_det_caps: tuple[tuple[str, int], ...] = (
        ("COCOeval", 100),
        ("YOLO", 300),
        ("VisDrone", 500),
        ("AI-TOD", 1500),
    )
    """Detector and evaluator caps on detections per image; crowded images lose boxes beyond."""
    relative_area_bounds: tuple[float, ...] = (0.0001, 0.001, 0.01)
    """Bucket bounds of the ``relative`` preset, as shares of the image area."""
    heatmap_bins: int = 32
    """Cells per side of the box-centre heatmap."""
    mostly_small_share: float = 0.5
    """Share of boxes COCO-small at model input above which ``sizes.mostly_small`` is reported."""
    extreme_aspect: float = 4.0
    """w/h above this (or below its inverse) is an extreme aspect ratio."""
    extreme_aspect_share: float = 0.05
    """Share of extreme-aspect boxes above which ``sizes.extreme_aspect`` is reported."""
    label_noise_sigma_px: float = 1.0
    """Label noise at model input: each box corner of a labeling jittered by a Gaussian of this
    sigma (px), for the IoU ceiling of ``label_noise`` (0: no noise)."""
    label_noise_min_p: float = 0.9
    """Two labelings of one object must reach an IoU this often: below it at IoU 0.5 in the
    smallest populated bucket, ``sizes.noise_ceiling``; the suggested IoU is the largest reaching it."""
    label_noise_warn_share: float = 0.05
    """Share of labels (at model input) in that bucket from which ``sizes.noise_ceiling`` is a
    warning (else info)."""


@dataclass(frozen=True)
class SubthresholdConfig:
    min_side_native_px: float = 2.0
    """Labels with a side below this many native pixels are sub-threshold."""
    min_side_model_px: float = 3.0
    """3 px at imgsz matches the well-known YOLOv5 warning ``N of M labels are < 3 pixels``."""
    min_area_share: float | None = None
    """Optional: labels whose area is below this share of the image area."""
    review_screen_px: float = 32.0
    """On-screen size a reviewer needs to judge a label; zoom = this / box size."""
    zoom_flag: float = 4.0
    """Zoom factor from which a label counts as hard to review."""
    warn_share: float = 0.01
    """Share of sub-threshold labels above which the finding is a warning (else info)."""
    class_mostly_share: float = 0.5
    """A class with more than this share of sub-threshold labels gets its own finding."""


@dataclass(frozen=True)
class ClassOverlapConfig:
    cross_class_iou: float = 0.7
    """Two boxes of different classes overlapping at least this much: one object labelled twice."""
    nms_iou: float = 0.7
    """NMS IoU: same-class ground truth overlapping more than this would be suppressed."""
    separability_px: float = 12.0
    """Both classes' median size at imgsz below this: too small to tell apart."""
    colocation_share: float = 0.3
    """Share of a class's boxes overlapping the other class (IoU >= cross_class_iou) that
    makes the pair a merge candidate."""
    size_similarity_ks: float = 0.2
    """Two-sample KS statistic on log size below which two classes' sizes look alike."""
    aspect_similarity_ks: float = 0.2
    """Two-sample KS statistic on log aspect ratio below which two classes' shapes look alike."""
    min_class_boxes: int = 10
    """Classes with fewer boxes are not compared for size similarity."""
    max_merge_candidates: int = 50
    """Merge candidates reported as findings (and tested on pixels); all are in the table."""
    max_crops_per_class: int = 200
    """Crops read per class for the appearance test (--pixels)."""
    separable_balanced_accuracy: float = 0.6
    """Crop classifier balanced accuracy below this: the two classes look alike (0.5 = chance)."""
    pattern_min_images: int = 5
    """A co-located class pair (rider on bicycle) is a labelling pattern, not double labels,
    only when it occurs in at least this many images (fewer pairs cannot show a protocol)."""
    pattern_max_iou_iqr: float = 0.15
    """... its pairs' IoU interquartile range is below this (one protocol keeps the geometry;
    a pixel of jitter on a 20 px box moves IoU by ~0.1) ..."""
    pattern_min_side_ratio: float = 1.15
    """... one class's box is longer on one side by at least this factor (beyond jitter) ..."""
    pattern_min_consistent_share: float = 0.8
    """... in at least this share of its pairs (random directions rarely reach it)."""


@dataclass(frozen=True)
class AnchorsConfig:
    ratio_thr: float = 4.0
    """YOLOv5 ratio rule: an anchor fits a box when w and h are within this factor."""
    bpr_warn: float = 0.98
    """Best possible recall below which the anchors are reported."""
    num_anchors: int = 9
    """Anchors to suggest (k-means)."""
    evolve_generations: int = 1000
    """Generations of YOLOv5's genetic evolution after k-means (its default, 1000); 0: k-means only."""
    seed: int = 0
    """Seed for the sample, k-means and evolution, so suggestions are reproducible."""


@dataclass(frozen=True)
class StridesConfig:
    noise_shift_px: float = 1.0
    """Shift used for the IoU noise floor (IoU of a box with itself shifted this far in x and y)."""
    no_point_warn_share: float = 0.05
    """Share of boxes with no grid point inside at the smallest stride that warrants a warning."""
    below_stride_warn_share: float = 0.1
    """Share of boxes with a short side below the smallest stride that warrants a warning."""
    collision_warn_share: float = 0.05
    """Share of boxes sharing a smallest-stride cell with another centre that warrants a warning."""


@dataclass(frozen=True)
class SplitsConfig:
    ks_warn: float = 0.1
    """KS statistic on log sqrt(area) between train and another split above which sizes drift."""
    class_share_warn: float = 0.1
    """Absolute difference in a class's share between splits that warrants a warning."""
    ks_significance: float = 0.05
    """Size drift is a warning only when the KS p-value is below this (else a note)."""
    leakage_warn_share: float = 0.05
    """Share of val (or test) images in a sequence (clip, flight) that train also has above which
    ``splits.sequence_leakage`` is a warning (else a note)."""
    phash_max_distance: int = 8
    """With --pixels: two images whose 64-bit pHashes differ in at most this many bits are
    near-duplicates, one sequence (a resized or re-encoded copy differs in a few bits, unrelated
    images in about 32)."""
    phash_max_images: int = 20000
    """With --pixels: perceptual-hash images (near-duplicates across splits) only up to this many."""
    proposal_seed: int = 0
    """Seed ordering equal-sized sequences in the proposed group-disjoint split."""


@dataclass(frozen=True)
class VisibilityConfig:
    """Visibility at model input (``--pixels``): small boxes cropped with a ring of context,
    resampled as the trainer does, measured natively and at each candidate imgsz."""

    small_side_px: float | None = None
    """Boxes whose short side at imgsz is below this are measured; unset: the model's smallest stride."""
    max_boxes_per_class: int = 200
    """Small boxes sampled per class (seeded)."""
    max_boxes: int = 2000
    """Small boxes sampled in all (the per-class cap is lowered evenly to fit)."""
    max_images: int = 1000
    """Images opened at most (the sample keeps the boxes of a seeded subset of images)."""
    max_crop_side: int = 512
    """A crop (box and ring) longer than this many native pixels is skipped."""
    seed: int = 0
    """Seed of the box and image samples."""
    context: float = 1.0
    """The ring around a box: the box grown by this times its width and height on each side."""
    candidate_factors: tuple[float, ...] = (1.0, 1.5, 2.0)
    """Input sizes of the curve, as multiples of imgsz (rounded up to a multiple of 32)."""
    resample: str = "area"
    """area: OpenCV INTER_AREA when shrinking, as Ultralytics resizes validation images (an
    anti-aliased average: the curve over imgsz is monotone); linear: INTER_LINEAR, as it resizes
    training images (point-like samples when shrinking: aliasing keeps or drops a small object
    by its sub-pixel phase, so the curve need not be monotone)."""
    visible_scr: float = 1.0
    """Signal-to-clutter ratio |mean(box) - mean(ring)| / std(ring) at or above which a box is visible."""
    visible_energy_kept: float = 0.25
    """... and the share of its native gradient energy kept at model input (resample-and-back)
    at or above which it is visible there."""
    invisible_warn_share: float = 0.25
    """A class with at least this share of measured boxes visible natively but not at imgsz is
    reported (visibility.invisible_at_imgsz)."""
    min_class_boxes: int = 10
    """Classes with fewer measured boxes get no finding."""
    blur_laplacian_var: float = 100.0
    """Variance of the Laplacian near small boxes below which an image is blurry (grey levels^2;
    the common rule of thumb for 8-bit photos)."""
    jpeg_low_quality: float = 70.0
    """Estimated JPEG quality below which compression artefacts swamp small objects."""
    upscaled_top_share: float = 0.002
    """Share of spectral energy above 0.25 cycles/px below which an image is an upscaled source."""
    upscaled_null_depth: float = 0.05
    """Spectral nulls of an integer upscale (pixel replication) deeper than this flag it too."""
    low_quality_warn_share: float = 0.2
    """Share of the images read that are blurry, low-quality JPEG or upscaled above which
    visibility.low_quality is a warning."""


@dataclass(frozen=True)
class PlanConfig:
    """The primary change (input resolution or tiling): one target, one cost cap, one cost model.

    Cost is model-input pixels per source image relative to today: ``(imgsz'/imgsz)^2`` for a
    larger input, tiles per image for tiling at the same imgsz (each tile is one input)."""

    target_share: float = 0.9
    """Share of judged boxes whose short side at model input must reach the smallest stride."""
    max_cost: float = 4.0
    """Cost cap (relative compute): options above it are listed as alternatives, never chosen."""
    max_imgsz: int = 1536
    """Largest input size tried (GPU memory grows with imgsz^2; tiles have no such limit)."""
    fixed_imgsz: bool = False
    """The deploy input size is fixed: only tiling is considered, never a larger imgsz."""
    tile_size_factors: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0)
    """Tile side candidates as multiples of imgsz, in native pixels (below 1: upsampled tiles)."""
    overlap_quantile: float = 99.0
    """Tile overlap covers this percentile of the objects' long side (up to max_overlap)."""
    max_overlap: float = 0.25
    """Cap on the tile overlap ratio (SAHI's examples use 0.2, PaddleDetection's sliced VisDrone
    configs 0.25)."""
    tile_min_area_ratio: float = 0.1
    """Slicing tools drop a cut box whose visible part is below this share of its area (SAHI's
    ``min_area_ratio`` default)."""


@dataclass(frozen=True)
class RecommendConfig:
    """The recommendations after the plan, each judged at the plan's scale."""

    min_boxes: int = 100
    """Below this many judged boxes only data fixes are recommended (the rest would be noise)."""
    min_count: int = 30
    """Per-class advice (merges, a class's repeat factor) and the label policy need at least this
    many boxes concerned: fewer is noise, not a pattern."""
    p2_share: float = 0.1
    """Share of boxes below the smallest stride after the plan above which a stride-4 (P2) head
    is suggested."""
    repeat_thresh: float = 0.1
    """Repeat-factor sampling threshold t: a class whose small instances appear in a share f < t
    of the training images gets repeat factor sqrt(t / f) (LVIS, Gupta et al. 2019, sec. 5;
    detectron2 ``RepeatFactorTrainingSampler``; LVIS uses 0.001 over 1,203 classes)."""
    max_repeat: float = 4.0
    """Cap on any image's repeat factor (more repeats overfit the few images repeated)."""
    augment_min_side_px: float = 2.0
    """Minimum side a box must keep after scale augmentation (a common trainer filter)."""
    augment_min_scale: float = 0.5
    """Scale augmentation down to this factor; boxes then below augment_min_side_px are dropped."""
    coco_reference: tuple[float, float, float] = (0.41, 0.34, 0.24)
    """COCO's share of small / medium / large objects by its ``area`` field (mask area): the
    reference of the scale-gap note for COCO-pretrained weights."""


@dataclass(frozen=True)
class DiffConfig:
    """Thresholds of ``sodaudit diff`` (review passes between two versions of a dataset)."""

    match_iou: float = 0.5
    """A box pair counts as the same object at or above this IoU."""
    jitter_iou: float = 0.9
    """Matched pairs below this IoU are "jitter"."""
    moved_px: float = 1.0
    """Centre shift at or above this (px) counts as moved."""
    small_jitter_fail: float = 0.10
    """Jitter rate on small-object classes above this is an error finding (a gate rule)."""
    small_class_px: float = 32.0
    """A class is small-object when its median sqrt(area) (native px) is below this."""


@dataclass(frozen=True)
class LimitsConfig:
    """Sizes beyond which an input is refused as a finding instead of being read (no hangs)."""

    max_annotation_file_mb: float = 4096.0
    """A COCO JSON file larger than this (MB) is not read; the finding names it."""
    max_label_file_mb: float = 64.0
    """A YOLO label file or VOC XML file larger than this (MB) is not read (e.g. a 2 GB line)."""
    max_annotations: int = 20_000_000
    """A COCO file with more annotations than this is not loaded; raise it for bigger datasets."""
    max_pairs_per_image: int = 1_000_000
    """Overlapping box pairs searched per image (duplicates, class overlap, diff); an image with
    more is a *.pair_limit finding and its pairs are left out (a label file repeating one row
    41,600 times has 865 million)."""


@dataclass(frozen=True)
class BaselineConfig:
    """Tolerances for ``--baseline``: how far a tracked number may move before it regresses."""

    invalid_boxes: int = 0
    """New invalid boxes (NaN, zero size) allowed beyond the baseline's count."""
    load_issues: int = 0
    """New load issues (unreadable rows, orphans, ...) allowed beyond the baseline's count."""
    subthreshold_share: float = 0.01
    """Rise allowed in the share of sub-threshold labels (absolute, 0.01 = one point)."""
    bpr: float = 0.005
    """Drop allowed in the YOLOv5 best possible recall."""
    split_drift: float = 0.05
    """Rise allowed in the largest KS statistic between train and another split."""
