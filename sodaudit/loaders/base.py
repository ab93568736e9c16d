"""What every format loader shares: the detection record and safe path handling.

A loader module exposes ``FORMAT``, ``detect(path) -> Detection | None`` and
``load(path, *, imgsz) -> Dataset``. Loaders never raise on a defect inside a file:
they record a ``LoadIssue`` and go on. They raise ``DatasetError`` only when nothing
at the path can be read as their format.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sodaudit.parallel import available_workers, fork_map


@dataclass(frozen=True)
class Detection:
    """A format's claim on a path, with the evidence shown to the user."""

    format: str
    root: Path
    evidence: str


T = TypeVar("T")
R = TypeVar("R")
MB = 1 << 20

ProgressFn = Callable[[str, int, int], None]
"""``progress(what, done, total)``: loaders report long file loops to the terminal's bar."""
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


PARALLEL_MIN_FILES = 2000
"""Below this many files a loader reads them in this process: forking costs more than it saves."""
CHUNKS_PER_WORKER = 4
"""Chunks per process, so the parent's progress bar moves while children work."""


def chunked_map(
    fn: Callable[[Sequence[T], ProgressFn | None], R],
    items: Sequence[T],
    *,
    workers: int,
    what: str,
    progress: ProgressFn | None,
) -> list[R]:
    """``fn`` over contiguous chunks of ``items``, in forked processes when there are many files.

    Results come back in item order, so concatenating them gives what ``fn(items)`` gives: one
    call here when serial (``workers == 1``, few items, or already inside a worker). ``fn`` gets
    ``progress`` only in the serial case; in parallel the parent reports each chunk it finishes
    (a child's calls could not reach the parent's terminal).
    """
    return chunked_maps([(fn, items)], workers=workers, what=what, progress=progress)[0]


def chunked_maps(
    jobs: Sequence[tuple[Callable[[Sequence[Any], ProgressFn | None], Any], Sequence[Any]]],
    *,
    workers: int,
    what: str,
    progress: ProgressFn | None,
) -> list[list[Any]]:
    """Several :func:`chunked_map` jobs (function, items) in one round of forked processes:
    one fork and one wait for, say, label files and image headers instead of two. The result
    holds each job's chunk results in item order."""
    workers = available_workers(workers)
    total = sum(len(items) for _, items in jobs)
    if workers <= 1 or total < PARALLEL_MIN_FILES:
        return [[fn(items, progress)] for fn, items in jobs]
    parent = os.getpid()
    done = [0]
    if progress is not None:
        progress(what, 0, total)

    def task(fn: Callable, items: Sequence[Any], lo: int, hi: int) -> Callable[[], Any]:
        def run() -> Any:
            result = fn(items[lo:hi], None)
            if progress is not None and os.getpid() == parent:
                done[0] += hi - lo  # children work at the same pace: an estimate of the whole
                progress(what, min(total - 1, done[0] * workers), total)
            return result

        return run

    tasks, sizes, owner = [], [], []
    for job, (fn, items) in enumerate(jobs):
        n_chunks = max(1, min(len(items), workers * CHUNKS_PER_WORKER))
        bounds = [len(items) * k // n_chunks for k in range(n_chunks + 1)]
        for k in range(n_chunks):
            tasks.append(task(fn, items, bounds[k], bounds[k + 1]))
            sizes.append(bounds[k + 1] - bounds[k])
            owner.append(job)
    results = fork_map(tasks, workers=workers, weights=sizes)
    if progress is not None:
        progress(what, total, total)
    return [[r for r, j in zip(results, owner, strict=True) if j == job] for job in range(len(jobs))]


class TooLarge(Exception):
    """A file past a configured size limit: reported as ``load.file_too_large``, never read."""


def read_limited(path: str | Path, limit_mb: float, key: str) -> bytes:
    """The bytes of ``path``, or ``TooLarge`` when it is larger than ``limit_mb`` (the config key
    ``key`` names the limit), reading at most one byte past the limit, so a 2 GB line never
    reaches memory."""
    limit = int(limit_mb * MB)
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"larger than {limit_mb:g} MB ({key}); not read — raise the limit to read it")
    return data


@contextmanager
def mapped_limited(
    path: str | Path, limit_mb: float, key: str, *, private: bool = False
) -> Iterator[memoryview]:
    """The bytes of ``path`` as a read-only view of a memory map: a 370 MB JSON is decoded
    without first copying it into a 370 MB ``bytes``. ``TooLarge`` as in :func:`read_limited`,
    from the file's size, before anything is read. Files that cannot be mapped (empty, a pipe)
    are read by :func:`read_limited`. The view is valid only inside the ``with`` block.

    ``private``: a writable copy-on-write mapping instead; writes stay in this process's (or a
    forked child's) own pages and never reach the file.
    """
    limit = int(limit_mb * MB)
    with open(path, "rb") as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            regular = stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
        except OSError:
            size, regular = 0, False
        if regular and size > limit:
            raise TooLarge(f"larger than {limit_mb:g} MB ({key}); not read — raise the limit to read it")
        mapped = None
        if regular and size > 0:
            try:
                access = mmap.ACCESS_COPY if private else mmap.ACCESS_READ
                mapped = mmap.mmap(handle.fileno(), 0, access=access)
            except (OSError, ValueError):
                mapped = None
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
        view.release()
        with suppress(BufferError):  # a slice of the view still alive somewhere: the GC unmaps it
            mapped.close()


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
