"""Report figures: valid embedded images, the expected set, no pyplot, graceful on odd data."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sodaudit.analyzers import run_all
from sodaudit.audit import audit
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.figures import Figure, build_figures, text, tile_starts, tiling_params
from sodaudit.report import AuditReport

ROOT = Path(__file__).resolve().parents[1]
ALL_KEYS = {
    "sizes.histogram",
    "sizes.per_class",
    "sizes.per_image",
    "sizes.heatmap",
    "anchors.scatter",
    "tiling.grid",
}


def _decode(fig: Figure) -> Image.Image | ET.Element:
    head, _, payload = fig.data_uri.partition(",")
    raw = base64.b64decode(payload, validate=True)
    if head == "data:image/png;base64":
        im = Image.open(io.BytesIO(raw))
        im.load()
        return im
    assert head == "data:image/svg+xml;base64", head
    return ET.fromstring(raw)


def _check(fig: Figure) -> None:
    decoded = _decode(fig)
    if isinstance(decoded, Image.Image):
        assert decoded.format == "PNG"
        assert 200 <= decoded.width <= 1600 and 150 <= decoded.height <= 2400
    assert fig.title and fig.caption and fig.alt
    assert fig.section in {"dataset", "recommendations", "sizes", "anchors"}


@pytest.fixture(scope="module")
def sample_report(sample_data):
    return audit(sample_data / "yolo")


@pytest.fixture(scope="module")
def sample_figures(sample_report):
    return build_figures(sample_report)


def test_sample_data_has_every_figure(sample_figures):
    keys = [f.key for f in sample_figures]
    assert set(keys) == ALL_KEYS
    assert len(keys) == len(set(keys))
    for fig in sample_figures:
        _check(fig)
    total = sum(len(f.data_uri) for f in sample_figures)
    assert total < 400_000, total


def test_sample_data_captions_carry_the_numbers(sample_report, sample_figures):
    by_key = {f.key: f for f in sample_figures}
    b = sample_report.dataset.boxes
    sel = b[b["valid"] & ~b["ignore"]]
    # median sqrt(area) native, computed here from w and h directly
    native = np.median(np.sqrt(sel["w"] * sel["h"]))
    assert f"{native:.1f} px native" in by_key["sizes.histogram"].caption
    # labels per image: the busiest image, from the raw label files (one row per line)
    counts = [
        sum(1 for line in p.read_text().splitlines() if line.strip())
        for p in (ROOT / "sample_data" / "yolo").glob("*/labels/*.txt")
    ]
    assert f"at most {max(counts)} labels per image" in by_key["sizes.per_image"].caption
    # sample images are 1920x1080; the tiling recommendation says 640 px tiles with 51 px overlap:
    # step 589 -> x 0, 589, 1178, then flush 1280 (4 columns); y 0, then flush 440 (2 rows)
    (tiling,) = [r for r in sample_report.recommendations if r["kind"] == "tiling"]
    assert (tiling["params"]["tile_size"], tiling["params"]["overlap_px"]) == (640, 51)
    assert "4 x 2 = 8 tiles of 640 px with 51 px overlap" in by_key["tiling.grid"].caption
    assert "from the tiling recommendation" in by_key["tiling.grid"].caption


def test_no_pyplot_in_a_fresh_interpreter():
    code = (
        "import sys\n"
        "from sodaudit.audit import audit\n"
        "from sodaudit.figures import build_figures\n"
        "from sodaudit.gallery import smallest_labels\n"
        "r = audit('sample_data/yolo')\n"
        "figs = build_figures(r)\n"
        "items = smallest_labels(r.dataset)\n"
        "assert len(figs) == 6 and len(items) == 48, (len(figs), len(items))\n"
        "print('matplotlib.pyplot' in sys.modules, 'matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "expected"),
    [
        # step 640 - 128 = 512: 0, 512, 1024; 1536 + 640 > 1920, so the last is flush: 1920 - 640
        (1920, 640, 128, [0, 512, 1024, 1280]),
        (1080, 640, 128, [0, 440]),
        (1152, 640, 128, [0, 512]),  # 512 + 640 = 1152 ends exactly at the border
        (640, 640, 128, [0]),
        (500, 640, 128, [0]),  # image smaller than a tile: one tile at 0
        (1000, 400, 0, [0, 400, 600]),
    ],
)
def test_tile_starts_by_hand(length, tile, overlap, expected):
    assert tile_starts(length, tile, overlap) == expected


def _sahi_reference(width: int, tile: int, overlap: int) -> list[int]:
    """SAHI get_slice_bboxes along one axis, transcribed: x_min advances to x_max - overlap."""
    starts, x_min, x_max = [], 0, 0
    while x_max < width:
        x_max = x_min + tile
        starts.append(max(0, min(width, x_max) - tile) if x_max > width else x_min)
        x_min = x_max - overlap
    return starts


@pytest.mark.parametrize("length", [1, 300, 640, 641, 1279, 1280, 1920, 4000])
@pytest.mark.parametrize(("tile", "overlap"), [(640, 128), (512, 0), (960, 480), (100, 99)])
def test_tile_starts_match_sahi(length, tile, overlap):
    assert tile_starts(length, tile, overlap) == _sahi_reference(length, tile, overlap)


class _Report:
    """The few attributes the figures read, for hand-made recommendations."""

    def __init__(self, base, recommendations):
        self.dataset, self.config, self.analyzers = base.dataset, base.config, base.analyzers
        self.recommendations = recommendations


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"tile_size": 960, "overlap_px": 192}, (960, 192, True)),
        ({"tile_size": 960, "overlap_ratio": 0.25}, (960, 240, True)),
        ({"sahi": {"slice_width": 800, "slice_height": 800, "overlap_width_ratio": 0.1}}, (800, 80, True)),
        ({"tile": 1280, "overlap": 0.5}, (1280, 640, True)),
        ({"nothing": "useful"}, (640, 128, False)),
    ],
)
def test_tiling_params_from_recommendation(sample_report, params, expected):
    recs = [
        {"kind": "resolution", "params": {"imgsz": 1280}},
        {"kind": "tiling", "summary": "", "params": params},
    ]
    assert tiling_params(_Report(sample_report, recs)) == expected


def test_tile_grid_uses_the_recommended_tiles(sample_report):
    recs = [{"kind": "tiling", "summary": "tile", "params": {"tile_size": 960, "overlap_px": 192}}]
    figs = {f.key: f for f in build_figures(_Report(sample_report, recs))}
    # 1920: 0, 768, then 1536 + 960 > 1920 -> 960; 1080: 0, then 768 + 960 > 1080 -> 120
    caption = figs["tiling.grid"].caption
    assert "3 x 2 = 6 tiles of 960 px with 192 px overlap (from the tiling recommendation)" in caption
    _check(figs["tiling.grid"])


# --- odd data ------------------------------------------------------------------------------------


def _report(images: pd.DataFrame, boxes: pd.DataFrame, classes: dict, root: Path) -> AuditReport:
    ds = Dataset.build(root=root, format="test", boxes=boxes, images=images, classes=classes)
    config = Config()
    return AuditReport.build(ds, config, run_all(ds, config))


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
    figs = {f.key: f for f in build_figures(_report(_images(1, str(path)), boxes, {0: "thing"}, tmp_path))}
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


def test_text_escapes_mathtext():
    assert text("$x$") == r"\$x\$"
    assert len(text("y" * 100, 20)) == 20
