"""VGG Image Annotator (VIA) loader: VIA 2 (and 1.x) region data, VIA 2 projects, VIA 3 projects.

Documentation followed (github:ox-vgg/via): ``via-2.x.y/CodeDoc.md`` ("Description of VIA
Project JSON File"), VIA 2 ``src/via.js`` (``project_save_confirmed``; each shape's geometry in
``via_region_shape_to_coco_annotation``: ellipse ``theta`` in radians, absent in older files),
VIA 3 ``src/js/_via_metadata.js`` (``xy = [shape_id, ...]``, ``_VIA_RSHAPE``),
``_via_file_annotator.js`` (``_metadata_pts_to_xy``; checkbox values are comma-separated
option ids), ``_via_attribute.js``, ``_via_file.js``; https://www.robots.ox.ac.uk/~vgg/software/via/;
and the Mask R-CNN balloon sample (``samples/balloon/balloon.py``: VIA 1.x regions as a dict).

- Files: a ``.json`` file, or the ``.json`` files of a folder and of its immediate subfolders
  (balloon layout: ``train/via_region_data.json``, ``val/via_region_data.json``) whose first
  4 KB look like VIA. The split is the JSON's folder when it is named like a split (train, val,
  test...), else the file's stem when it is, else ``all``.
- Images: the ``filename`` of each entry, looked up from the JSON's folder, then by name under
  the root (:class:`~sodaudit.loaders.records.ImageIndex`). VIA declares no image size (its
  ``size`` is the file size in bytes): sizes come from the image headers.
- Shapes (VIA 2): ``rect`` x, y, width, height; ``polygon``/``polyline`` the bounding box of
  ``all_points_x``/``all_points_y``; ``circle`` cx, cy, r; ``ellipse`` the exact box of the
  (rotated) ellipse. VIA 3: rectangle, circle, ellipse (no rotation there), polygon, polyline,
  extreme rectangle (box of its 4 points) and extreme circle (the circle through its 3 points).
  ``point`` (and VIA 3 ``line``) are not boxes: counted in a note, skipped.
- Class: the region attribute that holds it is chosen once per file. When the project declares
  exactly one region attribute (``_via_attributes.region``; VIA 3 attributes anchored
  ``FILE1_Z0_XY1``), it is that one. Otherwise, among the declared attributes (or, with no
  declaration, the keys the regions use), the one named most like a class: class, label,
  category, name, type, object (case, ``_`` and spaces ignored, in this order); with no
  declaration, a single key in use is taken whatever its name. A key not taken from a single
  declared attribute is a guess, stated in a note. The value is the option id written in the
  region (VIA 2: the id the user typed; VIA 3 ids are numbers, mapped to the option's name); a
  checkbox value counts when exactly one option is ticked; VIA 3's ``default_option_id`` fills a
  missing value. A region without a class is a ``load.malformed_object`` issue and is skipped,
  except in a file that declares and uses no region attribute at all: a single-class project
  (Matterport's Mask R-CNN balloon sample), whose regions are read as class ``object`` with a
  note. Numeric strings (VIA 1 kept some) count as numbers.
- ``source_line`` of a box is the index of its region among its image's regions; its ``source``
  is the region's element path: ``via.json#_via_img_metadata["a.jpg1234"].regions[2]`` (VIA 2),
  ``.regions["0"]`` (VIA 1.x, regions keyed by strings), ``via.json#metadata["1_abc"]`` (VIA 3).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

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
from sodaudit.loaders.via_shapes import BadRegion, SkipRegion, via2_box, via3_box

__all__ = ["FORMAT", "detect", "load"]

FORMAT = "via"
HEAD_BYTES = 4096
SNIFF_FILES = 16
"""JSON files whose head ``detect`` reads at most (names with ``via`` first)."""
SPLIT_NAMES = frozenset({"train", "training", "val", "valid", "validation", "test", "testing", "trainval"})
CLASS_KEYS = ("class", "classname", "label", "labelname", "category", "name", "type", "object")
"""Region attribute names taken for the class, best first (lower case, letters only)."""
SINGLE_CLASS = "object"
"""The class of a single-class project's regions (no region attribute anywhere in the file)."""
LIMIT_KEY = "limits.max_annotation_file_mb"
BOM = b"\xef\xbb\xbf"

_PROJECT = re.compile(rb'"_via_(?:settings|img_metadata|attributes)"\s*:')
_VIA3 = re.compile(rb'"project"\s*:\s*\{')
_VIA3_KEYS = re.compile(rb'"(?:vid_list|rev_timestamp|data_format_version)"\s*:')
_ENTRY = re.compile(rb'\s*\{\s*"(?:[^"\\]|\\.)*"\s*:\s*\{')
_FILENAME = re.compile(rb'"filename"\s*:')
_REGION_KEYS = re.compile(rb'"(?:regions|shape_attributes|file_attributes|base64_img_data|fileref)"\s*:')
KINDS = {"project": "VIA 2 project", "regions": "VIA region data", "via3": "VIA 3 project"}
VIA3_REGION_ANCHOR = "FILE1_Z0_XY1"
VIA3_IMAGE = 2
VIA3_TEXT, VIA3_CHECKBOX = 1, 2
"""``_VIA_ATTRIBUTE_TYPE``: a text value is the class itself; other types hold option ids."""


# --------------------------------------------------------------------------- detection


def kind_of(head: bytes) -> str | None:
    """``project``, ``regions``, ``via3`` or ``None`` from the first bytes of a JSON file."""
    head = head.removeprefix(BOM)
    if not head.lstrip().startswith(b"{"):
        return None
    if _PROJECT.search(head):
        return "project"
    if _VIA3.search(head) and _VIA3_KEYS.search(head):
        return "via3"
    if _ENTRY.match(head) and _FILENAME.search(head) and _REGION_KEYS.search(head):
        return "regions"
    return None


def _sniff(path: Path) -> str | None:
    try:
        with open_binary(path) as fh:
            return kind_of(fh.read(HEAD_BYTES))
    except OSError:
        return None


def _listing(folder: Path) -> tuple[list[Path], list[Path]]:
    """``(*.json files, non-hidden subfolders)`` of ``folder`` from one listing (no stat per file)."""
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except OSError:
        return [], []
    files = sorted(Path(e.path) for e in entries if e.name.lower().endswith(".json") and e.is_file())
    return files, sorted(Path(e.path) for e in entries if e.is_dir())


def json_files(root: Path) -> list[Path]:
    """``*.json`` of ``root``, then of each of its immediate subfolders (split folders)."""
    files, subdirs = _listing(root)
    return files + [f for sub in subdirs for f in _listing(sub)[0]]


def detect(path: Path) -> Detection | None:
    """Claim a VIA JSON file, or a folder with VIA JSON in it or in its subfolders; reads only
    the first 4 KB of at most 16 files."""
    path = Path(path)
    if path.is_file():
        kind = _sniff(path) if path.suffix.lower() == ".json" else None
        return Detection(FORMAT, path.parent, f"{path.name} ({KINDS[kind]})") if kind else None
    if not path.is_dir():
        return None
    files = sorted(json_files(path), key=lambda p: "via" not in p.name.lower())[:SNIFF_FILES]
    found = [(f, k) for f in files if (k := _sniff(f))]
    if not found:
        return None
    shown = ", ".join(f"{f.relative_to(path).as_posix()} ({KINDS[k]})" for f, k in found[:3])
    return Detection(FORMAT, path, shown + (f" and {len(found) - 3} more" if len(found) > 3 else ""))


# --------------------------------------------------------------------------- loading


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read the VIA JSON at ``path`` (a file, or the VIA files of a folder) into the canonical
    dataset; each region that is not a box with a class becomes a ``LoadIssue``."""
    limits = limits or LimitsConfig()
    path = Path(path)
    if path.is_file():
        root, files = path.parent, [path]
    elif path.is_dir():
        root, files = path, [f for f in json_files(path) if _sniff(f)]
    else:
        raise DatasetError(f"No such file or folder: {path}.")
    if not files:
        raise DatasetError(
            f"No VIA JSON file at {path}: expected via_region_data.json or a VIA project JSON in the "
            "folder or in its train/, val/... subfolders."
        )
    records = Records()
    tally: Counter[str] = Counter()
    read: list[str] = []
    first_problem = ""
    for file in counted(files, "reading VIA files", progress):
        rel = file.relative_to(root).as_posix()
        n_issues = len(records.issues)
        if _read_file(file, rel, root, limits, records, tally):
            read.append(rel)
        elif not first_problem and len(records.issues) > n_issues:
            first_problem = f"{rel}: {records.issues[-1].reason}"
    if not read:
        if tally["via3_video"] and not first_problem:
            raise DatasetError(f"The VIA 3 project at {path} annotates no images (video or audio only).")
        raise DatasetError(
            f"Nothing at {path} could be read as VIA annotations ({first_problem or 'no images'})."
        )
    records.notes += _tally_notes(tally)
    if max(Counter(posixpath.dirname(r) for r in read).values()) > 1:
        records.notes.append("VIA: a folder holds several VIA files; an image in two has the boxes of both.")
    meta = {"annotation_files": read}
    return to_dataset(root, FORMAT, records, imgsz=imgsz, progress=progress, workers=workers, meta=meta)


def split_of(rel: str, root: Path) -> str:
    """The split of the JSON file ``rel``: its folder named like a split, else its stem, else ``all``."""
    folder = posixpath.dirname(rel).split("/")[0] if "/" in rel else root.name
    stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    for name in (folder, stem):
        if name.lower() in SPLIT_NAMES:
            return name
    return "all"


def decode(data: bytes) -> object:
    """The JSON value of ``data``; ``ValueError`` when it is not JSON. msgspec first (fast);
    the standard library as a fallback for the ``NaN`` that Python writers emit."""
    data = data.removeprefix(BOM)
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as err:
            raise ValueError(f"not valid JSON ({err})") from None


def _read_file(
    file: Path, rel: str, root: Path, limits: LimitsConfig, records: Records, tally: Counter[str]
) -> bool:
    """Add one VIA file's images and boxes to ``records``; ``False`` when the file gave nothing."""

    def issue(code: str, reason: str, key: str | None = None) -> bool:
        records.issues.append(LoadIssue(code, rel, reason, key=key))
        return False

    data = read_or_issue(file, rel, limits.max_annotation_file_mb, LIMIT_KEY, records.issues)
    if data is None:
        return False
    try:
        doc = decode(data)
    except ValueError as err:
        return issue("load.unreadable_file", str(err))
    base, split = posixpath.dirname(rel), split_of(rel, root)
    if isinstance(doc, dict) and "_via_img_metadata" in doc:
        entries, attrs = doc["_via_img_metadata"], doc.get("_via_attributes")
        declared = attrs.get("region") if isinstance(attrs, dict) else None
        prefix = "_via_img_metadata"
    elif isinstance(doc, dict) and isinstance(doc.get("project"), dict) and "metadata" in doc:
        return _read_via3(doc, rel, base, split, records, tally)
    elif isinstance(doc, dict) and any(isinstance(v, dict) and "filename" in v for v in doc.values()):
        entries, declared, prefix = doc, None, ""
    else:
        return issue("load.unreadable_file", "not VIA JSON: no _via_img_metadata, no file entries")
    if not isinstance(entries, dict):
        return issue("load.unreadable_file", "_via_img_metadata is not an object")
    regions_of = {k: _regions(e) for k, e in entries.items() if isinstance(e, dict)}
    used = [a for rs in regions_of.values() for _, r in rs if isinstance(r, dict) for a in _attrs(r)]
    key = _class_key(declared if isinstance(declared, dict) else None, used, rel, records.notes)
    # No attribute declared or used anywhere: a single-class project (the Mask R-CNN balloon
    # sample). Its regions are read as one class rather than lost; a note says so.
    single = key is None and not used and not declared
    n_single = 0
    seen: Counter[str] = Counter()  # this file's regions: all, boxes, points, without a class
    for entry_key, entry in entries.items():
        where = f"{prefix}[{json.dumps(entry_key)}]"
        name = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.strip():
            issue("load.malformed_object", "entry has no filename; skipped", where)
            continue
        img = records.image(name, base=base, split=split, source=rel)
        if not isinstance(entry.get("regions", []), dict | list):
            issue("load.malformed_object", "regions is not a list", where)
        for line, (rid, region) in enumerate(regions_of[entry_key]):
            seen["region"] += 1
            try:
                if not isinstance(region, dict):
                    raise BadRegion(f"region is not an object: {short_repr(region)}")
                x, y, w, h = via2_box(region.get("shape_attributes"))
                cls = SINGLE_CLASS if single else class_value(region.get("region_attributes"), key)
                n_single += single
            except SkipRegion as skip:
                tally[str(skip)] += 1
                seen["skip"] += 1
                continue
            except BadRegion as bad:
                issue("load.malformed_object", f"{bad}; skipped", region_key(where, rid))
                seen["no_class"] += str(bad).startswith("no class")
                continue
            records.box(img, cls, x, y, w, h, file=rel, line=line, key=region_key(where, rid))
    if n_single:
        records.notes.append(
            f"VIA: {rel} declares and uses no region attribute (a single-class project, like the "
            f"Mask R-CNN balloon sample): its {n_single} regions are read as class {SINGLE_CLASS!r}."
        )
    elif seen["no_class"] and seen["no_class"] == seen["region"] - seen["skip"]:
        records.notes.append(
            f"VIA: none of the {seen['no_class']} regions of {rel} has a region attribute naming a class; "
            "they were skipped."
        )
    return True


def region_key(entry: str, rid: object) -> str:
    """The element path of a region: ``<entry>.regions[2]`` (a list, VIA 2) or
    ``<entry>.regions["0"]`` (a dict, VIA 1.x)."""
    return f"{entry}.regions[{json.dumps(rid) if isinstance(rid, str) else rid}]"


def _regions(entry: Mapping[str, object]) -> list[tuple[object, object]]:
    """``(id, region)`` pairs: VIA 2 writes a list, VIA 1.x a dict ``{"0": {...}}``."""
    regions = entry.get("regions")
    if isinstance(regions, dict):
        return list(regions.items())
    return list(enumerate(regions)) if isinstance(regions, list) else []


def _attrs(region: Mapping[str, object]) -> Iterable[str]:
    attrs = region.get("region_attributes")
    return [k for k in attrs if isinstance(k, str)] if isinstance(attrs, dict) else []


def _norm(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _class_key(
    declared: Mapping[str, object] | None, used: Iterable[str], rel: str, notes: list[str]
) -> str | None:
    """The region attribute holding the class in one file (rule in the module docstring)."""
    names = [k for k in declared if isinstance(k, str)] if declared else sorted(set(used))
    if declared and len(names) == 1:
        return names[0]
    listed = ", ".join(repr(n) for n in names)
    ranked = sorted((CLASS_KEYS.index(_norm(n)), n) for n in names if _norm(n) in CLASS_KEYS)
    if ranked:
        key, why = ranked[0][1], f"by its name among {listed}"
    elif len(names) == 1:
        key, why = names[0], "the only one the regions use"
    else:
        return None
    source = "declared" if declared else "in use"
    notes.append(f"VIA: class of {rel} taken from region attribute {key!r}, {why} ({source}).")
    return key


def class_value(
    attrs: object, key: str | None, options: Mapping[str, object] | None = None, ids: bool = False
) -> str:
    """The class name in a region's attributes under ``key``; ``BadRegion`` when there is none.

    ``options`` (VIA 3) maps option ids to names; checkbox values are a dict of ticked options
    (VIA 2) or, with ``ids`` (a VIA 3 checkbox), comma-separated option ids."""
    value = attrs.get(key) if isinstance(attrs, dict) and key is not None else None
    if value is None or value == "":
        raise BadRegion("no class: the region has no class attribute")
    if isinstance(value, dict):
        ticked = [k for k, on in value.items() if on is True or on == "true" or on == 1]
    elif ids and isinstance(value, str):
        ticked = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, str) and value.strip():
        ticked = [value.strip()]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        ticked = [f"{value:g}"]
    else:
        raise BadRegion(f"no class: class attribute {key!r} is {short_repr(value)}")
    if len(ticked) != 1:
        raise BadRegion(f"{len(ticked)} classes ticked in {key!r} (one is needed)")
    name = ticked[0]
    if options is not None and isinstance(options.get(name), str) and options[name].strip():
        return str(options[name]).strip()
    return name


def _read_via3(doc: dict, rel: str, base: str, split: str, records: Records, tally: Counter[str]) -> bool:
    """A VIA 3 project: ``file`` (fid -> fname), ``view`` (vid -> fid_list), ``metadata``
    (regions: ``xy`` with an empty ``z``; a non-empty ``z`` is a video frame, not read)."""
    files, views, metadata = (doc.get(k) for k in ("file", "view", "metadata"))
    attributes = doc.get("attribute") if isinstance(doc.get("attribute"), dict) else {}
    if not isinstance(files, dict) or not isinstance(views, dict) or not isinstance(metadata, dict):
        records.issues.append(
            LoadIssue("load.unreadable_file", rel, "VIA 3 project without file/view/metadata")
        )
        return False
    by_name = {
        a["aname"]: aid
        for aid, a in attributes.items()
        if isinstance(a, dict)
        and a.get("anchor_id") == VIA3_REGION_ANCHOR
        and isinstance(a.get("aname"), str)
    }
    chosen = _class_key(by_name, (), rel, records.notes)
    aid = by_name[chosen] if chosen is not None else None
    attr = attributes[aid] if aid is not None else None
    options = attr.get("options") if attr is not None and attr.get("type") != VIA3_TEXT else None
    options = options if isinstance(options, dict) else None
    default = attr.get("default_option_id") if attr is not None else None
    defaults = {aid: default} if isinstance(default, str) and default else {}
    image_of: dict[str, int] = {}
    for vid, view in views.items():
        fids = view.get("fid_list") if isinstance(view, dict) else None
        entry = files.get(str(fids[0])) if isinstance(fids, list) and len(fids) == 1 else None
        if not isinstance(entry, dict) or not isinstance(entry.get("fname"), str):
            continue
        if entry.get("type", VIA3_IMAGE) != VIA3_IMAGE:
            tally["via3_video"] += 1
            continue
        image_of[str(vid)] = records.image(entry["fname"], base=base, split=split, source=rel)
    lines: Counter[int] = Counter()
    for mid, meta in metadata.items():
        where = f"metadata[{json.dumps(mid)}]"
        if not isinstance(meta, dict) or not meta.get("xy"):
            continue  # file or temporal metadata: not a region
        img = image_of.get(str(meta.get("vid")))
        if meta.get("z") or img is None:
            tally["via3_not_image"] += 1
            continue
        try:
            x, y, w, h = via3_box(meta["xy"])
            av = meta.get("av")
            av = {**defaults, **av} if isinstance(av, dict) else defaults
            cls = class_value(av, aid, options, ids=attr is not None and attr.get("type") == VIA3_CHECKBOX)
        except SkipRegion as skip:
            tally[str(skip)] += 1
            continue
        except BadRegion as bad:
            records.issues.append(LoadIssue("load.malformed_object", rel, f"{bad}; skipped", key=where))
            continue
        records.box(img, cls, x, y, w, h, file=rel, line=lines[img], key=where)
        lines[img] += 1
    return bool(image_of)


def _tally_notes(tally: Counter[str]) -> list[str]:
    notes = [
        f"VIA: {tally[w]} {w} regions are not boxes and were skipped." for w in ("point", "line") if tally[w]
    ]
    if tally["via3_not_image"] or tally["via3_video"]:
        notes.append(
            f"VIA 3: {tally['via3_video']} video/audio files and {tally['via3_not_image']} regions "
            "outside still images were not read."
        )
    return notes
