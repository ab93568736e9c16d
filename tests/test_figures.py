"""Report figures: valid embedded images, the expected set, plotted data equal to numbers
computed here from the label files' boxes, and graceful on odd data."""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from figure_capture import capture
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle, StepPatch
from PIL import Image

import sodaudit.figures.anchors
import sodaudit.figures.sizes
import sodaudit.figures.tiles
from sodaudit.analyzers import run_all
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.figures import Figure, build_figures, text, tiling_params
from sodaudit.models import MODELS
from sodaudit.pipeline import assemble, audit
from sodaudit.report import AuditReport

ROOT = Path(__file__).resolve().parents[1]
ALL_KEYS = {
    "sizes.histogram",
    "sizes.per_class",
    "sizes.per_image",
    "sizes.heatmap",
    "sizes.noise_ceiling",
    "anchors.scatter",
    "tiling.grid",
}
SCALE = 640 / 1920
"""Letterbox scale of the sample images (all 1920x1080) at imgsz 640."""


def _check(fig: Figure) -> None:
    head, _, payload = fig.data_uri.partition(",")
    assert head == "data:image/png;base64"
    im = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
    im.load()
    assert im.format == "PNG"
    assert 200 <= im.width <= 1600 and 150 <= im.height <= 2400
    assert fig.title and fig.caption and fig.alt
    assert fig.section in {"dataset", "recommendations", "sizes", "anchors"}


def _label_rows() -> pd.DataFrame:
    """Every box row of the sample's YOLO label files, in pixels; read here, not by the loader.
    Sample images are 1920x1080; a label file without an image holds no boxes."""
    rows = []
    for path in sorted((ROOT / "sample_data" / "yolo").glob("*/labels/*.txt")):
        if not list((path.parent.parent / "images").glob(path.stem + ".*")):
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                cls, _, _, w, h = line.split()[:5]
                rows.append((str(path), int(cls), float(w) * 1920, float(h) * 1080))
    df = pd.DataFrame(rows, columns=["file", "class_id", "w", "h"])
    return df[(df["w"] > 0) & (df["h"] > 0)]


@pytest.fixture(scope="module")
def sample_report(sample_data):
    return audit(sample_data / "yolo")


@pytest.fixture(scope="module")
def drawn(sample_report):
    """The sample's figures and, by key, the matplotlib figures they were encoded from."""
    figures, plots = capture(sample_report)
    return {f.key: f for f in figures}, plots


def test_sample_data_has_every_figure(drawn):
    figures, _ = drawn
    assert set(figures) == ALL_KEYS
    for fig in figures.values():
        _check(fig)
    assert sum(len(f.data_uri) for f in figures.values()) < 400_000


def test_sample_data_captions_carry_the_numbers(sample_report, drawn):
    figures, _ = drawn
    rows = _label_rows()
    native = np.median(np.sqrt(rows["w"] * rows["h"]))
    assert f"{native:.1f} px native" in figures["sizes.histogram"].caption
    assert (
        f"at most {rows.groupby('file').size().max()} labels per image" in figures["sizes.per_image"].caption
    )
    # The plan raises imgsz; its tiling alternative is 320 px tiles, overlap 0.16 (int(51.2) = 51
    # px, covering the 50 px p99 long side): step 269 -> x 0, 269, 538, 807, 1076, 1345, then
    # flush 1600 (7 columns); y 0, 269, 538, then flush 760 (4 rows).
    (tiling,) = [a for a in sample_report.plan["alternatives"] if a["primary"] == "tiling"]
    assert (tiling["tile"], tiling["overlap"]) == (320, 0.16)
    assert "7 x 4 = 28 tiles of 320 px with 51 px overlap" in figures["tiling.grid"].caption
    assert "the plan's tiling alternative" in figures["tiling.grid"].caption


def test_size_histogram_counts_every_label(drawn):
    _, plots = drawn
    ax = plots["sizes.histogram"].axes[0]
    native, model = [p for p in ax.patches if isinstance(p, StepPatch)]
    rows = _label_rows()
    size = np.sqrt(rows["w"] * rows["h"]).to_numpy()
    for patch, expected in ((native, size), (model, size * SCALE)):
        values, edges, _ = patch.get_data()
        np.testing.assert_array_equal(values, np.histogram(expected, edges)[0])
        assert values.sum() == len(rows)
    lines = sorted(line.get_xdata()[0] for line in ax.lines)
    assert lines == [3, 8, 16, 32]  # the 3 px sub-threshold rule and yolov8's strides


def test_box_plot_shows_each_class_percentiles(drawn):
    _, plots = drawn
    ax = plots["sizes.per_class"].axes[0]
    rows = _label_rows()
    rows = rows.assign(size=np.sqrt(rows["w"] * rows["h"]) * SCALE)
    names = ["car", "truck", "person", "bicycle", "boat"]  # sample_data/yolo/data.yaml
    q = {names[c]: np.percentile(g["size"], [5, 25, 50, 75, 95]) for c, g in rows.groupby("class_id")}
    order = sorted(q, key=lambda n: q[n][2])
    assert [t.get_text() for t in ax.get_yticklabels()] == order  # smallest median on top
    # each class is a row y = 0, 1, ...: a whisker from p5 to p95, a box from q1 to q3, a median
    whiskers, medians = (c for c in ax.collections if isinstance(c, LineCollection))
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == len(order)
    for y, name in enumerate(order):
        (x0, y0), (x1, _) = whiskers.get_segments()[y]
        assert y0 == y
        np.testing.assert_allclose([x0, x1], [q[name][0], q[name][4]])
        (mx0, my0), (mx1, my1) = medians.get_segments()[y]
        np.testing.assert_allclose([mx0, mx1], [q[name][2]] * 2)
        assert my0 < y < my1
        box = boxes[y]
        assert box.get_y() < y < box.get_y() + box.get_height()
        np.testing.assert_allclose([box.get_x(), box.get_x() + box.get_width()], [q[name][1], q[name][3]])


def test_labels_per_image_histogram(drawn, sample_report):
    _, plots = drawn
    ax = plots["sizes.per_image"].axes[0]
    (patch,) = [p for p in ax.patches if isinstance(p, StepPatch)]
    values, edges, _ = patch.get_data()
    per_file = _label_rows().groupby("file").size()
    n_images = len(sample_report.dataset.images)
    counts = np.concatenate([per_file.to_numpy(), np.zeros(n_images - len(per_file))])
    np.testing.assert_array_equal(values, np.histogram(counts, edges)[0])


def test_anchor_scatter_shows_every_label_and_the_yolov5_anchors(drawn):
    _, plots = drawn
    ax = plots["anchors.scatter"].axes[0]
    # The default model (yolov8) is anchor-free: no anchors are fitted, none drawn as suggested.
    labels, anchors = [c for c in ax.collections if isinstance(c, PathCollection)]
    rows = _label_rows()
    got = labels.get_offsets()
    assert len(got) == len(rows)
    np.testing.assert_allclose(sorted(got[:, 0]), sorted(rows["w"] * SCALE))
    expected = sorted(tuple(a) for level in MODELS["yolov5"].anchors for a in level)
    assert sorted(map(tuple, anchors.get_offsets().tolist())) == expected


def test_anchor_scatter_of_an_anchor_based_model_adds_its_suggested_anchors(sample_data):
    report = audit(sample_data / "yolo", model="yolov5")
    (fig,) = [f for f in build_figures(report) if f.key == "anchors.scatter"]
    suggested = report.analyzers["anchors"].stats.suggested
    assert suggested.status in ("ok", "defaults_kept") and len(suggested.anchors) == 9
    assert f"The 9 suggested anchors reach {suggested.bpr:.1%}" in fig.caption


def test_heatmap_is_the_histogram_of_box_centres(drawn, sample_report):
    _, plots = drawn
    (image,) = [a for a in plots["sizes.heatmap"].axes[0].get_children() if isinstance(a, AxesImage)]
    b = sample_report.dataset.boxes
    b = b[(b["w"] > 0) & (b["h"] > 0)]
    cx = np.clip((b["x"] + b["w"] / 2) / 1920, 0, 1)  # centres off the image count at its edge
    cy = np.clip((b["y"] + b["h"] / 2) / 1080, 0, 1)
    hist, _, _ = np.histogram2d(cy, cx, bins=32, range=[[0, 1], [0, 1]])
    np.testing.assert_allclose(image.get_array(), 100 * hist / len(b))


def test_tile_grid_rectangles_are_the_plans_tiles(drawn):
    _, plots = drawn
    ax = plots["tiling.grid"].axes[0]
    tiles = sorted(p.get_xy() for p in ax.patches if isinstance(p, Rectangle))
    assert tiles == sorted((x, y) for x in (0, 269, 538, 807, 1076, 1345, 1600) for y in (0, 269, 538, 760))
    assert {(p.get_width(), p.get_height()) for p in ax.patches if isinstance(p, Rectangle)} == {(320, 320)}


def test_tiling_params(sample_report):
    assert tiling_params(sample_report) == (320, 51, "alternative")
    without = replace(sample_report, plan=None)
    assert tiling_params(without) == (640, 128, "default")  # imgsz tiles, int(0.2 * 640) overlap


def test_tile_grid_uses_the_recommended_tiles(sample_report):
    recs = ({"kind": "tiling", "summary": "tile", "params": {"tile_size": 960, "overlap_px": 192}},)
    figs = {f.key: f for f in build_figures(replace(sample_report, recommendations=recs))}
    # 1920: 0, 768, then 1536 + 960 > 1920 -> 960; 1080: 0, then 768 + 960 > 1080 -> 120
    caption = figs["tiling.grid"].caption
    assert "3 x 2 = 6 tiles of 960 px with 192 px overlap (from the tiling recommendation)" in caption
    _check(figs["tiling.grid"])


# --- odd data ------------------------------------------------------------------------------------


def _report(images: pd.DataFrame, boxes: pd.DataFrame, classes: dict, root: Path) -> AuditReport:
    ds = Dataset.build(root=root, format="test", boxes=boxes, images=images, classes=classes)
    config = Config()
    return assemble(ds, config, run_all(ds, config))


def _images(n: int, path: str = "", w: float = 1920.0, h: float = 1080.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": range(n),
            "file_name": [f"img{i}.jpg" for i in range(n)],
            "path": path,
            "split": "train",
            "width": w,
            "height": h,
            "status": "ok",
        }
    )


def test_no_boxes_gives_few_figures_and_no_error(tmp_path):
    boxes = pd.DataFrame(columns=["image_id", "class_id", "x", "y", "w", "h"])
    figs = build_figures(_report(_images(3), boxes, {0: "a"}, tmp_path))
    assert [f.key for f in figs] == ["sizes.per_image"]
    assert "3 images have none" in figs[0].caption
    _check(figs[0])


def test_no_images_at_all(tmp_path):
    boxes = pd.DataFrame(columns=["image_id", "class_id", "x", "y", "w", "h"])
    assert build_figures(_report(_images(0), boxes, {}, tmp_path)) == []


def test_odd_class_names_nan_boxes_and_missing_files(tmp_path):
    names = {
        0: "$x^2$",
        1: "<script>alert(1)</script>",
        2: 'a "quoted" </style> name',
        3: "a$b",
        4: "x" * 300,
    }
    rng = np.random.default_rng(1)
    n = 200
    boxes = pd.DataFrame(
        {
            "image_id": rng.integers(0, 4, n),
            "class_id": rng.integers(0, 6, n),  # class 5 is undeclared
            "x": rng.uniform(0, 1800, n),
            "y": rng.uniform(0, 1000, n),
            "w": rng.uniform(1, 60, n),
            "h": rng.uniform(1, 60, n),
        }
    )
    boxes.loc[0, "w"] = np.nan
    boxes.loc[1, "h"] = 0.0
    images = _images(4, path=str(tmp_path / "does-not-exist.jpg"))
    images.loc[3, ["width", "height"]] = np.nan  # unknown size: no model-input size
    figs = build_figures(_report(images, boxes, names, tmp_path))
    keys = {f.key for f in figs}
    assert keys == ALL_KEYS - {"tiling.grid"}  # no readable image file, no tile grid
    for fig in figs:
        _check(fig)


def test_images_smaller_than_a_tile_have_no_grid(tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (320, 240), (90, 90, 90)).save(path)
    boxes = pd.DataFrame(
        {
            "image_id": [0, 0],
            "class_id": [0, 0],
            "x": [10.0, 50],
            "y": [10.0, 50],
            "w": [5.0, 9],
            "h": [5.0, 9],
        }
    )
    figs = build_figures(_report(_images(1, str(path), 320, 240), boxes, {0: "dot"}, tmp_path))
    assert "tiling.grid" not in {f.key for f in figs}


def test_tile_grid_on_a_real_file_counts_whole_labels(tmp_path):
    # 1920x1080 image, default 640 px tiles with 128 px overlap: x starts 0, 512, 1024, 1280 and
    # y starts 0, 440. A 10 px box at x 630..640 lies wholly in the first column (0..640), a 40 px
    # box at x 620..660 wholly in the second (512..1152); a 700 px wide box fits in no 640 px tile.
    path = tmp_path / "big.jpg"
    Image.new("RGB", (1920, 1080), (30, 60, 30)).save(path)
    boxes = pd.DataFrame(
        {
            "image_id": [0, 0, 0],
            "class_id": [0, 0, 0],
            "x": [630.0, 620.0, 100.0],
            "y": [100.0, 100.0, 100.0],
            "w": [10.0, 40.0, 700.0],
            "h": [10.0, 40.0, 50.0],
        }
    )
    report = _report(_images(1, str(path)), boxes, {0: "thing"}, tmp_path)
    figs = {f.key: f for f in build_figures(replace(report, recommendations=()))}
    assert "4 x 2 = 8 tiles of 640 px with 128 px overlap" in figs["tiling.grid"].caption
    assert "2 of 3 labels lie wholly inside at least one tile" in figs["tiling.grid"].caption
    _check(figs["tiling.grid"])


def test_heatmap_caption_from_centres(tmp_path):
    # Every centre at (0.5, 0.5) of the image: all of them in the central half.
    boxes = pd.DataFrame(
        {"image_id": [0] * 4, "class_id": [0] * 4, "x": 950.0, "y": 530.0, "w": 20.0, "h": 20.0}
    )
    figs = {f.key: f for f in build_figures(_report(_images(1), boxes, {0: "c"}, tmp_path))}
    assert "100.0% lie in the central half" in figs["sizes.heatmap"].caption
    assert "holds 100.0%" in figs["sizes.heatmap"].caption


def test_a_failing_figure_raises(sample_report, monkeypatch):
    """A bug in a figure is not hidden by leaving the figure out (the page notes the failure)."""

    def broken(report):
        raise KeyError("per_class")

    monkeypatch.setattr(sodaudit.figures, "BUILDERS", (broken,))
    with pytest.raises(KeyError):
        build_figures(sample_report)


def test_text_escapes_mathtext():
    assert text("$x$") == r"\$x\$"
    assert len(text("y" * 100, 20)) == 20
