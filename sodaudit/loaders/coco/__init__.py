"""COCO loader: one split per ``instances_*.json`` or Roboflow ``<split>/_annotations.coco.json``.

Decoding is typed and fast (:mod:`sodaudit.loaders.coco.decode`): only the fields an audit
needs, no pycocotools index. A file that breaks the typed schema (NaN literals, a string in a
bbox, a missing key) is decoded again with the stdlib and checked element by element
(:mod:`sodaudit.loaders.coco.parse`), so one bad annotation costs one ``LoadIssue``, not the file.

Image ids are dense (0..n-1 over all files) because COCO ids may collide between split files;
the original id stays in the images column ``coco_id``. String ids (``"id": "000123"``) are read
as pycocotools reads them (:mod:`sodaudit.loaders.coco.ids`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.loaders.base import ProgressFn, TooLarge, counted, relpath
from sodaudit.loaders.coco.layout import (
    FORMAT,
    ROBOFLOW_NAME,
    candidates,
    detect,
    image_folder,
    images_not_in_annotations,
    locate,
    root_of,
    skip_reason,
    split_name,
)
from sodaudit.loaders.coco.parse import NotInstances, Unreadable, read
from sodaudit.loaders.coco.tables import fill_sizes, merge_classes, tables
from sodaudit.loaders.columns import join_columns

__all__ = ["FORMAT", "detect", "load", "split_name"]


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read a COCO JSON file, or every instances file of a folder, into the canonical Dataset.

    ``workers``: processes that read image headers when the JSON lacks sizes (1 = this process
    only, 0 = one per core); the result is the same either way."""
    path = Path(path).absolute()
    if path.is_file():
        root, files = root_of(path), [path]
    elif path.is_dir():
        root, files = path, candidates(path)
    else:
        raise DatasetError(f"No such file or folder: {path}.")
    if not files:
        raise DatasetError(
            f"No COCO annotation JSON found in {path}: expected annotations/instances_*.json, "
            f"<split>/{ROBOFLOW_NAME} or a COCO .json file."
        )

    issues: list[LoadIssue] = []
    notes: list[str] = []
    failures: list[str] = []
    classes: dict[int, str] = {}
    supercategories: dict[int, str] = {}
    image_frames: list[pd.DataFrame] = []
    box_parts: list[tuple[str, dict[str, np.ndarray]]] = []
    folders: dict[str, Path] = {}
    used_folders: dict[Path, list[str]] = {}
    listings: dict[str, frozenset[str]] = {}
    text_categories: dict[str, int] = {}  # string category ids: one id in every file
    for json_path in counted(files, "reading annotation files", progress):
        rel = relpath(json_path, root)
        kind = skip_reason(json_path.name)
        if kind is not None:
            notes.append(f"Skipped {rel}: {kind} annotations, not detection instances.")
            failures.append(f"{rel} holds {kind}")
            continue
        try:
            parsed = read(json_path, rel, limits or LimitsConfig(), text_categories)
        except TooLarge as err:
            issues.append(LoadIssue("load.file_too_large", rel, str(err)))
            failures.append(f"{rel}: {err}")
            continue
        except NotInstances as err:
            notes.append(f"Skipped {rel}: {err}.")
            failures.append(f"{rel}: {err}")
            continue
        except Unreadable as err:
            issues.append(LoadIssue("load.unreadable_file", rel, str(err)))
            failures.append(f"{rel}: {err}")
            continue
        issues += parsed.issues
        if parsed.text_ids is not None:
            notes.append(parsed.text_ids.note(rel))
        merge_classes(classes, parsed, rel, issues, supercategories)
        split = split_name(json_path)
        offset = sum(len(f) for f in image_frames)
        images, boxes = tables(parsed, rel, split, offset, issues)
        del parsed
        folder = image_folder(root, split, json_path, listings)
        if folder is None:
            notes.append(f"No image folder found for split {split!r} ({rel}); image files were not checked.")
        else:
            folders[split] = folder
            used_folders.setdefault(folder, []).append(rel)
        locate(images, folder, root, rel, listings, issues)
        fill_sizes(images, rel, issues, notes, workers)
        image_frames.append(images)
        box_parts.append((rel, boxes))

    if not image_frames:
        raise DatasetError(
            f"No COCO detection instances could be read at {path} ({'; '.join(failures[:3])})."
        )
    images = pd.concat(image_frames, ignore_index=True)
    del image_frames
    issues += images_not_in_annotations(images, used_folders, root, listings)
    boxes = _boxes_table(box_parts)
    meta: dict[str, object] = {
        "annotation_files": sorted(images["source_file"].unique().tolist()),
        "image_folders": {s: relpath(f, root) for s, f in folders.items()},
    }
    if supercategories:
        meta["supercategories"] = class_supercategories(classes, supercategories)
    return Dataset.build(
        root=root,
        format=FORMAT,
        boxes=boxes,
        images=images.drop(columns=["index"]),
        classes=classes,
        issues=issues,
        notes=notes,
        imgsz=imgsz,
        meta=meta,
    )


def class_supercategories(classes: dict[int, str], by_id: dict[int, str]) -> dict[str, str]:
    """``Dataset.meta["supercategories"]``: class name -> the category's ``supercategory``, in
    class-id order; a name shared by several ids keeps the supercategory of its lowest id."""
    out: dict[str, str] = {}
    for cat_id in sorted(by_id):
        if cat_id in classes:
            out.setdefault(classes[cat_id], by_id[cat_id])
    return out


def _boxes_table(parts: list[tuple[str, dict[str, np.ndarray]]]) -> pd.DataFrame:
    """The files' box columns as one table sorted by image, joined (and sorted) one column at
    a time so at most one extra column is alive; ``source_file`` holds file ids into the sorted
    names of the files that have boxes."""
    files = sorted({rel for rel, cols in parts if len(cols["x"])})
    ids = {rel: i for i, rel in enumerate(files)}
    lengths = [len(cols["x"]) for _, cols in parts]
    file_id = np.repeat([ids.get(rel, -1) for rel, _ in parts], lengths).astype(np.int32)
    columns = join_columns([cols for _, cols in parts])
    del parts
    image_id = columns["image_id"]
    if len(image_id) > 1 and not (image_id[1:] >= image_id[:-1]).all():  # COCO: often by image
        order = np.argsort(image_id, kind="stable")
        for name in list(columns):
            columns[name] = columns[name][order]
        file_id = file_id[order]
    columns["source_file"] = pd.Categorical.from_codes(file_id, files)
    return pd.DataFrame(columns, copy=False)
