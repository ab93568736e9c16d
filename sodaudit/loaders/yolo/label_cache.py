"""Parsed YOLO label files kept between runs (:mod:`sodaudit.cache`): a re-run parses only the
label files whose size or mtime changed and takes the others' rows from the cache.

Each file's entry holds its rows as one packed record array and its row problems; a file that
could not be read (too large, a FIFO) is not cached, so its finding comes back every run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from sodaudit.cache import current, stat_key
from sodaudit.dataset import LoadIssue
from sodaudit.loaders.yolo.files import rel_to
from sodaudit.loaders.yolo.rows import ParsedRows, RowProblem

KIND = "yolo-labels"
ROW_DTYPE = np.dtype(
    [
        ("line", "<i8"),
        ("class_id", "<i8"),
        ("kind", "i1"),
        ("left", "<f8"),
        ("top", "<f8"),
        ("width", "<f8"),
        ("height", "<f8"),
        ("out_of_range", "?"),
    ]
)
"""One parsed row, packed: a file's rows are one ``bytes`` in the cache."""

Parse = Callable[[Sequence[str]], tuple[ParsedRows, list[LoadIssue]]]


def cached_rows(
    files: list[str], root: Path, parse: Parse, options: str = ""
) -> tuple[ParsedRows, list[LoadIssue]]:
    """``parse(files)`` (rows in file order, read issues), with unchanged files from the cache.
    ``options``: what else the parse depends on (pose layout); another value, another cache."""
    cache = current(f"{KIND}{options}")
    if cache is None:
        return parse(files)
    keys = [stat_key(f) for f in files]
    entries = [cache.get(f, k) for f, k in zip(files, keys, strict=True)]
    todo = [i for i, e in enumerate(entries) if not _valid(e)]
    read_issues: list[LoadIssue] = []
    if todo:
        rows, read_issues = parse([files[i] for i in todo])
        unreadable = {issue.file for issue in read_issues}
        for k, entry in enumerate(_per_file(rows, len(todo))):
            i = todo[k]
            entries[i] = entry
            if rel_to(files[i], root) not in unreadable:
                cache.put(files[i], keys[i], entry)
    return _joined(entries), read_issues


def _valid(entry: object) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], bytes)
        and len(entry[0]) % ROW_DTYPE.itemsize == 0
        and isinstance(entry[1], list)
    )


def _per_file(rows: ParsedRows, n_files: int) -> list[list]:
    """``[packed rows, [[line, code, reason], ...]]`` for each of ``n_files`` files."""
    order = np.argsort(rows.file, kind="stable")
    packed = np.empty(len(rows), ROW_DTYPE)
    for name in ROW_DTYPE.names:
        packed[name] = getattr(rows, name)[order]
    bounds = np.searchsorted(rows.file[order], np.arange(n_files + 1))
    problems: list[list] = [[] for _ in range(n_files)]
    for q in rows.problems:  # a loop over problem rows only
        problems[q.file].append([q.line, q.code, q.reason])
    return [[packed[bounds[k] : bounds[k + 1]].tobytes(), problems[k]] for k in range(n_files)]


def _joined(entries: Sequence[list]) -> ParsedRows:
    """One :class:`ParsedRows` from per-file entries, file indexes in ``entries`` order."""
    counts = np.array([len(e[0]) for e in entries], dtype=np.int64) // ROW_DTYPE.itemsize
    packed = np.frombuffer(b"".join(e[0] for e in entries), ROW_DTYPE)  # one copy, not one per file
    return ParsedRows(
        file=np.repeat(np.arange(len(entries), dtype=np.int64), counts),
        **{name: packed[name].copy() for name in ROW_DTYPE.names},
        problems=[
            RowProblem(k, int(line), str(code), str(reason))
            for k, e in enumerate(entries)
            for line, code, reason in e[1]
        ],
    )
