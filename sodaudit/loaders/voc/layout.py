"""Pascal VOC layout discovery: which folders hold the XML files, the images and the split lists.

The layouts real exports come in, tried in this order on the folder given (the first that fits
wins; its name is in the detection evidence and in ``Dataset.meta["layout"]``):

``standard``
    ``Annotations/`` (or ``annotations/``, ``annots/``, in any case) with XML files, beside
    ``JPEGImages/`` or ``images/`` (any case), with or without ``ImageSets/Main`` split lists: the
    VOC devkit's own tree, and the ``annotations/`` + ``images/`` tree of converters such as
    labelformat. One ``VOC20xx`` folder of the devkit is this layout.
``vocdevkit``
    ``VOCdevkit/VOC20xx/`` holding that tree, for one year or several, given ``VOCdevkit`` or its
    parent. torchvision's ``VOCDetection`` reads ``<root>/VOCdevkit/VOC2012`` (``base_dir`` in
    ``DATASET_YEAR_DICT``, torchvision/datasets/voc.py) and mmdetection's VOC0712 config trains on
    ``VOC2007/`` + ``VOC2012/`` ``ImageSets/Main/trainval.txt`` under ``data/VOCdevkit/``
    (configs/_base_/datasets/voc0712.py): several years are read as one dataset whose splits are
    ``<year>/<list>``.
``flat``
    XML files next to the images in one folder: LabelImg's default, which saves
    ``splitext(image_path)[0] + ".xml"`` when no save folder is set (labelImg.py,
    ``show_bounding_box_from_annotation_file``; the writer is libs/pascal_voc_io.py
    ``PascalVocWriter``). A folder of XML files alone is this layout too (images not checked).
``roboflow``
    Roboflow's Pascal VOC export: ``train/``, ``valid/``, ``test/``, each with the ``.jpg`` and
    ``.xml`` files side by side (Datumaro's "Roboflow VOC XML" format page); the folder names are
    the splits.

Only names and the first few hundred bytes of one XML file per folder are read here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sodaudit.errors import DatasetError
from sodaudit.loaders.base import Detection, open_binary

FORMAT = "voc"

SPLIT_LISTS = ("train", "val", "test")
"""Specific split lists, in the order that wins when an image is listed in several."""
UNION_LIST = "trainval"
CLASS_FILES = ("labels.txt", "classes.txt", "class_names.txt")
ANNOTATION_DIRS = ("annotations", "annots")
IMAGE_DIRS = ("jpegimages", "images")
"""Lower-case folder names, in the order that wins when a folder holds several."""
SPLIT_DIRS = ("train", "valid", "val", "test")
"""Roboflow's split folders (it writes ``valid``), in the order the images are read."""
DEVKIT_DIR = "vocdevkit"
_YEAR = re.compile(r"voc\d{4}", re.I)
_COMMENT = re.compile(rb"<!--.*?(?:-->|$)", re.S)
_FIRST_ELEMENT = re.compile(rb"<(?![?!])([^\s/>]+)")
_SNIFF_BYTES = 512


@dataclass
class Part:
    """One folder of XML files read as a unit: the whole dataset, one VOC year or one split folder.

    Paths ending in ``_rel`` are relative to the dataset root, POSIX style (``""`` is the root):
    they name files in findings."""

    ann_dir: str
    ann_rel: str
    img_dir: str | None
    img_rel: str
    xml_names: list[str]
    label: str = ""
    """What notes call this part: ``""`` for the root, else a year or a split folder."""
    sets_dir: str | None = None
    sets_rel: str = ""
    split: str | None = None
    """The split of every image (a Roboflow folder name); ``None``: from the lists, else ``all``."""
    prefix: str = ""
    """Put before the split names (``VOC2007/``) when several years are read as one dataset."""
    image_names: set[str] = field(default_factory=set)
    stem_map: dict[str, str] = field(default_factory=dict)
    """Image file names of ``img_dir`` by stem, for the ``<filename>`` fallbacks."""


@dataclass
class Layout:
    """Where things are: the layout's name, its parts (read in order) and the evidence in words."""

    root: Path
    name: str
    parts: list[Part]
    evidence: str


# --------------------------------------------------------------------------- detection


def detect(path: Path) -> Detection | None:
    """Claim ``path`` when one of the layouts above fits it; names and one file head only."""
    path = Path(path)
    if not path.is_dir():
        return None
    layout = discover(path)
    return None if layout is None else Detection(FORMAT, path, layout.evidence)


def layout_of(path: Path) -> Layout:
    """The layout of ``path``, or a one-sentence ``DatasetError`` saying what was expected."""
    if not path.exists():
        raise DatasetError(f"No such file or folder: {path}.")
    if not path.is_dir():
        raise DatasetError(f"{path} is a file; a Pascal VOC dataset is a folder with Annotations/*.xml.")
    layout = discover(path)
    if layout is None:
        raise DatasetError(
            f"No Pascal VOC annotations in {path}: expected Annotations/ (or annotations/, annots/) "
            "with XML files, VOCdevkit/VOC20xx/ folders, XML files next to the images, "
            "or train/ valid/ test/ folders of them."
        )
    return layout


def discover(path: Path) -> Layout | None:
    """The first layout that fits ``path`` (see the module docstring for the order)."""
    dirs = _dirs(str(path))
    tree = _tree(str(path), "", dirs)
    if tree is not None:
        return Layout(path, "standard", [tree], f"{_tree_evidence(tree, '')} (standard layout)")
    years = _years(str(path), dirs)
    if years:
        shown = " and ".join(f"{p.label}/ ({_tree_evidence(p, _parent(p.ann_rel))})" for p in years)
        devkit = _parent(_parent(years[0].ann_rel))
        evidence = f"{devkit + '/ with ' if devkit else ''}{shown} (vocdevkit layout)"
        return Layout(path, "vocdevkit", years, evidence)
    flat = _flat(str(path), "")
    if flat is not None:
        _find_lists(flat, str(path), "", dirs)
        evidence = f"folder of {len(flat.xml_names)} XML files with <annotation> root (flat layout)"
        return Layout(path, "flat", [flat], evidence)
    splits = [
        part
        for name in _ordered(dirs, SPLIT_DIRS)
        if (part := _flat(os.path.join(path, name), name, split=name)) is not None
    ]
    if splits:
        shown = ", ".join(f"{p.label}/ with {len(p.xml_names)} XML files" for p in splits)
        return Layout(path, "roboflow", splits, f"{shown}, each beside its images (roboflow layout)")
    return None


def _tree(folder: str, rel: str, dirs: Sequence[str]) -> Part | None:
    """The annotations-folder tree at ``folder``: XML files, images, split lists."""
    ann = _pick(dirs, ANNOTATION_DIRS)
    if ann is None:
        return None
    names = _xml_names(os.path.join(folder, ann))
    if not names:
        return None
    img = _pick(dirs, IMAGE_DIRS)
    part = Part(
        ann_dir=os.path.join(folder, ann),
        ann_rel=_join(rel, ann),
        img_dir=os.path.join(folder, img) if img else None,
        img_rel=_join(rel, img or "JPEGImages"),
        xml_names=names,
        label=rel.rsplit("/", 1)[-1],
    )
    _find_lists(part, folder, rel, dirs)
    return part


def _find_lists(part: Part, folder: str, rel: str, dirs: Sequence[str]) -> None:
    """Point ``part`` at ``ImageSets/Main`` (any case) when it holds a split list."""
    sets = _pick(dirs, ("imagesets",))
    main = _pick(_dirs(os.path.join(folder, sets)), ("main",)) if sets else None
    if sets and main:
        sets_dir = os.path.join(folder, sets, main)
        if any(os.path.isfile(os.path.join(sets_dir, f"{s}.txt")) for s in (*SPLIT_LISTS, UNION_LIST)):
            part.sets_dir, part.sets_rel = sets_dir, _join(rel, f"{sets}/{main}")


def _years(folder: str, dirs: Sequence[str]) -> list[Part]:
    """``VOC20xx/`` trees in ``folder`` (the devkit folder) or in its ``VOCdevkit/``, by year."""
    rel = ""
    years = [d for d in dirs if _YEAR.fullmatch(d)]
    if not years:
        devkit = _pick(dirs, (DEVKIT_DIR,))
        if devkit is None:
            return []
        folder, rel = os.path.join(folder, devkit), devkit
        years = [d for d in _dirs(folder) if _YEAR.fullmatch(d)]
    parts = [
        part
        for year in years
        if (part := _tree(os.path.join(folder, year), _join(rel, year), _dirs(os.path.join(folder, year))))
    ]
    if len(parts) > 1:
        for part in parts:
            part.prefix = f"{part.label}/"
    return parts


def _flat(folder: str, rel: str, split: str | None = None) -> Part | None:
    """XML files with an ``<annotation>`` root directly in ``folder``; images are looked for there."""
    names = _xml_names(folder)
    if not names or not _looks_like_voc(os.path.join(folder, names[0])):
        return None
    return Part(folder, rel, folder, rel, names, label=rel, split=split)


def _tree_evidence(part: Part, base: str) -> str:
    """``Annotations/ with 5 XML files, ImageSets/Main splits, JPEGImages/``, names below ``base``."""
    cut = len(base) + 1 if base else 0
    words = [f"{part.ann_rel[cut:]}/ with {len(part.xml_names)} XML files"]
    if part.sets_dir is not None:
        words.append(f"{part.sets_rel[cut:]} splits")
    if part.img_dir is not None:
        words.append(f"{part.img_rel[cut:]}/")
    return ", ".join(words)


def _looks_like_voc(file: str) -> bool:
    """The first element of the file is ``<annotation>`` (reads only a few hundred bytes)."""
    try:
        with open_binary(file) as f:
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


def _dirs(folder: str) -> list[str]:
    """Sub-folder names of ``folder``, sorted (hidden ones left out); none when it cannot be listed."""
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and e.is_dir())
    except OSError:
        return []


def _pick(dirs: Sequence[str], wanted: Sequence[str]) -> str | None:
    """The folder whose lower-case name comes first in ``wanted`` (exports differ in case)."""
    found = _ordered(dirs, wanted)
    return found[0] if found else None


def _ordered(dirs: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """The folders whose lower-case names are in ``wanted``, in that order (sorted within a name)."""
    rank = {name: k for k, name in enumerate(wanted)}
    return sorted((d for d in dirs if d.lower() in rank), key=lambda d: (rank[d.lower()], d))


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _parent(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else ""
