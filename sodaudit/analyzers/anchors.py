"""Anchors: can the model's anchors represent the boxes, at the size the model sees them?

Two matching rules, both at model input (after the letterbox resize to imgsz, no random
scaling, over valid non-ignore boxes):

- ``ratio`` (YOLOv5 ``check_anchors``): r = wh / anchor, m = min over (w, h) of min(r, 1/r);
  a box is covered by an anchor when m > 1 / ratio_thr. BPR is the share of boxes covered by
  at least one anchor, anchors per target the mean number of covering anchors.
- ``iou`` (RetinaNet, Faster R-CNN): the best IoU any anchor on the stride grid can reach.

Suggested anchors are k-means on the boxes' wh at imgsz (YOLOv5's ``kmean_anchors``: whitened
by std, optional evolutionary refinement), with their BPR next to the default anchors' BPR.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult, label_examples, label_table
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.errors import ConfigError
from sodaudit.findings import MAX_EXAMPLES, Finding, Severity
from sodaudit.models import MODELS, ModelPreset
from sodaudit.sizepresets import AITOD

NAME = "anchors"

RATIO_PRESETS = ("yolov5",)
"""Always reported: ``presets.yolov5.{bpr, anchors_per_target}`` is a stable JSON key."""
IOU_PRESETS = ("retinanet", "faster-rcnn")
"""Always reported: cheap, and they show what an IoU-matched detector would miss."""


KMEANS_MAX_BOXES = 100_000
"""k-means (and the evolution's fitness) runs on a seeded subsample beyond this many boxes;
BPR is always computed on every box."""
KMEANS_RESTARTS = 5
"""k-means++ restarts; the one with the lowest distortion wins (YOLOv5 uses 30 restarts of
scipy ``kmeans``, which takes tens of seconds on 100k boxes)."""
KMEANS_LLOYD_ITERS = 30
"""Lloyd iterations per restart (scipy ``kmeans2``'s ``iter``)."""
KMEANS_MIN_SIDE_PX = 2.0
"""YOLOv5 clusters only labels with a side of at least 2 px at imgsz."""
EVOLVE_MUTATION_PROB = 0.9
EVOLVE_SIGMA = 0.1
"""YOLOv5's mutation probability and sigma for the anchor evolution."""
MIN_ANCHOR_PX = 2.0
"""Evolved anchors are clipped to at least this size, as in YOLOv5."""
_BLOCK = 1 << 15
"""Boxes per block in the per-anchor loops: a block's columns stay in the CPU cache while every
anchor is applied to it, instead of streaming COCO-scale columns from memory once per anchor."""
_IOU_BLOCK = 1 << 14
"""Boxes per block of the grid IoU: blocks of similar area, small enough that an anchor's area
bound rules out a whole block often, large enough to keep numpy's per-call cost small."""
_IOU_SUBSET = 0.25
"""Below this share of a block's boxes that an anchor could still improve, only those are
evaluated (gathered), not the whole block."""


@cache
def _kmeans_rng_kw() -> str:
    """scipy >= 1.15 calls the generator ``rng``; older versions call it ``seed``."""
    from scipy.cluster.vq import kmeans2

    return "rng" if "rng" in inspect.signature(kmeans2).parameters else "seed"


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Coverage of the ratio and IoU presets, suggested anchors, and the findings."""
    if dataset.imgsz != config.imgsz:
        dataset = dataset.with_imgsz(config.imgsz)
    selected = _selected(config)
    result = AnalyzerResult(NAME, "Anchors")
    rows = _boxes(dataset)
    w = rows["w_model"].to_numpy(dtype=np.float64)
    h = rows["h_model"].to_numpy(dtype=np.float64)
    groups = _Groups.of(rows)
    thr = config.anchors.ratio_thr

    ratio_names = list(RATIO_PRESETS)
    if selected.assigner == "ratio" and selected.anchors and selected.name not in ratio_names:
        ratio_names.append(selected.name)
    iou_names = list(IOU_PRESETS)
    if selected.assigner == "iou" and selected.anchors and selected.name not in iou_names:
        iou_names.append(selected.name)

    counter = _RatioCounter(w, h, thr)
    presets: dict[str, dict[str, object]] = {}
    covered: dict[str, np.ndarray] = {}
    for name in ratio_names:
        count = counter.count(_flat_anchors(MODELS[name]))
        covered[name] = count > 0  # best > 1/thr exactly when some anchor has m > 1/thr
        presets[name] = _ratio_stats(MODELS[name], thr, count, groups)
    scale = rows["scale"].to_numpy(dtype=np.float64)
    x0 = rows["x"].to_numpy(dtype=np.float64) * scale
    y0 = rows["y"].to_numpy(dtype=np.float64) * scale
    ious = _grid_ious(w, h, x0, y0, [MODELS[name] for name in iou_names], config.imgsz)
    iou_best = dict(zip(iou_names, ious, strict=True))
    for name in iou_names:
        presets[name] = _iou_stats(MODELS[name], iou_best[name], groups)

    suggestion = _suggest(w, h, config, _ratio_reference(selected), counter)
    result.stats.update(
        imgsz=config.imgsz,
        model=config.model,
        ratio_thr=float(thr),
        num_boxes=len(rows),
        num_boxes_without_image_size=len(dataset.selected_boxes()) - len(rows),
        presets=presets,
        suggested=suggestion,
    )
    _low_bpr_finding(dataset, config, selected, rows, covered, presets, suggestion, result)
    if selected.assigner == "iou" and selected.anchors:
        _iou_finding(dataset, config, selected, rows, iou_best[selected.name], presets, result)
    return result


# --- matching rules -------------------------------------------------------------------------


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


class _RatioCounter:
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
    return _grid_ious(w, h, x0, y0, [preset], imgsz)[0]


def _grid_ious(
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


# --- stats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Groups:
    """Per box: AI-TOD bucket and class code, and the labels of both (computed once)."""

    buckets: np.ndarray
    classes: np.ndarray
    class_labels: list[str]

    @classmethod
    def of(cls, rows: pd.DataFrame) -> _Groups:
        codes, labels = _class_codes(rows)
        return cls(bucket_codes(rows["sqrt_area_model"].to_numpy(dtype=np.float64)), codes, labels)

    def joint(self, state: np.ndarray, states: int) -> np.ndarray:
        """Boxes per (class, bucket, state): one pass gives every group's integer counts."""
        nb = len(bucket_labels())
        key = self.classes * nb
        key += self.buckets
        key *= states
        key += state
        counts = np.bincount(key, minlength=len(self.class_labels) * nb * states)
        return counts.reshape(len(self.class_labels), nb, states)


def _ratio_stats(preset: ModelPreset, thr: float, count: np.ndarray, groups: _Groups) -> dict[str, object]:
    """BPR and anchors per target overall, per bucket and per class.

    The means are integer sums over integer counts: the same floats as averaging the 0/1 and
    count columns (every partial sum of small integers is exact in float64).
    """
    n = len(count)
    hist = groups.joint(count, int(count.max()) + 1 if n else 1)  # class x bucket x count
    values = np.arange(hist.shape[2])
    sums = {"bpr": hist[:, :, 1:].sum(axis=2), "anchors_per_target": hist @ values}
    num_covered = int(sums["bpr"].sum())
    return {
        "assigner": "ratio",
        "strides": list(preset.strides),
        "anchors": [[list(map(float, a)) for a in level] for level in preset.anchors],
        "ratio_thr": float(thr),
        "bpr": _ratio(num_covered, n),
        "anchors_per_target": _ratio(int(sums["anchors_per_target"].sum()), n),
        "num_uncovered": n - num_covered,
        "by_bucket": _grouped_counts(
            hist.sum(axis=(0, 2)), {k: v.sum(axis=0) for k, v in sums.items()}, bucket_labels()
        ),
        "by_class": _grouped_counts(
            hist.sum(axis=(1, 2)), {k: v.sum(axis=1) for k, v in sums.items()}, groups.class_labels
        ),
    }


def _iou_stats(preset: ModelPreset, best: np.ndarray, groups: _Groups) -> dict[str, object]:
    n = len(best)
    covered = best >= preset.iou_pos
    # state per box: 2 covered, 1 in the ignore band [iou_neg, iou_pos), 0 otherwise
    state = np.maximum(covered.view(np.int8) * 2, (best >= preset.iou_neg).view(np.int8))
    hist = groups.joint(state, 3)  # class x bucket x state
    num = {"coverage": int(hist[:, :, 2].sum()), "ignore_band_share": int(hist[:, :, 1].sum())}

    def group(axis: int, codes: np.ndarray, labels: list[str]) -> dict:
        counts = hist.sum(axis=axis)  # group x state
        sums = {"coverage": counts[:, 2], "ignore_band_share": counts[:, 1]}
        iou_sums = np.bincount(codes, weights=best, minlength=len(labels)) if n else np.zeros(len(labels))
        return _grouped_counts(counts.sum(axis=1), sums, labels, mean_best_iou=iou_sums)

    return {
        "assigner": "iou",
        "strides": list(preset.strides),
        "iou_pos": float(preset.iou_pos),
        "iou_neg": float(preset.iou_neg),
        "coverage": _ratio(num["coverage"], n),
        "ignore_band_share": _ratio(num["ignore_band_share"], n),
        "below_neg_share": _mean(best < preset.iou_neg),
        "median_best_iou": float(np.median(best)) if n else math.nan,
        "num_uncovered": n - num["coverage"],
        "by_bucket": group(0, groups.buckets, bucket_labels()),
        "by_class": group(1, groups.classes, groups.class_labels),
    }


def _grouped_counts(
    n: np.ndarray, int_sums: dict[str, np.ndarray], labels: list[str], **float_sums: np.ndarray
) -> dict:
    """Mean of each column per group from its sums, with the group size; empty groups left out.

    ``int_sums`` hold exact integer sums (counts), ``float_sums`` bincount-weighted sums.
    """
    sums = {k: np.asarray(v, dtype=np.float64) for k, v in {**int_sums, **float_sums}.items()}
    out: dict[str, dict[str, object]] = {}
    for i, label in enumerate(labels):
        if n[i]:
            out[label] = {"n": int(n[i]), **{k: float(s[i] / n[i]) for k, s in sums.items()}}
    return out


def _ratio(count: int, n: int) -> float:
    """``np.mean`` of a 0/1 (or small integer) column with this sum: the same float."""
    return float(np.float64(count) / n) if n else math.nan


def _class_codes(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Category codes and names of ``class_name``: grouping by code avoids sorting strings."""
    names = rows["class_name"].astype("category")
    return names.cat.codes.to_numpy().astype(np.int64), [str(c) for c in names.cat.categories]


def bucket_labels() -> list[str]:
    return list(AITOD.labels)


def bucket_codes(sqrt_area_model: np.ndarray) -> np.ndarray:
    """``AITOD.codes`` by one comparison per bound instead of a binary search per value."""
    v = np.asarray(sqrt_area_model, dtype=np.float64)
    if np.isnan(v).any():  # digitize puts NaN past the last bound
        return AITOD.codes(v)
    codes = np.zeros(len(v), dtype=np.int64)
    for bound in AITOD.bounds:  # digitize: the number of (increasing) bounds <= v
        codes += v >= bound
    return codes


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


# --- boxes and presets ----------------------------------------------------------------------


def _boxes(dataset: Dataset) -> pd.DataFrame:
    """Valid, non-ignore boxes that have a size at model input."""
    sel = dataset.selected_boxes()
    finite = np.isfinite(sel["w_model"].to_numpy()) & np.isfinite(sel["h_model"].to_numpy())
    return sel if finite.all() else sel[finite]


def _selected(config: Config) -> ModelPreset:
    try:
        return MODELS[config.model]
    except KeyError:
        raise ConfigError(f"Unknown model {config.model!r}; use one of {', '.join(MODELS)}.") from None


def _ratio_reference(selected: ModelPreset) -> ModelPreset:
    """The ratio-rule anchors the suggestion is compared with: the selected model's, or YOLOv5's."""
    if selected.assigner == "ratio" and selected.anchors:
        return selected
    return MODELS["yolov5"]


def _flat_anchors(preset: ModelPreset) -> np.ndarray:
    return np.asarray([a for level in preset.anchors for a in level], dtype=np.float64)


# --- suggested anchors ----------------------------------------------------------------------


def suggest_anchors(dataset: Dataset, config: Config) -> dict[str, object]:
    """k-means (optionally evolved) anchors for the dataset at ``config.imgsz``, with BPR before
    (the selected model's ratio-rule anchors, else YOLOv5's) and after. ``sodaudit anchors``
    prints :func:`anchors_yaml` of this."""
    if dataset.imgsz != config.imgsz:
        dataset = dataset.with_imgsz(config.imgsz)
    rows = _boxes(dataset)
    w = rows["w_model"].to_numpy(dtype=np.float64)
    h = rows["h_model"].to_numpy(dtype=np.float64)
    counter = _RatioCounter(w, h, config.anchors.ratio_thr)
    return _suggest(w, h, config, _ratio_reference(_selected(config)), counter)


def _suggest(
    w: np.ndarray, h: np.ndarray, config: Config, before_preset: ModelPreset, counter: _RatioCounter
) -> dict[str, object]:
    cfg = config.anchors
    thr = cfg.ratio_thr
    n = int(cfg.num_anchors)
    strides = list(MODELS["yolov5"].strides)
    before_count = counter.count(_flat_anchors(before_preset))
    out: dict[str, object] = {
        "status": "ok",
        "imgsz": int(config.imgsz),
        "num_anchors": n,
        "ratio_thr": float(thr),
        "seed": int(cfg.seed),
        "evolve_generations": int(cfg.evolve_generations),
        "num_boxes": len(w),
        "before_model": before_preset.name,
        "bpr_before": _ratio(int(np.count_nonzero(before_count)), len(w)),
        "anchors_per_target_before": _ratio(int(before_count.sum()), len(w)),
        "strides": strides,
    }
    rng = np.random.default_rng(cfg.seed)
    keep = np.flatnonzero((w >= KMEANS_MIN_SIDE_PX) | (h >= KMEANS_MIN_SIDE_PX))
    out["num_kmeans_boxes_total"] = len(keep)
    if len(keep) > KMEANS_MAX_BOXES:
        keep = keep[np.sort(rng.choice(len(keep), KMEANS_MAX_BOXES, replace=False))]
    sample = np.column_stack((w[keep], h[keep]))
    out["num_kmeans_boxes"] = len(sample)
    out["subsampled"] = len(sample) < out["num_kmeans_boxes_total"]
    distinct = _distinct_rows(sample, at_least=n)
    if n <= 0 or distinct < n:
        out.update(status="too_few_boxes", anchors=[], levels=[], bpr=math.nan)
        out["reason"] = (
            f"{distinct} distinct box sizes with a side >= "
            f"{KMEANS_MIN_SIDE_PX:g} px at imgsz; {n} anchors need at least {n}"
        )
        return out

    k = _kmeans(sample, n, rng)
    kmeans_int = _as_int_anchors(k)
    out["bpr_kmeans"] = _ratio(int(np.count_nonzero(counter.count(kmeans_int))), len(w))
    if cfg.evolve_generations > 0:
        k = _evolve(k, sample, thr, int(cfg.evolve_generations), rng)
    anchors = _as_int_anchors(k)
    count = counter.count(anchors)
    levels = [chunk.tolist() for chunk in np.array_split(anchors.astype(int), len(strides))]
    bpr = _ratio(int(np.count_nonzero(count)), len(w))
    out.update(
        anchors=anchors.astype(int).tolist(),
        levels=levels,
        bpr=bpr,
        anchors_per_target=_ratio(int(count.sum()), len(w)),
        fitness=_fitness(anchors, sample, thr),
        improves=bool(bpr > out["bpr_before"]),
    )
    return out


def _distinct_rows(sample: np.ndarray, at_least: int) -> int:
    """Distinct (w, h) rows; exact below ``at_least``, and at least ``at_least`` otherwise.

    Only "fewer than n" matters (and the count then, for the message): a prefix with enough
    distinct rows settles it without hashing every row.
    """
    head = sample[: max(4 * at_least, 1024)] + 0.0  # + 0.0: -0.0 and 0.0 are one value
    if at_least > 0 and len(head) < len(sample) and len(np.unique(head, axis=0)) >= at_least:
        return at_least
    return len(pd.DataFrame(sample).drop_duplicates())


def _kmeans(sample: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """k-means on wh whitened by its std, as YOLOv5 does; area quantiles if clusters collapse."""
    from scipy.cluster.vq import ClusterError, kmeans2, vq  # imported when first needed

    std = sample.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    white = sample / std
    k = np.zeros((0, 2))
    best = np.inf
    for _ in range(KMEANS_RESTARTS):
        try:
            centres, _ = kmeans2(
                white,
                n,
                iter=KMEANS_LLOYD_ITERS,
                minit="++",
                missing="raise",
                **{_kmeans_rng_kw(): rng},
            )
        except ClusterError:  # an empty cluster: this restart is unusable
            continue
        distortion = float(vq(white, centres)[1].mean())
        if distortion < best:
            best, k = distortion, centres * std
    if len(k) < n:  # every restart lost a cluster: area quantiles (deterministic)
        order = np.argsort(sample.prod(axis=1), kind="stable")
        picks = order[np.linspace(0, len(order) - 1, n).round().astype(int)]
        k = sample[picks]
    return k[np.argsort(k.prod(axis=1), kind="stable")]


def _fitness(k: np.ndarray, wh: np.ndarray, thr: float) -> float:
    """YOLOv5's anchor fitness: mean over boxes of best * (best > 1/thr)."""
    _, best = ratio_match(wh, k, thr)
    return _mean(best * (best > 1.0 / thr))


def _evolve(
    k: np.ndarray, wh: np.ndarray, thr: float, generations: int, rng: np.random.Generator
) -> np.ndarray:
    """YOLOv5's anchor evolution: multiplicative mutations, keep a child when fitness improves."""
    best_f = _fitness(k, wh, thr)
    shape = k.shape
    for _ in range(generations):
        v = np.ones(shape)
        while (v == 1).all():  # mutate until something changes
            v = (
                (rng.random(shape) < EVOLVE_MUTATION_PROB)
                * rng.random()
                * rng.standard_normal(shape)
                * EVOLVE_SIGMA
                + 1
            ).clip(0.3, 3.0)
        child = (k * v).clip(min=MIN_ANCHOR_PX)
        f = _fitness(child, wh, thr)
        if f > best_f:
            best_f, k = f, child
    return k[np.argsort(k.prod(axis=1), kind="stable")]


def _as_int_anchors(k: np.ndarray) -> np.ndarray:
    """Anchors as the integers the YAML shows (BPR is measured on exactly these), by area."""
    a = np.maximum(np.round(k), 1.0)
    return a[np.argsort(a.prod(axis=1), kind="stable")]


def anchors_yaml(suggestion: dict[str, object]) -> str:
    """YAML a person pastes into a YOLOv5 model file or an mmdetection config."""
    if suggestion.get("status") != "ok":
        return f"# no anchors suggested: {suggestion.get('reason', suggestion.get('status'))}\n"
    levels = suggestion["levels"]
    strides = suggestion["strides"]
    evolve = int(suggestion["evolve_generations"])
    method = "k-means" + (f" + {evolve} generations of evolution" if evolve else "")
    lines = [
        f"# sodaudit: {suggestion['num_anchors']} anchors at imgsz {suggestion['imgsz']} "
        f"({method}, seed {suggestion['seed']}, {suggestion['num_kmeans_boxes']} boxes)",
        f"# BPR (ratio rule, thr {suggestion['ratio_thr']:g}, {suggestion['num_boxes']} boxes): "
        f"{suggestion['before_model']} anchors {suggestion['bpr_before']:.6f} -> "
        f"suggested {suggestion['bpr']:.6f}",
    ]
    if not suggestion.get("improves", True):
        lines.append(
            f"# note: these anchors do not beat the {suggestion['before_model']} anchors; keep "
            "those, or raise anchors.evolve_generations"
        )
    if len({len(level) for level in levels}) > 1:
        lines.append("# note: YOLOv5 needs the same number of anchors per level (a multiple of 3)")
    lines.append("# YOLOv5 model yaml:")
    lines.append("anchors:")
    for level, stride in zip(levels, strides, strict=True):
        row = ", ".join(f"{w},{h}" for w, h in level)
        lines.append(f"  - [{row}]  # P{int(math.log2(stride))}/{stride}")
    lines.append("# mmdetection (YOLOv3Head lists levels from stride 32 down: reverse both lists):")
    lines.append("anchor_generator:")
    lines.append("  type: YOLOAnchorGenerator")
    lines.append("  base_sizes:")
    for level in levels:
        lines.append("    - [" + ", ".join(f"[{w}, {h}]" for w, h in level) + "]")
    lines.append(f"  strides: [{', '.join(str(s) for s in strides)}]")
    lines.append("# as a Python config:")
    sizes = ",\n#                 ".join(
        "[" + ", ".join(f"({w}, {h})" for w, h in level) + "]" for level in levels
    )
    lines.append("# anchor_generator=dict(type='YOLOAnchorGenerator',")
    lines.append(f"#     base_sizes=[{sizes}],")
    lines.append(f"#     strides={list(strides)})")
    return "\n".join(lines) + "\n"


# --- findings -------------------------------------------------------------------------------


def _low_bpr_finding(
    dataset: Dataset,
    config: Config,
    selected: ModelPreset,
    rows: pd.DataFrame,
    covered: dict[str, np.ndarray],
    presets: dict[str, dict[str, object]],
    suggestion: dict[str, object],
    result: AnalyzerResult,
) -> None:
    """Warn when the selected ratio-rule model (else YOLOv5, as a reference) misses boxes.

    For a model that does not use these anchors the finding is info: the number describes
    YOLOv5, not the model being trained.
    """
    ref = _ratio_reference(selected)
    stats = presets[ref.name]
    bpr = stats["bpr"]
    warn = config.anchors.bpr_warn
    if not len(rows) or not bpr < warn:
        return
    uses_it = ref.name == selected.name
    missed = _label_rows(rows, np.flatnonzero(~covered[ref.name]))
    # the best ratio of the missed boxes only: ratio_match is elementwise, so the same values
    wh = missed[["w_model", "h_model"]].to_numpy(dtype=np.float64)
    _, best = ratio_match(wh, _flat_anchors(ref), config.anchors.ratio_thr)
    head = missed.head(MAX_EXAMPLES)
    detail = _size_text(head) + ", best ratio " + pd.Series(best[: len(head)]).round(3).astype(str).to_numpy()
    result.tables[f"uncovered_{ref.name}"] = label_table(dataset, missed, best_ratio=best)
    if suggestion.get("status") != "ok":
        after = ""
    elif suggestion["improves"]:
        after = f"; suggested k-means anchors reach BPR {suggestion['bpr']:.4f}"
    else:
        after = (
            f"; k-means anchors do not improve it (BPR {suggestion['bpr']:.4f}): try "
            "anchors.evolve_generations"
        )
    who = "" if uses_it else f" (reference only: {selected.name} does not use these anchors)"
    result.findings.append(
        Finding(
            "anchors.low_bpr",
            Severity.WARNING if uses_it else Severity.INFO,
            f"{ref.name} anchors cover {bpr:.4f} of {len(rows)} boxes at imgsz {config.imgsz} "
            f"(best possible recall, ratio rule thr {config.anchors.ratio_thr:g}), below "
            f"{warn:g}: {len(missed)} boxes match no anchor{after}{who}",
            NAME,
            value=float(bpr),
            threshold=float(warn),
            examples=label_examples(dataset, head, detail),
            count=len(missed),
        )
    )


_LABEL_COLUMNS = ["image_id", "class_name", "x", "y", "w", "h", "source_file", "source_line"]


def _label_rows(rows: pd.DataFrame, index: np.ndarray) -> pd.DataFrame:
    """The rows at ``index`` with only the columns a label table, example and size text use:
    a take of ten columns instead of every column of the box table."""
    return rows[[*_LABEL_COLUMNS, "w_model", "h_model"]].take(index)


def _size_text(rows: pd.DataFrame) -> pd.Series:
    """``w x h px at imgsz`` per row, for a finding's few examples."""
    return rows["w_model"].round(1).astype(str) + "x" + rows["h_model"].round(1).astype(str) + " px at imgsz"


def _iou_finding(
    dataset: Dataset,
    config: Config,
    selected: ModelPreset,
    rows: pd.DataFrame,
    best_iou: np.ndarray,
    presets: dict[str, dict[str, object]],
    result: AnalyzerResult,
) -> None:
    """The selected IoU-matched model: boxes no anchor on the grid reaches iou_pos with."""
    stats = presets[selected.name]
    coverage = stats["coverage"]
    warn = config.anchors.bpr_warn
    if not len(rows) or not coverage < warn:
        return
    at = np.flatnonzero(~(best_iou >= selected.iou_pos))
    missed = _label_rows(rows, at)
    best = pd.Series(best_iou[at], index=missed.index)
    result.tables[f"iou_uncovered_{selected.name}"] = label_table(dataset, missed, best_iou=best)
    head = missed.head(MAX_EXAMPLES)
    detail = _size_text(head) + ", best anchor IoU " + best.head(MAX_EXAMPLES).round(3).astype(str)
    result.findings.append(
        Finding(
            "anchors.iou_uncovered",
            Severity.WARNING,
            f"{len(missed)} of {len(rows)} boxes ({1 - coverage:.1%}) overlap no "
            f"{selected.name} anchor on the stride grid with IoU >= {stats['iou_pos']:g} at "
            f"imgsz {config.imgsz}; {stats['ignore_band_share']:.1%} fall in the ignore band "
            f"[{stats['iou_neg']:g}, {stats['iou_pos']:g}) and "
            f"{stats['below_neg_share']:.1%} below {stats['iou_neg']:g} (median best IoU "
            f"{stats['median_best_iou']:.2f})",
            NAME,
            value=float(coverage),
            threshold=float(warn),
            examples=label_examples(dataset, head, detail),
            count=len(missed),
        )
    )
