"""CVAT for images 1.1 loader: ``annotations.xml`` with ``<image>`` elements, images in ``images/``.

Element and attribute names follow CVAT's "XML annotation format" page (docs.cvat.ai, Version 1.1,
"Annotation" part; cvat-ai/cvat site/content/en/docs/manual/advanced/xml_format.md) and its
exporter, ``dump_as_cvat_annotation`` in cvat-ai/cvat cvat/apps/dataset_manager/formats/cvat.py:
``<image id name width height>`` (plus ``subset`` and ``task_id`` in project exports) holding
``<box label xtl ytl xbr ybr occluded z_order rotation?>``, ``<polygon points="x,y;x,y">``,
``<polyline>``, ``<points>``, ``<ellipse>``, ``<mask>``, ``<cuboid>``, ``<skeleton>``, ``<tag>``;
``<meta><task|project|job><labels><label><name>`` declares the classes. The export zip holds
``annotations.xml`` and ``images/`` (``images/<subset>/`` for a project).

Boxes: ``x = xtl, y = ytl, w = xbr - xtl, h = ybr - ytl`` (pixels). ``rotation`` is in degrees
about the box centre: the axis-aligned box of the rotated corners is read. Polygons are read as
their bounding box; other shapes are not boxes and are only counted. ``occluded`` is kept as a box
column. "CVAT for video" files (``<track>`` elements) are not read. The XML is parsed by
:func:`sodaudit.loaders.xmlsafe.parse_xml`: bounded in size, no DTD, no entity expansion.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.loaders.base import Detection, ProgressFn, counted, open_binary, relpath
from sodaudit.loaders.records import Records, to_dataset
from sodaudit.loaders.xmlsafe import parse_xml

__all__ = ["FORMAT", "detect", "load"]

FORMAT = "cvat"
XML_NAME = "annotations.xml"
_HEAD_BYTES = 4096
_ROOT_TAG = re.compile(rb"<annotations[\s>]")
_VERSION_TAG = re.compile(rb"<version>")
_LIMIT_KEY = "limits.max_annotation_file_mb"


# ---------------------------------------------------------------------------------------------
# Detection


def detect(path: Path) -> Detection | None:
    """Claim ``annotations.xml`` (or an ``.xml`` whose head opens ``<annotations>`` and has a
    ``<version>``), or a folder holding one; reads 4 KB of each file, never parses it."""
    path = Path(path)
    if path.is_file():
        return Detection(FORMAT, path.parent, path.name) if _sniff(path) else None
    if not path.is_dir():
        return None
    found = _xml_in(path)
    return Detection(FORMAT, path, found.name) if found is not None else None


def _xml_in(folder: Path) -> Path | None:
    """``annotations.xml`` of a folder, else its only top-level XML file that looks like CVAT's."""
    named = folder / XML_NAME
    if named.is_file() and _sniff(named):
        return named
    found = [p for p in sorted(folder.glob("*.xml")) if p.is_file() and _sniff(p)]
    return found[0] if len(found) == 1 else None


def _sniff(file: Path) -> bool:
    """The head opens ``<annotations>`` (VOC's root is ``<annotation>``); a file not named
    ``annotations.xml`` must also show ``<version>`` there."""
    if file.suffix.lower() != ".xml":
        return False
    try:
        with open_binary(file) as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return False
    head = head.replace(b"\x00", b"") if b"\x00" in head[:4] else head  # UTF-16 text
    if _ROOT_TAG.search(head) is None:
        return False
    return file.name.lower() == XML_NAME or _VERSION_TAG.search(head) is not None


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
    """Read a CVAT for images 1.1 XML file (or the folder holding it) into the canonical Dataset.

    ``workers``: processes that read image headers (1 = this process only, 0 = one per core)."""
    limits = limits or LimitsConfig()
    path = Path(path).absolute()
    if path.is_file():
        file = path
    elif path.is_dir():
        found = _xml_in(path)
        if found is None:
            raise DatasetError(
                f"No CVAT XML found in {path}: expected {XML_NAME} (a CVAT for images 1.1 export)."
            )
        file = found
    else:
        raise DatasetError(f"No such file or folder: {path}.")
    root_dir = file.parent
    rel = relpath(file, root_dir)
    records = Records()
    meta: dict[str, object] = {"annotation_file": rel}
    root, data = parse_xml(
        str(file), rel, records.issues, limits.max_annotation_file_mb, "annotations", _LIMIT_KEY
    )
    if root is None:
        problem = records.issues[-1]
        if problem.code in ("load.file_too_large", "load.xml_refused"):  # the finding says what to do
            return to_dataset(root_dir, FORMAT, records, imgsz=imgsz, unlisted_images=False, meta=meta)
        where = f" (line {problem.line})" if problem.line else ""
        raise DatasetError(f"{file} cannot be read as CVAT XML{where}: {problem.reason}.")

    images = root.findall("image")
    tracks = root.findall("track")
    if not images:
        kind = (
            f"{len(tracks)} <track> elements: a 'CVAT for video' export" if tracks else "no <image> elements"
        )
        raise DatasetError(
            f"{file} holds {kind}, which is not read; export the task as 'CVAT for images 1.1'."
        )
    version = (root.findtext("version") or "").strip()
    meta["version"] = version or None
    if version != "1.1":
        records.notes.append(f"{rel} declares version {version or '(none)'}; read as CVAT for images 1.1.")
    if tracks:
        records.notes.append(f"{len(tracks)} <track> elements (CVAT for video) were not read.")
    classes = _declared_classes(root.find("meta"))
    images_dir = root_dir / "images"
    meta["images_dir"] = "images" if images_dir.is_dir() else None
    lines = _tag_lines(data, root, ("image", "box", "polygon"))
    counts: Counter[str] = Counter()
    for i, image in enumerate(counted(images, "reading images", progress)):
        _read_image(records, image, i, rel, lines, images_dir, counts)
    records.notes[:0] = _notes(counts)
    return to_dataset(
        root_dir,
        FORMAT,
        records,
        imgsz=imgsz,
        classes=classes,
        progress=progress,
        workers=workers,
        meta=meta,
    )


def _declared_classes(meta: ET.Element | None) -> dict[int, str] | None:
    """Class list in declaration order from ``<meta><task|project|job><labels>``; labels with a
    ``<parent>`` are skeleton points, never boxes, and are left out. ``None`` when none declared."""
    if meta is None:
        return None
    names: list[str] = []
    for holder in meta:
        labels = holder.find("labels")
        if labels is None:
            continue
        for label in labels.findall("label"):
            name = (label.findtext("name") or "").strip()
            if name and not (label.findtext("parent") or "").strip() and name not in names:
                names.append(name)
        break
    return dict(enumerate(names)) if names else None


def _read_image(
    records: Records,
    image: ET.Element,
    i: int,
    rel: str,
    lines: dict[int, int],
    images_dir: Path,
    counts: Counter[str],
) -> None:
    """One ``<image>``'s row and the boxes of its ``<box>`` and ``<polygon>`` children."""
    line = lines.get(id(image))
    name = (image.get("name") or "").strip()
    if not name:
        records.issues.append(
            LoadIssue(
                "load.malformed_object", rel, "<image> has no name; skipped", line=line, key=f"image[{i}]"
            )
        )
        return
    split = (image.get("subset") or "").strip() or "all"
    base = f"images/{split}" if split != "all" and (images_dir / split).is_dir() else "images"
    img = records.image(
        name,
        base=base,
        split=split,
        width=_float(image.get("width")),
        height=_float(image.get("height")),
        source=rel,
    )
    seen: Counter[str] = Counter()
    for shape in image:
        seen[shape.tag] += 1
        if shape.tag not in ("box", "polygon"):
            counts[f"other:{shape.tag}"] += 1
            continue
        at = lines.get(id(shape), -1)
        key = f"image[{i}].{shape.tag}[{seen[shape.tag] - 1}]"
        label = (shape.get("label") or "").strip()
        box = _box(shape) if shape.tag == "box" else _polygon(shape)
        if not label or isinstance(box, str):
            reason = f"<{shape.tag}> has no label" if not label else f"<{shape.tag} label={label!r}> {box}"
            records.issues.append(
                LoadIssue(
                    "load.malformed_object", rel, f"{reason}; skipped", line=at if at > 0 else None, key=key
                )
            )
            continue
        (x, y, w, h), how = box
        if how:
            counts[how] += 1
        occluded = (shape.get("occluded") or "0").strip().lower() in ("1", "true")
        records.box(img, label, x, y, w, h, file=rel, line=at, occluded=occluded)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _box(el: ET.Element) -> tuple[tuple[float, float, float, float], str] | str:
    """``(x, y, w, h)`` of a ``<box>``, and ``"rotated"`` when it had a rotation; else what is wrong."""
    coords = []
    for attr in ("xtl", "ytl", "xbr", "ybr"):
        value = _float(el.get(attr))
        if value is None:
            return f"has a missing or non-numeric {attr}={el.get(attr)!r}"
        coords.append(value)
    x0, y0, x1, y1 = coords
    rotation = _float(el.get("rotation", "0"))
    if rotation is None:
        return f"has a non-numeric rotation={el.get('rotation')!r}"
    w, h = x1 - x0, y1 - y0
    if not math.isfinite(rotation) or rotation % 360 == 0:
        return (x0, y0, w, h), ""
    a = math.radians(rotation)
    bw = abs(w * math.cos(a)) + abs(h * math.sin(a))
    bh = abs(w * math.sin(a)) + abs(h * math.cos(a))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - bw / 2, cy - bh / 2, bw, bh), "rotated"


def _polygon(el: ET.Element) -> tuple[tuple[float, float, float, float], str] | str:
    """Bounding box of a ``<polygon points="x,y;x,y;...">``; else what is wrong."""
    text = (el.get("points") or "").strip()
    if not text:
        return "has no points"
    xs, ys = [], []
    for pair in text.split(";"):
        parts = pair.split(",")
        x = _float(parts[0]) if len(parts) == 2 else None
        y = _float(parts[1]) if len(parts) == 2 else None
        if x is None or y is None:
            return f"has a point {pair.strip()[:20]!r} that is not 'x,y'"
        xs.append(x)
        ys.append(y)
    return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)), "polygon"


def _tag_lines(data: bytes, root: ET.Element, tags: tuple[str, ...]) -> dict[int, int]:
    """1-based line of each element with one of ``tags``, by ``id()``, from a byte search
    (ElementTree has no lines). A tag whose count in the bytes differs from the parsed elements
    (a comment mentions it, UTF-16 text) gets no lines rather than wrong ones."""
    out: dict[int, int] = {}
    for tag in tags:
        starts = [m.start() for m in re.finditer(rb"<" + tag.encode() + rb"[\s/>]", data)]
        elements = list(root.iter(tag))
        if len(starts) != len(elements):
            continue
        line, prev = 1, 0
        for el, pos in zip(elements, starts, strict=True):
            line += data.count(b"\n", prev, pos)
            prev = pos
            out[id(el)] = line
    return out


def _notes(counts: Counter[str]) -> list[str]:
    notes = []
    if counts["rotated"]:
        notes.append(
            f"{counts['rotated']} rotated boxes were read as the axis-aligned boxes of their corners "
            "(CVAT rotates about the box centre)."
        )
    if counts["polygon"]:
        notes.append(f"{counts['polygon']} polygons were read as their bounding boxes.")
    other = {k.split(":", 1)[1]: n for k, n in counts.items() if k.startswith("other:")}
    if other:
        kinds = ", ".join(f"{n} <{t}>" for t, n in sorted(other.items()))
        notes.append(f"Shapes that are not boxes or polygons were not read: {kinds}.")
    return notes
