"""Pascal VOC layouts real exports come in, each written tiny into ``tmp_path`` with numbers worked
out by hand: XML next to the images (LabelImg), Roboflow's split folders, ``annotations/`` +
``images/`` in any case, ``VOCdevkit/VOC20xx`` years; image headers checked against ``<size>``."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from sodaudit import loaders
from sodaudit.errors import DatasetError
from sodaudit.loaders import voc
from sodaudit.loaders.voc import images as voc_images

Files = dict[str, object]
"""Relative path -> XML text (str) or an image to draw: ``(width, height)`` or
``(width, height, exif_orientation)``."""


def _xml(filename: str, size: tuple[int, int] | None = (60, 40), boxes: int = 1, name: str = "car") -> str:
    """One annotation; box ``k`` is ``(k, k, k + 10, k + 20)``, so its w x h is 10 x 20."""
    size_el = (
        f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ""
    )
    objects = "".join(
        f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{k}</xmin><ymin>{k}</ymin>"
        f"<xmax>{k + 10}</xmax><ymax>{k + 20}</ymax></bndbox></object>\n"
        for k in range(boxes)
    )
    head = f'<?xml version="1.0"?>\n<annotation>\n<filename>{filename}</filename>\n'
    return f"{head}{size_el}\n{objects}</annotation>\n"


def _write(root: Path, files: Files) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            width, height, *orientation = content  # type: ignore[misc]
            im = Image.new("RGB", (width, height), (90, 90, 90))
            exif = im.getexif()
            if orientation:
                exif[0x0112] = orientation[0]
            im.save(path, exif=exif) if orientation else im.save(path)
    return root


def _issues(ds) -> list[tuple[str, str, int | None]]:
    return sorted((i.code, i.file, i.line) for i in ds.issues)


def _by_file(ds, column: str) -> dict[str, object]:
    return dict(zip(ds.images["file_name"], ds.images[column].astype(str), strict=True))


# --------------------------------------------------------------------------- the layouts

LABELIMG: Files = {
    "img1.jpg": (60, 40),
    "img1.xml": _xml("img1.jpg", boxes=2),
    "img2.png": (30, 20),
    "img2.xml": _xml("img2.png", size=None),  # no <size>: the header's 30x20
    "img3.jpg": (60, 40),  # no XML
}

ROBOFLOW: Files = {
    "README.roboflow.txt": "exported from roboflow.com",
    "train/a_jpg.rf.1.jpg": (60, 40),
    "train/a_jpg.rf.1.xml": _xml("a_jpg.rf.1.jpg", boxes=2),
    "train/b_jpg.rf.2.jpg": (60, 40),
    "train/b_jpg.rf.2.xml": _xml("b_jpg.rf.2.jpg"),
    "valid/c_jpg.rf.3.jpg": (60, 40),
    "valid/c_jpg.rf.3.xml": _xml("c_jpg.rf.3.jpg", boxes=3),
    "test/d_jpg.rf.4.jpg": (60, 40),
    "test/d_jpg.rf.4.xml": _xml("d_jpg.rf.4.jpg"),
}


def _tree(ann: str, img: str, sets: str | None = None) -> Files:
    files: Files = {
        f"{ann}/a.xml": _xml("a.jpg", boxes=2),
        f"{ann}/b.xml": _xml("b.jpg"),
        f"{img}/a.jpg": (60, 40),
        f"{img}/b.jpg": (60, 40),
    }
    if sets:
        files[f"{sets}/train.txt"] = "a\n"
        files[f"{sets}/val.txt"] = "b\n"
    return files


def _year(year: str, stems: str, lists: dict[str, str]) -> Files:
    files: Files = {}
    for stem in stems:
        files[f"VOCdevkit/{year}/Annotations/{stem}.xml"] = _xml(f"{stem}.jpg")
        files[f"VOCdevkit/{year}/JPEGImages/{stem}.jpg"] = (60, 40)
    for name, text in lists.items():
        files[f"VOCdevkit/{year}/ImageSets/Main/{name}.txt"] = text
    return files


DEVKIT: Files = {
    **_year("VOC2007", "ab", {"train": "a\n", "val": "b\n", "trainval": "a\nb\n"}),
    **_year("VOC2012", "c", {"trainval": "c\n"}),
}
Y07 = "Annotations/ with 2 XML files, ImageSets/Main splits, JPEGImages/"
Y12 = "Annotations/ with 1 XML files, ImageSets/Main splits, JPEGImages/"

# (id, files, folder given, layout, evidence, {file_name: split}, boxes, issues)
LAYOUTS = [
    (
        "labelimg_flat",
        LABELIMG,
        "",
        "flat",
        "folder of 2 XML files with <annotation> root (flat layout)",
        {"img1.jpg": "all", "img2.png": "all"},
        3,
        [("load.image_not_in_annotations", "img3.jpg", None)],
    ),
    (
        "roboflow",
        ROBOFLOW,
        "",
        "roboflow",
        "train/ with 2 XML files, valid/ with 1 XML files, test/ with 1 XML files, each beside its images "
        "(roboflow layout)",
        {
            "train/a_jpg.rf.1.jpg": "train",
            "train/b_jpg.rf.2.jpg": "train",
            "valid/c_jpg.rf.3.jpg": "valid",
            "test/d_jpg.rf.4.jpg": "test",
        },
        7,
        [],
    ),
    (
        "annotations_images_lower",
        _tree("annotations", "images"),
        "",
        "standard",
        "annotations/ with 2 XML files, images/ (standard layout)",
        {"images/a.jpg": "all", "images/b.jpg": "all"},
        3,
        [],
    ),
    (
        "ANNOTATIONS_JPEGImages_lists",
        _tree("ANNOTATIONS", "JPEGImages", sets="ImageSets/Main"),
        "",
        "standard",
        "ANNOTATIONS/ with 2 XML files, ImageSets/Main splits, JPEGImages/ (standard layout)",
        {"JPEGImages/a.jpg": "train", "JPEGImages/b.jpg": "val"},
        3,
        [],
    ),
    (
        "annots_Images_lower_lists",
        _tree("Annots", "Images", sets="imagesets/main"),
        "",
        "standard",
        "Annots/ with 2 XML files, imagesets/main splits, Images/ (standard layout)",
        {"Images/a.jpg": "train", "Images/b.jpg": "val"},
        3,
        [],
    ),
    (
        "vocdevkit_parent_two_years",
        DEVKIT,
        "",
        "vocdevkit",
        f"VOCdevkit/ with VOC2007/ ({Y07}) and VOC2012/ ({Y12}) (vocdevkit layout)",
        {
            "VOCdevkit/VOC2007/JPEGImages/a.jpg": "VOC2007/train",
            "VOCdevkit/VOC2007/JPEGImages/b.jpg": "VOC2007/val",
            "VOCdevkit/VOC2012/JPEGImages/c.jpg": "VOC2012/trainval",
        },
        3,
        [],
    ),
    (
        "vocdevkit_itself_two_years",
        DEVKIT,
        "VOCdevkit",
        "vocdevkit",
        f"VOC2007/ ({Y07}) and VOC2012/ ({Y12}) (vocdevkit layout)",
        {
            "VOC2007/JPEGImages/a.jpg": "VOC2007/train",
            "VOC2007/JPEGImages/b.jpg": "VOC2007/val",
            "VOC2012/JPEGImages/c.jpg": "VOC2012/trainval",
        },
        3,
        [],
    ),
    (
        "one_year_folder",
        DEVKIT,
        "VOCdevkit/VOC2007",
        "standard",
        f"{Y07} (standard layout)",
        {"JPEGImages/a.jpg": "train", "JPEGImages/b.jpg": "val"},
        2,
        [],
    ),
    (
        "vocdevkit_parent_one_year",  # one year: the same split names as the year folder alone
        _year("VOC2012", "c", {"trainval": "c\n"}),
        "",
        "vocdevkit",
        f"VOCdevkit/ with VOC2012/ ({Y12}) (vocdevkit layout)",
        {"VOCdevkit/VOC2012/JPEGImages/c.jpg": "trainval"},
        1,
        [],
    ),
]


@pytest.mark.parametrize(
    ("files", "given", "layout", "evidence", "splits", "n_boxes", "issues"),
    [c[1:] for c in LAYOUTS],
    ids=[c[0] for c in LAYOUTS],
)
def test_layouts(tmp_path, files, given, layout, evidence, splits, n_boxes, issues):
    path = _write(tmp_path / "ds", files) / given
    found = voc.detect(path)
    assert found is not None and (found.format, found.root, found.evidence) == ("voc", path, evidence)
    assert loaders.detect(path).format == "voc"  # no other format claims it
    ds = loaders.load(path)  # auto-detected, as the CLI does
    assert ds.format == "voc" and ds.meta["layout"] == layout
    assert ds.notes[0] == f"Detected VOC layout: {evidence}."
    assert _by_file(ds, "split") == splits
    assert set(ds.images["status"]) == {"ok"}
    assert len(ds.boxes) == n_boxes
    assert _issues(ds) == issues
    # each image row comes from the XML next to it (same stem), under the folder given
    for file_name, source in zip(ds.images["file_name"], ds.images["source_file"], strict=True):
        assert Path(source).stem == Path(file_name).stem and source.endswith(".xml")
        assert (path / source).is_file() and (path / file_name).is_file()


def test_labelimg_flat_rows(tmp_path):
    ds = voc.load(_write(tmp_path / "ds", LABELIMG))
    assert ds.images[["file_name", "source_file", "width", "height"]].values.tolist() == [
        ["img1.jpg", "img1.xml", 60.0, 40.0],
        ["img2.png", "img2.xml", 30.0, 20.0],  # from the header: the XML has no <size>
    ]
    assert ds.boxes[["image_id", "x", "y", "w", "h"]].values.tolist() == [
        [0, 0, 0, 10, 20],
        [0, 1, 1, 10, 20],
        [1, 0, 0, 10, 20],
    ]
    assert ds.boxes["source_line"].tolist() == [5, 6, 5]  # prolog, <annotation>, <filename>, <size>
    assert ds.meta == {"layout": "flat", "annotations_dir": ".", "images_dir": "."}


def test_roboflow_rows_and_meta(tmp_path):
    ds = voc.load(_write(tmp_path / "ds", ROBOFLOW))
    assert ds.images["source_file"].tolist() == [
        "train/a_jpg.rf.1.xml",
        "train/b_jpg.rf.2.xml",
        "valid/c_jpg.rf.3.xml",
        "test/d_jpg.rf.4.xml",
    ]
    assert ds.boxes.groupby("split", observed=True).size().to_dict() == {"test": 1, "train": 3, "valid": 3}
    assert ds.meta == {
        "layout": "roboflow",
        "annotations_dir": ["train", "valid", "test"],
        "images_dir": ["train", "valid", "test"],
    }


def test_roboflow_split_without_images_is_unchecked(tmp_path):
    files = {k: v for k, v in ROBOFLOW.items() if not k.startswith("test/") or k.endswith(".xml")}
    ds = voc.load(_write(tmp_path / "ds", files))
    assert _by_file(ds, "status") == {
        "train/a_jpg.rf.1.jpg": "ok",
        "train/b_jpg.rf.2.jpg": "ok",
        "valid/c_jpg.rf.3.jpg": "ok",
        "test/d_jpg.rf.4.jpg": "unchecked",
    }
    assert "No image files next to the XML files in test/: image files were not checked." in ds.notes
    assert ds.issues == ()


def test_vocdevkit_years_meta_note_and_list_issues(tmp_path):
    files = {**DEVKIT, "VOCdevkit/VOC2012/ImageSets/Main/trainval.txt": "c\nzz\n"}
    ds = voc.load(_write(tmp_path / "ds", files))
    assert ds.meta == {
        "layout": "vocdevkit",
        "annotations_dir": ["VOCdevkit/VOC2007/Annotations", "VOCdevkit/VOC2012/Annotations"],
        "images_dir": ["VOCdevkit/VOC2007/JPEGImages", "VOCdevkit/VOC2012/JPEGImages"],
        "years": ["VOC2007", "VOC2012"],
    }
    assert any(n.startswith("VOC years VOC2007, VOC2012 read as one dataset") for n in ds.notes)
    assert [(i.code, i.file, i.line, i.reason) for i in ds.issues] == [
        (
            "load.split_entry_missing",
            "VOCdevkit/VOC2012/ImageSets/Main/trainval.txt",
            2,
            "'zz' has no VOCdevkit/VOC2012/Annotations/zz.xml",
        )
    ]
    assert sorted(ds.splits) == ["VOC2007/train", "VOC2007/val", "VOC2012/trainval"]


def test_vocdevkit_year_without_lists_and_a_broken_file(tmp_path):
    files = {
        **_year("VOC2007", "ab", {}),
        **_year("VOC2012", "c", {"train": "c\n"}),
        "VOCdevkit/VOC2012/Annotations/d.xml": "<annotation>\n<filename>d.jpg</filename>\n<object>\n",
    }
    ds = voc.load(_write(tmp_path / "ds", files) / "VOCdevkit")
    assert _by_file(ds, "split") == {
        "VOC2007/JPEGImages/a.jpg": "VOC2007/all",
        "VOC2007/JPEGImages/b.jpg": "VOC2007/all",
        "VOC2012/JPEGImages/c.jpg": "VOC2012/train",
    }
    assert _issues(ds) == [("load.malformed_xml", "VOC2012/Annotations/d.xml", 4)]


def test_year_folders_without_xml_are_not_years(tmp_path):
    files = {**_year("VOC2012", "c", {}), "VOCdevkit/VOC2007/JPEGImages/x.jpg": (10, 10)}
    path = _write(tmp_path / "ds", files)
    ds = voc.load(path)
    assert ds.meta["years"] == ["VOC2012"] and ds.splits == ["all"]


def test_standard_tree_wins_over_everything_else(tmp_path):
    # Annotations/ at the folder given is the dataset; a stray train/ of XML files is not read
    files = {**_tree("Annotations", "JPEGImages"), "train/x.xml": _xml("x.jpg"), "train/x.jpg": (60, 40)}
    ds = voc.load(_write(tmp_path / "ds", files))
    assert ds.meta["layout"] == "standard" and len(ds.images) == 2


def test_flat_folder_keeps_its_imagesets_lists(tmp_path):
    files = {**LABELIMG, "ImageSets/Main/train.txt": "img1\n", "ImageSets/Main/test.txt": "img2\n"}
    ds = voc.load(_write(tmp_path / "ds", files))
    assert _by_file(ds, "split") == {"img1.jpg": "train", "img2.png": "test"}


# --------------------------------------------------------------------------- not VOC


def _coco(root: Path) -> None:
    _write(root, {"images/a.jpg": (60, 40)})
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_train.json").write_text(
        '{"images": [{"id": 1, "file_name": "a.jpg", "width": 60, "height": 40}], '
        '"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}], '
        '"categories": [{"id": 1, "name": "car"}]}'
    )


def _roboflow_coco(root: Path) -> None:
    for split in ("train", "valid"):
        _write(root, {f"{split}/a.jpg": (60, 40)})
        (root / split / "_annotations.coco.json").write_text(
            '{"images": [], "annotations": [], "categories": [{"id": 0, "name": "car"}]}'
        )


def _yolo(root: Path) -> None:
    _write(root, {"images/train/a.jpg": (60, 40), "labels/train/a.txt": "0 0.5 0.5 0.2 0.2\n"})
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\nnames: [car]\n")


def _roboflow_yolo(root: Path) -> None:
    for split in ("train", "valid", "test"):
        _write(root, {f"{split}/images/a.jpg": (60, 40), f"{split}/labels/a.txt": "0 0.5 0.5 0.2 0.2\n"})
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['car']\n")


def _cvat_xml(root: Path) -> None:
    _write(root, {"images/a.jpg": (60, 40)})
    (root / "annotations.xml").write_text(
        '<?xml version="1.0"?>\n<annotations><version>1.1</version></annotations>\n'
    )


def _svg_split_folders(root: Path) -> None:
    _write(root, {"train/a.jpg": (60, 40), "train/a.xml": '<?xml version="1.0"?><svg xmlns="x"/>'})


@pytest.mark.parametrize(
    ("build", "claimed_by"),
    [
        (_coco, "coco"),
        (_roboflow_coco, "coco"),
        (_yolo, "yolo"),
        (_roboflow_yolo, "yolo"),
        (_cvat_xml, None),
        (_svg_split_folders, None),
    ],
    ids=["coco", "roboflow_coco", "yolo", "roboflow_yolo", "cvat_annotations_xml", "svg_split_folders"],
)
def test_other_formats_are_not_claimed(tmp_path, build, claimed_by):
    root = tmp_path / "ds"
    root.mkdir()
    build(root)
    assert voc.detect(root) is None
    with pytest.raises(DatasetError) as err:
        voc.load(root)
    assert "No Pascal VOC annotations in" in str(err.value) and "\n" not in str(err.value)
    if claimed_by is not None:  # the format it is, not VOC, when sniffed
        assert loaders.detect(root).format == claimed_by


def test_annotations_folder_of_json_only_is_not_voc(tmp_path):
    root = _write(tmp_path / "ds", {"images/a.jpg": (60, 40)})
    (root / "annotations").mkdir()
    (root / "annotations" / "a.json").write_text("{}")
    assert voc.detect(root) is None


# --------------------------------------------------------------------------- sizes vs headers

# (id, <size> written, image drawn (w, h[, EXIF orientation]), width, height, status, exif, issue)
SIZE_CASES = [
    ("equal", (60, 40), (60, 40), 60, 40, "ok", False, None),
    (
        "differs",
        (100, 80),
        (60, 40),
        100,
        80,
        "ok",
        False,
        "JPEGImages/a.jpg: <size> says 100x80, the image file is 60x40; the declared size is used",
    ),
    ("zero_is_missing", (0, 0), (60, 40), 60, 40, "ok", False, None),
    ("missing", None, (60, 40), 60, 40, "ok", False, None),
    ("exif_declared_after", (40, 60), (60, 40, 6), 40, 60, "ok", True, None),
    (
        "exif_declared_before",
        (60, 40),
        (60, 40, 6),
        60,
        40,
        "ok",
        True,
        "JPEGImages/a.jpg: <size> says 60x40, the image file is 40x60 after its EXIF orientation "
        "(stored as 60x40: the size was written before rotating); the declared size is used",
    ),
    ("exif_180_no_swap", (60, 40), (60, 40, 3), 60, 40, "ok", True, None),
    ("not_an_image_declared", (60, 40), "TEXT", 60, 40, "unreadable-size", False, None),
    ("empty_file_declared", (60, 40), "EMPTY", 60, 40, "corrupt", False, None),
]


@pytest.mark.parametrize(
    ("size", "image", "width", "height", "status", "exif", "mismatch"),
    [c[1:] for c in SIZE_CASES],
    ids=[c[0] for c in SIZE_CASES],
)
def test_header_is_checked_against_size(tmp_path, size, image, width, height, status, exif, mismatch):
    drawn = {"TEXT": "not an image\n", "EMPTY": ""}.get(image, image) if isinstance(image, str) else image
    root = _write(tmp_path / "ds", {"Annotations/a.xml": _xml("a.jpg", size=size), "JPEGImages/a.jpg": drawn})
    ds = voc.load(root)
    row = ds.images.iloc[0]
    assert (row.width, row.height, row.status, bool(row.exif_rotated)) == (width, height, status, exif)
    assert ds.box_columns("img_w")["img_w"].tolist() == [width]  # the size the boxes are measured against
    if mismatch is None:
        assert ds.issues == ()
    else:
        assert [(i.code, i.file, i.line, i.reason) for i in ds.issues] == [
            ("load.size_mismatch", "Annotations/a.xml", None, mismatch)
        ]


def test_unreadable_image_without_size_is_size_missing(tmp_path):
    root = _write(tmp_path / "ds", {"Annotations/a.xml": _xml("a.jpg", size=None), "JPEGImages/a.jpg": ""})
    ds = voc.load(root)
    assert ds.images["status"].tolist() == ["corrupt"]
    assert [(i.code, i.file, i.reason) for i in ds.issues] == [
        (
            "load.size_missing",
            "Annotations/a.xml",
            "<size> has no usable width/height and the image (corrupt) cannot give it",
        )
    ]


def test_mismatch_of_an_image_found_by_stem_in_a_year(tmp_path):
    # <filename> names a file that is not there; the stem finds b.png, whose header differs
    files = {**DEVKIT, "VOCdevkit/VOC2012/Annotations/e.xml": _xml("renamed.jpg", size=(64, 48))}
    files["VOCdevkit/VOC2012/JPEGImages/e.png"] = (32, 24)
    ds = voc.load(_write(tmp_path / "ds", files))
    assert _issues(ds) == [("load.size_mismatch", "VOCdevkit/VOC2012/Annotations/e.xml", None)]
    assert ds.issues[0].reason.startswith(
        "VOCdevkit/VOC2012/JPEGImages/e.png: <size> says 64x48, the image file is 32x24"
    )
    assert _by_file(ds, "split")["VOCdevkit/VOC2012/JPEGImages/e.png"] == "VOC2012/unassigned"


def test_headers_are_read_once_as_one_list_of_found_images(tmp_path, monkeypatch):
    files = {**LABELIMG, "img4.xml": _xml("gone.jpg")}  # img4 has no image: nothing to read
    root = _write(tmp_path / "ds", files)
    calls: list[tuple[list[str], int]] = []
    real = voc_images.read_headers

    def spy(paths, progress=None, *, workers=1):
        calls.append((list(paths), workers))
        return real(paths, progress, workers=workers)

    monkeypatch.setattr(voc_images, "read_headers", spy)
    ds = voc.load(root, workers=1)
    assert calls == [([str(root / "img1.jpg"), str(root / "img2.png")], 1)]
    assert _by_file(ds, "status") == {"img1.jpg": "ok", "img2.png": "ok", "gone.jpg": "missing"}


def test_workers_give_the_same_dataset(tmp_path):
    files = {**DEVKIT, "VOCdevkit/VOC2007/Annotations/a.xml": _xml("a.jpg", size=(61, 40))}
    root = _write(tmp_path / "ds", files)
    one, two = voc.load(root, workers=1), voc.load(root, workers=2)
    assert one.issues == two.issues and len(one.issues) == 1
    assert one.images.drop(columns="split").equals(two.images.drop(columns="split"))
    assert one.images["split"].astype(str).tolist() == two.images["split"].astype(str).tolist()
    assert one.boxes[["x", "y", "w", "h", "split"]].equals(two.boxes[["x", "y", "w", "h", "split"]])


def test_filename_paths_in_a_year_stay_inside_the_folder_given(tmp_path, monkeypatch):
    files = {
        **DEVKIT,
        # from VOC2007/JPEGImages, ../../VOC2012/JPEGImages/c.jpg is inside VOCdevkit/: found
        "VOCdevkit/VOC2007/Annotations/x.xml": _xml("../../VOC2012/JPEGImages/c.jpg", size=(60, 40)),
        # ../../../secret.png is beside VOCdevkit/, outside the folder given: never read
        "VOCdevkit/VOC2007/Annotations/y.xml": _xml("../../../secret.png", size=None),
        "secret.png": (10, 10),
    }
    root = _write(tmp_path / "ds", files) / "VOCdevkit"
    seen: list[str] = []
    real = voc_images.read_headers
    monkeypatch.setattr(
        voc_images, "read_headers", lambda paths, *a, **k: seen.extend(paths) or real(paths, *a, **k)
    )
    ds = voc.load(root)
    assert _by_file(ds, "status") == {
        "VOC2007/JPEGImages/a.jpg": "ok",
        "VOC2007/JPEGImages/b.jpg": "ok",
        "VOC2012/JPEGImages/c.jpg": "ok",  # x.xml's image, and c.xml's below
        "../../../secret.png": "missing",
    }
    assert len(ds.images) == 5 and not any("secret" in p for p in seen)
    assert _issues(ds) == [
        ("load.path_outside_root", "VOC2007/Annotations/y.xml", None),
        ("load.size_missing", "VOC2007/Annotations/y.xml", None),
    ]
