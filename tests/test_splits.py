"""Splits analyzer: reference split, KS drift, missing classes and class shares, by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from sodaudit.analyzers import splits
from sodaudit.config import Config, SplitsConfig
from sodaudit.dataset import Dataset
from sodaudit.findings import Severity
from sodaudit.jsonable import jsonable

CLASSES = {0: "car", 1: "person", 2: "bus"}


def build(boxes_by_split: dict[str, list[tuple[int, float]]]):
    """One 640x640 image per split (scale 1); boxes are (class_id, side) squares."""
    images, boxes = [], []
    for i, (split, rows) in enumerate(boxes_by_split.items(), start=1):
        images.append((i, f"{split}.jpg", split))
        boxes += [(i, c, side) for c, side in rows]
    img = pd.DataFrame(images, columns=["image_id", "file_name", "split"])
    img["path"] = ""
    img["width"] = 640.0
    img["height"] = 640.0
    img["status"] = "ok"
    box = pd.DataFrame(boxes, columns=["image_id", "class_id", "w"]).astype({"w": float})
    box["h"] = box["w"]
    box["x"] = 0.0
    box["y"] = 0.0
    return Dataset.build(root=Path("/d"), format="test", boxes=box, images=img, classes=CLASSES)


@pytest.mark.parametrize(
    "names, counts, expected",
    [
        (["test", "train", "val"], [100, 1, 100], "train"),
        (["train2017", "val2017"], [1, 9], "train2017"),
        (["trainA", "trainB", "val"], [3, 9, 100], "trainB"),
        (["a", "b"], [1, 5], "b"),
        (["a", "b"], [5, 5], "a"),
        ([], [], None),
    ],
)
def test_reference_split(names, counts, expected):
    assert splits.reference_split(names, counts) == expected


def test_fully_separated_sizes_by_hand():
    # train sides 1..4, val 5, 6: every val box is larger, so the ECDFs differ by 1 at x = 4.
    # Exact two-sided p: 2 of C(6, 2) = 15 orderings are this extreme -> 2/15 > 0.05 (info).
    ds = build({"train": [(0, s) for s in (1, 2, 3, 4)], "val": [(0, 5), (0, 6)]})
    r = splits.analyze(ds, Config())
    ks = r.stats.ks["val"].native
    assert ks.statistic == 1.0
    assert ks.pvalue == pytest.approx(2 / 15)
    assert (ks.n_ref, ks.n) == (4, 2)
    drift = [f for f in r.findings if f.code == "splits.size_drift"]
    assert len(drift) == 1 and drift[0].severity is Severity.INFO
    assert "KS statistic 1.000" in drift[0].message


def test_partial_overlap_statistic():
    # train 1,2,3,4 vs val 3,4,5,6: at x = 2 the train ECDF is 2/4 and the val ECDF 0 -> D = 0.5
    ds = build({"train": [(0, s) for s in (1, 2, 3, 4)], "val": [(0, s) for s in (3, 4, 5, 6)]})
    r = splits.analyze(ds, Config())
    assert r.stats.ks["val"].native.statistic == pytest.approx(0.5)
    # same images, scale 1: the model-input test is the same
    assert r.stats.ks["val"].model.statistic == pytest.approx(0.5)


def test_large_separated_splits_warn():
    # 20 vs 20, fully separated: p = 2 / C(40, 20) -> far below 0.05, so a warning
    ds = build({"train": [(0, s) for s in range(1, 21)], "val": [(0, s) for s in range(21, 41)]})
    r = splits.analyze(ds, Config())
    assert r.stats.ks["val"].native.pvalue == pytest.approx(2 / math.comb(40, 20))
    drift = [f for f in r.findings if f.code == "splits.size_drift"]
    assert drift[0].severity is Severity.WARNING
    assert drift[0].value == 1.0 and drift[0].threshold == 0.1


def test_classes_and_shares_by_hand():
    # train: car 3, person 1 -> shares .75 / .25; val: car 1, bus 1 -> .5 / .5
    ds = build(
        {
            "train": [(0, 10), (0, 10), (0, 10), (1, 10)],
            "val": [(0, 10), (2, 10)],
        }
    )
    r = splits.analyze(ds, Config())
    s = r.stats
    assert s.reference == "train"
    assert s.single_split is False
    assert s.classes_missing == {"train": ["bus"], "val": ["person"]}
    assert s.class_shares["train"] == {"car": 0.75, "person": 0.25, "bus": 0.0}
    assert s.class_shares["val"] == {"car": 0.5, "person": 0.0, "bus": 0.5}
    assert s.class_share_diff["val"] == {"car": -0.25, "person": -0.25, "bus": 0.5}
    assert s.max_class_share_diff["val"] == splits.SplitsShareDiff(class_name="bus", diff=0.5)
    assert s.per_split["train"].num_boxes == 4
    assert s.per_split["val"].num_images == 1
    assert s.per_split["val"].native.sqrt_area["p50"] == 10.0
    # identical sizes: no drift
    assert s.ks["val"].native.statistic == 0.0

    found = r.findings
    missing = [f for f in found if f.code == "splits.class_missing"]
    assert sorted(f.examples for f in missing) == [("bus",), ("person",)]
    # one finding for the split, the largest shift first: bus +50%, then car and person -25%
    (drift,) = [f for f in found if f.code == "splits.class_share_drift"]
    assert (drift.count, drift.value, drift.class_name) == (3, 0.5, "bus")
    assert drift.examples[0] == "'bus' 50.0% vs 0.0% (+50.0%)"
    assert {e.split(" ")[0] for e in drift.examples} == {"'bus'", "'car'", "'person'"}
    config = Config(splits=SplitsConfig(class_share_warn=0.3))
    drift = [f.class_name for f in splits.analyze(ds, config).findings if "share" in f.code]
    assert drift == ["bus"]
    assert not any(f.code == "splits.size_drift" for f in found)
    json.dumps(jsonable(s), allow_nan=False)


def test_single_split_has_no_findings():
    ds = build({"train": [(0, 1), (1, 50), (2, 3)]})
    r = splits.analyze(ds, Config())
    assert r.stats.single_split is True
    assert r.stats.splits == ["train"]
    assert r.stats.ks == {}
    assert r.stats.classes_missing == {"train": []}
    assert r.stats.max_class_share_diff == {}
    assert r.findings == []
    # a reference but nothing to compare it to: empty comparisons, still in the JSON
    data = jsonable(r.stats)
    assert (data["ks"], data["class_share_diff"], data["max_class_share_diff"]) == ({}, {}, {})


def test_no_image_has_no_comparisons():
    """Without an image there is no reference: the comparisons are left out of the JSON."""
    r = splits.analyze(build({}), Config())
    assert (r.stats.splits, r.stats.reference, r.stats.ks, r.stats.class_shares) == ([], None, None, None)
    assert r.findings == []
    assert jsonable(r.stats) == {"splits": [], "single_split": True, "per_split": {}, "reference": None}


def test_empty_split_misses_every_class():
    # a val split with one image and no boxes: KS undefined, both train classes missing
    ds = build({"train": [(0, 5), (1, 6)], "val": []})
    r = splits.analyze(ds, Config())
    assert math.isnan(r.stats.ks["val"].native.statistic)
    assert jsonable(r.stats)["ks"]["val"]["native"]["statistic"] is None  # NaN is null in JSON
    assert r.stats.classes_missing["val"] == ["car", "person"]
    assert not any(f.code == "splits.size_drift" for f in r.findings)


def test_coco_mini_missing_classes_match_the_json(realdata: Path):
    from sodaudit.loaders import load

    root = realdata / "coco_mini"
    present = {}
    for split in ("train2017", "val2017"):
        doc = json.loads((root / "annotations" / f"instances_{split}.json").read_text())
        names = {c["id"]: c["name"] for c in doc["categories"]}
        present[split] = {
            names[a["category_id"]]
            for a in doc["annotations"]
            if not a.get("iscrowd") and a["bbox"][2] > 0 and a["bbox"][3] > 0
        }
    r = splits.analyze(load(root), Config())
    missing = r.stats.classes_missing
    assert r.stats.reference == "train2017"
    assert set(missing["val2017"]) == present["train2017"] - present["val2017"]
    assert set(missing["train2017"]) == present["val2017"] - present["train2017"]
