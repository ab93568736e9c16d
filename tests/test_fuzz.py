"""Fuzzing the three parsers with random and mutated inputs: they never crash and never hang.

Each example writes one dataset into a temporary folder and loads it; the only acceptable
outcomes are a Dataset (with load issues) or a one-sentence DatasetError.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sodaudit.errors import DatasetError
from sodaudit.loaders import load

SETTINGS = settings(
    max_examples=60,
    derandomize=bool(os.environ.get("CI")),  # CI replays a fixed set; local runs explore
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

GOOD_COCO = json.dumps(
    {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 10, 8], "area": 80, "iscrowd": 0}
        ],
        "categories": [{"id": 1, "name": "car"}],
    }
).encode()
GOOD_YOLO = b"0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.3 0.1 0.2 0.4\n"
GOOD_VOC = (
    b"<annotation><filename>a.png</filename><size><width>64</width><height>48</height></size>"
    b"<object><name>car</name><difficult>0</difficult><bndbox><xmin>2</xmin><ymin>3</ymin>"
    b"<xmax>12</xmax><ymax>9</ymax></bndbox></object></annotation>"
)


def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Apply (position, delete count, insert bytes) edits: truncations, flips and splices."""
    out = bytearray(data)
    for pos, delete, insert in edits:
        pos = pos % (len(out) + 1)
        out[pos : pos + delete] = insert
    return bytes(out)


EDITS = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 8), st.binary(max_size=8)),
    min_size=1,
    max_size=6,
)
TOKENS = st.sampled_from(
    [b"0", b"1", b"-1", b"0.5", b"1.5", b"nan", b"inf", b"1e-3", b"abc", b"", b"\xff", b"\r", b"\t"]
)


def _load_never_crashes(build) -> None:
    root = Path(tempfile.mkdtemp(prefix="sodaudit-fuzz-"))
    try:
        build(root)
        try:
            dataset = load(root)
        except DatasetError as err:
            message = str(err)
            assert message and "\n" not in message.strip()
            return
        # the canonical table holds what it promises
        assert len(dataset.boxes) == int(dataset.images["n_boxes"].sum())
        assert set(dataset.boxes["image_id"]) <= set(dataset.images["image_id"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48)).save(path)


@SETTINGS
@given(EDITS)
def test_coco_mutations(edits):
    def build(root: Path) -> None:
        (root / "annotations").mkdir()
        (root / "annotations" / "instances_train.json").write_bytes(mutate(GOOD_COCO, edits))
        _image(root / "train" / "a.png")

    _load_never_crashes(build)


@SETTINGS
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=4),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "id",
                        "image_id",
                        "category_id",
                        "bbox",
                        "images",
                        "annotations",
                        "categories",
                        "file_name",
                        "width",
                        "height",
                        "name",
                        "iscrowd",
                        "area",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=25,
    )
)
def test_coco_random_structures(document):
    def build(root: Path) -> None:
        (root / "annotations").mkdir()
        text = json.dumps(document, allow_nan=True)
        (root / "annotations" / "instances_train.json").write_text(text)

    _load_never_crashes(build)


@SETTINGS
@given(st.lists(st.lists(TOKENS, max_size=9).map(b" ".join), max_size=12).map(b"\n".join), EDITS)
def test_yolo_random_rows(text, edits):
    def build(root: Path) -> None:
        _image(root / "images" / "a.png")
        (root / "labels").mkdir()
        (root / "labels" / "a.txt").write_bytes(mutate(text + b"\n" + GOOD_YOLO, edits))
        (root / "data.yaml").write_text("names: [car, bus]\n")

    _load_never_crashes(build)


@SETTINGS
@given(EDITS, st.binary(max_size=64))
def test_yolo_yaml_mutations(edits, junk):
    def build(root: Path) -> None:
        _image(root / "images" / "a.png")
        (root / "labels").mkdir()
        (root / "labels" / "a.txt").write_bytes(GOOD_YOLO)
        yaml_text = mutate(b"path: .\ntrain: images\nval: images\nnames:\n  0: car\n  1: bus\n", edits)
        (root / "data.yaml").write_bytes(yaml_text + junk)

    _load_never_crashes(build)


@SETTINGS
@given(EDITS)
def test_voc_mutations(edits):
    def build(root: Path) -> None:
        (root / "Annotations").mkdir()
        (root / "Annotations" / "a.xml").write_bytes(mutate(GOOD_VOC, edits))
        (root / "Annotations" / "b.xml").write_bytes(GOOD_VOC.replace(b"a.png", b"b.png"))
        _image(root / "JPEGImages" / "a.png")

    _load_never_crashes(build)
