"""Pascal VOC layout discovery: the standard tree (``Annotations/``, ``JPEGImages/``,
``ImageSets/Main``) or a flat folder of XML files; split lists and the class-names file."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.dataset import LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.imageinfo import is_image_file
from sodaudit.loaders.base import Detection

FORMAT = "voc"

SPLIT_LISTS = ("train", "val", "test")
"""Specific split lists, in the order that wins when an image is listed in several."""
UNION_LIST = "trainval"
CLASS_FILES = ("labels.txt", "classes.txt", "class_names.txt")
_COMMENT = re.compile(rb"<!--.*?(?:-->|$)", re.S)
_FIRST_ELEMENT = re.compile(rb"<(?![?!])([^\s/>]+)")
_SNIFF_BYTES = 512


@dataclass
class Layout:
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


def layout_of(path: Path) -> Layout:
    if not path.exists():
        raise DatasetError(f"No such file or folder: {path}.")
    if not path.is_dir():
        raise DatasetError(f"{path} is a file; a Pascal VOC dataset is a folder with Annotations/*.xml.")
    ann = path / "Annotations"
    if ann.is_dir():
        img = path / "JPEGImages"
        layout = Layout(path, str(ann), "Annotations", str(img) if img.is_dir() else None, "JPEGImages")
    else:  # a flat folder of XML files; images, if any, sit next to them
        layout = Layout(path, str(path), "", str(path), "")
    layout.xml_names = _xml_names(layout.ann_dir)
    if not layout.xml_names:
        raise DatasetError(
            f"No XML annotation files in {layout.ann_dir}; a Pascal VOC dataset has Annotations/*.xml."
        )
    return layout


def list_images(layout: Layout) -> tuple[set[str], dict[str, str], str]:
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


# --------------------------------------------------------------------------- splits, classes


def read_splits(root: Path, xml_stems: set[str], issues: list[LoadIssue]) -> dict[str, str] | None:
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


def classes_of(
    root: Path, names: Sequence[str], issues: list[LoadIssue]
) -> tuple[dict[int, str], np.ndarray]:
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
