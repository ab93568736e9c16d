"""Box pairing of ``sodaudit diff``: the same object in two versions of one image.

Boxes are paired within an image pair in steps, the cheap ones first:

1. images whose labels are equal in file order (same class, bit-identical ``x, y, w, h``) are
   paired in bulk, position by position, so an unchanged dataset of 10^5 images costs little;
2. in the other images, identical labels in any order, by one vectorised merge;
3. the rest by an optimal assignment within the same class (the most pairs with score >=
   ``match_iou`` first, then the largest total score);
4. what is still unpaired, by the same assignment across classes: a *relabelled* box is the
   same object (score >= ``match_iou``) with another class.

Identical labels are paired before the assignment sees the rest: an unchanged label stays
paired with itself even where a solver over all boxes could trade it for one pair more.

The score is the IoU, except that boxes whose coordinates agree within ``SAME_BOX_PX`` score 1,
even when degenerate (a zero-size box has no geometric IoU, yet an unchanged one is not a
change). The assignment sees only the candidate pairs of the one pair search
(:func:`sodaudit.geometry.sweep_pairs`) and is solved per connected component of that sparse
graph, so memory grows with the overlapping pairs, not with the boxes squared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

from sodaudit.dataset import Dataset
from sodaudit.geometry import MAX_PAIRS_PER_IMAGE, NO_IMAGE, OverLimit, iou_xywh, sweep_pairs

SAME_BOX_PX = 1e-3
"""Coordinates within this many pixels are the same label: absorbs format round-trips (YOLO's
8 normalised decimals are ~1e-5 px), far below any edit a person makes."""
COORDS = ("x", "y", "w", "h")
KEY_COLUMNS = ["pair", "cls", "kx", "ky", "kw", "kh"]


@dataclass(frozen=True)
class BoxSide:
    """One version's boxes as arrays: image pair (-1 when the image is in one version only),
    image position, class code in the shared name space, coordinates, ignore flag."""

    ds: Dataset
    image_pos: np.ndarray
    """Position in ``ds.images`` of each image pair."""
    pair: np.ndarray
    img: np.ndarray
    cls: np.ndarray
    xywh: np.ndarray
    ignore: np.ndarray

    @classmethod
    def of(cls, ds: Dataset, image_pos: np.ndarray, names: Sequence[str]) -> BoxSide:
        pair_of_image = np.full(len(ds.images), -1, np.int64)
        pair_of_image[image_pos] = np.arange(len(image_pos))
        b = ds.boxes
        img = np.searchsorted(ds.images["image_id"].to_numpy(), b["image_id"].to_numpy()).astype(np.int64)
        code = {n: i for i, n in enumerate(names)}
        cat_codes = np.array([code[str(c)] for c in b["class_name"].cat.categories], dtype=np.int64)
        raw = b["class_name"].cat.codes.to_numpy().astype(np.int64)
        return cls(
            ds=ds,
            image_pos=np.asarray(image_pos, np.int64),
            pair=pair_of_image[img],
            img=img,
            cls=cat_codes[raw] if len(raw) else np.zeros(0, np.int64),
            xywh=b[list(COORDS)].to_numpy(np.float64).reshape(-1, 4),
            ignore=b["ignore"].to_numpy(bool),
        )

    def keys(self, rows: np.ndarray) -> np.ndarray:
        """Exact integer keys of some boxes: pair, class, then the float bits of x, y, w, h
        (-0.0 and 0.0 agree, and every NaN is one NaN)."""
        v = self.xywh[rows] + 0.0
        bits = np.where(np.isnan(v), np.nan, v).view(np.int64)
        return np.column_stack([self.pair[rows], self.cls[rows], bits])

    def in_image_order(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Box rows grouped by image (file order kept), and each image's start and count."""
        order = np.argsort(self.img, kind="stable")  # already sorted by Dataset.build: cheap
        count = np.bincount(self.img, minlength=len(self.ds.images))
        return order, np.cumsum(count) - count, count

    def source(self, rows: np.ndarray) -> np.ndarray:
        """Where each box is, as ``Dataset.source`` writes it (strings made for ``rows`` only)."""
        from sodaudit.loaders.sources import box_sources

        picked = self.ds.boxes[["source_file", "source_line"]].take(np.asarray(rows, np.int64).reshape(-1))
        return np.asarray(box_sources(self.ds, picked), dtype=object).reshape(-1)


@dataclass(frozen=True)
class BoxMatch:
    """Row pairs ``(old, new)`` of the same class and of another class (relabelled), sorted by
    OLD row; ``over_limit`` lists image pairs (``image`` = pair index) left unpaired."""

    m_old: np.ndarray
    m_new: np.ndarray
    r_old: np.ndarray
    r_new: np.ndarray
    over_limit: OverLimit = NO_IMAGE


def match_boxes(
    o: BoxSide, n: BoxSide, match_iou: float, max_pairs_per_image: int = MAX_PAIRS_PER_IMAGE
) -> BoxMatch:
    """Pair OLD's and NEW's boxes in the steps of the module docstring."""
    # 1. Images whose labels are equal in file order (the usual case): paired in bulk,
    #    position by position, without sorting or hashing anything.
    order_o, start_o, count_o = o.in_image_order()
    order_n, start_n, count_n = n.in_image_order()
    even = count_o[o.image_pos] == count_n[n.image_pos]
    ao = order_o[o.pair[order_o] >= 0]
    ao = ao[even[o.pair[ao]]]
    position = np.empty(len(order_o), np.int64)
    position[order_o] = np.arange(len(order_o))
    rank = position[ao] - start_o[o.img[ao]]
    an = order_n[start_n[n.image_pos[o.pair[ao]]] + rank]
    with np.errstate(invalid="ignore"):
        equal = (o.xywh[ao] == n.xywh[an]) | (np.isnan(o.xywh[ao]) & np.isnan(n.xywh[an]))
    differ = ~equal.all(axis=1) | (o.cls[ao] != n.cls[an])
    same_image = even.copy()
    same_image[o.pair[ao[differ]]] = False
    bulk = same_image[o.pair[ao]]
    m_old, m_new = [ao[bulk]], [an[bulk]]

    # 2. In the other images, identical labels (as a multiset: order may differ) by one merge.
    redo = np.append(~same_image, False)  # index -1 (image in one version only): False
    rest_o = np.flatnonzero(redo[o.pair])
    rest_n = np.flatnonzero(redo[n.pair])
    sides = []
    for side, rows in ((o, rest_o), (n, rest_n)):
        k = pd.DataFrame(side.keys(rows), columns=KEY_COLUMNS)
        k["occ"] = k.groupby(KEY_COLUMNS, sort=False).cumcount()
        k["row"] = rows
        sides.append(k)
    exact = sides[0].merge(sides[1], on=[*KEY_COLUMNS, "occ"], suffixes=("_o", "_n"))
    m_old.append(exact["row_o"].to_numpy(np.int64))
    m_new.append(exact["row_n"].to_numpy(np.int64))
    left_o = without(rest_o, exact["row_o"].to_numpy(), len(o.pair))
    left_n = without(rest_n, exact["row_n"].to_numpy(), len(n.pair))

    # 3. The rest: an optimal assignment within the same class, on candidate pairs only.
    i, j, over = _assigned(o, n, left_o, left_n, match_iou, True, max_pairs_per_image)
    m_old.append(left_o[i])
    m_new.append(left_n[j])
    # 4. What is still unpaired (outside images over the limit): across classes.
    skip = np.zeros(len(o.image_pos) + 1, bool)
    skip[over.image] = True  # the extra last entry stands for pair -1 (never in ``left``)
    free_o = without(left_o, np.concatenate([left_o[i], left_o[skip[o.pair[left_o]]]]), len(o.pair))
    free_n = without(left_n, np.concatenate([left_n[j], left_n[skip[n.pair[left_n]]]]), len(n.pair))
    i, j, _ = _assigned(o, n, free_o, free_n, match_iou, False, max_pairs_per_image)
    m_old, m_new = _cat(m_old), _cat(m_new)
    r_old, r_new = free_o[i], free_n[j]
    by_old, by_old_r = np.argsort(m_old, kind="stable"), np.argsort(r_old, kind="stable")
    return BoxMatch(m_old[by_old], m_new[by_old], r_old[by_old_r], r_new[by_old_r], over)


def _assigned(
    o: BoxSide,
    n: BoxSide,
    rows_o: np.ndarray,
    rows_n: np.ndarray,
    match_iou: float,
    same_class: bool,
    max_pairs_per_image: int,
) -> tuple[np.ndarray, np.ndarray, OverLimit]:
    """Positions ``(i, j)`` in ``rows_o`` and ``rows_n`` paired by :func:`assign` among pairs of
    the same image pair with score >= ``match_iou`` (and of the same or of another class)."""
    k = len(rows_o)
    xywh = np.vstack([o.xywh[rows_o], n.xywh[rows_n]])
    cls = np.concatenate([o.cls[rows_o], n.cls[rows_n]])
    image = np.concatenate([o.pair[rows_o], n.pair[rows_n]])
    x0, w = xywh[:, 0], xywh[:, 2]
    valid = np.isfinite(xywh).all(axis=1) & (w > 0) & (xywh[:, 3] > 0)
    nan_x = np.isnan(x0)
    # The sweep's reach: IoU >= t needs the right box to start within (1 - t) * w of the left
    # one, a same box within SAME_BOX_PX (NaN x0: only with another NaN x0, in its own group).
    # A box at x = +-inf pairs with nothing; with t <= 0 every pair of an image qualifies.
    if match_iou > 0:
        x_key = np.where(nan_x, 0.0, x0)
        w_valid = np.where(valid, w, 0.0)
        reach = np.maximum((1 - match_iou) * w_valid, SAME_BOX_PX) + 1e-9 * (np.abs(x_key) + w_valid)
        group = nan_x.astype(np.int64)
        usable = ~np.isinf(x0)
    else:
        x_key, reach = np.zeros(len(x0)), np.zeros(len(x0))
        group, usable = np.zeros(len(x0), np.int64), np.ones(len(x0), bool)
    if same_class:
        group = cls * 2 + group
    index = np.flatnonzero(usable)

    def accept(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        p, q = index[p], index[q]
        ok = (p < k) != (q < k)  # one box of each version
        if not same_class:
            ok &= cls[p] != cls[q]
        p, q = p[ok], q[ok]
        ok[ok] = box_score(xywh[p], xywh[q]) >= match_iou
        return ok

    i, j, over = sweep_pairs(
        image[index],
        x_key[index],
        reach[index],
        accept,
        group=group[index],
        max_pairs_per_image=max_pairs_per_image,
    )
    i, j = index[i], index[j]  # i < j: OLD's box first
    a, b = assign(i, j - k, box_score(xywh[i], xywh[j]), k, len(rows_n))
    return a, b, over


def assign(
    a: np.ndarray, b: np.ndarray, score: np.ndarray, n_a: int, n_b: int
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal assignment on the edges ``(a[e], b[e])``: most pairs, then the largest total
    score. Returns the chosen ``(a, b)``, sorted by ``a``.

    The optimum splits over the connected components of the edge graph. A component of one
    edge is that pair. The others go to one sparse solver call (LAPJVsp) that needs a *full*
    matching, so each box also gets a private "unpaired" partner at a penalty ``P`` larger
    than any gain in score (P = the component's most pairs + 2), and a pair (a, b) frees the
    partners of a and b to pair with each other at cost 1. Cost of a pair: ``2 - score``
    (never an explicit zero).
    """
    none = np.zeros(0, np.int64)
    if len(a) == 0:
        return none, none
    nodes = n_a + n_b
    graph = sp.coo_array((np.ones(len(a)), (a, n_a + b)), shape=(nodes, nodes))
    _, comp = connected_components(graph, directed=False)
    single = np.bincount(comp[a], minlength=nodes)[comp[a]] == 1
    out_a, out_b = [a[single]], [b[single]]
    e = ~single
    if e.any():
        ua, ea = np.unique(a[e], return_inverse=True)
        ub, eb = np.unique(b[e], return_inverse=True)
        na, nb = len(ua), len(ub)
        most = np.minimum(
            np.bincount(comp[ua], minlength=nodes), np.bincount(comp[n_a + ub], minlength=nodes)
        )
        penalty = most + 2.0
        rows = np.concatenate([ea, np.arange(na), na + np.arange(nb), na + eb])
        cols = np.concatenate([eb, nb + np.arange(na), np.arange(nb), nb + ea])
        cost = np.concatenate(
            [2.0 - score[e], penalty[comp[ua]], penalty[comp[n_a + ub]], np.ones(int(e.sum()))]
        )
        matrix = sp.csr_array((cost, (rows, cols)), shape=(na + nb, nb + na))
        row, col = min_weight_full_bipartite_matching(matrix)
        real = (row < na) & (col < nb)
        out_a.append(ua[row[real]])
        out_b.append(ub[col[real]])
    pa, pb = _cat(out_a), _cat(out_b)
    order = np.argsort(pa, kind="stable")
    return pa[order], pb[order]


def without(rows: np.ndarray, drop: np.ndarray, size: int) -> np.ndarray:
    """``rows`` (sorted, unique box rows) minus ``drop``, by a mask: no sorting."""
    keep = np.zeros(size, bool)
    keep[rows] = True
    keep[drop] = False
    return np.flatnonzero(keep)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def same_box(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Coordinates agree within ``SAME_BOX_PX`` (NaN agrees with NaN), elementwise over boxes."""
    with np.errstate(invalid="ignore"):
        close = (np.abs(a - b) <= SAME_BOX_PX) | (np.isnan(a) & np.isnan(b))
    return close.all(axis=-1)


def box_score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU, except that identical boxes score 1 even when degenerate."""
    return np.where(same_box(a, b), 1.0, iou_xywh(a, b))
