"""``diff_datasets``: known perturbations of a copy of sample_data are reported exactly, the
same scene in two formats shows no change, and hand-computed IoU cases give the jitter rates."""

from __future__ import annotations

import json
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sodaudit.dataset import Dataset
from sodaudit.diff import DiffConfig, diff_datasets, match_images
from sodaudit.findings import Severity
from sodaudit.loaders import load

CHANGE_COUNTS = ("added", "removed", "relabelled", "moved", "jittered", "ignore_changed")


def scene(sample_data: Path) -> dict:
    return json.loads((sample_data / "scene.json").read_text())


def scene_box_count(sample_data: Path) -> int:
    return sum(len(img["boxes"]) for img in scene(sample_data)["images"])


def build(rows: list[tuple], classes: dict[int, str], files: list[str] | None = None) -> Dataset:
    """A dataset from ``(file_name, class_id, x, y, w, h)`` rows; ``files`` adds empty images."""
    names = list(dict.fromkeys([r[0] for r in rows] + list(files or [])))
    images = pd.DataFrame(
        {
            "image_id": np.arange(len(names)),
            "file_name": names,
            "path": "",
            "split": "train",
            "width": 1000.0,
            "height": 1000.0,
            "status": "unchecked",
        }
    )
    boxes = pd.DataFrame(
        {
            "image_id": [names.index(r[0]) for r in rows],
            "class_id": [r[1] for r in rows],
            "x": [float(r[2]) for r in rows],
            "y": [float(r[3]) for r in rows],
            "w": [float(r[4]) for r in rows],
            "h": [float(r[5]) for r in rows],
            "source_file": "labels.txt",
            "source_line": np.arange(1, len(rows) + 1),
        }
    )
    return Dataset.build(root=Path("."), format="yolo", boxes=boxes, images=images, classes=classes)


# --- sample_data: no change ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_identical_datasets_report_no_change(sample_data: Path, fmt: str):
    old = load(sample_data / fmt, fmt)
    new = load(sample_data / fmt, fmt)
    result = diff_datasets(old, new)
    total = scene_box_count(sample_data)
    assert total == 1341
    boxes = result.stats["boxes"]
    assert {k: boxes[k] for k in CHANGE_COUNTS} == dict.fromkeys(CHANGE_COUNTS, 0)
    assert boxes["matched"] == boxes["identical"] == boxes["old"] == boxes["new"] == total
    assert result.stats["images"] == {
        "matched": 30,
        "matched_by_name": 30,
        "matched_by_stem": 0,
        "only_old": 0,
        "only_new": 0,
        "changed": 0,
        "unchanged": 30,
        "split_changed": 0,
    }
    assert result.findings == []
    assert result.stats["iou"]["quantiles"]["p0"] == 1.0
    assert result.stats["iou"]["histogram"]["counts"][-1] == total
    assert result.stats["small_classes"]["disagreement_rate"] == 0.0
    json.dumps(result.to_dict(), allow_nan=False)


def test_coco_and_voc_of_the_same_scene_differ_in_nothing(sample_data: Path):
    """COCO and VOC hold the same boxes: file names differ (``aerial_0001.jpg`` vs
    ``JPEGImages/aerial_0001.jpg``, paired by stem) and class ids differ (COCO 1-5 in scene
    order, VOC alphabetical; compared by name). Their one data difference, defect 4 (COCO
    ``area`` = 2112 for a 24x11 box), is not a box coordinate: the diff does not read ``area``.
    Crowd (COCO iscrowd) and VOC ``difficult`` mark the same box, so no ignore flag changes."""
    result = diff_datasets(load(sample_data / "coco", "coco"), load(sample_data / "voc", "voc"))
    boxes = result.stats["boxes"]
    assert {k: boxes[k] for k in CHANGE_COUNTS} == dict.fromkeys(CHANGE_COUNTS, 0)
    assert boxes["matched"] == boxes["identical"] == scene_box_count(sample_data)
    assert result.stats["images"]["matched_by_stem"] == 30
    assert result.stats["images"]["changed"] == 0
    assert result.findings == []


def test_coco_and_yolo_differ_only_in_the_crowd_flag(sample_data: Path):
    """YOLO stores 8 normalised decimals (~1e-5 px off) and cannot mark a crowd box: the boxes
    are all identical within SAME_BOX_PX, and the one crowd box (defect 3) loses its flag."""
    result = diff_datasets(load(sample_data / "coco", "coco"), load(sample_data / "yolo", "yolo"))
    boxes = result.stats["boxes"]
    assert boxes["matched"] == boxes["identical"] == 1341
    assert {k: boxes[k] for k in CHANGE_COUNTS} == {**dict.fromkeys(CHANGE_COUNTS, 0), "ignore_changed": 1}
    changed = result.tables["matched"][result.tables["matched"]["ignore_changed"]]
    crowd = next(d for d in scene(sample_data)["defects"] if d["kind"] == "crowd_ignore")
    assert changed["old_image"].tolist() == [crowd["file_name"]]
    assert changed[["old_x", "old_y", "old_w", "old_h"]].to_numpy().tolist() == [
        [crowd["x"], crowd["y"], crowd["w"], crowd["h"]]
    ]
    assert [f.code for f in result.findings] == ["diff.ignore_changed"]
    # The zero-size box (defect 1) has no geometric IoU, yet pairs with its copy.
    assert result.stats["jitter"]["by_size_bucket"]["buckets"]["invalid"] == {
        "matched": 1,
        "jittered": 0,
        "rate": 0.0,
    }


# --- sample_data: known perturbations --------------------------------------------------------


def _eligible(w: float, h: float, d: float, axis: int) -> bool:
    return (w if axis == 0 else h) >= 3 * d  # IoU (L - d) / (L + d) >= 0.5: still the same object


def _expected_iou(w: float, h: float, d: float, axis: int) -> float:
    side = w if axis == 0 else h
    return (side - d) / (side + d)


@pytest.mark.parametrize(
    ("seed", "k", "j", "i", "d"), [(1, 7, 5, 3, 2.0), (2, 12, 1, 4, 1.0), (3, 4, 6, 1, 3.0)]
)
def test_coco_copy_with_known_perturbations(sample_data: Path, tmp_path: Path, seed, k, j, i, d):
    root = tmp_path / "coco"
    shutil.copytree(sample_data / "coco", root)
    defect_images = {x["file_name"] for x in scene(sample_data)["defects"]}
    rng = np.random.default_rng(seed)
    ann_file = root / "annotations" / "instances_train.json"
    doc = json.loads(ann_file.read_text())
    names = {im["id"]: im["file_name"] for im in doc["images"]}
    cats = [c["id"] for c in doc["categories"]]
    axes = rng.integers(0, 2, len(doc["annotations"]))
    signs = rng.choice([-1.0, 1.0], len(doc["annotations"]))
    candidates = [
        idx
        for idx, a in enumerate(doc["annotations"])
        if names[a["image_id"]] not in defect_images and _eligible(*a["bbox"][2:], d, axes[idx])
    ]
    chosen = rng.choice(candidates, k + j + i, replace=False)
    shifted, removed, relabelled = set(chosen[:k]), set(chosen[k : k + j]), set(chosen[k + j :])

    expected_iou = {}
    for idx in shifted:
        a = doc["annotations"][idx]
        a["bbox"][int(axes[idx])] += signs[idx] * d
        expected_iou[idx] = _expected_iou(*a["bbox"][2:], d, int(axes[idx]))
    for idx in relabelled:
        a = doc["annotations"][idx]
        a["category_id"] = int(rng.choice([c for c in cats if c != a["category_id"]]))
    kept = [idx for idx in range(len(doc["annotations"])) if idx not in removed]
    new_index = {old: pos for pos, old in enumerate(kept)}  # positions after the deletion
    ann_id = [a["id"] for a in doc["annotations"]]
    doc["annotations"] = [doc["annotations"][idx] for idx in kept]
    ann_file.write_text(json.dumps(doc))

    result = diff_datasets(load(sample_data / "coco", "coco"), load(root, "coco"))
    boxes = result.stats["boxes"]
    assert boxes["moved"] == k
    assert boxes["removed"] == j
    assert boxes["relabelled"] == i
    assert boxes["added"] == 0
    assert boxes["matched"] == 1341 - j - i
    assert boxes["identical"] == 1341 - j - i - k
    assert result.stats["images"]["changed"] == len(_images_of(sample_data, chosen.tolist()))

    def src(idx: int, pos: int) -> str:  # annotation idx of the old file, at position pos of a file
        return f"annotations/instances_train.json#annotations[{pos}] (id {ann_id[idx]})"

    moved = result.tables["moved"]
    assert moved["shift_px"].tolist() == [d] * k
    assert sorted(moved["old_source"]) == sorted(src(idx, idx) for idx in shifted)
    assert sorted(moved["new_source"]) == sorted(src(idx, new_index[idx]) for idx in shifted)
    by_source = dict(zip(moved["old_source"], moved["iou"], strict=True))
    for idx in shifted:
        assert by_source[src(idx, idx)] == pytest.approx(expected_iou[idx], abs=1e-12)
    assert sorted(result.tables["removed"]["old_source"]) == sorted(src(idx, idx) for idx in removed)
    rel = result.tables["relabelled"]
    assert sorted(rel["old_source"]) == sorted(src(idx, idx) for idx in relabelled)
    assert sorted(rel["new_source"]) == sorted(src(idx, new_index[idx]) for idx in relabelled)
    assert (rel["old_class"].astype(str) != rel["new_class"].astype(str)).all()
    assert rel["iou"].tolist() == [1.0] * i

    jittered = sum(1 for idx in shifted if expected_iou[idx] < 0.9)
    assert boxes["jittered"] == jittered
    assert result.stats["jitter"]["rate"] == pytest.approx(jittered / (1341 - j - i))
    assert sum(result.stats["iou"]["histogram"]["counts"]) == 1341 - j - i
    # Jitter by AITOD bucket of the native size (a shift keeps w, h): < 8, < 16, < 32, rest.
    per_bucket = dict.fromkeys(["very_tiny", "tiny", "small", "other"], 0)
    for idx in shifted:
        w, h = doc["annotations"][new_index[idx]]["bbox"][2:]
        size = math.sqrt(w * h)
        label = "very_tiny" if size < 8 else "tiny" if size < 16 else "small" if size < 32 else "other"
        per_bucket[label] += expected_iou[idx] < 0.9
    buckets = result.stats["jitter"]["by_size_bucket"]["buckets"]
    assert {b: buckets[b]["jittered"] for b in per_bucket} == per_bucket

    codes = {f.code: f for f in result.findings}
    assert codes["diff.moved"].count == k
    assert codes["diff.removed"].count == j
    assert codes["diff.relabelled"].count == i
    assert "diff.added" not in codes
    # Examples name the label in both versions.
    file = "annotations/instances_train.json"
    assert all(
        e.startswith(f"OLD {file}#annotations[") and f" NEW {file}#annotations[" in e
        for e in codes["diff.moved"].examples
    )
    assert all(
        e.startswith(f"OLD {file}#annotations[") and f"NEW {file} " in e
        for e in codes["diff.removed"].examples
    )
    json.dumps(result.to_dict(), allow_nan=False)


def _images_of(sample_data: Path, indices: list[int]) -> set[int]:
    doc = json.loads((sample_data / "coco" / "annotations" / "instances_train.json").read_text())
    return {doc["annotations"][idx]["image_id"] for idx in indices}


def test_voc_copy_with_known_perturbations(sample_data: Path, tmp_path: Path):
    """The same in VOC XML: k objects shifted by d px, j deleted, i renamed to another class."""
    root = tmp_path / "voc"
    shutil.copytree(sample_data / "voc", root)
    defect_stems = {Path(x["file_name"]).stem for x in scene(sample_data)["defects"]}
    rng = np.random.default_rng(7)
    k, j, i, d = 9, 4, 5, 2
    objects = []
    for xml in sorted((root / "Annotations").glob("*.xml")):
        if xml.stem in defect_stems:
            continue
        tree = ET.parse(xml)
        for n, obj in enumerate(tree.getroot().findall("object")):
            bb = obj.find("bndbox")
            w = int(bb.findtext("xmax")) - int(bb.findtext("xmin"))
            if w >= 3 * d:
                objects.append((xml, n))
    chosen = [objects[c] for c in rng.choice(len(objects), k + j + i, replace=False)]
    plan: dict[Path, list[tuple[int, str]]] = {}
    for c, (xml, n) in enumerate(chosen):
        plan.setdefault(xml, []).append((n, "shift" if c < k else "remove" if c < k + j else "relabel"))
    expected_jitter = 0
    for xml, edits in plan.items():
        tree = ET.parse(xml)
        objs = tree.getroot().findall("object")
        for n, what in edits:
            obj = objs[n]
            bb = obj.find("bndbox")
            if what == "shift":
                x0, x1 = int(bb.findtext("xmin")), int(bb.findtext("xmax"))
                bb.find("xmin").text, bb.find("xmax").text = str(x0 + d), str(x1 + d)
                expected_jitter += (x1 - x0 - d) / (x1 - x0 + d) < 0.9
            elif what == "relabel":
                current = obj.findtext("name")
                obj.find("name").text = "boat" if current != "boat" else "car"
            else:
                tree.getroot().remove(obj)
        tree.write(xml)

    result = diff_datasets(load(sample_data / "voc", "voc"), load(root, "voc"))
    boxes = result.stats["boxes"]
    assert (boxes["moved"], boxes["removed"], boxes["relabelled"], boxes["added"]) == (k, j, i, 0)
    assert boxes["jittered"] == expected_jitter
    assert result.tables["moved"]["shift_px"].tolist() == [float(d)] * k
    assert set(result.tables["relabelled"]["old_image"]) <= {f"JPEGImages/{x.stem}.jpg" for x in plan}


# --- hand-computed cases -----------------------------------------------------------------------


CLASSES = {0: "car", 1: "ship", 2: "truck"}


def jitter_case() -> tuple[Dataset, Dataset]:
    old = build(
        [
            ("a.jpg", 0, 0, 0, 10, 10),  # -> shifted 1 px: IoU 90/110 = 9/11, jitter, tiny
            ("a.jpg", 0, 100, 0, 20, 20),  # -> shifted 1 px: IoU 380/420 = 19/21, not jitter, small
            ("a.jpg", 1, 200, 200, 100, 100),  # -> shifted 5 px: IoU 9500/10500 = 19/21, other
            ("a.jpg", 0, 500, 500, 6, 6),  # removed
        ],
        CLASSES,
    )
    new = build(
        [
            ("a.jpg", 0, 1, 0, 10, 10),
            ("a.jpg", 0, 101, 0, 20, 20),
            ("a.jpg", 1, 205, 200, 100, 100),
            ("a.jpg", 0, 700, 700, 6, 6),  # added
        ],
        CLASSES,
    )
    return old, new


def test_jitter_rates_by_bucket_and_class_by_hand():
    result = diff_datasets(*jitter_case())
    s = result.stats
    assert s["boxes"]["matched"] == 3
    assert s["boxes"]["moved"] == 3
    assert s["boxes"]["jittered"] == 1
    assert (s["boxes"]["removed"], s["boxes"]["added"], s["boxes"]["relabelled"]) == (1, 1, 0)
    assert s["iou"]["quantiles"]["p0"] == pytest.approx(9 / 11)
    assert s["iou"]["quantiles"]["p100"] == pytest.approx(19 / 21)
    assert s["shift_px"]["quantiles"]["p100"] == 5.0
    assert sorted(result.tables["matched"]["shift_rel"]) == pytest.approx([0.05, 0.05, 0.1])
    buckets = s["jitter"]["by_size_bucket"]["buckets"]
    assert buckets == {
        "very_tiny": {"matched": 0, "jittered": 0, "rate": None},
        "tiny": {"matched": 1, "jittered": 1, "rate": 1.0},
        "small": {"matched": 1, "jittered": 0, "rate": 0.0},
        "other": {"matched": 1, "jittered": 0, "rate": 0.0},
    }
    assert s["jitter"]["by_class"]["car"] == {"matched": 2, "jittered": 1, "jitter_rate": 0.5}
    assert s["jitter"]["by_class"]["ship"] == {"matched": 1, "jittered": 0, "jitter_rate": 0.0}
    # car: OLD sizes 10, 20, 6 -> median 10 < 32 (small); ship: 100 (not small); truck: no boxes.
    small = s["small_classes"]
    assert small["classes"] == ["car"]
    assert (small["matched"], small["jittered"], small["removed"], small["added"]) == (2, 1, 1, 1)
    assert small["jitter_rate"] == 0.5
    assert small["objects"] == 4
    assert small["disagreement_rate"] == 0.75  # (1 removed + 1 added + 0 relabelled + 1 jitter) / 4
    finding = next(f for f in result.findings if f.code == "diff.jitter_small_classes")
    assert finding.severity is Severity.ERROR
    assert (finding.value, finding.threshold, finding.count) == (0.5, 0.1, 1)
    assert finding.examples[0].startswith("OLD labels.txt:1 [car] (0, 0, 10, 10) -> NEW labels.txt:1 [car]")


def test_jitter_gate_follows_the_config():
    old, new = jitter_case()
    lenient = diff_datasets(old, new, DiffConfig(small_jitter_fail=0.6))
    finding = next(f for f in lenient.findings if f.code == "diff.jitter_small_classes")
    assert finding.severity is Severity.INFO
    strict = diff_datasets(old, new, DiffConfig(jitter_iou=0.95, moved_px=2.0))
    assert strict.stats["boxes"]["jittered"] == 3  # 9/11 and 19/21 (twice) are all < 0.95
    assert strict.stats["boxes"]["moved"] == 1  # only the 5 px shift is >= 2 px


def test_optimal_assignment_beats_greedy():
    """Greedy by IoU would pair a-p (9/11) and leave b, q unpaired (IoU 1/3); the optimal
    assignment pairs a-q and b-p, both IoU 8*10 / (200 - 80) = 2/3."""
    old = build([("a.jpg", 0, 0, 0, 10, 10), ("a.jpg", 0, 3, 0, 10, 10)], CLASSES)
    new = build([("a.jpg", 0, 1, 0, 10, 10), ("a.jpg", 0, -2, 0, 10, 10)], CLASSES)
    result = diff_datasets(old, new)
    assert (result.stats["boxes"]["matched"], result.stats["boxes"]["removed"]) == (2, 0)
    m = result.tables["matched"].sort_values("old_x")
    assert m[["old_x", "new_x"]].to_numpy().tolist() == [[0, -2], [3, 1]]
    assert m["iou"].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert m["shift_px"].tolist() == [2.0, 2.0]


def test_relabelled_needs_the_same_object():
    old = build([("a.jpg", 0, 0, 0, 10, 10), ("a.jpg", 0, 100, 0, 10, 10)], CLASSES)
    new = build([("a.jpg", 2, 1, 0, 10, 10), ("a.jpg", 2, 106, 0, 10, 10)], CLASSES)
    result = diff_datasets(old, new)
    boxes = result.stats["boxes"]
    assert (boxes["relabelled"], boxes["removed"], boxes["added"], boxes["moved"]) == (1, 1, 1, 0)
    rel = result.tables["relabelled"]
    assert (str(rel["old_class"][0]), str(rel["new_class"][0])) == ("car", "truck")
    assert rel["iou"][0] == pytest.approx(9 / 11)  # IoU 40/160 = 0.25 for the other: not the same
    assert result.stats["by_class"]["car"]["relabelled_from"] == 1
    assert result.stats["by_class"]["truck"]["relabelled_to"] == 1


def test_same_class_pairs_before_relabelling():
    """The car pairs with the moved car (IoU 8/12), not with the truck drawn exactly on it
    (IoU 1, another class): that truck is a new label."""
    old = build([("a.jpg", 0, 0, 0, 10, 10)], CLASSES)
    new = build([("a.jpg", 2, 0, 0, 10, 10), ("a.jpg", 0, 2, 0, 10, 10)], CLASSES)
    boxes = diff_datasets(old, new).stats["boxes"]
    assert (boxes["matched"], boxes["moved"], boxes["relabelled"], boxes["added"]) == (1, 1, 0, 1)


def test_reordered_identical_labels_pair():
    old = build([("a.jpg", 0, 0, 0, 10, 10), ("a.jpg", 2, 0, 0, 10, 10), ("a.jpg", 1, 50, 50, 5, 5)], CLASSES)
    new = build([("a.jpg", 1, 50, 50, 5, 5), ("a.jpg", 2, 0, 0, 10, 10), ("a.jpg", 0, 0, 0, 10, 10)], CLASSES)
    result = diff_datasets(old, new)
    assert result.stats["boxes"]["identical"] == 3
    assert result.stats["images"]["changed"] == 0
    pairs = result.tables["matched"][["old_source", "new_source"]].to_numpy().tolist()
    assert pairs == [
        ["labels.txt:1", "labels.txt:3"],
        ["labels.txt:2", "labels.txt:2"],
        ["labels.txt:3", "labels.txt:1"],
    ]


def test_degenerate_and_nan_boxes_pair_with_their_copies():
    """A zero-size or NaN box has no IoU, but an unchanged one is no change."""
    old = build(
        [("a.jpg", 0, 5, 5, 0, 0), ("a.jpg", 0, 20, 20, math.nan, 4), ("a.jpg", 0, 40, 40, 10, 10)], CLASSES
    )
    new = build(
        [("a.jpg", 0, 5.00001, 5, 0, 0), ("a.jpg", 0, 20, 20, math.nan, 4), ("a.jpg", 0, 41, 40, 10, 10)],
        CLASSES,
    )
    result = diff_datasets(old, new)
    boxes = result.stats["boxes"]
    assert (boxes["matched"], boxes["identical"], boxes["moved"], boxes["removed"], boxes["added"]) == (
        3,
        2,
        1,
        0,
        0,
    )
    assert result.stats["jitter"]["by_size_bucket"]["buckets"]["invalid"]["matched"] == 2
    json.dumps(result.to_dict(), allow_nan=False)


def test_images_pair_by_name_then_stem():
    old = pd.DataFrame(
        {
            "file_name": ["train/a.jpg", "val/a.jpg", "b.jpg", "gone.jpg"],
            "split": ["train", "val", "train", "val"],
        }
    )
    new = pd.DataFrame(
        {
            "file_name": ["images/b.png", "a.jpg", "a.jpg", "extra.jpg"],
            "split": ["train", "val", "train", "train"],
        }
    )
    po, pn, by_stem = match_images(old, new)
    assert dict(zip(po.tolist(), pn.tolist(), strict=True)) == {0: 2, 1: 1, 2: 0}
    assert by_stem == 3


def test_images_in_one_version_only_are_reported_not_diffed():
    old = build([("a.jpg", 0, 0, 0, 10, 10), ("gone.jpg", 0, 0, 0, 10, 10)], CLASSES)
    new = build([("a.jpg", 0, 0, 0, 10, 10), ("extra.jpg", 1, 0, 0, 10, 10)], CLASSES, files=["empty.jpg"])
    result = diff_datasets(old, new)
    s = result.stats
    assert (s["images"]["only_old"], s["images"]["only_new"], s["images"]["matched"]) == (1, 2, 1)
    assert (s["boxes"]["in_images_only_old"], s["boxes"]["in_images_only_new"]) == (1, 1)
    assert (s["boxes"]["removed"], s["boxes"]["added"], s["boxes"]["matched"]) == (0, 0, 1)
    assert result.tables["images_only_new"]["image"].tolist() == ["extra.jpg", "empty.jpg"]
    codes = {f.code: f.count for f in result.findings}
    assert codes == {"diff.images_only_old": 1, "diff.images_only_new": 2}


def test_split_moves_are_counted():
    old = build([("a.jpg", 0, 0, 0, 10, 10)], CLASSES)
    images = old.images.assign(split="val")
    new = Dataset.build(
        root=Path("."),
        format="coco",
        boxes=old.boxes[["image_id", "class_id", "x", "y", "w", "h"]],
        images=images[["image_id", "file_name", "path", "split", "width", "height", "status"]],
        classes=CLASSES,
    )
    assert diff_datasets(old, new).stats["images"]["split_changed"] == 1


# --- real data -----------------------------------------------------------------------------------


def test_bccd_real_voc_self_and_perturbed(realdata: Path, tmp_path: Path):
    """BCCD (4,888 boxes, heavily overlapping cells, 2 zero-size boxes): against itself no
    change; against a copy with one edit in each of k + j + i files, exactly those edits."""
    src = realdata / "bccd_voc"
    old = load(src, "voc")
    same = diff_datasets(old, load(src, "voc"))
    assert same.stats["boxes"]["matched"] == same.stats["boxes"]["identical"] == 4888
    assert same.findings == []

    root = tmp_path / "bccd"
    shutil.copytree(src, root)
    rng = np.random.default_rng(11)
    k, j, i, d = 6, 4, 3, 1
    files = sorted((root / "Annotations").glob("*.xml"))
    expected_jitter = 0
    picked = 0
    for xml in (files[c] for c in rng.permutation(len(files))):
        if picked == k + j + i:
            break
        tree = ET.parse(xml)
        objs = tree.getroot().findall("object")
        if not objs:
            continue
        obj = objs[int(rng.integers(len(objs)))]
        bb = obj.find("bndbox")
        x0, x1 = float(bb.findtext("xmin")), float(bb.findtext("xmax"))
        if x1 - x0 < 3 * d:
            continue
        if picked < k:
            bb.find("xmin").text, bb.find("xmax").text = str(int(x0) + d), str(int(x1) + d)
            expected_jitter += (x1 - x0 - d) / (x1 - x0 + d) < 0.9
        elif picked < k + j:
            tree.getroot().remove(obj)
        else:
            obj.find("name").text = "WBC" if obj.findtext("name") != "WBC" else "RBC"
        tree.write(xml)
        picked += 1
    result = diff_datasets(old, load(root, "voc"))
    boxes = result.stats["boxes"]
    assert (boxes["moved"], boxes["removed"], boxes["relabelled"], boxes["added"]) == (k, j, i, 0)
    assert boxes["jittered"] == expected_jitter
    assert result.tables["moved"]["shift_px"].tolist() == [float(d)] * k
    assert result.stats["images"]["changed"] == k + j + i
