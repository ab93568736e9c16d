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
array as one raw slice (validating the document), then to the plain decode of everything; none
of them copies more than :data:`MAX_REST_BYTES` of the input. A document with string ids is
decoded again with the ``Text*`` Structs, ids as ints or strings (:mod:`.ids`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Annotated

import msgspec
import numpy as np
import pandas as pd

from sodaudit.loaders.base import drop_pages
from sodaudit.loaders.coco.ids import TextIds

MAX_NAME_CHARS = 4096
"""Characters of a ``file_name``, category ``name``, ``supercategory`` or string id (PATH_MAX is
4096): a longer one is a crafted or broken value; the typed decode refuses it and the
element-by-element path reports it, so it is never carried through the audit."""
Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]


class Image(msgspec.Struct, gc=False):
    id: int
    file_name: Name
    width: float = math.nan
    height: float = math.nan
    video_id: int | Name | None = None
    """The clip a frame belongs to (COCO-VID, TAO, YouTube-VIS): the splits analyzer's sequences."""


class Annotation(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    id: int | None = None
    area: float = math.nan
    iscrowd: int = 0


class Category(msgspec.Struct, gc=False):
    id: int
    name: Name
    supercategory: Name | None = None
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


TextId = int | Name
"""An id as pycocotools takes it: a number, or a string (of at most a name's length)."""


class TextImage(Image, gc=False):
    """An image whose id may be a string (see :mod:`sodaudit.loaders.coco.ids`)."""

    id: TextId


class TextAnnotation(Annotation, gc=False):
    image_id: TextId
    category_id: TextId
    id: TextId | None = None


class TextCategory(Category, gc=False):
    id: TextId


class _TextDocument(msgspec.Struct):
    images: list[TextImage]
    annotations: list[TextAnnotation] | None = None
    categories: list[TextCategory] | None = None


class _TextSkeleton(msgspec.Struct):
    images: list[TextImage]
    annotations: msgspec.Raw = msgspec.Raw(b"null")
    categories: list[TextCategory] | None = None


_DOCUMENT = msgspec.json.Decoder(_Document)
_SKELETON = msgspec.json.Decoder(_Skeleton)
_ANNOTATIONS = msgspec.json.Decoder(list[Annotation])
_TEXT = (
    msgspec.json.Decoder(_TextDocument),
    msgspec.json.Decoder(_TextSkeleton),
    msgspec.json.Decoder(list[TextAnnotation]),
)
PIECE_BYTES = 16 << 20
"""JSON bytes of annotations decoded at a time (~50k polygon or ~120k bbox-only annotations);
a document under twice this size is decoded at once."""
MAX_REST_BYTES = 96 << 20
"""Bytes of a large document outside the pieces (images before the annotations, the last piece,
what follows) copied at most to put the marker in (COCO train2017: about 40 MB). A larger rest,
or pieces that stopped early, go to :func:`_two_pass`, which reads everything in place: a
crafted or corrupt file never costs a copy of itself."""
_BOUNDARY = re.compile(rb"\}\s*,\s*\{")
_KEY = re.compile(rb'"annotations"\s*:\s*\[')
_WRONG_CUT_RETRIES = 8
_MARKER = Annotation(-7, -7, (-1.0, -2.0, -3.0, -4.0), -7_205_759_403_792_793, -1.25e-300, -7)
"""Put first in the last piece: decoded back first, it shows which array the pieces were in."""
_MARKER_JSON = msgspec.json.encode(_MARKER)
_TEXT_MARKER = msgspec.json.decode(_MARKER_JSON, type=TextAnnotation)


def _schema(ids: TextIds | None) -> tuple[msgspec.json.Decoder, msgspec.json.Decoder, msgspec.json.Decoder]:
    """Document, skeleton and annotations decoders: ids as ints, or as ints or strings."""
    return (_DOCUMENT, _SKELETON, _ANNOTATIONS) if ids is None else _TEXT


@dataclass
class Decoded:
    """What the audit reads from one document; ``columns`` as :func:`image_columns` and
    :func:`annotation_columns` make them."""

    annotation_count: int | None
    """None when the document has no ``annotations`` array at all."""
    categories: list[Category] | None
    columns: dict[str, object]


def decode(body: memoryview | bytes, ids: TextIds | None = None) -> Decoded:
    """Decode ``body``. Raises ``msgspec.DecodeError`` (and ``OverflowError`` for integers past
    int64) when the document breaks the schema: the loader then reads it the tolerant way.
    With ``ids``, image and category ids may be strings (their provisional codes are in the
    columns and categories, to be settled by ``ids``)."""
    if len(body) >= 2 * PIECE_BYTES:
        for strategy in (_one_pass, _two_pass):
            decoded = strategy(body, ids)
            if decoded is not None:
                return decoded
    return _whole(body, ids)


def _whole(body: memoryview | bytes, ids: TextIds | None) -> Decoded:
    """The document decoded at once (its Python objects all alive together)."""
    doc = _schema(ids)[0].decode(body)
    anns = doc.annotations
    columns = image_columns(doc.images, ids) | annotation_columns(anns or [], ids)
    return Decoded(None if anns is None else len(anns), doc.categories, columns)


def _one_pass(body: memoryview | bytes, ids: TextIds | None) -> Decoded | None:
    """Pieces cut from the text after the ``annotations`` key, then the rest of the document
    with the marker in their place; ``None`` when that does not work out, or when the pieces
    stopped early (only wrong cuts, or a defect): the rest is then not copied to be decoded
    whole (a corrupt 2 GB file would cost 2 GB more), :func:`_two_pass` reads it in place."""
    start = _array_start(body)
    if start is None:
        return None
    document, _, _ = _schema(ids)
    columns = AnnotationColumns(len(body) // MIN_ANNOTATION_BYTES + 1, ids)
    try:
        pos, gave_up = _pieces_into(columns, body, start + 1, body)
        if gave_up or start + len(body) - pos > MAX_REST_BYTES:
            return None
        tail = body[pos:]
        more = bytes(tail[:64]).lstrip()[:1] != b"]"
        rest = b"".join((body[: start + 1], _MARKER_JSON, b"," if more else b"", tail))
        del tail
        doc = document.decode(rest)
        del rest
        anns = doc.annotations
        if not anns or anns[0] != (_MARKER if ids is None else _TEXT_MARKER):  # not the top level
            return None
        columns.add(anns[1:])
    except (msgspec.DecodeError, OverflowError, UnicodeDecodeError, RecursionError):
        return None
    return Decoded(columns.n, doc.categories, image_columns(doc.images, ids) | columns.finish())


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
) -> tuple[int, bool]:
    """Decode pieces of the array whose first element starts at ``pos`` into ``columns``;
    returns where the undecoded rest (the last piece) starts, and whether the pieces stopped
    early (only wrong cuts: a defect, or nested lists of objects). ``mapped``: the input whose
    memory-map pages are given back after each piece."""
    while True:
        cut = _BOUNDARY.search(body, pos + PIECE_BYTES)
        for _ in range(_WRONG_CUT_RETRIES):
            if cut is None:
                return pos, False
            try:
                piece = b"".join((b"[", body[pos : cut.start() + 1], b"]"))
                anns = _schema(columns.ids)[2].decode(piece)
            except msgspec.DecodeError as err:
                if "trailing characters" in str(err):  # past the array's end: the last piece
                    return pos, False
                cut = _BOUNDARY.search(body, cut.end())  # a wrong cut: try the next one
                continue
            columns.add(anns)
            del anns
            drop_pages(mapped)
            pos = cut.end() - 1
            break
        else:
            return pos, True  # only wrong cuts


def _two_pass(body: memoryview | bytes, ids: TextIds | None) -> Decoded | None:
    """The document with its annotations as one raw slice, then the slice in pieces; ``None``
    when that does not work out."""
    skeleton = _schema(ids)[1].decode(body)
    columns = image_columns(skeleton.images, ids)
    categories, raw = skeleton.categories, skeleton.annotations
    del skeleton  # the raw slice holds an export of ``body``: nothing may keep it past here
    if memoryview(raw).nbytes == 4 and bytes(raw) == b"null":
        return Decoded(None, categories, columns | annotation_columns([]))
    anns = _raw_in_pieces(raw, body, ids)
    del raw
    if anns is None:
        return None
    return Decoded(len(anns["x"]), categories, columns | anns)  # type: ignore[arg-type]


def _raw_in_pieces(
    raw: msgspec.Raw, body: memoryview | bytes, ids: TextIds | None
) -> dict[str, object] | None:
    """Columns of the annotations array ``raw``, piece by piece; ``None`` when ``raw`` is not
    an array or a piece does not decode."""
    view = memoryview(raw)
    try:
        if view[:1] != b"[":
            return None
        columns = AnnotationColumns(len(view) // MIN_ANNOTATION_BYTES + 1, ids)
        pos, gave_up = _pieces_into(columns, view, 1, body)
        if gave_up and len(view) - pos > 2 * PIECE_BYTES:
            return None  # not a copy of the rest: decode() then reads the whole document in place
        columns.add(_schema(ids)[2].decode(b"".join((b"[", view[pos:]))))
    except (msgspec.DecodeError, OverflowError, UnicodeDecodeError, RecursionError):
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

    def __init__(self, capacity: int, ids: TextIds | None = None) -> None:
        self.n, self.ids = 0, ids
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
            self.arrays["ann_id"][span] = self._ids(map(attrgetter("id"), anns), "annotation", k)
        except TypeError:  # some annotations have no id
            values = (0 if a.id is None else a.id for a in anns)
            self.arrays["ann_id"][span] = self._ids(values, "annotation", k)
            if self.id_missing is None:
                self.id_missing = np.zeros(len(self.arrays["x"]), dtype=bool)
            self.id_missing[span] = np.fromiter((a.id is None for a in anns), bool, k)
        self.arrays["ann_image"][span] = self._ids(map(attrgetter("image_id"), anns), "image", k)
        self.arrays["category_id"][span] = self._ids(map(attrgetter("category_id"), anns), "category", k)
        self.arrays["ignore"][span] = column(anns, "iscrowd", np.int64) != 0
        self.arrays["area"][span] = column(anns, "area", np.float64)
        self.n += k

    def _ids(self, values: Iterator[object], ns: str, k: int) -> np.ndarray:
        """``k`` ids of the annotations being added: ints, or string ids coded by ``self.ids``."""
        if self.ids is None:
            return np.fromiter(values, np.int64, k)  # a None raises TypeError
        return self.ids.codes(values, ns, "annotations", self.n, k)

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


def image_columns(images: list[Image], ids: TextIds | None = None) -> dict[str, object]:
    n = len(images)
    return {
        "image_id": column(images, "id", np.int64)
        if ids is None
        else ids.codes(map(attrgetter("id"), images), "image", "images", 0, n),
        "file_name": [i.file_name for i in images],
        "width": column(images, "width", np.float64),
        "height": column(images, "height", np.float64),
        **_video_ids(images),
    }


def _video_ids(images: list[Image]) -> dict[str, list[str | None]]:
    """``{"video_id": [...]}`` (as text; None for frames without one) when any image has one."""
    videos = [i.video_id for i in images]
    if all(v is None for v in videos):
        return {}
    return {"video_id": [None if v is None else str(v) for v in videos]}


def annotation_columns(anns: list[Annotation], ids: TextIds | None = None) -> dict[str, object]:
    """The columns of :class:`AnnotationColumns` for a list of annotations."""
    columns = AnnotationColumns(len(anns), ids)
    columns.add(anns)
    return columns.finish()
