"""Typed decode of one COCO JSON document.

msgspec Structs declare only the fields an audit reads, so the parser skips ``segmentation``
polygons and builds no index; the columns are then made in one C-level pass per field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter

import msgspec
import numpy as np
import pandas as pd


class Image(msgspec.Struct, gc=False):
    id: int
    file_name: str
    width: float = math.nan
    height: float = math.nan


class Annotation(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    id: int | None = None
    area: float = math.nan
    iscrowd: int = 0


class Category(msgspec.Struct, gc=False):
    id: int
    name: str


class _Document(msgspec.Struct):
    images: list[Image]
    annotations: list[Annotation] | None = None
    categories: list[Category] | None = None


_DOCUMENT = msgspec.json.Decoder(_Document)


@dataclass
class Decoded:
    """What the audit reads from one document; ``columns`` are the arrays of :func:`columns`."""

    images: list[Image]
    annotation_count: int | None
    """None when the document has no ``annotations`` array at all."""
    categories: list[Category] | None
    columns: dict[str, object]


def decode(body: memoryview | bytes) -> Decoded:
    """Decode ``body``. Raises ``msgspec.DecodeError`` (and ``OverflowError`` for integers past
    int64) when the document breaks the schema: the loader then reads it the tolerant way."""
    doc = _DOCUMENT.decode(body)
    anns = doc.annotations
    return Decoded(
        doc.images,
        None if anns is None else len(anns),
        doc.categories,
        image_columns(doc.images) | annotation_columns(anns or []),
    )


def _column(items: list, attr: str, dtype: type) -> np.ndarray:
    """One C-level pass: ``fromiter`` over an attribute getter is about twice as fast as a list
    comprehension plus ``np.array``. Integers past int64 raise OverflowError."""
    return np.fromiter(map(attrgetter(attr), items), dtype, len(items))


def image_columns(images: list[Image]) -> dict[str, object]:
    return {
        "image_id": _column(images, "id", np.int64),
        "width": _column(images, "width", np.float64),
        "height": _column(images, "height", np.float64),
    }


def annotation_columns(anns: list[Annotation]) -> dict[str, object]:
    n = len(anns)
    try:
        ann_ids: object = _column(anns, "id", np.int64)
    except TypeError:  # some annotations have no id
        ann_ids = pd.array([a.id for a in anns], dtype="Int64")
    return {
        # fromiter over a flat chain is several times faster than np.array of 860k tuples
        "bbox": np.fromiter(chain.from_iterable(a.bbox for a in anns), np.float64, 4 * n).reshape(n, 4),
        "ann_id": ann_ids,
        "ann_image": _column(anns, "image_id", np.int64),
        "category_id": _column(anns, "category_id", np.int64),
        "iscrowd": _column(anns, "iscrowd", np.int64),
        "area": _column(anns, "area", np.float64),
    }
