"""The labels recommendation: a minimum-size (remove) rule and an ignore rule at the plan's scale."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sodaudit.recommend.base import Context, Recommendation, pct, what_small_means
from sodaudit.sizepresets import SIZE_TOLERANCE_PX


def labels_rec(ctx: Context) -> Recommendation | None:
    """A minimum-size (remove) rule and an ignore rule at the scale after the primary change."""
    sub = ctx.config.subthreshold
    n = len(ctx.rows)
    too_small = ctx.short < sub.min_side_native_px - SIZE_TOLERANCE_PX  # short: min(w, h)
    model_short = ctx.short * ctx.final_scale
    ignore = (model_short < sub.min_side_model_px - SIZE_TOLERANCE_PX) & ~too_small
    if int(too_small.sum()) + int(ignore.sum()) < ctx.config.recommend.min_count:
        return None  # a handful of labels is noise, not a policy
    # The ignore threshold in native px for the most common image size (scales differ by size).
    cw, ch = most_common_box_image_size(ctx)
    images = ctx.dataset.images
    of_size = (images["width"].to_numpy() == cw) & (images["height"].to_numpy() == ch)
    first = int(np.argmax(of_size[ctx.image_pos]))  # the first judged box in an image of that size
    scale_common = float(ctx.final_scale[first])
    ignore_native = sub.min_side_model_px / scale_common
    params = {
        "remove_below_native_px": sub.min_side_native_px,
        "ignore_below_model_px": sub.min_side_model_px,
        "ignore_below_native_px": round(ignore_native, 2),
        "ignore_native_px_for_image_size": [int(cw), int(ch)],
        "ignore_how": "COCO iscrowd=1 / VOC difficult=1; YOLO has no ignore flag: drop the label "
        "and grey out the object in the image",
    }
    evidence = {
        "num_boxes": n,
        "change": ctx.change,
        "what_small_means": what_small_means(ctx),
        "per_class": flagged_per_class(ctx, ignore | too_small),
    }
    effect = {
        "remove": int(too_small.sum()),
        "remove_share": float(too_small.mean()),
        "ignore": int(ignore.sum()),
        "ignore_share": float(ignore.mean()),
        "kept_as_targets": int(n - too_small.sum() - ignore.sum()),
    }
    summary = (
        f"Label policy: boxes with a side < {sub.min_side_native_px:g} px native: remove or re-annotate — "
        f"{effect['remove']} labels ({pct(effect['remove_share'])}); "
        f"boxes under {ignore_native:.1f} px native "
        f"(short side < {sub.min_side_model_px:g} px at model input {ctx.change}): mark ignore — "
        f"{effect['ignore']} labels ({pct(effect['ignore_share'])})"
    )
    return Recommendation("labels", summary, params, evidence, effect, 50)


def most_common_box_image_size(ctx: Context) -> tuple[float, float]:
    """The (img_w, img_h) holding most judged boxes; ties go to the smallest (w, h).

    The pick of ``rows.groupby(["img_w", "img_h"]).size()`` sorted by count (stable), from
    boxes per image and the image table's sizes: 10^5 images, not 10^6 box rows.
    """
    images = ctx.dataset.images
    per_image = np.bincount(ctx.image_pos, minlength=len(images))
    used = np.flatnonzero(per_image)
    w = images["width"].to_numpy(np.float64)[used]
    h = images["height"].to_numpy(np.float64)[used]
    codes_w, uniq_w = pd.factorize(w)
    codes_h, uniq_h = pd.factorize(h)
    key = codes_w.astype(np.int64) * len(uniq_h) + codes_h
    codes, uniq_key = pd.factorize(key)
    boxes = np.bincount(codes, weights=per_image[used], minlength=len(uniq_key))
    kw, kh = uniq_w[uniq_key // len(uniq_h)], uniq_h[uniq_key % len(uniq_h)]
    best = np.flatnonzero(boxes == boxes.max())
    first = best[np.lexsort((kh[best], kw[best]))[0]]
    return float(kw[first]), float(kh[first])


def flagged_per_class(ctx: Context, flagged: np.ndarray) -> dict[str, dict[str, float]]:
    """Per class name (sorted, as a groupby on the names): flagged boxes and their share of
    the class, for classes with any; by bincounts of the category codes."""
    col = ctx.rows["class_name"]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        per_class = pd.Series(flagged).groupby(col.astype(str).to_numpy()).agg(["sum", "mean"])
        return {
            c: {"count": int(r["sum"]), "share": float(r["mean"])}
            for c, r in per_class.iterrows()
            if r["sum"] > 0
        }
    codes = col.cat.codes.to_numpy() + 1
    size = len(col.cat.categories) + 1
    total = np.bincount(codes, minlength=size)[1:].tolist()
    hits = np.bincount(codes[flagged], minlength=size)[1:].tolist()
    names = [str(c) for c in col.cat.categories]
    order = sorted(range(len(names)), key=names.__getitem__)
    return {names[i]: {"count": hits[i], "share": hits[i] / total[i]} for i in order if hits[i] > 0}
