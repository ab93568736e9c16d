"""Format dispatch: ``load(path, format)`` picks the loader, or sniffs the layout with each
format's ``detect`` and refuses to guess when two formats fit.

Each format is a module or package (``coco``, ``yolo``, ``voc``, ``csvlabels``, ...) that satisfies
the ``Loader`` protocol of :mod:`sodaudit.loaders.base`: ``FORMAT``, ``detect`` and ``load``. The
record formats (CSV, Label Studio, CVAT, VIA, LabelMe, DOTA, VisDrone) parse into
:class:`~sodaudit.loaders.records.Records` and share how the canonical dataset is built.

Whatever the format, a load that reads no image or no box is an error (exit 2), never an empty
audit that passes the gate.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sodaudit.errors import DatasetError
from sodaudit.loaders.base import Detection, Loader, ProgressFn, open_binary

if TYPE_CHECKING:
    from sodaudit.config import LimitsConfig
    from sodaudit.dataset import Dataset

MODULES: dict[str, str] = {
    "coco": "coco",
    "yolo": "yolo",
    "voc": "voc",
    "csv": "csvlabels",
    "cvat": "cvat",
    "labelstudio": "labelstudio",
    "via": "via",
    "labelme": "labelme",
    "dota": "dota",
    "visdrone": "visdrone",
}
"""Format name (``--format``) -> its module under ``sodaudit.loaders``."""
FORMATS = ("auto", *MODULES)
"""Known without importing the loaders (numpy, pandas): ``sodaudit --help`` stays fast."""
PREDICTION_KEYS = (b'"score"', b'"category_id"', b'"bbox"')
"""A JSON list whose first element has these is a COCO results file (detections), not labels."""
HEAD_BYTES = 4096


def loader(name: str) -> Loader:
    """The loader of format ``name`` (a key of :data:`MODULES`), imported on first use."""
    return cast(Loader, importlib.import_module(f"sodaudit.loaders.{MODULES[name]}"))


def _loaders() -> dict[str, Loader]:
    return {name: loader(name) for name in MODULES}


def __getattr__(name: str) -> object:
    # ``LOADERS`` and the loader submodules are imported on first use.
    if name == "LOADERS":
        return _loaders()
    if name in MODULES:
        return loader(name)
    raise AttributeError(f"module 'sodaudit.loaders' has no attribute {name!r}")


def detect(path: Path) -> Detection:
    """The one format that fits ``path`` (or, when none does, the one dataset a single level
    below it); a ``DatasetError`` naming the candidates otherwise."""
    return _resolve(Path(path))[0]


def _resolve(path: Path) -> tuple[Detection, Path]:
    """:func:`detect`'s detection and the path its loader reads (a subfolder when nested)."""
    if not path.exists():
        raise DatasetError(f"No such file or folder: {path}.")
    _refuse_predictions(path)
    found, where = _detections(path), path
    if not found and path.is_dir():
        found, where = _one_level_down(path)
    if not found:
        raise DatasetError(
            f"No dataset found at {path}: expected COCO JSON, a YOLO data.yaml or images/ + labels/ "
            "(or a darknet obj.data), Pascal VOC XML, a CSV of boxes, a Label Studio or VIA JSON "
            "export, CVAT annotations.xml, LabelMe JSON files, DOTA labelTxt/ or VisDrone "
            "annotations/."
        )
    if len(found) > 1:  # a claim on content beats one on a name or extension only
        found = [d for d in found if not d.fallback] or found
    if len(found) > 1:
        names = " and ".join(f"{d.format.upper()} ({d.evidence})" for d in found)
        raise DatasetError(
            f"{path} looks like both {names}; choose one with --format {'|'.join(d.format for d in found)}."
        )
    return found[0], where


def _detections(path: Path) -> list[Detection]:
    return [d for d in (module.detect(path) for module in _loaders().values()) if d is not None]


MAX_SUBFOLDERS = 64
"""Subfolders looked into when nothing is found at the given folder: a bound on the sniffing."""


def _one_level_down(path: Path) -> tuple[list[Detection], Path]:
    """The detections of the one subfolder holding a dataset (e.g. a zip extracted into a folder
    of its own name) and that subfolder; none when no subfolder, or several, hold one."""
    try:
        subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return [], path
    hits = [(sub, found) for sub in subdirs[:MAX_SUBFOLDERS] if (found := _detections(sub))]
    if len(hits) != 1:
        return [], path
    sub, found = hits[0]
    return [replace(d, evidence=f"in {sub.name}/: {d.evidence}") for d in found], sub


def _refuse_predictions(path: Path) -> None:
    """A COCO results file (a list of scored detections) given as the dataset: say what it is."""
    if not (path.is_file() and path.suffix.lower() == ".json"):
        return
    try:
        with open_binary(path) as fh:
            head = fh.read(HEAD_BYTES).lstrip()
    except OSError:
        return
    if head.startswith(b"[") and all(key in head for key in PREDICTION_KEYS):
        raise DatasetError(
            f"{path} is a COCO results file (a list of detections with scores), not labelled data; "
            "give the annotation file or dataset folder the detections were made on."
        )


def load(
    path: Path | str,
    format: str = "auto",
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read a dataset of any supported format into the canonical ``Dataset``.

    ``limits`` bounds what is read (file sizes, annotation counts); past them a file becomes a
    ``load.file_too_large`` finding instead of a hang. ``workers``: processes the loader may use
    for per-file work (1 = this process only, 0 = one per core); the same result either way.
    A dataset with no image or no box read is a ``DatasetError``: there is nothing to audit,
    and an empty audit must not pass a CI gate.
    """
    from sodaudit.config import LimitsConfig

    limits = limits or LimitsConfig()
    path = Path(path)
    if format not in FORMATS:
        raise DatasetError(f"Unknown format {format!r}; use one of {', '.join(FORMATS)}.")
    if not path.exists():
        raise DatasetError(f"No such file or folder: {path}.")
    if format != "auto":
        dataset = loader(format).load(path, imgsz=imgsz, limits=limits, progress=progress, workers=workers)
        return _something_read(dataset, path)
    detection = detect(path)
    nested = detection.evidence.startswith("in ") and detection.root != path and path.is_dir()
    where = detection.root if nested else path
    dataset = loader(detection.format).load(
        where, imgsz=imgsz, limits=limits, progress=progress, workers=workers
    )
    note = f"Detected {detection.format.upper()} layout: {detection.evidence}."
    return _something_read(replace(dataset, notes=(note, *dataset.notes)), path)


def _something_read(dataset: Dataset, path: Path) -> Dataset:
    """``dataset`` when it holds images and boxes; else the one-sentence error saying what was
    found and not understood."""
    if len(dataset.images) and len(dataset.boxes):
        return dataset
    n = len(dataset.images)
    what = "no image" if not n else f"{n} image{'s' if n != 1 else ''} but no box"
    first = dataset.issues[0] if dataset.issues else None
    problem = f"; first problem: {first.where}: {first.reason}" if first else ""
    raise DatasetError(
        f"Nothing to audit at {path}: the {dataset.format.upper()} loader read {what}{problem}."
    )
