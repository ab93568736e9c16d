"""Pascal VOC loader: XML files (one image each) in the layouts real exports come in.

Layout discovery (the standard ``Annotations/`` tree, ``VOCdevkit/VOC20xx/`` years, XML files
next to the images, Roboflow's split folders) is in :mod:`sodaudit.loaders.voc.layout`; the XML
files are parsed (safely: no DTD, no entity expansion) in :mod:`sodaudit.loaders.voc.parse`; image
headers are read and checked against ``<size>`` in :mod:`sodaudit.loaders.voc.images`; splits and
classes come from :mod:`sodaudit.loaders.voc.splits`.

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
from sodaudit.loaders.base import ProgressFn
from sodaudit.loaders.voc.images import check_sizes, list_images, unannotated
from sodaudit.loaders.voc.layout import FORMAT, Layout, detect, layout_of
from sodaudit.loaders.voc.parse import Rows, flags, read_chunk
from sodaudit.loaders.voc.splits import classes_of, split_column
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

    ``workers``: processes that parse the XML files and read the image headers (1 = this process
    only, 0 = one per core); chunks of files are read in a pool and joined in file order, so the
    result is the same either way."""
    limit_mb = (limits or LimitsConfig()).max_label_file_mb
    layout = layout_of(Path(path))
    issues: list[LoadIssue] = []
    notes = [note for part in layout.parts if (note := list_images(part))]
    if layout.name == "vocdevkit" and len(layout.parts) > 1:
        years = ", ".join(p.label for p in layout.parts)
        notes.append(
            f"VOC years {years} read as one dataset: each image's split is <year>/<list> from that "
            "year's ImageSets/Main (train, val and test win over trainval, as for one year)."
        )
    items = [(k, name) for k, part in enumerate(layout.parts) for name in part.xml_names]
    chunks = map_chunks(
        partial(read_chunk, root=str(layout.root), parts=layout.parts, limit_mb=limit_mb),
        items,
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
        where = layout.parts[0].ann_dir if len(layout.parts) == 1 else layout.root
        raise DatasetError(
            f"None of the {len(items)} XML files in {where} could be read as "
            f"Pascal VOC annotations (first problem, {first_problem})."
        )

    check_sizes(rows, issues, progress, workers)
    issues += unannotated(layout, rows.matched_images)
    splits = split_column(layout, rows.part, rows.xml_name, issues)

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
        meta=_meta(layout),
    )


def _meta(layout: Layout) -> dict[str, object]:
    """The layout's name and folders: one folder each for one part, lists for several."""
    ann = [p.ann_rel or "." for p in layout.parts]
    img = [(p.img_rel or ".") if p.img_dir else None for p in layout.parts]
    meta: dict[str, object] = {"layout": layout.name}
    if len(layout.parts) == 1:
        meta.update(annotations_dir=ann[0], images_dir=img[0])
    else:
        meta.update(annotations_dir=ann, images_dir=img)
    if layout.name == "vocdevkit":
        meta["years"] = [p.label for p in layout.parts]
    return meta
