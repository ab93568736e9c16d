"""Anchors: can the model's anchors represent the boxes, at the size the model sees them?

Two matching rules, both at model input (after the letterbox resize to imgsz, no random
scaling, over valid non-ignore boxes):

- ``ratio`` (YOLOv5 ``check_anchors``): r = wh / anchor, m = min over (w, h) of min(r, 1/r);
  a box is covered by an anchor when m > 1 / ratio_thr. BPR is the share of boxes covered by
  at least one anchor, anchors per target the mean number of covering anchors.
- ``iou`` (RetinaNet, Faster R-CNN): the best IoU any anchor on the stride grid can reach.

Suggested anchors are k-means on the boxes' wh at imgsz (YOLOv5's ``kmean_anchors``: whitened
by std, optional evolutionary refinement), with their BPR next to the default anchors' BPR.

This module is the analyzer (stats, suggestion, findings); the matching rules are in
:mod:`~sodaudit.analyzers.anchor_match`, the k-means and evolution in
:mod:`~sodaudit.analyzers.anchor_fit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sodaudit.analyzers import anchor_fit
from sodaudit.analyzers.anchor_fit import anchors_yaml as anchors_yaml  # re-exported: cli, recommend
from sodaudit.analyzers.anchor_match import RatioCounter, grid_ious, ratio_match
from sodaudit.analyzers.anchor_match import best_grid_iou as best_grid_iou  # re-exported
from sodaudit.analyzers.anchor_match import ratio_count as ratio_count  # re-exported
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


KMEANS_MAX_BOXES = 50_000
"""k-means (and the evolution's fitness) runs on a seeded subsample beyond this many boxes;
BPR is always computed on every box. On 860k COCO-like boxes a 50k sample gave the BPR of a
100k sample to 1e-5 (fitness 0.645 vs 0.648) at half the cost: k-means was the largest single
cost of an audit of 100k+ boxes."""
KMEANS_MIN_SIDE_PX = 2.0
"""YOLOv5 clusters only labels with a side of at least 2 px at imgsz."""


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Coverage of the ratio and IoU presets, suggested anchors, and the findings."""
    if dataset.imgsz != config.imgsz:
        dataset = dataset.with_imgsz(config.imgsz)
    selected = _selected(config)
    result = AnalyzerResult(NAME, "Anchors")
    rows = _boxes(dataset)
    w = rows["w_model"].to_numpy(dtype=np.float64)
    h = rows["h_model"].to_numpy(dtype=np.float64)
    groups = _Groups.of(rows)
    thr = config.anchors.ratio_thr

    ratio_names = list(RATIO_PRESETS)
    if selected.assigner == "ratio" and selected.anchors and selected.name not in ratio_names:
        ratio_names.append(selected.name)
    iou_names = list(IOU_PRESETS)
    if selected.assigner == "iou" and selected.anchors and selected.name not in iou_names:
        iou_names.append(selected.name)

    counter = RatioCounter(w, h, thr)
    presets: dict[str, dict[str, object]] = {}
    covered: dict[str, np.ndarray] = {}
    for name in ratio_names:
        count = counter.count(_flat_anchors(MODELS[name]))
        covered[name] = count > 0  # best > 1/thr exactly when some anchor has m > 1/thr
        presets[name] = _ratio_stats(MODELS[name], thr, count, groups)
    scale = rows["scale"].to_numpy(dtype=np.float64)
    x0 = rows["x"].to_numpy(dtype=np.float64) * scale
    y0 = rows["y"].to_numpy(dtype=np.float64) * scale
    ious = grid_ious(w, h, x0, y0, [MODELS[name] for name in iou_names], config.imgsz)
    iou_best = dict(zip(iou_names, ious, strict=True))
    for name in iou_names:
        presets[name] = _iou_stats(MODELS[name], iou_best[name], groups)

    suggestion = _suggest(w, h, config, _ratio_reference(selected), counter)
    result.stats.update(
        imgsz=config.imgsz,
        model=config.model,
        ratio_thr=float(thr),
        num_boxes=len(rows),
        num_boxes_without_image_size=len(dataset.selected_boxes()) - len(rows),
        presets=presets,
        suggested=suggestion,
    )
    _low_bpr_finding(dataset, config, selected, rows, covered, presets, suggestion, result)
    if selected.assigner == "iou" and selected.anchors:
        _iou_finding(dataset, config, selected, rows, iou_best[selected.name], presets, result)
    return result


# --- stats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Groups:
    """Per box: AI-TOD bucket and class code, and the labels of both (computed once)."""

    buckets: np.ndarray
    classes: np.ndarray
    class_labels: list[str]

    @classmethod
    def of(cls, rows: pd.DataFrame) -> _Groups:
        codes, labels = _class_codes(rows)
        return cls(bucket_codes(rows["sqrt_area_model"].to_numpy(dtype=np.float64)), codes, labels)

    def joint(self, state: np.ndarray, states: int) -> np.ndarray:
        """Boxes per (class, bucket, state): one pass gives every group's integer counts."""
        nb = len(bucket_labels())
        key = self.classes * nb
        key += self.buckets
        key *= states
        key += state
        counts = np.bincount(key, minlength=len(self.class_labels) * nb * states)
        return counts.reshape(len(self.class_labels), nb, states)


def _ratio_stats(preset: ModelPreset, thr: float, count: np.ndarray, groups: _Groups) -> dict[str, object]:
    """BPR and anchors per target overall, per bucket and per class.

    The means are integer sums over integer counts: the same floats as averaging the 0/1 and
    count columns (every partial sum of small integers is exact in float64).
    """
    n = len(count)
    hist = groups.joint(count, int(count.max()) + 1 if n else 1)  # class x bucket x count
    values = np.arange(hist.shape[2])
    sums = {"bpr": hist[:, :, 1:].sum(axis=2), "anchors_per_target": hist @ values}
    num_covered = int(sums["bpr"].sum())
    return {
        "assigner": "ratio",
        "strides": list(preset.strides),
        "anchors": [[list(map(float, a)) for a in level] for level in preset.anchors],
        "ratio_thr": float(thr),
        "bpr": _ratio(num_covered, n),
        "anchors_per_target": _ratio(int(sums["anchors_per_target"].sum()), n),
        "num_uncovered": n - num_covered,
        "by_bucket": _grouped_counts(
            hist.sum(axis=(0, 2)), {k: v.sum(axis=0) for k, v in sums.items()}, bucket_labels()
        ),
        "by_class": _grouped_counts(
            hist.sum(axis=(1, 2)), {k: v.sum(axis=1) for k, v in sums.items()}, groups.class_labels
        ),
    }


def _iou_stats(preset: ModelPreset, best: np.ndarray, groups: _Groups) -> dict[str, object]:
    n = len(best)
    covered = best >= preset.iou_pos
    # state per box: 2 covered, 1 in the ignore band [iou_neg, iou_pos), 0 otherwise
    state = np.maximum(covered.view(np.int8) * 2, (best >= preset.iou_neg).view(np.int8))
    hist = groups.joint(state, 3)  # class x bucket x state
    num = {"coverage": int(hist[:, :, 2].sum()), "ignore_band_share": int(hist[:, :, 1].sum())}

    def group(axis: int, codes: np.ndarray, labels: list[str]) -> dict:
        counts = hist.sum(axis=axis)  # group x state
        sums = {"coverage": counts[:, 2], "ignore_band_share": counts[:, 1]}
        iou_sums = np.bincount(codes, weights=best, minlength=len(labels)) if n else np.zeros(len(labels))
        return _grouped_counts(counts.sum(axis=1), sums, labels, mean_best_iou=iou_sums)

    return {
        "assigner": "iou",
        "strides": list(preset.strides),
        "iou_pos": float(preset.iou_pos),
        "iou_neg": float(preset.iou_neg),
        "coverage": _ratio(num["coverage"], n),
        "ignore_band_share": _ratio(num["ignore_band_share"], n),
        "below_neg_share": _mean(best < preset.iou_neg),
        "median_best_iou": float(np.median(best)) if n else math.nan,
        "num_uncovered": n - num["coverage"],
        "by_bucket": group(0, groups.buckets, bucket_labels()),
        "by_class": group(1, groups.classes, groups.class_labels),
    }


def _grouped_counts(
    n: np.ndarray, int_sums: dict[str, np.ndarray], labels: list[str], **float_sums: np.ndarray
) -> dict:
    """Mean of each column per group from its sums, with the group size; empty groups left out.

    ``int_sums`` hold exact integer sums (counts), ``float_sums`` bincount-weighted sums.
    """
    sums = {k: np.asarray(v, dtype=np.float64) for k, v in {**int_sums, **float_sums}.items()}
    out: dict[str, dict[str, object]] = {}
    for i, label in enumerate(labels):
        if n[i]:
            out[label] = {"n": int(n[i]), **{k: float(s[i] / n[i]) for k, s in sums.items()}}
    return out


def _ratio(count: int, n: int) -> float:
    """``np.mean`` of a 0/1 (or small integer) column with this sum: the same float."""
    return float(np.float64(count) / n) if n else math.nan


def _class_codes(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Category codes and names of ``class_name``: grouping by code avoids sorting strings."""
    names = rows["class_name"].astype("category")
    return names.cat.codes.to_numpy().astype(np.int64), [str(c) for c in names.cat.categories]


def bucket_labels() -> list[str]:
    return list(AITOD.labels)


def bucket_codes(sqrt_area_model: np.ndarray) -> np.ndarray:
    """``AITOD.codes`` by one comparison per bound instead of a binary search per value."""
    v = np.asarray(sqrt_area_model, dtype=np.float64)
    if np.isnan(v).any():  # digitize puts NaN past the last bound
        return AITOD.codes(v)
    codes = np.zeros(len(v), dtype=np.int64)
    for bound in AITOD.bounds:  # digitize: the number of (increasing) bounds <= v
        codes += v >= bound
    return codes


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


# --- boxes and presets ----------------------------------------------------------------------


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
    rows = _boxes(dataset)
    w = rows["w_model"].to_numpy(dtype=np.float64)
    h = rows["h_model"].to_numpy(dtype=np.float64)
    counter = RatioCounter(w, h, config.anchors.ratio_thr)
    return _suggest(w, h, config, _ratio_reference(_selected(config)), counter)


def _suggest(
    w: np.ndarray, h: np.ndarray, config: Config, before_preset: ModelPreset, counter: RatioCounter
) -> dict[str, object]:
    cfg = config.anchors
    thr = cfg.ratio_thr
    n = int(cfg.num_anchors)
    strides = list(MODELS["yolov5"].strides)
    before_count = counter.count(_flat_anchors(before_preset))
    out: dict[str, object] = {
        "status": "ok",
        "imgsz": int(config.imgsz),
        "num_anchors": n,
        "ratio_thr": float(thr),
        "seed": int(cfg.seed),
        "evolve_generations": int(cfg.evolve_generations),
        "num_boxes": len(w),
        "before_model": before_preset.name,
        "bpr_before": _ratio(int(np.count_nonzero(before_count)), len(w)),
        "anchors_per_target_before": _ratio(int(before_count.sum()), len(w)),
        "strides": strides,
    }
    rng = np.random.default_rng(cfg.seed)
    keep = np.flatnonzero((w >= KMEANS_MIN_SIDE_PX) | (h >= KMEANS_MIN_SIDE_PX))
    out["num_kmeans_boxes_total"] = len(keep)
    if len(keep) > KMEANS_MAX_BOXES:
        keep = keep[np.sort(rng.choice(len(keep), KMEANS_MAX_BOXES, replace=False))]
    sample = np.column_stack((w[keep], h[keep]))
    out["num_kmeans_boxes"] = len(sample)
    out["subsampled"] = len(sample) < out["num_kmeans_boxes_total"]
    distinct = anchor_fit.distinct_rows(sample, at_least=n)
    if n <= 0 or distinct < n:
        out.update(status="too_few_boxes", anchors=[], levels=[], bpr=math.nan)
        out["reason"] = (
            f"{distinct} distinct box sizes with a side >= "
            f"{KMEANS_MIN_SIDE_PX:g} px at imgsz; {n} anchors need at least {n}"
        )
        return out

    k = anchor_fit.kmeans(sample, n, rng)
    kmeans_int = anchor_fit.as_int_anchors(k)
    out["bpr_kmeans"] = _ratio(int(np.count_nonzero(counter.count(kmeans_int))), len(w))
    if cfg.evolve_generations > 0:
        k = anchor_fit.evolve(k, sample, thr, int(cfg.evolve_generations), rng)
    anchors = anchor_fit.as_int_anchors(k)
    count = counter.count(anchors)
    levels = [chunk.tolist() for chunk in np.array_split(anchors.astype(int), len(strides))]
    bpr = _ratio(int(np.count_nonzero(count)), len(w))
    out.update(
        anchors=anchors.astype(int).tolist(),
        levels=levels,
        bpr=bpr,
        anchors_per_target=_ratio(int(count.sum()), len(w)),
        fitness=anchor_fit.fitness(anchors, sample, thr),
        improves=bool(bpr > out["bpr_before"]),
    )
    return out


# --- findings -------------------------------------------------------------------------------


def _low_bpr_finding(
    dataset: Dataset,
    config: Config,
    selected: ModelPreset,
    rows: pd.DataFrame,
    covered: dict[str, np.ndarray],
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
    missed = _label_rows(rows, np.flatnonzero(~covered[ref.name]))
    # the best ratio of the missed boxes only: ratio_match is elementwise, so the same values
    wh = missed[["w_model", "h_model"]].to_numpy(dtype=np.float64)
    _, best = ratio_match(wh, _flat_anchors(ref), config.anchors.ratio_thr)
    head = missed.head(MAX_EXAMPLES)
    detail = _size_text(head) + ", best ratio " + pd.Series(best[: len(head)]).round(3).astype(str).to_numpy()
    result.tables[f"uncovered_{ref.name}"] = label_table(dataset, missed, best_ratio=best)
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


_LABEL_COLUMNS = ["image_id", "class_name", "x", "y", "w", "h", "source_file", "source_line"]


def _label_rows(rows: pd.DataFrame, index: np.ndarray) -> pd.DataFrame:
    """The rows at ``index`` with only the columns a label table, example and size text use:
    a take of ten columns instead of every column of the box table."""
    return rows[[*_LABEL_COLUMNS, "w_model", "h_model"]].take(index)


def _size_text(rows: pd.DataFrame) -> pd.Series:
    """``w x h px at imgsz`` per row, for a finding's few examples."""
    return rows["w_model"].round(1).astype(str) + "x" + rows["h_model"].round(1).astype(str) + " px at imgsz"


def _iou_finding(
    dataset: Dataset,
    config: Config,
    selected: ModelPreset,
    rows: pd.DataFrame,
    best_iou: np.ndarray,
    presets: dict[str, dict[str, object]],
    result: AnalyzerResult,
) -> None:
    """The selected IoU-matched model: boxes no anchor on the grid reaches iou_pos with."""
    stats = presets[selected.name]
    coverage = stats["coverage"]
    warn = config.anchors.bpr_warn
    if not len(rows) or not coverage < warn:
        return
    at = np.flatnonzero(~(best_iou >= selected.iou_pos))
    missed = _label_rows(rows, at)
    best = pd.Series(best_iou[at], index=missed.index)
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
