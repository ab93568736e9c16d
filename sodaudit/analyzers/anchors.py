"""Anchors: can the model's anchors represent the boxes, at the size the model sees them?

Two matching rules, both at model input (after the letterbox resize to imgsz, no random
scaling, over valid non-ignore boxes):

- ``ratio`` (YOLOv5 ``check_anchors``): r = wh / anchor, m = min over (w, h) of min(r, 1/r);
  a box is covered by an anchor when m > 1 / ratio_thr. BPR is the share of boxes covered by
  at least one anchor, anchors per target the mean number of covering anchors.
- ``iou`` (RetinaNet, Faster R-CNN): the best IoU any anchor on the stride grid can reach.

Suggested anchors (YOLOv5's ``kmean_anchors`` and ``check_anchors``, for a model with
YOLOv5-style anchors only) are fitted in :mod:`~sodaudit.analyzers.anchor_suggest`.

This module is the analyzer (stats, findings); the matching rules are in
:mod:`~sodaudit.analyzers.anchor_match`, the k-means and evolution in
:mod:`~sodaudit.analyzers.anchor_fit`, the typed stats in :mod:`~sodaudit.analyzers.anchors_stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from sodaudit.analyzers.anchor_match import grid_ious, ratio_count, ratio_match
from sodaudit.analyzers.anchor_suggest import (
    fit_suggestion,
    fits_anchors,
    flat_anchors,
    not_fitted,
    ratio_reference,
    selected_preset,
    share,
)
from sodaudit.analyzers.anchors_stats import (
    AnchorsIouGroup,
    AnchorsIouPreset,
    AnchorsPreset,
    AnchorsRatioGroup,
    AnchorsRatioPreset,
    AnchorsStats,
    AnchorsSuggestion,
)
from sodaudit.analyzers.base import AnalyzerResult, box_label_rows, label_examples, label_table
from sodaudit.analyzers.sizes import group_means, model_sized, num_selected
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.models import MODELS, ModelPreset
from sodaudit.sizepresets import AITOD

NAME = "anchors"

RATIO_PRESETS = ("yolov5",)
"""Always reported: ``presets.yolov5.{bpr, anchors_per_target}`` is a stable JSON key."""
IOU_PRESETS = ("retinanet", "faster-rcnn")
"""Always reported: cheap, and they show what an IoU-matched detector would miss."""


G = TypeVar("G", AnchorsRatioGroup, AnchorsIouGroup)


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Coverage of the ratio and IoU presets, suggested anchors, and the findings."""
    if dataset.imgsz != config.imgsz:
        dataset = dataset.with_imgsz(config.imgsz)
    selected = selected_preset(config)
    result = AnalyzerResult(NAME, "Anchors")
    rows = model_sized(dataset, "class_name", "sqrt_area_model")
    w = rows["w_model"].to_numpy(dtype=np.float64)
    h = rows["h_model"].to_numpy(dtype=np.float64)
    groups = _Groups.of(rows)
    # From here only the rows' index is read: the label lists take their few rows' columns
    # from the box table, and each column held here is 69 MB at 8.6M boxes.
    rows = rows[[]]
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
        counts[name] = ratio_count(w, h, flat_anchors(MODELS[name]), thr)
        presets[name] = _ratio_stats(MODELS[name], thr, counts[name], groups)
    corner = dataset.box_columns("x", "y", "scale", rows=rows.index.to_numpy())
    scale = corner["scale"].to_numpy(dtype=np.float64)
    x0 = corner["x"].to_numpy(dtype=np.float64) * scale
    y0 = corner["y"].to_numpy(dtype=np.float64) * scale
    del corner, scale
    iou_best = grid_ious(w, h, x0, y0, [MODELS[name] for name in iou_names], config.imgsz)
    for name in iou_names:
        presets[name] = _iou_stats(MODELS[name], iou_best[name], groups)

    reference = ratio_reference(selected)
    if fits_anchors(selected):
        suggestion = fit_suggestion(w, h, config, reference, counts[reference.name], config.imgsz)
    else:
        suggestion = not_fitted(w, h, config, selected, counts[reference.name])
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
        bpr=share(num_covered, n),
        anchors_per_target=share(int(count.sum()), n),
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
        coverage=share(num_covered, n),
        ignore_band_share=share(int(np.count_nonzero(band)), n),
        below_neg_share=share(int(np.count_nonzero(best < preset.iou_neg)), n),
        median_best_iou=float(np.median(best)) if n else math.nan,
        num_uncovered=n - num_covered,
        **groups.means(AnchorsIouGroup, coverage=covered, ignore_band_share=band, mean_best_iou=best),
    )


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
    ref = ratio_reference(selected)
    stats = presets[ref.name]
    assert isinstance(stats, AnchorsRatioPreset)  # the reference is a ratio-rule preset
    bpr = stats.bpr
    warn = config.anchors.bpr_warn
    if not len(rows) or not bpr < warn:
        return
    uses_it = ref.name == selected.name
    missed = box_label_rows(dataset, rows, np.flatnonzero(~covered), "w_model", "h_model")
    # the best ratio of the missed boxes only: ratio_match is elementwise, so the same values
    wh = missed[["w_model", "h_model"]].to_numpy(dtype=np.float64)
    _, best = ratio_match(wh, flat_anchors(ref), config.anchors.ratio_thr)
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
    missed = box_label_rows(dataset, rows, at, "w_model", "h_model")
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
