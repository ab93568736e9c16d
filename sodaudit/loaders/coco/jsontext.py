"""The stdlib reading of a COCO file the typed decoder refused, bounded against crafted JSON.

A document is first checked for JSON syntax by msgspec skipping every value of a Struct with no
fields: nothing is allocated and nothing is copied, so a corrupt (truncated, garbled) file of
any size costs only its memory map and ends as one ``load.unreadable_file`` naming the line.
Only a syntactically sound document (or one whose only oddity is a ``NaN``/``Infinity``
literal, which the stdlib reads and msgspec does not) is decoded to text, once, straight from
the map (no intermediate ``bytes`` copy), and only up to :data:`TOLERANT_MAX_BYTES`.
"""

from __future__ import annotations

import json
import re

import msgspec
import numpy as np

from sodaudit.loaders.base import MB

TOLERANT_MAX_BYTES = 512 * MB
"""Largest file read element by element by the stdlib (its text plus its Python objects: about
8x the file). COCO train2017's instances file is 448 MB. A larger file that breaks the typed
schema is one ``load.unreadable_file`` naming where it breaks, not an out-of-memory."""
MAX_INT_DIGITS = 20
"""Digits of an integer literal read as a number (int64 has 19). A longer one becomes a
:class:`HugeInt`, reported where it stands; Python refuses ints over 4,300 digits anyway."""
MAX_JSON_DEPTH_NOTE = (
    "nested deeper than the JSON decoders allow (Python's recursion limit, about 1,000 levels; "
    "a COCO document needs 5)"
)
"""The depth bound: both decoders (msgspec and the stdlib's C scanner) stop at the interpreter's
recursion limit and raise ``RecursionError``, which is caught where each decoder is called."""
LINE_SCAN_BYTES = 4 * MB
"""Bytes counted for newlines at a time when a byte offset is turned into a line number."""
_NON_STANDARD = re.compile(rb"-?(NaN|Infinity)")
_AT_BYTE = re.compile(r"\(byte (\d+)\)")


class Refused(Exception):
    """The file cannot be read at all; the message says what and where."""


class HugeInt:
    """An integer literal longer than :data:`MAX_INT_DIGITS`: never a number, shown by length."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits:,} digits>"


class _Nothing(msgspec.Struct):
    """A top-level object whose every value is skipped: decoding it only checks the syntax."""


_SYNTAX = msgspec.json.Decoder(_Nothing)


def line_of(body: memoryview | bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of byte ``offset``, counted a few MB at a time (no copy of the file)."""
    offset = max(0, min(offset, len(body)))
    line, last_newline = 1, -1
    for lo in range(0, offset, LINE_SCAN_BYTES):
        chunk = np.frombuffer(body[lo : min(offset, lo + LINE_SCAN_BYTES)], np.uint8)
        found = np.flatnonzero(chunk == 10)
        if len(found):
            line += len(found)
            last_newline = lo + int(found[-1])
    return line, offset - last_newline


def check_syntax(body: memoryview | bytes) -> None:
    """``Refused`` unless ``body`` is one JSON object (``NaN``/``Infinity`` literals allowed)."""
    try:
        _SYNTAX.decode(body)
    except RecursionError as err:
        raise Refused(f"JSON {MAX_JSON_DEPTH_NOTE}") from err
    except msgspec.ValidationError as err:  # the top level is a list, a string...
        raise Refused(f"the top level is not a COCO object ({err})") from err
    except msgspec.DecodeError as err:
        text = str(err)
        if "truncated" in text and bytes(body[-64:]).rstrip().endswith(b"}"):
            return  # msgspec also says "truncated" at a lone \\ud800 escape: the stdlib reads it
        if "truncated" in text:
            line, _ = line_of(body, len(body))
            raise Refused(f"not valid JSON: truncated (the text ends at line {line} mid-value)") from err
        found = _AT_BYTE.search(text)
        at = int(found.group(1)) if found else 0
        if found and "invalid character" in text and _NON_STANDARD.match(bytes(body[at : at + 9])):
            return  # a NaN/Infinity literal: the stdlib reads it
        line, column = line_of(body, at)
        reason = _AT_BYTE.sub("", text).replace("JSON is malformed: ", "").strip()
        raise Refused(
            f"not valid JSON, truncated or malformed ({reason} at line {line}, column {column})"
        ) from err


def where(err: Exception) -> str:
    """``annotations[12]`` from a msgspec message ``... - at `$.annotations[12].bbox[0]```."""
    found = re.search(r"`\$\.?([^`]*)`", str(err))
    if not found:
        return ""
    element = re.match(r"[A-Za-z_]+(\[\d+\])?", found.group(1))
    return element.group(0) if element else found.group(1)


def stdlib_load(body: memoryview | bytes, refused: Exception) -> object:
    """The document as Python objects by the stdlib, after :func:`check_syntax`; ``refused``:
    why the typed decoder refused it (its element is named when the stdlib cannot read the file
    either, or when the file is too large to read this way)."""
    at = where(refused)
    try:
        check_syntax(body)
    except Refused as err:
        raise Refused(f"{err}{f', first refused at {at}' if at else ''}") from err
    if len(body) > TOLERANT_MAX_BYTES:
        raise Refused(
            f"breaks the COCO schema{f' at {at}' if at else ''} ({str(refused).split(' - at ')[0]}), "
            f"and at {len(body) / MB:,.0f} MB it is over the {TOLERANT_MAX_BYTES // MB} MB read element "
            "by element; fix that element to audit the file"
        )
    try:
        text = str(body, "utf-8")  # decoded from the map: no bytes copy first
    except UnicodeDecodeError as err:
        raise Refused(f"not UTF-8 text (byte {err.start})") from err
    try:
        return json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as err:
        raise Refused(
            f"not valid JSON, truncated or malformed ({err.msg} at line {err.lineno}, column {err.colno})"
        ) from err
    except RecursionError as err:
        raise Refused(f"JSON {MAX_JSON_DEPTH_NOTE}{f', first refused at {at}' if at else ''}") from err
    except ValueError as err:  # any other limit of the stdlib's number conversion
        raise Refused(f"not readable as JSON ({err})") from err


def _bounded_int(text: str) -> int | HugeInt:
    digits = len(text) - text.startswith("-")
    return int(text) if digits <= MAX_INT_DIGITS else HugeInt(digits)
