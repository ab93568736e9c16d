"""Fast paths of the pair searches and per-label tables against the simple ways they replace.

Each fast path must give exactly what the simple path gives (same pairs, same IoU bits, same
tables), on data made to hit the cases where they could differ: ties in x0, boxes that touch,
invalid boxes, many groups, crowded images, coordinates too large for the float sort key.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sodaudit.analyzers.base as base
from sodaudit.analyzers import class_overlap
from sodaudit.analyzers.base import label_rows, label_table, pair_table, pairs_in_sorted_images
from sodaudit.dataset import Dataset
from sodaudit.geometry import iou_xywh, pairs_within_images


def _boxes(seed: int, n: int, n_images: int, integer: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted image ids, xywh and classes; integer coordinates make many exact ties in x0."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(np.arange(0, 10 * n_images, 7), n))
    xy = rng.integers(-5, 60, (n, 2)).astype(float)
    wh = rng.integers(1, 30, (n, 2)).astype(float)
    if not integer:
        xy += rng.random((n, 2))
        wh *= 1 + rng.random((n, 2)) * 0.1
    # Copies with small shifts: pairs near every threshold, and exact duplicates.
    copies = rng.integers(0, n, n // 3)
    shift = rng.choice([0.0, 0.0, 0.5, 1.0, 2.0], (len(copies), 4))
    boxes = np.vstack([np.hstack([xy, wh]), np.hstack([xy[copies], wh[copies]]) + shift])
    ids = np.concatenate([ids, ids[copies]])
    order = np.argsort(ids, kind="stable")
    classes = rng.integers(0, 4, len(ids))
    return ids[order], boxes[order], classes


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.i, b.i)
    np.testing.assert_array_equal(a.j, b.j)
    np.testing.assert_array_equal(a.iou, b.iou)  # bit for bit, not approx
    assert a.i.dtype == b.i.dtype == np.int64


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("min_iou", [0.05, 0.3, 0.7, 0.95, 1.0])
@pytest.mark.parametrize("grouped", [False, True])
def test_sorted_pair_search_equals_general_one(seed: int, min_iou: float, grouped: bool):
    ids, boxes, classes = _boxes(seed, 3000, 200 if seed % 2 else 20, integer=seed < 3)
    group = classes if grouped else None
    fast = pairs_in_sorted_images(ids, *boxes.T, min_iou, same_group=group)
    _same(fast, pairs_within_images(ids, boxes, min_iou, same_group=group))
    if 0.3 <= min_iou < 1:  # (x + w) - x can round below w: no IoU of exactly 1 in float data
        assert len(fast) > 0
    # Independently: every pair of the same image (and group) by brute force.
    same = (ids[:, None] == ids[None, :]) & np.triu(np.ones((len(ids),) * 2, bool), 1)
    if grouped:
        same &= classes[:, None] == classes[None, :]
    i, j = np.nonzero(same)
    iou = iou_xywh(boxes[i], boxes[j])
    hit = iou >= min_iou
    assert set(zip(fast.i.tolist(), fast.j.tolist(), strict=True)) == set(
        zip(i[hit].tolist(), j[hit].tolist(), strict=True)
    )


@pytest.mark.parametrize("seed", range(3))
def test_invalid_boxes_never_pair_and_indices_stay_those_of_the_input(seed: int):
    ids, boxes, classes = _boxes(seed, 2000, 50, integer=True)
    rng = np.random.default_rng(seed)
    bad = rng.random(len(ids))
    boxes[bad < 0.03, 0] = np.nan
    boxes[(bad > 0.03) & (bad < 0.06), 2] = 0.0
    boxes[(bad > 0.06) & (bad < 0.08), 3] = -1.0
    boxes[(bad > 0.08) & (bad < 0.09), 1] = np.inf
    for group in (None, classes):
        fast = pairs_in_sorted_images(ids, *boxes.T, 0.5, same_group=group)
        _same(fast, pairs_within_images(ids, boxes, 0.5, same_group=group))
        ok = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        assert ok[fast.i].all() and ok[fast.j].all()


def test_unsorted_ids_huge_coordinates_and_small_chunks_give_the_same_pairs(monkeypatch):
    ids, boxes, classes = _boxes(7, 3000, 30, integer=False)
    general = []

    def counted(*args, **kwargs):
        general.append(1)
        return pairs_within_images(*args, **kwargs)

    monkeypatch.setattr(base, "pairs_within_images", counted)

    def check(ids, boxes, min_iou, group=None, *, fast_path: bool) -> None:
        before = len(general)
        _same(
            pairs_in_sorted_images(ids, *boxes.T, min_iou, same_group=group),
            pairs_within_images(ids, boxes, min_iou, same_group=group),
        )
        assert len(general) == before + (not fast_path)

    perm = np.random.default_rng(7).permutation(len(ids))
    check(ids[perm], boxes[perm], 0.4, fast_path=False)  # not sorted by image
    for offset, fast in ((3e11, True), (-3e11, True), (1e13, False)):  # keys round coarsely: ties
        far = boxes.copy()
        far[:, 0] += offset
        check(ids, far, 0.4, fast_path=fast)
    wide = boxes.copy()
    wide[::50, 2] = 1e7  # a huge reach with few images still fits the float key
    check(ids, wide, 0.01, classes, fast_path=True)
    check(ids * 10**9, wide, 0.01, classes, fast_path=True)  # sparse ids: codes, not ids, shift
    wider = boxes.copy()
    wider[::50, 2] = 3e8
    many = np.random.default_rng(8).integers(0, 300, len(ids)) * 3  # (image, class) codes with gaps
    many[::2] = many[1::2]
    check(ids, wider, 0.01, many, fast_path=True)
    wider[::50, 2] = 1e9
    check(ids, wider, 0.01, np.arange(len(ids)), fast_path=False)  # no codes small enough
    whole = pairs_in_sorted_images(ids, *boxes.T, 0.05)
    monkeypatch.setattr(base, "PAIR_CHUNK", 97)
    _same(pairs_in_sorted_images(ids, *boxes.T, 0.05), whole)


def test_pair_search_edge_inputs():
    assert len(pairs_in_sorted_images([], [], [], [], [], 0.5)) == 0
    assert len(pairs_in_sorted_images([3], [0.0], [0.0], [1.0], [1.0], 0.5)) == 0
    one_valid = pairs_in_sorted_images([1, 1], [0.0, np.nan], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0], 0.5)
    assert len(one_valid) == 0
    touching = pairs_in_sorted_images([1, 1, 2], [0.0, 1.0, 0.0], [0.0] * 3, [1.0] * 3, [1.0] * 3, 1e-9)
    assert len(touching) == 0  # sharing an edge is no overlap
    same = pairs_in_sorted_images([1, 1, 2], [0.0, 0.0, 0.0], [0.0] * 3, [1.0] * 3, [1.0] * 3, 1.0)
    assert (same.i.tolist(), same.j.tolist(), same.iou.tolist()) == ([0], [1], [1.0])
    with pytest.raises(ValueError):
        pairs_in_sorted_images([0, 0], [0.0, 5.0], [0.0, 5.0], [1.0, 1.0], [1.0, 1.0], 0.0)
    with pytest.raises(ValueError):
        pairs_in_sorted_images([0, 0], [0.0], [0.0], [1.0], [1.0], 0.5)


def _dataset(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    n_img, n = 40, 400
    ids = rng.choice(1000, n_img, replace=False)  # not sorted: the dataset sorts images
    images = pd.DataFrame(
        {
            "image_id": ids,
            "file_name": [f"dir/im{i}.jpg" for i in ids],
            "path": [""] * n_img,
            "split": rng.choice(["train", "val"], n_img),
            "width": 640.0,
            "height": 480.0,
            "status": "ok",
        }
    )
    boxes = pd.DataFrame(
        {
            "image_id": rng.choice(ids, n),
            "class_id": rng.integers(0, 4, n),
            "x": rng.random(n) * 600,
            "y": rng.random(n) * 400,
            "w": rng.random(n) * 50,
            "h": rng.random(n) * 50,
            "source_file": rng.choice(["a.txt", "b/c.txt"], n),
            "source_line": np.where(rng.random(n) < 0.3, -1, np.arange(n)),
        }
    )
    return Dataset.build(
        root=Path("/d"),
        format="test",
        boxes=boxes,
        images=images,
        classes={0: "car", 1: "person", 2: "dog"},  # class 3 undeclared
    )


def _simple_label_table(dataset: Dataset, rows: pd.DataFrame, **extra) -> pd.DataFrame:
    """The round-2 construction: file names through an index over every image."""
    file_names = dataset.images.set_index("image_id")["file_name"]
    table = pd.DataFrame(
        {
            "image": rows["image_id"].map(file_names).to_numpy(),
            "class_name": rows["class_name"].astype(str).to_numpy(),
            "x": rows["x"].to_numpy(),
            "y": rows["y"].to_numpy(),
            "w": rows["w"].to_numpy(),
            "h": rows["h"].to_numpy(),
            "source": dataset.source(rows).to_numpy(),
        }
    )
    for name, values in extra.items():
        table[name] = values.to_numpy() if isinstance(values, pd.Series) else values
    return table


@pytest.mark.parametrize("seed", range(3))
def test_label_and_pair_tables_equal_the_simple_construction(seed: int):
    ds = _dataset(seed)
    b = ds.boxes
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(b), 60, replace=False))
    for rows in (b.iloc[pick], label_rows(b, pick, "w_model"), b.iloc[:0], b):
        got = label_table(ds, rows, zoom=rows["x"] * 2, rule="r")
        pd.testing.assert_frame_equal(got, _simple_label_table(ds, rows, zoom=rows["x"] * 2, rule="r"))
    mask = np.zeros(len(b), bool)
    mask[pick] = True
    pd.testing.assert_frame_equal(label_rows(b, mask), b.loc[mask, list(base.LABEL_COLUMNS)])
    first, second = b.iloc[pick[:30]], b.iloc[pick[30:]]
    iou = rng.random(30)
    got = pair_table(ds, first, second, iou)
    a, c = _simple_label_table(ds, first), _simple_label_table(ds, second)
    want = pd.DataFrame({"image": a["image"]})
    for suffix, part in (("a", a), ("b", c)):
        for col in ("class_name", "x", "y", "w", "h", "source"):
            want[f"{col}_{suffix}"] = part[col].to_numpy()
    want["iou"] = np.round(iou, 4)
    pd.testing.assert_frame_equal(got, want)
    assert got["image"].str.startswith("dir/im").all()


def test_per_class_samples_equal_one_global_sort():
    rng = np.random.default_rng(3)
    k, n = 7, 20_000
    codes = rng.choice(k, n, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0])  # class 6 has no rows
    values = np.round(rng.normal(size=n), 2)  # many ties
    values[rng.random(n) < 0.05] = np.nan
    values[rng.random(n) < 0.01] = np.inf
    order, cuts = class_overlap._by_class(codes, k)
    got = class_overlap._sorted_samples(values, order, cuts)
    assert len(got) == k
    for c in range(k):
        want = np.sort(values[(codes == c) & np.isfinite(values)])
        if len(want) > class_overlap.KS_MAX_SAMPLES:
            keep = np.linspace(0, len(want) - 1, class_overlap.KS_MAX_SAMPLES).round().astype(np.int64)
            want = want[keep]
        np.testing.assert_array_equal(got[c], want)
