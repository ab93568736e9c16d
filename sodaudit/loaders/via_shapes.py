"""VIA region shapes as boxes: VIA 2 ``shape_attributes`` and VIA 3 ``xy`` lists (ox-vgg/via
``CodeDoc.md``; VIA 3 ``_via_metadata.js`` shape ids). Shapes that enclose an area give their
axis-aligned box; points and lines are not boxes (:class:`SkipRegion`)."""

from __future__ import annotations

import math
from contextlib import suppress

from sodaudit.loaders.base import short_repr


class BadRegion(Exception):
    """Why one region is not a box (its text is the issue's reason)."""


class SkipRegion(Exception):
    """A region that is a valid shape but not a box (point, line): counted, not an issue."""


def num(value: object, what: str) -> float:
    """A finite number (or numeric string, as VIA 1 kept them), else ``BadRegion`` naming ``what``."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        with suppress(ValueError):
            if math.isfinite(number := float(value)):
                return number
    raise BadRegion(f"{what} is {short_repr(value)}, not a finite number")


def hull(xs: list[float], ys: list[float]) -> tuple[float, float, float, float]:
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def ellipse_box(
    cx: float, cy: float, rx: float, ry: float, theta: float
) -> tuple[float, float, float, float]:
    """The axis-aligned box of an ellipse rotated by ``theta`` radians about its centre."""
    c, s = math.cos(theta), math.sin(theta)
    hw, hh = math.hypot(rx * c, ry * s), math.hypot(rx * s, ry * c)
    return cx - hw, cy - hh, 2 * hw, 2 * hh


def via2_box(shape: object) -> tuple[float, float, float, float]:
    """``x, y, w, h`` of a VIA 2 ``shape_attributes``; ``SkipRegion`` for a point, ``BadRegion``
    if unusable."""
    if not isinstance(shape, dict):
        raise BadRegion(f"shape_attributes is {short_repr(shape)}")
    name = shape.get("name")
    if name == "rect":
        return tuple(num(shape.get(k), k) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]
    if name in ("polygon", "polyline"):
        xs, ys = shape.get("all_points_x"), shape.get("all_points_y")
        if not isinstance(xs, list) or not isinstance(ys, list) or not xs or len(xs) != len(ys):
            raise BadRegion(f"{name} needs all_points_x and all_points_y of one non-zero length")
        return hull([num(v, "all_points_x") for v in xs], [num(v, "all_points_y") for v in ys])
    if name == "circle":
        cx, cy, r = (num(shape.get(k), k) for k in ("cx", "cy", "r"))
        return cx - r, cy - r, 2 * r, 2 * r
    if name == "ellipse":
        cx, cy, rx, ry = (num(shape.get(k), k) for k in ("cx", "cy", "rx", "ry"))
        return ellipse_box(cx, cy, rx, ry, num(shape.get("theta", 0), "theta"))
    if name == "point":
        raise SkipRegion("point")
    raise BadRegion(f"unknown shape name {short_repr(name)}")


def circle_through(p: list[float]) -> tuple[float, float, float, float]:
    """The box of the circle through three points ``x1, y1, x2, y2, x3, y3`` (VIA 3 extreme circle)."""
    (ax, ay), (bx, by), (cx, cy) = (p[0], p[1]), (p[2], p[3]), (p[4], p[5])
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    if d == 0:
        raise BadRegion("extreme circle points are on one line")
    a2, b2, c2 = ax * ax + ay * ay, bx * bx + by * by, cx * cx + cy * cy
    ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d
    uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d
    r = math.hypot(ax - ux, ay - uy)
    return ux - r, uy - r, 2 * r, 2 * r


def via3_box(xy: object) -> tuple[float, float, float, float]:
    """``x, y, w, h`` of a VIA 3 ``xy`` list ``[shape_id, ...]``."""
    if not isinstance(xy, list) or not xy:
        raise BadRegion(f"xy is {short_repr(xy)}")
    shape, v = xy[0], [num(c, "xy") for c in xy[1:]]
    if shape == 2 and len(v) == 4:
        return v[0], v[1], v[2], v[3]
    if shape == 3 and len(v) == 3:
        return v[0] - v[2], v[1] - v[2], 2 * v[2], 2 * v[2]
    if shape == 4 and len(v) == 4:
        return ellipse_box(v[0], v[1], v[2], v[3], 0.0)
    if shape in (6, 7, 8) and len(v) >= 2 and len(v) % 2 == 0:
        return hull(v[0::2], v[1::2])
    if shape == 9 and len(v) == 6:
        return circle_through(v)
    if shape in (1, 5):
        raise SkipRegion("point" if shape == 1 else "line")
    raise BadRegion(f"xy {short_repr(xy)} is no VIA 3 shape with its number of coordinates")
