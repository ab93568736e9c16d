"""DOTA loader: label rows (a table of inline lines, axis-aligned boxes of the 4 points by hand),
the plain and split layouts, version folders, class lists, detection against YOLO and VisDrone
layouts, and bad input (malformed rows, encoding, size limit, nothing readable)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image

from sodaudit.config import LimitsConfig
from sodaudit.errors import DatasetError
from sodaudit.loaders import dota

HEADER = "imagesource:GoogleEarth\ngsd:0.146343590398\n"


def image(path: Path, size: tuple[int, int] = (200, 100)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)
    return path


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def boxes(ds) -> list[tuple]:
    b = ds.boxes.sort_values(["image_id", "source_line"])
    cols = ["class_name", "x", "y", "w", "h", "ignore", "source_line"]
    return [tuple(r) for r in b[cols].itertuples(index=False)]


def issues(ds, *, skip: tuple[str, ...] = ()) -> list[tuple[str, str, int | None]]:
    return sorted((i.code, i.file, i.line) for i in ds.issues if i.code not in skip)


def two_images(root: Path) -> Path:
    """images/P0001.png (200 x 100) and P0002.png (120 x 90) with their labelTxt files."""
    image(root / "images" / "P0001.png")
    image(root / "images" / "P0002.png", (120, 90))
    write(
        root / "labelTxt" / "P0001.txt",
        HEADER
        + "10 20 40 10 50 40 20 50 ship 0\n"  # line 3: rotated; x 10..50, y 10..50
        + "0 0 4 0 4 2 0 2 small-vehicle 1\n",  # line 4: upright 4 x 2, difficult
    )
    write(root / "labelTxt" / "P0002.txt", "1.5 2.5 3.5 2.5 3.5 4.0 1.5 4.0 plane\n")  # no header, 9 fields
    return root


def test_main_layout(tmp_path: Path) -> None:
    ds = dota.load(two_images(tmp_path))
    assert ds.format == "dota"
    assert boxes(ds) == [
        ("ship", 10.0, 10.0, 40.0, 40.0, False, 3),
        ("small-vehicle", 0.0, 0.0, 4.0, 2.0, True, 4),  # difficult 1 -> ignore
        ("plane", 1.5, 2.5, 2.0, 1.5, False, 1),  # x 1.5..3.5, y 2.5..4.0; difficult missing -> 0
    ]
    assert ds.classes == dict(enumerate(dota.DOTA_V1_0))  # every name is a v1.0 class
    assert ds.boxes["class_id"].tolist() == [6, 4, 0]  # ship, small-vehicle, plane in wordname_15
    img = ds.images.set_index("file_name")
    assert img.loc["images/P0001.png", ["width", "height"]].tolist() == [200, 100]
    assert img.loc["images/P0002.png", ["width", "height"]].tolist() == [120, 90]
    assert img.loc["images/P0001.png", "gsd"] == pytest.approx(0.146343590398)
    assert math.isnan(img.loc["images/P0002.png", "gsd"])
    assert set(ds.images["split"]) == {"all"}
    assert ds.issues == ()
    assert any("1 of 3 oriented boxes" in n for n in ds.notes)  # only the ship is tilted
    assert ds.meta["class_list"] == "DOTA-v1.0"
    assert ds.meta["difficult_boxes"] == 1


# (id, label line, expected box (class, x, y, w, h, ignore) or None, expected reason fragment)
ROW_CASES = [
    ("rotated", "10 20 40 10 50 40 20 50 ship 0", ("ship", 10, 10, 40, 40, False), None),
    ("difficult", "10 20 40 10 50 40 20 50 ship 1", ("ship", 10, 10, 40, 40, True), None),
    ("no_difficult", "10 20 40 10 50 40 20 50 ship", ("ship", 10, 10, 40, 40, False), None),
    # x 1..9 and y 3..7 whatever the order of the points
    ("any_order", "9 7 1 7 1 3 9 3 bridge 0", ("bridge", 1, 3, 8, 4, False), None),
    ("floats", "0.5 0.25 2.5 0.25 2.5 1.75 0.5 1.75 plane 0", ("plane", 0.5, 0.25, 2, 1.5, False), None),
    ("tabs", "0\t0\t4\t0\t4\t2\t0\t2\tplane\t0", ("plane", 0, 0, 4, 2, False), None),
    ("eight_fields", "10 20 40 10 50 40 20 50", None, "8 fields; expected 9 or 10"),
    ("eleven_fields", "10 20 40 10 50 40 20 50 ship 0 x", None, "11 fields; expected 9 or 10"),
    ("text_coord", "10 20 40 10 50 40 20 x ship 0", None, "coordinate 'x' is not a number"),
    ("numeric_class", "10 20 40 10 50 40 20 50 7 0", None, "category '7' is a number"),
    ("bad_difficult", "10 20 40 10 50 40 20 50 ship hard", None, "difficult 'hard' is not an integer"),
    ("yolo_row", "0 0.5 0.5 0.1 0.1", None, "5 fields; expected 9 or 10"),
]


@pytest.mark.parametrize(("line", "box", "reason"), [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES])
def test_rows(tmp_path: Path, line: str, box: tuple | None, reason: str | None) -> None:
    """The case's row is line 3 (after the 2 header lines); line 4 is a good row that always loads."""
    image(tmp_path / "images" / "a.png")
    write(tmp_path / "labelTxt" / "a.txt", HEADER + line + "\n0 0 2 0 2 2 0 2 plane 0\n")
    ds = dota.load(tmp_path)
    got = boxes(ds)
    assert got[-1] == ("plane", 0, 0, 2, 2, False, 4)
    if box is None:
        assert len(got) == 1
        [issue] = ds.issues
        assert (issue.code, issue.file, issue.line) == ("load.malformed_row", "labelTxt/a.txt", 3)
        assert reason in issue.reason
    else:
        assert got[0] == (*box, 3)
        assert ds.issues == ()


def test_splits(tmp_path: Path) -> None:
    for split, stem in (("train", "P1"), ("val", "P2"), ("test", "P3")):
        image(tmp_path / split / "images" / f"{stem}.png")
        write(tmp_path / split / "labelTxt" / f"{stem}.txt", "0 0 8 0 8 4 0 4 plane 0\n")
    ds = dota.load(tmp_path)
    assert sorted(zip(ds.images["file_name"], ds.images["split"].astype(str), strict=True)) == [
        ("test/images/P3.png", "test"),
        ("train/images/P1.png", "train"),
        ("val/images/P2.png", "val"),
    ]
    assert ds.boxes["split"].astype(str).tolist() == ["test", "train", "val"]  # folders in name order
    assert ds.issues == ()
    assert dota.detect(tmp_path).evidence == "test/labelTxt/ + train/labelTxt/ + val/labelTxt/ label folders"


def test_newest_version_folder_is_read(tmp_path: Path) -> None:
    """labelTxt-v1.0 and labelTxt-v1.5 label the same images: only v1.5 is read (with a note)."""
    image(tmp_path / "images" / "P1.png")
    write(tmp_path / "labelTxt-v1.0" / "P1.txt", "0 0 8 0 8 4 0 4 plane 0\n")
    write(
        tmp_path / "labelTxt-v1.5" / "P1.txt", "0 0 8 0 8 4 0 4 plane 0\n1 1 3 1 3 3 1 3 container-crane 0\n"
    )
    ds = dota.load(tmp_path)
    assert [b[0] for b in boxes(ds)] == ["plane", "container-crane"]
    assert ds.meta["class_list"] == "DOTA-v1.5"
    assert ds.classes[15] == "container-crane"
    assert any("labelTxt-v1.0/ not read" in n for n in ds.notes)


def test_hbb_copies_are_not_read(tmp_path: Path) -> None:
    """An official v1.5 archive: labelTxt-v1.5/DOTA-v1.5_train/ and its _hbb copy."""
    image(tmp_path / "images" / "P1.png")
    write(tmp_path / "labelTxt-v1.5" / "DOTA-v1.5_train" / "P1.txt", "10 20 40 10 50 40 20 50 ship 0\n")
    write(tmp_path / "labelTxt-v1.5" / "DOTA-v1.5_train_hbb" / "P1.txt", "10 10 50 10 50 50 10 50 ship 0\n")
    ds = dota.load(tmp_path)
    assert boxes(ds) == [("ship", 10, 10, 40, 40, False, 1)]
    assert any("DOTA-v1.5_train_hbb/" in n for n in ds.notes)


@pytest.mark.parametrize(
    ("names", "version"),
    [
        (["plane", "ship"], "DOTA-v1.0"),
        (["plane", "container-crane"], "DOTA-v1.5"),
        (["helipad", "airport", "ship"], "DOTA-v2.0"),
        (["plane", "drone"], None),  # not a DOTA list: sorted names
    ],
)
def test_class_lists(tmp_path: Path, names: list[str], version: str | None) -> None:
    image(tmp_path / "images" / "a.png")
    write(tmp_path / "labelTxt" / "a.txt", "".join(f"0 0 2 0 2 2 0 2 {n} 0\n" for n in names))
    ds = dota.load(tmp_path)
    assert ds.meta["class_list"] == version
    if version is None:
        assert ds.classes == dict(enumerate(sorted(names)))
    else:
        assert len(ds.classes) == {"DOTA-v1.0": 15, "DOTA-v1.5": 16, "DOTA-v2.0": 18}[version]
    assert not [i for i in ds.issues if i.code == "load.undeclared_class"]


def test_missing_label_and_missing_image(tmp_path: Path) -> None:
    """An image without a txt is background (as in the YOLO loader); a txt without an image keeps
    its boxes, on a ``missing`` image."""
    two_images(tmp_path)
    image(tmp_path / "images" / "P0003.png")
    write(tmp_path / "labelTxt" / "P0009.txt", "0 0 8 0 8 4 0 4 plane 0\n")
    ds = dota.load(tmp_path)
    img = ds.images.set_index("file_name")
    assert img.loc["images/P0003.png", "n_boxes"] == 0
    assert img.loc["images/P0009.png", "status"] == "missing"  # DOTA images are .png
    assert img.loc["images/P0009.png", "n_boxes"] == 1
    assert issues(ds) == [
        ("load.label_missing", "images/P0003.png", None),
        ("load.size_missing", "labelTxt/P0009.txt", None),
    ]
    label_missing = next(i for i in ds.issues if i.code == "load.label_missing")
    assert "no label file labelTxt/P0003.txt" in label_missing.reason


def test_image_found_by_stem_in_other_format(tmp_path: Path) -> None:
    image(tmp_path / "images" / "P1.jpg", (64, 48))
    write(tmp_path / "labelTxt" / "P1.txt", "0 0 8 0 8 4 0 4 plane 0\n")
    ds = dota.load(tmp_path)
    assert ds.images[["file_name", "width", "height"]].values.tolist() == [["images/P1.jpg", 64, 48]]


def test_file_too_large_and_encoding(tmp_path: Path) -> None:
    two_images(tmp_path)
    big = "".join(f"0 0 {k} 0 {k} 2 0 2 plane 0\n" for k in range(1, 200))  # about 5 kB
    write(tmp_path / "labelTxt" / "P0002.txt", big)
    image(tmp_path / "images" / "P0003.png")
    write(tmp_path / "labelTxt" / "P0003.txt", b"0 0 2 0 2 2 0 2 plane 0\n0 0 2 0 2 2 0 2 \xff\xfe 0\n")
    ds = dota.load(tmp_path, limits=LimitsConfig(max_label_file_mb=0.002))  # 2 kB
    assert issues(ds) == [
        ("load.encoding", "labelTxt/P0003.txt", 2),
        ("load.file_too_large", "labelTxt/P0002.txt", None),
    ]
    assert "limits.max_label_file_mb" in next(i.reason for i in ds.issues if i.code == "load.file_too_large")
    assert len(ds.boxes) == 3  # P0001's 2 rows and P0003's first; P0002 unread, its image kept
    assert ds.images.set_index("file_name").loc["images/P0002.png", "n_boxes"] == 0


def test_crlf_bom_and_blank_lines(tmp_path: Path) -> None:
    image(tmp_path / "images" / "a.png")
    write(tmp_path / "labelTxt" / "a.txt", b"\xef\xbb\xbfgsd:null\r\n\r\n0 0 2 0 2 2 0 2 plane 0\r\n")
    ds = dota.load(tmp_path)
    assert boxes(ds) == [("plane", 0, 0, 2, 2, False, 3)]
    assert math.isnan(ds.images["gsd"][0])  # v2.0 writes gsd:null
    assert ds.issues == ()


def test_flat_folder_of_label_files(tmp_path: Path) -> None:
    image(tmp_path / "P1.png")
    write(tmp_path / "P1.txt", HEADER + "0 0 8 0 8 4 0 4 plane 0\n")
    assert dota.detect(tmp_path) is not None
    ds = dota.load(tmp_path)
    assert ds.images["file_name"].tolist() == ["P1.png"]
    assert boxes(ds) == [("plane", 0, 0, 8, 4, False, 3)]


def test_nothing_readable(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No DOTA label files"):
        dota.load(tmp_path)
    image(tmp_path / "images" / "a.png")
    write(tmp_path / "labelTxt" / "a.txt", "garbage here\n")
    with pytest.raises(DatasetError, match=r"labelTxt/a.txt:1: 2 fields"):
        dota.load(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        dota.load(tmp_path / "labelTxt" / "a.txt")


def _yolo(root: Path) -> None:
    image(root / "images" / "a.png")
    write(root / "labels" / "a.txt", "0 0.5 0.5 0.1 0.1\n0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2\n")
    write(root / "classes.txt", "car\n")


def _visdrone(root: Path) -> None:
    image(root / "images" / "a.jpg")
    write(root / "annotations" / "a.txt", "684,8,273,116,0,0,0,0\n")


def _yolo_obb_flat(root: Path) -> None:
    write(root / "a.txt", "0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2\n")  # 9 numbers: no category name


def _dota(root: Path) -> None:
    two_images(root)


def _dota_cased(root: Path) -> None:
    image(root / "train" / "Images" / "a.png")
    write(root / "train" / "LabelTxt-v2.0" / "a.txt", "0 0 2 0 2 2 0 2 helipad 0\n")


@pytest.mark.parametrize(
    ("make", "claimed"),
    [(_dota, True), (_dota_cased, True), (_yolo, False), (_visdrone, False), (_yolo_obb_flat, False)],
)
def test_detect(tmp_path: Path, make, claimed: bool) -> None:
    make(tmp_path)
    found = dota.detect(tmp_path)
    assert (found is not None) == claimed
    if claimed:
        assert found.format == "dota" and found.root == tmp_path


def test_detect_refuses_files_and_empty_folders(tmp_path: Path) -> None:
    assert dota.detect(tmp_path) is None
    assert dota.detect(write(tmp_path / "a.txt", "0 0 2 0 2 2 0 2 plane 0\n")) is None  # a file
    (tmp_path / "labelTxt").mkdir()
    assert dota.detect(tmp_path / "labelTxt") is None  # an empty folder


def test_workers_give_the_same_dataset(tmp_path: Path) -> None:
    two_images(tmp_path)
    write(tmp_path / "labelTxt" / "P0002.txt", "bad\n1.5 2.5 3.5 2.5 3.5 4.0 1.5 4.0 plane\n")
    one, two = dota.load(tmp_path), dota.load(tmp_path, workers=2)
    assert boxes(one) == boxes(two)
    assert one.issues == two.issues
