"""The plan: the one primary change (nothing, a larger input, or tiling), chosen by one rule
under one cost model. Every later recommendation is judged at the scale it leaves boxes at.

Options and their cost, in model-input pixels per source image relative to today:
- **resolution** ``imgsz'`` (multiples of the largest stride, up to ``plan.max_imgsz``, a GPU
  memory limit): ``(imgsz' / imgsz)^2``. Images are letterboxed to the new size, upsampled when
  smaller (Ultralytics resizes every image so its long side is imgsz), which helps: a stride-8
  grid then has more points on each object.
- **tiling** with a tile of ``t`` native px (from below to above imgsz; each tile is one model
  input of imgsz, upsampled when ``t < imgsz``): tiles per image, as SAHI's grid places them.

Reach is the share of judged boxes whose short side at model input is at least the smallest
stride, the same definition and the same boxes for every option. The rule: the cheapest option
reaching ``plan.target_share`` within ``plan.max_cost``; if none does, the one reaching most
within the cap; at equal cost full-image resolution before tiling (it keeps context and needs
no tiled inference); tiling only when ``plan.fixed_imgsz`` is set. PaddleDetection's
small-object configs on VisDrone show the order of gains this follows (29.2 mAP at 640, 37.3
sliced 640/0.25, 41.9 at 1600/1920: configs/smalldet/README.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.loaders.coco.segments import segment_reader
from sodaudit.models import ModelPreset
from sodaudit.recommend.judged import JudgedRows
from sodaudit.recommend.tilesim import (
    TileSimulation,
    inside_image,
    overlap_px,
    simulate,
    tile_scale,
    tiles_per_image,
)
from sodaudit.sizepresets import SIZE_TOLERANCE_PX

PRIMARY_KINDS = ("none", "resolution", "tiling")


@dataclass(frozen=True)
class PlanOption:
    """One way to change what the model sees, with its cost and its reach."""

    primary: str
    imgsz: int
    cost_factor: float
    reach_share: float
    tile: int | None = None
    overlap: float | None = None

    @property
    def text(self) -> str:
        """``imgsz 1536: 90.2% at 5.8x``: what the option buys and what it costs."""
        return f"{self.describe()}: {self.reach_share:.1%} at {self.cost_factor:.1f}x"

    def describe(self) -> str:
        if self.primary == "tiling":
            up = " (upsampled)" if self.tile is not None and self.tile < self.imgsz else ""
            return f"{self.tile} px tiles{up}, overlap {self.overlap:g}, at imgsz {self.imgsz}"
        if self.primary == "resolution":
            return f"imgsz {self.imgsz}"
        return f"imgsz {self.imgsz} as today"

    def to_dict(self) -> dict[str, Any]:
        return {
            "primary": self.primary,
            "imgsz": self.imgsz,
            "tile": self.tile,
            "overlap": self.overlap,
            "cost_factor": self.cost_factor,
            "reach_share": self.reach_share,
        }


@dataclass(frozen=True)
class Plan:
    """The chosen option, the alternatives, and the per-box scale every later rule uses."""

    chosen: PlanOption
    current_share: float
    target_share: float
    max_cost: float
    min_side_px: int
    num_boxes: int
    reason: str
    alternatives: tuple[PlanOption, ...] = ()
    options: tuple[PlanOption, ...] = ()
    box_scale: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    """Per judged box: native px -> model-input px under the plan."""
    today_scale: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    simulation: TileSimulation | None = field(default=None, repr=False)
    long_side_quantile_px: float = math.nan

    @property
    def primary(self) -> str:
        return self.chosen.primary

    @property
    def scale(self) -> float:
        """Model-input scale relative to today (median over the judged boxes; one number for a
        resolution change, per image size for tiling)."""
        if not len(self.box_scale):
            return 1.0
        return float(np.median(self.box_scale / self.today_scale))

    @property
    def change(self) -> str:
        """Words for the scale later rules are judged at (``at imgsz 1280``)."""
        if self.primary == "tiling":
            return f"with {self.chosen.tile} px tiles at imgsz {self.chosen.imgsz}"
        return f"at imgsz {self.chosen.imgsz}"

    def to_dict(self) -> dict[str, Any]:
        c = self.chosen
        return {
            "primary": c.primary,
            "imgsz": c.imgsz,
            "tile": c.tile,
            "overlap": c.overlap,
            "cost_factor": c.cost_factor,
            "reach_share": c.reach_share,
            "scale": self.scale,
            "current_share": self.current_share,
            "target_share": self.target_share,
            "max_cost": self.max_cost,
            "min_side_px": self.min_side_px,
            "num_boxes": self.num_boxes,
            "reason": self.reason,
            "alternatives": [a.to_dict() for a in self.alternatives],
            "options": [o.to_dict() for o in self.options],
        }


def resolution_candidates(imgsz: int, max_imgsz: int, max_stride: int) -> list[int]:
    """Multiples of the largest stride above ``imgsz``, up to ``max_imgsz`` (the memory limit)."""
    first = (imgsz // max_stride + 1) * max_stride
    return list(range(first, int(max_imgsz) + 1, max_stride))


def share_reaching(short: np.ndarray, long_img: np.ndarray, imgsz: float, min_side: float) -> float:
    """Share of boxes whose short side at model input (letterbox to ``imgsz``) is >= ``min_side``."""
    return (
        float(np.mean(short * (imgsz / long_img) >= min_side - SIZE_TOLERANCE_PX)) if len(short) else math.nan
    )


def tile_overlap_ratio(long_side_q: float, tile: int, max_overlap: float) -> float:
    """Smallest ratio (in 0.01 steps) whose SAHI overlap covers ``long_side_q``, capped."""
    if not math.isfinite(long_side_q) or long_side_q <= 0:
        return 0.0
    ratio = min(math.ceil(long_side_q / tile * 100) / 100, max_overlap)
    while overlap_px(tile, ratio) < long_side_q and ratio < max_overlap:
        ratio = min(round(ratio + 0.01, 2), max_overlap)
    return ratio


def make_plan(dataset: Dataset, config: Config, preset: ModelPreset, rows: pd.DataFrame | JudgedRows) -> Plan:
    """The plan for the judged ``rows`` (valid, non-ignore boxes of images of known size)."""
    cfg = config.plan
    imgsz = config.imgsz
    min_side = min(preset.strides)
    short = rows["short_side"].to_numpy(np.float64)
    long_img = np.maximum(rows["img_w"].to_numpy(np.float64), rows["img_h"].to_numpy(np.float64))
    today = imgsz / long_img
    n = len(short)
    # One box set for every option: a box with no area inside its image reaches nothing.
    inside = inside_image(rows)
    # short * c / long >= m - tol  <=>  short / long >= (m - tol) / c: one sort, then a search
    # per candidate size (share_reaching's rule without a pass over the boxes per candidate).
    ratio = np.sort(np.where(inside, short / long_img, -np.inf))

    def reach_at(size: int) -> float:
        return 1.0 - np.searchsorted(ratio, (min_side - SIZE_TOLERANCE_PX) / size, side="left") / n

    current = PlanOption("none", imgsz, 1.0, reach_at(imgsz))
    options: list[PlanOption] = []
    if not cfg.fixed_imgsz:
        for size in resolution_candidates(imgsz, cfg.max_imgsz, max(preset.strides)):
            options.append(PlanOption("resolution", size, (size / imgsz) ** 2, reach_at(size)))
    long_q = math.nan
    if current.reach_share < cfg.target_share:
        long_q = float(np.percentile(rows["long_side"].to_numpy(np.float64), cfg.overlap_quantile))
        tiles = sorted({round(f * imgsz) for f in cfg.tile_size_factors})
        img_w, img_h = rows["img_w"].to_numpy(np.float64), rows["img_h"].to_numpy(np.float64)
        for t in [t for t in tiles if 0 < t < float(long_img.max())]:  # a loop over tile sizes
            overlap = tile_overlap_ratio(long_q, t, cfg.max_overlap)
            # Reach and cost need only each image size's grid (what the full simulation of the
            # chosen option reports too); a box with no area inside its image never reaches.
            scale = tile_scale(img_w, img_h, t, overlap, imgsz)
            reached = inside & (short * scale >= min_side - SIZE_TOLERANCE_PX)
            cost = tiles_per_image(dataset.images, t, overlap)
            options.append(
                PlanOption("tiling", imgsz, cost, float(np.count_nonzero(reached)) / n, t, overlap)
            )
    chosen, reason = choose_option(current, options, cfg.target_share, cfg.max_cost)
    reached = current.reach_share >= cfg.target_share
    box_scale = today
    simulation = None
    if chosen.primary == "resolution":
        box_scale = chosen.imgsz / long_img
    elif chosen.primary == "tiling":
        # The full simulation (cut boxes, min-area losses, slivers) for the chosen tiles only.
        simulation = simulate(
            rows,
            int(chosen.tile or 0),
            float(chosen.overlap or 0.0),
            imgsz,
            min_area_ratio=cfg.tile_min_area_ratio,
            min_side_px=min_side,
            images=dataset.images,
            # COCO: cut boxes judged on their polygon segmentation, as SAHI does (tilesim)
            segments=segment_reader(dataset, rows, config.limits.max_annotation_file_mb),
        )
        box_scale = today.copy()
        box_scale[simulation.index] = simulation.scale
    plan = Plan(
        chosen=chosen,
        current_share=current.reach_share,
        target_share=cfg.target_share,
        max_cost=cfg.max_cost,
        min_side_px=min_side,
        num_boxes=n,
        reason=reason,
        alternatives=() if reached else _alternatives(chosen, options, cfg.target_share, cfg.max_cost),
        options=(current, *options),
        box_scale=box_scale,
        today_scale=today,
        simulation=simulation,
        long_side_quantile_px=long_q,
    )
    return plan


def _order(option: PlanOption) -> tuple[float, int, int]:
    """Cheaper first; at equal cost resolution before tiling, then the smaller change."""
    return (round(option.cost_factor, 9), PRIMARY_KINDS.index(option.primary), option.tile or option.imgsz)


def choose_option(
    current: PlanOption, options: list[PlanOption], target: float, cap: float
) -> tuple[PlanOption, str]:
    """The plan's rule (module docstring): the option to take, and why, in words."""
    if current.reach_share >= target:
        return (
            current,
            f"{current.reach_share:.1%} of boxes already reach the smallest stride (target {target:.0%})",
        )
    affordable = [o for o in options if o.cost_factor <= cap + 1e-9]
    reaching = sorted((o for o in affordable if o.reach_share >= target), key=_order)
    if reaching:
        return reaching[0], f"the cheapest option reaching {target:.0%} within the {cap:g}x cap"
    better = [o for o in affordable if o.reach_share > current.reach_share]
    if not better:
        return current, f"no option within the {cap:g}x cap reaches more boxes than today"
    why = f"no option reaches {target:.0%} within the {cap:g}x cap; this one reaches the most"
    return _most_reaching(better), why


def _alternatives(
    chosen: PlanOption, options: list[PlanOption], target: float, cap: float
) -> tuple[PlanOption, ...]:
    """What more compute buys: per kind, the cheapest option reaching the target (else the one
    reaching most), whatever its cost, and the best-reaching option within the cap; the chosen
    one left out."""
    picks: list[PlanOption] = []
    for kind in ("resolution", "tiling"):
        same = [o for o in options if o.primary == kind]
        if not same:
            continue
        reaching = sorted((o for o in same if o.reach_share >= target), key=_order)
        picks.append(reaching[0] if reaching else _most_reaching(same))
        affordable = [o for o in same if o.cost_factor <= cap + 1e-9]
        if affordable:
            picks.append(_most_reaching(affordable))
    unique = [o for o in dict.fromkeys(picks) if o != chosen and o.reach_share > chosen.reach_share]
    return tuple(sorted(unique, key=_order))


def _most_reaching(options: list[PlanOption]) -> PlanOption:
    """The option reaching most boxes; the cheaper (then resolution) at equal reach."""
    return min(options, key=lambda o: (-round(o.reach_share, 12), _order(o)))
