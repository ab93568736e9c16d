"""What every figure module shares: the ``Figure`` record, the palette, a new figure on its own
Agg canvas, PNG encoding, safe label text, and the few settings the figures read.

Kept apart from the drawing so each figure module holds only its own plots.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from PIL import Image

from sodaudit.models import MODELS

DPI = 100
NATIVE_COLOR = "#4c72b0"
MODEL_COLOR = "#dd8452"
STRIDE_COLOR = "#555555"
THRESHOLD_COLOR = "#c44e52"


@dataclass(frozen=True)
class Figure:
    """One drawn figure: where it goes in the report, its words, and the image as a data URI."""

    key: str
    section: str
    title: str
    caption: str
    data_uri: str
    alt: str


CSS_PX_PER_INCH = 96
"""A CSS inch: what a browser at 100% zoom shows one inch of a figure as, in CSS pixels."""
COLUMN_PX = 517
"""Width the report shows a figure of the sizes and anchors sections at, in CSS pixels: one of the
two columns of its ``.figs`` grid at the page's full width (``main`` 1100 px less 2 x 24 px padding,
a 14 px gap, then the image's 1 px border each side: (1100 - 48 - 14) / 2 - 2)."""
FULL_PX = 1050
"""Width of a figure shown across the page (the tile grid), in CSS pixels: ``main`` less its
padding and the image border. A figure narrower than this is shown at its own pixel size."""
COLUMN_WIDTH = COLUMN_PX / CSS_PX_PER_INCH
"""Width of the column figures, in inches: drawn at the size they are shown, so a point in the
figure is a point on the screen (an 8 in figure squeezed into the column showed 7 pt as 4.7 pt)."""
DPI = 150
"""Pixels per inch of the PNGs: about 800 px across a column figure, so a display at 1.5x still
gets a pixel per device pixel; the report shows them at their CSS size (``max-width: 100%``)."""
FONT = 10.0
"""Axis labels and everything else by default, in points."""
SMALL_FONT = 9.5
"""The smallest text of any figure (tick labels, legends, stride and cap labels), in points: 9.5 pt
on screen in the 517 px column, still 9 pt in a 490 px one (a narrower window; the two-column grid
gets no narrower than 487 px, then turns into one wider column)."""
PAD = 4 / 72
"""Padding of the constrained layout around the figure's content, in inches (4 pt)."""


def new_figure(width: float, height: float, *, dpi: float = DPI) -> MplFigure:
    """A figure on its own Agg canvas, laid out by matplotlib's constrained layout: the axes
    shrink until every tick label, axis label, legend and in-layout annotation fits inside the
    figure, so nothing is cut at its edge whatever the data's labels are.

    Its own canvas rather than pyplot: no global figure registry, no GUI backend chosen for us,
    no rcParams changed (every text gets its size here or where it is made).
    """
    fig = MplFigure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=PAD, h_pad=PAD, wspace=0, hspace=0)
    return fig


def encode(fig: MplFigure) -> str:
    """The figure as a palette PNG data URI: plots have few colours, so 256 keep them sharp at
    a fraction of the size of a true-colour PNG (and 3-4x smaller than an SVG of the same plot)."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    image = Image.fromarray(rgba[..., :3].copy(), "RGB")
    image = image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def text(value: object, limit: int = 40) -> str:
    """A dataset string safe for matplotlib: no mathtext (``$``), bounded length."""
    s = str(value).replace("\n", " ").replace("\r", " ")
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def finite_positive(values: pd.Series) -> np.ndarray:
    """The finite, positive values: sizes at model input are NaN when an image's size is unknown."""
    v = values.to_numpy(dtype=np.float64)
    return v[np.isfinite(v) & (v > 0)]


def model_strides(report: Any) -> tuple[str, tuple[int, ...]]:
    """The selected model's name and strides (none for a model without a preset)."""
    preset = MODELS.get(report.config.model)
    return (preset.name, preset.strides) if preset else ("", ())


def pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"
