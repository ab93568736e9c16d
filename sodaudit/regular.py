"""Opening only regular files: a FIFO, socket or device found in a dataset is refused, never
waited on (issue 16: a FIFO named like a label file, split list or image hung ``open``).

A module of its own, with no sodaudit imports, so that loaders, image headers and every pixel
reader (``--deep``, gallery, tile figure, class crops) open files the same way."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class NotRegularFile(OSError):
    """A path that is not a regular file (a FIFO, a socket, a device, a folder): never read.

    Opening a FIFO blocks until a writer comes and a device may never end, so a dataset that
    holds one would hang the audit. An ``OSError``, so every caller that reports unreadable files
    (``load.unreadable_file``) reports it too."""


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
)
"""``O_NONBLOCK``: opening a FIFO returns at once instead of waiting for a writer (it has no
effect on reads of regular files); the ``fstat`` after it then refuses the FIFO."""


def not_regular_reason(mode: int) -> str:
    """``"not a regular file: a FIFO (named pipe); not read"`` and the like, for a ``st_mode``."""
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return f"not a regular file: {kind}; not read"


def open_regular(path: str | Path) -> tuple[int, os.stat_result]:
    """A read-only descriptor of ``path`` and its ``fstat``, or ``NotRegularFile`` for anything
    but a regular file: the open never blocks (``O_NONBLOCK``) and the check is on the opened
    file, so a FIFO swapped in after a ``stat`` is refused too. The caller closes the descriptor."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(not_regular_reason(info.st_mode))
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def is_regular(path: str | Path) -> bool:
    """``path`` (followed through symlinks) is a regular file; ``os.stat`` opens nothing."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def open_binary(path: str | Path) -> BinaryIO:
    """``open(path, "rb")`` for a regular file only: what detection sniffers read heads through.
    ``NotRegularFile`` (an ``OSError``) for a FIFO, socket or device, where a plain ``open`` in a
    sniffer would block detection before any finding could be written."""
    return open(path, "rb", opener=_regular_fd)  # opener: the file keeps its name (Pillow's errors)


def _regular_fd(path: str | Path, flags: int) -> int:
    return open_regular(path)[0]
