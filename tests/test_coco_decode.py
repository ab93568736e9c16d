"""The typed COCO decode gives what the stdlib ``json`` parse gives, turned into arrays by hand."""

from __future__ import annotations

import json
import random

import msgspec
import numpy as np
import pytest

import sodaudit.loaders.coco_decode as cd


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


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("indent", [None, 2])
def test_typed_decode_gives_the_stdlib_columns(order, indent) -> None:
    doc = _document()
    text = json.dumps({key: doc[key] for key in order}, indent=indent).encode()
    decoded = cd.decode(memoryview(text))
    anns = doc["annotations"]
    expected = {
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
    assert decoded.annotation_count == len(anns)
    assert [i.file_name for i in decoded.images] == [i["file_name"] for i in doc["images"]]
    assert [(c.id, c.name) for c in decoded.categories] == [(c["id"], c["name"]) for c in doc["categories"]]
    assert sorted(decoded.columns) == sorted(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(np.asarray(decoded.columns[name]), values, err_msg=name)


def test_missing_ids_become_a_nullable_column() -> None:
    doc = _document(n_images=2, n_annotations=3)
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
