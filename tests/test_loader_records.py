"""The shared builder of the record formats (loaders/records.py) and the dispatch rules of
loaders/__init__.py: nested datasets, prediction files, and "nothing read is a failure"."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from PIL import Image

from sodaudit.errors import DatasetError
from sodaudit.loaders import detect, load
from sodaudit.loaders.records import ImageIndex, Records, to_dataset


def image(path: Path, size: tuple[int, int] = (100, 50)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    image(tmp_path / "train" / "a.jpg")
    image(tmp_path / "val" / "a.jpg", (40, 30))
    image(tmp_path / "val" / "b.png", (20, 10))
    image(tmp_path / "other" / "c.jpg", (8, 8))
    (tmp_path / "labels.csv").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "base", "expected"),
    [
        ("a.jpg", "train", "train/a.jpg"),  # relative to the record's folder
        ("a.jpg", "val", "val/a.jpg"),
        ("val/b.png", "", "val/b.png"),  # relative to the root
        ("C:\\\\export\\\\b.png", "", "val/b.png"),  # a path from another machine: by file name
        ("/content/data/c.jpg", "", "other/c.jpg"),
        ("b.jpg", "", "val/b.png"),  # by stem when the extension differs
        ("a.jpg", "", "train/a.jpg"),  # two a.jpg, none under the base: the first in sorted order
        ("missing.jpg", "", None),
    ],
)
def test_image_index_finds_images_as_written_then_by_name_then_by_stem(tree, name, base, expected):
    found, outside = ImageIndex.of(tree).find(name, base)
    assert (found, outside) == (expected, False)


def test_image_index_never_follows_a_name_out_of_the_root(tree):
    index = ImageIndex.of(tree / "val")
    assert index.find("../train/zzz.jpg", "") == (None, True)
    assert index.find("/etc/zzz.jpg", "") == (None, True)
    # the name as written leaves the root; a file of that name inside it is the one used
    assert index.find("../train/a.jpg", "") == ("a.jpg", False)


def test_records_join_mentions_of_one_image_and_fill_a_missing_size():
    r = Records()
    first = r.image("a.jpg", base="train")
    again = r.image("a.jpg", base="train", width=100, height=50)
    other = r.image("a.jpg", base="val")
    assert first == again == 0 and other == 1
    assert (r.img_width[0], r.img_height[0]) == (100.0, 50.0)
    assert math.isnan(r.img_width[1]) and math.isnan(r.img_height[1])


def test_to_dataset_checks_images_sizes_and_classes(tree):
    r = Records()
    a = r.image("a.jpg", base="train", split="train", width=100, height=60, source="labels.csv")
    b = r.image("b.png", base="val", split="val", source="labels.csv")  # size from the header
    gone = r.image("gone.jpg", split="val", source="labels.csv")  # no size, no file
    r.box(a, "car", 1, 2, 30, 40, file="labels.csv", line=2, occlusion=1)
    r.box(b, "bus", 0, 0, 5, 5, file="labels.csv", line=3)
    r.box(gone, "car", 0, 0, 5, 5, file="labels.csv", line=4)
    ds = to_dataset(tree, "csv", r, classes={0: "car"})

    images = ds.images.set_index("file_name")
    assert list(images.index) == ["train/a.jpg", "val/b.png", "gone.jpg"]
    assert list(images["status"]) == ["ok", "ok", "missing"]
    # a.jpg: the declared 100x60 is kept (the boxes are in its pixels), the file is 100x50
    assert (images.loc["train/a.jpg", "width"], images.loc["train/a.jpg", "height"]) == (100, 60)
    assert (images.loc["val/b.png", "width"], images.loc["val/b.png", "height"]) == (20, 10)
    assert list(images["split"].astype(str)) == ["train", "val", "val"]

    assert ds.classes == {0: "car", 1: "bus"}  # declared first, then the undeclared name
    assert list(ds.boxes["class_id"]) == [0, 1, 0]
    assert ds.boxes["occlusion"].iloc[0] == 1 and ds.boxes["occlusion"].isna().sum() == 2
    assert ds.source(ds.boxes).tolist() == ["labels.csv:2", "labels.csv:3", "labels.csv:4"]

    issues = {(i.code, i.file, i.line) for i in ds.issues}
    assert ("load.size_mismatch", "labels.csv", None) in issues
    assert ("load.size_missing", "labels.csv", None) in issues
    assert ("load.undeclared_class", "labels.csv", 3) in issues
    unlisted = sorted(i.file for i in ds.issues if i.code == "load.image_not_in_annotations")
    assert unlisted == ["other/c.jpg", "val/a.jpg"]


def test_to_dataset_sorts_class_names_when_none_are_declared(tmp_path):
    r = Records()
    at = r.image("x.jpg", width=10, height=10)
    for name in ("zebra", "ant", "zebra"):
        r.box(at, name, 0, 0, 1, 1)
    ds = to_dataset(tmp_path, "csv", r)
    assert ds.classes == {0: "ant", 1: "zebra"}
    assert list(ds.boxes["class_id"]) == [1, 0, 1]
    # no image file anywhere under the root: a declared size is used unchecked
    assert list(ds.images["status"]) == ["unchecked"]


# -- dispatch ---------------------------------------------------------------------------------


def test_a_dataset_one_level_down_is_found_and_named(sample_data, tmp_path):
    shutil.copytree(sample_data / "yolo", tmp_path / "outer" / "export")
    (tmp_path / "outer" / "README.txt").write_text("downloaded from somewhere")
    assert "in export/" in detect(tmp_path / "outer").evidence
    ds = load(tmp_path / "outer")
    assert len(ds.boxes) == 1341  # the sample's boxes (sample_data/README.md)
    assert any("in export/" in note for note in ds.notes)


def test_two_datasets_one_level_down_are_not_guessed(sample_data, tmp_path):
    shutil.copytree(sample_data / "yolo", tmp_path / "outer" / "a")
    shutil.copytree(sample_data / "voc", tmp_path / "outer" / "b")
    with pytest.raises(DatasetError, match="No dataset found"):
        detect(tmp_path / "outer")


def test_a_coco_results_file_is_named_as_such(tmp_path):
    path = tmp_path / "detections.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.9}]))
    with pytest.raises(DatasetError, match="COCO results file"):
        load(path)


def test_a_dataset_with_no_box_read_is_an_error_not_an_empty_audit(tmp_path):
    image(tmp_path / "images" / "a.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("")
    with pytest.raises(DatasetError, match="read 1 image but no box"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a Label Studio export given as a file: COCO's claim on the .json extension gives way
        ('[{"id": 1, "annotations": [{"result": []}], "data": {"image": "a.jpg"}}]', "labelstudio"),
        # LabelMe, one image's file
        ('{"version": "5.2.1", "shapes": [], "imagePath": "a.jpg", "imageHeight": 4}', "labelme"),
        # not a known format: COCO keeps it, so its loader says why the file cannot be read
        ("[1, 2, 3]", "coco"),
        ("", "coco"),
    ],
)
def test_a_single_json_file_goes_to_the_format_its_content_names(tmp_path, text, expected):
    path = tmp_path / "export.json"
    path.write_text(text)
    assert detect(path).format == expected
