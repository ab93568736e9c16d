"""The fast paths of the anchors and strides analyzers give exactly what the simple ones give."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sodaudit.analyzers import anchor_fit, anchor_match, anchors, strides
from sodaudit.models import MODELS
from sodaudit.sizepresets import AITOD


def _edge_sides(anchor_set: np.ndarray, thr: float) -> np.ndarray:
    """Sides at and one float either side of every interval end of every anchor side."""
    values = []
    for a in np.unique(anchor_set):
        for end in (a / thr, a * thr):
            for v in (end, np.nextafter(end, 0), np.nextafter(end, math.inf)):
                values += [v, np.nextafter(v, 0), np.nextafter(v, math.inf)]
    return np.array(values)


@pytest.mark.parametrize("thr", [4.0, 3.0, 2.5, 1.5])
def test_ratio_count_is_ratio_match_count(thr):
    anchor_set = np.array([[10, 13], [16, 30], [33, 23], [30, 61], [7.3, 2.9]], dtype=float)
    sides = _edge_sides(anchor_set, thr)
    w, h = (a.ravel() for a in np.meshgrid(sides, sides))
    rng = np.random.default_rng(0)
    w = np.concatenate([w, np.exp(rng.uniform(-1, 7, 5000)), [0.0, 1e-300, 1e300]])
    h = np.concatenate([h, np.exp(rng.uniform(-1, 7, 5000)), [5.0, 5.0, 5.0]])
    with np.errstate(divide="ignore"):  # the reference divides by the zero side
        expected = anchors.ratio_match(np.column_stack((w, h)), anchor_set, thr)[0]
    assert np.array_equal(anchors.ratio_count(w, h, anchor_set, thr), expected)


def _brute_grid_iou(w, h, x0, y0, preset, imgsz) -> np.ndarray:
    """Every anchor on every box, no pruning, the round-2 formula."""
    cx, cy = x0 + w / 2, y0 + h / 2
    best = np.zeros(len(w))
    for level, stride in zip(preset.anchors, preset.strides, strict=True):
        cells = max(math.ceil(imgsz / stride), 1)
        dx = np.abs(cx - (np.clip(np.floor(cx / stride), 0, cells - 1) + 0.5) * stride)
        dy = np.abs(cy - (np.clip(np.floor(cy / stride), 0, cells - 1) + 0.5) * stride)
        for aw, ah in level:
            ix = np.clip(np.minimum(np.minimum(w, aw), (w + aw) / 2 - dx), 0, None)
            iy = np.clip(np.minimum(np.minimum(h, ah), (h + ah) / 2 - dy), 0, None)
            best = np.maximum(best, ix * iy / (w * h + aw * ah - ix * iy))
    return best


def test_grid_ious_equal_every_anchor_on_every_box(monkeypatch):
    monkeypatch.setattr(anchor_match, "_IOU_BLOCK", 256)  # many blocks, so pruning and subsets happen
    rng = np.random.default_rng(5)
    n = 3000
    w = np.exp(rng.uniform(np.log(1), np.log(600), n))
    h = w * np.exp(rng.uniform(-2, 2, n))
    x0 = rng.uniform(0, 640, n)
    y0 = rng.uniform(0, 640, n)
    presets = [MODELS["retinanet"], MODELS["faster-rcnn"]]
    got = anchor_match.grid_ious(w, h, x0, y0, presets, 640)
    for preset, best in zip(presets, got, strict=True):
        assert np.array_equal(best, _brute_grid_iou(w, h, x0, y0, preset, 640))


@pytest.mark.parametrize("stride_set", [[4.0, 8.0, 16.0, 32.0], [8.0, 16.0, 32.0, 64.0, 128.0], [6.0, 8.0]])
def test_all_center_collisions_equal_per_stride_hashing(stride_set):
    rng = np.random.default_rng(2)
    n = 4000
    image_id = np.sort(rng.integers(0, 300, n)) * 7 + 3
    cx = rng.uniform(0, 640, n)
    cy = rng.uniform(0, 480, n)
    cx[:50] = np.floor(cx[:50] / 32) * 32  # centres exactly on cell edges
    cy[50:100] = 0.0
    got = strides.all_center_collisions(image_id, cx, cy, stride_set)
    for stride in stride_set:
        collide, cells = got[stride]
        expected = strides.center_collisions(image_id, cx, cy, stride)
        assert np.array_equal(collide, expected)
        triples = pd.DataFrame(
            {
                "i": image_id[expected],
                "x": np.floor(cx[expected] / stride),
                "y": np.floor(cy[expected] / stride),
            }
        )
        assert cells == len(triples.drop_duplicates())


@pytest.mark.parametrize("values", [[3], [0, 0, 1, 5], [2, 2, 2, 9, 1], list(range(100)), [7] * 10])
def test_median_count_is_np_median(values):
    arr = np.array(values, dtype=np.int64)
    assert strides._median_count(arr) == float(np.median(arr))


def test_bucket_codes_are_aitod_codes():
    v = np.array([0.0, 7.999, 8.0, 8.001, 16.0, 31.9, 32.0, 1e9, np.inf])
    assert np.array_equal(anchors.bucket_codes(v), AITOD.codes(v))
    with_nan = np.array([np.nan, 9.0])
    assert np.array_equal(anchors.bucket_codes(with_nan), AITOD.codes(with_nan))


@pytest.mark.parametrize("distinct", [1, 5, 9, 40])
def test_distinct_rows_settles_the_same_question(distinct):
    rng = np.random.default_rng(1)
    base = rng.uniform(2, 50, size=(distinct, 2))
    sample = base[rng.integers(0, distinct, 5000)]
    exact = len(pd.DataFrame(sample).drop_duplicates())
    got = anchor_fit.distinct_rows(sample, at_least=9)
    assert (got < 9) == (exact < 9)
    if exact < 9:
        assert got == exact
