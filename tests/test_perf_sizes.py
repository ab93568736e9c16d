"""The fast paths of sizes, splits and recommendations against the plain numpy and pandas
computations they replace, on data where the two could differ (ties, NaN, inf, empty groups,
values on bin edges)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sodaudit.analyzers.sizes import (
    Segments,
    image_positions,
    quantile_dict,
    sorted_percentiles,
)
from sodaudit.recommend import (
    _flagged_per_class,
    _sorted_mix,
    coco_mix,
    drop_share,
    most_common_box_image_size,
    sorted_drop_share,
)
from sodaudit.sizepresets import AITOD, COCO, TINYPERSON, bucket_counts

Q = (0.0, 1.0, 5.0, 10.0, 25.0, 33.3, 50.0, 75.0, 90.0, 95.0, 99.0, 100.0)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float64).view(np.int64)


@pytest.mark.parametrize("seed", range(4))
def test_sorted_percentiles_bit_identical_to_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = [0, 1, 2, 3, 7, 100, 1001]
    segments = [np.sort(np.round(rng.lognormal(2, 1, n), int(rng.integers(0, 3)))) for n in sizes]
    values = np.concatenate(segments)
    stops = np.cumsum(sizes)
    starts = stops - np.asarray(sizes)
    got = sorted_percentiles(values, starts, stops, Q)
    for row, seg in zip(got, segments, strict=True):
        if len(seg) == 0:
            assert np.isnan(row).all()
        else:
            assert (_bits(row) == _bits(np.percentile(seg, Q))).all()


def test_quantile_dict_drops_nan_and_inf() -> None:
    v = np.array([3.0, np.nan, 1.0, np.inf, 2.0, -np.inf, 2.0, 10.0])
    finite = v[np.isfinite(v)]
    want = {f"p{q:g}": float(x) for q, x in zip(Q, np.percentile(finite, Q), strict=True)}
    assert quantile_dict(v, Q) == want
    assert all(np.isnan(x) for x in quantile_dict(np.array([np.nan, np.inf]), Q).values())


@pytest.mark.parametrize("in_order", [False, True])
def test_segments_match_per_group_percentiles(in_order: bool) -> None:
    rng = np.random.default_rng(7)
    n, groups = 5000, 6
    codes = rng.integers(-1, groups - 1, n)  # -1: not listed; the last group stays empty
    if in_order:
        codes = np.sort(codes)
    v = np.round(rng.lognormal(2, 1, n), 1)
    v[rng.random(n) < 0.05] = np.nan
    v[rng.random(n) < 0.01] = np.inf
    seg = Segments.sort(codes, groups, {"v": v})
    got = seg.percentiles("v", Q)
    assert seg.counts.tolist() == [int((codes == g).sum()) for g in range(-1, groups)]
    for g in range(groups):
        part = v[(codes == g) & np.isfinite(v)]
        if len(part):
            assert (_bits(got[g]) == _bits(np.percentile(part, Q))).all()
        else:
            assert np.isnan(got[g]).all()
    assert np.array_equal(seg.merged("v"), np.sort(v), equal_nan=True)


def test_segments_merge_runs_of_few_groups() -> None:
    rng = np.random.default_rng(8)
    v = rng.lognormal(2, 1, 3000)
    v[::50] = np.nan
    for groups in (1, 2, 3, 9):
        seg = Segments.sort(rng.integers(0, groups, len(v)), groups, {"v": v})
        assert np.array_equal(seg.merged("v"), np.sort(v), equal_nan=True)


def test_image_positions_sorted_and_unsorted() -> None:
    rng = np.random.default_rng(2)
    ids = np.unique(rng.integers(0, 10**6, 500))
    boxes = rng.choice(ids, 4000)
    assert np.array_equal(image_positions(ids, boxes), np.searchsorted(ids, boxes))
    boxes.sort()
    assert np.array_equal(image_positions(ids, boxes), np.searchsorted(ids, boxes))


def test_bucket_counts_match_digitize() -> None:
    rng = np.random.default_rng(3)
    v = np.concatenate([rng.uniform(0, 200, 5000), [8.0, 16.0, 32.0, 2.0, 1024.0, 9216.0, np.nan, np.inf]])
    for preset, values in ((AITOD, v), (TINYPERSON, v), (COCO, v * v)):
        finite = values[np.isfinite(values)]
        want = np.bincount(np.digitize(finite, preset.bounds), minlength=len(preset.labels))
        assert bucket_counts(values, preset.bounds).tolist() == want.tolist()
    assert (
        bucket_counts(v, [10.0, 10.0, 50.0]).tolist()
        == np.bincount(
            np.searchsorted([10.0, 10.0, 50.0], v[np.isfinite(v)], side="right"), minlength=4
        ).tolist()
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
        assert _sorted_mix(area, f).tolist() == coco_mix(area * f * f).tolist()


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
    got = _flagged_per_class(_ctx(rows, images), flagged)
    assert got == want
    assert list(got) == list(want)
