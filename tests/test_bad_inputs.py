"""The bad-input corpus: every case ends either with exit 0/1 and findings that say where
(file and line or JSON element), or with exit 2 and one clear sentence (a dataset left with no
box is exit 2, the sentence naming its first problem). Never a traceback, never an internal
error, never a write into the dataset."""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from sodaudit.cli import main

# ---------------------------------------------------------------- builders


def png(path: Path, size=(64, 48), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size).save(path)
    return path


COCO_BOX_0 = "annotations/instances_train.json#annotations[0] (id 1)"
"""The ``source`` of the first annotation of :func:`coco_doc`: its element path and id."""


def coco_doc(images=None, annotations=None, categories=None) -> dict:
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}] if images is None else images,
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 10, 8], "area": 80}]
        if annotations is None
        else annotations,
        "categories": [{"id": 1, "name": "car"}] if categories is None else categories,
    }


def coco(text: str | bytes | dict) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        ann = root / "annotations" / "instances_train.json"
        ann.parent.mkdir(parents=True)
        data = json.dumps(text) if isinstance(text, dict) else text
        ann.write_bytes(data.encode() if isinstance(data, str) else data)
        png(root / "train" / "a.png")
        return root

    return build


def yolo(label: bytes, yaml_text: str | None = "names: [car, bus]\n", image=None) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        (root / "images").mkdir(parents=True)
        (root / "labels").mkdir()
        if image is None:
            png(root / "images" / "a.png", (100, 50))
        else:
            image(root / "images")
        (root / "labels" / "a.txt").write_bytes(label)
        if yaml_text is not None:
            (root / "data.yaml").write_text(yaml_text)
        return root

    return build


OBJECT = "<object><name>car</name><difficult>0</difficult><bndbox>{box}</bndbox></object>"
BOX = "<xmin>2</xmin><ymin>3</ymin><xmax>12</xmax><ymax>9</ymax>"


def voc(xml: str | bytes, with_image=True) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        (root / "Annotations").mkdir(parents=True)
        data = xml.encode() if isinstance(xml, str) else xml
        (root / "Annotations" / "a.xml").write_bytes(data)
        if with_image:
            png(root / "JPEGImages" / "a.png", (64, 48))
        return root

    return build


def voc_xml(objects: str, size="<size><width>64</width><height>48</height><depth>3</depth></size>") -> str:
    return f"<annotation><filename>a.png</filename>{size}{objects}</annotation>"


def exif_rotated(folder: Path) -> None:
    im = Image.new("RGB", (100, 50))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(folder / "a.jpg", exif=exif)


def png16(folder: Path) -> None:
    Image.new("I;16", (100, 50)).save(folder / "a.png")


def text_as_jpg(folder: Path) -> None:
    (folder / "a.jpg").write_text("this is not an image\n")


def zero_byte(folder: Path) -> None:
    (folder / "a.png").write_bytes(b"")


def truncated_png(folder: Path) -> None:
    png(folder / "full.png", (100, 50))
    data = (folder / "full.png").read_bytes()
    (folder / "full.png").unlink()
    (folder / "a.png").write_bytes(data[: len(data) // 2])


def crc_png_header_only(folder: Path) -> None:
    """A PNG signature and IHDR chunk saying 100x50, and nothing else."""
    ihdr = struct.pack(">IIBBBBB", 100, 50, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)


def with_good_voc(bad: str) -> Callable[[Path], Path]:
    """A bad XML file beside a good one: a finding, not an exit."""

    def build(root: Path) -> Path:
        voc(voc_xml(OBJECT.format(box=BOX)))(root)
        (root / "Annotations" / "b.xml").write_text(bad)
        return root

    return build


def with_good_coco(bad: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        coco(coco_doc())(root)
        (root / "annotations" / "instances_val.json").write_text(bad)
        return root

    return build


def nothing(root: Path) -> Path:
    root.mkdir()
    (root / "readme.txt").write_text("hello")
    return root


def both_formats(root: Path) -> Path:
    voc(voc_xml(OBJECT.format(box=BOX)))(root)
    (root / "images").mkdir()
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    return root


def symlink_loop(root: Path) -> Path:
    yolo(b"0 0.5 0.5 0.2 0.2\n")(root)
    os.symlink(root, root / "images" / "loop")
    return root


def missing_path(root: Path) -> Path:
    return root / "does-not-exist"


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<annotation><filename>&lol3;</filename></annotation>"
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<annotation><filename>&x;</filename></annotation>"
)
GOOD_ROW = b"0 0.5 0.5 0.2 0.2\n"

# ------------------------------------------------------------------ corpus
# (builder, expectation): ("finding", code, where) — exit 0/1 and a finding whose examples name
# ``where`` (file and line / JSON key); ("ok", None, None) — loads cleanly; ("exit2", text, None).
CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, str | None, str | None]]] = {
    # COCO
    "coco truncated json": (coco('{"images": [{"id": 1'), ("exit2", "could be read", None)),
    "coco empty file": (coco(b""), ("exit2", "could be read", None)),
    "coco top-level list": (coco("[1, 2, 3]"), ("exit2", "could be read", None)),
    "coco Infinity in bbox": (
        coco(json.dumps(coco_doc()).replace("[4, 4, 10, 8]", "[4, 4, Infinity, 8]")),
        ("finding", "integrity.nonfinite_box", COCO_BOX_0),
    ),
    "coco NaN in bbox": (
        coco(json.dumps(coco_doc()).replace("[4, 4, 10, 8]", "[NaN, 4, 10, 8]")),
        ("finding", "integrity.nonfinite_box", COCO_BOX_0),
    ),
    "coco string in bbox": (
        coco(coco_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": ["4", 4, 10, 8]}])),
        ("exit2", "annotations[0] (id 1): ", None),
    ),
    "coco null bbox": (
        coco(coco_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": None}])),
        ("exit2", "annotations[0] (id 1): ", None),
    ),
    "coco bbox of length 3": (
        coco(coco_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}])),
        ("exit2", "annotations[0] (id 1): ", None),
    ),
    "coco annotation without image_id": (
        coco(coco_doc(annotations=[{"id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}])),
        ("exit2", "annotations[0] (id 1): ", None),
    ),
    "coco unknown image id": (
        coco(coco_doc(annotations=[{"id": 1, "image_id": 9, "category_id": 1, "bbox": [1, 2, 3, 4]}])),
        ("exit2", "annotations[0] (id 1): ", None),
    ),
    "coco unknown category id": (
        coco(coco_doc(annotations=[{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4]}])),
        ("finding", "integrity.unknown_class", COCO_BOX_0),
    ),
    "coco duplicate image ids": (
        coco(coco_doc(images=[{"id": 1, "file_name": "a.png", "width": 64, "height": 48}] * 2)),
        ("finding", "load.duplicate_id", "images[1]"),
    ),
    "coco with a BOM": (coco(b"\xef\xbb\xbf" + json.dumps(coco_doc()).encode()), ("ok", None, None)),
    "coco empty annotations": (
        coco(coco_doc(annotations=[])),
        ("exit2", "read 1 image but no box", None),
    ),
    "coco file_name escaping the root": (
        coco(coco_doc(images=[{"id": 1, "file_name": "../../etc/passwd", "width": 64, "height": 48}])),
        ("finding", "load.path_outside_root", "images[0]"),
    ),
    # YOLO
    "yolo row with 4 values": (
        yolo(GOOD_ROW + b"0 0.5 0.5 0.2\n"),
        ("finding", "load.malformed_row", "labels/a.txt:2"),
    ),
    "yolo row with 6 values": (
        yolo(b"0 0.5 0.5 0.2 0.2 0.9\n"),
        ("exit2", "labels/a.txt:1: ", None),
    ),
    "yolo 7 values is a 3-point polygon": (yolo(b"0 0.1 0.1 0.5 0.1 0.3 0.4\n"), ("ok", None, None)),
    "yolo text in a row": (yolo(b"0 0.5 abc 0.2 0.2\n"), ("exit2", "labels/a.txt:1: ", None)),
    "yolo nan": (yolo(b"0 nan 0.5 0.2 0.2\n"), ("finding", "integrity.nonfinite_box", "labels/a.txt:1")),
    "yolo 1e-3": (yolo(b"0 5e-1 0.5 1e-3 0.2\n"), ("ok", None, None)),
    "yolo negative class": (
        yolo(b"-1 0.5 0.5 0.2 0.2\n"),
        ("exit2", "labels/a.txt:1: ", None),
    ),
    "yolo float class": (yolo(b"1.5 0.5 0.5 0.2 0.2\n"), ("exit2", "labels/a.txt:1: ", None)),
    "yolo CRLF and trailing spaces": (
        yolo(b"0 0.5 0.5 0.2 0.2   \r\n1 0.5 0.5 0.2 0.2\t\r\n"),
        ("ok", None, None),
    ),
    "yolo odd-length polygon": (
        yolo(b"0 0.1 0.1 0.5 0.1 0.3 0.4 0.2\n"),
        ("exit2", "labels/a.txt:1: ", None),
    ),
    "yolo very long line": (
        yolo(b"0 " + b"0.5 " * 400_001 + b"\n" + GOOD_ROW),
        ("finding", "load.malformed_row", "labels/a.txt:1"),
    ),
    "yolo non-UTF-8 bytes": (
        yolo(GOOD_ROW + b"0 0.5 0.5 \xff\xfe 0.2\n"),
        ("finding", "load.encoding", "labels/a.txt:2"),
    ),
    "yolo out-of-range value": (
        yolo(b"0 1.5 0.5 0.2 0.2\n"),
        ("finding", "load.value_out_of_range", "labels/a.txt:1"),
    ),
    "yolo class outside names": (
        yolo(b"7 0.5 0.5 0.2 0.2\n"),
        ("finding", "integrity.unknown_class", "labels/a.txt:1"),
    ),
    "yolo malformed data.yaml": (
        yolo(GOOD_ROW, "names: [car, bus\n  - : :\n"),
        ("finding", "load.bad_yaml", "data.yaml"),
    ),
    "yolo data.yaml not a mapping": (
        yolo(GOOD_ROW, "- just\n- a list\n"),
        ("finding", "load.bad_yaml", "data.yaml"),
    ),
    "yolo names as dict": (yolo(GOOD_ROW, "names:\n  0: car\n  1: bus\n"), ("ok", None, None)),
    "yolo names as a number": (yolo(GOOD_ROW, "names: 3\n"), ("finding", "load.bad_yaml", "data.yaml")),
    "yolo zero-byte image": (
        yolo(GOOD_ROW, image=zero_byte),
        ("finding", "integrity.image_corrupt", "a.png"),
    ),
    "yolo truncated image": (yolo(GOOD_ROW, image=truncated_png), ("ok", None, None)),
    "yolo header-only png": (yolo(GOOD_ROW, image=crc_png_header_only), ("ok", None, None)),
    "yolo text file named .jpg": (
        yolo(GOOD_ROW, image=text_as_jpg),
        ("finding", "integrity.image_unreadable", "a.jpg"),
    ),
    "yolo EXIF-rotated image": (
        yolo(GOOD_ROW, image=exif_rotated),
        ("finding", "integrity.exif_rotated", "a.jpg"),
    ),
    "yolo 16-bit png": (yolo(GOOD_ROW, image=png16), ("ok", None, None)),
    "yolo symlink loop": (symlink_loop, ("ok", None, None)),
    # VOC
    "voc missing bndbox": (
        voc(voc_xml("<object><name>car</name></object>")),
        ("exit2", "Annotations/a.xml:1: ", None),
    ),
    "voc xmin > xmax": (
        voc(voc_xml(OBJECT.format(box="<xmin>20</xmin><ymin>3</ymin><xmax>12</xmax><ymax>9</ymax>"))),
        ("finding", "integrity.degenerate_box", "Annotations/a.xml"),
    ),
    "voc non-numeric coordinate": (
        voc(voc_xml(OBJECT.format(box="<xmin>two</xmin><ymin>3</ymin><xmax>12</xmax><ymax>9</ymax>"))),
        ("exit2", "Annotations/a.xml:1: ", None),
    ),
    "voc size 0 falls back to the header": (
        voc(voc_xml(OBJECT.format(box=BOX), size="<size><width>0</width><height>0</height></size>")),
        ("ok", None, None),
    ),
    "voc size 0 and no image": (
        voc(
            voc_xml(OBJECT.format(box=BOX), size="<size><width>0</width><height>0</height></size>"),
            with_image=False,
        ),
        ("finding", "load.size_missing", "Annotations/a.xml"),
    ),
    "voc malformed xml": (voc("<annotation><object>\n<name>car</annotation>"), ("exit2", "XML", None)),
    "voc entity bomb": (voc(BOMB), ("exit2", "XML", None)),
    "voc external entity": (voc(EXTERNAL), ("exit2", "XML", None)),
    "voc entity bomb beside a good file": (
        with_good_voc(BOMB),
        ("finding", "load.xml_refused", "Annotations/b.xml"),
    ),
    "voc external entity beside a good file": (
        with_good_voc(EXTERNAL),
        ("finding", "load.xml_refused", "Annotations/b.xml"),
    ),
    "voc malformed xml beside a good file": (
        with_good_voc("<annotation>\n<object>\n</annotation>"),
        ("finding", "load.malformed_xml", "Annotations/b.xml:3"),
    ),
    "coco truncated file beside a good one": (
        with_good_coco('{"images": ['),
        ("finding", "load.unreadable_file", "annotations/instances_val.json"),
    ),
    # anywhere
    "no recognisable dataset": (nothing, ("exit2", "No dataset found at", None)),
    "two formats plausible": (both_formats, ("exit2", "--format", None)),
    "no such path": (missing_path, ("exit2", "No such file or folder", None)),
}


def _tree_digest(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and ".." not in p.parts and "loop" not in p.parts
    }


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, tmp_path: Path, capsys):
    build, (kind, what, where) = CASES[name]
    data = build(tmp_path / "data")
    before = _tree_digest(tmp_path / "data")
    out = tmp_path / "out"
    code = main(["run", str(data), "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "internal error" not in captured.err, captured.err
    assert _tree_digest(tmp_path / "data") == before  # nothing written into the dataset
    if kind == "exit2":
        assert code == 2, captured.out
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert len(lines) == 1 and what in lines[0], captured.err
        return
    assert code in (0, 1), captured.err
    report = json.loads((out / "report.json").read_text())
    findings = {f["code"]: f for f in report["findings"]}
    if kind == "ok":
        load_codes = [c for c in findings if c.startswith("load.") or c.startswith("integrity.image")]
        assert load_codes == [], findings
        assert report["dataset"]["num_boxes"] >= 1
        return
    assert what in findings, sorted(findings)
    examples = " | ".join(findings[what]["examples"]) + " " + findings[what]["message"]
    assert where in examples, examples
