"""Model presets: anchor points by hand, the assigner rule each preset models and its source."""

from __future__ import annotations

import numpy as np
import pytest

from sodaudit.models import MODEL_NAMES, MODELS, anchor_points


@pytest.mark.parametrize(
    ("strides", "imgsz", "points"),
    [
        ((8, 16, 32), 640, 8400),  # 80^2 + 40^2 + 20^2 = 6400 + 1600 + 400
        ((4, 8, 16, 32), 640, 34000),  # + 160^2 = 25600
        ((8, 16, 32), 1280, 33600),  # 160^2 + 80^2 + 40^2 = 25600 + 6400 + 1600
        ((8, 16, 32), 100, 234),  # ceil: 13^2 + 7^2 + 4^2 = 169 + 49 + 16 (stride-2 convs, padding 1)
    ],
)
def test_anchor_points(strides, imgsz, points):
    assert anchor_points(strides, imgsz) == points


def test_yolo26_is_a_model_choice():
    assert "yolo26" in MODEL_NAMES
    assert MODELS["yolo26"].strides == (8, 16, 32)


@pytest.mark.parametrize("name", ["yolov8", "yolo11", "yolo26", "yolov8-p2"])
def test_tal_presets_say_which_assigner_they_model(name):
    preset = MODELS[name]
    assert preset.assigner == "points" and preset.candidate_levels == "all"
    assert preset.assigner_version.startswith("ultralytics")
    assert "tal.py" in preset.source and "select_candidates_in_gts" in preset.source


def test_yolo26_floors_sides_at_the_second_stride():
    # ultralytics >= 8.4.128: stride_val = stride[1]; sides below it become stride_val
    preset = MODELS["yolo26"]
    assert preset.enlarge_below == preset.enlarge_to == preset.strides[1] == 16
    lo, hi = preset.candidate_span(np.array([9.0, 21.0, 30.0, 0.0]), np.array([11.0, 27.0, 50.0, 15.9]))
    # 2 px about 10 -> (2, 18); 6 px about 24 -> (16, 32); 20 px kept; 15.9 px about 7.95 -> 16 px
    assert lo.tolist() == [2.0, 16.0, 30.0, pytest.approx(-0.05)]
    assert hi.tolist() == [18.0, 32.0, 50.0, pytest.approx(15.95)]


def test_presets_before_8_4_keep_the_box():
    lo, hi = MODELS["yolov8"].candidate_span(np.array([9.0]), np.array([11.0]))
    assert (lo.tolist(), hi.tolist()) == ([9.0], [11.0])


def test_cli_model_yolo26(sample_data, tmp_path):
    """``--model yolo26`` is a CLI choice and its preset reaches report.json."""
    import json

    from sodaudit.cli import main

    out = tmp_path / "out"
    argv = ["run", str(sample_data / "yolo"), "--model", "yolo26", "--out", str(out), "--fail-on", "never"]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    models = report["analyzers"]["strides"]["stats"]["models"]
    assert report["config"]["model"] == "yolo26"
    assert models["yolo26"]["assigner_version"] == "ultralytics>=8.4.128"
    assert models["yolo26"]["no_grid_point"] == 0  # a 16 px open span always holds a stride-8 centre
    assert report["config"]["imgsz"] == 640
    assert models["yolov8"]["anchor_points"] == 8400 and models["yolov8-p2"]["anchor_points"] == 34000
