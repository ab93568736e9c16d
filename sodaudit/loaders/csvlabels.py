"""CSV box tables: TensorFlow Object Detection CSV, Roboflow's export of it, and Open Images.

Formats followed:

- TensorFlow Object Detection API CSV, as ``xml_to_csv`` in the TF Object Detection API tutorial's
  ``docs/source/scripts/generate_tfrecord.py`` (github.com/sglvladi/TensorFlowObjectDetectionTutorial)
  and in datitran/raccoon_dataset's ``xml_to_csv.py`` write it: header
  ``filename,width,height,class,xmin,ymin,xmax,ymax``, absolute pixel corners, one file per split
  (``train_labels.csv``, ``test_labels.csv``: the split is the name before ``_labels``).
  Box: ``x = xmin, y = ymin, w = xmax - xmin, h = ymax - ymin``.
- Roboflow "Tensorflow Object Detection CSV" export (https://roboflow.com/formats/tensorflow-object-
  detection-csv): the same columns in ``<split>/_annotations.csv`` with the images beside it; the
  folder is the split and ``filename`` is relative to it.
- Open Images box CSVs (https://storage.googleapis.com/openimages/web/download_v6.html): see
  :mod:`sodaudit.loaders.csvlabels_openimages`.

A folder is searched for ``*.csv`` at its top and one level down (``train/_annotations.csv``,
``annotations/train_labels.csv``); a file's layout is decided by its header line alone. Parsed
rows go through :func:`~sodaudit.loaders.records.to_dataset`, which finds the images, reads
their headers and compares declared sizes.
"""

from __future__ import annotations

import csv
import io
import math
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.loaders import csvlabels_openimages as oi
from sodaudit.loaders.base import (
    Detection,
    ProgressFn,
    counted,
    open_binary,
    read_or_issue,
    relpath,
    short_repr,
)
from sodaudit.loaders.records import ImageIndex, Records, to_dataset

__all__ = ["FORMAT", "detect", "load"]

FORMAT = "csv"
TF_COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
ROBOFLOW_NAME = "_annotations.csv"
TF, ROBOFLOW, OPENIMAGES = "tf", "roboflow", "openimages"
LAYOUT_NAMES = {TF: "TensorFlow CSV", ROBOFLOW: "Roboflow TensorFlow CSV", OPENIMAGES: "Open Images boxes"}
SPLIT_WORDS = frozenset({"train", "val", "valid", "validation", "test", "trainval", "minival", "dev"})
VAL_WORDS = frozenset({"val", "valid", "validation"})
LABEL_FOLDERS = frozenset({"annotations", "labels", "csv"})
"""A CSV given as a file inside one of these folders: the dataset root is the folder above."""
MAX_CSV_FILES = 1000
"""CSV files whose header is looked at when searching a folder: a bound, not a tuning constant."""
_HEAD_BYTES = 1 << 16
_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class LabelFile:
    """One box CSV: where it is and which layout its header says."""

    path: Path
    rel: str
    kind: str


# --------------------------------------------------------------------------- detection


def detect(path: Path) -> Detection | None:
    """Claim a CSV file, or a folder holding one (top or one level down), whose header is a
    TensorFlow / Roboflow or Open Images box header; only the first line of each file is read."""
    path = Path(path)
    if path.is_file():
        kind = _kind(path)
        if kind is None:
            return None
        return Detection(FORMAT, _root_of_file(path), f"{path.name} has a {LAYOUT_NAMES[kind]} header")
    if not path.is_dir():
        return None
    files = _label_files(path)
    if not files:
        return None
    shown = ", ".join(f"{f.rel} ({LAYOUT_NAMES[f.kind]})" for f in files[:3])
    more = f" and {len(files) - 3} more" if len(files) > 3 else ""
    return Detection(FORMAT, path, f"box CSV files {shown}{more}")


def _head(path: Path) -> list[str] | None:
    """The fields of the first line of ``path`` (``None`` when it cannot be read)."""
    try:
        with open_binary(path) as handle:
            first = handle.read(_HEAD_BYTES).splitlines()
    except OSError:
        return None
    if not first:
        return None
    text = first[0].decode("utf-8-sig", errors="replace")
    try:
        return [f.strip() for f in next(csv.reader([text]), [])]
    except csv.Error:
        return None


def _kind(path: Path) -> str | None:
    """The layout of a CSV file by its header, or ``None`` when it is not a box table."""
    if path.suffix.lower() != ".csv":
        return None
    header = _head(path)
    if not header:
        return None
    if oi.is_box_header(header):
        return OPENIMAGES
    if set(TF_COLUMNS) <= {h.lower() for h in header}:
        return ROBOFLOW if path.name == ROBOFLOW_NAME else TF
    return None


def _root_of_file(path: Path) -> Path:
    parent = path.resolve().parent
    return parent.parent if parent.name.lower() in LABEL_FOLDERS else parent


def _csv_files(root: Path) -> list[Path]:
    """``*.csv`` at the top of ``root`` and one folder down (hidden folders skipped), sorted."""
    found: list[Path] = []
    folders = [root]
    try:
        with os.scandir(root) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    folders.append(Path(entry.path))
                elif entry.name.lower().endswith(".csv"):
                    found.append(Path(entry.path))
        for folder in folders[1:]:
            with os.scandir(folder) as entries:
                found += sorted(
                    Path(e.path) for e in entries if e.name.lower().endswith(".csv") and e.is_file()
                )
    except OSError:
        pass
    return found[:MAX_CSV_FILES]


def _label_files(root: Path) -> list[LabelFile]:
    files = []
    for path in _csv_files(root):
        kind = _kind(path)
        if kind is not None:
            files.append(LabelFile(path, path.relative_to(root).as_posix(), kind))
    return files


# --------------------------------------------------------------------------- reading


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read the box CSVs at ``path`` (a folder, or one CSV file) into the canonical tables; bad
    rows become ``LoadIssue``s with their line, and the rest is read."""
    limits = limits or LimitsConfig()
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"No such file or folder: {path}.")
    root, files, whole = _layout(path)
    index = ImageIndex.of(root)
    dirs = {posixpath.dirname(p) for p in index.paths}
    records = Records()
    issues = records.issues
    names, names_rel = _descriptions(root, limits, issues, records.notes) if _any_oi(files) else (None, None)
    pending = oi.Pending()
    failures: list[str] = []
    read = 0
    for label in counted(files, "reading CSV label files", progress):
        data = read_or_issue(
            label.path, label.rel, limits.max_annotation_file_mb, "limits.max_annotation_file_mb", issues
        )
        if data is None:
            failures.append(f"{label.rel}: {issues[-1].reason}")
            continue
        split = _split_of(label, root)
        base = _image_base(dirs, posixpath.dirname(label.rel), split)
        rows = _rows(data, label.rel, issues)
        if label.kind == OPENIMAGES:
            oi.read_boxes(
                rows, label.rel, split=split, base=base, names=names, pending=pending, issues=issues
            )
        else:
            _read_tf(rows, label.rel, split=split, base=base, records=records, issues=issues)
        del data
        read += 1
    if not read:
        raise DatasetError(f"No CSV label file at {path} could be read ({'; '.join(failures[:3])}).")
    if pending.images:
        oi.to_records(pending, records, index, progress=progress, workers=workers)
    classes = dict(enumerate(names.values())) if names is not None else None
    meta = {
        "label_files": {f.rel: LAYOUT_NAMES[f.kind] for f in files},
        "class_descriptions": names_rel,
    }
    return to_dataset(
        root,
        FORMAT,
        records,
        imgsz=imgsz,
        classes=classes,
        images=index,
        unlisted_images=whole,
        progress=progress,
        workers=workers,
        meta=meta,
    )


def _layout(path: Path) -> tuple[Path, list[LabelFile], bool]:
    """``(root, label files, whole)``; ``whole``: the files are every box CSV under the root, so
    image files that no row names are worth reporting (not so when one split's CSV is given)."""
    if path.is_dir():
        files = _label_files(path)
        if not files:
            raise DatasetError(
                f"No box CSV found in {path}: expected a CSV with the header "
                f"{','.join(TF_COLUMNS)} (TensorFlow / Roboflow <split>/{ROBOFLOW_NAME}) or an Open "
                "Images *-annotations-bbox.csv, at the top or one folder down."
            )
        return path, files, True
    kind = _kind(path)
    if kind is None:
        raise DatasetError(
            f"{path} is not a box CSV: its first line is neither {','.join(TF_COLUMNS)} "
            f"nor an Open Images header ({','.join(oi.BOX_COLUMNS)}, ...)."
        )
    root = _root_of_file(path)
    whole = [f.path.resolve() for f in _label_files(root)] == [path.resolve()]
    return root, [LabelFile(path, relpath(path.resolve(), root), kind)], whole


def _any_oi(files: list[LabelFile]) -> bool:
    return any(f.kind == OPENIMAGES for f in files)


def _rows(data: bytes, rel: str, issues: list[LoadIssue]) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` of each non-blank CSV record, header included. A record that is
    not CSV (``csv.Error``) or not UTF-8 is an issue with its line and is skipped."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            issues.append(LoadIssue("load.malformed_row", rel, f"not a CSV row ({err}); skipped", line=start))
            if reader.line_num < start:  # no progress: the rest cannot be read
                return
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if not all(f.isascii() for f in row) and any(_SURROGATE.search(f) for f in row):
            issues.append(LoadIssue("load.encoding", rel, "row is not valid UTF-8; skipped", line=start))
            continue
        yield start, row


def _split_of(label: LabelFile, root: Path) -> str:
    """Open Images: the name prefix; ``<split>_labels.csv``: the name before ``_labels``; a file
    named like a split; else the folder (Roboflow's is always the split); else ``all``."""
    name = label.path.name
    stem = posixpath.splitext(name)[0]
    if label.kind == OPENIMAGES:
        split = oi.split_of(name)
        if split:
            return split
    elif stem.lower().endswith("_labels") and len(stem) > len("_labels"):
        return stem[: -len("_labels")]
    if stem.lower() in SPLIT_WORDS:
        return stem
    folder = posixpath.dirname(label.rel)
    if folder and (label.kind == ROBOFLOW or posixpath.basename(folder).lower() in SPLIT_WORDS):
        return posixpath.basename(folder)
    if not folder and root.name.lower() in SPLIT_WORDS:
        return root.name
    return "all"


def _image_base(dirs: set[str], folder: str, split: str) -> str:
    """The folder a file's image names are looked up in first: the CSV's own folder when it holds
    images, else the one image folder named like the split (``images/train`` for
    ``annotations/train_labels.csv``), so that ``1.jpg`` of train is not taken from test."""
    if folder in dirs or split == "all":
        return folder
    names = VAL_WORDS if split.lower() in VAL_WORDS else {split.lower()}
    hits = [d for d in dirs if posixpath.basename(d).lower() in names]
    return hits[0] if len(hits) == 1 else folder


def _read_tf(
    rows: Iterator[tuple[int, list[str]]],
    rel: str,
    *,
    split: str,
    base: str,
    records: Records,
    issues: list[LoadIssue],
) -> None:
    """TensorFlow / Roboflow rows into ``records``. A row with too few fields, no file name or
    class, a width/height that is not a positive number, a coordinate that is not a number, or
    ``xmax <= xmin`` / ``ymax <= ymin`` is ``load.malformed_row`` and skipped (its image, when
    named, is still listed). Two rows giving one image different sizes: ``load.size_mismatch``."""
    at: dict[str, int] = {}
    need = 0
    for line, row in rows:
        if not at:
            for i, column in enumerate(row):
                at.setdefault(column.strip().lower(), i)
            if not set(TF_COLUMNS) <= set(at):
                reason = f"header {short_repr(row, 80)} lacks {','.join(TF_COLUMNS)}; file skipped"
                issues.append(LoadIssue("load.malformed_row", rel, reason, line=line))
                return
            need = max(at[c] for c in TF_COLUMNS) + 1
            continue
        name = row[at["filename"]].strip() if at["filename"] < len(row) else ""
        if len(row) < need or not name:
            problem = f"{len(row)} fields, expected {need}" if len(row) < need else "no filename"
            _bad(issues, rel, line, problem)
            if name:
                records.image(name, base=base, split=split, source=rel)
            continue
        width, height = _number(row[at["width"]]), _number(row[at["height"]])
        if width is None or height is None or width <= 0 or height <= 0:
            records.image(name, base=base, split=split, source=rel)
            shown = f"{short_repr(row[at['width']])} x {short_repr(row[at['height']])}"
            _bad(issues, rel, line, f"width x height {shown} is not a positive size")
            continue
        image = records.image(name, base=base, split=split, width=width, height=height, source=rel)
        if (records.img_width[image], records.img_height[image]) != (width, height):
            reason = (
                f"{name}: declared {width:g}x{height:g} here, {records.img_width[image]:g}x"
                f"{records.img_height[image]:g} on an earlier row; the earlier size is used"
            )
            issues.append(LoadIssue("load.size_mismatch", rel, reason, line=line))
        class_name = row[at["class"]].strip()
        if not class_name:
            _bad(issues, rel, line, "no class")
            continue
        coords, bad = _numbers(row, at, TF_COLUMNS[4:])
        if bad:
            _bad(issues, rel, line, f"{', '.join(bad)} not a number")
            continue
        x0, y0, x1, y1 = coords
        # xmax <= xmin is kept as a zero or negative size: integrity.degenerate_box reports it with
        # its line, as for every other format.
        records.box(image, class_name, x0, y0, x1 - x0, y1 - y0, file=rel, line=line)


def _numbers(row: list[str], at: dict[str, int], columns: tuple[str, ...]) -> tuple[list[float], list[str]]:
    """The values of ``columns`` and, for those that are not finite numbers, ``name 'text'``."""
    values: list[float] = []
    bad: list[str] = []
    for column in columns:
        value = _number(row[at[column]])
        if value is None:
            bad.append(f"{column} {short_repr(row[at[column]])}")
        else:
            values.append(value)
    return values, bad


def _bad(issues: list[LoadIssue], rel: str, line: int, problem: str) -> None:
    issues.append(LoadIssue("load.malformed_row", rel, f"{problem}; row skipped", line=line))


def _number(text: str) -> float | None:
    """A finite number, or ``None`` (empty, text, NaN, inf)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _descriptions(
    root: Path, limits: LimitsConfig, issues: list[LoadIssue], notes: list[str]
) -> tuple[dict[str, str] | None, str | None]:
    """MID -> display name from the Open Images class descriptions under ``root`` (the boxable
    list preferred over the full one), and its path; ``None`` when there is none to read."""
    found = [p for p in _csv_files(root) if oi.DESCRIPTIONS.search(p.name)]
    if not found:
        notes.append(
            "No Open Images class descriptions file (class-descriptions-boxable.csv) found; "
            "classes are named by their MID."
        )
        return None, None
    path = sorted(found, key=lambda p: ("boxable" not in p.name.lower(), p.relative_to(root).as_posix()))[0]
    rel = path.relative_to(root).as_posix()
    data = read_or_issue(path, rel, limits.max_annotation_file_mb, "limits.max_annotation_file_mb", issues)
    if data is None:
        return None, rel
    return oi.class_names(_rows(data, rel, issues), rel, issues), rel
