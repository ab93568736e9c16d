"""Effective sample size per class x size bucket at the plan's scale (issue 18, part 6).

1,000 boxes of a class in one video are not 1,000 examples: frames of one sequence (and copies
of one image) are near repeats. Each cell (class, AI-TOD bucket of sqrt(w*h) at the plan's
model input) counts its boxes by cluster, a cluster being a sequence when the splits analyzer's
grouping finds sequences, else an image, and reports Kish's effective sample size over the
clusters, ``(sum n_g)^2 / sum n_g^2`` (Kish, *Survey Sampling*, 1965: the number of equally
weighted independent draws worth as much as these unequal clusters). It is 1 when every box
sits in one cluster and the box count when each box has a cluster of its own. A cell under
``recommend.min_count`` effective samples is too thin to learn the class at that size, or to
measure it (AP over fewer than ~30 independent instances moves by whole points per instance).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sodaudit.analyzers.splits_groups import Groups, infer_groups
from sodaudit.findings import Finding
from sodaudit.recommend.judged import JudgedRows
from sodaudit.sizepresets import AITOD

MAX_CELLS_LISTED = 200
"""Cells kept in report.json (thinnest first); the count of thin cells covers all of them."""


def effective_samples(
    images: pd.DataFrame,
    rows: pd.DataFrame | JudgedRows,
    box_scale: np.ndarray,
    min_count: int,
    groups: Groups | None = None,
) -> dict[str, Any]:
    """``report.plan.effective_samples``: per cell boxes, images, clusters and Kish's ESS.

    ``rows`` are the judged boxes (``image_id``, ``class_name``, ``w``, ``h``), ``box_scale``
    each one's native -> model-input scale under the plan, ``groups`` the splits analyzer's
    sequences (inferred here when not given). Counted with integer keys and ``np.unique``: no
    grouping of strings over every box."""
    groups = groups if groups is not None else infer_groups(images)
    position = pd.Series(np.arange(len(images)), index=images["image_id"].to_numpy())
    image_pos = position.reindex(rows["image_id"].to_numpy()).to_numpy()
    size = np.sqrt(rows["w"].to_numpy(np.float64) * rows["h"].to_numpy(np.float64)) * box_scale
    n_buckets = len(AITOD.labels)
    bucket = np.minimum(AITOD.codes(size), n_buckets - 1)
    class_code, class_names = _class_codes(rows["class_name"])
    cell = class_code.astype(np.int64) * n_buckets + bucket
    del size, bucket, class_code  # per-box arrays no longer needed before the np.unique sorts
    n_images, n_clusters = len(images), int(groups.codes.max()) + 1 if len(groups.codes) else 1
    key = cell * n_clusters
    key += groups.codes[image_pos]
    cluster_keys, per_cluster = _unique_counts(key)
    del key
    cell *= n_images  # cell and image_pos are not read again: the image key is built in place
    cell += image_pos
    del image_pos
    image_cells = _unique_counts(cell)[0] // n_images  # sorted path
    del cell
    # cluster_keys are sorted, so are their cells: np.unique(..., return_inverse=True) without its sort
    cell_keys = cluster_keys // n_clusters
    first = np.empty(len(cell_keys), bool)
    first[:1] = True
    np.not_equal(cell_keys[1:], cell_keys[:-1], out=first[1:])
    cells, cell_of = cell_keys[first], np.cumsum(first) - 1
    del cell_keys, first
    boxes = np.bincount(cell_of, weights=per_cluster)
    ess = boxes**2 / np.bincount(cell_of, weights=per_cluster.astype(np.float64) ** 2)
    clusters = np.bincount(cell_of)
    n_images_of = np.bincount(np.searchsorted(cells, image_cells), minlength=len(cells))
    order = np.lexsort((cells, ess))  # thinnest first, then class and bucket order
    thin = ess < min_count
    return {
        "clusters": "sequences (" + groups.method + ")" if groups.method != "none" else "images",
        "bucket_preset": AITOD.name,
        "min_effective": min_count,
        "thin_cells": int(thin.sum()),
        "cells": [
            {
                "class": str(class_names[cells[k] // n_buckets]),
                "bucket": AITOD.labels[cells[k] % n_buckets],
                "boxes": int(boxes[k]),
                "images": int(n_images_of[k]),
                "clusters": int(clusters[k]),
                "effective": float(ess[k]),
                "thin": bool(thin[k]),
            }
            for k in order[:MAX_CELLS_LISTED].tolist()  # at most MAX_CELLS_LISTED cells
        ],
    }


def thin_cells_finding(effective: dict[str, Any], change: str) -> Finding | None:
    """Info when some class x size cells hold fewer than ``min_effective`` effective samples."""
    # Shown first: the cells whose boxes shrink most (many boxes, few independent samples); a cell
    # of one box is thin too, but says less.
    thin = sorted((c for c in effective["cells"] if c["thin"]), key=lambda c: c["effective"] - c["boxes"])
    if not effective["thin_cells"]:
        return None
    shown = "; ".join(
        f"{c['class']} {c['bucket'].replace('_', ' ')}: {c['effective']:.1f} from {c['boxes']:,} "
        + ("box" if c["boxes"] == 1 else "boxes")
        for c in thin[:3]
    )
    n = effective["thin_cells"]
    return Finding.of(
        "plan.thin_cells",
        f"{n} class x size {'cell has' if n == 1 else 'cells have'} fewer than {effective['min_effective']} "
        f"effective samples {change} (Kish's ESS over {effective['clusters']}), too few to learn or "
        f"measure: {shown}",
        "plan",
        value=float(n),
        examples=tuple(f"{c['class']} / {c['bucket']}: {c['effective']:.1f} effective" for c in thin[:20]),
        count=n,
    )


def _unique_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_counts=True)``, sorting ``keys`` in place (np.unique sorts a
    copy: 69 MB more at 8.6M boxes). Not plain ``np.unique(keys)`` for the image cells either:
    NumPy 2.4 takes 9.5 s for it on 8.6M random int64 keys here, where a sort takes 0.1 s."""
    keys.sort()
    if not len(keys):
        return keys, np.zeros(0, np.intp)
    first = np.empty(len(keys), bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return keys[starts], np.diff(starts, append=len(keys))


def _class_codes(names: pd.Series) -> tuple[np.ndarray, Sequence[str]]:
    """``pd.factorize(names.astype(str), sort=True)``, from a categorical's codes when it is one:
    not a string per box and a hash of them (0.5 GB at 8.6M boxes)."""
    labels = [str(c) for c in names.cat.categories] if isinstance(names.dtype, pd.CategoricalDtype) else []
    codes = names.cat.codes.to_numpy() if labels else None
    if codes is None or len(set(labels)) != len(labels) or (codes < 0).any():
        return pd.factorize(names.astype(str), sort=True)
    used = sorted(np.flatnonzero(np.bincount(codes, minlength=len(labels))).tolist(), key=labels.__getitem__)
    remap = np.zeros(len(labels), np.int64)
    remap[used] = np.arange(len(used))
    return remap[codes], [labels[k] for k in used]
