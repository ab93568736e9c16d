"""CVAT for images 1.1 loader: inline XML with hand-computed boxes, declared classes, project
subsets, malformed shapes with their lines, XML safety, detection and the size limit."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image

from sodaudit.config import LimitsConfig
from sodaudit.errors import DatasetError
from sodaudit.loaders import cvat

_BOX = '<box label="car" xtl="0" ytl="0" xbr="1" ybr="1"/>'
_LABELS = "<labels><label><name>person</name></label><label><name>car</name></label>" + (
    "<label><name>bike</name></label></labels>"
)


def _xml(body: str, *, meta: str | None = None, holder: str = "task") -> str:
    """A CVAT file whose first ``body`` line is line 5."""
    if meta is None:
        meta = f"<meta><{holder}><name>t</name>{_LABELS}</{holder}></meta>"
    head = '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
    return f"{head}  {meta}\n{body}</annotations>\n"


def _image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)


def _write(root: Path, text: str, name: str = "annotations.xml") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    return root / name


def _boxes(ds) -> list[tuple]:
    return [
        (r.image_id, ds.classes[r.class_id], r.x, r.y, r.w, r.h)
        for r in ds.boxes[["image_id", "class_id", "x", "y", "w", "h"]].itertuples()
    ]


def test_main_layout_two_images(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.jpg", (100, 80))
    _image(tmp_path / "images" / "b.jpg", (50, 40))
    body = (
        '  <image id="0" name="a.jpg" width="100" height="80">\n'  # line 5
        '    <box label="car" occluded="1" xtl="10" ytl="20" xbr="30" ybr="60" z_order="0"></box>\n'
        '    <box label="person" occluded="0" xtl="40.5" ytl="0" xbr="50" ybr="12.25" z_order="1">\n'
        '      <attribute name="ignore">true</attribute>\n'  # an attribute is not a rule
        "    </box>\n"
        "  </image>\n"
        '  <image id="1" name="b.jpg" width="50" height="40">\n'
        '    <box label="car" occluded="0" xtl="0" ytl="0" xbr="5" ybr="5" z_order="0"/>\n'  # line 12
        '    <box label="truck" occluded="0" xtl="1" ytl="1" xbr="2" ybr="2" z_order="0"/>\n'
        "  </image>\n"
    )
    _write(tmp_path, _xml(body))
    ds = cvat.load(tmp_path)
    assert ds.format == "cvat"
    assert ds.images["file_name"].tolist() == ["images/a.jpg", "images/b.jpg"]
    assert ds.images["status"].tolist() == ["ok", "ok"]
    assert ds.images["split"].tolist() == ["all", "all"]
    # declared order, then the undeclared name after them
    assert ds.classes == {0: "person", 1: "car", 2: "bike", 3: "truck"}
    assert _boxes(ds) == [
        (0, "car", 10.0, 20.0, 20.0, 40.0),  # 30 - 10, 60 - 20
        (0, "person", 40.5, 0.0, 9.5, 12.25),
        (1, "car", 0.0, 0.0, 5.0, 5.0),
        (1, "truck", 1.0, 1.0, 1.0, 1.0),
    ]
    assert ds.boxes["occluded"].tolist() == [True, False, False, False]
    assert ds.boxes["ignore"].tolist() == [False] * 4
    assert ds.boxes["source_line"].tolist() == [6, 7, 12, 13]
    assert [(i.code, i.line) for i in ds.issues] == [("load.undeclared_class", 13)]
    assert ds.meta["version"] == "1.1" and ds.meta["images_dir"] == "images"


@pytest.mark.parametrize(
    ("shape", "expected", "note"),
    [
        ('<box label="car" xtl="10" ytl="20" xbr="50" ybr="40"/>', (10, 20, 40, 20), None),
        # 40 x 20 about its centre (30, 30), turned 90 deg: 20 x 40 -> (20, 10, 20, 40)
        (
            '<box label="car" xtl="10" ytl="20" xbr="50" ybr="40" rotation="90"/>',
            (20, 10, 20, 40),
            "1 rotated",
        ),
        # 180 deg: the same box
        (
            '<box label="car" xtl="10" ytl="20" xbr="50" ybr="40" rotation="180.00"/>',
            (10, 20, 40, 20),
            "1 rotated",
        ),
        # 45 deg: both sides (40 + 20) * cos 45 = 42.43, centred on (30, 30)
        (
            '<box label="car" xtl="10" ytl="20" xbr="50" ybr="40" rotation="45"/>',
            (30 - 30 * math.sqrt(0.5), 30 - 30 * math.sqrt(0.5), 60 * math.sqrt(0.5), 60 * math.sqrt(0.5)),
            "1 rotated",
        ),
        # points x 1..5, y 2..9
        ('<polygon label="car" points="1,2;5,9;3,4" occluded="0"/>', (1, 2, 4, 7), "1 polygons"),
        ('<polygon label="car" points="1.5,2.25;5.5,9.0"/>', (1.5, 2.25, 4, 6.75), "1 polygons"),
    ],
)
def test_rotated_and_polygon_boxes(tmp_path: Path, shape: str, expected: tuple, note: str | None) -> None:
    _write(tmp_path, _xml(f'<image id="0" name="a.jpg" width="100" height="80">{shape}</image>'))
    ds = cvat.load(tmp_path / "annotations.xml")
    row = ds.boxes.iloc[0]
    assert (row.x, row.y, row.w, row.h) == pytest.approx(expected, abs=1e-9)
    if note:
        assert any(n.startswith(note) for n in ds.notes)


def test_project_export_subsets(tmp_path: Path) -> None:
    # the same file name in two subsets: each image is found in its own subset's folder
    _image(tmp_path / "images" / "Train" / "x.jpg", (64, 48))
    _image(tmp_path / "images" / "Validation" / "x.jpg", (32, 24))
    body = (
        '<image id="0" name="x.jpg" subset="Train" task_id="1" width="64" height="48">'
        '<box label="car" xtl="0" ytl="0" xbr="4" ybr="4"/></image>\n'
        '<image id="1" name="x.jpg" subset="Validation" task_id="2" width="32" height="24">'
        '<box label="bike" xtl="1" ytl="1" xbr="3" ybr="3"/></image>\n'
    )
    _write(tmp_path, _xml(body, holder="project"))
    ds = cvat.load(tmp_path)
    assert ds.images["file_name"].tolist() == ["images/Train/x.jpg", "images/Validation/x.jpg"]
    assert ds.images["split"].tolist() == ["Train", "Validation"]
    assert ds.classes == {0: "person", 1: "car", 2: "bike"}
    assert _boxes(ds) == [(0, "car", 0.0, 0.0, 4.0, 4.0), (1, "bike", 1.0, 1.0, 2.0, 2.0)]
    assert ds.issues == ()


def test_no_declared_labels_gives_sorted_names(tmp_path: Path) -> None:
    body = '<image id="0" name="a.jpg" width="10" height="10">' + _BOX.replace("car", "zebra")
    body += _BOX.replace("car", "ant") + "</image>\n"
    _write(tmp_path, _xml(body, meta="<meta><task><name>t</name></task></meta>"))
    assert cvat.load(tmp_path).classes == {0: "ant", 1: "zebra"}


def test_malformed_shapes_are_issues_and_the_rest_loads(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.jpg", (100, 80))
    body = (
        '  <image id="0" name="a.jpg" width="100" height="80">\n'  # line 5
        '    <box label="car" xtl="1" ytl="2" xbr="11" ybr="22"/>\n'  # good: 1, 2, 10, 20
        '    <box label="car" xtl="1" ytl="2" xbr="11"/>\n'  # 7: no ybr
        '    <box xtl="1" ytl="2" xbr="11" ybr="22"/>\n'  # 8: no label
        '    <box label="car" xtl="1" ytl="2" xbr="11" ybr="22" rotation="a lot"/>\n'  # 9
        '    <polygon label="car" points="1,2;3"/>\n'  # 10: a point without y
        '    <polyline label="car" points="1,2;3,4"/>\n'
        '    <points label="car" points="1,2"/>\n'
        '    <ellipse label="car" cx="5" cy="5" rx="2" ry="2"/>\n'
        '    <tag label="car"/>\n'
        "  </image>\n"
        '  <image id="1" width="10" height="10"><box label="car" xtl="0" ytl="0" xbr="1" ybr="1"/></image>\n'
    )
    _write(tmp_path, _xml(body))
    ds = cvat.load(tmp_path)
    assert _boxes(ds) == [(0, "car", 1.0, 2.0, 10.0, 20.0)]
    issues = [(i.code, i.line, i.key) for i in ds.issues]
    assert issues == [
        ("load.malformed_object", 7, "image[0].box[1]"),
        ("load.malformed_object", 8, "image[0].box[2]"),
        ("load.malformed_object", 9, "image[0].box[3]"),
        ("load.malformed_object", 10, "image[0].polygon[0]"),
        ("load.malformed_object", 16, "image[1]"),
    ]
    assert "ybr=None" in ds.issues[0].reason
    assert any("1 <ellipse>, 1 <points>, 1 <polyline>, 1 <tag>" in n for n in ds.notes)


def test_doctype_is_refused(tmp_path: Path) -> None:
    text = _xml('<image id="0" name="a.jpg" width="1" height="1"/>\n').replace(
        "<annotations>", '<!DOCTYPE annotations [<!ENTITY x "y">]>\n<annotations>', 1
    )
    _write(tmp_path, text)
    ds = cvat.load(tmp_path)
    assert [(i.code, i.file) for i in ds.issues] == [("load.xml_refused", "annotations.xml")]
    assert len(ds.images) == 0


def test_file_past_the_size_limit(tmp_path: Path) -> None:
    body = f'<image id="0" name="a.jpg" width="10" height="10">{_BOX}</image>\n'
    _write(tmp_path, _xml(body * 20))
    ds = cvat.load(tmp_path, limits=LimitsConfig(max_annotation_file_mb=0.001))  # 1048 bytes
    assert [(i.code, i.file) for i in ds.issues] == [("load.file_too_large", "annotations.xml")]
    assert "limits.max_annotation_file_mb" in ds.issues[0].reason


_VIDEO = _xml(
    '<track id="0" label="car"><box frame="0" xtl="1" ytl="1" xbr="2" ybr="2" outside="0"/></track>\n'
)
_VOC = "<annotation><filename>a.jpg</filename><object><name>car</name></object></annotation>\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_VIDEO, "CVAT for video"),
        (_xml(""), "no <image> elements"),
        ("<annotations><version>1.1</version><image>", "not well-formed"),
        (_VOC, "not <annotations>"),
    ],
)
def test_unreadable_files_raise(tmp_path: Path, text: str, message: str) -> None:
    file = _write(tmp_path, text, "x.xml")
    with pytest.raises(DatasetError, match=message):
        cvat.load(file)


@pytest.mark.parametrize(
    ("name", "text", "claimed"),
    [
        ("annotations.xml", _xml(""), True),
        ("task_7.xml", _xml(""), True),  # any name: <annotations> and <version> in the head
        ("task_7.xml", "<annotations><image id='0' name='a.jpg'/></annotations>", False),  # no <version>
        ("annotations.xml", "<annotations><image id='0' name='a.jpg'/></annotations>", True),
        ("annotations.xml", _VOC, False),  # VOC's root is <annotation>
        ("a.xml", _VOC, False),
        ("annotations.json", _xml(""), False),
    ],
)
def test_detect_file(tmp_path: Path, name: str, text: str, claimed: bool) -> None:
    file = _write(tmp_path, text, name)
    found = cvat.detect(file)
    assert (found is not None) == claimed
    if claimed:
        assert found.format == "cvat" and found.root == tmp_path


def test_detect_folder(tmp_path: Path) -> None:
    export = tmp_path / "export"
    _write(export, _xml(""))
    _image(export / "images" / "a.jpg", (4, 4))
    assert cvat.detect(export).evidence == "annotations.xml"
    voc = tmp_path / "voc"
    _write(voc / "Annotations", _VOC, "a.xml")
    _image(voc / "JPEGImages" / "a.jpg", (4, 4))
    assert cvat.detect(voc) is None
    assert cvat.detect(tmp_path / "missing") is None
    with pytest.raises(DatasetError, match="No CVAT XML"):
        cvat.load(voc)
