"""Evaluation and noise ceilings of the sizes analyzer: what an evaluation can measure at most.

- ``eval_caps``: images with more labels than an evaluator's or detector's cap on detections
  per image, and the labels beyond it (they can never be matched).
- ``nwd_constant_at_imgsz``: the constant C of the Normalized Gaussian Wasserstein Distance
  (Wang et al. 2021, "A Normalized Gaussian Wasserstein Distance for Tiny Object Detection",
  arXiv:2110.13389: C is the dataset's average absolute size, 12.8 for AI-TOD), at model input.
- ``label_noise``: the IoU two independent labelings of one object reach when each box corner is
  off by Gaussian noise of ``sizes.label_noise_sigma_px`` at model input; a detector judged
  against one labeling cannot do better than another labeling, so this is a ceiling on what
  AP at an IoU threshold can measure per size bucket.

Every number is over valid, non-ignore boxes (the sizes analyzer's selection); the size-bucket
numbers over those of images with a known size (sizes at model input).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np

from sodaudit.findings import Finding
from sodaudit.sizepresets import AITOD

NWD_DESCRIPTION = (
    "NWD constant C: mean sqrt(w*h) of valid non-ignore boxes at model input (Wang et al. 2021 set "
    "C to the dataset's average absolute size, 12.8 px for AI-TOD)"
)
LABEL_NOISE_PRESET = AITOD
"""Buckets of the noise ceiling: AI-TOD's by sqrt(w*h) at model input (very_tiny < 8 px, tiny
< 16, small < 32, other), the counts of ``buckets_model.aitod``."""
LABEL_NOISE_SEED = 18
"""Seed of the Monte Carlo: bucket i draws from ``np.random.default_rng([LABEL_NOISE_SEED, i])``,
so a bucket's numbers do not depend on which other buckets are populated."""
LABEL_NOISE_DRAWS = 20_000
"""Pairs of labelings drawn per bucket (standard error <= 0.0035 on a probability)."""
SUGGESTED_IOUS = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25)
"""IoU thresholds ``suggested_eval_iou`` picks from: down to TinyPerson's 0.25 (Yu et al. 2020,
"Scale Match for Tiny Person Detection", WACV: AP at IoU 0.25 is its main measure for tiny
persons)."""
LABEL_NOISE_METHOD = (
    "Monte Carlo: per bucket, {draws} boxes drawn with replacement from the bucket's boxes (w, h "
    "at model input), each labelled twice with its 4 corner coordinates jittered by independent "
    "N(0, sigma²) px; P(IoU >= t) is the share of pairs that reach t. A labeling whose corners "
    "cross is an empty box (IoU 0). Seed {seed} (numpy default_rng([{seed}, bucket index]))."
)

# Caps on detections per image: pycocotools Params.maxDets (AP uses the last, 100; evaluations of
# crowded datasets raise it to 300 or 1000) and the object queries of DETR (100, Carion et al.
# 2020) and of Deformable DETR / DINO / RT-DETR (300).
EVAL_CAPS: dict[str, int | None] = {
    "cocoeval_100": 100,
    "cocoeval_300": 300,
    "cocoeval_1000": 1000,
    "model_max_det": None,
    "detr_100": 100,
    "detr_300": 300,
}
"""Name -> cap; ``model_max_det`` is the chosen model's ``max_det`` (``--model``)."""


class SizesEvalCap(msgspec.Struct, kw_only=True):
    """Images with more valid, non-ignore labels than a cap, and the labels beyond it."""

    cap: Annotated[int, msgspec.Meta(description="detections kept per image")]
    images: Annotated[int, msgspec.Meta(description="images with more labels than the cap")]
    boxes: Annotated[int, msgspec.Meta(description="sum over images of labels minus the cap, where positive")]


class SizesEvalCaps(msgspec.Struct, kw_only=True):
    """Labels per image beyond the caps of evaluators and detectors (valid, non-ignore labels)."""

    cocoeval_100: SizesEvalCap
    cocoeval_300: SizesEvalCap
    cocoeval_1000: SizesEvalCap
    model_max_det: SizesEvalCap
    detr_100: SizesEvalCap
    detr_300: SizesEvalCap


class SizesNoiseBucket(msgspec.Struct, kw_only=True):
    """One size bucket: its boxes and how often two noisy labelings reach IoU 0.5 and 0.75
    (null for an empty bucket)."""

    boxes: int
    p_iou_50: float
    p_iou_75: float


class SizesLabelNoise(msgspec.Struct, kw_only=True):
    """IoU ceiling from label noise per AI-TOD bucket at model input."""

    sigma_px: Annotated[float, msgspec.Meta(description="Gaussian sigma of each corner, px at model input")]
    method: str
    draws: Annotated[int, msgspec.Meta(description="pairs of labelings per populated bucket")]
    seed: int
    preset: Annotated[str, msgspec.Meta(description="bucket preset, by sqrt(w*h) at model input")]
    buckets: dict[str, SizesNoiseBucket]
    min_p: Annotated[float, msgspec.Meta(description="probability the suggested IoU must reach")]
    tiniest_bucket: Annotated[str | None, msgspec.Meta(description="smallest populated bucket")] = None
    suggested_eval_iou: Annotated[
        float | None,
        msgspec.Meta(
            description="largest IoU of 0.5, 0.45, ..., 0.25 that two labelings of the tiniest "
            "bucket reach with probability >= min_p; null when none does"
        ),
    ] = None


def eval_caps(counts: np.ndarray, model_max_det: int) -> SizesEvalCaps:
    """Per cap of :data:`EVAL_CAPS`, over ``counts`` (labels per image, from ``boxes_per_image``)."""
    counts = np.asarray(counts, dtype=np.int64)
    out = {}
    for name, cap in EVAL_CAPS.items():
        cap = model_max_det if cap is None else cap
        beyond = counts - cap
        over = beyond > 0
        out[name] = SizesEvalCap(cap=int(cap), images=int(over.sum()), boxes=int(beyond[over].sum()))
    return SizesEvalCaps(**out)


def nwd_constant(sqrt_area_model: np.ndarray) -> float:
    """Mean sqrt(w*h) at model input over the finite values (NaN when there are none)."""
    v = np.asarray(sqrt_area_model, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def noisy_iou(w: np.ndarray, h: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """IoU of two labelings of each box (w, h), every corner coordinate of each jittered by
    N(0, sigma²); a labeling whose corners cross is empty (IoU 0)."""
    w = np.asarray(w, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    e = rng.standard_normal((8, len(w))) * sigma
    ax1, ay1, ax2, ay2 = e[0], e[1], w + e[2], h + e[3]
    bx1, by1, bx2, by2 = e[4], e[5], w + e[6], h + e[7]
    area_a = np.clip(ax2 - ax1, 0, None) * np.clip(ay2 - ay1, 0, None)
    area_b = np.clip(bx2 - bx1, 0, None) * np.clip(by2 - by1, 0, None)
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = iw * ih
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def label_noise(
    w_model: np.ndarray,
    h_model: np.ndarray,
    sigma: float,
    min_p: float,
    draws: int = LABEL_NOISE_DRAWS,
    seed: int = LABEL_NOISE_SEED,
) -> SizesLabelNoise:
    """The noise ceiling per bucket of :data:`LABEL_NOISE_PRESET` over boxes (w, h) at model
    input (finite sizes only), and the suggested IoU of the smallest populated bucket."""
    w = np.asarray(w_model, dtype=np.float64)
    h = np.asarray(h_model, dtype=np.float64)
    finite = np.isfinite(w) & np.isfinite(h)
    w, h = w[finite], h[finite]
    codes = LABEL_NOISE_PRESET.codes(np.sqrt(w * h))
    sigma = abs(float(sigma))
    buckets: dict[str, SizesNoiseBucket] = {}
    tiniest: str | None = None
    suggested: float | None = None
    for i, name in enumerate(LABEL_NOISE_PRESET.labels):
        members = np.flatnonzero(codes == i)
        if not len(members):
            buckets[name] = SizesNoiseBucket(boxes=0, p_iou_50=float("nan"), p_iou_75=float("nan"))
            continue
        rng = np.random.default_rng([seed, i])
        pick = members[rng.integers(0, len(members), draws)]
        iou = noisy_iou(w[pick], h[pick], sigma, rng)
        buckets[name] = SizesNoiseBucket(
            boxes=len(members), p_iou_50=float(np.mean(iou >= 0.5)), p_iou_75=float(np.mean(iou >= 0.75))
        )
        if tiniest is None:
            tiniest = name
            suggested = next((t for t in SUGGESTED_IOUS if np.mean(iou >= t) >= min_p), None)
    return SizesLabelNoise(
        sigma_px=sigma,
        method=LABEL_NOISE_METHOD.format(draws=draws, seed=seed),
        draws=int(draws),
        seed=int(seed),
        preset=LABEL_NOISE_PRESET.name,
        buckets=buckets,
        min_p=float(min_p),
        tiniest_bucket=tiniest,
        suggested_eval_iou=suggested,
    )


def bucket_range(name: str) -> str:
    """A bucket of :data:`LABEL_NOISE_PRESET` as a range of sqrt(w*h): ``< 8 px``, ``8-16 px``."""
    i = LABEL_NOISE_PRESET.labels.index(name)
    bounds = LABEL_NOISE_PRESET.bounds
    if i == 0:
        return f"< {bounds[0]:g} px"
    if i == len(bounds):
        return f">= {bounds[-1]:g} px"
    return f"{bounds[i - 1]:g}-{bounds[i]:g} px"


def noise_ceiling_message(noise: SizesLabelNoise, imgsz: int, num_model_sized: int) -> str | None:
    """The ``sizes.noise_ceiling`` text when the smallest populated bucket reaches IoU 0.5 less
    often than ``min_p``, else None."""
    name = noise.tiniest_bucket
    if name is None:
        return None
    b = noise.buckets[name]
    if not b.p_iou_50 < noise.min_p:
        return None
    share = b.boxes / num_model_sized if num_model_sized else 0.0
    labels = "label" if b.boxes == 1 else "labels"
    suggested = (
        f"they reach IoU {noise.suggested_eval_iou:g} at least {noise.min_p:.0%} of the time: "
        f"evaluate them at IoU {noise.suggested_eval_iou:g}"
        if noise.suggested_eval_iou is not None
        else f"even at IoU {SUGGESTED_IOUS[-1]:g} they agree less than {noise.min_p:.0%} of the time"
    )
    return (
        f"With {noise.sigma_px:g} px of label noise per box corner at imgsz {imgsz}, two labelings "
        f"of one AI-TOD {name} object ({bucket_range(name)}: {b.boxes} {labels}, {share:.1%}) reach "
        f"IoU 0.5 only {b.p_iou_50:.0%} of the time: evaluation at IoU 0.5 can measure at most "
        f"about {b.p_iou_50:.0%} recall there; {suggested} (TinyPerson evaluates at 0.25)"
    )


def noise_ceiling_finding(
    noise: SizesLabelNoise, imgsz: int, num_model_sized: int, warn_share: float, analyzer: str
) -> Finding | None:
    """``sizes.noise_ceiling`` (:func:`noise_ceiling_message`): a warning when the bucket holds at
    least ``warn_share`` of the labels with a size at model input, else info."""
    message = noise_ceiling_message(noise, imgsz, num_model_sized)
    if message is None or noise.tiniest_bucket is None:
        return None
    bucket = noise.buckets[noise.tiniest_bucket]
    return Finding.of(
        "sizes.noise_ceiling",
        message,
        analyzer,
        raised=bucket.boxes >= warn_share * num_model_sized,
        value=bucket.p_iou_50,
        threshold=noise.min_p,
        count=bucket.boxes,
    )


__all__ = [
    "EVAL_CAPS",
    "LABEL_NOISE_DRAWS",
    "LABEL_NOISE_PRESET",
    "LABEL_NOISE_SEED",
    "NWD_DESCRIPTION",
    "SUGGESTED_IOUS",
    "SizesEvalCap",
    "SizesEvalCaps",
    "SizesLabelNoise",
    "SizesNoiseBucket",
    "bucket_range",
    "eval_caps",
    "label_noise",
    "noise_ceiling_finding",
    "noise_ceiling_message",
    "noisy_iou",
    "nwd_constant",
]
