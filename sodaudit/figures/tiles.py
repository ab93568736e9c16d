"""The tile-grid figure: one dataset image cut into the tiles the plan makes (or its tiling
alternative, or a default), with its labels drawn over it.

Apart from the plots because it is the one figure that reads an image file. The tiles are
placed by the recommendation's own grid (:func:`sodaudit.recommend.tilesim.axis_starts`), computed
here in closed form: a tiny tile (``--imgsz 1``) makes millions of tiles, so their number is known
before any is made, at most :data:`MAX_GRID_TILES` are drawn and the caption says so.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle
from PIL import Image, ImageOps

from sodaudit.analyzers.sizes import boxes_per_image
from sodaudit.figures.common import PAD, SMALL_FONT, Figure, encode, model_strides, new_figure, text
from sodaudit.imageinfo import leads_outside
from sodaudit.recommend.tilesim import overlap_px
from sodaudit.regular import open_binary
from sodaudit.remote import whole_files

MAX_GRID_BOXES = 3000
"""Boxes drawn over the tile-grid image."""
GRID_DISPLAY_PX = 960
"""Long side of the image shown under the tile grid, in screen pixels."""
DEFAULT_TILE_OVERLAP = 0.2
"""Tile overlap ratio when no tiling recommendation gives one (a common slicing default)."""
TILE_COLORS = ("#00e5ff", "#ffea00", "#76ff03", "#ff4081")
MAX_GRID_TILES = 2000
"""Tile outlines drawn at most: on a 960 px display more are sub-pixel noise, and each one is an
artist (``--imgsz 1`` on a 4000 px image made 10^7 of them: minutes and gigabytes)."""
MAX_TILE_NUMBERS = 200
"""Tiles numbered at most: a number is a text artist with a box, costlier than an outline, and
past a few hundred they overlap into an unreadable block."""
GRID_WIDTH = 8.0
"""Width of the tile-grid figure, in inches. It is shown across the page at its own pixel size
(800 px at ``GRID_DPI``; the page is 1050 px wide), so its ``SMALL_FONT`` tile numbers show at
9.9 pt."""
GRID_DPI = 100
NUMBER_PT_PER_DIGIT = 0.64 * SMALL_FONT
"""Width of one digit of a tile number, in points (a DejaVu Sans digit is 0.636 em)."""
"""The tile grid is mostly a photo, the costliest figure to store: its pixels are not doubled."""


def tiling_params(report: Any) -> tuple[int, int, str]:
    """(tile side, overlap in px, where they come from) in native pixels: the plan's tiling
    (``plan``), else its tiling alternative (``alternative``, what tiling would cost and reach),
    else imgsz tiles at the default overlap (``default``)."""
    for rec in report.recommendations:
        if rec["kind"] == "tiling":
            return int(rec["params"]["tile_size"]), int(rec["params"]["overlap_px"]), "plan"
    plan = report.plan or {}
    for option in plan.get("alternatives") or []:
        if option["primary"] == "tiling":
            return (
                int(option["tile"]),
                overlap_px(int(option["tile"]), float(option["overlap"])),
                "alternative",
            )
    tile = report.config.imgsz
    return tile, overlap_px(tile, DEFAULT_TILE_OVERLAP), "default"


def pick_images(report: Any, tile: int, limit: int = 5) -> list[tuple[pd.Series, pd.DataFrame]]:
    """Images larger than one tile with the most small labels, that exist on disk in the dataset
    folder (never one a symlink takes outside it: its pixels would end up in the report)."""
    dataset = report.dataset
    images = dataset.images
    ok = (images["width"].to_numpy() > tile) | (images["height"].to_numpy() > tile)
    ok &= images["status"].isin(("ok", "unchecked")).to_numpy() & (images["path"].to_numpy() != "")
    if not ok.any():
        return []
    sel = dataset.selected_boxes("image_id", "sqrt_area_model", "x", "y", "w", "h")
    _, strides = model_strides(report)
    small_px = float(strides[0]) if strides else 8.0
    n_small = boxes_per_image(dataset, sel[sel["sqrt_area_model"].to_numpy() < small_px])
    n_all = boxes_per_image(dataset, sel)
    score = np.where(ok, n_small * 1_000_000 + n_all, -1)
    picked = []
    for idx in np.argsort(-score, kind="stable")[: limit * 4]:
        if score[idx] < 0 or len(picked) >= limit:
            break
        path = str(images["path"].iloc[idx])
        if os.path.isfile(path) and not leads_outside(path, dataset.root):
            row = images.iloc[idx]
            picked.append((row, sel[sel["image_id"].to_numpy() == row["image_id"]]))
    return picked


def load_display(path: str, width: float, height: float) -> Image.Image | None:
    """The image downscaled for display, oriented as the dataset's coordinates assume; None when
    the file cannot be decoded (the next candidate image is tried)."""
    try:
        with whole_files([path]), open_binary(path) as fh, Image.open(fh) as im:
            target = GRID_DISPLAY_PX / max(width, height)
            im.draft("RGB", (max(1, int(im.width * target)), max(1, int(im.height * target))))
            im.load()
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
            im.thumbnail((GRID_DISPLAY_PX, GRID_DISPLAY_PX), Image.Resampling.LANCZOS)
            return im
    except Exception:  # PIL raises many kinds for a bad file: this image is odd data, try the next
        return None


def axis_count(length: float, tile: int, overlap: int) -> int:
    """How many tiles :func:`sodaudit.recommend.tilesim.axis_starts` makes along an axis, without
    making them: every ``tile - overlap`` px from 0, the last one moved back to end at the border."""
    length, tile, overlap = int(length), int(tile), int(overlap)
    if tile <= 0 or not 0 <= overlap < tile:
        raise ValueError(f"tile {tile} with overlap {overlap}: need tile > 0 and 0 <= overlap < tile")
    if length <= 0:
        return 0
    return 1 if length <= tile else 1 + math.ceil((length - tile) / (tile - overlap))


def axis_starts_at(index: np.ndarray, count: int, length: float, tile: int, overlap: int) -> np.ndarray:
    """The starts of tiles ``index`` (0-based) of the ``count`` along an axis, as ``axis_starts``
    places them."""
    last = max(0, min((count - 1) * (tile - overlap), int(length) - tile))
    return np.where(index < count - 1, index * (tile - overlap), last).astype(np.int64)


def inside_a_tile(start: np.ndarray, size: np.ndarray, length: float, tile: int, overlap: int) -> np.ndarray:
    """Whether each span ``[start, start + size]`` lies wholly inside at least one tile of the axis:
    only two tiles can hold it, the last one starting at or before it and the final (moved) one."""
    count = axis_count(length, tile, overlap)
    step = tile - overlap
    end = start + size
    last = axis_starts_at(np.array([count - 1]), count, length, tile, overlap)[0]
    inside = (start >= last) & (end <= last + tile)
    if count >= 2:
        with np.errstate(invalid="ignore"):
            k = np.clip(np.floor(start / step), 0, count - 2)
        inside |= (start >= k * step) & (end <= k * step + tile)
    return inside


def drawn_indices(nx: int, ny: int, limit: int = MAX_GRID_TILES) -> tuple[np.ndarray, np.ndarray]:
    """Columns and rows of the tiles drawn: all of them up to ``limit`` tiles, else evenly spaced
    columns and rows (in the grid's aspect) whose product is at most ``limit``."""
    if nx * ny <= limit:
        return np.arange(nx), np.arange(ny)
    # At least two of each where there are (the first and the last), then the rest of the budget.
    cx = min(nx, limit // 2, max(2, math.isqrt(limit * nx // ny)))
    cy = min(ny, limit // cx)
    cx = min(nx, limit // cy)
    cols = np.unique(np.linspace(0, nx - 1, cx).round().astype(np.int64))
    rows = np.unique(np.linspace(0, ny - 1, cy).round().astype(np.int64))
    return cols, rows


def tile_grid(report: Any) -> Figure | None:
    tile, overlap, origin = tiling_params(report)
    loaded = next(
        (
            (row, boxes, im)
            for row, boxes in pick_images(report, tile)
            if (im := load_display(str(row["path"]), float(row["width"]), float(row["height"]))) is not None
        ),
        None,
    )
    if loaded is None:
        return None
    row, boxes, im = loaded
    W, H = float(row["width"]), float(row["height"])
    nx, ny = axis_count(W, tile, overlap), axis_count(H, tile, overlap)
    cols, rows = drawn_indices(nx, ny)
    xs = axis_starts_at(cols, nx, W, tile, overlap)
    ys = axis_starts_at(rows, ny, H, tile, overlap)
    # The figure fits the image: GRID_WIDTH wide, PAD all round, as tall as the image's aspect asks.
    inner = GRID_WIDTH - 2 * PAD
    fig = new_figure(GRID_WIDTH, inner * H / W + 2 * PAD, dpi=GRID_DPI)
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
    # A number is drawn in the corner of its tile, so it must fit in the step between tiles (in
    # points at the figure's scale): a wider one would overlap the next number or leave the image.
    step_pt = min(tile - overlap, W, H) * inner * 72 / W
    number_pt = max(NUMBER_PT_PER_DIGIT * len(str(nx * ny)) + 6, 1.8 * SMALL_FONT)  # offset and pad
    numbered = len(cols) * len(rows) <= MAX_TILE_NUMBERS and step_pt >= number_pt
    for j, y0 in zip(rows.tolist(), ys.tolist(), strict=True):
        for i, x0 in zip(cols.tolist(), xs.tolist(), strict=True):
            color = TILE_COLORS[(i % 2) + 2 * (j % 2)]
            ax.add_patch(Rectangle((x0, y0), min(tile, W), min(tile, H), fill=False, edgecolor=color, lw=1.6))
            if numbered:
                ax.annotate(
                    str(j * nx + i + 1),
                    (x0, y0),
                    xytext=(3, -3),
                    textcoords="offset points",
                    fontsize=SMALL_FONT,
                    va="top",
                    ha="left",
                    bbox={"boxstyle": "square,pad=0.15", "fc": color, "lw": 0},
                )
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_axis_off()
    # Boxes wholly inside at least one tile (the rest are cut by every tile that touches them).
    whole = int((inside_a_tile(bx, bw, W, tile, overlap) & inside_a_tile(by, bh, H, tile, overlap)).sum())
    n_tiles = nx * ny
    source = {
        "plan": "from the tiling recommendation",
        "alternative": "the plan's tiling alternative, not chosen: see the plan for its cost and reach",
        "default": f"imgsz-sized tiles, {overlap / tile:.0%} overlap: a default, not a recommendation",
    }[origin]
    n_drawn = len(cols) * len(rows)
    drawn = (
        ""
        if n_drawn == n_tiles
        else f" Only {n_drawn} of the {n_tiles} tiles are drawn (evenly spaced columns and rows): "
        "more would not be visible at this scale."
    )
    if not numbered:
        drawn += " Tiles are not numbered: too many or too small to read."
    caption = (
        f"{text(row['file_name'], 80)} ({W:.0f}x{H:.0f}) cut into {nx} x {ny} = {n_tiles} tiles "
        f"of {tile} px with {overlap} px overlap ({source}); {whole} of {len(bx)} labels lie wholly inside "
        f"at least one tile. Each tile is resized to imgsz on its own, so labels reach the model "
        f"{max(W, H) / tile:.1f}x larger than when the whole image is. Inference must be tiled the same way."
        + drawn
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
