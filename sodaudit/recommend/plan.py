"""The primary change: the share of boxes reaching the smallest stride at each candidate imgsz
(the resolution plan) and, when resolution costs too much, the simulated tile sizes (the
tiling plan). Every other recommendation is judged at the scale the chosen change gives."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sodaudit.recommend.base import Context
from sodaudit.recommend.tilesim import TileSimulation, overlap_px, simulate
from sodaudit.sizepresets import SIZE_TOLERANCE_PX


def resolution_candidates(imgsz: int, max_long_side: float, max_stride: int) -> list[int]:
    """The current imgsz, then multiples of the largest stride above it up to the native long side
    (rounded up to a multiple of the stride)."""
    top = int(math.ceil(max_long_side / max_stride) * max_stride) if math.isfinite(max_long_side) else imgsz
    first = (imgsz // max_stride + 1) * max_stride
    return [int(imgsz), *range(first, top + 1, max_stride)]


def share_reaching(short: np.ndarray, long_img: np.ndarray, imgsz: float, min_side: float) -> float:
    """Share of boxes whose short side at model input (letterbox to ``imgsz``) is >= ``min_side``."""
    return (
        float(np.mean(short * (imgsz / long_img) >= min_side - SIZE_TOLERANCE_PX)) if len(short) else math.nan
    )


def resolution_plan(ctx: Context) -> dict[str, Any]:
    """Share reaching the smallest stride at each candidate imgsz, the pick and its cost."""
    cfg = ctx.config.recommend
    max_long = float(ctx.long_img.max())
    cands = resolution_candidates(ctx.imgsz, max_long, ctx.max_stride)
    # short * c / long >= m - tol  <=>  short / long >= (m - tol) / c: one sort, then a search
    # per candidate (exactly share_reaching's rule, without a pass over the boxes per candidate).
    ratio = np.sort(ctx.short / ctx.long_img)
    table = []
    pick = None
    for c in cands:  # a loop over candidate sizes
        share = 1.0 - np.searchsorted(ratio, (ctx.min_stride - SIZE_TOLERANCE_PX) / c, side="left") / len(
            ratio
        )
        table.append({"imgsz": c, "share": share, "cost": (c / ctx.imgsz) ** 2})
        if pick is None and share >= cfg.target_share:
            pick = c
    current = table[0]["share"]
    native = float(np.mean(ctx.short >= ctx.min_stride - SIZE_TOLERANCE_PX))
    pick_cost = (pick / ctx.imgsz) ** 2 if pick is not None else math.nan
    needs = current < cfg.target_share
    larger = bool((ctx.long_img > ctx.imgsz).any())
    too_costly = pick is None or pick_cost > cfg.max_cost
    return {
        "current_imgsz": ctx.imgsz,
        "current_share": current,
        "target_share": cfg.target_share,
        "min_side_px": ctx.min_stride,
        "candidates": table,
        "pick": pick,
        "pick_cost": pick_cost,
        "native_share": native,
        "native_imgsz": cands[-1],
        "max_long_side": max_long,
        "needs_change": needs,
        "tiling_preferred": needs and larger and too_costly,
        "num_boxes": len(ctx.short),
    }


def tile_overlap_ratio(long_side_q: float, tile: int, max_overlap: float) -> float:
    """Smallest ratio (in 0.01 steps) whose SAHI overlap covers ``long_side_q``, capped."""
    if not math.isfinite(long_side_q) or long_side_q <= 0:
        return 0.0
    ratio = min(math.ceil(long_side_q / tile * 100) / 100, max_overlap)
    while overlap_px(tile, ratio) < long_side_q and ratio < max_overlap:
        ratio = min(round(ratio + 0.01, 2), max_overlap)
    return ratio


def tiling_plan(ctx: Context) -> dict[str, Any] | None:
    """Simulate each candidate tile size; pick the largest that reaches the target, else the best."""
    cfg = ctx.config.recommend
    max_long = float(ctx.long_img.max())
    long_q = float(np.percentile(ctx.rows["long_side"].to_numpy(np.float64), cfg.overlap_quantile))
    tiles = sorted({round(f * ctx.imgsz) for f in cfg.tile_size_factors})
    tiles = [t for t in tiles if 0 < t < max_long]
    if not tiles:
        return None
    images = ctx.dataset.images
    sims: list[TileSimulation] = []
    for t in tiles:  # a loop over tile sizes; each simulation is vectorised over boxes
        ratio = tile_overlap_ratio(long_q, t, cfg.max_overlap)
        sims.append(
            simulate(
                ctx.rows,
                t,
                ratio,
                ctx.imgsz,
                min_area_ratio=cfg.tile_min_area_ratio,
                min_side_px=ctx.min_stride,
                images=images,
            )
        )
    reaching = [s for s in sims if s.stats["share_reach_min_side"] >= cfg.target_share]
    if reaching:
        chosen = max(reaching, key=lambda s: s.stats["tile_size"])
    else:
        chosen = max(sims, key=lambda s: (s.stats["share_reach_min_side"], s.stats["tile_size"]))
    return {"chosen": chosen, "sims": sims, "long_side_quantile": long_q}
