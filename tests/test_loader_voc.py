"""Pascal VOC loader: inline XML cases with hand-computed expectations, XML safety, splits,
and the real BCCD dataset checked against numbers computed here with a second method (regex)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sodaudit import imageinfo
from sodaudit.errors import DatasetError
from sodaudit.loaders import voc
from sodaudit.loaders.voc import parse as voc_parse


def _xml(objects: str = "", *, filename: str = "a.jpg", size: str | None = None) -> str:
    """An annotation whose first ``<object>`` starts on line 4 (objects follow line 3)."""
    if size is None:
        size = "<width>100</width><height>80</height><depth>3</depth>"
    return f"<annotation>\n  <filename>{filename}</filename>\n  <size>{size}</size>\n{objects}</annotation>\n"


def _obj(name: str = "car", box: str | None = None, extra: str = "") -> str:
    """One object on exactly 3 lines: ``<object>``, its fields, ``</object>``."""
    if box is None:
        box = "<xmin>10</xmin><ymin>20</ymin><xmax>40</xmax><ymax>60</ymax>"
    bnd = f"<bndbox>{box}</bndbox>" if box != "MISSING" else ""
    return f"  <object>\n    <name>{name}</name>{extra}{bnd}\n  </object>\n"


def _image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)


def _dataset(
    root: Path,
    xmls: dict[str, str],
    images: dict[str, tuple[int, int]] | None = None,
    sets: dict[str, str] | None = None,
    extra_files: dict[str, str] | None = None,
) -> Path:
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for name, text in xmls.items():
        (root / "Annotations" / name).write_text(text)
    for name, size in (images or {}).items():
        _image(root / "JPEGImages" / name, size)
    for name, text in (sets or {}).items():
        (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Main" / name).write_text(text)
    for name, text in (extra_files or {}).items():
        (root / name).write_text(text)
    return root


def _codes(ds) -> list[tuple[str, str, int | None]]:
    return sorted((i.code, i.file, i.line) for i in ds.issues)


# --------------------------------------------------------------------------- objects

# (id, object xml, expected boxes [(class, x, y, w, h, ignore)], expected issues [(code, line)])
OBJECT_CASES = [
    ("normal", _obj(), [("car", 10, 20, 30, 40, False)], []),
    ("difficult", _obj(extra="<difficult>1</difficult>"), [("car", 10, 20, 30, 40, True)], []),
    ("not_difficult", _obj(extra="<difficult>0</difficult>"), [("car", 10, 20, 30, 40, False)], []),
    (
        "float_coords",
        _obj(box="<xmin>1.5</xmin><ymin>2.25</ymin><xmax>4</xmax><ymax>3</ymax>"),
        [("car", 1.5, 2.25, 2.5, 0.75, False)],
        [],
    ),
    ("missing_bndbox", _obj(box="MISSING"), [], [("load.malformed_object", 4)]),
    (
        "non_numeric",
        _obj(box="<xmin>abc</xmin><ymin>20</ymin><xmax>40</xmax><ymax>60</ymax>"),
        [],
        [("load.malformed_object", 4)],
    ),
    (
        "missing_coord",
        _obj(box="<xmin>10</xmin><ymin>20</ymin><xmax>40</xmax>"),
        [],
        [("load.malformed_object", 4)],
    ),
    ("empty_name", _obj(name="  "), [], [("load.malformed_object", 4)]),
    (
        "xmin_gt_xmax",  # kept as it is: the integrity analyzer reports negative widths
        _obj(box="<xmin>50</xmin><ymin>20</ymin><xmax>40</xmax><ymax>60</ymax>"),
        [("car", 50, 20, -10, 40, False)],
        [],
    ),
    (
        "zero_size",
        _obj(box="<xmin>5</xmin><ymin>6</ymin><xmax>5</xmax><ymax>6</ymax>"),
        [("car", 5, 6, 0, 0, False)],
        [],
    ),
]


@pytest.mark.parametrize(
    ("obj", "boxes", "issues"),
    [c[1:] for c in OBJECT_CASES],
    ids=[c[0] for c in OBJECT_CASES],
)
def test_object_cases(tmp_path, obj, boxes, issues):
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(obj)}, images={"a.jpg": (100, 80)})
    ds = voc.load(root)
    got = [(str(r.class_name), r.x, r.y, r.w, r.h, bool(r.ignore)) for r in ds.boxes.itertuples()]
    assert got == boxes
    assert [(i.code, i.line) for i in ds.issues] == issues
    assert all(i.file == "Annotations/a.xml" for i in ds.issues)
    if boxes:
        assert ds.boxes["source_file"].astype(str).tolist() == ["Annotations/a.xml"]
        assert ds.boxes["source_line"].tolist() == [4]
    assert len(ds.images) == 1


def test_bad_object_between_good_ones_keeps_the_others_with_their_lines(tmp_path):
    objects = (
        _obj("car")  # lines 4-6
        + _obj("bus", box="<xmin>x</xmin><ymin>1</ymin><xmax>2</xmax><ymax>3</ymax>")  # 7-9
        + _obj("dog", box="<xmin>1</xmin><ymin>2</ymin><xmax>11</xmax><ymax>22</ymax>")  # 10-12
    )
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(objects)}, images={"a.jpg": (100, 80)})
    ds = voc.load(root)
    assert ds.boxes["class_name"].astype(str).tolist() == ["car", "dog"]
    assert ds.boxes["source_line"].tolist() == [4, 10]
    assert ds.boxes[["x", "y", "w", "h"]].to_numpy().tolist() == [[10, 20, 30, 40], [1, 2, 10, 20]]
    assert [(i.code, i.line, i.key) for i in ds.issues] == [("load.malformed_object", 7, "object[1]")]
    assert "xmin" in ds.issues[0].reason and "'x'" in ds.issues[0].reason
    # bus has no valid box, so it is not a class; names sorted alphabetically
    assert ds.classes == {0: "car", 1: "dog"}


def test_lines_skip_similar_tags_and_truncated_is_kept(tmp_path):
    objects = (
        "  <objects_note>not an object</objects_note>\n"  # line 4
        + _obj("car", extra="<truncated>1</truncated>")  # lines 5-7
    )
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(objects)}, images={"a.jpg": (100, 80)})
    ds = voc.load(root)
    assert ds.boxes["source_line"].tolist() == [5]
    assert ds.boxes["truncated"].tolist() == [True]


# --------------------------------------------------------------------------- sizes and images


def test_size_from_xml_wins_and_a_differing_file_is_reported(tmp_path):
    # the image is 50x30 but the XML says 100x80: the XML wins (the boxes are in its pixels),
    # and the header, now always read, makes the difference a load.size_mismatch of the XML
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(_obj())}, images={"a.jpg": (50, 30)})
    ds = voc.load(root)
    row = ds.images.iloc[0]
    assert (row.width, row.height, row.status) == (100, 80, "ok")
    assert row.file_name == "JPEGImages/a.jpg"
    assert row.path == str(root / "JPEGImages" / "a.jpg")
    assert row.source_file == "Annotations/a.xml"
    assert _codes(ds) == [("load.size_mismatch", "Annotations/a.xml", None)]


@pytest.mark.parametrize(
    "size",
    [
        "<width>0</width><height>0</height>",
        "<width>abc</width><height>30</height>",
        "<depth>3</depth>",
    ],
    ids=["zero", "non_numeric", "missing"],
)
def test_size_falls_back_to_the_image_header(tmp_path, size):
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(_obj(), size=size)}, images={"a.jpg": (50, 30)})
    ds = voc.load(root)
    row = ds.images.iloc[0]
    assert (row.width, row.height, row.status) == (50, 30, "ok")
    assert ds.issues == ()
    assert ds.box_columns("img_w")["img_w"].tolist() == [50.0]


def test_size_zero_without_image(tmp_path):
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(_obj(), size="<width>0</width><height>0</height>")})
    ds = voc.load(root)
    row = ds.images.iloc[0]
    assert math.isnan(row.width) and math.isnan(row.height)
    assert row.status == "missing"
    assert _codes(ds) == [("load.size_missing", "Annotations/a.xml", None)]
    assert len(ds.boxes) == 1  # the box stays; its size relative to the image is unknown


def test_missing_image_with_size_and_image_without_xml(tmp_path):
    root = _dataset(
        tmp_path / "ds",
        {"a.xml": _xml(_obj(), filename="a.jpg"), "b.xml": _xml(_obj(), filename="b.jpg")},
        images={"a.jpg": (100, 80), "c.png": (10, 10)},
    )
    (root / "JPEGImages" / "notes.txt").write_text("not an image")
    ds = voc.load(root)
    assert ds.images["status"].tolist() == ["ok", "missing"]
    assert ds.images["width"].tolist() == [100, 100]  # from the XML
    assert _codes(ds) == [("load.image_not_in_annotations", "JPEGImages/c.png", None)]


def test_filename_fallback_to_xml_stem(tmp_path):
    # <filename> names a file that is not there; the XML stem with another extension is
    root = _dataset(
        tmp_path / "ds",
        {"a.xml": _xml(_obj(), filename="renamed.jpg", size="<width>0</width>")},
        images={"a.png": (64, 48)},
    )
    ds = voc.load(root)
    row = ds.images.iloc[0]
    assert (row.file_name, row.width, row.height, row.status) == ("JPEGImages/a.png", 64, 48, "ok")
    assert ds.issues == ()


def test_no_image_folder_means_unchecked(tmp_path):
    root = tmp_path / "ds"
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "a.xml").write_text(_xml(_obj()))
    ds = voc.load(root)
    assert ds.images["status"].tolist() == ["unchecked"]
    assert ds.images["width"].tolist() == [100]
    assert any("not checked" in n for n in ds.notes)


@pytest.mark.parametrize(
    "filename",
    ["../../outside.png", "..\\..\\outside.png", "sub/../../../outside.png", "OUTSIDE_ABS"],
)
def test_filename_outside_root_is_never_read(tmp_path, monkeypatch, filename):
    outside = tmp_path / "outside.png"
    _image(outside, (20, 10))
    if filename == "OUTSIDE_ABS":
        filename = str(outside)
    root = _dataset(
        tmp_path / "ds",
        {"a.xml": _xml(_obj(), filename=filename, size="<width>0</width><height>0</height>")},
        images={"a.png": (64, 48)},  # the stem fallback must not hide the escape
    )
    seen: list[str] = []
    real = imageinfo.read_header
    monkeypatch.setattr(imageinfo, "read_header", lambda p: seen.append(p) or real(p))
    ds = voc.load(root)
    row = ds.images.iloc[0]
    assert row.status == "missing" and row.path == ""
    assert math.isnan(row.width)
    assert seen == []
    assert _codes(ds) == [
        ("load.image_not_in_annotations", "JPEGImages/a.png", None),
        ("load.path_outside_root", "Annotations/a.xml", None),
        ("load.size_missing", "Annotations/a.xml", None),
    ]


def test_filename_with_dotdot_that_stays_inside(tmp_path):
    root = _dataset(
        tmp_path / "ds",
        {"a.xml": _xml(_obj(), filename="sub/../a.jpg", size="<width>0</width>")},
        images={"a.jpg": (64, 48)},
    )
    ds = voc.load(root)
    row = ds.images.iloc[0]
    assert (row.file_name, row.width, row.status) == ("JPEGImages/a.jpg", 64, "ok")
    assert ds.issues == ()


# --------------------------------------------------------------------------- XML safety

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n'
    "<!DOCTYPE lolz [\n"
    ' <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10)
    )
    + "]>\n"
    "<annotation><filename>b.jpg</filename>\n"
    "<object><name>&lol9;</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
    "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>\n"
)


def _external_entity(target: str) -> str:
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE annotation [<!ENTITY x SYSTEM "{target}">]>\n'
        "<annotation><filename>b.jpg</filename>\n"
        "<object><name>&x;</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
        "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>\n"
    )


@pytest.mark.parametrize(
    "payload",
    [
        BILLION_LAUGHS.encode(),
        _external_entity("file:///etc/passwd").encode(),
        "SECRET_FILE",
        BILLION_LAUGHS.encode("utf-16"),  # the check must see through UTF-16
        BILLION_LAUGHS.replace(' encoding="UTF-8"', "").encode("utf-16-le"),  # and without BOM
        b'<?xml version="1.0"?><!DOCTYPE annotation><annotation/>',  # a DOCTYPE alone
    ],
    ids=[
        "billion_laughs",
        "external_passwd",
        "external_secret",
        "utf16_bomb",
        "utf16le_no_bom_bomb",
        "doctype_only",
    ],
)
def test_dtd_is_refused_and_never_parsed(tmp_path, monkeypatch, payload):
    if payload == "SECRET_FILE":
        secret = tmp_path / "secret.txt"
        secret.write_text("TOPSECRET")
        payload = _external_entity(secret.as_uri()).encode()
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(_obj())}, images={"a.jpg": (100, 80)})
    (root / "Annotations" / "b.xml").write_bytes(payload)
    parsed: list[bytes] = []
    real = voc_parse.ET.fromstring
    monkeypatch.setattr(voc_parse.ET, "fromstring", lambda data, *a, **k: parsed.append(data) or real(data))
    ds = voc.load(root)
    assert payload not in parsed and len(parsed) == 1
    assert [(i.code, i.file, i.line) for i in ds.issues] == [("load.xml_refused", "Annotations/b.xml", None)]
    assert ds.issues[0].reason == "declares a DOCTYPE/ENTITY; refused, never expanded"
    assert ds.images["source_file"].tolist() == ["Annotations/a.xml"]
    assert ds.classes == {0: "car"}


def test_undeclared_entity_is_malformed_not_expanded(tmp_path):
    text = _xml(_obj(name="&x;"))
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(_obj()), "b.xml": text})
    ds = voc.load(root)
    assert [(i.code, i.file, i.line) for i in ds.issues] == [("load.malformed_xml", "Annotations/b.xml", 5)]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("<annotation>\n  <filename>b.jpg</filename>\n  <size><width>1</width></hight>\n", 3),
        ("<annotation>\n\n\n\n  <object>\n", 6),  # ends inside an element: error at EOF
        ("", 1),
        ("<annotation><a>1</a></annotation>\ntrailing <junk/>\n", 2),
    ],
    ids=["mismatched_tag", "truncated_file", "empty_file", "junk_after_root"],
)
def test_malformed_xml_reports_the_line(tmp_path, text, line):
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(_obj()), "b.xml": text})
    ds = voc.load(root)
    assert [(i.code, i.file, i.line) for i in ds.issues] == [
        ("load.malformed_xml", "Annotations/b.xml", line)
    ]
    assert len(ds.images) == 1


def test_wrong_root_element_is_skipped(tmp_path):
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(_obj()), "b.xml": "<svg><g/></svg>"})
    ds = voc.load(root)
    assert [i.code for i in ds.issues] == ["load.malformed_xml"]
    assert "<svg>" in ds.issues[0].reason


def test_nothing_readable_is_a_dataset_error(tmp_path):
    root = _dataset(tmp_path / "ds", {"a.xml": BILLION_LAUGHS, "b.xml": "<annotation>"})
    with pytest.raises(DatasetError) as err:
        voc.load(root)
    message = str(err.value)
    assert "None of the 2 XML files" in message and message.count(".") >= 1
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["missing", "file", "empty_annotations"])
def test_unusable_paths_are_dataset_errors(tmp_path, kind):
    path = tmp_path / "x"
    if kind == "file":
        path.write_text("hello")
    elif kind == "empty_annotations":
        (path / "Annotations").mkdir(parents=True)
    with pytest.raises(DatasetError):
        voc.load(path)


# --------------------------------------------------------------------------- splits, classes


def test_splits_from_imagesets(tmp_path):
    xmls = {f"{s}.xml": _xml(_obj(), filename=f"{s}.jpg") for s in "abcdef"}
    sets = {
        "train.txt": "a\nb\n",
        "val.txt": "c\na\n",  # a is also in train: stays train, reported at val.txt:2
        "test.txt": "d\n",
        "trainval.txt": "a\nb\nc\ne\nd\nzz\n",  # e only here; d also in test; zz has no XML
        "car_train.txt": "a  1\nb -1\nqq  0\n",  # per-class list: ignored
    }
    ds = voc.load(_dataset(tmp_path / "ds", xmls, sets=sets))
    split = dict(zip(ds.images["file_name"], ds.images["split"].astype(str), strict=True))
    assert split == {
        "JPEGImages/a.jpg": "train",
        "JPEGImages/b.jpg": "train",
        "JPEGImages/c.jpg": "val",
        "JPEGImages/d.jpg": "test",
        "JPEGImages/e.jpg": "trainval",
        "JPEGImages/f.jpg": "unassigned",
    }
    split_issues = [i for i in _codes(ds) if i[0].startswith("load.split")]
    assert split_issues == [
        ("load.split_entry_missing", "ImageSets/Main/trainval.txt", 6),
        ("load.split_overlap", "ImageSets/Main/trainval.txt", 5),
        ("load.split_overlap", "ImageSets/Main/val.txt", 2),
    ]
    assert sorted(ds.splits) == ["test", "train", "trainval", "unassigned", "val"]
    assert ds.boxes.groupby("split", observed=True).size().to_dict() == {
        "test": 1,
        "train": 2,
        "trainval": 1,
        "unassigned": 1,
        "val": 1,
    }


def test_no_imagesets_means_split_all(tmp_path):
    ds = voc.load(_dataset(tmp_path / "ds", {"a.xml": _xml(_obj())}))
    assert ds.splits == ["all"]


def test_classes_file_sets_the_ids(tmp_path):
    objects = _obj("car") + _obj("dog") + _obj("cat")
    ds = voc.load(
        _dataset(tmp_path / "ds", {"a.xml": _xml(objects)}, extra_files={"classes.txt": "dog\ncar\n"})
    )
    assert ds.classes == {0: "dog", 1: "car", 2: "cat"}
    assert ds.boxes["class_id"].tolist() == [1, 0, 2]
    assert [(i.code, i.file) for i in ds.issues] == [("load.undeclared_class", "classes.txt")]


def test_classes_sorted_when_no_file(tmp_path):
    objects = _obj("zebra") + _obj("ant") + _obj("Moth") + _obj("ant")
    ds = voc.load(_dataset(tmp_path / "ds", {"a.xml": _xml(objects)}))
    assert ds.classes == {0: "Moth", 1: "ant", 2: "zebra"}
    assert ds.boxes["class_id"].tolist() == [2, 1, 0, 1]


# --------------------------------------------------------------------------- detection


def test_detect_standard_and_flat_layouts(tmp_path):
    root = _dataset(tmp_path / "ds", {"a.xml": _xml(_obj()), "b.xml": _xml()}, sets={"train.txt": "a\n"})
    found = voc.detect(root)
    assert found is not None and found.format == "voc" and found.root == root
    assert found.evidence.startswith("Annotations/ with 2 XML files, ImageSets/Main splits")

    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "x.xml").write_text('<?xml version="1.0"?>\n<!-- labelImg -->\n' + _xml(_obj()))
    _image(flat / "a.jpg", (100, 80))
    assert voc.detect(flat) is not None
    ds = voc.load(flat)
    assert ds.images["file_name"].tolist() == ["a.jpg"]
    assert ds.images["source_file"].tolist() == ["x.xml"]
    assert ds.boxes["source_line"].tolist() == [6]  # two prolog lines push <object> down


@pytest.mark.parametrize("kind", ["svg_folder", "empty_folder", "file", "empty_annotations"])
def test_detect_rejects(tmp_path, kind):
    path = tmp_path / "x"
    path.mkdir()
    if kind == "svg_folder":
        (path / "a.xml").write_text('<?xml version="1.0"?><svg xmlns="x"/>')
    elif kind == "file":
        path = path / "f.xml"
        path.write_text(_xml())
    elif kind == "empty_annotations":
        (path / "Annotations").mkdir()
    assert voc.detect(path) is None


# --------------------------------------------------------------------------- real data


@pytest.fixture
def bccd(realdata: Path) -> Path:
    """``../shared/realdata/bccd_voc`` (the ``realdata`` fixture skips when it is absent)."""
    path = realdata / "bccd_voc"
    if not path.is_dir():
        pytest.skip(f"real dataset not found at {path}")
    return path


def _regex_boxes(root: Path) -> list[tuple[str, str, float, float, bool, int]]:
    """A second reading of the raw files with regular expressions, no XML parser:
    (file, class, w, h, difficult, line of <object>) per object."""
    out = []
    for xml in sorted((root / "Annotations").glob("*.xml")):
        text = xml.read_text()
        for m in re.finditer(r"<object>(.*?)</object>", text, re.S):
            body = m.group(1)

            def tag(name: str, body: str = body) -> str:
                return re.search(rf"<{name}>\s*([^<]*?)\s*</{name}>", body).group(1)

            w = float(tag("xmax")) - float(tag("xmin"))
            h = float(tag("ymax")) - float(tag("ymin"))
            difficult = re.search(r"<difficult>\s*1\s*</difficult>", body) is not None
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"Annotations/{xml.name}", tag("name"), w, h, difficult, line))
    return out


def test_bccd_reference_numbers(bccd):
    root = bccd
    ds = voc.load(root)
    ref = _regex_boxes(root)

    # README reference numbers, and the same numbers recomputed here from the raw files
    assert len(ds.images) == 364 == len(list((root / "Annotations").glob("*.xml")))
    assert len(ds.boxes) == 4888 == len(ref)
    counts = {"RBC": 4155, "WBC": 372, "Platelets": 361}
    assert dict(Counter(r[1] for r in ref)) == counts
    assert ds.boxes["class_name"].astype(str).value_counts().to_dict() == counts

    zero = sum(1 for r in ref if r[2] == 0 and r[3] == 0)
    assert zero == 2
    assert int(((ds.boxes["w"] == 0) & (ds.boxes["h"] == 0)).sum()) == zero

    small_ref = sum(1 for r in ref if r[2] > 0 and r[3] > 0 and not r[4] and r[2] * r[3] < 32**2)
    assert small_ref == 39
    b = ds.boxes
    small = b["valid"] & ~b["ignore"] & (b["w"] * b["h"] < 32**2)
    assert int(small.sum()) == small_ref

    # every box points at the line of its own <object> tag
    got = sorted(zip(b["source_file"].astype(str), b["source_line"], strict=True))
    assert got == sorted((r[0], r[5]) for r in ref)

    assert set(ds.images["width"]) == {640} and set(ds.images["height"]) == {480}
    assert set(ds.images["status"]) == {"ok"}
    assert ds.issues == ()


def test_bccd_splits_match_the_lists(bccd):
    root = bccd
    ds = voc.load(root)
    main = root / "ImageSets" / "Main"
    lists = {s: set((main / f"{s}.txt").read_text().split()) for s in ("train", "val", "test")}
    stems = ds.images["source_file"].str.replace("Annotations/", "").str.replace(".xml", "")
    for split, ids in lists.items():
        assert set(stems[ds.images["split"] == split]) == ids
    assert ds.images["split"].value_counts().to_dict() == {"train": 205, "val": 87, "test": 72}


def test_bccd_detect_evidence(bccd):
    found = voc.detect(bccd)
    assert found is not None
    assert found.evidence.startswith("Annotations/ with 364 XML files, ImageSets/Main splits")


def test_bccd_parse_matches_elementtree_on_every_box(bccd):
    """Coordinates equal a plain ElementTree reading of each object, file by file."""
    root = bccd
    ds = voc.load(root)
    expected = []
    for xml in sorted((root / "Annotations").glob("*.xml")):
        for obj in ET.parse(xml).getroot().iter("object"):
            bb = obj.find("bndbox")
            x0, y0, x1, y1 = (float(bb.find(t).text) for t in ("xmin", "ymin", "xmax", "ymax"))
            expected.append((x0, y0, x1 - x0, y1 - y0))
    got = ds.boxes[["x", "y", "w", "h"]].to_numpy()
    np.testing.assert_array_equal(got, np.array(expected))
