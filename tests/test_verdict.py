"""The verdict sentence and the gate's words, from hand-made plans (numbers chosen so the text
can be checked by eye: 600 of 1,000 boxes below 8 px is 60.0%)."""

from __future__ import annotations

import pytest

from sodaudit.verdict import SEVERE_BELOW_SHARE, verdict


def plan(**changes) -> dict:
    base = {
        "primary": "resolution",
        "imgsz": 1280,
        "tile": None,
        "overlap": None,
        "cost_factor": 4.0,
        "reach_share": 0.95,
        "current_share": 0.4,
        "target_share": 0.9,
        "max_cost": 4.0,
        "min_side_px": 8,
        "num_boxes": 1000,
        "alternatives": [],
    }
    return {**base, **changes}


def say(p: dict | None, passed: bool = True, fail_on: str = "error", **kw):
    return verdict(
        p, model="yolov8", imgsz=640, num_valid=40, gate_passed=passed, fail_on=fail_on, min_boxes=100, **kw
    )


def test_resolution_plan_reaching_the_target():
    v = say(plan())
    assert v.sentence == (
        "60.0% of 1,000 boxes have a short side < 8 px at model input (yolov8's smallest stride, "
        "imgsz 640). Plan: train and infer at imgsz 1280 (4.0x compute): 95.0% of boxes then reach 8 px."
    )
    assert v.severe  # 60% >= 25%
    assert "60.0% of boxes are below the smallest stride" in v.gate


def test_plan_short_of_the_target_names_the_best_alternative():
    alternatives = [
        {"primary": "resolution", "imgsz": 1536, "tile": None, "cost_factor": 5.76, "reach_share": 0.7},
        {"primary": "tiling", "imgsz": 640, "tile": 320, "cost_factor": 28.0, "reach_share": 0.93},
    ]
    v = say(plan(reach_share=0.5, alternatives=alternatives))
    assert "50.0% of boxes then reach 8 px; the 90% target is out of reach within the 4x cap" in v.sentence
    assert "(320 px tiles reach 93.0% at 28.0x)" in v.sentence


def test_tiling_plan():
    v = say(plan(primary="tiling", imgsz=640, tile=320, overlap=0.2, cost_factor=5.2))
    assert (
        "cut images into 320 px tiles (upsampled) with overlap 0.2 at imgsz 640 (5.2x compute)" in v.sentence
    )


def test_nothing_below_and_no_change():
    v = say(plan(primary="none", imgsz=640, cost_factor=1.0, current_share=1.0, reach_share=1.0))
    assert v.sentence.startswith("No box of 1,000 has a short side < 8 px")
    assert "Plan: keep imgsz 640: 100.0% reach 8 px (target 90%)." in v.sentence
    assert not v.severe and v.gate == "No finding at the gate's level (it fails on errors)."


@pytest.mark.parametrize("below, severe", [(SEVERE_BELOW_SHARE - 0.01, False), (SEVERE_BELOW_SHARE, True)])
def test_severe_from_the_share_below(below: float, severe: bool):
    assert say(plan(current_share=1 - below)).severe is severe


def test_too_few_boxes():
    v = say(None)
    assert v.sentence.startswith("Only 40 valid boxes") and "recommend.min_boxes = 100" in v.sentence


def test_failed_gate_names_what_failed():
    codes = ("integrity.unknown_class", "load.split_path_missing", "a.b", "c.d")
    v = say(plan(), passed=False, failed_codes=codes)
    assert v.gate == (
        "The gate fails on errors and found integrity.unknown_class, load.split_path_missing, a.b and "
        "1 more; fix these first (what to change, item 1)."
    )


def test_gate_off():
    assert say(plan(), fail_on="never", errors=2).gate == (
        "The gate is off (--fail-on never): it passes whatever is found. 2 errors are not held against it."
    )
