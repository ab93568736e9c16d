"""Vectorised parsing of YOLO label rows from the bytes of many label files at once.

All files are concatenated into one buffer; token bounds, lines and files come from numpy on
the raw bytes and the values from one C-level text parse, so the cost per box is a few numpy
operations, never a Python statement or a Python object (a token becomes ``bytes`` only when
a reason must quote it). Only defective rows (usually few) are visited in Python, to
write their reasons.

Row grammar (Ultralytics): ``cls cx cy w h`` (box), ``cls x1 y1 ... xk yk`` with k >= 3
(segment: its bounding box is used), or, for pose datasets, ``cls cx cy w h`` followed by
the keypoints. Values are normalised to the image size.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sodaudit.dataset import LoadIssue

KIND_BOX, KIND_SEGMENT, KIND_POSE = 0, 1, 2
MAX_TOKEN_BYTES = 64
"""A longer token is not a number a label file would hold; it is treated as text, which also
keeps the fixed-width token array small when a file holds one huge garbage line."""
MAX_CLASS_ID = 2**53
LINES_SHOWN = 50
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True  # exactly what bytes.split() splits on
_UTF8_BOM = b"\xef\xbb\xbf"
_ONE_TOKEN_A_LINE = bytes.maketrans(b"\t\x0b\x0c\r ", b"\n\n\n\n\n")


@dataclass
class RowProblem:
    """A defect of one row (or line) in one file; the loader turns it into a LoadIssue."""

    file: int
    line: int
    code: str
    reason: str


@dataclass
class ParsedRows:
    """Rows that became boxes, normalised; ``left/top/width/height`` are fractions of the image."""

    file: np.ndarray
    line: np.ndarray
    class_id: np.ndarray
    kind: np.ndarray
    left: np.ndarray
    top: np.ndarray
    width: np.ndarray
    height: np.ndarray
    out_of_range: np.ndarray
    problems: list[RowProblem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.file)


def _prepare(blob: bytes) -> bytes:
    """One file's bytes with a UTF-8 BOM removed, CR/CRLF made LF, and a final newline."""
    if blob.startswith(_UTF8_BOM):
        blob = blob[len(_UTF8_BOM) :]
    if b"\r" in blob:
        blob = blob.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if blob and not blob.endswith(b"\n"):
        blob += b"\n"
    return blob


def _encoding_problems(index: int, blob: bytes) -> list[RowProblem]:
    """Lines of a file that are not UTF-8; the fast check is one decode of the whole file."""
    try:
        blob.decode("utf-8")
        return []
    except UnicodeDecodeError:
        pass
    problems = []
    for number, line in enumerate(blob.split(b"\n"), start=1):  # only for broken files
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as err:
            problems.append(
                RowProblem(
                    index,
                    number,
                    "load.encoding",
                    f"bytes that are not UTF-8 at column {err.start + 1}; "
                    "a row that holds them cannot be read and is dropped",
                )
            )
    return problems


class _Tokens:
    """Token ``i`` of the buffer as ``bytes``, made on demand (a long one cut, so a reason that
    quotes it stays short): no list of one ``bytes`` per token."""

    def __init__(self, big: bytes, starts: np.ndarray, ends: np.ndarray) -> None:
        self.big, self.starts, self.ends = big, starts, ends

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> bytes:
        start, end = int(self.starts[i]), int(self.ends[i])
        if end - start > MAX_TOKEN_BYTES:
            return self.big[start : start + MAX_TOKEN_BYTES] + b"?"  # text, still readable
        return self.big[start:end]

    def span(self, first: int, count: int) -> list[bytes]:
        return [self[i] for i in range(first, first + count)]


def _to_numbers(big: bytes, tokens: _Tokens, has_long: bool) -> tuple[np.ndarray, np.ndarray]:
    """Float value of each token and a mask of tokens that are not numbers.

    ``nan``/``inf`` are numbers (the row is kept, integrity reports it); text is not. Fast path:
    numpy's C ``loadtxt`` over the whole buffer with every whitespace made a newline (one token
    a line), valid only when it reads every token as exactly one number; otherwise each token is
    converted on its own and text becomes NaN. ``loadtxt`` rounds as ``float()`` does and keeps
    the GIL for the whole parse; ``np.fromstring`` gave it up and took it back for every
    number, so one busy Python thread beside it made the parse 20 to 70 times slower.
    """
    if not tokens:
        return np.zeros(0), np.zeros(0, dtype=bool)
    values = None
    if not has_long:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                lines = io.BytesIO(big.translate(_ONE_TOKEN_A_LINE))
                values = np.loadtxt(lines, dtype=np.float64, ndmin=1, comments=None, encoding="latin-1")
            except (ValueError, TypeError):
                values = None
    if values is None or len(values) != len(tokens):  # text somewhere: token by token (rare)
        text = pd.Series([tokens[i].decode("ascii", "replace") for i in range(len(tokens))], dtype=object)
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    not_number = np.isnan(values)
    for i in np.flatnonzero(not_number):  # few: NaN literals and text
        if tokens[i].lower().lstrip(b"+-") == b"nan":
            not_number[i] = False
    return values, not_number


def _show(token: bytes) -> str:
    text = token.decode("ascii", "replace")
    return repr(text if len(text) <= 20 else text[:20] + "…")


def parse_rows(blobs: Sequence[bytes], *, pose_values: int | None = None, pose: bool = False) -> ParsedRows:
    """Parse every label file in ``blobs`` (file index = position) into normalised boxes.

    ``pose``: rows are ``cls cx cy w h`` + keypoints; ``pose_values`` is the exact number of
    values a row must have (``None`` accepts any count >= 5).
    """
    problems: list[RowProblem] = []
    prepared = []
    for i, blob in enumerate(blobs):
        blob = _prepare(blob)
        if not blob.isascii():
            problems.extend(_encoding_problems(i, blob))
        prepared.append(blob)
    newlines = np.array([b.count(b"\n") for b in prepared], dtype=np.int64)
    first_line = np.concatenate([[0], np.cumsum(newlines)[:-1]]) if len(prepared) else newlines
    big = b"".join(prepared)

    raw = np.frombuffer(big, dtype=np.uint8)
    if len(raw) and raw.max() >= 128:  # non-ASCII can never be part of a number
        raw = raw.copy()
        raw[raw >= 128] = ord("?")
        big = raw.tobytes()
    space = _WHITESPACE[raw]
    before = np.concatenate([[True], space[:-1]])
    after = np.concatenate([space[1:], [True]])
    starts = np.flatnonzero(~space & before)
    ends = np.flatnonzero(~space & after) + 1
    tokens = _Tokens(big, starts, ends)
    has_long = bool((ends - starts > MAX_TOKEN_BYTES).any())
    values, not_number = _to_numbers(big, tokens, has_long=has_long)

    # Line of each token = newlines before it; rows are runs of tokens on one line.
    token_line = np.searchsorted(np.flatnonzero(raw == 10), starts)
    n_tokens = len(tokens)
    row_first = np.flatnonzero(np.concatenate([[True], token_line[1:] != token_line[:-1]]))
    if n_tokens == 0:
        row_first = np.zeros(0, dtype=np.int64)
    row_count = np.diff(np.concatenate([row_first, [n_tokens]]))
    row_global = token_line[row_first]
    row_file = np.searchsorted(first_line, row_global, side="right") - 1
    row_line = row_global - first_line[row_file] + 1 if len(row_first) else row_global
    n_rows = len(row_first)
    token_row = np.repeat(np.arange(n_rows), row_count)
    position = np.arange(n_tokens) - row_first[token_row]

    row_text = np.bincount(token_row[not_number], minlength=n_rows) > 0
    cls = values[row_first] if n_rows else np.zeros(0)
    with np.errstate(invalid="ignore"):
        cls_ok = np.isfinite(cls) & (cls >= 0) & (cls == np.floor(cls)) & (cls < MAX_CLASS_ID)
    if pose:
        kind = np.full(n_rows, KIND_POSE, dtype=np.int8)
        shape_ok = row_count == pose_values if pose_values is not None else row_count >= 5
    else:
        kind = np.where(row_count == 5, KIND_BOX, KIND_SEGMENT).astype(np.int8)
        shape_ok = (row_count == 5) | ((row_count >= 7) & (row_count % 2 == 1))
    good = shape_ok & ~row_text & cls_ok

    encoding_lines = {(p.file, p.line) for p in problems}
    for r in np.flatnonzero(~good):
        f, line = int(row_file[r]), int(row_line[r])
        if (f, line) in encoding_lines:
            continue  # already reported once, as an encoding problem
        first, count = int(row_first[r]), int(row_count[r])
        span = slice(first, first + count)
        why = _why(tokens.span(first, count), not_number[span], bool(shape_ok[r]), pose, pose_values)
        problems.append(RowProblem(f, line, "load.malformed_row", why))
    problems.sort(key=lambda p: (p.file, p.line))

    left, top, width, height = (np.full(n_rows, np.nan) for _ in range(4))
    plain = good & (kind != KIND_SEGMENT)
    first = row_first[plain]
    cx, cy, w, h = (values[first + k] for k in (1, 2, 3, 4))
    with np.errstate(invalid="ignore", over="ignore"):  # inf/nan text stays NaN: integrity reports it
        left[plain], top[plain], width[plain], height[plain] = cx - w / 2, cy - h / 2, w, h
    segment = good & (kind == KIND_SEGMENT)
    if segment.any():
        in_segment = segment[token_row] & (position > 0)
        xs = values[in_segment & (position % 2 == 1)]
        ys = values[in_segment & (position % 2 == 0)]
        points = (row_count[segment] - 1) // 2
        group = np.concatenate([[0], np.cumsum(points)[:-1]])
        x0, x1 = np.minimum.reduceat(xs, group), np.maximum.reduceat(xs, group)
        y0, y1 = np.minimum.reduceat(ys, group), np.maximum.reduceat(ys, group)
        with np.errstate(invalid="ignore"):  # inf - inf in a broken polygon: NaN, left to integrity
            left[segment], top[segment], width[segment], height[segment] = x0, y0, x1 - x0, y1 - y0

    # Out of [0, 1]: box values (cx cy w h) or polygon points; NaN/inf are left to integrity.
    checked = (position > 0) & np.where(kind[token_row] == KIND_SEGMENT, True, position <= 4)
    with np.errstate(invalid="ignore"):
        outside = checked & np.isfinite(values) & ((values < 0) | (values > 1))
    out_of_range = np.bincount(token_row[outside], minlength=n_rows) > 0

    keep = np.flatnonzero(good)
    return ParsedRows(
        file=row_file[keep].astype(np.int64),
        line=row_line[keep].astype(np.int64),
        class_id=cls[keep].astype(np.int64),
        kind=kind[keep],
        left=left[keep],
        top=top[keep],
        width=width[keep],
        height=height[keep],
        out_of_range=out_of_range[keep],
        problems=problems,
    )


def concat_rows(parts: Sequence[ParsedRows], files_per_part: Sequence[int]) -> ParsedRows:
    """Rows parsed part by part (consecutive runs of files) as one :func:`parse_rows` of all the
    files gives them: file indexes shifted by the files before each part. Files never share a
    row, so the parts are independent; problems stay in (file, line) order."""
    offsets = np.concatenate([[0], np.cumsum(files_per_part)[:-1]]).astype(np.int64)
    if len(parts) == 1:
        return parts[0]

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return ParsedRows(
        file=np.concatenate([p.file + off for p, off in zip(parts, offsets, strict=True)]),
        line=joined("line"),
        class_id=joined("class_id"),
        kind=joined("kind"),
        left=joined("left"),
        top=joined("top"),
        width=joined("width"),
        height=joined("height"),
        out_of_range=joined("out_of_range"),
        problems=[
            RowProblem(q.file + int(off), q.line, q.code, q.reason)
            for p, off in zip(parts, offsets, strict=True)
            for q in p.problems
        ],
    )


def _why(
    tokens: list[bytes], not_number: np.ndarray, shape_ok: bool, pose: bool, pose_values: int | None
) -> str:
    """The reason a row was dropped, for a person fixing the file."""
    n = len(tokens)
    if not_number.any():
        return f"value {_show(tokens[int(np.argmax(not_number))])} is not a number; row dropped"
    if not shape_ok:
        if pose:
            want = f"{pose_values}" if pose_values is not None else "at least 5"
            return f"{n} values; a pose row needs {want} (class, box, keypoints); row dropped"
        if n >= 8 and n % 2 == 0:
            return f"{n} values: an odd number ({n - 1}) of polygon coordinates; row dropped"
        return (
            f"{n} values; expected 5 (class cx cy w h) or an odd number >= 7 "
            "(class and polygon points); row dropped"
        )
    return f"class id {_show(tokens[0])} is not a non-negative integer; row dropped"


def attach(
    rows: ParsedRows, pair_file: np.ndarray, pair_image: np.ndarray, n_files: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row index, image id) for every row, once per image that uses its label file.

    Usually one image per file; the same image listed in two splits uses its file twice.
    Rows of files that no image uses (orphans) get no entry.
    """
    order = np.argsort(pair_file, kind="stable")
    pair_file, pair_image = pair_file[order], pair_image[order]
    per_file = np.bincount(pair_file, minlength=n_files)
    start = np.concatenate([[0], np.cumsum(per_file)[:-1]]).astype(np.int64)
    rep = per_file[rows.file]
    row_idx = np.repeat(np.arange(len(rows)), rep)
    within = np.arange(len(row_idx)) - np.repeat(np.cumsum(rep) - rep, rep)
    return row_idx, pair_image[start[rows.file[row_idx]] + within].astype(np.int64)


def row_issues(rows: ParsedRows, n_used: int, file_rel: list[str], names: dict[int, str]) -> list[LoadIssue]:
    """Load issues of the label files that belong to an image: dropped rows and values outside
    [0, 1] (one per row). Class ids outside ``names`` are kept as boxes; the integrity analyzer
    reports them from the table.

    Files ``0 .. n_used-1`` belong to images; the rest are orphans, reported once as such.
    """
    attached = rows.file < n_used
    issues = [
        LoadIssue(p.code, file_rel[p.file], p.reason, line=p.line) for p in rows.problems if p.file < n_used
    ]
    for r in np.flatnonzero(rows.out_of_range & attached):
        reason = "a normalised value lies outside [0, 1]; box kept"
        issues.append(
            LoadIssue("load.value_out_of_range", file_rel[rows.file[r]], reason, line=int(rows.line[r]))
        )
    return issues
