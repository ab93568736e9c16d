"""Stride analysis: grid points inside boxes, centre-cell collisions, IoU noise floor, by hand."""

from __future__ import annotations

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
    got, cells = strides.center_collisions(
        np.array([1, 1, 1, 2]),
        np.array([4.0, 6.0, 9.0, 5.0]),
        np.array([4.0, 7.0, 4.0, 5.0]),
        8,
    )
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
    assert v8.no_grid_point_share == 0.4
    assert json.loads(msgspec.json.encode(v8.by_class["car"])) == {
        "n": 3,
        "below_smallest_stride_share": 0.0,
        "no_grid_point_share": pytest.approx(2 / 3),  # A2 and B1
        "center_collision_share": pytest.approx(1 / 3),  # B1
    }

    p2 = s.models["yolov8-p2"]
    assert p2.strides == [4, 8, 16, 32]
    # stride 4 (centres 2, 6, 10, 14, ...): A3 x (10, 13) holds none (10 is the edge) -> 1 box;
    # short side < 4: A3 -> 1 box; cells at 4: A1 (1,1), A2 (2,2), A3 (2,0), B1 (26,26),
    # B2 (27,27) -> no collision.
    assert p2.below_smallest_stride == 1
    assert p2.no_grid_point == 1
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
    none = found["strides.no_grid_point"]
    assert none.severity is Severity.WARNING and none.count == 2
    assert none.threshold == 0.05
    assert list(result.tables["no_grid_point"]["source"]) == ["labels.txt:2", "labels.txt:4"]
    coll = found["strides.center_collisions"]
    assert coll.count == 2
    assert "(1 cell holds two or more centres)" in coll.message
    assert list(result.tables["center_collisions"]["source"]) == ["labels.txt:4", "labels.txt:5"]

    # with a lenient threshold the no-point finding is only info
    lenient = Config(model="yolov8", strides=StridesConfig(no_point_warn_share=0.5))
    found = {f.code: f for f in strides.analyze(_hand_dataset(), lenient).findings}
    assert found["strides.no_grid_point"].severity is Severity.INFO


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
    b = ds.boxes[ds.boxes["valid"] & ~ds.boxes["ignore"]]
    no_point = 0
    below = 0
    cells: Counter = Counter()
    keys = []
    for row in b.itertuples():
        s = row.scale
        W, H = row.img_w * s, row.img_h * s
        x0, x1 = min(max(row.x * s, 0), W), min(max((row.x + row.w) * s, 0), W)
        y0, y1 = min(max(row.y * s, 0), H), min(max((row.y + row.h) * s, 0), H)
        xs = [i for i in range(200) if x0 < (i + 0.5) * 8 < x1]
        ys = [j for j in range(200) if y0 < (j + 0.5) * 8 < y1]
        no_point += not (xs and ys)
        below += min(row.w, row.h) * s < 8
        key = (row.image_id, math.floor((x0 + x1) / 2 / 8), math.floor((y0 + y1) / 2 / 8))
        cells[key] += 1
        keys.append(key)
    collide = sum(cells[k] > 1 for k in keys)
    shared_cells = sum(c > 1 for c in cells.values())
    v8 = result.stats.models["yolov8"]
    assert result.stats.num_boxes == len(b) == 731  # 739 boxes, 8 iscrowd
    assert v8.no_grid_point == no_point
    assert v8.below_smallest_stride == below
    assert v8.center_collision_boxes == collide
    (finding,) = [f for f in result.findings if f.code == "strides.center_collisions"]
    assert f"({shared_cells} cells hold two or more centres)" in finding.message
