"""Recommendations after the plan, on datasets whose right answer is worked out by hand
(the plan itself: tests/test_plan.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from builders import tiny_dataset

from sodaudit.analyzers import anchors, class_overlap, run_all
from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.analyzers.class_overlap_stats import ClassOverlapMergeCandidate
from sodaudit.config import AnchorsConfig, Config, PlanConfig, RecommendConfig
from sodaudit.dataset import Dataset
from sodaudit.loaders import load
from sodaudit.recommend import KINDS, Recommendation, recommend, repeat_factors

LOOSE = RecommendConfig(min_boxes=1, min_count=1)
"""Hand-sized datasets have a few boxes: the noise guards are lowered to judge the rules."""


def _dataset(boxes, images, classes=None, imgsz=640) -> Dataset:
    """boxes: (image_id, class_id, x, y, w, h); images: (image_id, width, height[, split])."""
    return tiny_dataset(boxes, images, classes or {0: "a", 1: "b", 2: "c"}, imgsz)


def _recs(ds: Dataset, config: Config | None = None, results=None) -> list[Recommendation]:
    config = config or Config(recommend=LOOSE)
    return list(recommend(ds, config, results or {}).recommendations)


def _by_kind(recs: list[Recommendation]) -> dict[str, Recommendation]:
    return {r.kind: r for r in recs}


def test_contract_shape():
    ds = _dataset([(1, 0, 10, 10, 4, 4)], [(1, 640, 640)])
    for rec in _recs(ds):
        d = rec.to_dict()
        assert set(d) >= {"kind", "summary", "params", "evidence", "effect"}
        assert d["kind"] in KINDS
        json.dumps(d, allow_nan=False)  # plain JSON values only


def test_large_objects_no_tiling_no_resolution():
    # 200 x 150 px objects in 1920 x 1080: 150 / 3 = 50 px short side at imgsz 640.
    boxes = [(i, 0, 100 + 300 * k, 300, 200, 150) for i in range(1, 31) for k in range(4)]
    recs = _by_kind(_recs(_dataset(boxes, [(i, 1920, 1080) for i in range(1, 31)]), Config()))
    assert not {"resolution", "tiling", "head", "labels", "augmentation", "sampling"} & set(recs)


def test_none_when_nothing_needs_changing():
    # 100 images 640 x 640, one box each of 20, 50 or 150 px: every short side >= 8 px.
    sides = [20] * 41 + [50] * 34 + [150] * 25
    boxes = [(i + 1, 0, 10, 10, s, s) for i, s in enumerate(sides)]
    recs = _recs(_dataset(boxes, [(i, 640, 640) for i in range(1, 101)]), Config())
    assert [r.kind for r in recs] == ["none"]
    assert recs[0].evidence["share_reach_min_side"] == 1.0


TODAY = Config(plan=PlanConfig(max_cost=1.0), recommend=LOOSE)
"""No option fits a 1x cap: the plan keeps today's imgsz, so a rule is judged at scale 1."""


def _head_and_labels_dataset() -> Dataset:
    # 640 x 640 at imgsz 640: 6 boxes 5x5, 4 boxes 2x2, 1 box 1x1.
    sizes = [5] * 6 + [2] * 4 + [1]
    return _dataset([(1, 0, 20 * k, 20, s, s) for k, s in enumerate(sizes)], [(1, 640, 640)])


def test_head_and_label_rules_by_hand():
    # At scale 1 all 11 are below stride 8 (share 1.0 > 0.1); P2 recovers the six 5 px boxes.
    # Remove rule (< 2 px native): the 1x1 box. Ignore rule (< 3 px at model input): the four 2x2.
    recs = _by_kind(_recs(_head_and_labels_dataset(), TODAY))
    assert "tiling" not in recs and "resolution" not in recs
    head = recs["head"]
    assert head.effect["boxes_recovered"] == 6
    assert head.evidence["below_stride"] == 11
    assert head.effect["share_below_after"] == pytest.approx(5 / 11)
    assert head.params["strides"] == [4, 8, 16, 32]
    # Anchor points at 640: (640/8)^2 + (640/16)^2 + (640/32)^2 = 6400 + 1600 + 400 = 8400;
    # with stride 4 another 160^2 = 25600: 34000.
    assert head.params["cost"]["anchor_points_before"] == 8400
    assert head.params["cost"]["anchor_points_after"] == 34000
    labels = recs["labels"]
    assert labels.effect["remove"] == 1 and labels.effect["ignore"] == 4
    assert labels.params["ignore_below_native_px"] == 3.0
    small = labels.evidence["what_small_means"]["native"]["aitod"]
    assert small["very_tiny"] == 11


def test_head_is_judged_at_the_plans_scale():
    # Default cap: 5 * c / 640 >= 8 needs c >= 1024 ((1024/640)^2 = 2.56x), which reaches the
    # six 5 px boxes (6/11); no larger imgsz within 4x reaches the 2 px ones (2 * 1280/640 = 4).
    # At 1024 the 2 px boxes are 3.2 px: below stride 8 and below 4, so P2 recovers none.
    recs = _by_kind(_recs(_head_and_labels_dataset(), Config(recommend=LOOSE)))
    assert recs["resolution"].params["imgsz"] == 1024
    assert "head" not in recs


def test_yolo_rounding_does_not_change_the_policy():
    # A 2 px box stored by YOLO to 8 decimals comes back as 1.999998 px: not "below 2 px".
    boxes = [(1, 0, 10, 10, 2 * 0.999999, 2 * 0.999999)]
    labels = _by_kind(_recs(_dataset(boxes, [(1, 640, 640)]), TODAY))["labels"]
    assert labels.effect["remove"] == 0 and labels.effect["ignore"] == 1


def _sampling_dataset() -> Dataset:
    # 20 train images 640 x 640 (+1 val): class a has a small (4 px) object in image 1 only,
    # class b a small one in images 2..10; images 11..20 hold one 200 px b box each.
    boxes = [(1, 0, 10, 10, 4, 4)] + [(i, 1, 10, 10, 4, 4) for i in range(2, 11)]
    boxes += [(i, 1, 10, 10, 200, 200) for i in range(11, 21)]
    images = [(i, 640, 640) for i in range(1, 21)] + [(21, 640, 640, "val")]
    return _dataset(boxes, images)


def test_repeat_factor_sampling_by_hand():
    # LVIS rule with t = 0.5: f(a) = 1/20 -> r = sqrt(0.5 / 0.05) = sqrt(10) = 3.162;
    # f(b) = 9/20 -> r = sqrt(0.5 / 0.45) = 1.054. Epoch 10 + 9 * 1.054 + 3.162 = 22.65 images;
    # images with small objects: 10/20 of the draws before, (3.162 + 9 * 1.054) / 22.65 after.
    ra, rb = math.sqrt(10), math.sqrt(0.5 / 0.45)
    cfg = Config(
        plan=PlanConfig(max_cost=1.0), recommend=RecommendConfig(min_boxes=1, min_count=1, repeat_thresh=0.5)
    )
    rec = _by_kind(_recs(_sampling_dataset(), cfg))["sampling"]
    assert rec.params["per_class"]["a"] == {"repeat_factor": round(ra, 3), "images": 1}
    assert rec.params["per_class"]["b"]["repeat_factor"] == round(rb, 3)
    assert rec.evidence["num_images"] == 20 and rec.evidence["split"] == "train"
    assert rec.effect["images_repeated"] == 10
    epoch = 10 + 9 * rb + ra
    assert rec.effect["epoch_images_after"] == round(epoch)
    assert rec.effect["share_of_draws_with_small_before"] == pytest.approx(0.5)
    assert rec.effect["share_of_draws_with_small_after"] == pytest.approx((ra + 9 * rb) / epoch)
    # The cap: at most 2 repeats; a class needs min_count small instances to count as rare.
    capped = Config(
        plan=PlanConfig(max_cost=1.0),
        recommend=RecommendConfig(min_boxes=1, min_count=1, repeat_thresh=0.5, max_repeat=2.0),
    )
    assert _by_kind(_recs(_sampling_dataset(), capped))["sampling"].effect["max_repeat_factor"] == 2.0
    strict = Config(
        plan=PlanConfig(max_cost=1.0),
        recommend=RecommendConfig(min_boxes=1, min_count=2, repeat_thresh=0.5),
    )
    assert "a" not in _by_kind(_recs(_sampling_dataset(), strict))["sampling"].params["per_class"]


def test_repeat_factors_are_lvis_square_root_rule():
    # Class 0 in 1 of 10 images (r = sqrt(0.4 / 0.1) = 2), class 1 in 4 of 10 (twice in image 3):
    # f = 0.4 = t, so r = 1.
    r = repeat_factors(np.array([0, 2, 3, 3, 4, 5]), np.array([0, 1, 1, 1, 1, 1]), 10, 0.4)
    assert r.tolist() == pytest.approx([math.sqrt(0.4 / 0.1), 1.0])


def test_augmentation_survival_by_hand():
    # 10 boxes 4x4 and 10 boxes 20x20 at scale 1. A box survives scaling by s when 4 s > 2 px:
    # at 0.5 the 4 px boxes become 2 px and are dropped (50%); at 0.55 they are 2.2 px.
    boxes = [(1, 0, 10 * k, 10, 4, 4) for k in range(10)] + [(2, 0, 25 * k, 10, 20, 20) for k in range(10)]
    ds = _dataset(boxes, [(1, 640, 640), (2, 640, 640)])
    rec = _by_kind(_recs(ds, TODAY))["augmentation"]
    assert rec.effect["drop_share_at_min_scale"] == pytest.approx(0.5)
    assert rec.effect["drop_share_at_1"] == 0.0
    assert rec.params["min_scale"] == pytest.approx(0.55)
    assert rec.params["ultralytics_scale"] == pytest.approx(0.45)
    # Under the plan (imgsz 1280: 4 * 1280 / 640 = 8 px reaches stride 8, cost 4x) the 4 px
    # boxes are 8 px; at 0.5x they keep 4 px > 2: scale augmentation drops nothing more.
    assert "augmentation" not in _by_kind(_recs(ds))


def _candidate(a: str, b: str, reasons=("small_alike",), accuracy=None) -> ClassOverlapMergeCandidate:
    cand = ClassOverlapMergeCandidate(
        class_a=a,
        class_b=b,
        n_a=40,
        n_b=40,
        reasons=list(reasons),
        pairs=0,
        share_a=0.0,
        share_b=0.0,
        median_px_a=4.0,
        median_px_b=4.0,
        ks_size=0.1,
        ks_aspect=0.1,
    )
    if accuracy is not None:
        cand.appearance.balanced_accuracy = accuracy
    return cand


def _with_candidates(ds: Dataset, *cands: ClassOverlapMergeCandidate) -> dict[str, AnalyzerResult]:
    stats = class_overlap.analyze(ds, Config()).stats  # every field, then the candidates
    stats.merge_candidates = list(cands)
    return {"class_overlap": AnalyzerResult("class_overlap", "t", stats)}


def test_merges_chain_into_groups():
    boxes = [(1, 0, 0, 0, 4, 4)] * 5 + [(1, 1, 0, 0, 4, 4)] * 3 + [(1, 2, 0, 0, 4, 4)] * 2
    ds = _dataset(boxes, [(1, 640, 640)])
    results = _with_candidates(ds, _candidate("a", "b"), _candidate("b", "c"))
    rec = _by_kind(_recs(ds, TODAY, results))["merges"]
    # a-b and b-c chain into one group: 3 classes -> 1; boxes relabelled = 3 + 2 (all but a's 5)
    assert rec.params["groups"] == [["a", "b", "c"]]
    assert rec.effect == {"classes_before": 3, "classes_after": 1, "boxes_relabelled": 5}
    assert rec.to_dict()["evidence"]["candidates"][0]["appearance"] == {}  # as in report.json


def _thin_boxes() -> Dataset:
    # One 1600 x 1200 image, 60 boxes of class a and 60 of b, each 10 x 40 px: short side 10,
    # sqrt(area) 20. At 640 (scale 0.4): short 4 px, sqrt(area) 8 px (< 12: too small to tell
    # apart). The plan: 10 * c / 1600 >= 8 -> c = 1280 (cost 4.0); there sqrt(area) = 16 px.
    boxes = [(1, k % 2, 20 * (k % 60), 50 * (k // 60), 10, 40) for k in range(120)]
    return _dataset(boxes, [(1, 1600, 1200)])


def test_merges_are_judged_at_the_plans_scale():
    ds = _thin_boxes()
    results = _with_candidates(ds, _candidate("a", "b"))
    today = _by_kind(_recs(ds, TODAY, results))
    assert today["merges"].params["pairs"] == [["a", "b"]]
    judged = today["merges"].evidence["judged_at_plan"][0]
    assert judged["median_px_a_at_plan"] == pytest.approx(8.0)
    planned = _by_kind(_recs(ds, Config(recommend=LOOSE), results))
    assert planned["resolution"].params["imgsz"] == 1280
    assert "merges" not in planned  # 16 px medians at the plan's scale: moot


@pytest.mark.parametrize(
    ("candidate", "merged"),
    [
        (_candidate("a", "b"), True),
        (_candidate("a", "b", reasons=("colocation",)), False),  # a labelling pattern, not a merge
        (_candidate("a", "b", accuracy=0.9), False),  # the crops tell them apart
        (_candidate("a", "b", accuracy=0.55), True),  # near chance (0.5): they look alike
    ],
)
def test_merge_rules(candidate, merged):
    ds = _thin_boxes()
    recs = _by_kind(_recs(ds, TODAY, _with_candidates(ds, candidate)))
    assert ("merges" in recs) is merged


def test_merges_need_enough_boxes():
    ds = _thin_boxes()  # 60 boxes per class
    cfg = Config(plan=PlanConfig(max_cost=1.0), recommend=RecommendConfig(min_boxes=1, min_count=61))
    cand = _candidate("a", "b")
    cand.n_a = cand.n_b = 60
    assert "merges" not in _by_kind(_recs(ds, cfg, _with_candidates(ds, cand)))


def test_anchors_for_ratio_model_by_hand():
    # Boxes w 2..7 x h 2..4 px in 0.5 px steps at imgsz 640 (scale 1), 55 distinct sizes. The
    # ratio rule covers a box when both side ratios are within 4 (strictly, as YOLOv5's
    # best > 1 / thr): only the smallest anchor (10, 13) can, for w > 2.5 and h > 3.25 (every
    # other anchor has a side >= 16 > 4 * 4): w in 3..7 (9 widths) x h in {3.5, 4}: 18 of 55.
    # k-means centres are means of boxes, so they lie inside [2, 7] x [2, 4]: every side ratio
    # is <= 7 / 2 = 3.5 < 4 and every box is covered: BPR 1 (no evolution, to keep it exact).
    widths = np.arange(2, 7.01, 0.5)
    heights = np.arange(2, 4.01, 0.5)
    boxes = [(1, 0, 10 * k, 10 * j, w, h) for k, w in enumerate(widths) for j, h in enumerate(heights)] * 2
    ds = _dataset(boxes, [(1, 640, 640)])
    cfg = Config(
        model="yolov5",
        anchors=AnchorsConfig(evolve_generations=0),
        plan=PlanConfig(max_cost=1.0),
        recommend=LOOSE,
    )
    rec = _by_kind(_recs(ds, cfg))["anchors"]
    covered = sum(1 for w in widths for h in heights if w > 2.5 and h > 3.25)
    assert covered == 18
    assert rec.effect["bpr_before"] == pytest.approx(covered / 55)
    assert rec.effect["bpr_after"] == 1.0
    assert "anchors:" in rec.params["yaml"]


def test_anchors_are_judged_at_the_plans_scale():
    # Boxes 7..8 px (55 sizes) in 1600 x 1200 images: 2.8..3.2 px at 640, and the smallest
    # YOLOv5 anchor (10, 13) needs h > 13 / 4 = 3.25: BPR 0. The plan (max_imgsz 2048, cap 16x)
    # takes 7 * c / 1600 >= 8 -> c >= 1828.6 -> 1856 ((1856/640)^2 = 8.41x): the boxes are then
    # 8.1..9.3 px, 13 / 8.1 = 1.6 < 4 and 10 / 9.3 < 4: BPR 1, no new anchors.
    sizes = [(w, h) for w in np.linspace(7, 8, 11) for h in np.linspace(7, 8, 5)] * 2
    boxes = [(1, 0, 20 * (k % 50), 20 * (k // 50), w, h) for k, (w, h) in enumerate(sizes)]
    ds = _dataset(boxes, [(1, 1600, 1200)])
    today = Config(model="yolov5", plan=PlanConfig(max_cost=1.0), recommend=LOOSE)
    assert _by_kind(_recs(ds, today))["anchors"].evidence["bpr"] == 0.0
    planned = Config(model="yolov5", plan=PlanConfig(max_imgsz=2048, max_cost=16.0), recommend=LOOSE)
    recs = _by_kind(_recs(ds, planned))
    assert recs["resolution"].params["imgsz"] == 1856
    assert "anchors" not in recs


def test_anchor_free_model_gets_no_anchor_recommendation():
    boxes = [(1, 0, 10 * k, 10, 3, 3) for k in range(30)]
    ds = _dataset(boxes, [(1, 640, 640)])
    assert "anchors" not in _by_kind(_recs(ds, TODAY, {"anchors": anchors.analyze(ds, Config())}))


def test_sample_data_first_screen(sample_data):
    scene = json.loads((sample_data / "scene.json").read_text())
    boxes = [
        b for img in scene["images"] for b in img["boxes"] if not b["ignore"] and b["w"] > 0 and b["h"] > 0
    ]
    short = np.array([min(b["w"], b["h"]) for b in boxes], float)
    ds = load(sample_data / "coco")
    cfg = Config()
    advice = recommend(ds, cfg, run_all(ds, cfg))
    by = _by_kind(list(advice.recommendations))
    # 1920 x 1080 images: at imgsz c the short side is short * c / 1920. No option reaches 90%
    # within 4x; the most reaching one within the cap is the largest imgsz, 1280 ((1280/640)^2 =
    # 4): tiles that reach more cost more (960 px tiles: 3 x 2 = 6 per image).
    tol = 1e-3
    assert (advice.plan.primary, advice.plan.chosen.imgsz) == ("resolution", 1280)
    assert advice.plan.current_share == pytest.approx(np.mean(short * 640 / 1920 >= 8 - tol))
    assert by["resolution"].effect["share_after"] == pytest.approx(np.mean(short * 1280 / 1920 >= 8 - tol))
    after = short * 1280 / 1920
    assert by["head"].effect["boxes_recovered"] == int(np.sum((after < 8 - tol) & (after >= 4 - tol)))
    # Ignore rule at the plan's scale: short side < 3 px at model input, not removed (>= 2 native).
    assert by["labels"].effect["ignore"] == int(np.sum((after < 3 - tol) & (short >= 2 - tol)))


def _realdata_coco_boxes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Short side and image long side of every valid non-crowd box, straight from the JSON files."""
    short, long_ = [], []
    for f in sorted((path / "annotations").glob("instances_*.json")):
        data = json.loads(f.read_text())
        size = {i["id"]: max(i["width"], i["height"]) for i in data["images"]}
        for a in data["annotations"]:
            w, h = a["bbox"][2], a["bbox"][3]
            if a.get("iscrowd", 0) or not (w > 0 and h > 0) or a["image_id"] not in size:
                continue
            short.append(min(w, h))
            long_.append(size[a["image_id"]])
    return np.array(short, float), np.array(long_, float)


def test_realdata_coco_mini(realdata):
    path = realdata / "coco_mini"
    short, long_ = _realdata_coco_boxes(path)
    ds = load(path)
    cfg = Config()
    advice = recommend(ds, cfg, run_all(ds, cfg))
    recs = _by_kind(list(advice.recommendations))
    share = float(np.mean(short * 640 / long_ >= 8 - 1e-3))
    assert share >= 0.9  # large enough already: no resolution change, no tiling
    assert advice.plan.primary == "none" and advice.plan.current_share == pytest.approx(share)
    assert "resolution" not in recs and "tiling" not in recs
    # README: lt3@640 is 2 (train) + 2 (val) = 4 labels: fewer than recommend.min_count, no policy
    assert "labels" not in recs


def test_realdata_coco_mini_at_1280_never_plans_smaller(realdata):
    ds = load(realdata / "coco_mini" / "annotations" / "instances_val2017.json", imgsz=1280)
    cfg = Config(imgsz=1280)
    advice = recommend(ds, cfg, run_all(ds, cfg))
    assert advice.plan.chosen.imgsz >= 1280
    assert all(o.imgsz >= 1280 for o in advice.plan.options)
    assert "scale_match" not in {r.kind for r in advice.recommendations}


@pytest.mark.parametrize("name", ["bccd_voc", "ships_yolo"])
def test_realdata_no_resolution_change(realdata, name):
    ds = load(realdata / name)
    cfg = Config()
    recs = recommend(ds, cfg, run_all(ds, cfg)).recommendations
    kinds = {r.kind for r in recs}
    assert not kinds & {"resolution", "tiling", "head", "sampling"}
    for r in recs:
        json.dumps(r.to_dict(), allow_nan=False)
        assert math.isfinite(r.priority)


def test_fix_data_groups_errors_by_root_cause():
    from sodaudit.catalogue import spec_of
    from sodaudit.findings import Finding
    from sodaudit.recommend.fix_data import fix_data_rec

    findings = [
        Finding.of("integrity.unknown_class", "ids past nc", "integrity", count=150),
        Finding.of("load.split_path_missing", "val path missing", "integrity", count=1),
        Finding.of("sizes.mostly_small", "a note", "sizes"),  # info: not a data fix
        Finding.of("integrity.duplicate_box", "dupes", "integrity", count=3),  # a warning
        Finding.of("baseline.bpr", "worse than last time", "baseline"),  # a regression, not data
    ]
    rec = fix_data_rec(findings)
    assert rec is not None and rec.kind == "fix_data" and rec.priority == 0
    assert rec.params["codes"] == ["integrity.unknown_class", "load.split_path_missing"]
    assert f"{spec_of('integrity.unknown_class').meaning} (150)" in rec.summary
    assert spec_of("load.split_path_missing").fix in rec.summary
    assert rec.evidence["problems"][0]["fix"] == spec_of("integrity.unknown_class").fix
    assert fix_data_rec(findings[2:]) is None
