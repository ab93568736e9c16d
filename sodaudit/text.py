"""Text that is not valid Unicode, made visible.

Linux file names are bytes: Python hands an undecodable byte such as 0xE9 over as the surrogate
U+DCE9; a JSON file may hold a lone ``\\ud800``. Such text is kept and shown, never a crash:
``\\xe9`` for an undecodable byte (as ``ls -b`` and Python show it, so the file can be found)
and ``\\ud800`` for any other lone surrogate. The dataset applies it to class names (pandas
cannot hash a lone surrogate); every output applies it to what it writes.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every lone surrogate as a visible escape (see the module docstring)."""
    return _SURROGATE.sub(lambda m: _escape(m.group()), text)


def json_visible(text: str) -> str:
    """JSON text with its lone surrogates escaped so that it stays valid JSON: the backslash of
    the escape is itself escaped, so the string decodes to the same text :func:`visible` shows."""
    return _SURROGATE.sub(lambda m: "\\" + _escape(m.group()), text)
