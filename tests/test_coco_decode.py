"""The typed COCO decode gives what the stdlib ``json`` parse gives, turned into arrays by hand."""

from __future__ import annotations

import json
import random

import msgspec
import numpy as np
import pytest

import sodaudit.loaders.coco.decode as cd


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
        if i % 3 == 0:  # unknown nested fields are skipped
            ann["attributes"] = [{"occluded": True}, {"truncated": "a},{b"}]
        annotations.append(ann)
    categories = [{"id": c, "name": f"class {c}"} for c in (1, 2, 7)]
    return {"info": {"note": "x"}, "images": images, "annotations": annotations, "categories": categories}


ORDERS = [
    ("info", "images", "annotations", "categories"),  # COCO
    ("info", "categories", "images", "annotations"),  # Roboflow
    ("info", "annotations", "categories", "images"),  # images after the annotations
]


def _expected(doc: dict) -> dict[str, object]:
    """The columns, from the stdlib parse by hand."""
    anns = doc["annotations"]
    bbox = np.array([a["bbox"] for a in anns], dtype=float).reshape(-1, 4)
    return {
        "image_id": np.array([i["id"] for i in doc["images"]]),
        "file_name": [i["file_name"] for i in doc["images"]],
        "width": np.array([float(i["width"]) for i in doc["images"]]),
        "height": np.array([float(i["height"]) for i in doc["images"]]),
        "x": bbox[:, 0],
        "y": bbox[:, 1],
        "w": bbox[:, 2],
        "h": bbox[:, 3],
        "ann_id": np.array([a["id"] for a in anns]),
        "ann_image": np.array([a["image_id"] for a in anns]),
        "category_id": np.array([a["category_id"] for a in anns]),
        "ignore": np.array([a["iscrowd"] != 0 for a in anns]),
        "area": np.array([a["area"] for a in anns]),
    }


def _check(decoded: cd.Decoded, doc: dict) -> None:
    expected = _expected(doc)
    assert decoded.annotation_count == len(doc["annotations"])
    assert [(c.id, c.name) for c in decoded.categories] == [(c["id"], c["name"]) for c in doc["categories"]]
    assert sorted(decoded.columns) == sorted(expected)
    for name, values in expected.items():
        got = decoded.columns[name]
        if isinstance(values, list):
            assert got == values, name
        else:
            np.testing.assert_array_equal(np.asarray(got), values, err_msg=name)
            assert np.asarray(got).dtype == values.dtype, name


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("indent", [None, 2])
def test_typed_decode_gives_the_stdlib_columns(order, indent) -> None:
    doc = _document()
    text = json.dumps({key: doc[key] for key in order}, indent=indent).encode()
    _check(cd.decode(memoryview(text)), doc)


@pytest.mark.parametrize("piece_bytes", [1, 50, 700, 5000])
@pytest.mark.parametrize("indent", [None, 2])
def test_annotations_decoded_in_pieces_give_the_same_columns(monkeypatch, piece_bytes, indent) -> None:
    # Strings and nested lists holding "},{" make some cuts wrong: the result must not change.
    monkeypatch.setattr(cd, "PIECE_BYTES", piece_bytes)
    doc = _document(n_images=7, n_annotations=60, seed=piece_bytes)
    _check(cd.decode(json.dumps(doc, indent=indent).encode()), doc)


class _Counting:
    """A decoder proxy that records how many annotations each call gave at once."""

    def __init__(self, decoder, sizes: list[int]) -> None:
        self.decoder, self.sizes = decoder, sizes

    def decode(self, body):
        out = self.decoder.decode(body)
        anns = out if isinstance(out, list) else out.annotations
        self.sizes.append(len(anns or []))
        return out


@pytest.mark.parametrize("piece_bytes", [1, 300])
def test_plain_annotations_are_never_all_decoded_at_once(monkeypatch, piece_bytes) -> None:
    class Refuse:
        def decode(self, body):
            raise AssertionError("the first pass over the raw array is only a fallback")

    sizes: list[int] = []
    monkeypatch.setattr(cd, "PIECE_BYTES", piece_bytes)
    monkeypatch.setattr(cd, "_SKELETON", Refuse())
    monkeypatch.setattr(cd, "_ANNOTATIONS", _Counting(cd._ANNOTATIONS, sizes))
    monkeypatch.setattr(cd, "_DOCUMENT", _Counting(cd._DOCUMENT, sizes))
    doc = _document(n_images=5, n_annotations=40, seed=3)
    for ann in doc["annotations"]:
        ann.pop("attributes", None)  # no "},{" except between annotations
    _check(cd.decode(json.dumps(doc).encode()), doc)
    assert len(sizes) > 3 and max(sizes) <= 10  # 40 annotations, never more than 10 at a time


def test_too_many_wrong_cuts_leave_the_rest_to_one_decode(monkeypatch) -> None:
    monkeypatch.setattr(cd, "PIECE_BYTES", 1)
    monkeypatch.setattr(cd, "_WRONG_CUT_RETRIES", 1)
    doc = _document(n_images=3, n_annotations=20, seed=6)
    doc["annotations"][4]["attributes"] = [{"k": i} for i in range(10)]
    _check(cd.decode(json.dumps(doc).encode()), doc)


@pytest.mark.parametrize("piece_bytes", [1, 300])
def test_a_nested_annotations_key_first_falls_back_to_the_raw_pass(monkeypatch, piece_bytes) -> None:
    monkeypatch.setattr(cd, "PIECE_BYTES", piece_bytes)
    doc = _document(n_images=5, n_annotations=30, seed=4)
    decoy = [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}] * 3
    text = json.dumps({"meta": {"annotations": decoy}, **doc}).encode()
    _check(cd.decode(text), doc)


@pytest.mark.parametrize("annotations", ["", ', "annotations": null', ', "annotations": []'])
def test_no_or_empty_annotations_in_a_large_document(monkeypatch, annotations) -> None:
    monkeypatch.setattr(cd, "PIECE_BYTES", 10)
    images = json.dumps([{"id": i, "file_name": f"{i}.jpg"} for i in range(20)])
    decoded = cd.decode(f'{{"images": {images}{annotations}, "categories": []}}'.encode())
    assert decoded.annotation_count == (0 if "[]" in annotations else None)
    assert decoded.columns["image_id"].tolist() == list(range(20))


def test_columns_grow_past_a_wrong_bound(monkeypatch) -> None:
    # The bound on the count comes from the shortest annotation; were it wrong, no box is lost.
    monkeypatch.setattr(cd, "PIECE_BYTES", 400)
    monkeypatch.setattr(cd, "MIN_ANNOTATION_BYTES", 10**9)
    doc = _document(n_images=4, n_annotations=50, seed=5)
    _check(cd.decode(json.dumps(doc).encode()), doc)


def test_a_defect_in_a_later_piece_still_fails_the_typed_decode(monkeypatch) -> None:
    monkeypatch.setattr(cd, "PIECE_BYTES", 100)
    doc = _document(n_images=3, n_annotations=30)
    doc["annotations"][-1]["bbox"] = [1, 2, "3", 4]
    with pytest.raises(msgspec.ValidationError):
        cd.decode(json.dumps(doc).encode())


def test_an_empty_annotations_array_gives_empty_columns() -> None:
    decoded = cd.decode(b'{"images": [], "annotations": [ ], "categories": []}')
    assert decoded.annotation_count == 0
    assert all(len(decoded.columns[c]) == 0 for c in ("x", "ann_id", "ignore"))


@pytest.mark.parametrize("piece_bytes", [1, 1 << 20])
def test_missing_ids_become_a_nullable_column(monkeypatch, piece_bytes) -> None:
    monkeypatch.setattr(cd, "PIECE_BYTES", piece_bytes)  # in one piece, and one piece each
    doc = _document(n_images=2, n_annotations=3)
    for ann in doc["annotations"]:
        ann.pop("attributes", None)
    del doc["annotations"][1]["id"]
    decoded = cd.decode(json.dumps(doc).encode())
    ids = decoded.columns["ann_id"]
    assert ids.isna().tolist() == [False, True, False]
    assert [int(ids[0]), int(ids[2])] == [1000, 1002]


def test_no_annotations_array_is_counted_as_none() -> None:
    decoded = cd.decode(b'{"images": [], "categories": []}')
    assert decoded.annotation_count is None


@pytest.mark.parametrize(
    "body",
    [b'{"images": [{"id": 1}]}', b'{"images": [], "annotations": [{"image_id": 1}]}', b"[1, 2]"],
)
def test_schema_breaks_raise_for_the_tolerant_path(body: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        cd.decode(body)
