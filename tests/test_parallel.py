"""Forked lanes give the results the serial path gives, and lose nothing when a lane fails."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from sodaudit import analyzers, parallel
from sodaudit.config import Config
from sodaudit.loaders import load

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")


def _square_and_pid(i: int) -> tuple[int, int]:
    return i * i, os.getpid()


@needs_fork
def test_results_come_back_in_task_order_from_two_processes() -> None:
    tasks = [partial(_square_and_pid, i) for i in range(7)]
    results = parallel.fork_map(tasks, workers=2, weights=[7, 1, 1, 1, 1, 1, 5])
    assert [value for value, _ in results] == [0, 1, 4, 9, 16, 25, 36]
    pids = {pid for _, pid in results}
    assert os.getpid() in pids and len(pids) == 2


def test_one_worker_runs_everything_here_in_order() -> None:
    calls: list[int] = []
    results = parallel.fork_map([partial(calls.append, i) for i in range(4)], workers=1)
    assert calls == [0, 1, 2, 3] and results == [None] * 4


def _fail() -> None:
    raise ValueError("bad box at line 3")


@needs_fork
def test_an_exception_in_a_child_is_raised_here() -> None:
    with pytest.raises(ValueError, match="bad box at line 3"):
        # the heavy first task stays here, so the failing one runs in the child
        parallel.fork_map([partial(_square_and_pid, 1), _fail], workers=2, weights=[10, 1])


def _die_in_child() -> str:
    if parallel._IN_CHILD:
        os._exit(9)  # as if the kernel had killed the worker
    return "done here"


@needs_fork
def test_a_lane_whose_process_dies_is_run_here() -> None:
    results = parallel.fork_map([partial(_square_and_pid, 2), _die_in_child], workers=2, weights=[10, 1])
    assert results[0][0] == 4 and results[1] == "done here"


def test_lanes_balance_expected_cost() -> None:
    # 5 | 4 | 3+2 is the balanced deal of these costs into three lanes
    assert parallel._deal(4, 3, [5, 4, 3, 2]) == [[0], [1], [2, 3]]
    # this process's lane starts with 2.5 s of its own work: the child lane gets 3 of 4 tasks
    assert parallel._deal(4, 2, [1, 1, 1, 1], head_start=2.5) == [[3], [0, 1, 2]]
    assert parallel._deal(2, 2, [1, 1], head_start=10) == [[], [0, 1]]


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    pd.testing.assert_frame_equal(a, b)
    return True


@needs_fork
@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_analyzers_in_two_lanes_match_one_lane(sample_data, monkeypatch, fmt: str) -> None:
    dataset = load(sample_data / fmt, "auto")
    config = Config().set("integrity.hash_max_images", 0)  # its timing differs run to run
    serial = analyzers.run_all(dataset, config.updated(workers=1))
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BOXES", 0)
    monkeypatch.setattr(analyzers, "fork_map", _checked_fork_map(parallel.fork_map))
    forked = analyzers.run_all(load(sample_data / fmt, "auto"), config.updated(workers=2))
    assert list(forked) == list(serial)
    for name, result in serial.items():
        other = forked[name]
        assert other.stats == result.stats, name
        assert [f.to_dict() for f in other.findings] == [f.to_dict() for f in result.findings], name
        assert other.tables.keys() == result.tables.keys()
        assert all(_frames_equal(other.tables[k], t) for k, t in result.tables.items())


def _checked_fork_map(real):
    """fork_map that also proves some analyzer really ran in another process."""

    def run(tasks, *, workers, weights=None, here=()):
        parent = os.getpid()
        wrapped = [partial(_with_pid, task) for task in tasks]
        results = real(wrapped, workers=workers, weights=weights, here=here)
        assert any(pid != parent for _, pid in results)
        return [value for value, _ in results]

    return run


def _with_pid(task):
    return task(), os.getpid()


@needs_fork
def test_background_task_runs_elsewhere_and_hands_back_its_result() -> None:
    pending = parallel.Background(partial(_square_and_pid, 12), workers=2)
    value, pid = pending.result()
    assert value == 144 and pid != os.getpid()


def test_background_without_a_second_worker_runs_here_when_asked() -> None:
    calls: list[int] = []
    pending = parallel.Background(partial(calls.append, 1), workers=1)
    assert calls == []  # nothing ran yet: the work happens in result()
    pending.result()
    assert calls == [1]


@needs_fork
def test_background_exception_is_raised_here() -> None:
    with pytest.raises(ValueError, match="bad box"):
        parallel.Background(_fail, workers=2).result()


@needs_fork
def test_reports_written_in_parallel_match_the_serial_ones(sample_data, tmp_path, monkeypatch) -> None:
    import json

    from sodaudit.cli import main

    def run(workers: int) -> Path:
        out = tmp_path / f"w{workers}"
        args = ["run", str(sample_data / "yolo"), "--out", str(out), "--workers", str(workers)]
        assert main([*args, "--set", "integrity.hash_max_images=0", "--fail-on", "never"]) == 0
        return out

    serial = run(1)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BOXES", 0)
    forked = run(2)

    def report(out: Path) -> dict:
        data = json.loads((out / "report.json").read_text())
        data["tool"].pop("created")
        data["config"].pop("workers")
        return data

    assert report(forked) == report(serial)
    tables = sorted(p.name for p in (serial / "tables").iterdir())
    assert tables and tables == sorted(p.name for p in (forked / "tables").iterdir())
    for name in tables:
        assert (forked / "tables" / name).read_bytes() == (serial / "tables" / name).read_bytes(), name
    html_serial, html_forked = ((o / "report.html").read_text() for o in (serial, forked))
    assert html_forked.count("<img") == html_serial.count("<img") > 0


@needs_fork
@pytest.mark.parametrize("workers", [1, 2])
def test_here_tasks_run_first_in_this_process(workers: int) -> None:
    """Work whose effect must stay in this process (imports for later forks) runs here, once,
    before this process's share of the tasks, whatever the number of workers."""
    events: list[tuple[str, int]] = []
    parent = os.getpid()

    def here_task() -> None:
        events.append(("here", os.getpid()))

    def task(i: int) -> tuple[int, int]:
        events.append(("task", os.getpid()))  # only this process's appends are seen here
        return i * i, os.getpid()

    results = parallel.fork_map(
        [partial(task, i) for i in range(4)], workers=workers, weights=[1, 1, 1, 1], here=[(here_task, 2.5)]
    )
    assert [value for value, _ in results] == [0, 1, 4, 9]
    assert events[0] == ("here", parent)
    assert [kind for kind, _ in events].count("here") == 1
    children = {pid for _, pid in results if pid != parent}
    assert len(children) == (1 if workers == 2 else 0)


def test_busiest_lane_matches_hand_dealt_lanes() -> None:
    # LPT by hand: 5 -> lane 1 (lane 0 starts at 2), 4 -> lane 0 (2 < 5): 6, 3 -> lane 1: 8
    assert parallel.busiest_lane([5, 4, 3], 2, head_start=2) == 8
    assert parallel.busiest_lane([5, 4, 3], 1) == 12
    assert parallel.busiest_lane([1, 1], 4) == 1  # more workers than tasks


@needs_fork
def test_analyzers_sharing_imports_share_a_lane_only_when_it_helps(sample_data, monkeypatch) -> None:
    """anchors and splits (scipy.cluster and scipy.stats) go into one lane task when the
    dataset has two splits and that lightens the busiest lane; results stay the same."""
    dataset = load(sample_data / "yolo", "auto")
    assert len(dataset.splits) >= 2
    config = Config().set("integrity.hash_max_images", 0)
    serial = analyzers.run_all(dataset, config.updated(workers=1))
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BOXES", 0)
    pair = ("anchors", "splits")
    saving = analyzers.SHARED_IMPORTS[pair]
    # by hand, costs 1, 1 and five of 0.5: apart the lanes are 2.5 and 2.0; together the pair
    # costs 1.87 and the lanes 2.37 and 2.0, so they go together
    monkeypatch.setattr(analyzers, "expected_cost", lambda name, ds: 1.0 if name in pair else 0.5)
    groups = analyzers._groups(dataset, 2, 0.0)
    assert (pair, 2.0 - saving) in groups
    assert len(groups) == len(analyzers.ANALYZERS) - 1
    forked = analyzers.run_all(dataset, config.updated(workers=2))
    assert list(forked) == list(serial)
    assert all(forked[n].stats == serial[n].stats for n in serial)
    # when the pair alone would outweigh the rest (1.87 against lanes of 1.0), they stay apart
    monkeypatch.setattr(analyzers, "expected_cost", lambda name, ds: 1.0 if name in pair else 0.0)
    assert all(len(g) == 1 for g, _ in analyzers._groups(dataset, 2, 0.0))


@needs_fork
@pytest.mark.parametrize("where", ["here", "lane"])
def test_a_failure_in_this_process_stops_the_children(where: str) -> None:
    """When this process's own work raises, the children are stopped and reaped: no process
    is left blocked on a pipe nobody reads."""
    import time

    def fail() -> None:
        raise ValueError("disk full")

    def slow(i: int) -> bytes:
        time.sleep(0.2)
        return bytes(200_000)  # more than a pipe holds: an unread child would block

    tasks = [partial(slow, i) for i in range(3)]
    weights = [1.0, 1.0, 1.0]
    if where == "lane":
        tasks.insert(0, fail)
        weights.insert(0, 10.0)  # dealt first, onto this process's lane
    for pid in list(parallel._UNREAPED):  # children of earlier tests that answered
        os.waitpid(pid, 0)
        parallel._UNREAPED.remove(pid)
    with pytest.raises(ValueError, match="disk full"):
        parallel.fork_map(tasks, workers=2, weights=weights, here=[(fail, 0.0)] if where == "here" else ())
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child of this process is left, running or zombie
