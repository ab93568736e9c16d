"""How boxes match anchors at model input: YOLOv5's ratio rule and the best IoU on a stride grid.

The anchors analyzer reports coverage from these; the suggested anchors' fitness uses
:func:`ratio_match`. Each fast path gives exactly the numbers of the simple rule it replaces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sodaudit.models import ModelPreset

_BLOCK = 1 << 15
"""Boxes per block in the per-anchor loops: a block's columns stay in the CPU cache while every
anchor is applied to it, instead of streaming COCO-scale columns from memory once per anchor."""
_IOU_BLOCK = 1 << 14
"""Boxes per block of the grid IoU: blocks of similar area, small enough that an anchor's area
bound rules out a whole block often, large enough to keep numpy's per-call cost small."""
_IOU_SUBSET = 0.25
"""Below this share of a block's boxes that an anchor could still improve, only those are
evaluated (gathered), not the whole block."""


def ratio_match(wh: np.ndarray, anchors: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray]:
    """Per box: how many anchors cover it (m > 1/thr) and the best ratio metric m.

    YOLOv5's ``metric``: r = wh / k, x = min(r, 1/r).min(over w, h), best = x.max(over anchors).
    One anchor at a time keeps memory at one column per box on COCO-scale data.
    """
    n = len(wh)
    count = np.zeros(n, dtype=np.int64)
    best = np.zeros(n, dtype=np.float64)
    inv = 1.0 / thr
    for lo in range(0, n, _BLOCK):  # blocks that stay in cache across all anchors
        w, h = wh[lo : lo + _BLOCK, 0], wh[lo : lo + _BLOCK, 1]
        c, b = count[lo : lo + _BLOCK], best[lo : lo + _BLOCK]
        for aw, ah in anchors:
            rw = w / aw
            rh = h / ah
            m = np.minimum(np.minimum(rw, 1.0 / rw), np.minimum(rh, 1.0 / rh))
            c += m > inv
            np.maximum(b, m, out=b)
    return count, best


def ratio_count(w: np.ndarray, h: np.ndarray, anchors: np.ndarray, thr: float) -> np.ndarray:
    """:func:`ratio_match`'s count, by comparisons instead of divisions.

    Per anchor side a, the sides s that pass ``min(s / a, 1 / (s / a)) > 1 / thr`` (evaluated
    in float64 exactly as :func:`ratio_match` does) form an interval: s / a rounds monotonically
    in s, and 1 / r in r. Its two ends are found once by bisection over the floats, so the
    count is exactly :func:`ratio_match`'s, at a quarter of the cost.
    """
    inv = 1.0 / thr
    sides = [(_side_interval(float(aw), inv), _side_interval(float(ah), inv)) for aw, ah in anchors]
    if any(iw is None or ih is None for iw, ih in sides):  # not the interval case: divide
        return ratio_match(np.column_stack((w, h)), anchors, thr)[0]
    count = np.zeros(len(w), dtype=np.int64)
    ok = np.empty(min(len(w), _BLOCK), dtype=bool)
    tmp = np.empty_like(ok)
    for lo in range(0, len(w), _BLOCK):  # blocks that stay in cache across all anchors
        wb, hb, c = w[lo : lo + _BLOCK], h[lo : lo + _BLOCK], count[lo : lo + _BLOCK]
        o, t = ok[: len(wb)], tmp[: len(wb)]
        for (w_lo, w_hi), (h_lo, h_hi) in sides:
            np.greater_equal(wb, w_lo, out=o)
            o &= np.less_equal(wb, w_hi, out=t)
            o &= np.greater_equal(hb, h_lo, out=t)
            o &= np.less_equal(hb, h_hi, out=t)
            c += o
    return count


def _side_ok(s: float, a: float, inv: float) -> bool:
    """One side of :func:`ratio_match`'s test, with the same float64 operations."""
    r = np.float64(s) / np.float64(a)
    return bool(r > inv and np.float64(1.0) / r > inv)


def _side_interval(a: float, inv: float) -> tuple[float, float] | None:
    """The first and last float s with ``_side_ok(s, a, inv)``; None unless a > 0 passes itself."""
    if not (0 < a < math.inf) or not _side_ok(a, a, inv):
        return None
    bits = np.array([0.0, a, math.inf]).view(np.int64).tolist()

    def last_true(lo: int, hi: int, rising: bool) -> int:
        """Bisect the bit patterns (ordered like the positive floats they encode)."""
        while hi - lo > 1:
            mid = (lo + hi) // 2
            s = float(np.int64(mid).view(np.float64))
            if _side_ok(s, a, inv) == rising:
                hi = mid
            else:
                lo = mid
        return hi if rising else lo

    with np.errstate(all="ignore"):
        first = last_true(bits[0], bits[1], rising=True)  # false at 0, true at a
        last = last_true(bits[1], bits[2], rising=False)  # true at a, false at inf
    return float(np.int64(first).view(np.float64)), float(np.int64(last).view(np.float64))


class RatioCounter:
    """:func:`ratio_count` over one dataset's boxes, once per distinct anchor set.

    The default anchors are both a reported preset and the suggestion's "before", and without
    evolution the suggested anchors are the k-means ones: each is counted once.
    """

    def __init__(self, w: np.ndarray, h: np.ndarray, thr: float) -> None:
        self.w, self.h, self.thr = w, h, thr
        self._counts: dict[bytes, np.ndarray] = {}

    def count(self, anchors: np.ndarray) -> np.ndarray:
        key = np.ascontiguousarray(anchors, dtype=np.float64).tobytes()
        if key not in self._counts:
            self._counts[key] = ratio_count(self.w, self.h, anchors, self.thr)
        return self._counts[key]


def best_grid_iou(rows: pd.DataFrame, preset: ModelPreset, imgsz: int) -> np.ndarray:
    """Per box, the best IoU any anchor of ``preset`` on its stride grid can reach.

    Anchor centres sit at ((i + 0.5) * stride, (j + 0.5) * stride) on every level. The IoU with
    a box is increasing in the intersection, which factorises into an x and a y overlap; each
    overlap is a trapezoid in the anchor centre, symmetric about the box centre, so the best
    grid centre along an axis is the one nearest the box centre (the centre of the cell that
    holds it), whatever the anchor shape. Coordinates are at model input without the letterbox
    padding offset: the grid phase is exact when the padding is a multiple of the stride.
    torchvision/mmdetection place centres at i * stride instead; the half-cell phase changes
    single boxes, not the distribution.
    """
    scale = rows["scale"].to_numpy(dtype=np.float64)
    w = rows["w_model"].to_numpy(dtype=np.float64)
    h = rows["h_model"].to_numpy(dtype=np.float64)
    x0 = rows["x"].to_numpy(dtype=np.float64) * scale
    y0 = rows["y"].to_numpy(dtype=np.float64) * scale
    return grid_ious(w, h, x0, y0, [preset], imgsz)[0]


def grid_ious(
    w: np.ndarray, h: np.ndarray, x0: np.ndarray, y0: np.ndarray, presets: list[ModelPreset], imgsz: int
) -> list[np.ndarray]:
    """:func:`best_grid_iou` for several presets, sharing one sort of the boxes by area.

    Blocks of boxes of similar area: an anchor whose area is far from all of a block's can be
    skipped once every box of the block has a better IoU than it could possibly reach.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        area = w * h
        by_area = np.argsort(area)
    w_s, h_s, area_s = w[by_area], h[by_area], area[by_area]
    cx_s = x0[by_area] + w_s / 2
    cy_s = y0[by_area] + h_s / 2
    # (w + aw) / 2 == w / 2 + aw / 2 exactly (halving is exact), one operation fewer per anchor
    half_w, half_h = w_s / 2, h_s / 2
    best_s = [np.zeros(len(w), dtype=np.float64) for _ in presets]
    for lo in range(0, len(w), _IOU_BLOCK):
        block = slice(lo, lo + _IOU_BLOCK)
        box = _IouBlock(w_s[block], h_s[block], area_s[block], half_w[block], half_h[block])
        centres = (cx_s[block], cy_s[block])
        offsets: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # shared by the presets
        for preset, best in zip(presets, best_s, strict=True):
            _best_grid_iou_block(box, centres, preset, imgsz, offsets, best[block])
    out = []
    for best in best_s:
        unsorted = np.empty_like(best)
        unsorted[by_area] = best
        out.append(unsorted)
    return out


@dataclass(frozen=True)
class _IouBlock:
    """One block of boxes at model input (w, h, area, w / 2, h / 2), sorted by area."""

    w: np.ndarray
    h: np.ndarray
    area: np.ndarray
    half_w: np.ndarray
    half_h: np.ndarray

    def take(self, index: np.ndarray) -> _IouBlock:
        return _IouBlock(*(getattr(self, f)[index] for f in ("w", "h", "area", "half_w", "half_h")))


def _best_grid_iou_block(
    box: _IouBlock,
    centres: tuple[np.ndarray, np.ndarray],
    preset: ModelPreset,
    imgsz: int,
    offsets: dict[float, tuple[np.ndarray, np.ndarray]],
    best: np.ndarray,
) -> None:
    """:func:`best_grid_iou` for one block of boxes, written into ``best``.

    An anchor of area A reaches at most min(a, A) / max(a, A) with a box of area a, and at most
    min(w, aw) * min(h, ah) / max(a, A). Anchors are tried from the most promising (by these
    bounds over the block) down; one whose bound is below every box's best so far is skipped,
    and one that only a few boxes could gain from is computed for those boxes alone. Neither
    can change any maximum, so the result is exactly that of trying every anchor on every box.
    """
    with np.errstate(invalid="ignore"):
        if len(box.area):
            a_lo, a_hi = float(box.area.min()), float(box.area.max())
            w_hi, h_hi = float(box.w.max()), float(box.h.max())
        else:
            a_lo = a_hi = w_hi = h_hi = math.nan
    prunable = all(math.isfinite(v) for v in (a_lo, a_hi, w_hi, h_hi)) and a_lo > 0
    candidates = []
    for level, stride in zip(preset.anchors, preset.strides, strict=True):
        for aw, ah in level:
            bound = 1.0
            if prunable:
                shape = max(min(w_hi, aw), 0.0) * max(min(h_hi, ah), 0.0) / max(a_lo, aw * ah)
                bound = min(_area_ratio_bound(aw * ah, a_lo, a_hi), shape)
            candidates.append((-bound, len(candidates), stride, aw, ah))
    floor = 0.0  # min of ``best`` over the block, refreshed only when it may allow a skip
    for neg_bound, _, stride, aw, ah in sorted(candidates):
        limit = -neg_bound * (1 + 1e-9)
        subset = None
        if prunable and limit < floor:
            continue
        if prunable and -neg_bound < 1.0:
            floor = float(best.min())
            if limit < floor:
                continue
            need = np.flatnonzero(best <= limit)  # the others already beat this anchor
            if len(need) < _IOU_SUBSET * len(best):
                subset = need
        if stride not in offsets:
            cells = max(math.ceil(imgsz / stride), 1)
            cx, cy = centres
            # distance from the box centre to the nearest grid centre, per axis
            offsets[stride] = (
                np.abs(cx - (np.clip(np.floor(cx / stride), 0, cells - 1) + 0.5) * stride),
                np.abs(cy - (np.clip(np.floor(cy / stride), 0, cells - 1) + 0.5) * stride),
            )
        dx, dy = offsets[stride]
        if subset is None:
            np.maximum(best, _anchor_iou(box, dx, dy, aw, ah), out=best)
        else:
            iou = _anchor_iou(box.take(subset), dx[subset], dy[subset], aw, ah)
            best[subset] = np.maximum(best[subset], iou)


def _anchor_iou(box: _IouBlock, dx: np.ndarray, dy: np.ndarray, aw: float, ah: float) -> np.ndarray:
    """IoU of each box with an aw x ah anchor whose centre is (dx, dy) from the box's."""
    # overlap of intervals of lengths p, q with centres d apart: min(p, q, (p+q)/2 - d)
    ix = np.minimum(box.w, aw)
    t = box.half_w + aw / 2
    t -= dx
    np.minimum(ix, t, out=ix)
    np.maximum(ix, 0, out=ix)
    iy = np.minimum(box.h, ah)
    t = box.half_h + ah / 2
    t -= dy
    np.minimum(iy, t, out=iy)
    np.maximum(iy, 0, out=iy)
    ix *= iy
    union = box.area + aw * ah
    union -= ix
    ix /= union
    return ix


def _area_ratio_bound(a: float, lo: float, hi: float) -> float:
    """Largest min/max area ratio of an anchor of area ``a`` and a box with area in [lo, hi]."""
    if a < lo:
        return a / lo
    return hi / a if a > hi else 1.0
