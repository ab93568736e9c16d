"""The gallery of the smallest labels: crops a reviewer can actually see.

A 2 px label is invisible in an image viewer, so each crop keeps some context around the
box, is enlarged with nearest-neighbour (no invented detail: every source pixel becomes a
block) and gets its box outline drawn *outside* the box so the object's own pixels stay
visible. Images are read once each, grouped by image, and unreadable ones are skipped.
"""

from __future__ import annotations

import base64
import io
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageOps

from sodaudit.dataset import Dataset

MIN_CROP_PX = 16
"""A crop is at least this many native pixels wide, so a 1 px label still shows its surroundings."""
OUTLINE = (255, 0, 170)
"""Magenta: rare in photos, visible on dark and light backgrounds."""
BACKGROUND = (64, 64, 64)
"""Fills the part of a tile beyond the image border."""
POOL_FACTOR = 4
"""When an image is read, crop all of its labels among the next ``POOL_FACTOR * limit`` smallest,
so an image is read again only when unreadable images push the gallery that far."""
READABLE_STATUSES = ("ok", "unchecked")


@dataclass(frozen=True)
class GalleryItem:
    data_uri: str
    class_name: str
    w: float
    h: float
    w_model: float
    h_model: float
    source: str
    image: str
    zoom: float


def smallest_labels(
    dataset: Dataset, limit: int = 48, *, context: float = 2.0, tile_px: int = 96
) -> list[GalleryItem]:
    """Up to ``limit`` crops of the smallest valid, non-ignore labels, smallest first."""
    if limit <= 0 or dataset.boxes.empty:
        return []
    cand = _candidates(dataset)
    if cand.empty:
        return []
    window = max(limit * POOL_FACTOR, limit)
    tiles: dict[int, tuple[str, float]] = {}  # candidate rank -> (data uri, zoom)
    failed: set[int] = set()
    items: list[GalleryItem] = []
    image_ids = cand["image_id"].to_numpy()
    for rank in range(len(cand)):
        if len(items) >= limit:
            break
        image_id = int(image_ids[rank])
        if image_id in failed:
            continue
        if rank not in tiles:
            # Read the image once and crop all of its labels among the next ``window`` candidates.
            ahead = image_ids[rank : rank + window]
            ranks = (rank + np.flatnonzero(ahead == image_id)).tolist()
            crops = _crop_image(cand, ranks, context, tile_px)
            if crops is None:
                failed.add(image_id)
                continue
            tiles.update(crops)
        uri, zoom = tiles.pop(rank)
        row = cand.iloc[rank]
        items.append(
            GalleryItem(
                data_uri=uri,
                class_name=str(row["class_name"]),
                w=float(row["w"]),
                h=float(row["h"]),
                w_model=float(row["w_model"]),
                h_model=float(row["h_model"]),
                source=str(dataset.source(cand.iloc[[rank]]).iloc[0]),
                image=str(row["file_name"]),
                zoom=zoom,
            )
        )
    return items


def _candidates(dataset: Dataset) -> pd.DataFrame:
    """Valid, non-ignore labels of images that may be readable, smallest sqrt(area) first."""
    b = dataset.selected_boxes()
    images = dataset.images
    usable = images["status"].isin(READABLE_STATUSES).to_numpy() & (images["path"].to_numpy() != "")
    images = images.loc[usable, ["image_id", "file_name", "path"]]
    b = b.merge(images, on="image_id", how="inner")
    return b.sort_values(["sqrt_area", "box_id"], kind="stable").reset_index(drop=True)


def _open_rgb(path: str) -> Image.Image | None:
    """The image as stored after EXIF orientation (the dataset's convention), or None."""
    if not path or not os.path.isfile(path):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                im.load()
                ImageOps.exif_transpose(im, in_place=True)
                return im.convert("RGB")
    except Exception:  # any undecodable file: skip it, the gallery is best effort
        return None


def _crop_image(
    cand: pd.DataFrame, ranks: list[int], context: float, tile_px: int
) -> dict[int, tuple[str, float]] | None:
    """Tiles for the given candidate ranks, all from one image; None when it cannot be read."""
    im = _open_rgb(str(cand["path"].iloc[ranks[0]]))
    if im is None:
        return None
    rows = cand.iloc[ranks]
    out = {}
    for rank, x, y, w, h in zip(
        ranks,
        rows["x"].to_numpy(),
        rows["y"].to_numpy(),
        rows["w"].to_numpy(),
        rows["h"].to_numpy(),
        strict=True,
    ):
        out[rank] = crop_tile(im, float(x), float(y), float(w), float(h), context=context, tile_px=tile_px)
    return out


def crop_tile(
    im: Image.Image, x: float, y: float, w: float, h: float, *, context: float = 2.0, tile_px: int = 96
) -> tuple[str, float]:
    """One square ``tile_px`` tile around box (x, y, w, h) as a PNG data URI, and its zoom.

    Upscaling uses an integer zoom with nearest-neighbour so every source pixel is an equal
    block; the crop is widened to fill the tile. Crops larger than the tile are shrunk.
    """
    needed = max(context * max(w, h), MIN_CROP_PX)
    if needed <= tile_px:
        zoom = float(max(1, math.floor(tile_px / needed)))
        side = math.ceil(tile_px / zoom)
    else:
        side = math.ceil(needed)
        zoom = tile_px / side
    x0 = _start(x + w / 2, side, im.width)
    y0 = _start(y + h / 2, side, im.height)
    region = im.crop((x0, y0, min(x0 + side, im.width), min(y0 + side, im.height)))
    size = (max(1, round(region.width * zoom)), max(1, round(region.height * zoom)))
    resample = Image.Resampling.NEAREST if zoom >= 1 else Image.Resampling.BOX
    region = region.resize(size, resample)
    tile = Image.new("RGB", (tile_px, tile_px), BACKGROUND)
    tile.paste(region.crop((0, 0, min(size[0], tile_px), min(size[1], tile_px))), (0, 0))
    # The outline goes just outside the box so the label's own pixels are not covered.
    bx0, by0 = (x - x0) * zoom, (y - y0) * zoom
    bx1, by1 = (x + w - x0) * zoom, (y + h - y0) * zoom
    ImageDraw.Draw(tile).rectangle(
        (math.floor(bx0) - 1, math.floor(by0) - 1, math.ceil(bx1), math.ceil(by1)), outline=OUTLINE, width=1
    )
    buf = io.BytesIO()
    tile.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), zoom


def _start(centre: float, side: int, limit: int) -> int:
    """Left/top of a ``side`` window centred on ``centre``, shifted to stay inside [0, limit)."""
    start = math.floor(centre - side / 2)
    return int(max(0, min(start, limit - side)))
