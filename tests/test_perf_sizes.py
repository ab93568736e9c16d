"""The fast paths of the recommendations against the plain numpy and pandas computations they
replace, on data where the two could differ (ties, values on bin edges).

(The sizes analyzer has no fast paths left: it calls ``np.percentile`` and ``np.digitize``.)
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from sodaudit.recommend import (
    coco_mix,
    drop_share,
    flagged_per_class,
    most_common_box_image_size,
    sorted_drop_share,
    sorted_mix,
)


def test_sorted_shares_match_full_passes() -> None:
    rng = np.random.default_rng(4)
    short = np.round(rng.lognormal(1, 1, 20000), 2)
    short[:50] = 2.0 / 0.7  # boxes exactly at the limit of a scale
    s = np.sort(short)
    for scale in (0.5, 0.55, 0.7, 1.0, 1.3):
        assert sorted_drop_share(s, scale, 2.0) == drop_share(short, scale, 2.0)
    area = np.sort(np.concatenate([rng.lognormal(6, 2, 20000), [1024.0, 9216.0, 256.0, 4096.0]]))
    for f in (0.25, 0.5, 2.0**0.25, 1.0, 2.0, 4.0):
        assert sorted_mix(area, f).tolist() == coco_mix(area * f * f).tolist()


def _ctx(rows: pd.DataFrame, images: pd.DataFrame) -> SimpleNamespace:
    pos = np.searchsorted(images["image_id"].to_numpy(), rows["image_id"].to_numpy())
    return SimpleNamespace(rows=rows, dataset=SimpleNamespace(images=images), image_pos=pos)


def test_label_policy_helpers_match_pandas_groupby() -> None:
    rng = np.random.default_rng(5)
    images = pd.DataFrame({"image_id": np.arange(40), "width": 0.0, "height": 0.0})
    images["width"] = rng.choice([640.0, 500.0, 480.0], 40)
    images["height"] = rng.choice([480.0, 375.0], 40)
    image_id = np.sort(rng.integers(0, 40, 600))
    names = ["zebra", "Apple", "cat", "b-class", "unused"]
    rows = pd.DataFrame(
        {
            "image_id": image_id,
            "img_w": images["width"].to_numpy()[image_id],
            "img_h": images["height"].to_numpy()[image_id],
            "class_name": pd.Categorical(rng.choice(names[:4], 600), categories=names),
        }
    )
    sizes = rows.groupby(["img_w", "img_h"]).size().sort_values(ascending=False, kind="stable")
    assert most_common_box_image_size(_ctx(rows, images)) == tuple(sizes.index[0])
    # a tie: the smallest (w, h) wins, as in the sorted groupby
    tie = rows.iloc[:2].assign(image_id=[0, 1], img_w=[640.0, 500.0], img_h=[375.0, 480.0])
    tie_images = images.iloc[:2].assign(width=[640.0, 500.0], height=[375.0, 480.0])
    assert most_common_box_image_size(_ctx(tie, tie_images)) == (500.0, 480.0)

    flagged = rng.random(600) < 0.3
    per_class = pd.Series(flagged).groupby(rows["class_name"].astype(str).to_numpy()).agg(["sum", "mean"])
    want = {
        c: {"count": int(r["sum"]), "share": float(r["mean"])}
        for c, r in per_class.iterrows()
        if r["sum"] > 0
    }
    got = flagged_per_class(_ctx(rows, images), flagged)
    assert got == want
    assert list(got) == list(want)
