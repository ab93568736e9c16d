"""Integrity: what loading revealed, plus box-level checks on the canonical table.

Load issues are grouped by code into one finding each (with file:line examples);
box problems are found vectorised from the boxes table, never per row in Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sodaudit.analyzers.base import (
    AnalyzerResult,
    label_examples,
    label_rows,
    label_table,
    max_pairs_per_image,
    pair_examples,
    pair_limit_finding,
    pair_table,
)
from sodaudit.analyzers.integrity_blockers import NAME, area_mismatch_finding, unknown_class_finding
from sodaudit.analyzers.integrity_pixels import bomb_limit, cross_split_images, deep_decode, pixel_images
from sodaudit.analyzers.integrity_regions import ignore_regions
from sodaudit.analyzers.integrity_stats import IntegrityStats
from sodaudit.catalogue import CATALOGUE
from sodaudit.config import Config
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.geometry import BoxColumns, pairs_within_images


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Integrity stats and findings: load issues, invalid boxes, images that cannot be used."""
    result = AnalyzerResult(NAME, "Integrity")
    pixels, outside = pixel_images(dataset)
    load_issues = _load_issue_findings((*dataset.issues, *outside), result)
    boxes, valid = _box_findings(dataset, config, result)
    n_mismatch, n_other_bucket, n_exceeds = area_mismatch_finding(dataset, config, result, valid)
    n_duplicates, n_duplicate_boxes, over_limit = _duplicates(dataset, config, result)
    decoded, decode_failures, too_large = deep_decode(dataset, config, pixels)
    images = _image_findings(dataset, result, decode_failures, too_large)
    image_hash, cross_groups, cross_images = cross_split_images(dataset, config, result, pixels)
    regions = ignore_regions(dataset, config, result)
    result.stats = IntegrityStats(
        load_issues=load_issues,
        **boxes,
        num_area_mismatch=n_mismatch,
        num_area_other_coco_bucket=n_other_bucket,
        num_area_exceeds_box=n_exceeds,
        num_unknown_class_orphan_rows=(
            int(dataset.meta.get("orphan_undeclared_class_rows", 0)) if dataset.format == "yolo" else None
        ),
        num_duplicates=n_duplicates,
        num_duplicate_boxes=n_duplicate_boxes,
        images_over_pair_limit=over_limit,
        deep_decode=decoded,
        **images,
        image_hash=image_hash,
        num_cross_split_duplicate_groups=cross_groups,
        num_cross_split_duplicate_images=cross_images,
        ignore_regions=regions,
    )
    return result


def _load_issue_findings(issues: tuple[LoadIssue, ...], result: AnalyzerResult) -> dict[str, int]:
    """One finding per load issue code, with the catalogue's severity and text; the counts."""
    by_code: dict[str, list[LoadIssue]] = {}
    for issue in issues:
        by_code.setdefault(issue.code, []).append(issue)
    for code, items in by_code.items():
        template = CATALOGUE[code].summary or "{n} load problems of kind " + code
        first = items[0]
        message = template.format(n=len(items)) + f", e.g. {first.where}: {first.reason}"
        fields = {
            "value": float(len(items)),
            "examples": tuple(f"{i.where}: {i.reason}" for i in items[:MAX_EXAMPLES]),
            "count": len(items),
        }
        result.findings.append(Finding.of(code, message, NAME, **fields))
    if issues:
        result.tables["load_issues"] = pd.DataFrame(
            {
                "code": [i.code for i in issues],
                "file": [i.file for i in issues],
                "line": [i.line for i in issues],
                "key": [i.key for i in issues],
                "reason": [i.reason for i in issues],
            }
        )
    return {code: len(items) for code, items in sorted(by_code.items())}


def _box_findings(
    dataset: Dataset, config: Config, result: AnalyzerResult
) -> tuple[dict[str, int | float], np.ndarray]:
    """Non-finite, degenerate, outside and unknown-class boxes: their counts (the fields of
    :class:`IntegrityStats` of the same names) and the mask of valid boxes."""
    b = dataset.boxes
    x, y, w, h = (b[c].to_numpy(dtype=np.float64) for c in ("x", "y", "w", "h"))
    sizes = dataset.box_columns("img_w", "img_h")
    img_w, img_h = sizes["img_w"].to_numpy(), sizes["img_h"].to_numpy()
    finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & np.isfinite(h)
    nonfinite = ~finite
    degenerate = finite & ((w <= 0) | (h <= 0))
    valid = b["valid"].to_numpy()

    # How far past the border, the largest of the four sides ignoring NaN (-inf when all are):
    # ``np.nanmax(..., initial=-inf)`` over the stacked sides is this same ``fmax`` in order.
    # One scratch array for the sides: a new array per side costs page faults at 10^6 boxes.
    overshoot = np.full(len(b), -np.inf)
    side = np.empty(len(b))
    with np.errstate(invalid="ignore"):
        np.fmax(overshoot, np.negative(x, out=side), out=overshoot)
        np.fmax(overshoot, np.negative(y, out=side), out=overshoot)
        np.add(x, w, out=side)
        np.fmax(overshoot, np.subtract(side, img_w, out=side), out=overshoot)
        np.add(y, h, out=side)
        np.fmax(overshoot, np.subtract(side, img_h, out=side), out=overshoot)
    known_size = np.isfinite(img_w) & np.isfinite(img_h)
    outside = valid & known_size & (overshoot > config.integrity.outside_tolerance_px)
    unknown_class = ~np.isin(b["class_id"].to_numpy(), list(dataset.classes))

    max_outside_px = float(overshoot[outside].max()) if outside.any() else 0.0
    counts: dict[str, int | float] = {
        "num_boxes": len(b),
        "num_valid_boxes": int(valid.sum()),
        "num_nonfinite_boxes": int(nonfinite.sum()),
        "num_degenerate_boxes": int(degenerate.sum()),
        "num_outside_image": int(outside.sum()),
        "max_outside_px": max_outside_px,
        "num_unknown_class_boxes": int(unknown_class.sum()),
        "num_ignored_boxes": int(b["ignore"].to_numpy().sum()),
    }

    overshoot_s = pd.Series(overshoot, index=b.index)
    # Example details only for the shown rows: string columns over 10^6 boxes cost seconds.
    checks = [
        (
            "integrity.nonfinite_box",
            nonfinite,
            ("box has", "boxes have", "a NaN or infinite coordinate"),
            lambda r: r["x"].astype(str).str.cat([r[c].astype(str) for c in ("y", "w", "h")], sep=","),
        ),
        (
            "integrity.degenerate_box",
            degenerate,
            ("box has", "boxes have", "zero or negative width or height"),
            lambda r: "w=" + r["w"].round(2).astype(str) + " h=" + r["h"].round(2).astype(str),
        ),
        (
            "integrity.box_outside_image",
            outside,
            (
                "box extends",
                "boxes extend",
                f"past the image border by more than {config.integrity.outside_tolerance_px:g} px "
                f"(up to {max_outside_px:.1f} px)",
            ),
            lambda r: overshoot_s.loc[r.index].round(1).astype(str) + " px past the edge",
        ),
    ]
    for code, mask, (one, many, text), detail in checks:
        if mask.any():
            rows = label_rows(b, mask)
            shown = rows.head(MAX_EXAMPLES)
            result.tables[code.split(".")[1]] = label_table(dataset, rows)
            result.findings.append(
                Finding.of(
                    code,
                    f"{int(mask.sum())} {one if mask.sum() == 1 else many} {text}",
                    NAME,
                    value=float(mask.sum()),
                    examples=label_examples(dataset, shown, detail(shown)),
                    count=int(mask.sum()),
                )
            )
    counts["num_unknown_class_images"] = unknown_class_finding(dataset, result, unknown_class)
    return counts, valid


def _image_findings(
    dataset: Dataset, result: AnalyzerResult, decode_failures: dict[str, str], too_large: dict[str, float]
) -> dict[str, object]:
    """Missing, corrupt, unreadable, EXIF-rotated and background images: the image fields of
    :class:`IntegrityStats` by name. ``--deep``'s failures count as corrupt; the images it could
    not decode (past Pillow's decompression-bomb limit) are ``integrity.image_not_decoded``."""
    images = dataset.images
    status_counts = images["status"].value_counts()
    statuses = images["status"].to_numpy()
    background = images["n_boxes"].to_numpy() == 0
    n_images = len(images)
    counts: dict[str, object] = {
        "images_by_status": {str(k): int(v) for k, v in status_counts.items()},
        "background_images": int(background.sum()),
        "background_share": float(background.mean()) if n_images else 0.0,
        "exif_rotated_images": int(images["exif_rotated"].sum()),
    }

    for status, code, (one, many), text in (
        (
            "missing",
            "integrity.image_missing",
            ("image named", "images named"),
            "in the annotations {} not on disk",
        ),
        ("corrupt", "integrity.image_corrupt", ("image file", "image files"), "{} empty or corrupt"),
        (
            "unreadable-size",
            "integrity.image_unreadable",
            ("image file", "image files"),
            "{} unreadable: the header gives no size",
        ),
    ):
        is_status = statuses == status
        n, extra = int(is_status.sum()), ""
        examples = [str(f) for f in images["file_name"].iloc[np.flatnonzero(is_status)[:MAX_EXAMPLES]]]
        if status == "corrupt" and decode_failures:
            n += len(decode_failures)
            extra = f" ({len(decode_failures)} found by decoding every image)"
            examples += [f"{name}: {why}" for name, why in list(decode_failures.items())[:MAX_EXAMPLES]]
        message = f"{n} {one if n == 1 else many} " + text.format("is" if n == 1 else "are") + extra
        if n:
            result.findings.append(
                Finding.of(
                    code, message, NAME, value=float(n), examples=tuple(examples[:MAX_EXAMPLES]), count=n
                ),
            )
    if too_large:
        result.findings.append(_not_decoded_finding(too_large))
    is_rotated = images["exif_rotated"].to_numpy()
    if is_rotated.any():
        rotated = images[is_rotated]
        result.findings.append(
            Finding.of(
                "integrity.exif_rotated",
                f"{len(rotated)} images carry an EXIF rotation; boxes are read in the rotated "
                "frame (as displayed); check that your labelling tool and trainer agree",
                NAME,
                value=float(len(rotated)),
                examples=tuple(rotated["file_name"].head(MAX_EXAMPLES).astype(str)),
                count=len(rotated),
            )
        )
    if background.any():
        share = background.mean()
        result.findings.append(
            Finding.of(
                "integrity.background_images",
                f"{int(background.sum())} of {n_images} images ({share:.1%}) have no boxes (background)",
                NAME,
                value=float(share),
                examples=tuple(images.loc[background, "file_name"].head(MAX_EXAMPLES).astype(str)),
                count=int(background.sum()),
            )
        )
    return counts


def _not_decoded_finding(too_large: dict[str, float]) -> Finding:
    """The images ``--deep`` did not decode: past Pillow's decompression-bomb limit, so whether
    they are intact is unknown (not corrupt: a finding of their own)."""
    m = len(too_large)
    limit = bomb_limit() or 0
    name, pixels = next(iter(too_large.items()))
    message = (
        f"{m} image {'file was' if m == 1 else 'files were'} not decoded by --deep: past Pillow's "
        f"decompression-bomb limit of {limit:,} pixels (e.g. {name}: {pixels:,.0f} pixels), so whether "
        f"{'it is' if m == 1 else 'they are'} intact is unknown, and Pillow-based loaders refuse such "
        "images at this limit"
    )
    examples = tuple(
        f"{file}: {px:,.0f} pixels, past Pillow's decompression-bomb limit of {limit:,} pixels; not decoded"
        for file, px in list(too_large.items())[:MAX_EXAMPLES]
    )
    code = "integrity.image_not_decoded"
    return Finding.of(code, message, NAME, value=float(m), examples=examples, count=m)


def _duplicates(dataset: Dataset, config: Config, result: AnalyzerResult) -> tuple[int, int, int]:
    """Same class, same image, IoU >= ``duplicate_iou``: the same object labelled twice.

    Over every valid box (ignore boxes too: a doubled crowd region is a labelling defect as
    well). Returns ``num_duplicates`` (pairs), ``num_duplicate_boxes`` (the boxes a
    de-duplication would remove: each box that duplicates an earlier one in the table) and
    ``images_over_pair_limit``.
    """
    b = dataset.boxes
    thr = config.integrity.duplicate_iou
    limit = max_pairs_per_image(config)
    pairs = pairs_within_images(
        b["image_id"].to_numpy(),
        BoxColumns(*(b[c].to_numpy() for c in ("x", "y", "w", "h"))),
        thr,
        same_group=b["class_id"].to_numpy(),
        max_pairs_per_image=limit,
    )
    redundant = len(np.unique(pairs.j))
    counts = len(pairs), redundant, len(pairs.over_limit)
    if len(pairs.over_limit):
        what = f"same-class boxes with IoU >= {thr:g}"
        result.findings.append(
            pair_limit_finding(dataset, pairs.over_limit, "integrity.pair_limit", NAME, what, limit)
        )
    if not len(pairs):
        return counts
    table = pair_table(dataset, label_rows(b, pairs.i), label_rows(b, pairs.j), pairs.iou)
    result.tables["duplicate_box"] = table
    result.findings.append(
        Finding.of(
            "integrity.duplicate_box",
            f"{len(pairs)} pairs of boxes of the same class in the same image overlap with "
            f"IoU >= {thr:g} (duplicate labels); removing them would drop {redundant} boxes",
            NAME,
            value=float(len(pairs)),
            threshold=float(thr),
            examples=pair_examples(table),
            count=len(pairs),
        )
    )
    return counts
