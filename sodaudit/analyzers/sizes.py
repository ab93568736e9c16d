"""Sizes: how big the labels are, in native pixels and at model input, and how crowded images are.

Every statistic is over valid, non-ignore boxes and reads the derived columns of the dataset
(``area``, ``sqrt_area``, ``*_model``, ``rel_area``); nothing here re-derives a size. Sizes at
model input are undefined for images without a known size; those boxes are left out of the
model-input numbers and counted in ``num_unknown_image_size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding, Severity
from sodaudit.models import MODELS
from sodaudit.sizepresets import AITOD, COCO, TINYPERSON, SizePreset, bucket_counts

NAME = "sizes"


SIZE_COLUMNS = ("sqrt_area", "short_side", "long_side")
GROUP_COLUMNS = ("sqrt_area", "short_side")
"""Per-class and per-split quantiles are kept to these two to stay compact."""
MERGE_MAX_RUNS = 4
"""Up to this many sorted runs, numpy's stable sort (which merges runs) beats a fresh sort."""


def quantile_key(q: float) -> str:
    return f"p{q:g}"


def sorted_percentiles(
    sorted_values: np.ndarray, starts: np.ndarray, stops: np.ndarray, quantiles: Sequence[float]
) -> np.ndarray:
    """``np.percentile(sorted_values[a:b], quantiles)`` for every segment ``[a, b)`` at once.

    Each segment must be sorted and finite. The arithmetic is numpy's ``linear`` method step by
    step (virtual index ``(n - 1) * q``, the last element past ``n - 1``, its two-sided lerp),
    so the numbers are bit-identical to ``np.percentile``; but it is one vectorised pass instead
    of a partition, copies and ~50 us of call overhead per segment. Empty segments give NaN.
    Returns an array of shape ``(len(starts), len(quantiles))``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    stops = np.asarray(stops, dtype=np.int64)
    q = np.true_divide(np.asarray(quantiles, dtype=np.float64), 100)
    n = (stops - starts)[:, None]
    virtual = (n - 1) * q[None, :]
    previous = np.floor(virtual)
    above = virtual >= n - 1
    previous[above] = -1  # numpy takes the last element here (and its gamma uses the -1)
    prev_idx = previous.astype(np.intp)
    gamma = virtual - prev_idx
    last = (stops - 1)[:, None]
    a_idx = np.where(above, last, starts[:, None] + prev_idx)
    b_idx = np.where(above, last, a_idx + 1)
    empty = (n == 0).ravel()
    if len(sorted_values) == 0:
        return np.full(virtual.shape, np.nan)
    a_idx[empty] = 0
    b_idx[empty] = 0
    a = sorted_values[a_idx]
    b = sorted_values[b_idx]
    with np.errstate(invalid="ignore"):  # only the placeholder values of empty segments
        diff = b - a
        result = a + diff * gamma
        np.subtract(b, diff * (1 - gamma), out=result, where=gamma >= 0.5)
    result[empty] = np.nan
    return result


def finite_range(sorted_values: np.ndarray, lo: int = 0, hi: int | None = None) -> tuple[int, int]:
    """The finite run ``[a, b)`` of a sorted segment: -inf sorts first, +inf then NaN last."""
    hi = len(sorted_values) if hi is None else hi
    seg = sorted_values[lo:hi]
    return lo + int(np.searchsorted(seg, -np.inf, side="right")), lo + int(
        np.searchsorted(seg, np.inf, side="left")
    )


def quantile_row_dict(row: np.ndarray, quantiles: Sequence[float]) -> dict[str, float]:
    """One row of :func:`sorted_percentiles` as ``{"p50": ...}`` plain floats."""
    return {quantile_key(q): float(v) for q, v in zip(quantiles, row.tolist(), strict=True)}


def quantile_dict(values: np.ndarray, quantiles: Sequence[float]) -> dict[str, float]:
    """Quantiles (in percent) of the finite values as plain floats; NaN when there are none."""
    s = np.sort(np.asarray(values, dtype=np.float64))
    return sorted_quantile_dict(s, quantiles)


def sorted_quantile_dict(sorted_values: np.ndarray, quantiles: Sequence[float]) -> dict[str, float]:
    """:func:`quantile_dict` of values already sorted by ``np.sort`` (NaN/inf allowed)."""
    lo, hi = finite_range(sorted_values)
    row = sorted_percentiles(sorted_values, np.array([lo]), np.array([hi]), quantiles)[0]
    return quantile_row_dict(row, quantiles)


def selected(dataset: Dataset) -> pd.DataFrame:
    """The boxes that size statistics are about: valid and not ignored."""
    return dataset.selected_boxes()


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Size distributions, bucket counts, aspect ratios, crowding and a centre heatmap."""
    result = AnalyzerResult(NAME, "Object sizes")
    sel = selected(dataset)
    q = config.sizes.quantiles
    scale = sel["scale"].to_numpy()
    known = np.isfinite(scale)
    all_known = bool(known.all())
    stats = result.stats
    stats["imgsz"] = int(dataset.imgsz)
    stats["num_boxes"] = len(sel)
    stats["num_unknown_image_size"] = int(len(known) - np.count_nonzero(known))
    cols = {c: sel[c].to_numpy(np.float64) for c in SIZE_COLUMNS}
    cols.update({f"{c}_model": sel[f"{c}_model"].to_numpy(np.float64) for c in SIZE_COLUMNS})
    grouped = {c: cols[c] for c in (*GROUP_COLUMNS, *(f"{c}_model" for c in GROUP_COLUMNS))}
    splits = dataset.splits
    by_split = Segments.sort(group_codes(sel, "split", splits), len(splits), grouped)
    # One sort per column, reused below; the grouped columns are merged from their per-split
    # sorted runs (nothing to do for one split) instead of sorted again.
    ordered = {c: by_split.merged(c) if c in grouped else np.sort(v) for c, v in cols.items()}
    stats["quantiles"] = {
        "native": {c: sorted_quantile_dict(ordered[c], q) for c in SIZE_COLUMNS},
        "model": {c: sorted_quantile_dict(ordered[f"{c}_model"], q) for c in SIZE_COLUMNS},
    }
    class_names = [str(c) for c in dataset.boxes["class_name"].cat.categories]
    by_class = Segments.sort(group_codes(sel, "class_name", class_names), len(class_names), grouped)
    stats["per_class"] = _grouped(by_class, class_names, q)
    stats["per_split"] = _grouped(by_split, splits, q)
    stats["buckets"] = _buckets_native(sel, ordered["sqrt_area"], config)
    s_model = cols["sqrt_area_model"] if all_known else cols["sqrt_area_model"][known]
    stats["buckets_model"] = {"coco": COCO.counts(s_model * s_model), "aitod": AITOD.counts(s_model)}
    stats["aspect"] = _aspect(sel, q, config.sizes.extreme_aspect)
    counts = boxes_per_image(dataset, sel)
    stats["per_image"] = _per_image(counts, config)
    stats["heatmap"] = _heatmap(sel, None if all_known else known, config.sizes.heatmap_bins)
    _findings(dataset, config, len(sel), counts, result)
    return result


def group_codes(sel: pd.DataFrame, column: str, names: Sequence[str]) -> np.ndarray:
    """Index of each row's group in ``names`` (-1 when not listed)."""
    col = sel[column]
    if isinstance(col.dtype, pd.CategoricalDtype):
        # Recode the few categories, then gather: the same codes as pd.Categorical(col, names)
        # without hashing every row.
        lookup = pd.Index(list(names)).get_indexer(col.cat.categories)
        lookup = np.append(lookup, -1).astype(np.int64)  # code -1 (missing) maps to -1
        return lookup[col.cat.codes.to_numpy()]
    return pd.Categorical(col, categories=list(names)).codes.astype(np.int64)


@dataclass
class Segments:
    """Value columns gathered by group and sorted within each group (NaN/inf at the ends)."""

    values: dict[str, np.ndarray]
    counts: np.ndarray
    """Rows per group; slot 0 counts the rows of no listed group (code -1)."""
    starts: np.ndarray
    stops: np.ndarray

    @classmethod
    def sort(cls, codes: np.ndarray, n_groups: int, values: dict[str, np.ndarray]) -> Segments:
        """One stable radix sort of the small codes puts each group's rows together (skipped
        when they already are); each column is gathered once and sorted group by group."""
        small = codes.astype(np.int16 if n_groups < 2**15 else np.int64)
        in_order = len(small) < 2 or bool((small[1:] >= small[:-1]).all())
        order = None if in_order else np.argsort(small, kind="stable")
        counts = np.bincount(codes + 1, minlength=n_groups + 1)
        bounds = np.cumsum(counts)
        starts, stops = bounds[:-1], bounds[1:]
        out = {}
        for name, v in values.items():
            g = v.copy() if order is None else v[order]
            for a, b in zip(starts.tolist(), stops.tolist(), strict=True):  # a loop over groups
                g[a:b].sort()
            out[name] = g
        return cls(out, counts, starts, stops)

    def merged(self, name: str) -> np.ndarray:
        """The whole column sorted (as ``np.sort``): one group is sorted already, a few sorted
        runs merge in one pass of the stable (run-merging) sort."""
        g = self.values[name]
        if self.counts[0] == 0 and len(self.starts) <= 1:
            return g
        if self.counts[0] == 0 and len(self.starts) <= MERGE_MAX_RUNS:
            return np.sort(g, kind="stable")
        return np.sort(g)

    def percentiles(self, name: str, q: Sequence[float]) -> np.ndarray:
        """Quantiles of the finite values of every group, shape ``(groups, len(q))``."""
        g = self.values[name]
        ranges = [
            finite_range(g, a, b) for a, b in zip(self.starts.tolist(), self.stops.tolist(), strict=True)
        ]
        lo = np.array([r[0] for r in ranges], dtype=np.int64)
        hi = np.array([r[1] for r in ranges], dtype=np.int64)
        return sorted_percentiles(g, lo, hi, q)


def _grouped(seg: Segments, names: Sequence[str], q: Sequence[float]) -> dict[str, object]:
    """Count and compact quantiles per group (class or split), read from the sorted segments."""
    per_col = {c: seg.percentiles(c, q) for c in seg.values}
    out: dict[str, object] = {}
    for i, name in enumerate(names):
        out[name] = {
            "count": int(seg.counts[i + 1]),
            "native": {c: quantile_row_dict(per_col[c][i], q) for c in GROUP_COLUMNS},
            "model": {c: quantile_row_dict(per_col[f"{c}_model"][i], q) for c in GROUP_COLUMNS},
        }
    return out


def _count_bins(values: np.ndarray, bounds: Sequence[float], keys: Sequence[str]) -> dict:
    """Counts of values in [-inf, b0), [b0, b1), ..., [b_last, inf) under the given keys."""
    counts = bucket_counts(values, list(bounds))
    return {k: int(n) for k, n in zip(keys, counts.tolist(), strict=True)}


def relative_keys(bounds: Sequence[float]) -> list[str]:
    """Bucket names of the relative preset, in percent of the image area."""
    pct = [f"{b * 100:g}%" for b in bounds]
    keys = [f"<{pct[0]}"] if pct else []
    keys += [f"[{a},{b})" for a, b in pairwise(pct)]
    keys += [f">={pct[-1]}"] if pct else ["all"]
    return keys


def _sorted_counts(sorted_values: np.ndarray, preset: SizePreset) -> dict[str, int]:
    """``preset.counts`` of values already sorted by ``np.sort``: binary searches, no pass."""
    lo, hi = finite_range(sorted_values)
    below = np.searchsorted(sorted_values[lo:hi], np.asarray(preset.bounds, np.float64), side="left")
    n = np.diff(np.concatenate([[0], below, [hi - lo]]))
    return {label: int(c) for label, c in zip(preset.labels, n.tolist(), strict=True)}


def _buckets_native(sel: pd.DataFrame, sorted_sqrt_area: np.ndarray, config: Config) -> dict[str, object]:
    bounds = sorted(config.sizes.relative_area_bounds)
    return {
        # COCO by w*h (``area``) exactly, as the stable key promises.
        "coco": COCO.counts(sel["area"].to_numpy()),
        "aitod": _sorted_counts(sorted_sqrt_area, AITOD),
        # below_2: TinyPerson leaves objects under 2 px out of its tiny ranges.
        "tinyperson": _sorted_counts(sorted_sqrt_area, TINYPERSON),
        "relative": _count_bins(sel["rel_area"].to_numpy(), bounds, relative_keys(bounds)),
        "relative_bounds": [float(b) for b in bounds],
    }


def _aspect(sel: pd.DataFrame, q: Sequence[float], extreme: float) -> dict[str, object]:
    ratio = sel["w"].to_numpy() / sel["h"].to_numpy()  # valid boxes: w, h > 0 and finite
    n = len(ratio)
    wide = int(np.count_nonzero(ratio > extreme))
    tall = int(np.count_nonzero(ratio < 1 / extreme))
    return {
        "quantiles": quantile_dict(ratio, q),
        "extreme_ratio": extreme,
        "wide": wide,
        "tall": tall,
        "share_wide": wide / n if n else 0.0,
        "share_tall": tall / n if n else 0.0,
        "share_extreme": (wide + tall) / n if n else 0.0,
    }


def image_positions(image_ids: np.ndarray, box_image_ids: np.ndarray) -> np.ndarray:
    """Position of each box's image in the sorted ``image_ids`` (every box id must be there)."""
    if len(box_image_ids) > 1 and (box_image_ids[1:] >= box_image_ids[:-1]).all():
        # Boxes in image order (Dataset.build sorts them): one binary search per run of equal
        # ids instead of one per box.
        first = np.flatnonzero(np.concatenate([[True], box_image_ids[1:] != box_image_ids[:-1]]))
        run_len = np.diff(np.append(first, len(box_image_ids)))
        return np.repeat(np.searchsorted(image_ids, box_image_ids[first]), run_len)
    return np.searchsorted(image_ids, box_image_ids)


def boxes_per_image(dataset: Dataset, sel: pd.DataFrame) -> np.ndarray:
    """Selected boxes per image, in the order of ``dataset.images`` (sorted by image id)."""
    ids = dataset.images["image_id"].to_numpy()
    pos = image_positions(ids, sel["image_id"].to_numpy())
    return np.bincount(pos, minlength=len(ids)).astype(np.int64)


def _per_image(counts: np.ndarray, config: Config) -> dict[str, object]:
    caps = {}
    for name, cap in config.sizes.max_det_caps:
        over = counts > cap
        caps[name] = {
            "cap": int(cap),
            "images_over": int(over.sum()),
            "boxes_beyond": int((counts[over] - cap).sum()),
        }
    return {
        "num_images": len(counts),
        "quantiles": quantile_dict(counts, config.sizes.quantiles),
        "mean": float(counts.mean()) if len(counts) else float("nan"),
        "max": int(counts.max()) if len(counts) else 0,
        "caps": caps,
    }


def _heatmap(sel: pd.DataFrame, known: np.ndarray | None, bins: int) -> dict[str, object]:
    """Shares of box centres in a bins x bins grid over the normalised image; rows are y."""

    def col(name: str) -> np.ndarray:
        v = sel[name].to_numpy(np.float64)
        return v if known is None else v[known]

    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (col("x") + col("w") / 2) / col("img_w")
        cy = (col("y") + col("h") / 2) / col("img_h")
    # Centres of boxes hanging past the border land in the edge cells rather than vanish.
    hist, _, _ = np.histogram2d(np.clip(cy, 0, 1), np.clip(cx, 0, 1), bins=bins, range=[[0, 1], [0, 1]])
    total = hist.sum()
    shares = hist / total if total else hist
    return {
        "bins": int(bins),
        "rows": "y",
        "cols": "x",
        "num_boxes": int(total),
        "shares": shares.tolist(),
    }


def _findings(
    dataset: Dataset, config: Config, num_selected: int, counts: np.ndarray, result: AnalyzerResult
) -> None:
    stats = result.stats
    model_coco = stats["buckets_model"]["coco"]
    n_known = sum(model_coco.values())
    if n_known:
        share = model_coco["small"] / n_known
        if share > config.sizes.mostly_small_share:
            result.findings.append(
                Finding(
                    "sizes.mostly_small",
                    Severity.INFO,
                    f"{model_coco['small']} of {n_known} labels ({share:.1%}) are COCO-small "
                    f"(area < {COCO.bounds[0]:g} px²) at imgsz {dataset.imgsz}",
                    NAME,
                    value=share,
                    threshold=config.sizes.mostly_small_share,
                    count=model_coco["small"],
                )
            )
    aspect = stats["aspect"]
    if aspect["share_extreme"] > config.sizes.extreme_aspect_share:
        n = aspect["wide"] + aspect["tall"]
        result.findings.append(
            Finding(
                "sizes.extreme_aspect",
                Severity.INFO,
                f"{n} of {num_selected} labels ({aspect['share_extreme']:.1%}) have an aspect ratio "
                f"beyond {config.sizes.extreme_aspect:g}:1 ({aspect['wide']} wide, {aspect['tall']} tall)",
                NAME,
                value=aspect["share_extreme"],
                threshold=config.sizes.extreme_aspect_share,
                count=n,
            )
        )
    preset = MODELS.get(config.model)
    if preset is None:
        return
    over = counts > preset.max_det
    if over.any():
        images = dataset.images
        order = np.argsort(-counts[over], kind="stable")[:MAX_EXAMPLES]
        names = images["file_name"].to_numpy()[over][order]
        examples = tuple(f"{n} ({c} boxes)" for n, c in zip(names, counts[over][order], strict=True))
        result.findings.append(
            Finding(
                "sizes.crowded_images",
                Severity.WARNING,
                f"{int(over.sum())} images have more than {preset.max_det} labels, the "
                f"max_det of {preset.name} (up to {int(counts.max())}); "
                f"{int((counts[over] - preset.max_det).sum())} labels cannot all be detected",
                NAME,
                value=float(over.sum()),
                threshold=float(preset.max_det),
                examples=examples,
                count=int(over.sum()),
            )
        )
