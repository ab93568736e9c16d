"""The gallery of the smallest labels: crops a reviewer can actually see.

A 2 px label is invisible in an image viewer, so each crop keeps some context around the
box, is enlarged with nearest-neighbour (no invented detail: every source pixel becomes a
block) and gets its box outline drawn *outside* the box so the object's own pixels stay
visible. Images are read once each, grouped by image, and unreadable ones are skipped; so are
images a symbolic link takes outside the dataset folder (never opened: their pixels would end up
in the report; the integrity analyzer names them as ``load.path_outside_root``).
"""

from __future__ import annotations

import base64
import io
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from sodaudit.dataset import Dataset
from sodaudit.imageinfo import leads_outside
from sodaudit.regular import open_binary
from sodaudit.remote import whole_files

MIN_CROP_PX = 16
"""A crop is at least this many native pixels wide, so a 1 px label still shows its surroundings."""
OUTLINE = (255, 0, 170)
"""Magenta: rare in photos, visible on dark and light backgrounds."""
BACKGROUND = (64, 64, 64)
"""Fills the part of a tile beyond the image border."""
POOL_FACTOR = 4
"""When an image is read, crop all of its labels among the next ``POOL_FACTOR * limit`` smallest,
so an image is read again only when its labels are that far apart in the order."""
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
    """Up to ``limit`` crops of the smallest valid, non-ignore labels of readable images,
    smallest ``sqrt_area`` first (ties by box id)."""
    if limit <= 0:
        return []
    boxes = dataset.selected_boxes(
        "box_id",
        "image_id",
        "class_name",
        "sqrt_area",
        "x",
        "y",
        "w",
        "h",
        "w_model",
        "h_model",
        "source_file",
        "source_line",
    )
    images = dataset.images
    usable = images["status"].isin(READABLE_STATUSES) & (images["path"] != "")
    boxes = boxes[boxes["image_id"].isin(images.loc[usable, "image_id"])]
    order = np.lexsort((boxes["box_id"].to_numpy(), boxes["sqrt_area"].to_numpy()))
    ranked = boxes.iloc[order]
    image_ids = ranked["image_id"].to_numpy()
    paths = images.set_index("image_id")["path"]
    window = limit * POOL_FACTOR
    tiles: dict[int, tuple[str, float]] = {}  # rank -> (data uri, zoom)
    failed: set[int] = set()
    chosen: list[int] = []
    for rank, image_id in enumerate(image_ids.tolist()):
        if len(chosen) == limit:
            break
        if image_id in failed:
            continue
        if rank not in tiles:
            # Read the image once and crop all of its labels among the next ``window`` ranks.
            ranks = rank + np.flatnonzero(image_ids[rank : rank + window] == image_id)
            im = open_rgb(str(paths[image_id]), str(dataset.root))
            if im is None:
                failed.add(image_id)
                continue
            for r in ranks.tolist():
                x, y, w, h = (float(ranked[c].iat[r]) for c in ("x", "y", "w", "h"))
                tiles[r] = crop_tile(im, x, y, w, h, context=context, tile_px=tile_px)
        chosen.append(rank)
    picked = ranked.iloc[chosen]
    sources = dataset.source(picked).tolist()
    file_names = images.set_index("image_id")["file_name"]
    return [
        GalleryItem(
            data_uri=tiles[rank][0],
            class_name=str(row.class_name),
            w=float(row.w),
            h=float(row.h),
            w_model=float(row.w_model),
            h_model=float(row.h_model),
            source=str(source),
            image=str(file_names[row.image_id]),
            zoom=tiles[rank][1],
        )
        for rank, row, source in zip(chosen, picked.itertuples(index=False), sources, strict=True)
    ]


def open_rgb(path: str, root: str) -> Image.Image | None:
    """The image as stored after EXIF orientation (the dataset's convention), or None; None also
    for a file a symlink takes outside the dataset folder ``root``."""
    if not path or not os.path.isfile(path) or leads_outside(path, root):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with whole_files([path]), open_binary(path) as fh, Image.open(fh) as im:
                im.load()
                ImageOps.exif_transpose(im, in_place=True)
                return im.convert("RGB")
    except Exception:  # any undecodable file: skip it, the gallery is best effort
        return None


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
    # zlib's default level: a few % larger than optimize=True at a fraction of its time.
    tile.save(buf, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), zoom


def _start(centre: float, side: int, limit: int) -> int:
    """Left/top of a ``side`` window centred on ``centre``, shifted to stay inside [0, limit)."""
    start = math.floor(centre - side / 2)
    return int(max(0, min(start, limit - side)))
