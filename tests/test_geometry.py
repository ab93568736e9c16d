"""Vectorised geometry against closed-form values and a brute-force double loop."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sodaudit import geometry
from sodaudit.convert import letterbox_params
from sodaudit.geometry import (
    iou_after_shift,
    iou_xywh,
    pairs_within_images,
    pairwise_iou,
    sweep_pairs,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),  # identical
        ([0, 0, 10, 10], [20, 20, 5, 5], 0.0),  # disjoint
        ([0, 0, 10, 10], [10, 0, 10, 10], 0.0),  # touching edge: zero-width intersection
        ([0, 0, 10, 10], [5, 0, 10, 10], 50 / 150),  # inter 5*10, union 100+100-50
        ([0, 0, 10, 10], [2, 2, 5, 5], 25 / 100),  # contained: inter 25, union 100
        ([0, 0, 8, 8], [1, 1, 8, 8], 49 / 79),  # inter 7*7, union 64+64-49
        ([0, 0, 10, 13], [0, 0, 8, 8], 64 / 130),  # 8x8 box inside a 10x13 anchor
        ([0, 0, 0, 10], [0, 0, 0, 10], 0.0),  # degenerate: zero width
        ([0, 0, -5, 10], [0, 0, 10, 10], 0.0),  # negative width
        ([np.nan, 0, 10, 10], [0, 0, 10, 10], 0.0),  # not finite
    ],
)
def test_iou_closed_form(a, b, expected):
    assert iou_xywh(a, b) == pytest.approx(expected)
    assert iou_xywh(b, a) == pytest.approx(expected)


def test_pairwise_iou_matrix_by_hand():
    a = [[0, 0, 10, 10], [5, 0, 10, 10]]
    b = [[0, 0, 10, 10], [2, 2, 5, 5], [100, 100, 1, 1]]
    m = pairwise_iou(a, b)
    assert m.shape == (2, 3)
    # row 2 vs [2,2,5,5]: x overlap [5,7] = 2, y overlap [2,7] = 5 -> 10 / (100 + 25 - 10)
    expected = [[1.0, 0.25, 0.0], [50 / 150, 10 / 115, 0.0]]
    np.testing.assert_allclose(m, expected)


@pytest.mark.parametrize(
    ("img_w", "img_h", "imgsz", "expected"),
    [
        (1920, 1080, 640, 1 / 3),  # 640 / 1920
        (640, 480, 640, 1.0),
        (100, 400, 640, 1.6),  # 640 / 400: small images are upscaled
        (4000, 3000, 1280, 0.32),
    ],
)
def test_letterbox_scale(img_w, img_h, imgsz, expected):
    scale, _, _ = letterbox_params(img_w, img_h, imgsz)
    assert scale == pytest.approx(expected)


@pytest.mark.parametrize(
    ("w", "h", "dx", "dy", "expected"),
    [
        (8, 8, 1, 1, 49 / 79),  # inter 7*7 = 49, union 2*64 - 49 = 79 (the number)
        (10, 13, 1, 1, 108 / 152),  # inter 9*12 = 108, union 2*130 - 108
        (4, 4, 1, 1, 9 / 23),  # inter 3*3, union 32 - 9
        (8, 8, 0, 0, 1.0),
        (8, 8, 8, 0, 0.0),  # shifted by its full width
        (8, 8, -1, 1, 49 / 79),  # direction does not matter
        (0, 8, 1, 1, 0.0),  # degenerate box
    ],
)
def test_iou_after_shift_closed_form(w, h, dx, dy, expected):
    assert iou_after_shift(w, h, dx, dy) == pytest.approx(expected)


def test_iou_after_shift_matches_explicit_boxes():
    rng = np.random.default_rng(3)
    w, h = rng.uniform(0.5, 50, 200), rng.uniform(0.5, 50, 200)
    dx, dy = rng.uniform(-3, 3, 200), rng.uniform(-3, 3, 200)
    zeros = np.zeros(200)
    explicit = iou_xywh(np.stack([zeros, zeros, w, h], 1), np.stack([dx, dy, w, h], 1))
    np.testing.assert_allclose(iou_after_shift(w, h, dx, dy), explicit)


# --- pairs within images -------------------------------------------------------------------


def _pairs(result):
    return {(int(i), int(j)): float(v) for i, j, v in zip(result.i, result.j, result.iou, strict=True)}


def test_pairs_by_hand():
    image_ids = [0, 0, 0, 1]
    boxes = [
        [0, 0, 10, 10],  # 0
        [1, 0, 10, 10],  # 1: inter 9*10 = 90, union 110 -> 9/11 = 0.818
        [50, 50, 4, 4],  # 2: far away
        [0, 0, 10, 10],  # 3: same place as box 0, but another image
    ]
    assert _pairs(pairs_within_images(image_ids, boxes, 0.8)) == pytest.approx({(0, 1): 9 / 11})
    assert _pairs(pairs_within_images(image_ids, boxes, 0.85)) == {}
    # IoU exactly at the threshold counts (>=)
    assert len(pairs_within_images(image_ids, boxes, 9 / 11)) == 1


def test_same_group_restricts_to_equal_groups():
    image_ids = [0, 0, 0]
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]]
    assert set(_pairs(pairs_within_images(image_ids, boxes, 0.5))) == {(0, 1), (0, 2), (1, 2)}
    groups = ["car", "bus", "car"]
    assert set(_pairs(pairs_within_images(image_ids, boxes, 0.5, same_group=groups))) == {(0, 2)}


def test_invalid_boxes_never_pair():
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 10], [np.nan, 0, 10, 10], [0, 0, 10, -1]]
    assert set(_pairs(pairs_within_images([0] * 5, boxes, 0.1))) == {(0, 1)}


def test_empty_and_single():
    assert len(pairs_within_images([], np.zeros((0, 4)), 0.5)) == 0
    assert len(pairs_within_images([3], [[0, 0, 1, 1]], 0.5)) == 0


def test_min_iou_must_be_positive():
    with pytest.raises(ValueError):
        pairs_within_images([0, 0], [[0, 0, 1, 1], [5, 5, 1, 1]], 0.0)


def _brute_force(image_ids, boxes, min_iou, groups=None):
    """The independent method: every pair, one at a time, with the IoU written out."""
    out = {}
    n = len(boxes)
    for a in range(n):
        for b in range(a + 1, n):
            if image_ids[a] != image_ids[b]:
                continue
            if groups is not None and groups[a] != groups[b]:
                continue
            ax, ay, aw, ah = boxes[a]
            bx, by, bw, bh = boxes[b]
            if not (aw > 0 and ah > 0 and bw > 0 and bh > 0):
                continue
            iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
            ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
            inter = iw * ih
            iou = inter / (aw * ah + bw * bh - inter)
            if iou >= min_iou:
                out[(a, b)] = iou
    return out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("min_iou", [0.05, 0.3, 0.5, 0.7, 0.95, 1.0])
def test_pairs_match_brute_force(seed, min_iou):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 80))
    image_ids = rng.integers(0, 4, n)
    # integer coordinates make exact ties and touching edges common
    xy = rng.integers(0, 25, (n, 2)).astype(float)
    wh = rng.integers(0, 12, (n, 2)).astype(float)
    boxes = np.hstack([xy, wh])
    groups = rng.integers(0, 3, n)
    for g in (None, groups):
        got = _pairs(pairs_within_images(image_ids, boxes, min_iou, same_group=g))
        expected = _brute_force(image_ids.tolist(), boxes.tolist(), min_iou, g)
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value)


def test_pairs_chunked_equals_unchunked(monkeypatch):
    rng = np.random.default_rng(7)
    n = 300
    boxes = np.hstack([rng.uniform(0, 30, (n, 2)), rng.uniform(1, 10, (n, 2))])
    image_ids = rng.integers(0, 3, n)
    whole = _pairs(pairs_within_images(image_ids, boxes, 0.2))
    monkeypatch.setattr(geometry, "PAIR_CHUNK", 7)
    chunked = _pairs(pairs_within_images(image_ids, boxes, 0.2))
    assert whole == chunked
    assert whole == pytest.approx(_brute_force(image_ids.tolist(), boxes.tolist(), 0.2))


@pytest.mark.parametrize(
    ("boxes", "min_iou", "expected"),
    [
        ([[0, 0, 10, 10], [2, 0, 10, 10]], 0.5, {(0, 1): 80 / 120}),  # inter 8*10, union 200-80
        ([[0, 0, 10, 10], [2, 0, 10, 10]], 0.7, {}),
        ([[0, 0, 10, 10], [1, 1, 10, 10]], 0.6, {(0, 1): 81 / 119}),  # inter 9*9
        ([[0, 0, 8, 8], [2, 2, 4, 4]], 0.25, {(0, 1): 16 / 64}),  # contained
        ([[5, 0, 10, 10], [0, 0, 10, 10]], 0.3, {(0, 1): 50 / 150}),  # right box listed first
        # a chain: 70/130 for neighbours, 40/160 = 0.25 for the ends
        ([[0, 0, 10, 10], [3, 0, 10, 10], [6, 0, 10, 10]], 0.5, {(0, 1): 70 / 130, (1, 2): 70 / 130}),
        # a column (same x0, candidates of each other): inter 10*4 = 40, union 160
        ([[0, 0, 10, 10], [0, 6, 10, 10], [0, 12, 10, 10]], 0.2, {(0, 1): 0.25, (1, 2): 0.25}),
        # the partner starts exactly at the left box's reach, (1 - 0.1) * 100: inter 10*2 = 20,
        # union 200 + 20 - 20 = 200
        ([[0, 0, 100, 2], [90, 0, 10, 2]], 0.1, {(0, 1): 0.1}),
        ([[0, 0, 10, 10], [10, 0, 10, 10]], 1e-9, {}),  # touching edges do not overlap
    ],
)
def test_pairs_table_by_hand(boxes, min_iou, expected):
    assert _pairs(pairs_within_images([0] * len(boxes), boxes, min_iou)) == pytest.approx(expected)


def test_an_image_over_the_cap_is_reported_with_none_of_its_pairs(monkeypatch):
    # image 5: 30 copies of one box, 30 * 29 / 2 = 435 pairs; image 7: one pair, IoU 9/11
    boxes = [[0, 0, 10, 10]] * 30 + [[0, 0, 10, 10], [1, 0, 10, 10]]
    ids = [5] * 30 + [7, 7]
    capped = pairs_within_images(ids, boxes, 0.5, max_pairs_per_image=434)
    assert _pairs(capped) == pytest.approx({(30, 31): 9 / 11})
    over = capped.over_limit
    assert (over.image.tolist(), over.candidates.tolist()) == ([5], [435])
    assert over.found[0] > 434
    at_cap = pairs_within_images(ids, boxes, 0.5, max_pairs_per_image=435)
    assert len(at_cap) == 436 and len(at_cap.over_limit) == 0
    monkeypatch.setattr(geometry, "PAIR_CHUNK", 16)  # the search stops early: same answer
    small = pairs_within_images(ids, boxes, 0.5, max_pairs_per_image=434)
    assert _pairs(small) == _pairs(capped)
    assert small.over_limit.image.tolist() == [5] and small.over_limit.candidates.tolist() == [435]
    assert small.over_limit.found[0] < 434 + 16 + 1  # stopped within one chunk of the cap


@pytest.mark.parametrize("seed", range(6))
def test_sweep_with_another_test_matches_brute_force(seed):
    """The sweep with its own reach and test: 1-D intervals overlapping by at least 2 units
    (a partner starts at most ``length - 2`` to the right), per image and group."""
    rng = np.random.default_rng(seed)
    n = 150
    image, group = rng.integers(0, 3, n), rng.integers(0, 2, n)
    start = rng.integers(-20, 40, n).astype(float)
    length = rng.integers(1, 12, n).astype(float)

    def overlap(p, q):
        return np.minimum(start[p] + length[p], start[q] + length[q]) - np.maximum(start[p], start[q])

    i, j, over = sweep_pairs(
        image, start, np.maximum(length - 2, 0), lambda p, q: overlap(p, q) >= 2, group=group
    )
    expected = {
        (a, b)
        for a in range(n)
        for b in range(a + 1, n)
        if image[a] == image[b] and group[a] == group[b] and overlap(a, b) >= 2
    }
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected
    assert len(i) == len(expected) and len(over) == 0
    assert (np.lexsort((j, i)) == np.arange(len(i))).all()  # sorted by (i, j)


def test_pairs_independent_of_input_order():
    rng = np.random.default_rng(11)
    n = 200
    boxes = np.hstack([rng.uniform(0, 40, (n, 2)), rng.uniform(1, 12, (n, 2))])
    image_ids = rng.integers(0, 5, n)
    perm = rng.permutation(n)
    base = _pairs(pairs_within_images(image_ids, boxes, 0.3))
    shuffled = pairs_within_images(image_ids[perm], boxes[perm], 0.3)
    mapped = {tuple(sorted((int(perm[i]), int(perm[j])))): v for (i, j), v in _pairs(shuffled).items()}
    assert mapped == pytest.approx(base)
    assert (shuffled.i < shuffled.j).all()


def test_pairs_scale_to_a_coco_sized_table():
    """860k boxes on 118k images (the COCO train scale) in well under the analyzer budget."""
    rng = np.random.default_rng(0)
    n = 860_000
    image_ids = np.sort(rng.integers(0, 118_000, n))
    xy = rng.uniform(0, 600, (n, 2))
    wh = rng.lognormal(3, 1, (n, 2))
    start = time.perf_counter()
    pairs_within_images(image_ids, np.hstack([xy, wh]), 0.7)
    pairs_within_images(image_ids, np.hstack([xy, wh]), 0.95, same_group=image_ids % 80)
    assert time.perf_counter() - start < 10


# --- properties ----------------------------------------------------------------------------

coord = st.floats(-1000, 1000, allow_nan=False)
side = st.floats(0.01, 500, allow_nan=False)
box = st.tuples(coord, coord, side, side)


@settings(max_examples=300, deadline=None)
@given(box, box, st.floats(0.01, 100))
def test_iou_properties(a, b, k):
    ab = float(iou_xywh(a, b))
    assert ab == float(iou_xywh(b, a))  # symmetric
    assert 0.0 <= ab <= 1.0
    assert float(iou_xywh(a, a)) == pytest.approx(1.0)
    scaled = float(iou_xywh(np.multiply(a, k), np.multiply(b, k)))
    assert math.isclose(scaled, ab, rel_tol=1e-6, abs_tol=1e-6)  # invariant to common scaling


def test_pairs_in_image_blocks_equal_one_search(monkeypatch):
    """Sorted image ids are searched in blocks of whole images (PAIR_BLOCK boxes): forced to a
    block of 7 boxes, the pairs and IoUs equal those of one search over everything, by a
    brute-force check of every same-image pair."""
    rng = np.random.default_rng(3)
    image_ids = np.sort(rng.integers(0, 40, 400))
    boxes = np.column_stack([rng.uniform(0, 50, (400, 2)), rng.uniform(2, 20, (400, 2))])
    group = rng.integers(0, 2, 400)
    monkeypatch.setattr(geometry, "PAIR_BLOCK", 7)
    blocked = geometry.pairs_within_images(image_ids, boxes, 0.1, same_group=group)
    expected = set()
    for a in range(400):
        for b in range(a + 1, 400):
            if image_ids[a] == image_ids[b] and group[a] == group[b]:
                iou = geometry.pairwise_iou(boxes[a : a + 1], boxes[b : b + 1])[0, 0]
                if iou >= 0.1:
                    expected.add((a, b))
    got = {(min(i, j), max(i, j)) for i, j in zip(blocked.i.tolist(), blocked.j.tolist(), strict=True)}
    assert got == expected and len(expected) > 20
    ious = geometry.pairwise_iou(boxes[blocked.i], boxes[blocked.j]).diagonal()
    np.testing.assert_allclose(blocked.iou, ious)


@pytest.mark.parametrize("block", [7, 1 << 20])
def test_pairs_of_box_columns_equal_pairs_of_the_stacked_array(monkeypatch, block):
    """Four columns stacked a block at a time give the pairs of the ``(n, 4)`` array, in order,
    with bit-identical IoUs; unequal column lengths are refused."""
    rng = np.random.default_rng(5)
    image_ids = np.sort(rng.integers(0, 30, 300))
    boxes = np.column_stack([rng.uniform(0, 50, (300, 2)), rng.uniform(2, 20, (300, 2))])
    boxes[::17, 2] = np.nan  # non-finite boxes never pair, in either form
    monkeypatch.setattr(geometry, "PAIR_BLOCK", block)
    stacked = geometry.pairs_within_images(image_ids, boxes, 0.1)
    columns = geometry.pairs_within_images(image_ids, geometry.BoxColumns(*boxes.T.copy()), 0.1)
    assert len(stacked) > 20
    for field in ("i", "j", "iou"):
        np.testing.assert_array_equal(getattr(columns, field), getattr(stacked, field))
    with pytest.raises(ValueError, match="same length"):
        geometry.BoxColumns(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:5, 3])
