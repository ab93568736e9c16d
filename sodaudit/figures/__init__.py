"""Figures for the HTML report, drawn with matplotlib's object-oriented API on Agg canvases.

Plots are drawn from aggregates (histograms, the analyzers' per-class percentiles, at most
``MAX_SCATTER`` sampled points), so the report stays small for COCO-scale datasets. Each figure
is made only when its data exists; a figure that fails raises (the page then says so).

One module per kind of plot: :mod:`.sizes` (size histogram, per-class box plot, labels per
image, heatmap), :mod:`.anchors` (the anchor scatter), :mod:`.ceilings` (visibility per input size, the
label-noise ceiling) and :mod:`.tiles` (the tile grid);
:mod:`.common` and :mod:`.axes` hold what they share.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from sodaudit.figures.anchors import MAX_SCATTER, anchor_scatter
from sodaudit.figures.ceilings import noise_ceiling, visibility_curve
from sodaudit.figures.common import Figure, text
from sodaudit.figures.sizes import class_boxplot, heatmap, labels_per_image, size_histogram
from sodaudit.figures.tiles import tile_grid, tiling_params

__all__ = ["BUILDERS", "MAX_SCATTER", "Figure", "build_figures", "text", "tiling_params"]

BUILDERS: tuple[Callable[[Any], Figure | None], ...] = (
    size_histogram,
    class_boxplot,
    labels_per_image,
    heatmap,
    noise_ceiling,
    anchor_scatter,
    visibility_curve,
    tile_grid,
)
"""Every figure in reading order; each returns None when the report has no data for it."""


def build_figures(report: Any) -> list[Figure]:
    """All figures the report's data supports, in reading order."""
    with warnings.catch_warnings():
        # A class name in a script the font lacks draws as boxes; not worth a line on stderr.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        made = [build(report) for build in BUILDERS]
    return [figure for figure in made if figure is not None]
