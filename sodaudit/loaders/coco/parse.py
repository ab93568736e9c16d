"""Reading one COCO JSON file: the typed decode first, the tolerant stdlib path when the file
breaks the schema, so one bad annotation costs one ``LoadIssue``, not the file."""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from sodaudit.config import LimitsConfig
from sodaudit.dataset import LoadIssue
from sodaudit.loaders.base import TooLarge, mapped_limited
from sodaudit.loaders.coco.decode import (
    Annotation,
    Image,
    annotation_columns,
    decode,
    image_columns,
)
from sodaudit.loaders.coco.elements import (
    INT64_MAX,
    annotation_of,
    as_int,
    category_of,
    image_of,
    kind_of,
    malformed,
)
from sodaudit.loaders.coco.ids import TextIds
from sodaudit.loaders.coco.jsontext import Refused, stdlib_load
from sodaudit.loaders.sources import coco_key

_STRING_ID = re.compile(
    r"got `str` - at `\$\.(images\[\d+\]\.id|categories\[\d+\]\.id"
    r"|annotations\[\d+\]\.(id|image_id|category_id))`"
)
"""A typed decode refused for a string id: decode again with ids as ints or strings."""

_BOM = b"\xef\xbb\xbf"


class Unreadable(Exception):
    """The file cannot be read as a COCO document at all."""


class NotInstances(Exception):
    """The file is valid COCO JSON but holds no detection boxes (captions and the like)."""


@dataclass
class Parsed:
    """One file's well-formed elements; ``*_index`` point back into the JSON arrays."""

    images: list[Image]
    image_index: list[int] | np.ndarray
    annotations: list[Annotation]
    annotation_index: list[int] | np.ndarray
    categories: list[tuple[int, str, int]]
    has_categories: bool
    issues: list[LoadIssue] = field(default_factory=list)
    columns: dict[str, object] | None = None
    """Numeric columns of ``images`` and ``annotations`` (see :func:`columns_of`), once made."""
    supercategories: dict[int, str] = field(default_factory=dict)
    """Category id -> its non-empty ``supercategory`` string (the first, when an id repeats)."""
    text_ids: TextIds | None = None
    """The file's string ids, when it has any (for the note saying so)."""


def read(json_path: Path, rel: str, limits: LimitsConfig, categories: dict[str, int] | None = None) -> Parsed:
    """Typed decode first (from a memory map of the file); the tolerant path only when the file
    breaks the schema, read from the same map (:func:`stdlib_load`: syntax checked without a
    copy, then decoded to text once, bounded). ``categories``: string category ids -> ids, shared
    by the files of one dataset (see :class:`TextIds`)."""
    try:
        with mapped_limited(
            json_path, limits.max_annotation_file_mb, "limits.max_annotation_file_mb"
        ) as view:
            body = view[len(_BOM) :] if view[: len(_BOM)] == _BOM else view
            try:
                try:
                    return typed(body, limits, rel, categories)
                except (msgspec.DecodeError, OverflowError, UnicodeDecodeError, RecursionError) as err:
                    # a bad string, a deep nest...: read it the tolerant way; no traceback keeps the map
                    refused: Exception = err.with_traceback(None)
                data = stdlib_load(body, refused)
            finally:
                with suppress(BufferError):  # see mapped_limited: the map is then freed later
                    body.release()
    except OSError as err:
        raise Unreadable(f"cannot read the file ({err.strerror or err})") from err
    except Refused as err:
        raise Unreadable(str(err)) from err
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        check_count(len(data["annotations"]), limits)
    return tolerant(data, rel, categories)


def typed(
    body: memoryview, limits: LimitsConfig, rel: str = "", categories: dict[str, int] | None = None
) -> Parsed:
    """The typed decode: msgspec copies every string out, so nothing refers to ``body`` after.
    A document with string ids is decoded again with ids as ints or strings (:mod:`.ids`)."""
    ids: TextIds | None = None
    try:
        doc = decode(body)
    except msgspec.ValidationError as err:
        if not _STRING_ID.search(str(err)):
            raise
        ids = TextIds(categories)
        doc = decode(body, ids)
    if doc.annotation_count is None:
        raise NotInstances("it has no annotations array")
    check_count(doc.annotation_count, limits)
    n_images = len(doc.columns["image_id"])  # type: ignore[arg-type]
    parsed = Parsed(
        images=[],  # only their columns are kept
        image_index=np.arange(n_images, dtype=np.int64),  # every element, in order
        annotations=[],
        annotation_index=np.arange(doc.annotation_count, dtype=np.int64),
        categories=[(c.id, c.name, i) for i, c in enumerate(doc.categories or [])],
        has_categories=doc.categories is not None,
        columns=doc.columns,
    )
    if ids is None:
        check_int64(parsed)
    for c in doc.categories or []:
        if c.supercategory:
            parsed.supercategories.setdefault(c.id, c.supercategory)
    if ids is not None:
        settle(parsed, ids, rel)
    return parsed


def settle(parsed: Parsed, ids: TextIds, rel: str) -> None:
    """Provisional string-id codes in ``parsed`` (columns, categories, supercategories) made
    final; a string that clashes with a number id is one ``load.malformed_row``."""
    cols = parsed.columns
    assert cols is not None
    cats = [c[0] for c in parsed.categories]  # as decoded: ints, strings or provisional codes
    cat_ids = ids.codes(cats, "category", "categories", 0, len(cats))
    ann_ids = cols["ann_id"]
    arrays = {
        "image": [cols["image_id"], cols["ann_image"]],
        "category": [cols["category_id"], cat_ids],
        "annotation": [getattr(ann_ids, "_data", ann_ids)],  # a nullable array: its int64 values
    }
    parsed.issues += [malformed(rel, key, reason) for key, reason in ids.settle(arrays)]  # type: ignore[arg-type]
    final = dict(zip(cats, cat_ids.tolist(), strict=True))
    parsed.categories = [(final[c], name, i) for c, (_, name, i) in zip(cats, parsed.categories, strict=True)]
    parsed.supercategories = {final.get(c, c): group for c, group in parsed.supercategories.items()}
    parsed.text_ids = ids


def check_count(count: int, limits: LimitsConfig) -> None:
    if count > limits.max_annotations:
        raise TooLarge(
            f"{count:,} annotations, more than limits.max_annotations={limits.max_annotations:,}; "
            "not loaded — raise the limit to audit it"
        )


def check_int64(parsed: Parsed) -> None:
    """Integers past int64 cannot be stored in the tables: let the tolerant path report them.
    (Image and annotation columns are checked by :func:`columns_of`, which makes them int64.)"""
    ints = [c[0] for c in parsed.categories]
    if ints and max(-min(ints), max(ints)) > INT64_MAX:
        raise OverflowError


def columns_of(parsed: Parsed) -> dict[str, object]:
    """The numeric columns of one file read by the tolerant path."""
    return image_columns(parsed.images) | annotation_columns(parsed.annotations)


def tolerant(data: object, rel: str, categories: dict[str, int] | None = None) -> Parsed:
    """Element-by-element reading of a document the typed decoder refused."""
    if not isinstance(data, dict):
        raise Unreadable(f"the top level is {kind_of(data)}, not a COCO object")
    arrays = {k: data.get(k) for k in ("images", "annotations", "categories")}
    if not isinstance(arrays["images"], list):
        raise Unreadable(f"'images' is {kind_of(arrays['images'])}, not a list")
    anns = arrays["annotations"]
    if anns is None:
        raise NotInstances("it has no annotations array")
    if not isinstance(anns, list):
        raise Unreadable(f"'annotations' is {kind_of(anns)}, not a list")
    if anns and not any(isinstance(a, dict) and "bbox" in a for a in anns):
        raise NotInstances("its annotations carry no bbox, so it holds no detection instances")
    cats = arrays["categories"]
    parsed = Parsed([], [], [], [], [], has_categories=cats is not None)
    if cats is not None and not isinstance(cats, list):
        reason = f"categories is {kind_of(cats)}, not a list; every class id is unknown"
        parsed.issues.append(malformed(rel, "categories", reason))
    ids = TextIds(categories)
    for name, elements, check in (
        ("images", arrays["images"], image_of),
        ("annotations", anns, annotation_of),
        ("categories", cats if isinstance(cats, list) else [], category_of),
    ):
        for i, element in enumerate(elements):
            value, problems = check(element, ids, i)
            if problems:
                key = coco_key(i, _id_text(element)) if name == "annotations" else f"{name}[{i}]"
                parsed.issues += [malformed(rel, key, p) for p in problems]
            if value is None:
                continue
            if name == "images":
                parsed.images.append(value)
                parsed.image_index.append(i)
            elif name == "annotations":
                parsed.annotations.append(value)
                parsed.annotation_index.append(i)
            else:
                parsed.categories.append((value.id, value.name, i))
                if value.supercategory:
                    parsed.supercategories.setdefault(value.id, value.supercategory)
    if ids.count:
        parsed.columns = columns_of(parsed)
        parsed.images, parsed.annotations = [], []
        settle(parsed, ids, rel)
    return parsed


def _id_text(element: object) -> str | None:
    """The ``id`` of an annotation element as a message shows it (the number, a string quoted,
    as :meth:`TextIds.show`); ``None`` when it has no usable one."""
    value = element.get("id") if isinstance(element, dict) else None
    if isinstance(value, str):
        return repr(value[:40])
    value = as_int(value)
    return None if value is None else str(value)
