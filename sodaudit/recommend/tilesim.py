"""Tile grids as slicing tools place them, and their simulation on a dataset's boxes.

What is simulated is SAHI's ``slice_coco`` / ``slice_image`` (github.com/obss/sahi, 0.12.6 + main 9a4e569),
the tool users tile detection datasets with. Ultralytics has no built-in tiling for
detection training or prediction: ``model.train`` / ``model.predict`` take whole images
(feature request ultralytics/ultralytics#1973: "Currently, this is not supported"), and its
docs send users to SAHI (docs/en/guides/sahi-tiled-inference.md). Its only slicer,
``ultralytics/data/split_dota.py`` (``split_trainval``), is for DOTA oriented-box labels: it places
windows as SAHI does (``get_windows``) but keeps an object when IoF >= 0.7 and writes it unclipped.

Grid (``sahi/slicing.py::get_slice_bboxes`` with slice_height = slice_width = T, so
``auto_slice_resolution`` is unused): ``overlap_px = int(overlap_ratio * T)`` (truncated), tiles
start at ``0, step, 2 * step, ...`` with ``step = T - overlap_px`` until one reaches the border,
and a tile that would run past the border is moved back flush with it (``x_min = W - T``).
A side shorter than ``T`` gets one tile covering the whole side. Every tile of an image thus
has the same size ``min(T, W) x min(T, H)``.

Labels (``sahi/slicing.py::process_coco_annotations``): a box goes to a tile when it overlaps
it with positive area (``annotation_inside_slice``: strict inequalities, touching is out); the
tile's label is the box clipped to the tile (``CocoAnnotation.get_sliced_coco_annotation``:
shapely intersection), kept when ``sliced.area / original.area >= min_area_ratio``. Both
areas are ``ShapelyAnnotation.area`` = ``int(polygon area)``, truncated to whole pixels
(``sahi/utils/shapely.py``), and the original is the UNCLIPPED annotation (``slice_coco``
loads with ``clip_bboxes_to_img_dims=False``), so a box hanging out of its image counts its
outside part in the denominator. A box of area < 1 px^2 has int area 0 and SAHI raises
ZeroDivisionError on it; here no tile keeps it (``sahi_zero_area_boxes`` counts them).

Area basis: SAHI builds the shape from ``segmentation`` when the annotation has a non-empty
polygon one, else from ``bbox`` (RLE is skipped with a warning and the bbox used:
``sahi/utils/coco.py::CocoAnnotation.from_coco_annotation_dict``); it never reads the COCO
``area`` field. So does the simulation: given ``segments`` (COCO datasets; the plan passes
``sodaudit.loaders.coco.segments.segment_reader``), the boxes some tile cuts have their
segmentation read back from the annotation file, and a polygon one is judged on the polygon
(:mod:`sodaudit.recommend.tile_polygons`: SAHI's shape, ``annotation_inside_slice`` on its
bounds, int areas); a box that every tile touching it holds whole is kept either way, so it
is not read. Slivers are still measured on the clipped box (SAHI writes a polygon's label as
the bbox of the clipped polygon, which can be narrower). YOLO, VOC, COCO without polygons
(``"segmentation": []``) or with RLE keep the box rule, which is then exact.
``min_area_basis`` says which rule judged the cut boxes (``polygon``, ``box`` or ``mixed``);
``polygon_fallbacks`` counts polygons over the read limits
(``sodaudit.loaders.coco.segments.MAX_POLYGON_VERTICES`` ...) judged on their box instead,
``sahi_unusable_polygons`` those SAHI cannot slice (no tile keeps them). ``coco_area`` (the
COCO ``area`` field) is deliberately NOT used: SAHI does not read it.

Images without boxes: ``slice_coco(ignore_negative_samples=False)`` (the default) writes every
tile, with or without labels (``sahi/utils/coco.py::create_coco_dict``), so ``total_tiles``
counts every tile of every image of known size.

Model input: a tile is one model input; Ultralytics resizes its long side to imgsz
(``ultralytics/data/base.py::BaseDataset.load_image``: ``r = imgsz / max(h0, w0)``, also when
``r > 1``), so a tile of ``t`` px scales boxes by ``imgsz / t`` (upsampled when ``t < imgsz``).

The simulation groups images by ``(width, height)`` (datasets have few distinct sizes), builds
the grid once per size and applies it to all boxes of those images with numpy: per axis, the
overlap of every box with every tile column (row); tiles are products of a column and a row,
so containment and visible area factorise. Nothing loops in Python over boxes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sodaudit.loaders.coco.segments import BROKEN, FALLBACK, POLYGON, RLE, Segments
from sodaudit.recommend.tile_polygons import Shapes, kept_in_tiles, shapes
from sodaudit.sizepresets import SIZE_TOLERANCE_PX

CONTAIN_EPS = 1e-6
"""A box edge within this many pixels of a tile edge counts as inside (float labels)."""
CELL_CHUNK = 4_000_000
"""Box x tile cells evaluated at once; bounds memory for huge images with many tiles."""
SLIVER_PX = 3.0
"""A kept cut label whose short side at model input is below this is a sliver. The
threshold of YOLOv5's "N of M labels are <3 pixels in size" (``utils/autoanchor.py::
kmean_anchors``, sides at img_size); Ultralytics training drops a box unless both sides are
> 2 px in the augmented imgsz image (``ultralytics/data/augment.py::RandomPerspective.
box_candidates``, ``wh_thr=2``), so below 3 px a label is at or next to that cut."""


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
    is resized to imgsz (``imgsz / max(tile_w, tile_h)``; > 1 when tiles are below imgsz)."""
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


def inside_image(boxes: pd.DataFrame) -> np.ndarray:
    """Boxes with some area inside their image of known size: the ones a slicer can keep (and
    the only ones :func:`simulate` measures)."""
    w, known_w = _extent_inside(boxes, "x", "w", "img_w")
    h, known_h = _extent_inside(boxes, "y", "h", "img_h")
    w *= h  # the area inside the image
    return np.isfinite(w) & (w > 0) & known_w & known_h


def _extent_inside(boxes: pd.DataFrame, start: str, side: str, size: str) -> tuple[np.ndarray, np.ndarray]:
    """``clip(start + side, 0, size) - clip(start, 0, size)`` per box (one axis at a time, in
    place: at 8.6M boxes each array is 69 MB), and whether the image's ``size`` is finite."""
    limit = boxes[size].to_numpy(np.float64)
    lo = boxes[start].to_numpy(np.float64)
    extent = lo + boxes[side].to_numpy(np.float64)
    np.clip(extent, 0, limit, out=extent)
    extent -= np.clip(lo, 0, limit)
    return extent, np.isfinite(limit)


def tile_scale(
    img_w: np.ndarray, img_h: np.ndarray, tile: int, overlap_ratio: float, imgsz: int
) -> np.ndarray:
    """Per row: native px -> model input px when its image is tiled (``imgsz`` over the tile's
    long side; a side shorter than the tile gets one tile as long as the side), the scale
    :func:`simulate` gives every box of that image. NaN for an unknown size.

    Elementwise over the rows (a few float64 arrays, not a hash of every row's size): the
    same IEEE division per row as per distinct size."""
    img_w, img_h = np.asarray(img_w, np.float64), np.asarray(img_h, np.float64)
    known = np.isfinite(img_w) & np.isfinite(img_h) & (img_w > 0) & (img_h > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        side = np.maximum(np.minimum(img_w, float(tile)), np.minimum(img_h, float(tile)))
        np.divide(float(imgsz), side, out=side)
    side[~known] = np.nan
    return side


def tiles_per_image(images: pd.DataFrame, tile: int, overlap_ratio: float) -> float:
    """Mean tiles per image of known size, every image counted (as :func:`simulate`'s
    ``tiles_per_image`` with ``images``): the compute of tiling relative to one full image."""
    sizes = images[["width", "height"]].to_numpy(np.float64)
    sizes = sizes[np.isfinite(sizes).all(axis=1) & (sizes > 0).all(axis=1)]
    if not len(sizes):
        return float("nan")
    uniq, group = _unique_sizes(sizes)
    counts = np.bincount(group, minlength=len(uniq))
    tiles = np.array([tile_grid(int(w), int(h), tile, overlap_ratio).num_tiles for w, h in uniq])
    return float((tiles * counts).sum() / counts.sum())


def simulate(
    boxes: pd.DataFrame,
    tile: int,
    overlap_ratio: float,
    imgsz: int,
    *,
    min_area_ratio: float = 0.1,
    min_side_px: float = 8.0,
    images: pd.DataFrame | None = None,
    sliver_px: float = SLIVER_PX,
    segments: Callable[[np.ndarray], Segments] | None = None,
) -> TileSimulation:
    """Tile every image at ``tile`` native px with ``overlap_ratio`` as SAHI does; measure the boxes.

    ``boxes`` are the boxes to judge (the caller picks valid, non-ignore ones) with
    ``x, y, w, h, img_w, img_h, short_side``; ``images`` (optional) counts tiles over every
    image, background ones included (as ``slice_coco`` writes them); without it only the boxes'
    images are counted. Boxes with no area inside their image are left out.

    Per box: ``whole`` = inside at least one tile (after clipping to its image); ``cut
    everywhere`` = every tile touching it cuts it; ``lost`` = no tile keeps it under SAHI's
    min-area rule (module docstring). Per (box, tile) label: a cut fragment is dropped by that
    rule or kept as a truncated label; a kept one whose short side at model input is below
    ``sliver_px`` is a sliver. ``tiled_labels`` counts every label the tiled set holds (a box
    whole in two overlapping tiles is two labels).

    ``segments`` (COCO datasets): reads the segmentations of rows of ``boxes`` (positions); the
    boxes some tile cuts are then judged by SAHI's rule on their polygon when they have one
    (:mod:`sodaudit.recommend.tile_polygons`), the others by the box rule.
    """
    img_w = boxes["img_w"].to_numpy(np.float64)
    img_h = boxes["img_h"].to_numpy(np.float64)
    bx = boxes["x"].to_numpy(np.float64)
    by = boxes["y"].to_numpy(np.float64)
    bx1 = bx + boxes["w"].to_numpy(np.float64)
    by1 = by + boxes["h"].to_numpy(np.float64)
    x0, x1 = np.clip(bx, 0, img_w), np.clip(bx1, 0, img_w)
    y0, y1 = np.clip(by, 0, img_h), np.clip(by1, 0, img_h)
    index = np.flatnonzero(inside_image(boxes))
    # SAHI's denominator: int(area) of the unclipped box (shapely box(x, y, x + w, y + h)).
    sahi_area = np.floor((bx1 - bx) * (by1 - by))
    n = len(index)
    whole = np.zeros(n, bool)
    lost = np.zeros(n, bool)
    scale = np.full(n, np.nan)
    fragments = dropped_fragments = slivers = slivers_native = tiled_labels = labelled_tiles = 0
    max_per_tile = cut_some = 0
    image_code = pd.factorize(boxes["image_id"].to_numpy()[index], use_na_sentinel=False)[0]

    size_w, size_h = img_w[index], img_h[index]
    grids: dict[tuple[int, int], TileGrid] = {}
    keys = np.stack([size_w, size_h], axis=1) if n else np.zeros((0, 2))
    uniq, group = _unique_sizes(keys)
    for w, h in uniq:
        grids[(int(w), int(h))] = tile_grid(int(w), int(h), tile, overlap_ratio)
    rule = PolygonRule.empty(len(boxes))
    if segments is not None and n:
        cut_rows = index[_cut_by_some_tile(x0[index], x1[index], y0[index], y1[index], uniq, group, grids)]
        rule = PolygonRule.read(segments, cut_rows, len(boxes))
    for g, (w, h) in enumerate(uniq):  # a loop over distinct image sizes
        grid = grids.setdefault((int(w), int(h)), tile_grid(int(w), int(h), tile, overlap_ratio))
        rows = np.flatnonzero(group == g)
        s = imgsz / max(grid.tile_w, grid.tile_h)  # one tile = one model input of imgsz
        scale[rows] = s
        cells = max(1, grid.num_tiles)
        step = max(1, CELL_CHUNK // cells)
        tile_keys = []
        for lo in range(0, len(rows), step):  # chunks of boxes, each vectorised
            r = rows[lo : lo + step]
            b = index[r]
            vx, ix, tx = _axis(x0[b], x1[b], grid.xs, grid.tile_w)
            vy, iy, ty = _axis(y0[b], y1[b], grid.ys, grid.tile_h)
            whole[r] = ix.any(1) & iy.any(1)
            # the (box, column, row) cells where the box overlaps the tile (SAHI's
            # annotation_inside_slice), then everything on those cells only
            bi, ci, ri = np.nonzero(tx[:, :, None] & ty[:, None, :])
            wx, wy = vx[bi, ci], vy[bi, ri]
            cut = ~(ix[bi, ci] & iy[bi, ri])
            with np.errstate(divide="ignore", invalid="ignore"):  # int area 0: SAHI divides by 0
                kept = np.floor(wx * wy) / sahi_area[b][bi] >= min_area_ratio
            rule.apply(kept, b[bi], grid, ci, ri, min_area_ratio)
            lost[r] = np.bincount(bi[kept], minlength=len(r)) == 0
            cut_some += int(np.count_nonzero(np.bincount(bi[cut], minlength=len(r))))
            kept_cut = cut & kept
            short = np.minimum(wx, wy)
            fragments += int(cut.sum())
            dropped_fragments += int((cut & ~kept).sum())
            slivers += int((kept_cut & (short * s < sliver_px - SIZE_TOLERANCE_PX)).sum())
            slivers_native += int((kept_cut & (short < sliver_px - SIZE_TOLERANCE_PX)).sum())
            tiled_labels += int(kept.sum())
            # tile index in SAHI's order: row * columns + column
            tile_keys.append(image_code[r][bi[kept]] * cells + ri[kept] * len(grid.xs) + ci[kept])
        if tile_keys:
            _, per_tile = np.unique(np.concatenate(tile_keys), return_counts=True)
            labelled_tiles += len(per_tile)
            max_per_tile = max(max_per_tile, int(per_tile.max()) if len(per_tile) else 0)

    # Tiles over images (every image of known size, or the boxes' images when not given).
    if images is not None:
        sizes = images[["width", "height"]].to_numpy(np.float64)
        sizes = sizes[np.isfinite(sizes).all(axis=1) & (sizes > 0).all(axis=1)]
    else:
        first = np.flatnonzero(~pd.Series(boxes["image_id"].to_numpy()[index]).duplicated().to_numpy())
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
    empty_tiles = max(0, int(total_tiles) - labelled_tiles)

    short = boxes["short_side"].to_numpy(np.float64)[index] * scale
    reach = short >= min_side_px - SIZE_TOLERANCE_PX
    q = np.percentile(short, [10, 50, 90]) if n else [np.nan] * 3
    ov = overlap_px(tile, overlap_ratio)
    nan = float("nan")
    stats: dict[str, object] = {
        "tile_size": int(tile),
        "overlap_ratio": float(overlap_ratio),
        "overlap_px": ov,
        "step_px": int(tile) - ov,
        "imgsz": int(imgsz),
        "num_images": num_images,
        "total_tiles": int(total_tiles),
        "tiles_per_image": total_tiles / num_images if num_images else nan,
        "tiles_with_labels": int(labelled_tiles),
        "max_labels_per_tile": max_per_tile,
        "tiles_without_labels": empty_tiles,
        "share_tiles_without_labels": empty_tiles / total_tiles if total_tiles else nan,
        "grids": per_size[:5],
        "num_distinct_sizes": len(per_size),
        "num_boxes": n,
        "whole_in_a_tile": int(whole.sum()),
        "share_whole_in_a_tile": float(whole.mean()) if n else nan,
        "cut_by_every_tile": int((~whole).sum()),
        "share_cut_by_every_tile": float((~whole).mean()) if n else nan,
        "min_area_ratio": float(min_area_ratio),
        "lost_to_min_area": int(lost.sum()),
        "share_lost_to_min_area": float(lost.mean()) if n else nan,
        "sahi_zero_area_boxes": int((sahi_area[index] < 1).sum()),
        "cut_by_some_tile": cut_some,
        **rule.stats(),
        "cut_fragments": int(fragments),
        "cut_fragments_dropped": int(dropped_fragments),
        "cut_fragments_kept": int(fragments - dropped_fragments),
        "tiled_labels": int(tiled_labels),
        "sliver_px": float(sliver_px),
        "sliver_labels": int(slivers),
        "share_sliver_labels": slivers / tiled_labels if tiled_labels else nan,
        "sliver_labels_native": int(slivers_native),
        "min_side_px": float(min_side_px),
        "reach_min_side": int(reach.sum()),
        "share_reach_min_side": float(reach.mean()) if n else nan,
        "short_side_model": {"p10": float(q[0]), "p50": float(q[1]), "p90": float(q[2])},
    }
    return TileSimulation(stats, scale, index)


def _cut_by_some_tile(x0, x1, y0, y1, uniq, group, grids) -> np.ndarray:
    """Per box: does some tile overlap it without holding it whole? (Some column or some row
    overlaps it without holding its extent: every overlapping column meets an overlapping row.)"""
    out = np.zeros(len(x0), bool)
    for g, (w, h) in enumerate(uniq):  # a loop over distinct image sizes
        grid = grids[(int(w), int(h))]
        rows = np.flatnonzero(group == g)
        step = max(1, CELL_CHUNK // max(1, len(grid.xs) + len(grid.ys)))
        for lo in range(0, len(rows), step):
            r = rows[lo : lo + step]
            _, ix, tx = _axis(x0[r], x1[r], grid.xs, grid.tile_w)
            _, iy, ty = _axis(y0[r], y1[r], grid.ys, grid.tile_h)
            out[r] = (tx & ~ix).any(1) | (ty & ~iy).any(1)
    return out


@dataclass
class PolygonRule:
    """Which boxes SAHI judges on their polygon (``slot`` >= 0 into ``shapes``; -1: the box
    rule), which no tile can keep (``never``), and the counts the stats report."""

    slot: np.ndarray
    never: np.ndarray
    shapes: Shapes | None
    kinds: np.ndarray

    @classmethod
    def empty(cls, n_rows: int) -> PolygonRule:
        return cls(np.full(n_rows, -1, np.int64), np.zeros(n_rows, bool), None, np.zeros(0, np.int8))

    @classmethod
    def read(cls, segments: Callable[[np.ndarray], Segments], rows: np.ndarray, n_rows: int) -> PolygonRule:
        """Segmentations of the cut boxes ``rows`` (positions in the boxes table)."""
        seg = segments(rows)
        rule = cls.empty(n_rows)
        rule.kinds = seg.kind
        rule.shapes = shapes(seg.ann_rings, seg.ring_points, seg.points)
        rule.slot[rows[seg.owner]] = np.arange(len(seg.owner))
        rule.never[rows[seg.kind == BROKEN]] = True
        return rule

    def apply(self, kept: np.ndarray, rows: np.ndarray, grid: TileGrid, ci, ri, ratio: float) -> None:
        """Replace the box rule's verdict on the (box ``rows``, tile ``ci``, ``ri``) cells of
        polygon annotations by SAHI's polygon verdict, in place."""
        if self.shapes is None:
            return
        kept[self.never[rows]] = False
        slot = self.slot[rows]
        on = np.flatnonzero(slot >= 0)
        if len(on):
            x, y = grid.xs[ci[on]], grid.ys[ri[on]]
            tiles = np.stack([x, y, x + grid.tile_w, y + grid.tile_h], axis=1)
            kept[on] = kept_in_tiles(self.shapes, slot[on], tiles, ratio)

    def stats(self) -> dict[str, object]:
        k = self.kinds
        unusable = int((k == BROKEN).sum()) + (
            int(self.shapes.broken.sum()) if self.shapes is not None else 0
        )
        on_polygon = int(((k == POLYGON) | (k == BROKEN)).sum())
        basis = "box" if on_polygon == 0 else "polygon" if on_polygon == len(k) else "mixed"
        return {
            "min_area_basis": basis,
            "polygon_annotations": int((k == POLYGON).sum()),
            "polygon_fallbacks": int((k == FALLBACK).sum()),
            "rle_annotations": int((k == RLE).sum()),
            "sahi_unusable_polygons": unusable,
        }


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
        # Not Ultralytics' split_dota: it places the same windows but reads DOTA oriented-box
        # labels only and keeps an object whole when IoF >= 0.7 (get_window_obj); Ultralytics
        # has no tiling for axis-aligned detection (users slice with SAHI).
        "patches": {
            "tile_px": int(tile),
            "overlap_px": ov,
            "stride_px": int(tile) - ov,
            "train_imgsz": int(imgsz),
        },
    }
