"""LabelMe loader: one JSON file per image, in a folder or in split folders (``train/``, ``val/``).

Documentation followed (field names checked in the tool's source, github:wkentaro/labelme):
``labelme/_label_file.py`` (``read_label_file``: the top-level ``version``, ``flags``,
``shapes``, ``imagePath`` read with Windows separators, ``imageData``, ``imageHeight``,
``imageWidth``; ``_load_shape_json_obj``: ``label``, ``points``, ``group_id``, ``shape_type``,
``flags``, ``description``, ``mask``, and the exact point counts per shape type),
``labelme/_shape.py`` (the shape types), ``labelme/_utils/shape.py`` (``shape_to_mask``: how
each type covers pixels), ``examples/primitives/primitives.json`` and
``examples/instance_segmentation/labelme2coco.py`` (shapes sharing a label and ``group_id``
are one instance).

- Files: a ``.json`` file, or the ``.json`` files of a folder and of its immediate subfolders
  that look like LabelMe (a LabelMe key in the first 4 KB; others are counted in a note). The
  split is the JSON's subfolder (or, for a JSON at the root, the root folder itself) when it is
  named like a split (train, val, test...), else ``all``.
- Images: ``imagePath`` relative to the JSON's folder, then by file name under the root
  (:class:`~sodaudit.loaders.records.ImageIndex`); without ``imagePath``, the JSON's stem.
  ``imageWidth``/``imageHeight`` are the declared size (checked against the image header).
  ``imageData`` (the image as base64, often MBs) is skipped by the decoder, never decoded.
- Shapes -> boxes: ``rectangle`` the box of its points (LabelMe writes two opposite corners, in
  any order); ``polygon`` (also a shape with no ``shape_type``, as LabelMe 3 wrote), and
  ``oriented_rectangle`` the box of their points; ``circle`` centre and a point on the circle;
  ``mask`` the box of its two corner points (the mask patch; the mask is not decoded).
  ``line``, ``linestrip``, ``point`` and ``points`` are not boxes: counted in a note, skipped.
  Shapes of one file with the same ``label`` and ``group_id`` are merged into one box (their
  union), as ``labelme2coco.py`` merges them into one instance.
- A box labelled ``__ignore__`` (the ignore label of LabelMe's ``labels.txt`` examples) is an
  ``ignore`` box. ``source_line`` of a box is the index in ``shapes`` of its (first) shape, its
  ``source`` ``file#shapes[i]``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.loaders.base import (
    Detection,
    ProgressFn,
    counted,
    open_binary,
    read_or_issue,
    short_repr,
)
from sodaudit.loaders.records import Records, to_dataset
from sodaudit.loaders.via import BOM, HEAD_BYTES, SPLIT_NAMES, json_files

__all__ = ["FORMAT", "detect", "load"]

FORMAT = "labelme"
SNIFF_FILES = 3
"""JSON files per folder whose head ``detect`` reads (at most 4 folders: the root, 3 subfolders)."""
LIMIT_KEY = "limits.max_label_file_mb"
BOX_TYPES = ("rectangle", "polygon", "oriented_rectangle", "circle", "mask")
NOT_BOXES = ("line", "linestrip", "point", "points")
IGNORE_LABEL = "__ignore__"
"""The label LabelMe's examples give regions to ignore (``labels.txt``): their boxes get ``ignore``."""

_SHAPES = re.compile(rb'"shapes"\s*:\s*\[')
_STRONG = re.compile(rb'"(?:imagePath|imageHeight|shape_type)"\s*:')
_IMAGE_DATA = re.compile(rb'"imageData"\s*:')
_ANY_KEY = re.compile(rb'"(?:shapes|imagePath|imageData|imageHeight|imageWidth)"\s*:')


class _File(msgspec.Struct):
    """The fields read; ``imageData`` and the rest are skipped by the decoder, unallocated."""

    shapes: Any = None
    image_path: Any = msgspec.field(default=None, name="imagePath")
    image_height: Any = msgspec.field(default=None, name="imageHeight")
    image_width: Any = msgspec.field(default=None, name="imageWidth")


class _Bad(Exception):
    """Why one shape is not a box (its text is the issue's reason)."""


# --------------------------------------------------------------------------- detection


def looks_like_labelme(head: bytes, strict: bool = True) -> bool:
    """A JSON object with ``"shapes": [`` and ``imagePath``/``imageHeight``/``shape_type`` (the
    list may push ``imagePath`` past the head), or an ``imageData`` key. ``strict=False``: any
    LabelMe top-level key (a writer that sorted the keys puts ``imageData`` first)."""
    head = head.removeprefix(BOM)
    if not head.lstrip().startswith(b"{"):
        return False
    if not strict:
        return _ANY_KEY.search(head) is not None
    return bool(_SHAPES.search(head) and _STRONG.search(head)) or _IMAGE_DATA.search(head) is not None


def _sniff(path: Path, strict: bool = True) -> bool:
    try:
        with open_binary(path) as fh:
            return looks_like_labelme(fh.read(HEAD_BYTES), strict)
    except OSError:
        return False


def detect(path: Path) -> Detection | None:
    """Claim a LabelMe JSON file, or a folder whose (or whose subfolders') first JSON files are
    LabelMe; lists names and reads the first 4 KB of at most 12 files."""
    path = Path(path)
    if path.is_file():
        ok = path.suffix.lower() == ".json" and _sniff(path)
        return Detection(FORMAT, path.parent, f"{path.name} (LabelMe JSON)") if ok else None
    if not path.is_dir():
        return None
    by_folder: dict[Path, list[Path]] = {}
    for file in json_files(path):
        by_folder.setdefault(file.parent, []).append(file)
    hits = [
        (folder, len(files))
        for folder, files in list(by_folder.items())[:4]
        if any(_sniff(f) for f in files[:SNIFF_FILES])
    ]
    if not hits:
        return None
    shown = ", ".join(
        f"{(f.relative_to(path).as_posix() + '/') if f != path else ''}*.json ({n})" for f, n in hits
    )
    return Detection(FORMAT, path, f"LabelMe JSON files: {shown}")


# --------------------------------------------------------------------------- loading


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read the LabelMe JSON at ``path`` (a file, or the LabelMe files of a folder) into the
    canonical dataset; each shape that is not a box with a label becomes a ``LoadIssue``."""
    limits = limits or LimitsConfig()
    path = Path(path)
    if path.is_file():
        root, files, others = path.parent, [path], 0
    elif path.is_dir():
        root, candidates = path, json_files(path)
        files = [f for f in candidates if _sniff(f, strict=False)]
        others = len(candidates) - len(files)
    else:
        raise DatasetError(f"No such file or folder: {path}.")
    if not files:
        raise DatasetError(
            f'No LabelMe JSON file at {path}: expected one .json file per image (with "shapes" and '
            '"imagePath") in the folder or in its train/, val/... subfolders.'
        )
    records = Records()
    tally: Counter[str] = Counter()
    read = 0
    for file in counted(files, "reading LabelMe files", progress):
        read += _read_file(file, root, limits, records, tally)
    if not read:
        first = records.issues[0] if records.issues else None
        why = f" (first problem, {first.file}: {first.reason})" if first else ""
        raise DatasetError(f"None of the {len(files)} JSON files at {path} could be read as LabelMe{why}.")
    records.notes += _notes(tally, others)
    return to_dataset(
        root,
        FORMAT,
        records,
        imgsz=imgsz,
        unlisted_images=path.is_dir(),
        progress=progress,
        workers=workers,
        meta={"label_files": read},
    )


def _split(rel: str, root: Path) -> str:
    """The subfolder of the JSON (the root's own name for a JSON at the root) if named like a split."""
    folder = rel.split("/", 1)[0] if "/" in rel else root.name
    return folder if folder.lower() in SPLIT_NAMES else "all"


def _decode(data: bytes) -> _File | None:
    """The fields of one LabelMe file, ``None`` when it is JSON but not an object; ``ValueError``
    when it is not JSON. The standard library is the fallback for Python's ``NaN``."""
    data = data.removeprefix(BOM)
    try:
        return msgspec.json.decode(data, type=_File)
    except msgspec.ValidationError:
        return None
    except msgspec.DecodeError:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as err:
            raise ValueError(f"not valid JSON ({err})") from None
    if not isinstance(doc, dict):
        return None
    return _File(*(doc.get(k) for k in ("shapes", "imagePath", "imageHeight", "imageWidth")))


def _read_file(file: Path, root: Path, limits: LimitsConfig, records: Records, tally: Counter[str]) -> bool:
    """Add one LabelMe file's image and boxes to ``records``; ``False`` when it gave nothing."""
    rel = file.relative_to(root).as_posix()
    base = rel.rsplit("/", 1)[0] if "/" in rel else ""

    def issue(code: str, reason: str, key: str | None = None) -> bool:
        records.issues.append(LoadIssue(code, rel, reason, key=key))
        return False

    data = read_or_issue(file, rel, limits.max_label_file_mb, LIMIT_KEY, records.issues)
    if data is None:
        return False
    try:
        doc = _decode(data)
    except ValueError as err:
        return issue("load.unreadable_file", str(err))
    if doc is None or (doc.shapes is None and doc.image_path is None):
        return issue("load.unreadable_file", "not a LabelMe file: no shapes, no imagePath")
    name = doc.image_path if isinstance(doc.image_path, str) and doc.image_path.strip() else None
    if name is None:
        tally["no_image_path"] += 1
        name = file.stem
    width, height = _size(doc.image_width), _size(doc.image_height)
    img = records.image(name, base=base, split=_split(rel, root), width=width, height=height, source=rel)
    shapes = doc.shapes if doc.shapes is not None else []
    if not isinstance(shapes, list):
        issue("load.malformed_object", f"shapes is {short_repr(shapes)}, not a list", "shapes")
        return True
    boxes: dict[object, list] = {}  # (label, group_id) or shape index -> [label, line, x0, y0, x1, y1]
    for i, shape in enumerate(shapes):
        try:
            label, group, kind, points = _shape(shape)
            if kind in NOT_BOXES:
                tally[kind] += 1
                continue
            x0, y0, x1, y1 = corners(kind, points)
        except _Bad as bad:
            issue("load.malformed_object", f"{bad}; skipped", f"shapes[{i}]")
            continue
        key = (label, group) if group is not None else i
        if key in boxes:
            tally["merged"] += 1
            b = boxes[key]
            b[2:] = min(b[2], x0), min(b[3], y0), max(b[4], x1), max(b[5], y1)
        else:
            boxes[key] = [label, i, x0, y0, x1, y1]
    for label, line, x0, y0, x1, y1 in boxes.values():
        records.box(
            img,
            label,
            x0,
            y0,
            x1 - x0,
            y1 - y0,
            ignore=label == IGNORE_LABEL,
            file=rel,
            line=line,
            key=f"shapes[{line}]",
        )
    return True


def _size(value: object) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    return float(value) if ok else None  # type: ignore[arg-type]


def _shape(shape: object) -> tuple[str, object, str, list[tuple[float, float]]]:
    """``(label, group_id, shape_type, points)`` of one shape; ``_Bad`` when unusable."""
    if not isinstance(shape, dict):
        raise _Bad(f"shape is {short_repr(shape)}, not an object")
    label = shape.get("label")
    if not isinstance(label, str) or not label.strip():
        raise _Bad(f"label is {short_repr(label)}")
    kind = shape.get("shape_type") or "polygon"
    if kind not in BOX_TYPES and kind not in NOT_BOXES:
        raise _Bad(f"unknown shape_type {short_repr(kind)}")
    points = shape.get("points")
    if not isinstance(points, list) or not points:
        raise _Bad(f"points is {short_repr(points)}, not a list of [x, y]")
    xy = [_point(p) for p in points]
    group = shape.get("group_id")
    group = group if isinstance(group, int | str) and not isinstance(group, bool) else None
    return label.strip(), group, kind, xy


def _point(p: object) -> tuple[float, float]:
    if isinstance(p, list) and len(p) == 2:
        x, y = p
        if all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (x, y)):
            return float(x), float(y)
    raise _Bad(f"point {short_repr(p)} is not [x, y] of finite numbers")


def corners(kind: str, points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """``x0, y0, x1, y1`` of a box-like shape (rules in the module docstring)."""
    if kind == "circle":
        if len(points) != 2:
            raise _Bad(f"circle has {len(points)} points, not 2 (centre, a point on the circle)")
        (cx, cy), (px, py) = points
        r = math.hypot(px - cx, py - cy)
        return cx - r, cy - r, cx + r, cy + r
    if kind in ("rectangle", "mask") and len(points) < 2:
        raise _Bad(f"{kind} has {len(points)} point, not 2 corners")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _notes(tally: Counter[str], others: int) -> list[str]:
    notes = [f"LabelMe: {tally[k]} {k} shapes are not boxes and were skipped." for k in NOT_BOXES if tally[k]]
    if tally["merged"]:
        notes.append(
            f"LabelMe: {tally['merged']} shapes were merged into the box of an earlier shape with the same "
            "label and group_id (one object drawn in parts)."
        )
    if tally["no_image_path"]:
        notes.append(
            f"LabelMe: {tally['no_image_path']} files have no imagePath; their image is found by stem."
        )
    if others:
        notes.append(f"LabelMe: {others} JSON files in the folder are not LabelMe files and were not read.")
    return notes
