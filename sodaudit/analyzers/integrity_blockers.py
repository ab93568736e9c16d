"""Integrity checks for data that breaks training or evaluation (blockers, errors in the
catalogue): class ids outside the class list and COCO ``area`` fields that move boxes to another
COCOeval size bucket. Each makes one finding for its root cause, with counts."""

from __future__ import annotations

import numpy as np

from sodaudit.analyzers.base import AnalyzerResult, label_examples, label_rows, label_table
from sodaudit.analyzers.sizes_buckets import coco_area_buckets
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.sizepresets import COCO

NAME = "integrity"


def unknown_class_finding(dataset: Dataset, result: AnalyzerResult, unknown: np.ndarray) -> int:
    """Class ids outside the class list: one error for the root cause, with the label rows and the
    images that carry them; the number of those images.

    YOLO: Ultralytics drops such an image whole. ``verify_image_label`` (ultralytics/data/utils.py)
    asserts ``max_cls < num_cls`` ("Label class ... exceeds dataset class count"); the exception
    marks the image-label pair corrupt ("ignoring corrupt image/label") and the image, with every
    label in it, leaves the training set (``single_cls`` skips the check). Rows of label files
    without an image (the loader's ``orphan_undeclared_class_rows``) are counted too: the same ids
    to fix, in files no image uses.
    """
    if not unknown.any():
        return 0
    b = dataset.boxes
    rows = label_rows(b, unknown)
    per_id = rows["class_id"].value_counts().sort_index()
    ids = per_id.index.tolist()
    shown = ", ".join(f"id {i}: {n} label{'s' if n != 1 else ''}" for i, n in per_id.iloc[:12].items())
    shown += " ..." if len(ids) > 12 else ""
    image_ids = np.unique(b["image_id"].to_numpy()[unknown])
    n_rows, n_images = len(rows), len(image_ids)
    message = (
        f"{n_rows} {'label uses' if n_rows == 1 else 'labels use'} {len(ids)} class "
        f"{'id' if len(ids) == 1 else 'ids'} that the class list does not declare ({shown}), "
        f"in {n_images} {'image' if n_images == 1 else 'images'}"
    )
    if dataset.format == "yolo":
        orphan = int(dataset.meta.get("orphan_undeclared_class_rows", 0))
        if orphan:
            message += (
                f"; {orphan} more rows with such ids are in label files without an image "
                f"({n_rows + orphan} label rows in all)"
            )
        others = int(np.count_nonzero(np.isin(b["image_id"].to_numpy(), image_ids) & ~unknown))
        if str(dataset.meta.get("layout", "")).startswith(("darknet", "roboflow-darknet")):
            # AlexeyAB darknet src/data.c fill_truth_detection: "Wrong annotation: class_id = ..."
            # skips that box only and lists the file in bad_label.list.
            message += (
                '; darknet skips each such box ("Wrong annotation: class_id", listed in '
                "bad_label.list) and trains the rest of the image; Ultralytics, given the same "
                f"labels, drops those {n_images} images whole"
            )
        else:
            message += (
                f"; Ultralytics drops each of those {n_images} images whole as a corrupt label "
                f"(class id >= nc = {len(dataset.classes)}), with the {others} declared labels in them "
                "(unless trained with single_cls)"
            )
    else:
        message += "; training and evaluation cannot use them as the class list declares"
    result.tables["unknown_class"] = label_table(dataset, rows)
    result.findings.append(
        Finding.of(
            "integrity.unknown_class",
            message,
            NAME,
            value=float(n_rows),
            examples=label_examples(
                dataset,
                rows.head(MAX_EXAMPLES),
                "class id " + rows["class_id"].head(MAX_EXAMPLES).astype(str),
            ),
            count=n_rows,
        )
    )
    return n_images


def area_mismatch_finding(
    dataset: Dataset, config: Config, result: AnalyzerResult, valid: np.ndarray
) -> tuple[int | None, int | None, int | None]:
    """COCO ``area`` vs w*h; COCOeval sizes ground truth by ``area`` (the mask area), not w*h.

    The rule: a mask lies inside its box, so its area is at most w*h; a real COCO file has many
    areas well below w*h (thin or hollow objects) and those move boxes between COCOeval buckets
    legitimately (coco val2017: 104 of 619 non-crowd boxes). An area *larger* than the box by more
    than ``area_mismatch_ratio`` (``area > (1 + ratio) * w*h``) cannot be a mask area: the field is
    wrong (an image area, a unit mix-up). When any such non-crowd box lands in another COCOeval
    bucket than its w*h gives, AP_small/medium/large are computed on the wrong boxes: one error
    for the root cause, counting every box whose area is larger than it can be and, of those, the
    boxes in another bucket. Otherwise boxes whose area differs from w*h by more than the ratio
    are a note (info). Crowd boxes are left out of the error: COCOeval ignores them in every range.

    Returns ``num_area_mismatch``, ``num_area_other_coco_bucket`` and ``num_area_exceeds_box``,
    None when no valid box carries an area field.
    """
    b = dataset.boxes
    area_field = b["coco_area"].to_numpy()
    has_area = valid & np.isfinite(area_field)
    if not has_area.any():
        return None, None, None
    ratio = config.integrity.area_mismatch_ratio
    wh = dataset.box_columns("area")["area"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        mismatch = has_area & (np.abs(area_field - wh) > ratio * wh)
        exceeds = mismatch & (area_field > wh) & ~b["ignore"].to_numpy(bool)
    # COCOeval's buckets (small < 32**2 <= medium < 96**2 <= large) differ exactly when one of
    # the two bounds falls between the two areas; both are finite (or +inf) here.
    other_bucket = has_area & (
        ((area_field >= 32**2) != (wh >= 32**2)) | ((area_field >= 96**2) != (wh >= 96**2))
    )
    moved = exceeds & other_bucket
    n_mismatch, n_other, n_exceeds = int(mismatch.sum()), int(other_bucket.sum()), int(exceeds.sum())
    counts = n_mismatch, n_other, n_exceeds
    if not mismatch.any():
        return counts
    shown = exceeds if moved.any() else mismatch
    # Only the shown rows: strings for every mismatch (100k on COCO) cost a tenth of a second.
    rows = dataset.box_columns(rows=np.flatnonzero(shown)[:MAX_EXAMPLES])
    detail = "area=" + rows["coco_area"].round(1).astype(str) + " w*h=" + rows["area"].round(1).astype(str)
    if moved.any():
        by_area = coco_area_buckets(dataset)
        wh_counts = COCO.counts(wh[has_area & ~b["ignore"].to_numpy(bool)])
        most = float(np.max(area_field[exceeds] / wh[exceeds]))
        message = (
            f"{n_exceeds} boxes have a COCO area larger than their box can hold (> {1 + ratio:g} x "
            f"w*h, up to {most:.0f}x): COCOeval sizes ground truth by area, so {int(moved.sum())} "
            f"count in another size bucket (non-crowd boxes by area: "
            f"{_buckets_text(by_area.as_dict() if by_area else {})}; by w*h: {_buckets_text(wh_counts)})"
            " and AP_small/medium/large are wrong; recompute area (the mask's, or w*h without masks)"
        )
        count = n_exceeds
    else:
        message = (
            f"{n_mismatch} boxes have a COCO area field that differs from w*h by more than "
            f"{ratio:.0%}; {n_other} of all boxes fall in another COCOeval size bucket by area than "
            "by w*h (mask areas below their box, as COCO defines area)"
        )
        count = n_mismatch
    result.findings.append(
        Finding.of(
            "integrity.area_mismatch",
            message,
            NAME,
            raised=bool(moved.any()),
            value=float(count),
            threshold=ratio,
            examples=label_examples(dataset, rows, detail),
            count=count,
        )
    )
    return counts


def _buckets_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())
