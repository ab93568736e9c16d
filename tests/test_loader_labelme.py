"""LabelMe loader: inline JSON files with hand-computed boxes, detection, splits from folders,
defects that become issues while the rest still loads, and an ``imageData`` that is never decoded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sodaudit.config import LimitsConfig
from sodaudit.errors import DatasetError
from sodaudit.loaders import labelme
from sodaudit.loaders.sources import box_sources


def _image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)


def _shape(label: str, points: list, shape_type: str | None = "rectangle", group_id: object = None) -> dict:
    shape = {
        "label": label,
        "points": points,
        "group_id": group_id,
        "description": "",
        "flags": {},
        "mask": None,
    }
    if shape_type is not None:
        shape["shape_type"] = shape_type
    return shape


def _file(image: str, shapes: list, size: tuple[int, int] | None = None, image_data: object = None) -> dict:
    """A LabelMe 5 file, keys in LabelMe's order."""
    doc: dict = {
        "version": "5.7.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": image,
        "imageData": image_data,
    }
    if size is not None:
        doc["imageHeight"], doc["imageWidth"] = size[1], size[0]
    return doc


def _write(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _boxes(ds) -> list[tuple]:
    b = ds.boxes
    names = [ds.classes[c] for c in b["class_id"]]
    return [
        (int(i), n, round(x, 6), round(y, 6), round(w, 6), round(h, 6))
        for i, n, x, y, w, h in zip(b["image_id"], names, b["x"], b["y"], b["w"], b["h"], strict=True)
    ]


# --------------------------------------------------------------------------- the main layout


def test_flat_folder_with_two_images_and_several_shapes(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (200, 100))
    _image(tmp_path / "b.jpg", (64, 48))
    a = [
        _shape("car", [[50, 40], [10, 20]]),  # corners in any order -> (10, 20, 40, 20)
        _shape("person", [[3, 4], [9, 1], [5, 11]], "polygon"),  # x 3..9, y 1..11 -> (3, 1, 6, 10)
        _shape("ball", [[100, 50], [103, 54]], "circle"),  # r = 5 -> (95, 45, 10, 10)
        _shape("road", [[0, 0], [9, 9]], "line"),  # not a box: a note
        _shape("dot", [[1, 1]], "point"),
        _shape("edge", [[0, 0], [1, 1], [2, 0]], "linestrip"),
    ]
    _write(tmp_path / "a.json", _file("a.jpg", a, (200, 100)))
    _write(tmp_path / "b.json", _file("b.jpg", [_shape("car", [[1, 2], [3, 5]])], (64, 48)))
    ds = labelme.load(tmp_path)
    assert ds.format == "labelme"
    assert ds.classes == {0: "ball", 1: "car", 2: "person"}
    assert _boxes(ds) == [
        (0, "car", 10, 20, 40, 20),
        (0, "person", 3, 1, 6, 10),
        (0, "ball", 95, 45, 10, 10),
        (1, "car", 1, 2, 2, 3),
    ]
    assert ds.boxes["source_line"].tolist() == [0, 1, 2, 0]  # index in shapes
    assert box_sources(ds, ds.boxes) == [
        "a.json#shapes[0]",
        "a.json#shapes[1]",
        "a.json#shapes[2]",
        "b.json#shapes[0]",
    ]
    assert ds.boxes["source_file"].astype(str).tolist() == ["a.json", "a.json", "a.json", "b.json"]
    assert ds.images["file_name"].tolist() == ["a.jpg", "b.jpg"]
    assert ds.images["split"].tolist() == ["all", "all"]
    assert ds.images["status"].tolist() == ["ok", "ok"]
    assert ds.issues == ()
    assert ds.notes == (
        "LabelMe: 1 line shapes are not boxes and were skipped.",
        "LabelMe: 1 linestrip shapes are not boxes and were skipped.",
        "LabelMe: 1 point shapes are not boxes and were skipped.",
    )
    assert ds.meta["label_files"] == 2


def test_splits_from_folders(tmp_path: Path) -> None:
    for split in ("train", "val", "test", "extra"):
        _image(tmp_path / split / f"{split}.jpg", (20, 10))
        _write(tmp_path / split / f"{split}.json", _file(f"{split}.jpg", [_shape("x", [[1, 1], [4, 5]])]))
    ds = labelme.load(tmp_path)
    got = sorted(zip(ds.images["file_name"], ds.images["split"], strict=True))
    assert got == [
        ("extra/extra.jpg", "all"),  # not a split name
        ("test/test.jpg", "test"),
        ("train/train.jpg", "train"),
        ("val/val.jpg", "val"),
    ]
    assert len(ds.boxes) == 4 and ds.issues == ()
    one = labelme.load(tmp_path / "val")  # the split folder itself
    assert one.images["split"].tolist() == ["val"] and one.images["file_name"].tolist() == ["val.jpg"]


def test_image_path_relative_to_the_json_with_windows_separators(tmp_path: Path) -> None:
    """``annotations/`` beside ``images/``: ``imagePath`` ``..\\images\\a.jpg`` as LabelMe on
    Windows writes it; a file without ``imagePath`` finds its image by stem."""
    _image(tmp_path / "images" / "a.jpg", (30, 20))
    _image(tmp_path / "images" / "b.png", (30, 20))
    _write(
        tmp_path / "annotations" / "a.json",
        _file("..\\images\\a.jpg", [_shape("x", [[1, 2], [3, 4]])], (30, 20)),
    )
    no_path = _file("", [_shape("y", [[0, 0], [5, 5]])])
    del no_path["imagePath"]
    _write(tmp_path / "annotations" / "b.json", no_path)
    ds = labelme.load(tmp_path)
    assert ds.images["file_name"].tolist() == ["images/a.jpg", "images/b.png"]
    assert ds.images["status"].tolist() == ["ok", "ok"]
    assert ds.issues == ()
    assert ds.notes == ("LabelMe: 1 files have no imagePath; their image is found by stem.",)


def test_declared_size_is_kept_and_checked(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (300, 150))
    _write(tmp_path / "a.json", _file("a.jpg", [_shape("x", [[1, 2], [3, 4]])], (301, 150)))
    ds = labelme.load(tmp_path)
    assert ds.images[["width", "height"]].values.tolist() == [[301, 150]]
    assert [(i.code, i.file) for i in ds.issues] == [("load.size_mismatch", "a.json")]


def test_group_id_merges_the_parts_of_one_object(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (100, 100))
    shapes = [
        _shape("person", [[0, 0], [10, 5]], group_id=1),
        _shape("person", [[20, 20], [25, 30]], group_id=1),  # union with the first: (0, 0, 25, 30)
        _shape("car", [[40, 40], [45, 45]], group_id=1),  # another label: another object
        _shape("person", [[60, 60], [70, 70]]),  # no group_id: its own object
    ]
    _write(tmp_path / "a.json", _file("a.jpg", shapes))
    ds = labelme.load(tmp_path)
    assert _boxes(ds) == [
        (0, "person", 0, 0, 25, 30),
        (0, "car", 40, 40, 5, 5),
        (0, "person", 60, 60, 10, 10),
    ]
    assert ds.boxes["source_line"].tolist() == [0, 2, 3]
    assert box_sources(ds, ds.boxes) == [
        "a.json#shapes[0]",
        "a.json#shapes[2]",
        "a.json#shapes[3]",
    ]  # first part
    assert any("1 shapes were merged" in n for n in ds.notes)


# --------------------------------------------------------------------------- detection

COCO = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}],
    "annotations": [],
    "categories": [],
}
LABEL_STUDIO = [{"id": 1, "data": {"image": "/data/a.jpg"}, "annotations": [{"result": []}]}]
VIA = {"a.jpg12": {"filename": "a.jpg", "size": 12, "regions": [], "file_attributes": {}}}


@pytest.mark.parametrize(
    ("doc", "claimed"),
    [
        (_file("a.jpg", [], (4, 4)), True),
        # many shapes push imagePath past the head: shape_type still tells
        (_file("a.jpg", [_shape("x", [[i, i], [i + 1, i + 1]]) for i in range(100)]), True),
        # keys sorted by a Python writer: imageData (MBs) first
        ({"flags": {}, "imageData": "QUJD" * 2000, "imagePath": "a.jpg", "shapes": []}, True),
        (COCO, False),
        (LABEL_STUDIO, False),
        (VIA, False),
    ],
)
def test_detect_file_and_folder(tmp_path: Path, doc: object, claimed: bool) -> None:
    file = _write(tmp_path / "d" / "a.json", doc)
    det_file, det_folder = labelme.detect(file), labelme.detect(tmp_path / "d")
    if claimed:
        assert det_file == labelme.Detection("labelme", tmp_path / "d", "a.json (LabelMe JSON)")
        assert det_folder == labelme.Detection("labelme", tmp_path / "d", "LabelMe JSON files: *.json (1)")
    else:
        assert det_file is None and det_folder is None


def test_detect_split_folders_and_no_json(tmp_path: Path) -> None:
    for split in ("train", "val"):
        for i in range(3):
            _write(tmp_path / split / f"{i}.json", _file(f"{i}.jpg", []))
    det = labelme.detect(tmp_path)
    assert det == labelme.Detection(
        "labelme", tmp_path, "LabelMe JSON files: train/*.json (3), val/*.json (3)"
    )
    assert labelme.detect(tmp_path / "missing") is None
    (tmp_path / "empty").mkdir()
    assert labelme.detect(tmp_path / "empty") is None
    (tmp_path / "t.txt").write_text('{"shapes": [], "imagePath": "a.jpg"}')
    assert labelme.detect(tmp_path / "t.txt") is None


# --------------------------------------------------------------------------- shapes and defects


@pytest.mark.parametrize(
    ("shape_type", "points", "xyxy"),
    [
        ("rectangle", [[8, 9], [2, 3]], (2, 3, 8, 9)),
        ("rectangle", [[2, 9], [8, 3]], (2, 3, 8, 9)),  # the other diagonal
        ("polygon", [[5, 1], [9, 4], [6, 8], [1, 5]], (1, 1, 9, 8)),
        (None, [[5, 1], [9, 4], [1, 5]], (1, 1, 9, 5)),  # LabelMe 3: no shape_type is a polygon
        ("circle", [[10, 10], [13, 14]], (5, 5, 15, 15)),  # r = hypot(3, 4) = 5
        ("oriented_rectangle", [[5, 0], [10, 5], [5, 10], [0, 5]], (0, 0, 10, 10)),
        ("mask", [[4, 6], [12, 9]], (4, 6, 12, 9)),  # the mask patch's corners
    ],
)
def test_shape_to_box(tmp_path: Path, shape_type: str | None, points: list, xyxy: tuple) -> None:
    _image(tmp_path / "a.jpg", (20, 20))
    _write(tmp_path / "a.json", _file("a.jpg", [_shape("x", points, shape_type)]))
    ds = labelme.load(tmp_path)
    x0, y0, x1, y1 = xyxy
    assert _boxes(ds) == [(0, "x", x0, y0, x1 - x0, y1 - y0)]


def test_malformed_shapes_are_issues_and_the_rest_loads(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (50, 50))
    shapes = [
        _shape("ok", [[1, 1], [2, 3]]),
        _shape("", [[1, 1], [2, 2]]),
        {"points": [[1, 1], [2, 2]], "shape_type": "rectangle"},
        _shape("x", "1,1,2,2"),
        _shape("x", [[1, 1, 1], [2, 2]]),
        _shape("x", [[1, 1], [2, 2]], "hexagon"),
        _shape("x", [[1, 1], [2, 2], [3, 3]], "circle"),
        _shape("x", [[1, 1]], "rectangle"),
        "not a shape",
        _shape("ok2", [[4, 4], [8, 6]]),
    ]
    _write(tmp_path / "a.json", _file("a.jpg", shapes, (50, 50)))
    ds = labelme.load(tmp_path)
    assert _boxes(ds) == [(0, "ok", 1, 1, 1, 2), (0, "ok2", 4, 4, 4, 2)]
    assert ds.boxes["source_line"].tolist() == [0, 9]
    assert box_sources(ds, ds.boxes) == ["a.json#shapes[0]", "a.json#shapes[9]"]
    got = [(i.code, i.file, i.key, i.reason) for i in ds.issues]
    m, f = "load.malformed_object", "a.json"
    assert got == [
        (m, f, "shapes[1]", "label is ''; skipped"),
        (m, f, "shapes[2]", "label is None; skipped"),
        (m, f, "shapes[3]", "points is '1,1,2,2', not a list of [x, y]; skipped"),
        (m, f, "shapes[4]", "point [1, 1, 1] is not [x, y] of finite numbers; skipped"),
        (m, f, "shapes[5]", "unknown shape_type 'hexagon'; skipped"),
        (m, f, "shapes[6]", "circle has 3 points, not 2 (centre, a point on the circle); skipped"),
        (m, f, "shapes[7]", "rectangle has 1 point, not 2 corners; skipped"),
        (m, f, "shapes[8]", "shape is 'not a shape', not an object; skipped"),
    ]


def test_nan_written_by_python_is_an_issue_not_a_crash(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (50, 50))
    text = json.dumps(
        _file("a.jpg", [_shape("x", [[float("nan"), 1], [2, 2]]), _shape("y", [[1, 1], [3, 3]])])
    )
    (tmp_path / "a.json").write_text(text)
    assert "NaN" in text
    ds = labelme.load(tmp_path)
    assert _boxes(ds) == [(0, "y", 1, 1, 2, 2)]
    assert [(i.code, i.key) for i in ds.issues] == [("load.malformed_object", "shapes[0]")]


def test_shapes_not_a_list_keeps_the_image(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (50, 50))
    _write(tmp_path / "a.json", {"shapes": {"0": {}}, "imagePath": "a.jpg"})
    ds = labelme.load(tmp_path)
    assert len(ds.images) == 1 and len(ds.boxes) == 0
    assert [(i.code, i.key) for i in ds.issues] == [("load.malformed_object", "shapes")]


# --------------------------------------------------------------------------- imageData, limits, files


def test_image_data_is_never_decoded(tmp_path: Path) -> None:
    """A garbage ``imageData`` (not base64, not an image) loads; so do other types there."""
    _image(tmp_path / "a.jpg", (50, 40))
    _image(tmp_path / "b.jpg", (50, 40))
    garbage = "!!not base64 at all$$" * 50_000  # ~1 MB
    _write(tmp_path / "a.json", _file("a.jpg", [_shape("x", [[1, 2], [5, 6]])], (50, 40), garbage))
    _write(
        tmp_path / "b.json", _file("b.jpg", [_shape("y", [[1, 2], [5, 6]])], (50, 40), {"not": ["a string"]})
    )
    ds = labelme.load(tmp_path)
    assert _boxes(ds) == [(0, "x", 1, 2, 4, 4), (1, "y", 1, 2, 4, 4)]
    assert ds.issues == ()


def test_file_past_the_size_limit_is_an_issue(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (50, 40))
    _image(tmp_path / "b.jpg", (50, 40))
    _write(tmp_path / "a.json", _file("a.jpg", [_shape("x", [[1, 2], [5, 6]])]))
    _write(tmp_path / "b.json", _file("b.jpg", [_shape("x", [[1, 2], [5, 6]])], image_data="QUJD" * 1024))
    limits = LimitsConfig(max_label_file_mb=2048 / (1 << 20))  # 2 KB: b.json has 4 KB of imageData
    ds = labelme.load(tmp_path, limits=limits)
    assert ds.images["file_name"].tolist() == ["a.jpg"]
    issues = [(i.code, i.file) for i in ds.issues]
    assert issues == [("load.file_too_large", "b.json"), ("load.image_not_in_annotations", "b.jpg")]
    assert "limits.max_label_file_mb" in ds.issues[0].reason


def test_a_single_file_and_other_json_in_the_folder(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (50, 40))
    _image(tmp_path / "other.jpg", (50, 40))
    _write(tmp_path / "a.json", _file("a.jpg", [_shape("x", [[1, 2], [5, 6]])]))
    _write(tmp_path / "classes.json", {"names": ["x"]})
    _write(tmp_path / "instances_val.json", COCO)
    ds = labelme.load(tmp_path)
    assert len(ds.boxes) == 1
    assert "LabelMe: 2 JSON files in the folder are not LabelMe files and were not read." in ds.notes
    one = labelme.load(tmp_path / "a.json")  # one file: the folder's other images are not its business
    assert one.root == tmp_path and one.images["file_name"].tolist() == ["a.jpg"] and one.issues == ()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"shapes": [', "not valid JSON"),
        ('["shapes", "imagePath"]', "not a LabelMe file"),
    ],
)
def test_nothing_readable_raises(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "a.json").write_text(text)
    with pytest.raises(DatasetError, match=match):
        labelme.load(tmp_path / "a.json")


def test_folder_without_labelme_raises(tmp_path: Path) -> None:
    _write(tmp_path / "instances_val.json", COCO)
    with pytest.raises(DatasetError, match="No LabelMe JSON file"):
        labelme.load(tmp_path)
