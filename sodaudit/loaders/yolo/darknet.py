"""Darknet-family YOLO layouts, found on disk before any label is read.

- ``obj.data`` + ``obj.names`` + split lists: the Darknet layout (AlexeyAB/darknet README, "How to
  train to detect your custom objects": ``classes = 2``, ``train = data/train.txt``, ``valid =
  data/test.txt``, ``names = data/obj.names``, ``backup = backup/``; read like ``read_data_cfg``
  in src/option_list.c: ``key = value`` lines, ``#`` and ``;`` comments). CVAT's "YOLO 1.1" export
  is this layout (cvat/apps/dataset_manager/formats/yolo.py hands it to datumaro's
  ``YoloConverter``: images and labels side by side in ``obj_train_data/``, ``obj_valid_data/``,
  lists of ``data/obj_train_data/<name>``, where ``data/`` is darknet's folder, not the export's).
- Roboflow's "YOLO Darknet" export: ``train/``, ``valid/``, ``test/``, each with the images, their
  ``.txt`` labels and ``_darknet.labels`` (the class names) side by side; each folder is a split.
- A folder with ``obj.names`` and images + ``.txt`` labels side by side, without ``obj.data``.

Paths in ``obj.data`` and in the lists often come from another machine (``/content/...``,
``data/obj_train_data/x.jpg``, ``C:\\...``): each is tried as written, relative to the dataset
root and to the list's folder, then by file name under the dataset (an index built once; of
several files with that name, the one sharing the longest path tail). Nothing outside the root is
read. Labels sit beside their image (``darknet_label``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sodaudit.dataset import LoadIssue
from sodaudit.imageinfo import is_image_file
from sodaudit.loaders.base import TooLarge, open_regular, read_limited, relpath
from sodaudit.loaders.yolo.files import Budget, Listings, darknet_label, images_under, walk, within
from sodaudit.loaders.yolo.layout import DEFAULT_SPLIT, Layout
from sodaudit.loaders.yolo.textfiles import read_names_file

DATA_NAME = "obj.data"
NAMES_NAME = "obj.names"
ROBOFLOW_NAMES = "_darknet.labels"
NOT_SPLIT_KEYS = frozenset(("classes", "names", "labels", "backup", "eval", "results", "map", "points"))
"""``obj.data`` keys that are never split lists (darknet reads ``train`` and ``valid``; exports
add ``test``)."""
SPLIT_ORDER = ("train", "valid", "val", "test")
_DATA_BYTES = 1 << 20
_LIST_BYTES = 64 << 20
_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:)?/")
_SUBSET_FOLDER = re.compile(r"^obj_(.+)_data$")
KIND_DATA, KIND_ROBOFLOW, KIND_NAMES = "darknet", "roboflow-darknet", "darknet-names"


# --------------------------------------------------------------------------- obj.data


def parse_data(path: Path, rel: str) -> tuple[dict[str, tuple[str, int]], list[LoadIssue]]:
    """``key -> (value, line)`` of a darknet ``.data`` file; a line without ``=`` is an issue
    (darknet prints "Config file error line N" and skips it)."""
    try:
        text = read_limited(path, _DATA_BYTES / (1 << 20), "a .data file's 1 MB bound").decode(
            "utf-8", errors="replace"
        )
    except TooLarge:
        return {}, [LoadIssue("load.file_too_large", rel, "larger than 1 MB; not a darknet .data file")]
    except OSError as err:
        return {}, [LoadIssue("load.unreadable_file", rel, f"cannot read: {err}")]
    options: dict[str, tuple[str, int]] = {}
    issues = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            reason = f"line {line[:40]!r} is not 'key = value'; darknet skips it"
            issues.append(LoadIssue("load.bad_yaml", rel, reason, line=number))
            continue
        options[key.strip()] = (value.strip(), number)
    return options, issues


def _is_data_file(path: Path) -> bool:
    """A ``.data`` file that names classes or class names (not some other ``.data`` blob)."""
    try:
        fd, info = open_regular(path)  # a FIFO named obj.data is refused, never waited on
        try:
            head = os.read(fd, 4096).decode("utf-8", errors="replace") if info.st_size <= _DATA_BYTES else ""
        finally:
            os.close(fd)
    except OSError:
        return False
    return re.search(r"^\s*(classes|names)\s*=", head, re.MULTILINE) is not None


def find_data_file(root: Path) -> Path | None:
    """``obj.data`` in ``root``, or another top-level ``*.data`` that names classes."""
    if _is_data_file(root / DATA_NAME):
        return root / DATA_NAME
    try:
        others = sorted(p for p in root.glob("*.data") if p.name != DATA_NAME)
    except OSError:
        return None
    return next((p for p in others if _is_data_file(p)), None)


def roboflow_folders(root: Path) -> list[Path]:
    """Subfolders holding ``_darknet.labels``: train, valid, test first."""
    try:
        found = [p for p in root.iterdir() if p.is_dir() and (p / ROBOFLOW_NAMES).is_file()]
    except OSError:
        return []
    rank = {name: i for i, name in enumerate(SPLIT_ORDER)}
    return sorted(found, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def _has_pairs(folder: Path) -> bool:
    """An image with a ``.txt`` of the same stem beside it, in ``folder`` or one level down."""
    listings = Listings()
    folders = [str(folder)]
    try:
        folders += sorted(str(p) for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return False
    for current in folders:
        names = listings.names(current)
        if any(is_image_file(n) and n.rsplit(".", 1)[0] + ".txt" in names for n in names):
            return True
    return False


def split_keys(options: dict[str, tuple[str, int]]) -> list[str]:
    """Keys of a ``.data`` file that name split lists: train/valid/test, or a ``.txt``/``.list``
    value under another key (classifier ``.data`` files also hold ``top = 5`` and the like)."""
    return [
        k
        for k, (v, _) in options.items()
        if k not in NOT_SPLIT_KEYS and (k in SPLIT_ORDER or v.lower().endswith((".txt", ".list")))
    ]


def describe_data(data: Path) -> str:
    """Detection evidence of a darknet ``.data`` file."""
    options, _ = parse_data(data, data.name)
    shown = ", ".join(f"{k} = {v}" for k, (v, _) in options.items() if k in ("classes", "names"))
    splits = split_keys(options)
    cvat = " (CVAT YOLO 1.1 export)" if any(data.parent.glob("obj_*_data")) else ""
    return f"Darknet {data.name}{cvat}: {shown or 'no classes'}" + (
        f", {'/'.join(splits)} lists" if splits else ""
    )


def is_data_file(path: Path) -> bool:
    return path.suffix.lower() == ".data" and _is_data_file(path)


def detect_folder(root: Path, *, names_only: bool) -> tuple[str, str] | None:
    """(kind, evidence) of a Darknet-family folder: ``obj.data``, then Roboflow's
    ``_darknet.labels`` folders, then (``names_only``) ``obj.names`` with side-by-side pairs."""
    data = find_data_file(root)
    if data is not None:
        return KIND_DATA, describe_data(data)
    folders = roboflow_folders(root)
    if folders:
        shown = ", ".join(f"{p.name}/" for p in folders)
        return KIND_ROBOFLOW, f"Roboflow YOLO Darknet export: {shown} with {ROBOFLOW_NAMES}"
    if names_only and (root / NAMES_NAME).is_file() and _has_pairs(root):
        return KIND_NAMES, f"Darknet {NAMES_NAME} with images and .txt labels side by side"
    return None


# --------------------------------------------------------------------------- path resolution


def _tail(a: list[str], b: list[str]) -> int:
    """How many trailing path components ``a`` and ``b`` share."""
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


class Resolver:
    """Paths written on another machine, found in this dataset: as written, then by file name."""

    def __init__(self, root: str, budget: Budget | None = None) -> None:
        self.root = root
        self.budget = budget if budget is not None else Budget()
        self.listings = Listings()
        self._index: dict[str, list[str]] | None = None
        self.ambiguous = 0

    def index(self) -> dict[str, list[str]]:
        """Every file under the root by name, from one walk, built on first use."""
        if self._index is None:
            self._index = {}
            for dirpath, _, filenames in walk(self.root, budget=self.budget):
                for name in filenames:
                    self._index.setdefault(name, []).append(os.path.join(dirpath, name))
        return self._index

    def resolve(self, entry: str, bases: list[str]) -> tuple[str | None, bool]:
        """(path inside the root or None, whether it was found by file name)."""
        text = entry.strip().replace("\\", "/")
        if not text.strip("/."):
            return None, False
        if not _ABSOLUTE.match(text):
            for base in bases:
                candidate = os.path.normpath(os.path.join(base, text))
                if within(candidate, self.root) and self.listings.has_file(candidate):
                    return candidate, False
        elif os.sep == "/" and text.startswith("/"):
            candidate = os.path.normpath(text)
            if within(candidate, self.root) and self.listings.has_file(candidate):
                return candidate, False
        parts = [p for p in text.split("/") if p not in ("", ".", "..")]
        hits = self.index().get(parts[-1], []) if parts else []
        if not hits:
            return None, False
        scores = [_tail(parts, os.path.relpath(h, self.root).split(os.sep)) for h in hits]
        best = max(scores)
        self.ambiguous += scores.count(best) > 1
        return hits[scores.index(best)], True


def escapes(entry: str, root: str) -> bool:
    """An absolute path, or a relative one that leaves the root (``..``)."""
    text = entry.strip().replace("\\", "/")
    return bool(_ABSOLUTE.match(text)) or not within(os.path.normpath(os.path.join(root, text)), root)


# --------------------------------------------------------------------------- discovery


def split_of_folder(name: str) -> str:
    """``obj_train_data`` -> ``train`` (CVAT/datumaro subset folders); other names as they are."""
    match = _SUBSET_FOLDER.match(name)
    return match.group(1) if match else name


def read_names(path: str, rel: str, layout: Layout) -> dict[int, str] | None:
    """One class name per line (darknet ``get_labels``); blank lines are skipped. Not UTF-8:
    read as Windows-1252, with a ``load.encoding`` issue per line that is not."""
    names, issues = read_names_file(path, rel)
    layout.issues.extend(issues)
    return names


def _read_list(list_path: str, split: str, resolver: Resolver, layout: Layout) -> list[tuple[str, str]]:
    """Images of a darknet list file; entries found only by file name are counted in a note."""
    root = layout.root
    rel = relpath(list_path, Path(root))
    try:
        text = read_limited(list_path, _LIST_BYTES / (1 << 20), "a split list's 64 MB bound").decode(
            "utf-8-sig", errors="replace"
        )
    except TooLarge as err:
        layout.issues.append(LoadIssue("load.file_too_large", rel, f"split list not read: {err}"))
        return []
    except OSError as err:
        layout.issues.append(LoadIssue("load.unreadable_file", rel, f"cannot read split list: {err}"))
        return []
    out, by_name, first, entries = [], 0, "", 0
    bases = [root, os.path.dirname(list_path)]
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#") or not is_image_file(entry.replace("\\", "/")):
            continue
        entries += 1
        path, named = resolver.resolve(entry, bases)
        if path is None:
            if escapes(entry, root):
                reason = (
                    f"entry {entry!r} is outside the dataset folder and no image of that name is in "
                    "it; not read"
                )
                layout.issues.append(LoadIssue("load.path_outside_root", rel, reason, line=number))
                continue
            path = os.path.normpath(os.path.join(root, entry.replace("\\", "/")))  # status "missing"
        if named:
            by_name += 1
            first = first or entry
        out.append((path, split))
    if by_name:
        layout.notes.append(
            f"{by_name} of {entries} {rel} entries resolved by file name: the listed paths do not "
            f"exist here, e.g. {first}"
        )
    return out


def _add_unlisted(folders: list[str], listed: set[str], layout: Layout) -> None:
    """Images in subset folders (``obj_train_data/``) that no list names: audited all the same."""
    for folder in folders:
        split = split_of_folder(os.path.basename(folder))
        extra = [p for p in images_under(folder, budget=layout.budget) if p not in listed]
        layout.images.extend((p, split) for p in extra)
        if extra and listed:
            layout.notes.append(
                f"{relpath(folder, Path(layout.root))}/: {len(extra)} images that no split list names, "
                f"audited as split {split!r}."
            )


def _from_data(data_file: Path, layout: Layout, resolver: Resolver) -> None:
    root = layout.root
    rel = relpath(data_file, Path(root))
    layout.yaml_rel = rel
    options, issues = parse_data(data_file, rel)
    layout.issues.extend(issues)
    bases = [root, str(data_file.parent)]
    renamed = []

    def find(key: str) -> str | None:
        value, _ = options[key]
        path, named = resolver.resolve(value, bases)
        if named and path is not None:
            renamed.append(f"{key} = {value} -> {relpath(path, Path(root))}")
        return path

    names_key = "names" if "names" in options else "labels" if "labels" in options else None
    names_path = find(names_key) if names_key else None
    if names_path is None and os.path.isfile(os.path.join(root, NAMES_NAME)):
        names_path = os.path.join(root, NAMES_NAME)
    if names_key and names_path is None:
        value, line = options[names_key]
        reason = f"{names_key} = {value}: no such file here, and no file of that name in the dataset"
        layout.issues.append(LoadIssue("load.bad_yaml", rel, reason, line=line))
    if names_path is not None:
        layout.names = read_names(names_path, relpath(names_path, Path(root)), layout)
    if "classes" in options:
        value, line = options["classes"]
        if not value.isdigit():
            reason = f"classes = {value!r} is not a count of classes"
            layout.issues.append(LoadIssue("load.bad_yaml", rel, reason, line=line))
        elif layout.names is not None and int(value) != len(layout.names):
            shown = relpath(names_path or "", Path(root))
            reason = f"classes = {value} but {shown} holds {len(layout.names)} names; the names are used"
            layout.issues.append(LoadIssue("load.bad_yaml", rel, reason, line=line))

    for key in split_keys(options):
        value, line = options[key]
        if not value:
            continue
        path = find(key)
        if path is None or not os.path.lexists(path) or os.path.isdir(path):  # a FIFO: unreadable
            reason = (
                f"{key} = {value}: no such list here, and no file of that name in the dataset; "
                "darknet stops on a missing list"
            )
            layout.issues.append(LoadIssue("load.split_path_missing", rel, reason, line=line))
            continue
        layout.images.extend(_read_list(path, key, resolver, layout))
    if renamed:
        layout.notes.append(
            f"{rel} paths resolved by file name (as written they do not exist here): {'; '.join(renamed)}."
        )


def discover(root: Path, kind: str, data_file: Path | None = None) -> Layout:
    """The layout of a Darknet-family folder (``kind`` from :func:`detect_folder`)."""
    layout = Layout(root=str(root), kind=kind, label_rule=darknet_label, scan_recursive=False)
    resolver = Resolver(layout.root, layout.budget)
    if kind == KIND_DATA:
        _from_data(data_file or root / DATA_NAME, layout, resolver)
        folders = sorted(str(p) for p in root.glob("obj_*_data") if p.is_dir())
        _add_unlisted(folders, {p for p, _ in layout.images}, layout)
    elif kind == KIND_ROBOFLOW:
        first = ""
        for folder in roboflow_folders(root):
            rel = relpath(folder / ROBOFLOW_NAMES, root)
            names = read_names(str(folder / ROBOFLOW_NAMES), rel, layout)
            if layout.names is None:
                layout.names, first = names, rel
            elif names is not None and names != layout.names:
                reason = (
                    f"class names {list(names.values())} differ from {first} "
                    f"{list(layout.names.values())}; the names of {first} are used"
                )
                layout.issues.append(LoadIssue("load.bad_yaml", rel, reason))
            layout.images.extend((p, folder.name) for p in images_under(str(folder), budget=layout.budget))
    else:
        layout.names = read_names(str(root / NAMES_NAME), NAMES_NAME, layout)
        for path in images_under(layout.root, budget=layout.budget):
            parts = os.path.relpath(path, layout.root).split(os.sep)
            layout.images.append((path, split_of_folder(parts[0]) if len(parts) > 1 else DEFAULT_SPLIT))
    if resolver.ambiguous:
        layout.notes.append(
            f"{resolver.ambiguous} paths matched several files of that name equally well; the first "
            "in path order was used."
        )
    layout.label_dirs = sorted({os.path.dirname(darknet_label(p)) for p, _ in layout.images})
    return layout
