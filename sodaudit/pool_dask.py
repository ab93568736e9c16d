"""The pixel passes on a Dask cluster (``--scheduler``), opt-in, with the ``dask`` extra.

``--scheduler tcp://host:8786`` (or ``tls://``) connects to a running ``dask.distributed``
scheduler; ``--scheduler local`` starts a :class:`distributed.LocalCluster` of single-threaded
worker processes on this machine (``--workers N`` of them when N > 1, else one per core). Only
the per-image pixel work goes there (``--deep`` decoding, identical-file hashes, pHash,
``--pixels`` visibility); label files are still read here or in the ``--workers`` process pool,
so label-level analysis stays on one machine.

The items are cut into the same kind of contiguous chunks as :func:`sodaudit.pool.map_chunks`,
mapped with ``client.map(fn, chunks, pure=False)`` and gathered in order, so the tables are the
ones one process gives. The work functions are module-level functions of :mod:`sodaudit` (or
``functools.partial`` objects of them): the workers import them, so ``sodaudit`` must be
installed where the workers run.

:func:`dask_session` opens the client (and the local cluster) once per run and closes it at the
end; :func:`map_on_cluster` uses the session open for the same scheduler, or opens one for
itself when there is none (the Python API without the command line).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any, TypeVar

from sodaudit.errors import ConfigError, SodauditError
from sodaudit.pool import CHUNKS_PER_WORKER, ProgressFn, chunk_bounds, resolve_workers

T = TypeVar("T")
R = TypeVar("R")

LOCAL = "local"
"""``--scheduler local``: a LocalCluster on this machine for the length of the run."""
SCHEMES = ("tcp://", "tls://")
"""Scheduler addresses accepted: the ``dask.distributed`` comm protocols that reach another host."""
CONNECT_TIMEOUT_S = 10
"""Seconds to wait for the scheduler to answer, and for it to have at least one worker."""
INSTALL_HINT = 'pip install "sodaudit[dask]"'

_session: ContextVar[tuple[str, Any] | None] = ContextVar("sodaudit_dask_session", default=None)
"""The scheduler address and client of the session open in this context, if any."""


def check_scheduler(value: str | None) -> None:
    """A ConfigError unless ``value`` is None, ``local`` or ``tcp://HOST:PORT`` / ``tls://HOST:PORT``."""
    if value is None or value == LOCAL:
        return
    scheme = next((s for s in SCHEMES if value.startswith(s)), None)
    host, sep, port = value[len(scheme) :].rpartition(":") if scheme else ("", "", "")
    if not (host and sep and port.isdigit() and 0 < int(port) < 65536 and "/" not in host):
        raise ConfigError(
            "scheduler must be 'local' or a Dask scheduler address such as tcp://host:8786 "
            f"(tcp:// or tls://, with a port), got {value!r}."
        )


def import_distributed() -> ModuleType:
    """The ``distributed`` package, or a SodauditError naming the extra to install."""
    try:
        import distributed
    except ImportError:
        raise SodauditError(
            f"--scheduler needs the dask.distributed package: install it with {INSTALL_HINT}."
        ) from None
    return distributed


def local_workers(workers: int) -> int:
    """Worker processes of ``--scheduler local``: ``workers`` when above 1, else one per core
    (``--workers`` defaults to 1, which would make a cluster of one)."""
    return workers if workers > 1 else resolve_workers(0)


@contextmanager
def dask_session(scheduler: str | None, workers: int = 0) -> Iterator[Any]:
    """The ``distributed.Client`` for ``scheduler`` for the length of the ``with`` block (None
    when ``scheduler`` is None), closed at its end with the local cluster it may have started.
    Inside the block, :func:`map_on_cluster` for the same scheduler uses this client."""
    if scheduler is None:
        yield None
        return
    current = _session.get()
    if current is not None and current[0] == scheduler:
        yield current[1]
        return
    check_scheduler(scheduler)
    distributed = import_distributed()
    with _client(distributed, scheduler, workers) as client:
        token = _session.set((scheduler, client))
        try:
            yield client
        finally:
            _session.reset(token)


@contextmanager
def _client(distributed: ModuleType, scheduler: str, workers: int) -> Iterator[Any]:
    if scheduler == LOCAL:
        with (
            distributed.LocalCluster(
                n_workers=local_workers(workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",  # the scheduler's HTTP server: a free local port
                silence_logs=logging.ERROR,
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):
            yield client
        return
    unreachable = SodauditError(
        f"Cannot reach a Dask scheduler with workers at {scheduler} within {CONNECT_TIMEOUT_S} s: "
        "check the address and that the scheduler and its workers are running."
    )
    if (
        scheduler.startswith("tls://")
        and distributed.Security().get_connection_args("client")["ssl_context"] is None
    ):
        raise SodauditError(
            f"--scheduler {scheduler} needs Dask's TLS settings (distributed.comm.tls: the CA file and the "
            "client's certificate and key, in the Dask config or DASK_DISTRIBUTED__COMM__TLS__* variables)."
        )
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, asyncio.TimeoutError):  # refused, no answer, bad host name
        raise unreachable from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            raise unreachable from None
        yield client


def map_on_cluster(
    fn: Callable[[Sequence[T], ProgressFn | None], R],
    items: Sequence[T],
    *,
    scheduler: str,
    workers: int = 0,
    what: str = "",
    progress: ProgressFn | None = None,
) -> list[R]:
    """``fn`` over contiguous chunks of ``items`` on the Dask cluster at ``scheduler``, in item
    order: concatenated, the same as ``fn(items, None)``. ``fn`` runs on the workers without a
    progress callback; this process reports each chunk as it comes back, in order."""
    if not items:
        return [fn(items, progress)]
    with dask_session(scheduler, workers) as client:
        slots = max(1, sum(client.nthreads().values()))
        n_chunks = min(len(items), slots * CHUNKS_PER_WORKER)
        bounds = chunk_bounds(len(items), n_chunks)
        chunks = [items[bounds[k] : bounds[k + 1]] for k in range(n_chunks)]
        futures = client.map(fn, chunks, [None] * n_chunks, pure=False)
        results: list[R] = []
        try:
            for done, future in enumerate(futures, start=1):  # in order, not as completed
                results.append(future.result())
                if progress is not None:
                    progress(what, bounds[done], len(items))
        finally:
            client.cancel(futures)  # after an error, the chunks still queued
        return results
