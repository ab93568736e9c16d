"""Open Images box CSVs for :mod:`sodaudit.loaders.csvlabels`: rows, class descriptions, pixels.

Format followed: the "Data Formats / Bounding boxes" section of the Open Images download pages
(https://storage.googleapis.com/openimages/web/download_v5.html, unchanged in V6/V7): one box a row,
``ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,
IsDepiction,IsInside``, coordinates normalised to [0, 1], attributes 1 present / 0 absent /
-1 unknown; ``LabelName`` is a MID (``/m/0k4j``) that the class descriptions file
(``class-descriptions-boxable.csv``, ``oidv7-class-descriptions-boxable.csv``: ``LabelName,
DisplayName``, with or without that header) names. Images are ``<ImageID>.jpg``.

Boxes are normalised, so they wait in :class:`Pending` until the image sizes are read from the
image headers; an image without a readable size keeps its boxes as NaN (like YOLO), and
:func:`~sodaudit.loaders.records.to_dataset` reports it as ``load.size_missing``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sodaudit.dataset import LoadIssue
from sodaudit.imageinfo import read_headers
from sodaudit.loaders.base import ProgressFn, short_repr
from sodaudit.loaders.records import ImageIndex, Records

BOX_COLUMNS = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax")
"""The columns that make a CSV an Open Images box file (the others are optional)."""
IMAGE_SUFFIX = ".jpg"
DESCRIPTIONS = re.compile(r"(?:^|[-_])class-descriptions(?:-boxable)?\.csv$", re.I)
"""``class-descriptions-boxable.csv``, ``oidv6-class-descriptions.csv`` ..."""
_SPLIT = re.compile(r"^(?:oidv\d+-)?(train|validation|test)-", re.I)
_SPLITS = {"train": "train", "validation": "val", "test": "test"}


def is_box_header(header: list[str]) -> bool:
    return set(BOX_COLUMNS) <= set(header)


def split_of(file_name: str) -> str | None:
    """``train-annotations-bbox.csv`` -> ``train``, ``validation-`` -> ``val``, ``test-`` -> ``test``."""
    match = _SPLIT.match(file_name)
    return _SPLITS[match.group(1).lower()] if match else None


def class_names(rows: Iterable[tuple[int, list[str]]], rel: str, issues: list[LoadIssue]) -> dict[str, str]:
    """MID -> display name from a descriptions file. A display name used by two MIDs (it happens
    in the full list) gets the MID added to the later one, so the two classes stay apart."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for line, row in rows:
        if line == 1 and [f.strip().lower() for f in row[:2]] == ["labelname", "displayname"]:
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            reason = f"{len(row)} fields {short_repr(row)}; expected LabelName,DisplayName; row skipped"
            issues.append(LoadIssue("load.malformed_row", rel, reason, line=line))
            continue
        mid, name = row[0].strip(), row[1].strip()
        if mid in names:
            continue
        if name in used:
            name = f"{name} ({mid})"
        names[mid] = name
        used.add(name)
    return names


@dataclass
class Pending:
    """Open Images rows read so far, in normalised coordinates, waiting for the image sizes."""

    images: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(name, base, split, source file) per image, in order of first mention."""
    boxes: list[tuple[int, str, float, float, float, float, bool, bool | None, bool | None, str, int]] = (
        field(default_factory=list)
    )
    """(image, class name, xmin, xmax, ymin, ymax, group, occluded, truncated, file, line)."""
    _index: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)

    def image(self, image_id: str, base: str, split: str, source: str) -> int:
        key = (image_id + IMAGE_SUFFIX, base, split)
        at = self._index.get(key)
        if at is None:
            at = self._index[key] = len(self.images)
            self.images.append((*key, source))
        return at


def read_boxes(
    rows: Iterable[tuple[int, list[str]]],
    rel: str,
    *,
    split: str,
    base: str,
    names: dict[str, str] | None,
    pending: Pending,
    issues: list[LoadIssue],
) -> None:
    """The box rows of one file into ``pending``. A row without an image id, class or four numbers,
    or with ``XMax <= XMin`` / ``YMax <= YMin``, is ``load.malformed_row`` (skipped); a value
    outside [0, 1] is ``load.value_out_of_range`` (kept: the box is still a box)."""
    header: list[str] = []
    at: dict[str, int] = {}
    for line, row in rows:
        if not header:
            header = [f.strip() for f in row]
            at = {c: header.index(c) for c in header}
            if not is_box_header(header):
                reason = f"header {short_repr(row, 80)} lacks {','.join(BOX_COLUMNS)}; file skipped"
                issues.append(LoadIssue("load.malformed_row", rel, reason, line=line))
                return
            continue
        problem, value = _row(row, at)
        if problem:
            issues.append(LoadIssue("load.malformed_row", rel, problem + "; row skipped", line=line))
            if value is not None:  # the image id was readable: the image is still listed
                pending.image(value[0], base, split, rel)
            continue
        assert value is not None
        image_id, mid, x0, x1, y0, y1 = value
        image = pending.image(image_id, base, split, rel)
        if not all(0.0 <= v <= 1.0 for v in (x0, x1, y0, y1)):
            reason = f"normalised XMin,XMax,YMin,YMax {x0:g},{x1:g},{y0:g},{y1:g} outside [0, 1]; box kept"
            issues.append(LoadIssue("load.value_out_of_range", rel, reason, line=line))
        name = names.get(mid, mid) if names is not None else mid
        group = _flag(row, at.get("IsGroupOf")) is True
        occluded, truncated = _flag(row, at.get("IsOccluded")), _flag(row, at.get("IsTruncated"))
        pending.boxes.append((image, name, x0, x1, y0, y1, group, occluded, truncated, rel, line))


def _row(
    row: list[str], at: dict[str, int]
) -> tuple[str, tuple[str, str, float, float, float, float] | tuple[str] | None]:
    """``(problem, values)``: the problem is ``""`` for a good row; a bad row with a readable
    image id gives ``(image_id,)`` so the image stays listed."""
    need = max(at[c] for c in BOX_COLUMNS) + 1
    if len(row) < need:
        return f"{len(row)} fields, the box columns need {need}", _id_only(row, at)
    image_id = row[at["ImageID"]].strip()
    if not image_id:
        return "no ImageID", None
    mid = row[at["LabelName"]].strip()
    if not mid:
        return "no LabelName", (image_id,)
    coords = []
    for col in ("XMin", "XMax", "YMin", "YMax"):
        value = _number(row[at[col]])
        if value is None:
            return f"{col} {short_repr(row[at[col]])} is not a number", (image_id,)
        coords.append(value)
    x0, x1, y0, y1 = coords  # XMax <= XMin stays: integrity.degenerate_box reports it
    return "", (image_id, mid, x0, x1, y0, y1)


def _id_only(row: list[str], at: dict[str, int]) -> tuple[str] | None:
    i = at["ImageID"]
    return (row[i].strip(),) if i < len(row) and row[i].strip() else None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _flag(row: list[str], i: int | None) -> bool | None:
    """An attribute: 1 -> True, 0 -> False, -1, empty or absent -> None (unknown)."""
    if i is None or i >= len(row):
        return None
    return {"1": True, "0": False}.get(row[i].strip())


def to_records(
    pending: Pending,
    records: Records,
    index: ImageIndex,
    *,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> None:
    """Pixels: each image's size from its header (found as ``to_dataset`` will find it), then
    ``x = XMin * width``, ``w = XMax * width - x`` (likewise y, h). An image with no readable
    size gets NaN boxes, kept and reported by ``to_dataset`` (``load.size_missing``)."""
    found: dict[int, str] = {}
    for i, (name, base, _, _) in enumerate(pending.images):
        at = index.find(name, base)[0]
        if at is not None:
            found[i] = at
    headers = read_headers([str(index.root / f) for f in found.values()], progress, workers=workers)
    sizes = {i: (h.width, h.height) for i, h in zip(found, headers, strict=True) if h.status == "ok"}
    ids = []
    for i, (name, base, split, source) in enumerate(pending.images):
        width, height = sizes.get(i, (None, None))
        ids.append(records.image(name, base=base, split=split, width=width, height=height, source=source))
    for image, name, x0, x1, y0, y1, group, occluded, truncated, rel, line in pending.boxes:
        width, height = sizes.get(image, (math.nan, math.nan))
        left, top = x0 * width, y0 * height
        records.box(
            ids[image],
            name,
            left,
            top,
            x1 * width - left,
            y1 * height - top,
            ignore=group,
            file=rel,
            line=line,
            occluded=occluded,
            truncated=truncated,
        )
