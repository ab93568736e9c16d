"""Reading one COCO JSON file: the typed decode first, the tolerant stdlib path when the file
breaks the schema, so one bad annotation costs one ``LoadIssue``, not the file."""

from __future__ import annotations

import json
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
    category_of,
    image_of,
    kind_of,
    malformed,
)

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


def read(json_path: Path, rel: str, limits: LimitsConfig) -> Parsed:
    """Typed decode first (from a memory map of the file); the tolerant path only when the file
    breaks the schema."""
    try:
        with mapped_limited(
            json_path, limits.max_annotation_file_mb, "limits.max_annotation_file_mb"
        ) as view:
            body = view[len(_BOM) :] if view[: len(_BOM)] == _BOM else view
            try:
                return typed(body, limits)
            except (msgspec.DecodeError, OverflowError, UnicodeDecodeError):  # bad UTF-8 in a string
                raw = bytes(body)  # the stdlib parser needs bytes; rare, so a copy is fine
            finally:
                with suppress(BufferError):  # see mapped_limited: the map is then freed later
                    body.release()
    except OSError as err:
        raise Unreadable(f"cannot read the file ({err.strerror or err})") from err
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise Unreadable(f"not UTF-8 text (byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise Unreadable(
            f"not valid JSON, truncated or malformed ({err.msg} at line {err.lineno}, column {err.colno})"
        ) from err
    except RecursionError as err:
        raise Unreadable("JSON nested too deeply to read") from err
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        check_count(len(data["annotations"]), limits)
    return tolerant(data, rel)


def typed(body: memoryview, limits: LimitsConfig) -> Parsed:
    """The typed decode: msgspec copies every string out, so nothing refers to ``body`` after."""
    doc = decode(body)
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
    for c in doc.categories or []:
        if c.supercategory:
            parsed.supercategories.setdefault(c.id, c.supercategory)
    check_int64(parsed)
    return parsed


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


def tolerant(data: object, rel: str) -> Parsed:
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
    for name, elements, check in (
        ("images", arrays["images"], image_of),
        ("annotations", anns, annotation_of),
        ("categories", cats if isinstance(cats, list) else [], category_of),
    ):
        for i, element in enumerate(elements):
            value, problems = check(element)
            parsed.issues += [malformed(rel, f"{name}[{i}]", p) for p in problems]
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
    return parsed
