"""The loaders' opt-in process pool and fast paths give what their simple paths give.

Reading in a process pool (``--workers 2``: YOLO label files and image headers, VOC XML files)
against one process, the memory-mapped COCO read against its edge cases, and ``Dataset.build``'s
shortcuts against the plain methods.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import sodaudit.loaders.base as base
from sodaudit import dataset as ds
from sodaudit import pool
from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset
from sodaudit.loaders import load

N_FILES = 240


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the process pools started and the chunks each was given."""
    calls: list[int] = []
    real = pool.ProcessPoolExecutor

    class Counted(real):
        def map(self, fn, *iterables, **kwargs):
            items = [list(it) for it in iterables]
            calls.append(len(items[0]))
            return super().map(fn, *items, **kwargs)

    monkeypatch.setattr(pool, "ProcessPoolExecutor", Counted)
    return calls


def assert_same(a: Dataset, b: Dataset) -> None:
    pd.testing.assert_frame_equal(a.boxes, b.boxes)
    pd.testing.assert_frame_equal(a.images, b.images)
    assert a.issues == b.issues
    assert a.notes == b.notes
    assert dict(a.classes) == dict(b.classes)
    assert dict(a.meta) == dict(b.meta)


def _png(path: Path, w: int, h: int) -> None:
    Image.new("L", (w, h)).save(path)


def _yolo(root: Path) -> dict[str, int]:
    """Images of varied sizes with label files holding good rows and defects of every kind."""
    counts = {"boxes": 0}
    (root / "data.yaml").write_text("names: [a, b, c]\ntrain: images/train\nval: images/val\n")
    for i in range(N_FILES):
        split = "train" if i % 5 else "val"
        img_dir, lab_dir = root / "images" / split, root / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lab_dir.mkdir(parents=True, exist_ok=True)
        if i % 37 == 3:
            (img_dir / f"{i}.png").write_bytes(b"")  # corrupt: empty
        else:
            _png(img_dir / f"{i}.png", 4 + i % 7, 3 + i % 5)
        if i % 41 == 5:
            continue  # no label file: background image
        rows = [f"{i % 3} 0.5 0.5 0.{1 + i % 8} 0.2", f"{(i + 1) % 4} 0.25 0.3 0.1 0.1"]
        kept = 2
        if i % 11 == 0:
            rows.append("1 0.5 0.5 0.2")  # 4 values: dropped
        if i % 13 == 0:
            rows.append("0 0.1 0.1 0.9 0.3 0.4 0.2")  # a polygon: kept
            kept += 1
        if i % 17 == 0:
            rows.append("0 0.5 1.5 0.2 0.2")  # out of range: kept
            kept += 1
        if i % 19 == 0:
            rows.append("2 x 0.5 0.2 0.2")  # text: dropped
        if i % 53 == 7:
            rows.append("# " + "z" * 1200)  # past the 1 KB limit below: the file is not read
            kept = 0
        counts["boxes"] += kept
        (lab_dir / f"{i}.txt").write_text("\n".join(rows) + "\n")
    (root / "labels" / "train" / "stray.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # orphan
    return counts


def test_yolo_pool_reading_equals_serial(tmp_path: Path, pools: list[int]) -> None:
    counts = _yolo(tmp_path)
    limits = LimitsConfig(max_label_file_mb=1 / 1024)
    serial = load(tmp_path, "yolo", limits=limits, workers=1)
    assert pools == []
    seen: list[tuple[str, int, int]] = []
    pooled = load(tmp_path, "yolo", limits=limits, workers=2, progress=lambda *a: seen.append(a))
    chunks = 2 * pool.CHUNKS_PER_WORKER
    assert pools == [chunks, chunks]  # label files, then image headers
    assert_same(serial, pooled)
    # Independent numbers: every kind of defect is there, boxes as written.
    assert len(serial.boxes) == counts["boxes"]
    assert len(serial.images) == N_FILES
    codes = {i.code for i in serial.issues}
    assert {"load.malformed_row", "load.orphan_label", "load.file_too_large"} <= codes
    assert {"load.label_missing", "load.value_out_of_range"} <= codes
    assert (serial.images["status"] == "corrupt").sum() == len(range(3, N_FILES, 37))
    labels = [s for s in seen if s[0] == "reading label files"]
    n_label_files = N_FILES - len(range(5, N_FILES, 41)) + 1  # images without labels; the stray orphan
    assert len(labels) == chunks and labels[-1][1] == labels[-1][2] == n_label_files
    assert [s[1] for s in labels] == sorted(s[1] for s in labels)


def _voc(root: Path) -> int:
    ann, jpg = root / "Annotations", root / "JPEGImages"
    ann.mkdir()
    jpg.mkdir()
    n_boxes = 0
    for i in range(N_FILES):
        _png(jpg / f"{i:04d}.png", 10 + i % 9, 8 + i % 4)
        if i % 29 == 1:
            (ann / f"{i:04d}.xml").write_text("<annotation><object></annotation>")  # malformed
            continue
        if i % 31 == 2:
            (ann / f"{i:04d}.xml").write_text('<!DOCTYPE x [<!ENTITY a "b">]><annotation/>')
            continue
        size = "" if i % 23 == 4 else f"<size><width>{10 + i % 9}</width><height>8</height></size>"
        objects = []
        for k in range(1 + i % 3):
            xmax = "oops" if (i % 43 == 6 and k == 0) else str(5 + k)
            objects.append(
                f"<object><name>{'cat' if (i + k) % 2 else 'dog'}</name><difficult>{k % 2}</difficult>"
                f"<bndbox><xmin>{k}</xmin><ymin>1</ymin><xmax>{xmax}</xmax><ymax>4</ymax></bndbox></object>"
            )
            n_boxes += xmax != "oops"
        body = "\n".join(objects)
        (ann / f"{i:04d}.xml").write_text(
            f"<annotation>\n<filename>{i:04d}.png</filename>\n{size}\n{body}\n</annotation>\n"
        )
    sets = root / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("".join(f"{i:04d}\n" for i in range(0, N_FILES, 2)))
    (sets / "val.txt").write_text("".join(f"{i:04d}\n" for i in range(1, N_FILES, 2)))
    return n_boxes


def test_voc_pool_parsing_equals_serial(tmp_path: Path, pools: list[int]) -> None:
    n_boxes = _voc(tmp_path)
    serial = load(tmp_path, "voc", workers=1)
    assert pools == []
    pooled = load(tmp_path, "voc", workers=2)
    assert pools == [2 * pool.CHUNKS_PER_WORKER] * 2  # the XML files, then the image headers
    assert_same(serial, pooled)
    bad_xml = len(range(1, N_FILES, 29)) + len([i for i in range(2, N_FILES, 31) if i % 29 != 1])
    assert len(serial.images) == N_FILES - bad_xml
    assert len(serial.boxes) == n_boxes
    # Image ids in the boxes follow the images across chunk boundaries.
    merged = serial.boxes.merge(serial.images[["image_id", "source_file"]], on="image_id")
    assert (merged["source_file_x"].astype(str) == merged["source_file_y"]).all()
    codes = {i.code for i in serial.issues}
    assert {"load.malformed_xml", "load.xml_refused", "load.malformed_object"} <= codes
    # <size> missing: the width came from the image header.
    no_size = serial.images["source_file"] == "Annotations/0004.xml"
    assert serial.images.loc[no_size, "width"].item() == 10 + 4 % 9


# --------------------------------------------------------------------------- COCO memory map


def _coco_doc() -> dict:
    return {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 50}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 2, 30, 4.5], "area": 135},
            {"id": 2, "image_id": 7, "category_id": 2, "bbox": [5, 5, 10, 10]},
        ],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}],
    }


def test_coco_with_bom_reads_like_without(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "b").mkdir()
    plain, bom = tmp_path / "p" / "x.json", tmp_path / "b" / "x.json"
    plain.write_bytes(json.dumps(_coco_doc()).encode())
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(_coco_doc()).encode())
    a, b = load(plain, "coco"), load(bom, "coco")
    assert b.boxes[["x", "y", "w", "h"]].to_numpy().tolist() == [[1, 2, 30, 4.5], [5, 5, 10, 10]]
    pd.testing.assert_frame_equal(a.boxes, b.boxes)
    assert not b.issues


def test_coco_bom_and_broken_json_reaches_the_tolerant_path(tmp_path: Path) -> None:
    text = json.dumps(_coco_doc()).replace("[5, 5, 10, 10]", '[5, "5", 10, 10]')
    (tmp_path / "x.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    dataset = load(tmp_path / "x.json", "coco")
    assert len(dataset.boxes) == 1
    assert [(i.code, i.key) for i in dataset.issues] == [("load.malformed_row", "annotations[1] (id 2)")]


def test_coco_empty_file_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "instances_a.json").write_bytes(b"")
    (tmp_path / "instances_b.json").write_text(json.dumps(_coco_doc()))
    dataset = load(tmp_path, "coco")
    assert [(i.code, i.file) for i in dataset.issues] == [("load.unreadable_file", "instances_a.json")]
    assert len(dataset.boxes) == 2


def test_coco_size_limit_is_exact(tmp_path: Path) -> None:
    file = tmp_path / "x.json"
    file.write_text(json.dumps(_coco_doc()))
    size = file.stat().st_size
    at_limit = LimitsConfig(max_annotation_file_mb=size / base.MB)
    assert len(load(file, "coco", limits=at_limit).boxes) == 2
    below = LimitsConfig(max_annotation_file_mb=(size - 1) / base.MB)
    with pytest.raises(Exception, match="larger than"):
        load(file, "coco", limits=below)


def test_mapped_view_is_released(tmp_path: Path) -> None:
    file = tmp_path / "x.bin"
    file.write_bytes(b"abc" * 1000)
    with base.mapped_limited(file, 1.0, "k") as view:
        assert bytes(view[:6]) == b"abcabc" and len(view) == 3000
    with pytest.raises(ValueError):  # released: no use after the block
        bytes(view)


# --------------------------------------------------------------------------- Dataset.build


@pytest.mark.parametrize(
    "image_ids",
    [np.arange(6), np.array([0, 2, 3, 9, 10, 11]), np.array([-3, -1, 0, 1, 2, 5])],
)
def test_positions_match_a_binary_search(image_ids: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    boxes = np.sort(rng.choice(image_ids, 50))
    assert ds._positions(image_ids, boxes).tolist() == np.searchsorted(image_ids, boxes).tolist()
    with pytest.raises(ValueError, match="every box must belong"):
        ds._positions(image_ids, np.append(boxes, image_ids[-1] + 1))
    with pytest.raises(ValueError, match="every box must belong"):
        ds._positions(image_ids, np.insert(boxes, 0, image_ids[0] - 1))


@pytest.mark.parametrize("codes", [[0, 1, 2, 1], [2, 2, 0], [1, -1, 1], [], [-1, -1]])
def test_used_categories_equal_remove_unused(codes: list[int]) -> None:
    cats = pd.Index(["a", "b", "c"])
    arr = np.array(codes, dtype=np.int8)
    expected = pd.Categorical.from_codes(arr, cats).remove_unused_categories()
    got = ds._used_categories(arr, cats)
    assert list(got.categories) == list(expected.categories)
    assert got.codes.tolist() == expected.codes.tolist()


@pytest.mark.parametrize(
    "ids",
    [[0, 1, 1, 5, 3], [4, 4, 4], [-2, 0, 7], [0, 2**40, 3], []],
)
def test_class_names_table_equals_hash_path(ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    class_ids = np.array(ids, dtype=np.int64)
    classes = {0: "car", 1: "bus", 3: "car", 9: "van"}  # a repeated name, an unused id
    fast = ds._class_names(class_ids, classes)
    monkeypatch.setattr(ds, "_LUT_SPAN", 0)  # every span takes np.unique
    slow = ds._class_names(class_ids, classes)
    assert list(fast.categories) == list(slow.categories)
    assert fast.codes.tolist() == slow.codes.tolist()
    names = {0: "car", 1: "bus", 3: "car", 9: "van"}
    assert [str(n) for n in fast] == [names.get(i, f"<unknown id {i}>") for i in ids]


def test_build_with_unsorted_sparse_ids_equals_sorted_dense() -> None:
    """Image ids out of order and not 0..n-1 take the sort and binary-search path."""

    def build(ids: list[int], order: list[int]) -> Dataset:
        images = pd.DataFrame(
            {
                "image_id": [ids[k] for k in order],
                "file_name": [f"{k}.jpg" for k in order],
                "path": [""] * 3,
                "split": [["t", "v", "t"][k] for k in order],
                "width": [[100.0, 200.0, 300.0][k] for k in order],
                "height": [50.0] * 3,
                "status": ["ok"] * 3,
            }
        )
        boxes = pd.DataFrame(
            {
                "image_id": [ids[2], ids[0], ids[2]],
                "class_id": [1, 0, 1],
                "x": [1.0, 2.0, 3.0],
                "y": [0.0] * 3,
                "w": [10.0, 20.0, 30.0],
                "h": [5.0] * 3,
            }
        )
        return Dataset.build(
            root=Path("/d"), format="t", boxes=boxes, images=images, classes={0: "a", 1: "b"}
        )

    dense = build([0, 1, 2], [0, 1, 2])
    sparse = build([10, 20, 30], [2, 0, 1])
    for d in (dense, sparse):
        assert d.boxes["x"].tolist() == [2.0, 1.0, 3.0]  # stable sort by image
        assert d.box_columns("img_w")["img_w"].tolist() == [100.0, 300.0, 300.0]
        assert d.images["n_boxes"].tolist() == [1, 0, 2]
        assert list(d.boxes["split"].cat.categories) == ["t"]  # "v" has no boxes
    pd.testing.assert_frame_equal(dense.boxes.drop(columns="image_id"), sparse.boxes.drop(columns="image_id"))
    # the derived columns find each box's image by its id: sorted positions or a search
    derived = [dense.box_columns().drop(columns="image_id"), sparse.box_columns().drop(columns="image_id")]
    pd.testing.assert_frame_equal(*derived)
    with pytest.raises(ValueError, match="unique"):
        build([5, 5, 1], [0, 1, 2])


def test_rows_parsed_in_parts_equal_one_parse() -> None:
    """Chunks of label files parsed apart and joined give the rows and problems of one parse,
    wherever the files are cut (defects force the slow number path in some chunks only)."""
    from sodaudit.loaders.yolo.rows import concat_rows, parse_rows

    blobs = [
        b"0 0.5 0.5 0.1 0.2\n1 0.25 0.25 0.05 0.05\n",
        b"",
        b"2 0.1 0.1 0.3 0.3 0.2 0.4\n",  # a polygon
        b"0 0.5 abc 0.1 0.1\n3 0.5 0.5 0.1 0.1",  # text (slow path), no final newline
        b"\xef\xbb\xbf1 1.5 0.5 0.2 0.2\r\n1 0.5 0.5 0.2\r\n",  # BOM, CRLF, out of range, short row
        b"4 " + b"9" * 80 + b" 0.5 0.1 0.1\n",  # a long token
        b"5 0.3 0.3 0.1 0.1\n\xff\xfe 0.1\n",  # not UTF-8
        b"6 nan 0.5 0.1 0.1\n7 0.9 0.9 0.01 0.01\n",
    ]
    whole = parse_rows(blobs)
    for cut in range(1, len(blobs)):
        for cut2 in range(cut + 1, len(blobs) + 1):
            parts = [blobs[:cut], blobs[cut:cut2], blobs[cut2:]]
            joined = concat_rows([parse_rows(p) for p in parts], [len(p) for p in parts])
            for name in (
                "file",
                "line",
                "class_id",
                "kind",
                "left",
                "top",
                "width",
                "height",
                "out_of_range",
            ):
                np.testing.assert_array_equal(getattr(joined, name), getattr(whole, name), err_msg=name)
            np.testing.assert_array_equal(joined.out_of_range, whole.out_of_range)
            assert joined.problems == whole.problems
    # by hand: rows kept per file 2, 0, 1 (polygon), 1, 1 (out of range), 0 (long token is
    # text), 1, 2 (a nan value is kept for integrity to report)
    assert list(whole.file) == [0, 0, 2, 3, 4, 6, 7, 7]
