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
    cand = _Candidates(dataset)
    if cand.total == 0:
        return []
    window = max(limit * POOL_FACTOR, limit)
    tiles: dict[int, tuple[str, float]] = {}  # candidate rank -> (data uri, zoom)
    failed: set[int] = set()
    chosen: list[tuple[int, str, float]] = []  # (rank, data uri, zoom)
    rank = 0
    while len(chosen) < limit and cand.ensure(rank + window) > rank:
        image_id = int(cand.image_ids[rank])
        if image_id in failed:
            rank += 1
            continue
        if rank not in tiles:
            # Read the image once and crop all of its labels among the next ``window`` candidates.
            ahead = cand.image_ids[rank : rank + window]
            ranks = (rank + np.flatnonzero(ahead == image_id)).tolist()
            crops = _crop_image(cand, ranks, context, tile_px)
            if crops is None:
                failed.add(image_id)
                rank += 1
                continue
            tiles.update(crops)
        uri, zoom = tiles.pop(rank)
        chosen.append((rank, uri, zoom))
        rank += 1
    return cand.items(chosen)


class _Candidates:
    """Valid, non-ignore labels of images that may be readable, smallest sqrt(area) first (ties
    by box id), as plain arrays.

    Only the first ranks are put in order (:meth:`ensure`): the gallery needs a few dozen of
    the smallest labels, not a sort of the whole table; more are ordered when unreadable images
    use those up. The order is exactly that of sorting every candidate by (sqrt_area, box_id).
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.boxes = b = dataset.selected_boxes()
        images = dataset.images
        usable = images["status"].isin(READABLE_STATUSES).to_numpy() & (images["path"].to_numpy() != "")
        box_image_ids = b["image_id"].to_numpy()
        if usable.any():
            # Images are sorted by id and every box belongs to one of them (Dataset.build checks).
            image_pos = np.searchsorted(images["image_id"].to_numpy(), box_image_ids)
        else:  # e.g. COCO without its image folder: nothing to crop, no need to place 860k boxes
            image_pos = np.zeros(0, dtype=np.intp)
        self.rows = np.flatnonzero(usable[image_pos])  # candidates, as positions in ``boxes``
        self.image_pos = image_pos[self.rows]
        self.area = b["sqrt_area"].to_numpy()[self.rows]
        self.box_id = b["box_id"].to_numpy()[self.rows]
        self.total = len(self.rows)
        self.order = np.empty(0, dtype=np.intp)  # candidate indices of the first ranks, in order
        self.image_ids = np.empty(0, dtype=np.int64)
        self.paths = images["path"].to_numpy()
        self.file_names = images["file_name"].to_numpy()
        self.box_image_ids = box_image_ids
        self.x, self.y, self.w, self.h = (b[c].to_numpy() for c in ("x", "y", "w", "h"))

    def ensure(self, count: int) -> int:
        """Put at least the first ``count`` ranks in order (all when fewer); how many there are."""
        if count <= len(self.order) or len(self.order) == self.total:
            return len(self.order)
        n = max(count, 2 * len(self.order))
        area, box_id = self.area, self.box_id
        if n >= self.total:
            subset = np.arange(self.total)
        else:
            kth = np.partition(area, n - 1)[n - 1]
            # Every candidate up to the n-th smallest area, ties included; NaN sorts last.
            subset = np.arange(self.total) if np.isnan(kth) else np.flatnonzero(area <= kth)
        self.order = subset[np.lexsort((box_id[subset], area[subset]))][:n]
        self.image_ids = self.box_image_ids[self.rows[self.order]]
        return len(self.order)

    def row(self, rank: int) -> int:
        """Position in the selected boxes of the candidate at ``rank``."""
        return int(self.rows[self.order[rank]])

    def path(self, rank: int) -> str:
        return str(self.paths[self.image_pos[self.order[rank]]])

    def items(self, chosen: list[tuple[int, str, float]]) -> list[GalleryItem]:
        if not chosen:
            return []
        rows = np.array([self.row(rank) for rank, _, _ in chosen], dtype=np.intp)
        picked = self.boxes.iloc[rows]
        sources = self.dataset.source(picked).tolist()  # one call, not one per label
        names = picked["class_name"].tolist()
        w, h = picked["w"].to_numpy(), picked["h"].to_numpy()
        w_model, h_model = picked["w_model"].to_numpy(), picked["h_model"].to_numpy()
        return [
            GalleryItem(
                data_uri=uri,
                class_name=str(names[i]),
                w=float(w[i]),
                h=float(h[i]),
                w_model=float(w_model[i]),
                h_model=float(h_model[i]),
                source=str(sources[i]),
                image=str(self.file_names[self.image_pos[self.order[rank]]]),
                zoom=zoom,
            )
            for i, (rank, uri, zoom) in enumerate(chosen)
        ]


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
    cand: _Candidates, ranks: list[int], context: float, tile_px: int
) -> dict[int, tuple[str, float]] | None:
    """Tiles for the given candidate ranks, all from one image; None when it cannot be read."""
    im = _open_rgb(cand.path(ranks[0]))
    if im is None:
        return None
    out = {}
    for rank in ranks:
        r = cand.row(rank)
        out[rank] = crop_tile(
            im,
            float(cand.x[r]),
            float(cand.y[r]),
            float(cand.w[r]),
            float(cand.h[r]),
            context=context,
            tile_px=tile_px,
        )
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
    # zlib's default level: a few % larger than optimize=True at a fraction of its time.
    tile.save(buf, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), zoom


def _start(centre: float, side: int, limit: int) -> int:
    """Left/top of a ``side`` window centred on ``centre``, shifted to stay inside [0, limit)."""
    start = math.floor(centre - side / 2)
    return int(max(0, min(start, limit - side)))
