"""Anchors: can the model's anchors represent the boxes, at the size the model sees them?

Two matching rules, both at model input (after the letterbox resize to imgsz, no random
scaling, over valid non-ignore boxes):

- ``ratio`` (YOLOv5 ``check_anchors``): r = wh / anchor, m = min over (w, h) of min(r, 1/r);
  a box is covered by an anchor when m > 1 / ratio_thr. BPR is the share of boxes covered by
  at least one anchor, anchors per target the mean number of covering anchors.
- ``iou`` (RetinaNet, Faster R-CNN): the best IoU any anchor on the stride grid can reach.

Suggested anchors are fitted as YOLOv5's ``kmean_anchors`` does (k-means on the boxes' wh at
imgsz whitened by std, then 1000 generations of evolution by default) and judged as its
``check_anchors`` does: they replace the default anchors only when their BPR is higher, else the
result says the defaults are kept. :func:`suggest_for_sizes` does this for box sides at any
model input (the recommendation layer's plan scale).

This module is the analyzer (stats, suggestion, findings); the matching rules are in
:mod:`~sodaudit.analyzers.anchor_match`, the k-means and evolution in
:mod:`~sodaudit.analyzers.anchor_fit`, the typed stats in :mod:`~sodaudit.analyzers.anchors_stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from sodaudit.analyzers import anchor_fit
from sodaudit.analyzers.anchor_fit import anchors_yaml as anchors_yaml  # re-exported: cli, recommend
from sodaudit.analyzers.anchor_match import grid_iou, ratio_count, ratio_match
from sodaudit.analyzers.anchors_stats import (
    AnchorsIouGroup,
    AnchorsIouPreset,
    AnchorsPreset,
    AnchorsRatioGroup,
    AnchorsRatioPreset,
    AnchorsStats,
    AnchorsSuggestion,
)
from sodaudit.analyzers.base import LABEL_COLUMNS, AnalyzerResult, label_examples, label_rows, label_table
from sodaudit.analyzers.sizes import group_means, model_sized, num_selected
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.errors import ConfigError
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.models import MODELS, ModelPreset
from sodaudit.sizepresets import AITOD

NAME = "anchors"

RATIO_PRESETS = ("yolov5",)
"""Always reported: ``presets.yolov5.{bpr, anchors_per_target}`` is a stable JSON key."""
IOU_PRESETS = ("retinanet", "faster-rcnn")
"""Always reported: cheap, and they show what an IoU-matched detector would miss."""


KMEANS_MAX_BOXES = 10_000
"""k-means and the evolution's fitness run on a seeded sample of this many boxes when there are
more; BPR is always computed on every box.

YOLOv5 clusters every box. scipy's ``kmeans`` with ``iter=30`` is 30 restarts, each running
Lloyd's algorithm to convergence (about 100 passes over the boxes on COCO-like sizes): about
1 s on 10k boxes, 9 s on 50k, minutes on COCO's 860k; the evolution costs 1000 fitness passes.
A uniform sample of 10k boxes gives the same size mix to within about 1% per cluster, and the
BPR shown for any anchors is measured on every box, whichever sample fitted them."""
KMEANS_MIN_SIDE_PX = 2.0
"""YOLOv5 clusters only labels with a side of at least 2 px at imgsz."""

G = TypeVar("G", AnchorsRatioGroup, AnchorsIouGroup)


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Coverage of the ratio and IoU presets, suggested anchors, and the findings."""
    if dataset.imgsz != config.imgsz:
        dataset = dataset.with_imgsz(config.imgsz)
    selected = _selected(config)
    result = AnalyzerResult(NAME, "Anchors")
    rows = model_sized(dataset, *LABEL_COLUMNS, "sqrt_area_model", "scale")
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

    presets: dict[str, AnchorsPreset] = {}
    counts: dict[str, np.ndarray] = {}
    for name in ratio_names:
        counts[name] = ratio_count(w, h, _flat_anchors(MODELS[name]), thr)
        presets[name] = _ratio_stats(MODELS[name], thr, counts[name], groups)
    scale = rows["scale"].to_numpy(dtype=np.float64)
    x0 = rows["x"].to_numpy(dtype=np.float64) * scale
    y0 = rows["y"].to_numpy(dtype=np.float64) * scale
    iou_best = {name: grid_iou(w, h, x0, y0, MODELS[name], config.imgsz) for name in iou_names}
    for name in iou_names:
        presets[name] = _iou_stats(MODELS[name], iou_best[name], groups)

    reference = _ratio_reference(selected)
    suggestion = _suggest(w, h, config, reference, counts[reference.name], config.imgsz)
    result.stats = AnchorsStats(
        imgsz=config.imgsz,
        model=config.model,
        ratio_thr=float(thr),
        num_boxes=len(rows),
        num_boxes_without_image_size=num_selected(dataset) - len(rows),
        presets=presets,
        suggested=suggestion,
    )
    covered = counts[reference.name] > 0
    _low_bpr_finding(dataset, config, selected, rows, covered, presets, suggestion, result)
    if selected.assigner == "iou" and selected.anchors:
        _iou_finding(dataset, config, selected, rows, iou_best[selected.name], presets, result)
    return result


# --- stats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Groups:
    """Per box: AI-TOD bucket (at model input) and class code, with the labels of both."""

    buckets: np.ndarray
    classes: np.ndarray
    class_labels: list[str]

    @classmethod
    def of(cls, rows: pd.DataFrame) -> _Groups:
        names = rows["class_name"]
        return cls(
            AITOD.codes(rows["sqrt_area_model"].to_numpy(dtype=np.float64)),
            names.cat.codes.to_numpy(),
            [str(c) for c in names.cat.categories],
        )

    def means(self, group: type[G], **columns: np.ndarray) -> dict[str, dict[str, G]]:
        """``by_bucket`` and ``by_class``: :func:`group_means` of the columns, as ``group``s."""
        return {
            "by_bucket": _typed(group_means(self.buckets, list(AITOD.labels), **columns), group),
            "by_class": _typed(group_means(self.classes, self.class_labels, **columns), group),
        }


def _typed(means: dict[str, dict], group: type[G]) -> dict[str, G]:
    return {name: group(**values) for name, values in means.items()}


def _ratio_stats(preset: ModelPreset, thr: float, count: np.ndarray, groups: _Groups) -> AnchorsRatioPreset:
    """BPR and anchors per target overall, per bucket and per class."""
    n = len(count)
    covered = count > 0  # best > 1/thr exactly when some anchor has m > 1/thr
    num_covered = int(np.count_nonzero(covered))
    return AnchorsRatioPreset(
        strides=list(preset.strides),
        anchors=[[(float(w), float(h)) for w, h in level] for level in preset.anchors],
        ratio_thr=float(thr),
        bpr=_ratio(num_covered, n),
        anchors_per_target=_ratio(int(count.sum()), n),
        num_uncovered=n - num_covered,
        **groups.means(AnchorsRatioGroup, bpr=covered, anchors_per_target=count),
    )


def _iou_stats(preset: ModelPreset, best: np.ndarray, groups: _Groups) -> AnchorsIouPreset:
    n = len(best)
    covered = best >= preset.iou_pos
    band = (best >= preset.iou_neg) & ~covered
    num_covered = int(np.count_nonzero(covered))
    return AnchorsIouPreset(
        strides=list(preset.strides),
        iou_pos=float(preset.iou_pos),
        iou_neg=float(preset.iou_neg),
        coverage=_ratio(num_covered, n),
        ignore_band_share=_ratio(int(np.count_nonzero(band)), n),
        below_neg_share=_ratio(int(np.count_nonzero(best < preset.iou_neg)), n),
        median_best_iou=float(np.median(best)) if n else math.nan,
        num_uncovered=n - num_covered,
        **groups.means(AnchorsIouGroup, coverage=covered, ignore_band_share=band, mean_best_iou=best),
    )


def _ratio(count: int, n: int) -> float:
    return count / n if n else math.nan


# --- boxes and presets ----------------------------------------------------------------------


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


def suggest_anchors(dataset: Dataset, config: Config) -> AnchorsSuggestion:
    """:func:`suggest_for_sizes` of the dataset's valid non-ignore boxes at ``config.imgsz``.
    ``sodaudit anchors`` prints :func:`anchors_yaml` of this."""
    if dataset.imgsz != config.imgsz:
        dataset = dataset.with_imgsz(config.imgsz)
    rows = model_sized(dataset)
    return suggest_for_sizes(
        rows["w_model"].to_numpy(dtype=np.float64), rows["h_model"].to_numpy(dtype=np.float64), config
    )


def suggest_for_sizes(
    w_model: np.ndarray, h_model: np.ndarray, config: Config, *, imgsz: int | None = None
) -> AnchorsSuggestion:
    """Anchors for boxes whose sides are already at the model input, as YOLOv5 fits them, and
    whether they beat the default anchors.

    ``w_model``, ``h_model``: one entry per box (finite, positive, in pixels at the model input;
    e.g. the boxes at a plan's scale). ``config.anchors`` gives the number of anchors, the ratio
    rule's ``ratio_thr`` (YOLOv5's ``anchor_t``), ``evolve_generations`` and ``seed``; the
    default anchors are ``config.model``'s when it uses the ratio rule, else YOLOv5's. ``imgsz``
    (default ``config.imgsz``) is the model input size the sides are at: it is recorded in the
    result and scales YOLOv5's random init.

    Steps (YOLOv5 ``kmean_anchors`` then ``check_anchors``): keep boxes with a side >= 2 px,
    sample at most :data:`KMEANS_MAX_BOXES` of them (seeded), k-means whitened by std
    (:func:`anchor_fit.kmeans`), the evolution (:func:`anchor_fit.evolve`), anchors rounded to
    integers; BPR over every box. Status ``ok`` when their BPR is above the defaults', else
    ``defaults_kept`` with the default anchors as ``anchors`` (the fit in ``fitted_anchors``), or
    ``too_few_boxes``. The same inputs and seed give the same result.
    """
    w = np.asarray(w_model, dtype=np.float64)
    h = np.asarray(h_model, dtype=np.float64)
    if w.ndim != 1 or w.shape != h.shape:
        raise ValueError(f"w_model and h_model must be 1-D of one length, got {w.shape} and {h.shape}")
    if not (np.isfinite(w).all() and np.isfinite(h).all() and (w > 0).all() and (h > 0).all()):
        raise ValueError("box sides must be finite and positive")
    before = _ratio_reference(_selected(config))
    count = ratio_count(w, h, _flat_anchors(before), config.anchors.ratio_thr)
    return _suggest(w, h, config, before, count, config.imgsz if imgsz is None else imgsz)


def _suggest(
    w: np.ndarray,
    h: np.ndarray,
    config: Config,
    before: ModelPreset,
    before_count: np.ndarray,
    imgsz: int,
) -> AnchorsSuggestion:
    cfg = config.anchors
    thr = float(cfg.ratio_thr)
    n = int(cfg.num_anchors)
    generations = int(cfg.evolve_generations)
    rng = np.random.default_rng(cfg.seed)  # one stream: sample, then k-means, then evolution
    keep = np.flatnonzero((w >= KMEANS_MIN_SIDE_PX) | (h >= KMEANS_MIN_SIDE_PX))
    num_total = len(keep)
    if num_total > KMEANS_MAX_BOXES:
        keep = keep[np.sort(rng.choice(num_total, KMEANS_MAX_BOXES, replace=False))]
    sample = np.column_stack((w[keep], h[keep]))
    bpr_before = _ratio(int(np.count_nonzero(before_count)), len(w))
    common = {
        "imgsz": int(imgsz),
        "num_anchors": n,
        "ratio_thr": thr,
        "seed": int(cfg.seed),
        "evolve_generations": generations,
        "num_boxes": len(w),
        "before_model": before.name,
        "bpr_before": bpr_before,
        "anchors_per_target_before": _ratio(int(before_count.sum()), len(w)),
        "num_kmeans_boxes_total": num_total,
        "num_kmeans_boxes": len(sample),
        "subsampled": len(sample) < num_total,
    }
    distinct = len(np.unique(sample, axis=0))
    if n <= 0 or distinct < n:
        reason = (
            f"{distinct} distinct box sizes with a side >= "
            f"{KMEANS_MIN_SIDE_PX:g} px at imgsz; {n} anchors need at least {n}"
        )
        return AnchorsSuggestion(
            status="too_few_boxes",
            anchors=[],
            levels=[],
            bpr=math.nan,
            reason=reason,
            strides=list(MODELS["yolov5"].strides),
            **common,
        )

    k = anchor_fit.kmeans(sample, n, rng)
    init = "kmeans"
    if k is None:
        k, init = anchor_fit.random_init(n, imgsz, rng), "random"
    kmeans_int = anchor_fit.as_int_anchors(k)
    count = ratio_count(w, h, kmeans_int, thr)
    fit = {
        "init": init,
        "bpr_kmeans": _ratio(int(np.count_nonzero(count)), len(w)),
        "fitness_kmeans": anchor_fit.fitness(kmeans_int, sample, thr),
    }
    if generations > 0:
        k = anchor_fit.evolve(k, sample, thr, generations, rng)
    fitted = anchor_fit.as_int_anchors(k)
    if not np.array_equal(fitted, kmeans_int):
        count = ratio_count(w, h, fitted, thr)
    bpr_fitted = _ratio(int(np.count_nonzero(count)), len(w))
    fit |= {
        "fitted_anchors": _int_pairs(fitted),
        "bpr_fitted": bpr_fitted,
        "fitness_fitted": anchor_fit.fitness(fitted, sample, thr),
    }
    if bpr_fitted > bpr_before:  # YOLOv5 check_anchors: replace only with a higher BPR
        strides = list(MODELS["yolov5"].strides)
        return AnchorsSuggestion(
            status="ok",
            anchors=_int_pairs(fitted),
            levels=[_int_pairs(chunk) for chunk in np.array_split(fitted, len(strides))],
            strides=strides,
            bpr=bpr_fitted,
            anchors_per_target=_ratio(int(count.sum()), len(w)),
            fitness=fit["fitness_fitted"],
            improves=True,
            **fit,
            **common,
        )
    method = "k-means" + (f" + {generations} generations of evolution" if generations else "")
    reason = (
        f"anchors fitted as YOLOv5 does ({method}) reach BPR {bpr_fitted:.4f}, not above the "
        f"{before.name} anchors' {bpr_before:.4f}: the {before.name} anchors are kept, as YOLOv5's "
        "check_anchors keeps them"
    )
    return AnchorsSuggestion(
        status="defaults_kept",
        anchors=_int_pairs(_flat_anchors(before)),
        levels=[_int_pairs(np.asarray(level, dtype=np.float64)) for level in before.anchors],
        strides=list(before.strides),
        bpr=bpr_before,
        anchors_per_target=common["anchors_per_target_before"],
        fitness=anchor_fit.fitness(_flat_anchors(before), sample, thr),
        improves=False,
        reason=reason,
        **fit,
        **common,
    )


def _int_pairs(anchors: np.ndarray) -> list[tuple[int, int]]:
    """(w, h) pairs as plain ints (the ratio-rule presets and the fitted anchors are integers)."""
    return [(int(np.rint(aw)), int(np.rint(ah))) for aw, ah in anchors]


# --- findings -------------------------------------------------------------------------------


def _low_bpr_finding(
    dataset: Dataset,
    config: Config,
    selected: ModelPreset,
    rows: pd.DataFrame,
    covered: np.ndarray,
    presets: dict[str, AnchorsPreset],
    suggestion: AnchorsSuggestion,
    result: AnalyzerResult,
) -> None:
    """Warn when the selected ratio-rule model (else YOLOv5, as a reference) misses boxes.

    For a model that does not use these anchors the finding is info: the number describes
    YOLOv5, not the model being trained.
    """
    ref = _ratio_reference(selected)
    stats = presets[ref.name]
    assert isinstance(stats, AnchorsRatioPreset)  # the reference is a ratio-rule preset
    bpr = stats.bpr
    warn = config.anchors.bpr_warn
    if not len(rows) or not bpr < warn:
        return
    uses_it = ref.name == selected.name
    missed = label_rows(rows, np.flatnonzero(~covered), "w_model", "h_model")
    # the best ratio of the missed boxes only: ratio_match is elementwise, so the same values
    wh = missed[["w_model", "h_model"]].to_numpy(dtype=np.float64)
    _, best = ratio_match(wh, _flat_anchors(ref), config.anchors.ratio_thr)
    head = missed.head(MAX_EXAMPLES)
    detail = _size_text(head) + ", best ratio " + pd.Series(best[: len(head)]).round(3).astype(str).to_numpy()
    result.tables[f"uncovered_{ref.name}"] = label_table(dataset, missed, best_ratio=best)
    if suggestion.status == "ok":
        after = f"; anchors fitted as YOLOv5 does reach BPR {suggestion.bpr:.4f}"
    elif suggestion.status == "defaults_kept":
        after = (
            f"; anchors fitted as YOLOv5 does reach only BPR {suggestion.bpr_fitted:.4f}, so these are kept"
        )
    else:
        after = ""
    who = "" if uses_it else f" (reference only: {selected.name} does not use these anchors)"
    result.findings.append(
        Finding.of(
            "anchors.low_bpr",
            f"{ref.name} anchors cover {bpr:.4f} of {len(rows)} boxes at imgsz {config.imgsz} "
            f"(best possible recall, ratio rule thr {config.anchors.ratio_thr:g}), below "
            f"{warn:g}: {len(missed)} boxes match no anchor{after}{who}",
            NAME,
            value=float(bpr),
            threshold=float(warn),
            examples=label_examples(dataset, head, detail),
            count=len(missed),
            raised=uses_it,
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
    best_iou: np.ndarray,
    presets: dict[str, AnchorsPreset],
    result: AnalyzerResult,
) -> None:
    """The selected IoU-matched model: boxes no anchor on the grid reaches iou_pos with."""
    stats = presets[selected.name]
    assert isinstance(stats, AnchorsIouPreset)  # the selected model matches by IoU
    coverage = stats.coverage
    warn = config.anchors.bpr_warn
    if not len(rows) or not coverage < warn:
        return
    at = np.flatnonzero(~(best_iou >= selected.iou_pos))
    missed = label_rows(rows, at, "w_model", "h_model")
    best = pd.Series(best_iou[at], index=missed.index)
    result.tables[f"iou_uncovered_{selected.name}"] = label_table(dataset, missed, best_iou=best)
    head = missed.head(MAX_EXAMPLES)
    detail = _size_text(head) + ", best anchor IoU " + best.head(MAX_EXAMPLES).round(3).astype(str)
    result.findings.append(
        Finding.of(
            "anchors.iou_uncovered",
            f"{len(missed)} of {len(rows)} boxes ({1 - coverage:.1%}) overlap no "
            f"{selected.name} anchor on the stride grid with IoU >= {stats.iou_pos:g} at "
            f"imgsz {config.imgsz}; {stats.ignore_band_share:.1%} fall in the ignore band "
            f"[{stats.iou_neg:g}, {stats.iou_pos:g}) and "
            f"{stats.below_neg_share:.1%} below {stats.iou_neg:g} (median best IoU "
            f"{stats.median_best_iou:.2f})",
            NAME,
            value=float(coverage),
            threshold=float(warn),
            examples=label_examples(dataset, head, detail),
            count=len(missed),
        )
    )
