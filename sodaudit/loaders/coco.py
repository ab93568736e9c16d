"""COCO loader: one split per ``instances_*.json`` or Roboflow ``<split>/_annotations.coco.json``.

Decoding is typed and fast (:mod:`sodaudit.loaders.coco_decode`): only the fields an audit needs,
no pycocotools index. A file that breaks the typed schema (NaN
literals, a string in a bbox, a missing key) is decoded again with the stdlib and checked element
by element, so one bad annotation costs one ``LoadIssue``, not the file.

Image ids are dense (0..n-1 over all files) because COCO ids may collide between split files;
the original id stays in the images column ``coco_id``.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.imageinfo import is_image_file, read_headers
from sodaudit.loaders.base import (
    Detection,
    ProgressFn,
    TooLarge,
    counted,
    mapped_limited,
    relpath,
    resolve_inside,
)
from sodaudit.loaders.coco_decode import (
    Annotation,
    Category,
    Image,
    annotation_columns,
    decode,
    image_columns,
)

FORMAT = "coco"
ROBOFLOW_NAME = "_annotations.coco.json"
NOT_INSTANCES = {
    "captions_": "captions",
    "person_keypoints_": "person keypoints",
    "panoptic_": "panoptic segmentation",
}
"""File-name prefixes of COCO annotation files that are not detection instances."""

_HEAD_BYTES = 4096
_HEAD_KEYS = re.compile(rb'"(images|annotations|categories)"\s*:')
_NAME_HINT = re.compile(r"instances|coco|annotation", re.IGNORECASE)
_BOM = b"\xef\xbb\xbf"
_INT64_MAX = 2**63 - 1


class _Unreadable(Exception):
    """The file cannot be read as a COCO document at all."""


class _NotInstances(Exception):
    """The file is valid COCO JSON but holds no detection boxes (captions and the like)."""


@dataclass
class _Parsed:
    """One file's well-formed elements; ``*_index`` point back into the JSON arrays."""

    images: list[Image]
    image_index: list[int] | np.ndarray
    annotations: list[Annotation]
    annotation_index: list[int] | np.ndarray
    categories: list[tuple[int, str, int]]
    has_categories: bool
    issues: list[LoadIssue] = field(default_factory=list)
    columns: dict[str, object] | None = None
    """Numeric columns of ``images`` and ``annotations`` (see :func:`_columns`), once made."""


# ---------------------------------------------------------------------------------------------
# Detection


def detect(path: Path) -> Detection | None:
    """Claim a ``.json`` file or a folder with COCO JSON, looking only at names and file heads."""
    path = Path(path)
    if path.is_file():
        return Detection(FORMAT, _root_of(path), path.name) if path.suffix.lower() == ".json" else None
    if not path.is_dir():
        return None
    files = _candidates(path)
    usable = [f for f in files if _skip_reason(f.name) is None]
    if not usable:
        return None
    shown = [relpath(usable[0], path)] + [
        f.name if f.parent == usable[0].parent else relpath(f, path) for f in usable[1:4]
    ]
    more = f" and {len(usable) - 4} more" if len(usable) > 4 else ""
    return Detection(FORMAT, path, ", ".join(shown) + more)


def _candidates(root: Path) -> list[Path]:
    """Annotation JSON files of a dataset folder, in split order."""
    found: list[Path] = []
    ann = root / "annotations"
    if ann.is_dir():
        found += sorted(p for p in ann.glob("*.json") if _may_be_coco(p))
    try:
        with os.scandir(root) as it:  # d_type from the listing: no stat per entry
            subdirs = sorted(e.name for e in it if e.is_dir() and e.name != "annotations")
    except OSError:
        subdirs = []
    found += [root / d / ROBOFLOW_NAME for d in subdirs if (root / d / ROBOFLOW_NAME).is_file()]
    found += sorted(p for p in root.glob("*.json") if _may_be_coco(p))
    return found


def _may_be_coco(path: Path) -> bool:
    """A name like ``instances_*`` / ``*coco*``, or COCO's top-level keys in the first 4 KB."""
    if not path.is_file():
        return False
    if _NAME_HINT.search(path.name) or _skip_reason(path.name):
        return True
    try:
        with open(path, "rb") as fh:
            return _HEAD_KEYS.search(fh.read(_HEAD_BYTES)) is not None
    except OSError:
        return False


def _skip_reason(name: str) -> str | None:
    for prefix, kind in NOT_INSTANCES.items():
        if name.startswith(prefix):
            return kind
    return None


def _root_of(json_path: Path) -> Path:
    parent = json_path.parent
    return parent.parent if parent.name == "annotations" else parent


def split_name(json_path: Path) -> str:
    """``instances_val2017.json`` -> ``val2017``; ``train/_annotations.coco.json`` -> ``train``."""
    if json_path.name == ROBOFLOW_NAME:
        return json_path.parent.name
    stem = json_path.stem
    return stem[len("instances_") :] if stem.startswith("instances_") else stem


# ---------------------------------------------------------------------------------------------
# Loading


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read a COCO JSON file, or every instances file of a folder, into the canonical Dataset.

    ``workers``: processes that read image headers when the JSON lacks sizes (1 = this process
    only, 0 = one per core); the result is the same either way."""
    path = Path(path).absolute()
    if path.is_file():
        root, files = _root_of(path), [path]
    elif path.is_dir():
        root, files = path, _candidates(path)
    else:
        raise DatasetError(f"No such file or folder: {path}.")
    if not files:
        raise DatasetError(
            f"No COCO annotation JSON found in {path}: expected annotations/instances_*.json, "
            f"<split>/{ROBOFLOW_NAME} or a COCO .json file."
        )

    issues: list[LoadIssue] = []
    notes: list[str] = []
    failures: list[str] = []
    classes: dict[int, str] = {}
    image_frames: list[pd.DataFrame] = []
    box_frames: list[pd.DataFrame] = []
    folders: dict[str, Path] = {}
    used_folders: dict[Path, list[str]] = {}
    listings: dict[str, frozenset[str]] = {}
    for json_path in counted(files, "reading annotation files", progress):
        rel = relpath(json_path, root)
        kind = _skip_reason(json_path.name)
        if kind is not None:
            notes.append(f"Skipped {rel}: {kind} annotations, not detection instances.")
            failures.append(f"{rel} holds {kind}")
            continue
        try:
            parsed = _read(json_path, rel, limits or LimitsConfig())
        except TooLarge as err:
            issues.append(LoadIssue("load.file_too_large", rel, str(err), severity="error"))
            failures.append(f"{rel}: {err}")
            continue
        except _NotInstances as err:
            notes.append(f"Skipped {rel}: {err}.")
            failures.append(f"{rel}: {err}")
            continue
        except _Unreadable as err:
            issues.append(LoadIssue("load.unreadable_file", rel, str(err), severity="error"))
            failures.append(f"{rel}: {err}")
            continue
        issues += parsed.issues
        _merge_classes(classes, parsed, rel, issues)
        split = split_name(json_path)
        offset = sum(len(f) for f in image_frames)
        images, boxes = _tables(parsed, rel, split, offset, issues)
        folder = _image_folder(root, split, json_path, listings)
        if folder is None:
            notes.append(f"No image folder found for split {split!r} ({rel}); image files were not checked.")
        else:
            folders[split] = folder
            used_folders.setdefault(folder, []).append(rel)
        _locate(images, folder, root, rel, listings, issues)
        _fill_sizes(images, rel, issues, notes, workers)
        image_frames.append(images)
        box_frames.append(boxes)

    if not image_frames:
        raise DatasetError(
            f"No COCO detection instances could be read at {path} ({'; '.join(failures[:3])})."
        )
    images = pd.concat(image_frames, ignore_index=True)
    issues += _images_not_in_annotations(images, used_folders, root, listings)
    # The same sorted categories in every file's frame, so the concatenation stays categorical
    # (as converting the strings would make it) instead of falling back to 860k strings.
    box_files = sorted({str(f["source_file"].cat.categories[0]) for f in box_frames if len(f)})
    for f in box_frames:
        f["source_file"] = f["source_file"].cat.set_categories(box_files)
    return Dataset.build(
        root=root,
        format=FORMAT,
        boxes=pd.concat(box_frames, ignore_index=True),
        images=images.drop(columns=["index"]),
        classes=classes,
        issues=issues,
        notes=notes,
        imgsz=imgsz,
        meta={
            "annotation_files": sorted(images["source_file"].unique().tolist()),
            "image_folders": {s: relpath(f, root) for s, f in folders.items()},
        },
    )


def _read(json_path: Path, rel: str, limits: LimitsConfig) -> _Parsed:
    """Typed decode first (from a memory map of the file); the tolerant path only when the file
    breaks the schema."""
    try:
        with mapped_limited(
            json_path, limits.max_annotation_file_mb, "limits.max_annotation_file_mb"
        ) as view:
            body = view[len(_BOM) :] if view[: len(_BOM)] == _BOM else view
            try:
                return _typed(body, limits)
            except (msgspec.DecodeError, OverflowError, UnicodeDecodeError):  # bad UTF-8 in a string
                raw = bytes(body)  # the stdlib parser needs bytes; rare, so a copy is fine
            finally:
                body.release()
    except OSError as err:
        raise _Unreadable(f"cannot read the file ({err.strerror or err})") from err
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise _Unreadable(f"not UTF-8 text (byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise _Unreadable(
            f"not valid JSON, truncated or malformed ({err.msg} at line {err.lineno}, column {err.colno})"
        ) from err
    except RecursionError as err:
        raise _Unreadable("JSON nested too deeply to read") from err
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        _check_count(len(data["annotations"]), limits)
    return _tolerant(data, rel)


def _typed(body: memoryview, limits: LimitsConfig) -> _Parsed:
    """The typed decode: msgspec copies every string out, so nothing refers to ``body`` after."""
    doc = decode(body)
    if doc.annotation_count is None:
        raise _NotInstances("it has no annotations array")
    _check_count(doc.annotation_count, limits)
    parsed = _Parsed(
        images=doc.images,
        image_index=np.arange(len(doc.images), dtype=np.int64),  # every element, in order
        annotations=[],  # only their columns are kept
        annotation_index=np.arange(doc.annotation_count, dtype=np.int64),
        categories=[(c.id, c.name, i) for i, c in enumerate(doc.categories or [])],
        has_categories=doc.categories is not None,
        columns=doc.columns,
    )
    _check_int64(parsed)
    return parsed


def _check_count(count: int, limits: LimitsConfig) -> None:
    if count > limits.max_annotations:
        raise TooLarge(
            f"{count:,} annotations, more than limits.max_annotations={limits.max_annotations:,}; "
            "not loaded — raise the limit to audit it"
        )


def _check_int64(parsed: _Parsed) -> None:
    """Integers past int64 cannot be stored in the tables: let the tolerant path report them.
    (Image and annotation columns are checked by :func:`_columns`, which makes them int64.)"""
    ints = [c[0] for c in parsed.categories]
    if ints and max(-min(ints), max(ints)) > _INT64_MAX:
        raise OverflowError


def _columns(parsed: _Parsed) -> dict[str, object]:
    """The numeric columns of one file read by the tolerant path."""
    return image_columns(parsed.images) | annotation_columns(parsed.annotations)


def _tolerant(data: object, rel: str) -> _Parsed:
    """Element-by-element reading of a document the typed decoder refused."""
    if not isinstance(data, dict):
        raise _Unreadable(f"the top level is {_kind(data)}, not a COCO object")
    arrays = {k: data.get(k) for k in ("images", "annotations", "categories")}
    if not isinstance(arrays["images"], list):
        raise _Unreadable(f"'images' is {_kind(arrays['images'])}, not a list")
    anns = arrays["annotations"]
    if anns is None:
        raise _NotInstances("it has no annotations array")
    if not isinstance(anns, list):
        raise _Unreadable(f"'annotations' is {_kind(anns)}, not a list")
    if anns and not any(isinstance(a, dict) and "bbox" in a for a in anns):
        raise _NotInstances("its annotations carry no bbox, so it holds no detection instances")
    cats = arrays["categories"]
    parsed = _Parsed([], [], [], [], [], has_categories=cats is not None)
    if cats is not None and not isinstance(cats, list):
        reason = f"categories is {_kind(cats)}, not a list; every class id is unknown"
        parsed.issues.append(_issue(rel, "categories", reason))
    for name, elements, check in (
        ("images", arrays["images"], _image_of),
        ("annotations", anns, _annotation_of),
        ("categories", cats if isinstance(cats, list) else [], _category_of),
    ):
        for i, element in enumerate(elements):
            value, problems = check(element)
            parsed.issues += [_issue(rel, f"{name}[{i}]", p) for p in problems]
            if value is None:
                continue
            if name == "images":
                parsed.images.append(value)
                parsed.image_index.append(i)
            elif name == "annotations":
                parsed.annotations.append(value)
                parsed.annotation_index.append(i)
            else:
                parsed.categories.append((value.id, value.name, i))
    return parsed


def _issue(rel: str, key: str, reason: str) -> LoadIssue:
    return LoadIssue("load.malformed_row", rel, reason, key=key)


def _image_of(e: object) -> tuple[Image | None, list[str]]:
    if not isinstance(e, dict):
        return None, [f"image entry is {_kind(e)}, not an object; skipped"]
    image_id, name = _as_int(e.get("id")), e.get("file_name")
    if image_id is None:
        return None, [f"image id {_short(e.get('id'))} is not a valid integer id; image skipped"]
    if not isinstance(name, str):
        return None, [f"file_name {_short(name)} is not a string; image skipped"]
    # Bad sizes become NaN here; _fill_sizes reads the header or reports them.
    return Image(image_id, name, _as_float(e.get("width")), _as_float(e.get("height"))), []


def _annotation_of(e: object) -> tuple[Annotation | None, list[str]]:
    if not isinstance(e, dict):
        return None, [f"annotation is {_kind(e)}, not an object; dropped"]
    for key in ("image_id", "category_id"):
        if _as_int(e.get(key)) is None:
            return None, [f"{key} {_short(e.get(key))} is not a valid integer id; annotation dropped"]
    bbox = e.get("bbox")
    if not isinstance(bbox, list):
        what = "missing" if "bbox" not in e else f"{_kind(bbox)}, not a list"
        return None, [f"bbox is {what}; annotation dropped"]
    if len(bbox) != 4:
        return None, [f"bbox has {len(bbox)} values, expected 4 (x, y, w, h); annotation dropped"]
    bad = [v for v in bbox if not _is_number(v)]
    if bad:
        return None, [f"bbox holds a non-numeric value {_short(bad[0])}; annotation dropped"]
    problems = []
    area = e.get("area", math.nan)
    if not _is_number(area):
        problems.append(f"area {_short(area)} is not a number; box kept without it")
        area = math.nan
    crowd = e.get("iscrowd", 0)
    if _as_int(crowd) is None:
        problems.append(f"iscrowd {_short(crowd)} is not 0 or 1; box kept as not crowd")
        crowd = 0
    ann_id = _as_int(e.get("id"))
    if "id" in e and ann_id is None:
        problems.append(f"id {_short(e.get('id'))} is not a valid integer id; box kept")
    box = tuple(float(v) for v in bbox)
    image_id, category_id = _as_int(e["image_id"]), _as_int(e["category_id"])
    return Annotation(image_id, category_id, box, ann_id, float(area), int(crowd)), problems


def _category_of(e: object) -> tuple[Category | None, list[str]]:
    if not isinstance(e, dict):
        return None, [f"category is {_kind(e)}, not an object; skipped"]
    cat_id, name = _as_int(e.get("id")), e.get("name")
    if cat_id is None:
        return None, [f"category id {_short(e.get('id'))} is not a valid integer id; skipped"]
    if not isinstance(name, str):
        return None, [f"category name {_short(name)} is not a string; skipped"]
    return Category(cat_id, name), []


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_int(v: object) -> int | None:
    """An integer id, accepting ``3.0``; ``None`` for anything else (bools included)."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) <= _INT64_MAX:
        return v
    return None


def _as_float(v: object) -> float:
    return float(v) if _is_number(v) else math.nan


def _kind(v: object) -> str:
    return "null" if v is None else f"a {type(v).__name__}"


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------------------------------------
# Tables and integrity


def _merge_classes(classes: dict[int, str], parsed: _Parsed, rel: str, issues: list[LoadIssue]) -> None:
    if not parsed.has_categories and len(parsed.annotation_index):
        issues.append(_issue(rel, "categories", "no categories list; every class id is unknown"))
    seen: set[int] = set()
    for cat_id, name, i in parsed.categories:
        key = f"categories[{i}]"
        if cat_id in seen:
            reason = f"category id {cat_id} ({name!r}) appears again; kept {classes[cat_id]!r}"
            issues.append(LoadIssue("load.duplicate_id", rel, reason, key=key))
        elif cat_id in classes and classes[cat_id] != name:
            reason = (
                f"category id {cat_id} is {name!r} here but {classes[cat_id]!r} in an earlier "
                "file; kept the first"
            )
            issues.append(LoadIssue("load.duplicate_id", rel, reason, key=key))
        classes.setdefault(cat_id, name)
        seen.add(cat_id)


def _tables(
    parsed: _Parsed, rel: str, split: str, offset: int, issues: list[LoadIssue]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Images and boxes of one file, with duplicate ids and orphan annotations resolved."""
    imgs = parsed.images
    cols = parsed.columns if parsed.columns is not None else _columns(parsed)
    images = pd.DataFrame(
        {
            "coco_id": cols["image_id"],
            "file_name": [i.file_name for i in imgs],
            "width": cols["width"],
            "height": cols["height"],
            "index": np.asarray(parsed.image_index, dtype=np.int64),
        }
    )
    dup = images["coco_id"].duplicated().to_numpy()
    issues += [
        LoadIssue(
            "load.duplicate_id",
            rel,
            f"image id {cid} appears again; kept the first entry",
            key=f"images[{i}]",
        )
        for cid, i in zip(images["coco_id"][dup], images["index"][dup], strict=True)
    ]
    images = images[~dup].reset_index(drop=True)
    images.insert(0, "image_id", np.arange(offset, offset + len(images), dtype=np.int64))
    images["split"] = split
    images["source_file"] = rel

    bbox = cols["bbox"]
    ann_ids = pd.Series(cols["ann_id"])
    coco_image = cols["ann_image"]
    line = np.asarray(parsed.annotation_index, dtype=np.int64)
    dup = (ann_ids.notna() & ann_ids.duplicated()).to_numpy()
    issues += [
        LoadIssue(
            "load.duplicate_id",
            rel,
            f"annotation id {aid} appears again; box kept",
            key=f"annotations[{i}]",
        )
        for aid, i in zip(ann_ids[dup], line[dup], strict=True)
    ]
    pos = pd.Index(images["coco_id"]).get_indexer(coco_image)
    orphan = pos < 0
    issues += [
        LoadIssue(
            "load.orphan_label",
            rel,
            f"image_id {iid} is not in images; annotation dropped",
            key=f"annotations[{i}]",
        )
        for iid, i in zip(coco_image[orphan], line[orphan], strict=True)
    ]
    keep = ~orphan
    all_kept = bool(keep.all())

    def kept(values: np.ndarray) -> np.ndarray:
        return values if all_kept else values[keep]

    n_kept = int(keep.sum())
    boxes = pd.DataFrame(
        {
            "image_id": images["image_id"].to_numpy()[kept(pos)],
            "class_id": kept(cols["category_id"]),
            "x": np.ascontiguousarray(kept(bbox[:, 0])),
            "y": np.ascontiguousarray(kept(bbox[:, 1])),
            "w": np.ascontiguousarray(kept(bbox[:, 2])),
            "h": np.ascontiguousarray(kept(bbox[:, 3])),
            "ignore": kept(cols["iscrowd"]) != 0,
            "coco_area": kept(cols["area"]),
            # categorical from the start: converting 860k equal strings costs a hash pass
            "source_file": pd.Categorical.from_codes(np.zeros(n_kept, np.int8), [rel]),
            "source_line": kept(line),
        },
        copy=False,
    )
    return images, boxes


# ---------------------------------------------------------------------------------------------
# Image files (optional)


def _listing(folder: str, listings: dict[str, frozenset[str]]) -> frozenset[str]:
    """File names in ``folder`` from one ``os.scandir``, cached: existence checks cost no stat."""
    if folder not in listings:
        try:
            with os.scandir(folder) as it:
                listings[folder] = frozenset(e.name for e in it if e.is_file())
        except OSError:
            listings[folder] = frozenset()
    return listings[folder]


def _image_folder(root: Path, split: str, json_path: Path, listings: dict) -> Path | None:
    """First of root/<split>, root/images/<split>, root/images, the JSON's folder with images."""
    for folder in (root / split, root / "images" / split, root / "images", json_path.parent):
        if folder.is_dir() and any(is_image_file(n) for n in _listing(str(folder), listings)):
            return folder
    return None


def _safe_path(folder: Path, root: Path, name: str) -> str | None:
    """Where ``name`` points under ``folder``; ``None`` when it is empty or leaves the root."""
    norm = name.replace("\\", "/")
    if not norm.strip("/.") or norm.startswith("/") or re.match(r"[A-Za-z]:", norm):
        return None
    if ".." not in norm.split("/"):
        return os.path.normpath(os.path.join(folder, norm))
    inside = resolve_inside(root, os.path.join(os.path.relpath(folder, root), norm))
    return None if inside is None else str(inside)


def _locate(
    images: pd.DataFrame, folder: Path | None, root: Path, rel: str, listings: dict, issues: list
) -> None:
    """Set ``path`` and ``status`` from folder listings; unsafe names never get a path."""
    base = os.path.normpath(folder or root)
    prefix = base.rstrip(os.sep) + os.sep
    # A plain name (no separator, drive, or dots-only) joins without normpath: one concat each.
    paths = [
        prefix + n
        if "/" not in n and "\\" not in n and ":" not in n and n.strip(".")
        else _safe_path(folder or root, root, n)
        for n in images["file_name"].tolist()
    ]
    unsafe = [p is None for p in paths]
    issues += [
        LoadIssue(
            "load.path_outside_root",
            rel,
            f"file_name {_short(name)} names no file inside the dataset folder; not looked at",
            key=f"images[{i}]",
        )
        for name, i, bad in zip(images["file_name"].tolist(), images["index"].tolist(), unsafe, strict=True)
        if bad
    ]
    if folder is None:
        images["path"] = ""
        images["status"] = np.where(unsafe, "missing", "unchecked")
        return
    images["path"] = [p or "" for p in paths]
    images["status"] = [
        "ok" if p and os.path.basename(p) in _listing(os.path.dirname(p), listings) else "missing"
        for p in paths
    ]


_SIZE_UNKNOWN = {
    "ok": "the header gave no size",
    "missing": "the image file is missing",
    "unchecked": "no image folder was found to read its header",
    "corrupt": "the image file is corrupt",
    "unreadable-size": "its header is unreadable",
}


def _fill_sizes(
    images: pd.DataFrame, rel: str, issues: list[LoadIssue], notes: list[str], workers: int = 1
) -> None:
    """Width/height missing, 0 or non-numeric: read the header when the file is there."""
    images["exif_rotated"] = False
    bad = _bad_size(images)
    if not bad.any():
        return
    rows = np.flatnonzero(bad & (images["status"] == "ok").to_numpy())
    headers = read_headers(images["path"].to_numpy()[rows].tolist(), workers=workers)
    if headers:
        images.loc[rows, "width"] = [hdr.width for hdr in headers]
        images.loc[rows, "height"] = [hdr.height for hdr in headers]
        images.loc[rows, "status"] = [hdr.status for hdr in headers]
        images.loc[rows, "exif_rotated"] = [hdr.exif_rotated for hdr in headers]
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


def _bad_size(images: pd.DataFrame) -> np.ndarray:
    w, h = images["width"].to_numpy(), images["height"].to_numpy()
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(w) & (w > 0) & np.isfinite(h) & (h > 0))


def _images_not_in_annotations(
    images: pd.DataFrame, used_folders: dict[Path, list[str]], root: Path, listings: dict
) -> list[LoadIssue]:
    """Image files in a split folder that no JSON lists: unlabeled or forgotten."""
    referenced = set(images["path"].tolist())
    issues = []
    for folder, jsons in used_folders.items():
        names = sorted(n for n in _listing(str(folder), listings) if is_image_file(n))
        issues += [
            LoadIssue(
                "load.image_not_in_annotations",
                relpath(folder / n, root),
                f"image file is not listed in {', '.join(jsons)}",
                severity="info",
            )
            for n in names
            if os.path.normpath(os.path.join(folder, n)) not in referenced
        ]
    return issues
