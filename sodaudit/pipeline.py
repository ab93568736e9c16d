"""The straight line: load -> analyzers -> recommendations -> AuditReport, in one process.

The CLI and the Python API (``sodaudit.audit``) share it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sodaudit.analyzers import AnalyzerResult, run_all
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import apply_rules, gate, sort_findings
from sodaudit.jsonable import jsonable
from sodaudit.loaders import load
from sodaudit.report import AuditReport, dataset_card


def audit(
    path: str | Path,
    *,
    format: str = "auto",
    config: Config | None = None,
    baseline: str | Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    **overrides: object,
) -> AuditReport:
    """Audit the dataset at ``path``; keyword overrides are config keys (``imgsz=1024``).

    With ``baseline`` (a previous report.json), regressions of tracked numbers are findings.
    """
    config = (config or Config()).updated(**overrides)
    previous = None
    if baseline is not None:
        from sodaudit.baseline import read_baseline

        previous = read_baseline(Path(baseline))
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
    return assemble(dataset, config, run_all(dataset, config), baseline=previous)


def assemble(
    dataset: Dataset,
    config: Config,
    results: Mapping[str, AnalyzerResult],
    *,
    baseline: dict[str, Any] | None = None,
) -> AuditReport:
    """The report from the analyzers' results: recommendations, the baseline comparison (from a
    previous report.json's data), the findings judged by the configured rules, and the gate."""
    from sodaudit.recommend import recommend

    recommendations = tuple(r.to_dict() for r in recommend(dataset, config, results))
    found = [f for result in results.values() for f in result.findings]
    comparison = None
    if baseline is not None:
        from sodaudit.baseline import compare

        current = {
            "dataset": dataset_card(dataset),
            "analyzers": {name: {"stats": jsonable(r.stats)} for name, r in results.items()},
        }
        comparison = compare(current, baseline, config)
        found += comparison.findings
    findings = tuple(sort_findings(apply_rules(found, config.rules)))
    return AuditReport(
        dataset=dataset,
        config=config,
        analyzers=dict(results),
        findings=findings,
        gate=gate(findings, config.fail_on),
        recommendations=recommendations,
        baseline=None if comparison is None else comparison.stats,
    )
