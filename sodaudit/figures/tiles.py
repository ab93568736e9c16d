"""The tile-grid figure: one dataset image cut into the tiles the tiling recommendation (or a
default) would make, with its labels drawn over it.

Apart from the plots because it is the one figure that reads an image file, and because
:func:`tile_starts` and :func:`tiling_params` are used on their own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle
from PIL import Image, ImageOps

from sodaudit.figures.common import (
    Figure,
    _imgsz,
    _new_figure,
    _selected,
    _strides,
    encode,
    per_image_counts,
    text,
)

MAX_GRID_BOXES = 3000
"""Boxes drawn over the tile-grid image."""
GRID_DISPLAY_PX = 960
"""Long side of the image shown under the tile grid, in screen pixels."""
DEFAULT_TILE_OVERLAP = 0.2
"""Tile overlap when no tiling recommendation gives one (a common slicing default)."""
TILE_COLORS = ("#00e5ff", "#ffea00", "#76ff03", "#ff4081")


def tile_starts(length: float, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis the way SAHI's ``get_slice_bboxes`` places them.

    Step ``tile - overlap`` from 0; the tile that would run past the border is moved back to
    end flush with it (origin ``length - tile``, never below 0).
    """
    length = int(length)
    overlap = min(max(0, int(overlap)), tile - 1)
    starts, start = [], 0
    while True:
        end = start + tile
        starts.append(max(0, length - tile) if end > length else start)
        if end >= length:
            break
        start = end - overlap
    return starts


def _find_number(params: Any, keys: tuple[str, ...]) -> float | None:
    """The first finite number under any of ``keys`` in a (possibly nested) params dict."""
    if not isinstance(params, Mapping):
        return None
    for key in keys:
        value = params.get(key)
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        ):
            return float(value)
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value):
            return float(value[0])
    for value in params.values():
        found = _find_number(value, keys)
        if found is not None:
            return found
    return None


def tiling_params(report: Any) -> tuple[int, int, bool]:
    """(tile side, overlap in px, from a recommendation?) in native pixels."""
    for rec in getattr(report, "recommendations", None) or []:
        rec = rec.to_dict() if hasattr(rec, "to_dict") else rec
        if not isinstance(rec, Mapping) or rec.get("kind") != "tiling":
            continue
        params = rec.get("params") or {}
        tile = _find_number(params, ("tile_size", "tile", "tile_px", "slice_width", "slice_size", "tile_w"))
        if tile is None:
            continue
        overlap = _find_number(params, ("overlap_px", "overlap_pixels", "overlap"))
        if overlap is not None and overlap < 1:  # a ratio under the name "overlap"
            overlap *= tile
        if overlap is None:
            ratio = _find_number(params, ("overlap_ratio", "overlap_width_ratio"))
            overlap = (ratio or 0.0) * tile
        return round(tile), round(min(overlap, tile - 1)), True
    tile = _imgsz(report)
    return tile, int(DEFAULT_TILE_OVERLAP * tile), False


def _pick_images(report: Any, tile: int, limit: int = 5) -> list[tuple[pd.Series, pd.DataFrame]]:
    """Images larger than one tile with the most small labels, that exist on disk."""
    dataset = report.dataset
    images = dataset.images
    ok = (images["width"].to_numpy() > tile) | (images["height"].to_numpy() > tile)
    if not ok.any():  # the cheap test first: often no image is larger than a tile
        return []
    ok &= images["status"].isin(("ok", "unchecked")).to_numpy() & (images["path"].to_numpy() != "")
    if not ok.any():
        return []
    sel = _selected(dataset)
    _, strides = _strides(report)
    small_px = float(strides[0]) if strides else 8.0
    small = sel["sqrt_area_model"].to_numpy() < small_px
    ids = images["image_id"].to_numpy()
    box_ids = sel["image_id"].to_numpy()
    n_small = per_image_counts(ids, box_ids[small])
    n_all = per_image_counts(ids, box_ids)
    score = np.where(ok, n_small * 1_000_000 + n_all, -1)
    picked = []
    for idx in np.argsort(-score, kind="stable")[: limit * 4]:
        if score[idx] < 0 or len(picked) >= limit:
            break
        if os.path.isfile(images["path"].iloc[idx]):
            row = images.iloc[idx]
            picked.append((row, sel[sel["image_id"].to_numpy() == row["image_id"]]))
    return picked


def _load_display(path: str, width: float, height: float) -> Image.Image | None:
    """The image downscaled for display, oriented as the dataset's coordinates assume."""
    try:
        with Image.open(path) as im:
            target = GRID_DISPLAY_PX / max(width, height)
            im.draft("RGB", (max(1, int(im.width * target)), max(1, int(im.height * target))))
            im.load()
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
            im.thumbnail((GRID_DISPLAY_PX, GRID_DISPLAY_PX), Image.Resampling.LANCZOS)
            return im
    except Exception:  # unreadable image: no figure
        return None


def _tile_grid(report: Any) -> Figure | None:
    tile, overlap, recommended = tiling_params(report)
    if tile <= 0:
        return None
    loaded = next(
        (
            (row, boxes, im)
            for row, boxes in _pick_images(report, tile)
            if (im := _load_display(str(row["path"]), float(row["width"]), float(row["height"]))) is not None
        ),
        None,
    )
    if loaded is None:
        return None
    row, boxes, im = loaded
    W, H = float(row["width"]), float(row["height"])
    xs = tile_starts(W, tile, overlap)
    ys = tile_starts(H, tile, overlap)
    fig = _new_figure(8, 8 * im.height / im.width + 0.6, (0.1, 0.1, 0.3, 0.3))
    ax = fig.add_subplot()
    ax.imshow(np.asarray(im), extent=(0, W, H, 0), interpolation="antialiased")
    bx, by = boxes["x"].to_numpy(), boxes["y"].to_numpy()
    bw, bh = boxes["w"].to_numpy(), boxes["h"].to_numpy()
    shown = slice(0, MAX_GRID_BOXES)
    verts = [
        [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        for x, y, w, h in zip(bx[shown], by[shown], bw[shown], bh[shown], strict=True)
    ]
    ax.add_collection(PolyCollection(verts, facecolors="none", edgecolors="#ff00aa", linewidths=0.8))
    for j, y0 in enumerate(ys):
        for i, x0 in enumerate(xs):
            color = TILE_COLORS[(i % 2) + 2 * (j % 2)]
            ax.add_patch(Rectangle((x0, y0), min(tile, W), min(tile, H), fill=False, edgecolor=color, lw=1.6))
            ax.annotate(
                str(j * len(xs) + i + 1),
                (x0, y0),
                xytext=(3, -3),
                textcoords="offset points",
                fontsize=8,
                va="top",
                ha="left",
                bbox={"boxstyle": "square,pad=0.15", "fc": color, "lw": 0},
            )
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    # Boxes wholly inside at least one tile (the rest are cut by every tile that touches them).
    tx = np.asarray(xs, dtype=np.float64)
    ty = np.asarray(ys, dtype=np.float64)
    inside_x = (bx[:, None] >= tx[None, :]) & (bx[:, None] + bw[:, None] <= tx[None, :] + tile)
    inside_y = (by[:, None] >= ty[None, :]) & (by[:, None] + bh[:, None] <= ty[None, :] + tile)
    whole = (inside_x.any(axis=1) & inside_y.any(axis=1)).sum() if len(bx) else 0
    n_tiles = len(xs) * len(ys)
    source = (
        "from the tiling recommendation"
        if recommended
        else f"imgsz-sized tiles, {overlap / tile:.0%} overlap: a default, not a recommendation"
    )
    caption = (
        f"{text(row['file_name'], 80)} ({W:.0f}x{H:.0f}) cut into {len(xs)} x {len(ys)} = {n_tiles} tiles "
        f"of {tile} px with {overlap} px overlap ({source}); {whole} of {len(bx)} labels lie wholly inside "
        f"at least one tile. Each tile is resized to imgsz on its own, so labels reach the model "
        f"{max(W, H) / tile:.1f}x larger than when the whole image is. Inference must be tiled the same way."
    )
    return Figure(
        "tiling.grid",
        "recommendations",
        "Tile grid over a dataset image",
        caption,
        encode(fig),
        f"Image {text(row['file_name'], 80)} with its labels and a grid of {n_tiles} overlapping tiles "
        "drawn on it.",
    )
