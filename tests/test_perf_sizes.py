"""The fast paths of sizes, splits, recommendations and CSV writing against the plain numpy,
scipy and pandas computations they replace, on data where the two could differ (ties, NaN,
inf, empty groups, values on bin edges, quoting)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from sodaudit.analyzers.sizes import (
    Segments,
    _heatmap,
    heatmap_cells,
    image_positions,
    quantile_dict,
    sorted_percentiles,
)
from sodaudit.analyzers.splits import ks_2samp_sorted
from sodaudit.recommend import (
    _flagged_per_class,
    _sorted_mix,
    coco_mix,
    drop_share,
    most_common_box_image_size,
    sorted_drop_share,
)
from sodaudit.render.tables import _csv
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


@pytest.mark.parametrize("bins", [1, 3, 7, 10, 20, 32, 33, 64, 100])
def test_heatmap_cells_match_searchsorted_on_edges(bins: int) -> None:
    rng = np.random.default_rng(bins)
    edges = np.linspace(0, 1, bins + 1)
    near = np.concatenate([edges, np.nextafter(edges, -1), np.nextafter(edges, 2)])
    v = np.clip(np.concatenate([rng.random(2000), near, [np.nan]]), 0, 1)
    want = np.searchsorted(edges, v, side="right")
    want[v == 1.0] -= 1
    want = np.where((want >= 1) & (want <= bins), want - 1, -1)
    assert np.array_equal(heatmap_cells(v, bins), want)


@pytest.mark.parametrize("bins", [5, 32])
def test_heatmap_matches_histogram2d(bins: int) -> None:
    rng = np.random.default_rng(1)
    n = 3000
    img = rng.choice([100.0, 640.0], n)
    x = np.round(rng.uniform(-20, 660, n), 2)
    w = np.round(rng.uniform(0.5, 100, n), 2)
    x[:10] = img[:10] * np.arange(10) / 10 - w[:10] / 2  # centres exactly on edges
    sel = pd.DataFrame({"x": x, "y": x[::-1].copy(), "w": w, "h": w[::-1].copy(), "img_w": img, "img_h": img})
    cx = np.clip((x + w / 2) / img, 0, 1)
    cy = np.clip((sel["y"] + sel["h"] / 2).to_numpy() / img, 0, 1)
    hist, _, _ = np.histogram2d(cy, cx, bins=bins, range=[[0, 1], [0, 1]])
    got = _heatmap(sel, None, bins)
    assert got["num_boxes"] == int(hist.sum())
    assert got["shares"] == (hist / hist.sum()).tolist()


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


@pytest.mark.parametrize(("n1", "n2"), [(50, 80), (9000, 3000), (30000, 2000), (1500, 25000)])
def test_ks_2samp_sorted_matches_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 + n2)
    a = np.sort(np.round(rng.normal(0, 1, n1), 2))  # ties within and across the samples
    b = np.sort(np.round(rng.normal(0.03, 1.1, n2), 2))
    want = ks_2samp(a, b)
    assert ks_2samp_sorted(a, b) == (float(want.statistic), float(want.pvalue))
    assert ks_2samp_sorted(b, a) == (float(ks_2samp(b, a).statistic), float(ks_2samp(b, a).pvalue))


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


def _pandas_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def test_csv_writer_byte_identical_to_pandas() -> None:
    rng = np.random.default_rng(6)
    n = 600  # above the per-distinct-value threshold
    floats = np.round(rng.uniform(0, 640, n), 2)
    floats[:12] = [
        np.nan,
        -0.0,
        0.0,
        np.inf,
        -np.inf,
        1e-5,
        1e16,
        123456789012345678.0,
        0.1,
        5e-324,
        -1.5,
        2.0,
    ]
    df = pd.DataFrame(
        {
            "image": [f"img {i}.jpg" for i in range(n)],
            "class_name": pd.Categorical(rng.choice(["a", "b,c", 'say "hi"'], n)),
            "x": floats,
            "zoom": rng.lognormal(0, 3, n),
            "n": rng.integers(-5, 10**12, n),
            "ok": rng.random(n) < 0.5,
            "rules": pd.array(rng.choice(["min_side", "min_side,min_area", None], n), dtype="str"),
            "obj": np.array(rng.choice(["p", "line\nbreak", "cr\rhere", ""], n), dtype=object),
        }
    )
    assert _csv(df) == _pandas_csv(df)
    assert _csv(df.iloc[:5]) == _pandas_csv(df.iloc[:5])  # short columns, no de-duplication
    assert _csv(df.iloc[:0]) == _pandas_csv(df.iloc[:0])
    assert _csv(df[["x"]]) == _pandas_csv(df[["x"]])
    odd = pd.DataFrame({"f32": np.array([0.1, 2.5], np.float32), "mixed": [1.5, "a"]})
    assert _csv(odd) == _pandas_csv(odd)
    empty_field = pd.DataFrame({"a": ["", "x"], "b": [np.nan, 1.0], "c": np.array(["q", None], dtype=object)})
    assert _csv(empty_field) == _pandas_csv(empty_field)
