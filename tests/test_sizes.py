"""Sizes analyzer: bucket counts, quantiles, aspect, crowding and heatmap, worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import msgspec
import pytest
from builders import tiny_dataset

from sodaudit.analyzers import sizes
from sodaudit.config import Config, SizesConfig
from sodaudit.jsonable import jsonable


def build(images, boxes, classes=None, imgsz=640):
    """images: (id, w, h, split); boxes: (image_id, class_id, x, y, w, h[, ignore])."""
    return tiny_dataset(boxes, images, classes, imgsz)


# Image 1: 640x480 (scale 640/640 = 1), image 2: 1280x640 (scale 0.5), image 3: no boxes.
IMAGES = [(1, 640, 480, "train"), (2, 1280, 640, "val"), (3, 100, 100, "train")]
BOXES = [
    (1, 0, 0, 0, 4, 4),  # area 16, sqrt 4
    (1, 0, 10, 10, 10, 10),  # area 100, sqrt 10
    (1, 0, 20, 20, 31, 33),  # area 1023 (COCO small), sqrt 31.98
    (1, 0, 30, 30, 32, 32),  # area 1024 (COCO medium), sqrt 32
    (1, 0, 40, 40, 96, 96),  # area 9216 (COCO large), sqrt 96
    (1, 0, 50, 50, 2, 50),  # area 100, sqrt 10, w/h 0.04 (tall)
    (1, 0, 60, 60, 1, 3),  # area 3, sqrt 1.73 (< 2: below TinyPerson), w/h 1/3
    (2, 1, 0, 0, 20, 20),  # area 400, sqrt 20; at model 10
    (2, 1, 0, 0, 64, 64),  # area 4096, sqrt 64; at model 32
    (2, 1, 0, 0, 200, 10),  # area 2000, sqrt 44.72; at model 22.36; w/h 20 (wide)
    (1, 0, 0, 0, 1, 1, True),  # ignored: never counted
    (2, 1, 0, 0, 0, 5),  # w = 0: invalid, never counted
]


@pytest.fixture
def result():
    return sizes.analyze(build(IMAGES, BOXES), Config())


def test_buckets_native_by_hand(result):
    b = result.stats.buckets
    # area < 1024: 16, 100, 1023, 100, 3, 400 -> 6; < 9216: 1024, 4096, 2000 -> 3; 9216 -> 1
    assert b.coco == sizes.SizesCocoBuckets(small=6, medium=3, large=1)
    # sqrt < 8: 4, 1.73; < 16: 10, 10; < 32: 31.98, 20; rest: 32, 96, 64, 44.72
    assert b.aitod.as_dict() == {"very_tiny": 2, "tiny": 2, "small": 2, "other": 4}
    # [2,8): 4; [8,12): 10, 10; [12,20): none; [20,32): 31.98, 20; < 2: 1.73
    assert b.tinyperson.as_dict() == {
        "below_2": 1,
        "tiny1": 1,
        "tiny2": 2,
        "tiny3": 0,
        "small": 2,
        "other": 4,
    }
    # image 1 area 307200: bounds 30.72 / 307.2 / 3072 px^2; image 2 area 819200: 81.92 / 819.2
    # / 8192. <0.01%: 16, 3; [0.01,0.1)%: 100, 100, 400; [0.1,1)%: 1023, 1024, 4096, 2000;
    # >=1%: 9216
    assert b.relative == {"<0.01%": 2, "[0.01%,0.1%)": 3, "[0.1%,1%)": 4, ">=1%": 1}
    assert b.relative_bounds == [0.0001, 0.001, 0.01]


def test_buckets_at_model_input_by_hand(result):
    m = result.stats.buckets_model
    # image 1 unchanged; image 2 halves: sqrt 10, 32, 22.36.
    # < 32: 4, 10, 31.98, 10, 1.73, 10, 22.36 -> 7; < 96: 32, 32 -> 2; 96 -> 1
    assert m.coco.as_dict() == {"small": 7, "medium": 2, "large": 1}
    # < 8: 4, 1.73; < 16: 10, 10, 10; < 32: 31.98, 22.36; rest: 32, 96, 32
    assert m.aitod.as_dict() == {"very_tiny": 2, "tiny": 3, "small": 2, "other": 3}


def test_counts_groups_and_aspect(result):
    s = result.stats
    assert s.num_boxes == 10
    assert s.per_class["car"].count == 7
    assert s.per_class["person"].count == 3
    # person sqrt areas 20, 64, sqrt(2000): median sqrt(2000); at model half of it
    person = s.per_class["person"]
    assert person.native.sqrt_area["p50"] == pytest.approx(math.sqrt(2000))
    assert person.model.sqrt_area["p50"] == pytest.approx(math.sqrt(2000) / 2)
    # person short sides 20, 64, 10: median 20
    assert person.native.short_side["p50"] == pytest.approx(20)
    assert s.per_split["train"].count == 7
    assert s.per_split["val"].count == 3
    a = s.aspect
    # w/h: 20 > 4 (wide), 0.04 < 1/4 (tall); 1/3 is not extreme
    assert (a.wide, a.tall) == (1, 1)
    assert a.share_extreme == pytest.approx(0.2)
    assert a.quantiles["p50"] == pytest.approx(1.0)


def test_per_image_caps_by_hand():
    config = Config(sizes=SizesConfig(max_det_caps=(("two", 2), ("five", 5))))
    s = sizes.analyze(build(IMAGES, BOXES), config).stats.per_image
    # boxes per image: 7, 3, 0 (ignored and invalid boxes do not count)
    assert s.num_images == 3
    assert s.max == 7
    assert s.quantiles["p50"] == 3
    assert s.mean == pytest.approx(10 / 3)
    assert s.caps["two"] == sizes.SizesCap(cap=2, images_over=2, boxes_beyond=(7 - 2) + (3 - 2))
    assert s.caps["five"] == sizes.SizesCap(cap=5, images_over=1, boxes_beyond=2)


def test_mostly_small_finding(result):
    found = {f.code: f for f in result.findings}
    f = found["sizes.mostly_small"]
    assert f.count == 7  # 7 of 10 COCO-small at model input
    assert f.value == pytest.approx(0.7)
    assert "7 of 10 labels" in f.message and "imgsz 640" in f.message
    assert "sizes.crowded_images" not in found
    assert "sizes.extreme_aspect" in found  # 2 of 10 = 20% > 5%


def crowded_coco(tmp_path: Path, per_image: tuple[int, ...]) -> Path:
    """A COCO file with one 640x640 image per entry of ``per_image``, holding that many 10x10
    boxes (each with area 100)."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 640} for i in range(len(per_image))]
    annotations = [
        {
            "id": 1000 * i + k,
            "image_id": i,
            "category_id": 1,
            "bbox": [k, 0, 10, 10],
            "area": 100,
            "iscrowd": 0,
        }
        for i, n in enumerate(per_image)
        for k in range(n)
    ]
    path = tmp_path / "instances_train.json"
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "car"}]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("model", "fmt", "expected"),
    [
        # image 0 is one over 100 (COCOeval's maxDets and retinanet's max_det), image 1 is at it:
        # one image over, one box beyond either cap of 100; nothing past yolov8's 300
        ("yolov8", "coco", {"sizes.over_eval_max_dets": "error"}),
        ("retinanet", "coco", {"sizes.over_eval_max_dets": "error", "sizes.crowded_images": "error"}),
        # not COCO: its evaluator is not pycocotools, so COCOeval's cap is a note
        ("yolov8", "test", {"sizes.over_eval_max_dets": "info"}),
        ("retinanet", "test", {"sizes.over_eval_max_dets": "info", "sizes.crowded_images": "error"}),
    ],
)
def test_images_over_a_detection_cap(tmp_path: Path, model: str, fmt: str, expected: dict):
    from sodaudit.loaders import load

    if fmt == "coco":
        ds = load(crowded_coco(tmp_path, (101, 100)))
    else:
        boxes = [(0, 0, i, 0, 10, 10) for i in range(101)] + [(1, 0, i, 0, 10, 10) for i in range(100)]
        ds = build([(0, 640, 640, "train"), (1, 640, 640, "train")], boxes)
    result = sizes.analyze(ds, Config(model=model))
    found = {
        f.code: f for f in result.findings if f.code in ("sizes.over_eval_max_dets", "sizes.crowded_images")
    }
    assert {code: f.severity.value for code, f in found.items()} == expected
    for f in found.values():
        assert (f.count, f.threshold) == (1, 100)
        assert "1 image has more than 100 labels (up to 101)" in f.message
        assert "1 label beyond the cap" in f.message
        assert f.examples == ("0.jpg (101 boxes)",)
    caps = result.stats.per_image.caps
    assert caps["COCOeval"] == sizes.SizesCap(cap=100, images_over=1, boxes_beyond=1)
    assert caps["YOLO"].images_over == 0


def test_the_evaluator_cap_is_the_cocoeval_entry_of_the_caps(tmp_path: Path):
    """A team evaluating with maxDets=500 says so in ``sizes.max_det_caps``: 101 boxes pass."""
    from sodaudit.loaders import load

    config = Config(sizes=SizesConfig(max_det_caps=(("COCOeval", 500),)))
    result = sizes.analyze(load(crowded_coco(tmp_path, (101,))), config)
    assert not [f for f in result.findings if f.code == "sizes.over_eval_max_dets"]


def test_quantiles_linear_interpolation():
    # squares of side 1..101 in a 1000x1000 image (scale 0.64): sorted values k = 1..101;
    # linear percentile p -> 1 + p/100 * 100 = 1 + p
    boxes = [(1, 0, 0, 0, k, k) for k in range(1, 102)]
    ds = build([(1, 1000, 1000, "train")], boxes)
    q = sizes.analyze(ds, Config()).stats.quantiles
    for p in (1, 5, 10, 25, 50, 75, 90, 95, 99):
        key = f"p{p}"
        assert q.native.sqrt_area[key] == pytest.approx(1 + p)
        assert q.native.short_side[key] == pytest.approx(1 + p)
        assert q.native.long_side[key] == pytest.approx(1 + p)
        assert q.model.sqrt_area[key] == pytest.approx(0.64 * (1 + p))


def test_heatmap_shares_by_hand():
    # 100x100 image, 2x2 grid; rows are y. Centres: (25,25) row0/col0, (75,25) row0/col1,
    # (75,75) twice row1/col1, (110,65) past the right edge -> clipped into row1/col1.
    boxes = [
        (1, 0, 20, 20, 10, 10),
        (1, 0, 70, 20, 10, 10),
        (1, 0, 70, 70, 10, 10),
        (1, 1, 65, 65, 20, 20),
        (1, 0, 100, 60, 20, 10),
    ]
    ds = build([(1, 100, 100, "train")], boxes)
    h = sizes.analyze(ds, Config(sizes=SizesConfig(heatmap_bins=2))).stats.heatmap
    assert h.bins == 2
    assert h.shares == [[pytest.approx(0.2), pytest.approx(0.2)], [0.0, pytest.approx(0.6)]]


def test_empty_dataset_is_json_and_quiet():
    ds = build([(1, 100, 100, "train")], [])
    result = sizes.analyze(ds, Config())
    s = result.stats
    assert s.num_boxes == 0
    assert s.buckets.coco == sizes.SizesCocoBuckets(small=0, medium=0, large=0)
    assert math.isnan(s.quantiles.native.sqrt_area["p50"])
    assert result.findings == []
    assert jsonable(s)["quantiles"]["native"]["sqrt_area"]["p50"] is None  # NaN is null in JSON
    json.dumps(jsonable(s), allow_nan=False)


def test_stats_are_typed_and_plain_json(result):
    """The stats are a SizesStats whose JSON data decodes back to the same SizesStats."""
    assert isinstance(result.stats, sizes.SizesStats)

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        else:
            assert v is None or type(v) in (int, float, str, bool), (type(v), v)

    data = jsonable(result.stats)
    walk(data)
    assert msgspec.json.decode(json.dumps(data), type=sizes.SizesStats) == result.stats


@pytest.mark.parametrize(
    "relative, expected",
    [
        (
            "coco_mini/annotations/instances_train2017.json",
            {"small": 222, "medium": 309, "large": 200},
        ),
        (
            "coco_mini/annotations/instances_val2017.json",
            {"small": 224, "medium": 178, "large": 217},
        ),
    ],
)
def test_coco_buckets_on_real_data(realdata: Path, relative: str, expected: dict):
    from sodaudit.loaders import load

    stats = sizes.analyze(load(realdata / relative), Config()).stats
    assert stats.buckets.coco.as_dict() == expected


def test_bccd_small_on_real_data(realdata: Path):
    from sodaudit.loaders import load

    stats = sizes.analyze(load(realdata / "bccd_voc"), Config()).stats
    assert stats.buckets.coco.small == 39


def test_coco_area_buckets_follow_cocoeval_by_hand(tmp_path: Path):
    """COCOeval's ranges are inclusive at both ends ([0, 32²], [32², 96²], [96², 1e5²]), crowd
    is ignored in every range, and a category the file does not declare is never evaluated."""
    from sodaudit.loaders import load

    # (area, iscrowd, category): in small / medium / large by hand
    rows = [
        (0.0, 0, 1),  # small
        (1024.0, 0, 1),  # small and medium: both bounds are inclusive
        (5000.0, 0, 1),  # medium
        (9216.0, 0, 1),  # medium and large
        (1e10, 0, 1),  # large (the upper bound, inclusive)
        (1e10 + 1, 0, 1),  # above every range: in none
        (500.0, 1, 1),  # crowd: ignored
        (500.0, 0, 7),  # category 7 is not in categories: not evaluated
    ]
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 640}],
        "annotations": [
            {"id": k, "image_id": 1, "category_id": c, "bbox": [0, 0, 10, 10], "area": a, "iscrowd": z}
            for k, (a, z, c) in enumerate(rows)
        ],
        "categories": [{"id": 1, "name": "car"}],
    }
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    buckets = sizes.analyze(load(path), Config()).stats.buckets
    assert buckets.coco_area == sizes.SizesCocoAreaBuckets(small=2, medium=3, large=2)
    # by w*h (100 each): every valid non-crowd box, the undeclared category too
    assert buckets.coco.as_dict() == {"small": 7, "medium": 0, "large": 0}


def test_coco_area_buckets_are_null_without_an_area_field(result):
    assert result.stats.buckets.coco_area is None
    assert jsonable(result.stats)["buckets"]["coco_area"] is None


def _pycocotools_area_counts(annotation_file: Path) -> dict[str, int]:
    """pycocotools' own count: COCOeval with the ground truth as detections (score 1), then per
    area range the ground truths it does not ignore (gtIgnore == 0) in evalImgs."""
    pytest.importorskip("pycocotools")
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotation_file))
        dets = [
            {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
            for a in gt.dataset["annotations"]
        ]
        evaluator = COCOeval(gt, gt.loadRes(dets), "bbox")
        evaluator.evaluate()
    counts = dict.fromkeys(evaluator.params.areaRngLbl, 0)
    for entry in evaluator.evalImgs:
        if entry is not None:
            label = evaluator.params.areaRngLbl[evaluator.params.areaRng.index(list(entry["aRng"]))]
            counts[label] += int((entry["gtIgnore"] == 0).sum())
    return {name: counts[name] for name in ("small", "medium", "large")}


@pytest.mark.parametrize(
    "relative",
    ["coco_mini/annotations/instances_val2017.json", "sahi_coco/area_field_wrong.json"],
)
def test_coco_area_buckets_equal_pycocotools(realdata: Path, relative: str):
    from sodaudit.loaders import load

    path = realdata / relative
    expected = _pycocotools_area_counts(path)
    stats = sizes.analyze(load(path), Config()).stats
    assert stats.buckets.coco_area is not None
    assert stats.buckets.coco_area.as_dict() == expected


def test_html_shows_cocoeval_buckets_when_the_area_field_exists(realdata):
    """The view shows COCOeval's own buckets (JSON numbers, checked against pycocotools in
    test_blockers/test_sizes) next to the w*h ones; a YOLO dataset has no such line."""
    from sodaudit.pipeline import audit

    report = audit(realdata / "coco_mini" / "annotations" / "instances_val2017.json")
    b = report.to_dict()["analyzers"]["sizes"]["stats"]["buckets"]["coco_area"]
    html = report.to_html()
    assert f"{b['small']} small, {b['medium']} medium, {b['large']} large; AP small/medium/large" in html
    assert "COCOeval itself" not in audit(realdata / "ships_yolo").to_html()
