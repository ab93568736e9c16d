"""Pascal VOC loader: ``Annotations/*.xml`` + ``JPEGImages/`` + ``ImageSets/Main`` split lists.

XML safety: a file whose bytes declare a ``<!DOCTYPE`` or ``<!ENTITY`` is refused before any
parser sees it, so no entity is ever expanded and no external entity is ever fetched. Without a
DTD, expat has nothing to expand, which lets us use the plain (fast) ``ElementTree`` parser.

Box convention: ``x = xmin, y = ymin, w = xmax - xmin, h = ymax - ymin`` (no ``+1``), the
convention the reference numbers of the real datasets use.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.config import LimitsConfig
from sodaudit.convert import voc_to_xywh
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.imageinfo import is_image_file, read_header
from sodaudit.loaders.base import (
    Detection,
    ProgressFn,
    TooLarge,
    counted,
    read_limited,
    resolve_inside,
)
from sodaudit.pool import map_chunks

FORMAT = "voc"

SPLIT_LISTS = ("train", "val", "test")
"""Specific split lists, in the order that wins when an image is listed in several."""
UNION_LIST = "trainval"
CLASS_FILES = ("labels.txt", "classes.txt", "class_names.txt")
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")
_AFTER_TAG_NAME = frozenset((b">", b"/", b" ", b"\t", b"\n", b"\r"))
_COMMENT = re.compile(rb"<!--.*?(?:-->|$)", re.S)
_FIRST_ELEMENT = re.compile(rb"<(?![?!])([^\s/>]+)")
_SNIFF_BYTES = 512
_COORDS = ("xmin", "ymin", "xmax", "ymax")


@dataclass
class _Layout:
    """Where things are: the standard VOC tree, or a flat folder of XML (and images)."""

    root: Path
    ann_dir: str
    ann_rel: str
    img_dir: str | None
    img_rel: str
    xml_names: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- detection


def detect(path: Path) -> Detection | None:
    """Claim ``path`` when it holds ``Annotations/*.xml``, or is a folder of VOC-looking XML."""
    path = Path(path)
    if not path.is_dir():
        return None
    ann = path / "Annotations"
    if ann.is_dir():
        n = len(_xml_names(str(ann)))
        if n == 0:
            return None
        parts = [f"Annotations/ with {n} XML files"]
        lists = [s for s in (*SPLIT_LISTS, UNION_LIST) if (_sets_dir(path) / f"{s}.txt").is_file()]
        if lists:
            parts.append("ImageSets/Main splits")
        if (path / "JPEGImages").is_dir():
            parts.append("JPEGImages/")
        return Detection(FORMAT, path, ", ".join(parts))
    names = _xml_names(str(path))
    if names and _looks_like_voc(os.path.join(path, names[0])):
        return Detection(FORMAT, path, f"folder of {len(names)} XML files with <annotation> root")
    return None


def _looks_like_voc(file: str) -> bool:
    """The first element of the file is ``<annotation>`` (reads only a few hundred bytes)."""
    try:
        with open(file, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return False
    if b"\x00" in head[:4]:  # UTF-16: drop the zero bytes to see the ASCII tag names
        head = head.replace(b"\x00", b"")
    match = _FIRST_ELEMENT.search(_COMMENT.sub(b"", head))
    return match is not None and match.group(1) == b"annotation"


def _xml_names(folder: str) -> list[str]:
    try:
        with os.scandir(folder) as it:
            names = [
                e.name
                for e in it
                if e.name.lower().endswith(".xml") and not e.name.startswith("._") and e.is_file()
            ]
    except OSError:
        return []
    return sorted(names)


def _sets_dir(root: Path) -> Path:
    return root / "ImageSets" / "Main"


# --------------------------------------------------------------------------- loading


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read a VOC dataset into the canonical tables; defects become ``LoadIssue``s.

    ``workers``: processes that parse the XML files (1 = this process only, 0 = one per core);
    chunks of files are parsed in a pool and joined in file order, so the result is the same
    either way."""
    limit_mb = (limits or LimitsConfig()).max_label_file_mb
    layout = _layout(Path(path))
    issues: list[LoadIssue] = []
    image_names, stem_map, img_note = _list_images(layout)
    notes = [img_note] if img_note else []

    chunks = map_chunks(
        partial(_read_chunk, layout=layout, image_names=image_names, stem_map=stem_map, limit_mb=limit_mb),
        layout.xml_names,
        workers=workers,
        what="reading XML files",
        progress=progress,
    )
    rows = _Rows()
    first_problem = ""
    for chunk in chunks:
        rows.extend(chunk.rows)
        issues += chunk.issues
        first_problem = first_problem or chunk.first_problem

    if not rows.xml_rel:
        where = layout.ann_dir
        raise DatasetError(
            f"None of the {len(layout.xml_names)} XML files in {where} could be read as "
            f"Pascal VOC annotations (first problem, {first_problem})."
        )

    matched = set(rows.matched_images)
    for img_name in sorted(n for n in image_names if is_image_file(n)):
        img_rel = f"{layout.img_rel}/{img_name}" if layout.img_rel else img_name
        if img_rel in matched:
            continue
        issues.append(
            LoadIssue("load.image_not_in_annotations", img_rel, "image has no annotation XML; not audited")
        )

    split_of = _read_splits(layout.root, {n[:-4] for n in layout.xml_names}, issues)
    stems = [n[:-4] for n in rows.xml_name]
    splits = ["all"] * len(stems) if split_of is None else [split_of.get(s, "unassigned") for s in stems]

    box_image = np.concatenate(rows.box_image) if rows.box_image else np.zeros(0, dtype=np.int64)
    classes, class_id = _classes(layout.root, rows.box_class, issues)
    x0, y0, x1, y1 = (np.array(c, dtype=np.float64) for c in rows.box_coords)
    images = pd.DataFrame(
        {
            "image_id": np.arange(len(rows.xml_rel), dtype=np.int64),
            "file_name": rows.file_name,
            "path": rows.path,
            "split": splits,
            "width": np.array(rows.width, dtype=np.float64),
            "height": np.array(rows.height, dtype=np.float64),
            "status": rows.status,
            "exif_rotated": np.array(rows.exif_rotated, dtype=bool),
            "source_file": rows.xml_rel,
        }
    )
    xywh = voc_to_xywh(np.stack([x0, y0, x1, y1], axis=1))
    boxes = pd.DataFrame(
        {
            "image_id": box_image,
            "class_id": class_id,
            "x": xywh[:, 0],
            "y": xywh[:, 1],
            "w": xywh[:, 2],
            "h": xywh[:, 3],
            "ignore": _flags(rows.box_difficult),
            "truncated": _flags(rows.box_truncated),
            # one XML per image, so the image id is also the index of its XML path
            "source_file": pd.Categorical.from_codes(box_image, categories=rows.xml_rel),
            "source_line": np.array(rows.box_line, dtype=np.int64),
        }
    )
    return Dataset.build(
        root=layout.root,
        format=FORMAT,
        boxes=boxes,
        images=images,
        classes=classes,
        issues=issues,
        notes=notes,
        imgsz=imgsz,
        meta={
            "annotations_dir": layout.ann_rel or ".",
            "images_dir": (layout.img_rel or ".") if layout.img_dir else None,
        },
    )


def _layout(path: Path) -> _Layout:
    if not path.exists():
        raise DatasetError(f"No such file or folder: {path}.")
    if not path.is_dir():
        raise DatasetError(f"{path} is a file; a Pascal VOC dataset is a folder with Annotations/*.xml.")
    ann = path / "Annotations"
    if ann.is_dir():
        img = path / "JPEGImages"
        layout = _Layout(path, str(ann), "Annotations", str(img) if img.is_dir() else None, "JPEGImages")
    else:  # a flat folder of XML files; images, if any, sit next to them
        layout = _Layout(path, str(path), "", str(path), "")
    layout.xml_names = _xml_names(layout.ann_dir)
    if not layout.xml_names:
        raise DatasetError(
            f"No XML annotation files in {layout.ann_dir}; a Pascal VOC dataset has Annotations/*.xml."
        )
    return layout


def _list_images(layout: _Layout) -> tuple[set[str], dict[str, str], str]:
    """One listing of the image folder: all names, and image names by stem for fallbacks.

    An absent image folder (annotations shipped without images) turns image checks off
    instead of reporting every image as missing.
    """
    if layout.img_dir is None:
        return set(), {}, "No JPEGImages/ folder: image files were not checked."
    with os.scandir(layout.img_dir) as it:
        names = {e.name for e in it if not e.name.startswith("._")}
    stem_map: dict[str, str] = {}
    for n in sorted(names):
        if is_image_file(n):
            stem_map.setdefault(os.path.splitext(n)[0], n)
    if not layout.img_rel and not stem_map:  # flat folder of XML only: images live elsewhere
        layout.img_dir = None
        return set(), {}, "No image files next to the XML files: image files were not checked."
    return names, stem_map, ""


def _parse(file: str, rel: str, issues: list[LoadIssue], limit_mb: float) -> tuple[ET.Element | None, bytes]:
    """Root element of one XML file, or ``None`` with an issue; DTDs are refused unparsed."""
    try:
        data = read_limited(file, limit_mb, "limits.max_label_file_mb")
    except TooLarge as err:
        issues.append(LoadIssue("load.file_too_large", rel, str(err)))
        return None, b""
    except OSError as err:
        issues.append(LoadIssue("load.unreadable_file", rel, f"cannot read: {err.strerror or err}"))
        return None, b""
    probe = data.replace(b"\x00", b"") if b"\x00" in data[:4] else data  # UTF-16 text
    if _DTD_MARKERS[0] in probe or _DTD_MARKERS[1] in probe:
        issues.append(
            LoadIssue("load.xml_refused", rel, "declares a DOCTYPE/ENTITY; refused, never expanded")
        )
        return None, b""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else None
        msg = str(err).split(":")[0]
        issues.append(LoadIssue("load.malformed_xml", rel, f"not well-formed XML: {msg}", line=line))
        return None, b""
    except (ValueError, LookupError) as err:  # e.g. an unknown encoding declaration
        issues.append(LoadIssue("load.malformed_xml", rel, f"cannot be parsed: {err}", line=1))
        return None, b""
    if root.tag != "annotation":
        issues.append(LoadIssue("load.malformed_xml", rel, f"root element is <{root.tag}>, not <annotation>"))
        return None, b""
    return root, data


class _Rows:
    """Column lists filled file by file, turned into arrays once at the end."""

    def __init__(self) -> None:
        self.xml_rel: list[str] = []
        self.xml_name: list[str] = []
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

    def seal(self) -> _Rows:
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

    def extend(self, other: _Rows) -> None:
        """Append a later chunk; its image ids (0-based in the chunk) move past ours."""
        offset = len(self.xml_rel)
        for name in ("xml_rel", "xml_name", "file_name", "path", "width", "height"):
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
class _Chunk:
    """What reading a run of XML files gives; chunks join in file order."""

    rows: _Rows
    issues: list[LoadIssue]
    first_problem: str


def _read_chunk(
    names: Sequence[str],
    progress: ProgressFn | None,
    *,
    layout: _Layout,
    image_names: set[str],
    stem_map: dict[str, str],
    limit_mb: float,
) -> _Chunk:
    """Parse the XML files ``names`` (one image each) into rows, issues in file order."""
    rows = _Rows()
    issues: list[LoadIssue] = []
    first_problem = ""
    for name in counted(names, "reading XML files", progress) if progress else names:
        rel = f"{layout.ann_rel}/{name}" if layout.ann_rel else name
        n_before = len(issues)
        root_el, data = _parse(os.path.join(layout.ann_dir, name), rel, issues, limit_mb)
        if root_el is None:
            if not first_problem and len(issues) > n_before:
                first_problem = f"{rel}: {issues[-1].reason}"
            continue
        _add_image(layout, rows, root_el, name, rel, image_names, stem_map, issues)
        _add_objects(rows, root_el, data, rel, issues)
    return _Chunk(rows.seal(), issues, first_problem)


def _positive(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _add_image(
    layout: _Layout,
    rows: _Rows,
    root_el: ET.Element,
    xml_name: str,
    rel: str,
    image_names: set[str],
    stem_map: dict[str, str],
    issues: list[LoadIssue],
) -> None:
    size = root_el.find("size")
    width = height = None
    if size is not None:
        width, height = _positive(size.findtext("width")), _positive(size.findtext("height"))
    has_size = width is not None and height is not None
    raw = (root_el.findtext("filename") or "").strip()
    stem = xml_name[:-4]
    img_rel = layout.img_rel

    found: str | None = None  # image path relative to the dataset root
    outside = False
    if layout.img_dir is not None:
        if raw and raw in image_names:
            found = f"{img_rel}/{raw}" if img_rel else raw
        elif raw and ("/" in raw or "\\" in raw or raw == ".." or os.path.isabs(raw)):
            found, outside = _safe_subpath(layout, raw)
        if found is None and not outside:
            base = posixpath.basename(raw.replace("\\", "/"))
            for candidate in (posixpath.splitext(base)[0] if base else "", stem):
                if candidate and candidate in stem_map:
                    found = f"{img_rel}/{stem_map[candidate]}" if img_rel else stem_map[candidate]
                    break
    elif raw and (os.path.isabs(raw) or ".." in raw.replace("\\", "/").split("/")):
        outside = True

    exif_rotated = False
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
        path = os.path.join(layout.root, file_name)
        rows.matched_images.append(found)
        status = "ok"
        if not has_size:
            header = read_header(path)
            status, exif_rotated = header.status, header.exif_rotated
            if header.status == "ok":
                width, height, has_size = header.width, header.height, True
    else:
        base = raw or stem
        file_name = f"{img_rel}/{base}" if img_rel else base
        path = os.path.join(layout.root, file_name)
        status = "unchecked" if layout.img_dir is None and has_size else "missing"

    if not has_size:
        issues.append(
            LoadIssue(
                "load.size_missing",
                rel,
                f"<size> has no usable width/height and the image ({status}) cannot give it",
            )
        )
        width = height = math.nan
    rows.xml_rel.append(rel)
    rows.xml_name.append(xml_name)
    rows.file_name.append(file_name)
    rows.path.append(path)
    rows.width.append(width)
    rows.height.append(height)
    rows.status.append(status)
    rows.exif_rotated.append(exif_rotated)


def _safe_subpath(layout: _Layout, raw: str) -> tuple[str | None, bool]:
    """``(path relative to the root, outside)`` for a ``<filename>`` with path parts.

    Checked lexically first, so an escaping name never touches the file system outside;
    ``resolve_inside`` then catches symlinks that lead out.
    """
    name = raw.replace("\\", "/")
    joined = posixpath.normpath(posixpath.join(layout.img_rel, name))
    if os.path.isabs(raw) or name.startswith("/") or joined == ".." or joined.startswith("../"):
        return None, True
    target = resolve_inside(layout.root, joined)
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


def _flags(raw: Sequence[str | None]) -> np.ndarray:
    """``_flag`` over many texts, evaluated once per distinct text (there are a handful)."""
    if not raw:
        return np.zeros(0, dtype=bool)
    codes, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=True)
    lut = np.array([_flag(u) for u in uniques] + [False], dtype=bool)  # code -1 (None) -> False
    return lut[codes]


def _add_objects(rows: _Rows, root_el: ET.Element, data: bytes, rel: str, issues: list[LoadIssue]) -> None:
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


# --------------------------------------------------------------------------- splits, classes


def _read_splits(root: Path, xml_stems: set[str], issues: list[LoadIssue]) -> dict[str, str] | None:
    """Image id -> split from ``ImageSets/Main``; ``None`` when there are no split lists.

    train/val/test win over trainval; an id in two of train/val/test (or in trainval and
    test) keeps the first and is reported. Per-class lists (``car_train.txt``) are ignored.
    """
    lists: dict[str, list[tuple[int, str]]] = {}
    for name in (*SPLIT_LISTS, UNION_LIST):
        file = _sets_dir(root) / f"{name}.txt"
        try:
            text = file.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        entries = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            parts = line.split()
            if parts:
                entries.append((lineno, parts[0]))
        lists[name] = entries
    if not lists:
        return None

    split_of: dict[str, str] = {}
    for name, entries in lists.items():
        rel = f"ImageSets/Main/{name}.txt"
        for lineno, image_id in entries:
            if image_id not in xml_stems:
                issues.append(
                    LoadIssue(
                        "load.split_entry_missing",
                        rel,
                        f"{image_id!r} has no Annotations/{image_id}.xml",
                        line=lineno,
                    )
                )
            current = split_of.get(image_id)
            if current is None:
                split_of[image_id] = name
            elif current != name and (name != UNION_LIST or current == "test"):
                issues.append(
                    LoadIssue(
                        "load.split_overlap",
                        rel,
                        f"{image_id!r} is also listed in {current}.txt; kept in {current}",
                        line=lineno,
                    )
                )
    return split_of


def _classes(root: Path, names: Sequence[str], issues: list[LoadIssue]) -> tuple[dict[int, str], np.ndarray]:
    """Class list from a class-names file when present, else every name seen, sorted."""
    declared: list[str] = []
    class_file = ""
    for candidate in CLASS_FILES:
        file = root / candidate
        if file.is_file():
            try:
                text = file.read_bytes().decode("utf-8", errors="replace")
            except OSError:
                continue
            declared = list(dict.fromkeys(s.strip() for s in text.splitlines() if s.strip()))
            class_file = candidate
            break
    inverse, uniq = pd.factorize(pd.Series(names, dtype=object), sort=True)
    counts = np.bincount(inverse, minlength=len(uniq))
    order = list(declared)
    known = set(order)
    for extra, count in zip(uniq.tolist(), counts.tolist(), strict=True):
        if extra in known:
            continue
        if class_file:
            issues.append(
                LoadIssue(
                    "load.undeclared_class",
                    class_file,
                    f"class {extra!r} ({count} objects) is not listed; given id {len(order)}",
                )
            )
        order.append(extra)
    ids = {n: i for i, n in enumerate(order)}
    lut = np.array([ids[n] for n in uniq.tolist()], dtype=np.int64)
    class_id = lut[inverse] if len(inverse) else np.zeros(0, dtype=np.int64)
    return dict(enumerate(order)), class_id
