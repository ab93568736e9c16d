"""Writing outputs safely: a temporary file renamed into place, so nobody reads half a report.

Text that is not valid Unicode (Linux file names are bytes: Python hands an undecodable byte
such as 0xE9 over as the surrogate U+DCE9; a JSON file may hold a lone ``\\ud800``) is kept and
shown, never a crash: every output writes it as a visible escape, ``\\xe9`` for an undecodable
byte (as ``ls -b`` and Python show it, so the file can be found) and ``\\ud800`` for any other
lone surrogate. :func:`sodaudit.text.visible` does it; JSON, HTML, CSV, Markdown, JUnit and the terminal all
use it, so the same name reads the same everywhere.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sodaudit.text import json_visible as json_visible
from sodaudit.text import visible


def encode(text: str) -> bytes:
    """UTF-8 bytes; the escape pass only runs when the text holds a surrogate."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return visible(text).encode("utf-8")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Reports are shared: they get the usual file mode (0666 less the umask), not mkstemp's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = encode(data) if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
