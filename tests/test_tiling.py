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
    assert "ultralytics_split_dota" not in p  # DOTA oriented boxes only: not for these labels
    assert p["patches"]["overlap_px"] == 19  # int(19.2)


# --- Issue 14: the simulation equals SAHI's slice_coco (sahi/slicing.py, 0.12.6) ---


def test_2000x1500_t640_overlap_02_grid_written_out_by_hand():
    # get_slice_bboxes: overlap int(0.2 * 640) = 128, step 512. x: 0, 512, 1024 (ends 1664 < 2000),
    # 1536 + 640 = 2176 > 2000 -> x_max 2000, x_min 2000 - 640 = 1360. y: 0, 512 (ends 1152 < 1500),
    # 1024 + 640 = 1664 > 1500 -> y_max 1500, y_min 860. Rows outer, as SAHI appends them.
    expected = [
        [0, 0, 640, 640], [512, 0, 1152, 640], [1024, 0, 1664, 640], [1360, 0, 2000, 640],
        [0, 512, 640, 1152], [512, 512, 1152, 1152], [1024, 512, 1664, 1152], [1360, 512, 2000, 1152],
        [0, 860, 640, 1500], [512, 860, 1152, 1500], [1024, 860, 1664, 1500], [1360, 860, 2000, 1500],
    ]  # fmt: skip
    assert tile_grid(2000, 1500, 640, 0.2).bboxes().tolist() == expected


@pytest.mark.parametrize(
    ("x", "w", "h", "kept"),
    [
        # Columns [0, 640] and [512, 1152]; each box lies whole in column 1 and is cut by column 0.
        (620, 40, 20, True),  # column 0 sees 20 x 20 = 400 of 800 -> 0.5
        (636, 40, 20, True),  # 4 x 20 = 80 of 800 -> exactly 0.1, kept (SAHI: >= min_area_ratio)
        (637, 40, 20, False),  # 3 x 20 = 60 of 800 -> 0.075
        (639, 10, 1.95, False),  # int(1 x 1.95) / int(10 x 1.95) = 1 / 19 -> 0.053 (floats: 0.1)
        (639, 10.9, 1, True),  # int(1 x 1) / int(10.9 x 1) = 1 / 10 -> 0.1 (floats: 0.092)
    ],
)
def test_cut_box_kept_or_dropped_at_min_area_ratio_01(x, w, h, kept):
    # SAHI process_coco_annotations: int(sliced area) / int(original area) >= min_area_ratio.
    boxes = _boxes([(1, x, 100, w, h)], img_w=2000, img_h=1500)
    s = simulate(boxes, 640, 0.2, 640, min_area_ratio=0.1).stats
    assert s["whole_in_a_tile"] == 1 and s["cut_fragments"] == 1
    assert (s["cut_fragments_kept"], s["cut_fragments_dropped"]) == ((1, 0) if kept else (0, 1))
    assert s["tiled_labels"] == (2 if kept else 1)  # the whole copy in column 1, plus the fragment
    assert s["lost_to_min_area"] == 0


def test_box_hanging_out_of_the_image_uses_its_unclipped_area():
    # slice_coco loads with clip_bboxes_to_img_dims=False: the denominator is the whole 40 x 20 box.
    # x -36: 4 px inside -> 80 / 800 = 0.1 kept; x -37: 3 px -> 60 / 800 dropped by every tile.
    boxes = _boxes([(1, -36, 100, 40, 20), (1, -37, 300, 40, 20)], img_w=2000, img_h=1500)
    s = simulate(boxes, 640, 0.2, 640, min_area_ratio=0.1).stats
    assert s["whole_in_a_tile"] == 2  # after clipping to the image both lie inside column 0
    assert s["lost_to_min_area"] == 1 and s["tiled_labels"] == 1


def test_box_below_one_square_pixel_cannot_be_kept():
    # int(0.5 * 1.5) = 0: SAHI would divide by zero; no tile keeps the box.
    boxes = _boxes([(1, 100, 100, 0.5, 1.5), (1, 200, 100, 2, 1)], img_w=2000, img_h=1500)
    s = simulate(boxes, 640, 0.2, 640).stats
    assert s["sahi_zero_area_boxes"] == 1 and s["lost_to_min_area"] == 1


@pytest.mark.parametrize(
    ("img_w", "img_h", "tile", "scale"),
    [
        (1280, 960, 320, 2.0),  # 320 px tiles at imgsz 640: each tile upsampled 640 / 320
        (1000, 200, 320, 2.0),  # tiles 320 x 200: the long side 320 goes to 640
        (1920, 1080, 1280, 0.5),  # tiles 1280 x 1080: 640 / 1280
        (500, 400, 640, 1.28),  # one tile, the whole 500 x 400 image: 640 / 500
        (2000, 1500, 640, 1.0),
    ],
)
def test_model_input_scale_of_a_tile(img_w, img_h, tile, scale):
    boxes = _boxes([(1, 10, 10, 5, 4)], img_w=img_w, img_h=img_h)
    sim = simulate(boxes, tile, 0.0, 640, min_side_px=8)
    assert sim.scale.tolist() == [pytest.approx(scale)]
    assert sim.stats["short_side_model"]["p50"] == pytest.approx(4 * scale)
    assert sim.stats["reach_min_side"] == (1 if 4 * scale >= 8 else 0)


def test_320_px_tiles_at_imgsz_640_double_box_sizes():
    # 16 x 6 px boxes; at 2x they are 32 x 12 at model input: short sides 12 >= 8 reach, 6 would not.
    boxes = _boxes([(1, 10, 10, 16, 6), (1, 400, 400, 6, 16)], img_w=1280, img_h=960)
    sim = simulate(boxes, 320, 0.0, 640, min_side_px=8)
    assert sim.scale.tolist() == [2.0, 2.0]
    assert sim.stats["short_side_model"]["p50"] == 12.0
    assert sim.stats["reach_min_side"] == 2
    assert simulate(boxes, 640, 0.0, 640, min_side_px=8).stats["reach_min_side"] == 0


def test_sliver_labels_by_hand():
    # 2000 x 1500, T 640, overlap 128, imgsz 640 (scale 1). Columns [0,640] [512,1152]; rows
    # [0,640] [512,1152]. Each box lies whole in one tile; the cut parts:
    boxes = _boxes(
        [
            (1, 638, 100, 20, 20),  # A: column 0 sees 2 x 20 = 40 / 400 = 0.1 -> kept, 2 px: sliver
            (1, 637, 200, 20, 20),  # B: 3 x 20 -> kept, 3 px: not a sliver (< 3 px is)
            (1, 639, 300, 20, 20),  # C: 1 x 20 = 20 / 400 = 0.05 -> dropped, not a label
            (1, 100, 638, 20, 20),  # D: row 0 sees 20 x 2 -> kept, sliver
            (1, 100, 100, 2, 2),  # E: a 2 px box whole in one tile: tiny, but not cut by tiling
        ],
        img_w=2000,
        img_h=1500,
    )
    s = simulate(boxes, 640, 0.2, 640, min_area_ratio=0.1).stats
    assert s["cut_fragments_kept"] == 3 and s["cut_fragments_dropped"] == 1
    assert s["sliver_labels"] == 2 and s["sliver_labels_native"] == 2
    # labels in the tiled set: A 2, B 2, C 1, D 2, E 1
    assert s["tiled_labels"] == 8
    assert s["share_sliver_labels"] == pytest.approx(2 / 8)


def test_slivers_are_judged_at_model_input():
    # 1280 x 960, T 320, no overlap, imgsz 640 -> scale 2. Columns [0,320] [320,640] ...
    boxes = _boxes(
        [
            (1, 318, 100, 20, 20),  # column 0 sees 2 x 20 (0.1, kept): 2 px native, 4 px at input
            (1, 319, 200, 10, 10),  # column 0 sees 1 x 10 (0.1, kept): 1 px native, 2 px at input
        ],
        img_w=1280,
        img_h=960,
    )
    s = simulate(boxes, 320, 0.0, 640, min_area_ratio=0.1).stats
    assert s["cut_fragments_kept"] == 4  # both boxes are cut by columns 0 and 1
    assert s["sliver_labels_native"] == 2
    assert s["sliver_labels"] == 1


def test_tiles_count_every_image_and_the_empty_tiles():
    images = pd.DataFrame(
        {
            "image_id": [1, 2, 3, 4, 5],
            "width": [2000.0, 2000.0, 640.0, np.nan, 1920.0],
            "height": [1500.0, 1500.0, 480.0, 600.0, 1080.0],
        }
    )
    # image 1: a box whole in tile (row 0, col 0) and one whole in both (row 0, col 0) and (row 0, col 1)
    boxes = _boxes([(1, 100, 100, 20, 20), (1, 600, 100, 20, 20)], img_w=2000, img_h=1500)
    s = simulate(boxes, 640, 0.2, 640, images=images).stats
    # 2000 x 1500: 4 x 3 = 12 (twice, image 2 has no boxes); 640 x 480: 1; 1920 x 1080: 4 x 2 = 8;
    # image 4 has no known size and is left out.
    assert s["num_images"] == 4
    assert s["total_tiles"] == 12 + 12 + 1 + 8
    assert s["tiles_per_image"] == pytest.approx(33 / 4)
    assert s["tiles_with_labels"] == 2
    assert s["tiles_without_labels"] == 31
    assert s["share_tiles_without_labels"] == pytest.approx(31 / 33)


def sahi_labels_reference(rows, img_w, img_h, t, ratio, min_area_ratio):
    """SAHI's process_coco_annotations written out as a loop over boxes and tiles, independently
    of the module under test: the (box, tile, visible w, visible h, cut) of every kept label."""
    out = []
    for i, (x, y, w, h) in enumerate(rows):
        original = int((x + w - x) * (y + h - y))  # ShapelyAnnotation.area: int(polygon area)
        for j, (tx0, ty0, tx1, ty1) in enumerate(sahi_reference(img_h, img_w, t, ratio)):
            if x >= tx1 or y >= ty1 or x + w <= tx0 or y + h <= ty0:  # annotation_inside_slice
                continue
            vw = min(x + w, tx1) - max(x, tx0)
            vh = min(y + h, ty1) - max(y, ty0)
            if int(vw * vh) / original >= min_area_ratio:
                cut = not (x >= tx0 and y >= ty0 and x + w <= tx1 and y + h <= ty1)
                out.append((i, j, vw, vh, cut))
    return out


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    t=st.sampled_from([64, 100, 160, 320]),
    ratio=st.sampled_from([0.0, 0.1, 0.2, 0.25]),
    imgsz=st.sampled_from([160, 640]),
    min_area_ratio=st.sampled_from([0.05, 0.1, 0.3]),
)
def test_labels_equal_a_loop_over_boxes_and_tiles(seed, t, ratio, imgsz, min_area_ratio):
    rng = np.random.default_rng(seed)
    img_w, img_h = int(rng.integers(50, 700)), int(rng.integers(50, 700))
    n = 40
    w = np.round(rng.uniform(1, 60, n) * 2) / 2  # half-pixel sizes hit tile edges exactly
    h = np.round(rng.uniform(1, 60, n) * 2) / 2
    x = np.round(rng.uniform(0, 1, n) * np.maximum(img_w - w, 0) * 2) / 2
    y = np.round(rng.uniform(0, 1, n) * np.maximum(img_h - h, 0) * 2) / 2
    keep = (x + w <= img_w) & (y + h <= img_h)
    rows = [
        (float(a), float(b), float(c), float(d)) for a, b, c, d, k in zip(x, y, w, h, keep, strict=True) if k
    ]
    if not rows:
        return
    ref = sahi_labels_reference(rows, img_w, img_h, t, ratio, min_area_ratio)
    boxes = _boxes([(1, *r) for r in rows], img_w=img_w, img_h=img_h)
    s = simulate(boxes, t, ratio, imgsz, min_area_ratio=min_area_ratio).stats
    scale = imgsz / max(min(t, img_w), min(t, img_h))
    assert s["tiled_labels"] == len(ref)
    assert s["cut_fragments_kept"] == sum(c for *_, c in ref)
    assert s["lost_to_min_area"] == len(rows) - len({i for i, *_ in ref})
    assert s["tiles_with_labels"] == len({j for _, j, *_ in ref})
    below = 3 - 1e-3  # sizes within SIZE_TOLERANCE_PX of 3 px count as 3 px
    assert s["sliver_labels_native"] == sum(c and min(vw, vh) < below for _, _, vw, vh, c in ref)
    assert s["sliver_labels"] == sum(c and min(vw, vh) * scale < below for _, _, vw, vh, c in ref)


def test_max_labels_per_tile_by_hand():
    # One 1280 x 640 image, 640 px tiles without overlap: tiles x 0 and 640. Three boxes in the
    # left tile, one in the right, one across the border (kept in both at min_area_ratio 0.1:
    # 20 of 40 px visible on each side): left 4 labels, right 2.
    from sodaudit.recommend.tilesim import simulate

    boxes = pd.DataFrame(
        {
            "image_id": [1] * 5,
            "x": [10.0, 100.0, 200.0, 700.0, 620.0],
            "y": [10.0] * 5,
            "w": [20.0, 20.0, 20.0, 20.0, 40.0],
            "h": [20.0] * 5,
            "img_w": [1280.0] * 5,
            "img_h": [640.0] * 5,
            "short_side": [20.0] * 5,
        }
    )
    sim = simulate(boxes, 640, 0.0, 640, min_area_ratio=0.1)
    assert sim.stats["max_labels_per_tile"] == 4
    assert sim.stats["tiles_with_labels"] == 2


def test_box_rule_stats_without_segmentations():
    # 1280 x 640, 640 px tiles, no overlap: the box at x 620..660 crosses x = 640 (cut by both
    # tiles), the one at x 10..30 is whole in the left tile. Without segmentations (YOLO, VOC,
    # or no reader) every cut box is judged on its box.
    boxes = pd.DataFrame(
        {
            "image_id": [1, 1],
            "x": [10.0, 620.0],
            "y": [10.0, 10.0],
            "w": [20.0, 40.0],
            "h": [20.0, 20.0],
            "img_w": [1280.0] * 2,
            "img_h": [640.0] * 2,
            "short_side": [20.0, 20.0],
        }
    )
    s = simulate(boxes, 640, 0.0, 640, min_area_ratio=0.1).stats
    assert s["cut_by_some_tile"] == 1 and s["min_area_basis"] == "box"
    assert s["polygon_annotations"] == s["polygon_fallbacks"] == s["rle_annotations"] == 0
    assert s["sahi_unusable_polygons"] == 0
