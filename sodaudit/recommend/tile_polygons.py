"""SAHI's min-area rule on polygon segmentations, with shapely 2's vectorised functions.

SAHI (github.com/obss/sahi, main 9a4e569) builds an annotation's shape in
``sahi/utils/shapely.py::get_shapely_multipolygon``: one ``Polygon(list(zip(xs, ys)))`` per
COCO polygon (closed if it is not), all of them in one ``MultiPolygon``; only when that is
invalid (parts overlapping or touching, a self-intersecting ring) it becomes
``make_valid(...)`` (GEOS MakeValid, the "linework" method) with its non-polygon parts
dropped (``filter_polygons``, see :func:`polygonal` for what it keeps). That is not a union:
where two parts of one annotation overlap, the overlap is left out (two 10 x 10 squares
overlapping by 5 x 5 measure 150, not 175).
``ShapelyAnnotation.area`` is ``int`` of the sum of the parts' areas.

A tile keeps the annotation when ``annotation_inside_slice`` holds for the shape's bounds
(``CocoAnnotation.json["bbox"]`` is the shape's bbox: strict overlap) and
``int(area(shape & tile)) / int(area(shape)) >= min_area_ratio``
(``sahi/slicing.py::process_coco_annotations``). The intersection
(``ShapelyAnnotation.get_intersection``) counts only when it is a Polygon or MultiPolygon: a
GeometryCollection (a polygon part plus a line where the shape touches the tile border) gets
SAHI's area 0, so that label is dropped, and so it is here. ``int(area(shape)) == 0`` makes SAHI
divide by zero, a ring of 1 or 2 points makes ``Polygon`` raise: those annotations are
``broken`` and no tile keeps them (as boxes under 1 px^2 in the box rule).

Everything runs on arrays: geometries from flat coordinates (``shapely.from_ragged_array``),
``is_valid`` / ``make_valid`` / ``get_parts`` / ``multipolygons(indices=...)`` for the few invalid
ones, and one ``shapely.intersection`` of every (annotation, tile) pair with ``shapely.box``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

POLYGON_TYPES = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


@dataclass
class Shapes:
    """One MultiPolygon per polygon annotation, as SAHI builds it, and what the rule reads."""

    geoms: np.ndarray
    area: np.ndarray
    """``int`` of the shape's area (SAHI's denominator), as float."""
    bounds: np.ndarray
    """``[minx, miny, maxx, maxy]`` per shape (NaN when empty)."""
    broken: np.ndarray
    """SAHI cannot slice it: area truncates to 0, or a ring has fewer than 4 coordinates."""


def shapes(ann_rings: np.ndarray, ring_points: np.ndarray, points: np.ndarray) -> Shapes:
    """Shapes of ``len(ann_rings) - 1`` annotations: annotation ``a`` has rings
    ``ann_rings[a]:ann_rings[a + 1]``, ring ``r`` the points ``ring_points[r]:ring_points[r + 1]``
    of ``points`` (x, y; closed or not)."""
    m = len(ann_rings) - 1
    if m == 0 or not len(points):
        empty = np.full(m, shapely.from_wkt("MULTIPOLYGON EMPTY"), object)
        return Shapes(empty, np.zeros(m), np.full((m, 4), np.nan), np.ones(m, bool))
    start, count = ring_points[:-1], np.diff(ring_points)
    top = len(points) - 1
    head, tail = points[np.minimum(start, top)], points[np.clip(start + count - 1, 0, top)]
    closed = (count > 0) & (head == tail).all(1)
    size = count + ~closed  # Polygon() closes an open ring by repeating its first point
    ring_owner = np.repeat(np.arange(m), np.diff(ann_rings))
    short = size < 4  # "A linearring requires at least 4 coordinates": SAHI raises
    broken = np.bincount(ring_owner[short], minlength=m) > 0
    keep = ~short
    size, start, count, ring_owner = size[keep], start[keep], count[keep], ring_owner[keep]
    k = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    first = np.repeat(start, size)
    coords = points[np.where(k < np.repeat(count, size), first + k, first)]
    ring_offsets = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
    poly_offsets = np.arange(len(size) + 1, dtype=np.int64)  # every ring its own polygon
    ann_offsets = np.concatenate([[0], np.cumsum(np.bincount(ring_owner, minlength=m))]).astype(np.int64)
    geoms = shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON, coords, (ring_offsets, poly_offsets, ann_offsets)
    )
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        geoms[invalid] = polygonal(shapely.make_valid(geoms[invalid]))
    area = np.floor(shapely.area(geoms))
    broken |= ~(area > 0)
    return Shapes(geoms, area, shapely.bounds(geoms), broken)


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """SAHI's ``filter_polygons`` on ``make_valid`` results, as it behaves under shapely 2 (SAHI
    requires shapely>=2.0.0): a Polygon or MultiPolygon is kept whole; of a GeometryCollection
    the Polygon members are kept, and of a MultiPolygon member only its FIRST polygon
    (``MultiPolygon([..., multi.geoms, ...])`` reads the sequence as a (shell, holes) pair and
    ``Polygon(shell=<Polygon>)`` returns the shell); anything else is empty."""
    kind = shapely.get_type_id(geoms)
    out = np.full(len(geoms), None, object)
    whole = kind == shapely.GeometryType.MULTIPOLYGON
    out[whole] = geoms[whole]
    single = np.flatnonzero(kind == shapely.GeometryType.POLYGON)
    if len(single):
        out[single] = shapely.multipolygons(geoms[single][:, None])
    coll = np.flatnonzero(kind == shapely.GeometryType.GEOMETRYCOLLECTION)
    if len(coll):
        members, owner = shapely.get_parts(geoms[coll], return_index=True)
        member_kind = shapely.get_type_id(members)
        multi = member_kind == shapely.GeometryType.MULTIPOLYGON
        members[multi] = shapely.get_geometry(members[multi], 0)
        take = (multi | (member_kind == shapely.GeometryType.POLYGON)) & ~shapely.is_empty(members)
        part = np.full(len(coll), None, object)
        if take.any():
            shapely.multipolygons(members[take], indices=owner[take], out=part)
        out[coll] = part
    out[shapely.is_missing(out)] = shapely.from_wkt("MULTIPOLYGON EMPTY")
    return out


def kept_in_tiles(shp: Shapes, slot: np.ndarray, tiles: np.ndarray, min_area_ratio: float) -> np.ndarray:
    """For each pair (``shp`` entry ``slot[i]``, tile ``tiles[i]`` = ``[x0, y0, x1, y1]``):
    does SAHI's tile keep that annotation (module docstring)?"""
    if not len(slot):
        return np.zeros(0, bool)
    x0, y0, x1, y1 = (tiles[:, i].astype(np.float64) for i in range(4))
    b = shp.bounds[slot]
    inside = (b[:, 0] < x1) & (b[:, 1] < y1) & (b[:, 2] > x0) & (b[:, 3] > y0)
    whole = (b[:, 0] >= x0) & (b[:, 1] >= y0) & (b[:, 2] <= x1) & (b[:, 3] <= y1)
    denom = shp.area[slot]
    visible = np.where(whole, denom, 0.0)  # the shape inside the tile: all of it is visible
    cut = np.flatnonzero(inside & ~whole)  # only these need an intersection (the slow part)
    if len(cut):
        visible[cut] = _visible(shp, slot[cut], shapely.box(x0[cut], y0[cut], x1[cut], y1[cut]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_ok = visible / denom >= min_area_ratio
    return inside & ratio_ok & ~shp.broken[slot]


def _visible(shp: Shapes, slot: np.ndarray, tiles: np.ndarray) -> np.ndarray:
    """``int`` area of each shape in its tile as SAHI counts it (0 unless the intersection is a
    Polygon or MultiPolygon). A shape GEOS cannot intersect (TopologyException: SAHI stops on
    it too) is marked broken: 0 here, and no tile keeps it."""
    try:
        inter = shapely.intersection(shp.geoms[slot], tiles)
    except shapely.errors.GEOSException:  # rare: find the shapes one pair at a time
        inter = np.full(len(slot), None, object)
        for i, (g, t) in enumerate(zip(shp.geoms[slot], tiles, strict=True)):
            try:
                inter[i] = shapely.intersection(g, t)
            except shapely.errors.GEOSException:
                shp.broken[slot[i]] = True
    counted = np.isin(shapely.get_type_id(inter), POLYGON_TYPES)
    return np.floor(np.where(counted, shapely.area(inter), 0.0))
