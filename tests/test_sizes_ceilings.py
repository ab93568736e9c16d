"""Evaluation and noise ceilings of the sizes analyzer (SODA buckets, eval caps, NWD constant,
label-noise IoU ceiling), each against a computation by hand or by a second, plain method."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from builders import tiny_dataset

from sodaudit.analyzers import sizes
from sodaudit.analyzers.sizes_ceilings import (
    LABEL_NOISE_DRAWS,
    LABEL_NOISE_SEED,
    SUGGESTED_IOUS,
    SizesEvalCap,
    label_noise,
    noisy_iou,
)
from sodaudit.config import Config, SizesConfig
from sodaudit.jsonable import jsonable


def build(images, boxes, imgsz=640):
    """images: (id, w, h, split); boxes: (image_id, class_id, x, y, w, h[, ignore])."""
    return tiny_dataset(boxes, images, None, imgsz)


# -- SODA buckets


def test_soda_buckets_by_hand_with_their_boundaries():
    # squares of sqrt area 5, 12, 15, 20, 25, 40 in a 640x640 image (scale 1), an 8x18 box (area
    # 144: sqrt area 12 although its short side is 8), the same squares in a 1280x1280 image
    # (scale 0.5: 2.5, 6, 7.5, 10, 12.5, 20 at model input), one ignored and one invalid box.
    sides = (5, 12, 15, 20, 25, 40)
    boxes = [(1, 0, 0, 0, s, s) for s in sides] + [(1, 0, 0, 0, 8, 18)]
    boxes += [(2, 0, 0, 0, s, s) for s in sides]
    boxes += [(1, 0, 0, 0, 4, 4, True), (1, 0, 0, 0, 0, 4)]
    ds = build([(1, 640, 640, "train"), (2, 1280, 1280, "train")], boxes)
    s = sizes.analyze(ds, Config()).stats
    # native: < 12: 5, 5; [12,20): 12, 15, 8x18, 12, 15; [20,32): 20, 25, 20, 25; >= 32: 40, 40
    assert s.buckets.soda.as_dict() == {"eS": 2, "rS": 5, "gS": 4, "normal": 2}
    # model: 5, 12, 15, 20, 25, 40, 12 | 2.5, 6, 7.5, 10, 12.5, 20
    # < 12: 5, 2.5, 6, 7.5, 10; [12,20): 12, 15, 12, 12.5; [20,32): 20, 25, 20; >= 32: 40
    assert s.buckets_model.soda.as_dict() == {"eS": 5, "rS": 4, "gS": 3, "normal": 1}
    assert jsonable(s)["buckets"]["soda"] == {"eS": 2, "rS": 5, "gS": 4, "normal": 2}


# -- eval caps


def crowded_dataset():
    # image 1: 105 labels (+ 3 ignored and 2 invalid, never counted); image 2: 1,001; image 3: none
    boxes = [(1, 0, i, 0, 5, 5) for i in range(105)]
    boxes += [(1, 0, 0, 0, 5, 5, True)] * 3 + [(1, 0, 0, 0, 0, 5)] * 2
    boxes += [(2, 1, i % 600, i // 600, 4, 4) for i in range(1001)]
    return build([(1, 640, 640, "train"), (2, 640, 640, "val"), (3, 640, 640, "val")], boxes)


def crowded(model: str = "yolov8"):
    return sizes.analyze(crowded_dataset(), Config(model=model))


def test_eval_caps_by_hand():
    result = crowded()
    caps = jsonable(result.stats)["eval_caps"]
    # cap 100: both images, 5 + 901 = 906 beyond; cap 300: image 2, 701; cap 1000: image 2, 1;
    # yolov8's max_det is 300
    assert caps == {
        "cocoeval_100": {"cap": 100, "images": 2, "boxes": 906},
        "cocoeval_300": {"cap": 300, "images": 1, "boxes": 701},
        "cocoeval_1000": {"cap": 1000, "images": 1, "boxes": 1},
        "model_max_det": {"cap": 300, "images": 1, "boxes": 701},
        "detr_100": {"cap": 100, "images": 2, "boxes": 906},
        "detr_300": {"cap": 300, "images": 1, "boxes": 701},
    }
    # the same per-image counting as the configured caps and their findings
    assert result.stats.per_image.caps["COCOeval"] == sizes.SizesCap(cap=100, images_over=2, boxes_beyond=906)
    assert result.stats.per_image.max == 1001


def test_the_model_cap_follows_the_model():
    # retinanet keeps 100 detections per image
    assert crowded("retinanet").stats.eval_caps.model_max_det == SizesEvalCap(cap=100, images=2, boxes=906)


def test_boxes_per_image_is_the_plain_count():
    ds = crowded_dataset()
    sel = ds.selected_boxes("image_id")
    expected = sel.groupby("image_id").size().reindex(ds.images["image_id"], fill_value=0)
    assert sizes.boxes_per_image(ds, sel).tolist() == expected.tolist() == [105, 1001, 0]


# -- NWD constant


def test_nwd_constant_by_hand():
    # image 1 at scale 1: 4x4 (4), 10x10 (10); image 2 1280x640 at scale 0.5: 20x20 (10 at
    # model), 64x16 (sqrt 32 -> 16); ignored and invalid boxes left out: (4 + 10 + 10 + 16) / 4
    boxes = [(1, 0, 0, 0, 4, 4), (1, 0, 0, 0, 10, 10), (2, 0, 0, 0, 20, 20), (2, 0, 0, 0, 64, 16)]
    boxes += [(1, 0, 0, 0, 100, 100, True), (2, 0, 0, 0, 0, 9)]
    ds = build([(1, 640, 480, "train"), (2, 1280, 640, "train")], boxes)
    assert sizes.analyze(ds, Config()).stats.nwd_constant_at_imgsz == pytest.approx(10.0)
    # at imgsz 1280 image 1 doubles (8, 20) and image 2 is native (20, 32)
    ds = build([(1, 640, 480, "train"), (2, 1280, 640, "train")], boxes, imgsz=1280)
    assert sizes.analyze(ds, Config(imgsz=1280)).stats.nwd_constant_at_imgsz == pytest.approx(20.0)


def test_no_boxes_give_nulls():
    result = sizes.analyze(build([(1, 100, 100, "train")], []), Config())
    data = jsonable(result.stats)
    assert data["nwd_constant_at_imgsz"] is None
    assert data["label_noise"]["buckets"]["very_tiny"] == {"boxes": 0, "p_iou_50": None, "p_iou_75": None}
    assert data["label_noise"]["tiniest_bucket"] is None
    assert data["label_noise"]["suggested_eval_iou"] is None
    assert data["eval_caps"]["cocoeval_100"] == {"cap": 100, "images": 0, "boxes": 0}
    assert not [f for f in result.findings if f.code == "sizes.noise_ceiling"]
    json.dumps(data, allow_nan=False)


# -- label noise


def plain_iou_hit_rate(side: float, sigma: float, threshold: float, draws: int, seed: int) -> float:
    """P(IoU >= threshold) of two labelings of a square of ``side``, each corner coordinate off by
    N(0, sigma²): a plain loop over draws with Python's random (a crossed box is empty)."""
    rnd = random.Random(seed)
    hits = 0
    for _ in range(draws):
        a = [rnd.gauss(0, sigma), rnd.gauss(0, sigma), side + rnd.gauss(0, sigma), side + rnd.gauss(0, sigma)]
        b = [rnd.gauss(0, sigma), rnd.gauss(0, sigma), side + rnd.gauss(0, sigma), side + rnd.gauss(0, sigma)]
        area_a = max(a[2] - a[0], 0) * max(a[3] - a[1], 0)
        area_b = max(b[2] - b[0], 0) * max(b[3] - b[1], 0)
        iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0)
        ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0)
        union = area_a + area_b - iw * ih
        hits += union > 0 and iw * ih / union >= threshold
    return hits / draws


@pytest.mark.parametrize(("side", "bucket"), [(4.0, "very_tiny"), (7.0, "very_tiny"), (10.0, "tiny")])
def test_noise_ceiling_matches_a_plain_monte_carlo(side: float, bucket: str):
    noise = label_noise(np.array([side]), np.array([side]), 1.0, 0.9)
    b = noise.buckets[bucket]
    assert b.boxes == 1
    assert b.p_iou_50 == pytest.approx(plain_iou_hit_rate(side, 1.0, 0.5, 40_000, 7), abs=0.02)
    assert b.p_iou_75 == pytest.approx(plain_iou_hit_rate(side, 1.0, 0.75, 40_000, 8), abs=0.02)


def test_suggested_iou_is_the_largest_reaching_min_p():
    # a 7 px square at sigma 1: P(IoU >= t) is about 0.64, 0.77, 0.87, 0.94 at 0.5, 0.45, 0.4,
    # 0.35 (the plain method), so 0.35 is the largest threshold at 0.9
    rates = {t: plain_iou_hit_rate(7.0, 1.0, t, 40_000, 9) for t in SUGGESTED_IOUS}
    expected = max(t for t, p in rates.items() if p >= 0.9)
    assert expected == 0.35
    noise = label_noise(np.array([7.0]), np.array([7.0]), 1.0, 0.9)
    assert (noise.tiniest_bucket, noise.suggested_eval_iou) == ("very_tiny", 0.35)
    # a 2 px square reaches no threshold down to 0.25 at 0.9
    assert label_noise(np.array([2.0]), np.array([2.0]), 1.0, 0.9).suggested_eval_iou is None


def test_larger_boxes_reach_the_iou_more_often():
    sides = np.array([3.0, 6.0, 12.0, 24.0, 48.0])
    noise = label_noise(sides, sides, 1.0, 0.9)
    p50 = [noise.buckets[n].p_iou_50 for n in ("very_tiny", "tiny", "small", "other")]
    p75 = [noise.buckets[n].p_iou_75 for n in ("very_tiny", "tiny", "small", "other")]
    assert p50 == sorted(p50) and p50[0] < p50[-1]
    assert p75 == sorted(p75) and p75[0] < p75[-1]
    rng = np.random.default_rng(3)
    rates = [
        float(np.mean(noisy_iou(np.full(20_000, s), np.full(20_000, s), 1.0, rng) >= 0.5)) for s in sides
    ]
    assert rates == sorted(rates)
    # more noise, lower probability
    assert label_noise(sides, sides, 2.0, 0.9).buckets["tiny"].p_iou_50 < noise.buckets["tiny"].p_iou_50


def test_no_noise_is_a_certain_match():
    sides = np.array([0.5, 3.0, 8.0, 12.0, 40.0])  # sqrt area 0.7, 4.2, 11.3, 17, 57: every bucket
    noise = label_noise(sides, sides * 2, 0.0, 0.9)
    assert all(b.p_iou_50 == 1.0 and b.p_iou_75 == 1.0 for b in noise.buckets.values())
    assert noise.suggested_eval_iou == 0.5


def test_label_noise_keys_and_reproducibility():
    boxes = [(1, 0, 0, 0, 3, 3), (1, 0, 10, 10, 4, 5), (1, 0, 30, 30, 12, 12), (1, 0, 50, 50, 100, 80)]
    ds = build([(1, 640, 640, "train")], boxes)
    config = Config(sizes=SizesConfig(label_noise_sigma_px=1.0))
    data = jsonable(sizes.analyze(ds, config).stats)["label_noise"]
    assert set(data) >= {"sigma_px", "method", "draws", "seed", "buckets", "suggested_eval_iou"}
    assert (data["sigma_px"], data["draws"], data["seed"]) == (1.0, LABEL_NOISE_DRAWS, LABEL_NOISE_SEED)
    assert list(data["buckets"]) == ["very_tiny", "tiny", "small", "other"]
    assert [b["boxes"] for b in data["buckets"].values()] == [2, 1, 0, 1]
    assert data["buckets"]["small"]["p_iou_50"] is None
    assert data["tiniest_bucket"] == "very_tiny"
    assert str(LABEL_NOISE_SEED) in data["method"] and str(LABEL_NOISE_DRAWS) in data["method"]
    assert jsonable(sizes.analyze(ds, config).stats)["label_noise"] == data  # seeded


# -- the finding


def test_noise_ceiling_finding_warns_when_the_bucket_is_common():
    # 6 of 10 labels are 4 px squares: P(IoU >= 0.5) about 0.18 < 0.9, share 0.6 >= 0.05
    boxes = [(1, 0, 10 * i, 0, 4, 4) for i in range(6)] + [(1, 0, 10 * i, 100, 50, 50) for i in range(4)]
    result = sizes.analyze(build([(1, 640, 640, "train")], boxes), Config())
    (f,) = [f for f in result.findings if f.code == "sizes.noise_ceiling"]
    assert f.severity.value == "warning"
    assert f.count == 6 and f.threshold == 0.9
    assert f.value == result.stats.label_noise.buckets["very_tiny"].p_iou_50
    assert f.value == pytest.approx(plain_iou_hit_rate(4.0, 1.0, 0.5, 20_000, 11), abs=0.02)
    assert "very_tiny" in f.message and "(< 8 px: 6 labels, 60.0%)" in f.message
    assert f"only {f.value:.0%}" in f.message and "IoU 0.5" in f.message
    assert "even at IoU 0.25 they agree less than 90% of the time" in f.message
    assert len(f.message) <= 400


def test_noise_ceiling_finding_is_info_for_a_rare_bucket_and_quiet_for_large_boxes():
    # 1 of 100 labels a 7 px square (share 0.01 < 0.05); suggested IoU 0.35
    boxes = [(1, 0, 0, 0, 7, 7)] + [(1, 0, 0, 0, 60, 60)] * 99
    result = sizes.analyze(build([(1, 640, 640, "train")], boxes), Config())
    (f,) = [f for f in result.findings if f.code == "sizes.noise_ceiling"]
    assert f.severity.value == "info"
    assert "at least 90% of the time: evaluate them at IoU 0.35 (TinyPerson evaluates at 0.25)" in f.message
    assert len(f.message) <= 400
    # only 60 px boxes: two labelings always reach 0.5
    result = sizes.analyze(build([(1, 640, 640, "train")], boxes[1:]), Config())
    assert not [f for f in result.findings if f.code == "sizes.noise_ceiling"]
    assert result.stats.label_noise.suggested_eval_iou == 0.5
    # the threshold is a config key
    strict = Config(sizes=SizesConfig(label_noise_min_p=0.9999))
    result = sizes.analyze(build([(1, 640, 640, "train")], [(1, 0, 0, 0, 12, 12)]), strict)
    assert [f.code for f in result.findings if f.code == "sizes.noise_ceiling"] == ["sizes.noise_ceiling"]


def test_unknown_image_sizes_are_left_out_of_the_model_numbers():
    boxes = [(1, 0, 0, 0, 10, 10), (2, 0, 0, 0, 30, 30)]
    ds = build([(1, 640, 640, "train"), (2, math.nan, math.nan, "train")], boxes)
    s = sizes.analyze(ds, Config()).stats
    assert s.num_unknown_image_size == 1
    assert s.nwd_constant_at_imgsz == 10.0
    assert [b.boxes for b in s.label_noise.buckets.values()] == [0, 1, 0, 0]
    assert s.eval_caps.cocoeval_100.images == 0
