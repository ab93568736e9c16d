"""Typed decode of one COCO JSON document, in two processes when the document is large.

msgspec Structs declare only the fields an audit reads, so the parser skips ``segmentation``
polygons and builds no index. The decode and the column arrays of 860k annotations take 0.7-1.1 s
on one core while the other waits, so a large document is cut in two inside its ``annotations``
array: a forked process decodes the tail (everything after the cut, opened as a document of its
own), this one the head (everything before it, closed as one), and the columns are joined.

The cut is found by a byte pattern (``}`` ``,`` ``{``), so it is proven before it is used: the
head is closed with a marker annotation, which comes back as the last annotation only when the
cut fell between two elements of the top-level ``annotations`` array. Cut inside a string, a
nested list or another array, the head is invalid JSON or the marker lands elsewhere. Then, as
on any other doubt, the whole document is decoded here: the result is the same either way.
Both sides edit a few bytes of their own copy-on-write mapping of the file, never the file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import attrgetter

import msgspec
import numpy as np
import pandas as pd

from sodaudit.parallel import Background, available_workers

SPLIT_MIN_BYTES = 16 * 2**20
"""Documents from this size are decoded in two processes (when two workers are allowed): the
fork and the hand-over of the tail's columns cost ~60 ms; at 108 MB the decode and columns took
0.49 s instead of 0.71 s, at 345 MB (with polygons) 0.67 s instead of 1.04 s."""


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


class _Part(msgspec.Struct):
    """One side of a cut document: any key may be on the other side."""

    images: list[Image] | None = None
    annotations: list[Annotation] | None = None
    categories: list[Category] | None = None


_DOCUMENT = msgspec.json.Decoder(_Document)
_PART = msgspec.json.Decoder(_Part)

HEAD_SHARE = 0.5
"""Where the cut goes, as a share of the bytes from the annotations key to the end of the file.
The head also holds the images (usually before the annotations), the tail's columns have to
travel back: at 108 / 345 MB the middle gave 0.49 / 0.67 s, 0.55 gave 0.53 / 0.72 s."""

_KEY = re.compile(rb'"annotations"[ \t\r\n]*:[ \t\r\n]*\[')
_CUT = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*\{")
_OPEN = b'{"annotations":['
_MARK = -23_571_113
_CLOSE = b',{"image_id":0,"category_id":0,"bbox":[0,0,0,0],"iscrowd":%d}]}' % _MARK


@dataclass
class Decoded:
    """What the audit reads from one document; ``columns`` are the arrays of :func:`columns`."""

    images: list[Image]
    annotation_count: int | None
    """None when the document has no ``annotations`` array at all."""
    categories: list[Category] | None
    columns: dict[str, object]


def decode(body: memoryview, *, workers: int = 1) -> Decoded:
    """Decode ``body``; from :data:`SPLIT_MIN_BYTES`, in two processes if ``body`` is writable
    (a private mapping) and ``workers`` allows. Raises ``msgspec.DecodeError`` (and
    ``OverflowError`` for integers past int64) when the document breaks the schema."""
    if len(body) >= SPLIT_MIN_BYTES and not body.readonly and available_workers(workers) > 1:
        cut = find_cut(body)
        if cut is not None:
            try:
                halves = decode_halves(body, cut, workers=workers)
            except Exception:  # msgspec.DecodeError, OverflowError: the whole decode says which
                halves = None
            if halves is not None:
                return halves
    doc = _DOCUMENT.decode(body)
    anns = doc.annotations
    return Decoded(
        doc.images,
        None if anns is None else len(anns),
        doc.categories,
        image_columns(doc.images) | annotation_columns(anns or []),
    )


def find_cut(body: memoryview) -> tuple[int, int] | None:
    """(end of the head's last element, start of the tail's first) near the middle of the
    ``annotations`` array, or None. Only a candidate: :func:`decode_halves` proves it."""
    key = _KEY.search(body)
    if key is None:
        return None
    found = _CUT.search(body, key.end() + int(HEAD_SHARE * (len(body) - key.end())))
    if found is None:
        return None
    return found.start() + 1, found.end() - 1


def decode_halves(body: memoryview, cut: tuple[int, int], *, workers: int) -> Decoded | None:
    """The document decoded as head and tail of ``cut`` in two processes; None when the cut is
    not between two elements of the top-level annotations array (or a key is on both sides)."""
    end, start = cut
    if start < len(_OPEN) or end + len(_CLOSE) > len(body):
        return None  # no room for the edits (a tiny document)
    tail_job = Background(partial(_decode_tail, body, start), workers=workers)
    try:
        head = _decode_head(body, end)
    finally:  # collect the child even when the head failed
        tail, tail_columns = tail_job.result()
    if head is None:
        return None
    head, head_columns = head
    if head.images is not None and tail.images is not None:
        return None  # "images" twice: let the whole decode decide
    if head.categories is not None and tail.categories is not None:
        return None
    images = head.images if head.images is not None else tail.images
    if images is None:
        return None  # no images array: the whole decode raises the schema error
    columns = {name: _join(head_columns[name], tail_columns[name]) for name in tail_columns}
    columns |= {name: head_columns[name] for name in head_columns if name not in tail_columns}
    if head.images is None:
        columns |= image_columns(images)
    count = len(columns["category_id"])
    categories = head.categories if head.categories is not None else tail.categories
    return Decoded(images, count, categories, columns)


def _decode_head(body: memoryview, end: int) -> tuple[_Part, dict[str, object]] | None:
    """Everything before the cut, closed with the marker: None unless the marker comes back as
    the last annotation (the cut was between two top-level annotations). The image columns are
    made here while the tail is still being decoded."""
    stop = end + len(_CLOSE)
    saved = bytes(body[end:stop])
    body[end:stop] = _CLOSE
    try:
        part = _PART.decode(body[:stop])
    finally:
        body[end:stop] = saved
    anns = part.annotations
    if not anns or anns[-1].iscrowd != _MARK or anns[-1].bbox != (0.0, 0.0, 0.0, 0.0):
        return None
    anns.pop()
    columns = annotation_columns(anns)
    if part.images is not None:
        columns |= image_columns(part.images)
    part.annotations = None  # freed now, while the tail is still being decoded
    return part, columns


def _decode_tail(body: memoryview, start: int) -> tuple[_Part, dict[str, object]]:
    """Everything after the cut, opened as a document whose annotations array starts there.
    Only the columns and the (rare) images or categories after the annotations travel back."""
    begin = start - len(_OPEN)
    saved = bytes(body[begin:start])
    body[begin:start] = _OPEN
    try:
        part = _PART.decode(body[begin:])
    finally:
        body[begin:start] = saved
    anns = part.annotations or []
    part.annotations = None
    return part, annotation_columns(anns)


def _join(head: object, tail: object) -> object:
    if isinstance(head, np.ndarray) and isinstance(tail, np.ndarray):
        return np.concatenate([head, tail])
    return pd.array([*head, *tail], dtype="Int64")  # some annotations have no id


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
