"""Tile grids as slicing tools place them, and their simulation on a dataset's boxes.

The grid follows SAHI's ``get_slice_bboxes`` exactly (and Ultralytics' ``split_dota``
windows, which place tiles the same way): ``overlap_px = int(overlap_ratio * T)``, tiles start
at ``0, step, 2 * step, ...`` with ``step = T - overlap_px`` until one reaches the border, and
a tile that would run past the border is moved back to lie flush with it (``x_min = W - T``).
A side shorter than ``T`` gets one tile covering the whole side.

The simulation groups images by ``(width, height)`` (datasets have few distinct sizes), builds
the grid once per size and applies it to all boxes of those images with numpy: per axis, the
overlap of every box with every tile column (row); tiles are products of a column and a row,
so containment and visible area factorise. Nothing loops in Python over boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sodaudit.sizepresets import SIZE_TOLERANCE_PX

CONTAIN_EPS = 1e-6
"""A box edge within this many pixels of a tile edge counts as inside (float labels)."""
CELL_CHUNK = 4_000_000
"""Box x tile cells evaluated at once; bounds memory for huge images with many tiles."""


def overlap_px(tile: int, overlap_ratio: float) -> int:
    """Overlap in pixels as SAHI computes it: ``int(overlap_ratio * slice_size)`` (truncated)."""
    return int(overlap_ratio * tile)


def axis_starts(length: int, tile: int, overlap: int) -> np.ndarray:
    """Tile start positions along one axis, by SAHI's loop (a loop over tiles, not boxes).

    >>> axis_starts(1920, 640, 128).tolist()
    [0, 512, 1024, 1280]
    """
    length, tile, overlap = int(length), int(tile), int(overlap)
    if tile <= 0:
        raise ValueError(f"tile size must be positive, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got {overlap} for tile {tile}")
    starts: list[int] = []
    lo = hi = 0
    while hi < length:
        hi = lo + tile
        starts.append(max(0, length - tile) if hi > length else lo)
        lo = hi - overlap
    return np.asarray(starts, dtype=np.int64)


@dataclass(frozen=True)
class TileGrid:
    """The tiles of one image size: columns ``xs`` and rows ``ys``; tile (i, j) is their product."""

    width: int
    height: int
    tile: int
    overlap_px: int
    xs: np.ndarray
    ys: np.ndarray

    @property
    def tile_w(self) -> int:
        return min(self.tile, self.width)

    @property
    def tile_h(self) -> int:
        return min(self.tile, self.height)

    @property
    def num_tiles(self) -> int:
        return len(self.xs) * len(self.ys)

    def bboxes(self) -> np.ndarray:
        """``[x_min, y_min, x_max, y_max]`` per tile, rows outer, in SAHI's order."""
        y, x = np.meshgrid(self.ys, self.xs, indexing="ij")
        x, y = x.ravel(), y.ravel()
        return np.stack([x, y, x + self.tile_w, y + self.tile_h], axis=1)


def tile_grid(width: int, height: int, tile: int, overlap_ratio: float) -> TileGrid:
    """The grid SAHI's ``get_slice_bboxes(height, width, tile, tile, r, r)`` produces."""
    ov = overlap_px(tile, overlap_ratio)
    return TileGrid(
        int(width), int(height), int(tile), ov, axis_starts(width, tile, ov), axis_starts(height, tile, ov)
    )


@dataclass
class TileSimulation:
    """What tiling at one tile size does to the dataset; ``stats`` is JSON-able."""

    stats: dict[str, object]
    scale: np.ndarray
    """Per simulated box: native px -> model input px when its image is tiled and each tile
    is resized to imgsz (``imgsz / max(tile_w, tile_h)``)."""
    index: np.ndarray
    """Row positions (in the ``boxes`` table passed in) of the simulated boxes."""


def _axis(lo: np.ndarray, hi: np.ndarray, starts: np.ndarray, size: int):
    """Per box and tile column: visible length, box inside the column, column touches box."""
    t0 = starts[None, :].astype(np.float64)
    t1 = t0 + size
    vis = np.minimum(hi[:, None], t1) - np.maximum(lo[:, None], t0)
    vis = np.maximum(vis, 0.0)
    inside = (lo[:, None] >= t0 - CONTAIN_EPS) & (hi[:, None] <= t1 + CONTAIN_EPS)
    return vis, inside, vis > 0


def _unique_sizes(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (width, height) rows and each row's group, via one hashed key (fast for 10^6 rows;
    ``np.unique(axis=0)`` sorts structured rows and is many times slower)."""
    if len(sizes) == 0:
        return np.zeros((0, 2)), np.zeros(0, np.int64)
    codes_w, uniq_w = pd.factorize(sizes[:, 0])
    codes_h, uniq_h = pd.factorize(sizes[:, 1])
    key = codes_w.astype(np.int64) * len(uniq_h) + codes_h
    codes, uniq_key = pd.factorize(key)
    uniq = np.stack([uniq_w[uniq_key // len(uniq_h)], uniq_h[uniq_key % len(uniq_h)]], axis=1)
    return uniq.astype(np.float64), codes.astype(np.int64)


def simulate(
    boxes: pd.DataFrame,
    tile: int,
    overlap_ratio: float,
    imgsz: int,
    *,
    min_area_ratio: float = 0.1,
    min_side_px: float = 8.0,
    images: pd.DataFrame | None = None,
) -> TileSimulation:
    """Tile every image at ``tile`` native px with ``overlap_ratio`` and measure the boxes.

    ``boxes`` are the boxes to judge (the caller picks valid, non-ignore ones) with
    ``x, y, w, h, img_w, img_h, short_side``; ``images`` (optional) counts tiles over every
    image, background ones included. Boxes are clipped to their image first (as slicing tools
    see them); boxes with no area inside their image are left out.

    Per box: ``whole`` = inside at least one tile; ``cut everywhere`` = every tile touching it
    cuts it; ``lost`` = no tile keeps it under the min-area rule (a cut part is kept when its
    visible area is at least ``min_area_ratio`` of the box). Per (box, tile) cut fragment:
    dropped by that rule, or kept as a truncated label.
    """
    x0 = np.clip(boxes["x"].to_numpy(np.float64), 0, boxes["img_w"].to_numpy(np.float64))
    y0 = np.clip(boxes["y"].to_numpy(np.float64), 0, boxes["img_h"].to_numpy(np.float64))
    x1 = np.clip((boxes["x"] + boxes["w"]).to_numpy(np.float64), 0, boxes["img_w"].to_numpy(np.float64))
    y1 = np.clip((boxes["y"] + boxes["h"]).to_numpy(np.float64), 0, boxes["img_h"].to_numpy(np.float64))
    area = (x1 - x0) * (y1 - y0)
    keep = np.isfinite(area) & (area > 0)
    keep &= np.isfinite(boxes["img_w"].to_numpy(np.float64)) & np.isfinite(
        boxes["img_h"].to_numpy(np.float64)
    )
    index = np.flatnonzero(keep)
    n = len(index)
    whole = np.zeros(n, bool)
    lost = np.zeros(n, bool)
    scale = np.full(n, np.nan)
    fragments = dropped_fragments = 0

    size_w = boxes["img_w"].to_numpy(np.float64)[index]
    size_h = boxes["img_h"].to_numpy(np.float64)[index]
    grids: dict[tuple[int, int], TileGrid] = {}
    keys = np.stack([size_w, size_h], axis=1) if n else np.zeros((0, 2))
    uniq, group = _unique_sizes(keys)
    for g, (w, h) in enumerate(uniq):  # a loop over distinct image sizes
        grid = grids.setdefault((int(w), int(h)), tile_grid(int(w), int(h), tile, overlap_ratio))
        rows = np.flatnonzero(group == g)
        scale[rows] = imgsz / max(grid.tile_w, grid.tile_h)
        cells = max(1, grid.num_tiles)
        step = max(1, CELL_CHUNK // cells)
        for lo in range(0, len(rows), step):  # chunks of boxes, each vectorised
            r = rows[lo : lo + step]
            b = index[r]
            vx, ix, tx = _axis(x0[b], x1[b], grid.xs, grid.tile_w)
            vy, iy, ty = _axis(y0[b], y1[b], grid.ys, grid.tile_h)
            whole[r] = ix.any(1) & iy.any(1)
            frac = vx[:, :, None] * vy[:, None, :] / area[b][:, None, None]
            touch = tx[:, :, None] & ty[:, None, :]
            cut = touch & ~(ix[:, :, None] & iy[:, None, :])
            small_part = cut & (frac < min_area_ratio)
            kept = (touch & ~small_part).any(axis=(1, 2))
            lost[r] = ~kept
            fragments += int(cut.sum())
            dropped_fragments += int(small_part.sum())

    # Tiles over images (every image of known size, or the boxes' images when not given).
    if images is not None:
        sizes = images[["width", "height"]].to_numpy(np.float64)
        sizes = sizes[np.isfinite(sizes).all(axis=1) & (sizes > 0).all(axis=1)]
    else:
        first = np.unique(boxes["image_id"].to_numpy()[index], return_index=True)[1]
        sizes = keys[first]
    size_keys, size_group = _unique_sizes(sizes)
    size_counts = np.bincount(size_group, minlength=len(size_keys))
    per_size = []
    total_tiles = 0
    for (w, h), count in zip(size_keys, size_counts, strict=True):
        grid = grids.get((int(w), int(h))) or tile_grid(int(w), int(h), tile, overlap_ratio)
        total_tiles += grid.num_tiles * int(count)
        per_size.append(
            {
                "width": int(w),
                "height": int(h),
                "num_images": int(count),
                "tiles_x": len(grid.xs),
                "tiles_y": len(grid.ys),
                "tiles": grid.num_tiles,
                "x_starts": grid.xs.tolist(),
                "y_starts": grid.ys.tolist(),
            }
        )
    per_size.sort(key=lambda s: -s["num_images"])
    num_images = int(size_counts.sum())

    short = boxes["short_side"].to_numpy(np.float64)[index] * scale
    reach = short >= min_side_px - SIZE_TOLERANCE_PX
    q = np.percentile(short, [10, 50, 90]) if n else [np.nan] * 3
    ov = overlap_px(tile, overlap_ratio)
    stats: dict[str, object] = {
        "tile_size": int(tile),
        "overlap_ratio": float(overlap_ratio),
        "overlap_px": ov,
        "step_px": int(tile) - ov,
        "imgsz": int(imgsz),
        "num_images": num_images,
        "total_tiles": int(total_tiles),
        "tiles_per_image": total_tiles / num_images if num_images else float("nan"),
        "grids": per_size[:5],
        "num_distinct_sizes": len(per_size),
        "num_boxes": n,
        "whole_in_a_tile": int(whole.sum()),
        "share_whole_in_a_tile": float(whole.mean()) if n else float("nan"),
        "cut_by_every_tile": int((~whole).sum()),
        "share_cut_by_every_tile": float((~whole).mean()) if n else float("nan"),
        "min_area_ratio": float(min_area_ratio),
        "lost_to_min_area": int(lost.sum()),
        "share_lost_to_min_area": float(lost.mean()) if n else float("nan"),
        "cut_fragments": int(fragments),
        "cut_fragments_dropped": int(dropped_fragments),
        "cut_fragments_kept": int(fragments - dropped_fragments),
        "min_side_px": float(min_side_px),
        "reach_min_side": int(reach.sum()),
        "share_reach_min_side": float(reach.mean()) if n else float("nan"),
        "short_side_model": {"p10": float(q[0]), "p50": float(q[1]), "p90": float(q[2])},
    }
    return TileSimulation(stats, scale, index)


def slicing_params(tile: int, overlap_ratio: float, imgsz: int, min_area_ratio: float) -> dict[str, object]:
    """The same grid in the parameters of common slicing tools (training and inference)."""
    ov = overlap_px(tile, overlap_ratio)
    return {
        "sahi": {
            "slice_height": int(tile),
            "slice_width": int(tile),
            "overlap_height_ratio": float(overlap_ratio),
            "overlap_width_ratio": float(overlap_ratio),
            "min_area_ratio": float(min_area_ratio),
        },
        "ultralytics_split_dota": {"crop_size": int(tile), "gap": ov, "rates": [1.0]},
        "patches": {
            "tile_px": int(tile),
            "overlap_px": ov,
            "stride_px": int(tile) - ov,
            "train_imgsz": int(imgsz),
        },
    }
