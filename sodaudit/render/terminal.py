"""The short summary printed after a run, and the progress indicator shown while it runs."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from sodaudit.render.blocks import plan_sentence
from sodaudit.render.files import visible
from sodaudit.report import AuditReport

TOP_FINDINGS = 8
MAX_LINE = 160


def _clip(text: str, width: int = MAX_LINE) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(report: AuditReport, outputs: list[Path]) -> str:
    card = report.dataset_card()
    lines = [
        f"sodaudit: {card['format'].upper()} dataset at {card['path']}",
        f"  {card['num_images']:,} images, {card['num_boxes']:,} boxes "
        f"({card['num_valid_boxes']:,} valid, {card['num_ignored_boxes']:,} ignored), "
        f"{len(card['classes'])} classes, splits: {', '.join(card['splits']) or 'none'}",
    ]
    lines += [f"  note: {_clip(note)}" for note in card["notes"]]
    counts = {
        s: sum(1 for f in report.findings if f.severity.value == s) for s in ("error", "warning", "info")
    }
    lines.append(
        f"  findings: {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes"
    )
    for finding in report.findings[:TOP_FINDINGS]:
        lines.append(f"    [{finding.severity.value}] {_clip(finding.message)}")
    if len(report.findings) > TOP_FINDINGS:
        lines.append(f"    ... and {len(report.findings) - TOP_FINDINGS} more in the report")
    if report.recommendations:
        lines.append("  what to change:")
        plan = report.to_dict().get("plan")
        if plan:
            lines.append(f"    plan: {_clip(plan_sentence(plan))}")
        for i, rec in enumerate(report.recommendations, 1):
            lines.append(f"    {i}. {rec.get('kind', '?')}: {_clip(str(rec.get('summary', '')))}")
    gate = report.gate
    verdict = "passed" if gate.passed else "FAILED (" + ", ".join(gate.failed_codes) + ")"
    lines.append(f"  gate (fail on {gate.fail_on}): {verdict}")
    lines += [f"  wrote {path}" for path in outputs]
    return visible("\n".join(lines))


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
            self.stream.write(_clip(text, 100) + "\033[K")
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
