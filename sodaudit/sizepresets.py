"""What "small" means: the size-bucket presets of DESIGN.md, defined once.

Each preset is a list of bucket names and the upper bounds between them, applied with
``np.digitize`` (a value equal to a bound belongs to the next bucket, so "< 8" means < 8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SizePreset:
    name: str
    measure: str
    """Column the bounds apply to: ``area`` (w*h) or ``sqrt_area``."""
    bounds: tuple[float, ...]
    labels: tuple[str, ...]

    def codes(self, values: np.ndarray) -> np.ndarray:
        """Bucket index of each value (NaN lands past the last bucket; filter it first)."""
        return np.digitize(np.asarray(values, dtype=np.float64), self.bounds).astype(np.int64)

    def counts(self, values: np.ndarray) -> dict[str, int]:
        """Boxes per bucket over the finite values."""
        n = bucket_counts(values, self.bounds)
        return {label: int(c) for label, c in zip(self.labels, n.tolist(), strict=True)}


def bucket_counts(values: np.ndarray, bounds: tuple[float, ...] | list[float]) -> np.ndarray:
    """Counts of the finite values in ``[-inf, b0), [b0, b1), ..., [b_last, inf)`` (increasing
    ``bounds``), by ``np.digitize``."""
    v = np.asarray(values, dtype=np.float64)
    codes = np.digitize(v[np.isfinite(v)], bounds)
    return np.bincount(codes, minlength=len(bounds) + 1).astype(np.int64)


COCO = SizePreset("coco", "area", (32.0**2, 96.0**2), ("small", "medium", "large"))
AITOD = SizePreset("aitod", "sqrt_area", (8.0, 16.0, 32.0), ("very_tiny", "tiny", "small", "other"))
TINYPERSON = SizePreset(
    "tinyperson",
    "sqrt_area",
    (2.0, 8.0, 12.0, 20.0, 32.0),
    ("below_2", "tiny1", "tiny2", "tiny3", "small", "other"),
)
# SODA (Cheng et al., "Towards Large-Scale Small Object Detection: Survey and Benchmarks", TPAMI
# 2023): extremely small (eS) area < 12², relatively small (rS) 12²-20², generally small (gS)
# 20²-32², normal the rest; by sqrt(area) here, half-open like the presets above (exactly 12 px
# is rS). The SODA-D evaluation (a COCOeval with areaRng [0, 12²], [12², 20²], [20², 32²],
# [32², 40*50]) keeps both bounds and stops normal at 2000 px²; here normal is every larger box.
SODA = SizePreset("soda", "sqrt_area", (12.0, 20.0, 32.0), ("eS", "rS", "gS", "normal"))
SIZE_PRESETS = {p.name: p for p in (COCO, AITOD, TINYPERSON)}
PRESET_TITLES = {"coco": "COCO", "aitod": "AI-TOD", "tinyperson": "TinyPerson", "soda": "SODA"}
"""How each preset is written in prose (its ``name`` is the JSON key)."""
"""The presets every recommendation counts (``what_small_means``); SODA is reported by the sizes
analyzer only (``buckets.soda``)."""

SIZE_TOLERANCE_PX = 1e-3
"""A size within this of a pixel threshold counts as reaching it: YOLO's normalised text keeps
about 1e-5 px of a box, so an exact 2 px box may read back as 1.999998 px."""


def below_min_side(short_side: np.ndarray, min_side: float) -> np.ndarray:
    """Boxes whose short side is below ``min_side`` (within :data:`SIZE_TOLERANCE_PX`).

    The one definition of "smaller than the smallest stride": the strides finding, the plan's
    reach, the verdict and the size-histogram caption all count boxes with it, on the short
    side at model input (a box narrower than a grid cell in either direction is the problem,
    whatever its area)."""
    return short_side < min_side - SIZE_TOLERANCE_PX
