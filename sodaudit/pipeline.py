"""The straight line: load -> analyzers -> recommendations -> AuditReport, in one process.

The CLI and the Python API (``sodaudit.audit``) share it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from sodaudit import remote
from sodaudit.analyzers import AnalyzerResult, run_all
from sodaudit.cache import session as cache_session
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.errors import ConfigError
from sodaudit.findings import Finding, apply_rules, gate, sort_findings
from sodaudit.jsonable import jsonable
from sodaudit.loaders import load
from sodaudit.recommend.effective import thin_cells_finding
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
    Per-file results (image headers, label files, image hashes) are cached in the user cache
    folder unless ``cache=False`` (see :mod:`sodaudit.cache`).
    """
    config = (config or Config()).updated(**overrides)
    previous = None
    if baseline is not None:
        from sodaudit.baseline import read_baseline

        previous = read_baseline(Path(baseline))
    # A URL (s3://...) is staged as a local tree first (sodaudit.remote); then one cache session
    # over loading and the analyzers: headers, label files and image hashes.
    with staged_path(path, config, progress) as local, cache_session(local, config.cache) as caches:
        dataset = load(
            local,
            format,
            imgsz=config.imgsz,
            limits=config.limits,
            progress=progress,
            workers=config.workers,
        )
        if caches is not None and caches.notes:
            dataset = replace(dataset, notes=(*dataset.notes, *caches.notes))
        if (origin := remote.origin_of(local)) is not None:
            dataset = remote.as_origin(dataset, origin)
        if progress is not None:
            progress("running the analyzers", 0, 0)
        results = run_all(dataset, config)
    return assemble(dataset, config, results, baseline=previous)


def staged_path(
    path: str | Path, config: Config, progress: Callable[[str, int, int], None] | None = None
) -> AbstractContextManager[Path]:
    """The local path to read for ``path``: a URL of an object store is staged
    (:func:`sodaudit.remote.staged`), a local path is itself."""
    if remote.is_remote(path):
        if config.scheduler not in (None, "local"):
            raise ConfigError(
                f"--scheduler {config.scheduler} with a dataset in object storage: the cluster's workers "
                "would read images staged on this machine; use --scheduler local (or --workers N)."
            )
        limit = config.limits.max_annotation_file_mb
        return remote.staged(str(path), cache=config.cache, max_file_mb=limit, progress=progress)
    return nullcontext(Path(path))


def load_staged(path: str | Path, config: Config, format: str = "auto") -> Dataset:
    """:func:`~sodaudit.loaders.load` of a local path or a bucket URL, staged only while loading:
    for commands that read labels and headers, never pixels (``sodaudit diff``)."""
    with staged_path(path, config) as local:
        dataset = load(local, format, imgsz=config.imgsz, limits=config.limits)
        origin = remote.origin_of(local)
        return dataset if origin is None else remote.as_origin(dataset, origin)


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
    # The advice reads the judged findings: data errors become the first recommendation.
    judged = apply_rules(found, config.rules)
    advice = recommend(dataset, config, results, judged)
    plan = None
    if advice.plan is not None:
        plan = {
            **advice.plan.to_dict(),
            "scale_gap": advice.scale_gap,
            "notes": list(advice.notes),
            "effective_samples": advice.effective,
        }
        gap = advice.scale_gap
        if gap is not None and gap["notable"]:
            judged += apply_rules([scale_gap_finding(gap)], config.rules)
        thin = thin_cells_finding(advice.effective, advice.plan.change) if advice.effective else None
        if thin is not None:
            judged += apply_rules([thin], config.rules)
    findings = tuple(sort_findings(judged))
    return AuditReport(
        dataset=dataset,
        config=config,
        analyzers=dict(results),
        findings=findings,
        gate=gate(findings, config.fail_on),
        recommendations=tuple(r.to_dict() for r in advice.recommendations),
        plan=plan,
        baseline=None if comparison is None else comparison.stats,
    )


def scale_gap_finding(gap: Mapping[str, Any]) -> Finding:
    """The scale gap to COCO-pretrained weights, as information (never a recommendation)."""
    mix, ref = gap["mix"], gap["coco_reference"]
    return Finding.of(
        "plan.scale_gap",
        f"Size mix {gap['change']} by COCO's area field: small/medium/large = {mix['small']:.0%}/"
        f"{mix['medium']:.0%}/{mix['large']:.0%} vs COCO's {ref['small']:.0%}/{ref['medium']:.0%}/"
        f"{ref['large']:.0%} (distance {gap['distance']:.2f}): COCO-pretrained weights transfer less "
        "directly; fine-tune longer or start from small-object pretraining.",
        "plan",
        value=float(gap["distance"]),
    )
