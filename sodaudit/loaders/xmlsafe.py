"""Reading an annotation XML file safely (VOC, CVAT): bounded in size, no DTD, no entities.

A file that declares a DTD (a ``<!DOCTYPE``, the only place an ``<!ENTITY`` can be declared) is
refused before any parser sees it, so no entity is ever expanded and no external entity is ever
fetched. Without a DTD, expat has nothing to expand (an entity reference is an "undefined entity"
error), which lets us use the plain (fast) ``ElementTree`` parser.

A DTD can only stand in the prolog, before the root element: after it expat itself refuses
``<!DOCTYPE``/``<!ENTITY`` as not well-formed. So only the prolog is searched, past the XML
declaration, processing instructions and comments; the same words inside a comment or a CDATA
section (an annotator's note quoting XML) are text, and such a file is read. The prolog is read
in the encoding the file declares and, in case that guess is wrong, as ASCII-compatible bytes:
either finding a declaration refuses the file.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from typing import AnyStr

from sodaudit.dataset import LoadIssue
from sodaudit.loaders.base import read_or_issue

_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_ENCODING = re.compile(rb"""<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_EXPAT_NATIVE = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "iso8859-1", "ascii"})
_ASCII_SAME = frozenset({"utf-8", "iso8859-1", "ascii"})
"""Encodings in which the markers are the same bytes as in ASCII: the byte view is the text."""


def declares_dtd(data: bytes) -> bool:
    """Whether the prolog of the XML document ``data`` declares a DOCTYPE (or an ENTITY)."""
    ascii_view = data.replace(b"\x00", b"") if b"\x00" in data[:4] else data  # UTF-16/32 text
    ascii_view = ascii_view.lstrip(b"\xef\xbb\xbf\xfe\xff")
    if _prolog_declares(ascii_view, _BYTE_MARKS):
        return True
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is None and (match := _ENCODING.match(ascii_view)):
        encoding = match.group(1).decode("ascii")
    text = _as_expat_reads(data, encoding) if encoding is not None else None
    return text is not None and _prolog_declares(text, _TEXT_MARKS)


def _as_expat_reads(data: bytes, encoding: str) -> str | None:
    """``data`` as expat decodes it when that differs from the byte view: UTF-16 (expat's own), or
    (pyexpat) a one byte -> one character table made from the Python codec; None when the byte
    view is the text, or for an encoding expat refuses. Linear in the size: no Python codec runs
    over the whole file (some are quadratic)."""
    try:
        name = codecs.lookup(encoding).name
        if name in _ASCII_SAME:
            return None
        if name in _EXPAT_NATIVE:
            return data.decode(name, errors="replace")
        table = bytes(range(256)).decode(name, errors="replace")
    except (LookupError, ValueError):  # unknown, not a text encoding, or no "replace" (idna)
        return None
    if len(table) != 256:  # a multi-byte encoding: pyexpat refuses it, the parse fails
        return None
    return codecs.charmap_decode(data, "replace", table)[0]


_BYTE_MARKS = (re.compile(rb"\s*"), b"<?", b"?>", b"<!--", b"-->", b"<!", (b"DOCTYPE", b"ENTITY"))
_TEXT_MARKS = (re.compile(r"\s*"), "<?", "?>", "<!--", "-->", "<!", ("DOCTYPE", "ENTITY"))


def _prolog_declares(text: AnyStr, marks: tuple) -> bool:
    """Whether a ``<!DOCTYPE``/``<!ENTITY`` stands in the prolog of ``text`` (bytes or str, with
    ``marks`` of the same type): skips a byte-order mark, white space, the XML declaration,
    processing instructions and comments, and stops at the first anything else (the root element,
    or something expat refuses as not well-formed)."""
    space, pi, pi_end, comment, comment_end, decl, names = marks
    i = 1 if isinstance(text, str) and text.startswith("\ufeff") else 0
    while True:
        i = space.match(text, i).end()  # \s* always matches
        if text.startswith(pi, i):
            end, size = text.find(pi_end, i + 2), 2
        elif text.startswith(comment, i):
            end, size = text.find(comment_end, i + 4), 3
        elif text.startswith(decl, i):
            return text[i + 2 : i + 9].upper().startswith(names)
        else:
            return False
        if end < 0:
            return False  # unterminated: not well-formed, expat stops there
        i = end + size


def parse_xml(
    file: str,
    rel: str,
    issues: list[LoadIssue],
    limit_mb: float,
    root_tag: str,
    limit_key: str = "limits.max_label_file_mb",
) -> tuple[ET.Element | None, bytes]:
    """Root element of one XML file and its bytes, or ``(None, b"")`` with an issue in ``issues``
    (``rel`` names the file there): too large, unreadable, a DTD, not well-formed, or a root
    element other than ``<root_tag>``."""
    data = read_or_issue(file, rel, limit_mb, limit_key, issues)
    if data is None:
        return None, b""
    if declares_dtd(data):
        issues.append(
            LoadIssue("load.xml_refused", rel, "declares a DOCTYPE/ENTITY; refused, never expanded")
        )
        return None, b""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else None
        msg = str(err).split(":")[0]
        issues.append(LoadIssue("load.malformed_xml", rel, f"not well-formed XML: {msg}", line=line))
        return None, b""
    except (ValueError, LookupError) as err:  # e.g. an unknown encoding declaration
        issues.append(LoadIssue("load.malformed_xml", rel, f"cannot be parsed: {err}", line=1))
        return None, b""
    if root.tag != root_tag:
        issues.append(LoadIssue("load.malformed_xml", rel, f"root element is <{root.tag}>, not <{root_tag}>"))
        return None, b""
    return root, data
