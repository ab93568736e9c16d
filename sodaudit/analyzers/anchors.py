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
"""Lloyd iterations per restart (scipy ``kmeans2``)."""
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
    wh = rows[["w_model", "h_model"]].to_numpy(dtype=np.float64)
    buckets = _bucket_codes(rows["sqrt_area_model"].to_numpy(dtype=np.float64))
    classes = _class_codes(rows)
    thr = config.anchors.ratio_thr

    ratio_names = list(RATIO_PRESETS)
    if selected.assigner == "ratio" and selected.anchors and selected.name not in ratio_names:
        ratio_names.append(selected.name)
    iou_names = list(IOU_PRESETS)
    if selected.assigner == "iou" and selected.anchors and selected.name not in iou_names:
        iou_names.append(selected.name)

    presets: dict[str, dict[str, object]] = {}
    per_box: dict[str, dict[str, np.ndarray]] = {}
    for name in ratio_names:
        count, best = ratio_match(wh, _flat_anchors(MODELS[name]), thr)
        per_box[name] = {"covered": best > 1.0 / thr, "best": best}
        presets[name] = _ratio_stats(MODELS[name], thr, count, best, buckets, classes)
    for name in iou_names:
        preset = MODELS[name]
        best = best_grid_iou(rows, preset, config.imgsz)
        per_box[name] = {"covered": best >= preset.iou_pos, "best": best}
        presets[name] = _iou_stats(preset, best, buckets, classes)

    suggestion = _suggest(wh, config, before_preset=_ratio_reference(selected))
    result.stats.update(
        imgsz=config.imgsz,
        model=config.model,
        ratio_thr=float(thr),
        num_boxes=len(rows),
        num_boxes_without_image_size=int(_unscaled(dataset).sum()),
        presets=presets,
        suggested=suggestion,
    )
    _low_bpr_finding(dataset, config, selected, rows, per_box, presets, suggestion, result)
    if selected.assigner == "iou" and selected.anchors:
        _iou_finding(dataset, config, selected, rows, per_box, presets, result)
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
    w_all = rows["w_model"].to_numpy(dtype=np.float64)
    h_all = rows["h_model"].to_numpy(dtype=np.float64)
    x_all = rows["x"].to_numpy(dtype=np.float64) * scale
    y_all = rows["y"].to_numpy(dtype=np.float64) * scale
    best = np.zeros(len(rows), dtype=np.float64)
    # Blocks of boxes of similar area: an anchor whose area is far from all of a block's can be
    # skipped once every box of the block has a better IoU than it could possibly reach.
    with np.errstate(invalid="ignore", over="ignore"):
        by_area = np.argsort(w_all * h_all)
    for lo in range(0, len(rows), _BLOCK):  # blocks that stay in cache across all anchors
        idx = by_area[lo : lo + _BLOCK]
        out = np.zeros(len(idx), dtype=np.float64)
        _best_grid_iou_block(w_all[idx], h_all[idx], x_all[idx], y_all[idx], preset, imgsz, out)
        best[idx] = out
    return best


def _best_grid_iou_block(
    w: np.ndarray,
    h: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    preset: ModelPreset,
    imgsz: int,
    best: np.ndarray,
) -> None:
    """:func:`best_grid_iou` for one block of boxes, written into ``best``.

    The IoU of a box of area a with an anchor of area A is at most min(a, A) / max(a, A).
    Anchors are tried from the most promising (by that bound over the block's areas) down, and
    one whose bound is below every box's best so far is skipped: it cannot change any maximum,
    so the result is exactly that of trying every anchor.
    """
    cx, cy = x0 + w / 2, y0 + h / 2
    area = w * h
    with np.errstate(invalid="ignore"):
        a_lo, a_hi = (float(area.min()), float(area.max())) if len(area) else (math.nan, math.nan)
    prunable = math.isfinite(a_lo) and math.isfinite(a_hi) and a_lo > 0
    candidates = []
    for level, stride in zip(preset.anchors, preset.strides, strict=True):
        for aw, ah in level:
            bound = _area_ratio_bound(aw * ah, a_lo, a_hi) if prunable else 1.0
            candidates.append((-bound, len(candidates), stride, aw, ah))
    offsets: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    floor = 0.0  # min of ``best`` over the block, refreshed only when it may allow a skip
    for neg_bound, _, stride, aw, ah in sorted(candidates):
        if prunable and -neg_bound * (1 + 1e-9) < floor:
            continue
        if prunable and -neg_bound < 1.0:
            floor = float(best.min())
            if -neg_bound * (1 + 1e-9) < floor:
                continue
        if stride not in offsets:
            cells = max(math.ceil(imgsz / stride), 1)
            # distance from the box centre to the nearest grid centre, per axis
            offsets[stride] = (
                np.abs(cx - (np.clip(np.floor(cx / stride), 0, cells - 1) + 0.5) * stride),
                np.abs(cy - (np.clip(np.floor(cy / stride), 0, cells - 1) + 0.5) * stride),
            )
        dx, dy = offsets[stride]
        # overlap of intervals of lengths p, q with centres d apart: min(p, q, (p+q)/2 - d)
        ix = np.minimum(w, aw)
        np.minimum(ix, (w + aw) / 2 - dx, out=ix)
        np.clip(ix, 0, None, out=ix)
        iy = np.minimum(h, ah)
        np.minimum(iy, (h + ah) / 2 - dy, out=iy)
        np.clip(iy, 0, None, out=iy)
        ix *= iy
        union = area + aw * ah
        union -= ix
        ix /= union
        np.maximum(best, ix, out=best)


def _area_ratio_bound(a: float, lo: float, hi: float) -> float:
    """Largest min/max area ratio of an anchor of area ``a`` and a box with area in [lo, hi]."""
    if a < lo:
        return a / lo
    return hi / a if a > hi else 1.0


# --- stats ----------------------------------------------------------------------------------


def _ratio_stats(
    preset: ModelPreset,
    thr: float,
    count: np.ndarray,
    best: np.ndarray,
    buckets: np.ndarray,
    classes: tuple[np.ndarray, list[str]],
) -> dict[str, object]:
    covered = best > 1.0 / thr
    columns = {"bpr": covered.astype(np.float64), "anchors_per_target": count.astype(np.float64)}
    return {
        "assigner": "ratio",
        "strides": list(preset.strides),
        "anchors": [[list(map(float, a)) for a in level] for level in preset.anchors],
        "ratio_thr": float(thr),
        "bpr": _mean(covered),
        "anchors_per_target": _mean(count),
        "num_uncovered": int((~covered).sum()),
        "by_bucket": _by_bucket(buckets, columns),
        "by_class": _by_class(classes, columns),
    }


def _iou_stats(
    preset: ModelPreset,
    best: np.ndarray,
    buckets: np.ndarray,
    classes: tuple[np.ndarray, list[str]],
) -> dict[str, object]:
    covered = best >= preset.iou_pos
    band = (best >= preset.iou_neg) & ~covered
    columns = {
        "coverage": covered.astype(np.float64),
        "ignore_band_share": band.astype(np.float64),
        "mean_best_iou": best,
    }
    return {
        "assigner": "iou",
        "strides": list(preset.strides),
        "iou_pos": float(preset.iou_pos),
        "iou_neg": float(preset.iou_neg),
        "coverage": _mean(covered),
        "ignore_band_share": _mean(band),
        "below_neg_share": _mean(best < preset.iou_neg),
        "median_best_iou": float(np.median(best)) if len(best) else math.nan,
        "num_uncovered": int((~covered).sum()),
        "by_bucket": _by_bucket(buckets, columns),
        "by_class": _by_class(classes, columns),
    }


def _grouped(codes: np.ndarray, labels: list[str], columns: dict[str, np.ndarray]) -> dict:
    """Mean of each column per group code, with the group size; empty groups are left out."""
    n = np.bincount(codes, minlength=len(labels)) if len(codes) else np.zeros(len(labels), int)
    sums = {k: np.bincount(codes, weights=v, minlength=len(labels)) for k, v in columns.items()}
    out: dict[str, dict[str, object]] = {}
    for i, label in enumerate(labels):
        if n[i]:
            out[label] = {"n": int(n[i]), **{k: float(s[i] / n[i]) for k, s in sums.items()}}
    return out


def _by_bucket(buckets: np.ndarray, columns: dict[str, np.ndarray]) -> dict:
    return _grouped(buckets, bucket_labels(), columns)


def _by_class(classes: tuple[np.ndarray, list[str]], columns: dict[str, np.ndarray]) -> dict:
    codes, labels = classes
    return _grouped(codes, labels, columns)


def _class_codes(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Category codes and names of ``class_name``: grouping by code avoids sorting strings."""
    names = rows["class_name"].astype("category")
    return names.cat.codes.to_numpy().astype(np.int64), [str(c) for c in names.cat.categories]


def bucket_labels() -> list[str]:
    return list(AITOD.labels)


def _bucket_codes(sqrt_area_model: np.ndarray) -> np.ndarray:
    return AITOD.codes(sqrt_area_model)


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


# --- boxes and presets ----------------------------------------------------------------------


def _unscaled(dataset: Dataset) -> np.ndarray:
    """Valid non-ignore boxes whose image size is unknown: no size at model input."""
    b = dataset.boxes
    finite = np.isfinite(b["w_model"].to_numpy()) & np.isfinite(b["h_model"].to_numpy())
    return b["valid"].to_numpy() & ~b["ignore"].to_numpy() & ~finite


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
    wh = _boxes(dataset)[["w_model", "h_model"]].to_numpy(dtype=np.float64)
    return _suggest(wh, config, before_preset=_ratio_reference(_selected(config)))


def _suggest(wh: np.ndarray, config: Config, before_preset: ModelPreset) -> dict[str, object]:
    cfg = config.anchors
    thr = cfg.ratio_thr
    n = int(cfg.num_anchors)
    strides = list(MODELS["yolov5"].strides)
    before_count, before_best = ratio_match(wh, _flat_anchors(before_preset), thr)
    out: dict[str, object] = {
        "status": "ok",
        "imgsz": int(config.imgsz),
        "num_anchors": n,
        "ratio_thr": float(thr),
        "seed": int(cfg.seed),
        "evolve_generations": int(cfg.evolve_generations),
        "num_boxes": len(wh),
        "before_model": before_preset.name,
        "bpr_before": _mean(before_best > 1.0 / thr),
        "anchors_per_target_before": _mean(before_count),
        "strides": strides,
    }
    rng = np.random.default_rng(cfg.seed)
    sample = wh[(wh >= KMEANS_MIN_SIDE_PX).any(axis=1)]
    out["num_kmeans_boxes_total"] = len(sample)
    if len(sample) > KMEANS_MAX_BOXES:
        sample = sample[np.sort(rng.choice(len(sample), KMEANS_MAX_BOXES, replace=False))]
    out["num_kmeans_boxes"] = len(sample)
    out["subsampled"] = len(sample) < out["num_kmeans_boxes_total"]
    distinct = len(pd.DataFrame(sample).drop_duplicates())
    if n <= 0 or distinct < n:
        out.update(status="too_few_boxes", anchors=[], levels=[], bpr=math.nan)
        out["reason"] = (
            f"{distinct} distinct box sizes with a side >= "
            f"{KMEANS_MIN_SIDE_PX:g} px at imgsz; {n} anchors need at least {n}"
        )
        return out

    k = _kmeans(sample, n, rng)
    kmeans_int = _as_int_anchors(k)
    _, best = ratio_match(wh, kmeans_int, thr)
    out["bpr_kmeans"] = _mean(best > 1.0 / thr)
    if cfg.evolve_generations > 0:
        k = _evolve(k, sample, thr, int(cfg.evolve_generations), rng)
    anchors = _as_int_anchors(k)
    count, best = ratio_match(wh, anchors, thr)
    levels = [chunk.tolist() for chunk in np.array_split(anchors.astype(int), len(strides))]
    bpr = _mean(best > 1.0 / thr)
    out.update(
        anchors=anchors.astype(int).tolist(),
        levels=levels,
        bpr=bpr,
        anchors_per_target=_mean(count),
        fitness=_fitness(anchors, sample, thr),
        improves=bool(bpr > out["bpr_before"]),
    )
    return out


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
    per_box: dict[str, dict[str, np.ndarray]],
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
    covered = per_box[ref.name]["covered"]
    best = per_box[ref.name]["best"]
    missed = rows[~covered]
    head = missed.head(MAX_EXAMPLES)
    detail = (
        _size_text(head)
        + ", best ratio "
        + pd.Series(best[~covered][: len(head)]).round(3).astype(str).to_numpy()
    )
    result.tables[f"uncovered_{ref.name}"] = label_table(
        dataset, missed, best_ratio=pd.Series(best[~covered], index=missed.index)
    )
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


def _size_text(rows: pd.DataFrame) -> pd.Series:
    """``w x h px at imgsz`` per row, for a finding's few examples."""
    return rows["w_model"].round(1).astype(str) + "x" + rows["h_model"].round(1).astype(str) + " px at imgsz"


def _iou_finding(
    dataset: Dataset,
    config: Config,
    selected: ModelPreset,
    rows: pd.DataFrame,
    per_box: dict[str, dict[str, np.ndarray]],
    presets: dict[str, dict[str, object]],
    result: AnalyzerResult,
) -> None:
    """The selected IoU-matched model: boxes no anchor on the grid reaches iou_pos with."""
    stats = presets[selected.name]
    coverage = stats["coverage"]
    warn = config.anchors.bpr_warn
    if not len(rows) or not coverage < warn:
        return
    covered = per_box[selected.name]["covered"]
    best = pd.Series(per_box[selected.name]["best"][~covered], index=rows.index[~covered])
    missed = rows[~covered]
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
