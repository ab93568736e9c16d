"""The merges recommendation: the dataset's own supercategories name and bound the groups, and
the labelling patterns the class_overlap analyzer found are named in the evidence.

Datasets are tiny COCO files written to tmp_path and read by the real loader, so the
supercategories travel the way they do for a user (loader -> Dataset.meta -> merges).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import tiny_dataset

from sodaudit.analyzers import class_overlap
from sodaudit.config import ClassOverlapConfig, Config, PlanConfig, RecommendConfig
from sodaudit.loaders import coco
from sodaudit.recommend import recommend
from sodaudit.recommend.merges import group_names, group_pairs

TODAY = Config(plan=PlanConfig(max_cost=1.0), recommend=RecommendConfig(min_boxes=1, min_count=1))
"""No option fits a 1x cap: the plan keeps imgsz 640, so merges are judged at scale 1."""

SUPER = {"car": "vehicle", "bus": "vehicle", "truck": "vehicle", "van": "vehicle", "person": "person"}


def _small_alike(names: list[str]) -> tuple[list[dict], list[dict]]:
    """One 1600 x 1200 image; per class (row c) 60 boxes of 10 x 40 px, 20 px apart: no overlap.
    At imgsz 640 (scale 640 / 1600 = 0.4) each is 4 x 16, sqrt(area) 8 px < 12 (separability
    size), and every class has the same sizes and aspects (KS 0): every pair is small_alike."""
    images = [{"id": 1, "file_name": "big.jpg", "width": 1600, "height": 1200}]
    anns = [
        {
            "id": len(names) * 100 + c * 60 + k,
            "image_id": 1,
            "category_id": c + 1,
            "bbox": [20 * k, 50 * c, 10, 40],
        }
        for c in range(len(names))
        for k in range(60)
    ]
    return images, anns


def _write(tmp_path: Path, names: list[str], images: list[dict], anns: list[dict], extra_cats=()) -> Path:
    cats = [{"id": c + 1, "name": n, "supercategory": SUPER[n]} for c, n in enumerate(names)]
    doc = {"images": images, "annotations": anns, "categories": cats + list(extra_cats)}
    path = tmp_path / "instances_train.json"
    path.write_text(json.dumps(doc))
    return path


def _merges(path: Path, config: Config = TODAY):
    ds = coco.load(path)
    results = {"class_overlap": class_overlap.analyze(ds, config)}
    recs = {r.kind: r for r in recommend(ds, config, results).recommendations}
    return recs.get("merges")


def test_one_supercategory_names_the_group(tmp_path: Path):
    names = ["car", "bus", "truck"]
    rec = _merges(_write(tmp_path, names, *_small_alike(names)))
    # three alike classes, all "vehicle": one group, named after the dataset's own grouping
    assert rec.params["groups"] == [["bus", "car", "truck"]]
    assert rec.params["into"] == ["vehicle"]
    assert rec.params["from_supercategory"] == [True]
    assert sorted(map(sorted, rec.params["pairs"])) == [["bus", "car"], ["bus", "truck"], ["car", "truck"]]
    # 180 boxes, 60 per class: all but one class's 60 are relabelled
    assert rec.effect == {"classes_before": 3, "classes_after": 1, "boxes_relabelled": 120}
    assert rec.summary.startswith("Merge bus + car + truck into vehicle in a first version")
    assert rec.evidence["supercategories"] == {"bus": "vehicle", "car": "vehicle", "truck": "vehicle"}
    assert "across_supercategories" not in rec.evidence


def test_pairs_across_supercategories_are_not_chained(tmp_path: Path):
    names = ["car", "van", "person"]
    rec = _merges(_write(tmp_path, names, *_small_alike(names)))
    # car-van chain (both vehicle); car-person and van-person span vehicle/person: with car and
    # van already in a group they are left out rather than chained into one 3-class group.
    assert rec.params["groups"] == [["car", "van"]]
    assert rec.params["into"] == ["vehicle"]
    assert [sorted(p) for p in rec.params["pairs"]] == [["car", "van"]]
    across = rec.evidence["across_supercategories"]
    assert sorted(tuple(sorted((a["class_a"], a["class_b"]))) for a in across) == [
        ("car", "person"),
        ("person", "van"),
    ]
    assert not any(a["merged"] for a in across)
    assert all({a["supercategory_a"], a["supercategory_b"]} == {"vehicle", "person"} for a in across)
    assert rec.effect == {"classes_before": 3, "classes_after": 2, "boxes_relabelled": 60}


def test_a_pair_across_supercategories_is_never_merged(tmp_path: Path):
    names = ["car", "person"]  # vehicle and person: the dataset's own taxonomy keeps them apart
    assert _merges(_write(tmp_path, names, *_small_alike(names))) is None


def test_group_names_fall_back_to_the_class_names():
    supers = {"car": "vehicle", "van": "vehicle", "bus": "vehicle", "truck": "vehicle", "a": "x", "x": "y"}
    classes = set(supers)
    # two groups in one supercategory: naming both "vehicle" would merge them; joined instead
    assert group_names([["car", "van"], ["bus", "truck"]], supers, classes) == [
        ("car+van", False),
        ("bus+truck", False),
    ]
    # the supercategory "x" is the name of a class outside the group: not reused
    assert group_names([["a", "b"]], {"a": "x", "b": "x"}, {"a", "b", "x"}) == [("a+b", False)]
    # a class missing from the supercategories: the group does not share one
    assert group_names([["car", "z"]], supers, classes | {"z"}) == [("car+z", False)]
    # the supercategory is one of the group's own classes (COCO's person/person): fine
    assert group_names(
        [["person", "rider"]], {"person": "person", "rider": "person"}, {"person", "rider"}
    ) == [("person", True)]


def test_group_pairs_without_supercategories_chain_as_before():
    groups, across = group_pairs([("a", "b"), ("b", "c"), ("d", "e")], {})
    assert groups == [["a", "b", "c"], ["d", "e"]]
    assert across == []


def test_no_supercategories_keeps_the_joined_names():
    # The hand dataset of tests/test_recommend.py (no COCO, no meta): 60 + 60 boxes of 10 x 40
    # in one 1600 x 1200 image, alike at 8 px.
    boxes = [(1, k % 2, 20 * (k % 60), 50 * (k // 60), 10, 40) for k in range(120)]
    ds = tiny_dataset(boxes, [(1, 1600, 1200)], {0: "a", 1: "b"})
    results = {"class_overlap": class_overlap.analyze(ds, TODAY)}
    rec = {r.kind: r for r in recommend(ds, TODAY, results).recommendations}["merges"]
    assert rec.params["into"] == ["a+b"]
    assert rec.params["from_supercategory"] == [False]
    assert "supercategories" not in rec.evidence
    assert "labelling_patterns" not in rec.evidence


def test_labelling_patterns_are_named_in_the_evidence(tmp_path: Path):
    # car and van alike in image 1 (as above), and images 2..13 (640 x 640): a 20 x 20 bicycle
    # at (0, 20) inside a 20 x h person box with bottoms aligned, h = 38.5 + 0.25 k: IoU 20 / h
    # (0.52 .. 0.48) with the person 1.9-2.1x taller. Flagged at cross_class_iou 0.4, the 12
    # pairs are one pattern. Person (sqrt(20 h) ~ 28 px) and bicycle (20 px) are not small:
    # co-located only, so not a merge.
    images, anns = _small_alike(["car", "van"])
    for k in range(12):
        h = 38.5 + 0.25 * k
        images.append({"id": 2 + k, "file_name": f"r{k}.jpg", "width": 640, "height": 640})
        anns.append({"id": 1000 + 2 * k, "image_id": 2 + k, "category_id": 3, "bbox": [0, 20, 20, 20]})
        anns.append({"id": 1001 + 2 * k, "image_id": 2 + k, "category_id": 4, "bbox": [0, 40 - h, 20, h]})
    cats = [
        {"id": 3, "name": "bicycle", "supercategory": "vehicle"},
        {"id": 4, "name": "person", "supercategory": "person"},
    ]
    path = _write(tmp_path, ["car", "van"], images, anns, cats)
    config = Config(
        plan=TODAY.plan, recommend=TODAY.recommend, class_overlap=ClassOverlapConfig(cross_class_iou=0.4)
    )
    rec = _merges(path, config)
    assert rec.params["groups"] == [["car", "van"]]
    assert rec.params["into"] == ["vehicle"]
    (pattern,) = rec.evidence["labelling_patterns"]
    assert {pattern["class_a"], pattern["class_b"]} == {"bicycle", "person"}
    assert (pattern["pairs"], pattern["images"], pattern["larger_class"]) == (12, 12, "person")
    assert pattern["iou_median"] == pytest.approx((20 / 40 + 20 / 39.75) / 2)
    assert "person boxes taller than bicycle boxes" in rec.evidence["labelling_patterns_note"]
    json.dumps(rec.to_dict(), allow_nan=False)
