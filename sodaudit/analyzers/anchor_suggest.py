"""Suggested anchors: fitted as YOLOv5's ``kmean_anchors`` does (k-means on the boxes' wh at the
model input, whitened by std, then an evolution) and judged as its ``check_anchors`` does (they
replace the default anchors only with a higher BPR). Only for a model with YOLOv5-style anchors
(:func:`fits_anchors`); ``sodaudit anchors PATH`` asks for them for any model.

:func:`suggest_for_sizes` serves the analyzer (sides at ``imgsz``) and the recommendation layer
(sides at the plan's scale); the k-means and evolution steps are in
:mod:`~sodaudit.analyzers.anchor_fit`.
"""

from __future__ import annotations

import math

import numpy as np

from sodaudit.analyzers import anchor_fit
from sodaudit.analyzers.anchor_match import ratio_count
from sodaudit.analyzers.anchors_stats import AnchorsSuggestion
from sodaudit.analyzers.sizes import model_sized
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.errors import ConfigError
from sodaudit.models import MODELS, ModelPreset

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


def share(count: int, n: int) -> float:
    return count / n if n else math.nan


# --- boxes and presets ----------------------------------------------------------------------


def selected_preset(config: Config) -> ModelPreset:
    try:
        return MODELS[config.model]
    except KeyError:
        raise ConfigError(f"Unknown model {config.model!r}; use one of {', '.join(MODELS)}.") from None


def ratio_reference(selected: ModelPreset) -> ModelPreset:
    """The ratio-rule anchors the suggestion is compared with: the selected model's, or YOLOv5's."""
    if selected.assigner == "ratio" and selected.anchors:
        return selected
    return MODELS["yolov5"]


def fits_anchors(selected: ModelPreset) -> bool:
    """Whether the audit fits anchors for ``selected``: only a model whose anchors are YOLOv5-style
    (ratio rule) has anchors k-means can replace. Ultralytics runs ``check_anchors`` only for such
    heads (YOLOv5 ``train.py``: ``if not opt.noautoanchor``, on anchor-based ``Detect``); an
    anchor-free model (YOLOv8 and later) has none, and an IoU-matched grid (RetinaNet, Faster
    R-CNN) is set by scales and ratios, not by k-means. ``sodaudit anchors PATH`` fits them on
    demand for any model."""
    return selected.assigner == "ratio" and bool(selected.anchors)


def not_fitted(
    w: np.ndarray, h: np.ndarray, config: Config, selected: ModelPreset, before_count: np.ndarray
) -> AnchorsSuggestion:
    """The suggestion when :func:`fits_anchors` is false: no fit, the reason why."""
    before = ratio_reference(selected)
    kind = "anchor-free" if not selected.anchors else f"{selected.assigner}-matched"
    return AnchorsSuggestion(
        status="not_applicable",
        anchors=[],
        levels=[],
        bpr=math.nan,
        reason=(
            f"{selected.name} is {kind}: it has no YOLOv5-style anchors to fit; "
            "`sodaudit anchors PATH` fits them for a YOLOv5-style model"
        ),
        strides=list(before.strides),
        **common_fields(w, h, config, before, before_count, config.imgsz),
    )


def common_fields(
    w: np.ndarray, h: np.ndarray, config: Config, before: ModelPreset, before_count: np.ndarray, imgsz: int
) -> dict[str, object]:
    """The fields every suggestion has, fitted or not (no sample: ``num_kmeans_boxes`` 0)."""
    cfg = config.anchors
    return {
        "imgsz": int(imgsz),
        "num_anchors": int(cfg.num_anchors),
        "ratio_thr": float(cfg.ratio_thr),
        "seed": int(cfg.seed),
        "evolve_generations": int(cfg.evolve_generations),
        "num_boxes": len(w),
        "before_model": before.name,
        "bpr_before": share(int(np.count_nonzero(before_count)), len(w)),
        "anchors_per_target_before": share(int(before_count.sum()), len(w)),
        "num_kmeans_boxes_total": int(
            np.count_nonzero((w >= KMEANS_MIN_SIDE_PX) | (h >= KMEANS_MIN_SIDE_PX))
        ),
        "num_kmeans_boxes": 0,
        "subsampled": False,
    }


def flat_anchors(preset: ModelPreset) -> np.ndarray:
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
    before = ratio_reference(selected_preset(config))
    count = ratio_count(w, h, flat_anchors(before), config.anchors.ratio_thr)
    return fit_suggestion(w, h, config, before, count, config.imgsz if imgsz is None else imgsz)


def fit_suggestion(
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
    common = common_fields(w, h, config, before, before_count, imgsz)
    common |= {"num_kmeans_boxes": len(sample), "subsampled": len(sample) < num_total}
    bpr_before = common["bpr_before"]
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
        "bpr_kmeans": share(int(np.count_nonzero(count)), len(w)),
        "fitness_kmeans": anchor_fit.fitness(kmeans_int, sample, thr),
    }
    if generations > 0:
        k = anchor_fit.evolve(k, sample, thr, generations, rng)
    fitted = anchor_fit.as_int_anchors(k)
    if not np.array_equal(fitted, kmeans_int):
        count = ratio_count(w, h, fitted, thr)
    bpr_fitted = share(int(np.count_nonzero(count)), len(w))
    fit |= {
        "fitted_anchors": int_pairs(fitted),
        "bpr_fitted": bpr_fitted,
        "fitness_fitted": anchor_fit.fitness(fitted, sample, thr),
    }
    if bpr_fitted > bpr_before:  # YOLOv5 check_anchors: replace only with a higher BPR
        strides = list(MODELS["yolov5"].strides)
        return AnchorsSuggestion(
            status="ok",
            anchors=int_pairs(fitted),
            levels=[int_pairs(chunk) for chunk in np.array_split(fitted, len(strides))],
            strides=strides,
            bpr=bpr_fitted,
            anchors_per_target=share(int(count.sum()), len(w)),
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
        anchors=int_pairs(flat_anchors(before)),
        levels=[int_pairs(np.asarray(level, dtype=np.float64)) for level in before.anchors],
        strides=list(before.strides),
        bpr=bpr_before,
        anchors_per_target=common["anchors_per_target_before"],
        fitness=anchor_fit.fitness(flat_anchors(before), sample, thr),
        improves=False,
        reason=reason,
        **fit,
        **common,
    )


def int_pairs(anchors: np.ndarray) -> list[tuple[int, int]]:
    """(w, h) pairs as plain ints (the ratio-rule presets and the fitted anchors are integers)."""
    return [(int(np.rint(aw)), int(np.rint(ah))) for aw, ah in anchors]
