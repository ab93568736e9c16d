"""The scale_match recommendation: the rescale factor that brings the size mix at imgsz closest
to COCO's (for COCO-pretrained weights)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sodaudit.recommend.base import Context, Recommendation, count_prefix
from sodaudit.sizepresets import COCO

SCALE_MATCH_MIN_DISTANCE = 0.15
"""Scale match is suggested when the size mix differs from COCO's by more than this (TV)."""
SCALE_MATCH_MIN_GAIN = 0.05
"""... and the best rescale factor brings it closer by at least this much."""
SCALE_MATCH_FACTORS = tuple(2.0 ** (k / 4) for k in range(-8, 17))
"""Rescale factors tried for scale matching: 0.25x to 16x in quarter octaves."""


def coco_mix(area_model: np.ndarray) -> np.ndarray:
    """Shares of COCO small / medium / large by w*h at model input."""
    counts = np.bincount(np.digitize(area_model, COCO.bounds), minlength=3)[:3]
    return counts / max(1, counts.sum())


def sorted_mix(area_sorted: np.ndarray, factor: float) -> np.ndarray:
    """``coco_mix(area_sorted * factor * factor)`` of an ascending array by two binary searches.

    Multiplying by a positive constant keeps the order, so the counts below each bound are
    exactly ``digitize``'s (NaN sorts last and lands in the last bucket, as there).
    """
    # #(a * f * f < bound): binary searches for the cut, the product evaluated only near it.
    below = [
        count_prefix(area_sorted, b / factor / factor, lambda a, b=b: a * factor * factor < b)
        for b in COCO.bounds
    ]
    counts = np.diff(np.array([0, *below, len(area_sorted)], dtype=np.int64))
    return counts / max(1, counts.sum())


def scale_match_rec(ctx: Context) -> Recommendation | None:
    """The rescale factor that makes the size mix at imgsz closest to COCO's (pretrained models)."""
    ref = np.asarray(ctx.config.recommend.coco_reference, np.float64)
    area_now = ctx.rows["area"].to_numpy(np.float64) * ctx.rows["scale"].to_numpy(np.float64) ** 2
    area_sorted = np.sort(area_now)  # once: then each factor is a few binary searches
    now = sorted_mix(area_sorted, 1.0)  # coco_mix(area_now): the same counts
    dist_now = 0.5 * float(np.abs(now - ref).sum())
    table = []
    for f in SCALE_MATCH_FACTORS:  # a loop over candidate factors
        mix = sorted_mix(area_sorted, f)
        table.append({"factor": f, "mix": mix.tolist(), "distance": 0.5 * float(np.abs(mix - ref).sum())})
    best = min(table, key=lambda r: (r["distance"], abs(math.log(r["factor"]))))
    if dist_now <= SCALE_MATCH_MIN_DISTANCE or dist_now - best["distance"] < SCALE_MATCH_MIN_GAIN:
        return None
    f = best["factor"]
    max_long = float(ctx.long_img.max())
    imgsz_eq = int(round(f * ctx.imgsz / ctx.max_stride) * ctx.max_stride)
    common_long = float(pd.Series(ctx.long_img).mode().iloc[0])
    params = {
        "factor": round(f, 4),
        "imgsz_equivalent": imgsz_eq,
        "tile_equivalent_px": round(common_long / f) if f > 1 else None,
        "beyond_native": bool(f * ctx.imgsz > max_long),
    }
    evidence = {
        "imgsz": ctx.imgsz,
        "mix_at_imgsz": dict(zip(("small", "medium", "large"), now.tolist(), strict=True)),
        "coco_reference": dict(zip(("small", "medium", "large"), ref.tolist(), strict=True)),
        "distance": dist_now,
        "factors": table,
    }
    effect = {
        "mix_after": dict(zip(("small", "medium", "large"), best["mix"], strict=True)),
        "distance_after": best["distance"],
    }
    mix = (
        f"small/medium/large = {now[0]:.0%}/{now[1]:.0%}/{now[2]:.0%} "
        f"vs COCO {ref[0]:.0%}/{ref[1]:.0%}/{ref[2]:.0%}"
    )
    change = f"distance {dist_now:.2f} -> {best['distance']:.2f}"
    if params["beyond_native"]:
        native = max_long / ctx.imgsz
        summary = (
            f"Scale gap to COCO-pretrained weights: at imgsz {ctx.imgsz} {mix}; matching COCO's mix needs "
            f"{f:.1f}x upscaling (imgsz ~{imgsz_eq}, {change}), beyond the {native:.1f}x that native "
            "resolution allows: expect pretrained weights to transfer less well; prefer small-object "
            "pretraining or longer fine-tuning"
        )
    else:
        direction = "Upscale" if f > 1 else "Downscale"
        summary = (
            f"Optional for COCO-pretrained weights: {direction.lower()} by {f:.2f}x (imgsz ~{imgsz_eq}) to "
            f"match COCO's size mix: at imgsz {ctx.imgsz} {mix} ({change})"
        )
    return Recommendation("scale_match", summary, params, evidence, effect, 80)
