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
from sodaudit.sizepresets import AITOD, COCO, TINYPERSON, bucket_counts

NAME = "sizes"


SIZE_COLUMNS = ("sqrt_area", "short_side", "long_side")
GROUP_COLUMNS = ("sqrt_area", "short_side")
"""Per-class and per-split quantiles are kept to these two to stay compact."""


def quantile_key(q: float) -> str:
    return f"p{q:g}"


def quantile_dict(values: np.ndarray, quantiles: Sequence[float]) -> dict[str, float]:
    """``np.percentile`` (in percent, linear) of the finite values as plain floats; NaN when
    there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    row = np.percentile(v, quantiles) if len(v) else np.full(len(quantiles), np.nan)
    return {quantile_key(q): float(x) for q, x in zip(quantiles, row.tolist(), strict=True)}


def group_quantiles(
    frame: pd.DataFrame, by: str, names: Sequence[str], columns: Sequence[str], quantiles: Sequence[float]
) -> dict[str, dict[str, object]]:
    """Per group: its row count and :func:`quantile_dict` of each column.

    Each group goes to ``np.percentile``: pandas' ``groupby().quantile`` interpolates with a
    one-sided lerp whose last bit sometimes differs from numpy's, and the report keeps numpy's.
    """
    rows = frame.groupby(by, observed=True).indices
    values = {c: frame[c].to_numpy(np.float64) for c in columns}
    none = np.zeros(0, dtype=np.intp)
    out: dict[str, dict[str, object]] = {}
    for name in names:
        at = rows.get(name, none)
        out[name] = {"count": len(at), **{c: quantile_dict(v[at], quantiles) for c, v in values.items()}}
    return out


def group_means(codes: np.ndarray, labels: Sequence[str], **columns: np.ndarray) -> dict[str, dict]:
    """Per group (``codes`` index ``labels``): its size and the mean of each column, by
    ``np.bincount`` sums (exact for 0/1 and count columns); empty groups left out."""
    n = np.bincount(codes, minlength=len(labels))
    sums = {k: np.bincount(codes, weights=v, minlength=len(labels)) for k, v in columns.items()}
    return {
        label: {"n": int(n[i]), **{k: float(s[i] / n[i]) for k, s in sums.items()}}
        for i, label in enumerate(labels)
        if n[i]
    }


def selected(dataset: Dataset) -> pd.DataFrame:
    """The boxes that size statistics are about: valid and not ignored."""
    return dataset.selected_boxes()


def model_sized(dataset: Dataset) -> pd.DataFrame:
    """Valid, non-ignore boxes that have a size at model input (their image size is known)."""
    sel = dataset.selected_boxes()
    finite = np.isfinite(sel["w_model"].to_numpy()) & np.isfinite(sel["h_model"].to_numpy())
    return sel if finite.all() else sel[finite]


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Size distributions, bucket counts, aspect ratios, crowding and a centre heatmap."""
    result = AnalyzerResult(NAME, "Object sizes")
    sel = selected(dataset)
    q = config.sizes.quantiles
    known = np.isfinite(sel["scale"].to_numpy())
    stats = result.stats
    stats["imgsz"] = int(dataset.imgsz)
    stats["num_boxes"] = len(sel)
    stats["num_unknown_image_size"] = int(len(known) - np.count_nonzero(known))
    stats["quantiles"] = {
        "native": {c: quantile_dict(sel[c].to_numpy(), q) for c in SIZE_COLUMNS},
        "model": {c: quantile_dict(sel[f"{c}_model"].to_numpy(), q) for c in SIZE_COLUMNS},
    }
    class_names = [str(c) for c in dataset.boxes["class_name"].cat.categories]
    stats["per_class"] = _grouped(sel, "class_name", class_names, q)
    stats["per_split"] = _grouped(sel, "split", dataset.splits, q)
    stats["buckets"] = _buckets_native(sel, config)
    s_model = sel["sqrt_area_model"].to_numpy()[known]
    stats["buckets_model"] = {"coco": COCO.counts(s_model * s_model), "aitod": AITOD.counts(s_model)}
    stats["aspect"] = _aspect(sel, q, config.sizes.extreme_aspect)
    counts = boxes_per_image(dataset, sel)
    stats["per_image"] = _per_image(counts, config)
    stats["heatmap"] = _heatmap(
        sel.loc[known, ["x", "y", "w", "h", "img_w", "img_h"]], config.sizes.heatmap_bins
    )
    _findings(dataset, config, len(sel), counts, result)
    return result


def _grouped(sel: pd.DataFrame, by: str, names: Sequence[str], q: Sequence[float]) -> dict[str, object]:
    """Count and compact quantiles per group (class or split), native and at model input."""
    columns = [*GROUP_COLUMNS, *(f"{c}_model" for c in GROUP_COLUMNS)]
    groups = group_quantiles(sel, by, names, columns, q)
    return {
        name: {
            "count": g["count"],
            "native": {c: g[c] for c in GROUP_COLUMNS},
            "model": {c: g[f"{c}_model"] for c in GROUP_COLUMNS},
        }
        for name, g in groups.items()
    }


def relative_keys(bounds: Sequence[float]) -> list[str]:
    """Bucket names of the relative preset, in percent of the image area."""
    pct = [f"{b * 100:g}%" for b in bounds]
    keys = [f"<{pct[0]}"] if pct else []
    keys += [f"[{a},{b})" for a, b in pairwise(pct)]
    keys += [f">={pct[-1]}"] if pct else ["all"]
    return keys


def _buckets_native(sel: pd.DataFrame, config: Config) -> dict[str, object]:
    bounds = sorted(config.sizes.relative_area_bounds)
    relative = bucket_counts(sel["rel_area"].to_numpy(), bounds)
    sqrt_area = sel["sqrt_area"].to_numpy()
    return {
        # COCO by w*h (``area``) exactly, as the stable key promises.
        "coco": COCO.counts(sel["area"].to_numpy()),
        "aitod": AITOD.counts(sqrt_area),
        # below_2: TinyPerson leaves objects under 2 px out of its tiny ranges.
        "tinyperson": TINYPERSON.counts(sqrt_area),
        "relative": dict(zip(relative_keys(bounds), relative.tolist(), strict=True)),
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
    """Row of each box's image in the sorted ``image_ids`` (every box's id must be there)."""
    return np.searchsorted(image_ids, box_image_ids)


def boxes_per_image(dataset: Dataset, sel: pd.DataFrame) -> np.ndarray:
    """Selected boxes per image, in the order of ``dataset.images`` (sorted by image id)."""
    counts = sel.groupby("image_id").size()
    return counts.reindex(dataset.images["image_id"], fill_value=0).to_numpy(np.int64)


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


def _heatmap(boxes: pd.DataFrame, bins: int) -> dict[str, object]:
    """Shares of box centres in a bins x bins grid over the normalised image; rows are y."""
    b = {c: boxes[c].to_numpy(np.float64) for c in ("x", "y", "w", "h", "img_w", "img_h")}
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (b["x"] + b["w"] / 2) / b["img_w"]
        cy = (b["y"] + b["h"] / 2) / b["img_h"]
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
