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
from matplotlib.font_manager import FontProperties
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


EDGE = 0.12
"""Margin on a side with nothing outside the axes, in inches (on the right, an x tick label at the
end of the axis reaches out half its width: new_figure keeps 0.25 there)."""
X_AXIS_ROOM = 0.55
"""Room below an axes for its tick labels and axis label (10 pt text), in inches."""
Y_AXIS_ROOM = 0.85
"""Room left of an axes for tick labels of up to 7 digits and the axis label, in inches."""
LEGEND_ROW = 0.3
"""Room for one row of the legend below the plot (8 pt text), in inches."""
TICK_ROOM = 0.1
"""Tick length plus the gap to its label (3.5 pt each), in inches."""
STRIDE_LABELS = 0.25
"""Room above an axes for the stride labels of :func:`sodaudit.figures.axes.size_lines`, in inches."""


def new_figure(
    width: float,
    height: float,
    *,
    left: float = Y_AXIS_ROOM,
    bottom: float = X_AXIS_ROOM,
    right: float = 0.25,
    top: float = EDGE,
) -> MplFigure:
    """A figure on its own Agg canvas whose subplots sit inside fixed margins (in inches).

    Fixed margins rather than constrained layout, which measures every tick label of every axes
    in a pass of its own before the figure is drawn. Its own canvas rather than pyplot: no global
    figure registry, no GUI backend chosen for us.
    """
    fig = MplFigure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height
    )
    return fig


def text_width(fig: MplFigure, labels: list[str], fontsize: float) -> float:
    """Width in inches of the widest of ``labels`` as drawn at ``fontsize`` on ``fig``."""
    renderer = fig.canvas.get_renderer()
    font = FontProperties(size=fontsize)
    widest = max(
        (renderer.get_text_width_height_descent(s, font, ismath=False)[0] for s in labels), default=0.0
    )
    return widest / fig.dpi


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
