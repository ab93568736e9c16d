"""YOLO layout discovery: the Ultralytics ``data.yaml`` layout and the plain ``images/`` +
``labels/`` layout, found on disk before any label file is read.

Paths follow Ultralytics: a split entry in ``data.yaml`` is a folder, a ``.txt`` list of image
paths, or a list of those, relative to ``path`` (looked up from the yaml's folder, the current
folder, then Ultralytics' ``datasets_dir``: :mod:`sodaudit.loaders.yolo.yamlpath`) or to the
yaml's folder; an entry ``../x`` that does not exist is tried as ``x`` (Roboflow exports). Images
found under other ``images/`` folders that no split covers are audited too, under their folder's
name, so a typo in ``data.yaml`` never hides data from the audit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sodaudit.dataset import LoadIssue
from sodaudit.imageinfo import is_image_file
from sodaudit.loaders.base import Detection, TooLarge, read_limited, relpath
from sodaudit.loaders.yolo.files import (
    CLASS_LIST_FILES,
    Budget,
    images_under,
    img2label,
    swap_dir,
    too_broad,
    walk,
    within,
)
from sodaudit.loaders.yolo.textfiles import YamlTooLarge, decode_text, load_yaml, read_names_file
from sodaudit.loaders.yolo.yamlpath import resolve_root, root_note

FORMAT = "yolo"
YAML_NAMES = ("data.yaml", "dataset.yaml")
SPLIT_KEYS = ("train", "val", "test", "minival")
NOT_SPLIT_KEYS = frozenset(("path", "names", "nc", "kpt_shape", "flip_idx", "download", "yaml_file"))
"""Top-level keys that are never split paths (other keys count when they hold path strings)."""
DEFAULT_SPLIT = "all"
_DETECT_YAML_BYTES = 1 << 20
_LOAD_YAML_BYTES = 16 << 20
_LIST_MB = 64.0
"""A split list (``train.txt``) larger than this is not read: ~1 million image paths."""
_SCAN_DEPTH = 3
"""How deep below the root to look for ``images``/``labels`` folders (``a/train/images``)."""


# --------------------------------------------------------------------------- yaml


def _read_yaml(path: Path, max_bytes: int, rel: str = "") -> tuple[object, str | None, list[LoadIssue]]:
    """The parsed yaml, or ``None`` and one sentence saying why it could not be read; and the
    ``load.encoding`` issues of a yaml that is not UTF-8 (read as Windows-1252, so that names
    keep their letters). Regular files only, at most ``max_bytes``, aliases bounded."""
    try:
        data = read_limited(path, max_bytes / (1 << 20), "the yaml size bound")
        decoded = decode_text(data, rel or path.name, "yaml")
        return load_yaml(decoded.text), None, decoded.issues
    except TooLarge:
        return None, f"larger than {max_bytes >> 20} MB", []
    except YamlTooLarge as err:
        return None, f"{err}; not read", []
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        return None, f"YAML syntax error{where}: {problem}", []
    except (OSError, RecursionError, ValueError, TypeError) as err:
        return None, f"cannot be read: {err}", []


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
        data, error, _ = _read_yaml(path, _DETECT_YAML_BYTES)
        if _has_classes(data):
            return Detection(FORMAT, path.parent, _evidence(path.name, data))
        return broken_yaml_detection(path.parent) if error and path.name in YAML_NAMES else None
    if not path.is_dir():
        return None
    return yaml_detection(path) or pairs_detection(path)


def yaml_detection(path: Path) -> Detection | None:
    """A folder's yaml with names or nc (the Ultralytics layout)."""
    for candidate in _yaml_candidates(path):
        data, _, _ = _read_yaml(candidate, _DETECT_YAML_BYTES)
        if _has_classes(data):
            return Detection(FORMAT, path, _evidence(candidate.name, data))
    return None


def broken_yaml_detection(path: Path) -> Detection | None:
    """A weak claim on a folder whose ``data.yaml``/``dataset.yaml`` cannot be read (an alias
    bomb, a syntax error): the load then says why in one sentence, instead of "no dataset"."""
    for name in YAML_NAMES:
        if (path / name).is_file():
            _, error, _ = _read_yaml(path / name, _DETECT_YAML_BYTES)
            if error is not None:
                return Detection(FORMAT, path, f"{name} (unreadable: {error})", fallback=True)
    return None


def pairs_detection(path: Path) -> Detection | None:
    """``images/`` + ``labels/`` folders in ``path`` or one split folder down."""
    pairs = _pair_folders(path)
    return Detection(FORMAT, path, ", ".join(pairs) + " folders") if pairs else None


# --------------------------------------------------------------------------- layout

_STOPS = {
    "val": "; Ultralytics stops on it ('images not found, missing path')",
    "train": "; Ultralytics cannot train without it",
}
"""What a missing split path does in Ultralytics: ``check_det_dataset`` (ultralytics/data/utils.py)
raises FileNotFoundError when a ``val`` path does not exist; a missing ``train`` path leaves the
trainer no images; ``test`` and ``minival`` stop a validation run on that split."""


@dataclass
class Layout:
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
    kind: str = "images-labels"  # the layout's name: meta["layout"]
    label_rule: Callable[[str], str] = img2label  # image path -> its label file's path
    scan_recursive: bool = True  # label_dirs are walked down (False: side-by-side folders)
    path_tried: list[str] = field(default_factory=list)  # where a yaml's `path:` was looked for
    budget: Budget = field(default_factory=Budget)  # entries the walks may still list
    yaml_error: str = ""  # why the dataset yaml could not be read, for a load that finds nothing


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


def _read_list(list_file: Path, allowed: list[str], layout: Layout) -> list[str]:
    """Image paths of an Ultralytics list file; entries that leave the dataset are skipped."""
    rel = relpath(list_file, Path(layout.root))
    try:
        data = read_limited(list_file, _LIST_MB, "a split list's 64 MB bound")
    except TooLarge as err:
        layout.issues.append(LoadIssue("load.file_too_large", rel, f"split list not read: {err}"))
        return []
    except OSError as err:
        layout.issues.append(LoadIssue("load.unreadable_file", rel, f"cannot read split list: {err}"))
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    out = []
    for number, raw in enumerate(lines, start=1):
        entry = raw.strip()
        if not entry or not is_image_file(entry):
            continue
        full = entry if os.path.isabs(entry) else os.path.join(list_file.parent, entry)
        full = os.path.normpath(full)
        if not os.path.isabs(entry) and not entry.startswith("./") and not os.path.exists(full):
            full = os.path.normpath(os.path.join(allowed[-1], entry))  # relative to `path`
        if not any(within(full, a) for a in allowed):  # lexical: `..` and absolute escapes
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


def _from_yaml(yaml_path: Path, data: dict, layout: Layout) -> None:
    """Splits of a well-formed data.yaml into ``layout.images``; missing entries become issues."""
    yaml_dir = yaml_path.parent
    base = yaml_dir
    if isinstance(data.get("path"), str) and data["path"].strip():
        choice = resolve_root(data["path"], yaml_dir)
        broad = too_broad(choice.base) if choice.base is not None else None
        if broad is not None:
            reason = (
                f"path {data['path']!r} is {broad} ({choice.base}), not a dataset folder; it is not "
                "searched (Ultralytics would look for the splits there); split paths are resolved from "
                "the yaml's folder instead"
            )
            layout.issues.append(LoadIssue("load.bad_yaml", layout.yaml_rel, reason, key="path"))
        elif choice.base is not None:
            base = choice.base
            if not Path(data["path"].strip()).expanduser().is_absolute():
                layout.notes.append(root_note(layout.yaml_rel, data["path"], choice))
        else:
            layout.path_tried = choice.tried
            reason = (
                f"path {data['path']!r} exists nowhere Ultralytics looks (tried "
                f"{', '.join(choice.tried)}); Ultralytics stops on it ('images not found'); "
                "split paths are resolved from the yaml's folder instead"
            )
            layout.issues.append(LoadIssue("load.split_path_missing", layout.yaml_rel, reason, key="path"))
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
                        f"{entry!r} resolves to {shown}, which does not exist"
                        + _STOPS.get(split, f"; Ultralytics stops when it evaluates split {split!r}"),
                        key=split,
                    )
                )
            continue
        broad = too_broad(target) if target.is_dir() else None
        if broad is not None:
            reason = f"{entry!r} resolves to {target}, {broad}, not a dataset folder; not searched"
            layout.issues.append(LoadIssue("load.bad_yaml", layout.yaml_rel, reason, key=split))
            continue
        if target.is_dir():
            layout.covered.append(os.path.realpath(target))
            paths = images_under(str(target), budget=layout.budget)
            layout.label_dirs.append(swap_dir(str(target), "images", "labels"))
        elif is_image_file(target.name):
            paths = [str(target)]
        elif split in SPLIT_KEYS or target.suffix == ".txt":
            paths = _read_list(target, allowed, layout)
            layout.covered.extend({os.path.realpath(os.path.dirname(p)) for p in paths})
            layout.label_dirs.extend({os.path.dirname(img2label(p)) for p in paths})
        else:
            continue
        if not within(str(target), allowed[0]):
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


def _structure(root: str, budget: Budget) -> tuple[list[str], list[str]]:
    """Folders named ``images`` and ``labels`` under ``root`` (their contents are not walked)."""
    images, labels = [], []
    for dirpath, dirnames, _ in walk(root, prune=frozenset({"images", "labels"}), budget=budget):
        images.extend(os.path.join(dirpath, d) for d in dirnames if d == "images")
        labels.extend(os.path.join(dirpath, d) for d in dirnames if d == "labels")
        if os.path.relpath(dirpath, root).count(os.sep) + 1 >= _SCAN_DEPTH:
            dirnames[:] = []  # a yaml's folder may be a large tree that is not the dataset
    return images, labels


def _units(folder: str, covered: list[str], budget: Budget) -> list[tuple[str, bool]]:
    """(folder, recursive) pieces of an images folder that no yaml split covers."""
    real = os.path.realpath(folder)
    if any(within(real, c) for c in covered):
        return []
    if not any(within(c, real) for c in covered):
        return [(folder, True)]
    out = [(folder, False)]
    for dirpath, dirnames, _ in walk(folder, budget=budget):
        out.extend(u for d in dirnames for u in _units(os.path.join(dirpath, d), covered, budget))
        dirnames[:] = []
    return out


def _split_of(image: str, images_dir: str, root: str) -> str:
    """Plain layout: ``<split>/images/...`` -> split; ``images/<split>/...`` -> split; else all."""
    parent = os.path.dirname(images_dir)
    if os.path.normpath(parent) != os.path.normpath(root):
        return os.path.basename(parent)
    inner = os.path.relpath(image, images_dir).split(os.sep)
    return inner[0] if len(inner) > 1 else DEFAULT_SPLIT


def _scan_plain(layout: Layout) -> None:
    """Images under ``images/`` folders that no yaml split covers (all of them without a yaml)."""
    root = layout.root
    image_dirs, label_dirs = _structure(root, layout.budget)
    layout.label_dirs.extend(label_dirs)
    for images_dir in image_dirs:
        layout.label_dirs.append(swap_dir(images_dir, "images", "labels"))
        for unit, recursive in _units(images_dir, layout.covered, layout.budget):
            paths = images_under(unit, recursive, layout.budget)
            found = [(p, _split_of(p, images_dir, root)) for p in paths]
            layout.images.extend(found)
            if found and layout.yaml_rel:
                splits = sorted({s for _, s in found})
                layout.notes.append(
                    f"{relpath(unit, Path(root))}/: {len(found)} images that no split in "
                    f"{layout.yaml_rel} covers, audited as split {', '.join(map(repr, splits))}."
                )


def _class_list(layout: Layout) -> dict[int, str] | None:
    """Names from ``classes.txt``/``obj.names`` in the root or a labels folder, one per line;
    one that is not UTF-8 is read as Windows-1252 with a ``load.encoding`` issue."""
    for folder in dict.fromkeys([layout.root, *layout.label_dirs]):
        for name in CLASS_LIST_FILES:
            path = os.path.join(folder, name)
            if os.path.exists(path) and not os.path.isdir(path):  # a FIFO too: refused, named
                names, issues = read_names_file(path, relpath(path, Path(layout.root)))
                layout.issues.extend(issues)
                return names
    return None


def find_yaml(root: Path) -> Path | None:
    """The dataset yaml of a folder: ``data.yaml``/``dataset.yaml``, else a yaml with names."""
    for candidate in _yaml_candidates(root):
        if candidate.name in YAML_NAMES:
            return candidate
        data, _, _ = _read_yaml(candidate, _DETECT_YAML_BYTES)
        if _has_classes(data):
            return candidate
    return None


def discover(path: Path) -> Layout:
    """The Ultralytics layout of a yaml (or a folder's yaml), else the plain images/ + labels/."""
    if path.is_file():
        root, yaml_path = Path(os.path.abspath(path.parent)), Path(os.path.abspath(path))
    else:
        root = Path(os.path.abspath(path))
        yaml_path = find_yaml(root)
    layout = Layout(root=str(root))
    if yaml_path is not None:
        rel = relpath(yaml_path, root)
        data, error, encoding = _read_yaml(yaml_path, _LOAD_YAML_BYTES, rel)
        layout.issues.extend(encoding)
        names = None
        if error is None and not isinstance(data, dict):
            error = f"holds a {type(data).__name__}, not a mapping"
        if error is None:
            names, error = _parse_names(data)
        if error is not None:
            layout.yaml_error = f"{rel} cannot be used ({error})"
            layout.issues.append(
                LoadIssue(
                    "load.bad_yaml",
                    rel,
                    f"{error}; reading images/ + labels/ folders instead",
                )
            )
        else:
            layout.yaml_rel, layout.names, layout.kind = rel, names, "ultralytics"
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
        layout.names = _class_list(layout)
    return layout
