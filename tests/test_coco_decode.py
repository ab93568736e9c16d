"""A COCO document cut in two and decoded in two processes gives what one decode gives.

The expected columns come from the stdlib ``json`` parse of the same text, turned into arrays by
hand; every cut that is not between two top-level annotations must be refused (and the whole
document decoded instead), and the file and its mapping must come out unchanged.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest

import sodaudit.loaders.coco_decode as cd
from sodaudit.loaders import load
from sodaudit.loaders.base import mapped_limited
from sodaudit.parallel import available_workers

pytestmark = pytest.mark.skipif(available_workers(2) < 2, reason="no fork on this platform")


def _document(n_images: int = 40, n_annotations: int = 300, *, seed: int = 0) -> dict:
    rng = random.Random(seed)
    images = [
        {"id": 10 + i, "file_name": f"im_{i}.jpg", "width": 640, "height": 480, "license": 1}
        for i in range(n_images)
    ]
    annotations = []
    for i in range(n_annotations):
        x, y = rng.uniform(0, 600), rng.uniform(0, 440)
        ann = {
            "id": 1000 + i,
            "image_id": 10 + rng.randrange(n_images),
            "category_id": rng.choice([1, 2, 7]),
            "bbox": [x, y, rng.uniform(1, 40), rng.uniform(1, 40)],
            "area": rng.uniform(1, 1600),
            "iscrowd": int(rng.random() < 0.1),
            "segmentation": [[rng.uniform(0, 600) for _ in range(8)]],
        }
        if i % 3 == 0:  # objects nested in annotations: "},{" that is not a top-level boundary
            ann["attributes"] = [{"occluded": True}, {"truncated": "a},{b"}]
        annotations.append(ann)
    categories = [{"id": c, "name": f"class {c}"} for c in (1, 2, 7)]
    return {
        "info": {"note": '"annotations": [{},{}]'},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def _expected(doc: dict) -> dict[str, np.ndarray]:
    anns = doc["annotations"]
    return {
        "image_id": np.array([i["id"] for i in doc["images"]]),
        "width": np.array([float(i["width"]) for i in doc["images"]]),
        "height": np.array([float(i["height"]) for i in doc["images"]]),
        "bbox": np.array([a["bbox"] for a in anns], dtype=float).reshape(-1, 4),
        "ann_id": np.array([a["id"] for a in anns]),
        "ann_image": np.array([a["image_id"] for a in anns]),
        "category_id": np.array([a["category_id"] for a in anns]),
        "iscrowd": np.array([a["iscrowd"] for a in anns]),
        "area": np.array([a["area"] for a in anns]),
    }


def _write(path: Path, doc: dict, order: tuple[str, ...], indent: int | None) -> bytes:
    text = json.dumps({key: doc[key] for key in order}, indent=indent).encode()
    path.write_bytes(text)
    return text


def _assert_columns(decoded: cd.Decoded, doc: dict) -> None:
    expected = _expected(doc)
    assert decoded.annotation_count == len(doc["annotations"])
    assert [i.file_name for i in decoded.images] == [i["file_name"] for i in doc["images"]]
    assert [(c.id, c.name) for c in decoded.categories] == [(c["id"], c["name"]) for c in doc["categories"]]
    assert sorted(decoded.columns) == sorted(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(np.asarray(decoded.columns[name]), values, err_msg=name)


ORDERS = [
    ("info", "images", "annotations", "categories"),  # COCO
    ("info", "categories", "images", "annotations"),  # Roboflow
    ("info", "annotations", "categories", "images"),  # images after the annotations
]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("indent", [None, 2])
def test_halves_give_the_stdlib_columns(tmp_path: Path, order, indent) -> None:
    doc = _document()
    _write(tmp_path / "a.json", doc, order, indent)
    with mapped_limited(tmp_path / "a.json", 100, "k", private=True) as body:
        cut = cd.find_cut(body)
        assert cut is not None
        end, start = cut
        assert bytes(body[end - 1 : end]) == b"}" and bytes(body[start : start + 1]) == b"{"
        decoded = _try(body, cut)
        if decoded is None:  # the pattern hit a nested "},{": the next top-level boundary works
            nxt = cd._CUT.search(body, start)
            while decoded is None and nxt is not None:
                decoded = _try(body, (nxt.start() + 1, nxt.end() - 1))
                nxt = cd._CUT.search(body, nxt.end())
        assert decoded is not None
        _assert_columns(decoded, doc)


def _try(body, cut, decode_halves=cd.decode_halves):
    """The halves, or None when the cut is refused or makes invalid JSON (as :func:`cd.decode`
    treats it)."""
    try:
        return decode_halves(body, cut, workers=2)
    except msgspec.DecodeError:
        return None


def test_every_cut_is_used_only_between_top_level_annotations(tmp_path: Path) -> None:
    """Try the split at every "},{" of a small document: the cuts between two annotations give
    the right columns, all others (nested lists, strings, images, categories) are refused."""
    doc = _document(n_images=6, n_annotations=12, seed=3)
    # boxes of another tool under another key, after the annotations: they decode as annotations
    doc["predictions"] = [{"image_id": 10, "category_id": 1, "bbox": [1, 2, 3, 4]}] * 4
    text = _write(tmp_path / "a.json", doc, (*ORDERS[0], "predictions"), None)
    boundaries = set()
    position = text.index(b'"annotations": [') + len(b'"annotations": [')
    for ann in doc["annotations"][:-1]:  # where each top-level annotation ends, found by hand
        position += len(json.dumps(ann).encode())
        boundaries.add(position)
        position += 2  # ", "
    used = refused = 0
    with mapped_limited(tmp_path / "a.json", 100, "k", private=True) as body:
        for found in cd._CUT.finditer(body):
            cut = (found.start() + 1, found.end() - 1)
            decoded = _try(body, cut)
            if cut[0] in boundaries:
                assert decoded is not None, cut
                _assert_columns(decoded, doc)
                used += 1
            else:
                assert decoded is None, cut
                refused += 1
        assert bytes(body) == text  # every edit of the mapping was undone
    assert used == len(doc["annotations"]) - 1
    assert refused >= 15  # images, categories, predictions and the nested attribute lists


def test_decode_falls_back_to_the_whole_document_when_the_cut_is_refused(tmp_path: Path, monkeypatch) -> None:
    doc = _document()
    # a large unknown array after the annotations: the middle of the tail lies inside it
    doc["extra"] = [{"k": i, "v": "x" * 20} for i in range(3000)]
    _write(tmp_path / "a.json", doc, (*ORDERS[0], "extra"), None)
    monkeypatch.setattr(cd, "SPLIT_MIN_BYTES", 1)
    calls: list[bool] = []
    real = cd.decode_halves

    def spy(body, cut, workers):
        result = _try(body, cut, real)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(cd, "decode_halves", spy)
    with mapped_limited(tmp_path / "a.json", 100, "k", private=True) as body:
        decoded = cd.decode(body, workers=2)
    assert calls == [False]
    _assert_columns(decoded, doc)


def test_split_load_equals_one_process_and_leaves_the_file_alone(tmp_path: Path, monkeypatch) -> None:
    doc = _document(n_annotations=2000, seed=5)
    doc["annotations"][7]["id"] = doc["annotations"][3]["id"]  # a duplicate id: same finding
    del doc["annotations"][1500]["id"]  # a missing id: nullable ids joined
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations" / "instances_train.json"
    _write(path, doc, ORDERS[0], None)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    one = load(tmp_path, "coco", workers=1)
    monkeypatch.setattr(cd, "SPLIT_MIN_BYTES", 1)
    used: list[bool] = []
    real = cd.decode_halves
    monkeypatch.setattr(cd, "decode_halves", lambda *a, **k: used.append(True) or real(*a, **k))
    two = load(tmp_path, "coco", workers=2)
    assert used
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    pd.testing.assert_frame_equal(one.boxes, two.boxes)
    pd.testing.assert_frame_equal(one.images, two.images)
    assert one.issues == two.issues
    assert [i.key for i in two.issues if i.code == "load.duplicate_id"] == ["annotations[7]"]
    assert len(two.boxes) == 2000


def test_a_broken_document_still_gets_the_schema_error(tmp_path: Path, monkeypatch) -> None:
    """A string in a bbox after the cut: the whole decode raises, so the tolerant path reports it."""
    doc = _document()
    doc["annotations"][-5]["bbox"][0] = "12"
    _write(tmp_path / "a.json", doc, ORDERS[0], None)
    monkeypatch.setattr(cd, "SPLIT_MIN_BYTES", 1)
    with (
        mapped_limited(tmp_path / "a.json", 100, "k", private=True) as body,
        pytest.raises(msgspec.ValidationError),
    ):
        cd.decode(body, workers=2)
