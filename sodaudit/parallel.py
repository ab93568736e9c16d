"""Run independent pieces of work in forked processes, so a 2-core machine audits in half the time.

Threads do not help here: the work is numpy and Python bytecode under the GIL, and threads made
small-file reads slower on 2 cores. A forked child inherits the loaded dataset for free (copy on
write), so only the (small) results travel back, pickled through a pipe. Where ``fork`` does not
exist (Windows) or one worker is asked for, everything runs in this process, in order, and gives
the same results: the pieces must not depend on each other or on shared mutable state.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, Generic, TypeVar

T = TypeVar("T")

PARALLEL_MIN_BOXES = 10_000
"""Below this many boxes, forking saves nothing: analyzers and figures run here. Above it the
lanes hide fixed costs too (scipy and matplotlib imports, k-means): 2.0 -> 1.65 s on 86k boxes,
1.9 -> 1.6 s on 14k; on 1.3k boxes both ways took 1.6 s."""

_IN_CHILD = False
"""True inside a forked worker: work started there runs serially (no grandchildren)."""


def available_workers(requested: int = 0) -> int:
    """How many processes to use: ``requested`` if > 0, else one per core (at most 4)."""
    if _IN_CHILD or not hasattr(os, "fork") or sys.platform == "win32":
        return 1
    if requested > 0:
        return requested
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def workers_for(num_boxes: int, requested: int) -> int:
    """Workers for per-box work on a dataset this large: one for small ones."""
    return requested if num_boxes >= PARALLEL_MIN_BOXES else 1


def fork_map(
    tasks: Sequence[Callable[[], T]],
    *,
    workers: int,
    weights: Sequence[float] | None = None,
    here: Sequence[tuple[Callable[[], object], float]] = (),
) -> list[T]:
    """Call every zero-argument task and return their results in order.

    Tasks are dealt into ``workers`` lanes by ``weights`` (expected cost; heaviest first onto
    the lightest lane). This process runs the first lane while forked children run the others.
    An exception in a task is raised here as if the task had run here; a child that dies
    without answering (killed, out of memory) has its lane re-run here, so nothing is lost.

    ``here``: (task, expected cost) pairs that must run in this process, first, whatever the
    number of workers (work whose effect stays in the process, such as imports that processes
    forked later inherit); the first lane is dealt that much less of ``tasks``.
    """
    workers = min(available_workers(workers), len(tasks))
    if workers <= 1:
        for task, _ in here:
            task()
        return [task() for task in tasks]
    lanes = _deal(len(tasks), workers, weights, head_start=sum(cost for _, cost in here))
    children = [_spawn(tasks, lane) for lane in lanes[1:]]
    results: dict[int, Any] = {}
    try:
        for task, _ in here:
            task()
        for index in lanes[0]:
            results[index] = tasks[index]()
    except BaseException:  # the children's work is moot: stop them, leave nothing behind
        for child in children:
            _abandon(*child)
        raise
    for lane, (pid, read_fd) in zip(lanes[1:], children, strict=True):
        answer = _collect(pid, read_fd)
        if answer is None:  # the child died: do its work here
            answer = [(True, tasks[index]()) for index in lane]
        for index, (ok, value) in zip(lane, answer, strict=True):
            if not ok:
                raise value
            results[index] = value
    return [results[i] for i in range(len(tasks))]


class Background(Generic[T]):
    """One task started now in a forked process, its result collected later with :meth:`result`.

    For work whose result is not needed until the end (writing report.json and the CSV files
    while this process draws the figures). Without a second worker the task runs in
    :meth:`result`, here; a child that dies has its task re-run here, as in :func:`fork_map`.
    """

    def __init__(self, task: Callable[[], T], *, workers: int) -> None:
        self._task = task
        self._child = _spawn([task], [0]) if available_workers(workers) > 1 else None

    def result(self) -> T:
        if self._child is None:
            return self._task()
        child, self._child = self._child, None
        answer = _collect(*child)
        if answer is None:
            return self._task()
        ok, value = answer[0]
        if not ok:
            raise value
        return value


def busiest_lane(weights: Sequence[float], workers: int, head_start: float = 0.0) -> float:
    """Expected seconds of the busiest lane when :func:`fork_map` deals ``weights`` (with
    ``here`` costing ``head_start``) into ``workers`` lanes: for comparing ways to cut work."""
    workers = max(1, min(workers, len(weights)))
    lanes = _deal(len(weights), workers, weights, head_start)
    loads = [sum(weights[i] for i in lane) for lane in lanes]
    loads[0] += head_start
    return max(loads)


def _deal(
    count: int, workers: int, weights: Sequence[float] | None, head_start: float = 0.0
) -> list[list[int]]:
    """Longest-processing-time-first: each task onto the lane with the least work so far. The
    first lane (this process) starts with ``head_start`` of work and is kept even if empty."""
    cost = list(weights) if weights is not None else [1.0] * count
    lanes: list[list[int]] = [[] for _ in range(workers)]
    load = [head_start] + [0.0] * (workers - 1)
    for index in sorted(range(count), key=lambda i: -cost[i]):
        lane = load.index(min(load))
        lanes[lane].append(index)
        load[lane] += cost[index]
    return [sorted(lanes[0])] + [sorted(lane) for lane in lanes[1:] if lane]


def _spawn(tasks: Sequence[Callable[[], Any]], lane: list[int]) -> tuple[int, int]:
    _reap()
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns on fork when native threads exist (numpy's BLAS pool, our progress
        # bar). The child only runs numpy/pandas code on inherited data and exits with _exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(tasks, lane, write_fd)
    os.close(write_fd)
    return pid, read_fd


def _child(tasks: Sequence[Callable[[], Any]], lane: list[int], write_fd: int) -> None:
    global _IN_CHILD
    _IN_CHILD = True
    code = 0
    try:
        answer = []
        for index in lane:
            try:
                answer.append((True, tasks[index]()))
            except BaseException as exc:  # handed to the parent to raise
                answer.append((False, _portable(exc)))
                break
        answer += [(False, RuntimeError("not run"))] * (len(lane) - len(answer))
        with os.fdopen(write_fd, "wb") as pipe:
            pickle.dump(answer, pipe, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # the parent re-runs the lane
        code = 1
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's buffers


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it pickles, else a RuntimeError carrying its traceback text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return RuntimeError(f"{type(exc).__name__}: {exc}\n{text}")


def _collect(pid: int, read_fd: int) -> list[tuple[bool, Any]] | None:
    """The child's answer, or None when it died without a complete one.

    A complete pickle is the proof of a good answer, so the child is not waited for then: a
    child that built a large heap takes ~0.1 s to be torn down by the kernel after it answered.
    It is reaped later (:func:`_reap`), on the next spawn or collect.
    """
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    try:
        answer = pickle.loads(data) if data else None
    except Exception:  # a truncated answer: re-run the lane here
        answer = None
    if answer is None:
        os.waitpid(pid, 0)
        return None
    _UNREAPED.append(pid)
    _reap()
    return answer


def _abandon(pid: int, read_fd: int) -> None:
    """Stop a child whose answer is no longer wanted, and reap it."""
    os.close(read_fd)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


_UNREAPED: list[int] = []
"""Children that answered but may still be exiting."""


def _reap() -> None:
    for pid in list(_UNREAPED):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler of the host program)
            done = pid
        if done:
            _UNREAPED.remove(pid)
