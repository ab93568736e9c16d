"""The plan: one rule, one cost model, numbers worked out by hand (SAHI's grid written out)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from builders import tiny_dataset

from sodaudit.config import Config, PlanConfig
from sodaudit.dataset import Dataset
from sodaudit.models import MODELS
from sodaudit.recommend import PlanOption, recommend, resolution_candidates
from sodaudit.recommend.plan import choose_option, make_plan
from sodaudit.render.blocks import plan_sentence


def _plan(ds: Dataset, config: Config):
    rows = ds.selected_boxes().reset_index(drop=True)
    plan = make_plan(ds, config, MODELS[config.model], rows)
    return plan


def _five_sizes(copies: int = 20) -> Dataset:
    """One 1600 x 1200 image, 40 px wide boxes with short sides 11, 16, 20, 30, 40 px, each size
    ``copies`` times (100 boxes: above recommend.min_boxes). At imgsz c the short side is s*c/1600."""
    shorts = [11, 16, 20, 30, 40]
    boxes = [(1, 0, 100 * i, 100 + 45 * k, 40, s) for i, s in enumerate(shorts) for k in range(copies)]
    return tiny_dataset(boxes, [(1, 1600, 1200)], {0: "a"})


def test_resolution_candidates_stop_at_the_memory_limit():
    # Multiples of 32 above 640 up to 1536: 672 .. 1536 = (1536 - 672) / 32 + 1 = 28 sizes.
    c = resolution_candidates(640, 1536, 32)
    assert c[0] == 672 and c[-1] == 1536 and len(c) == 28
    assert resolution_candidates(1280, 1536, 32)[0] == 1312  # never below the current imgsz


def test_cheapest_option_reaching_the_target():
    # At 640 (scale 0.4): 4.4, 6.4, 8, 12, 16 px -> 3 of 5 sizes reach 8 px: 0.6.
    # All five need 11 * c / 1600 >= 8 -> c >= 1163.6 -> 1184 (1152 gives 7.92), cost
    # (1184 / 640)^2 = 3.4225 <= 4. Tiling that reaches everything costs more: 640 px tiles,
    # overlap ceil(40 / 640 * 100) / 100 = 0.07 -> 44 px, step 596: x 0, 596, then
    # 1192 + 640 > 1600 -> 960; y 0, then 596 + 640 > 1200 -> 560: 3 x 2 = 6 tiles (6x).
    plan = _plan(_five_sizes(), Config())
    assert plan.primary == "resolution"
    assert plan.chosen.imgsz == 1184
    assert plan.chosen.cost_factor == pytest.approx(3.4225)
    assert plan.current_share == pytest.approx(0.6)
    assert plan.chosen.reach_share == pytest.approx(1.0)
    assert plan.scale == pytest.approx(1184 / 640)
    by_option = {(o.primary, o.tile or o.imgsz): o for o in plan.options}
    tiles_640 = by_option[("tiling", 640)]
    assert tiles_640.cost_factor == 6 and tiles_640.reach_share == pytest.approx(1.0)
    assert tiles_640.overlap == pytest.approx(0.07)
    # 1280 px tiles: x 0 then flush 320 (2 columns), y one tile over the 1200 px side: 2 tiles;
    # scale 640 / 1280 = 0.5: 16 px boxes reach 8, 11 px ones do not: 0.8 at 2x.
    tiles_1280 = by_option[("tiling", 1280)]
    assert tiles_1280.cost_factor == 2 and tiles_1280.reach_share == pytest.approx(0.8)
    assert by_option[("resolution", 800)].reach_share == pytest.approx(0.8)  # 16 * 800 / 1600 = 8
    assert by_option[("resolution", 1152)].reach_share == pytest.approx(0.8)
    assert plan.alternatives == ()  # nothing reaches more than 100%


def test_over_the_cap_the_most_reaching_option_and_the_cheapest_of_those():
    # Cap 3: resolution up to 1088 ((1088/640)^2 = 2.89): 11 * 1088 / 1600 = 7.5 -> 0.8; tiles of
    # 1280 px reach 0.8 at 2x; imgsz 800 reaches the same 0.8 at (800/640)^2 = 1.5625: cheapest.
    plan = _plan(_five_sizes(), Config(plan=PlanConfig(max_cost=3.0)))
    assert (plan.primary, plan.chosen.imgsz) == ("resolution", 800)
    assert plan.chosen.cost_factor == pytest.approx(1.5625)
    assert "no option reaches 90%" in plan.reason
    # What more compute buys: 1184 reaches 100% at 3.42x; 640 px tiles 100% at 6x.
    alts = [(a.primary, a.tile or a.imgsz, round(a.cost_factor, 4)) for a in plan.alternatives]
    assert alts == [("resolution", 1184, 3.4225), ("tiling", 640, 6.0)]


def test_fixed_imgsz_only_tiles():
    # No resolution option. Within 4x: 1280 px tiles (0.8 at 2x) and 960 px tiles (x 0, 640;
    # y 0, 240: 4 tiles; scale 2/3: 11 px -> 7.3, 0.8 at 4x): the cheaper of the two.
    plan = _plan(_five_sizes(), Config(plan=PlanConfig(fixed_imgsz=True)))
    assert (plan.primary, plan.chosen.tile, plan.chosen.cost_factor) == ("tiling", 1280, 2.0)
    assert plan.chosen.imgsz == 640
    assert all(o.primary != "resolution" for o in plan.options)
    # With a 6x cap the 640 px tiles reach everything and win.
    plan = _plan(_five_sizes(), Config(plan=PlanConfig(fixed_imgsz=True, max_cost=6.0)))
    assert (plan.primary, plan.chosen.tile) == ("tiling", 640)


def test_equal_cost_prefers_full_image_resolution():
    current = PlanOption("none", 640, 1.0, 0.5)
    res = PlanOption("resolution", 1280, 4.0, 0.95)
    tiles = PlanOption("tiling", 640, 4.0, 0.95, tile=640, overlap=0.2)
    assert choose_option(current, [tiles, res], 0.9, 4.0)[0] is res
    # ... and the cheaper one whatever its kind.
    cheap_tiles = PlanOption("tiling", 640, 3.0, 0.95, tile=800, overlap=0.2)
    assert choose_option(current, [res, cheap_tiles], 0.9, 4.0)[0] is cheap_tiles
    # Nothing within the cap does better than today: keep today.
    pricey = PlanOption("resolution", 1536, 5.76, 0.99)
    chosen, why = choose_option(current, [pricey], 0.9, 4.0)
    assert chosen is current and "no option within the 4x cap" in why


def _tiny_objects_in_huge_images() -> Dataset:
    # 4000 x 3000 images, 40 boxes of 12 px each (200 boxes). Resolution tops out at 1536:
    # 12 * 1536 / 4000 = 4.6 px, no box reaches 8 px at any imgsz.
    rng = np.random.default_rng(0)
    boxes = []
    for image_id in range(1, 6):
        xs, ys = rng.uniform(0, 4000 - 12, 40), rng.uniform(0, 3000 - 12, 40)
        boxes += [(image_id, 0, x, y, 12, 12) for x, y in zip(xs, ys, strict=True)]
    return tiny_dataset(boxes, [(i, 4000, 3000) for i in range(1, 6)], {0: "a"})


def test_no_affordable_option_keeps_today_and_shows_what_reaches():
    # Tiles that reach 8 px: 960 px (640/960 * 12 = 8) and smaller. 960 px tiles, overlap
    # ceil(12 / 960 * 100) / 100 = 0.02 -> 19 px, step 941: x 0, 941, 1882, 2823, 3040 (5);
    # y 0, 941, 1882, 2040 (4): 20 tiles per image = 20x, over the 4x cap.
    plan = _plan(_tiny_objects_in_huge_images(), Config())
    assert plan.primary == "none" and plan.current_share == 0.0
    tiles = [a for a in plan.alternatives if a.primary == "tiling"]
    assert [(a.tile, a.cost_factor, a.reach_share) for a in tiles] == [(960, 20.0, 1.0)]
    assert not [a for a in plan.alternatives if a.primary == "resolution"]  # none reaches more
    # The plan's line (terminal, Markdown) says what the cap rules out.
    line = plan_sentence(plan.to_dict())
    assert line.startswith("none: imgsz 640 as today at 1.00x compute, 0.0% of boxes reach 8 px")
    assert "960 px tiles, overlap 0.02, at imgsz 640: 100.0% at 20.00x" in line
    # Allowed 25x, the 960 px tiles are the plan.
    plan = _plan(_tiny_objects_in_huge_images(), Config(plan=PlanConfig(max_cost=25.0)))
    assert (plan.primary, plan.chosen.tile, plan.chosen.cost_factor) == ("tiling", 960, 20.0)
    assert plan.scale == pytest.approx(4000 / 960)  # 640/960 per tile against 640/4000 today


def test_upsampled_tiles_are_options():
    # 320 px tiles at imgsz 640 double every box: 12 px -> 24 px at model input.
    plan = _plan(_tiny_objects_in_huge_images(), Config())
    up = [o for o in plan.options if o.primary == "tiling" and o.tile == 320]
    assert up and up[0].reach_share == 1.0


def test_few_boxes_give_no_advice_but_data_fixes():
    ds = tiny_dataset([(1, 0, 10, 10, 3, 3)] * 5, [(1, 4000, 3000)], {0: "a"})
    advice = recommend(ds, Config(), {})
    assert advice.plan is None
    assert [r.kind for r in advice.recommendations] == ["none"]
    assert "fewer than recommend.min_boxes = 100" in advice.recommendations[0].summary


def test_plan_in_report_json(tmp_path):
    from sodaudit.pipeline import assemble

    ds = _five_sizes()
    report = assemble(ds, Config(), {})
    plan = report.to_dict()["plan"]
    assert plan["primary"] == "resolution" and plan["imgsz"] == 1184
    assert plan["cost_factor"] == pytest.approx(3.4225)
    json.dumps(plan, allow_nan=False)
    assert report.to_dict()["recommendations"][0]["kind"] == "resolution"


def test_realdata_drone_plans_full_image_resolution(realdata):
    """VisDrone (960-2000 px images, about half the boxes below stride 8 at 640): a larger
    imgsz at (imgsz / 640)^2, no class merge (practice on VisDrone: full-image 1280-1600)."""
    path = realdata / "sahi_coco" / "visdrone_train_first50.json"
    data = json.loads(path.read_text())
    size = {i["id"]: max(i["width"], i["height"]) for i in data["images"]}
    short = np.array([min(a["bbox"][2:]) for a in data["annotations"] if not a.get("iscrowd")], float)
    long_img = np.array([size[a["image_id"]] for a in data["annotations"] if not a.get("iscrowd")], float)
    assert long_img.min() == 960 and long_img.max() == 2000
    assert 0.4 < float(np.mean(short * 640 / long_img < 8 - 1e-3)) < 0.6
    from sodaudit.pipeline import audit

    report = audit(path).to_dict()
    plan = report["plan"]
    assert plan["primary"] == "resolution" and 1280 <= plan["imgsz"] <= 1600
    assert plan["cost_factor"] == pytest.approx((plan["imgsz"] / 640) ** 2)
    reach = float(np.mean(short * plan["imgsz"] / long_img >= 8 - 1e-3))
    assert plan["reach_share"] == pytest.approx(reach)
    assert plan["current_share"] == pytest.approx(float(np.mean(short * 640 / long_img >= 8 - 1e-3)))
    kinds = [r["kind"] for r in report["recommendations"]]
    assert "merges" not in kinds and "tiling" not in kinds
    assert kinds.index("resolution") == kinds.index("fix_data") + 1  # data fixes first, then the plan


def test_realdata_tiny_dataset_gets_no_advice(realdata):
    from sodaudit.pipeline import audit

    report = audit(realdata / "sahi_coco" / "terrain1_coco.json").to_dict()  # 7 boxes
    assert report["plan"] is None
    assert {r["kind"] for r in report["recommendations"]} <= {"fix_data", "none"}


def test_html_shows_the_plan_before_the_recommendations(sample_data):
    from sodaudit.pipeline import audit

    html = audit(sample_data / "yolo").to_html()
    start = html.index('id="what-to-change"')
    plan, first = html.index('id="plan"', start), html.index('class="rec"', start)
    assert plan < first
    assert "imgsz 1280" in html[plan:first] and "4.00x" in html[plan:first]


@pytest.mark.parametrize("make", [_five_sizes, _tiny_objects_in_huge_images])
def test_tiling_options_equal_the_full_simulation(make):
    """The plan prices tile options from each image size's grid alone; the full SAHI
    simulation of the same tiles must give the same cost and reach."""
    from sodaudit.recommend.tilesim import simulate

    ds = make()
    config = Config()
    rows = ds.selected_boxes().reset_index(drop=True)
    plan = make_plan(ds, config, MODELS[config.model], rows)
    tiling = [o for o in plan.options if o.primary == "tiling"]
    assert len(tiling) >= 3
    for option in tiling:
        sim = simulate(rows, option.tile, option.overlap, 640, min_side_px=8, images=ds.images)
        assert option.cost_factor == pytest.approx(sim.stats["tiles_per_image"])
        assert option.reach_share == pytest.approx(sim.stats["reach_min_side"] / len(rows))


def test_a_box_outside_its_image_reaches_nothing():
    # _five_sizes' 100 boxes plus one 50 px box placed past the image's right edge (x >= 1600):
    # a slicer or a letterbox crop keeps nothing of it, so it counts as not reaching for every
    # option. Today: 60 of 101 reach 8 px (the 20, 30, 40 px sizes).
    boxes = [
        (1, 0, 100 * i, 100 + 45 * k, 40, s) for i, s in enumerate([11, 16, 20, 30, 40]) for k in range(20)
    ]
    ds = tiny_dataset([*boxes, (1, 0, 1700, 100, 50, 50)], [(1, 1600, 1200)], {0: "a"})
    plan = _plan(ds, Config())
    assert plan.current_share == pytest.approx(60 / 101)
    assert all(o.reach_share <= 100 / 101 + 1e-12 for o in plan.options)
