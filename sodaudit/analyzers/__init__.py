"""Analyzer registry: each analyzer is a plain function ``(dataset, config) -> AnalyzerResult``."""

from __future__ import annotations

from collections.abc import Callable

from sodaudit.analyzers import integrity
from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset

Analyzer = Callable[[Dataset, Config], AnalyzerResult]

ANALYZERS: dict[str, Analyzer] = {
    integrity.NAME: integrity.analyze,
}


def run_all(dataset: Dataset, config: Config) -> dict[str, AnalyzerResult]:
    """Every analyzer in report order."""
    return {name: analyze(dataset, config) for name, analyze in ANALYZERS.items()}


__all__ = ["ANALYZERS", "AnalyzerResult", "run_all"]
