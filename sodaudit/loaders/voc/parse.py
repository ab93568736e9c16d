"""Reading VOC XML files into rows (one image each, its objects as boxes).

XML safety is :mod:`sodaudit.loaders.xmlsafe`'s: no DTD, no entity is ever expanded. Images are
only looked up by name here; their headers are read afterwards, all at once
(:func:`sodaudit.loaders.voc.images.check_sizes`).
"""

from __future__ import annotations

import math
import os
import posixpath
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.dataset import LoadIssue
from sodaudit.loaders.base import ProgressFn, counted, resolve_inside
from sodaudit.loaders.voc.layout import Part
from sodaudit.loaders.xmlsafe import parse_xml

_AFTER_TAG_NAME = frozenset((b">", b"/", b" ", b"\t", b"\n", b"\r"))
_COORDS = ("xmin", "ymin", "xmax", "ymax")


def _parse(file: str, rel: str, issues: list[LoadIssue], limit_mb: float) -> tuple[ET.Element | None, bytes]:
    """Root ``<annotation>`` element of one XML file, or ``None`` with an issue."""
    return parse_xml(file, rel, issues, limit_mb, "annotation")


class Rows:
    """Column lists filled file by file, turned into arrays once at the end."""

    def __init__(self) -> None:
        self.xml_rel: list[str] = []
        self.xml_name: list[str] = []
        self.part: list[int] = []
        """Index of the layout part (year, split folder) each image was read from."""
        self.found: list[bool] = []
        """The image file was found (its header is read afterwards)."""
        self.file_name: list[str] = []
        self.path: list[str] = []
        self.width: list[float] = []
        self.height: list[float] = []
        self.status: list[str] = []
        self.exif_rotated: list[bool] = []
        self.matched_images: list[str] = []
        self.objects: list[tuple] = []
        """(image_id, name, xmin, ymin, xmax, ymax, difficult, truncated, line) per box, while
        a chunk is read; :meth:`seal` turns them into the ``box_*`` columns."""
        self.box_image: list[np.ndarray] = []
        self.box_class: list[str] = []
        self.box_coords: tuple[list[float], ...] = ([], [], [], [])
        self.box_difficult: list[str | None] = []
        self.box_truncated: list[str | None] = []
        self.box_line: list[int] = []

    def seal(self) -> Rows:
        """Objects as columns (one transposition per chunk; cheap to send between processes)."""
        if self.objects:
            cols = list(zip(*self.objects, strict=True))
            self.box_image.append(np.array(cols[0], dtype=np.int64))
            self.box_class += cols[1]
            for out, values in zip(self.box_coords, cols[2:6], strict=True):
                out += values
            self.box_difficult += cols[6]
            self.box_truncated += cols[7]
            self.box_line += cols[8]
            self.objects = []
        return self

    def extend(self, other: Rows) -> None:
        """Append a later chunk; its image ids (0-based in the chunk) move past ours."""
        offset = len(self.xml_rel)
        for name in ("xml_rel", "xml_name", "part", "found", "file_name", "path", "width", "height"):
            getattr(self, name).extend(getattr(other, name))
        self.status += map(sys.intern, other.status)  # a child's copies: one object per status
        self.exif_rotated += other.exif_rotated
        self.matched_images += other.matched_images
        self.box_image += [ids + offset for ids in other.box_image]
        self.box_class += other.box_class
        for out, values in zip(self.box_coords, other.box_coords, strict=True):
            out += values
        self.box_difficult += other.box_difficult
        self.box_truncated += other.box_truncated
        self.box_line += other.box_line


@dataclass
class Chunk:
    """What reading a run of XML files gives; chunks join in file order."""

    rows: Rows
    issues: list[LoadIssue]
    first_problem: str


def read_chunk(
    items: Sequence[tuple[int, str]],
    progress: ProgressFn | None,
    *,
    root: str,
    parts: Sequence[Part],
    limit_mb: float,
) -> Chunk:
    """Parse the XML files ``items`` (part index, file name; one image each) into rows, issues in
    file order."""
    rows = Rows()
    issues: list[LoadIssue] = []
    first_problem = ""
    for k, name in counted(items, "reading XML files", progress) if progress else items:
        part = parts[k]
        rel = f"{part.ann_rel}/{name}" if part.ann_rel else name
        n_before = len(issues)
        root_el, data = _parse(os.path.join(part.ann_dir, name), rel, issues, limit_mb)
        if root_el is None:
            if not first_problem and len(issues) > n_before:
                first_problem = f"{rel}: {issues[-1].reason}"
            continue
        _add_image(root, part, rows, root_el, name, rel, issues)
        rows.part.append(k)
        _add_objects(rows, root_el, data, rel, issues)
    return Chunk(rows.seal(), issues, first_problem)


def _positive(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _add_image(
    root: str,
    part: Part,
    rows: Rows,
    root_el: ET.Element,
    xml_name: str,
    rel: str,
    issues: list[LoadIssue],
) -> None:
    """The image row of one XML file: its file found by ``<filename>``, else by stem; the declared
    size, or NaN when ``<size>`` has no usable width and height (0x0 included)."""
    size = root_el.find("size")
    width = height = None
    if size is not None:
        width, height = _positive(size.findtext("width")), _positive(size.findtext("height"))
    has_size = width is not None and height is not None
    raw = (root_el.findtext("filename") or "").strip()
    stem = xml_name[:-4]
    img_rel = part.img_rel
    image_names, stem_map = part.image_names, part.stem_map

    found: str | None = None  # image path relative to the dataset root
    outside = False
    if part.img_dir is not None:
        if raw and raw in image_names:
            found = f"{img_rel}/{raw}" if img_rel else raw
        elif raw and ("/" in raw or "\\" in raw or raw == ".." or os.path.isabs(raw)):
            found, outside = _safe_subpath(root, img_rel, raw)
        if found is None and not outside:
            base = posixpath.basename(raw.replace("\\", "/"))
            for candidate in (posixpath.splitext(base)[0] if base else "", stem):
                if candidate and candidate in stem_map:
                    found = f"{img_rel}/{stem_map[candidate]}" if img_rel else stem_map[candidate]
                    break
    elif raw and (os.path.isabs(raw) or ".." in raw.replace("\\", "/").split("/")):
        outside = True

    if outside:
        issues.append(
            LoadIssue(
                "load.path_outside_root",
                rel,
                f"<filename> {raw!r} points outside the dataset folder; not read",
            )
        )
        file_name, path, status = raw, "", "missing"
    elif found is not None:
        file_name = found
        path = os.path.join(root, file_name)
        rows.matched_images.append(found)
        status = "ok"  # until its header says otherwise
    else:
        base = raw or stem
        file_name = f"{img_rel}/{base}" if img_rel else base
        path = os.path.join(root, file_name)
        status = "unchecked" if part.img_dir is None and has_size else "missing"

    rows.xml_rel.append(rel)
    rows.xml_name.append(xml_name)
    rows.found.append(found is not None and not outside)
    rows.file_name.append(file_name)
    rows.path.append(path)
    rows.width.append(width if width is not None and has_size else math.nan)
    rows.height.append(height if height is not None and has_size else math.nan)
    rows.status.append(status)
    rows.exif_rotated.append(False)


def _safe_subpath(root: str, img_rel: str, raw: str) -> tuple[str | None, bool]:
    """``(path relative to the root, outside)`` for a ``<filename>`` with path parts.

    Checked lexically first, so an escaping name never touches the file system outside;
    ``resolve_inside`` then catches symlinks that lead out.
    """
    name = raw.replace("\\", "/")
    joined = posixpath.normpath(posixpath.join(img_rel, name))
    if os.path.isabs(raw) or name.startswith("/") or joined == ".." or joined.startswith("../"):
        return None, True
    target = resolve_inside(Path(root), joined)
    if target is None:
        return None, True
    return (joined if target.is_file() else None), False


def _flag(text: str | None) -> bool:
    """VOC 0/1 flags; missing or unreadable counts as 0."""
    if text is None:
        return False
    t = text.strip()
    if t == "0" or not t:
        return False
    if t == "1":
        return True
    try:
        return float(t) != 0
    except ValueError:
        return t.lower() in ("true", "yes")


def flags(raw: Sequence[str | None]) -> np.ndarray:
    """``_flag`` over many texts, evaluated once per distinct text (there are a handful)."""
    if not raw:
        return np.zeros(0, dtype=bool)
    codes, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=True)
    lut = np.array([_flag(u) for u in uniques] + [False], dtype=bool)  # code -1 (None) -> False
    return lut[codes]


def _add_objects(rows: Rows, root_el: ET.Element, data: bytes, rel: str, issues: list[LoadIssue]) -> None:
    """Boxes of one file. The common case is one tight loop (measured faster than ``map``
    over ``methodcaller``); any defect re-reads the file's objects one by one, reporting each."""
    objs = root_el.findall("object")
    if not objs:
        return
    image_id = len(rows.xml_rel) - 1
    lines = _object_lines(data, objs, root_el)
    records = []
    try:
        for obj, line in zip(objs, lines, strict=True):
            bb = obj.find("bndbox")
            name = obj.findtext("name").strip()  # type: ignore[union-attr]
            if not name:
                raise ValueError(name)
            records.append(
                (
                    image_id,
                    name,
                    float(bb.findtext("xmin")),  # type: ignore[union-attr,arg-type]
                    float(bb.findtext("ymin")),  # type: ignore[union-attr,arg-type]
                    float(bb.findtext("xmax")),  # type: ignore[union-attr,arg-type]
                    float(bb.findtext("ymax")),  # type: ignore[union-attr,arg-type]
                    obj.findtext("difficult"),
                    obj.findtext("truncated"),
                    line,
                )
            )
    except (AttributeError, TypeError, ValueError):
        records = _checked_objects(objs, lines, image_id, rel, issues)
    rows.objects += records


def _checked_objects(
    objs: list[ET.Element], lines: list[int], image_id: int, rel: str, issues: list[LoadIssue]
) -> list[tuple]:
    """One object at a time: keep the good ones, report each bad one with its line."""
    records = []
    for k, (obj, line) in enumerate(zip(objs, lines, strict=True)):
        name = obj.findtext("name")
        name = name.strip() if name else ""
        bb = obj.find("bndbox")
        try:
            if not name:
                raise ValueError("has no class <name>")
            if bb is None:
                raise ValueError(f"({name}) has no <bndbox>")
            coords = [float(bb.findtext(tag)) for tag in _COORDS]  # type: ignore[arg-type]
        except (TypeError, ValueError) as err:
            reason = str(err) if bb is None or not name else _coord_problem(bb, name)
            issues.append(
                LoadIssue(
                    "load.malformed_object",
                    rel,
                    f"object {k + 1} {reason}; skipped",
                    line=line if line > 0 else None,
                    key=f"object[{k}]",
                )
            )
            continue
        records.append((image_id, name, *coords, obj.findtext("difficult"), obj.findtext("truncated"), line))
    return records


def _coord_problem(bb: ET.Element, name: str) -> str:
    for tag in _COORDS:
        text = bb.findtext(tag)
        if text is None:
            return f"({name}) has no <bndbox><{tag}>"
        try:
            float(text)
        except ValueError:
            return f"({name}) has a non-numeric <{tag}> {text.strip()!r}"
    return f"({name}) has an unreadable <bndbox>"


def _object_lines(data: bytes, objs: list[ET.Element], root_el: ET.Element) -> list[int]:
    """1-based line of each ``<object>`` tag, from a byte search (ElementTree has no lines).

    When the tag count in the bytes does not match the parsed objects (a comment or CDATA
    mentions ``<object>``, UTF-16 text), lines are unknown (-1) rather than wrong.
    """
    parts = data.split(b"<object")
    lines = []
    line = 1
    for k in range(len(parts) - 1):
        line += parts[k].count(b"\n")
        if parts[k + 1][:1] in _AFTER_TAG_NAME:  # not <objects> or <object_id>
            lines.append(line)
    if len(lines) == len(objs):
        return lines
    every = list(root_el.iter("object"))
    if len(lines) != len(every):
        return [-1] * len(objs)
    index = {id(o): i for i, o in enumerate(every)}
    return [lines[index[id(o)]] for o in objs]
