"""YOLO loader: label rows (a table of inline label text, expected pixel boxes by hand),
both layouts, yaml variants, list-file splits, and the ships_yolo real dataset checked against
counts taken from its raw files by a second, plain method."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sodaudit.analyzers import integrity
from sodaudit.config import Config
from sodaudit.errors import DatasetError
from sodaudit.loaders import yolo
from sodaudit.loaders.base import Detection
from sodaudit.loaders.yolo.rows import parse_rows

W, H = 200, 100  # every test image is 200 x 100 unless stated


def image(path: Path, size: tuple[int, int] = (W, H), exif_orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif
    Image.new("RGB", size, (90, 90, 90)).save(path, **kwargs)
    return path


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def plain(root: Path, label: bytes, names: str | None = "a\nb\n") -> Path:
    """images/a.png (200 x 100) + labels/a.txt + classes.txt with classes a, b."""
    image(root / "images" / "a.png")
    write(root / "labels" / "a.txt", label)
    if names is not None:
        write(root / "classes.txt", names)
    return root


def box_tuples(ds) -> list[tuple]:
    b = ds.boxes.sort_values("source_line")
    return list(zip(b["class_id"], b["x"], b["y"], b["w"], b["h"], b["source_line"], strict=True))


def issue_pairs(ds, *, skip: tuple[str, ...] = ()) -> list[tuple[str, int | None]]:
    return sorted((i.code, i.line) for i in ds.issues if i.code not in skip)


nan = float("nan")
BOX = b"0 0.5 0.5 0.2 0.4"  # x = (0.5 - 0.1) * 200 = 80, y = (0.5 - 0.2) * 100 = 30, w 40, h 40
LONG_POLYGON = b"1 " + b" ".join(b"0.25 0.5" for _ in range(100_000)) + b" 0.75 0.9\n"

# (label bytes, expected boxes (class, x, y, w, h, line), expected issues (code, line))
ROWS = {
    "box": (BOX + b"\n", [(0, 80, 30, 40, 40, 1)], []),
    "no final newline": (BOX, [(0, 80, 30, 40, 40, 1)], []),
    "polygon 4 points": (  # x 0.1..0.3, y 0.2..0.6 -> 20, 20, 40, 40
        b"1 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n",
        [(1, 20, 20, 40, 40, 1)],
        [],
    ),
    "polygon 7 columns": (b"1 0.1 0.2 0.3 0.2 0.3 0.6\n", [(1, 20, 20, 40, 40, 1)], []),
    "4 columns": (b"0 0.5 0.5 0.2\n" + BOX, [(0, 80, 30, 40, 40, 2)], [("load.malformed_row", 1)]),
    "6 columns": (
        BOX + b"\n0 0.5 0.5 0.2 0.4 0.9\n",
        [(0, 80, 30, 40, 40, 1)],
        [("load.malformed_row", 2)],
    ),
    "even polygon count": (b"0 0.1 0.2 0.3 0.2 0.3 0.6 0.1\n", [], [("load.malformed_row", 1)]),
    "1 column": (b"0\n", [], [("load.malformed_row", 1)]),
    "text value": (b"0 0.5 abc 0.2 0.4\n", [], [("load.malformed_row", 1)]),
    "text class": (b"ship 0.5 0.5 0.2 0.4\n", [], [("load.malformed_row", 1)]),
    "nan kept": (b"0 nan 0.5 0.2 0.4\n", [(0, nan, 30, 40, 40, 1)], []),
    "inf kept": (b"0 0.5 0.5 inf 0.4\n", [(0, -np.inf, 30, np.inf, 40, 1)], []),
    "exponent": (b"0 5e-1 0.5 1e-3 0.4\n", [(0, 99.9, 30, 0.2, 40, 1)], []),
    "negative class": (b"-1 0.5 0.5 0.2 0.4\n", [], [("load.malformed_row", 1)]),
    "fractional class": (b"1.5 0.5 0.5 0.2 0.4\n", [], [("load.malformed_row", 1)]),
    "class 1.0": (b"1.0 0.5 0.5 0.2 0.4\n", [(1, 80, 30, 40, 40, 1)], []),
    "nan class": (b"nan 0.5 0.5 0.2 0.4\n", [], [("load.malformed_row", 1)]),
    "crlf and trailing spaces": (
        BOX + b"  \r\n1 0.25 0.5 0.1 0.2 \t\r\n",  # second: x = 0.2 * 200 = 40, y = 0.4 * 100 = 40
        [(0, 80, 30, 40, 40, 1), (1, 40, 40, 20, 20, 2)],
        [],
    ),
    "cr only": (BOX + b"\r" + BOX + b"\r", [(0, 80, 30, 40, 40, 1), (0, 80, 30, 40, 40, 2)], []),
    "tabs": (b"0\t0.5\t0.5\t0.2\t0.4\n", [(0, 80, 30, 40, 40, 1)], []),
    "out of range": (  # x = (1.2 - 0.1) * 200 = 220
        b"0 1.2 0.5 0.2 0.4\n" + BOX + b"\n",
        [(0, 220, 30, 40, 40, 1), (0, 80, 30, 40, 40, 2)],
        [("load.value_out_of_range", 1)],
    ),
    "polygon out of range": (
        b"1 -0.1 0.2 0.3 0.2 0.3 0.6\n",  # x -0.1..0.3 -> -20, w 80
        [(1, -20, 20, 80, 40, 1)],
        [("load.value_out_of_range", 1)],
    ),
    "class outside names": (
        BOX + b"\n5 0.5 0.5 0.2 0.4\n",
        [(0, 80, 30, 40, 40, 1), (5, 80, 30, 40, 40, 2)],
        [],
    ),
    "blank lines": (
        b"\n\n" + BOX + b"\n\n   \n" + BOX + b"\n\n",
        [(0, 80, 30, 40, 40, 3), (0, 80, 30, 40, 40, 6)],
        [],
    ),
    "empty file": (b"", [], []),
    "only whitespace": (b" \n\n\t\r\n", [], []),
    "utf-8 bom": (b"\xef\xbb\xbf" + BOX + b"\n", [(0, 80, 30, 40, 40, 1)], []),
    "not utf-8": (
        BOX + b"\n0 0.5\xff 0.5 0.2 0.4\n" + BOX + b"\n",
        [(0, 80, 30, 40, 40, 1), (0, 80, 30, 40, 40, 3)],
        [("load.encoding", 2)],
    ),
    "latin-1 word": (
        b"0 0.5 0.5 0.2 0.4\nna\xefve 1 2 3 4\n",
        [(0, 80, 30, 40, 40, 1)],
        [("load.encoding", 2)],
    ),
    "long polygon": (LONG_POLYGON, [(1, 50, 50, 100, 40, 1)], []),  # x .25..75, y .5..9
    "long garbage line": (
        b"x" * 2_000_000 + b"\n" + BOX + b"\n",
        [(0, 80, 30, 40, 40, 2)],
        [("load.malformed_row", 1)],
    ),
    "huge numbers": (
        b"0 " + b"0." + b"5" * 200 + b" 0.5 0.2 0.4\n",
        [],
        [("load.malformed_row", 1)],
    ),
    "bad row between good": (
        BOX + b"\n" + BOX + b"\n0 0.5 0.5\n" + BOX + b"\n",
        [(0, 80, 30, 40, 40, 1), (0, 80, 30, 40, 40, 2), (0, 80, 30, 40, 40, 4)],
        [("load.malformed_row", 3)],
    ),
}


@pytest.mark.parametrize("case", list(ROWS), ids=list(ROWS))
def test_label_rows(tmp_path: Path, case: str):
    label, boxes, issues = ROWS[case]
    ds = yolo.load(plain(tmp_path, label))
    got = box_tuples(ds)
    assert len(got) == len(boxes)
    for g, e in zip(got, boxes, strict=True):
        assert g[0] == e[0] and g[5] == e[5]
        np.testing.assert_allclose(np.array(g[1:5], float), np.array(e[1:5], float), rtol=1e-9)
    assert issue_pairs(ds) == sorted(issues)
    assert all(i.file == "labels/a.txt" for i in ds.issues)
    assert (ds.boxes["source_file"].astype(str) == "labels/a.txt").all()


def test_unknown_class_ids_are_kept_as_boxes_without_a_load_issue(tmp_path: Path):
    """The integrity analyzer reports unknown ids from the table, with file:line per box."""
    label = BOX + b"\n7 0.5 0.5 0.2 0.4\n" + BOX + b"\n9 0.5 0.5 0.2 0.4\n"
    ds = yolo.load(plain(tmp_path, label))
    assert ds.issues == ()
    unknown = ds.boxes[~ds.boxes["class_id"].isin([0])]
    assert sorted(ds.source(unknown)) == ["labels/a.txt:2", "labels/a.txt:4"]
    assert sorted(ds.boxes["class_id"]) == [0, 0, 7, 9]
    assert set(ds.boxes["class_name"].astype(str)) == {"a", "<unknown id 7>", "<unknown id 9>"}
    assert ds.meta["orphan_undeclared_class_rows"] == 0


def test_undeclared_class_rows_of_orphan_label_files_are_counted(tmp_path: Path):
    """Label files without an image are not boxes; their rows with ids beyond names are counted
    in meta (2 here: ids 5 and 3), so the class-id finding can give the total to fix."""
    root = plain(tmp_path, BOX + b"\n")
    write(root / "labels" / "gone.txt", b"5 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1\n3 0.2 0.2 0.1 0.1\n")
    ds = yolo.load(root)
    assert ds.meta["orphan_rows"] == 3
    assert ds.meta["orphan_undeclared_class_rows"] == 2


def test_segment_rows_counted_and_mixed_files_noted(tmp_path: Path):
    root = plain(tmp_path, BOX + b"\n1 0.1 0.2 0.3 0.2 0.3 0.6\n1 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n")
    ds = yolo.load(root)
    assert ds.meta["segment_rows"] == 2
    assert ds.meta["mixed_label_files"] == 1
    assert any("2 label rows are polygons" in n for n in ds.notes)


def test_pose_rows_use_first_five_values(tmp_path: Path):
    image(tmp_path / "images" / "train" / "a.png")
    kpts = " ".join(["0.9 0.9 2"] * 17)
    write(
        tmp_path / "labels" / "train" / "a.txt",
        f"0 0.5 0.5 0.2 0.4 {kpts}\n0 0.5 0.5 0.2 0.4 0.1\n",
    )
    write(tmp_path / "data.yaml", "train: images/train\nkpt_shape: [17, 3]\nnames: [person]\n")
    ds = yolo.load(tmp_path)
    assert box_tuples(ds) == [(0, 80.0, 30.0, 40.0, 40.0, 1)]
    assert issue_pairs(ds) == [("load.malformed_row", 2)]  # 6 values, a pose row needs 56


def reference_rows(texts: list[str]) -> tuple[list[tuple], set[tuple[int, int]]]:
    """A second, line-by-line reading of label texts with plain Python ``float``."""
    rows, dropped = [], set()
    for f, text in enumerate(texts):
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for n, line in enumerate(lines, start=1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                v = [float(t) for t in tokens]
            except ValueError:
                dropped.add((f, n))
                continue
            cls_ok = math.isfinite(v[0]) and v[0] >= 0 and v[0] == int(v[0])
            shape_ok = len(v) == 5 or (len(v) >= 7 and len(v) % 2 == 1)
            if not (cls_ok and shape_ok):
                dropped.add((f, n))
                continue
            if len(v) == 5:
                box = (v[1] - v[3] / 2, v[2] - v[4] / 2, v[3], v[4])
                checked = v[1:5]
            else:
                xs, ys = v[1::2], v[2::2]
                x0 = math.nan if any(map(math.isnan, xs)) else min(xs)
                x1 = math.nan if any(map(math.isnan, xs)) else max(xs)
                y0 = math.nan if any(map(math.isnan, ys)) else min(ys)
                y1 = math.nan if any(map(math.isnan, ys)) else max(ys)
                box = (x0, y0, x1 - x0, y1 - y0)
                checked = v[1:]
            outside = any(math.isfinite(x) and not 0 <= x <= 1 for x in checked)
            rows.append((f, n, int(v[0]), *box, outside))
    return rows, dropped


TOKEN = st.sampled_from(
    ["0", "1", "2.0", "-1", "1.5", "0.25", "0.5", "0.75", "1e-3", "nan", "inf", "1.2", "-0.1", "x"]
)
LINE = st.tuples(st.lists(TOKEN, max_size=11), st.sampled_from([" ", "  ", "\t", " \t"]))
FILE = st.tuples(st.lists(LINE, max_size=6), st.sampled_from(["\n", "\r\n", "\r", " \n"]), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(FILE, max_size=5))
def test_vectorised_rows_match_a_line_by_line_reading(files):
    texts = []
    for lines, eol, final_eol in files:
        text = eol.join(sep.join(tokens) for tokens, sep in lines)
        texts.append(text + (eol if final_eol else ""))
    parsed = parse_rows([t.encode() for t in texts])
    expected, dropped = reference_rows(texts)
    assert {(p.file, p.line) for p in parsed.problems} == dropped
    got = list(
        zip(
            parsed.file,
            parsed.line,
            parsed.class_id,
            parsed.left,
            parsed.top,
            parsed.width,
            parsed.height,
            parsed.out_of_range,
            strict=True,
        )
    )
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert tuple(int(x) for x in g[:3]) == e[:3] and bool(g[7]) == e[7]
        np.testing.assert_allclose(np.array(g[3:7], float), np.array(e[3:7], float), rtol=1e-12)


# --------------------------------------------------------------------------- images


def test_image_size_and_exif_rotation(tmp_path: Path):
    image(tmp_path / "images" / "r.jpg", (200, 100), exif_orientation=6)  # shown as 100 x 200
    write(tmp_path / "labels" / "r.txt", BOX)
    ds = yolo.load(tmp_path)
    img = ds.images.iloc[0]
    assert (img["width"], img["height"], img["exif_rotated"], img["status"]) == (
        100,
        200,
        True,
        "ok",
    )
    # x = 0.4 * 100 = 40, y = 0.3 * 200 = 60, w = 0.2 * 100 = 20, h = 0.4 * 200 = 80
    assert box_tuples(ds) == [(0, 40.0, 60.0, 20.0, 80.0, 1)]


def test_unknown_size_leaves_nan_coordinates(tmp_path: Path):
    write(tmp_path / "images" / "bad.jpg", b"not a jpeg")
    write(tmp_path / "labels" / "bad.txt", BOX)
    ds = yolo.load(tmp_path)
    assert ds.images["status"].tolist() == ["unreadable-size"]
    assert len(ds.boxes) == 1 and ds.boxes[["x", "y", "w", "h"]].isna().all(axis=None)


def test_missing_labels_orphans_and_temp_files(tmp_path: Path):
    image(tmp_path / "train" / "images" / "a.png")
    image(tmp_path / "train" / "images" / "nolabel.png")
    write(tmp_path / "train" / "images" / "#temp", b"x")
    write(tmp_path / "train" / "labels" / "#temp", b"x")
    write(tmp_path / "train" / "labels" / "a.txt", BOX)
    write(tmp_path / "train" / "labels" / "orphan.txt", b"0 0.5 0.5 0.1 0.1\n0 0.1 0.1 9\n")
    write(tmp_path / "train" / "labels" / "classes.txt", "ship\n")
    image(tmp_path / "valid" / "images" / "empty.png")
    write(tmp_path / "valid" / "labels" / "empty.txt", b"")
    ds = yolo.load(tmp_path)
    assert sorted(ds.images["file_name"]) == [
        "train/images/a.png",
        "train/images/nolabel.png",
        "valid/images/empty.png",
    ]
    assert (
        dict(zip(ds.images["file_name"], ds.images["split"].astype(str), strict=True))[
            "valid/images/empty.png"
        ]
        == "valid"
    )
    assert ds.classes == {0: "ship"}
    assert len(ds.boxes) == 1  # the orphan's rows are not boxes, and its bad row is not reported
    assert sorted((i.code, i.file) for i in ds.issues) == [
        ("load.label_missing", "train/images/nolabel.png"),
        ("load.orphan_label", "train/labels/orphan.txt"),
    ]
    sources = dict(zip(ds.images["file_name"], ds.images["source_file"], strict=True))
    assert sources == {
        "train/images/a.png": "train/labels/a.txt",
        "train/images/nolabel.png": "",
        "valid/images/empty.png": "valid/labels/empty.txt",
    }
    assert ds.images["image_id"].tolist() == [0, 1, 2]


def test_plain_layout_split_subfolders_and_numeric_names(tmp_path: Path):
    image(tmp_path / "images" / "train" / "a.png")
    image(tmp_path / "images" / "val" / "b.png")
    write(tmp_path / "labels" / "train" / "a.txt", b"3 0.5 0.5 0.2 0.4\n")
    write(tmp_path / "labels" / "val" / "b.txt", BOX)
    ds = yolo.load(tmp_path)
    assert sorted(zip(ds.images["file_name"], ds.images["split"].astype(str), strict=True)) == [
        ("images/train/a.png", "train"),
        ("images/val/b.png", "val"),
    ]
    assert ds.classes == {0: "0", 3: "3"}
    assert ds.issues == ()


def test_obj_names_and_flat_split(tmp_path: Path):
    ds = yolo.load(plain(tmp_path, BOX, names=None))
    assert ds.images["split"].astype(str).tolist() == ["all"]
    write(tmp_path / "obj.names", "car\ntruck\n")
    assert yolo.load(tmp_path).classes == {0: "car", 1: "truck"}


def test_directory_symlink_loop_terminates(tmp_path: Path):
    root = plain(tmp_path / "d", BOX)
    os.symlink(root / "images", root / "images" / "loop")
    os.symlink(root, root / "again")
    ds = yolo.load(root)
    assert ds.images["file_name"].tolist() == ["images/a.png"]
    assert len(ds.boxes) == 1


# --------------------------------------------------------------------------- data.yaml


def ultralytics(root: Path, yaml_text: str) -> Path:
    image(root / "images" / "train" / "a.png")
    image(root / "images" / "val" / "b.png")
    write(root / "labels" / "train" / "a.txt", b"1 0.5 0.5 0.2 0.4\n")
    write(root / "labels" / "val" / "b.txt", BOX)
    write(root / "data.yaml", yaml_text)
    return root


@pytest.mark.parametrize(
    ("names_yaml", "classes"),
    [
        ("names: [cat, dog]", {0: "cat", 1: "dog"}),
        ("names:\n  0: cat\n  1: dog", {0: "cat", 1: "dog"}),
        ("names: {'0': cat, '1': dog}", {0: "cat", 1: "dog"}),
        ("nc: 2", {0: "0", 1: "1"}),
        ("nc: 2\nnames: [cat, dog]", {0: "cat", 1: "dog"}),
    ],
)
def test_yaml_names(tmp_path: Path, names_yaml: str, classes: dict):
    root = ultralytics(tmp_path, f"path: .\ntrain: images/train\nval: images/val\n{names_yaml}\n")
    ds = yolo.load(root)
    assert ds.classes == classes
    assert ds.issues == ()
    assert sorted(zip(ds.images["file_name"], ds.images["split"].astype(str), strict=True)) == [
        ("images/train/a.png", "train"),
        ("images/val/b.png", "val"),
    ]
    assert sorted(ds.boxes["class_id"]) == [0, 1]


def test_yaml_file_as_path_and_relative_path_key(tmp_path: Path):
    data = tmp_path / "data"
    ultralytics(data, "names: [cat, dog]\n")
    write(
        tmp_path / "cfg" / "set.yaml",
        "path: ../data\ntrain: images/train\nval: images/val\nnames: [cat, dog]\n",
    )
    assert yolo.detect(tmp_path / "cfg" / "set.yaml") == Detection(
        "yolo", tmp_path / "cfg", "set.yaml with names and train/val entries"
    )
    ds = yolo.load(tmp_path / "cfg" / "set.yaml")
    assert sorted(ds.images["split"].astype(str)) == ["train", "val"]
    assert len(ds.boxes) == 2


def test_roboflow_parent_prefix_and_missing_split(tmp_path: Path):
    for split in ("train", "validate"):
        image(tmp_path / split / "images" / "a.png")
        write(tmp_path / split / "labels" / "a.txt", BOX)
    write(tmp_path / "data.yaml", "train: ../train/images\nval: ../valid/images\nnames: ['x']\n")
    ds = yolo.load(tmp_path)
    [missing] = [i for i in ds.issues if i.code == "load.split_path_missing"]
    assert missing.file == "data.yaml" and missing.key == "val"
    assert "'../valid/images'" in missing.reason and "valid/images" in missing.reason
    assert "Ultralytics stops on it" in missing.reason  # check_det_dataset: FileNotFoundError
    splits = dict(zip(ds.images["file_name"], ds.images["split"].astype(str), strict=True))
    assert splits == {"train/images/a.png": "train", "validate/images/a.png": "validate"}
    assert len(ds.boxes) == 2
    assert any("validate/images" in n and "'validate'" in n for n in ds.notes)
    assert issue_pairs(ds, skip=("load.split_path_missing",)) == []


def test_list_file_splits(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory):
    outside = image(tmp_path_factory.mktemp("outside") / "secret.png")
    root = ultralytics(tmp_path, "")
    write(
        root / "train.txt",
        "./images/train/a.png\n\n./images/val/b.png\n../escape.png\n" + f"{outside}\n",
    )
    write(root / "val.txt", "./images/val/b.png\n./images/val/gone.png\n")
    write(root / "data.yaml", "train: train.txt\nval: [val.txt]\nnames: [cat, dog]\n")
    ds = yolo.load(root)
    got = sorted(
        zip(ds.images["file_name"], ds.images["split"].astype(str), ds.images["status"], strict=True)
    )
    assert got == [
        ("images/train/a.png", "train", "ok"),
        ("images/val/b.png", "train", "ok"),
        ("images/val/b.png", "val", "ok"),
        ("images/val/gone.png", "val", "missing"),
    ]
    assert issue_pairs(ds) == [
        ("load.path_outside_root", 4),
        ("load.path_outside_root", 5),
    ]
    assert len(ds.boxes) == 3  # b.txt counts once per split that lists b.png


@pytest.mark.parametrize(
    "yaml_text",
    [
        "train: [images/train\nnames: [a",  # syntax error
        "- just\n- a list\n",  # not a mapping
        "train: images/train\nnames: cats\n",  # names of the wrong shape
        "train: images/train\nnames: {a: cat}\n",  # keys are not ids
        "train: images/train\n",  # neither names nor nc
    ],
)
def test_bad_yaml_falls_back_to_plain_layout(tmp_path: Path, yaml_text: str):
    ds = yolo.load(ultralytics(tmp_path, yaml_text))
    assert [i.code for i in ds.issues] == ["load.bad_yaml"]
    assert ds.issues[0].file == "data.yaml"
    assert ds.classes == {0: "0", 1: "1"}
    assert sorted(ds.images["split"].astype(str)) == ["train", "val"]
    assert len(ds.boxes) == 2


def test_nothing_to_read_is_a_dataset_error(tmp_path: Path):
    write(tmp_path / "data.yaml", "train: [oops\n")
    with pytest.raises(DatasetError, match=str(tmp_path)):
        yolo.load(tmp_path)
    with pytest.raises(DatasetError):
        yolo.load(tmp_path / "nope")


def test_detect(tmp_path: Path):
    assert yolo.detect(tmp_path) is None
    plain(tmp_path / "p", BOX)
    assert yolo.detect(tmp_path / "p") == Detection("yolo", tmp_path / "p", "images/ + labels/ folders")
    image(tmp_path / "s" / "train" / "images" / "a.png")
    (tmp_path / "s" / "train" / "labels").mkdir()
    assert yolo.detect(tmp_path / "s").evidence == "train/images + train/labels folders"
    write(tmp_path / "y" / "data.yaml", "train: a\nval: b\ntest: c\nnames: [x]\n")
    assert yolo.detect(tmp_path / "y").evidence == "data.yaml with names and train/val/test entries"
    write(tmp_path / "n" / "other.yaml", "lr: 0.1\n")
    assert yolo.detect(tmp_path / "n") is None
    assert yolo.detect(tmp_path / "n" / "other.yaml") is None


# --------------------------------------------------------------------------- real data


def raw_rows(label: Path) -> list[list[str]]:
    """A second, plain reading of one label file: Python lines, whitespace-split."""
    return [line.split() for line in label.read_text().splitlines() if line.strip()]


def test_ships_yolo(realdata: Path):
    root = realdata / "ships_yolo"
    ds = yolo.load(root)

    all_rows, attached_rows, attached_files, orphan_files, missing = [], [], set(), set(), 0
    for split in ("train", "validate", "test"):
        stems = {p.stem for p in (root / split / "images").glob("*.jpg")}
        labels = {p.stem: p for p in (root / split / "labels").glob("*.txt")}
        missing += len(stems - set(labels))
        for stem, path in labels.items():
            rel = f"{split}/labels/{path.name}"
            rows = [(rel, n, r) for n, r in enumerate(raw_rows(path), start=1)]
            all_rows += rows
            if stem in stems:
                attached_rows += rows
                attached_files.add(rel)
            else:
                orphan_files.add(rel)

    def is_segment(r):
        return len(r) >= 7 and len(r) % 2 == 1

    def outside(r):
        values = [float(v) for v in (r[1:] if is_segment(r) else r[1:5])]
        return any(v < 0 or v > 1 for v in values)

    assert len(ds.images) == 567
    assert len(all_rows) == 708
    assert len(attached_rows) == len(ds.boxes) == 670
    assert sum(is_segment(r) for _, _, r in all_rows) == 112
    assert ds.meta["segment_rows"] == sum(is_segment(r) for _, _, r in attached_rows)
    assert sum(outside(r) for _, _, r in all_rows) == 7
    out_of_range = sorted((f, n) for f, n, r in attached_rows if outside(r))
    got = sorted((i.file, i.line) for i in ds.issues if i.code == "load.value_out_of_range")
    assert got == out_of_range

    codes = [i.code for i in ds.issues]
    assert codes.count("load.label_missing") == missing == 88
    assert {i.file for i in ds.issues if i.code == "load.orphan_label"} == orphan_files
    assert len(orphan_files) == 34
    [split_issue] = [i for i in ds.issues if i.code == "load.split_path_missing"]
    assert "../valid/images" in split_issue.reason
    assert (ds.images["split"].astype(str) == "validate").sum() == 99
    assert set(ds.images["split"].astype(str)) == {"train", "validate", "test"}
    assert not any("#temp" in name for name in ds.images["file_name"])

    # nc: 1, names ['Ships'], yet ids reach 44: boxes kept, one issue per file naming them
    assert ds.classes == {0: "Ships"}
    ids = {int(r[0]) for _, _, r in attached_rows}
    assert set(ds.boxes["class_id"]) == ids
    # ids beyond those attached live only in orphan files: named in the orphan issues
    orphan_ids = {int(r[0]) for f, _, r in all_rows if f in orphan_files}
    assert ids | orphan_ids <= set(range(45)) and max(orphan_ids) == 44
    reasons = {i.file: i.reason for i in ds.issues if i.code == "load.orphan_label"}
    for f in orphan_files:
        unknown = sorted({int(r[0]) for g, _, r in all_rows if g == f} - {0})
        if unknown:
            assert f"class ids {', '.join(map(str, unknown))} not in names" in reasons[f]
    assert (ds.boxes["class_id"] != 0).sum() == sum(r[0] != "0" for _, _, r in attached_rows)
    # rows with ids beyond names in files without an image, for the integrity finding's total
    orphan_undeclared = sum(r[0] != "0" for f, _, r in all_rows if f in orphan_files)
    assert ds.meta["orphan_undeclared_class_rows"] == orphan_undeclared
    assert sum(r[0] != "0" for _, _, r in all_rows) == 188  # the realdata README: ids 1..44
    assert set(codes) == {
        "load.label_missing",
        "load.orphan_label",
        "load.split_path_missing",
        "load.value_out_of_range",
    }

    # one box by hand: the first row of the first box-format attached file
    rel, line, row = next((f, n, r) for f, n, r in sorted(attached_rows) if len(r) == 5)
    img_path = root / rel.replace("/labels/", "/images/").replace(".txt", ".jpg")
    with Image.open(img_path) as im:
        width, height = im.size
    cls, cx, cy, w, h = int(row[0]), *map(float, row[1:])
    b = ds.boxes[(ds.boxes["source_file"].astype(str) == rel) & (ds.boxes["source_line"] == line)]
    expected = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
    np.testing.assert_allclose(b[["x", "y", "w", "h"]].to_numpy()[0], expected)
    assert int(b["class_id"].iloc[0]) == cls


def test_images_no_split_covers_are_audited_under_their_folder(tmp_path: Path):
    root = ultralytics(tmp_path, "train: images/train\nnames: [cat, dog]\n")
    ds = yolo.load(root)
    splits = dict(zip(ds.images["file_name"], ds.images["split"].astype(str), strict=True))
    assert splits == {"images/train/a.png": "train", "images/val/b.png": "val"}
    assert any(n.startswith("images/val/: 1 images that no split in data.yaml covers") for n in ds.notes)
    assert ds.issues == ()


def test_split_entry_as_list_of_folders(tmp_path: Path):
    root = ultralytics(tmp_path, "train: [images/train, images/val]\nnames: [cat, dog]\n")
    ds = yolo.load(root)
    assert sorted(ds.images["split"].astype(str)) == ["train", "train"]
    assert len(ds.boxes) == 2 and ds.notes == ()


def test_list_entries_through_a_symlink_inside_the_root_are_read(tmp_path: Path):
    store = tmp_path / "store"
    image(store / "images" / "a.png")
    write(store / "labels" / "a.txt", BOX)
    root = tmp_path / "ds"
    root.mkdir()
    os.symlink(store / "images", root / "images")
    os.symlink(store / "labels", root / "labels")
    write(root / "train.txt", "images/a.png\n")  # relative without ./, as some tools write it
    write(root / "data.yaml", "train: train.txt\nnames: [x]\n")
    ds = yolo.load(root)
    assert ds.images["file_name"].tolist() == ["images/a.png"]
    assert box_tuples(ds) == [(0, 80.0, 30.0, 40.0, 40.0, 1)]
    assert ds.issues == ()


def test_bad_kpt_shape_is_reported_and_rows_still_read(tmp_path: Path):
    image(tmp_path / "images" / "train" / "a.png")
    write(tmp_path / "labels" / "train" / "a.txt", "0 0.5 0.5 0.2 0.4 0.9 0.9\n")
    write(tmp_path / "data.yaml", "train: images/train\nkpt_shape: 17\nnames: [person]\n")
    ds = yolo.load(tmp_path)
    assert [(i.code, i.key) for i in ds.issues] == [("load.bad_yaml", "kpt_shape")]
    assert box_tuples(ds) == [(0, 80.0, 30.0, 40.0, 40.0, 1)]


def test_nc_that_disagrees_with_names_is_reported(tmp_path: Path):
    ds = yolo.load(ultralytics(tmp_path, "train: images/train\nval: images/val\nnc: 3\nnames: [a, b]\n"))
    assert [(i.code, i.key) for i in ds.issues] == [("load.bad_yaml", "nc")]
    assert ds.classes == {0: "a", 1: "b"}


def test_other_yaml_name_and_non_label_files(tmp_path: Path):
    root = ultralytics(tmp_path, "")
    (root / "data.yaml").unlink()
    write(root / "ships.yaml", "train: images/train\nval: images/val\nnames: [a, b]\n")
    write(root / "labels" / "train" / "notes.md", "not a label")
    write(root / "labels" / "train" / "labels.cache", b"\x00\x01")
    assert yolo.detect(root).evidence == "ships.yaml with names and train/val entries"
    ds = yolo.load(root)
    assert ds.classes == {0: "a", 1: "b"} and ds.issues == () and len(ds.boxes) == 2


# --------------------------------------------------------------------------- yaml path: resolution


def dataset_at(root: Path) -> Path:
    image(root / "images" / "train" / "a.png")
    write(root / "labels" / "train" / "a.txt", BOX)
    return root


def isolate_settings(monkeypatch: pytest.MonkeyPatch, folder: Path, settings: dict | None = None) -> None:
    """Ultralytics' settings folder ($YOLO_CONFIG_DIR) in the test's folder, never the user's."""
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(folder))
    if settings is not None:
        write(folder / "settings.json", json.dumps(settings))


def test_yaml_path_is_tried_from_the_yaml_folder_then_cwd_then_datasets_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cfg = write(
        tmp_path / "cfg" / "set.yaml", "path: ds\ntrain: images/train\nval: images/train\nnames: [x]\n"
    )
    isolate_settings(monkeypatch, tmp_path / "settings", {"datasets_dir": str(tmp_path / "store")})
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    # 3. only under datasets_dir (settings.json of $YOLO_CONFIG_DIR)
    dataset_at(tmp_path / "store" / "ds")
    ds = yolo.load(cfg)
    settings = tmp_path / "settings" / "settings.json"
    assert any(
        n.startswith(
            f"set.yaml: path 'ds' resolved from datasets_dir of {settings}: {tmp_path / 'store' / 'ds'}"
        )
        for n in ds.notes
    )
    assert len(ds.boxes) == 2  # train and val name the same folder
    assert not any(i.code == "load.split_path_missing" for i in ds.issues)

    # 2. the current folder comes before datasets_dir, as in Ultralytics
    dataset_at(work / "ds")
    note = next(n for n in yolo.load(cfg).notes if "path 'ds'" in n)
    assert note == f"set.yaml: path 'ds' resolved from the current folder: {work / 'ds'}."

    # 1. the yaml's folder first; Ultralytics, run from here, would read the current folder's
    dataset_at(tmp_path / "cfg" / "ds")
    note = next(n for n in yolo.load(cfg).notes if "path 'ds'" in n)
    assert note == (
        f"set.yaml: path 'ds' resolved from the yaml's folder: {tmp_path / 'cfg' / 'ds'}; "
        f"Ultralytics, run from here, would use {work / 'ds'} instead."
    )


def test_yaml_path_found_nowhere_names_every_folder_tried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    isolate_settings(monkeypatch, tmp_path / "settings")  # no settings file: Ultralytics' default
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "cfg" / "data.yaml", "path: gone\ntrain: images/train\nval: images/train\nnames: [x]\n")
    tried = [str(tmp_path / "cfg" / "gone"), str(tmp_path / "gone"), str(tmp_path / "datasets" / "gone")]
    with pytest.raises(DatasetError) as err:
        yolo.load(tmp_path / "cfg")
    assert f"its path data.yaml names no folder at {', '.join(tried)}" in str(err.value)

    # the splits exist beside the yaml: read from there, and the missing root is an error
    dataset_at(tmp_path / "cfg")
    ds = yolo.load(tmp_path / "cfg")
    [issue] = ds.issues
    assert (issue.code, issue.file, issue.key) == ("load.split_path_missing", "data.yaml", "path")
    assert f"(tried {', '.join(tried)})" in issue.reason
    assert len(ds.boxes) == 2


def test_datasets_dir_from_a_settings_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Ultralytics before 8.1 kept its settings in settings.yaml."""
    isolate_settings(monkeypatch, tmp_path / "settings")
    write(tmp_path / "settings" / "settings.yaml", f"datasets_dir: {tmp_path / 'store'}\n")
    monkeypatch.chdir(tmp_path / "settings")
    dataset_at(tmp_path / "store" / "ds")
    write(tmp_path / "cfg" / "data.yaml", "path: ds\ntrain: images/train\nnames: [x]\n")
    ds = yolo.load(tmp_path / "cfg")
    assert len(ds.boxes) == 1
    assert any("resolved from datasets_dir of" in n and "settings.yaml" in n for n in ds.notes)


# --------------------------------------------------------------------------- class ids past names


def test_class_id_past_names_is_one_finding_with_its_count(tmp_path: Path):
    root = plain(tmp_path, BOX + b"\n5 0.5 0.5 0.2 0.4\n5 0.1 0.1 0.1 0.1\n")
    image(root / "images" / "b.png")
    write(root / "labels" / "b.txt", b"5 0.5 0.5 0.2 0.4\n7 0.5 0.5 0.2 0.4\n")
    ds = yolo.load(root)
    assert ds.issues == ()
    assert ds.notes == (
        "Class ids past the 2 names of the class list (by id): id 5: 3 rows in 2 files, e.g. "
        "labels/a.txt:2; id 7: 1 row in 1 file, e.g. labels/b.txt:2.",
    )
    result = integrity.analyze(ds, Config())
    [finding] = [f for f in result.findings if f.code == "integrity.unknown_class"]
    assert finding.count == 4
    assert finding.message.startswith(
        "4 labels use 2 class ids that the class list does not declare (id 5: 3 labels, id 7: 1 label), "
        "in 2 images"
    )
    assert not any(f.code.startswith("load.") for f in result.findings)


# --------------------------------------------------------------------------- Labels/ in another case


def test_label_folder_differing_only_in_case_is_named(tmp_path: Path):
    image(tmp_path / "images" / "train" / "a.png")
    write(tmp_path / "Labels" / "train" / "a.txt", BOX)
    assert yolo.detect(tmp_path).evidence == "images/ + Labels/ folders (Labels/ is labels/ in another case)"
    write(tmp_path / "data.yaml", "train: images/train\nnames: [x]\n")
    ds = yolo.load(tmp_path)
    assert len(ds.boxes) == 0  # as Ultralytics on Linux: the image has no label
    [issue] = ds.issues
    assert (issue.code, issue.file) == ("load.label_missing", "images/train/a.png")
    assert issue.reason == (
        "no label file labels/train/a.txt; the image counts as background; Labels/ differs from "
        "labels/ only in case; Labels/train/a.txt exists: Ultralytics maps images/ to labels/ "
        "case-sensitively on Linux, so it trains this image as unlabelled background (rename the "
        "folder to labels/)"
    )
