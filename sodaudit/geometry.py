"""Vectorised box geometry (numpy only): IoU, the one pair search, the IoU noise floor.

Boxes are ``x, y, w, h`` in pixels with a top-left origin, as in the canonical dataset.
Nothing here loops in Python over boxes or images: analyzers with 10^6 boxes call these.
The pair search (:func:`sweep_pairs`, :func:`pairs_within_images`) is shared by integrity
(duplicates), class_overlap and ``sodaudit diff``; its memory grows with the pairs it finds,
and an image with more than a cap of pairs is reported instead of searched to the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


def _xywh(boxes: ArrayLike) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.shape[-1] != 4:
        raise ValueError(f"boxes must have 4 columns (x, y, w, h), got shape {arr.shape}")
    return arr


def iou_xywh(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Elementwise IoU of ``a[..., 4]`` and ``b[..., 4]`` (broadcast); 0 when the union is empty.

    Boxes with a NaN coordinate or a non-positive side get IoU 0, so callers never see NaN.
    """
    a = _xywh(a)
    b = _xywh(b)
    ax0, ay0, aw, ah = (a[..., k] for k in range(4))
    bx0, by0, bw, bh = (b[..., k] for k in range(4))
    with np.errstate(invalid="ignore", over="ignore"):
        iw = np.minimum(ax0 + aw, bx0 + bw) - np.maximum(ax0, bx0)
        ih = np.minimum(ay0 + ah, by0 + bh) - np.maximum(ay0, by0)
        inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
        area_a = np.where((aw > 0) & (ah > 0), aw * ah, 0.0)
        area_b = np.where((bw > 0) & (bh > 0), bw * bh, 0.0)
        # (x + w) - x can round above w: never let the intersection exceed a box's area.
        inter = np.minimum(inter, np.minimum(area_a, area_b))
        union = area_a + area_b - inter
        ok = (union > 0) & (area_a > 0) & (area_b > 0) & np.isfinite(union)
        return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def pairwise_iou(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """IoU of every box in ``a`` (n x 4) with every box in ``b`` (m x 4): an n x m matrix."""
    a = _xywh(a).reshape(-1, 4)
    b = _xywh(b).reshape(-1, 4)
    return iou_xywh(a[:, None, :], b[None, :, :])


PAIR_CHUNK = 1 << 20
"""Candidate pairs examined at once: bounds the search's scratch memory (~150 bytes each)."""
PAIR_BLOCK = 1 << 20
"""Boxes (whole images) searched at once by :func:`pairs_within_images` when sorted by image."""
MAX_PAIRS_PER_IMAGE = 1_000_000
"""Default cap on overlapping pairs in one image (config ``limits.max_pairs_per_image``). Real
labels stay far below it; a file that repeats one row 41,600 times has 865 million pairs."""


@dataclass(frozen=True)
class OverLimit:
    """Images whose pairs were not all found: more than the cap overlap (the search stopped)."""

    image: np.ndarray
    """Image ids (as passed in)."""
    found: np.ndarray
    """Pairs found before the search stopped: more than the cap."""
    candidates: np.ndarray
    """Pairs of the image near enough to be tested: an upper bound on its pairs."""

    def __len__(self) -> int:
        return len(self.image)


NO_IMAGE = OverLimit(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


@dataclass(frozen=True)
class Pairs:
    """Index pairs ``(i, j)`` into the input arrays, ``i < j``, with their IoU; sorted by (i, j).

    Images in ``over_limit`` contribute no pair at all (not a partial, order-dependent set).
    """

    i: np.ndarray
    j: np.ndarray
    iou: np.ndarray
    over_limit: OverLimit = NO_IMAGE

    def __len__(self) -> int:
        return len(self.i)


def sweep_pairs(
    image: ArrayLike,
    x0: ArrayLike,
    reach: ArrayLike,
    accept: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    group: ArrayLike | None = None,
    max_pairs_per_image: int = MAX_PAIRS_PER_IMAGE,
) -> tuple[np.ndarray, np.ndarray, OverLimit]:
    """The one pair search: index pairs ``(i, j)``, ``i < j``, of the same image (and group)
    that ``accept(i, j)`` (a mask over index arrays) accepts; sorted by (i, j).

    ``reach`` (>= 0, per box) bounds how far right a partner can start: the caller guarantees
    that any pair ``accept`` takes, with ``x0[p] <= x0[q]``, has ``x0[q] <= x0[p] + reach[p]``.
    ``x0`` must not be NaN. Boxes are swept in (image, group, x0) order, so each box's
    candidates are the run of boxes after it up to its reach, found with ``searchsorted``;
    candidates are enumerated and tested in chunks of ``PAIR_CHUNK``. Time grows with the
    candidates, memory with the accepted pairs. Once an image has more than
    ``max_pairs_per_image`` accepted pairs its search stops and it is reported in the
    returned :class:`OverLimit` instead (with none of its pairs).
    """
    image = np.asarray(image).reshape(-1)
    x0 = np.asarray(x0, np.float64).reshape(-1)
    reach = np.asarray(reach, np.float64).reshape(-1)
    n = len(x0)
    if len(image) != n or len(reach) != n or (group is not None and len(np.asarray(group).reshape(-1)) != n):
        raise ValueError("image, x0, reach and group must have the same length")
    none = np.zeros(0, np.int64)
    if n < 2:
        return none, none, NO_IMAGE
    image_code = dense_codes(image)
    seg = image_code  # segments: image, or (image, group), numbered in that order
    if group is not None:
        group_code = dense_codes(group)
        seg = image_code * (int(group_code.max()) + 1) + group_code
        if int(seg.max()) >= 2**53:  # exact as the real part of a complex key below
            seg = dense_codes(seg)

    # numpy orders complex numbers by (real, imag), so ``segment + 1j * x0`` sorts and searches
    # by (segment, x0), exactly. The boxes of p's segment after p in that order, up to
    # (segment, x0[p] + reach[p]), are p's candidates; a tie in x0 may sort either way (a
    # tied pair is a candidate in both orders). Box tables are sorted by image: a stable
    # sort by segment first leaves the key nearly sorted, which the stable sort runs through.
    by_seg = np.argsort(seg, kind="stable")
    key = seg[by_seg] + 1j * x0[by_seg]
    by_key = np.argsort(key, kind="stable")
    order, key = by_seg[by_key], key[by_key]
    seg_sorted = seg[order]
    x0_sorted = key.imag
    limit = x0_sorted + reach[order]
    # Most boxes have no candidate at all (the next one is out of reach): search for the rest.
    ahead = np.flatnonzero((seg_sorted[1:] == seg_sorted[:-1]) & (x0_sorted[1:] <= limit[:-1]))
    end = np.searchsorted(key, seg_sorted[ahead] + 1j * limit[ahead], side="right")
    counts = end - ahead - 1
    first = np.cumsum(counts) - counts  # index of each searching box's first candidate
    total = int(counts.sum())

    # Candidate indices of one image are contiguous (the order is image-major).
    image_sorted = image_code[order]
    m = int(image_code.max()) + 1
    image_end = np.cumsum(np.bincount(image_sorted[ahead], weights=counts, minlength=m)).astype(np.int64)
    found = np.zeros(m, np.int64)
    over = np.zeros(m, bool)
    out_i, out_j = [], []

    def image_of(candidate: int) -> int:
        return int(image_sorted[ahead[np.searchsorted(first, candidate, side="right") - 1]])

    start = 0
    while start < total:  # a loop over chunks of candidate pairs
        stop = min(start + PAIR_CHUNK, total)
        c = np.arange(start, stop)
        box = np.searchsorted(first, c, side="right") - 1
        p = ahead[box]
        q = p + 1 + (c - first[box])
        p, q = order[p], order[q]
        hit = accept(p, q)
        p, q = p[hit], q[hit]
        found += np.bincount(image_code[p], minlength=m)
        out_i.append(np.minimum(p, q))
        out_j.append(np.maximum(p, q))
        if np.count_nonzero(found > max_pairs_per_image) > np.count_nonzero(over):
            # An image went over the cap: drop its pairs, and skip the rest of its candidates.
            over = found > max_pairs_per_image
            keep = [~over[image_code[i]] for i in out_i]
            out_i = [i[k] for i, k in zip(out_i, keep, strict=True)]
            out_j = [j[k] for j, k in zip(out_j, keep, strict=True)]
        start = stop
        while start < total and over[image_of(start)]:
            start = int(image_end[image_of(start)])
    i = np.concatenate(out_i) if out_i else none
    j = np.concatenate(out_j) if out_j else none
    sort = np.lexsort((j, i))
    return (
        i[sort].astype(np.int64),
        j[sort].astype(np.int64),
        _over_limit(image, image_code, over, found, image_end),
    )


@dataclass(frozen=True)
class BoxColumns:
    """Boxes as four 1-D columns (a box table's ``x, y, w, h``), stacked into ``(n, 4)`` rows a
    block at a time: the whole stack of 8.6M boxes would be a 276 MB copy of the table."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    h: np.ndarray

    def __post_init__(self) -> None:
        if not len(self.x) == len(self.y) == len(self.w) == len(self.h):
            raise ValueError("x, y, w and h must have the same length")

    def __len__(self) -> int:
        return len(self.x)

    def rows(self, start: int, stop: int) -> np.ndarray:
        return np.column_stack(
            [np.asarray(c[start:stop], dtype=np.float64) for c in (self.x, self.y, self.w, self.h)]
        )


def pairs_within_images(
    image_ids: ArrayLike,
    boxes_xywh: ArrayLike | BoxColumns,
    min_iou: float,
    same_group: ArrayLike | None = None,
    *,
    max_pairs_per_image: int = MAX_PAIRS_PER_IMAGE,
) -> Pairs:
    """All pairs of boxes in the same image with IoU >= ``min_iou`` (> 0): :func:`sweep_pairs`
    with the IoU test.

    ``same_group`` (e.g. class ids) restricts the pairs to boxes of equal group. Boxes that are
    not finite or have a non-positive side never pair. When ``image_ids`` is sorted (box tables
    are), the search runs over blocks of whole images of about ``PAIR_BLOCK`` boxes: pairs never
    cross images, so the result is the same, and the sweep's scratch arrays (~200 bytes a box)
    are those of one block, not of a COCO-scale table.
    """
    if not min_iou > 0:
        raise ValueError(f"min_iou must be > 0 (every pair has IoU >= 0), got {min_iou}")
    boxes = boxes_xywh
    if not isinstance(boxes, BoxColumns):  # an (n, 4) array: its columns, stacked back per block
        boxes = BoxColumns(*_xywh(boxes_xywh).reshape(-1, 4).T)
    image_ids = np.asarray(image_ids).reshape(-1)
    if len(image_ids) != len(boxes):
        raise ValueError("image_ids and boxes_xywh must have the same length")
    group = None if same_group is None else np.asarray(same_group).reshape(-1)
    if group is not None and len(group) != len(boxes):
        raise ValueError("same_group and boxes_xywh must have the same length")
    n = len(image_ids)
    if n <= PAIR_BLOCK or not (image_ids[1:] >= image_ids[:-1]).all():
        return _pairs_block(image_ids, boxes.rows(0, n), min_iou, group, max_pairs_per_image)
    # Block starts: the first box of the image at each multiple of PAIR_BLOCK (images whole).
    starts = np.unique(np.searchsorted(image_ids, image_ids[::PAIR_BLOCK], side="left"))
    parts = []
    for start, stop in zip(starts.tolist(), [*starts[1:].tolist(), n], strict=True):
        part = _pairs_block(
            image_ids[start:stop],
            boxes.rows(start, stop),
            min_iou,
            None if group is None else group[start:stop],
            max_pairs_per_image,
        )
        parts.append((part.i + start, part.j + start, part.iou, part.over_limit))
    i, j, iou, over = zip(*parts, strict=True)
    over_limit = OverLimit(
        *(np.concatenate([getattr(o, f) for o in over]) for f in ("image", "found", "candidates"))
    )
    return Pairs(
        np.concatenate(i), np.concatenate(j), np.concatenate(iou), over_limit if len(over_limit) else NO_IMAGE
    )


def _pairs_block(
    image_ids: np.ndarray,
    boxes: np.ndarray,
    min_iou: float,
    group: np.ndarray | None,
    max_pairs_per_image: int,
) -> Pairs:
    """:func:`pairs_within_images` over one block of boxes."""
    index = np.flatnonzero(np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0))
    x0, y0, w, h = np.ascontiguousarray((boxes if len(index) == len(boxes) else boxes[index]).T)
    x1, y1, area = x0 + w, y0 + h, w * h
    # A partner starting d to the right of p has IoU <= (w[p] - d) * h[p] / (w[p] * h[p]), so
    # IoU >= t needs d <= (1 - t) * w[p]. The slack absorbs rounding (it only adds candidates).
    reach = np.maximum(w - min_iou * w, 0.0) + 1e-9 * (np.abs(x0) + w)

    def iou(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return _iou_valid(x0, y0, x1, y1, area, p, q)

    i, j, over = sweep_pairs(
        image_ids[index],
        x0,
        reach,
        lambda p, q: iou(p, q) >= min_iou,
        group=None if group is None else group[index],
        max_pairs_per_image=max_pairs_per_image,
    )
    return Pairs(index[i], index[j], iou(i, j), over)


def _over_limit(
    image: np.ndarray, image_code: np.ndarray, over: np.ndarray, found: np.ndarray, image_end: np.ndarray
) -> OverLimit:
    if not over.any():
        return NO_IMAGE
    ids = np.empty(len(over), image.dtype)
    ids[image_code] = image
    candidates = np.diff(image_end, prepend=0)
    return OverLimit(ids[over], found[over], candidates[over])


def dense_codes(values: ArrayLike) -> np.ndarray:
    """``np.unique(values, return_inverse=True)[1]`` as int64, without its sort when it can.

    Box tables are sorted by image id and class ids span a small range: a running count of
    changes, or a presence table over the range, gives the same codes several times faster
    than sorting a COCO-scale column.
    """
    values = np.asarray(values).reshape(-1)
    if len(values) == 0 or values.dtype.kind not in "iub":
        return np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int64)
    if values.dtype.kind == "b":
        values = values.astype(np.int64)
    change = values[1:] != values[:-1]
    if (values[1:] >= values[:-1]).all():
        codes = np.empty(len(values), np.int64)
        codes[0] = 0
        np.cumsum(change, out=codes[1:])
        return codes
    lo, hi = int(values.min()), int(values.max())
    if hi - lo <= 4 * len(values) + 1024 and hi < 2**63:
        offset = values.astype(np.int64) - lo
        present = np.zeros(hi - lo + 1, np.int64)
        present[offset] = 1
        return (np.cumsum(present) - 1)[offset]
    return np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _iou_valid(
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    area: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
) -> np.ndarray:
    """IoU of boxes ``p`` and ``q`` (index arrays) known to be finite with positive sides."""
    iw = np.minimum(x1[p], x1[q]) - np.maximum(x0[p], x0[q])
    ih = np.minimum(y1[p], y1[q]) - np.maximum(y0[p], y0[q])
    inter = np.minimum(np.maximum(iw, 0) * np.maximum(ih, 0), np.minimum(area[p], area[q]))
    return inter / (area[p] + area[q] - inter)


def iou_after_shift(w: ArrayLike, h: ArrayLike, dx: ArrayLike, dy: ArrayLike) -> np.ndarray:
    """IoU of a ``w x h`` box with itself shifted by ``(dx, dy)``: the IoU noise floor.

    Closed form: inter = max(w - |dx|, 0) * max(h - |dy|, 0), union = 2 w h - inter.
    """
    w = np.asarray(w, np.float64)
    h = np.asarray(h, np.float64)
    inter = np.maximum(w - np.abs(dx), 0) * np.maximum(h - np.abs(dy), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        union = 2 * w * h - inter
        return np.where((w > 0) & (h > 0), inter / np.where(union > 0, union, 1.0), 0.0)
