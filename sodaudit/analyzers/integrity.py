"""Integrity: what loading revealed, plus box-level checks on the canonical table.

Load issues are grouped by code into one finding each (with file:line examples);
box problems are found vectorised from the boxes table, never per row in Python.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from PIL import Image

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
from sodaudit.catalogue import CATALOGUE
from sodaudit.config import Config
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.findings import MAX_EXAMPLES, Finding, Severity
from sodaudit.geometry import pairs_within_images

NAME = "integrity"
TOO_LARGE = "too large to decode safely"
"""Pillow's decompression-bomb limit: such images are skipped by ``--deep``, not called corrupt."""
NOT_FOUND = "file not found"
"""An image whose file vanished after loading is not corrupt: ``--deep`` skips and counts it."""


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Integrity stats and findings: load issues, invalid boxes, images that cannot be used."""
    result = AnalyzerResult(NAME, "Integrity")
    _load_issue_findings(dataset.issues, result)
    _box_findings(dataset, config, result)
    _duplicates(dataset, config, result)
    decode_failures = _deep_decode(dataset, config, result)
    _image_findings(dataset, result, decode_failures)
    _cross_split_images(dataset, config, result)
    return result


def _load_issue_findings(issues: tuple[LoadIssue, ...], result: AnalyzerResult) -> None:
    by_code: dict[str, list[LoadIssue]] = {}
    for issue in issues:
        by_code.setdefault(issue.code, []).append(issue)
    result.stats["load_issues"] = {code: len(items) for code, items in sorted(by_code.items())}
    for code, items in by_code.items():
        spec = CATALOGUE.get(code)  # the catalogue's severity and text; a new code still shows
        severity = spec.severity if spec else Severity(items[0].severity)
        template = spec.summary if spec and spec.summary else "{n} load problems of kind " + code
        first = items[0]
        message = template.format(n=len(items)) + f", e.g. {first.where}: {first.reason}"
        result.findings.append(
            Finding(
                code=code,
                severity=severity,
                message=message,
                analyzer=NAME,
                value=float(len(items)),
                examples=tuple(f"{i.where}: {i.reason}" for i in items[:MAX_EXAMPLES]),
                count=len(items),
            )
        )
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


def _box_findings(dataset: Dataset, config: Config, result: AnalyzerResult) -> None:
    b = dataset.boxes
    x, y, w, h = (b[c].to_numpy(dtype=np.float64) for c in ("x", "y", "w", "h"))
    img_w, img_h = b["img_w"].to_numpy(), b["img_h"].to_numpy()
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

    result.stats.update(
        num_boxes=len(b),
        num_valid_boxes=int(valid.sum()),
        num_nonfinite_boxes=int(nonfinite.sum()),
        num_degenerate_boxes=int(degenerate.sum()),
        num_outside_image=int(outside.sum()),
        max_outside_px=float(overshoot[outside].max()) if outside.any() else 0.0,
        num_unknown_class_boxes=int(unknown_class.sum()),
        num_ignored_boxes=int(b["ignore"].to_numpy().sum()),
    )

    overshoot_s = pd.Series(overshoot, index=b.index)
    # Example details are built only for the shown rows: string columns over a million boxes
    # cost seconds.
    checks = [
        (
            "integrity.nonfinite_box",
            nonfinite,
            ("box has", "boxes have", "a NaN or infinite coordinate"),
            lambda r: (
                r["x"].astype(str)
                + ","
                + r["y"].astype(str)
                + ","
                + r["w"].astype(str)
                + ","
                + r["h"].astype(str)
            ),
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
                f"(up to {result.stats['max_outside_px']:.1f} px)",
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
                Finding(
                    code,
                    Severity.WARNING,
                    f"{int(mask.sum())} {one if mask.sum() == 1 else many} {text}",
                    NAME,
                    value=float(mask.sum()),
                    examples=label_examples(dataset, shown, detail(shown)),
                    count=int(mask.sum()),
                )
            )
    if unknown_class.any():
        rows = label_rows(b, unknown_class)
        ids = sorted(rows["class_id"].unique().tolist())
        shown = ", ".join(map(str, ids[:12])) + (" ..." if len(ids) > 12 else "")
        result.tables["unknown_class"] = label_table(dataset, rows)
        result.findings.append(
            Finding(
                "integrity.unknown_class",
                Severity.WARNING,
                f"{len(rows)} boxes use {len(ids)} class ids that the class list does not declare ({shown})",
                NAME,
                value=float(len(rows)),
                examples=label_examples(
                    dataset,
                    rows.head(MAX_EXAMPLES),
                    "class id " + rows["class_id"].head(MAX_EXAMPLES).astype(str),
                ),
                count=len(rows),
            )
        )
    _area_mismatch(dataset, config, result, valid)


def _area_mismatch(dataset: Dataset, config: Config, result: AnalyzerResult, valid: np.ndarray) -> None:
    """COCOeval buckets by the ``area`` field (mask area), not w*h: say where they disagree."""
    b = dataset.boxes
    area_field = b["coco_area"].to_numpy()
    has_area = valid & np.isfinite(area_field)
    if not has_area.any():
        return
    wh = b["area"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        mismatch = has_area & (np.abs(area_field - wh) > config.integrity.area_mismatch_ratio * wh)
    # COCOeval's buckets (small < 32**2 <= medium < 96**2 <= large) differ exactly when one of
    # the two bounds falls between the two areas; both are finite (or +inf) here.
    other_bucket = has_area & (
        ((area_field >= 32**2) != (wh >= 32**2)) | ((area_field >= 96**2) != (wh >= 96**2))
    )
    result.stats.update(
        num_area_mismatch=int(mismatch.sum()),
        num_area_other_coco_bucket=int(other_bucket.sum()),
    )
    if mismatch.any():
        # Only the shown rows: strings for every mismatch (100k on COCO) cost a tenth of a second.
        rows = b.iloc[np.flatnonzero(mismatch)[:MAX_EXAMPLES]]
        detail = (
            "area=" + rows["coco_area"].round(1).astype(str) + " w*h=" + rows["area"].round(1).astype(str)
        )
        result.findings.append(
            Finding(
                "integrity.area_mismatch",
                Severity.INFO,
                f"{int(mismatch.sum())} boxes have a COCO area field that differs from w*h "
                f"by more than {config.integrity.area_mismatch_ratio:.0%}; "
                f"{int(other_bucket.sum())} of all boxes fall in another COCOeval size bucket "
                "by area than by w*h",
                NAME,
                value=float(mismatch.sum()),
                threshold=config.integrity.area_mismatch_ratio,
                examples=label_examples(dataset, rows, detail),
                count=int(mismatch.sum()),
            )
        )


def _image_findings(dataset: Dataset, result: AnalyzerResult, decode_failures: dict[str, str]) -> None:
    images = dataset.images
    status_counts = images["status"].value_counts()
    statuses = images["status"].to_numpy()
    result.stats["images_by_status"] = {str(k): int(v) for k, v in status_counts.items()}
    background = images["n_boxes"].to_numpy() == 0
    n_images = len(images)
    result.stats["background_images"] = int(background.sum())
    result.stats["background_share"] = float(background.mean()) if n_images else 0.0
    result.stats["exif_rotated_images"] = int(images["exif_rotated"].sum())

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
            examples += [f"{name}: {why}" for name, why in decode_failures.items()]
        if n:
            result.findings.append(
                Finding(
                    code,
                    Severity.WARNING,
                    f"{n} {one if n == 1 else many} " + text.format("is" if n == 1 else "are") + extra,
                    NAME,
                    value=float(n),
                    examples=tuple(examples[:MAX_EXAMPLES]),
                    count=n,
                )
            )
    is_rotated = images["exif_rotated"].to_numpy()
    if is_rotated.any():
        rotated = images[is_rotated]
        result.findings.append(
            Finding(
                "integrity.exif_rotated",
                Severity.INFO,
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
            Finding(
                "integrity.background_images",
                Severity.INFO,
                f"{int(background.sum())} of {n_images} images ({share:.1%}) have no boxes (background)",
                NAME,
                value=float(share),
                examples=tuple(images.loc[background, "file_name"].head(MAX_EXAMPLES).astype(str)),
                count=int(background.sum()),
            )
        )


def _duplicates(dataset: Dataset, config: Config, result: AnalyzerResult) -> None:
    """Same class, same image, IoU >= ``duplicate_iou``: the same object labelled twice.

    Over every valid box (ignore boxes too: a doubled crowd region is a labelling defect as
    well). ``num_duplicates`` counts pairs; ``num_duplicate_boxes`` counts the boxes a
    de-duplication would remove (each box that duplicates an earlier one in the table).
    """
    b = dataset.boxes
    thr = config.integrity.duplicate_iou
    limit = max_pairs_per_image(config)
    pairs = pairs_within_images(
        b["image_id"].to_numpy(),
        b[["x", "y", "w", "h"]].to_numpy(np.float64),
        thr,
        same_group=b["class_id"].to_numpy(),
        max_pairs_per_image=limit,
    )
    redundant = len(np.unique(pairs.j))
    result.stats.update(
        num_duplicates=len(pairs),
        num_duplicate_boxes=redundant,
        images_over_pair_limit=len(pairs.over_limit),
    )
    if len(pairs.over_limit):
        what = f"same-class boxes with IoU >= {thr:g}"
        result.findings.append(
            pair_limit_finding(dataset, pairs.over_limit, "integrity.pair_limit", NAME, what, limit)
        )
    if not len(pairs):
        return
    table = pair_table(dataset, label_rows(b, pairs.i), label_rows(b, pairs.j), pairs.iou)
    result.tables["duplicate_box"] = table
    result.findings.append(
        Finding(
            "integrity.duplicate_box",
            Severity.WARNING,
            f"{len(pairs)} pairs of boxes of the same class in the same image overlap with "
            f"IoU >= {thr:g} (duplicate labels); removing them would drop {redundant} boxes",
            NAME,
            value=float(len(pairs)),
            threshold=float(thr),
            examples=pair_examples(table),
            count=len(pairs),
        )
    )


def _readable(dataset: Dataset) -> pd.DataFrame:
    """Images whose file exists and whose header was read: the only ones worth opening."""
    images = dataset.images
    return images[(images["status"] == "ok") & (images["path"].astype(str) != "")]


def _decode_error(path: str) -> str | None:
    """Why the image at ``path`` cannot be decoded, or None when it decodes fully."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
    except Image.DecompressionBombError:
        return TOO_LARGE
    except FileNotFoundError:
        return NOT_FOUND
    except Exception as err:  # any decoder error means the file is corrupt; no traceback
        return f"{type(err).__name__}: {err}"[:200]
    return None


def _deep_decode(dataset: Dataset, config: Config, result: AnalyzerResult) -> dict[str, str]:
    """With ``deep``: decode every readable image; a header can be fine on a truncated file."""
    if not config.deep:
        result.stats["deep_decode"] = {"ran": False, "reason": "headers only (--deep is off)"}
        return {}
    start = time.perf_counter()
    images = _readable(dataset)
    paths = [str(p) for p in images["path"]]
    # Pillow's decoders release the GIL, so threads decode in parallel; a loop over files.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        errors = list(pool.map(_decode_error, paths))
    names = images["file_name"].astype(str)
    skipped = (TOO_LARGE, NOT_FOUND)
    failures = {n: e for n, e in zip(names, errors, strict=True) if e and e not in skipped}
    result.stats["deep_decode"] = {
        "ran": True,
        "images_decoded": sum(e is None for e in errors),
        "failed": len(failures),
        "skipped_too_large": sum(e == TOO_LARGE for e in errors),
        "skipped_not_found": sum(e == NOT_FOUND for e in errors),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return failures


def _file_hash(path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cross_split_images(dataset: Dataset, config: Config, result: AnalyzerResult) -> None:
    """Identical image files (same bytes) in more than one split: train/test leakage."""
    limit = config.integrity.hash_max_images
    stats: dict[str, object] = {"ran": False}
    result.stats["image_hash"] = stats
    # None (JSON null) while not checked: unknown, not zero.
    result.stats["num_cross_split_duplicate_groups"] = None
    result.stats["num_cross_split_duplicate_images"] = None
    if len(dataset.images) > limit:
        stats["reason"] = f"skipped: {len(dataset.images)} images is more than hash_max_images={limit}"
        return
    images = _readable(dataset)
    if images["split"].astype(str).nunique() < 2:
        stats["reason"] = "skipped: fewer than two splits with readable image files"
        result.stats["num_cross_split_duplicate_groups"] = 0
        result.stats["num_cross_split_duplicate_images"] = 0
        return
    start = time.perf_counter()
    by_path: dict[str, str | None] = {}
    hashes = []
    for path in images["path"].astype(str):  # a loop over files; each file is read once
        if path not in by_path:
            try:
                by_path[path] = _file_hash(path)
            except OSError:
                by_path[path] = None
        hashes.append(by_path[path])
    table = pd.DataFrame(
        {
            "hash": hashes,
            "split": images["split"].astype(str).to_numpy(),
            "file_name": images["file_name"].astype(str).to_numpy(),
        }
    ).dropna(subset=["hash"])
    group_size = table.groupby("hash")["file_name"].transform("size")
    splits_per_hash = table.groupby("hash")["split"].transform("nunique")
    identical = table[group_size > 1]
    cross = table[splits_per_hash > 1].sort_values(["hash", "split", "file_name"])
    stats.update(
        ran=True,
        images_hashed=len(table),
        identical_groups=int(identical["hash"].nunique()),
        identical_images=len(identical),
        seconds=round(time.perf_counter() - start, 3),
    )
    result.stats["num_cross_split_duplicate_groups"] = int(cross["hash"].nunique())
    result.stats["num_cross_split_duplicate_images"] = len(cross)
    if cross.empty:
        return
    result.tables["cross_split_duplicate_image"] = cross.rename(columns={"file_name": "image"}).reset_index(
        drop=True
    )[["hash", "split", "image"]]
    labelled = cross["file_name"] + " (" + cross["split"] + ")"
    groups = labelled.groupby(cross["hash"], sort=False).agg(" = ".join)
    n_groups = len(groups)
    result.findings.append(
        Finding(
            "integrity.cross_split_duplicate_image",
            Severity.WARNING,
            f"{n_groups} images appear in more than one split as identical files (same bytes; "
            f"{len(cross)} files in all): evaluating on them measures memorisation, e.g. "
            f"{groups.iloc[0]}",
            NAME,
            value=float(n_groups),
            examples=tuple(groups.head(MAX_EXAMPLES)),
            count=n_groups,
        )
    )
