"""Hostile COCO inputs, each built by a small generator in tmp_path and judged through the CLI as
``test_bad_inputs`` does: exit 0/1 with a finding naming the file and JSON element (the other
annotation files still audited), or exit 2 with one sentence; never a traceback, never an
internal error, never a write into the dataset."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

import sodaudit.loaders.coco.decode as coco_decode
from sodaudit.cli import main
from sodaudit.config import LimitsConfig
from sodaudit.dataset import LoadIssue
from sodaudit.loaders import coco
from sodaudit.loaders.coco import parse as coco_parse

GOOD = "annotations/instances_train.json"
BAD = "annotations/instances_val.json"


def image(path: Path, size=(64, 48), orientation: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size)
    if orientation is None:
        im.save(path)
    else:
        exif = im.getexif()
        exif[0x0112] = orientation
        im.save(path, exif=exif)


def at(file: str, key: str) -> str:
    """How a finding names element ``key`` of the JSON ``file``: as ``LoadIssue.where`` does
    (the element-path form itself is tested in test_loader_coco)."""
    return LoadIssue("load.malformed_row", file, "", key=key).where


def document(image_id: object = 1, category_id: object = 1, **image_fields) -> dict:
    return {
        "images": [{"id": image_id, "file_name": "a.png", "width": 64, "height": 48, **image_fields}],
        "annotations": [{"id": 1, "image_id": image_id, "category_id": category_id, "bbox": [4, 4, 10, 8]}],
        "categories": [{"id": category_id, "name": "car"}],
    }


def dataset(root: Path, files: dict[str, str | bytes]) -> Path:
    """``annotations/instances_<split>.json`` per entry, each split with its image ``a.png``."""
    for split, text in files.items():
        path = root / "annotations" / f"instances_{split}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        image(root / split / "a.png")
    return root


def digest(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(root: Path, tmp_path: Path, capsys) -> tuple[int, dict, str]:
    """The CLI on ``root``; checks the common standards and returns (exit code, report, stderr)."""
    before = digest(root)
    out = tmp_path / "out"
    code = main(["run", str(root), "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "internal error" not in captured.err, captured.err
    assert digest(root) == before  # nothing written into the dataset
    if code == 2:
        return code, {}, captured.err
    assert code in (0, 1), captured.err
    return code, json.loads((out / "report.json").read_text()), captured.err


def finding(report: dict, code: str) -> str:
    """A finding's examples and message as one text (what a reader sees of it)."""
    found = {f["code"]: f for f in report["findings"]}
    assert code in found, sorted(found)
    return " | ".join(found[code]["examples"]) + " " + found[code]["message"]


# ------------------------------------------------------------------------------ string ids


@pytest.mark.parametrize(
    ("image_id", "category_id"),
    [("000123", "1"), ("IMG_0042", "car"), ("7", 3)],
    ids=["integer-looking strings", "true strings", "string image id, number category id"],
)
def test_string_ids_are_read_as_ids(tmp_path: Path, capsys, image_id, category_id):
    good = document(image_id, category_id)
    good["annotations"].append({**good["annotations"][0], "id": "2", "bbox": [20, 20, 8, 8]})
    root = dataset(tmp_path / "data", {"train": json.dumps(good)})
    _, report, _ = run(root, tmp_path, capsys)
    assert report["dataset"]["num_images"] == 1
    assert report["dataset"]["num_boxes"] == 2
    classes = report["dataset"]["classes"]
    assert [(c["name"], c["num_boxes"], c["declared"]) for c in classes] == [("car", 2, True)]
    assert sum("ids are strings" in n for n in report["dataset"]["notes"]) == 1
    assert not [f for f in report["findings"] if f["code"].startswith("load.")]


def test_string_ids_in_a_large_document_read_in_pieces(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(coco_decode, "PIECE_BYTES", 2000)
    doc = {
        "images": [{"id": f"img-{i}", "file_name": f"{i}.png", "width": 64, "height": 48} for i in range(50)],
        "annotations": [
            {"id": f"a{i}", "image_id": f"img-{i % 50}", "category_id": str(i % 3), "bbox": [1, 2, 3, 4]}
            for i in range(400)
        ],
        "categories": [{"id": str(c), "name": f"class {c}"} for c in range(3)],
    }
    path = tmp_path / "instances_train.json"
    path.write_text(json.dumps(doc))
    ds = coco.load(path)
    assert ds.issues == ()
    assert len(ds.boxes) == 400 and len(ds.images) == 50
    assert ds.classes == {0: "class 0", 1: "class 1", 2: "class 2"}  # "0".."2" read as 0..2
    per_image = ds.boxes.groupby("image_id").size()
    assert per_image.tolist() == [8] * 50


def test_string_category_ids_are_one_class_across_files(tmp_path: Path):
    """Classes merge by id across split files: ``"car"`` must be one id in train and val, though
    the files list and use their categories in different orders."""

    def split(declared: list[str], used: list[str]) -> str:
        doc = document("i1")
        doc["annotations"] = [
            {"id": f"a{n}", "image_id": "i1", "category_id": c, "bbox": [1, 2, 3, 4]}
            for n, c in enumerate(used)
        ]
        doc["categories"] = [{"id": c, "name": c} for c in declared]
        return json.dumps(doc)

    root = dataset(
        tmp_path / "data",
        {
            "train": split(["person", "car", "bus"], ["bus", "car"]),
            "val": split(["car", "person"], ["person", "car"]),
        },
    )
    ds = coco.load(root)
    assert ds.issues == ()
    assert sorted(ds.classes.values()) == ["bus", "car", "person"]
    rows = ds.boxes[["split", "class_name"]].astype(str).values.tolist()
    assert sorted(map(tuple, rows)) == [("train", "bus"), ("train", "car"), ("val", "car"), ("val", "person")]


def test_a_string_id_that_reads_as_a_number_id_is_kept_apart_and_reported(tmp_path: Path, capsys):
    doc = document(1)
    doc["images"].append({"id": "1", "file_name": "b.png", "width": 64, "height": 48})
    doc["annotations"].append({"id": 2, "image_id": "1", "category_id": 1, "bbox": [1, 1, 5, 5]})
    root = dataset(tmp_path / "data", {"train": json.dumps(doc)})
    image(root / "train" / "b.png")
    _, report, _ = run(root, tmp_path, capsys)
    text = finding(report, "load.malformed_row")
    assert at(GOOD, "images[1]") in text and "pycocotools keeps the two apart" in text
    assert report["dataset"]["num_images"] == 2 and report["dataset"]["num_boxes"] == 2


# ------------------------------------------------------------------------------ crafted JSON

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5000
LONG = "x" * 5_000_000


def _with(field: str, raw: str) -> Callable[[], str]:
    """The good document's text with one value replaced by ``raw`` JSON text."""

    def make() -> str:
        text = json.dumps(document(), separators=(",", ":"))
        old = {
            "bbox": "[4,4,10,8]",
            "bbox value": "[4,4,10,8]",
            "image id": '"id":1,"file_name"',
            "area": '"bbox":[4,4,10,8]',
            "file_name": '"a.png"',
            "category name": '"car"',
            "extra field": '"bbox":[4,4,10,8]',
        }[field]
        new = {
            "bbox": raw,
            "bbox value": f"[4,4,{raw},8]",
            "image id": f'"id":{raw},"file_name"',
            "area": f'"bbox":[4,4,10,8],"area":{raw}',
            "file_name": raw,
            "category name": raw,
            "extra field": f'"bbox":[4,4,10,8],"attributes":{raw}',
        }[field]
        assert old in text
        return text.replace(old, new, 1)

    return make


CRAFTED: dict[str, tuple[Callable[[], str], str, str]] = {
    # name: (bad file text, finding code, where the finding points)
    "100k nested arrays as a bbox": (_with("bbox", DEEP), "load.unreadable_file", f"{BAD}: JSON nested"),
    "100k nested arrays in an extra field": (_with("extra field", DEEP), "load.unreadable_file", BAD),
    "100k nested arrays as the document": (lambda: DEEP, "load.unreadable_file", BAD),
    "5,000-digit integer as an image id": (
        _with("image id", HUGE_INT),
        "load.malformed_row",
        at(BAD, "images[0]"),
    ),
    "5,000-digit integer in a bbox": (
        _with("bbox value", HUGE_INT),
        "load.malformed_row",
        at(BAD, "annotations[0] (id 1)"),
    ),
    "5,000-digit integer as an area": (
        _with("area", HUGE_INT),
        "load.malformed_row",
        at(BAD, "annotations[0] (id 1)"),
    ),
    "5 MB string as an image id": (
        _with("image id", json.dumps(LONG)),
        "load.malformed_row",
        at(BAD, "images[0]"),
    ),
    "5 MB file_name": (_with("file_name", json.dumps(LONG)), "load.malformed_row", at(BAD, "images[0]")),
    "5 MB category name": (
        _with("category name", json.dumps(LONG)),
        "load.malformed_row",
        at(BAD, "categories[0]"),
    ),
    "5 MB string in an extra field is skipped": (_with("extra field", json.dumps(LONG)), "", ""),
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_json_costs_one_file_not_the_dataset(tmp_path: Path, capsys, name: str):
    make, code_expected, where = CRAFTED[name]
    root = dataset(tmp_path / "data", {"train": json.dumps(document()), "val": make()})
    code, report, err = run(root, tmp_path, capsys)
    assert code in (0, 1), err
    assert GOOD in report["dataset"]["meta"]["annotation_files"]  # the good file beside it still loads
    assert report["dataset"]["num_boxes"] >= 1
    if code_expected:
        text = finding(report, code_expected)
        assert where in text, text
        assert "annotations[0]" in text or "bbox" not in name, text  # the decoder could tell where
        assert len(text) < 2000  # the bad value is named, not quoted whole
    else:
        assert not [f for f in report["findings"] if f["code"].startswith("load.")]


def test_crafted_json_alone_is_one_sentence(tmp_path: Path, capsys):
    root = dataset(tmp_path / "data", {"train": _with("bbox value", HUGE_INT)()})
    code, _, err = run(root, tmp_path, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "annotations[0]" in lines[0], err


# ------------------------------------------------------------------------------ no copy of a corrupt file


@pytest.mark.parametrize("defect", ["truncated", "garbled"])
def test_a_corrupt_large_file_is_not_copied(tmp_path: Path, monkeypatch, defect: str):
    """A 50 MB corrupt file read with the piece bounds scaled down as for a 2 GB one: the memory
    allocated stays a few MB (the map is not counted), where a copy of the file (bytes, then
    text) would be 100 MB."""
    monkeypatch.setattr(coco_decode, "PIECE_BYTES", 1 << 20)
    monkeypatch.setattr(coco_decode, "MAX_REST_BYTES", 4 << 20)
    monkeypatch.setattr(coco_decode, "MIN_ANNOTATION_BYTES", 1 << 16)  # columns sized for few rows
    head = json.dumps(document())[:-1]
    pad = "x" * (50 << 20)
    text = head + (
        f', "info": {{"pad": "{pad}' if defect == "truncated" else f', "info": {{"pad": "{pad}" @}}}}'
    )
    path = tmp_path / "instances_bad.json"
    path.write_text(text)
    started = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(coco_parse.Unreadable, match="not valid JSON"):
            coco_parse.read(path, "instances_bad.json", LimitsConfig())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20, f"{peak / 2**20:.0f} MB allocated for a 50 MB corrupt file"
    assert time.perf_counter() - started < 5


def test_a_large_file_past_the_tolerant_bound_names_where_it_breaks(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("sodaudit.loaders.coco.jsontext.TOLERANT_MAX_BYTES", 1000)
    doc = document()
    doc["annotations"] += [
        {"id": i, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]} for i in range(2, 40)
    ]
    doc["annotations"][30]["bbox"] = [1, "2", 3, 4]
    path = tmp_path / "instances_bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(coco_parse.Unreadable, match=r"annotations\[30\]"):
        coco_parse.read(path, "instances_bad.json", LimitsConfig())


# ------------------------------------------------------------------------------ swapped sizes


@pytest.mark.parametrize(
    ("stored", "orientation", "declared", "swapped"),
    [
        ((64, 48), None, (48, 64), True),  # a plain export bug
        ((64, 48), 6, (64, 48), True),  # EXIF-rotated phone photo: the JSON has the stored size
        ((64, 48), None, (60, 40), False),  # another size: a mismatch, not named swapped
        ((48, 48), None, (48, 48), None),  # square: nothing to say
    ],
    ids=["swapped", "exif-rotated", "other size", "square"],
)
def test_swapped_width_and_height_are_named(tmp_path: Path, capsys, stored, orientation, declared, swapped):
    doc = document(width=declared[0], height=declared[1])
    doc["images"][0]["file_name"] = "a.jpg"
    root = dataset(tmp_path / "data", {"train": json.dumps(doc)})
    (root / "train" / "a.png").unlink()
    image(root / "train" / "a.jpg", stored, orientation)
    _, report, _ = run(root, tmp_path, capsys)
    if swapped is None:
        assert "load.size_mismatch" not in {f["code"] for f in report["findings"]}
        return
    text = finding(report, "load.size_mismatch")
    assert at(GOOD, "images[0]") in text
    assert ("width and height swapped" in text) is swapped, text
    if orientation:
        assert "EXIF" in text
