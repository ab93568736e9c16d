"""YOLO loader: the Ultralytics ``data.yaml`` layout, the plain ``images/`` + ``labels/`` layout,
and the Darknet family (``obj.data``/CVAT "YOLO 1.1", Roboflow "YOLO Darknet", ``obj.names``) and
Label Studio's YOLO export.

Which layout a path holds is decided in :mod:`sodaudit.loaders.yolo.kinds`; the Ultralytics
layouts are discovered in :mod:`sodaudit.loaders.yolo.layout` (paths as Ultralytics resolves them;
the label of ``.../images/a/b.jpg`` is ``.../labels/a/b.txt``), the Darknet ones in
:mod:`sodaudit.loaders.yolo.darknet` (labels beside their images); label files and image headers are
read in :mod:`sodaudit.loaders.yolo.labels`, and their rows parsed all at once in
:mod:`sodaudit.loaders.yolo.rows`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.loaders.base import ProgressFn
from sodaudit.loaders.yolo.files import img2label, rel_to
from sodaudit.loaders.yolo.kinds import detect, discover
from sodaudit.loaders.yolo.labels import image_dir, images_table, match_labels, read_labels_and_headers
from sodaudit.loaders.yolo.layout import FORMAT, Layout
from sodaudit.loaders.yolo.rows import KIND_BOX, KIND_SEGMENT, ParsedRows, attach, row_issues

__all__ = ["FORMAT", "detect", "img2label", "load"]


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
    layout = discover(path)
    root, issues, notes = Path(layout.root), layout.issues, layout.notes
    found = match_labels(layout)
    if not found.images and not found.used and not found.orphans:
        tried = (
            f"; its path {layout.yaml_rel} names no folder at {', '.join(layout.path_tried)}"
            if layout.path_tried
            else f"; {layout.yaml_error}"
            if layout.yaml_error
            else ""
        )
        raise DatasetError(
            f"No YOLO images or label files found at {path}: expected a data.yaml with split "
            f"paths, images/ + labels/ folders, or a darknet obj.data{tried}."
        )
    files = found.used + found.orphans
    n_used = len(found.used)
    rows, headers = read_labels_and_headers(
        files, [p for p, _ in found.images], root, issues, limits, layout, progress, workers
    )
    file_rel = [rel_to(f, root) for f in files]
    frame = images_table(found, headers, root, issues)

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
    if layout.names is not None:
        notes.extend(_undeclared_note(rows, attached, file_rel, layout))
    row_counts = np.bincount(rows.file, minlength=len(files))
    bounds = np.searchsorted(rows.file, np.arange(len(files) + 1))  # rows are in file order
    for i in range(n_used, len(files)):
        folder, name = os.path.split(files[i])
        image = rel_to(os.path.join(image_dir(layout, folder), name[:-4]), root)
        ids = np.unique(rows.class_id[bounds[i] : bounds[i + 1]])
        extra = [int(c) for c in ids if int(c) not in names] if layout.names is not None else []
        unknown = f" (class ids {', '.join(map(str, extra))} not in names)" if extra else ""
        reason = f"no image {image}.*; its {row_counts[i]} rows{unknown} are not boxes"
        issues.append(LoadIssue("load.orphan_label", file_rel[i], reason))

    # Rows of orphan files whose class id is not in names: the integrity analyzer counts them with
    # the boxes that carry such ids, as one root cause (ids beyond names) over every label file.
    undeclared = (
        ~np.isin(rows.class_id, list(names)) if layout.names is not None else np.zeros(len(rows), bool)
    )
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
        "orphan_undeclared_class_rows": int((undeclared & ~attached).sum()),
        "segment_rows": int(segment.sum()),
        "mixed_label_files": len(mixed),
        "pose": layout.pose,
        "layout": layout.kind,
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


def _undeclared_note(
    rows: ParsedRows, attached: np.ndarray, file_rel: list[str], layout: Layout
) -> list[str]:
    """One note for the class ids past the class list, per id: its rows, files and first
    file:line, so each root cause (a missing name, a shifted list) is named once; the integrity
    analyzer's ``integrity.unknown_class`` counts them as one error."""
    names = layout.names or {}
    ids = rows.class_id[attached]
    extra = np.unique(ids[~np.isin(ids, list(names))])
    if not len(extra):
        return []
    where = np.flatnonzero(attached)
    parts = []
    for class_id in extra[:12]:
        hits = where[ids == class_id]
        n_files = len(np.unique(rows.file[hits]))
        first = f"{file_rel[rows.file[hits[0]]]}:{rows.line[hits[0]]}"
        parts.append(
            f"id {int(class_id)}: {len(hits)} {'row' if len(hits) == 1 else 'rows'} in {n_files} "
            f"{'file' if n_files == 1 else 'files'}, e.g. {first}"
        )
    more = f"; and {len(extra) - 12} more ids" if len(extra) > 12 else ""
    source = layout.yaml_rel or "the class list"
    return [f"Class ids past the {len(names)} names of {source} (by id): {'; '.join(parts)}{more}."]
