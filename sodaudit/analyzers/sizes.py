"""Sizes: how big the labels are, in native pixels and at model input, and how crowded images are.

Every statistic is over valid, non-ignore boxes and reads the derived columns of the dataset
(``area``, ``sqrt_area``, ``*_model``, ``rel_area``); nothing here re-derives a size. Sizes at
model input are undefined for images without a known size; those boxes are left out of the
model-input numbers and counted in ``num_unknown_image_size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding, Severity
from sodaudit.models import MODELS
from sodaudit.sizepresets import AITOD, COCO, TINYPERSON

NAME = "sizes"


SIZE_COLUMNS = ("sqrt_area", "short_side", "long_side")
GROUP_COLUMNS = ("sqrt_area", "short_side")
"""Per-class and per-split quantiles are kept to these two to stay compact."""


def quantile_key(q: float) -> str:
    return f"p{q:g}"


def quantile_dict(values: np.ndarray, quantiles: Sequence[float]) -> dict[str, float]:
    """Quantiles (in percent) of the finite values as plain floats; NaN when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return {quantile_key(q): float("nan") for q in quantiles}
    # Same order statistics, same result; numpy's SIMD sort plus a partition of sorted data is
    # several times faster than partitioning unsorted data at nine quantiles.
    result = np.percentile(np.sort(values), list(quantiles))
    return {quantile_key(q): float(v) for q, v in zip(quantiles, result, strict=True)}


def selected(dataset: Dataset) -> pd.DataFrame:
    """The boxes that size statistics are about: valid and not ignored."""
    return dataset.selected_boxes()


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Size distributions, bucket counts, aspect ratios, crowding and a centre heatmap."""
    result = AnalyzerResult(NAME, "Object sizes")
    sel = selected(dataset)
    q = config.sizes.quantiles
    known = np.isfinite(sel["scale"].to_numpy())
    stats = result.stats
    stats["imgsz"] = int(dataset.imgsz)
    stats["num_boxes"] = len(sel)
    stats["num_unknown_image_size"] = int((~known).sum())
    stats["quantiles"] = {
        "native": {c: quantile_dict(sel[c].to_numpy(), q) for c in SIZE_COLUMNS},
        "model": {c: quantile_dict(sel[f"{c}_model"].to_numpy(), q) for c in SIZE_COLUMNS},
    }
    class_names = [str(c) for c in dataset.boxes["class_name"].cat.categories]
    stats["per_class"] = _grouped(sel, "class_name", class_names, q)
    stats["per_split"] = _grouped(sel, "split", dataset.splits, q)
    stats["buckets"] = _buckets_native(sel, config)
    stats["buckets_model"] = _buckets_model(sel[known])
    stats["aspect"] = _aspect(sel, q, config.sizes.extreme_aspect)
    stats["per_image"] = _per_image(dataset, sel, config)
    stats["heatmap"] = _heatmap(sel[known], config.sizes.heatmap_bins)
    _findings(dataset, config, sel, result)
    return result


def group_codes(sel: pd.DataFrame, column: str, names: Sequence[str]) -> np.ndarray:
    """Index of each row's group in ``names`` (-1 when not listed)."""
    return pd.Categorical(sel[column], categories=list(names)).codes.astype(np.int64)


def _grouped(sel: pd.DataFrame, column: str, names: Sequence[str], q: Sequence[float]) -> dict[str, object]:
    """Count and compact quantiles per group (class or split), by one sort and segment slices."""
    codes = group_codes(sel, column, names)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    native = {c: sel[c].to_numpy()[order] for c in GROUP_COLUMNS}
    model = {c: sel[f"{c}_model"].to_numpy()[order] for c in GROUP_COLUMNS}
    out: dict[str, object] = {}
    for i, name in enumerate(names):
        lo, hi = bounds[i], bounds[i + 1]
        out[name] = {
            "count": int(hi - lo),
            "native": {c: quantile_dict(v[lo:hi], q) for c, v in native.items()},
            "model": {c: quantile_dict(v[lo:hi], q) for c, v in model.items()},
        }
    return out


def _count_bins(values: np.ndarray, bounds: Sequence[float], keys: Sequence[str]) -> dict:
    """Counts of values in [-inf, b0), [b0, b1), ..., [b_last, inf) under the given keys."""
    idx = np.searchsorted(np.asarray(bounds, dtype=np.float64), values, side="right")
    counts = np.bincount(idx, minlength=len(bounds) + 1)
    return {k: int(n) for k, n in zip(keys, counts, strict=True)}


def relative_keys(bounds: Sequence[float]) -> list[str]:
    """Bucket names of the relative preset, in percent of the image area."""
    pct = [f"{b * 100:g}%" for b in bounds]
    keys = [f"<{pct[0]}"] if pct else []
    keys += [f"[{a},{b})" for a, b in pairwise(pct)]
    keys += [f">={pct[-1]}"] if pct else ["all"]
    return keys


def _buckets_native(sel: pd.DataFrame, config: Config) -> dict[str, object]:
    sqrt_area = sel["sqrt_area"].to_numpy()
    rel = sel["rel_area"].to_numpy()
    rel = rel[np.isfinite(rel)]
    bounds = sorted(config.sizes.relative_area_bounds)
    return {
        # COCO by w*h (``area``) exactly, as the stable key promises.
        "coco": COCO.counts(sel["area"].to_numpy()),
        "aitod": AITOD.counts(sqrt_area),
        # below_2: TinyPerson leaves objects under 2 px out of its tiny ranges.
        "tinyperson": TINYPERSON.counts(sqrt_area),
        "relative": _count_bins(rel, bounds, relative_keys(bounds)),
        "relative_bounds": [float(b) for b in bounds],
    }


def _buckets_model(known: pd.DataFrame) -> dict[str, object]:
    s = known["sqrt_area_model"].to_numpy()
    return {"coco": COCO.counts(s * s), "aitod": AITOD.counts(s)}


def _aspect(sel: pd.DataFrame, q: Sequence[float], extreme: float) -> dict[str, object]:
    ratio = sel["w"].to_numpy() / sel["h"].to_numpy()  # valid boxes: w, h > 0 and finite
    n = len(ratio)
    wide = int((ratio > extreme).sum())
    tall = int((ratio < 1 / extreme).sum())
    return {
        "quantiles": quantile_dict(ratio, q),
        "extreme_ratio": extreme,
        "wide": wide,
        "tall": tall,
        "share_wide": wide / n if n else 0.0,
        "share_tall": tall / n if n else 0.0,
        "share_extreme": (wide + tall) / n if n else 0.0,
    }


def boxes_per_image(dataset: Dataset, sel: pd.DataFrame) -> np.ndarray:
    """Selected boxes per image, in the order of ``dataset.images`` (sorted by image id)."""
    ids = dataset.images["image_id"].to_numpy()
    pos = np.searchsorted(ids, sel["image_id"].to_numpy())
    return np.bincount(pos, minlength=len(ids)).astype(np.int64)


def _per_image(dataset: Dataset, sel: pd.DataFrame, config: Config) -> dict[str, object]:
    counts = boxes_per_image(dataset, sel)
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


def _heatmap(known: pd.DataFrame, bins: int) -> dict[str, object]:
    """Shares of box centres in a bins x bins grid over the normalised image; rows are y."""
    cx = ((known["x"] + known["w"] / 2) / known["img_w"]).to_numpy()
    cy = ((known["y"] + known["h"] / 2) / known["img_h"]).to_numpy()
    # Centres of boxes hanging past the border land in the edge cells rather than vanish.
    hist, _, _ = np.histogram2d(np.clip(cy, 0, 1), np.clip(cx, 0, 1), bins=bins, range=[[0, 1], [0, 1]])
    total = hist.sum()
    shares = hist / total if total else hist
    return {
        "bins": int(bins),
        "rows": "y",
        "cols": "x",
        "num_boxes": int(total),
        "shares": [[float(v) for v in row] for row in shares],
    }


def _findings(dataset: Dataset, config: Config, sel: pd.DataFrame, result: AnalyzerResult) -> None:
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
                f"{n} of {len(sel)} labels ({aspect['share_extreme']:.1%}) have an aspect ratio "
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
    counts = boxes_per_image(dataset, sel)
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
