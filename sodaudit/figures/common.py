"""What every figure module shares: the ``Figure`` record, the palette, figures at fixed margins,
label measuring, PNG encoding, safe label text, and the look-ups into the report and dataset.

Kept apart from the drawing so each figure module holds only its own plots.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.font_manager import FontProperties
from PIL import Image

from sodaudit.dataset import Dataset
from sodaudit.figures.record import Figure as Figure
from sodaudit.models import MODELS

DPI = 100
NATIVE_COLOR = "#4c72b0"
MODEL_COLOR = "#dd8452"
STRIDE_COLOR = "#555555"
THRESHOLD_COLOR = "#c44e52"


Margins = tuple[float, float, float, float]
"""Left, right, bottom, top, in inches."""
TICK_SPACE_IN = 7 / 72
"""Tick mark plus its label pad (3.5 pt each, matplotlib's defaults)."""
X_TICKS_IN = TICK_SPACE_IN + 0.17
"""Below the axes: ticks and one line of 10 pt tick labels."""
AXIS_LABEL_IN = 4 / 72 + 0.19
"""Label pad plus one line of 10 pt axis label."""
LEGEND_ROW_IN = 0.3
"""One row of 8 pt legend entries below the figure, with its padding."""
STRIDE_LABELS_IN = 0.2
"""Above the axes: the 7 pt stride labels (s8, s16, ...)."""


def _new_figure(width: float, height: float, margins: Margins) -> MplFigure:
    """A figure on its own Agg canvas with the axes area at fixed margins (inches).

    Fixed margins instead of constrained layout: the layout engine measured every tick label and
    legend entry again on each of its passes, which cost more than drawing the figure. The
    margins are sized from the labels each figure actually shows (see :func:`_label_width`).
    """
    fig = MplFigure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    left, right, bottom, top = margins
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height
    )
    return fig


def _label_width(fig: MplFigure, labels: Iterable[str], size: float) -> float:
    """Width in inches of the widest label at ``size`` points, as Agg lays it out."""
    renderer = fig.canvas.get_renderer()
    prop = FontProperties(size=size)
    widest = 0.0
    for label in labels:
        if label:
            w, _, _ = renderer.get_text_width_height_descent(label.replace(r"\$", "$"), prop, ismath=False)
            widest = max(widest, w)
    return widest / fig.dpi


def _tick_labels(axis: Any) -> list[str]:
    """The tick labels ``axis`` will draw (major and minor) for its current limits."""
    lo, hi = sorted(axis.get_view_interval())
    labels = []
    for locator, formatter in (
        (axis.get_major_locator(), axis.get_major_formatter()),
        (axis.get_minor_locator(), axis.get_minor_formatter()),
    ):
        locs = [v for v in locator() if lo <= v <= hi]
        labels += formatter.format_ticks(locs) if locs else []
    return labels


def _fit_left(fig: MplFigure, ax: Any, *, size: float = 10, ylabel: bool = True) -> None:
    """Move the axes' left edge so the y tick labels (and the y label) just fit."""
    width = _label_width(fig, _tick_labels(ax.yaxis), size) + TICK_SPACE_IN + 0.08
    if ylabel:
        width += AXIS_LABEL_IN
    fig.subplots_adjust(left=width / fig.get_figwidth())


def encode(fig: MplFigure, *, svg: bool = False) -> str:
    """The figure as a data URI: a palette PNG, or an SVG when asked for and smaller.

    Measured on sample_data and coco_mini, the SVG (text as paths, so it needs no fonts) is
    3-4x larger than the palette PNG for every figure here, so it is not tried by default.
    """
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    image = Image.fromarray(rgba[..., :3].copy(), "RGB")
    # Plots have few colours; a 256-colour palette keeps them sharp at a fraction of the size.
    image = image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    # zlib's default level: within 10% of optimize=True's size at a tenth of its time.
    image.save(buf, format="PNG", compress_level=6)
    best = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    if svg:
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        candidate = "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        if len(candidate) < len(best):
            best = candidate
    return best


def text(value: object, limit: int = 40) -> str:
    """A dataset string safe for matplotlib: no mathtext (``$``), bounded length."""
    s = str(value).replace("\n", " ").replace("\r", " ")
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def _selected(dataset: Dataset, *columns: str) -> pd.DataFrame:
    """Valid, not ignored boxes (only ``columns`` when given)."""
    sel = dataset.selected_boxes()
    return sel[list(columns)] if columns else sel


def _finite_positive(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values) & (values > 0)
    return values if keep.all() else values[keep]  # usually all: no copy of 860k values


def per_image_counts(image_ids: np.ndarray, box_image_ids: np.ndarray) -> np.ndarray:
    """``np.bincount(np.searchsorted(image_ids, box_image_ids), minlength=len(image_ids))``.

    ``image_ids`` is sorted (the image table's order). Boxes are usually stored image by image,
    and then 118k binary searches into the boxes replace 860k into the images, same counts.
    """
    image_ids = np.asarray(image_ids)
    box_image_ids = np.asarray(box_image_ids)
    if len(box_image_ids) < 2 or len(image_ids) == 0 or not (box_image_ids[1:] >= box_image_ids[:-1]).all():
        return np.bincount(np.searchsorted(image_ids, box_image_ids), minlength=len(image_ids))
    # Box j lands in bin i when image_ids[i-1] < id_j <= image_ids[i]: bins are differences of
    # how many boxes have an id <= image_ids[i]; boxes past the last image get a bin of their own.
    upto = np.searchsorted(box_image_ids, image_ids, side="right")
    counts = np.diff(upto, prepend=0)
    beyond = len(box_image_ids) - int(upto[-1])
    return np.append(counts, beyond) if beyond else counts


def _stats(report: Any, name: str) -> Mapping[str, Any]:
    result = getattr(report, "analyzers", {}).get(name)
    stats = getattr(result, "stats", None)
    return stats if isinstance(stats, Mapping) else {}


def _strides(report: Any) -> tuple[str, tuple[int, ...]]:
    preset = MODELS.get(getattr(report.config, "model", ""), None)
    return (preset.name, preset.strides) if preset else ("", ())


def _imgsz(report: Any) -> int:
    return int(getattr(report.config, "imgsz", 0) or report.dataset.imgsz)


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _threshold(report: Any) -> float | None:
    sub = getattr(report.config, "subthreshold", None)
    value = getattr(sub, "min_side_model_px", None)
    return float(value) if value is not None else None
