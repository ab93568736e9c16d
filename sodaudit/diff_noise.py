"""The label noise two review passes show: how far the second pass moved the corners of the
boxes it kept (matched, not identical), as one robust sigma per corner coordinate.

If each pass places a corner with independent N(0, sigma^2) error, the difference of two passes
has variance 2 sigma^2, so sigma = sigma_d / sqrt(2), with sigma_d estimated robustly as 1.4826
times the median absolute deviation of the differences (a few real corrections do not inflate
it). Boxes the second pass left identical are not counted: a reviewer who does not touch a box
says nothing about where a second labeler would have put it. The result is what
``sizes.label_noise_sigma_px`` of ``sodaudit run`` expects (model-input pixels at the OLD
version's imgsz), so the label-noise ceiling can be judged with the team's own noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sodaudit.diff_match import BoxSide
from sodaudit.diff_stats import PairMeasures
from sodaudit.findings import Finding

MAD_TO_SIGMA = 1.4826
"""MAD of a normal distribution times this is its standard deviation."""
MIN_PAIRS = 30
"""Edited pairs needed before a sigma is estimated (fewer: null and no finding)."""


def corner_noise(o: BoxSide, n: BoxSide, matched: PairMeasures) -> dict[str, Any]:
    """``stats.label_noise`` of the diff: edited pairs and the robust per-corner sigma, native
    and at model input (each box scaled by its OLD image's letterbox scale)."""
    edited = ~matched.identical
    a, b = o.xywh[matched.old[edited]], n.xywh[matched.new[edited]]
    corners = lambda v: np.column_stack([v[:, 0], v[:, 1], v[:, 0] + v[:, 2], v[:, 1] + v[:, 3]])  # noqa: E731
    with np.errstate(invalid="ignore", over="ignore"):
        d = corners(b) - corners(a)
        scale = o.ds.box_columns("scale", rows=matched.old[edited])["scale"].to_numpy(np.float64)
        d_model = d * scale[:, None]
    ok = np.isfinite(d).all(axis=1) & np.isfinite(d_model).all(axis=1)
    pairs = int(ok.sum())
    out: dict[str, Any] = {"edited_pairs": pairs, "sigma_px_native": None, "sigma_px_model": None}
    if pairs >= MIN_PAIRS:
        out["sigma_px_native"] = _sigma(d[ok])
        out["sigma_px_model"] = _sigma(d_model[ok])
    return out


def _sigma(diffs: np.ndarray) -> float:
    values = diffs.ravel()
    mad = float(np.median(np.abs(values - np.median(values))))
    return MAD_TO_SIGMA * mad / math.sqrt(2)


def noise_finding(noise: dict[str, Any], imgsz: int) -> Finding | None:
    """Info: the estimate, and the ``--set`` that makes ``sodaudit run`` use it."""
    sigma = noise["sigma_px_model"]
    if sigma is None:
        return None
    return Finding.of(
        "diff.label_noise",
        f"The {noise['edited_pairs']:,} boxes NEW kept but moved place a corner with a robust σ of "
        f"{sigma:.2f} px at imgsz {imgsz} ({noise['sigma_px_native']:.2f} px native): run "
        f"sodaudit run --set sizes.label_noise_sigma_px={sigma:.2f} to judge the label-noise ceiling "
        "with this team's own noise",
        "diff",
        value=sigma,
        count=noise["edited_pairs"],
    )
