"""Sizes: how big the labels are, in native pixels and at model input, and how crowded images are.

Every statistic is over valid, non-ignore boxes and reads the derived columns of the dataset
(``area``, ``sqrt_area``, ``*_model``, ``rel_area``); nothing here re-derives a size. Sizes at
model input are undefined for images without a known size; those boxes are left out of the
model-input numbers and counted in ``num_unknown_image_size``. One exception: ``buckets.coco_area``
counts the ground truth COCOeval evaluates, by the COCO ``area`` field
(:mod:`sodaudit.analyzers.sizes_buckets`).

Crowding is a blocker, an error each: images with more labels than COCOeval's ``maxDets``
(``sizes.over_eval_max_dets``: evaluation cannot match them all) and than the model's
``max_det`` (``sizes.crowded_images``: the detector cannot output them all). COCOeval is the
evaluator of COCO datasets; a YOLO or VOC dataset is evaluated by its trainer's own validator
(Ultralytics: max_det 300, no cap of 100), so there COCOeval's cap is a note (info).

Evaluation and noise ceilings (``eval_caps``, ``nwd_constant_at_imgsz``, ``label_noise`` and the
``sizes.noise_ceiling`` finding) are in :mod:`sodaudit.analyzers.sizes_ceilings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec
import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.analyzers.group_stats import group_means, group_quantiles, quantile_dict, quantile_key
from sodaudit.analyzers.sizes_buckets import (
    SizesAitodBuckets,
    SizesBucketCounts,
    SizesBuckets,
    SizesBucketsModel,
    SizesCocoAreaBuckets,
    SizesCocoBuckets,
    SizesSodaBuckets,
    SizesTinypersonBuckets,
    buckets_native,
    relative_keys,
)
from sodaudit.analyzers.sizes_ceilings import (
    NWD_DESCRIPTION,
    SizesEvalCaps,
    SizesLabelNoise,
    eval_caps,
    label_noise,
    noise_ceiling_finding,
    nwd_constant,
)
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.models import MODELS
from sodaudit.sizepresets import AITOD, COCO, SODA

NAME = "sizes"
COCOEVAL_MAX_DETS = 100
"""pycocotools ``Params.setDetParams``: ``maxDets = [1, 10, 100]``; AP uses the last. A ground
truth past the 100th detection of its image can never be matched."""
EVAL_CAP_NAME = "COCOeval"
"""The entry of ``sizes.max_det_caps`` that is the evaluator's cap (default 100)."""


SIZE_COLUMNS = ("sqrt_area", "short_side", "long_side")
GROUP_COLUMNS = ("sqrt_area", "short_side")
"""Per-class and per-split quantiles are kept to these two to stay compact."""

Quantiles = dict[str, float]
"""``np.percentile`` of a size by name (``p50``); the names follow ``sizes.quantiles``."""


class SizesMeasures(msgspec.Struct, kw_only=True):
    """Quantiles of sqrt(area), short side and long side, in pixels."""

    sqrt_area: Quantiles
    short_side: Quantiles
    long_side: Quantiles


class SizesQuantiles(msgspec.Struct, kw_only=True):
    """Size quantiles in native pixels and at model input."""

    native: SizesMeasures
    model: SizesMeasures


class SizesGroupMeasures(msgspec.Struct, kw_only=True):
    """Quantiles of sqrt(area) and short side of one group, in pixels."""

    sqrt_area: Quantiles
    short_side: Quantiles


class SizesGroup(msgspec.Struct, kw_only=True):
    """One class or split: its box count and size quantiles, native and at model input."""

    count: int
    native: SizesGroupMeasures
    model: SizesGroupMeasures


class SizesAspect(msgspec.Struct, kw_only=True):
    """Aspect ratios w/h: quantiles and boxes beyond ``extreme_ratio`` either way."""

    quantiles: Quantiles
    extreme_ratio: float
    wide: int
    tall: int
    share_wide: float
    share_tall: float
    share_extreme: float


class SizesCap(msgspec.Struct, kw_only=True):
    """Images over one max-detections cap and the boxes beyond it."""

    cap: int
    images_over: int
    boxes_beyond: int


class SizesPerImage(msgspec.Struct, kw_only=True):
    """Boxes per image (crowding) and the detection caps it exceeds."""

    num_images: int
    quantiles: Quantiles
    mean: float
    max: int
    caps: dict[str, SizesCap]


class SizesHeatmap(msgspec.Struct, kw_only=True):
    """Shares of box centres in a bins x bins grid over the normalised image; rows are y."""

    bins: int
    rows: str
    cols: str
    num_boxes: int
    shares: list[list[float]]


class SizesStats(msgspec.Struct, kw_only=True):
    """Object sizes over valid, non-ignore boxes, native and at model input."""

    imgsz: int
    num_boxes: int
    num_unknown_image_size: int
    quantiles: SizesQuantiles
    per_class: dict[str, SizesGroup]
    per_split: dict[str, SizesGroup]
    buckets: SizesBuckets
    buckets_model: SizesBucketsModel
    aspect: SizesAspect
    per_image: SizesPerImage
    heatmap: SizesHeatmap
    eval_caps: SizesEvalCaps
    nwd_constant_at_imgsz: Annotated[float, msgspec.Meta(description=NWD_DESCRIPTION)]
    label_noise: SizesLabelNoise


HEATMAP_BLOCK = 1 << 20  # boxes _heatmap bins at once: histogramdd's scratch is several arrays a box


def selected(dataset: Dataset, *columns: str) -> pd.DataFrame:
    """The boxes that size statistics are about: valid and not ignored, with only ``columns``
    (a caller names what it reads: a take of every column is a second box table)."""
    if not columns:
        raise ValueError("selected() needs the columns the caller reads")
    return dataset.selected_boxes(*columns)


def num_selected(dataset: Dataset) -> int:
    """How many boxes are valid and not ignored, without taking any column."""
    b = dataset.boxes
    return int(np.count_nonzero(b["valid"].to_numpy() & ~b["ignore"].to_numpy()))


def model_sized(dataset: Dataset, *columns: str) -> pd.DataFrame:
    """Valid, non-ignore boxes that have a size at model input (their image size is known),
    with ``columns`` and ``w_model``, ``h_model``."""
    sel = dataset.selected_boxes(*dict.fromkeys((*columns, "w_model", "h_model")))
    finite = np.isfinite(sel["w_model"].to_numpy()) & np.isfinite(sel["h_model"].to_numpy())
    return sel if finite.all() else sel[finite]


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Size distributions, bucket counts, aspect ratios, crowding and a centre heatmap.

    Each statistic takes the few columns it reads and drops them when done: a take of every
    column read here at once was ~20 columns (1.3 GB at 8.6M boxes)."""
    sel = selected(dataset, "image_id", "scale")
    num_boxes = len(sel)
    known = np.isfinite(sel["scale"].to_numpy())
    counts = boxes_per_image(dataset, sel)
    del sel
    q = config.sizes.quantiles
    quantiles = SizesQuantiles(
        native=SizesMeasures(**{c: quantile_dict(_column(dataset, c), q) for c in SIZE_COLUMNS}),
        model=SizesMeasures(**{c: quantile_dict(_column(dataset, f"{c}_model"), q) for c in SIZE_COLUMNS}),
    )
    class_names = [str(c) for c in dataset.boxes["class_name"].cat.categories]
    s_model = _column(dataset, "sqrt_area_model")[known]
    stats = SizesStats(
        imgsz=int(dataset.imgsz),
        num_boxes=num_boxes,
        num_unknown_image_size=int(len(known) - np.count_nonzero(known)),
        quantiles=quantiles,
        per_class=_grouped(dataset, "class_name", class_names, q),
        per_split=_grouped(dataset, "split", dataset.splits, q),
        buckets=buckets_native(dataset, selected(dataset, "area", "sqrt_area", "rel_area"), config),
        buckets_model=SizesBucketsModel(
            coco=SizesCocoBuckets(**COCO.counts(s_model * s_model)),
            aitod=SizesAitodBuckets(**AITOD.counts(s_model)),
            soda=SizesSodaBuckets(**SODA.counts(s_model)),
        ),
        aspect=_aspect(selected(dataset, "w", "h"), q, config.sizes.extreme_aspect),
        per_image=_per_image(counts, config),
        heatmap=_heatmap(dataset, known, config.sizes.heatmap_bins),
        eval_caps=eval_caps(counts, MODELS[config.model].max_det),
        nwd_constant_at_imgsz=nwd_constant(s_model),
        label_noise=label_noise(
            _column(dataset, "w_model")[known],
            _column(dataset, "h_model")[known],
            config.sizes.label_noise_sigma_px,
            config.sizes.label_noise_min_p,
        ),
    )
    result = AnalyzerResult(NAME, "Object sizes", stats=stats)
    _findings(dataset, config, num_boxes, counts, stats, result)
    return result


def _column(dataset: Dataset, column: str) -> np.ndarray:
    """One column of the selected boxes."""
    return selected(dataset, column)[column].to_numpy()


def _grouped(dataset: Dataset, by: str, names: Sequence[str], q: Sequence[float]) -> dict[str, SizesGroup]:
    """Count and compact quantiles per group (class or split), native and at model input."""
    columns = [*GROUP_COLUMNS, *(f"{c}_model" for c in GROUP_COLUMNS)]
    by_group = selected(dataset, by)[by]
    groups = group_quantiles(by_group, names, ((c, _column(dataset, c)) for c in columns), q)
    return {
        name: SizesGroup(
            count=g["count"],
            native=SizesGroupMeasures(**{c: g[c] for c in GROUP_COLUMNS}),
            model=SizesGroupMeasures(**{c: g[f"{c}_model"] for c in GROUP_COLUMNS}),
        )
        for name, g in groups.items()
    }


def _aspect(sel: pd.DataFrame, q: Sequence[float], extreme: float) -> SizesAspect:
    ratio = sel["w"].to_numpy() / sel["h"].to_numpy()  # valid boxes: w, h > 0 and finite
    n = len(ratio)
    wide = int(np.count_nonzero(ratio > extreme))
    tall = int(np.count_nonzero(ratio < 1 / extreme))
    return SizesAspect(
        quantiles=quantile_dict(ratio, q),
        extreme_ratio=extreme,
        wide=wide,
        tall=tall,
        share_wide=wide / n if n else 0.0,
        share_tall=tall / n if n else 0.0,
        share_extreme=(wide + tall) / n if n else 0.0,
    )


def image_positions(image_ids: np.ndarray, box_image_ids: np.ndarray) -> np.ndarray:
    """Row of each box's image in the sorted ``image_ids`` (every box's id must be there)."""
    return np.searchsorted(image_ids, box_image_ids)


def boxes_per_image(dataset: Dataset, sel: pd.DataFrame) -> np.ndarray:
    """Selected boxes per image, in the order of ``dataset.images`` (sorted by image id): a
    ``np.bincount`` of the boxes' image positions."""
    image_ids = dataset.images["image_id"].to_numpy()
    pos = image_positions(image_ids, sel["image_id"].to_numpy())
    return np.bincount(pos, minlength=len(image_ids)).astype(np.int64)


def _per_image(counts: np.ndarray, config: Config) -> SizesPerImage:
    caps = {}
    for name, cap in config.sizes.max_det_caps:
        over = counts > cap
        caps[name] = SizesCap(
            cap=int(cap),
            images_over=int(over.sum()),
            boxes_beyond=int((counts[over] - cap).sum()),
        )
    return SizesPerImage(
        num_images=len(counts),
        quantiles=quantile_dict(counts, config.sizes.quantiles),
        mean=float(counts.mean()) if len(counts) else float("nan"),
        max=int(counts.max()) if len(counts) else 0,
        caps=caps,
    )


def _heatmap(dataset: Dataset, known: np.ndarray, bins: int) -> SizesHeatmap:
    """Shares of box centres in a bins x bins grid over the normalised image; rows are y.
    Over the selected boxes of known image size (``known``, over the selected boxes)."""

    def column(name: str) -> np.ndarray:
        values = selected(dataset, name)[name].to_numpy(np.float64)
        return values if known.all() else values[known]

    def centre(start: str, side: str, size: str) -> np.ndarray:
        c = np.array(column(start), dtype=np.float64)  # a copy: never a view of the box table
        with np.errstate(invalid="ignore", divide="ignore"):
            c += column(side) / 2
            c /= column(size)
        return np.clip(c, 0, 1, out=c)  # centres past the border land in the edge cells

    cx = centre("x", "w", "img_w")
    cy = centre("y", "h", "img_h")
    hist = np.zeros((bins, bins))
    for lo in range(0, len(cx), HEATMAP_BLOCK):
        at = slice(lo, lo + HEATMAP_BLOCK)
        hist += np.histogram2d(cy[at], cx[at], bins=bins, range=[[0, 1], [0, 1]])[0]
    total = hist.sum()
    shares = hist / total if total else hist
    return SizesHeatmap(bins=int(bins), rows="y", cols="x", num_boxes=int(total), shares=shares.tolist())


def _findings(
    dataset: Dataset,
    config: Config,
    num_selected: int,
    counts: np.ndarray,
    stats: SizesStats,
    result: AnalyzerResult,
) -> None:
    model_coco = stats.buckets_model.coco
    n_known = model_coco.small + model_coco.medium + model_coco.large
    if n_known:
        share = model_coco.small / n_known
        if share > config.sizes.mostly_small_share:
            result.findings.append(
                Finding.of(
                    "sizes.mostly_small",
                    f"{model_coco.small} of {n_known} labels ({share:.1%}) are COCO-small "
                    f"(area < {COCO.bounds[0]:g} px²) at imgsz {dataset.imgsz}",
                    NAME,
                    value=share,
                    threshold=config.sizes.mostly_small_share,
                    count=model_coco.small,
                )
            )
    aspect = stats.aspect
    if aspect.share_extreme > config.sizes.extreme_aspect_share:
        n = aspect.wide + aspect.tall
        result.findings.append(
            Finding.of(
                "sizes.extreme_aspect",
                f"{n} of {num_selected} labels ({aspect.share_extreme:.1%}) have an aspect ratio "
                f"beyond {config.sizes.extreme_aspect:g}:1 ({aspect.wide} wide, {aspect.tall} tall)",
                NAME,
                value=aspect.share_extreme,
                threshold=config.sizes.extreme_aspect_share,
                count=n,
            )
        )
    noise = noise_ceiling_finding(
        stats.label_noise,
        dataset.imgsz,
        stats.num_boxes - stats.num_unknown_image_size,
        config.sizes.label_noise_warn_share,
        NAME,
    )
    result.findings.extend([noise] if noise else [])
    caps = dict(config.sizes.max_det_caps)
    eval_cap = int(caps.get(EVAL_CAP_NAME, COCOEVAL_MAX_DETS))
    coco = dataset.format == "coco"
    _cap_finding(
        "sizes.over_eval_max_dets",
        eval_cap,
        f"COCOeval's maxDets for AP (pycocotools keeps the {eval_cap} best detections per image)",
        "can never be matched: recall and AP on those images are capped"
        + ("" if coco else " when this dataset is evaluated with pycocotools"),
        dataset,
        counts,
        result,
        raised=coco,
    )
    preset = MODELS.get(config.model)
    if preset is not None:
        _cap_finding(
            "sizes.crowded_images",
            preset.max_det,
            f"the max_det of {preset.name} (detections kept per image after NMS)",
            "cannot be detected",
            dataset,
            counts,
            result,
        )


def _cap_finding(
    code: str,
    cap: int,
    cap_text: str,
    loss_text: str,
    dataset: Dataset,
    counts: np.ndarray,
    result: AnalyzerResult,
    raised: bool = True,
) -> None:
    """One error (a note with ``raised=False``) for the images with more labels than a detections
    cap: the images over it and the labels beyond it (per image, its count minus the cap), the
    most crowded as examples."""
    over = counts > cap
    if not over.any():
        return
    n_images, beyond = int(over.sum()), int((counts[over] - cap).sum())
    order = np.argsort(-counts[over], kind="stable")[:MAX_EXAMPLES]
    names = dataset.images["file_name"].to_numpy()[over][order]
    examples = tuple(f"{n} ({c} boxes)" for n, c in zip(names, counts[over][order], strict=True))
    result.findings.append(
        Finding.of(
            code,
            f"{n_images} {'image has' if n_images == 1 else 'images have'} more than {cap} labels "
            f"(up to {int(counts.max())}), {cap_text}; {beyond} "
            f"{'label' if beyond == 1 else 'labels'} beyond the cap {loss_text}",
            NAME,
            raised=raised,
            value=float(n_images),
            threshold=float(cap),
            examples=examples,
            count=n_images,
        )
    )


__all__ = [
    "SizesAitodBuckets",
    "SizesBucketCounts",
    "SizesBuckets",
    "SizesBucketsModel",
    "SizesCocoAreaBuckets",
    "SizesCocoBuckets",
    "SizesEvalCaps",
    "SizesLabelNoise",
    "SizesSodaBuckets",
    "SizesStats",
    "SizesTinypersonBuckets",
    "analyze",
    "boxes_per_image",
    "group_means",
    "group_quantiles",
    "image_positions",
    "model_sized",
    "num_selected",
    "quantile_dict",
    "quantile_key",
    "relative_keys",
    "selected",
]
