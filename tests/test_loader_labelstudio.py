"""Label Studio loader: inline JSON exports with hand-computed pixel boxes, detection, the choice
of annotation, JSON-MIN, malformed results and the size limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sodaudit.config import LimitsConfig
from sodaudit.errors import DatasetError
from sodaudit.loaders import labelstudio
from sodaudit.loaders.sources import box_sources


def _image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)


def _rect(x, y, w, h, label="car", rotation=0, size=(640, 480), **extra) -> dict:
    return {
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": size[0],
        "original_height": size[1],
        "image_rotation": 0,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]},
        **extra,
    }


def _poly(points, label="person", size=(640, 480)) -> dict:
    return {
        "type": "polygonlabels",
        "original_width": size[0],
        "original_height": size[1],
        "value": {"points": points, "polygonlabels": [label]},
    }


def _task(image: str, *results: dict, annotations: list | None = None, **extra) -> dict:
    if annotations is None:
        annotations = [{"result": list(results), "was_cancelled": False}]
    return {"id": 1, "annotations": annotations, "predictions": [], "data": {"image": image}, **extra}


def _write(root: Path, doc: object, name: str = "export.json") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(json.dumps(doc))
    return root / name


def _boxes(ds) -> list[tuple]:
    return [
        (r.image_id, ds.classes[r.class_id], r.x, r.y, r.w, r.h)
        for r in ds.boxes[["image_id", "class_id", "x", "y", "w", "h"]].itertuples()
    ]


def test_main_layout_two_images(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "frame_001.jpg", (640, 480))
    _image(tmp_path / "images" / "b.png", (200, 100))
    _write(
        tmp_path,
        [
            _task(
                "/data/upload/3/1a2b3c4d-frame_001.jpg",  # upload prefix: found without it
                _rect(10, 25, 5, 10, "car"),  # 10% of 640 = 64, 25% of 480 = 120, 5% -> 32, 10% -> 48
                _rect(50, 0, 25, 50, "person"),  # 320, 0, 160, 240
            ),
            _task(
                "https://host/data/b.png?token=1", _rect(0, 0, 50, 50, "car", size=(200, 100))
            ),  # 0,0,100,50
        ],
    )
    ds = labelstudio.load(tmp_path)
    assert ds.format == "labelstudio"
    assert ds.images["file_name"].tolist() == ["images/frame_001.jpg", "images/b.png"]
    assert ds.images["status"].tolist() == ["ok", "ok"]
    assert ds.images["split"].tolist() == ["all", "all"]
    assert ds.images["width"].tolist() == [640.0, 200.0]
    assert ds.classes == {0: "car", 1: "person"}  # no class list in Label Studio: sorted names
    assert _boxes(ds) == [
        (0, "car", 64.0, 120.0, 32.0, 48.0),
        (0, "person", 320.0, 0.0, 160.0, 240.0),
        (1, "car", 0.0, 0.0, 100.0, 50.0),
    ]
    assert ds.issues == ()
    assert ds.meta["layout"] == "json"
    # Where each box is: its element path in the export (task, annotation, result), by hand.
    assert box_sources(ds, ds.boxes) == [
        "export.json#[0].annotations[0].result[0]",
        "export.json#[0].annotations[0].result[1]",
        "export.json#[1].annotations[0].result[0]",
    ]


@pytest.mark.parametrize(
    ("result", "expected", "note"),
    [
        # 200x100 image: x 10% -> 20, y 10% -> 10, w 20% -> 40, h 10% -> 10
        (_rect(10, 10, 20, 10, size=(200, 100)), (20, 10, 40, 10), None),
        # top-left (100, 20), 40x10 turned 90 deg clockwise about it: corners (100,20) (100,60) (90,60)
        # (90,20) -> x 90..100, y 20..60
        (_rect(50, 20, 20, 10, rotation=90, size=(200, 100)), (90, 20, 10, 40), "1 rotated rectangles"),
        # 180 deg: the box flips up-left of its corner: x 60..100, y 10..20
        (_rect(50, 20, 20, 10, rotation=180, size=(200, 100)), (60, 10, 40, 10), "1 rotated rectangles"),
        # -90 deg (counter-clockwise): corners (100,20) (100,-20) (110,-20) (110,20)
        (_rect(50, 20, 20, 10, rotation=-90, size=(200, 100)), (100, -20, 10, 40), "1 rotated rectangles"),
        # points (20,20) (60,40) (40,60) in pixels of 200x100 -> x 20..60, y 20..60
        (_poly([[10, 20], [30, 40], [20, 60]], size=(200, 100)), (20, 20, 40, 40), "1 polygons"),
    ],
)
def test_rotated_and_polygon_boxes(tmp_path: Path, result: dict, expected: tuple, note: str | None) -> None:
    _image(tmp_path / "a.jpg", (200, 100))
    _write(tmp_path, [_task("a.jpg", result)])
    ds = labelstudio.load(tmp_path / "export.json")
    row = ds.boxes.iloc[0]
    assert (row.x, row.y, row.w, row.h) == pytest.approx(expected, abs=1e-9)
    if note:
        assert any(n.startswith(note) for n in ds.notes)


def test_first_non_cancelled_annotation_and_predictions(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (640, 480))
    _image(tmp_path / "b.jpg", (640, 480))
    _image(tmp_path / "c.jpg", (640, 480))
    annotations = [
        {"result": [_rect(0, 0, 10, 10, "cancelled")], "was_cancelled": True},
        {"result": [_rect(0, 0, 10, 10, "first")], "was_cancelled": False},
        {"result": [_rect(0, 0, 10, 10, "second")], "was_cancelled": False},
        {"result": [_rect(0, 0, 10, 10, "third")]},
    ]
    prediction = {"model_version": "m1", "result": [_rect(0, 0, 50, 50, "predicted")]}
    _write(
        tmp_path,
        [
            _task("a.jpg", annotations=annotations, predictions=[prediction, prediction]),
            _task("b.jpg", annotations=[]),  # not labelled: not an image of the audit
            _task("c.jpg", annotations=[{"result": [], "was_cancelled": True}]),
        ],
    )
    ds = labelstudio.load(tmp_path)
    assert ds.images["file_name"].tolist() == ["a.jpg"]
    assert [ds.classes[c] for c in ds.boxes["class_id"]] == ["first"]
    assert box_sources(ds, ds.boxes) == ["export.json#[0].annotations[1].result[0]"]  # after the cancelled
    assert ds.boxes.iloc[0][["w", "h"]].tolist() == [64.0, 48.0]  # 10% of 640 and of 480
    notes = " ".join(ds.notes)
    assert "1 tasks have several annotations" in notes and "2 others were ignored" in notes
    assert "2 predictions" in notes
    assert "2 tasks have no annotation (1 only cancelled ones)" in notes
    assert sorted(i.file for i in ds.issues if i.code == "load.image_not_in_annotations") == [
        "b.jpg",
        "c.jpg",
    ]


def test_malformed_results_are_issues_and_the_rest_loads(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (640, 480))
    results = [
        _rect(10, 10, 10, 10, "car"),  # result[0]: good, 64, 48, 64, 48
        {"type": "rectanglelabels", "original_width": 640, "original_height": 480},  # [1] no value
        _rect("ten", 10, 10, 10),  # [2] non-numeric x
        {
            **_rect(0, 0, 1, 1),
            "value": {"x": 0, "y": 0, "width": 1, "height": 1, "rectanglelabels": []},
        },  # [3]
        _poly([[1, 2], [3]]),  # [4] a point that is not a pair
        _rect(95, 10, 10, 10, "car"),  # [5] x + width past 100 is fine; x=95 in range
        _rect(-5, 10, 10, 120, "car"),  # [6] -5 and 120 outside [0, 100]: kept, flagged
        {"type": "keypointlabels", "value": {"x": 1, "y": 2, "keypointlabels": ["eye"]}},  # [7] not read
    ]
    _write(tmp_path, [_task("a.jpg", *results), "not a task", {"id": 3, "annotations": [], "data": {}}])
    ds = labelstudio.load(tmp_path)
    issues = sorted((i.code, i.key) for i in ds.issues)
    assert issues == [
        ("load.malformed_object", "[0].annotations[0].result[1]"),
        ("load.malformed_object", "[0].annotations[0].result[2]"),
        ("load.malformed_object", "[0].annotations[0].result[3]"),
        ("load.malformed_object", "[0].annotations[0].result[4]"),
        ("load.malformed_object", "[1]"),
        ("load.malformed_object", "[2].data"),
        ("load.value_out_of_range", "[0].annotations[0].result[6]"),
    ]
    assert len(ds.boxes) == 3
    # result[6]: x -5% of 640 = -32, y 10% of 480 = 48, w 64, h 120% of 480 = 576
    assert ds.boxes.iloc[2][["x", "y", "w", "h"]].tolist() == [-32.0, 48.0, 64.0, 576.0]
    assert any("1 keypointlabels" in n for n in ds.notes)


def test_json_min_export(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (400, 200))
    _image(tmp_path / "b.jpg", (400, 200))
    region = {"x": 25, "y": 50, "width": 10, "height": 20, "rotation": 0, "rectanglelabels": ["car"]}
    size = {"original_width": 400, "original_height": 200}
    meta = {"annotator": 1, "annotation_id": 7, "created_at": "", "updated_at": "", "lead_time": 1.5}
    records = [
        {"image": "/data/upload/1/a.jpg", "id": 1, "label": [{**region, **size}], **meta},
        {
            "image": "/data/upload/1/a.jpg",
            "id": 1,
            "label": [{**region, **size, "x": 0}],
            **meta,
        },  # 2nd annotator
        {
            "image": "/data/upload/1/b.jpg",
            "id": 2,
            "label": [{"points": [[0, 0], [50, 50]], "polygonlabels": ["person"], **size}],
            **meta,
        },
    ]
    file = _write(tmp_path, records, "min.json")
    assert labelstudio.detect(file).evidence == "min.json (JSON-MIN export)"
    ds = labelstudio.load(file)
    assert ds.meta["layout"] == "json-min"
    assert _boxes(ds) == [
        (0, "car", 100.0, 100.0, 40.0, 40.0),  # 25% of 400, 50% of 200, 10% of 400, 20% of 200
        (1, "person", 0.0, 0.0, 200.0, 100.0),  # points 0..50% of 400 x 200
    ]
    assert any("repeat a task id" in n for n in ds.notes)
    assert box_sources(ds, ds.boxes) == ["min.json#[0].label[0]", "min.json#[2].label[0]"]


def test_image_names_and_sizes(tmp_path: Path) -> None:
    _image(tmp_path / "1a2b3c4d-x.jpg", (100, 100))  # the name as written wins over the stripped one
    _image(tmp_path / "x.jpg", (100, 100))
    _image(tmp_path / "sub" / "y.jpg", (300, 150))
    no_size = {"type": "rectanglelabels", "value": {"x": 10, "y": 10, "width": 10, "height": 10,
                                                     "rectanglelabels": ["car"]}}  # fmt: skip
    _write(
        tmp_path,
        [
            _task("/data/upload/2/1a2b3c4d-x.jpg", _rect(0, 0, 10, 10, size=(100, 100))),
            _task("/data/local-files/?d=sub/y.jpg", no_size),  # size from the image header: 30, 15, 30, 15
            _task("/data/upload/2/deadbeef-gone.jpg", no_size),  # no size anywhere: not read
        ],
    )
    ds = labelstudio.load(tmp_path)
    assert ds.images["file_name"].tolist() == ["1a2b3c4d-x.jpg", "sub/y.jpg", "deadbeef-gone.jpg"]
    assert ds.images["status"].tolist() == ["ok", "ok", "missing"]
    assert _boxes(ds) == [(0, "car", 0.0, 0.0, 10.0, 10.0), (1, "car", 30.0, 15.0, 30.0, 15.0)]
    codes = sorted((i.code, i.file) for i in ds.issues)
    assert codes == [
        ("load.image_not_in_annotations", "x.jpg"),
        ("load.malformed_object", "export.json"),
        ("load.size_missing", "export.json"),
    ]


_EXPORT = [_task("a.jpg", _rect(1, 1, 1, 1))]
_LONG = [_task("a.jpg", *[_rect(1, 1, 1, 1) for _ in range(60)])]  # "data" lies past the 8 KB head
_COCO = {"images": [], "annotations": [], "categories": []}
_MIN = [{"image": "a.jpg", "id": 1, "label": [], "annotator": 1, "annotation_id": 2, "lead_time": 1}]
_MIN_REGION = {"x": 1, "y": 1, "width": 1, "height": 1, "rectanglelabels": ["car"], "original_width": 9}
_LONG_MIN = [{**_MIN[0], "label": [_MIN_REGION] * 200}]  # "annotator" lies past the 8 KB head


@pytest.mark.parametrize(
    ("name", "doc", "claimed"),
    [
        ("export.json", _EXPORT, True),
        ("export.json", _LONG, True),
        ("min.json", _MIN, True),
        ("min.json", _LONG_MIN, True),
        ("min.json", [{"image": "a.jpg", "label": [_MIN_REGION]}], False),  # whole record, no annotator
        ("instances_train.json", _COCO, False),  # a COCO file is an object, never claimed
        ("tasks.json", [{"data": {"image": "a.jpg"}, "predictions": []}], False),  # an import file
        ("numbers.json", [1, 2, 3], False),
        ("export.txt", _EXPORT, False),
    ],
)
def test_detect_file(tmp_path: Path, name: str, doc: object, claimed: bool) -> None:
    file = _write(tmp_path, doc, name)
    found = labelstudio.detect(file)
    assert (found is not None) == claimed
    if claimed:
        assert found.format == "labelstudio" and found.root == tmp_path


def test_detect_folder(tmp_path: Path) -> None:
    one = tmp_path / "one"
    _write(one, _EXPORT)
    _write(one, _COCO, "instances_val.json")  # other JSON beside it does not matter
    assert labelstudio.detect(one).evidence == "export.json (JSON export)"
    two = tmp_path / "two"
    _write(two, _EXPORT, "a.json")
    _write(two, _EXPORT, "b.json")
    assert labelstudio.detect(two) is None  # which one? not guessed
    coco = tmp_path / "coco"
    _write(coco / "annotations", _COCO, "instances_val.json")
    assert labelstudio.detect(coco) is None
    assert labelstudio.detect(tmp_path / "missing") is None


def test_file_past_the_size_limit(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (10, 10))
    _write(tmp_path, _EXPORT * 50)
    ds = labelstudio.load(tmp_path, limits=LimitsConfig(max_annotation_file_mb=0.001))  # 1048 bytes
    assert [(i.code, i.file) for i in ds.issues] == [("load.file_too_large", "export.json")]
    assert "limits.max_annotation_file_mb" in ds.issues[0].reason
    assert len(ds.images) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"data": ', "not valid JSON"),
        (json.dumps(_COCO), "not a Label Studio export"),
        ("[]", "not a Label Studio export"),
        (json.dumps([_task("a.jpg", annotations=[])]), "No task"),
    ],
)
def test_unreadable_exports_raise(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "export.json").write_text(text)
    with pytest.raises(DatasetError, match=message):
        labelstudio.load(tmp_path / "export.json")


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No such file"):
        labelstudio.load(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no Label Studio export"):
        labelstudio.load(tmp_path)
