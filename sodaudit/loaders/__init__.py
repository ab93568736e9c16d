"""Format dispatch: ``load(path, format)`` picks the loader, or sniffs the layout with each
format's ``detect`` and refuses to guess when two formats fit.

Each format is a package (``coco``, ``yolo``, ``voc``) that satisfies the ``Loader`` protocol of
:mod:`sodaudit.loaders.base`: ``FORMAT``, ``detect`` and ``load``; layout discovery and parsing
are separate modules inside it.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sodaudit.errors import DatasetError
from sodaudit.loaders.base import Detection, Loader, ProgressFn

if TYPE_CHECKING:
    from sodaudit.config import LimitsConfig
    from sodaudit.dataset import Dataset

FORMATS = ("auto", "coco", "yolo", "voc")
"""Known without importing the loaders (numpy, pandas): ``sodaudit --help`` stays fast."""


def loader(name: str) -> Loader:
    """The loader of format ``name`` (``coco``, ``yolo``, ``voc``), imported on first use."""
    return cast(Loader, importlib.import_module(f"sodaudit.loaders.{name}"))


def _loaders() -> dict[str, Loader]:
    return {name: loader(name) for name in FORMATS[1:]}


def __getattr__(name: str) -> object:
    # ``LOADERS`` and the loader submodules are imported on first use.
    if name == "LOADERS":
        return _loaders()
    if name in FORMATS[1:]:
        return loader(name)
    raise AttributeError(f"module 'sodaudit.loaders' has no attribute {name!r}")


def detect(path: Path) -> Detection:
    """The one format that fits ``path``; a ``DatasetError`` naming the candidates otherwise."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"No such file or folder: {path}.")
    found = [d for d in (module.detect(path) for module in _loaders().values()) if d is not None]
    if not found:
        raise DatasetError(
            f"No COCO, YOLO or Pascal VOC dataset found at {path}: expected a COCO JSON file or "
            "annotations/instances_*.json, a YOLO data.yaml or images/ + labels/ folders, "
            "or a VOC Annotations/ folder of XML files."
        )
    if len(found) > 1:
        names = " and ".join(f"{d.format.upper()} ({d.evidence})" for d in found)
        raise DatasetError(
            f"{path} looks like both {names}; choose one with --format {'|'.join(d.format for d in found)}."
        )
    return found[0]


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
    """
    from sodaudit.config import LimitsConfig

    limits = limits or LimitsConfig()
    path = Path(path)
    if format not in FORMATS:
        raise DatasetError(f"Unknown format {format!r}; use one of {', '.join(FORMATS)}.")
    if not path.exists():
        raise DatasetError(f"No such file or folder: {path}.")
    if format == "auto":
        detection = detect(path)
        dataset = loader(detection.format).load(
            path, imgsz=imgsz, limits=limits, progress=progress, workers=workers
        )
        note = f"Detected {detection.format.upper()} layout: {detection.evidence}."
        return replace(dataset, notes=(note, *dataset.notes))
    return loader(format).load(path, imgsz=imgsz, limits=limits, progress=progress, workers=workers)
