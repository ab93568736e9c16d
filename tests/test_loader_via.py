"""VIA loader: inline VIA 2 / 1.x / 3 JSON texts with hand-computed boxes, detection, the class
rule, splits from folders, and defects that become issues while the rest still loads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

from sodaudit.config import LimitsConfig
from sodaudit.errors import DatasetError
from sodaudit.loaders import via
from sodaudit.loaders.sources import box_sources


def _image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)


def _write(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _region(shape: dict, attrs: dict | None = None) -> dict:
    return {"shape_attributes": shape, "region_attributes": attrs if attrs is not None else {}}


def _rect(x: float, y: float, w: float, h: float) -> dict:
    return {"name": "rect", "x": x, "y": y, "width": w, "height": h}


def _entries(images: dict[str, list[dict]]) -> dict:
    """VIA 2 ``_via_img_metadata``: key ``<filename><size>``, regions as a list."""
    return {
        f"{n}123": {"filename": n, "size": 123, "regions": r, "file_attributes": {}}
        for n, r in images.items()
    }


def _project(images: dict[str, list[dict]], region_attrs: dict | None = None) -> dict:
    return {
        "_via_settings": {"ui": {}, "core": {"default_filepath": ""}, "project": {"name": "p"}},
        "_via_img_metadata": _entries(images),
        "_via_attributes": {"region": region_attrs or {}, "file": {}},
        "_via_data_format_version": "2.0.10",
        "_via_image_id_list": [f"{n}123" for n in images],
    }


def _boxes(ds) -> list[tuple]:
    b = ds.boxes
    names = [ds.classes[c] for c in b["class_id"]]
    return [
        (int(i), n, round(x, 6), round(y, 6), round(w, 6), round(h, 6))
        for i, n, x, y, w, h in zip(b["image_id"], names, b["x"], b["y"], b["w"], b["h"], strict=True)
    ]


# --------------------------------------------------------------------------- the main layout


def test_project_with_two_images_and_several_shapes(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (200, 100))
    _image(tmp_path / "b.png", (64, 48))
    radio = {"type": "radio", "description": "", "options": {"car": "", "bus": ""}, "default_options": {}}
    doc = _project(
        {
            "a.jpg": [
                _region(_rect(10, 20, 30, 40), {"class": "car"}),
                # polygon x 5..25, y 7..17 -> (5, 7, 20, 10)
                _region(
                    {"name": "polygon", "all_points_x": [5, 25, 15], "all_points_y": [7, 9, 17]},
                    {"class": "bus"},
                ),
                # circle at (100, 50) r 8 -> (92, 42, 16, 16)
                _region({"name": "circle", "cx": 100, "cy": 50, "r": 8}, {"class": "car"}),
                _region({"name": "point", "cx": 3, "cy": 4}, {"class": "car"}),  # not a box: a note
            ],
            # ellipse without theta (older VIA 2): (30 - 6, 20 - 4, 12, 8)
            "b.png": [_region({"name": "ellipse", "cx": 30, "cy": 20, "rx": 6, "ry": 4}, {"class": "bus"})],
        },
        {"class": radio},
    )
    _write(tmp_path / "via_project_2Dec2026.json", doc)
    ds = via.load(tmp_path)
    assert ds.format == "via"
    assert ds.classes == {0: "bus", 1: "car"}  # sorted names
    assert _boxes(ds) == [
        (0, "car", 10, 20, 30, 40),
        (0, "bus", 5, 7, 20, 10),
        (0, "car", 92, 42, 16, 16),
        (1, "bus", 24, 16, 12, 8),
    ]
    assert ds.boxes["source_line"].tolist() == [0, 1, 2, 0]  # index among the image's regions
    # Where each box is: its region's element path in the project (the point, regions[3], is no box).
    assert box_sources(ds, ds.boxes) == [
        'via_project_2Dec2026.json#_via_img_metadata["a.jpg123"].regions[0]',
        'via_project_2Dec2026.json#_via_img_metadata["a.jpg123"].regions[1]',
        'via_project_2Dec2026.json#_via_img_metadata["a.jpg123"].regions[2]',
        'via_project_2Dec2026.json#_via_img_metadata["b.png123"].regions[0]',
    ]
    assert ds.images["file_name"].tolist() == ["a.jpg", "b.png"]
    assert ds.images["width"].tolist() == [200, 64]  # from the headers: VIA declares no size
    assert ds.images["split"].tolist() == ["all", "all"]
    assert ds.issues == ()
    assert ds.notes == ("VIA: 1 point regions are not boxes and were skipped.",)  # key declared: no note
    assert ds.meta["annotation_files"] == ["via_project_2Dec2026.json"]


def test_balloon_layout_splits_and_via1_regions_without_class(tmp_path: Path) -> None:
    """Mask R-CNN balloon: ``train/`` and ``val/`` each with ``via_region_data.json`` (VIA 1.x:
    regions a dict, ``fileref`` and ``base64_img_data``) and empty region attributes."""
    poly = {"name": "polygon", "all_points_x": [1, 9], "all_points_y": [2, 8]}
    for split, name in (("train", "t.jpg"), ("val", "v.jpg")):
        _image(tmp_path / split / name, (20, 10))
        entry = {"fileref": "", "size": 9, "filename": name, "base64_img_data": "", "file_attributes": {}}
        entry["regions"] = {"0": _region(poly), "1": _region(poly)}
        _write(tmp_path / split / "via_region_data.json", {f"{name}9": entry})
    det = via.detect(tmp_path)
    assert det is not None and det.root == tmp_path
    assert (
        det.evidence
        == "train/via_region_data.json (VIA region data), val/via_region_data.json (VIA region data)"
    )
    ds = via.load(tmp_path)
    assert ds.images["file_name"].tolist() == ["train/t.jpg", "val/v.jpg"]
    assert ds.images["split"].tolist() == ["train", "val"]
    # no attribute anywhere: a single-class project, its regions read as one class (x 1..9, y 2..8)
    assert ds.boxes[["x", "y", "w", "h"]].values.tolist() == [[1, 2, 8, 6]] * 4
    assert ds.boxes["class_name"].astype(str).tolist() == ["object"] * 4
    # VIA 1.x regions are an object keyed by strings: the path names the key
    assert box_sources(ds, ds.boxes) == [
        f'{split}/via_region_data.json#["{name}9"].regions["{k}"]'
        for split, name in (("train", "t.jpg"), ("val", "v.jpg"))
        for k in "01"
    ]
    assert ds.issues == ()
    assert len(ds.notes) == 2 and all("its 2 regions are read as class 'object'" in n for n in ds.notes)
    # one file of it, given directly: root is its folder, the split its folder's name
    one = via.load(tmp_path / "val" / "via_region_data.json")
    assert one.root == tmp_path / "val" and one.images["split"].tolist() == ["val"]


# --------------------------------------------------------------------------- detection

COCO = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}],
    "annotations": [],
    "categories": [],
}
LABEL_STUDIO = [{"id": 1, "data": {"image": "/data/a.jpg"}, "annotations": [{"result": []}]}]
LABELME = {"version": "5.4.1", "flags": {}, "shapes": [], "imagePath": "a.jpg", "imageData": None}
VIA3 = {
    "project": {
        "pid": "__VIA_PROJECT_ID__",
        "rev": "1",
        "rev_timestamp": "1",
        "pname": "p",
        "vid_list": ["1"],
    },
    "config": {},
    "attribute": {},
    "file": {"1": {"fid": "1", "fname": "a.jpg", "type": 2, "loc": 1, "src": ""}},
    "view": {"1": {"fid_list": ["1"]}},
    "metadata": {},
}


@pytest.mark.parametrize(
    ("name", "doc", "evidence"),
    [
        ("via_region_data.json", _entries({"a.jpg": [_region(_rect(1, 2, 3, 4))]}), "VIA region data"),
        ("p.json", _project({"a.jpg": []}), "VIA 2 project"),
        ("v3.json", VIA3, "VIA 3 project"),
        ("instances_train.json", COCO, None),
        ("export.json", LABEL_STUDIO, None),
        ("a.json", LABELME, None),
    ],
)
def test_detect_file_and_folder(tmp_path: Path, name: str, doc: object, evidence: str | None) -> None:
    file = _write(tmp_path / "d" / name, doc)
    det_file, det_folder = via.detect(file), via.detect(tmp_path / "d")
    if evidence is None:
        assert det_file is None and det_folder is None
    else:
        assert det_file == via.Detection("via", tmp_path / "d", f"{name} ({evidence})")
        assert det_folder is not None and det_folder.root == tmp_path / "d"


def test_detect_needs_json(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text('{"a.jpg1": {"filename": "a.jpg", "regions": []}}')
    assert via.detect(tmp_path / "notes.txt") is None
    assert via.detect(tmp_path) is None
    assert via.detect(tmp_path / "missing") is None


# --------------------------------------------------------------------------- shapes and classes


@pytest.mark.parametrize(
    ("shape", "xywh"),
    [
        (_rect(1.5, 2, 3, 4.25), (1.5, 2, 3, 4.25)),
        ({"name": "polygon", "all_points_x": [10, 4, 8], "all_points_y": [3, 9, 1]}, (4, 1, 6, 8)),
        ({"name": "polyline", "all_points_x": [0, 6], "all_points_y": [5, 5]}, (0, 5, 6, 0)),
        ({"name": "circle", "cx": 10, "cy": 10, "r": 2.5}, (7.5, 7.5, 5, 5)),
        # theta 0: (cx - rx, cy - ry, 2 rx, 2 ry)
        ({"name": "ellipse", "cx": 50, "cy": 40, "rx": 10, "ry": 5, "theta": 0}, (40, 35, 20, 10)),
        # a quarter turn swaps the half-sizes: half-width 5, half-height 10
        ({"name": "ellipse", "cx": 50, "cy": 40, "rx": 10, "ry": 5, "theta": math.pi / 2}, (45, 30, 10, 20)),
        # 45 degrees: both half-sizes sqrt((100 + 25) / 2) = sqrt(62.5)
        (
            {"name": "ellipse", "cx": 0, "cy": 0, "rx": 10, "ry": 5, "theta": math.pi / 4},
            (-math.sqrt(62.5), -math.sqrt(62.5), 2 * math.sqrt(62.5), 2 * math.sqrt(62.5)),
        ),
    ],
)
def test_shape_to_box(tmp_path: Path, shape: dict, xywh: tuple) -> None:
    _write(tmp_path / "via.json", _entries({"a.jpg": [_region(shape, {"label": "x"})]}))
    ds = via.load(tmp_path)
    assert _boxes(ds) == [(0, "x", *(round(v, 6) for v in xywh))]


def test_malformed_regions_are_issues_and_the_rest_loads(tmp_path: Path) -> None:
    regions = [
        _region(_rect(1, 1, 2, 2), {"class": "ok"}),
        _region({"name": "rect", "x": "ten", "y": 1, "width": 2, "height": 2}, {"class": "a"}),
        _region({"name": "polygon", "all_points_x": [1, 2], "all_points_y": [1]}, {"class": "a"}),
        _region({"name": "hexagon"}, {"class": "a"}),
        "not a region",
        _region(_rect(1, 1, 2, 2), {"class": {"car": True, "bus": True}}),
        _region(_rect(1, 1, 2, 2), {"class": ""}),
        _region(_rect(5, 6, 7, 8), {"class": {"car": True, "bus": False}}),
    ]
    doc = _entries({"a.jpg": regions})
    doc["broken"] = {"size": 1, "regions": []}  # no filename
    _write(tmp_path / "via_region_data.json", doc)
    ds = via.load(tmp_path)
    assert _boxes(ds) == [(0, "ok", 1, 1, 2, 2), (0, "car", 5, 6, 7, 8)]
    assert ds.boxes["source_line"].tolist() == [0, 7]
    got = [(i.code, i.key, i.reason) for i in ds.issues if i.code != "load.size_missing"]  # no image file
    assert got == [
        ("load.malformed_object", '["a.jpg123"].regions[1]', "x is 'ten', not a finite number; skipped"),
        (
            "load.malformed_object",
            '["a.jpg123"].regions[2]',
            "polygon needs all_points_x and all_points_y of one non-zero length; skipped",
        ),
        ("load.malformed_object", '["a.jpg123"].regions[3]', "unknown shape name 'hexagon'; skipped"),
        (
            "load.malformed_object",
            '["a.jpg123"].regions[4]',
            "region is not an object: 'not a region'; skipped",
        ),
        (
            "load.malformed_object",
            '["a.jpg123"].regions[5]',
            "2 classes ticked in 'class' (one is needed); skipped",
        ),
        (
            "load.malformed_object",
            '["a.jpg123"].regions[6]',
            "no class: the region has no class attribute; skipped",
        ),
        ("load.malformed_object", '["broken"]', "entry has no filename; skipped"),
    ]
    assert all(i.file == "via_region_data.json" for i in ds.issues)


@pytest.mark.parametrize(
    ("declared", "attrs", "classes", "note"),
    [
        # one declared attribute: taken whatever its name, no note
        (["colour"], {"colour": "red", "size": "big"}, ["red"], None),
        # several declared: the one named like a class (case and "_" ignored); none such: no class
        (["color", "Object_Type"], {"color": "red", "Object_Type": "car"}, [], None),
        (
            ["color", "Label"],
            {"color": "red", "Label": "car"},
            ["car"],
            "'Label', by its name among 'color', 'Label' (declared)",
        ),
        # none declared: a single key in use is taken, and said so
        (None, {"kind": "car"}, ["car"], "'kind', the only one the regions use (in use)"),
        # none declared, class-like beats others; "class" before "name"
        (
            None,
            {"name": "n1", "class": "car"},
            ["car"],
            "'class', by its name among 'class', 'name' (in use)",
        ),
        # numbers are names too
        (None, {"type": 3}, ["3"], "'type', by its name among 'type' (in use)"),
    ],
)
def test_class_key_rule(
    tmp_path: Path, declared: list | None, attrs: dict, classes: list, note: str | None
) -> None:
    images = {"a.jpg": [_region(_rect(0, 0, 4, 4), attrs)]}
    if declared is None:
        doc: dict = _entries(images)
    else:
        doc = _project(
            images, {k: {"type": "text", "description": "", "default_value": ""} for k in declared}
        )
    _write(tmp_path / "v.json", doc)
    _image(tmp_path / "a.jpg", (8, 8))
    ds = via.load(tmp_path)
    assert list(ds.classes.values()) == classes
    assert [i.code for i in ds.issues] == ([] if classes else ["load.malformed_object"])
    picked = [n for n in ds.notes if "taken from region attribute" in n]
    assert picked == ([] if note is None else [f"VIA: class of v.json taken from region attribute {note}."])


# --------------------------------------------------------------------------- files and limits


def test_file_past_the_size_limit_is_an_issue(tmp_path: Path) -> None:
    _write(
        tmp_path / "train" / "via_region_data.json",
        _entries({"a.jpg": [_region(_rect(0, 0, 1, 1), {"c": "x"})]}),
    )
    big = _entries({f"{i}.jpg": [_region(_rect(0, 0, 1, 1), {"c": "x"})] for i in range(40)})
    _write(tmp_path / "val" / "via_region_data.json", big)
    assert (tmp_path / "val" / "via_region_data.json").stat().st_size > 2048
    limits = LimitsConfig(max_annotation_file_mb=2048 / (1 << 20))  # 2 KB
    _image(tmp_path / "train" / "a.jpg", (8, 8))
    ds = via.load(tmp_path, limits=limits)
    assert len(ds.boxes) == 1 and ds.images["split"].tolist() == ["train"]
    (issue,) = ds.issues
    assert issue.code == "load.file_too_large" and issue.file == "val/via_region_data.json"
    assert "limits.max_annotation_file_mb" in issue.reason
    with pytest.raises(DatasetError, match="larger than"):
        via.load(tmp_path / "val" / "via_region_data.json", limits=limits)


def test_images_beside_the_json_and_unlisted_images(tmp_path: Path) -> None:
    _image(tmp_path / "data" / "a.jpg", (30, 20))
    _image(tmp_path / "data" / "extra.jpg", (30, 20))
    _image(tmp_path / "other" / "b.jpg", (50, 40))  # found by name anywhere under the root
    doc = _entries({"a.jpg": [_region(_rect(1, 2, 3, 4), {"class": "x"})], "b.jpg": [], "gone.jpg": []})
    _write(tmp_path / "data" / "via_region_data.json", doc)
    ds = via.load(tmp_path)
    assert ds.images["file_name"].tolist() == ["data/a.jpg", "other/b.jpg", "data/gone.jpg"]
    assert ds.images["status"].tolist() == ["ok", "ok", "missing"]
    assert ds.images["split"].tolist() == ["all"] * 3  # "data" is no split name
    codes = sorted((i.code, i.file) for i in ds.issues)
    assert codes == [
        ("load.image_not_in_annotations", "data/extra.jpg"),
        ("load.size_missing", "data/via_region_data.json"),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"info": {}, "images": []}', "not VIA JSON"),
    ],
)
def test_nothing_readable_raises(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "via_region_data.json").write_text(text)
    with pytest.raises(DatasetError, match=match):
        via.load(tmp_path / "via_region_data.json")


def test_empty_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No VIA JSON file"):
        via.load(tmp_path)


# --------------------------------------------------------------------------- VIA 3


def test_via3_project(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(VIA3))
    doc["attribute"] = {
        "1": {"aname": "class", "anchor_id": "FILE1_Z0_XY1", "type": 3, "options": {"0": "car", "1": "bus"}},
        "2": {"aname": "caption", "anchor_id": "FILE1_Z0_XY0", "type": 1, "options": {}},
    }
    doc["file"]["2"] = {"fid": "2", "fname": "clip.mp4", "type": 4, "loc": 1, "src": ""}
    doc["view"]["2"] = {"fid_list": ["2"]}
    doc["metadata"] = {
        "1_a": {"vid": "1", "flg": 0, "z": [], "xy": [2, 10, 20, 30, 40], "av": {"1": "0"}},
        # polygon x 1..9, y 2..6 -> (1, 2, 8, 4)
        "1_b": {"vid": "1", "flg": 0, "z": [], "xy": [7, 1, 2, 9, 2, 5, 6], "av": {"1": "1"}},
        # circle through (0, 5), (10, 5), (5, 0): centre (5, 5), r 5 -> (0, 0, 10, 10)
        "1_c": {"vid": "1", "flg": 0, "z": [], "xy": [9, 0, 5, 10, 5, 5, 0], "av": {"1": "0"}},
        "1_d": {"vid": "1", "flg": 0, "z": [], "xy": [1, 3, 3], "av": {"1": "0"}},  # point: a note
        "1_e": {"vid": "1", "flg": 0, "z": [], "xy": [2, 1, 1, 1, 1], "av": {}},  # no class: an issue
        "1_f": {"vid": "1", "flg": 0, "z": [], "av": {"2": "a caption"}},  # file metadata: ignored
        "2_a": {"vid": "2", "flg": 0, "z": [1.5], "xy": [2, 0, 0, 5, 5], "av": {"1": "0"}},  # video
    }
    _write(tmp_path / "via3.json", doc)
    ds = via.load(tmp_path)
    assert _boxes(ds) == [(0, "car", 10, 20, 30, 40), (0, "bus", 1, 2, 8, 4), (0, "car", 0, 0, 10, 10)]
    assert ds.boxes["source_line"].tolist() == [0, 1, 2]
    assert box_sources(ds, ds.boxes) == [f'via3.json#metadata["1_{k}"]' for k in "abc"]
    assert [(i.code, i.key) for i in ds.issues if i.code == "load.malformed_object"] == [
        ("load.malformed_object", 'metadata["1_e"]')
    ]
    assert "VIA: 1 point regions are not boxes and were skipped." in ds.notes
    assert "VIA 3: 1 video/audio files and 1 regions outside still images were not read." in ds.notes
