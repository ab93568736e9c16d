"""Figures for the HTML report, drawn with matplotlib's object-oriented API only.

Every figure is a ``matplotlib.figure.Figure`` on its own ``FigureCanvasAgg``: no pyplot.
While :func:`build_figures` runs, two global settings change and are restored after: the
``text.hinting`` rcParam (off, see there) and the cyclic garbage collector (paused). Plots are
drawn from aggregates (numpy histograms, per-class percentiles, at most ``MAX_SCATTER``
sampled points), so the report stays small for COCO-scale datasets. Each figure is made only
when its data exists, and a figure that fails on odd data is left out rather than failing the
report.

Drawing cost is mostly matplotlib's per-object work, so the figures keep objects few: fixed
margins sized from the labels instead of constrained layout, tick marks as one marker line
and tick labels as plain texts instead of Tick objects (:func:`_light_ticks`, :func:`_log_axis`),
class names as texts, box plots as three collections.

The package is split by what is drawn, each module readable in one sitting: :mod:`.common`
(the ``Figure`` record, figure creation at fixed margins, encoding, the report look-ups),
:mod:`.axes` (light ticks, log axes, stride lines, legends), :mod:`.sizes` (size histogram,
per-class box plot, labels per image, heatmap), :mod:`.anchors` (the anchor scatter) and
:mod:`.tiles` (the tile grid). This module runs them all; the names callers import from
``sodaudit.figures`` are re-exported here.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import matplotlib

from sodaudit.figures.anchors import MAX_SCATTER, _anchor_scatter
from sodaudit.figures.axes import _light_ticks as _light_ticks
from sodaudit.figures.axes import _log_axis as _log_axis
from sodaudit.figures.common import (
    DPI,
    MODEL_COLOR,
    NATIVE_COLOR,
    STRIDE_COLOR,
    THRESHOLD_COLOR,
    Figure,
    encode,
    per_image_counts,
    text,
)
from sodaudit.figures.sizes import (
    HIST_BINS,
    MAX_BOX_CLASSES,
    _boxes_per_image,
    _class_boxplot,
    _heatmap,
    _size_histogram,
)
from sodaudit.figures.tiles import (
    DEFAULT_TILE_OVERLAP,
    GRID_DISPLAY_PX,
    MAX_GRID_BOXES,
    TILE_COLORS,
    _tile_grid,
    tile_starts,
    tiling_params,
)
from sodaudit.parallel import fork_map

__all__ = [
    "DEFAULT_TILE_OVERLAP",
    "DPI",
    "GRID_DISPLAY_PX",
    "HIST_BINS",
    "MAX_BOX_CLASSES",
    "MAX_GRID_BOXES",
    "MAX_SCATTER",
    "MODEL_COLOR",
    "NATIVE_COLOR",
    "STRIDE_COLOR",
    "THRESHOLD_COLOR",
    "TILE_COLORS",
    "Figure",
    "build_figures",
    "encode",
    "per_image_counts",
    "text",
    "tile_starts",
    "tiling_params",
]


def build_figures(report: Any, workers: int = 1) -> list[Figure]:
    """All figures the report's data supports, in reading order; never raises on odd data.

    With ``workers`` > 1 (0: one per core) the figures are drawn in forked processes
    (:func:`fork_map`), dealt by their expected cost; the result is the same list either way.
    """
    builders = _builders()
    tasks = [partial(_draw, builder, report) for builder, _ in builders]
    # Unhinted glyphs: FreeType's hinting was a third of the time spent on text (80 class names
    # alone); at these sizes the labels read the same.
    with _gc_paused(), matplotlib.rc_context({"text.hinting": "none"}):
        made = fork_map(tasks, workers=workers, weights=[cost for _, cost in builders])
    return [figure for figure in made if figure is not None]


def _builders() -> list[tuple[Callable[[Any], Figure | None], float]]:
    """Each figure's builder with its cost in seconds at COCO train2017 scale (860k boxes, one
    process, first figure with matplotlib's cold caches), used to deal the builders to workers.
    The tile grid costs reading one image when the dataset has image files, else nothing."""
    return [
        (_size_histogram, 0.13),
        (_class_boxplot, 0.19),
        (_boxes_per_image, 0.04),
        (_heatmap, 0.05),
        (_anchor_scatter, 0.06),
        (_tile_grid, 0.03),
    ]


def _draw(builder: Callable[[Any], Figure | None], report: Any) -> Figure | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing glyphs, empty slices: not the reader's concern
            return builder(report)
    except Exception:  # a figure is an illustration; the numbers are in report.json
        return None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while drawing.

    Matplotlib allocates enough objects to trigger several full collections, each walking every
    object of the audit (5-10% of the figures' time at COCO scale; in a forked worker it also
    copies the parent's memory pages it touches). The figures' own cycles are collected after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
