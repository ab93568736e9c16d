"""Typed configuration with named defaults, one section per analyzer.

Every threshold an analyzer uses is a field here with its default, so ``--help``,
``sodaudit config`` and ``report.json`` show the same numbers the code uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from sodaudit.errors import ConfigError

DEFAULT_IMGSZ = 640
DEFAULT_MODEL = "yolov8"
DEFAULT_FAIL_ON = "error"


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


@dataclass(frozen=True)
class SizesConfig:
    quantiles: tuple[float, ...] = (1, 5, 10, 25, 50, 75, 90, 95, 99)
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
    mostly_small_share: float = 0.5
    """Share of boxes COCO-small at model input above which ``sizes.mostly_small`` is reported."""
    extreme_aspect: float = 4.0
    """w/h above this (or below its inverse) is an extreme aspect ratio."""
    extreme_aspect_share: float = 0.05
    """Share of extreme-aspect boxes above which ``sizes.extreme_aspect`` is reported."""


@dataclass(frozen=True)
class SubthresholdConfig:
    min_side_native_px: float = 2.0
    min_side_model_px: float = 3.0
    """3 px at imgsz matches the well-known YOLOv5 warning ``N of M labels are < 3 pixels``."""
    min_area_share: float | None = None
    """Optional: labels whose area is below this share of the image area."""
    review_screen_px: float = 32.0
    """On-screen size a reviewer needs to judge a label; zoom = this / box size."""
    zoom_flag: float = 4.0
    warn_share: float = 0.01
    """Share of sub-threshold labels above which the finding is a warning (else info)."""
    class_mostly_share: float = 0.5
    """A class with more than this share of sub-threshold labels gets its own finding."""


@dataclass(frozen=True)
class ClassOverlapConfig:
    cross_class_iou: float = 0.7
    nms_iou: float = 0.7
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
    separable_balanced_accuracy: float = 0.6
    """Crop classifier balanced accuracy below this: the two classes look alike (0.5 = chance)."""


@dataclass(frozen=True)
class AnchorsConfig:
    ratio_thr: float = 4.0
    bpr_warn: float = 0.98
    num_anchors: int = 9
    evolve_generations: int = 0
    """0: k-means only; >0: evolutionary refinement of the k-means anchors."""
    seed: int = 0


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


@dataclass(frozen=True)
class Config:
    imgsz: int = DEFAULT_IMGSZ
    model: str = DEFAULT_MODEL
    fail_on: str = DEFAULT_FAIL_ON
    deep: bool = False
    """Decode every image to find corrupt ones (default: headers only)."""
    pixels: bool = False
    """Run pixel analyses (appearance separability of merge candidates)."""
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    sizes: SizesConfig = field(default_factory=SizesConfig)
    subthreshold: SubthresholdConfig = field(default_factory=SubthresholdConfig)
    class_overlap: ClassOverlapConfig = field(default_factory=ClassOverlapConfig)
    anchors: AnchorsConfig = field(default_factory=AnchorsConfig)
    strides: StridesConfig = field(default_factory=StridesConfig)
    splits: SplitsConfig = field(default_factory=SplitsConfig)

    def __post_init__(self) -> None:
        if self.imgsz <= 0 or self.imgsz > 16384:
            raise ConfigError(f"imgsz must be between 1 and 16384, got {self.imgsz}.")
        if self.fail_on not in ("error", "warning", "never"):
            raise ConfigError(f"fail_on must be error, warning or never, got {self.fail_on!r}.")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def updated(self, **changes: object) -> Config:
        """A copy with top-level keys changed; ``None`` values are left at the current value."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"Unknown config key {unknown[0]!r}.")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
