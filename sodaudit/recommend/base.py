"""The types every recommendation shares: ``Recommendation``, the kinds, and the ``Context``
(the judged boxes and the scale the primary change leaves them at), with the helpers more
than one recommendation uses."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.analyzers.sizes import image_positions
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.jsonable import jsonable
from sodaudit.models import ModelPreset
from sodaudit.recommend.judged import JudgedRows
from sodaudit.recommend.plan import Plan
from sodaudit.sizepresets import SIZE_PRESETS

KINDS = (
    "fix_data",
    "resolution",
    "tiling",
    "merges",
    "anchors",
    "head",
    "labels",
    "sampling",
    "augmentation",
    "none",
)


@dataclass(frozen=True)
class Recommendation:
    """One change to make, with its parameters, the numbers behind it and its effect."""

    kind: str
    summary: str
    params: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    effect: dict = field(default_factory=dict)
    priority: int = 100

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "params": jsonable(self.params),
            "evidence": jsonable(self.evidence),
            "effect": jsonable(self.effect),
            "priority": int(self.priority),
        }


def pct(x: float) -> str:
    return f"{x:.1%}" if math.isfinite(x) else "n/a"


@dataclass(frozen=True)
class Context:
    """The boxes every recommendation judges and the plan they are judged under (immutable:
    no recommendation changes what another one sees)."""

    dataset: Dataset
    config: Config
    results: Mapping[str, AnalyzerResult]
    rows: pd.DataFrame | JudgedRows
    preset: ModelPreset
    short: np.ndarray
    """Native short side of each judged box."""
    long_img: np.ndarray
    """Long side of each judged box's image."""
    plan: Plan

    @property
    def final_scale(self) -> np.ndarray:
        """Per judged box: native px -> model-input px under the plan."""
        return self.plan.box_scale

    @property
    def change(self) -> str:
        """Words for the plan's scale (``at imgsz 1280``, ``with 640 px tiles at imgsz 640``)."""
        return self.plan.change

    @property
    def imgsz(self) -> int:
        return self.config.imgsz

    @property
    def min_stride(self) -> int:
        return min(self.preset.strides)

    @property
    def max_stride(self) -> int:
        return max(self.preset.strides)

    @cached_property
    def image_pos(self) -> np.ndarray:
        """Position of each judged box's image in ``dataset.images``."""
        ids = self.dataset.images["image_id"].to_numpy()
        return image_positions(ids, self.rows["image_id"].to_numpy())

    def class_counts(self) -> dict[str, int]:
        """Judged boxes per class name, classes without boxes left out (``value_counts``'
        numbers, by a bincount of the category codes instead of 10^6 strings)."""
        col = self.rows["class_name"]
        if not isinstance(col.dtype, pd.CategoricalDtype):
            return {str(k): int(v) for k, v in col.astype(str).value_counts().items()}
        counts = np.bincount(col.cat.codes.to_numpy() + 1, minlength=len(col.cat.categories) + 1)[1:]
        return {str(c): int(n) for c, n in zip(col.cat.categories, counts.tolist(), strict=True) if n}


def what_small_means(ctx: Context) -> dict[str, Any]:
    """Bucket counts of every size preset, native and at model input (now and after the change)."""
    native = {}
    for name, preset in SIZE_PRESETS.items():
        native[name] = preset.counts(ctx.rows[preset.measure].to_numpy(np.float64))
    area = ctx.rows["area"].to_numpy(np.float64)
    coco = SIZE_PRESETS["coco"]
    # area * scale**2, one scale at a time and in place (area * s**2 == s**2 * area)
    model = np.square(ctx.rows["scale"].to_numpy(np.float64))
    model *= area
    now = coco.counts(model)
    np.square(ctx.final_scale, out=model)
    model *= area
    return {
        "native": native,
        f"model_at_imgsz_{ctx.imgsz}": {"coco": now},
        "model_after_change": {"change": ctx.change, "coco": coco.counts(model)},
    }


def count_prefix(sorted_values: np.ndarray, cut: float, holds: Callable[[np.ndarray], np.ndarray]) -> int:
    """How many values ``holds`` is true for, when it is true below about ``cut`` and false
    above (a scaled comparison: rounding keeps it monotone) on ascending ``sorted_values``.

    Only the values within 1e-9 (relative) of ``cut`` are evaluated, so the count is exactly
    ``np.count_nonzero(holds(sorted_values))`` at the cost of two binary searches.
    """
    if not (math.isfinite(cut) and cut > 0):
        return int(np.count_nonzero(holds(sorted_values)))
    lo = int(np.searchsorted(sorted_values, cut * (1 - 1e-9), side="left"))
    hi = int(np.searchsorted(sorted_values, cut * (1 + 1e-9), side="right"))
    return lo + int(np.count_nonzero(holds(sorted_values[lo:hi])))
