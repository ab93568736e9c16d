"""The catalogue of finding codes: what each rule checks, in one line.

The message of a finding is written where the finding is made; this catalogue only names
the rules, so that JUnit has one test case per rule (passing ones included) and the docs
list what config can override. A test keeps it in step with the codes the code emits.
"""

from __future__ import annotations

from sodaudit.analyzers.integrity import LOAD_ISSUE_TEXT

RULES: dict[str, str] = {
    "integrity.nonfinite_box": "boxes with a NaN or infinite coordinate",
    "integrity.degenerate_box": "boxes with zero or negative width or height",
    "integrity.box_outside_image": "boxes past the image border",
    "integrity.unknown_class": "class ids the class list does not declare",
    "integrity.duplicate_box": "duplicate labels (same class, IoU >= duplicate_iou)",
    "integrity.area_mismatch": "COCO area field vs w*h",
    "integrity.image_missing": "images named in the annotations but not on disk",
    "integrity.image_corrupt": "empty or corrupt image files",
    "integrity.image_unreadable": "image headers that give no size",
    "integrity.exif_rotated": "images with an EXIF rotation",
    "integrity.background_images": "images without boxes",
    "integrity.cross_split_duplicate_image": "identical image files in different splits",
    "sizes.mostly_small": "most boxes COCO-small at model input",
    "sizes.extreme_aspect": "boxes with extreme aspect ratios",
    "sizes.crowded_images": "images with more boxes than the detector keeps",
    "subthreshold.below_min_native": "labels below the minimum side in native pixels",
    "subthreshold.below_min_model": "labels below the minimum side at model input",
    "subthreshold.below_min_area_share": "labels below the minimum share of the image area",
    "subthreshold.class_mostly_below": "classes mostly below a size rule",
    "class_overlap.cross_class_duplicates": "one object labelled with two classes",
    "class_overlap.nms_suppressed": "same-class ground truth that NMS would suppress",
    "class_overlap.merge_candidate": "class pairs that cannot be told apart at model input",
    "anchors.low_bpr": "best possible recall of the anchors below bpr_warn",
    "anchors.iou_uncovered": "boxes no anchor reaches at the positive IoU",
    "strides.below_smallest_stride": "boxes smaller than the smallest stride",
    "strides.no_grid_point": "boxes that contain no grid point of the smallest stride",
    "strides.center_collisions": "box centres sharing a grid cell",
    "splits.size_drift": "size distribution drift between splits",
    "splits.class_missing": "classes missing from a split",
    "splits.class_share_drift": "class share differences between splits",
    "baseline.invalid_boxes": "more invalid boxes than the baseline",
    "baseline.load_issues": "more load issues than the baseline",
    "baseline.subthreshold_share": "sub-threshold share up from the baseline",
    "baseline.bpr": "best possible recall down from the baseline",
    "baseline.split_drift": "split drift up from the baseline",
    "baseline.class_gone": "a class of the baseline has no boxes",
    **{code: text.replace("{n} ", "").split(",")[0] for code, (_, text) in LOAD_ISSUE_TEXT.items()},
}
