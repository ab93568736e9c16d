"""Pascal VOC loader: ``Annotations/*.xml`` + ``JPEGImages/`` + ``ImageSets/Main`` split lists.

Layout discovery is in :mod:`sodaudit.loaders.voc.layout`; the XML files are parsed (safely:
no DTD, no entity expansion) in :mod:`sodaudit.loaders.voc.parse`.

Box convention: ``x = xmin, y = ymin, w = xmax - xmin, h = ymax - ymin`` (no ``+1``), the
convention the reference numbers of the real datasets use.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.config import LimitsConfig
from sodaudit.convert import voc_to_xywh
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.imageinfo import is_image_file
from sodaudit.loaders.base import ProgressFn
from sodaudit.loaders.voc.layout import FORMAT, classes_of, detect, layout_of, list_images, read_splits
from sodaudit.loaders.voc.parse import Rows, flags, read_chunk
from sodaudit.pool import map_chunks

__all__ = ["FORMAT", "detect", "load"]


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read a VOC dataset into the canonical tables; defects become ``LoadIssue``s.

    ``workers``: processes that parse the XML files (1 = this process only, 0 = one per core);
    chunks of files are parsed in a pool and joined in file order, so the result is the same
    either way."""
    limit_mb = (limits or LimitsConfig()).max_label_file_mb
    layout = layout_of(Path(path))
    issues: list[LoadIssue] = []
    image_names, stem_map, img_note = list_images(layout)
    notes = [img_note] if img_note else []

    chunks = map_chunks(
        partial(read_chunk, layout=layout, image_names=image_names, stem_map=stem_map, limit_mb=limit_mb),
        layout.xml_names,
        workers=workers,
        what="reading XML files",
        progress=progress,
    )
    rows = Rows()
    first_problem = ""
    for chunk in chunks:
        rows.extend(chunk.rows)
        issues += chunk.issues
        first_problem = first_problem or chunk.first_problem

    if not rows.xml_rel:
        where = layout.ann_dir
        raise DatasetError(
            f"None of the {len(layout.xml_names)} XML files in {where} could be read as "
            f"Pascal VOC annotations (first problem, {first_problem})."
        )

    matched = set(rows.matched_images)
    for img_name in sorted(n for n in image_names if is_image_file(n)):
        img_rel = f"{layout.img_rel}/{img_name}" if layout.img_rel else img_name
        if img_rel in matched:
            continue
        issues.append(
            LoadIssue("load.image_not_in_annotations", img_rel, "image has no annotation XML; not audited")
        )

    split_of = read_splits(layout.root, {n[:-4] for n in layout.xml_names}, issues)
    stems = [n[:-4] for n in rows.xml_name]
    splits = ["all"] * len(stems) if split_of is None else [split_of.get(s, "unassigned") for s in stems]

    box_image = np.concatenate(rows.box_image) if rows.box_image else np.zeros(0, dtype=np.int64)
    classes, class_id = classes_of(layout.root, rows.box_class, issues)
    x0, y0, x1, y1 = (np.array(c, dtype=np.float64) for c in rows.box_coords)
    images = pd.DataFrame(
        {
            "image_id": np.arange(len(rows.xml_rel), dtype=np.int64),
            "file_name": rows.file_name,
            "path": rows.path,
            "split": splits,
            "width": np.array(rows.width, dtype=np.float64),
            "height": np.array(rows.height, dtype=np.float64),
            "status": rows.status,
            "exif_rotated": np.array(rows.exif_rotated, dtype=bool),
            "source_file": rows.xml_rel,
        }
    )
    xywh = voc_to_xywh(np.stack([x0, y0, x1, y1], axis=1))
    boxes = pd.DataFrame(
        {
            "image_id": box_image,
            "class_id": class_id,
            "x": xywh[:, 0],
            "y": xywh[:, 1],
            "w": xywh[:, 2],
            "h": xywh[:, 3],
            "ignore": flags(rows.box_difficult),
            "truncated": flags(rows.box_truncated),
            # one XML per image, so the image id is also the index of its XML path
            "source_file": pd.Categorical.from_codes(box_image, categories=rows.xml_rel),
            "source_line": np.array(rows.box_line, dtype=np.int64),
        }
    )
    return Dataset.build(
        root=layout.root,
        format=FORMAT,
        boxes=boxes,
        images=images,
        classes=classes,
        issues=issues,
        notes=notes,
        imgsz=imgsz,
        meta={
            "annotations_dir": layout.ann_rel or ".",
            "images_dir": (layout.img_rel or ".") if layout.img_dir else None,
        },
    )
