"""Per-file work (label files, XML files, image headers) in a library process pool, opt-in.

By default (``workers=1``) everything runs in this process, plainly. With ``--workers N`` the
items are cut into contiguous chunks and mapped over a ``concurrent.futures`` process pool whose
workers are started by ``forkserver`` (``spawn`` where it does not exist): never a fork of this
process, which may hold threads. Results come back in item order, so concatenating the chunk
results gives what one call over every item gives: the tables are the same either way.

With ``scheduler`` (``--scheduler``, pixel passes only) the chunks go to a Dask cluster instead:
:mod:`sodaudit.pool_dask`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

ProgressFn = Callable[[str, int, int], None]
"""``progress(what, done, total)``: long file loops report to the terminal's progress bar."""

CHUNKS_PER_WORKER = 4
"""Chunks per worker process, so the progress bar moves while the workers read."""


def resolve_workers(requested: int) -> int:
    """Processes to use: ``requested`` when positive, else one per core available to us."""
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def start_method() -> str:
    """``forkserver`` where the platform has it (Linux, macOS), else ``spawn`` (Windows)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def chunk_bounds(n_items: int, n_chunks: int) -> list[int]:
    """Where each of ``n_chunks`` contiguous, near-equal chunks of ``n_items`` items starts, and
    ``n_items`` last."""
    return [n_items * k // n_chunks for k in range(n_chunks + 1)]


def map_chunks(
    fn: Callable[[Sequence[T], ProgressFn | None], R],
    items: Sequence[T],
    *,
    workers: int = 1,
    what: str = "",
    progress: ProgressFn | None = None,
    scheduler: str | None = None,
) -> list[R]:
    """``fn`` over contiguous chunks of ``items``, in item order: ``[fn(items, progress)]`` in
    this process when ``workers`` is 1, else the chunks in a process pool of ``workers``
    processes (0: one per core).

    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one) and
    gets ``progress`` only when it runs here; with a pool, this process reports each chunk as
    it comes back.

    With ``scheduler`` (a Dask scheduler address or ``local``), the chunks run on that cluster:
    :func:`sodaudit.pool_dask.map_on_cluster`, in the same order.
    """
    if scheduler is not None:
        from sodaudit.pool_dask import map_on_cluster

        return map_on_cluster(fn, items, scheduler=scheduler, workers=workers, what=what, progress=progress)
    processes = min(resolve_workers(workers), len(items))
    if processes <= 1:
        return [fn(items, progress)]
    n_chunks = min(len(items), processes * CHUNKS_PER_WORKER)
    bounds = chunk_bounds(len(items), n_chunks)
    chunks = [items[bounds[k] : bounds[k + 1]] for k in range(n_chunks)]
    results: list[R] = []
    context = multiprocessing.get_context(start_method())
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        for done, result in enumerate(pool.map(fn, chunks, [None] * n_chunks), start=1):
            results.append(result)
            if progress is not None:
                progress(what, bounds[done], len(items))
    return results
