"""The images and boxes tables of one COCO file, its classes, and image sizes checked against
the headers of the image files found (read from them when the JSON lacks them)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from sodaudit.dataset import LoadIssue
from sodaudit.imageinfo import read_headers
from sodaudit.loaders.coco.elements import malformed
from sodaudit.loaders.coco.parse import Parsed, columns_of
from sodaudit.loaders.sources import NO_ID, SOURCE_ID, coco_key


def merge_classes(
    classes: dict[int, str],
    parsed: Parsed,
    rel: str,
    issues: list[LoadIssue],
    supercategories: dict[int, str] | None = None,
) -> None:
    """Add one file's categories to ``classes`` (the first name of an id wins) and, when given,
    their supercategories to ``supercategories`` (by id, the first file's wins as for names)."""
    if not parsed.has_categories and len(parsed.annotation_index):
        issues.append(malformed(rel, "categories", "no categories list; every class id is unknown"))
    show = _shown(parsed)
    seen: set[int] = set()
    for cat_id, name, i in parsed.categories:
        key = f"categories[{i}]"
        if cat_id in seen:
            reason = (
                f"category id {show('category', cat_id)} ({name!r}) appears again; kept {classes[cat_id]!r}"
            )
            issues.append(LoadIssue("load.duplicate_id", rel, reason, key=key))
        elif cat_id in classes and classes[cat_id] != name:
            reason = (
                f"category id {show('category', cat_id)} is {name!r} here but {classes[cat_id]!r} in an "
                "earlier file; kept the first"
            )
            issues.append(LoadIssue("load.duplicate_id", rel, reason, key=key))
        if supercategories is not None and cat_id not in classes and cat_id in parsed.supercategories:
            supercategories[cat_id] = parsed.supercategories[cat_id]
        classes.setdefault(cat_id, name)
        seen.add(cat_id)


def tables(
    parsed: Parsed, rel: str, split: str, offset: int, issues: list[LoadIssue]
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Images and box columns of one file, with duplicate ids and orphan annotations resolved.

    The box columns take over the parsed arrays (``parsed.columns`` is emptied), so a file's
    boxes are held once."""
    show = _shown(parsed)
    cols = parsed.columns if parsed.columns is not None else columns_of(parsed)
    parsed.columns = None
    images = pd.DataFrame(
        {
            "coco_id": cols.pop("image_id"),
            "file_name": cols.pop("file_name"),
            "width": cols.pop("width"),
            "height": cols.pop("height"),
            "index": np.asarray(parsed.image_index, dtype=np.int64),
            **({"video_id": cols.pop("video_id")} if "video_id" in cols else {}),
        }
    )
    dup = images["coco_id"].duplicated().to_numpy()
    issues += [
        LoadIssue(
            "load.duplicate_id",
            rel,
            f"image id {show('image', cid)} appears again; kept the first entry",
            key=f"images[{i}]",
        )
        for cid, i in zip(images["coco_id"][dup], images["index"][dup], strict=True)
    ]
    images = images[~dup].reset_index(drop=True)
    images.insert(0, "image_id", np.arange(offset, offset + len(images), dtype=np.int64))
    images["split"] = split
    images["source_file"] = rel

    ann_ids = pd.Series(cols.pop("ann_id"))
    coco_image = cols.pop("ann_image")
    line = np.asarray(parsed.annotation_index, dtype=np.int64)
    dup = (ann_ids.notna() & ann_ids.duplicated()).to_numpy()
    issues += [
        LoadIssue(
            "load.duplicate_id",
            rel,
            f"annotation id {show('annotation', aid)} appears again; box kept",
            key=coco_key(i, show("annotation", aid)),
        )
        for aid, i in zip(ann_ids[dup], line[dup], strict=True)
    ]
    pos = pd.Index(images["coco_id"]).get_indexer(coco_image)
    orphan = pos < 0
    issues += [
        LoadIssue(
            "load.orphan_label",
            rel,
            f"image_id {show('image', iid)} is not in images; annotation dropped",
            key=coco_key(i, None if pd.isna(aid) else show("annotation", aid)),
        )
        for iid, i, aid in zip(coco_image[orphan], line[orphan], ann_ids[orphan], strict=True)
    ]
    shown_id = source_ids(ann_ids, parsed)
    del ann_ids
    del coco_image
    keep = None if not orphan.any() else ~orphan

    def kept(values: np.ndarray) -> np.ndarray:
        return values if keep is None else values[keep]

    boxes = {"image_id": images["image_id"].to_numpy()[kept(pos)]}
    del pos
    for name, column in (("class_id", "category_id"), *((c, c) for c in "xywh")):
        boxes[name] = kept(cols.pop(column))
    boxes["ignore"] = kept(cols.pop("ignore"))
    boxes["region"] = boxes["ignore"]  # iscrowd: a crowd region, not one object (ignored by COCOeval)
    boxes["coco_area"] = kept(cols.pop("area"))
    boxes["source_line"] = kept(line)
    boxes[SOURCE_ID] = kept(shown_id)
    return images, boxes


def source_ids(ann_ids: pd.Series, parsed: Parsed) -> np.ndarray:
    """The ``source_id`` column: each annotation's id, :data:`NO_ID` when it has none or when
    the file spelled it as a string (string ids are renumbered: the number is not the file's)."""
    ids = ann_ids.to_numpy(dtype=np.int64, na_value=NO_ID) if ann_ids.hasnans else ann_ids.to_numpy(np.int64)
    spelled = parsed.text_ids.spelled["annotation"] if parsed.text_ids is not None else {}
    if spelled:
        ids = np.where(np.isin(ids, np.fromiter(spelled, dtype=np.int64, count=len(spelled))), NO_ID, ids)
    return ids


def _shown(parsed: Parsed) -> Callable[[str, object], str]:
    """How a message shows an id of ``parsed``: as the file spelled it."""
    ids = parsed.text_ids
    return (lambda ns, value: str(value)) if ids is None else ids.show


_SIZE_UNKNOWN = {
    "ok": "the header gave no size",
    "missing": "the image file is missing",
    "unchecked": "no image folder was found to read its header",
    "corrupt": "the image file is corrupt",
    "unreadable-size": "its header is unreadable",
}


def fill_sizes(
    images: pd.DataFrame, rel: str, issues: list[LoadIssue], notes: list[str], workers: int = 1
) -> None:
    """Read the header of every image found on disk (as the VOC loader does): it fills a
    width/height that is missing, 0 or non-numeric, sets ``status`` and ``exif_rotated``, and a
    declared size that differs from the file's is a ``load.size_mismatch`` (the declared one is
    kept: the boxes are in its pixels), named as swapped when it is the file's size transposed
    (rotated phone photos: the size written before or without the EXIF rotation)."""
    images["exif_rotated"] = False
    bad = _bad_size(images)
    rows = np.flatnonzero((images["status"] == "ok").to_numpy())
    headers = read_headers(images["path"].to_numpy()[rows].tolist(), workers=workers) if len(rows) else []
    if headers:
        file_w = np.array([hdr.width for hdr in headers], dtype=np.float64)
        file_h = np.array([hdr.height for hdr in headers], dtype=np.float64)
        status = np.array([hdr.status for hdr in headers], dtype=object)
        exif = np.array([hdr.exif_rotated for hdr in headers], dtype=bool)
        _report_mismatches(
            images, rows[~bad[rows] & (status == "ok")], file_w, file_h, exif, rows, rel, issues
        )
        fill = bad[rows]
        images.loc[rows[fill], "width"] = file_w[fill]
        images.loc[rows[fill], "height"] = file_h[fill]
        images.loc[rows, "status"] = status
        images.loc[rows, "exif_rotated"] = exif
        fixed = int(bad.sum() - _bad_size(images).sum())
        if fixed:
            notes.append(f"{rel}: {fixed} image(s) had no usable width/height; read from the header.")
    still = _bad_size(images)
    issues += [
        LoadIssue(
            "load.size_missing",
            rel,
            f"width/height missing or invalid, and {_SIZE_UNKNOWN[status]}; size unknown",
            key=f"images[{i}]",
        )
        for i, status in zip(images["index"][still], images["status"][still], strict=True)
    ]


def _report_mismatches(
    images: pd.DataFrame,
    checked: np.ndarray,
    file_w: np.ndarray,
    file_h: np.ndarray,
    exif: np.ndarray,
    rows: np.ndarray,
    rel: str,
    issues: list[LoadIssue],
) -> None:
    """``load.size_mismatch`` for the ``checked`` rows (declared size and header both usable)
    whose declared size is not the file's; ``file_*``/``exif`` are aligned with ``rows``."""
    at = np.searchsorted(rows, checked)
    w, h = images["width"].to_numpy()[checked], images["height"].to_numpy()[checked]
    fw, fh, rotated = file_w[at], file_h[at], exif[at]
    differ = (w != fw) | (h != fh)
    swapped = (w == fh) & (h == fw)  # differ too, so the file is not square
    names, index = images["file_name"].to_numpy()[checked], images["index"].to_numpy()[checked]
    for j in np.flatnonzero(differ):
        said = f"the JSON says {w[j]:g}x{h[j]:g}, the image file is {fw[j]:g}x{fh[j]:g}"
        if rotated[j]:
            said += " after its EXIF orientation"
        if swapped[j]:
            said = "width and height swapped: " + said
            if rotated[j]:
                said += " (the JSON has the stored size: it was written before rotating)"
        reason = f"{names[j]}: {said}; the declared size is used"
        issues.append(LoadIssue("load.size_mismatch", rel, reason, key=f"images[{index[j]}]"))


def _bad_size(images: pd.DataFrame) -> np.ndarray:
    w, h = images["width"].to_numpy(), images["height"].to_numpy()
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(w) & (w > 0) & np.isfinite(h) & (h > 0))
