"""SAHI's min_area_ratio on polygon segmentations (issue 14), checked by hand and against a
per-annotation loop written from SAHI's code (sahi/utils/shapely.py, sahi/slicing.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon, box
from shapely.validation import make_valid

from sodaudit.loaders.coco import load as load_coco
from sodaudit.loaders.coco import segments as seg_mod
from sodaudit.loaders.coco.segments import BROKEN, FALLBACK, NONE, POLYGON, RLE, parse, segment_reader
from sodaudit.loaders.yolo import load as load_yolo
from sodaudit.recommend.tile_polygons import Shapes, kept_in_tiles, shapes
from sodaudit.recommend.tilesim import simulate, tile_grid

# One 400 x 200 image, 200 px tiles, no overlap: tiles [0, 0, 200, 200] and [200, 0, 400, 200].
# The box x 188..288, y 50..150 (100 x 100 = 10000 px^2) crosses x = 200; 12 px of its width
# are in the left tile: 12 * 100 = 1200 px^2 = 12% of the box.
# The triangle (188, 150), (288, 150), (206, 50) is half its bbox: 100 * 100 / 2 = 5000 px^2.
# Left of x = 200 its left edge rises 100 px over 18 px, so the part there is a triangle of
# base 12 and height 100 * 12 / 18 = 66.67: 12 * 66.67 / 2 = 400 px^2 = 8% of the triangle.
# With min_area_ratio 0.1: the box rule keeps the left fragment (0.12), SAHI's polygon rule
# drops it (int 400 / int 5000 = 0.08). Both keep the right one (88% / 4600 / 5000 = 92%).
TRIANGLE = [188.0, 150.0, 288.0, 150.0, 206.0, 50.0]
BBOX = [188.0, 50.0, 100.0, 100.0]


def write_coco(path: Path, segmentations: list, bboxes: list | None = None, size=(400, 200)) -> Path:
    bboxes = bboxes or [BBOX] * len(segmentations)
    anns = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "bbox": b, "area": 1.0, "iscrowd": 0}
        | ({} if s is ... else {"segmentation": s})
        for i, (s, b) in enumerate(zip(segmentations, bboxes, strict=True))
    ]
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": size[0], "height": size[1]}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "thing"}],
    }
    path.write_text(json.dumps(doc))
    return path


def judged_rows(dataset) -> pd.DataFrame:
    """The rows recommend() hands to the plan: selected boxes of images of known size."""
    b = dataset.selected_boxes()
    w, h = b["img_w"].to_numpy(np.float64), b["img_h"].to_numpy(np.float64)
    return b[np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)].reset_index(drop=True)


def run(path: Path, ratio: float = 0.1, tile: int = 200, overlap: float = 0.0) -> dict:
    ds = load_coco(path)
    rows = judged_rows(ds)
    reader = segment_reader(ds, rows, 100.0)
    assert reader is not None
    return simulate(rows, tile, overlap, 640, min_area_ratio=ratio, segments=reader).stats


def test_triangle_dropped_by_the_polygon_rule_kept_by_the_box_rule(tmp_path):
    s = run(write_coco(tmp_path / "i.json", [[TRIANGLE]]))
    assert s["min_area_basis"] == "polygon"
    assert (s["polygon_annotations"], s["polygon_fallbacks"], s["cut_by_some_tile"]) == (1, 0, 1)
    assert s["tiled_labels"] == 1 and s["cut_fragments_dropped"] == 2 - 1
    ds = load_coco(tmp_path / "i.json")
    box = simulate(judged_rows(ds), 200, 0.0, 640, min_area_ratio=0.1).stats
    assert box["min_area_basis"] == "box" and box["tiled_labels"] == 2
    assert box["cut_fragments_dropped"] == 0
    # at 0.08 both rules keep both fragments (0.08 >= 0.08: SAHI's test is >=)
    assert run(tmp_path / "i.json", ratio=0.08)["tiled_labels"] == 2


def test_rle_and_empty_segmentations_keep_the_box_rule(tmp_path):
    rle = {"size": [200, 400], "counts": "abc"}
    s = run(write_coco(tmp_path / "i.json", [rle, [], ...]))
    assert s["min_area_basis"] == "box"
    assert (s["rle_annotations"], s["polygon_annotations"]) == (1, 0)
    assert s["tiled_labels"] == 2 * 3  # every box: 12% left, 88% right, both kept


def test_mixed_basis_counts_each_kind(tmp_path):
    s = run(write_coco(tmp_path / "i.json", [[TRIANGLE], {"size": [200, 400], "counts": "x"}]))
    assert s["min_area_basis"] == "mixed"
    assert (s["polygon_annotations"], s["rle_annotations"], s["tiled_labels"]) == (1, 1, 1 + 2)


def test_box_whole_in_a_tile_is_not_read(tmp_path):
    # x 10..60 lies in the left tile: no tile cuts it, its polygon is never looked up
    s = run(
        write_coco(tmp_path / "i.json", [[[10.0, 10.0, 60.0, 10.0, 10.0, 60.0]]], [[10.0, 10.0, 50.0, 50.0]])
    )
    assert (s["cut_by_some_tile"], s["polygon_annotations"], s["min_area_basis"]) == (0, 0, "box")
    assert s["tiled_labels"] == 1


def test_a_yolo_dataset_keeps_the_box_rule(tmp_path):
    # The same triangle as a YOLO segment row: the loader keeps its bounding box; no polygon
    # is read back for YOLO, so the box rule applies (both fragments kept).
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    Image.new("RGB", (400, 200)).save(tmp_path / "images" / "a.png")
    xy = np.array(TRIANGLE).reshape(-1, 2) / [400, 200]
    (tmp_path / "labels" / "a.txt").write_text("0 " + " ".join(f"{v:.6f}" for v in xy.ravel()) + "\n")
    (tmp_path / "classes.txt").write_text("thing\n")
    ds = load_yolo(tmp_path)
    rows = judged_rows(ds)
    assert len(rows) == 1 and segment_reader(ds, rows, 100.0) is None
    s = simulate(rows, 200, 0.0, 640, min_area_ratio=0.1).stats
    assert s["min_area_basis"] == "box" and s["tiled_labels"] == 2 and s["polygon_annotations"] == 0


def test_overlapping_parts_are_made_valid_not_unioned():
    # Two 10 x 10 squares overlapping by 5 x 5: an invalid MultiPolygon. SAHI's make_valid
    # (linework) leaves the overlap out: 100 + 100 - 2 * 25 = 150 (a union would be 175).
    seg = parse([json.dumps([[0, 0, 10, 0, 10, 10, 0, 10], [5, 5, 15, 5, 15, 15, 5, 15]]).encode()])
    shp = shapes(seg.ann_rings, seg.ring_points, seg.points)
    assert seg.kind.tolist() == [POLYGON] and shp.area.tolist() == [150.0]


def test_kinds_and_limits(monkeypatch):
    texts = [
        b"null",
        b"[]",
        b'{"size": [1, 1], "counts": "a"}',
        b"[[0, 0, 10, 0, 0, 10]]",
        b"[[0, 0, 10, 0]]",  # a ring of 2 points: Polygon() raises in SAHI
        b"[1, 2, 3, 4, 5, 6]",  # a flat list: SAHI zips over a number and raises
        b"[[0, 0, 10, 0, 10, 10, 0, 10, 5]]",  # an odd last number is dropped, as zip does
    ]
    seg = parse(texts)
    assert seg.kind.tolist() == [NONE, NONE, RLE, POLYGON, BROKEN, BROKEN, POLYGON]
    shp = shapes(seg.ann_rings, seg.ring_points, seg.points)
    assert shp.area.tolist() == [50.0, 100.0]
    monkeypatch.setattr(seg_mod, "MAX_POLYGON_VERTICES", 3)
    assert parse(texts[3:4] + texts[6:7]).kind.tolist() == [POLYGON, FALLBACK]  # 3 ok, 4 over
    assert parse(texts[3:4] * 3, budget=[7]).kind.tolist() == [POLYGON, POLYGON, FALLBACK]


def test_over_the_vertex_limit_falls_back_to_the_box_and_is_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(seg_mod, "MAX_POLYGON_VERTICES", 2)
    s = run(write_coco(tmp_path / "i.json", [[TRIANGLE]]))
    assert (s["min_area_basis"], s["polygon_fallbacks"], s["tiled_labels"]) == ("box", 1, 2)


def test_unusable_polygon_is_counted_and_never_kept(tmp_path):
    s = run(write_coco(tmp_path / "i.json", [[[188.0, 150.0, 288.0, 150.0]], [TRIANGLE]]))
    assert s["sahi_unusable_polygons"] == 1 and s["lost_to_min_area"] == 1
    assert s["tiled_labels"] == 1


def test_visdrone_sample_has_empty_segmentations(realdata):
    # Its 3326 annotations all carry "segmentation": [] (falsy: SAHI uses the bbox).
    path = realdata / "sahi_coco" / "visdrone_train_first50.json"
    ds = load_coco(path)
    rows = judged_rows(ds)
    poly = simulate(rows, 320, 0.2, 640, segments=segment_reader(ds, rows, 100.0)).stats
    box = simulate(rows, 320, 0.2, 640).stats
    assert poly["min_area_basis"] == "box" and poly["cut_by_some_tile"] > 0
    assert poly["polygon_annotations"] == poly["polygon_fallbacks"] == poly["rle_annotations"] == 0
    assert {k: v for k, v in poly.items() if k != "cut_by_some_tile"} == {
        k: v for k, v in box.items() if k != "cut_by_some_tile"
    }


def test_terrain_sample_polygons_are_its_boxes(realdata):
    # SAHI's own test file: every segmentation is the 4-corner rectangle of its bbox, so the
    # polygon rule reads polygons and gives the box rule's numbers.
    ds = load_coco(realdata / "sahi_coco" / "terrain1_coco.json")
    rows = judged_rows(ds)
    poly = simulate(rows, 160, 0.2, 640, segments=segment_reader(ds, rows, 100.0)).stats
    box = simulate(rows, 160, 0.2, 640).stats
    assert poly["min_area_basis"] == "polygon" and poly["polygon_annotations"] == 7
    for key in ("tiled_labels", "lost_to_min_area", "cut_fragments_dropped", "tiles_with_labels"):
        assert poly[key] == box[key]


def sahi_shape(segmentation: list) -> MultiPolygon:
    """sahi/utils/shapely.py::get_shapely_multipolygon, written out (filter_polygons included,
    as it behaves under shapely 2)."""
    mp = MultiPolygon([Polygon(list(zip(p[0::2], p[1::2], strict=False))) for p in segmentation])
    if mp.is_valid:
        return mp
    fixed = make_valid(mp)
    if isinstance(fixed, Polygon):
        return MultiPolygon([fixed])
    if isinstance(fixed, MultiPolygon):
        return fixed
    if isinstance(fixed, GeometryCollection):
        polygons = [
            g.geoms if isinstance(g, MultiPolygon) else g
            for g in fixed.geoms
            if isinstance(g, (Polygon, MultiPolygon))
        ]
        return MultiPolygon(polygons) if polygons else MultiPolygon()
    return MultiPolygon()


def sahi_labels(anns: list[dict], img_w: int, img_h: int, t: int, ratio: float, mar: float) -> list:
    """(annotation, tile) labels of slice_coco, one annotation and one tile at a time."""
    out = []
    grid = tile_grid(img_w, img_h, t, ratio)
    for i, a in enumerate(anns):
        x, y, w, h = a["bbox"]
        shape = (
            sahi_shape(a["segmentation"]) if a["segmentation"] else MultiPolygon([box(x, y, x + w, y + h)])
        )
        area = int(sum(g.area for g in shape.geoms))
        minx, miny, maxx, maxy = shape.bounds
        for j, (tx0, ty0, tx1, ty1) in enumerate(grid.bboxes().tolist()):
            if minx >= tx1 or miny >= ty1 or maxx <= tx0 or maxy <= ty0:  # annotation_inside_slice
                continue
            inter = shape.intersection(box(tx0, ty0, tx1, ty1))
            visible = int(inter.area) if inter.geom_type in ("Polygon", "MultiPolygon") else 0
            if visible / area >= mar:
                out.append((i, j))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), t=st.sampled_from([50, 64, 100]), ratio=st.sampled_from([0.0, 0.2]))
def test_labels_equal_a_loop_written_from_sahi(tmp_path_factory, seed, t, ratio):
    rng = np.random.default_rng(seed)
    img_w, img_h = int(rng.integers(100, 300)), int(rng.integers(100, 300))
    anns = []
    for _ in range(12):
        cx, cy = rng.uniform(0, img_w), rng.uniform(0, img_h)
        parts = []
        for p in range(int(rng.choice([1, 1, 2]))):
            n = int(rng.integers(3, 8))
            ang = (
                rng.uniform(0, 2 * np.pi, n) if rng.random() < 0.3 else np.sort(rng.uniform(0, 2 * np.pi, n))
            )
            r = rng.uniform(4, 40, n)
            xs = np.clip(np.round((cx + 15 * p + r * np.cos(ang)) * 2) / 2, 0, img_w)
            ys = np.clip(np.round((cy + r * np.sin(ang)) * 2) / 2, 0, img_h)
            parts.append(np.stack([xs, ys], 1).ravel().tolist())
        allx = np.concatenate([q[0::2] for q in parts])
        ally = np.concatenate([q[1::2] for q in parts])
        bbox = [allx.min(), ally.min(), allx.max() - allx.min(), ally.max() - ally.min()]
        if bbox[2] * bbox[3] < 4 or int(sahi_shape(parts).area) == 0:
            continue  # SAHI cannot slice these (ZeroDivisionError)
        anns.append({"bbox": [float(v) for v in bbox], "segmentation": parts if rng.random() < 0.8 else []})
    if not anns:
        return
    path = write_coco(
        tmp_path_factory.mktemp("c") / "i.json",
        [a["segmentation"] for a in anns],
        [a["bbox"] for a in anns],
        size=(img_w, img_h),
    )
    ref = sahi_labels(anns, img_w, img_h, t, ratio, 0.1)
    s = run(path, 0.1, t, ratio)
    assert s["tiled_labels"] == len(ref)
    assert s["lost_to_min_area"] == len(anns) - len({i for i, _ in ref})
    assert s["tiles_with_labels"] == len({j for _, j in ref})
    assert s["sahi_unusable_polygons"] == 0


def test_rows_without_their_source_get_no_reader(tmp_path):
    ds = load_coco(write_coco(tmp_path / "i.json", [[TRIANGLE]]))
    rows = judged_rows(ds)
    assert segment_reader(ds, rows.drop(columns=["source_line"]), 100.0) is None


def test_a_shape_geos_cannot_intersect_is_unusable():
    # A bow-tie ring is invalid; shapes() would make it valid, so it is put in directly: GEOS
    # raises a TopologyException on it (SAHI stops there too); the valid square is unaffected.
    bowtie = shapely.MultiPolygon([shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])])
    square = shapely.MultiPolygon([shapely.box(0, 0, 10, 10)])
    geoms = np.array([square, bowtie], object)
    shp = Shapes(geoms, np.array([100.0, 1.0]), shapely.bounds(geoms), np.zeros(2, bool))
    tiles = np.array([[5.0, 0.0, 20.0, 20.0]] * 2)
    assert kept_in_tiles(shp, np.array([0, 1]), tiles, 0.1).tolist() == [True, False]
    assert shp.broken.tolist() == [False, True]


def test_a_file_read_the_tolerant_way_still_gives_its_polygons(tmp_path):
    # A NaN literal breaks the typed schema: the loader (and the segment reader) fall back to
    # the stdlib parser; the triangle is still judged on its polygon.
    path = write_coco(tmp_path / "i.json", [[TRIANGLE], [TRIANGLE]])
    path.write_text(path.read_text().replace('"area": 1.0', '"area": NaN', 1))
    s = run(path)
    assert (s["min_area_basis"], s["polygon_annotations"], s["tiled_labels"]) == ("polygon", 2, 2)
