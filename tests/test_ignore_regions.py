"""Ignore regions (issue 18, part 3): counts, covered area and objects inside, worked out by hand
on 100x100 images (imgsz 100: model input = image pixels)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sodaudit.analyzers import integrity
from sodaudit.config import Config
from sodaudit.dataset import Dataset

CONFIG = Config(imgsz=100)


def dataset(boxes: list[tuple], n_images: int = 2) -> Dataset:
    """boxes: (image_id, x, y, w, h, region); regions are ignore boxes too (as loaders keep them)."""
    images = pd.DataFrame(
        {
            "image_id": list(range(n_images)),
            "file_name": [f"{i}.jpg" for i in range(n_images)],
            "path": [""] * n_images,
            "split": ["train"] * n_images,
            "width": [100.0] * n_images,
            "height": [100.0] * n_images,
            "status": ["ok"] * n_images,
        }
    )
    box = pd.DataFrame(
        {
            "image_id": [b[0] for b in boxes],
            "class_id": [0] * len(boxes),
            "x": [float(b[1]) for b in boxes],
            "y": [float(b[2]) for b in boxes],
            "w": [float(b[3]) for b in boxes],
            "h": [float(b[4]) for b in boxes],
            "ignore": [bool(b[5]) for b in boxes],
            "region": [bool(b[5]) for b in boxes],
            "source_file": ["a.txt"] * len(boxes),
            "source_line": list(range(1, len(boxes) + 1)),
        }
    )
    return Dataset.build(
        root=Path("/d"), format="test", boxes=box, images=images, classes={0: "car"}, imgsz=100
    )


def test_regions_area_and_objects_inside():
    boxes = [
        (0, 0, 0, 50, 50, True),  # 2,500 px²
        (0, 40, 40, 20, 20, True),  # 400 px², overlapping the first (counted twice, as documented)
        (0, 90, 90, 30, 30, True),  # clipped to the image: 10 x 10 = 100 px²
        (0, 5, 5, 10, 10, False),  # centre (10, 10): inside the first
        (0, 40, 40, 10, 10, False),  # centre (45, 45): inside two regions, counted once
        (0, 70, 70, 10, 10, False),  # centre (75, 75): outside
        (1, 5, 5, 10, 10, False),  # centre (10, 10) of image 1, which has no region
    ]
    result = integrity.analyze(dataset(boxes), CONFIG)
    r = result.stats.ignore_regions
    assert (r.regions, r.images, r.objects_inside) == (3, 1, 2)
    assert r.area_share == pytest.approx((2500 + 400 + 100) / 20000)
    [found] = [f for f in result.findings if f.code == "integrity.objects_in_ignore_regions"]
    assert found.count == 2 and found.examples == ("a.txt:4", "a.txt:5")


@pytest.mark.parametrize("per_image, note", [(25, True), (10, False)])
def test_dense_small_dataset_without_regions_gets_a_note(per_image: int, note: bool):
    boxes = [(i, 4 * k % 90, 4 * k // 90 * 8, 3, 3, False) for i in range(4) for k in range(per_image)]
    result = integrity.analyze(dataset(boxes, n_images=4), CONFIG)
    assert result.stats.ignore_regions.regions == 0 and result.stats.ignore_regions.area_share == 0.0
    codes = [f.code for f in result.findings]
    assert ("integrity.no_ignore_regions" in codes) is note


def test_visdrone_category_0_is_a_region_and_others_are_not(tmp_path: Path):
    """VisDrone-DET: category 0 is an ignored region (an area); 11 'others' is an ignore box."""
    from PIL import Image

    from sodaudit.loaders import load

    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").mkdir()
    Image.new("RGB", (200, 100)).save(tmp_path / "images" / "a.jpg")
    rows = "0,0,100,50,0,0,0,0\n150,60,10,10,1,4,0,0\n120,10,8,8,1,11,0,0\n"  # region, car, others
    (tmp_path / "annotations" / "a.txt").write_text(rows)
    ds = load(tmp_path)
    assert ds.boxes["region"].tolist() == [True, False, False]
    assert ds.boxes["ignore"].tolist() == [True, False, True]
    stats = integrity.analyze(ds, Config()).stats.ignore_regions
    assert (stats.regions, stats.images) == (1, 1)
    assert stats.area_share == pytest.approx(100 * 50 / (200 * 100))


def test_coco_crowd_is_a_region(tmp_path: Path):
    import json

    from PIL import Image

    from sodaudit.loaders import load

    Image.new("RGB", (100, 100)).save(tmp_path / "a.jpg")
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 900, "iscrowd": 1},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 10, 6, 6], "area": 36, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [70, 70, 6, 6], "area": 36, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(doc))
    ds = load(tmp_path / "instances.json")
    assert ds.boxes["region"].tolist() == [True, False, False]
    stats = integrity.analyze(ds, Config()).stats.ignore_regions
    assert (stats.regions, stats.objects_inside) == (1, 1)  # annotation 2's centre (13, 13) is inside
    assert stats.area_share == pytest.approx(1600 / 10000)
