"""Typed configuration with named defaults, one section per analyzer.

Every threshold an analyzer uses is a field here with its default, so ``--help``,
``sodaudit config`` and ``report.json`` show the same numbers the code uses.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace

from sodaudit.errors import ConfigError
from sodaudit.findings import RULE_SEVERITIES, Rule
from sodaudit.models import MODELS

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


@dataclass(frozen=True)
class Config:
    imgsz: int = DEFAULT_IMGSZ
    """Model input size: images are letterboxed so their long side is imgsz."""
    model: str = DEFAULT_MODEL
    """Model preset (strides, anchors, assigner): yolov5, yolov8, yolo11, yolov8-p2, yolo26,
    retinanet, faster-rcnn or fcos (docs/models.md)."""
    fail_on: str = DEFAULT_FAIL_ON
    """Lowest finding severity that fails the gate (exit code 1): error, warning or never."""
    deep: bool = False
    """Decode every image to find corrupt ones (default: headers only)."""
    pixels: bool = False
    """Run pixel analyses (appearance separability of merge candidates)."""
    workers: int = 1
    """Processes for per-file work (label files, XML files, image headers), in a process pool:
    1 = everything in this process, 0 = one per core. Results are the same either way."""
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    sizes: SizesConfig = field(default_factory=SizesConfig)
    subthreshold: SubthresholdConfig = field(default_factory=SubthresholdConfig)
    class_overlap: ClassOverlapConfig = field(default_factory=ClassOverlapConfig)
    anchors: AnchorsConfig = field(default_factory=AnchorsConfig)
    strides: StridesConfig = field(default_factory=StridesConfig)
    splits: SplitsConfig = field(default_factory=SplitsConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    diff: DiffConfig = field(default_factory=DiffConfig)
    rules: dict[str, Rule] = field(default_factory=dict)
    """Per finding code: ``{severity, threshold}`` overrides (see ``findings.apply_rules``)."""

    def __post_init__(self) -> None:
        if self.imgsz <= 0 or self.imgsz > 16384:
            raise ConfigError(f"imgsz must be between 1 and 16384, got {self.imgsz}.")
        if self.fail_on not in ("error", "warning", "never"):
            raise ConfigError(f"fail_on must be error, warning or never, got {self.fail_on!r}.")
        if self.workers < 0:
            raise ConfigError(f"workers must be 1 or more (0: one per core), got {self.workers}.")
        if self.model not in MODELS:
            raise ConfigError(f"Unknown model {self.model!r}; choose one of {', '.join(MODELS)}.")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def with_rule(self, code: str, severity: object = None, threshold: object = None) -> Config:
        """A copy with the rule for ``code`` set (``None`` keeps that part as it is)."""
        current = self.rules.get(code)
        sev = severity if severity is not None else (current.severity if current else None)
        if sev not in RULE_SEVERITIES:
            raise ConfigError(
                f"Config key 'rules.{code}.severity' expects one of {', '.join(RULE_SEVERITIES)}, "
                f"got {sev!r}."
            )
        thr = current.threshold if current and threshold is None else threshold
        if thr is not None:
            thr = check_type(thr, float, f"rules.{code}.threshold")
        return replace(self, rules={**self.rules, code: Rule(str(sev), thr)})

    def with_mapping(self, data: dict[str, object], origin: str = "") -> Config:
        """Apply a parsed config document (TOML tables as dicts); unknown keys name the file."""
        config = self
        where = f" in {origin}" if origin else ""
        for key, value in data.items():
            if key == "rules":
                if not isinstance(value, dict):
                    raise ConfigError(f"Config key 'rules'{where} must be a table of finding codes.")
                for code, rule in value.items():
                    if not isinstance(rule, dict) or set(rule) - {"severity", "threshold"}:
                        raise ConfigError(
                            f"Config key 'rules.{code}'{where} must be a table with severity and "
                            "optionally threshold."
                        )
                    try:
                        config = config.with_rule(code, rule.get("severity"), rule.get("threshold"))
                    except ConfigError as err:
                        raise ConfigError(str(err).rstrip(".") + f"{where}.") from None
            elif isinstance(value, dict):
                for sub, sub_value in value.items():
                    config = config._set_located(f"{key}.{sub}", sub_value, where)
            else:
                config = config._set_located(key, value, where)
        return config

    def _set_located(self, key: str, value: object, where: str) -> Config:
        try:
            return self.set(key, value)
        except ConfigError as err:
            raise ConfigError(str(err).rstrip(".") + f"{where}.") from None

    def to_toml(self, comments: bool = False) -> str:
        """The configuration as TOML (``sodaudit config``); unset keys are comments.

        With ``comments``, each key is preceded by its documentation (``sodaudit init``).
        """
        docs = field_docs() if comments else {}
        top, sections = [], []

        def doc(key: str) -> list[str]:
            return [f"# {line}" for line in docs.get(key, "").splitlines() if line.strip()]

        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "rules":
                for code, rule in value.items():
                    sections.append(f"\n[rules.{json.dumps(code)}]")
                    sections.append(_toml_line("severity", rule.severity))
                    sections.append(_toml_line("threshold", rule.threshold))
            elif is_dataclass(value):
                sections.append(f"\n[{f.name}]")
                for g in fields(value):
                    sections += doc(f"{f.name}.{g.name}")
                    sections.append(_toml_line(g.name, getattr(value, g.name)))
            else:
                top += doc(f.name)
                top.append(_toml_line(f.name, value))
        return "\n".join(top + sections) + "\n"

    def updated(self, **changes: object) -> Config:
        """A copy with top-level keys changed; ``None`` values are left at the current value."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"Unknown config key {unknown[0]!r}.")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def with_overrides(self, assignments: Iterable[str]) -> Config:
        """Apply ``key=value`` strings (``imgsz=1024``, ``subthreshold.min_side_model_px=4``).

        Values are JSON literals (numbers, true/false, null, lists) or bare strings, and are
        checked against the field's type, so a typo fails with the key's name.
        """
        config = self
        for assignment in assignments:
            key, sep, text = assignment.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"Expected key=value, got {assignment!r}.")
            config = config.set(key.strip(), parse_value(text.strip()))
        return config

    def set(self, dotted_key: str, value: object) -> Config:
        """A copy with one (possibly nested) key set to a type-checked value."""
        head, _, rest = dotted_key.partition(".")
        if head == "rules":  # rules.<code with dots>.severity|threshold
            code, _, part = rest.rpartition(".")
            if not code or part not in ("severity", "threshold"):
                raise ConfigError(
                    f"Config key {dotted_key!r}: use rules.<finding code>.severity or .threshold."
                )
            return self.with_rule(code, **{part: value})
        hints = typing.get_type_hints(type(self))
        if head not in hints:
            raise ConfigError(f"Unknown config key {dotted_key!r}.")
        current = getattr(self, head)
        if rest:
            if not is_dataclass(current):
                raise ConfigError(f"Config key {head!r} has no sub-key {rest!r}.")
            return replace(self, **{head: _set_in_section(current, rest, value, dotted_key)})
        if is_dataclass(current):
            raise ConfigError(f"Config key {head!r} is a section; set one of its keys.")
        return replace(self, **{head: check_type(value, hints[head], dotted_key)})


def _set_in_section(section: object, key: str, value: object, dotted_key: str) -> object:
    hints = typing.get_type_hints(type(section))
    if key not in hints:
        raise ConfigError(f"Unknown config key {dotted_key!r}.")
    return replace(section, **{key: check_type(value, hints[key], dotted_key)})


def field_docs() -> dict[str, str]:
    """The docstring under each config field (``sizes.heatmap_bins`` -> text), read from this
    module's source so the documentation is written once, next to the default."""
    import ast
    import inspect
    import itertools
    import sys

    tree = ast.parse(inspect.getsource(sys.modules[__name__]))
    sections = {f.type if isinstance(f.type, str) else f.type.__name__: f.name for f in fields(Config)}
    docs: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        prefix = "" if node.name == "Config" else sections.get(node.name, node.name) + "."
        body = node.body
        for stmt, nxt in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[prefix + stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def _toml_line(key: str, value: object) -> str:
    if value is None:
        return f"# {key} = (not set)"
    return f"{key} = {_toml_value(value)}"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def parse_value(text: str) -> object:
    """A JSON literal when the text is one, else the text itself (bare strings need no quotes)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def check_type(value: object, hint: object, key: str) -> object:
    """``value`` converted to the annotated type, or a ConfigError naming the key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return check_type(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"Config key {key!r} expects {_type_name(hint)}, got {value!r}.")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"Config key {key!r} expects a list, got {value!r}.")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_type(v, args[0], key) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"Config key {key!r} expects {len(args)} values, got {len(value)}.")
        return tuple(check_type(v, a, key) for v, a in zip(value, args, strict=True))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"Config key {key!r} expects {_type_name(hint)}, got {value!r}.")


def _type_name(hint: object) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
