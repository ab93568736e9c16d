"""The short summary printed after a run, and the progress indicator shown while it runs."""

from __future__ import annotations

import shutil
import sys
import textwrap
import threading
import time
import unicodedata
from pathlib import Path
from typing import TextIO

from sodaudit.render.files import visible
from sodaudit.render.views.base import plural
from sodaudit.report import AuditReport
from sodaudit.verdict import verdict_of

TOP_FINDINGS = 8
MIN_WIDTH = 60
"""Narrower terminals still get 60 columns: below that, a finding is cut to a few words."""
PIPE_WIDTH = 160
"""Width when stdout is not a terminal and COLUMNS is unset (CI logs wrap, they do not cut)."""
ELLIPSIS = "…"
_CONTROL = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": " "})


def terminal_width() -> int:
    """The width to fit: COLUMNS, else the terminal's, else PIPE_WIDTH; never below MIN_WIDTH."""
    return max(MIN_WIDTH, shutil.get_terminal_size(fallback=(PIPE_WIDTH, 24)).columns)


def _char_width(char: str) -> int:
    """Columns one character takes: 2 for East Asian wide ones, 0 for combining marks."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (``len`` counts a CJK class name as half its width)."""
    return sum(_char_width(char) for char in text)


def one_line(text: str) -> str:
    """``text`` on one terminal line: lone surrogates and line breaks shown as escapes."""
    return visible(text).translate(_CONTROL)


def fit(line: str, width: int | None) -> str:
    """``line`` cut with "…" so that it takes at most ``width`` columns (``None``: uncut)."""
    if width is None or display_width(line) <= width:
        return line
    kept, used = [], 0
    for char in line:
        used += _char_width(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + ELLIPSIS


def fit_path(prefix: str, path: str, width: int | None) -> str:
    """A path cut in the middle, so that both the folder and the file name stay readable."""
    line = prefix + path
    if width is None or display_width(line) <= width:
        return line
    room = width - display_width(prefix) - 1
    if room < 8:
        return fit(line, width)
    tail = room // 2
    return prefix + fit(path, room - tail + 1).removesuffix(ELLIPSIS) + ELLIPSIS + _tail(path, tail)


def _tail(text: str, width: int) -> str:
    """The end of ``text`` that fits in ``width`` columns."""
    kept, used = [], 0
    for char in reversed(text):
        used += _char_width(char)
        if used > width:
            break
        kept.append(char)
    return "".join(reversed(kept))


def wrapped(text: str, width: int | None, indent: str = "  ") -> list[str]:
    """``text`` as indented lines of at most ``width`` columns (one line when ``width`` is None)."""
    if width is None:
        return [indent + text]
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent) or [indent]


def _finding_counts(report: AuditReport) -> str:
    """'1 error, 15 warnings, 5 notes': singular when the count is one."""
    words = {"error": "error", "warning": "warning", "info": "note"}
    severities = [f.severity.value for f in report.findings]
    return ", ".join(plural(severities.count(s), word) for s, word in words.items())


def _dataset_lines(card: dict) -> list[str]:
    """What was read: the counts, the splits and the loader's notes."""
    classes = plural(len(card["classes"]), "class", "classes")
    return [
        f"  {plural(card['num_images'], 'image')}, {plural(card['num_boxes'], 'box', 'boxes')} "
        f"({card['num_valid_boxes']:,} valid, {card['num_ignored_boxes']:,} ignored), "
        f"{classes}, splits: {', '.join(card['splits']) or 'none'}",
    ] + [f"  note: {note}" for note in card["notes"]]


def _finding_lines(report: AuditReport) -> list[str]:
    """The counts by severity, then the most severe findings."""
    lines = [f"  findings: {_finding_counts(report)}"]
    lines += [f"    [{f.severity.value}] {f.message}" for f in report.findings[:TOP_FINDINGS]]
    if len(report.findings) > TOP_FINDINGS:
        lines.append(f"    ... and {len(report.findings) - TOP_FINDINGS:,} more in the report")
    return lines


def _change_lines(report: AuditReport) -> list[str]:
    """The plan in one line and the numbered recommendations."""
    if not report.recommendations:
        return []
    lines = ["  what to change:"]  # the plan is the verdict's second sentence
    for i, rec in enumerate(report.recommendations, 1):
        lines.append(f"    {i}. {rec.get('kind', '?')}: {rec.get('summary', '')}")
    return lines


def summary(report: AuditReport, outputs: list[Path], width: int | None = None) -> str:
    """The run's summary, every line cut to ``width`` columns (``None``: full lines, --verbose).

    Paths are cut in the middle so that the file name stays; everything else at the end.
    """
    card = report.dataset_card()
    said = verdict_of(report)
    gate = report.gate
    result = "passed" if gate.passed else "FAILED (" + ", ".join(gate.failed_codes) + ")"
    header = fit_path(f"sodaudit: {card['format'].upper()} dataset at ", one_line(card["path"]), width)
    text = [header] + [fit(one_line(line), width) for line in _dataset_lines(card)]
    text += wrapped(one_line(said.sentence), width)  # the verdict is wrapped, never cut
    text += [fit(one_line(line), width) for line in _finding_lines(report) + _change_lines(report)]
    text.append(fit(f"  gate (fail on {gate.fail_on}): {result}", width))
    text += wrapped(one_line(said.gate), width, indent="    ")
    text += [fit_path("  wrote ", one_line(str(path)), width) for path in outputs]
    return "\n".join(text)


class Progress:
    """A spinner with the elapsed time and the current step, on stderr, only on a terminal.

    Loading a COCO-scale JSON takes seconds: a silent terminal looks hung. Nothing is printed
    when stderr is not a TTY (CI logs, pipes) or when the work is done within ``delay`` seconds.
    """

    FRAMES = "|/-\\"
    BAR = 24

    def __init__(
        self, label: str, *, stream: TextIO | None = None, delay: float = 0.5, interval: float = 0.1
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.delay = delay
        self.interval = interval
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = False
        self._start = 0.0
        self.done = self.total = 0

    def step(self, label: str) -> None:
        self.label = label
        self.done = self.total = 0

    def __call__(self, what: str, done: int, total: int) -> None:
        """The loaders' progress callback: a bar while a file loop runs, else the step name."""
        self.label, self.done, self.total = what, done, total

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        frame = 0
        while not self._stop.is_set():
            elapsed = time.monotonic() - self._start
            spin = self.FRAMES[frame % len(self.FRAMES)]
            text = f"\r{spin} sodaudit: {self.label} ({elapsed:.0f}s)"
            if self.total:
                filled = int(self.BAR * self.done / self.total)
                bar = "#" * filled + "-" * (self.BAR - filled)
                text = f"\r[{bar}] {self.done:,}/{self.total:,} {self.label} ({elapsed:.0f}s)"
            self.stream.write(fit(text, min(100, terminal_width() - 1)) + "\033[K")
            self.stream.flush()
            self._shown = True
            frame += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Progress:
        if self.enabled:
            self._start = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="sodaudit-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            if self._shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
