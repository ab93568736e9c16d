"""The sampling recommendation: oversample (and copy-paste from) the images with small objects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sodaudit.recommend.base import Context, Recommendation, pct
from sodaudit.sizepresets import COCO


def oversample_factor(share: float, target: float) -> float:
    """Repeat factor k for the images with small objects so they make up ``target`` of the draws:
    s k / (s k + 1 - s) = t  =>  k = t (1 - s) / (s (1 - t))."""
    return target * (1 - share) / (share * (1 - target))


def sampling_rec(ctx: Context) -> Recommendation | None:
    """Oversample (and copy-paste from) the images holding small objects when they are rare."""
    cfg = ctx.config.recommend
    images = ctx.dataset.images
    # Masks over the image table, not copies of it: the pool is the images of known size, in
    # train when train has any of them.
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
    area_model = ctx.rows["area"].to_numpy(np.float64) * ctx.final_scale**2
    small = area_model < COCO.bounds[0]
    has_small = np.zeros(len(images), bool)
    has_small[ctx.image_pos[small]] = True
    with_small = has_small[pool]  # image ids are unique: np.isin(pool ids, ids with small)
    s = float(with_small.mean())
    if s == 0 or s >= cfg.small_image_share:
        return None
    t = cfg.oversample_target_share
    k = oversample_factor(s, t)
    repeat = round(k)
    if repeat < 2:  # whole repeats cannot get closer to the target than no oversampling
        return None
    reached = s * repeat / (s * repeat + 1 - s)
    in_pool = pool[ctx.image_pos]
    params = {
        "oversample_factor": round(k, 2),
        "repeat": repeat,
        "images": int(with_small.sum()),
        "split": split or "all",
        "copy_paste": {
            "source_objects": int((small & in_pool).sum()),
            "paste_into": "images without small objects",
        },
    }
    evidence = {
        "small_definition": f"COCO small at model input (w*h < 32^2) {ctx.change}",
        "num_images": num_pool,
        "images_with_small": int(with_small.sum()),
        "share_images_with_small": s,
        "threshold": cfg.small_image_share,
        "target_share": t,
    }
    effect = {
        "share_of_draws_before": s,
        "share_of_draws_after": reached,
        "epoch_images_after": num_pool + int(with_small.sum()) * (repeat - 1),
    }
    summary = (
        f"Oversample the {int(with_small.sum())} of {num_pool} {split or ''} images with small objects "
        f"({pct(s)}, below {cfg.small_image_share:.0%}) {repeat}x (exact factor {k:.2f}) so they make "
        f"{pct(reached)} of the draws (target {t:.0%}); copy-paste their "
        f"{params['copy_paste']['source_objects']} small objects into other images"
    ).replace("  ", " ")
    return Recommendation("sampling", summary, params, evidence, effect, 60)


def _is_split(split: pd.Series, name: str) -> np.ndarray:
    """``split.astype(str) == name`` per row, by the category codes when categorical."""
    if isinstance(split.dtype, pd.CategoricalDtype):
        hits = [i for i, c in enumerate(split.cat.categories) if str(c) == name]
        return np.isin(split.cat.codes.to_numpy(), hits)
    return split.astype(str).to_numpy() == name
