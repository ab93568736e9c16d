"""CSV box tables (TensorFlow CSV, Roboflow's export, Open Images): inline rows written to
``tmp_path`` with tiny Pillow images, and expectations computed by hand in the comments."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from sodaudit.config import LimitsConfig
from sodaudit.errors import DatasetError
from sodaudit.loaders import csvlabels

TF_HEADER = "filename,width,height,class,xmin,ymin,xmax,ymax"
OI_HEADER = (
    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,"
    "IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
)


def _image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)


def _write(root: Path, files: dict[str, str], images: dict[str, tuple[int, int]] | None = None) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    for name, size in (images or {}).items():
        _image(root / name, size)
    return root


def _boxes(ds) -> list[tuple]:
    return [(str(r.class_name), r.x, r.y, r.w, r.h) for r in ds.boxes.itertuples()]


def _issues(ds) -> list[tuple[str, str, int | None]]:
    return [(i.code, i.file, i.line) for i in ds.issues]


# --------------------------------------------------------------------------- TensorFlow rows

# (id, data row on line 2 of labels.csv, expected boxes, expected issues [(code, line)]); a.jpg is 100x80
TF_ROWS = [
    # x = xmin 10, y = ymin 20, w = 40 - 10 = 30, h = 60 - 20 = 40
    ("normal", "a.jpg,100,80,car,10,20,40,60", [("car", 10, 20, 30, 40)], []),
    # w = 4 - 1.5 = 2.5, h = 3 - 2.25 = 0.75
    ("float", "a.jpg,100,80,car,1.5,2.25,4,3", [("car", 1.5, 2.25, 2.5, 0.75)], []),
    ("quoted_class", 'a.jpg,100,80,"traffic, light",0,0,5,5', [("traffic, light", 0, 0, 5, 5)], []),
    ("non_numeric", "a.jpg,100,80,car,abc,20,40,60", [], [("load.malformed_row", 2)]),
    ("missing_coord", "a.jpg,100,80,car,10,20,40,", [], [("load.malformed_row", 2)]),
    ("nan_coord", "a.jpg,100,80,car,nan,20,40,60", [], [("load.malformed_row", 2)]),
    ("too_few_fields", "a.jpg,100,80,car,10,20", [], [("load.malformed_row", 2)]),
    # xmax < xmin stays a box of negative width (40 - 50): integrity.degenerate_box reports it
    ("xmax_lt_xmin", "a.jpg,100,80,car,50,20,40,60", [("car", 50, 20, -10, 40)], []),
    ("zero_height", "a.jpg,100,80,car,10,20,40,20", [("car", 10, 20, 30, 0)], []),
    ("no_class", "a.jpg,100,80, ,10,20,40,60", [], [("load.malformed_row", 2)]),
    ("width_text", "a.jpg,abc,80,car,10,20,40,60", [], [("load.malformed_row", 2)]),
    ("width_zero", "a.jpg,0,80,car,10,20,40,60", [], [("load.malformed_row", 2)]),
    ("height_negative", "a.jpg,100,-80,car,10,20,40,60", [], [("load.malformed_row", 2)]),
]


@pytest.mark.parametrize(("row", "boxes", "issues"), [c[1:] for c in TF_ROWS], ids=[c[0] for c in TF_ROWS])
def test_tf_rows(tmp_path, row, boxes, issues):
    root = _write(tmp_path / "ds", {"labels.csv": f"{TF_HEADER}\n{row}\n"}, {"a.jpg": (100, 80)})
    ds = csvlabels.load(root)
    assert _boxes(ds) == boxes
    assert [(i.code, i.file, i.line) for i in ds.issues] == [(c, "labels.csv", n) for c, n in issues]
    # a skipped row still lists its image: it is not "in no label file"
    assert ds.images[["file_name", "split", "width", "height", "status"]].values.tolist() == [
        ["a.jpg", "all", 100.0, 80.0, "ok"]
    ]
    if boxes:
        assert ds.boxes["source_file"].astype(str).tolist() == ["labels.csv"]
        assert ds.boxes["source_line"].tolist() == [2]


def test_tf_bad_rows_between_good_ones_keep_their_lines(tmp_path):
    text = (
        "\ufeff" + TF_HEADER + "\r\n"  # line 1, with a BOM and Windows line ends
        "a.jpg,100,80,car,10,20,40,60\r\n"  # line 2
        "a.jpg,100,80,bus,x,1,2,3\r\n"  # line 3: xmin not a number
        "\r\n"  # line 4: blank, ignored
        "b.jpg,50,40,dog,1,2,11,22\r\n"  # line 5: w = 10, h = 20
        "b.jpg,50,40,dog,9,9,9,9\r\n"  # line 6: zero-size, kept (integrity reports it)
    )
    root = _write(tmp_path / "ds", {"labels.csv": text}, {"a.jpg": (100, 80), "b.jpg": (50, 40)})
    ds = csvlabels.load(root)
    assert _boxes(ds) == [("car", 10, 20, 30, 40), ("dog", 1, 2, 10, 20), ("dog", 9, 9, 0, 0)]
    assert ds.boxes["source_line"].tolist() == [2, 5, 6]
    assert _issues(ds) == [("load.malformed_row", "labels.csv", 3)]
    assert "xmin 'x'" in ds.issues[0].reason
    assert ds.classes == {0: "car", 1: "dog"}  # bus has no box; names sorted
    assert ds.images["file_name"].tolist() == ["a.jpg", "b.jpg"]


def test_tf_columns_in_another_order_and_case(tmp_path):
    text = "XMIN,YMIN,XMAX,YMAX,Class,Filename,Width,Height,extra\n5,6,15,26,cat,a.jpg,100,80,zz\n"
    root = _write(tmp_path / "ds", {"labels.csv": text}, {"a.jpg": (100, 80)})
    ds = csvlabels.load(root)
    assert _boxes(ds) == [("cat", 5, 6, 10, 20)]  # w = 15 - 5, h = 26 - 6
    assert ds.issues == ()


def test_tf_split_files_find_their_own_split_folder(tmp_path):
    # the TF tutorial layout: annotations/<split>_labels.csv, images/<split>/, same file name in both
    files = {
        "annotations/train_labels.csv": f"{TF_HEADER}\n1.jpg,100,80,car,1,2,3,4\n"
        "1.jpg,100,80,bus,0,0,10,10\n",
        "annotations/test_labels.csv": f"{TF_HEADER}\n1.jpg,200,160,car,10,20,30,40\n",
    }
    root = _write(tmp_path / "ds", files, {"images/train/1.jpg": (100, 80), "images/test/1.jpg": (200, 160)})
    detection = csvlabels.detect(root)
    assert detection is not None and detection.format == "csv" and detection.root == root
    assert "annotations/train_labels.csv (TensorFlow CSV)" in detection.evidence
    ds = csvlabels.load(root)
    # files are read in name order: test_labels.csv, then train_labels.csv
    assert ds.images[["file_name", "split", "width", "height"]].values.tolist() == [
        ["images/test/1.jpg", "test", 200.0, 160.0],
        ["images/train/1.jpg", "train", 100.0, 80.0],
    ]
    assert ds.issues == ()  # 200x160 and 100x80 each match their own image: no size_mismatch
    assert ds.boxes["image_id"].tolist() == [0, 1, 1]
    assert _boxes(ds) == [("car", 10, 20, 20, 20), ("car", 1, 2, 2, 2), ("bus", 0, 0, 10, 10)]
    assert ds.classes == {0: "bus", 1: "car"}


def test_roboflow_export(tmp_path):
    files = {
        "train/_annotations.csv": f"{TF_HEADER}\na.jpg,100,80,helmet,10,10,20,30\n"
        "a.jpg,100,80,head,0,0,5,5\n",
        "valid/_annotations.csv": f"{TF_HEADER}\nb.jpg,64,48,helmet,1,1,33,17\n",
        "test/_annotations.csv": f"{TF_HEADER}\n",  # no boxes at all
        "README.roboflow.txt": "exported from roboflow",
    }
    images = {"train/a.jpg": (100, 80), "valid/b.jpg": (64, 48), "test/c.jpg": (32, 32)}
    root = _write(tmp_path / "ds", files, images)
    detection = csvlabels.detect(root)
    assert detection is not None
    assert detection.evidence.startswith("box CSV files test/_annotations.csv (Roboflow TensorFlow CSV)")
    ds = csvlabels.load(root)
    assert ds.images[["file_name", "split", "width", "height", "status", "source_file"]].values.tolist() == [
        ["train/a.jpg", "train", 100.0, 80.0, "ok", "train/_annotations.csv"],
        ["valid/b.jpg", "valid", 64.0, 48.0, "ok", "valid/_annotations.csv"],
    ]
    # helmet a: w = 20 - 10 = 10, h = 30 - 10 = 20; helmet b: w = 33 - 1 = 32, h = 17 - 1 = 16
    assert _boxes(ds) == [("helmet", 10, 10, 10, 20), ("head", 0, 0, 5, 5), ("helmet", 1, 1, 32, 16)]
    # c.jpg is in no CSV row: reported, not audited
    assert _issues(ds) == [("load.image_not_in_annotations", "test/c.jpg", None)]
    assert ds.meta["label_files"]["valid/_annotations.csv"] == "Roboflow TensorFlow CSV"


def test_roboflow_split_folder_given_as_root(tmp_path):
    root = _write(tmp_path / "train", {"_annotations.csv": f"{TF_HEADER}\na.jpg,10,10,x,0,0,1,1\n"})
    _image(root / "a.jpg", (10, 10))
    ds = csvlabels.load(root)
    assert ds.images["split"].tolist() == ["train"]


def test_declared_size_differs_from_the_image_file(tmp_path):
    root = _write(
        tmp_path / "ds", {"labels.csv": f"{TF_HEADER}\na.jpg,120,80,car,1,2,3,4\n"}, {"a.jpg": (100, 80)}
    )
    ds = csvlabels.load(root)
    [issue] = ds.issues
    assert (issue.code, issue.file) == ("load.size_mismatch", "labels.csv")
    assert "declared 120x80, the image file is 100x80" in issue.reason
    assert ds.images["width"].tolist() == [120.0]  # the declared size is kept: boxes are in its pixels


def test_rows_of_one_image_disagree_on_its_size(tmp_path):
    text = f"{TF_HEADER}\na.jpg,100,80,car,1,2,3,4\na.jpg,200,80,car,5,6,7,8\n"
    root = _write(tmp_path / "ds", {"labels.csv": text}, {"a.jpg": (100, 80)})
    ds = csvlabels.load(root)
    assert _issues(ds) == [("load.size_mismatch", "labels.csv", 3)]
    assert len(ds.boxes) == 2 and ds.images["width"].tolist() == [100.0]


def test_missing_image_and_name_outside_root(tmp_path):
    text = f"{TF_HEADER}\ngone.jpg,100,80,car,1,2,3,4\n../x.jpg,100,80,car,1,2,3,4\n"
    root = _write(tmp_path / "ds", {"labels.csv": text})
    _image(tmp_path / "x.jpg", (100, 80))  # exists, but outside the dataset: never read
    ds = csvlabels.load(root)
    # no image file under the root at all: sizes come from the CSV alone ("unchecked")
    assert ds.images[["file_name", "status"]].values.tolist() == [
        ["gone.jpg", "unchecked"],
        ["../x.jpg", "unchecked"],
    ]
    assert ("load.path_outside_root", "labels.csv", None) in _issues(ds)
    assert ds.images["width"].tolist() == [100.0, 100.0]  # declared sizes are kept


def test_not_utf8_row_is_an_issue(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    data = f"{TF_HEADER}\na.jpg,100,80,car,1,2,3,4\n".encode() + b"a.jpg,100,80,\xff\xfe,1,2,3,4\n"
    (root / "labels.csv").write_bytes(data)
    _image(root / "a.jpg", (100, 80))
    ds = csvlabels.load(root)
    assert _issues(ds) == [("load.encoding", "labels.csv", 3)]
    assert len(ds.boxes) == 1


# --------------------------------------------------------------------------- limits, detection


def test_file_past_the_size_limit(tmp_path):
    big = f"{TF_HEADER}\n" + "a.jpg,100,80,car,1,2,3,4\n" * 5000  # 125 kB
    files = {"train_labels.csv": big, "val_labels.csv": f"{TF_HEADER}\nb.jpg,50,40,car,1,2,3,4\n"}
    root = _write(tmp_path / "ds", files, {"b.jpg": (50, 40)})
    ds = csvlabels.load(root, limits=LimitsConfig(max_annotation_file_mb=0.1))
    too_large = [i for i in ds.issues if i.code == "load.file_too_large"]
    assert [(i.file, i.line) for i in too_large] == [("train_labels.csv", None)]
    assert "limits.max_annotation_file_mb" in too_large[0].reason
    assert len(ds.boxes) == 1 and ds.images["split"].tolist() == ["val"]  # val is still read


def test_only_file_past_the_limit_is_an_error(tmp_path):
    root = _write(tmp_path / "ds", {"labels.csv": f"{TF_HEADER}\n" + "a.jpg,1,1,c,0,0,1,1\n" * 10000})
    with pytest.raises(
        DatasetError, match=r"No CSV label file at .* could be read \(labels.csv: larger than"
    ):
        csvlabels.load(root, limits=LimitsConfig(max_annotation_file_mb=0.1))


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"notes.txt": "filename,width,height,class,xmin,ymin,xmax,ymax\n"},  # right header, not a .csv
        {"results.csv": "epoch,train/box_loss,metrics/mAP50\n1,0.5,0.1\n"},  # unrelated columns
        {"labels.csv": "filename,class,xmin,ymin\na.jpg,car,1,2\n"},  # some of the columns only
        {"a/b/deep.csv": f"{TF_HEADER}\n"},  # two folders down: not searched
        {"empty.csv": ""},
    ],
    ids=["images_only", "not_csv", "unrelated_columns", "partial_header", "too_deep", "empty"],
)
def test_not_this_format(tmp_path, files):
    root = _write(tmp_path / "ds", files, {"a.jpg": (10, 10)})
    assert csvlabels.detect(root) is None
    with pytest.raises(DatasetError, match="No box CSV found"):
        csvlabels.load(root)
    for name in files:
        if "/" not in name:  # deep.csv itself is a good CSV, only too deep to be searched for
            assert csvlabels.detect(root / name) is None


def test_detect_reads_only_the_first_line(tmp_path, monkeypatch):
    root = _write(tmp_path / "ds", {"labels.csv": f"{TF_HEADER}\n" + "x" * 200_000 + "\n"})
    read_sizes = []
    real_open = csvlabels.open_binary

    class Spy:  # the handle detection reads through, recording how much each read asks for
        def __init__(self, handle):
            self.handle = handle

        def read(self, n=-1):
            read_sizes.append(n)
            return self.handle.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(csvlabels, "open_binary", lambda path: Spy(real_open(path)))
    assert csvlabels.detect(root) is not None
    assert read_sizes and all(0 < n <= 65536 for n in read_sizes)


def test_one_csv_file_given(tmp_path):
    files = {
        "annotations/train_labels.csv": f"{TF_HEADER}\n1.jpg,100,80,car,1,2,3,4\n",
        "annotations/test_labels.csv": f"{TF_HEADER}\n2.jpg,100,80,car,1,2,3,4\n",
    }
    root = _write(tmp_path / "ds", files, {"images/train/1.jpg": (100, 80), "images/test/2.jpg": (100, 80)})
    path = root / "annotations" / "train_labels.csv"
    detection = csvlabels.detect(path)
    assert detection is not None and detection.root == root.resolve()  # above annotations/
    assert detection.evidence == "train_labels.csv has a TensorFlow CSV header"
    ds = csvlabels.load(path)
    assert ds.images[["file_name", "split"]].values.tolist() == [["images/train/1.jpg", "train"]]
    assert ds.issues == ()  # 2.jpg belongs to the test CSV, which was not asked for: not reported


def test_loading_never_writes(tmp_path):
    root = _write(
        tmp_path / "ds", {"labels.csv": f"{TF_HEADER}\na.jpg,100,80,car,1,2,3,4\n"}, {"a.jpg": (100, 80)}
    )
    before = sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*"))
    csvlabels.load(root)
    assert sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*")) == before


# --------------------------------------------------------------------------- Open Images


def _oi_dataset(tmp_path: Path, rows: list[str], images=None, descriptions=None) -> Path:
    files = {
        "annotations/validation-annotations-bbox.csv": OI_HEADER + "\n" + "".join(r + "\n" for r in rows)
    }
    if descriptions is not None:
        files["annotations/oidv7-class-descriptions-boxable.csv"] = descriptions
    return _write(
        tmp_path / "oi", files, images if images is not None else {"validation/abc.jpg": (640, 480)}
    )


DESCRIPTIONS = "LabelName,DisplayName\n/m/0k4j,Car\n/m/01g317,Person\n/m/0199g,Bicycle\n"


def test_open_images_boxes_scale_to_pixels(tmp_path):
    rows = [
        "abc,xclick,/m/0k4j,1,0.25,0.5,0.125,0.75,1,0,0,0,0",  # line 2
        "abc,xclick,/m/01g317,1,0,1,0,1,0,1,1,0,0",  # line 3: a group box
        "abc,activemil,/m/0cmf2,1,0.1,0.35,0.2,0.45,-1,-1,0,0,0",  # line 4: MID not in the list
    ]
    root = _oi_dataset(tmp_path, rows, descriptions=DESCRIPTIONS)
    detection = csvlabels.detect(root)
    assert detection is not None
    assert (
        detection.evidence == "box CSV files annotations/validation-annotations-bbox.csv (Open Images boxes)"
    )
    ds = csvlabels.load(root)
    assert ds.images[["file_name", "split", "width", "height", "status"]].values.tolist() == [
        ["validation/abc.jpg", "val", 640.0, 480.0, "ok"]
    ]
    # Car: x = 0.25*640 = 160, w = 0.5*640 - 160 = 160, y = 0.125*480 = 60, h = 0.75*480 - 60 = 300
    # Person: the whole image; /m/0cmf2: x = 0.1*640 = 64, w = 0.35*640 - 64 = 160 (224 - 64),
    #   y = 0.2*480 = 96, h = 0.45*480 - 96 = 120 (216 - 96)
    got = [(n, round(x, 9), round(y, 9), round(w, 9), round(h, 9)) for n, x, y, w, h in _boxes(ds)]
    assert got == [("Car", 160, 60, 160, 300), ("Person", 0, 0, 640, 480), ("/m/0cmf2", 64, 96, 160, 120)]
    assert ds.boxes["ignore"].tolist() == [False, True, False]  # IsGroupOf=1
    assert ds.boxes["occluded"].tolist() == [True, False, pd.NA]  # -1: unknown
    assert ds.boxes["truncated"].tolist() == [False, True, pd.NA]
    assert ds.boxes["source_line"].tolist() == [2, 3, 4]
    # the declared list in file order, then the undeclared MID
    assert ds.classes == {0: "Car", 1: "Person", 2: "Bicycle", 3: "/m/0cmf2"}
    csv_rel = "annotations/validation-annotations-bbox.csv"
    assert _issues(ds) == [("load.undeclared_class", csv_rel, 4)]
    assert ds.meta["class_descriptions"] == "annotations/oidv7-class-descriptions-boxable.csv"


def test_open_images_exact_dyadic_scaling(tmp_path):
    # 0.375 * 1024 = 384, 0.875 * 1024 = 896 -> w 512; 0.0625 * 256 = 16, 0.5 * 256 = 128 -> h 112
    root = _oi_dataset(
        tmp_path, ["img1,xclick,/m/0k4j,1,0.375,0.875,0.0625,0.5,0,0,0,0,0"], {"img1.jpg": (1024, 256)}
    )
    ds = csvlabels.load(root)
    assert ds.boxes[["x", "y", "w", "h"]].values.tolist() == [[384.0, 16.0, 512.0, 112.0]]


def test_open_images_without_descriptions_and_v6_list_without_header(tmp_path):
    row = "abc,xclick,/m/0k4j,1,0,0.5,0,0.5,0,0,0,0,0"
    ds = csvlabels.load(_oi_dataset(tmp_path / "a", [row]))
    assert ds.classes == {0: "/m/0k4j"} and ds.issues == ()
    assert any("class descriptions" in n for n in ds.notes)
    root = _oi_dataset(tmp_path / "b", [row])
    (root / "class-descriptions-boxable.csv").write_text("/m/0k4j,Car\n/m/01g317,Person\n")
    ds = csvlabels.load(root)
    assert ds.classes == {0: "Car", 1: "Person"} and ds.boxes["class_name"].tolist() == ["Car"]


def test_open_images_rows_with_defects(tmp_path):
    rows = [
        "abc,xclick,/m/0k4j,1,0.25,0.5,0.125,0.75,0,0,0,0,0",  # line 2: fine
        "abc,xclick,/m/0k4j,1,zero,0.5,0.125,0.75,0,0,0,0,0",  # line 3: XMin not a number
        "abc,xclick,/m/0k4j,1,0.5,0.25,0.125,0.75,0,0,0,0,0",  # line 4: XMax < XMin, kept
        ",xclick,/m/0k4j,1,0.1,0.2,0.1,0.2,0,0,0,0,0",  # line 5: no ImageID
        "abc,xclick,/m/0k4j,1,-0.25,0.5,0.5,1.25,0,0,0,0,0",  # line 6: outside [0, 1], kept
        "abc,xclick",  # line 7: too few fields
    ]
    root = _oi_dataset(tmp_path, rows)
    ds = csvlabels.load(root)
    rel = "annotations/validation-annotations-bbox.csv"
    assert _issues(ds) == [
        ("load.malformed_row", rel, 3),
        ("load.malformed_row", rel, 5),
        ("load.value_out_of_range", rel, 6),
        ("load.malformed_row", rel, 7),
    ]
    # line 4: x = 0.5*640 = 320, w = 0.25*640 - 320 = -160, y = 0.125*480 = 60, h = 0.75*480 - 60 = 300
    # line 6: x = -0.25*640 = -160, w = 0.5*640 + 160 = 480, y = 0.5*480 = 240, h = 1.25*480 - 240 = 360
    assert ds.boxes[["x", "y", "w", "h"]].values.tolist() == [
        [160, 60, 160, 300],
        [320, 60, -160, 300],
        [-160, 240, 480, 360],
    ]
    assert ds.boxes["source_line"].tolist() == [2, 4, 6]


def test_open_images_image_without_readable_size_keeps_its_boxes(tmp_path):
    rows = [
        "abc,xclick,/m/0k4j,1,0,0.5,0,0.5,0,0,0,0,0",
        "broken,xclick,/m/0k4j,1,0.1,0.2,0.1,0.2,0,0,0,0,0",  # the file is not an image
        "gone,xclick,/m/0k4j,1,0.1,0.2,0.1,0.2,0,0,0,0,0",  # no such file
    ]
    root = _oi_dataset(tmp_path, rows)
    (root / "validation" / "broken.jpg").write_bytes(b"not an image")
    ds = csvlabels.load(root)
    assert ds.images[["file_name", "status"]].values.tolist() == [
        ["validation/abc.jpg", "ok"],
        ["validation/broken.jpg", "unreadable-size"],
        ["validation/gone.jpg", "missing"],  # looked for in the split's folder first
    ]
    assert len(ds.boxes) == 3  # reported, not dropped
    assert [math.isnan(x) for x in ds.boxes["x"]] == [False, True, True]
    rel = "annotations/validation-annotations-bbox.csv"
    assert _issues(ds) == [("load.size_missing", rel, None), ("load.size_missing", rel, None)]
    assert "validation/broken.jpg" in ds.issues[0].reason and "validation/gone.jpg" in ds.issues[1].reason


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("train-annotations-bbox.csv", "train"),
        ("oidv6-train-annotations-bbox.csv", "train"),
        ("validation-annotations-bbox.csv", "val"),
        ("test-annotations-bbox.csv", "test"),
        ("detections.csv", "all"),
    ],
)
def test_open_images_split_from_the_file_name(tmp_path, name, split):
    root = _write(
        tmp_path / "oi", {name: f"{OI_HEADER}\nabc,xclick,/m/0k4j,1,0,1,0,1,0,0,0,0,0\n"}, {"abc.jpg": (8, 8)}
    )
    ds = csvlabels.load(root)
    assert ds.images["split"].tolist() == [split]
    assert ds.boxes[["w", "h"]].values.tolist() == [[8.0, 8.0]]
