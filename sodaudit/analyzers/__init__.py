"""Analyzer registry: each analyzer is a plain function ``(dataset, config) -> AnalyzerResult``."""

from __future__ import annotations

from collections.abc import Callable

from sodaudit.analyzers import (
    anchors,
    class_overlap,
    integrity,
    sizes,
    splits,
    strides,
    subthreshold,
    visibility,
)
from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset

Analyzer = Callable[[Dataset, Config], AnalyzerResult]

ANALYZERS: dict[str, Analyzer] = {
    module.NAME: module.analyze
    for module in (integrity, sizes, subthreshold, class_overlap, anchors, strides, visibility, splits)
}
"""In report order: what is broken, how small things are, then what the model can represent."""

STATS_TYPES: dict[str, type] = {
    "integrity": integrity.IntegrityStats,
    "sizes": sizes.SizesStats,
    "subthreshold": subthreshold.SubthresholdStats,
    "class_overlap": class_overlap.ClassOverlapStats,
    "anchors": anchors.AnchorsStats,
    "strides": strides.StridesStats,
    "visibility": visibility.VisibilityStats,
    "splits": splits.SplitsStats,
}
"""Analyzer name -> the msgspec Struct of its ``stats``, in report order: report.json's JSON
Schema is generated from these (:mod:`sodaudit.render.schema`)."""


def run_all(dataset: Dataset, config: Config) -> dict[str, AnalyzerResult]:
    """Every analyzer in report order, one after the other, in this process."""
    return {name: analyze(dataset, config) for name, analyze in ANALYZERS.items()}


__all__ = ["ANALYZERS", "STATS_TYPES", "AnalyzerResult", "run_all"]
