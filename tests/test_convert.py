"""Format conversions and the letterbox: closed-form cases and round-trip properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sodaudit import convert

SIZES = st.integers(1, 8000)
COORD = st.floats(0, 1, allow_nan=False)


def test_closed_form_cases():
    # a 40x20 box at (80, 30) in a 200x100 image: centre (100, 40) -> (0.5, 0.4, 0.2, 0.2)
    assert convert.xywh_to_yolo([[80, 30, 40, 20]], 200, 100) == pytest.approx(
        np.array([[0.5, 0.4, 0.2, 0.2]])
    )
    assert convert.yolo_to_xywh([[0.5, 0.4, 0.2, 0.2]], 200, 100) == pytest.approx(
        np.array([[80, 30, 40, 20]])
    )
    assert convert.xywh_to_voc([[80, 30, 40, 20]]).tolist() == [[80, 30, 120, 50]]
    # 1920x1080 to 640: scale 1/3, padding (640 - 360) / 2 = 140 on top
    boxed = convert.to_model_input([[300, 90, 30, 9]], 1920, 1080, 640)
    assert boxed == pytest.approx(np.array([[100, 30 + 140, 10, 3]]))


@settings(max_examples=200, derandomize=True)
@given(COORD, COORD, COORD, COORD, SIZES, SIZES)
def test_coco_yolo_voc_round_trip(a, b, c, d, img_w, img_h):
    x, y = a * img_w, b * img_h
    w, h = c * img_w, d * img_h
    box = np.array([[x, y, w, h]])
    via_yolo = convert.yolo_to_xywh(convert.xywh_to_yolo(box, img_w, img_h), img_w, img_h)
    via_voc = convert.voc_to_xywh(convert.xywh_to_voc(box))
    assert np.abs(via_yolo - box).max() <= 1e-6
    assert np.abs(via_voc - box).max() <= 1e-6
    chained = convert.voc_to_xywh(convert.xywh_to_voc(via_yolo))
    assert np.abs(chained - box).max() <= 1e-6


@settings(max_examples=200, derandomize=True)
@given(COORD, COORD, COORD, COORD, SIZES, SIZES, st.sampled_from([320, 640, 1024, 1280]))
def test_letterbox_round_trip_and_bounds(a, b, c, d, img_w, img_h, imgsz):
    box = np.array([[a * img_w * (1 - c), b * img_h * (1 - d), c * img_w, d * img_h]])
    there = convert.to_model_input(box, img_w, img_h, imgsz)
    back = convert.from_model_input(there, img_w, img_h, imgsz)
    assert np.abs(back - box).max() <= 1e-6 * max(img_w, img_h)
    # a box inside the image lands inside the square, and sizes scale by imgsz / long side
    assert there[0, 0] >= -1e-9 and there[0, 0] + there[0, 2] <= imgsz + 1e-6
    assert there[0, 2] == pytest.approx(box[0, 2] * imgsz / max(img_w, img_h))
