"""Figures for the HTML report, drawn with matplotlib's object-oriented API only.

Every figure is a ``matplotlib.figure.Figure`` on its own ``FigureCanvasAgg``: no pyplot.
While a figure is drawn, two global settings change and are restored after: the
``text.hinting`` rcParam (off, see :func:`_draw`) and the cyclic garbage collector (paused). Plots are
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
``sodaudit.figures`` are re-exported here, lazily: importing this module does not import
matplotlib (0.25 s), so forked workers import it side by side, each for its own figures.
"""

from __future__ import annotations

import gc
import importlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from sodaudit.figures.record import Figure
from sodaudit.parallel import fork_map

BUILDERS: tuple[tuple[str, str, float], ...] = (
    ("sizes", "_size_histogram", 0.13),
    ("sizes", "_class_boxplot", 0.19),
    ("sizes", "_boxes_per_image", 0.04),
    ("sizes", "_heatmap", 0.05),
    ("anchors", "_anchor_scatter", 0.06),
    ("tiles", "_tile_grid", 0.03),
)
"""Each figure in reading order: module, builder, and its cost in seconds at COCO train2017 scale
(860k boxes, one process, warm matplotlib), used to deal the figures to workers. The tile grid
costs reading one image when the dataset has image files, else nothing."""

_EXPORTS = {
    "anchors": ("MAX_SCATTER",),
    "axes": ("_light_ticks", "_log_axis"),
    "common": (
        "DPI",
        "MODEL_COLOR",
        "NATIVE_COLOR",
        "STRIDE_COLOR",
        "THRESHOLD_COLOR",
        "encode",
        "per_image_counts",
        "text",
    ),
    "sizes": ("HIST_BINS", "MAX_BOX_CLASSES"),
    "tiles": (
        "DEFAULT_TILE_OVERLAP",
        "GRID_DISPLAY_PX",
        "MAX_GRID_BOXES",
        "TILE_COLORS",
        "tile_starts",
        "tiling_params",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(["Figure", "build_figures", *(n for n in _MODULE_OF if not n.startswith("_"))])


def __getattr__(name: str) -> Any:
    """The drawing modules' public names, imported (with matplotlib) on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


PREPARE_COST = 0.35
"""Seconds to import matplotlib and the drawing modules (0.3-0.46 s here)."""


def prepare() -> None:
    """Import matplotlib and every drawing module now, in this process.

    Called while forked lanes run the analyzers (:func:`sodaudit.analyzers.run_all`), so the
    figure lanes forked afterwards inherit the imports instead of paying 0.3-0.46 s each.
    Without matplotlib this does nothing: :func:`build_figures` reports that later.
    """
    try:
        for module in dict.fromkeys(module for module, _, _ in BUILDERS):
            importlib.import_module(f"{__name__}.{module}")
    except ImportError:
        pass


def build_figures(
    report: Any, workers: int = 1, here: Sequence[tuple[Callable[[], object], float]] = ()
) -> list[Figure]:
    """All figures the report's data supports, in reading order; never raises on odd data.

    With ``workers`` > 1 (0: one per core) the figures are drawn in forked processes
    (:func:`fork_map`), dealt by their expected cost; the result is the same list either way.
    ``here``: (task, expected seconds) for this process to do meanwhile (the CLI writes
    report.json and the CSV files), so two cores run two processes, not three.
    """
    tasks = [partial(_draw, module, builder, report) for module, builder, _ in BUILDERS]
    made = fork_map(tasks, workers=workers, weights=[cost for _, _, cost in BUILDERS], here=here)
    return [figure for figure in made if figure is not None]


def _draw(module: str, builder: str, report: Any) -> Figure | None:
    """One figure, or None when its data is odd. A drawing module that cannot be imported (no
    matplotlib) raises: the report then says the figures are missing."""
    import matplotlib

    draw = getattr(importlib.import_module(f"{__name__}.{module}"), builder)
    try:
        # Unhinted glyphs: FreeType's hinting was a third of the time spent on text (80 class
        # names alone); at these sizes the labels read the same.
        with _gc_paused(), matplotlib.rc_context({"text.hinting": "none"}), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing glyphs, empty slices: not the reader's concern
            return draw(report)
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
