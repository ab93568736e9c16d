"""Element-by-element checks of a COCO document the typed decoder refused: each element is
kept, repaired or dropped with the reason a person needs to fix it."""

from __future__ import annotations

import math
import reprlib

from sodaudit.dataset import LoadIssue
from sodaudit.loaders.coco.decode import MAX_NAME_CHARS, Annotation, Category, Image
from sodaudit.loaders.coco.ids import TextIds

INT64_MAX = 2**63 - 1
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring, _SHOWN.maxother = 3, 6, 4, 36, 36


def short_repr(value: object, limit: int = 40) -> str:
    """A bad value quoted in a reason, bounded: a 100k-deep list, a 50 MB string or a
    5,000-digit integer costs a few characters (``reprlib``), never a RecursionError."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits>"
    try:
        text = _SHOWN.repr(value)
    except (RecursionError, ValueError):
        text = f"<a {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def malformed(rel: str, key: str, reason: str) -> LoadIssue:
    return LoadIssue("load.malformed_row", rel, reason, key=key)


def image_of(e: object, ids: TextIds | None = None, i: int = 0) -> tuple[Image | None, list[str]]:
    if not isinstance(e, dict):
        return None, [f"image entry is {kind_of(e)}, not an object; skipped"]
    image_id, name = as_id(e.get("id"), ids, "image", f"images[{i}]"), e.get("file_name")
    if image_id is None:
        return None, [f"image id {short_repr(e.get('id'))} is not an integer or string id; image skipped"]
    if not isinstance(name, str):
        return None, [f"file_name {short_repr(name)} is not a string; image skipped"]
    if len(name) > MAX_NAME_CHARS:
        return None, [f"file_name of {len(name):,} characters, over {MAX_NAME_CHARS:,}; image skipped"]
    # Bad sizes become NaN here; fill_sizes reads the header or reports them.
    video = _video_id(e.get("video_id"))
    return Image(image_id, name, as_float(e.get("width")), as_float(e.get("height")), video), []


def _video_id(value: object) -> int | str | None:
    """A frame's clip id when it is an int64 or a name-length string; anything else is none."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return value if isinstance(value, str) and len(value) <= MAX_NAME_CHARS else None


def annotation_of(e: object, ids: TextIds | None = None, i: int = 0) -> tuple[Annotation | None, list[str]]:
    if not isinstance(e, dict):
        return None, [f"annotation is {kind_of(e)}, not an object; dropped"]
    for key in ("image_id", "category_id"):
        if as_id(e.get(key), None, "", "") is None:
            return None, [
                f"{key} {short_repr(e.get(key))} is not an integer or string id; annotation dropped"
            ]
    bbox = e.get("bbox")
    if not isinstance(bbox, list):
        what = "missing" if "bbox" not in e else f"{kind_of(bbox)}, not a list"
        return None, [f"bbox is {what}; annotation dropped"]
    if len(bbox) != 4:
        return None, [f"bbox has {len(bbox)} values, expected 4 (x, y, w, h); annotation dropped"]
    bad = [v for v in bbox if not is_number(v)]
    if bad:
        return None, [f"bbox holds a non-numeric value {short_repr(bad[0])}; annotation dropped"]
    problems, where = [], f"annotations[{i}]"
    area = e.get("area", math.nan)
    if not is_number(area):
        problems.append(f"area {short_repr(area)} is not a number; box kept without it")
        area = math.nan
    crowd = e.get("iscrowd", 0)
    if as_int(crowd) is None:
        problems.append(f"iscrowd {short_repr(crowd)} is not 0 or 1; box kept as not crowd")
        crowd = 0
    ann_id = as_id(e.get("id"), ids, "annotation", where)
    if "id" in e and ann_id is None:
        problems.append(f"id {short_repr(e.get('id'))} is not an integer or string id; box kept")
    box = tuple(float(v) for v in bbox)
    image_id, category_id = (
        as_id(e["image_id"], ids, "image", where),
        as_id(e["category_id"], ids, "category", where),
    )
    return Annotation(image_id, category_id, box, ann_id, float(area), int(crowd)), problems


def category_of(e: object, ids: TextIds | None = None, i: int = 0) -> tuple[Category | None, list[str]]:
    if not isinstance(e, dict):
        return None, [f"category is {kind_of(e)}, not an object; skipped"]
    cat_id, name = as_id(e.get("id"), ids, "category", f"categories[{i}]"), e.get("name")
    if cat_id is None:
        return None, [f"category id {short_repr(e.get('id'))} is not an integer or string id; skipped"]
    if not isinstance(name, str):
        return None, [f"category name {short_repr(name)} is not a string; skipped"]
    if len(name) > MAX_NAME_CHARS:
        return None, [f"category name of {len(name):,} characters, over {MAX_NAME_CHARS:,}; skipped"]
    group = e.get("supercategory")
    if isinstance(group, str) and len(group) > MAX_NAME_CHARS:
        reason = f"supercategory of {len(group):,} characters, over {MAX_NAME_CHARS:,}; ignored"
        return Category(cat_id, name, None), [reason]
    return Category(cat_id, name, group if isinstance(group, str) else None), []


def is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def as_int(v: object) -> int | None:
    """An integer id, accepting ``3.0``; ``None`` for anything else (bools included)."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) <= INT64_MAX:
        return v
    return None


def as_id(v: object, ids: TextIds | None, ns: str, where: str) -> int | None:
    """An id: an integer (:func:`as_int`), or a string of at most :data:`MAX_NAME_CHARS`
    (its provisional code in ``ids``; any string passes when ``ids`` is None, to test only)."""
    if isinstance(v, str) and len(v) <= MAX_NAME_CHARS:
        return 0 if ids is None else ids.code(v, ns, where)
    return as_int(v)


def as_float(v: object) -> float:
    return float(v) if is_number(v) else math.nan


def kind_of(v: object) -> str:
    return "null" if v is None else f"a {type(v).__name__}"
