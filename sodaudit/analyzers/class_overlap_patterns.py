"""Cross-class overlaps that are a labelling *pattern*, not one object labelled twice.

A rider on a bicycle, a person on a motorbike, a plate on a car: two objects, two classes,
one box on top of the other in image after image, drawn by the same protocol. Their pairs
reach ``cross_class_iou`` without being double labels. A class pair is a pattern when all of:

- its pairs occur in at least ``class_overlap.pattern_min_images`` (5) images (a protocol repeats; a few
  images of the same two classes are as likely to be a few double labels);
- the interquartile range of their IoU is below ``class_overlap.pattern_max_iou_iqr`` (0.15) (one protocol
  fixes how the two boxes sit on each other, so the IoU varies little);
- in at least ``class_overlap.pattern_min_consistent_share`` (0.8) of the pairs, the *same* class's box is
  longer on the same side (height or width) by at least ``class_overlap.pattern_min_side_ratio`` (1.15).

The last rule is the one that tells a pattern from consistent double labels: the same object
labelled twice gives two boxes of about the same size, with differences in either direction.
It also bounds what a pattern can be: a box whose side is 1.15x the other's has IoU at most
1 / 1.15 = 0.87 with it, so pairs above that are never taken for a pattern.

Within a pattern class pair, a pair is a *pattern pair* (not a double label) only when it
follows the pattern itself: its larger side is on the pattern's class by at least the ratio,
and its IoU is inside the Tukey fences of the class pair's IoUs (quartiles -/+ 1.5 IQR). The
pairs off the pattern (e.g. the same box labelled twice) stay double labels.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sodaudit.analyzers.base import pair_examples
from sodaudit.analyzers.class_overlap_stats import ClassOverlapPair, ClassOverlapPattern
from sodaudit.config import ClassOverlapConfig
from sodaudit.findings import Finding

TUKEY_K = 1.5
"""Pairs with an IoU beyond the quartiles -/+ this many IQRs are off the pattern."""

SIDES = ("height", "width")
MAX_PATTERNS_NAMED = 3
"""Labelling patterns described in a finding's message; all are in the stats."""
CODE = "class_overlap.cross_class_duplicates"


def find_patterns(
    image_ids: np.ndarray,
    wh: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    iou: np.ndarray,
    codes: np.ndarray,
    names: list[str],
    rule: ClassOverlapConfig,
) -> tuple[np.ndarray, list[ClassOverlapPattern]]:
    """The cross-class pairs ``(i[p], j[p])`` (row indices, with IoU ``iou[p]``) that follow a
    labelling pattern, as a mask over the pairs, and the patterns, most pairs first.

    ``image_ids`` and ``wh`` (width, height) are per row, ``codes`` the rows' class codes into
    ``names``; a class pair is oriented as elsewhere in the analyzer (lower code = class_a).
    """
    mask = np.zeros(len(i), dtype=bool)
    patterns: list[ClassOverlapPattern] = []
    if not len(i):
        return mask, patterns
    k = max(len(names), 1)
    ci, cj = codes[i], codes[j]
    lo, hi = np.minimum(ci, cj), np.maximum(ci, cj)
    # Oriented so that ``a`` is the class_a box of each pair.
    a = np.where(ci == lo, i, j)
    b = np.where(ci == lo, j, i)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = {
            "height": np.log(wh[a, 1] / wh[b, 1]),
            "width": np.log(wh[a, 0] / wh[b, 0]),
        }
    keys = lo.astype(np.int64) * k + hi
    order = np.argsort(keys, kind="stable")
    uniq, starts = np.unique(keys[order], return_index=True)
    bounds = np.append(starts, len(order))
    min_log = math.log(rule.pattern_min_side_ratio)
    for key, start, stop in zip(uniq.tolist(), bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        members = order[start:stop]  # a loop over class pairs, not box pairs
        if len(np.unique(image_ids[a[members]])) < rule.pattern_min_images:
            continue
        values = iou[members]
        q1, median, q3 = (float(v) for v in np.quantile(values, [0.25, 0.5, 0.75]))
        if not q3 - q1 < rule.pattern_max_iou_iqr:
            continue
        best = None  # (share, side, sign)
        for side in SIDES:  # height first: riders, pedestrians on things are taller
            r = log_ratio[side][members]
            for sign in (1.0, -1.0):
                share = float(np.mean(sign * r >= min_log))
                if best is None or share > best[0]:
                    best = (share, side, sign)
        assert best is not None
        share, side, sign = best
        if share < rule.pattern_min_consistent_share:
            continue
        spread = q3 - q1
        follows = (sign * log_ratio[side][members] >= min_log) & (
            (values >= q1 - TUKEY_K * spread) & (values <= q3 + TUKEY_K * spread)
        )
        on = members[follows]
        mask[on] = True
        ca, cb = divmod(key, k)
        patterns.append(
            ClassOverlapPattern(
                class_a=names[ca],
                class_b=names[cb],
                pairs=len(on),
                images=len(np.unique(image_ids[a[on]])),
                other_pairs=len(members) - len(on),
                iou_median=median,
                iou_iqr=spread,
                larger_class=names[ca] if sign > 0 else names[cb],
                side=side,
                side_ratio_median=float(np.exp(np.median(sign * log_ratio[side][on]))),
                consistent_share=share,
            )
        )
    patterns.sort(key=lambda p: (-p.pairs, p.class_a, p.class_b))
    return mask, patterns


def describe(p: ClassOverlapPattern) -> str:
    """One pattern in words, for the findings and the merges evidence."""
    other = p.class_b if p.larger_class == p.class_a else p.class_a
    taller = "taller" if p.side == "height" else "wider"
    return (
        f"{p.class_a}/{p.class_b} in {p.images} images ({p.pairs} pairs, IoU median "
        f"{p.iou_median:.2f}, IQR {p.iou_iqr:.2f}; {p.larger_class} boxes {taller} than "
        f"{other} boxes, median {p.side_ratio_median:.2f}x, in {p.consistent_share:.0%} of pairs)"
    )


def patterns_in_words(patterns: list[ClassOverlapPattern]) -> str:
    """The first :data:`MAX_PATTERNS_NAMED` patterns in words, and how many more."""
    shown = "; ".join(describe(p) for p in patterns[:MAX_PATTERNS_NAMED])
    more = len(patterns) - MAX_PATTERNS_NAMED
    return shown + (f"; and {more} more" if more > 0 else "")


def cross_class_finding(
    table: pd.DataFrame,
    by_pair: list[ClassOverlapPair],
    patterns: list[ClassOverlapPattern],
    n_double: int,
    double_images: int,
    cross_iou: float,
    analyzer: str,
) -> Finding:
    """The double labels among the cross-class pairs (``table``: every pair, with its
    ``pattern`` column); the pattern pairs are named, not counted. When only patterns are
    left, a note (``raised=False``) that says so."""
    n_pattern = sum(p.pairs for p in patterns)
    if not n_double:
        return Finding.of(
            CODE,
            f"No double labels: all {n_pattern} pairs of boxes of different classes with IoU >= "
            f"{cross_iou:g} follow a consistent labelling pattern (two objects, one on the "
            f"other, drawn the same way in many images): {patterns_in_words(patterns)}",
            analyzer,
            raised=False,
            value=0.0,
            threshold=float(cross_iou),
            examples=pair_examples(table),
            count=0,
        )
    left = [(r.pairs - r.pattern_pairs, r.class_a, r.class_b) for r in by_pair if r.pairs > r.pattern_pairs]
    top_n, top_a, top_b = min(left, key=lambda t: (-t[0], t[1], t[2]))
    message = (
        f"{n_double} pairs of boxes of different classes overlap with IoU >= "
        f"{cross_iou:g} in {double_images} images "
        f"(double labels or confusion); most between {top_a} and {top_b} ({top_n} pairs)"
    )
    if patterns:
        message += (
            f"; {n_pattern} more pairs follow a consistent labelling pattern (two objects, one "
            f"on the other, drawn the same way in many images) and are not counted: "
            f"{patterns_in_words(patterns)}"
        )
    return Finding.of(
        CODE,
        message,
        analyzer,
        value=float(n_double),
        threshold=float(cross_iou),
        examples=pair_examples(table[~table["pattern"].to_numpy(dtype=bool)]),
        count=n_double,
    )
