"""Reading an annotation XML file safely (VOC, CVAT): bounded in size, no DTD, no entities.

A file whose bytes declare a ``<!DOCTYPE`` or ``<!ENTITY`` is refused before any parser sees it,
so no entity is ever expanded and no external entity is ever fetched. Without a DTD, expat has
nothing to expand, which lets us use the plain (fast) ``ElementTree`` parser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sodaudit.dataset import LoadIssue
from sodaudit.loaders.base import TooLarge, read_limited

_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")


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
    try:
        data = read_limited(file, limit_mb, limit_key)
    except TooLarge as err:
        issues.append(LoadIssue("load.file_too_large", rel, str(err)))
        return None, b""
    except OSError as err:
        issues.append(LoadIssue("load.unreadable_file", rel, f"cannot read: {err.strerror or err}"))
        return None, b""
    probe = data.replace(b"\x00", b"") if b"\x00" in data[:4] else data  # UTF-16 text
    if _DTD_MARKERS[0] in probe or _DTD_MARKERS[1] in probe:
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
