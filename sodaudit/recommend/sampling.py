"""The sampling recommendation: class-aware repeat-factor sampling of the images holding small
objects, where "small" means below the smallest stride at the plan's scale.

The rule is LVIS's (Gupta et al. 2019, sec. 5) as detectron2's ``RepeatFactorTrainingSampler``
and mmdet's ``ClassBalancedDataset`` implement it: a category seen in a share ``f`` of the
training images gets ``r = max(1, sqrt(t / f))``, an image repeats ``max r`` over its
categories. Here the categories are the classes' *small* instances, so images whose small
objects belong to rare classes are drawn more often; repeats are capped (``max_repeat``), and
a class needs ``min_count`` small instances to count as rare rather than as noise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sodaudit.recommend.base import Context, Recommendation, pct
from sodaudit.sizepresets import SIZE_TOLERANCE_PX


def images_per_class(image: np.ndarray, cls: np.ndarray, num_classes: int) -> np.ndarray:
    """Per class code: the distinct images among ``image`` holding it (one count per image)."""
    k = max(num_classes, 1)
    pairs = np.unique(image.astype(np.int64) * k + cls)
    return np.bincount(pairs % k, minlength=num_classes)


def repeat_factors(
    image_of_small: np.ndarray, class_of_small: np.ndarray, num_images: int, t: float
) -> np.ndarray:
    """Per class code: ``max(1, sqrt(t / f))`` with ``f`` the share of the ``num_images`` images
    holding a small instance of the class (1 when it has none)."""
    num_classes = int(class_of_small.max()) + 1 if len(class_of_small) else 0
    f = images_per_class(image_of_small, class_of_small, num_classes) / max(num_images, 1)
    with np.errstate(divide="ignore"):
        r = np.sqrt(t / f)
    return np.where(f > 0, np.maximum(1.0, r), 1.0)


def sampling_rec(ctx: Context) -> Recommendation | None:
    """Repeat the images with small objects of rare classes (LVIS' square-root rule, capped)."""
    cfg = ctx.config.recommend
    images = ctx.dataset.images
    pool = np.isfinite(images["width"].to_numpy(np.float64)) & np.isfinite(
        images["height"].to_numpy(np.float64)
    )
    in_train = pool & _is_split(images["split"], "train")
    split = "train" if in_train.any() else None
    if split is not None:
        pool = in_train
    num_pool = int(np.count_nonzero(pool))
    if num_pool == 0:
        return None
    model_short = ctx.short * ctx.final_scale
    small = (model_short < ctx.min_stride - SIZE_TOLERANCE_PX) & pool[ctx.image_pos]
    if not small.any():
        return None
    col = ctx.rows["class_name"]  # categorical: Dataset.build makes it so
    names = [str(c) for c in col.cat.categories]
    img, cls = ctx.image_pos[small], col.cat.codes.to_numpy()[small].astype(np.int64)
    r_class = np.minimum(repeat_factors(img, cls, num_pool, cfg.repeat_thresh), cfg.max_repeat)
    # A class with fewer small instances than min_count is noise, not a rare class to repeat.
    small_per_class = np.bincount(cls, minlength=len(r_class))
    r_class = np.where(small_per_class[: len(r_class)] >= cfg.min_count, r_class, 1.0)
    r_image = np.ones(len(images))
    np.maximum.at(r_image, img, r_class[cls])
    r_pool = r_image[pool]
    repeated = r_pool > 1.0
    if not repeated.any():
        return None
    epoch = float(r_pool.sum())
    has_small = np.zeros(len(images), bool)
    has_small[img] = True
    share_before = float(has_small[pool].mean())
    share_after = float((r_pool * has_small[pool]).sum() / epoch)
    per_image = images_per_class(img, cls, len(r_class))
    per_class = {
        names[c]: {"repeat_factor": round(float(r_class[c]), 3), "images": int(per_image[c])}
        for c in np.flatnonzero(r_class > 1.0)
    }
    params = {
        "rule": "repeat-factor sampling (LVIS square-root rule), per image the max over the classes "
        "of its small objects",
        "repeat_thresh": cfg.repeat_thresh,
        "max_repeat": cfg.max_repeat,
        "per_class": per_class,
        "how": {
            "detectron2": "DATALOADER.SAMPLER_TRAIN=RepeatFactorTrainingSampler, "
            f"REPEAT_THRESHOLD={cfg.repeat_thresh:g} (its categories are whole classes: close, "
            "not identical)",
            "mmdet": f"ClassBalancedDataset(oversample_thr={cfg.repeat_thresh:g})",
            "ultralytics": "no sampler option: list each image ceil(r) or floor(r) times "
            "(stochastic rounding) in the train .txt",
        },
    }
    evidence = {
        "small_definition": f"short side < {ctx.min_stride} px at model input {ctx.change}",
        "split": split or "all",
        "num_images": num_pool,
        "images_with_small": int(has_small[pool].sum()),
        "small_boxes": int(small.sum()),
    }
    effect = {
        "images_repeated": int(repeated.sum()),
        "max_repeat_factor": float(r_pool.max()),
        "epoch_images_before": num_pool,
        "epoch_images_after": round(epoch),
        "share_of_draws_with_small_before": share_before,
        "share_of_draws_with_small_after": share_after,
    }
    rare = ", ".join(f"{k} {v['repeat_factor']:.2g}x" for k, v in list(per_class.items())[:4])
    summary = (
        f"Repeat-factor sampling of the {int(repeated.sum())} {split or ''} images whose small objects "
        f"(short side < {ctx.min_stride} px {ctx.change}) belong to rare classes ({rare}; threshold "
        f"{cfg.repeat_thresh:g}, capped at {cfg.max_repeat:g}x): images with small objects go from "
        f"{pct(share_before)} to {pct(share_after)} of the draws, the epoch from {num_pool} to "
        f"{math.floor(epoch + 0.5)} images"
    ).replace("  ", " ")
    return Recommendation("sampling", summary, params, evidence, effect, 60)


def _is_split(split: pd.Series, name: str) -> np.ndarray:
    """``split.astype(str) == name`` per row, by the category codes when categorical."""
    if isinstance(split.dtype, pd.CategoricalDtype):
        hits = [i for i, c in enumerate(split.cat.categories) if str(c) == name]
        return np.isin(split.cat.codes.to_numpy(), hits)
    return split.astype(str).to_numpy() == name
