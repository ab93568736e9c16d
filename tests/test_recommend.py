"""Recommendations on datasets whose right answer is worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from builders import tiny_dataset

from sodaudit.analyzers import anchors, class_overlap, run_all
from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.analyzers.class_overlap_stats import ClassOverlapMergeCandidate
from sodaudit.config import Config, RecommendConfig
from sodaudit.dataset import Dataset
from sodaudit.loaders import load
from sodaudit.recommend import (
    KINDS,
    Recommendation,
    oversample_factor,
    recommend,
    resolution_candidates,
)


def _dataset(boxes, images, classes=None, imgsz=640) -> Dataset:
    """boxes: (image_id, class_id, x, y, w, h); images: (image_id, width, height[, split])."""
    return tiny_dataset(boxes, images, classes or {0: "a", 1: "b", 2: "c"}, imgsz)


def _by_kind(recs: list[Recommendation]) -> dict[str, Recommendation]:
    return {r.kind: r for r in recs}


def test_contract_shape():
    ds = _dataset([(1, 0, 10, 10, 4, 4)], [(1, 640, 640)])
    for rec in recommend(ds, Config(), {}):
        d = rec.to_dict()
        assert set(d) >= {"kind", "summary", "params", "evidence", "effect"}
        assert d["kind"] in KINDS
        json.dumps(d, allow_nan=False)  # plain JSON values only


def test_resolution_candidates():
    # 640, then 672, 704, ..., 1920: 1 + (1920 - 672) / 32 + 1 = 41 values
    c = resolution_candidates(640, 1920, 32)
    assert c[:3] == [640, 672, 704] and c[-1] == 1920 and len(c) == 41
    assert resolution_candidates(640, 1900, 32)[-1] == 1920  # rounded up to the stride
    assert resolution_candidates(640, 480, 32) == [640]


def _resolution_dataset() -> Dataset:
    # One 1600 x 1200 image (long side 1600), five 40 px wide boxes with short sides
    # 11, 16, 20, 30, 40 px. At imgsz c the short side is s * c / 1600.
    shorts = [11, 16, 20, 30, 40]
    boxes = [(1, 0, 100 * i, 100, 40, s) for i, s in enumerate(shorts)]
    return _dataset(boxes, [(1, 1600, 1200)])


def test_resolution_pick_by_hand():
    # At 640 (scale 0.4): 4.4, 6.4, 8, 12, 16 -> 3 of 5 reach 8 px (0.6).
    # Target 0.9 needs all five: 11 * c / 1600 >= 8 -> c >= 1163.6 -> next multiple of 32 is
    # 1184 (1152 gives 7.92). Cost (1184 / 640)^2 = 3.4225 <= 4: raise imgsz, no tiling.
    recs = _by_kind(recommend(_resolution_dataset(), Config(), {}))
    res = recs["resolution"]
    assert res.params["imgsz"] == 1184
    assert "tiling" not in recs
    assert res.effect["share_before"] == pytest.approx(0.6)
    assert res.effect["share_after"] == pytest.approx(1.0)
    assert res.effect["boxes_recovered"] == 2
    assert res.effect["relative_compute"] == pytest.approx(3.4225)
    table = {c["imgsz"]: c["share"] for c in res.evidence["candidates"]}
    assert table[640] == pytest.approx(0.6)
    assert table[800] == pytest.approx(0.8)  # 16 * 800 / 1600 = 8
    assert table[1152] == pytest.approx(0.8)
    assert table[1184] == pytest.approx(1.0)


def test_resolution_lower_target():
    # Target 0.8: 16 * c / 1600 >= 8 -> c >= 800 = 25 * 32; cost (800 / 640)^2 = 1.5625
    cfg = Config(recommend=RecommendConfig(target_share=0.8))
    res = _by_kind(recommend(_resolution_dataset(), cfg, {}))["resolution"]
    assert res.params["imgsz"] == 800
    assert res.effect["relative_compute"] == pytest.approx(1.5625)


def test_resolution_over_cost_cap_prefers_tiling():
    cfg = Config(recommend=RecommendConfig(max_cost=3.0))  # 3.4225 > 3
    recs = recommend(_resolution_dataset(), cfg, {})
    kinds = [r.kind for r in recs]
    assert kinds.index("tiling") < kinds.index("resolution")
    assert _by_kind(recs)["resolution"].params["imgsz"] == 1184


def _tiling_needed() -> Dataset:
    # 4000 x 3000 images with 12 x 12 px objects: at imgsz 640 they are 12 * 0.16 = 1.92 px.
    # Resolution would need 12 * c / 4000 >= 8 -> c >= 2666.7 -> 2688, cost (2688/640)^2 = 17.6.
    rng = np.random.default_rng(0)
    boxes = []
    for image_id in range(1, 6):
        xs = rng.uniform(0, 4000 - 12, 40)
        ys = rng.uniform(0, 3000 - 12, 40)
        boxes += [(image_id, 0, x, y, 12, 12) for x, y in zip(xs, ys, strict=True)]
    return _dataset(boxes, [(i, 4000, 3000) for i in range(1, 6)])


def test_tiling_clearly_needed():
    recs = _by_kind(recommend(_tiling_needed(), Config(), {}))
    tiling = recs["tiling"]
    assert recs["resolution"].params["imgsz"] == 2688
    assert recs["resolution"].effect["relative_compute"] == pytest.approx((2688 / 640) ** 2)
    # Tile candidates 640, 960, 1280 -> 12 px at 640/T: 12, 8, 6 px. The largest reaching 8 px
    # is 960. Overlap: p99 long side 12 px -> ceil(12 / 960 * 100) / 100 = 0.02 -> int(19.2) = 19.
    assert tiling.params["tile_size"] == 960
    assert tiling.params["overlap_ratio"] == pytest.approx(0.02)
    assert tiling.params["overlap_px"] == 19
    assert tiling.params["sahi"]["slice_width"] == 960
    assert tiling.params["sahi"]["overlap_width_ratio"] == pytest.approx(0.02)
    assert tiling.params["ultralytics_split_dota"]["gap"] == 19
    assert "inference" in tiling.params
    # step 941: x 0, 941, 1882, 2823, then 3764 + 960 > 4000 -> 3040 (5 columns);
    # y 0, 941, 1882, then 2823 + 960 > 3000 -> 2040 (4 rows): 20 tiles per image, 100 in all.
    grid = tiling.evidence["candidates"][1]["grids"][0]
    assert grid["x_starts"] == [0, 941, 1882, 2823, 3040]
    assert grid["y_starts"] == [0, 941, 1882, 2040]
    assert tiling.effect["tiles_per_image"] == 20 and tiling.effect["total_tiles"] == 100
    assert tiling.effect["share_before"] == 0.0
    assert tiling.effect["share_after"] == pytest.approx(1.0)
    assert tiling.effect["share_whole_in_a_tile"] == pytest.approx(1.0)  # 12 px <= 19 px overlap
    # After tiling the boxes are 8 px at model input: no P2 head, no ignore rule.
    assert "head" not in recs and "labels" not in recs


def test_large_objects_no_tiling_no_resolution():
    # 200 x 150 px objects in 1920 x 1080: 150 / 3 = 50 px short side at imgsz 640.
    boxes = [(i, 0, 100 + 300 * k, 300, 200, 150) for i in range(1, 11) for k in range(4)]
    recs = _by_kind(recommend(_dataset(boxes, [(i, 1920, 1080) for i in range(1, 11)]), Config(), {}))
    assert not {"resolution", "tiling", "head", "labels", "augmentation"} & set(recs)


def test_none_when_nothing_needs_changing():
    # 100 images 640 x 640, one box each: 41 of 20 px (small), 34 of 50 px (medium), 25 of
    # 150 px (large): COCO's mix, every short side >= 8 px, one class. Images with a small
    # object: 41%, oversampling factor 0.5 * 0.59 / (0.41 * 0.5) = 1.44 -> 1 whole repeat: none.
    sides = [20] * 41 + [50] * 34 + [150] * 25
    boxes = [(i + 1, 0, 10, 10, s, s) for i, s in enumerate(sides)]
    recs = recommend(_dataset(boxes, [(i, 640, 640) for i in range(1, 101)]), Config(), {})
    assert [r.kind for r in recs] == ["none"]
    assert recs[0].evidence["share_reach_min_side"] == 1.0


def test_head_and_label_rules_by_hand():
    # 640 x 640 at imgsz 640 (scale 1, no bigger image: resolution is capture limited, no tiling).
    # 6 boxes 5x5, 4 boxes 2x2, 1 box 1x1: all below stride 8 (share 1.0 > 0.1); P2 recovers
    # the six 5 px boxes. Remove rule (< 2 px native): the 1x1 box. Ignore rule (< 3 px at model
    # input): the four 2x2 boxes.
    sizes = [5] * 6 + [2] * 4 + [1]
    boxes = [(1, 0, 20 * k, 20, s, s) for k, s in enumerate(sizes)]
    recs = _by_kind(recommend(_dataset(boxes, [(1, 640, 640)]), Config(), {}))
    assert "tiling" not in recs
    assert recs["resolution"].params["capture_limited"] is True
    head = recs["head"]
    assert head.effect["boxes_recovered"] == 6
    assert head.evidence["below_stride"] == 11
    assert head.effect["share_below_after"] == pytest.approx(5 / 11)
    assert head.params["strides"] == [4, 8, 16, 32]
    labels = recs["labels"]
    assert labels.effect["remove"] == 1 and labels.effect["ignore"] == 4
    assert labels.params["ignore_below_native_px"] == 3.0
    small = labels.evidence["what_small_means"]["native"]["aitod"]
    assert small["very_tiny"] == 11


def test_yolo_rounding_does_not_change_the_policy():
    # A 2 px box stored by YOLO to 8 decimals comes back as 1.999998 px: not "below 2 px".
    boxes = [(1, 0, 10, 10, 2 * 0.999999, 2 * 0.999999)]
    labels = _by_kind(recommend(_dataset(boxes, [(1, 640, 640)]), Config(), {}))["labels"]
    assert labels.effect["remove"] == 0 and labels.effect["ignore"] == 1


def test_oversampling_by_hand():
    # 10 train images: 2 with a 10 x 10 object (COCO small), 8 with a 200 x 200 one.
    # s = 0.2, k = 0.5 * 0.8 / (0.2 * 0.5) = 4 -> 0.8 / (0.8 + 0.8) = 50% of the draws.
    assert oversample_factor(0.2, 0.5) == pytest.approx(4.0)
    boxes = [(i, 0, 10, 10, 10, 10) for i in (1, 2)] + [(i, 0, 10, 10, 200, 200) for i in range(3, 11)]
    images = [(i, 640, 640) for i in range(1, 11)] + [(11, 640, 640, "val")]
    rec = _by_kind(recommend(_dataset(boxes, images), Config(), {}))["sampling"]
    assert rec.params["repeat"] == 4 and rec.params["images"] == 2
    assert rec.params["split"] == "train" and rec.evidence["num_images"] == 10
    assert rec.effect["share_of_draws_after"] == pytest.approx(0.5)


def test_augmentation_survival_by_hand():
    # 10 boxes 4x4 and 10 boxes 20x20 at scale 1. A box survives scaling by s when 4 s > 2 px:
    # at 0.5 the 4 px boxes become 2 px and are dropped (50%); at 0.55 they are 2.2 px.
    boxes = [(1, 0, 10 * k, 10, 4, 4) for k in range(10)] + [(2, 0, 25 * k, 10, 20, 20) for k in range(10)]
    rec = _by_kind(recommend(_dataset(boxes, [(1, 640, 640), (2, 640, 640)]), Config(), {}))["augmentation"]
    assert rec.effect["drop_share_at_min_scale"] == pytest.approx(0.5)
    assert rec.effect["drop_share_at_1"] == 0.0
    assert rec.params["min_scale"] == pytest.approx(0.55)
    assert rec.params["ultralytics_scale"] == pytest.approx(0.45)


def test_scale_match_by_hand():
    # Half 60 px and half 200 px boxes at scale 1: mix (0, 0.5, 0.5), distance to COCO
    # (0.41, 0.34, 0.24) = (0.41 + 0.16 + 0.26) / 2 = 0.415. Scaled by f < 0.48 (200 f < 96)
    # and f < 0.533 (60 f < 32): mix (0.5, 0.5, 0), distance (0.09 + 0.16 + 0.24) / 2 = 0.245.
    # The largest such factor on the quarter-octave grid is 2^-1.25 = 0.4204; imgsz ~ 0.4204 *
    # 640 = 269 -> 256 (multiple of 32).
    boxes = [(1, 0, 0, 0, 60, 60), (1, 0, 100, 100, 200, 200)] * 5
    rec = _by_kind(recommend(_dataset(boxes, [(1, 640, 640)]), Config(), {}))["scale_match"]
    assert rec.evidence["distance"] == pytest.approx(0.415)
    assert rec.effect["distance_after"] == pytest.approx(0.245)
    assert rec.params["factor"] == pytest.approx(2**-1.25, abs=1e-4)
    assert rec.params["imgsz_equivalent"] == 256
    assert rec.params["beyond_native"] is False


def test_uniform_sizes_get_no_scale_match():
    # One size only: every factor gives a one-hot mix; small stays the closest (0.585), so
    # no factor improves on 1x.
    boxes = [(1, 0, 30 * k, 0, 20, 20) for k in range(10)]
    assert "scale_match" not in _by_kind(recommend(_dataset(boxes, [(1, 640, 640)]), Config(), {}))


def test_merges_from_class_overlap_candidates():
    boxes = [(1, 0, 0, 0, 4, 4)] * 5 + [(1, 1, 0, 0, 4, 4)] * 3 + [(1, 2, 0, 0, 4, 4)] * 2
    ds = _dataset(boxes, [(1, 640, 640)])

    def cand(a, b):
        return ClassOverlapMergeCandidate(
            class_a=a,
            class_b=b,
            n_a=1,
            n_b=1,
            reasons=["small_alike"],
            pairs=0,
            share_a=0.0,
            share_b=0.0,
            median_px_a=4.0,
            median_px_b=4.0,
            ks_size=0.1,
            ks_aspect=0.1,
        )

    stats = class_overlap.analyze(ds, Config()).stats  # every field, then two candidates
    stats.merge_candidates = [cand("a", "b"), cand("b", "c")]
    results = {"class_overlap": AnalyzerResult("class_overlap", "t", stats)}
    rec = _by_kind(recommend(ds, Config(), results))["merges"]
    # a-b and b-c chain into one group: 3 classes -> 1; boxes relabelled = 3 + 2 (all but a's 5)
    assert rec.params["groups"] == [["a", "b", "c"]]
    assert rec.effect == {"classes_before": 3, "classes_after": 1, "boxes_relabelled": 5}
    assert rec.to_dict()["evidence"]["candidates"][0]["appearance"] == {}  # as in report.json


def test_anchors_for_ratio_model_by_hand():
    # Boxes w 2..6 x h 2..3 px at imgsz 640 (scale 1), 10 distinct sizes: every YOLOv5 anchor
    # has h >= 13, and 3 / 13 = 0.23 < 1/4, so none covers any box: BPR 0. k-means anchors lie
    # inside the data's range [2, 6] px, so every side ratio is <= 3 < 4: BPR 1.
    boxes = [
        (1, 0, 10 * k, 10 * j, w, h) for k, w in enumerate(range(2, 7)) for j, h in enumerate((2, 3))
    ] * 3
    ds = _dataset(boxes, [(1, 640, 640)])
    cfg = Config(model="yolov5")
    rec = _by_kind(recommend(ds, cfg, {"anchors": anchors.analyze(ds, cfg)}))["anchors"]
    assert rec.effect["bpr_before"] == 0.0
    assert rec.effect["bpr_after"] == 1.0
    assert "anchors:" in rec.params["yaml"]


def test_anchor_free_model_gets_no_anchor_recommendation():
    boxes = [(1, 0, 10 * k, 10, 3, 3) for k in range(30)]
    ds = _dataset(boxes, [(1, 640, 640)])
    recs = recommend(ds, Config(), {"anchors": anchors.analyze(ds, Config())})
    assert "anchors" not in _by_kind(recs)


def test_sample_data_first_screen(sample_data):
    scene = json.loads((sample_data / "scene.json").read_text())
    boxes = [
        b for img in scene["images"] for b in img["boxes"] if not b["ignore"] and b["w"] > 0 and b["h"] > 0
    ]
    short = np.array([min(b["w"], b["h"]) for b in boxes], float)
    long_ = np.array([max(b["w"], b["h"]) for b in boxes], float)
    ds = load(sample_data / "coco")
    cfg = Config()
    recs = recommend(ds, cfg, run_all(ds, cfg))
    assert recs[0].kind == "tiling"
    by = _by_kind(recs)
    # Native 1920 px = imgsz 1920: share with short side >= 8 px, from scene.json.
    native = float(np.mean(short >= 8))
    assert by["resolution"].params["capture_limited"] is True
    assert by["resolution"].evidence["native_share"] == pytest.approx(native)
    # Tiles of 640 px at imgsz 640 keep native pixels: the same share reaches 8 px.
    t = by["tiling"]
    assert t.params["tile_size"] == 640
    assert t.effect["share_after"] == pytest.approx(native)
    p99 = float(np.percentile(long_, 99))
    # overlap ratio = ceil(p99 / 640 * 100) / 100, in pixels int(ratio * 640) as SAHI does
    ratio = math.ceil(p99 / 640 * 100) / 100
    assert t.params["overlap_ratio"] == pytest.approx(ratio)
    assert t.params["overlap_px"] == int(ratio * 640) >= p99
    # p99 is 50 px here: ratio 0.08, overlap 51, step 589: x 0, 589, 1178, then 1767 + 640 > 1920
    # -> flush 1280; y 0, then 589 + 640 > 1080 -> flush 440.
    assert p99 == 50
    grid = t.evidence["candidates"][0]["grids"][0]
    assert grid["x_starts"] == [0, 589, 1178, 1280] and grid["y_starts"] == [0, 440]
    assert t.effect["tiles_per_image"] == 8
    # Ignore rule at scale 1: short side < 3 px native.
    assert by["labels"].effect["ignore"] == int(np.sum((short < 3) & (short >= 2)))
    assert by["head"].effect["boxes_recovered"] == int(np.sum((short >= 4) & (short < 8)))


def _realdata_coco_boxes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Short side and image long side of every valid non-crowd box, straight from the JSON files."""
    short, long_ = [], []
    for f in sorted((path / "annotations").glob("instances_*.json")):
        data = json.loads(f.read_text())
        size = {i["id"]: max(i["width"], i["height"]) for i in data["images"]}
        for a in data["annotations"]:
            w, h = a["bbox"][2], a["bbox"][3]
            if a.get("iscrowd", 0) or not (w > 0 and h > 0) or a["image_id"] not in size:
                continue
            short.append(min(w, h))
            long_.append(size[a["image_id"]])
    return np.array(short, float), np.array(long_, float)


def test_realdata_coco_mini(realdata):
    path = realdata / "coco_mini"
    short, long_ = _realdata_coco_boxes(path)
    ds = load(path)
    cfg = Config()
    recs = _by_kind(recommend(ds, cfg, run_all(ds, cfg)))
    share = float(np.mean(short * 640 / long_ >= 8 - 1e-3))
    assert share >= 0.9  # large enough already: no resolution change, no tiling
    assert "resolution" not in recs and "tiling" not in recs
    # README: lt3@640 is 2 (train) + 2 (val) = 4 -> the ignore rule at imgsz 640
    assert recs["labels"].effect["ignore"] == 4


@pytest.mark.parametrize("name", ["bccd_voc", "ships_yolo"])
def test_realdata_no_resolution_change(realdata, name):
    ds = load(realdata / name)
    cfg = Config()
    recs = recommend(ds, cfg, run_all(ds, cfg))
    kinds = {r.kind for r in recs}
    assert not kinds & {"resolution", "tiling", "head"}
    for r in recs:
        json.dumps(r.to_dict(), allow_nan=False)
        assert math.isfinite(r.priority)
