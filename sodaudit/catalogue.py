"""The finding catalogue: every finding code, its default severity, the config key that decides
it and what it means, in one line each.

This is the one source of severity: loaders record a ``LoadIssue`` with a code and no severity,
analyzers make findings with :meth:`sodaudit.findings.Finding.of`, which looks the severity up
here (``raised=False`` keeps a check that did not pass its threshold as a note: info). Config
rules may then override a code's severity or threshold (``[rules."<code>"]``). JUnit has one
test case per code, ``sodaudit config`` and docs/ci.md list them from here.

Severity policy: ``error`` for data the audit could not read (an annotation file left unread
loses every label in it, so the gate must fail), for data defects that break training or
evaluation (blockers: a split path the trainer stops on, class ids outside the class list, COCO
``area`` fields that move boxes to another COCOeval bucket, more labels per image than the
evaluator's ``maxDets`` or the model's ``max_det``) and for regressions against a baseline;
``warning`` for defects and risks a person should look at before training; ``info`` for facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


@dataclass(frozen=True)
class FindingSpec:
    """One finding code: its default severity when the check fires, what it means, the config
    keys whose values decide it, and (for load issues) how a group of them is summed up."""

    code: str
    severity: Severity
    meaning: str
    thresholds: tuple[str, ...] = ()
    summary: str | None = None
    """Load issues only: the finding's text for ``{n}`` issues of this code."""
    fix: str | None = None
    """Errors: what to do about it, in a few words (the ``fix_data`` recommendation lists it)."""


INFO, WARN, ERROR = Severity.INFO, Severity.WARNING, Severity.ERROR

_SPECS = (
    # -- what the loaders could not read (one finding per code, with file:line examples)
    FindingSpec(
        "load.file_too_large",
        ERROR,
        "annotation or label files past the size limits, not read",
        ("limits.max_annotation_file_mb", "limits.max_label_file_mb", "limits.max_annotations"),
        "{n} files are larger than the configured limits and were not read",
        fix="raise the limits.* key the finding names, or split the file",
    ),
    FindingSpec(
        "load.listing_truncated",
        ERROR,
        "folder walks stopped at MAX_LISTED_ENTRIES entries: a path names far more than a dataset",
        summary="{n} folder walks were stopped at the listing bound; what lies beyond is not audited",
        fix="point the dataset config's path and splits at the dataset, not a file-system root",
    ),
    FindingSpec(
        "load.unreadable_file",
        ERROR,
        "annotation or list files that could not be read",
        summary="{n} annotation or list files could not be read",
        fix="repair or re-export the file the finding names",
    ),
    FindingSpec(
        "load.malformed_xml",
        ERROR,
        "annotation XML files that are not well-formed, skipped",
        summary="{n} annotation files are not well-formed XML and were skipped",
        fix="repair or re-export the XML files the finding names",
    ),
    FindingSpec(
        "load.xml_refused",
        ERROR,
        "XML files declaring a DOCTYPE or ENTITY, refused unread",
        summary="{n} XML files declare a DOCTYPE or ENTITY and were refused unread",
        fix="re-export the XML without a DOCTYPE",
    ),
    FindingSpec(
        "load.malformed_row",
        WARN,
        "label rows that could not be read as a box",
        summary="{n} labels could not be read as a box and were skipped",
    ),
    FindingSpec(
        "load.malformed_object",
        WARN,
        "objects, regions or shapes that could not be read as a box",
        summary="{n} objects, regions or shapes could not be read as a box and were skipped",
    ),
    FindingSpec(
        "load.orphan_label",
        WARN,
        "labels or label files that refer to no image",
        summary="{n} labels or label files refer to no image and are not audited",
    ),
    FindingSpec(
        "load.label_missing",
        WARN,
        "images without a label file (background)",
        summary="{n} images have no label file (treated as background)",
    ),
    FindingSpec(
        "load.image_not_in_annotations",
        WARN,
        "image files on disk that no annotation file lists",
        summary="{n} image files on disk are in no annotation file",
    ),
    FindingSpec(
        "load.value_out_of_range",
        WARN,
        "normalised label values outside [0, 1]",
        summary="{n} label rows have a normalised value outside [0, 1]",
    ),
    FindingSpec(
        "load.encoding",
        WARN,
        "label or class-list lines that are not UTF-8 (read as Windows-1252 where that decodes them)",
        summary="{n} label or class-list lines are not valid UTF-8",
    ),
    FindingSpec(
        "load.split_path_missing",
        ERROR,
        "split paths in the dataset config that do not exist (Ultralytics stops on them)",
        summary="{n} split paths in the dataset config do not exist",
        fix="correct the split path in data.yaml",
    ),
    FindingSpec(
        "load.bad_yaml",
        WARN,
        "problems with the dataset config file (data.yaml, obj.data, notes.json, class lists)",
        summary="{n} problems with the dataset config file",
    ),
    FindingSpec(
        "load.duplicate_id", WARN, "ids used more than once", summary="{n} ids are used more than once"
    ),
    FindingSpec(
        "load.size_missing",
        WARN,
        "images with no usable size in the annotation or the file",
        summary="{n} images have no usable size in the annotation or the file",
    ),
    FindingSpec(
        "load.split_overlap",
        WARN,
        "images listed in more than one split",
        summary="{n} images are listed in more than one split",
    ),
    FindingSpec(
        "load.split_entry_missing",
        WARN,
        "split list entries naming an image without annotation",
        summary="{n} split list entries name an image without annotation",
    ),
    FindingSpec(
        "load.path_outside_root",
        WARN,
        "file names pointing outside the dataset folder, not read",
        summary="{n} file names point outside the dataset folder and were not read",
    ),
    FindingSpec(
        "load.size_mismatch",
        WARN,
        "images whose declared size differs from their file (boxes may be in the wrong pixels)",
        summary="{n} images have a declared size that differs from the image file",
    ),
    FindingSpec(
        "load.undeclared_class",
        ERROR,
        "class names missing from the dataset's class list (not trainable as declared)",
        summary="{n} class names are not in the dataset's class list",
        fix="add the class names to the class list, or relabel",
    ),
    # -- integrity
    FindingSpec("integrity.nonfinite_box", WARN, "boxes with a NaN or infinite coordinate"),
    FindingSpec("integrity.degenerate_box", WARN, "boxes with zero or negative width or height"),
    FindingSpec(
        "integrity.box_outside_image",
        WARN,
        "boxes past the image border",
        ("integrity.outside_tolerance_px",),
    ),
    FindingSpec(
        "integrity.unknown_class",
        ERROR,
        "class ids the class list does not declare (Ultralytics drops their images)",
        fix="declare the classes in names (nc), or relabel the ids",
    ),
    FindingSpec(
        "integrity.duplicate_box",
        WARN,
        "duplicate labels (same class, IoU >= duplicate_iou)",
        ("integrity.duplicate_iou",),
    ),
    FindingSpec(
        "integrity.area_mismatch",
        ERROR,
        "COCO area fields larger than their box that move boxes to another COCOeval bucket; "
        "else area vs w*h beyond the ratio (info)",
        ("integrity.area_mismatch_ratio",),
        fix="recompute area (the mask area; w*h for box-only labels)",
    ),
    FindingSpec("integrity.image_missing", WARN, "images named in the annotations but not on disk"),
    FindingSpec("integrity.image_corrupt", WARN, "empty or corrupt image files, or not regular files"),
    FindingSpec(
        "integrity.image_not_decoded",
        WARN,
        "images --deep did not decode: past Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS)",
    ),
    FindingSpec("integrity.image_unreadable", WARN, "image headers that give no size"),
    FindingSpec("integrity.exif_rotated", INFO, "images with an EXIF rotation"),
    FindingSpec("integrity.background_images", INFO, "images without boxes"),
    FindingSpec(
        "integrity.objects_in_ignore_regions", INFO, "labelled objects whose centre lies in an ignore region"
    ),
    FindingSpec(
        "integrity.no_ignore_regions",
        INFO,
        "a dense small-object dataset without ignore regions (converters often drop them)",
        ("integrity.dense_boxes_per_image", "integrity.dense_small_px", "integrity.dense_small_share"),
    ),
    FindingSpec("integrity.cross_split_duplicate_image", WARN, "identical image files in different splits"),
    FindingSpec(
        "integrity.pair_limit",
        WARN,
        "images with more duplicate candidates than the pair search takes",
        ("limits.max_pairs_per_image",),
    ),
    # -- sizes
    FindingSpec(
        "sizes.mostly_small", INFO, "most boxes COCO-small at model input", ("sizes.mostly_small_share",)
    ),
    FindingSpec(
        "sizes.extreme_aspect",
        INFO,
        "boxes with extreme aspect ratios",
        ("sizes.extreme_aspect", "sizes.extreme_aspect_share"),
    ),
    FindingSpec(
        "sizes.over_eval_max_dets",
        ERROR,
        "images with more boxes than COCOeval's maxDets keeps (the COCOeval entry of "
        "max_det_caps); info for datasets that are not COCO",
        ("sizes.max_det_caps",),
        # VisDrone2018-DET-toolkit reports AP at maxDets=500 (and AR at 1/10/100/500).
        fix="evaluate with a larger COCOeval params.maxDets (the VisDrone toolkit uses 500)",
    ),
    FindingSpec(
        "sizes.crowded_images",
        ERROR,
        "images with more boxes than the model's max_det (--model) keeps",
        fix="raise max_det for validation and prediction (Ultralytics max_det=)",
    ),
    FindingSpec(
        "sizes.noise_ceiling",
        WARN,
        "the smallest populated size bucket at model input reaches IoU 0.5 between two labelings "
        "less often than label_noise_min_p under label_noise_sigma_px of corner noise (info below "
        "label_noise_warn_share of the labels)",
        ("sizes.label_noise_sigma_px", "sizes.label_noise_min_p", "sizes.label_noise_warn_share"),
    ),
    # -- sub-threshold labels
    FindingSpec(
        "subthreshold.below_min_native",
        WARN,
        "labels below the minimum side in native pixels",
        ("subthreshold.min_side_native_px", "subthreshold.warn_share"),
    ),
    FindingSpec(
        "subthreshold.below_min_model",
        WARN,
        "labels below the minimum side at model input",
        ("subthreshold.min_side_model_px", "subthreshold.warn_share"),
    ),
    FindingSpec(
        "subthreshold.below_min_area_share",
        WARN,
        "labels below the minimum share of the image area",
        ("subthreshold.min_area_share", "subthreshold.warn_share"),
    ),
    FindingSpec(
        "subthreshold.class_mostly_below",
        WARN,
        "classes mostly below a size rule",
        ("subthreshold.class_mostly_share",),
    ),
    # -- class overlap
    FindingSpec(
        "class_overlap.cross_class_duplicates",
        WARN,
        "one object labelled with two classes",
        ("class_overlap.cross_class_iou",),
    ),
    FindingSpec(
        "class_overlap.nms_suppressed",
        WARN,
        "same-class ground truth that NMS would suppress",
        ("class_overlap.nms_iou",),
    ),
    FindingSpec(
        "class_overlap.merge_candidate",
        WARN,
        "class pairs that cannot be told apart at model input",
        ("class_overlap.separability_px", "class_overlap.colocation_share"),
    ),
    FindingSpec(
        "class_overlap.pair_limit",
        WARN,
        "images with more overlapping pairs than the pair search takes",
        ("limits.max_pairs_per_image",),
    ),
    # -- anchors and strides
    FindingSpec(
        "anchors.low_bpr",
        WARN,
        "best possible recall of the anchors below bpr_warn",
        ("anchors.bpr_warn", "anchors.ratio_thr"),
    ),
    FindingSpec("anchors.iou_uncovered", WARN, "boxes no anchor reaches at the positive IoU"),
    FindingSpec(
        "strides.below_smallest_stride",
        WARN,
        "boxes smaller than the smallest stride",
        ("strides.below_stride_warn_share",),
    ),
    FindingSpec(
        "strides.no_grid_point",
        WARN,
        "boxes that contain no grid point of the smallest stride",
        ("strides.no_point_warn_share",),
    ),
    FindingSpec(
        "strides.center_collisions",
        WARN,
        "box centres sharing a grid cell",
        ("strides.collision_warn_share",),
    ),
    # -- visibility at model input (--pixels)
    FindingSpec(
        "visibility.invisible_at_imgsz",
        WARN,
        "small objects visible in the image files but not at model input",
        ("visibility.invisible_warn_share", "visibility.visible_scr", "visibility.visible_energy_kept"),
    ),
    FindingSpec(
        "visibility.low_quality",
        WARN,
        "blurry, heavily compressed or upscaled images around small objects",
        (
            "visibility.low_quality_warn_share",
            "visibility.blur_laplacian_var",
            "visibility.jpeg_low_quality",
            "visibility.upscaled_top_share",
        ),
    ),
    # -- splits
    FindingSpec(
        "splits.size_drift",
        WARN,
        "size distribution drift between splits",
        ("splits.ks_warn", "splits.ks_significance"),
    ),
    FindingSpec("splits.class_missing", WARN, "classes missing from a split"),
    FindingSpec(
        "splits.sequence_leakage",
        WARN,
        "frames of one sequence (clip, flight; by video_id, folder, file name or pHash) in two splits",
        ("splits.leakage_warn_share",),
    ),
    FindingSpec(
        "splits.class_share_drift",
        WARN,
        "class share differences between splits",
        ("splits.class_share_warn",),
    ),
    # -- the plan
    FindingSpec(
        "plan.scale_gap",
        INFO,
        "size mix at the plan's scale far from COCO's (by COCO's area field): "
        "pretrained weights transfer less",
        ("recommend.coco_reference",),
    ),
    FindingSpec(
        "plan.thin_cells",
        INFO,
        "class x size cells with fewer effective samples (Kish's ESS over sequences or images) than "
        "recommend.min_count at the plan's scale",
        ("recommend.min_count",),
    ),
    # -- regressions against --baseline
    FindingSpec(
        "baseline.invalid_boxes", ERROR, "more invalid boxes than the baseline", ("baseline.invalid_boxes",)
    ),
    FindingSpec(
        "baseline.load_issues", ERROR, "more load issues than the baseline", ("baseline.load_issues",)
    ),
    FindingSpec(
        "baseline.subthreshold_share",
        ERROR,
        "sub-threshold share up from the baseline",
        ("baseline.subthreshold_share",),
    ),
    FindingSpec("baseline.bpr", ERROR, "best possible recall down from the baseline", ("baseline.bpr",)),
    FindingSpec("baseline.split_drift", ERROR, "split drift up from the baseline", ("baseline.split_drift",)),
    FindingSpec("baseline.class_gone", ERROR, "a class of the baseline has no boxes"),
)

CATALOGUE: dict[str, FindingSpec] = {spec.code: spec for spec in _SPECS}
"""Every finding code of ``sodaudit run``, in report order: what the loaders could not read,
then one group per analyzer, then the baseline's regressions."""

DIFF_SPECS: dict[str, FindingSpec] = {
    spec.code: spec
    for spec in (
        FindingSpec("diff.added", INFO, "boxes in the new version only"),
        FindingSpec("diff.removed", WARN, "boxes in the old version only"),
        FindingSpec("diff.relabelled", WARN, "paired boxes whose class changed"),
        FindingSpec("diff.moved", INFO, "paired boxes that moved", ("diff.moved_px",)),
        FindingSpec("diff.ignore_changed", INFO, "paired boxes whose ignore flag changed"),
        FindingSpec(
            "diff.label_noise",
            INFO,
            "the per-corner label noise of the boxes the second pass moved (robust sigma), for "
            "sizes.label_noise_sigma_px",
        ),
        FindingSpec("diff.images_only_old", WARN, "images of the old version missing from the new one"),
        FindingSpec("diff.images_only_new", WARN, "images of the new version missing from the old one"),
        FindingSpec(
            "diff.pair_limit",
            WARN,
            "images with more box pairs between versions than the pair search takes",
            ("limits.max_pairs_per_image",),
        ),
        FindingSpec(
            "diff.jitter_small_classes",
            ERROR,
            "paired labels of small-object classes that jitter",
            ("diff.small_jitter_fail", "diff.jitter_iou", "diff.small_class_px"),
        ),
    )
}
"""The codes of ``sodaudit diff``: its own report and gate."""


def spec_of(code: str) -> FindingSpec:
    """The catalogue entry of ``code``; a code missing here is a bug in sodaudit, said plainly."""
    spec = CATALOGUE.get(code) or DIFF_SPECS.get(code)
    if spec is None:
        raise KeyError(f"finding code {code!r} is not in sodaudit's finding catalogue (catalogue.py)")
    return spec


def catalogue_markdown() -> str:
    """The table of every finding code for docs/ci.md (a test keeps the docs in step)."""
    lines = ["| code | default severity | decided by | what it checks |", "|---|---|---|---|"]
    for spec in (*CATALOGUE.values(), *DIFF_SPECS.values()):
        keys = ", ".join(f"`{key}`" for key in spec.thresholds)
        lines.append(f"| `{spec.code}` | {spec.severity.value} | {keys} | {spec.meaning} |")
    return "\n".join(lines) + "\n"
