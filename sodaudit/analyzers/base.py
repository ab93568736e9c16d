"""What every analyzer returns, and the per-label list every analyzer shows the same way."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.geometry import PAIR_CHUNK, Pairs, dense_codes, pairs_within_images

KEY_LIMIT = 2.0**40
"""Bound on coordinates and sort keys of :func:`pairs_in_sorted_images`: below it a float's
rounding (<= 2**-12) stays far below the 1 px gap kept between images."""


@dataclass
class AnalyzerResult:
    """``stats`` are plain JSON numbers/strings; ``tables`` are per-label lists for CSV/HTML."""

    name: str
    title: str
    stats: dict[str, object] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def image_file_names(dataset: Dataset, image_ids: np.ndarray) -> np.ndarray:
    """``file_name`` of each image id, by position in the (id-sorted) image table.

    A positional take of the few listed rows, not an index over every image per call.
    """
    images = dataset.images
    ids = images["image_id"].to_numpy()
    image_ids = np.asarray(image_ids)
    if len(ids) and len(image_ids):
        pos = np.minimum(np.searchsorted(ids, image_ids), len(ids) - 1)
        if (ids[pos] == image_ids).all():  # ids are unique: an equal id is the image
            return images["file_name"].take(pos).to_numpy()
    return pd.Series(image_ids).map(images.set_index("image_id")["file_name"]).to_numpy()


LABEL_COLUMNS = ("image_id", "class_id", "class_name", "x", "y", "w", "h", "source_file", "source_line")
"""The box columns that :func:`label_table` and :func:`label_examples` read (and ``class_id``)."""


def label_rows(boxes: pd.DataFrame, which: np.ndarray, *extra: str) -> pd.DataFrame:
    """The rows ``which`` (a mask or positions) of ``boxes``, with only the columns a label list
    reads plus ``extra``: a take of ~10 columns instead of every derived one."""
    which = np.asarray(which)
    positions = np.flatnonzero(which) if which.dtype == bool else which
    return boxes[[*LABEL_COLUMNS, *extra]].iloc[positions]


def label_table(dataset: Dataset, rows: pd.DataFrame, **extra: object) -> pd.DataFrame:
    """A per-label list a person can act on: image, class, box, ``source`` (file:line), extras."""
    table = pd.DataFrame(
        {
            "image": image_file_names(dataset, rows["image_id"].to_numpy()),
            "class_name": rows["class_name"].astype(str).to_numpy(),
            "x": rows["x"].to_numpy(),
            "y": rows["y"].to_numpy(),
            "w": rows["w"].to_numpy(),
            "h": rows["h"].to_numpy(),
            "source": dataset.source(rows).to_numpy(),
        }
    )
    for name, values in extra.items():
        table[name] = values.to_numpy() if isinstance(values, pd.Series) else values
    return table


def label_examples(dataset: Dataset, rows: pd.DataFrame, detail: pd.Series) -> tuple[str, ...]:
    """The first few labels of a finding as ``source [class] detail`` strings."""
    head = rows.head(MAX_EXAMPLES)
    where = dataset.source(head).to_numpy()
    classes = head["class_name"].astype(str).to_numpy()
    details = detail.head(MAX_EXAMPLES).to_numpy()
    return tuple(f"{w} [{c}] {d}" for w, c, d in zip(where, classes, details, strict=True))


def pair_table(dataset: Dataset, first: pd.DataFrame, second: pd.DataFrame, iou: np.ndarray) -> pd.DataFrame:
    """A per-pair list: both labels with class, box and ``source``, and their IoU."""
    a = label_table(dataset, first)
    b = label_table(dataset, second)
    columns: dict[str, object] = {"image": a["image"].to_numpy()}
    for suffix, part in (("a", a), ("b", b)):
        for col in ("class_name", "x", "y", "w", "h", "source"):
            columns[f"{col}_{suffix}"] = part[col].to_numpy()
    columns["iou"] = np.round(np.asarray(iou, dtype=np.float64), 4)
    return pd.DataFrame(columns)


def pair_examples(table: pd.DataFrame) -> tuple[str, ...]:
    """The first pairs of a :func:`pair_table` as ``source [class] ~ source [class] IoU`` text."""
    head = table.head(MAX_EXAMPLES)
    return tuple(
        f"{sa} [{ca}] ~ {sb} [{cb}] IoU {iou:.2f}"
        for sa, ca, sb, cb, iou in zip(
            head["source_a"],
            head["class_name_a"],
            head["source_b"],
            head["class_name_b"],
            head["iou"],
            strict=True,
        )
    )


def pairs_in_sorted_images(
    image_ids: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    min_iou: float,
    same_group: np.ndarray | None = None,
) -> Pairs:
    """:func:`~sodaudit.geometry.pairs_within_images` for boxes sorted by image: same pairs, IoUs.

    Box tables are sorted by image id, so one float sort finds the sweep order: each box's x0
    is shifted by ``segment * G`` (segment = image, or image and group), with ``G`` wider than
    any box's reach, so segments never mix and, within one, the order is that of x0. A shift is
    monotone, so rounding can only tie keys, which adds candidates (the IoU test decides) and
    never loses a pair. This replaces three sorts and two random-order binary searches over
    every box. Other input (unsorted ids, keys too large for exact-enough floats) goes to
    ``pairs_within_images``.
    """
    if not min_iou > 0:
        raise ValueError(f"min_iou must be > 0 (every pair has IoU >= 0), got {min_iou}")
    image_ids = np.asarray(image_ids).reshape(-1)
    x, y, w, h = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (x, y, w, h))
    group = None if same_group is None else np.asarray(same_group).reshape(-1)
    n = len(image_ids)
    given = (image_ids, x, y, w, h, group)

    def fallback() -> Pairs:  # on the input as given, whatever was dropped here since
        ids, *xywh, grp = given
        return pairs_within_images(ids, np.column_stack(xywh), min_iou, same_group=grp)

    if any(len(v) != n for v in (x, y, w, h)) or (group is not None and len(group) != n):
        raise ValueError("image_ids, the box columns and same_group must have the same length")
    if n < 2 or image_ids.dtype.kind not in "iu" or not (image_ids[1:] >= image_ids[:-1]).all():
        return fallback()
    index = None
    # Boxes that are not finite or have no area never pair. Reductions first: they allocate
    # nothing, and a finite sum means every value is finite.
    with np.errstate(invalid="ignore", over="ignore"):
        if not (np.isfinite(x.sum() + y.sum() + w.sum() + h.sum()) and w.min() > 0 and h.min() > 0):
            keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
            if not keep.all():
                index = np.flatnonzero(keep)
                image_ids, x, y, w, h = (v[index] for v in (image_ids, x, y, w, h))
                group = None if group is None else group[index]
                n = len(index)
                if n < 2:
                    return _no_pairs()
    seg = np.empty(n, np.int64)
    seg[0] = 0
    np.cumsum(image_ids[1:] != image_ids[:-1], out=seg[1:])
    if group is not None:
        g = dense_codes(group)
        seg = seg * (int(g.max()) + 1) + g
    # Last admissible x0 for a partner: ``x + w - t * w + 1e-9 * (|x| + w)`` as in
    # pairs_within_images (the slack only adds candidates). In place: every new array of a
    # million boxes costs page faults (copies, in a forked worker), on top of the arithmetic.
    limit = x + w
    buffer = np.multiply(w, min_iou)
    limit -= buffer
    np.abs(x, out=buffer)
    buffer += w
    buffer *= 1e-9
    limit += buffer
    low, high = float(x.min()), max(float(x.max()), float(limit.max()))
    reach = high - low
    gap = reach + 1.0 + 1e-6 * abs(reach)
    if not np.isfinite(gap) or max(abs(low), abs(high)) >= KEY_LIMIT:
        return fallback()
    if group is not None and (int(seg.max()) + 1) * gap >= KEY_LIMIT:
        seg = dense_codes(seg)  # (image, group) codes with gaps: close them
    if (int(seg.max()) + 1) * gap >= KEY_LIMIT:
        return fallback()
    shift = np.multiply(seg, gap, out=buffer)
    shift -= low
    key = x + shift
    limit += shift  # reach in key space
    order = np.argsort(key)  # ties in any order: see the docstring
    sorted_key = np.take(key, order, out=shift)
    reach_key = np.take(limit, order, out=key)
    # Most boxes have no candidate at all (the next box in order is already out of reach):
    # binary searches only for the others.
    ahead = np.flatnonzero(sorted_key[1:] <= reach_key[:-1])
    if len(ahead) == 0:
        return _no_pairs()
    counts = np.searchsorted(sorted_key, reach_key[ahead], side="right") - ahead - 1
    total = int(counts.sum())
    out_i, out_j, out_iou = [], [], []
    cum = np.cumsum(counts)
    bounds = np.searchsorted(cum, np.arange(PAIR_CHUNK, total, PAIR_CHUNK), side="left")
    edges = np.unique(np.concatenate([[0], bounds, [len(ahead)]]))
    for lo, hi in itertools.pairwise(edges):  # a loop over chunks of candidate pairs
        c = counts[lo:hi]
        m = int(c.sum())
        if m == 0:
            continue
        p = np.repeat(ahead[lo:hi], c)
        q = np.arange(m) - np.repeat(np.cumsum(c) - c, c) + p + 1
        p, q = order[p], order[q]
        iou = _iou_of(x, y, w, h, p, q)
        hit = iou >= min_iou
        out_i.append(p[hit])
        out_j.append(q[hit])
        out_iou.append(iou[hit])
    a = np.concatenate(out_i)
    b = np.concatenate(out_j)
    iou = np.concatenate(out_iou)
    if index is not None:
        a, b = index[a], index[b]
    i, j = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((j, i))
    return Pairs(i[order].astype(np.int64), j[order].astype(np.int64), iou[order])


def _iou_of(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, p: np.ndarray, q: np.ndarray
) -> np.ndarray:
    """IoU of boxes ``p`` and ``q`` (finite, positive sides): ``geometry._iou_valid``, bit for bit.

    The same operations in the same order on the gathered values, so corners and areas are
    computed for the candidate boxes only, not for every box.
    """
    xp, yp, wp, hp = x[p], y[p], w[p], h[p]
    xq, yq, wq, hq = x[q], y[q], w[q], h[q]
    area_p, area_q = wp * hp, wq * hq
    iw = np.minimum(xp + wp, xq + wq) - np.maximum(xp, xq)
    ih = np.minimum(yp + hp, yq + hq) - np.maximum(yp, yq)
    inter = np.minimum(np.maximum(iw, 0) * np.maximum(ih, 0), np.minimum(area_p, area_q))
    return inter / (area_p + area_q - inter)


def _no_pairs() -> Pairs:
    return Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
