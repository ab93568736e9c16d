"""Where a label is, as findings quote it (``source``): one form per kind of file.

- Text formats (YOLO, DOTA, VisDrone, CSV) and XML formats (VOC, CVAT, lines found by a byte
  search): ``file:line``, the 1-based line of the row or element.
- COCO: ``file#annotations[i] (id N)``, the index into the file's ``annotations`` array and the
  annotation's ``id`` (left out when it has none, or when the file spelled it as a string:
  string ids are renumbered when read, so the number would not be the file's).
- Label Studio, VIA, LabelMe: ``file#<element path>`` into the document, e.g.
  ``export.json#[3].annotations[0].result[2]``, ``via.json#_via_img_metadata["a.jpg1234"].regions[2]``,
  ``a.json#shapes[4]``.

The boxes table keeps integers, not a string per box: ``source_file`` (file ids) and
``source_line`` (the line, or the element's index in its array); COCO adds :data:`SOURCE_ID`
(the annotation id, :data:`NO_ID` when none: one int64 column, no string per box at COCO scale),
the JSON record formats :data:`SOURCE_KEY` (the element path inside the file: those loaders read
element by element and already hold it). The text is made by :func:`box_sources` only for the
rows a list shows. A load issue of a JSON file has the same path as its ``key`` (quoted as
``file#key`` by ``LoadIssue.where``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sodaudit.dataset import Dataset

SOURCE_ID = "source_id"
"""COCO boxes: the annotation's ``id`` (int64, :data:`NO_ID` when it has none to show)."""
SOURCE_KEY = "source_key"
"""Label Studio, VIA, LabelMe boxes: the element path inside ``source_file`` (``""`` when unknown)."""
NO_ID = np.iinfo(np.int64).min
"""``source_id`` of an annotation without an id to show."""
COCO_FORMAT = "coco"


def coco_key(index: int, ann_id: object = None) -> str:
    """``annotations[i] (id N)``; ``ann_id`` as the message shows it (``None``: no id)."""
    return f"annotations[{index}]" if ann_id is None else f"annotations[{index}] (id {ann_id})"


def box_sources(dataset: Dataset, rows: pd.DataFrame) -> list[str]:
    """The ``source`` text of each box row in ``rows`` (rows of ``dataset.boxes``, any subset of
    its columns, with its index): strings are made only for these rows. A column of the form
    that ``rows`` lacks is taken from ``dataset.boxes`` by the rows' index."""
    n = len(rows)
    if n == 0:
        return []
    names = np.array([*(str(f) for f in dataset.boxes["source_file"].cat.categories), ""], dtype=object)
    codes = _column(dataset, rows, "source_file")
    codes = codes.cat.codes.to_numpy() if isinstance(codes, pd.Series) else np.full(n, -1)
    files = names[codes].tolist()  # code -1 (no file) -> the "" at the end
    line = _column(dataset, rows, "source_line")
    lines = line.to_numpy(np.int64).tolist() if isinstance(line, pd.Series) else [-1] * n
    if dataset.format == COCO_FORMAT:
        ids = _column(dataset, rows, SOURCE_ID)
        shown = ids.to_numpy(np.int64).tolist() if isinstance(ids, pd.Series) else [NO_ID] * n
        return [
            f if k < 0 else f"{f}#annotations[{k}]" if i == NO_ID else f"{f}#annotations[{k}] (id {i})"
            for f, k, i in zip(files, lines, shown, strict=True)
        ]
    keys = _column(dataset, rows, SOURCE_KEY)
    if isinstance(keys, pd.Series):
        return [
            f"{f}#{key}" if key else f if k < 0 else f"{f}:{k}"
            for f, k, key in zip(files, lines, keys.tolist(), strict=True)
        ]
    return [f if k < 0 else f"{f}:{k}" for f, k in zip(files, lines, strict=True)]


def _column(dataset: Dataset, rows: pd.DataFrame, name: str) -> pd.Series | None:
    """``rows[name]``, else the dataset's column at the rows' index (its positions: the boxes
    table has a range index), else ``None``."""
    if name in rows.columns:
        return rows[name]
    if name not in dataset.boxes.columns:
        return None
    return dataset.boxes[name].take(rows.index.to_numpy())
