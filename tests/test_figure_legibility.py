"""Report figures are legible where the report shows them: every text a figure draws is at least
9 pt at its displayed size, and lies wholly inside the figure (nothing cut at the edge).

Measured on the real artists: each figure is drawn on its Agg canvas, every Text artist that is
visible, non-empty and actually drawn is taken from ``fig.findobj(Text)``, and its font size and
window extent are read back. The display scale is the one the page applies: a PNG is shown at
most at the width of its place in the page (CSS ``max-width: 100%``), in CSS pixels of 1/96 in.
"""

from __future__ import annotations

import re
from pathlib import Path

import figure_capture
import matplotlib.text
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure as MplFigure
from PIL import Image

from sodaudit.analyzers import run_all
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.figures.common import COLUMN_PX, CSS_PX_PER_INCH, FULL_PX
from sodaudit.pipeline import assemble, audit

ROOT = Path(__file__).resolve().parents[1]
MIN_PT = 9.0
FULL_WIDTH = {"tiling.grid"}
"""Figures shown across the page; the others are in the two-column ``.figs`` grid."""
ALL_KEYS = {
    "sizes.histogram",
    "sizes.per_class",
    "sizes.per_image",
    "sizes.heatmap",
    "sizes.noise_ceiling",
    "anchors.scatter",
    "tiling.grid",
}


def display_px(key: str, fig: MplFigure) -> float:
    """CSS width the report shows the figure's PNG at: its place's width, or its own pixel width
    when narrower (the page never enlarges an image)."""
    natural = fig.get_figwidth() * fig.dpi
    return min(natural, FULL_PX if key in FULL_WIDTH else COLUMN_PX)


def display_scale(key: str, fig: MplFigure) -> float:
    """Displayed size of one point of the figure, in screen points (1 pt = 1/72 CSS inch)."""
    return display_px(key, fig) / (fig.get_figwidth() * CSS_PX_PER_INCH)


def drawn_texts(fig: MplFigure) -> list[matplotlib.text.Text]:
    """The visible, non-empty Text artists of ``fig`` that a draw of its canvas renders (an axis
    keeps spare tick objects outside its view that are never drawn)."""
    drawn: set[int] = set()
    original = matplotlib.text.Text.draw

    def recording(self, renderer):
        drawn.add(id(self))
        return original(self, renderer)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(matplotlib.text.Text, "draw", recording)
        fig.canvas.draw()
    return [
        t
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_visible() and t.get_text().strip() and id(t) in drawn
    ]


def problems(key: str, fig: MplFigure) -> tuple[float, list[str]]:
    """The smallest displayed font size in the figure, and every text too small or outside it."""
    scale = display_scale(key, fig)
    renderer = fig.canvas.get_renderer()
    texts = drawn_texts(fig)
    assert texts, f"{key}: no text drawn"
    box = fig.bbox
    bad = []
    smallest = np.inf
    for t in texts:
        shown = t.get_fontsize() * scale
        smallest = min(smallest, shown)
        if shown < MIN_PT:
            bad.append(f"{key}: {t.get_text()!r} shows at {shown:.2f} pt")
        ext = t.get_window_extent(renderer)
        if ext.x0 < box.x0 - 0.5 or ext.y0 < box.y0 - 0.5 or ext.x1 > box.x1 + 0.5 or ext.y1 > box.y1 + 0.5:
            bad.append(f"{key}: {t.get_text()!r} at {ext.bounds} leaves the figure {box.bounds}")
    return smallest, bad


def capture(report) -> dict[str, MplFigure]:
    """The report's matplotlib figures by figure key, as encoded for the page."""
    return figure_capture.capture(report)[1]


def _report(tmp_path: Path, n_classes: int, name_length: int, seed: int = 0):
    """A crowded synthetic dataset on one real 1920x1080 image file and 39 without files: many
    classes with long names, sizes from 1 px to a whole image (stride and cap lines near both
    ends of their axes), one image over every detection cap."""
    rng = np.random.default_rng(seed)
    path = tmp_path / "crowd.png"
    Image.new("RGB", (1920, 1080), (40, 70, 40)).save(path)
    n_images = 40
    images = pd.DataFrame(
        {
            "image_id": range(n_images),
            "file_name": [f"img{i}.png" for i in range(n_images)],
            "path": [str(path)] + [""] * (n_images - 1),
            "split": "train",
            "width": 1920.0,
            "height": 1080.0,
            "status": "ok",
        }
    )
    n = 6000
    side = np.exp(rng.uniform(0, np.log(1000), n))
    image_id = np.where(np.arange(n) < 1600, 0, rng.integers(1, n_images, n))  # image 0 over every cap
    boxes = pd.DataFrame(
        {
            "image_id": image_id,
            "class_id": rng.integers(0, n_classes, n),
            "x": rng.uniform(0, 1919, n),
            "y": rng.uniform(0, 1079, n),
            "w": side,
            "h": side * rng.uniform(0.3, 3, n),
        }
    )
    boxes["w"] = np.minimum(boxes["w"], 1920 - boxes["x"])
    boxes["h"] = np.minimum(boxes["h"], 1080 - boxes["y"])
    names = {c: f"class {c:02d} " + "W" * (name_length - 9) for c in range(n_classes)}
    ds = Dataset.build(root=tmp_path, format="test", boxes=boxes, images=images, classes=names)
    config = Config()
    return assemble(ds, config, run_all(ds, config))


@pytest.fixture(scope="module")
def sample_plots(sample_data):
    return capture(audit(sample_data / "yolo"))


@pytest.fixture(scope="module")
def crowded_plots(tmp_path_factory):
    return capture(_report(tmp_path_factory.mktemp("crowd"), n_classes=80, name_length=40))


def test_the_display_widths_are_the_reports_css():
    """COLUMN_PX and FULL_PX are read off report.css: a change there must change them too."""
    css = (ROOT / "report_templates" / "report.css").read_text()
    main = re.search(r"(?m)^main \{[^}]*max-width: (\d+)px;[^}]*padding: (\d+)px", css)
    figs = re.search(r"(?m)^\.figs \{[^}]*minmax\((\d+)px, 1fr\)\); gap: (\d+)px", css)
    border = re.search(r"(?m)^figure\.fig img \{[^}]*border: (\d+)px", css)
    assert main and figs and border
    content = int(main[1]) - 2 * int(main[2])
    assert content >= 2 * int(figs[1]) + int(figs[2])  # two columns at the page's full width
    assert (content - int(figs[2])) // 2 - 2 * int(border[1]) == COLUMN_PX
    assert content - 2 * int(border[1]) == FULL_PX


@pytest.mark.parametrize("key", sorted(ALL_KEYS))
def test_sample_figure_text_is_legible_and_inside(sample_plots, key):
    smallest, bad = problems(key, sample_plots[key])
    assert not bad, "\n".join(bad)
    assert smallest >= MIN_PT


@pytest.mark.parametrize("key", sorted(ALL_KEYS))
def test_crowded_figure_text_is_legible_and_inside(crowded_plots, key):
    """80 classes with 40-character names (cut to 28), sizes over three decades, every cap line."""
    smallest, bad = problems(key, crowded_plots[key])
    assert not bad, "\n".join(bad)
    assert smallest >= MIN_PT


def test_crowded_figures_show_what_they_promise(crowded_plots):
    box_plot = crowded_plots["sizes.per_class"].axes[0]
    assert len(box_plot.get_yticklabels()) == 80
    caps = [t.get_text() for t in crowded_plots["sizes.per_image"].axes[0].texts]
    assert caps == ["COCOeval 100", "YOLO 300", "VisDrone 500", "AI-TOD 1500"]
    strides = [t.get_text() for t in crowded_plots["sizes.histogram"].axes[0].texts]
    assert strides == ["s8", "s16", "s32"]


def test_few_classes_and_short_names(tmp_path):
    plots = capture(_report(tmp_path, n_classes=2, name_length=10, seed=3))
    assert set(plots) == ALL_KEYS
    for key, fig in plots.items():
        smallest, bad = problems(key, fig)
        assert not bad, "\n".join(bad)
        assert smallest >= MIN_PT


def test_figures_stay_small_in_the_page(crowded_plots):
    """Legible text must not make the figures huge: the column figures are drawn at the column's
    width, so they show at (about) their own size, and at most 2,400 px tall."""
    for key, fig in crowded_plots.items():
        if key not in FULL_WIDTH:
            assert 0.95 <= display_scale(key, fig) <= 1.05
        assert fig.get_figheight() * fig.dpi <= 2400


def test_visibility_curve_is_legible_and_inside(sample_data):
    """Drawn only with --pixels (the visibility analyzer reads image crops)."""
    plots = capture(audit(sample_data / "yolo", pixels=True))
    smallest, bad = problems("visibility.curve", plots["visibility.curve"])
    assert not bad, "\n".join(bad)
    assert smallest >= MIN_PT
