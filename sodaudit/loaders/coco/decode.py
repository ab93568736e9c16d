"""Typed decode of one COCO JSON document into numeric columns.

msgspec Structs declare only the fields an audit reads, so the parser skips ``segmentation``
polygons and builds no index. A large document's annotations array is decoded in pieces of a
few MB, each turned into columns before the next is decoded: the Python objects of one piece
are alive at a time (about 350 bytes per annotation: ~3 GB for 8.6M at once), and the pages of
a memory-mapped input are given back as the pieces are done.

Pieces are cut at ``},{`` after the ``"annotations": [`` key, found by a text search. A cut is
only a guess, but a wrong one (inside a string, or inside a nested list of objects) always
leaves the piece before it unterminated, and a cut past the end of the array leaves trailing
text: neither can decode, so neither goes unnoticed (a wrong cut is retried at the next
``},{``). The rest of the document (images, categories, the last piece) is then decoded whole,
with a marker annotation in place of the pieces, which proves the pieces came from the
top-level ``annotations`` array. Anything unusual falls back to a first pass that keeps the
array as one raw slice (validating the document), then to the plain decode of everything.
"""

from __future__ import annotations

import math
import re
from contextlib import suppress
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter

import msgspec
import numpy as np
import pandas as pd

from sodaudit.loaders.base import drop_pages


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
    supercategory: str | None = None
    """The dataset's own grouping of classes (COCO: "vehicle" for car, bus, truck...)."""


class _Document(msgspec.Struct):
    images: list[Image]
    annotations: list[Annotation] | None = None
    categories: list[Category] | None = None


class _Skeleton(msgspec.Struct):
    """The document with its annotations kept as one raw slice of the input (no objects)."""

    images: list[Image]
    annotations: msgspec.Raw = msgspec.Raw(b"null")
    categories: list[Category] | None = None


_DOCUMENT = msgspec.json.Decoder(_Document)
_SKELETON = msgspec.json.Decoder(_Skeleton)
_ANNOTATIONS = msgspec.json.Decoder(list[Annotation])
PIECE_BYTES = 16 << 20
"""JSON bytes of annotations decoded at a time (~50k polygon or ~120k bbox-only annotations);
a document under twice this size is decoded at once."""
_BOUNDARY = re.compile(rb"\}\s*,\s*\{")
_KEY = re.compile(rb'"annotations"\s*:\s*\[')
_WRONG_CUT_RETRIES = 8
_MARKER = Annotation(-7, -7, (-1.0, -2.0, -3.0, -4.0), -7_205_759_403_792_793, -1.25e-300, -7)
"""Put first in the last piece: decoded back first, it shows which array the pieces were in."""
_MARKER_JSON = msgspec.json.encode(_MARKER)


@dataclass
class Decoded:
    """What the audit reads from one document; ``columns`` as :func:`image_columns` and
    :func:`annotation_columns` make them."""

    annotation_count: int | None
    """None when the document has no ``annotations`` array at all."""
    categories: list[Category] | None
    columns: dict[str, object]


def decode(body: memoryview | bytes) -> Decoded:
    """Decode ``body``. Raises ``msgspec.DecodeError`` (and ``OverflowError`` for integers past
    int64) when the document breaks the schema: the loader then reads it the tolerant way."""
    if len(body) >= 2 * PIECE_BYTES:
        for strategy in (_one_pass, _two_pass):
            decoded = strategy(body)
            if decoded is not None:
                return decoded
    return _whole(body)


def _whole(body: memoryview | bytes) -> Decoded:
    """The document decoded at once (its Python objects all alive together)."""
    doc = _DOCUMENT.decode(body)
    anns = doc.annotations
    columns = image_columns(doc.images) | annotation_columns(anns or [])
    return Decoded(None if anns is None else len(anns), doc.categories, columns)


def _one_pass(body: memoryview | bytes) -> Decoded | None:
    """Pieces cut from the text after the ``annotations`` key, then the rest of the document
    with the marker in their place; ``None`` when that does not work out."""
    start = _array_start(body)
    if start is None:
        return None
    columns = AnnotationColumns(len(body) // MIN_ANNOTATION_BYTES + 1)
    try:
        pos = _pieces_into(columns, body, start + 1, body)
        tail = body[pos:]
        more = bytes(tail[:64]).lstrip()[:1] != b"]"
        rest = b"".join((body[: start + 1], _MARKER_JSON, b"," if more else b"", tail))
        del tail
        doc = _DOCUMENT.decode(rest)
        del rest
        anns = doc.annotations
        if not anns or anns[0] != _MARKER:  # the pieces were not the top-level annotations
            return None
        columns.add(anns[1:])
    except (msgspec.DecodeError, OverflowError, UnicodeDecodeError):
        return None
    return Decoded(columns.n, doc.categories, image_columns(doc.images) | columns.finish())


def _array_start(body: memoryview | bytes) -> int | None:
    """Offset of the ``[`` after the first ``"annotations":`` that is a key (after ``{`` or
    ``,``: a quote inside a string is escaped, so the match is no string's text)."""
    found = _KEY.search(body)
    while found is not None:
        before = bytes(body[max(0, found.start() - 64) : found.start()]).rstrip()
        if before[-1:] in (b"{", b","):
            return found.end() - 1
        found = _KEY.search(body, found.end())
    return None


def _pieces_into(
    columns: AnnotationColumns, body: memoryview | bytes, pos: int, mapped: memoryview | bytes
) -> int:
    """Decode pieces of the array whose first element starts at ``pos`` into ``columns``;
    returns where the undecoded rest (the last piece) starts. ``mapped``: the input whose
    memory-map pages are given back after each piece."""
    while True:
        cut = _BOUNDARY.search(body, pos + PIECE_BYTES)
        for _ in range(_WRONG_CUT_RETRIES):
            if cut is None:
                return pos
            try:
                anns = _ANNOTATIONS.decode(b"".join((b"[", body[pos : cut.start() + 1], b"]")))
            except msgspec.DecodeError as err:
                if "trailing characters" in str(err):  # past the array's end: the last piece
                    return pos
                cut = _BOUNDARY.search(body, cut.end())  # a wrong cut: try the next one
                continue
            columns.add(anns)
            del anns
            drop_pages(mapped)
            pos = cut.end() - 1
            break
        else:
            return pos  # only wrong cuts: the rest is decoded whole


def _two_pass(body: memoryview | bytes) -> Decoded | None:
    """The document with its annotations as one raw slice, then the slice in pieces; ``None``
    when that does not work out."""
    skeleton = _SKELETON.decode(body)
    columns = image_columns(skeleton.images)
    categories, raw = skeleton.categories, skeleton.annotations
    del skeleton  # the raw slice holds an export of ``body``: nothing may keep it past here
    if memoryview(raw).nbytes == 4 and bytes(raw) == b"null":
        return Decoded(None, categories, columns | annotation_columns([]))
    anns = _raw_in_pieces(raw, body)
    del raw
    if anns is None:
        return None
    return Decoded(len(anns["x"]), categories, columns | anns)  # type: ignore[arg-type]


def _raw_in_pieces(raw: msgspec.Raw, body: memoryview | bytes) -> dict[str, object] | None:
    """Columns of the annotations array ``raw``, piece by piece; ``None`` when ``raw`` is not
    an array or a piece does not decode."""
    view = memoryview(raw)
    try:
        if view[:1] != b"[":
            return None
        columns = AnnotationColumns(len(view) // MIN_ANNOTATION_BYTES + 1)
        pos = _pieces_into(columns, view, 1, body)
        columns.add(_ANNOTATIONS.decode(b"".join((b"[", view[pos:]))))
    except (msgspec.DecodeError, OverflowError, UnicodeDecodeError):
        return None
    finally:
        with suppress(BufferError):  # a frame kept elsewhere still holds a slice: freed later
            view.release()
    return columns.finish()


# --------------------------------------------------------------------------- columns

MIN_ANNOTATION_BYTES = len(b'{"image_id":0,"category_id":0,"bbox":[0,0,0,0]}')
"""The shortest annotation the schema accepts: a bound on how many a JSON slice can hold."""
_FIELDS = {
    "x": np.float64,
    "y": np.float64,
    "w": np.float64,
    "h": np.float64,
    "ann_id": np.int64,
    "ann_image": np.int64,
    "category_id": np.int64,
    "ignore": np.bool_,
    "area": np.float64,
}


class AnnotationColumns:
    """Annotation columns filled piece by piece into arrays allocated once for a bound on the
    count: pages past the real count are never touched, so they cost no memory, and no piece
    is kept to be joined later (which would leave the heap fragmented)."""

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self.arrays = {name: np.empty(capacity, dtype) for name, dtype in _FIELDS.items()}
        self.id_missing: np.ndarray | None = None

    def add(self, anns: list[Annotation]) -> None:
        k = len(anns)
        if self.n + k > len(self.arrays["x"]):  # past the bound: cannot happen, but stay right
            self._grow(self.n + 2 * k)
        span = slice(self.n, self.n + k)
        # fromiter over a flat chain is several times faster than np.array of k tuples
        bbox = np.fromiter(chain.from_iterable(map(attrgetter("bbox"), anns)), np.float64, 4 * k)
        for i, name in enumerate("xywh"):
            self.arrays[name][span] = bbox[i::4]
        try:
            self.arrays["ann_id"][span] = column(anns, "id", np.int64)
        except TypeError:  # some annotations have no id
            self.arrays["ann_id"][span] = np.fromiter((a.id or 0 for a in anns), np.int64, k)
            if self.id_missing is None:
                self.id_missing = np.zeros(len(self.arrays["x"]), dtype=bool)
            self.id_missing[span] = np.fromiter((a.id is None for a in anns), bool, k)
        self.arrays["ann_image"][span] = column(anns, "image_id", np.int64)
        self.arrays["category_id"][span] = column(anns, "category_id", np.int64)
        self.arrays["ignore"][span] = column(anns, "iscrowd", np.int64) != 0
        self.arrays["area"][span] = column(anns, "area", np.float64)
        self.n += k

    def _grow(self, capacity: int) -> None:
        for name, values in self.arrays.items():
            self.arrays[name] = np.concatenate([values[: self.n], np.empty(capacity - self.n, values.dtype)])
        if self.id_missing is not None:
            self.id_missing = np.concatenate([self.id_missing[: self.n], np.zeros(capacity - self.n, bool)])

    def finish(self) -> dict[str, object]:
        """``x, y, w, h``, ids, ``area`` and ``ignore`` (``iscrowd != 0``); ``ann_id`` is a
        nullable ``Int64`` array when some annotation has no id."""
        out: dict[str, object] = {name: values[: self.n] for name, values in self.arrays.items()}
        if self.id_missing is not None:
            out["ann_id"] = pd.arrays.IntegerArray(out["ann_id"], self.id_missing[: self.n].copy())
        return out


def column(items: list, attr: str, dtype: type) -> np.ndarray:
    """One C-level pass: ``fromiter`` over an attribute getter is about twice as fast as a list
    comprehension plus ``np.array``. Integers past int64 raise OverflowError."""
    return np.fromiter(map(attrgetter(attr), items), dtype, len(items))


def image_columns(images: list[Image]) -> dict[str, object]:
    return {
        "image_id": column(images, "id", np.int64),
        "file_name": [i.file_name for i in images],
        "width": column(images, "width", np.float64),
        "height": column(images, "height", np.float64),
    }


def annotation_columns(anns: list[Annotation]) -> dict[str, object]:
    """The columns of :class:`AnnotationColumns` for a list of annotations."""
    columns = AnnotationColumns(len(anns))
    columns.add(anns)
    return columns.finish()
