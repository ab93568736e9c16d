"""The canonical Dataset: checked construction and derived columns, against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sodaudit.dataset import Dataset, unknown_class_name


def _images(**overrides):
    base = {
        "image_id": [10, 20],
        "file_name": ["a.jpg", "b.jpg"],
        "path": ["/d/a.jpg", "/d/b.jpg"],
        "split": ["train", "val"],
        "width": [1920.0, 640.0],
        "height": [1080.0, 480.0],
        "status": ["ok", "ok"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def _boxes(**overrides):
    base = {
        "image_id": [20, 10, 10],
        "class_id": [0, 1, 5],
        "x": [0.0, 100.0, 5.0],
        "y": [0.0, 50.0, 5.0],
        "w": [32.0, 8.0, 0.0],
        "h": [8.0, 18.0, 4.0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def build(boxes=None, images=None, imgsz=640):
    return Dataset.build(
        root=Path("/d"),
        format="test",
        boxes=_boxes() if boxes is None else boxes,
        images=_images() if images is None else images,
        classes={0: "car", 1: "person"},
        imgsz=imgsz,
    )


def test_derived_columns_by_hand():
    ds = build()
    b = ds.box_columns().set_index(["image_id", "class_id"])
    car = b.loc[(20, 0)]  # 32x8 in a 640x480 image: scale 640/640 = 1
    assert car["area"] == 256
    assert car["sqrt_area"] == 16
    assert (car["short_side"], car["long_side"]) == (8, 32)
    assert car["rel_area"] == pytest.approx(256 / (640 * 480))
    assert car["scale"] == 1.0
    assert car["sqrt_area_model"] == 16
    person = b.loc[(10, 1)]  # 8x18 in 1920x1080: scale 640/1920 = 1/3
    assert person["scale"] == pytest.approx(1 / 3)
    assert person["w_model"] == pytest.approx(8 / 3)
    assert person["h_model"] == pytest.approx(6.0)
    assert person["short_side_model"] == pytest.approx(8 / 3)
    assert person["sqrt_area_model"] == pytest.approx(math.sqrt(144) / 3)
    assert bool(person["valid"]) and not bool(b.loc[(10, 5)]["valid"])


def test_boxes_take_split_and_size_from_their_image_and_images_count_boxes():
    ds = build()
    assert ds.boxes.set_index("class_id").loc[0, "split"] == "val"
    assert ds.box_columns().set_index("class_id").loc[1, "img_w"] == 1920
    assert ds.images.set_index("image_id")["n_boxes"].to_dict() == {10: 2, 20: 1}
    assert list(ds.boxes["box_id"]) == [0, 1, 2]
    assert ds.splits == ["train", "val"]


def test_unknown_class_ids_are_named_not_dropped():
    ds = build()
    names = dict(zip(ds.boxes["class_id"], ds.boxes["class_name"].astype(str), strict=True))
    assert names == {0: "car", 1: "person", 5: unknown_class_name(5)}


def test_with_imgsz_recomputes_model_sizes():
    ds = build().with_imgsz(1280)
    b = ds.box_columns()
    person = b[b["class_id"] == 1].iloc[0]
    assert person["w_model"] == pytest.approx(8 * 1280 / 1920)
    assert ds.imgsz == 1280


def test_with_imgsz_equals_a_build_at_that_size_and_keeps_native_columns():
    ds = build()
    other = ds.with_imgsz(1280)
    pd.testing.assert_frame_equal(other.box_columns(), build(imgsz=1280).box_columns())
    native = ["area", "sqrt_area", "short_side", "long_side", "rel_area", "valid"]
    pd.testing.assert_frame_equal(other.box_columns(*native), ds.box_columns(*native))
    assert other.boxes is ds.boxes  # only the input size changed: the stored table is shared
    assert ds.with_imgsz(640) is ds


@pytest.mark.parametrize("block", [1, 2, 1 << 20])
def test_derived_columns_of_some_rows_are_the_whole_columns_taken(monkeypatch, block):
    """Computed per block and for a subset of rows, every derived column is bit-identical to
    the same arithmetic done once over the whole table with numpy."""
    from sodaudit import dataset as dataset_module

    monkeypatch.setattr(dataset_module, "BLOCK_ROWS", block)
    rng = np.random.default_rng(3)
    n = 7
    boxes = pd.DataFrame(
        {
            "image_id": np.sort(rng.choice([10, 20], n)),
            "class_id": rng.integers(0, 2, n),
            "x": rng.random(n) * 100,
            "y": rng.random(n) * 100,
            "w": rng.random(n) * 50 - 5,  # some negative: area < 0, sqrt_area NaN
            "h": rng.random(n) * 50,
        }
    )
    ds = build(boxes=boxes)
    img_w = np.where(boxes["image_id"] == 20, 640.0, 1920.0)
    img_h = np.where(boxes["image_id"] == 20, 480.0, 1080.0)
    w, h = boxes["w"].to_numpy(), boxes["h"].to_numpy()
    scale = 640 / np.maximum(img_w, img_h)
    with np.errstate(invalid="ignore"):
        sqrt_area = np.sqrt(np.where(w * h >= 0, w * h, np.nan))
    expected = {"img_w": img_w, "rel_area": w * h / (img_w * img_h), "sqrt_area": sqrt_area}
    expected |= {"w_model": w * scale, "sqrt_area_model": sqrt_area * scale}
    expected |= {"short_side_model": np.minimum(w, h) * scale, "long_side": np.maximum(w, h)}
    rows = np.array([6, 0, 3])
    for name, values in expected.items():
        np.testing.assert_array_equal(ds.box_columns(name)[name].to_numpy(), values)
        some = ds.box_columns(name, "x", rows=rows)
        np.testing.assert_array_equal(some[name].to_numpy(), values[rows])
        assert some.index.tolist() == rows.tolist()
        np.testing.assert_array_equal(some["x"].to_numpy(), boxes["x"].to_numpy()[rows])
    with pytest.raises(KeyError, match="no box column"):
        ds.box_columns("nope")


def test_nonfinite_coordinates_are_invalid_not_errors():
    ds = build(boxes=_boxes(x=[np.nan, 100.0, 5.0], w=[np.inf, 8.0, 0.0]))
    valid = dict(zip(ds.boxes["class_id"], ds.boxes["valid"], strict=True))
    assert valid == {0: False, 1: True, 5: False}


@pytest.mark.parametrize(
    ("boxes", "images", "message"),
    [
        (_boxes().drop(columns=["h"]), _images(), "missing columns"),
        (_boxes(image_id=[99, 10, 10]), _images(), "every box must belong"),
        (_boxes(), _images(image_id=[10, 10]), "unique"),
        (_boxes(), _images(status=["ok", "weird"]), "unknown values"),
        (_boxes(x=["a", 1.0, 2.0]), _images(), "cannot be float64"),
    ],
)
def test_build_rejects_malformed_tables(boxes, images, message):
    with pytest.raises(ValueError, match=message):
        build(boxes=boxes, images=images)


def test_source_formats_file_and_line():
    boxes = _boxes(source_file=["l/b.txt", "l/a.txt", "l/a.txt"], source_line=[3, 1, -1])
    ds = build(boxes=boxes)
    assert sorted(ds.source(ds.boxes).tolist()) == ["l/a.txt", "l/a.txt:1", "l/b.txt:3"]


def test_source_is_a_file_id_into_the_file_table_and_a_line():
    boxes = _boxes(source_file=["l/b.txt", "l/a.txt", "l/a.txt"], source_line=[3, 1, -1])
    ds = build(boxes=boxes)
    assert ds.files == ("l/a.txt", "l/b.txt")
    codes = ds.boxes["source_file"].cat.codes
    assert codes.dtype.itemsize == 1  # one byte per box for two files, not a string per box
    by_line = dict(zip(ds.boxes["source_line"], codes, strict=True))
    assert by_line == {3: 1, 1: 0, -1: 0}
    picked = ds.boxes[ds.boxes["source_line"] == 3]
    assert ds.source(picked).tolist() == ["l/b.txt:3"]
    assert ds.source(picked.iloc[:0]).tolist() == []


def test_boxes_without_a_source_get_one_empty_file():
    ds = build()
    assert ds.files == ("",)
    assert ds.boxes["source_line"].tolist() == [-1, -1, -1]
    assert ds.source(ds.boxes).tolist() == ["", "", ""]


@pytest.mark.parametrize(
    ("boxes", "expected_ids"),
    [
        # all valid and kept: the shortcut returns every row
        ([(0, 0, 1, 1, 5, 5), (0, 1, 10, 10, 3, 4)], [0, 1]),
        # a zero-width box (invalid) and an ignored box are left out, in order
        ([(0, 0, 1, 1, 5, 5), (0, 0, 1, 1, 0, 5), (0, 1, 2, 2, 4, 4, True), (0, 1, 9, 9, 2, 2)], [0, 3]),
    ],
)
def test_selected_boxes_are_the_valid_not_ignored_rows(boxes, expected_ids) -> None:
    from builders import tiny_dataset

    ds = tiny_dataset(boxes)
    selected = ds.selected_boxes()
    assert selected.index.tolist() == expected_ids
    assert list(selected.columns) == list(ds.box_column_names)
    pd.testing.assert_frame_equal(selected, ds.box_columns().loc[expected_ids])


@pytest.mark.parametrize(
    ("boxes", "expected_ids"),
    [
        ([(0, 0, 1, 1, 5, 5), (0, 1, 10, 10, 3, 4)], [0, 1]),
        ([(0, 0, 1, 1, 5, 5), (0, 0, 1, 1, 0, 5), (0, 1, 2, 2, 4, 4, True), (0, 1, 9, 9, 2, 2)], [0, 3]),
    ],
)
def test_selected_boxes_with_columns_take_only_those(boxes, expected_ids) -> None:
    from builders import tiny_dataset

    ds = tiny_dataset(boxes)
    picked = ds.selected_boxes("w_model", "class_name")
    assert list(picked.columns) == ["w_model", "class_name"]
    pd.testing.assert_frame_equal(picked, ds.box_columns().loc[expected_ids, ["w_model", "class_name"]])
    # the full selection is not made (and not kept) for a few columns
    assert "_selected_boxes" not in vars(ds)


def test_a_loaders_own_derived_column_is_replaced_by_the_rule():
    """A loader table that carries ``area`` or ``img_w`` gets them computed like any other:
    w * h and the image's width, not its values."""
    ds = build(boxes=_boxes(area=[1.0, 2.0, 3.0], img_w=[9.0, 9.0, 9.0]))
    assert "area" not in ds.boxes.columns and "img_w" not in ds.boxes.columns
    b = ds.box_columns("class_id", "area", "img_w").set_index("class_id")
    assert b.loc[0, "area"] == 32 * 8 and b.loc[0, "img_w"] == 640  # image 20: 640x480
    assert b.loc[1, "area"] == 8 * 18 and b.loc[1, "img_w"] == 1920


def test_box_columns_take_positions_not_masks():
    ds = build()
    assert ds.box_columns("w", "area", rows=[]).shape == (0, 2)
    # sorted by image: rows 0, 1 are image 10 (w 8, 0), row 2 image 20 (w 32)
    assert ds.box_columns("w", rows=np.array([2, 0]))["w"].tolist() == [32.0, 8.0]
    with pytest.raises(TypeError, match="integer positions"):
        ds.box_columns("w", rows=np.array([True, False, True]))
