"""COCO layout discovery: which JSON files of a folder are instance files, their splits, and
the image folder of each split (looked up from directory listings, never a stat per image)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from sodaudit.dataset import LoadIssue
from sodaudit.imageinfo import is_image_file
from sodaudit.loaders.base import Detection, open_binary, relpath, resolve_inside, short_repr

FORMAT = "coco"
ROBOFLOW_NAME = "_annotations.coco.json"
NOT_INSTANCES = {
    "captions_": "captions",
    "person_keypoints_": "person keypoints",
    "panoptic_": "panoptic segmentation",
}
"""File-name prefixes of COCO annotation files that are not detection instances."""

_HEAD_BYTES = 4096
_MORE_BYTES = 1 << 20
_HEAD_KEYS = re.compile(rb'"(images|annotations|categories)"\s*:')
_DATA_KEYS = re.compile(rb'"(images|annotations)"\s*:')
_NAME_HINT = re.compile(r"instances|coco|annotation", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Detection


def detect(path: Path) -> Detection | None:
    """Claim a ``.json`` file or a folder with COCO JSON, looking only at names and file heads."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".json":
            return None
        return Detection(FORMAT, root_of(path), path.name, fallback=not _coco_content(path))
    if not path.is_dir():
        return None
    files = candidates(path)
    usable = [f for f in files if skip_reason(f.name) is None]
    if not usable:
        return None
    shown = [relpath(usable[0], path)] + [
        f.name if f.parent == usable[0].parent else relpath(f, path) for f in usable[1:4]
    ]
    more = f" and {len(usable) - 4} more" if len(usable) > 4 else ""
    fallback = not any(_coco_content(f) for f in usable)
    return Detection(FORMAT, path, ", ".join(shown) + more, fallback=fallback)


def candidates(root: Path) -> list[Path]:
    """Annotation JSON files of a dataset folder, in split order."""
    found: list[Path] = []
    ann = root / "annotations"
    if ann.is_dir():
        found += sorted(p for p in ann.glob("*.json") if may_be_coco(p))
    try:
        with os.scandir(root) as it:  # d_type from the listing: no stat per entry
            subdirs = sorted(e.name for e in it if e.is_dir() and e.name != "annotations")
    except OSError:
        subdirs = []
    found += [root / d / ROBOFLOW_NAME for d in subdirs if (root / d / ROBOFLOW_NAME).is_file()]
    found += sorted(p for p in root.glob("*.json") if may_be_coco(p))
    return found


def may_be_coco(path: Path) -> bool:
    """A name like ``instances_*`` / ``*coco*``, or an ``images`` or ``annotations`` key in its head.

    A head with only ``categories`` (CVAT writes them first) is read on, up to 1 MB, for one of
    those keys: Label Studio's YOLO export puts a ``notes.json`` of ``categories`` and ``info``
    only beside its ``images/`` and ``labels/`` (label-studio-converter
    ``Converter.convert_to_yolo``), and that file is not a COCO dataset.
    """
    if not path.is_file():
        return False
    if _NAME_HINT.search(path.name) or skip_reason(path.name):
        return True
    return _coco_content(path)


def _coco_content(path: Path) -> bool:
    """:func:`may_be_coco` on the file's content alone: a JSON object with COCO's keys."""
    try:
        with open_binary(path) as fh:
            head = fh.read(_HEAD_BYTES)
            if head.lstrip(b"\xef\xbb\xbf").lstrip()[:1] != b"{":
                return False  # Label Studio and VIA 3 exports, COCO results files: a list
            if _DATA_KEYS.search(head):
                return True
            if not _HEAD_KEYS.search(head):
                return False
            more = fh.read(_MORE_BYTES)
    except OSError:
        return False
    # Past 1 MB of categories it is no notes.json: a COCO file with a long category list.
    return _DATA_KEYS.search(head[-32:] + more) is not None or len(more) == _MORE_BYTES


def skip_reason(name: str) -> str | None:
    for prefix, kind in NOT_INSTANCES.items():
        if name.startswith(prefix):
            return kind
    return None


def root_of(json_path: Path) -> Path:
    parent = json_path.parent
    return parent.parent if parent.name == "annotations" else parent


def split_name(json_path: Path) -> str:
    """``instances_val2017.json`` -> ``val2017``; ``train/_annotations.coco.json`` -> ``train``."""
    if json_path.name == ROBOFLOW_NAME:
        return json_path.parent.name
    stem = json_path.stem
    return stem[len("instances_") :] if stem.startswith("instances_") else stem


def listing(folder: str, listings: dict[str, frozenset[str]]) -> frozenset[str]:
    """File names in ``folder`` from one ``os.scandir``, cached: existence checks cost no stat."""
    if folder not in listings:
        try:
            with os.scandir(folder) as it:
                listings[folder] = frozenset(e.name for e in it if e.is_file())
        except OSError:
            listings[folder] = frozenset()
    return listings[folder]


def image_folder(root: Path, split: str, json_path: Path, listings: dict) -> Path | None:
    """First of root/<split>, root/images/<split>, root/images, the JSON's folder with images."""
    for folder in (root / split, root / "images" / split, root / "images", json_path.parent):
        if folder.is_dir() and any(is_image_file(n) for n in listing(str(folder), listings)):
            return folder
    return None


def _safe_path(folder: Path, root: Path, name: str) -> str | None:
    """Where ``name`` points under ``folder``; ``None`` when it is empty or leaves the root."""
    norm = name.replace("\\", "/")
    if not norm.strip("/.") or norm.startswith("/") or re.match(r"[A-Za-z]:", norm):
        return None
    if ".." not in norm.split("/"):
        return os.path.normpath(os.path.join(folder, norm))
    inside = resolve_inside(root, os.path.join(os.path.relpath(folder, root), norm))
    return None if inside is None else str(inside)


def locate(
    images: pd.DataFrame, folder: Path | None, root: Path, rel: str, listings: dict, issues: list
) -> None:
    """Set ``path`` and ``status`` from folder listings; unsafe names never get a path."""
    base = os.path.normpath(folder or root)
    prefix = base.rstrip(os.sep) + os.sep
    # A plain name (no separator, drive, or dots-only) joins without normpath: one concat each.
    paths = [
        prefix + n
        if "/" not in n and "\\" not in n and ":" not in n and n.strip(".")
        else _safe_path(folder or root, root, n)
        for n in images["file_name"].tolist()
    ]
    unsafe = [p is None for p in paths]
    issues += [
        LoadIssue(
            "load.path_outside_root",
            rel,
            f"file_name {short_repr(name)} names no file inside the dataset folder; not looked at",
            key=f"images[{i}]",
        )
        for name, i, bad in zip(images["file_name"].tolist(), images["index"].tolist(), unsafe, strict=True)
        if bad
    ]
    if folder is None:
        images["path"] = ""
        images["status"] = ["missing" if bad else "unchecked" for bad in unsafe]  # shared strings
        return
    images["path"] = [p or "" for p in paths]
    images["status"] = [
        "ok" if p and os.path.basename(p) in listing(os.path.dirname(p), listings) else "missing"
        for p in paths
    ]


def images_not_in_annotations(
    images: pd.DataFrame, used_folders: dict[Path, list[str]], root: Path, listings: dict
) -> list[LoadIssue]:
    """Image files in a split folder that no JSON lists: unlabeled or forgotten."""
    referenced = set(images["path"].tolist())
    issues = []
    for folder, jsons in used_folders.items():
        names = sorted(n for n in listing(str(folder), listings) if is_image_file(n))
        issues += [
            LoadIssue(
                "load.image_not_in_annotations",
                relpath(folder / n, root),
                f"image file is not listed in {', '.join(jsons)}",
            )
            for n in names
            if os.path.normpath(os.path.join(folder, n)) not in referenced
        ]
    return issues
