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
"""

from __future__ import annotations

import base64
import gc
import io
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure as MplFigure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.markers import TICKDOWN, TICKLEFT
from matplotlib.patches import Rectangle
from matplotlib.ticker import LogFormatter, MaxNLocator, NullLocator
from matplotlib.transforms import offset_copy
from PIL import Image, ImageOps

from sodaudit.dataset import Dataset
from sodaudit.models import MODELS
from sodaudit.parallel import fork_map

DPI = 100
MAX_SCATTER = 20000
"""Points drawn in the w x h scatter; more are sampled down (seeded, so reports are stable)."""
MAX_BOX_CLASSES = 80
"""Classes shown in the per-class box plot (the smallest by median when there are more)."""
MAX_GRID_BOXES = 3000
"""Boxes drawn over the tile-grid image."""
GRID_DISPLAY_PX = 960
"""Long side of the image shown under the tile grid, in screen pixels."""
DEFAULT_TILE_OVERLAP = 0.2
"""Tile overlap when no tiling recommendation gives one (a common slicing default)."""
HIST_BINS = 60
NATIVE_COLOR = "#4c72b0"
MODEL_COLOR = "#dd8452"
STRIDE_COLOR = "#555555"
THRESHOLD_COLOR = "#c44e52"
TILE_COLORS = ("#00e5ff", "#ffea00", "#76ff03", "#ff4081")


@dataclass(frozen=True)
class Figure:
    key: str
    section: str
    title: str
    caption: str
    data_uri: str
    alt: str


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


# --- helpers ------------------------------------------------------------------------------------


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


def _log_edges(values: Iterable[np.ndarray], bins: int = HIST_BINS) -> np.ndarray:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    lo, hi = min(float(v.min()) for v in arrays), max(float(v.max()) for v in arrays)
    lo, hi = lo / 1.05, hi * 1.05
    if hi <= lo * 1.5:
        lo, hi = lo / 1.5, hi * 1.5
    return np.geomspace(lo, hi, bins + 1)


def _vlines(ax: Any, report: Any, *, threshold: float | None) -> None:
    """The selected model's stride lines (labelled above the axes) and the sub-threshold minimum."""
    model, strides = _strides(report)
    line = ax.axvline
    for i, stride in enumerate(strides):
        line(stride, color=STRIDE_COLOR, ls="--", lw=0.9, label=f"{model} strides" if i == 0 else None)
        ax.annotate(
            f"s{stride}",
            (stride, 1),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=STRIDE_COLOR,
            xytext=(0, 1),
            textcoords="offset points",
            va="bottom",
            ha="center",
            annotation_clip=False,
        )
    if threshold is not None:
        line(
            threshold,
            color=THRESHOLD_COLOR,
            ls=":",
            lw=1.4,
            label=f"min side {threshold:g} px (sub-threshold rule)",
        )


def _log_axis(ax: Any, which: str) -> None:
    """Log scale labelled in plain numbers (3, 20, 100), not 3x10^0: these are pixel sizes.

    Call once the limits are final. Over a wide range the minor ticks carry no label, and then
    they are drawn as one line of tick markers instead of one tick object each: creating and
    laying out those objects was most of a figure's time.
    """
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    lo, hi = sorted(axis.get_view_interval())
    minor = np.asarray(axis.get_minor_locator()(), dtype=np.float64)
    minor = minor[(minor >= lo) & (minor <= hi)]
    if len(minor) == 0 or any(axis.get_minor_formatter().format_ticks(minor)):
        return  # a narrow range labels its minor ticks (2, 3, 4, 6): keep them as they are
    axis.set_minor_locator(NullLocator())
    rc = matplotlib.rcParams
    size, width, color = (rc[f"{which}tick.{k}"] for k in ("minor.size", "minor.width", "color"))
    zeros = np.zeros_like(minor)
    ticks = Line2D(
        minor if which == "x" else zeros,
        zeros if which == "x" else minor,
        transform=ax.get_xaxis_transform() if which == "x" else ax.get_yaxis_transform(),
        marker=TICKDOWN if which == "x" else TICKLEFT,
        linestyle="None",
        markersize=size,
        markeredgewidth=width,
        color=color,
        clip_on=False,
    )
    ax.add_artist(ticks)


def _light_ticks(ax: Any, which: str) -> None:
    """Draw an axis' major ticks as one line of tick marks and plain text labels.

    Same places and label texts as matplotlib's locator and formatter give, same sizes and
    colours, and the axis label the same distance outside them; but no Tick object (two marks,
    a grid line and two texts) per tick: making and updating those cost about as much as
    drawing the labels. Call once the limits and the margins are final.
    """
    x = which == "x"
    axis = ax.xaxis if x else ax.yaxis
    formatter = axis.get_major_formatter()
    locs = np.asarray(axis.get_major_locator()(), dtype=np.float64)
    labels = formatter.format_ticks(locs) if len(locs) else []  # as a set, as matplotlib does
    if formatter.get_offset():  # an offset or exponent shown at the axis end: leave it to matplotlib
        return
    view = np.sort(np.asarray(axis.get_view_interval(), dtype=np.float64))
    scale = axis.get_transform()
    t_lo, t_hi = scale.transform(view)
    t_locs = scale.transform(locs) if len(locs) else locs
    tol = 1e-10 * abs(t_hi - t_lo)  # matplotlib's own tolerance for a tick at the view's edge
    keep = (t_locs >= t_lo - tol) & (t_locs <= t_hi + tol)
    shown = [(loc, label) for loc, label, k in zip(locs, labels, keep, strict=True) if k]
    axis.set_major_locator(NullLocator())
    rc = matplotlib.rcParams
    size, width, pad = (rc[f"{which}tick.major.{k}"] for k in ("size", "width", "pad"))
    color = rc[f"{which}tick.color"]
    label_color = color if rc[f"{which}tick.labelcolor"] == "inherit" else rc[f"{which}tick.labelcolor"]
    along = ax.get_xaxis_transform() if x else ax.get_yaxis_transform()
    at = np.array([loc for loc, _ in shown], dtype=np.float64)
    zeros = np.zeros_like(at)
    marks = Line2D(
        at if x else zeros,
        zeros if x else at,
        transform=along,
        marker=TICKDOWN if x else TICKLEFT,
        linestyle="None",
        markersize=size,
        markeredgewidth=width,
        color=color,
        clip_on=False,
    )
    ax.add_artist(marks)
    fig = ax.figure
    place = offset_copy(
        along, fig=fig, x=0 if x else -(size + pad), y=-(size + pad) if x else 0, units="points"
    )
    texts = [
        ax.text(
            loc if x else 0,
            0 if x else loc,
            label,
            transform=place,
            fontsize=rc[f"{which}tick.labelsize"],
            color=label_color,
            ha="center" if x else "right",
            va="top" if x else "center_baseline",
        )
        for loc, label in shown
        if label
    ]
    renderer = fig.canvas.get_renderer()
    extents = [t.get_window_extent(renderer) for t in texts]
    depth = max((e.height if x else e.width for e in extents), default=0.0) * 72 / fig.dpi
    offset = size + pad + depth + axis.labelpad
    axis.set_label_coords(
        0.5 if x else 0.0,
        0.0 if x else 0.5,
        transform=offset_copy(
            ax.transAxes, fig=fig, x=0 if x else -offset, y=-offset if x else 0, units="points"
        ),
    )


def _legend_below(ax: Any) -> None:
    """Legend at the bottom of the figure, under the axis label, where it never hides data or
    the stride labels (its row is part of the figure's bottom margin)."""
    handles, labels = ax.get_legend_handles_labels()
    ax.figure.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        fontsize=8,
        ncol=4,
        frameon=False,
        borderaxespad=0.3,
    )


def _threshold(report: Any) -> float | None:
    sub = getattr(report.config, "subthreshold", None)
    value = getattr(sub, "min_side_model_px", None)
    return float(value) if value is not None else None


# --- figures ------------------------------------------------------------------------------------


def _size_histogram(report: Any) -> Figure | None:
    sel = _selected(report.dataset, "sqrt_area", "sqrt_area_model")
    native = _finite_positive(sel["sqrt_area"].to_numpy())
    model = _finite_positive(sel["sqrt_area_model"].to_numpy())
    if len(native) == 0:
        return None
    imgsz = _imgsz(report)
    edges = _log_edges([native, model] if len(model) else [native])
    fig = _new_figure(8, 3.6, (0.8, 0.15, X_TICKS_IN + AXIS_LABEL_IN + LEGEND_ROW_IN, STRIDE_LABELS_IN))
    ax = fig.add_subplot()
    counts_native, _ = np.histogram(native, edges)
    ax.stairs(counts_native, edges, fill=True, alpha=0.45, color=NATIVE_COLOR, label="native pixels")
    if len(model):
        counts_model, _ = np.histogram(model, edges)
        ax.stairs(
            counts_model, edges, fill=True, alpha=0.45, color=MODEL_COLOR, label=f"at model input ({imgsz})"
        )
    threshold = _threshold(report)
    _vlines(ax, report, threshold=threshold)
    ax.set_xscale("log")
    _log_axis(ax, "x")
    ax.set_xlabel("object size √(w·h), pixels (log scale)")
    ax.set_ylabel("labels")
    _legend_below(ax)
    _fit_left(fig, ax)
    _light_ticks(ax, "x")
    _light_ticks(ax, "y")
    model_name, strides = _strides(report)
    caption = f"Median object size is {np.median(native):.1f} px native"
    if len(model):
        caption += f" and {np.median(model):.1f} px at imgsz {imgsz}"
        if strides:
            below = int((model < strides[0]).sum())
            caption += (
                f"; {below} of {len(model)} labels ({_pct(below, len(model))}) are smaller than "
                f"{model_name}'s smallest stride ({strides[0]} px) at model input"
            )
    caption += ". Dashed lines: model strides; dotted: the sub-threshold minimum side."
    return Figure(
        "sizes.histogram",
        "sizes",
        "Object sizes, native and at model input",
        caption,
        encode(fig),
        f"Histogram of object sizes on a log axis, native pixels versus at model input {imgsz}, "
        "with stride lines.",
    )


def _class_boxplot(report: Any) -> Figure | None:
    sel = _selected(report.dataset, "sqrt_area_model", "class_name")
    values = sel["sqrt_area_model"].to_numpy(dtype=np.float64)
    keep = np.isfinite(values) & (values > 0)
    if not keep.any():
        return None
    column = sel["class_name"]
    # The column is categorical already: its codes, no re-factorising of every row. Unused
    # categories give empty groups, which are skipped below.
    classes = column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column)
    codes = np.asarray(classes.codes)[keep]
    values = values[keep]
    names = [str(c) for c in classes.categories]
    order = np.argsort(codes, kind="stable")  # small integer codes: a radix sort
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    grouped = values[order]  # once: indexing inside the loop cost a full gather per class
    stats = []
    for i, name in enumerate(names):
        v = grouped[bounds[i] : bounds[i + 1]]
        if len(v) == 0:
            continue
        p5, q1, med, q3, p95 = np.percentile(v, [5, 25, 50, 75, 95])
        stats.append(
            {
                "label": text(name, 28),
                "whislo": p5,
                "q1": q1,
                "med": med,
                "q3": q3,
                "whishi": p95,
                "n": len(v),
                "name": name,
            }
        )
    stats.sort(key=lambda s: s["med"])
    shown = stats[:MAX_BOX_CLASSES]
    height = max(2.4, 1.2 + 0.17 * len(shown))
    fig = _new_figure(8, height, (1.5, 0.15, X_TICKS_IN + AXIS_LABEL_IN + LEGEND_ROW_IN, STRIDE_LABELS_IN))
    ax = fig.add_subplot()
    # Drawn by hand: Axes.bxp iterates rcParams, which makes matplotlib import pyplot.
    pos = np.arange(len(shown), dtype=np.float64)
    col = {
        k: np.array([s[k] for s in shown], dtype=np.float64) for k in ("whislo", "q1", "med", "q3", "whishi")
    }
    half = 0.32
    # Whiskers and their caps in one collection, medians in another: a few artists, not 80 x 5.
    whiskers = np.concatenate(
        [
            np.stack([np.c_[col["whislo"], pos], np.c_[col["q1"], pos]], axis=1),
            np.stack([np.c_[col["q3"], pos], np.c_[col["whishi"], pos]], axis=1),
            np.stack([np.c_[col["whislo"], pos - half / 2], np.c_[col["whislo"], pos + half / 2]], axis=1),
            np.stack([np.c_[col["whishi"], pos - half / 2], np.c_[col["whishi"], pos + half / 2]], axis=1),
        ]
    )
    ax.add_collection(LineCollection(whiskers, colors="#333333", linewidths=0.9))
    verts = np.stack(
        [
            np.c_[col["q1"], pos - half],
            np.c_[col["q3"], pos - half],
            np.c_[col["q3"], pos + half],
            np.c_[col["q1"], pos + half],
        ],
        axis=1,
    )
    ax.add_collection(PolyCollection(verts, facecolors=MODEL_COLOR, alpha=0.7, edgecolors="#333333", lw=0.8))
    medians = np.stack([np.c_[col["med"], pos - half], np.c_[col["med"], pos + half]], axis=1)
    ax.add_collection(LineCollection(medians, colors="black", linewidths=1.6))
    ax.set_ylim(len(shown) - 0.5, -0.5)
    # Class names as plain text left of the axes, not 80 tick objects (each one five artists,
    # measured again for the axis layout): they were a third of this figure's time.
    labels = [s["label"] for s in shown]
    ax.set_yticks([])
    place = offset_copy(ax.get_yaxis_transform(), fig=fig, x=-4, units="points")
    names_drawn = [
        ax.text(0, y, label, transform=place, fontsize=8, ha="right", va="center_baseline")
        for y, label in zip(pos, labels, strict=True)
    ]
    _vlines(ax, report, threshold=_threshold(report))
    ax.set_xscale("log")
    _log_axis(ax, "x")
    ax.set_xlabel(f"√(w·h) at model input {_imgsz(report)}, pixels (log scale)")
    _legend_below(ax)
    # Measured on the text objects themselves: the drawing reuses these glyph metrics.
    renderer = fig.canvas.get_renderer()
    widest = max(t.get_window_extent(renderer).width for t in names_drawn) / fig.dpi
    fig.subplots_adjust(left=(widest + 4 / 72 + 0.1) / fig.get_figwidth())
    _light_ticks(ax, "x")
    caption = (
        f"Boxes span the 25th–75th percentile, whiskers the 5th–95th. Smallest class by median: "
        f"{shown[0]['name']} ({shown[0]['med']:.1f} px, {shown[0]['n']} labels); largest: "
        f"{stats[-1]['name']} ({stats[-1]['med']:.1f} px)."
    )
    if len(stats) > len(shown):
        caption += f" The {len(shown)} classes with the smallest medians of {len(stats)} are shown."
    return Figure(
        "sizes.per_class",
        "sizes",
        "Object size per class at model input",
        caption,
        encode(fig),
        "Box plot of object size per class at model input, sorted by median, with stride lines.",
    )


def _boxes_per_image(report: Any) -> Figure | None:
    dataset = report.dataset
    if dataset.images.empty:
        return None
    sel = _selected(dataset, "image_id")
    ids = dataset.images["image_id"].to_numpy()
    counts = per_image_counts(ids, sel["image_id"].to_numpy())
    top = int(counts.max())
    caps = list(getattr(getattr(report.config, "sizes", None), "max_det_caps", ()) or ())
    caps = sorted(((str(n), int(c)) for n, c in caps), key=lambda nc: nc[1])
    # Show caps up to the first one above the busiest image, so there is always headroom to see.
    visible = []
    for name, cap in caps:
        visible.append((name, cap))
        if cap >= top:
            break
    xmax = max([top, *[c for _, c in visible]]) if visible else top
    fig = _new_figure(8, 3.2, (0.8, 0.15, X_TICKS_IN + AXIS_LABEL_IN + 0.05, 0.1))
    ax = fig.add_subplot()
    # One bin per count while that stays readable, else 100 bins.
    edges = np.arange(-0.5, xmax + 1.5, 1.0) if xmax <= 120 else np.linspace(0, xmax * 1.02, 101)
    hist, _ = np.histogram(counts, edges)
    ax.stairs(hist, edges, fill=True, color=NATIVE_COLOR, alpha=0.7)
    for i, (name, cap) in enumerate(visible):
        ax.axvline(cap, color=THRESHOLD_COLOR, ls="--", lw=1)
        ax.annotate(
            f"{text(name)} {cap}",
            (cap, 1 - 0.08 * (i % 3)),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=THRESHOLD_COLOR,
            xytext=(2, -2),
            textcoords="offset points",
            va="top",
        )
    if hist.max() > 50 * max(1, np.median(hist[hist > 0])):
        ax.set_yscale("log")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("labels per image (valid, not ignored)")
    ax.set_ylabel("images")
    _fit_left(fig, ax)
    # Cap labels start at their line and run right: room for those near the right edge.
    near_edge = [f"{text(n)} {c}" for n, c in visible if c >= 0.7 * xmax]
    if near_edge:
        right = max(0.15, _label_width(fig, near_edge, 7) + 0.08)
        fig.subplots_adjust(right=1 - right / fig.get_figwidth())
    _light_ticks(ax, "x")
    _light_ticks(ax, "y")
    over = [f"{text(n)} {c}: {int((counts > c).sum())} images over" for n, c in caps if (counts > c).any()]
    caption = (
        f"{len(counts)} images, median {np.median(counts):g} and at most {top} labels per image; "
        f"{int((counts == 0).sum())} images have none."
    )
    caption += (
        " Over a detector or evaluator cap: " + "; ".join(over) + "."
        if over
        else " No image exceeds any detector or evaluator cap (dashed lines)."
    )
    return Figure(
        "sizes.per_image",
        "sizes",
        "Labels per image against detection caps",
        caption,
        encode(fig),
        "Histogram of labels per image with vertical lines at the detector and evaluator caps.",
    )


def _heatmap(report: Any) -> Figure | None:
    heat = _stats(report, "sizes").get("heatmap")
    if not isinstance(heat, Mapping) or not heat.get("num_boxes"):
        return None
    shares = np.asarray(heat.get("shares"), dtype=np.float64)
    if shares.ndim != 2 or shares.size == 0 or not np.isfinite(shares).all():
        return None
    rows, cols = shares.shape
    width, height = 5.2, 4.2
    left, bottom, top, bar_right = 0.6, X_TICKS_IN + AXIS_LABEL_IN + 0.05, 0.12, 0.85
    fig = _new_figure(width, height, (left, bar_right + 0.35, bottom, top))
    ax = fig.add_subplot()
    im = ax.imshow(shares * 100, extent=(0, 1, 1, 0), cmap="viridis", interpolation="nearest", aspect="auto")
    # The colour bar in its own axes at a fixed place right of the map.
    bar = fig.add_axes(
        (1 - (bar_right + 0.17) / width, bottom / height, 0.17 / width, 1 - (bottom + top) / height)
    )
    fig.colorbar(im, cax=bar, label="% of box centres")
    ax.set_xlabel("x / image width")
    ax.set_ylabel("y / image height")
    _light_ticks(ax, "x")
    _light_ticks(ax, "y")
    r, c = np.unravel_index(int(np.argmax(shares)), shares.shape)
    ys = (np.arange(rows) + 0.5) / rows
    xs = (np.arange(cols) + 0.5) / cols
    central = shares[np.ix_((ys > 0.25) & (ys < 0.75), (xs > 0.25) & (xs < 0.75))].sum()
    caption = (
        f"Centres of {int(heat['num_boxes'])} boxes on a {rows}x{cols} grid over the normalised image. "
        f"{central:.1%} lie in the central half (25–75% on both axes; 25% if uniform); the busiest cell, "
        f"around x={xs[c]:.2f}, y={ys[r]:.2f}, holds {shares[r, c]:.1%}."
    )
    return Figure(
        "sizes.heatmap",
        "sizes",
        "Where the objects are",
        caption,
        encode(fig),
        "Heatmap of box centre positions over the normalised image area.",
    )


def _anchor_scatter(report: Any) -> Figure | None:
    sel = _selected(report.dataset, "w_model", "h_model")
    w = sel["w_model"].to_numpy(dtype=np.float64)
    h = sel["h_model"].to_numpy(dtype=np.float64)
    keep = np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
    w, h = w[keep], h[keep]
    if len(w) == 0:
        return None
    n_total = len(w)
    if n_total > MAX_SCATTER:
        pick = np.random.default_rng(0).choice(n_total, MAX_SCATTER, replace=False)
        w, h = w[pick], h[pick]
    stats = _stats(report, "anchors")
    yolo = stats.get("presets", {}).get("yolov5", {}) if isinstance(stats.get("presets"), Mapping) else {}
    levels = yolo.get("anchors") or [list(level) for level in MODELS["yolov5"].anchors]
    anchors = np.asarray([a for level in levels for a in level], dtype=np.float64).reshape(-1, 2)
    thr = float(yolo.get("ratio_thr") or stats.get("ratio_thr") or MODELS["yolov5"].ratio_thr)
    suggested = stats.get("suggested") if isinstance(stats.get("suggested"), Mapping) else {}
    sug = np.asarray(suggested.get("anchors") or [], dtype=np.float64).reshape(-1, 2)

    fig = _new_figure(6.4, 5.4, (0.8, 0.15, X_TICKS_IN + AXIS_LABEL_IN + 0.05, 0.1))
    ax = fig.add_subplot()
    # Ratio rule: a box is covered by an anchor when w and h are within thr x of it, i.e. it lies
    # inside the rectangle [a_w/thr, a_w*thr] x [a_h/thr, a_h*thr] of this plot.
    verts = [
        [(aw / thr, ah / thr), (aw * thr, ah / thr), (aw * thr, ah * thr), (aw / thr, ah * thr)]
        for aw, ah in anchors
    ]
    ax.add_collection(PolyCollection(verts, facecolors="#2ca02c", alpha=0.06, edgecolors="none"))
    ax.scatter(w, h, s=3, alpha=0.35, color=NATIVE_COLOR, linewidths=0, rasterized=True, label="labels")
    ax.scatter(
        anchors[:, 0],
        anchors[:, 1],
        marker="s",
        s=40,
        facecolors="none",
        edgecolors="#2ca02c",
        linewidths=1.5,
        label=f"YOLOv5 anchors (shaded: within {thr:g}x)",
    )
    if len(sug):
        ax.scatter(
            sug[:, 0],
            sug[:, 1],
            marker="x",
            s=45,
            color=THRESHOLD_COLOR,
            linewidths=1.5,
            label="suggested anchors",
        )
    lo = max(0.3, float(min(w.min(), h.min(), anchors.min(), *(sug.min(),) if len(sug) else ())) / 1.5)
    hi = float(max(w.max(), h.max(), anchors.max(), *(sug.max(),) if len(sug) else ())) * 1.5
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    _log_axis(ax, "x")
    _log_axis(ax, "y")
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"width at model input {_imgsz(report)}, px (log)")
    ax.set_ylabel("height at model input, px (log)")
    ax.legend(fontsize=8, loc="upper left")
    _fit_left(fig, ax)
    ax.apply_aspect()  # the square plot area now, so the ticks are chosen for its real size
    _light_ticks(ax, "x")
    _light_ticks(ax, "y")
    caption = f"{n_total} labels" + (f" ({MAX_SCATTER} sampled)" if n_total > MAX_SCATTER else "") + "."
    bpr = yolo.get("bpr")
    if isinstance(bpr, (int, float)) and math.isfinite(bpr):
        caption += (
            f" YOLOv5's default anchors cover {bpr:.1%} of them (best possible recall, ratio rule {thr:g}x);"
            " points outside the shaded area have no anchor."
        )
    sug_bpr = suggested.get("bpr")
    if len(sug) and isinstance(sug_bpr, (int, float)) and math.isfinite(sug_bpr):
        caption += f" The {len(sug)} suggested anchors reach {sug_bpr:.1%}"
        caption += "." if suggested.get("improves", True) else ", no better than the defaults."
    return Figure(
        "anchors.scatter",
        "anchors",
        "Box shapes and anchors at model input",
        caption,
        encode(fig),
        "Log-log scatter of label width versus height at model input with the YOLOv5 anchors"
        + (" and the suggested anchors." if len(sug) else "."),
    )


# --- tile grid ----------------------------------------------------------------------------------


def tile_starts(length: float, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis the way SAHI's ``get_slice_bboxes`` places them.

    Step ``tile - overlap`` from 0; the tile that would run past the border is moved back to
    end flush with it (origin ``length - tile``, never below 0).
    """
    length = int(length)
    overlap = min(max(0, int(overlap)), tile - 1)
    starts, start = [], 0
    while True:
        end = start + tile
        starts.append(max(0, length - tile) if end > length else start)
        if end >= length:
            break
        start = end - overlap
    return starts


def _find_number(params: Any, keys: tuple[str, ...]) -> float | None:
    """The first finite number under any of ``keys`` in a (possibly nested) params dict."""
    if not isinstance(params, Mapping):
        return None
    for key in keys:
        value = params.get(key)
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        ):
            return float(value)
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value):
            return float(value[0])
    for value in params.values():
        found = _find_number(value, keys)
        if found is not None:
            return found
    return None


def tiling_params(report: Any) -> tuple[int, int, bool]:
    """(tile side, overlap in px, from a recommendation?) in native pixels."""
    for rec in getattr(report, "recommendations", None) or []:
        rec = rec.to_dict() if hasattr(rec, "to_dict") else rec
        if not isinstance(rec, Mapping) or rec.get("kind") != "tiling":
            continue
        params = rec.get("params") or {}
        tile = _find_number(params, ("tile_size", "tile", "tile_px", "slice_width", "slice_size", "tile_w"))
        if tile is None:
            continue
        overlap = _find_number(params, ("overlap_px", "overlap_pixels", "overlap"))
        if overlap is not None and overlap < 1:  # a ratio under the name "overlap"
            overlap *= tile
        if overlap is None:
            ratio = _find_number(params, ("overlap_ratio", "overlap_width_ratio"))
            overlap = (ratio or 0.0) * tile
        return round(tile), round(min(overlap, tile - 1)), True
    tile = _imgsz(report)
    return tile, int(DEFAULT_TILE_OVERLAP * tile), False


def _pick_images(report: Any, tile: int, limit: int = 5) -> list[tuple[pd.Series, pd.DataFrame]]:
    """Images larger than one tile with the most small labels, that exist on disk."""
    dataset = report.dataset
    images = dataset.images
    ok = (images["width"].to_numpy() > tile) | (images["height"].to_numpy() > tile)
    if not ok.any():  # the cheap test first: often no image is larger than a tile
        return []
    ok &= images["status"].isin(("ok", "unchecked")).to_numpy() & (images["path"].to_numpy() != "")
    if not ok.any():
        return []
    sel = _selected(dataset)
    _, strides = _strides(report)
    small_px = float(strides[0]) if strides else 8.0
    small = sel["sqrt_area_model"].to_numpy() < small_px
    ids = images["image_id"].to_numpy()
    box_ids = sel["image_id"].to_numpy()
    n_small = per_image_counts(ids, box_ids[small])
    n_all = per_image_counts(ids, box_ids)
    score = np.where(ok, n_small * 1_000_000 + n_all, -1)
    picked = []
    for idx in np.argsort(-score, kind="stable")[: limit * 4]:
        if score[idx] < 0 or len(picked) >= limit:
            break
        if os.path.isfile(images["path"].iloc[idx]):
            row = images.iloc[idx]
            picked.append((row, sel[sel["image_id"].to_numpy() == row["image_id"]]))
    return picked


def _load_display(path: str, width: float, height: float) -> Image.Image | None:
    """The image downscaled for display, oriented as the dataset's coordinates assume."""
    try:
        with Image.open(path) as im:
            target = GRID_DISPLAY_PX / max(width, height)
            im.draft("RGB", (max(1, int(im.width * target)), max(1, int(im.height * target))))
            im.load()
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
            im.thumbnail((GRID_DISPLAY_PX, GRID_DISPLAY_PX), Image.Resampling.LANCZOS)
            return im
    except Exception:  # unreadable image: no figure
        return None


def _tile_grid(report: Any) -> Figure | None:
    tile, overlap, recommended = tiling_params(report)
    if tile <= 0:
        return None
    loaded = next(
        (
            (row, boxes, im)
            for row, boxes in _pick_images(report, tile)
            if (im := _load_display(str(row["path"]), float(row["width"]), float(row["height"]))) is not None
        ),
        None,
    )
    if loaded is None:
        return None
    row, boxes, im = loaded
    W, H = float(row["width"]), float(row["height"])
    xs = tile_starts(W, tile, overlap)
    ys = tile_starts(H, tile, overlap)
    fig = _new_figure(8, 8 * im.height / im.width + 0.6, (0.1, 0.1, 0.3, 0.3))
    ax = fig.add_subplot()
    ax.imshow(np.asarray(im), extent=(0, W, H, 0), interpolation="antialiased")
    bx, by = boxes["x"].to_numpy(), boxes["y"].to_numpy()
    bw, bh = boxes["w"].to_numpy(), boxes["h"].to_numpy()
    shown = slice(0, MAX_GRID_BOXES)
    verts = [
        [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        for x, y, w, h in zip(bx[shown], by[shown], bw[shown], bh[shown], strict=True)
    ]
    ax.add_collection(PolyCollection(verts, facecolors="none", edgecolors="#ff00aa", linewidths=0.8))
    for j, y0 in enumerate(ys):
        for i, x0 in enumerate(xs):
            color = TILE_COLORS[(i % 2) + 2 * (j % 2)]
            ax.add_patch(Rectangle((x0, y0), min(tile, W), min(tile, H), fill=False, edgecolor=color, lw=1.6))
            ax.annotate(
                str(j * len(xs) + i + 1),
                (x0, y0),
                xytext=(3, -3),
                textcoords="offset points",
                fontsize=8,
                va="top",
                ha="left",
                bbox={"boxstyle": "square,pad=0.15", "fc": color, "lw": 0},
            )
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    # Boxes wholly inside at least one tile (the rest are cut by every tile that touches them).
    tx = np.asarray(xs, dtype=np.float64)
    ty = np.asarray(ys, dtype=np.float64)
    inside_x = (bx[:, None] >= tx[None, :]) & (bx[:, None] + bw[:, None] <= tx[None, :] + tile)
    inside_y = (by[:, None] >= ty[None, :]) & (by[:, None] + bh[:, None] <= ty[None, :] + tile)
    whole = (inside_x.any(axis=1) & inside_y.any(axis=1)).sum() if len(bx) else 0
    n_tiles = len(xs) * len(ys)
    source = (
        "from the tiling recommendation"
        if recommended
        else f"imgsz-sized tiles, {overlap / tile:.0%} overlap: a default, not a recommendation"
    )
    caption = (
        f"{text(row['file_name'], 80)} ({W:.0f}x{H:.0f}) cut into {len(xs)} x {len(ys)} = {n_tiles} tiles "
        f"of {tile} px with {overlap} px overlap ({source}); {whole} of {len(bx)} labels lie wholly inside "
        f"at least one tile. Each tile is resized to imgsz on its own, so labels reach the model "
        f"{max(W, H) / tile:.1f}x larger than when the whole image is. Inference must be tiled the same way."
    )
    return Figure(
        "tiling.grid",
        "recommendations",
        "Tile grid over a dataset image",
        caption,
        encode(fig),
        f"Image {text(row['file_name'], 80)} with its labels and a grid of {n_tiles} overlapping tiles "
        "drawn on it.",
    )
