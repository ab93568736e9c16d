"""DOTA loader: ``labelTxt/`` (or ``labelTxt-v1.0/``, ``-v1.5/``, ``-v2.0/``, any case) beside ``images/``,
at the root or in split folders (``train/``, ``val/``, ``test/``, Roboflow's ``valid/``: any name).

Sources of the rules below:

- Line format, header and classes: the DOTA dataset page, https://captain-whu.github.io/DOTA/dataset.html
  (``imagesource:...`` and ``gsd:...`` header lines, then ``x1 y1 x2 y2 x3 y3 x4 y4 category difficult``,
  the 15 / 16 / 18 categories of v1.0 / v1.5 / v2.0).
- Parsing: ``parse_dota_poly`` in ``dota_utils.py`` of github.com/CAPTAIN-WHU/DOTA_devkit (``difficult`` is
  ``0`` when the 10th field is missing; it splits on single spaces, here on any whitespace; lines with
  fewer than 9 fields are skipped there, reported here as ``load.malformed_row``). Class order:
  ``wordname_15`` there, then ``container-crane`` (``dota-v1.5_evaluation_task2.py``), then ``airport``,
  ``helipad`` (the dataset page).
- Box: the axis-aligned bounding box of the 4 points (``dots4ToRec4`` in ``dota_utils.py``, DOTA's Task 2
  horizontal boxes). ``difficult != 0`` is ``ignore``: ``dota_evaluation_task2.py`` leaves difficult
  objects out of the positives and does not count detections matched to them.

An image with no label file is background (``load.label_missing``, as in the YOLO loader); a label file
whose image is not found keeps its boxes (in pixels) and its image is ``missing``. Horizontal-box copies
(``*_hbb``, ``trainset_reclabelTxt``, ``Task2_gt``) beside oriented labels are not read. The first
section's helpers (label files paired with images by stem, read in chunks) serve VisDrone too.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.loaders.base import (
    Detection,
    ProgressFn,
    counted,
    open_binary,
    read_or_issue,
    relpath,
)
from sodaudit.loaders.records import ImageIndex, Records, to_dataset
from sodaudit.pool import map_chunks

FORMAT = "dota"
DEFAULT_SPLIT = "all"
_V1_NAMES = (
    "plane baseball-diamond bridge ground-track-field small-vehicle large-vehicle ship tennis-court "
    "basketball-court storage-tank soccer-ball-field roundabout harbor swimming-pool helicopter"
)
DOTA_V1_0 = tuple(_V1_NAMES.split())
DOTA_V1_5 = (*DOTA_V1_0, "container-crane")
DOTA_V2_0 = (*DOTA_V1_5, "airport", "helipad")
CLASS_LISTS = (("DOTA-v1.0", DOTA_V1_0), ("DOTA-v1.5", DOTA_V1_5), ("DOTA-v2.0", DOTA_V2_0))
_LABEL_DIR = re.compile(r"^labeltxt(?:[-_ ]?v?(\d+(?:\.\d+)?))?$", re.I)
_HBB_DIR = re.compile(r"hbb|reclabel|task2", re.I)
_HEADER = re.compile(r"^\s*(imagesource|gsd)\s*:(.*)$", re.I)
_BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 4096

# --------------------------------------------------------------------------- shared helpers


@dataclass(frozen=True)
class Pair:
    """A folder of label files, the image folder beside it (``None``: look by stem under the root)
    and the split its images belong to."""

    labels: str
    images: str | None
    split: str
    recursive: bool = True


Row = tuple[int, str, float, float, float, float, bool, tuple[object, ...]]


@dataclass
class Parsed:
    """One label file: rows ``(line, class name, x, y, w, h, ignore, extras)`` in pixels, issues,
    and per-file facts (DOTA's ``gsd``)."""

    file: str
    rows: list[Row] = field(default_factory=list)
    issues: list[LoadIssue] = field(default_factory=list)
    info: dict[str, object] = field(default_factory=dict)


LineParser = Callable[[list[str], str], Parsed]
"""``(lines of one file, its path relative to the root) -> Parsed``; a module-level function, so
that a process pool can run it."""


def listdir(folder: str | Path, keep: Callable[[os.DirEntry[str]], bool] = bool) -> list[os.DirEntry[str]]:
    """Entries of ``folder`` that ``keep`` accepts (hidden ones left out), sorted by name: a
    folder of 100k images is scanned, never sorted, when looking for one subfolder."""
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if e.name[0] != "." and keep(e)), key=lambda e: e.name)
    except OSError:
        return []


def child_dir(folder: str | Path, name: str) -> str | None:
    """The subfolder of ``folder`` named ``name`` in any case (``images``, ``Images``)."""
    found = listdir(folder, lambda e: e.name.lower() == name and e.is_dir())
    return found[0].path if found else None


def has_txt(folder: str | Path) -> bool:
    """Whether ``folder`` directly holds a ``.txt`` file (stops at the first)."""
    try:
        with os.scandir(folder) as it:
            return any(e.name.lower().endswith(".txt") and not e.name.startswith(".") for e in it)
    except OSError:
        return False


def head_lines(folder: str | Path, keep: Callable[[str], bool], n_files: int = 3) -> list[str]:
    """The first line that ``keep`` accepts in each of the first ``n_files`` ``.txt`` files of
    ``folder``, from at most ``SNIFF_BYTES`` of each: what detection looks at."""
    found = []
    for entry in listdir(folder, lambda e: e.name.lower().endswith(".txt")):
        if len(found) >= n_files:
            break
        try:
            with open_binary(entry.path) as handle:
                head = handle.read(SNIFF_BYTES).removeprefix(_BOM).decode("utf-8", "replace")
        except OSError:
            continue
        line = next((s.strip() for s in head.split("\n") if s.strip() and keep(s.strip())), None)
        if line is not None:
            found.append(line)
    return found


def label_files(pair: Pair, notes: list[str], root: Path) -> list[str]:
    """The ``.txt`` files of a label folder, sorted; horizontal-box copies left out (with a note)
    when oriented labels are present too."""
    files: list[str] = []
    skipped: list[str] = []
    for folder, dirs, names in os.walk(pair.labels):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if (
            pair.recursive
            and folder == pair.labels
            and len(dirs) + any(n.endswith(".txt") for n in names) > 1
        ):
            skipped += [d for d in dirs if _HBB_DIR.search(d)]
            dirs[:] = [d for d in dirs if not _HBB_DIR.search(d)]
        files += [
            os.path.join(folder, n) for n in sorted(names) if n.lower().endswith(".txt") and n[0] != "."
        ]
        if not pair.recursive:
            dirs[:] = []
    for d in skipped:
        notes.append(f"{relpath(os.path.join(pair.labels, d), root)}/: horizontal-box copies; not read.")
    return files


def read_lines(path: str, file_rel: str, limit_mb: float) -> tuple[list[str] | None, list[LoadIssue]]:
    """Lines of a label file (LF, CRLF or CR; a UTF-8 BOM dropped), ``None`` when it cannot be read.
    A line that is not UTF-8 becomes ``""`` and a ``load.encoding`` issue, so numbering holds."""
    issues: list[LoadIssue] = []
    blob = read_or_issue(path, file_rel, limit_mb, "limits.max_label_file_mb", issues)
    if blob is None:
        return None, issues
    blob = blob.removeprefix(_BOM)
    if b"\r" in blob:
        blob = blob.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    try:
        return blob.decode("utf-8").split("\n"), []
    except UnicodeDecodeError:
        pass
    lines, issues = [], []
    for number, raw in enumerate(blob.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            lines.append("")
            reason = f"bytes that are not UTF-8 at column {err.start + 1}; line not read"
            issues.append(LoadIssue("load.encoding", file_rel, reason, line=number))
    return lines, issues


def _parse_chunk(
    files: Sequence[str], progress: ProgressFn | None, *, root: str, limit_mb: float, parser: LineParser
) -> list[Parsed]:
    out = []
    for path in counted(files, "reading label files", progress) if progress else files:
        file_rel = relpath(path, Path(root))
        lines, issues = read_lines(path, file_rel, limit_mb)
        parsed = parser(lines, file_rel) if lines is not None else Parsed(file_rel)
        parsed.issues[:0] = issues
        out.append(parsed)
    return out


def parse_files(
    root: Path,
    files: Sequence[str],
    parser: LineParser,
    limits: LimitsConfig,
    progress: ProgressFn | None,
    workers: int,
) -> list[Parsed]:
    """Every label file read (bounded by ``limits.max_label_file_mb``) and parsed, in file order;
    in a process pool of ``workers`` when it is not 1 (the same result)."""
    if not files:
        return []
    read = partial(_parse_chunk, root=str(root), limit_mb=limits.max_label_file_mb, parser=parser)
    chunks = map_chunks(read, list(files), workers=workers, what="reading label files", progress=progress)
    return [p for chunk in chunks for p in chunk]


def build_records(
    root: Path,
    index: ImageIndex,
    groups: Sequence[tuple[Pair, list[str]]],
    parsed: Sequence[Parsed],
    *,
    image_ext: str,
    extra: Sequence[str] = (),
) -> tuple[Records, list[int]]:
    """Records of the label files (``parsed``, in the order of ``groups``), each named after the
    image of the same stem (in the pair's image folder, else anywhere under the root, else
    ``<stem><image_ext>``, which is then ``missing``); images of the pair's folder that no label
    file names are background (``load.label_missing``). Also the image row of each parsed file."""
    records = Records(extra={name: [] for name in extra})  # the columns exist with no box too
    image_of: list[int] = []
    at = 0
    for pair, files in groups:
        images_rel = relpath(pair.images, root) if pair.images else None
        prefix = "" if images_rel in (None, ".") else f"{images_rel}/"
        in_folder = sorted(p for p in index.paths if p.startswith(prefix)) if images_rel else []
        by_stem: dict[str, str] = {}
        for p in in_folder:
            by_stem.setdefault(posixpath.splitext(posixpath.basename(p))[0], p)
        near = relpath(os.path.dirname(pair.labels), root)
        named: set[str] = set()
        for path in files:
            p = parsed[at]
            at += 1
            stem = os.path.splitext(os.path.basename(path))[0]
            name = by_stem.get(stem) or _anywhere(index, stem, near)
            if name is None:
                name = f"{prefix}{stem}{image_ext}" if images_rel else f"{stem}{image_ext}"
            named.add(name)
            image = records.image(name, split=pair.split, source=p.file)
            image_of.append(image)
            records.issues += p.issues
            for line, cls, x, y, w, h, ignore, values in p.rows:
                more = dict(zip(extra, values, strict=True))
                records.box(image, cls, x, y, w, h, ignore=ignore, file=p.file, line=line, **more)
        labels_rel = relpath(pair.labels, root)
        for p in in_folder:
            if p in named:
                continue
            records.image(p, split=pair.split)
            stem = posixpath.splitext(posixpath.basename(p))[0]
            reason = f"no label file {labels_rel}/{stem}.txt; the image counts as background"
            records.issues.append(LoadIssue("load.label_missing", p, reason))
    return records, image_of


def first_malformed(parsed: Sequence[Parsed]) -> LoadIssue | None:
    """The first dropped row when not one row of any file was read: nothing reads as the format."""
    if any(p.rows for p in parsed):
        return None
    return next((i for p in parsed for i in p.issues if i.code == "load.malformed_row"), None)


def _anywhere(index: ImageIndex, stem: str, near: str) -> str | None:
    """An image of this stem anywhere under the root, preferring one under ``near`` (the split folder)."""
    hits = index.by_stem.get(stem, [])
    inside = [h for h in hits if near in ("", ".") or h.startswith(near + "/")]
    return (inside or hits or [None])[0]


# --------------------------------------------------------------------------- DOTA layout


def is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _is_data_line(line: str) -> bool:
    return not _HEADER.match(line)


def _looks_like_dota(line: str) -> bool:
    """9-10 fields: 8 numbers, then a category that is not a number (a YOLO OBB or polygon row
    has a number there)."""
    tokens = line.split()
    return len(tokens) in (9, 10) and all(is_number(t) for t in tokens[:8]) and not is_number(tokens[8])


def _label_dirs(folder: Path) -> list[tuple[str, str]]:
    """``(name, version)`` of the ``labelTxt*`` subfolders of ``folder``, newest version first
    (a plain ``labelTxt`` last)."""
    entries = listdir(folder, lambda e: bool(_LABEL_DIR.match(e.name)) and e.is_dir())
    found = [(m.group(0), m.group(1) or "") for e in entries if (m := _LABEL_DIR.match(e.name))]
    return sorted(
        found, key=lambda nv: tuple(int(x) for x in nv[1].split(".")) if nv[1] else (-1,), reverse=True
    )


def _candidates(path: Path) -> list[Path]:
    """``path`` and its subfolders that may be split folders (not label or image folders)."""

    def split_like(e: os.DirEntry[str]) -> bool:
        return e.is_dir() and not _LABEL_DIR.match(e.name) and e.name.lower() not in ("images", "labels")

    return [path, *(Path(e.path) for e in listdir(path, split_like))]


def discover(path: Path, notes: list[str]) -> list[Pair]:
    """The label folders at ``path`` and one folder down (splits); the flat folder of DOTA txt
    files when there is none. One label folder per image folder: the newest version."""
    pairs = []
    for folder in _candidates(path):
        dirs = _label_dirs(folder)
        if not dirs:
            continue
        for other, _ in dirs[1:]:
            notes.append(
                f"{relpath(folder / other, path)}/ not read: {relpath(folder / dirs[0][0], path)}/ labels "
                "the same images (one label set per image folder, the newest version)."
            )
        images = child_dir(folder, "images")
        split = DEFAULT_SPLIT if folder == path else folder.name  # a split folder's name
        pairs.append(Pair(str(folder / dirs[0][0]), images, split))
    if not pairs and has_txt(path) and any(_looks_like_dota(s) for s in head_lines(path, _is_data_line)):
        pairs.append(Pair(str(path), child_dir(path, "images"), DEFAULT_SPLIT, recursive=False))
    return pairs


def detect(path: Path) -> Detection | None:
    """Claim a folder with a ``labelTxt*`` folder (here or in split folders), or a folder of txt
    files whose first data line is a DOTA row; reads the first lines of at most 3 files."""
    path = Path(path)
    if not path.is_dir():
        return None
    where = []
    for folder in _candidates(path):
        for name, _ in _label_dirs(folder)[:1]:
            if has_txt(folder / name) or any(has_txt(e.path) for e in listdir(folder / name) if e.is_dir()):
                where.append(f"{relpath(folder / name, path)}/")
    if where:
        return Detection(FORMAT, path, f"{' + '.join(where)} label folders")
    if has_txt(path):
        heads = head_lines(path, _is_data_line)
        if heads and _looks_like_dota(heads[0]):
            return Detection(FORMAT, path, "txt files of 'x1 y1 ... x4 y4 category difficult' rows")
    return None


# --------------------------------------------------------------------------- parsing


def parse_dota(lines: list[str], file_rel: str) -> Parsed:
    """Rows of one DOTA label file: boxes (the bounds of the 4 points), header facts, issues."""
    out = Parsed(file_rel)
    numbers: list[tuple[float, ...]] = []
    meta: list[tuple[int, str, bool]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if header := _HEADER.match(line):  # v2.0 writes gsd:null
            key, value = header.group(1).lower(), header.group(2).strip()
            out.info[key] = (float(value) if is_number(value) else math.nan) if key == "gsd" else value
            continue
        tokens = line.split()
        why, coords, difficult = _dota_row(tokens)
        if why:
            out.issues.append(LoadIssue("load.malformed_row", file_rel, why + "; row dropped", line=number))
            continue
        numbers.append(coords)
        meta.append((number, tokens[8], difficult != 0))
    if not numbers:
        return out
    quads = np.array(numbers, dtype=np.float64)
    xs, ys = quads[:, 0::2], quads[:, 1::2]
    x0, x1, y0, y1 = xs.min(1), xs.max(1), ys.min(1), ys.max(1)
    upright = ((xs == x0[:, None]) | (xs == x1[:, None])).all(1) & (
        (ys == y0[:, None]) | (ys == y1[:, None])
    ).all(1)
    out.info["oriented"] = int((~upright).sum())
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).tolist()
    out.rows = [(n, cls, *box, ignore, ()) for (n, cls, ignore), box in zip(meta, boxes, strict=True)]
    return out


def _dota_row(tokens: list[str]) -> tuple[str, tuple[float, ...], int]:
    """``(why it is not a DOTA row or "", 8 coordinates, difficult)``."""
    n = len(tokens)
    if n not in (9, 10):
        return f"{n} fields; expected 9 or 10 (x1 y1 x2 y2 x3 y3 x4 y4 category [difficult])", (), 0
    try:
        coords = tuple(map(float, tokens[:8]))
    except ValueError:
        bad = next(t for t in tokens[:8] if not is_number(t))
        return f"coordinate {bad[:20]!r} is not a number", (), 0
    if is_number(tokens[8]):
        return f"category {tokens[8][:20]!r} is a number, not a class name", (), 0
    if n == 9:
        return "", coords, 0
    try:
        return "", coords, int(tokens[9])
    except ValueError:
        return f"difficult {tokens[9][:20]!r} is not an integer (0 or 1)", (), 0


# --------------------------------------------------------------------------- load


def declared_classes(names: set[str]) -> tuple[str, dict[int, str] | None]:
    """The smallest DOTA class list holding every name, or ``None`` (sorted names) for others."""
    for version, listed in CLASS_LISTS:
        if names <= set(listed):
            return version, dict(enumerate(listed))
    return "", None


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read a DOTA dataset into the canonical ``Dataset``; defects become ``LoadIssue``s."""
    limits = limits or LimitsConfig()
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder; a DOTA dataset is a folder with labelTxt/ and images/.")
    notes: list[str] = []
    pairs = discover(path, notes)
    groups = [(pair, label_files(pair, notes, path)) for pair in pairs]
    files = [f for _, fs in groups for f in fs]
    if not files:
        raise DatasetError(
            f"No DOTA label files at {path}: expected labelTxt/*.txt (or labelTxt-v1.0/ ...) beside "
            "images/, or split folders (train/, val/) holding them."
        )
    parsed = parse_files(path, files, parse_dota, limits, progress, workers)
    if first := first_malformed(parsed):
        raise DatasetError(
            f"None of the {len(files)} label files at {path} holds a DOTA row "
            f"(first problem, {first.where}: {first.reason})."
        )
    index = ImageIndex.of(path)
    records, image_of = build_records(path, index, groups, parsed, image_ext=".png")
    version, classes = declared_classes(set(records.box_class))
    oriented = sum(int(p.info.get("oriented", 0)) for p in parsed)
    records.notes += notes
    records.notes.append(
        f"{oriented} of {len(records.box_class)} oriented boxes (4 points) are not axis-aligned; every box "
        "is the axis-aligned bounding box of its 4 points (DOTA Task 2), larger than a tilted object."
    )
    gsd = np.full(len(records.img_name), np.nan)
    for image, p in zip(image_of, parsed, strict=True):
        if "gsd" in p.info:
            gsd[image] = float(p.info["gsd"])  # type: ignore[arg-type]
    known = gsd[np.isfinite(gsd)]  # ground sample distance, metres per pixel
    meta = {
        "label_dirs": [relpath(pair.labels, path) for pair in pairs],
        "class_list": version or None,
        "label_files": len(files),
        "oriented_boxes": oriented,
        "difficult_boxes": int(sum(records.box_ignore)),
        "gsd_images": len(known),
        "gsd_median_m": float(np.median(known)) if len(known) else None,
    }
    dataset = to_dataset(
        path,
        FORMAT,
        records,
        imgsz=imgsz,
        classes=classes,
        images=index,
        progress=progress,
        workers=workers,
        meta=meta,
    )
    return replace(dataset, images=dataset.images.assign(gsd=gsd))
