"""Polygon segmentations of a few COCO annotations, read back from their files.

The loader skips ``segmentation`` (an audit of boxes does not need it). The tiling simulation
needs it for the boxes a tile border cuts, because SAHI's ``slice_coco`` measures
``min_area_ratio`` on the polygon when an annotation has one
(``sahi/utils/coco.py::CocoAnnotation.from_coco_annotation_dict``). Rows point back to their
annotation through ``source_file`` / ``source_line`` (``annotations[i]``).

A file is decoded with a Struct holding only ``segmentation`` as ``msgspec.Raw`` (a slice of
the memory-mapped input: no coordinate becomes a Python object and every other field is
skipped); only the requested slices are copied and decoded, a batch at a time, into flat
coordinate arrays. Bounded: an annotation over :data:`MAX_POLYGON_VERTICES` vertices or
:data:`MAX_POLYGONS` polygons, or past the :data:`MAX_TOTAL_VERTICES` budget, is not decoded
into geometry and keeps the box rule (``FALLBACK``, counted by the simulation).
"""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd

from sodaudit.dataset import Dataset
from sodaudit.loaders.base import mapped_limited
from sodaudit.loaders.coco.jsontext import Refused, stdlib_load

MAX_POLYGON_VERTICES = 10_000
"""Vertices (over all its polygons) of one annotation read as a polygon; COCO's own polygons
have at most a few hundred. Beyond: the box rule for that annotation (``FALLBACK``)."""
MAX_POLYGONS = 100
"""Polygons (parts) of one annotation read as a polygon; beyond: ``FALLBACK``."""
MAX_TOTAL_VERTICES = 20_000_000
"""Vertices read over a whole simulation (320 MB of float64 x, y); later annotations: ``FALLBACK``."""
MAX_SEGMENTATION_BYTES = MAX_POLYGON_VERTICES * 2 * 24
"""JSON text of one segmentation decoded at most (a number with its comma in <= 24 bytes)."""
DECODE_BATCH = 20_000
"""Segmentations decoded together: bounds the Python objects alive at once."""

NONE, POLYGON, RLE, FALLBACK, BROKEN = 0, 1, 2, 3, 4
"""Per requested row: no (or empty, or absent) segmentation -> box rule, as SAHI; a polygon
read; RLE -> box rule (SAHI skips RLE with a warning); a polygon not read (limits, budget, file
not decodable) -> box rule; a polygon SAHI cannot build (a ring of 1 or 2 points, a flat or
non-numeric list: SAHI raises)."""


class _Segmentation(msgspec.Struct, gc=False):
    segmentation: msgspec.Raw = msgspec.Raw(b"null")


class _Annotations(msgspec.Struct, gc=False):
    annotations: list[_Segmentation] = []


_FILE = msgspec.json.Decoder(_Annotations)
_BATCH = msgspec.json.Decoder(list[list[list[float]]])
_ONE = msgspec.json.Decoder(list[list[float]])
_BOM = b"\xef\xbb\xbf"


@dataclass
class Segments:
    """Segmentations of requested rows. ``kind`` per request; the ``POLYGON`` ones as ragged
    arrays: ``owner`` (request index of each), their rings ``ann_rings`` (offsets, len m + 1)
    into ``ring_points`` (offsets into ``points``, an (P, 2) array of x, y; rings not closed,
    none with fewer than 3 points)."""

    kind: np.ndarray
    owner: np.ndarray
    ann_rings: np.ndarray
    ring_points: np.ndarray
    points: np.ndarray

    @classmethod
    def empty(cls, n: int, kind: int = NONE) -> Segments:
        z = np.zeros(1, np.int64)
        return cls(np.full(n, kind, np.int8), np.zeros(0, np.int64), z, z.copy(), np.zeros((0, 2)))


class SegmentReader:
    """Reads segmentations for rows of one boxes table (positions into it) from their files."""

    def __init__(self, paths: list[Path], file_code: np.ndarray, line: np.ndarray, max_file_mb: float):
        self.paths, self.file_code, self.line, self.max_file_mb = paths, file_code, line, max_file_mb

    def __call__(self, positions: np.ndarray) -> Segments:
        positions = np.asarray(positions, np.int64)
        out = Segments.empty(len(positions))
        parts: list[tuple[np.ndarray, Segments]] = []
        budget = [MAX_TOTAL_VERTICES]
        codes = self.file_code[positions]
        for code in np.unique(codes[codes >= 0]):  # a loop over annotation files
            req = np.flatnonzero(codes == code)
            seg = read_file(self.paths[code], self.line[positions[req]], self.max_file_mb, budget)
            out.kind[req] = seg.kind
            parts.append((req, seg))
        return _join(out, parts)


def read_file(path: Path, lines: np.ndarray, max_file_mb: float, budget: list[int]) -> Segments:
    """Segmentations of ``annotations[lines]`` of one file; ``budget[0]``: vertices still allowed."""
    try:
        with mapped_limited(path, max_file_mb, "limits.max_annotation_file_mb") as view:
            body = view[len(_BOM) :] if view[: len(_BOM)] == _BOM else view
            texts = np.full(len(lines), b"null", dtype=object)
            try:
                try:
                    anns = _FILE.decode(body).annotations
                    to_text = _raw_text
                except msgspec.DecodeError as err:  # a file the loader read the tolerant way (NaN...)
                    anns = _tolerant_annotations(body, err)
                    to_text = _json_text
                ok = (lines >= 0) & (lines < len(anns))
                if ok.any():
                    picked = itemgetter(*lines[ok].tolist())(anns)
                    picked = (picked,) if ok.sum() == 1 else picked
                    # copies: nothing may keep the map past this block
                    texts[ok] = list(map(to_text, picked))
                    del picked
                del anns
            finally:
                with suppress(BufferError):  # see mapped_limited: the map is then freed later
                    body.release()
    except (OSError, ValueError, RecursionError, UnicodeDecodeError, Refused):
        return Segments.empty(len(lines), FALLBACK)  # unreadable now: the box rule
    return parse(texts.tolist(), budget)


def _raw_text(annotation: _Segmentation) -> bytes:
    return bytes(annotation.segmentation)


def _tolerant_annotations(body: memoryview, refused: Exception) -> list:
    """The annotations by the stdlib, read as the loader reads them (no copy of the file's
    bytes, bounded: :func:`stdlib_load`)."""
    doc = stdlib_load(body, refused)
    anns = doc.get("annotations") if isinstance(doc, dict) else None
    return anns if isinstance(anns, list) else []


def _json_text(annotation: object) -> bytes:
    seg = annotation.get("segmentation") if isinstance(annotation, dict) else None
    try:
        return json.dumps(seg).encode()
    except (ValueError, TypeError, RecursionError):  # a HugeInt, a deep nest
        return b"null"


def parse(texts: list[bytes], budget: list[int] | None = None) -> Segments:
    """Segments of JSON ``segmentation`` values (``b"null"`` when absent)."""
    budget = budget if budget is not None else [MAX_TOTAL_VERTICES]
    n = len(texts)
    kind = np.full(n, NONE, np.int8)
    first = np.array(texts, dtype="S1") if n else np.zeros(0, "S1")  # truncates to the first byte
    kind[first == b"{"] = RLE
    lengths = np.fromiter(map(len, texts), np.int64, n)
    listed = first == b"["
    kind[listed & (lengths > MAX_SEGMENTATION_BYTES)] = FALLBACK
    todo = np.flatnonzero(listed & (lengths <= MAX_SEGMENTATION_BYTES))
    owners, rings_of, ring_len, flat = [], [], [], []
    for lo in range(0, len(todo), DECODE_BATCH):  # batches of annotations, each one decode
        req = todo[lo : lo + DECODE_BATCH]
        chunk = itemgetter(*req.tolist())(texts) if len(req) > 1 else (texts[req[0]],)
        try:
            decoded = _BATCH.decode(b"".join((b"[", b",".join(chunk), b"]")))
        except msgspec.DecodeError:  # some are not lists of number lists: find them one by one
            decoded = list(map(_one, chunk))
            bad = np.fromiter(map(_is_none, decoded), bool, len(decoded))
            kind[req[bad]] = BROKEN  # SAHI fails on them too (zip over a number, a string)
            decoded = [d for d in decoded if d is not None]
            req = req[~bad]
        del chunk
        n_rings = np.fromiter(map(len, decoded), np.int64, len(decoded))
        rings = list(chain.from_iterable(decoded))
        del decoded
        raw_len = np.fromiter(map(len, rings), np.int64, len(rings))
        coords = np.fromiter(chain.from_iterable(rings), np.float64, int(raw_len.sum()))
        del rings
        lens = raw_len // 2  # SAHI zips x, y pairs: an odd last number is dropped
        ring_owner = np.repeat(np.arange(len(req)), n_rings)
        verts = np.bincount(ring_owner, lens, minlength=len(req)).astype(np.int64)
        tiny = np.bincount(ring_owner, (lens > 0) & (lens < 3), minlength=len(req)) > 0
        over = (verts > MAX_POLYGON_VERTICES) | (n_rings > MAX_POLYGONS)
        over |= np.cumsum(np.where(over, 0, verts)) > budget[0]
        take = (n_rings > 0) & ~over & ~tiny
        kind[req[n_rings == 0]] = NONE  # "segmentation": [[...]] empty at the top is falsy: bbox
        kind[req[over & (n_rings > 0)]] = FALLBACK
        kind[req[tiny & ~over]] = BROKEN  # Polygon() of 1-2 points raises in SAHI
        kind[req[take]] = POLYGON
        budget[0] -= int(verts[take].sum())
        keep_ring = take[ring_owner] & (lens > 0)  # an empty ring adds nothing
        ring_of_coord = np.repeat(np.arange(len(raw_len)), raw_len)
        pos = np.arange(len(coords)) - np.repeat(np.cumsum(raw_len) - raw_len, raw_len)
        keep = keep_ring[ring_of_coord] & (pos < 2 * lens[ring_of_coord])
        owners.append(req[take])
        rings_of.append(np.bincount(ring_owner[keep_ring], minlength=len(req))[take])
        ring_len.append(lens[keep_ring])
        flat.append(coords[keep])
    if not owners:
        empty = Segments.empty(0)
        return Segments(kind, empty.owner, empty.ann_rings, empty.ring_points, empty.points)
    return Segments(
        kind,
        np.concatenate(owners),
        _offsets(np.concatenate(rings_of)),
        _offsets(np.concatenate(ring_len)),
        np.concatenate(flat).reshape(-1, 2),
    )


def _is_none(value: object) -> bool:
    return value is None


def _one(text: bytes) -> list | None:
    try:
        return _ONE.decode(text)
    except msgspec.DecodeError:
        return None


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _join(out: Segments, parts: list[tuple[np.ndarray, Segments]]) -> Segments:
    """One file's segments after another, owners mapped to request indices."""
    parts = [(req, s) for req, s in parts if len(s.owner)]
    if not parts:
        return out
    out.owner = np.concatenate([req[s.owner] for req, s in parts])
    out.ann_rings = _offsets(np.concatenate([np.diff(s.ann_rings) for _, s in parts]))
    out.ring_points = _offsets(np.concatenate([np.diff(s.ring_points) for _, s in parts]))
    out.points = np.concatenate([s.points for _, s in parts])
    return out


def segment_reader(dataset: Dataset, rows: pd.DataFrame, max_file_mb: float) -> SegmentReader | None:
    """A reader for ``rows`` (box rows taken from ``dataset.boxes`` with their ``source_file``
    and ``source_line`` columns), or ``None`` when the dataset is not COCO or the rows do not
    carry their source (then the simulation keeps the box rule)."""
    if dataset.format != "coco" or "source_file" not in rows.columns or "source_line" not in rows.columns:
        return None
    paths = [dataset.root / f for f in dataset.files]
    codes = rows["source_file"].cat.codes.to_numpy().astype(np.int64)
    return SegmentReader(paths, codes, rows["source_line"].to_numpy(np.int64), max_file_mb)
