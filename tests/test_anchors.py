"""Anchor coverage (ratio and IoU rules) and suggested anchors, against hand-computed values."""

from __future__ import annotations

import inspect
import itertools
import json
import math

import msgspec
import numpy as np
import pytest
import yaml
from builders import tiny_dataset

from sodaudit.analyzers import anchor_fit, anchor_match, anchor_suggest, anchors
from sodaudit.analyzers.anchors_stats import AnchorsIouPreset, AnchorsRatioGroup
from sodaudit.config import AnchorsConfig, Config
from sodaudit.dataset import Dataset
from sodaudit.findings import Severity
from sodaudit.models import MODELS, ModelPreset


def _dataset(boxes: list[tuple], images: list[tuple] | None = None) -> Dataset:
    """boxes: (image_id, class_id, x, y, w, h[, ignore]); images: (image_id, width, height)."""
    return tiny_dataset(boxes, images)


def _plain_json(value: object) -> None:
    """Stats must be plain Python values: no numpy scalars sneaking into report.json."""
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            _plain_json(getattr(value, name))
    elif isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str
            _plain_json(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _plain_json(v)
    else:
        assert value is None or type(value) in (int, float, str, bool), (value, type(value))


def _json(value: object) -> object:
    """``value`` as it reads in report.json."""
    return json.loads(msgspec.json.encode(value))


# --- ratio rule -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("w", "h", "aw", "ah", "m", "covered"),
    [
        # r = (8/10, 8/13) = (0.8, 0.615...); min(r, 1/r) = (0.8, 0.615); m = 0.615 > 1/4
        (8, 8, 10, 13, 8 / 13, True),
        # r = (0.2, 0.1538); m = 2/13 = 0.154 < 0.25
        (2, 2, 10, 13, 2 / 13, False),
        # r = (4, 1): min(4, 1/4) = 0.25, not > 0.25 (strict, as YOLOv5)
        (40, 10, 10, 10, 0.25, False),
        # r = (2, 0.5) -> (0.5, 0.5)
        (20, 5, 10, 10, 0.5, True),
        (10, 10, 10, 10, 1.0, True),
    ],
)
def test_ratio_metric_closed_form(w, h, aw, ah, m, covered):
    count, best = anchor_match.ratio_match(np.array([[w, h]], float), np.array([[aw, ah]], float), 4.0)
    assert best[0] == pytest.approx(m)
    assert count[0] == int(covered)


def test_bpr_three_boxes_by_hand():
    # At imgsz 640, YOLOv5 anchors 10,13 16,30 33,23 | 30,61 62,45 59,119 | 116,90 156,198 373,326.
    # 2x2:     best m = 2/13 = 0.154 (10x13) -> covered by 0 anchors.
    # 8x8:     10x13 -> 0.615 yes; 16x30 -> min(0.5, 0.267) = 0.267 yes; 33x23 -> 0.242 no;
    #          30x61 -> 0.131 no; all larger anchors smaller still -> 2 anchors.
    # 100x100 (native 200x200 in a 1280x720 image, scale 0.5): 10x13 0.1 no; 16x30 0.16 no;
    #          33x23 min(0.33, 0.23) no; 30x61 0.3 yes; 62x45 0.45 yes; 59x119 0.59 yes;
    #          116x90 0.86 yes; 156x198 0.505 yes; 373x326 0.268 yes -> 6 anchors.
    # BPR = 2/3; anchors per target = (0 + 2 + 6) / 3 = 8/3.
    ds = _dataset(
        [
            (0, 0, 10, 10, 2, 2),
            (0, 1, 50, 50, 8, 8),
            (1, 0, 0, 0, 200, 200),
            (1, 0, 300, 300, 1, 1, True),  # ignore: not counted
            (1, 0, 300, 300, 0, 5),  # invalid: not counted
        ],
        images=[(0, 640, 640), (1, 1280, 720)],
    )
    result = anchors.analyze(ds, Config(model="yolov5"))
    y5 = result.stats.presets["yolov5"]
    assert result.stats.num_boxes == 3
    assert y5.bpr == pytest.approx(2 / 3)
    assert y5.anchors_per_target == pytest.approx(8 / 3)
    assert y5.num_uncovered == 1
    # sqrt(area) at imgsz: 2 (very_tiny), 8 (tiny), 100 (other)
    assert y5.by_bucket == {
        "very_tiny": AnchorsRatioGroup(n=1, bpr=0.0, anchors_per_target=0.0),
        "tiny": AnchorsRatioGroup(n=1, bpr=1.0, anchors_per_target=2.0),
        "other": AnchorsRatioGroup(n=1, bpr=1.0, anchors_per_target=6.0),
    }
    assert y5.by_class["person"] == AnchorsRatioGroup(n=1, bpr=1.0, anchors_per_target=2.0)
    assert y5.by_class["car"].bpr == pytest.approx(0.5)
    assert y5.by_class["car"].anchors_per_target == pytest.approx(3.0)
    _plain_json(result.stats)
    doc = json.loads(msgspec.json.encode(result.stats))
    assert list(doc["presets"]["yolov5"])[:2] == ["assigner", "strides"]  # the tag comes first
    assert doc["presets"]["yolov5"]["assigner"] == "ratio"
    assert doc["presets"]["yolov5"]["bpr"] == pytest.approx(2 / 3)

    low = [f for f in result.findings if f.code == "anchors.low_bpr"]
    assert len(low) == 1
    assert low[0].severity is Severity.WARNING  # yolov5 is the selected model
    assert low[0].count == 1
    assert low[0].value == pytest.approx(2 / 3)
    assert low[0].threshold == 0.98
    assert "0.6667" in low[0].message
    assert low[0].examples[0].startswith("labels.txt:1 [car] 2.0x2.0 px")
    assert list(result.tables["uncovered_yolov5"]["source"]) == ["labels.txt:1"]


def test_low_bpr_is_info_for_a_model_without_these_anchors():
    ds = _dataset([(0, 0, 10, 10, 2, 2), (0, 0, 50, 50, 8, 8)])
    result = anchors.analyze(ds, Config(model="yolov8"))
    (low,) = [f for f in result.findings if f.code == "anchors.low_bpr"]
    assert low.severity is Severity.INFO
    assert "yolov8 does not use these anchors" in low.message
    assert result.stats.presets["yolov5"].bpr == 0.5  # stable key whatever the model


def test_no_finding_when_every_box_is_covered():
    ds = _dataset([(0, 0, 10, 10, 8, 8), (0, 0, 50, 50, 100, 100)])
    result = anchors.analyze(ds, Config(model="yolov5"))
    assert result.stats.presets["yolov5"].bpr == 1.0
    assert not [f for f in result.findings if f.code == "anchors.low_bpr"]


def test_config_imgsz_rescales_the_dataset():
    # 8x8 in a 640 image, audited at imgsz 320 -> 4x4: 10x13 -> min(0.4, 0.308) yes;
    # 16x30 -> min(0.25, 0.133) no -> 1 anchor (at 640 it was 2).
    ds = _dataset([(0, 0, 10, 10, 8, 8)])
    result = anchors.analyze(ds, Config(model="yolov5", imgsz=320))
    assert result.stats.presets["yolov5"].anchors_per_target == 1.0
    assert result.stats.imgsz == 320


def test_empty_dataset_has_undefined_bpr_and_no_findings():
    ds = _dataset([(0, 0, 10, 10, 0, 0)])  # the only box is invalid
    result = anchors.analyze(ds, Config(model="yolov5"))
    assert math.isnan(result.stats.presets["yolov5"].bpr)
    assert result.stats.suggested.status == "too_few_boxes"
    # the JSON of a too-few suggestion has no k-means numbers, and its anchors are empty lists
    doc = _json(result.stats.suggested)
    assert doc["anchors"] == [] and doc["levels"] == [] and "reason" in doc
    assert not {"bpr_kmeans", "anchors_per_target", "fitness", "improves"} & set(doc)
    assert result.findings == []


# --- IoU rule -------------------------------------------------------------------------------

ONE_ANCHOR = ModelPreset("one", strides=(8,), assigner="iou", anchors=(((8, 8),),), iou_pos=0.5)


@pytest.mark.parametrize(
    ("x", "y", "w", "h", "iou"),
    [
        # centre (4, 4) is a grid centre: the 8x8 anchor there is the box -> 1
        (0, 0, 8, 8, 1.0),
        # centre (8, 4): nearest grid centres 4 or 12, 4 px off in x: inter 4*8 = 32,
        # union 64 + 64 - 32 = 96 -> 1/3
        (4, 0, 8, 8, 1 / 3),
        # 16x16 at the origin, centre (8, 8): anchor at (12, 12) covers [8, 16]^2 (or at (4, 4)
        # [0, 8]^2), inside the box: inter 64, union 256 -> 0.25
        (0, 0, 16, 16, 0.25),
        # 4x4 centred on (4, 4): inside the anchor, inter 16, union 64 -> 0.25
        (2, 2, 4, 4, 0.25),
    ],
)
def test_best_grid_iou_closed_form(x, y, w, h, iou):
    ds = _dataset([(0, 0, x, y, w, h)])
    best = anchor_match.best_grid_iou(ds.box_columns(), ONE_ANCHOR, 640)
    assert best[0] == pytest.approx(iou)


def _brute_best_iou(box: tuple[float, float, float, float], preset: ModelPreset, imgsz: int):
    """Every anchor at every grid centre near the box: the max IoU, the slow way."""
    x, y, w, h = box
    best = 0.0
    for level, stride in zip(preset.anchors, preset.strides, strict=True):
        n = math.ceil(imgsz / stride)
        for aw, ah in level:
            for i, j in itertools.product(range(n), range(n)):
                cx, cy = (i + 0.5) * stride, (j + 0.5) * stride
                ix = min(x + w, cx + aw / 2) - max(x, cx - aw / 2)
                iy = min(y + h, cy + ah / 2) - max(y, cy - ah / 2)
                inter = max(ix, 0) * max(iy, 0)
                best = max(best, inter / (w * h + aw * ah - inter))
    return best


@pytest.mark.parametrize("model", ["retinanet", "faster-rcnn"])
def test_best_grid_iou_matches_brute_force(model):
    preset = MODELS[model]
    imgsz = 256  # small grid so the brute force stays quick
    rng = np.random.default_rng(3)
    n = 25
    w = np.exp(rng.uniform(np.log(3), np.log(200), n))
    h = w * np.exp(rng.uniform(-1, 1, n))
    x = rng.uniform(0, imgsz - w.clip(max=imgsz - 1))
    y = rng.uniform(0, imgsz - h.clip(max=imgsz - 1))
    boxes = [(0, 0, *b) for b in zip(x, y, w, h, strict=True)]
    ds = _dataset(boxes, images=[(0, imgsz, imgsz)]).with_imgsz(imgsz)
    best = anchor_match.best_grid_iou(ds.box_columns(), preset, imgsz)
    expected = [_brute_best_iou(b[2:], preset, imgsz) for b in boxes]
    np.testing.assert_allclose(best, expected, rtol=1e-9, atol=1e-12)

    result = anchors.analyze(ds, Config(model=model, imgsz=imgsz))
    stats = result.stats.presets[model]
    assert isinstance(stats, AnchorsIouPreset)
    exp = np.array(expected)
    assert stats.coverage == pytest.approx(np.mean(exp >= preset.iou_pos))
    band = (exp >= preset.iou_neg) & (exp < preset.iou_pos)
    assert stats.ignore_band_share == pytest.approx(band.mean())
    assert stats.median_best_iou == pytest.approx(np.median(exp))


def _every_anchor_best_iou(w, h, x0, y0, preset: ModelPreset, imgsz: int) -> np.ndarray:
    """The closed form of best_grid_iou (checked against the brute force above) with every anchor
    applied to every box: no blocks, no skipping."""
    cx, cy = x0 + w / 2, y0 + h / 2
    best = np.zeros(len(w))
    for level, stride in zip(preset.anchors, preset.strides, strict=True):
        cells = math.ceil(imgsz / stride)
        dx = np.abs(cx - (np.clip(np.floor(cx / stride), 0, cells - 1) + 0.5) * stride)
        dy = np.abs(cy - (np.clip(np.floor(cy / stride), 0, cells - 1) + 0.5) * stride)
        for aw, ah in level:
            ix = np.clip(np.minimum(np.minimum(w, aw), (w + aw) / 2 - dx), 0, None)
            iy = np.clip(np.minimum(np.minimum(h, ah), (h + ah) / 2 - dy), 0, None)
            best = np.maximum(best, ix * iy / (w * h + aw * ah - ix * iy))
    return best


@pytest.mark.parametrize("model", ["retinanet", "faster-rcnn"])
def test_grid_iou_skips_anchors_without_changing_any_best(model, monkeypatch):
    # small blocks, so that blocks of similar area skip most anchors
    monkeypatch.setattr(anchor_match, "BLOCK", 64)
    rng = np.random.default_rng(11)
    n, imgsz = 3000, 640
    w = np.exp(rng.uniform(np.log(1), np.log(500), n))
    h = w * np.exp(rng.uniform(-1.5, 1.5, n))
    x0, y0 = rng.uniform(0, imgsz, n), rng.uniform(0, imgsz, n)
    got = anchor_match.grid_iou(w, h, x0, y0, MODELS[model], imgsz)
    np.testing.assert_array_equal(got, _every_anchor_best_iou(w, h, x0, y0, MODELS[model], imgsz))


def test_iou_uncovered_finding_for_a_selected_iou_model():
    # 4x4 boxes: the smallest RetinaNet anchors have area 32^2 = 1024 on stride 8; the best IoU
    # of a 4x4 box inside one is 16 / 1024 = 1/64, far below 0.5. (The preset rounds the
    # ratio-0.5/2 anchor sides to 4 decimals, so their area is 1024 to about 1e-5.)
    ds = _dataset([(0, 0, 100, 100, 4, 4), (0, 1, 200, 200, 4, 4)])
    result = anchors.analyze(ds, Config(model="retinanet"))
    stats = result.stats.presets["retinanet"]
    assert stats.coverage == 0.0
    assert stats.below_neg_share == 1.0
    assert stats.median_best_iou == pytest.approx(16 / 1024, rel=1e-5)
    assert _json(stats.by_bucket) == {
        "very_tiny": {
            "n": 2,
            "coverage": 0.0,
            "ignore_band_share": 0.0,
            "mean_best_iou": pytest.approx(16 / 1024, rel=1e-5),
        }
    }
    (f,) = [f for f in result.findings if f.code == "anchors.iou_uncovered"]
    assert f.severity is Severity.WARNING
    assert f.count == 2
    assert "retinanet" in f.message
    assert "faster-rcnn" in result.stats.presets  # always reported
    # not selected: no IoU finding for other models
    other = anchors.analyze(ds, Config(model="yolov8"))
    assert not [f for f in other.findings if f.code == "anchors.iou_uncovered"]


# --- suggested anchors ----------------------------------------------------------------------

CLUSTERS = [(6, 8), (12, 10), (20, 28), (40, 30), (50, 90), (100, 70), (150, 120), (200, 300),
            (400, 350)]  # fmt: skip
# YOLOv5's default anchors miss 7 of these 9 clusters: tiny boxes (3x3: the best anchor, 10x13,
# gives m = 3/13 = 0.23 < 1/4) and long thin ones (600x40: 156x198 gives min(156/600, 40/198)
# = 0.20; 300x20: 116x90 gives min(116/300, 20/90) = 0.22). 6x6 (10x13: min(0.6, 0.46)) and
# 100x100 (116x90: min(0.86, 0.9)) are covered.
BAD_FOR_DEFAULTS = [(3, 3), (2.2, 3), (3, 2.2), (6, 6), (600, 40), (630, 30), (30, 630), (300, 20),
                    (100, 100)]  # fmt: skip
YOLOV5_ANCHORS = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90),
                  (156, 198), (373, 326)]  # fmt: skip


def _clustered_dataset(per_cluster: int = 30, clusters=CLUSTERS, jitter: float = 0.4) -> Dataset:
    """Boxes around the cluster sizes in one 640x640 image (so sides at imgsz 640 are as given)."""
    rng = np.random.default_rng(0)
    boxes = []
    for cw, ch in clusters:
        # +-0.4 px: tight enough that the nine true clusters are the k-means optimum
        for jw, jh in rng.uniform(-jitter, jitter, size=(per_cluster, 2)):
            boxes.append((0, 0, 0, 0, cw + jw, ch + jh))
    return _dataset(boxes, images=[(0, 640, 640)])


def _wh(ds: Dataset) -> np.ndarray:
    return ds.boxes[["w", "h"]].to_numpy(dtype=float)


def _bpr_by_hand(wh: np.ndarray, anchors: object, thr: float = 4.0) -> float:
    """YOLOv5 check_anchors' metric, written out: r = wh / k, x = min(r, 1/r).min(2), BPR =
    mean(x.max(1) > 1/thr)."""
    k = np.asarray(anchors, dtype=float).reshape(-1, 2)
    r = wh[:, None, :] / k[None, :, :]
    x = np.minimum(r, 1 / r).min(axis=2)
    return float((x.max(axis=1) > 1 / thr).mean())


def _scipy_kmeans_kw() -> str:
    from scipy.cluster.vq import kmeans

    return "rng" if "rng" in inspect.signature(kmeans).parameters else "seed"


def test_evolution_is_yolov5s_default():
    assert AnchorsConfig().evolve_generations == 1000
    suggestion = anchor_suggest.suggest_anchors(_clustered_dataset(5), Config(model="yolov5"))
    assert suggestion.evolve_generations == 1000


def test_fitness_by_hand():
    # Anchors 10x10 and 40x20, thr 4 (1/thr = 0.25):
    # 10x10: vs 10x10 m = 1;                                   best 1.0 > 0.25 -> 1.0
    # 20x5:  vs 10x10 min(10/20, 5/10) = 0.5; vs 40x20 min(0.5, 0.25) = 0.25;  best 0.5 -> 0.5
    # 2x40:  vs 10x10 min(0.2, 0.25) = 0.2; vs 40x20 min(0.05, 0.5) = 0.05;   best 0.2 -> 0
    # fitness = (1 + 0.5 + 0) / 3 = 0.5
    wh = np.array([[10, 10], [20, 5], [2, 40]], dtype=float)
    k = np.array([[10, 10], [40, 20]], dtype=float)
    assert anchor_fit.fitness(k, wh, 4.0) == pytest.approx(0.5)
    # thr 2 (1/thr = 0.5): the 20x5 box's best 0.5 is not > 0.5 -> (1 + 0 + 0) / 3
    assert anchor_fit.fitness(k, wh, 2.0) == pytest.approx(1 / 3)


def test_kmeans_step_is_scipys_kmeans_whitened_by_std():
    # Independently: YOLOv5's lines with a seeded generator.
    from scipy.cluster.vq import kmeans

    rng = np.random.default_rng(11)
    side = np.exp(rng.normal(3.0, 1.0, 400))
    aspect = np.exp(rng.normal(0.0, 0.4, 400))
    wh = np.column_stack((side * aspect, side / aspect)).clip(min=2.0)
    wh32 = wh.astype(np.float32)
    s = wh32.std(0)
    expected = kmeans(wh32 / s, 9, iter=30, **{_scipy_kmeans_kw(): np.random.default_rng(5)})[0] * s
    expected = expected[np.argsort(expected.prod(1))]
    got = anchor_fit.kmeans(wh, 9, np.random.default_rng(5))
    np.testing.assert_allclose(got, expected, rtol=1e-6)

    # and the suggestion with no evolution is those centres rounded: below the sample cap
    # nothing else draws from the seeded generator before k-means
    config = Config(model="yolov5", anchors=AnchorsConfig(evolve_generations=0, seed=5))
    suggestion = anchor_suggest.suggest_for_sizes(wh[:, 0], wh[:, 1], config)
    rounded = np.maximum(np.round(expected), 1)
    rounded = rounded[np.argsort(rounded.prod(1), kind="stable")]
    assert suggestion.fitted_anchors == [tuple(int(v) for v in a) for a in rounded]
    assert suggestion.init == "kmeans"
    assert suggestion.bpr_fitted == pytest.approx(_bpr_by_hand(wh, rounded))
    assert suggestion.bpr_kmeans == suggestion.bpr_fitted


def _yolov5_evolution(k, wh, thr, generations, rng):
    """The loop of YOLOv5's kmean_anchors, transcribed, with a seeded generator for npr/random."""

    def anchor_fitness(k):
        r = wh[:, None] / k[None]
        best = np.minimum(r, 1 / r).min(2).max(1)
        return (best * (best > 1 / thr)).mean()

    f, sh, mp, s = anchor_fitness(k), k.shape, 0.9, 0.1
    history = [f]
    for _ in range(generations):
        v = np.ones(sh)
        while (v == 1).all():
            v = ((rng.random(sh) < mp) * rng.random() * rng.standard_normal(sh) * s + 1).clip(0.3, 3.0)
        kg = (k.copy() * v).clip(min=2.0)
        fg = anchor_fitness(kg)
        if fg > f:
            f, k = fg, kg.copy()
        history.append(f)
    return k[np.argsort(k.prod(1))], history


def test_evolution_follows_yolov5_and_never_lowers_fitness():
    wh = np.array(CLUSTERS, dtype=float).repeat(5, axis=0)
    start = np.full((9, 2), 10.0)
    expected, history = _yolov5_evolution(start, wh, 4.0, 300, np.random.default_rng(0))
    evolved = anchor_fit.evolve(start, wh, 4.0, 300, np.random.default_rng(0))
    np.testing.assert_allclose(evolved, expected, rtol=1e-12)
    assert all(b >= a for a, b in itertools.pairwise(history))
    assert history[-1] > history[0]  # from poor anchors (all 10x10), much fitter
    assert (evolved >= anchor_fit.MIN_ANCHOR_PX).all()
    # fewer generations of the same seed are a prefix of the run: fitness never falls
    fits = [
        anchor_fit.fitness(anchor_fit.evolve(start, wh, 4.0, g, np.random.default_rng(0)), wh, 4.0)
        for g in (0, 10, 50, 100, 300)
    ]
    assert all(b >= a for a, b in itertools.pairwise(fits))
    assert fits[-1] == pytest.approx(history[-1])


def test_fitted_anchors_replace_bad_defaults():
    ds = _clustered_dataset(20, BAD_FOR_DEFAULTS, jitter=0.1)
    wh = _wh(ds)
    config = Config(model="yolov5", anchors=AnchorsConfig(seed=3))
    suggestion = anchor_suggest.suggest_anchors(ds, config)
    # by hand: the defaults cover only the 6x6 and 100x100 clusters (2 of 9)
    assert _bpr_by_hand(wh, YOLOV5_ANCHORS) == pytest.approx(2 / 9)
    assert suggestion.bpr_before == pytest.approx(2 / 9)
    assert suggestion.status == "ok" and suggestion.improves is True
    assert suggestion.anchors == suggestion.fitted_anchors
    assert suggestion.bpr == pytest.approx(_bpr_by_hand(wh, suggestion.anchors))
    assert suggestion.bpr > suggestion.bpr_before
    assert suggestion.bpr == 1.0
    r = wh[:, None, :] / np.array(suggestion.anchors, float)[None]
    best = np.minimum(r, 1 / r).min(axis=2).max(axis=1)
    assert suggestion.fitness == pytest.approx(np.mean(best * (best > 0.25)))  # all boxes sampled
    got = np.array(suggestion.anchors)
    assert (np.diff(got.prod(axis=1)) >= 0).all()
    assert _json(suggestion.levels) == [got[0:3].tolist(), got[3:6].tolist(), got[6:9].tolist()]
    assert anchor_suggest.suggest_anchors(ds, config) == suggestion  # seeded
    _plain_json(suggestion)


def test_defaults_kept_when_they_already_cover_every_box():
    ds = _clustered_dataset()
    wh = _wh(ds)
    assert _bpr_by_hand(wh, YOLOV5_ANCHORS) == 1.0
    config = Config(model="yolov5", anchors=AnchorsConfig(evolve_generations=0))
    suggestion = anchor_suggest.suggest_anchors(ds, config)
    assert suggestion.status == "defaults_kept" and suggestion.improves is False
    assert suggestion.anchors == YOLOV5_ANCHORS
    assert _json(suggestion.levels) == [[list(a) for a in YOLOV5_ANCHORS[i : i + 3]] for i in (0, 3, 6)]
    assert suggestion.bpr == suggestion.bpr_before == 1.0
    assert "kept" in suggestion.reason
    # the fit itself is still reported: k-means finds the nine clusters
    np.testing.assert_allclose(np.array(suggestion.fitted_anchors), np.array(CLUSTERS), atol=1)
    assert suggestion.bpr_fitted == 1.0
    # and the YAML carries the defaults, saying so
    text = anchor_fit.anchors_yaml(suggestion)
    assert "anchors are kept" in text
    rows = yaml.safe_load(text)["anchors"]
    assert [v for r in rows for v in r] == [v for a in YOLOV5_ANCHORS for v in a]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("generations", [0, 30])
def test_suggestion_never_has_a_lower_bpr_than_the_defaults(seed, generations):
    # COCO-like sizes: k-means alone often lands below the defaults' BPR (issue 14)
    rng = np.random.default_rng(seed)
    side = np.exp(rng.normal(3.7, 1.2, 3000))
    aspect = np.exp(rng.normal(0.0, 0.5, 3000))
    w, h = (side * np.sqrt(aspect)).clip(1, 640), (side / np.sqrt(aspect)).clip(1, 640)
    config = Config(model="yolov5", anchors=AnchorsConfig(evolve_generations=generations, seed=seed))
    suggestion = anchor_suggest.suggest_for_sizes(w, h, config)
    wh = np.column_stack((w, h))
    default_bpr = _bpr_by_hand(wh, YOLOV5_ANCHORS)
    assert suggestion.bpr_before == pytest.approx(default_bpr)
    assert suggestion.bpr_fitted == pytest.approx(_bpr_by_hand(wh, suggestion.fitted_anchors))
    assert suggestion.bpr >= default_bpr
    if suggestion.bpr_fitted > default_bpr:
        assert suggestion.status == "ok" and suggestion.anchors == suggestion.fitted_anchors
    else:
        assert suggestion.status == "defaults_kept" and suggestion.anchors == YOLOV5_ANCHORS


def test_suggest_for_sizes_at_another_scale():
    # The plan's scale: sides at imgsz 1280 are twice those at 640; the same boxes through the
    # dataset at imgsz 1280 give the same suggestion.
    ds = _clustered_dataset(10, BAD_FOR_DEFAULTS, jitter=0.1)
    wh = _wh(ds) * 2
    config = Config(model="yolov5", imgsz=1280, anchors=AnchorsConfig(evolve_generations=50))
    direct = anchor_suggest.suggest_for_sizes(wh[:, 0], wh[:, 1], config)
    assert direct == anchor_suggest.suggest_anchors(ds, config)
    assert direct.imgsz == 1280 and direct.num_boxes == len(wh)
    assert direct.bpr_before == pytest.approx(_bpr_by_hand(wh, YOLOV5_ANCHORS))
    other = anchor_suggest.suggest_for_sizes(wh[:, 0], wh[:, 1], Config(model="yolov5"), imgsz=1280)
    assert other.imgsz == 1280
    with pytest.raises(ValueError, match="one length"):
        anchor_suggest.suggest_for_sizes(wh[:, 0], wh[:-1, 1], config)
    with pytest.raises(ValueError, match="positive"):
        anchor_suggest.suggest_for_sizes(np.array([0.0, 3.0]), np.array([1.0, 3.0]), config)


def test_random_init_when_kmeans_loses_a_cluster(monkeypatch):
    # YOLOv5's fallback: np.sort(rand(n * 2)).reshape(n, 2) * img_size, then the evolution
    monkeypatch.setattr(anchor_fit, "kmeans", lambda wh, n, rng: None)
    config = Config(model="yolov5", anchors=AnchorsConfig(evolve_generations=0, seed=4))
    ds = _clustered_dataset(5, BAD_FOR_DEFAULTS, jitter=0.1)
    suggestion = anchor_suggest.suggest_anchors(ds, config)
    assert suggestion.init == "random"
    init = np.sort(np.random.default_rng(4).random(18)).reshape(9, 2) * 640
    rounded = np.maximum(np.round(init), 1)
    assert suggestion.fitted_anchors == [tuple(int(v) for v in a) for a in rounded]


def test_anchor_yaml_parses_for_yolov5_and_mmdetection():
    ds = _clustered_dataset(10, BAD_FOR_DEFAULTS, jitter=0.1)
    suggestion = anchor_suggest.suggest_anchors(ds, Config(model="yolov5", anchors=AnchorsConfig(seed=3)))
    assert suggestion.status == "ok"
    text = anchor_fit.anchors_yaml(suggestion)
    doc = yaml.safe_load(text)
    rows = doc["anchors"]
    assert len(rows) == 3 and all(len(r) == 6 for r in rows)
    assert all(isinstance(v, int) for r in rows for v in r)
    flat = [v for r in rows for v in r]
    assert flat == [v for a in suggestion.anchors for v in a]
    gen = doc["anchor_generator"]
    assert gen["type"] == "YOLOAnchorGenerator"
    assert gen["strides"] == [8, 16, 32]
    assert gen["base_sizes"] == _json(suggestion.levels)
    assert "# P3/8" in text and "base_sizes=[[(" in text
    assert "1000 generations of evolution" in text


def test_too_few_boxes_for_anchors():
    ds = _dataset([(0, 0, 10, 10, 8, 8), (0, 0, 20, 20, 30, 30)])
    suggestion = anchor_suggest.suggest_anchors(ds, Config())
    assert suggestion.status == "too_few_boxes"
    assert anchor_fit.anchors_yaml(suggestion).startswith("# no anchors suggested")


def test_kmeans_subsample_is_capped(monkeypatch):
    monkeypatch.setattr(anchor_suggest, "KMEANS_MAX_BOXES", 100)
    suggestion = anchor_suggest.suggest_anchors(_clustered_dataset(), Config())
    assert suggestion.num_kmeans_boxes == 100
    assert suggestion.num_kmeans_boxes_total == 270
    assert suggestion.subsampled is True
    assert suggestion.num_boxes == 270  # BPR over every box


# --- real data ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "bpr"),
    [
        ("coco_mini/annotations/instances_train2017.json", 0.997264),
        ("coco_mini/annotations/instances_val2017.json", 0.996769),
        ("bccd_voc", 1.0),
        ("ships_yolo", 1.0),
    ],
)
def test_yolov5_bpr_on_real_data(realdata, path, bpr):
    from sodaudit.loaders import load

    result = anchors.analyze(load(realdata / path), Config())
    assert result.stats.presets["yolov5"].bpr == pytest.approx(bpr, abs=1e-6)
    _plain_json(result.stats)
