"""Analyzer registry: each analyzer is a plain function ``(dataset, config) -> AnalyzerResult``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from sodaudit.analyzers import (
    anchors,
    class_overlap,
    integrity,
    sizes,
    splits,
    strides,
    subthreshold,
)
from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.parallel import busiest_lane, fork_map, workers_for

Analyzer = Callable[[Dataset, Config], AnalyzerResult]

ANALYZERS: dict[str, Analyzer] = {
    module.NAME: module.analyze
    for module in (integrity, sizes, subthreshold, class_overlap, anchors, strides, splits)
}
"""In report order: what is broken, how small things are, then what the model can represent."""


COSTS: dict[str, tuple[float, float]] = {
    "integrity": (0.0, 0.22),
    "sizes": (0.0, 0.29),
    "subthreshold": (0.01, 0.09),
    "class_overlap": (0.01, 0.24),
    "anchors": (0.45, 0.30),
    "strides": (0.0, 0.31),
    "splits": (0.0, 0.07),
}
"""Expected seconds of each analyzer in a forked lane: (fixed, per million boxes), measured at
86k, 140k and 860k boxes. Fixed costs are imports and capped work (anchors: scipy.cluster and
k-means on at most 50k boxes). Only used to deal the analyzers into lanes: with one cost per
million boxes the anchors and splits shared nothing and a 860k-box audit waited 1.16 s for a
lane where 0.91 s was possible."""

SPLIT_TEST_COST = (0.55, 0.13)
"""Added to ``splits`` when there are two splits or more: importing scipy.stats (0.35-0.5 s)
and the KS tests (measured 0.73 s at 860k boxes, 0.57 s at 140k)."""


def expected_cost(name: str, dataset: Dataset) -> float:
    fixed, per_million = COSTS.get(name, (0.1, 0.3))
    if name == "splits" and len(dataset.splits) > 1:
        fixed, per_million = fixed + SPLIT_TEST_COST[0], per_million + SPLIT_TEST_COST[1]
    return fixed + per_million * len(dataset.boxes) / 1e6


SHARED_IMPORTS: dict[tuple[str, str], float] = {("anchors", "splits"): 0.13}
"""Analyzers whose imports overlap, and the seconds saved when one process runs both: scipy.cluster
(k-means) and scipy.stats (KS tests) share scipy.spatial and scipy's array-API layer (0.14-0.19 s
then 0.27-0.32 s in one process, against 0.14-0.19 s and 0.40-0.41 s apart)."""


def run_all(
    dataset: Dataset, config: Config, *, here: Sequence[tuple[Callable[[], object], float]] = ()
) -> dict[str, AnalyzerResult]:
    """Every analyzer in report order; on large datasets in parallel lanes (same results).

    Each analyzer reads the dataset and the config only, so lanes in forked processes see the
    same inputs as this process and hand back their results. ``here``: (task, expected
    seconds) to run in this process meanwhile, such as importing the figure renderer.
    """
    workers = workers_for(len(dataset.boxes), config.workers)
    if workers != 1:
        dataset.selected_boxes()  # computed once here, inherited by every lane
    groups = _groups(dataset, workers, sum(cost for _, cost in here))
    results = fork_map(
        [partial(_run_group, group, dataset, config) for group, _ in groups],
        workers=workers,
        weights=[cost for _, cost in groups],
        here=here,
    )
    by_name = {name: result for group in results for name, result in group}
    return {name: by_name[name] for name in ANALYZERS}


def _run_group(names: tuple[str, ...], dataset: Dataset, config: Config) -> list[tuple[str, AnalyzerResult]]:
    return [(name, ANALYZERS[name](dataset, config)) for name in names]


def _groups(dataset: Dataset, workers: int, head_start: float) -> list[tuple[tuple[str, ...], float]]:
    """The analyzers as lane tasks with their expected cost: one each, except pairs of
    :data:`SHARED_IMPORTS` kept together when that makes the busiest lane lighter."""
    single = [((name,), expected_cost(name, dataset)) for name in ANALYZERS]
    best = single
    for pair, saving in SHARED_IMPORTS.items():
        if not all(name in ANALYZERS for name in pair):
            continue
        if pair == ("anchors", "splits") and len(dataset.splits) < 2:
            continue  # no KS tests, no scipy.stats import to share
        joined = [(g, c) for g, c in best if g[0] not in pair]
        joined.append((pair, sum(expected_cost(name, dataset) for name in pair) - saving))
        if busiest_lane([c for _, c in joined], workers, head_start) < busiest_lane(
            [c for _, c in best], workers, head_start
        ):
            best = joined
    return best


__all__ = ["ANALYZERS", "AnalyzerResult", "run_all"]
