"""The floors every other tool starts from, and the parts of a sodaudit run, as small processes.

``python benchmarks/floors.py KIND PATH [OUT]``, KIND one of:

- ``coco``: ``orjson.loads`` of every instances file with the garbage collector disabled.
- ``pycocotools``: ``pycocotools.coco.COCO(path)`` for every instances file (its index included).
- ``yolo``: read every label file and ``imagesize.get`` every image.
- ``voc``: stdlib ``xml.etree.ElementTree.parse`` of every ``Annotations/*.xml``.
- ``load``: sodaudit's loader only (``sodaudit.loaders.load``), no analyzers, no report.
- ``json``: ``sodaudit run`` without the HTML report: load, every analyzer, ``report.json``
  (no pixel analyses, like the runner's ``run``).

The runner starts each as its own process so startup, imports and peak memory count for every
contender the same way.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path


def _coco_files(path: Path) -> list[Path]:
    return sorted((path / "annotations").glob("instances_*.json")) if path.is_dir() else [path]


def coco_floor(path: Path) -> None:
    import orjson

    gc.disable()
    for f in _coco_files(path):
        with open(f, "rb") as fh:
            orjson.loads(fh.read())


def pycocotools_floor(path: Path) -> None:
    import contextlib
    import io

    from pycocotools.coco import COCO

    for f in _coco_files(path):
        with contextlib.redirect_stdout(io.StringIO()):
            COCO(str(f))


def yolo_floor(path: Path) -> None:
    import imagesize

    for dirpath, _, files in os.walk(path / "labels"):
        for name in files:
            if name.endswith(".txt"):
                with open(os.path.join(dirpath, name), "rb") as fh:
                    fh.read()
    for dirpath, _, files in os.walk(path / "images"):
        for name in files:
            imagesize.get(os.path.join(dirpath, name))


def voc_floor(path: Path) -> None:
    import xml.etree.ElementTree as ET

    ann = path / "Annotations"
    for name in os.listdir(ann):
        if name.endswith(".xml"):
            ET.parse(os.path.join(ann, name))


def _as_the_cli() -> None:
    """The parts run with the process settings the ``sodaudit`` command makes (before numpy is
    imported; no cyclic garbage collector, see ``sodaudit.cli.console_main``), so
    ``run - json`` and ``json - load`` compare like with like."""
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    gc.disable()


def load_only(path: Path) -> None:
    _as_the_cli()
    from sodaudit.loaders import load

    load(path, "auto")


def json_only(path: Path, out: Path) -> None:
    _as_the_cli()
    from sodaudit.audit import audit
    from sodaudit.config import Config
    from sodaudit.render.json import write_json

    out.mkdir(parents=True, exist_ok=True)
    # As the runner's ``run``: no pixel analyses (image content hashing off).
    config = Config().with_overrides(["integrity.hash_max_images=0"])
    write_json(audit(path, config=config), out / "report.json")


def main(argv: list[str]) -> None:
    kind, path = argv[0], Path(argv[1])
    if kind in ("json", "load"):  # sodaudit parts: end as the command ends (console_main)
        if kind == "json":
            json_only(path, Path(argv[2]))
        else:
            load_only(path)
        sys.stdout.flush()
        os._exit(0)
    {
        "coco": coco_floor,
        "pycocotools": pycocotools_floor,
        "yolo": yolo_floor,
        "voc": voc_floor,
    }[kind](path)


if __name__ == "__main__":
    main(sys.argv[1:])
