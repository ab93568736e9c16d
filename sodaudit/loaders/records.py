"""Record formats: loaders that read a list of (image, box) records share how the result is built.

CSV, LabelMe, VIA, Label Studio JSON, CVAT XML, DOTA and VisDrone name an image by a file name (or a
path relative to the label file) and give boxes with a class *name*. Their loaders parse into
:class:`Records` (plain lists, one append per image or box) and :func:`to_dataset` does the rest
once, alike for every format:

- finds each image under the dataset root: the path as written (relative to the folder the record
  came from, then to the root), else by file name, else by stem; never outside the root;
- reads the found images' headers (sizes after EXIF), and compares them with a declared size
  (``load.size_mismatch``: the declared one is kept, the boxes are in its pixels);
- gives an image with neither a declared size nor a readable header ``load.size_missing``;
- maps class names to ids (the declared list when the format has one, else sorted names);
- names the image files under the root that no record mentions (``load.image_not_in_annotations``);
- builds the canonical :class:`~sodaudit.dataset.Dataset`.
"""

from __future__ import annotations

import math
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.imageinfo import is_image_file, read_headers
from sodaudit.loaders.base import ProgressFn, resolve_inside
from sodaudit.loaders.sources import SOURCE_KEY

MAX_LISTED_FILES = 5_000_000
"""Files looked at when indexing the images under a root: a bound, not a tuning constant."""


@dataclass
class Records:
    """What a record-format loader parsed: image rows, box rows, issues and notes.

    Image names are as the label file wrote them; ``base`` is the folder (relative to the root,
    POSIX) that a relative name is relative to. Box coordinates are ``x, y, w, h`` in absolute
    pixels of the image (top-left origin)."""

    issues: list[LoadIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    img_name: list[str] = field(default_factory=list)
    img_base: list[str] = field(default_factory=list)
    img_split: list[str] = field(default_factory=list)
    img_width: list[float] = field(default_factory=list)
    img_height: list[float] = field(default_factory=list)
    img_source: list[str] = field(default_factory=list)
    box_image: list[int] = field(default_factory=list)
    box_class: list[str] = field(default_factory=list)
    box_xywh: list[tuple[float, float, float, float]] = field(default_factory=list)
    box_ignore: list[bool] = field(default_factory=list)
    box_file: list[str] = field(default_factory=list)
    box_line: list[int] = field(default_factory=list)
    box_key: list[str] = field(default_factory=list)
    """Element path of each box inside a JSON file (``shapes[4]``), ``""`` for line formats."""
    extra: dict[str, list[object]] = field(default_factory=dict)
    _index: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)

    def image(
        self,
        name: str,
        *,
        base: str = "",
        split: str = "all",
        width: float | None = None,
        height: float | None = None,
        source: str = "",
    ) -> int:
        """The row of image ``name`` (added on first mention; a later mention with a size fills a
        missing one). Returns its index for :meth:`box`."""
        key = (base, name.replace("\\", "/"), split)
        at = self._index.get(key)
        if at is not None:
            if math.isnan(self.img_width[at]) and _positive(width) and _positive(height):
                self.img_width[at], self.img_height[at] = float(width), float(height)  # type: ignore[arg-type]
            return at
        at = len(self.img_name)
        self._index[key] = at
        self.img_name.append(key[1])
        self.img_base.append(base)
        self.img_split.append(split)
        ok = _positive(width) and _positive(height)
        self.img_width.append(float(width) if ok else math.nan)  # type: ignore[arg-type]
        self.img_height.append(float(height) if ok else math.nan)  # type: ignore[arg-type]
        self.img_source.append(source)
        return at

    def box(
        self,
        image: int,
        class_name: str,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        ignore: bool = False,
        file: str = "",
        line: int = -1,
        key: str = "",
        **extra: object,
    ) -> None:
        """One box of image row ``image``; ``line``: its 1-based line in ``file`` (text formats) or
        its index in the array that holds it (JSON), ``key``: its element path in a JSON ``file``
        (the ``source`` then quoted, see :mod:`sodaudit.loaders.sources`). ``extra`` columns (e.g.
        ``occlusion``) are kept as columns of the box table (``None`` where a box has none)."""
        n = len(self.box_image)
        for name in extra:
            if name not in self.extra:
                self.extra[name] = [None] * n
        for name, values in self.extra.items():
            values.append(extra.get(name))
        self.box_image.append(image)
        self.box_class.append(class_name)
        self.box_xywh.append((float(x), float(y), float(w), float(h)))
        self.box_ignore.append(bool(ignore))
        self.box_file.append(file)
        self.box_line.append(int(line))
        self.box_key.append(key)


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


@dataclass
class ImageIndex:
    """The image files under a root, by relative path, by file name and by stem."""

    root: Path
    paths: set[str]
    by_name: dict[str, list[str]]
    by_stem: dict[str, list[str]]

    @classmethod
    def of(cls, root: Path) -> ImageIndex:
        paths: set[str] = set()
        seen = 0
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel = Path(folder).relative_to(root).as_posix()
            for name in files:
                seen += 1
                if seen > MAX_LISTED_FILES:
                    break
                if is_image_file(name):
                    paths.add(name if rel == "." else f"{rel}/{name}")
        by_name: dict[str, list[str]] = {}
        by_stem: dict[str, list[str]] = {}
        for p in sorted(paths):
            name = posixpath.basename(p)
            by_name.setdefault(name, []).append(p)
            by_stem.setdefault(posixpath.splitext(name)[0], []).append(p)
        return cls(root, paths, by_name, by_stem)

    def find(self, name: str, base: str) -> tuple[str | None, bool]:
        """``(path relative to the root, outside)`` of the image a record names.

        Tried in order: ``base/name``, ``name`` from the root, the file name anywhere under the
        root, the stem anywhere (one match, or the one under ``base``). A name that escapes the
        root is never followed as written; ``outside`` says so when no file under the root has
        its name either."""
        clean = name.replace("\\", "/").strip()
        if not clean:
            return None, False
        escaped = bool(os.path.isabs(clean) or clean.startswith("/") or _drive(clean))
        if not escaped:
            for start in dict.fromkeys((base, "")):
                joined = posixpath.normpath(posixpath.join(start, clean))
                if joined == ".." or joined.startswith("../"):
                    escaped = True
                elif joined in self.paths and resolve_inside(self.root, joined) is not None:
                    return joined, False
        file_name = posixpath.basename(clean)
        for table, key in ((self.by_name, file_name), (self.by_stem, posixpath.splitext(file_name)[0])):
            hits = table.get(key, [])
            if len(hits) > 1:
                hits = [h for h in hits if posixpath.dirname(h) == base] or hits
            if hits:
                return hits[0], False
        return None, escaped


def _drive(name: str) -> bool:
    """``C:/...``: an absolute Windows path written by the labelling tool's machine."""
    return len(name) > 2 and name[1] == ":" and name[0].isalpha()


def to_dataset(
    root: Path,
    format: str,
    records: Records,
    *,
    imgsz: int = 640,
    classes: Mapping[int, str] | None = None,
    images: ImageIndex | None = None,
    unlisted_images: bool = True,
    progress: ProgressFn | None = None,
    workers: int = 1,
    meta: Mapping[str, object] | None = None,
) -> Dataset:
    """The canonical dataset of ``records`` (see the module docstring for what is checked).

    ``classes``: the format's declared class list (id -> name); a box whose name is not in it gets
    a new id after the declared ones and a ``load.undeclared_class`` issue. ``images``: the index
    of image files (built from ``root`` when not given). ``unlisted_images``: report image files
    no record mentions."""
    root = Path(root)
    index = images if images is not None else ImageIndex.of(root)
    issues = list(records.issues)
    n_images = len(records.img_name)
    file_name: list[str] = []
    status: list[str] = []
    found_at: list[int] = []
    found_paths: list[str] = []
    for i in range(n_images):
        found, outside = index.find(records.img_name[i], records.img_base[i])
        if outside:
            issues.append(
                LoadIssue(
                    "load.path_outside_root",
                    records.img_source[i] or records.img_name[i],
                    f"image name {records.img_name[i]!r} points outside the dataset folder; not read",
                )
            )
        if found is None:
            base, name = records.img_base[i], records.img_name[i]
            file_name.append(posixpath.normpath(posixpath.join(base, name)) if not outside else name)
            has_size = not math.isnan(records.img_width[i])
            status.append("unchecked" if has_size and not index.paths else "missing")
        else:
            file_name.append(found)
            status.append("ok")
            found_at.append(i)
            found_paths.append(str(root / found))
    width = np.array(records.img_width, dtype=np.float64)
    height = np.array(records.img_height, dtype=np.float64)
    exif = np.zeros(n_images, dtype=bool)
    headers = read_headers(found_paths, progress, workers=workers) if found_paths else []
    for i, header in zip(found_at, headers, strict=True):
        status[i], exif[i] = header.status, header.exif_rotated
        if header.status != "ok":
            continue
        if math.isnan(width[i]):
            width[i], height[i] = header.width, header.height
        elif (width[i], height[i]) != (header.width, header.height):
            issues.append(
                LoadIssue(
                    "load.size_mismatch",
                    records.img_source[i] or file_name[i],
                    f"{file_name[i]}: declared {width[i]:g}x{height[i]:g}, the image file is "
                    f"{header.width:g}x{header.height:g}; the declared size is used",
                )
            )
    for i in np.flatnonzero(np.isnan(width)):
        issues.append(
            LoadIssue(
                "load.size_missing",
                records.img_source[i] or file_name[i],
                f"{file_name[i]}: no declared width/height and the image ({status[i]}) cannot give it",
            )
        )
    if unlisted_images:
        listed = set(file_name)
        for p in sorted(index.paths - listed):
            issues.append(
                LoadIssue("load.image_not_in_annotations", p, "image is in no label file; not audited")
            )

    class_map, class_id = _class_ids(records, classes, issues)
    xywh = np.array(records.box_xywh, dtype=np.float64).reshape(-1, 4)
    files = sorted(set(records.box_file))
    boxes = pd.DataFrame(
        {
            "image_id": np.array(records.box_image, dtype=np.int64),
            "class_id": class_id,
            "x": xywh[:, 0],
            "y": xywh[:, 1],
            "w": xywh[:, 2],
            "h": xywh[:, 3],
            "ignore": np.array(records.box_ignore, dtype=bool),
            "source_file": pd.Categorical(records.box_file, categories=files),
            "source_line": np.array(records.box_line, dtype=np.int64),
            **({SOURCE_KEY: np.array(records.box_key, dtype=object)} if any(records.box_key) else {}),
            **{k: pd.array(v) for k, v in records.extra.items()},
        }
    )
    table = pd.DataFrame(
        {
            "image_id": np.arange(n_images, dtype=np.int64),
            "file_name": file_name,
            "path": [str(root / f) if f in index.paths else "" for f in file_name],
            "split": records.img_split,
            "width": width,
            "height": height,
            "status": status,
            "exif_rotated": exif,
            "source_file": records.img_source,
        }
    )
    return Dataset.build(
        root=root,
        format=format,
        boxes=boxes,
        images=table,
        classes=class_map,
        issues=issues,
        notes=records.notes,
        imgsz=imgsz,
        meta=meta,
    )


def _class_ids(
    records: Records, declared: Mapping[int, str] | None, issues: list[LoadIssue]
) -> tuple[dict[int, str], np.ndarray]:
    """Class id per box, and the class list: the declared one plus, after it, any undeclared
    name (one ``load.undeclared_class`` issue per name, at its first box); sorted names when the
    format declares none."""
    names = pd.Categorical(records.box_class)
    if declared is None:
        class_map = dict(enumerate(str(c) for c in names.categories))
        return class_map, names.codes.astype(np.int64)
    class_map = dict(declared)
    by_name = {name: cid for cid, name in class_map.items()}
    next_id = max(class_map, default=-1) + 1
    lookup = np.empty(len(names.categories), dtype=np.int64)
    for j, name in enumerate(names.categories):
        if name not in by_name:
            first = int(np.flatnonzero(names.codes == j)[0])
            key = records.box_key[first]
            issues.append(
                LoadIssue(
                    "load.undeclared_class",
                    records.box_file[first] or "labels",
                    f"class {name!r} is not in the class list",
                    line=records.box_line[first] if records.box_line[first] > 0 and not key else None,
                    key=key or None,
                )
            )
            by_name[name] = next_id
            class_map[next_id] = str(name)
            next_id += 1
        lookup[j] = by_name[name]
    return class_map, lookup[names.codes] if len(names.codes) else np.zeros(0, dtype=np.int64)
