"""Which YOLO-family layout a path holds, and its discovery: the Ultralytics yaml, Darknet
``obj.data`` (CVAT "YOLO 1.1"), Roboflow's "YOLO Darknet" folders, the Label Studio YOLO export,
plain ``images/`` + ``labels/``, and ``obj.names`` with side-by-side labels, in that order of
precedence (a yaml with names decides, as it does for Ultralytics).

Label Studio's YOLO export (label-studio-converter ``Converter.convert_to_yolo``) writes
``images/``, ``labels/``, ``classes.txt`` (one name per line, in the order of its category list)
and ``notes.json`` (``{"categories": [{"id", "name"}], "info": {...}}``); the ids in the label
files are the category ids, so a ``classes.txt`` whose line order differs from the ids in
``notes.json`` names the classes wrongly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sodaudit.dataset import LoadIssue
from sodaudit.loaders.base import Detection, TooLarge, read_limited
from sodaudit.loaders.yolo import darknet
from sodaudit.loaders.yolo import layout as ultralytics
from sodaudit.loaders.yolo.layout import FORMAT, Layout

KIND_LABEL_STUDIO = "label-studio"
NOTES_NAME, CLASSES_NAME = "notes.json", "classes.txt"
_NOTES_BYTES = 16 << 20


def _label_studio(root: Path) -> bool:
    return (root / NOTES_NAME).is_file() and (root / CLASSES_NAME).is_file()


def _case_variant(root: Path) -> str | None:
    """A folder beside ``images/`` named ``labels`` in another case (``Labels``), if any."""
    if not (root / "images").is_dir():
        return None
    try:
        return next(
            (p.name for p in sorted(root.iterdir()) if p.name.lower() == "labels" and p.name != "labels"),
            None,
        )
    except OSError:
        return None


def detect(path: Path) -> Detection | None:
    """Claim a YOLO-family dataset: a yaml with names, a darknet ``.data`` file, or a folder."""
    path = Path(path)
    if path.is_file():
        if darknet.is_data_file(path):
            return Detection(FORMAT, path.parent, darknet.describe_data(path))
        return ultralytics.detect(path)
    if not path.is_dir():
        return None
    found = ultralytics.yaml_detection(path)
    if found is not None:
        return found
    kind = darknet.detect_folder(path, names_only=False)
    if kind is not None:
        return Detection(FORMAT, path, kind[1])
    found = ultralytics.pairs_detection(path)
    if found is not None and _label_studio(path):
        return Detection(
            FORMAT, path, f"Label Studio YOLO export: {CLASSES_NAME}, {NOTES_NAME}, {found.evidence}"
        )
    if found is not None:
        return found
    kind = darknet.detect_folder(path, names_only=True)
    if kind is not None:
        return Detection(FORMAT, path, kind[1])
    variant = _case_variant(path)
    if variant is not None:
        return Detection(
            FORMAT, path, f"images/ + {variant}/ folders ({variant}/ is labels/ in another case)"
        )
    return ultralytics.broken_yaml_detection(path)


def discover(path: Path) -> Layout:
    """The layout of ``path``, whichever YOLO-family kind :func:`detect` would name."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".data":
        root = Path(os.path.abspath(path.parent))
        return darknet.discover(root, darknet.KIND_DATA, Path(os.path.abspath(path)))
    if path.is_dir():
        root = Path(os.path.abspath(path))
        if ultralytics.find_yaml(root) is None:
            kind = darknet.detect_folder(root, names_only=ultralytics.pairs_detection(root) is None)
            if kind is not None:
                return darknet.discover(root, kind[0])
    layout = ultralytics.discover(path)
    if path.is_dir() and layout.kind != "ultralytics" and _label_studio(Path(layout.root)):
        layout.kind = KIND_LABEL_STUDIO
        _check_notes(layout)
    return layout


def _check_notes(layout: Layout) -> None:
    """``notes.json`` categories against the names read from ``classes.txt``: an issue if they differ."""
    root = Path(layout.root)
    try:
        raw = read_limited(root / NOTES_NAME, _NOTES_BYTES / (1 << 20), "notes.json's 16 MB bound")
        data = json.loads(raw.decode("utf-8", errors="replace"))
        categories = {int(c["id"]): str(c["name"]) for c in data["categories"]}
    except (OSError, TooLarge, ValueError, KeyError, TypeError, RecursionError) as err:
        reason = f"categories cannot be read ({type(err).__name__}: {err}); class names from {CLASSES_NAME}"
        layout.issues.append(LoadIssue("load.bad_yaml", NOTES_NAME, reason[:300]))
        return
    names = layout.names or {}
    if categories == names:
        return
    differ = sorted(i for i in set(categories) | set(names) if categories.get(i) != names.get(i))
    shown = "; ".join(f"id {i}: {names.get(i, '-')!r} vs {categories.get(i, '-')!r}" for i in differ[:5])
    more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
    reason = (
        f"categories differ from {CLASSES_NAME} (line n names class id n-1) at {len(differ)} "
        f"{'id' if len(differ) == 1 else 'ids'} "
        f"({CLASSES_NAME} vs {NOTES_NAME}: {shown}{more}); the names of {CLASSES_NAME} are used, "
        "as Label Studio's YOLO import reads them"
    )
    layout.issues.append(LoadIssue("load.bad_yaml", NOTES_NAME, reason, key="categories"))
