"""The scale gap to COCO-pretrained weights: information, never a recommendation.

COCO's small / medium / large shares (41/34/24%) are by its ``area`` field, the *mask* area
(pycocotools' COCOeval buckets by ``area``), so the dataset's mix is compared only when the
same definition exists: a COCO ``area`` field. Box area w*h is larger than mask area, so a
comparison of w*h bins with the mask-area reference would call boxes larger than COCO's were.
Nothing here ever advises shrinking images: fewer pixels per object never helps small objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sodaudit.recommend.base import Context, count_prefix
from sodaudit.sizepresets import COCO

GAP_DISTANCE = 0.15
"""The mix differs from COCO's by more than this total-variation distance: worth a note."""


def coco_mix(area_model: np.ndarray) -> np.ndarray:
    """Shares of COCO small / medium / large of areas at model input."""
    counts = np.bincount(np.digitize(area_model, COCO.bounds), minlength=3)[:3]
    return counts / max(1, counts.sum())


def sorted_mix(area_sorted: np.ndarray, factor: float) -> np.ndarray:
    """``coco_mix(area_sorted * factor * factor)`` of an ascending array by binary searches."""
    below = [
        count_prefix(area_sorted, b / factor / factor, lambda a, b=b: a * factor * factor < b)
        for b in COCO.bounds
    ]
    counts = np.diff(np.array([0, *below, len(area_sorted)], dtype=np.int64))
    return counts / max(1, counts.sum())


def scale_gap(ctx: Context) -> dict[str, Any] | None:
    """The COCO-area mix at model input under the plan against COCO's, or ``None`` when the
    dataset has no COCO ``area`` field (no like-for-like reference)."""
    if "coco_area" not in ctx.rows.columns:
        return None
    area = ctx.rows["coco_area"].to_numpy(np.float64)
    known = np.isfinite(area) & (area > 0)
    if not known.any():
        return None
    ref = np.asarray(ctx.config.recommend.coco_reference, np.float64)
    mix = coco_mix(area[known] * ctx.final_scale[known] ** 2)
    distance = 0.5 * float(np.abs(mix - ref).sum())
    return {
        "area_definition": "COCO area field (mask area), as COCO's reference",
        "change": ctx.change,
        "num_boxes": int(known.sum()),
        "mix": dict(zip(("small", "medium", "large"), mix.tolist(), strict=True)),
        "coco_reference": dict(zip(("small", "medium", "large"), ref.tolist(), strict=True)),
        "distance": distance,
        "notable": distance > GAP_DISTANCE,
    }
