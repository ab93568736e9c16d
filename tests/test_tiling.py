"""Tile grids placed as SAHI places them, and their simulation on boxes, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sodaudit.recommend.tilesim import axis_starts, overlap_px, simulate, slicing_params, tile_grid


def sahi_reference(image_height: int, image_width: int, t: int, ratio: float) -> list[list[int]]:
    """SAHI's get_slice_bboxes loop, written out independently of the module under test."""
    out = []
    y_max = y_min = 0
    y_overlap = int(ratio * t)
    x_overlap = int(ratio * t)
    while y_max < image_height:
        x_min = x_max = 0
        y_max = y_min + t
        while x_max < image_width:
            x_max = x_min + t
            if y_max > image_height or x_max > image_width:
                xmax = min(image_width, x_max)
                ymax = min(image_height, y_max)
                out.append([max(0, xmax - t), max(0, ymax - t), xmax, ymax])
            else:
                out.append([x_min, y_min, x_max, y_max])
            x_min = x_max - x_overlap
        y_min = y_max - y_overlap
    return out


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "starts"),
    [
        # 1920 px, T 640, overlap 128 -> step 512: 0, 512, 1024; 1536 + 640 > 1920 -> flush 1280
        (1920, 640, 128, [0, 512, 1024, 1280]),
        # 1080 px: 0; 512 + 640 = 1152 > 1080 -> flush 1080 - 640 = 440
        (1080, 640, 128, [0, 440]),
        (640, 640, 0, [0]),  # exactly one tile
        (500, 640, 128, [0]),  # side shorter than the tile: one tile over the whole side
        (1280, 640, 0, [0, 640]),  # fits exactly, no flush needed
        (1281, 640, 0, [0, 640, 641]),  # one pixel more: a third tile flush with the border
        (2000, 1000, 500, [0, 500, 1000]),  # the last regular tile ends on the border
    ],
)
def test_axis_starts_by_hand(length, tile, overlap, starts):
    assert axis_starts(length, tile, overlap).tolist() == starts


def test_1920x1080_t640_overlap_02_has_4x2_tiles():
    # overlap int(0.2 * 640) = 128; x: ceil((1920 - 640) / 512) + 1 = 4; y: ceil(440 / 512) + 1 = 2
    grid = tile_grid(1920, 1080, 640, 0.2)
    assert grid.overlap_px == 128
    assert (len(grid.xs), len(grid.ys), grid.num_tiles) == (4, 2, 8)
    boxes = grid.bboxes()
    assert boxes[0].tolist() == [0, 0, 640, 640]
    assert boxes[-1].tolist() == [1280, 440, 1920, 1080]
    assert boxes.tolist() == sahi_reference(1080, 1920, 640, 0.2)


def test_overlap_is_truncated_like_sahi():
    # int(0.29 * 100) == 28 in floating point (0.29 * 100 = 28.999999999999996)
    assert overlap_px(100, 0.29) == 28
    assert overlap_px(640, 0.2) == 128


@settings(max_examples=200, deadline=None)
@given(
    w=st.integers(1, 5000),
    h=st.integers(1, 5000),
    t=st.integers(16, 1500),
    ratio=st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.25, 0.3, 0.5]),
)
def test_grid_equals_sahi_loop(w, h, t, ratio):
    assert tile_grid(w, h, t, ratio).bboxes().tolist() == sahi_reference(h, w, t, ratio)


def _boxes(rows, img_w=1920, img_h=1080):
    """rows: (image_id, x, y, w, h)."""
    df = pd.DataFrame(rows, columns=["image_id", "x", "y", "w", "h"]).astype(float)
    df["image_id"] = df["image_id"].astype(int)
    df["img_w"] = float(img_w)
    df["img_h"] = float(img_h)
    df["short_side"] = np.minimum(df["w"], df["h"])
    return df


def test_simulation_by_hand():
    # Columns of 1920 at T 640, overlap 128: [0,640] [512,1152] [1024,1664] [1280,1920];
    # rows of 1080: [0,640] [440,1080].
    boxes = _boxes(
        [
            (1, 100, 100, 20, 20),  # a: inside column 0 / row 0 only
            (1, 630, 100, 20, 20),  # b: inside column 1; column 0 sees 10/20 = 0.5 -> kept fragment
            (1, 500, 100, 700, 20),  # c: 700 px wide, no column holds it: cut by all 3 touching
            (1, 637, 100, 40, 20),  # d: inside column 1; column 0 sees 3/40 = 0.075 -> dropped fragment
        ]
    )
    sim = simulate(boxes, 640, 0.2, 640, min_area_ratio=0.1, min_side_px=8)
    s = sim.stats
    assert s["overlap_px"] == 128 and s["step_px"] == 512
    assert s["total_tiles"] == 8 and s["tiles_per_image"] == 8
    assert s["whole_in_a_tile"] == 3
    assert s["cut_by_every_tile"] == 1
    assert s["share_cut_by_every_tile"] == pytest.approx(0.25)
    # c: columns 0, 1, 2 see 140, 640, 176 of 700 px (0.2, 0.914, 0.251): three kept fragments
    assert s["cut_fragments"] == 1 + 3 + 1
    assert s["cut_fragments_dropped"] == 1
    assert s["cut_fragments_kept"] == 4
    assert s["lost_to_min_area"] == 0
    assert sim.scale.tolist() == [1.0] * 4  # 640 px tiles at imgsz 640
    assert s["reach_min_side"] == 4  # short sides 20 px at scale 1


def test_box_lost_to_min_area_rule():
    # T 100, no overlap on 1920 x 1080: columns 0, 100, ..., 1800 and a flush 1820; rows 0, 100,
    # ..., 900 and a flush 980 (980..1080). A 1000 x 1000 box at the origin touches columns
    # 0..900 (10) and rows 0..900 plus the flush row 980 (11): 110 tiles, each seeing at most
    # 100 x 100 of 10^6 px^2 = 1% (< 10%): every fragment is dropped and the box is lost.
    boxes = _boxes([(1, 0, 0, 1000, 1000)])
    s = simulate(boxes, 100, 0.0, 640, min_area_ratio=0.1).stats
    assert s["cut_fragments"] == 110 and s["cut_fragments_dropped"] == 110
    assert s["lost_to_min_area"] == 1 and s["whole_in_a_tile"] == 0


def test_tiles_larger_than_a_side_and_background_images():
    # T 1280, overlap int(0.2 * 1280) = 256, step 1024: x 0, then 1024 + 1280 > 1920 -> 640;
    # y: 1080 < 1280 -> one row. Tile 1280 x 1080 -> scale 640 / 1280 = 0.5.
    boxes = _boxes([(1, 10, 10, 20, 16)])
    images = pd.DataFrame({"image_id": [1, 2], "width": [1920.0, 1920.0], "height": [1080.0, 1080.0]})
    sim = simulate(boxes, 1280, 0.2, 640, min_side_px=8, images=images)
    s = sim.stats
    assert s["grids"][0]["x_starts"] == [0, 640] and s["grids"][0]["y_starts"] == [0]
    assert s["total_tiles"] == 4  # two images (one without boxes) x 2 tiles
    assert sim.scale.tolist() == [0.5]
    assert s["reach_min_side"] == 1  # 16 px * 0.5 = 8 px


def test_box_past_the_edge_is_clipped_and_outside_box_skipped():
    boxes = _boxes([(1, 1905, 540, 40, 16), (1, 2000, 10, 5, 5)])
    sim = simulate(boxes, 640, 0.2, 640)
    assert sim.stats["num_boxes"] == 1  # the box wholly outside the image is left out
    assert sim.stats["whole_in_a_tile"] == 1  # clipped to 1905..1920: inside the last column


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    t=st.integers(100, 700),
    long_side=st.integers(1, 60),
)
def test_overlap_covering_objects_keeps_them_whole(seed, t, long_side):
    """With overlap >= every object's long side, each object lies whole in some tile."""
    rng = np.random.default_rng(seed)
    n = 200
    w = rng.integers(1, long_side + 1, n)
    h = rng.integers(1, long_side + 1, n)
    x = rng.uniform(0, 1920 - w)
    y = rng.uniform(0, 1080 - h)
    ratio = min(0.5, np.ceil(long_side / t * 100) / 100)
    if overlap_px(t, ratio) < long_side:
        ratio = 0.5
    if overlap_px(t, ratio) < long_side:
        return  # tile too small for these objects at the 0.5 cap
    boxes = _boxes(list(zip(np.ones(n, int), x, y, w, h, strict=True)))
    assert simulate(boxes, t, ratio, 640).stats["whole_in_a_tile"] == n


def test_slicing_params():
    p = slicing_params(960, 0.02, 640, 0.1)
    assert p["sahi"] == {
        "slice_height": 960,
        "slice_width": 960,
        "overlap_height_ratio": 0.02,
        "overlap_width_ratio": 0.02,
        "min_area_ratio": 0.1,
    }
    assert p["ultralytics_split_dota"] == {"crop_size": 960, "gap": 19, "rates": [1.0]}  # int(19.2)
