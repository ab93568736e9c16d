"""The straight line: load -> analyzers -> AuditReport. The CLI and the Python API share it."""

from __future__ import annotations

from pathlib import Path

from sodaudit.analyzers import run_all
from sodaudit.config import Config
from sodaudit.loaders import load
from sodaudit.report import AuditReport


def audit(
    path: str | Path, *, format: str = "auto", config: Config | None = None, **overrides: object
) -> AuditReport:
    """Audit the dataset at ``path``; keyword overrides are config keys (``imgsz=1024``)."""
    config = (config or Config()).updated(**overrides)
    dataset = load(path, format, imgsz=config.imgsz)
    return AuditReport.build(dataset, config, run_all(dataset, config))
