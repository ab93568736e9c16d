"""The straight line: load -> analyzers -> AuditReport. The CLI and the Python API share it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sodaudit.analyzers import run_all
from sodaudit.config import Config
from sodaudit.loaders import load
from sodaudit.report import AuditReport


def audit(
    path: str | Path,
    *,
    format: str = "auto",
    config: Config | None = None,
    baseline: str | Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    prepare_figures: bool = False,
    **overrides: object,
) -> AuditReport:
    """Audit the dataset at ``path``; keyword overrides are config keys (``imgsz=1024``).

    With ``baseline`` (a previous report.json), regressions of tracked numbers are findings.
    ``prepare_figures``: import the figure renderer while the analyzers run, for a caller that
    draws the HTML report next (the CLI).
    """
    config = (config or Config()).updated(**overrides)
    dataset = load(
        path,
        format,
        imgsz=config.imgsz,
        limits=config.limits,
        progress=progress,
        workers=config.workers,
    )
    if progress is not None:
        progress("running the analyzers", 0, 0)
    here = []
    if prepare_figures:
        from sodaudit import figures

        here.append((figures.prepare, figures.PREPARE_COST))
    results = run_all(dataset, config, here=here)
    report = AuditReport.build(dataset, config, results)
    if baseline is not None:
        from sodaudit.baseline import NAME, compare, read_baseline

        results[NAME] = compare(report.to_dict(), read_baseline(Path(baseline)), config)
        report = AuditReport.build(dataset, config, results)
    return report
