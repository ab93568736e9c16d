"""Stride analysis: grid points inside boxes, centre-cell collisions, IoU noise floor, by hand."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter

import msgspec
import numpy as np
import pytest
from builders import tiny_dataset

from sodaudit.analyzers import strides
from sodaudit.config import Config, StridesConfig
from sodaudit.dataset import Dataset
from sodaudit.findings import Severity
from sodaudit.models import MODELS


def _dataset(boxes: list[tuple], images: list[tuple]) -> Dataset:
    """boxes: (image_id, class_id, x, y, w, h[, ignore]); images: (image_id, width, height)."""
    return tiny_dataset(boxes, images)


@pytest.mark.parametrize(
    ("lo", "hi", "stride", "count"),
    [
        # grid centres at stride 8: 4, 12, 20, ...
        (0, 10, 8, 1),  # a 10 px box from 0: only 4 is inside
        (3, 13, 8, 2),  # 4 and 12 are strictly inside
        (4, 14, 8, 1),  # 4 sits on the edge (not strictly inside); 12 is inside
        (4, 12, 8, 0),  # an 8 px box from one centre to the next holds neither
        (4.5, 11.5, 8, 0),
        (13, 23, 8, 1),  # 20
        (0, 10, 4, 2),  # stride 4 centres 2, 6 (10 is on the edge)
        (0, 640, 32, 20),  # the whole 640 px axis: 20 cells of 32
        (100, 100.5, 8, 0),
    ],
)
def test_grid_points_1d(lo, hi, stride, count):
    assert strides.grid_points_1d(np.array([lo]), np.array([hi]), stride)[0] == count


@pytest.mark.parametrize(
    ("w", "h", "d", "iou"),
    [
        (8, 8, 1, 49 / 79),  # (7*7) / (2*64 - 49) = 49/79
        (10, 10, 1, 81 / 119),  # (9*9) / (200 - 81)
        (2, 4, 1, 3 / 13),  # (1*3) / (16 - 3)
        (3, 3, 1, 4 / 14),  # (2*2) / (18 - 4)
        (1, 5, 1, 0.0),  # a side not above the shift: no overlap left
        (8, 8, 0, 1.0),
    ],
)
def test_shifted_iou_closed_form(w, h, d, iou):
    assert strides.shifted_iou(np.array([w]), np.array([h]), d)[0] == pytest.approx(iou)


def test_center_collisions_by_hand():
    # stride 8: image 1 centres (4, 4) and (6, 7) share cell (0, 0); (9, 4) is alone in (1, 0);
    # image 2's (5, 5) is in cell (0, 0) of another image: no collision. One cell holds two.
    cx, cy = np.array([4.0, 6.0, 9.0, 5.0]), np.array([4.0, 7.0, 4.0, 5.0])
    geo = {"image": np.array([1, 1, 1, 2]), "x0": cx - 1, "x1": cx + 1, "y0": cy - 2, "y1": cy + 2}
    got, cells = strides.center_collisions(geo, 8)
    assert got.tolist() == [True, True, False, False]
    assert cells == 1


def _hand_dataset() -> Dataset:
    # Image 0 is 1280x1280 (scale 0.5); image 1 is 640x480 (scale 1). At model input:
    #   A1 (0, 0, 10, 10)   centre (5, 5)       short 10
    #   A2 (4, 4, 8, 8)     centre (8, 8)       short 8
    #   A3 (10, 2, 3, 3)    centre (11.5, 3.5)  short 3
    #   B1 (100, 100, 8, 8) centre (104, 104)   short 8
    #   B2 (104, 104, 10, 10) centre (109, 109) short 10
    # plus an ignore box and an invalid box on B1's cell, which must not count.
    return _dataset(
        [
            (0, 0, 0, 0, 20, 20),
            (0, 0, 8, 8, 16, 16),
            (0, 1, 20, 4, 6, 6),
            (1, 0, 100, 100, 8, 8),
            (1, 1, 104, 104, 10, 10),
            (1, 0, 101, 101, 6, 6, True),
            (1, 0, 101, 101, 0, 6),
        ],
        images=[(0, 1280, 1280), (1, 640, 480)],
    )


def test_levels_by_hand():
    result = strides.analyze(_hand_dataset(), Config(model="yolov8"))
    s = result.stats
    assert s.num_boxes == 5
    assert list(s.models) == ["yolov8", "yolov8-p2"]
    v8 = s.models["yolov8"]
    stride8, stride16, stride32 = v8.levels
    # short side < 8: A3 only
    assert stride8.below_stride == 1 and stride8.below_stride_share == 0.2
    # grid points at stride 8 (centres 4, 12, ..., 100, 108): A1 (0,10)^2 -> 1; A2 (4,12)^2 -> 0;
    # A3 x (10,13) -> 12, y (2,5) -> 4 -> 1; B1 (100,108)^2 -> 0; B2 (104,114)^2 -> 108 -> 1.
    assert stride8.no_grid_point == 2 and stride8.no_grid_point_share == 0.4
    # stride-8 cells of the centres: A1 (0,0), A2 (1,1), A3 (1,0), B1 (13,13), B2 (13,13)
    assert stride8.center_collision_boxes == 2
    assert stride16.below_stride_share == 1.0  # every short side is below 16
    assert stride32.stride == 32
    assert v8.smallest_stride == 8
    # yolov8's assigner pools the levels: A2 and B1 have no stride-8 point, but the stride-16
    # centre 8 lies in A2's (4, 12)^2 and 104 in B1's (100, 108)^2, so every box has a candidate.
    assert v8.candidate_levels == "all" and v8.assigner_version == "ultralytics<8.4"
    assert v8.no_grid_point == 0 and v8.no_grid_point_share == 0.0
    # candidates over 8, 16, 32: A1 (0,10)^2 -> 4 | 8 | - = 2; A2 -> 1 (16: 8); A3 x (10,13),
    # y (2,5) -> 1 (8: 12, 4); B1 -> 1 (16: 104); B2 (104,114)^2 -> 1 (8: 108) + 0 + 1 (32: 112) = 2
    assert v8.median_candidate_points == 1.0
    assert v8.anchor_points == 80 * 80 + 40 * 40 + 20 * 20
    assert json.loads(msgspec.json.encode(v8.by_class["car"])) == {
        "n": 3,
        "below_smallest_stride_share": 0.0,
        "no_grid_point_share": 0.0,  # pooled: A2 and B1 have stride-16 points
        "center_collision_share": pytest.approx(1 / 3),  # B1
    }

    p2 = s.models["yolov8-p2"]
    assert p2.strides == [4, 8, 16, 32]
    # stride 4 (centres 2, 6, 10, 14, ...): A3 x (10, 13) holds none (10 is the edge) -> 1 box;
    # short side < 4: A3 -> 1 box; cells at 4: A1 (1,1), A2 (2,2), A3 (2,0), B1 (26,26),
    # B2 (27,27) -> no collision.
    assert p2.below_smallest_stride == 1
    assert p2.levels[0].no_grid_point == 1  # A3, at stride 4 alone
    assert p2.no_grid_point == 0  # pooled: A3 has the stride-8 point (12, 4)
    assert p2.center_collision_boxes == 0
    assert p2.levels[1] == stride8  # the stride-8 level of both models agrees

    # IoU after a 1 px shift: A3 3x3 (sqrt area 3, very tiny) -> 4/14; tiny (8..16):
    # A1, B2 10x10 -> 81/119, A2, B1 8x8 -> 49/79; median = (49/79 + 81/119) / 2
    floor = s.iou_noise_floor
    assert floor["very_tiny"].n == 1
    assert floor["very_tiny"].median_iou == pytest.approx(4 / 14)
    assert floor["tiny"].n == 4
    assert floor["tiny"].median_iou == pytest.approx((49 / 79 + 81 / 119) / 2)
    assert "small" not in floor
    assert floor["all"].median_iou == pytest.approx(49 / 79)
    doc = json.loads(msgspec.json.encode(s))
    assert "by_class" in doc["models"]["yolov8"] and "by_class" not in doc["models"]["yolov8-p2"]


def test_findings_by_hand():
    result = strides.analyze(_hand_dataset(), Config(model="yolov8"))
    found = {f.code: f for f in result.findings}
    below = found["strides.below_smallest_stride"]
    assert below.severity is Severity.WARNING  # 20 % > BELOW_STRIDE_WARN_SHARE (10 %)
    assert below.count == 1
    assert "P2" in below.message and "20.0%" in below.message
    assert below.examples[0].startswith("labels.txt:3 [person] 3.0x3.0 px")
    # yolov8 pools the levels: every box has a candidate (see test_levels_by_hand)
    assert "strides.no_grid_point" not in found and "no_grid_point" not in result.tables
    coll = found["strides.center_collisions"]
    assert coll.count == 2
    assert "(1 cell holds two or more centres)" in coll.message
    assert list(result.tables["center_collisions"]["source"]) == ["labels.txt:4", "labels.txt:5"]

    # fcos counts its smallest stride alone (FCOS gives each level a range of box sizes): A2, B1
    result = strides.analyze(_hand_dataset(), Config(model="fcos"))
    assert result.stats.models["fcos"].candidate_levels == "smallest"
    none = {f.code: f for f in result.findings}["strides.no_grid_point"]
    assert none.severity is Severity.WARNING and none.count == 2
    assert none.threshold == 0.05
    assert "no stride-8 grid point of fcos" in none.message
    assert list(result.tables["no_grid_point"]["source"]) == ["labels.txt:2", "labels.txt:4"]

    # with a lenient threshold the no-point finding is only info
    lenient = Config(model="fcos", strides=StridesConfig(no_point_warn_share=0.5))
    found = {f.code: f for f in strides.analyze(_hand_dataset(), lenient).findings}
    assert found["strides.no_grid_point"].severity is Severity.INFO


# Grid centres (i + 0.5) * s: stride 8 -> 4, 12, 20, 28, 36, 44, ...; stride 16 -> 8, 24, 40, 56;
# stride 32 -> 16, 48, 80. Boxes as (x0, y0, x1, y1) at model input.
POOLED_BOXES = [
    # (box, stride-8 points, pooled points over 8/16/32 for yolov8: strictly inside, no enlargement)
    ((6, 6, 11, 11), 0, 1),  # 5x5 between stride-8 centres 4 and 12; holds the stride-16 centre 8
    ((13, 13, 18, 18), 0, 1),  # 5x5 between 12 and 20 and missing 8 and 24; holds stride-32's 16
    ((1, 1, 4, 4), 0, 0),  # 3x3 ending on the centre 4 (not strictly inside): no point at all
    ((25, 25, 30, 30), 1, 1),  # 28 at stride 8 only
    ((0, 0, 20, 20), 4, 6),  # 8: {4, 12}^2 = 4; 16: {8} -> 1; 32: {16} -> 1
]


def test_pooled_candidate_points_by_hand():
    box = np.array([b for b, _, _ in POOLED_BOXES], dtype=np.float64)
    args = (box[:, 0], box[:, 1], box[:, 2], box[:, 3])
    pooled = strides.candidate_points(MODELS["yolov8"], *args)
    assert pooled.tolist() == [p for _, _, p in POOLED_BOXES]
    # fcos counts its smallest stride alone
    assert strides.candidate_points(MODELS["fcos"], *args).tolist() == [p for _, p, _ in POOLED_BOXES]


def test_pooled_no_grid_point_through_the_analyzer():
    # one 640x640 image (scale 1): the POOLED_BOXES as (x, y, w, h); only (1, 1, 4, 4) has no point
    boxes = [(0, 0, x0, y0, x1 - x0, y1 - y0) for (x0, y0, x1, y1), _, _ in POOLED_BOXES]
    result = strides.analyze(_dataset(boxes, images=[(0, 640, 640)]), Config(model="yolov8"))
    v8 = result.stats.models["yolov8"]
    assert v8.levels[0].no_grid_point == 3  # per level, stride 8: the first three boxes
    assert v8.no_grid_point == 1 and v8.no_grid_point_share == pytest.approx(1 / 5)
    assert v8.median_candidate_points == 1.0  # sorted 0, 1, 1, 1, 6
    none = {f.code: f for f in result.findings}["strides.no_grid_point"]
    assert none.count == 1 and "no grid point of any level (strides 8, 16, 32) of yolov8" in none.message
    assert list(result.tables["no_grid_point"]["source"]) == ["labels.txt:3"]


# yolo26 (ultralytics >= 8.4.128, tal.py select_candidates_in_gts): a side below stride[1] = 16 px
# becomes 16 px about its centre before the strictly-inside test over all levels.
YOLO26_BOXES = [
    # (box, yolov8 pooled (< 8.4), yolo26 pooled, 8.4.0-8.4.127 rule: sides < 8 -> 16)
    # 2 px, centre 10: (9, 11) holds no centre of any level; enlarged (2, 18): 8: {4, 12}^2 = 4,
    # 16: {8} -> 1, 32: {16} -> 1 = 6
    ((9, 9, 11, 11), 0, 6, 6),
    # 2 px, centre 4: (3, 5) holds 4 -> 1; enlarged (-4, 12): 8: {4} (-4 and 12 are the edges) -> 1,
    # 16: {8} -> 1, 32: none -> 2
    ((3, 3, 5, 5), 1, 2, 2),
    # 6 px, centre 24: (21, 27) holds 16's 24 -> 1; enlarged (16, 32): 8: {20, 28}^2 = 4,
    # 16: {24} -> 1, 32: 16 is the edge -> 0 = 5
    ((21, 21, 27, 27), 1, 5, 5),
    # 20 px is not enlarged: (30, 50): 8: {36, 44}^2 = 4, 16: {40} -> 1, 32: {48} -> 1 = 6
    ((30, 30, 50, 50), 6, 6, 6),
    # 12 px, centre 10: (4, 16): 8: {12} -> 1, 16: {8} -> 1, 32: 16 is the edge -> 2; yolo26 enlarges
    # it to (2, 18) -> 6 as the 2 px box; the 8.4.0 rule leaves a side of 8 px or more alone -> 2
    ((4, 4, 16, 16), 2, 6, 2),
    # 2x20: only x is enlarged, (2, 18) x (30, 50): 8: 2 x 2, 16: 1 x 1, 32: 1 x 1 = 6
    ((9, 30, 11, 50), 0, 6, 6),
]


def test_yolo26_enlargement_by_hand():
    box = np.array([b for b, *_ in YOLO26_BOXES], dtype=np.float64)
    args = (box[:, 0], box[:, 1], box[:, 2], box[:, 3])
    assert strides.candidate_points(MODELS["yolov8"], *args).tolist() == [r[1] for r in YOLO26_BOXES]
    assert strides.candidate_points(MODELS["yolo26"], *args).tolist() == [r[2] for r in YOLO26_BOXES]
    rule_8_4_0 = dataclasses.replace(MODELS["yolo26"], enlarge_below=8, enlarge_to=16)
    assert strides.candidate_points(rule_8_4_0, *args).tolist() == [r[3] for r in YOLO26_BOXES]


def _brute_candidates(box, strides_, below, to):
    """A second count: enlarge like tal.py (xyxy -> xywh, w = to where w < below, back to xyxy),
    then test every grid centre of a 640 canvas and its border for lo < centre < hi."""
    x0, y0, x1, y1 = box
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    w = to if w < below else w
    h = to if h < below else h
    x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
    n = 0
    for s in strides_:
        centres = [(i + 0.5) * s for i in range(-8, 700 // s)]
        n += sum(x0 < cx_ < x1 for cx_ in centres) * sum(y0 < cy_ < y1 for cy_ in centres)
    return n


def test_candidate_points_against_a_brute_count():
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 600, size=(300, 2))
    wh = rng.uniform(0.5, 40, size=(300, 2))
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = x0 + wh[:, 0], y0 + wh[:, 1]
    for name, below, to in (("yolov8", 0, 0), ("yolo26", 16, 16)):
        got = strides.candidate_points(MODELS[name], x0, y0, x1, y1)
        want = [_brute_candidates(b, (8, 16, 32), below, to) for b in zip(x0, y0, x1, y1, strict=True)]
        assert got.tolist() == want, name


def test_yolo26_is_selectable_and_keeps_small_boxes():
    # the 2 px box at (9, 9) has no candidate for yolov8 and 6 for yolo26
    ds = _dataset([(0, 0, 9, 9, 2, 2), (0, 0, 30, 30, 20, 20)], images=[(0, 640, 640)])
    s = strides.analyze(ds, Config(model="yolo26")).stats
    assert list(s.models) == ["yolo26", "yolov8", "yolov8-p2"]
    y26 = s.models["yolo26"]
    assert y26.assigner_version == "ultralytics>=8.4.128" and y26.candidate_levels == "all"
    assert y26.no_grid_point == 0 and y26.median_candidate_points == 6.0
    assert s.models["yolov8"].no_grid_point == 1


def test_selected_model_is_reported_with_the_always_models():
    s = strides.analyze(_hand_dataset(), Config(model="fcos")).stats
    assert list(s.models) == ["fcos", "yolov8", "yolov8-p2"]
    assert s.models["fcos"].strides == [8, 16, 32, 64, 128]
    assert s.models["fcos"].by_class is not None and s.models["yolov8"].by_class is None


def test_noise_shift_comes_from_config():
    config = Config(strides=StridesConfig(noise_shift_px=2.0))
    floor = strides.analyze(_hand_dataset(), config).stats.iou_noise_floor
    # 3x3 shifted by 2: (1*1) / (18 - 1) = 1/17
    assert floor["very_tiny"].median_iou == pytest.approx(1 / 17)


def test_empty_dataset():
    ds = _dataset([(0, 0, 0, 0, 0, 0)], images=[(0, 640, 640)])
    result = strides.analyze(ds, Config())
    assert result.stats.num_boxes == 0
    assert math.isnan(result.stats.models["yolov8"].no_grid_point_share)
    assert result.findings == []


def test_grid_points_and_collisions_on_real_data_against_a_slow_count(realdata):
    """coco_mini: the vectorised counts equal a plain Python count, box by box."""
    from sodaudit.loaders import load

    ds = load(realdata / "coco_mini/annotations/instances_train2017.json")
    result = strides.analyze(ds, Config(model="yolov8"))
    b = ds.selected_boxes()
    no_point = 0
    no_point_8 = 0
    below = 0
    cells: Counter = Counter()
    keys = []
    for row in b.itertuples():
        s = row.scale
        W, H = row.img_w * s, row.img_h * s
        x0, x1 = min(max(row.x * s, 0), W), min(max((row.x + row.w) * s, 0), W)
        y0, y1 = min(max(row.y * s, 0), H), min(max((row.y + row.h) * s, 0), H)
        inside = {}
        for st in (8, 16, 32):
            xs = [i for i in range(200) if x0 < (i + 0.5) * st < x1]
            ys = [j for j in range(200) if y0 < (j + 0.5) * st < y1]
            inside[st] = bool(xs and ys)
        no_point_8 += not inside[8]
        no_point += not any(inside.values())  # yolov8's assigner pools the levels
        below += min(row.w, row.h) * s < 8
        key = (row.image_id, math.floor((x0 + x1) / 2 / 8), math.floor((y0 + y1) / 2 / 8))
        cells[key] += 1
        keys.append(key)
    collide = sum(cells[k] > 1 for k in keys)
    shared_cells = sum(c > 1 for c in cells.values())
    v8 = result.stats.models["yolov8"]
    assert result.stats.num_boxes == len(b) == 731  # 739 boxes, 8 iscrowd
    assert v8.levels[0].no_grid_point == no_point_8
    assert v8.no_grid_point == no_point
    assert v8.below_smallest_stride == below
    assert v8.center_collision_boxes == collide
    (finding,) = [f for f in result.findings if f.code == "strides.center_collisions"]
    assert f"({shared_cells} cells hold two or more centres)" in finding.message
