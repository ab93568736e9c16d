"""YOLO loader: the Ultralytics ``data.yaml`` layout and the plain ``images/`` + ``labels/`` layout.

Paths follow Ultralytics: a split entry in ``data.yaml`` is a folder, a ``.txt`` list of image
paths, or a list of those, relative to ``path`` (itself relative to the yaml's folder) or to the
yaml's folder; an entry ``../x`` that does not exist is tried as ``x`` (Roboflow exports). The
label of ``.../images/a/b.jpg`` is ``.../labels/a/b.txt`` (``img2label_paths``). Images found
under other ``images/`` folders that no split covers are audited too, under their folder's name,
so a typo in ``data.yaml`` never hides data from the audit.

Rows are parsed for all label files at once in :mod:`sodaudit.loaders.yolo_rows`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.imageinfo import ImageHeader, is_image_file, read_headers
from sodaudit.loaders.base import (
    Detection,
    ProgressFn,
    TooLarge,
    counted,
    read_limited,
    relpath,
)
from sodaudit.loaders.yolo_rows import (
    KIND_BOX,
    KIND_SEGMENT,
    ParsedRows,
    attach,
    concat_rows,
    parse_rows,
    row_issues,
)
from sodaudit.pool import map_chunks

FORMAT = "yolo"
YAML_NAMES = ("data.yaml", "dataset.yaml")
SPLIT_KEYS = ("train", "val", "test", "minival")
NOT_SPLIT_KEYS = frozenset(("path", "names", "nc", "kpt_shape", "flip_idx", "download", "yaml_file"))
"""Top-level keys that are never split paths (other keys count when they hold path strings)."""
CLASS_LIST_FILES = ("classes.txt", "obj.names")
DEFAULT_SPLIT = "all"
_DETECT_YAML_BYTES = 1 << 20
_LOAD_YAML_BYTES = 16 << 20
_SCAN_DEPTH = 3
"""How deep below the root to look for ``images``/``labels`` folders (``a/train/images``)."""


# --------------------------------------------------------------------------- yaml


def _read_yaml(path: Path, max_bytes: int) -> tuple[object, str | None]:
    """The parsed yaml, or ``None`` and one sentence saying why it could not be read."""
    try:
        if path.stat().st_size > max_bytes:
            return None, f"larger than {max_bytes >> 20} MB"
        return yaml.safe_load(path.read_text(encoding="utf-8", errors="replace")), None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        return None, f"YAML syntax error{where}: {problem}"
    except (OSError, RecursionError, ValueError, TypeError) as err:
        return None, f"cannot be read: {err}"


def _has_classes(data: object) -> bool:
    return isinstance(data, dict) and ("names" in data or "nc" in data)


def _yaml_candidates(folder: Path) -> Iterator[Path]:
    """``data.yaml``/``dataset.yaml`` first, then other top-level yaml files."""
    for name in YAML_NAMES:
        if (folder / name).is_file():
            yield folder / name
    try:
        others = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in (".yaml", ".yml") and p.name not in YAML_NAMES and p.is_file()
        )
    except OSError:
        others = []
    yield from others


def _evidence(name: str, data: dict) -> str:
    splits = [k for k in data if k in SPLIT_KEYS and data[k]]
    what = "names" if "names" in data else "nc"
    return f"{name} with {what}" + (f" and {'/'.join(splits)} entries" if splits else "")


def _pair_folders(root: Path) -> list[str]:
    """``images/`` + ``labels/`` pairs directly in ``root`` or one split folder down."""
    found = []
    if (root / "images").is_dir() and (root / "labels").is_dir():
        found.append("images/ + labels/")
    try:
        children = sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith("."))
    except OSError:
        children = []
    for child in children:
        if (child / "images").is_dir() and (child / "labels").is_dir():
            found.append(f"{child.name}/images + {child.name}/labels")
    return found


def detect(path: Path) -> Detection | None:
    """Claim a YOLO ``*.yaml`` with names, or a folder with one, or ``images/`` + ``labels/``."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            return None
        data, _ = _read_yaml(path, _DETECT_YAML_BYTES)
        return Detection(FORMAT, path.parent, _evidence(path.name, data)) if _has_classes(data) else None
    if not path.is_dir():
        return None
    for candidate in _yaml_candidates(path):
        data, _ = _read_yaml(candidate, _DETECT_YAML_BYTES)
        if _has_classes(data):
            return Detection(FORMAT, path, _evidence(candidate.name, data))
    pairs = _pair_folders(path)
    if pairs:
        return Detection(FORMAT, path, ", ".join(pairs) + " folders")
    return None


# --------------------------------------------------------------------------- file system


def img2label(image: str) -> str:
    """Label path of an image, exactly as Ultralytics derives it."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return sb.join(image.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt"


def _swap_dir(folder: str, old: str, new: str) -> str:
    """``folder`` with its last ``old`` component replaced by ``new`` (a folder-level img2label)."""
    sa, sb = f"{os.sep}{old}{os.sep}", f"{os.sep}{new}{os.sep}"
    return sb.join((folder + os.sep).rsplit(sa, 1)).rstrip(os.sep)


def _rel(path: str, root: Path | str) -> str:
    """``relpath`` with a fast path for the common case, a name under the root (many calls)."""
    prefix = str(root).rstrip(os.sep) + os.sep
    if path.startswith(prefix) and os.sep == "/":
        return path[len(prefix) :]
    return relpath(path, Path(root))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _walk(folder: str, prune: frozenset[str] = frozenset()) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` that follows each directory symlink at most once and skips hidden names
    (as Ultralytics' glob does). Directories named in ``prune`` are yielded but not entered."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield dirpath, dirnames, [f for f in filenames if not f.startswith(".")]
        dirnames[:] = [d for d in dirnames if d not in prune]


def _images_under(folder: str, recursive: bool = True) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in _walk(folder):
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if is_image_file(f))
        if not recursive:
            dirnames[:] = []
    return out


def _label_files_under(folder: str) -> list[str]:
    out = []
    for dirpath, _, filenames in _walk(folder):
        out.extend(
            os.path.join(dirpath, f)
            for f in sorted(filenames)
            if f.endswith(".txt") and f not in CLASS_LIST_FILES
        )
    return out


class _Listings:
    """One directory listing per folder, cached: label existence and image stems."""

    def __init__(self) -> None:
        self._names: dict[str, set[str]] = {}
        self._stems: dict[str, set[str]] = {}

    def names(self, folder: str) -> set[str]:
        if folder not in self._names:
            try:
                with os.scandir(folder) as it:
                    self._names[folder] = {e.name for e in it if not e.name.startswith(".")}
            except OSError:
                self._names[folder] = set()
        return self._names[folder]

    def has_file(self, path: str) -> bool:
        folder, name = os.path.split(path)
        return name in self.names(folder)

    def image_stems(self, folder: str) -> set[str]:
        if folder not in self._stems:
            self._stems[folder] = {n.rsplit(".", 1)[0] for n in self.names(folder) if is_image_file(n)}
        return self._stems[folder]


# --------------------------------------------------------------------------- layout


@dataclass
class _Layout:
    """Everything found on disk before any label is read."""

    root: str
    images: list[tuple[str, str]] = field(default_factory=list)  # (path, split)
    covered: list[str] = field(default_factory=list)  # real folders that the yaml's splits cover
    label_dirs: list[str] = field(default_factory=list)  # folders scanned for orphan labels
    names: dict[int, str] | None = None
    pose: bool = False
    pose_values: int | None = None
    yaml_rel: str = ""
    issues: list[LoadIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _parse_names(data: dict) -> tuple[dict[int, str] | None, str | None]:
    names, nc = data.get("names"), data.get("nc")
    if names is None:
        if isinstance(nc, int) and not isinstance(nc, bool) and nc >= 0:
            return {i: str(i) for i in range(nc)}, None
        return None, "no names list and no usable nc"
    if isinstance(names, list):
        parsed = {i: str(n) for i, n in enumerate(names)}
    elif isinstance(names, dict):
        parsed = {}
        for key, value in names.items():
            if isinstance(key, bool) or not (isinstance(key, int) or str(key).strip().isdigit()):
                return None, f"names key {key!r} is not a class id"
            parsed[int(key)] = str(value)
    else:
        return None, f"names is a {type(names).__name__}, not a list or a mapping of id to name"
    return dict(sorted(parsed.items())), None


def _split_entries(data: dict) -> list[tuple[str, str]]:
    """(split, entry) pairs: standard keys always, other keys when they hold path strings."""
    out = []
    for key, value in data.items():
        if not isinstance(key, str) or key in NOT_SPLIT_KEYS or value is None:
            continue
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) for v in values):
            continue
        out.extend((key, v) for v in values)
    return out


def _resolve(base: Path, entry: str) -> Path:
    """Ultralytics: ``base / entry``, and ``base / entry[3:]`` when ``../entry`` does not exist."""
    candidate = Path(entry) if Path(entry).is_absolute() else base / entry
    candidate = Path(os.path.normpath(candidate))
    if not candidate.exists() and entry.startswith("../"):
        stripped = Path(os.path.normpath(base / entry[3:]))
        if stripped.exists():
            return stripped
    return candidate


def _read_list(list_file: Path, allowed: list[str], layout: _Layout) -> list[str]:
    """Image paths of an Ultralytics list file; entries that leave the dataset are skipped."""
    rel = relpath(list_file, Path(layout.root))
    try:
        lines = list_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        layout.issues.append(LoadIssue("load.unreadable_file", rel, f"cannot read split list: {err}"))
        return []
    out = []
    for number, raw in enumerate(lines, start=1):
        entry = raw.strip()
        if not entry or not is_image_file(entry):
            continue
        full = entry if os.path.isabs(entry) else os.path.join(list_file.parent, entry)
        full = os.path.normpath(full)
        if not os.path.isabs(entry) and not entry.startswith("./") and not os.path.exists(full):
            full = os.path.normpath(os.path.join(allowed[-1], entry))  # relative to `path`
        if not any(_within(full, a) for a in allowed):  # lexical: `..` and absolute escapes
            layout.issues.append(
                LoadIssue(
                    "load.path_outside_root",
                    rel,
                    f"entry {entry!r} points outside the dataset folder; skipped",
                    line=number,
                )
            )
            continue
        out.append(full)  # a listed image that does not exist gets status "missing"
    return out


def _from_yaml(yaml_path: Path, data: dict, layout: _Layout) -> None:
    """Splits of a well-formed data.yaml into ``layout.images``; missing entries become issues."""
    yaml_dir = yaml_path.parent
    base = yaml_dir
    if isinstance(data.get("path"), str) and data["path"].strip():
        given = Path(data["path"])
        candidate = Path(os.path.normpath(given if given.is_absolute() else yaml_dir / given))
        if candidate.is_dir():
            base = candidate
        else:
            layout.notes.append(
                f"{layout.yaml_rel}: path {data['path']!r} not found; split paths are resolved "
                "from the yaml's folder."
            )
    allowed = [os.path.normpath(layout.root), os.path.normpath(base)]
    for split, entry in _split_entries(data):
        target = _resolve(base, entry)
        if not target.exists():
            if split in SPLIT_KEYS:
                shown = relpath(target, Path(layout.root))
                layout.issues.append(
                    LoadIssue(
                        "load.split_path_missing",
                        layout.yaml_rel,
                        f"{entry!r} resolves to {shown}, which does not exist",
                        key=split,
                        severity="error",
                    )
                )
            continue
        if target.is_dir():
            layout.covered.append(os.path.realpath(target))
            paths = _images_under(str(target))
            layout.label_dirs.append(_swap_dir(str(target), "images", "labels"))
        elif is_image_file(target.name):
            paths = [str(target)]
        elif split in SPLIT_KEYS or target.suffix == ".txt":
            paths = _read_list(target, allowed, layout)
            layout.covered.extend({os.path.realpath(os.path.dirname(p)) for p in paths})
            layout.label_dirs.extend({os.path.dirname(img2label(p)) for p in paths})
        else:
            continue
        if not _within(str(target), allowed[0]):
            layout.notes.append(f"Split {split!r} is read from {target}, outside the dataset folder.")
        layout.images.extend((p, split) for p in paths)

    kpt = data.get("kpt_shape")
    if kpt is not None:
        layout.pose = True
        ok = (
            isinstance(kpt, list)
            and len(kpt) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in kpt)
            and kpt[1] in (2, 3)
        )
        if ok:
            layout.pose_values = 5 + kpt[0] * kpt[1]
        else:
            layout.issues.append(
                LoadIssue(
                    "load.bad_yaml",
                    layout.yaml_rel,
                    f"kpt_shape {kpt!r} is not [keypoints, 2 or 3]; pose rows read as a box "
                    "and any keypoints",
                    key="kpt_shape",
                )
            )


def _structure(root: str) -> tuple[list[str], list[str]]:
    """Folders named ``images`` and ``labels`` under ``root`` (their contents are not walked)."""
    images, labels = [], []
    for dirpath, dirnames, _ in _walk(root, prune=frozenset({"images", "labels"})):
        images.extend(os.path.join(dirpath, d) for d in dirnames if d == "images")
        labels.extend(os.path.join(dirpath, d) for d in dirnames if d == "labels")
        if os.path.relpath(dirpath, root).count(os.sep) + 1 >= _SCAN_DEPTH:
            dirnames[:] = []  # a yaml's folder may be a large tree that is not the dataset
    return images, labels


def _units(folder: str, covered: list[str]) -> list[tuple[str, bool]]:
    """(folder, recursive) pieces of an images folder that no yaml split covers."""
    real = os.path.realpath(folder)
    if any(_within(real, c) for c in covered):
        return []
    if not any(_within(c, real) for c in covered):
        return [(folder, True)]
    out = [(folder, False)]
    for dirpath, dirnames, _ in _walk(folder):
        out.extend(u for d in dirnames for u in _units(os.path.join(dirpath, d), covered))
        dirnames[:] = []
    return out


def _split_of(image: str, images_dir: str, root: str) -> str:
    """Plain layout: ``<split>/images/...`` -> split; ``images/<split>/...`` -> split; else all."""
    parent = os.path.dirname(images_dir)
    if os.path.normpath(parent) != os.path.normpath(root):
        return os.path.basename(parent)
    inner = os.path.relpath(image, images_dir).split(os.sep)
    return inner[0] if len(inner) > 1 else DEFAULT_SPLIT


def _scan_plain(layout: _Layout) -> None:
    """Images under ``images/`` folders that no yaml split covers (all of them without a yaml)."""
    root = layout.root
    image_dirs, label_dirs = _structure(root)
    layout.label_dirs.extend(label_dirs)
    for images_dir in image_dirs:
        layout.label_dirs.append(_swap_dir(images_dir, "images", "labels"))
        for unit, recursive in _units(images_dir, layout.covered):
            paths = _images_under(unit, recursive)
            found = [(p, _split_of(p, images_dir, root)) for p in paths]
            layout.images.extend(found)
            if found and layout.yaml_rel:
                splits = sorted({s for _, s in found})
                layout.notes.append(
                    f"{relpath(unit, Path(root))}/: {len(found)} images that no split in "
                    f"{layout.yaml_rel} covers, audited as split {', '.join(map(repr, splits))}."
                )


def _class_list(root: str, label_dirs: list[str]) -> dict[int, str] | None:
    """Names from ``classes.txt``/``obj.names`` in the root or a labels folder, one per line."""
    for folder in dict.fromkeys([root, *label_dirs]):
        for name in CLASS_LIST_FILES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as fh:
                    names = [line.strip() for line in fh if line.strip()]
                return dict(enumerate(names))
    return None


def _discover(path: Path) -> _Layout:
    if path.is_file():
        root, yaml_path = Path(os.path.abspath(path.parent)), Path(os.path.abspath(path))
    else:
        root, yaml_path = Path(os.path.abspath(path)), None
        for candidate in _yaml_candidates(root):
            if candidate.name in YAML_NAMES:
                yaml_path = candidate
                break
            data, _ = _read_yaml(candidate, _DETECT_YAML_BYTES)
            if _has_classes(data):
                yaml_path = candidate
                break
    layout = _Layout(root=str(root))
    if yaml_path is not None:
        rel = relpath(yaml_path, root)
        data, error = _read_yaml(yaml_path, _LOAD_YAML_BYTES)
        names = None
        if error is None and not isinstance(data, dict):
            error = f"holds a {type(data).__name__}, not a mapping"
        if error is None:
            names, error = _parse_names(data)
        if error is not None:
            layout.issues.append(
                LoadIssue(
                    "load.bad_yaml",
                    rel,
                    f"{error}; reading images/ + labels/ folders instead",
                    severity="error",
                )
            )
        else:
            layout.yaml_rel, layout.names = rel, names
            nc = data.get("nc")
            if isinstance(nc, int) and "names" in data and nc != len(names):
                layout.issues.append(
                    LoadIssue(
                        "load.bad_yaml",
                        rel,
                        f"nc is {nc} but names holds {len(names)}; using names",
                        key="nc",
                    )
                )
            _from_yaml(yaml_path, data, layout)
    _scan_plain(layout)
    if layout.names is None:
        layout.names = _class_list(str(root), layout.label_dirs)
    return layout


# --------------------------------------------------------------------------- load


@dataclass
class _Labels:
    """Images (deduplicated within a split), their label files, and orphan label files."""

    images: list[tuple[str, str]]
    label_of: list[str]
    has_label: list[bool]
    used: list[str]
    orphans: list[str]


def _match_labels(layout: _Layout) -> _Labels:
    listings = _Listings()
    images = list(dict.fromkeys(layout.images))
    label_of = [img2label(p) for p, _ in images]
    has_label = [listings.has_file(lab) for lab in label_of]
    used = sorted({lab for lab, ok in zip(label_of, has_label, strict=True) if ok})
    used_set = set(used)
    candidates = {f for d in dict.fromkeys(layout.label_dirs) for f in _label_files_under(d)}
    orphans, unlisted = [], 0
    for label in sorted(candidates - used_set):
        folder, name = os.path.split(label)
        if name.rsplit(".", 1)[0] in listings.image_stems(_swap_dir(folder, "labels", "images")):
            unlisted += 1  # its image exists but no split lists it: not an orphan, not read
        else:
            orphans.append(label)
    if unlisted:
        layout.notes.append(f"{unlisted} label files belong to images that no split lists; not read.")
    return _Labels(images, label_of, has_label, used, orphans)


def _read_labels_and_headers(
    files: list[str],
    image_paths: list[str],
    root: Path,
    issues: list[LoadIssue],
    limits: LimitsConfig,
    layout: _Layout,
    progress: ProgressFn | None,
    workers: int = 1,
) -> tuple[ParsedRows, list[ImageHeader]]:
    """Every label file read and parsed, and every image header read; with ``workers`` != 1 in
    a process pool, by contiguous chunks (each parses its own files: the same rows as one parse
    of all of them)."""
    read = partial(
        _read_chunk,
        root=root,
        limit_mb=limits.max_label_file_mb,
        pose=layout.pose,
        pose_values=layout.pose_values,
    )
    label_chunks = map_chunks(read, files, workers=workers, what="reading label files", progress=progress)
    for _, _, chunk_issues in label_chunks:
        issues += chunk_issues
    rows = concat_rows([r for r, _, _ in label_chunks], [n for _, n, _ in label_chunks])
    return rows, read_headers(image_paths, progress, workers=workers)


def _read_chunk(
    files: Sequence[str],
    progress: ProgressFn | None,
    *,
    root: Path,
    limit_mb: float,
    pose: bool,
    pose_values: int | None,
) -> tuple[ParsedRows, int, list[LoadIssue]]:
    """Rows of some label files (``b""`` for one that cannot be read), their count, and issues."""
    blobs, issues = [], []
    for label in counted(files, "reading label files", progress) if progress else files:
        try:
            blobs.append(read_limited(label, limit_mb, "limits.max_label_file_mb"))
        except TooLarge as err:
            issues.append(LoadIssue("load.file_too_large", _rel(label, root), str(err)))
            blobs.append(b"")
        except OSError as err:
            issues.append(LoadIssue("load.unreadable_file", _rel(label, root), f"cannot read: {err}"))
            blobs.append(b"")
    return parse_rows(blobs, pose=pose, pose_values=pose_values), len(files), issues


def _images_table(
    found: _Labels, headers: list[ImageHeader], root: Path, issues: list[LoadIssue]
) -> pd.DataFrame:
    """One row per image with its size from the header; a missing label file is an issue."""
    paths = [p for p, _ in found.images]
    sources = []
    for p, lab, ok, header in zip(paths, found.label_of, found.has_label, headers, strict=True):
        sources.append(_rel(lab, root) if ok else "")
        if not ok and header.status != "missing":  # a missing image is reported where listed
            reason = f"no label file {_rel(lab, root)}; the image counts as background"
            issues.append(LoadIssue("load.label_missing", _rel(p, root), reason, severity="info"))
    return pd.DataFrame(
        {
            "image_id": np.arange(len(paths), dtype=np.int64),
            "file_name": [_rel(p, root) for p in paths],
            "path": [os.path.abspath(p) for p in paths],
            "split": [s for _, s in found.images],
            "width": [h.width for h in headers],
            "height": [h.height for h in headers],
            "status": [h.status for h in headers],
            "exif_rotated": [h.exif_rotated for h in headers],
            "source_file": sources,
        }
    )


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read a YOLO dataset (folder or its yaml) into the canonical ``Dataset``.

    ``workers``: processes that read label files and image headers (1 = this process only,
    0 = one per core); the result is the same either way."""
    limits = limits or LimitsConfig()
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"No such file or folder: {path}.")
    layout = _discover(path)
    root, issues, notes = Path(layout.root), layout.issues, layout.notes
    found = _match_labels(layout)
    if not found.images and not found.used and not found.orphans:
        raise DatasetError(
            f"No YOLO images or label files found at {path}: expected a data.yaml with split "
            "paths, or images/ + labels/ folders."
        )
    files = found.used + found.orphans
    n_used = len(found.used)
    rows, headers = _read_labels_and_headers(
        files, [p for p, _ in found.images], root, issues, limits, layout, progress, workers
    )
    file_rel = [_rel(f, root) for f in files]
    frame = _images_table(found, headers, root, issues)

    # Boxes: each row of a used label file, once per image that uses the file.
    index = {f: i for i, f in enumerate(found.used)}
    with_label = [i for i, ok in enumerate(found.has_label) if ok]
    pair_file = np.array([index[found.label_of[i]] for i in with_label], dtype=np.int64)
    row_idx, image_id = attach(rows, pair_file, np.array(with_label, dtype=np.int64), len(files))
    width = frame["width"].to_numpy()[image_id]
    height = frame["height"].to_numpy()[image_id]
    boxes = pd.DataFrame(
        {
            "image_id": image_id,
            "class_id": rows.class_id[row_idx],
            "x": rows.left[row_idx] * width,
            "y": rows.top[row_idx] * height,
            "w": rows.width[row_idx] * width,
            "h": rows.height[row_idx] * height,
            "source_file": pd.Categorical.from_codes(rows.file[row_idx], file_rel) if files else [],
            "source_line": rows.line[row_idx],
        }
    )

    attached = rows.file < n_used
    names = layout.names
    if names is None:
        names = {int(c): str(c) for c in np.unique(rows.class_id[attached])}
    issues.extend(row_issues(rows, n_used, file_rel, names))
    row_counts = np.bincount(rows.file, minlength=len(files))
    bounds = np.searchsorted(rows.file, np.arange(len(files) + 1))  # rows are in file order
    for i in range(n_used, len(files)):
        folder, name = os.path.split(files[i])
        image = _rel(os.path.join(_swap_dir(folder, "labels", "images"), name[:-4]), root)
        ids = np.unique(rows.class_id[bounds[i] : bounds[i + 1]])
        extra = [int(c) for c in ids if int(c) not in names] if layout.names is not None else []
        unknown = f" (class ids {', '.join(map(str, extra))} not in names)" if extra else ""
        reason = f"no image {image}.*; its {row_counts[i]} rows{unknown} are not boxes"
        issues.append(LoadIssue("load.orphan_label", file_rel[i], reason))

    segment = attached & (rows.kind == KIND_SEGMENT)
    mixed = np.intersect1d(rows.file[segment], rows.file[attached & (rows.kind == KIND_BOX)])
    if segment.any():
        notes.append(
            f"{int(segment.sum())} label rows are polygons (segment format); their bounding boxes are used."
        )
    if len(mixed):
        notes.append(
            f"{len(mixed)} label files mix box rows and polygon rows; Ultralytics reads every row "
            "of such a file as a polygon, which turns its 5-value box rows into wrong boxes."
        )
    meta = {
        "yaml": layout.yaml_rel,
        "label_files": n_used,
        "orphan_label_files": len(found.orphans),
        "orphan_rows": int(row_counts[n_used:].sum()),
        "segment_rows": int(segment.sum()),
        "mixed_label_files": len(mixed),
        "pose": layout.pose,
    }
    return Dataset.build(
        root=root,
        format=FORMAT,
        boxes=boxes,
        images=frame,
        classes=names,
        issues=issues,
        notes=notes,
        imgsz=imgsz,
        meta=meta,
    )
