"""Size limits: a file past a configured limit becomes a finding naming it and the limit, the
rest of the dataset is audited, and only limit + 1 bytes are ever read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sodaudit.cli import main
from sodaudit.config import LimitsConfig
from sodaudit.loaders import load
from sodaudit.loaders.base import TooLarge, read_limited


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (100, 50)).save(path)


def test_read_limited_reads_at_most_one_byte_past_the_limit(tmp_path: Path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"0" * (1 << 20) + b"1")  # 1 MiB + 1 byte
    assert len(read_limited(big, 2.0, "k")) == (1 << 20) + 1
    with pytest.raises(TooLarge, match=r"larger than 1 MB \(k\)"):
        read_limited(big, 1.0, "k")


def test_a_huge_yolo_label_file_is_skipped_with_a_finding(tmp_path: Path):
    data = tmp_path / "data"
    for stem in ("a", "b"):
        _image(data / "images" / f"{stem}.png")
    (data / "labels").mkdir()
    (data / "labels" / "a.txt").write_bytes(b"0 " + b"0.5 " * 300_000 + b"\n")  # ~1.2 MB, one line
    (data / "labels" / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (data / "data.yaml").write_text("names: [car]\n")
    out = tmp_path / "out"
    # the labels of a.txt are lost to the audit: an error, so the gate fails (exit 1)
    assert main(["run", str(data), "--out", str(out), "--set", "limits.max_label_file_mb=1"]) == 1
    report = json.loads((out / "report.json").read_text())
    found = {f["code"]: f for f in report["findings"]}
    assert found["load.file_too_large"]["examples"][0].startswith("labels/a.txt: larger than 1 MB")
    assert found["load.file_too_large"]["severity"] == "error"
    assert report["gate"]["failed_codes"] == ["load.file_too_large"]
    assert report["dataset"]["num_boxes"] == 1  # b.txt is still audited


def test_a_voc_file_past_the_limit_is_refused(tmp_path: Path):
    data = tmp_path / "voc"
    (data / "Annotations").mkdir(parents=True)
    good = (
        "<annotation><filename>{n}.png</filename><size><width>100</width><height>50</height></size>"
        "<object><name>car</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax>"
        "</bndbox></object></annotation>"
    )
    (data / "Annotations" / "a.xml").write_text(good.format(n="a"))
    (data / "Annotations" / "b.xml").write_text(good.format(n="b") + "<!--" + "x" * 200_000 + "-->")
    ds = load(data, limits=LimitsConfig(max_label_file_mb=0.1))
    assert [(i.code, i.file) for i in ds.issues if i.code == "load.file_too_large"] == [
        ("load.file_too_large", "Annotations/b.xml")
    ]
    assert len(ds.boxes) == 1


def test_coco_annotation_count_and_file_size_limits(tmp_path: Path):
    data = tmp_path / "coco"
    (data / "annotations").mkdir(parents=True)
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50}],
        "annotations": [
            {"id": i, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]} for i in range(1, 6)
        ],
        "categories": [{"id": 1, "name": "car"}],
    }
    (data / "annotations" / "instances_train.json").write_text(json.dumps(doc))
    small = {**doc, "annotations": doc["annotations"][:2]}
    (data / "annotations" / "instances_val.json").write_text(json.dumps(small))
    ds = load(data, limits=LimitsConfig(max_annotations=3))
    [issue] = [i for i in ds.issues if i.code == "load.file_too_large"]
    assert issue.file == "annotations/instances_train.json"
    assert "5 annotations, more than limits.max_annotations=3" in issue.reason
    assert len(ds.boxes) == 2  # the val file is within the limit
    # every file past the byte limit: nothing readable is left -> one sentence, exit 2
    proc_code = main(
        ["run", str(data), "--out", str(tmp_path / "o"), "--set", "limits.max_annotation_file_mb=0.0001"]
    )
    assert proc_code == 2
