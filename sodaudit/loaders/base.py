"""What every format loader shares: the ``Loader`` protocol, the detection record, bounded reads
and safe path handling.

Loaders never raise on a defect inside a file: they record a ``LoadIssue`` and go on. They
raise ``DatasetError`` only when nothing at the path can be read as their format.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from sodaudit.pool import ProgressFn
from sodaudit.regular import (  # re-exported: the loaders import them from here
    NotRegularFile,
    is_regular,
    not_regular_reason,
    open_binary,
    open_regular,
)

__all__ = ["NotRegularFile", "is_regular", "not_regular_reason", "open_binary", "open_regular"]

if TYPE_CHECKING:
    from sodaudit.config import LimitsConfig
    from sodaudit.dataset import Dataset, LoadIssue


@dataclass(frozen=True)
class Detection:
    """A format's claim on a path, with the evidence shown to the user.

    ``fallback``: the claim rests on a file's name or extension only (COCO takes any ``.json``
    it is given, so that a broken COCO file gets COCO's error); the dispatcher drops it when
    another format claims the path on its content."""

    format: str
    root: Path
    evidence: str
    fallback: bool = False


class Loader(Protocol):
    """A format loader: each format's package (``sodaudit.loaders.coco`` ...) is one, so the
    dispatcher in :mod:`sodaudit.loaders` treats every format alike."""

    FORMAT: str

    def detect(self, path: Path) -> Detection | None:
        """The format's claim on ``path`` from names and file heads, or ``None``; never a full read."""
        ...

    def load(
        self,
        path: Path,
        *,
        imgsz: int = 640,
        limits: LimitsConfig | None = None,
        progress: ProgressFn | None = None,
        workers: int = 1,
    ) -> Dataset:
        """The canonical ``Dataset``; defects inside files become ``LoadIssue``s."""
        ...


T = TypeVar("T")
MB = 1 << 20
PROGRESS_EVERY = 256


def counted(items: Sequence[T], what: str, progress: ProgressFn | None) -> Iterator[T]:
    """``items`` one by one, telling ``progress`` every few hundred items and at the end."""
    total = len(items)
    for done, item in enumerate(items):
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(what, done, total)
        yield item
    if progress is not None:
        progress(what, total, total)


class TooLarge(Exception):
    """A file past a configured size limit: reported as ``load.file_too_large``, never read."""


def read_head(path: str | Path, n_bytes: int) -> bytes:
    """At most the first ``n_bytes`` of ``path`` (what detection sniffs); ``NotRegularFile`` (an
    ``OSError``) for a FIFO, socket or device, which a plain ``open`` would block on or never end."""
    fd, _ = open_regular(path)
    try:
        return os.read(fd, n_bytes)
    finally:
        os.close(fd)


def read_limited(path: str | Path, limit_mb: float, key: str) -> bytes:
    """The bytes of ``path``, or ``TooLarge`` when it is larger than ``limit_mb`` (the config key
    ``key`` names the limit), reading at most one byte past the limit, so a 2 GB line never
    reaches memory. ``NotRegularFile`` (an ``OSError``) for a FIFO, socket or device.

    Plain ``os`` calls, sized by ``fstat``: one read for a file that does not grow meanwhile
    (each system call hands the GIL to any other thread, so fewer of them keep a busy thread
    from slowing 100,000 small reads)."""
    limit = int(limit_mb * MB)
    too_large = f"larger than {limit_mb:g} MB ({key}); not read — raise the limit to read it"
    fd, info = open_regular(path)
    try:
        if info.st_size > limit:
            raise TooLarge(too_large)
        parts: list[bytes] = []
        total, expected = 0, info.st_size
        while total <= limit:
            want = min(limit + 1, max(expected, total) + 1) - total
            chunk = os.read(fd, max(want, 1))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
            if total == expected and len(chunk) < want:  # the size fstat gave, and a short read: EOF
                break
            expected = max(expected, total + (1 << 16))  # grown since fstat: read on in 64 KB steps
    finally:
        os.close(fd)
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    if len(data) > limit:
        raise TooLarge(too_large)
    return data


def read_or_issue(
    path: str | Path, rel: str, limit_mb: float, key: str, issues: list[LoadIssue]
) -> bytes | None:
    """:func:`read_limited`, or ``None`` with the issue every loader gives for it in ``issues``:
    ``load.file_too_large`` past the limit, ``load.unreadable_file`` otherwise (``rel`` names the
    file there)."""
    from sodaudit.dataset import LoadIssue

    try:
        return read_limited(path, limit_mb, key)
    except TooLarge as err:
        issues.append(LoadIssue("load.file_too_large", rel, str(err)))
    except OSError as err:
        issues.append(LoadIssue("load.unreadable_file", rel, f"cannot read: {err.strerror or err}"))
    return None


@contextmanager
def mapped_limited(path: str | Path, limit_mb: float, key: str) -> Iterator[memoryview]:
    """The bytes of ``path`` as a read-only view of a memory map: a 370 MB JSON is decoded
    without first copying it into a 370 MB ``bytes``. ``TooLarge`` as in :func:`read_limited`,
    from the file's size, before anything is read; ``NotRegularFile`` for a FIFO, socket or
    device (never opened in a way that blocks). Files that cannot be mapped (empty) are read by
    :func:`read_limited`. The view is valid only inside the ``with`` block.
    """
    limit = int(limit_mb * MB)
    fd, info = open_regular(path)
    try:
        if info.st_size > limit:
            raise TooLarge(f"larger than {limit_mb:g} MB ({key}); not read — raise the limit to read it")
        mapped = None
        if info.st_size > 0:
            try:
                mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                mapped = None
    finally:
        os.close(fd)
    if mapped is None or len(mapped) > limit:  # not mappable, or grown since the size check
        if mapped is not None:
            mapped.close()
        with memoryview(read_limited(path, limit_mb, key)) as view:
            yield view
        return
    view = memoryview(mapped)
    try:
        yield view
    finally:
        # A buffer of the view still alive somewhere (a frame kept by a traceback or a
        # profiler): the map stays until the GC frees that, then it is unmapped.
        with suppress(BufferError):
            view.release()
            mapped.close()


def drop_pages(view: memoryview | bytes) -> None:
    """Give back the pages of a memory map that ``view`` was read from (a no-op for other
    buffers): they count in this process's RSS while mapped, yet the page cache keeps them, so
    a later read of the view maps them again at the cost of a minor fault."""
    mapped = view.obj if isinstance(view, memoryview) else None
    if isinstance(mapped, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        with suppress(OSError, ValueError):  # closed meanwhile, or madvise refused: keep the pages
            mapped.madvise(mmap.MADV_DONTNEED)


def relpath(path: Path | str, root: Path) -> str:
    """Path shown in findings: relative to the dataset root when inside it, POSIX style."""
    try:
        return (
            Path(os.path.relpath(path, root)).as_posix()
            if Path(path).is_absolute()
            else Path(path).as_posix()
        )
    except ValueError:
        return Path(path).as_posix()


def resolve_inside(root: Path, name: str) -> Path | None:
    """``root / name`` when it stays inside ``root``; ``None`` for ``..`` escapes or absolute names.

    A dataset file must never make sodaudit read outside the dataset.
    """
    candidate = Path(name)
    if candidate.is_absolute() or candidate.drive:
        return None
    root_resolved = root.resolve()
    full = (root_resolved / candidate).resolve()
    try:
        full.relative_to(root_resolved)
    except ValueError:
        return None
    return full


def short_repr(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: a bad value quoted in a reason stays readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
