"""Sub-threshold labels: rule counts, shares, the label list and review zoom, worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sodaudit.analyzers import subthreshold
from sodaudit.config import Config, SubthresholdConfig
from sodaudit.dataset import Dataset
from sodaudit.findings import Severity
from sodaudit.jsonable import jsonable


def build(imgsz=640):
    # Image 1: 1280x720 -> scale 640/1280 = 0.5; image 2: 640x640 -> scale 1.
    images = pd.DataFrame(
        {
            "image_id": [1, 2],
            "file_name": ["a.jpg", "b.jpg"],
            "path": ["", ""],
            "split": ["train", "train"],
            "width": [1280.0, 640.0],
            "height": [720.0, 640.0],
            "status": ["ok", "ok"],
        }
    )
    boxes = pd.DataFrame(
        {
            "image_id": [1, 1, 1, 2, 2, 2, 2, 2],
            "class_id": [0, 0, 0, 1, 1, 1, 1, 1],
            "x": [0.0] * 8,
            "y": [0.0] * 8,
            # 5x100 -> 2.5x50 at 640 (model rule); 1.5x10 -> 0.75x5 (both rules); 8x8 -> 4x4;
            # 2.9x20 unchanged (model rule); 3x3 (3 is not < 3); 40x40; ignored 1x1; invalid.
            "w": [5.0, 1.5, 8.0, 2.9, 3.0, 40.0, 1.0, -1.0],
            "h": [100.0, 10.0, 8.0, 20.0, 3.0, 40.0, 1.0, 4.0],
            "ignore": [False] * 6 + [True, False],
            "source_file": ["a.txt"] * 3 + ["b.txt"] * 5,
            "source_line": [1, 2, 3, 1, 2, 3, 4, 5],
        }
    )
    return Dataset.build(
        root=Path("/d"),
        format="test",
        boxes=boxes,
        images=images,
        classes={0: "car", 1: "person"},
        imgsz=imgsz,
    )


def codes(result):
    return {f.code: f for f in result.findings}


def test_rules_counts_and_shares_by_hand():
    r = subthreshold.analyze(build(), Config())
    s = r.stats
    assert s.num_labels == 6  # ignored and invalid boxes are not labels here
    assert s.below_3px_at_imgsz == 3  # 2.5 wide, 0.75 wide, 2.9 wide
    assert s.min_side_model_px == 3.0
    model = s.rules.min_side_model
    assert (model.count, model.share, model.threshold) == (3, 0.5, 3.0)
    # car: 2 of its 3 labels; person: 1 of its 3
    assert (model.per_class["car"].count, model.per_class["car"].share) == (2, pytest.approx(2 / 3))
    assert (model.per_class["person"].count, model.per_class["person"].share) == (1, pytest.approx(1 / 3))
    native = s.rules.min_side_native
    assert (native.count, native.threshold) == (1, 2.0)  # only 1.5 < 2
    assert list(native.per_class) == ["car"]
    assert (native.per_class["car"].count, native.per_class["car"].share) == (1, pytest.approx(1 / 3))
    assert s.rules.min_area_share is None  # off by default
    assert list(s.rules.by_name()) == ["min_side_native", "min_side_model"]
    assert "min_area_share" not in jsonable(s)["rules"]  # and left out of the JSON
    assert s.union.count == 3
    assert s.union.share == 0.5


def test_label_table_lists_every_offender():
    r = subthreshold.analyze(build(), Config())
    t = r.tables["labels"]
    assert list(t["source"]) == ["a.txt:1", "a.txt:2", "b.txt:1"]
    assert list(t["class_name"]) == ["car", "car", "person"]
    assert list(t["w_model"]) == pytest.approx([2.5, 0.75, 2.9])
    assert list(t["h_model"]) == pytest.approx([50.0, 5.0, 20.0])
    assert list(t["rules"]) == [
        "min_side_model",
        "min_side_native,min_side_model",
        "min_side_model",
    ]
    # zoom = 32 / sqrt(w*h): 32/sqrt(500), 32/sqrt(15), 32/sqrt(58)
    assert list(t["zoom"]) == pytest.approx([32 / math.sqrt(500), 32 / math.sqrt(15), 32 / 58**0.5])
    assert set(t.columns) >= {"image", "class_name", "w", "h", "w_model", "h_model", "source"}


def test_zoom_needed_by_hand():
    z = subthreshold.analyze(build(), Config()).stats.zoom
    # 32 / sqrt area: 1.43, 8.26, 4.0 (8x8, exactly the flag), 4.20, 10.67, 0.8 -> 4 of 6 >= 4
    assert z.count_at_least_flag == 4
    assert z.share_at_least_flag == pytest.approx(4 / 6)
    assert z.flag == 4.0
    values = sorted(32 / np.sqrt([500, 15, 64, 58, 9, 1600]))
    assert z.quantiles["p50"] == pytest.approx((values[2] + values[3]) / 2)


def test_findings_message_and_severity():
    found = codes(subthreshold.analyze(build(), Config()))
    f = found["subthreshold.below_min_model"]
    assert f.message.startswith("3 of 6 labels are < 3 px at imgsz 640")
    assert f.severity is Severity.WARNING  # share 0.5 > warn_share 0.01
    assert f.count == 3 and f.threshold == 3.0
    assert f.examples[0].startswith("a.txt:1 [car]")
    assert found["subthreshold.below_min_native"].count == 1
    # car: 2 of 3 below a rule (> 50%); person: 1 of 3 is not
    mostly = [f for f in found.values() if f.code == "subthreshold.class_mostly_below"]
    assert [(m.class_name, m.count) for m in mostly] == [("car", 2)]
    assert "2 of 3 labels of class 'car'" in mostly[0].message


def test_info_below_warn_share():
    config = Config(subthreshold=SubthresholdConfig(warn_share=0.6))
    found = codes(subthreshold.analyze(build(), config))
    assert found["subthreshold.below_min_model"].severity is Severity.INFO  # 0.5 <= 0.6


@pytest.mark.parametrize(
    "imgsz, min_model, expected",
    [
        (640, 3.0, 3),
        # < 5 at 640: 2.5, 0.75, 4 (8x8 halved), 2.9, 3 -> 5
        (640, 5.0, 5),
        # at 1280 image 1 is unscaled, image 2 doubled: only 1.5 < 3
        (1280, 3.0, 1),
    ],
)
def test_below_model_rule_table(imgsz, min_model, expected):
    config = Config(subthreshold=SubthresholdConfig(min_side_model_px=min_model))
    r = subthreshold.analyze(build(imgsz), config)
    assert r.stats.below_3px_at_imgsz == expected
    assert r.stats.min_side_model_px == min_model
    assert r.stats.imgsz == imgsz
    assert codes(r)["subthreshold.below_min_model"].message.startswith(
        f"{expected} of 6 labels are < {min_model:g} px at imgsz {imgsz}"
    )


def test_min_area_share_rule():
    # image 1 area 921600 * 0.0005 = 460.8: areas 500 no, 15 yes, 64 yes;
    # image 2 area 409600 * 0.0005 = 204.8: 58 yes, 9 yes, 1600 no
    config = Config(subthreshold=SubthresholdConfig(min_area_share=0.0005))
    r = subthreshold.analyze(build(), config)
    rule = r.stats.rules.min_area_share
    assert rule is not None
    assert (rule.count, rule.threshold) == (4, 0.0005)
    assert list(r.stats.rules.by_name()) == ["min_side_native", "min_side_model", "min_area_share"]
    assert r.stats.union.count == 5  # + the 5x100 box (model rule only)
    f = codes(r)["subthreshold.below_min_area_share"]
    assert f.count == 4
    assert f.message.startswith("4 of 6 labels cover < 0.05% of their image area")
    assert jsonable(r.stats)["rules"]["min_area_share"]["count"] == 4
    json.dumps(jsonable(r.stats), allow_nan=False)


@pytest.mark.parametrize(
    "relative, expected",
    [
        ("coco_mini/annotations/instances_train2017.json", 2),
        ("coco_mini/annotations/instances_val2017.json", 2),
        ("bccd_voc", 0),
        ("ships_yolo", 0),
    ],
)
def test_below_3px_on_real_data(realdata: Path, relative: str, expected: int):
    from sodaudit.loaders import load

    stats = subthreshold.analyze(load(realdata / relative), Config()).stats
    assert stats.below_3px_at_imgsz == expected
