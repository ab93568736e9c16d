"""The fast paths of the figures, gallery and HTML tables against simple reference versions.

Each fast path (counts from sorted ids, a partial sort of the gallery candidates, tick markers
instead of tick objects, column-wise table cells, figures drawn in forked workers) is compared
here with the plain way of computing the same thing, on data where the two could differ: ties,
NaN, ids between and past the images, unreadable images.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.markers import TICKDOWN, TICKLEFT
from matplotlib.ticker import LogFormatter, LogLocator, MaxNLocator, NullLocator
from PIL import Image

from sodaudit.audit import audit
from sodaudit.dataset import Dataset
from sodaudit.figures import _light_ticks, _log_axis, build_figures, per_image_counts
from sodaudit.gallery import _Candidates, smallest_labels
from sodaudit.render.blocks import DIGITS, label_table
from sodaudit.render.html import to_html

# --- boxes per image ---------------------------------------------------------------------------


def _reference_counts(image_ids: np.ndarray, box_ids: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(image_ids, box_ids), minlength=len(image_ids))


@pytest.mark.parametrize(
    ("image_ids", "box_ids"),
    [
        ([1, 2, 3], [1, 1, 2, 3, 3, 3]),
        ([1, 2, 3], []),
        ([1, 2, 3], [2]),
        ([5, 10, 20], [5, 7, 10, 10, 15, 20]),  # 7 and 15 fall between images: counted as searchsorted does
        ([5, 10, 20], [1, 5, 20, 21, 30]),  # before the first and past the last image
        ([5, 10, 20], [10, 5, 20, 5]),  # unsorted: the plain path
        ([], [1, 2]),
    ],
)
def test_per_image_counts_by_hand(image_ids, box_ids):
    image_ids = np.asarray(image_ids, dtype=np.int64)
    box_ids = np.asarray(box_ids, dtype=np.int64)
    expected = _reference_counts(image_ids, box_ids)
    got = per_image_counts(image_ids, box_ids)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("seed", range(20))
def test_per_image_counts_random(seed):
    rng = np.random.default_rng(seed)
    image_ids = np.unique(rng.integers(0, 200, rng.integers(1, 60)))
    box_ids = np.sort(rng.integers(-5, 210, rng.integers(0, 500)))
    if seed % 2:  # boxes only of known images, as in a built Dataset
        box_ids = np.sort(rng.choice(image_ids, rng.integers(0, 500)))
    np.testing.assert_array_equal(per_image_counts(image_ids, box_ids), _reference_counts(image_ids, box_ids))


# --- gallery candidates ------------------------------------------------------------------------


def _gallery_dataset(tmp_path: Path, n_images: int, readable: set[int], rng) -> Dataset:
    """Images 0..n-1 (only ``readable`` exist on disk), boxes with many tied sizes."""
    images, boxes = [], []
    for i in range(n_images):
        path = tmp_path / f"im{i}.png"
        if i in readable:
            Image.new("RGB", (64, 48), (i * 7 % 255, 80, 120)).save(path)
        images.append(
            {
                "image_id": i,
                "file_name": f"im{i}.png",
                "path": str(path),
                "split": "train",
                "width": 64.0,
                "height": 48.0,
                "status": "ok",
            }
        )
    for i in range(n_images * 6):
        side = float(rng.integers(1, 5))  # few distinct sizes: ties decided by box_id
        boxes.append(
            {
                "image_id": int(rng.integers(0, n_images)),
                "class_id": 0,
                "x": float(rng.integers(0, 50)),
                "y": float(rng.integers(0, 30)),
                "w": side,
                "h": side,
                "source_file": "labels.txt",
                "source_line": i + 1,
            }
        )
    return Dataset.build(
        root=tmp_path, format="test", boxes=pd.DataFrame(boxes), images=pd.DataFrame(images), classes={0: "a"}
    )


def test_candidate_order_is_the_full_sort(tmp_path):
    ds = _gallery_dataset(tmp_path, 30, set(range(30)), np.random.default_rng(0))
    b = ds.selected_boxes()
    expected = b.sort_values(["sqrt_area", "box_id"], kind="stable")["box_id"].to_numpy()
    cand = _Candidates(ds)
    assert cand.total == len(b)
    for count in (1, 5, 17, 40, 41, 100, 10_000):  # growing prefixes, each extending the last
        n = cand.ensure(count)
        assert n == min(max(count, n), cand.total) and n >= min(count, cand.total)
        got = b["box_id"].to_numpy()[cand.rows[cand.order[:n]]]
        np.testing.assert_array_equal(got, expected[:n])


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_gallery_skips_unreadable_images_past_the_window(tmp_path, limit):
    # Most images are missing, so the gallery must order well past its first window.
    rng = np.random.default_rng(limit)
    ds = _gallery_dataset(tmp_path, 40, {3, 17, 31}, rng)
    b = ds.selected_boxes().sort_values(["sqrt_area", "box_id"], kind="stable")
    readable = b[b["image_id"].isin([3, 17, 31])]
    expected = [f"labels.txt:{line}" for line in readable["source_line"].head(limit)]
    items = smallest_labels(ds, limit=limit)
    assert [i.source for i in items] == expected
    assert [i.image for i in items] == [f"im{i}.png" for i in readable["image_id"].head(limit)]


# --- log axes -----------------------------------------------------------------------------------


def _axes(lo: float, hi: float):
    fig = MplFigure(figsize=(6, 3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    return fig, ax


def _default_minor(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Minor ticks and labels the way matplotlib draws them with the formatters alone."""
    fig, ax = _axes(lo, hi)
    ax.xaxis.set_major_formatter(LogFormatter())
    ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    fig.canvas.draw()
    ticks = [
        (t.get_loc(), t.label1.get_text()) for t in ax.xaxis.get_minor_ticks() if lo <= t.get_loc() <= hi
    ]
    return [loc for loc, _ in ticks], [label for _, label in ticks]


@pytest.mark.parametrize(("lo", "hi"), [(0.7, 700.0), (1.0, 45.0), (2.0, 35.0), (3.0, 9.0), (12.0, 19.0)])
def test_log_axis_shows_the_same_minor_ticks(lo, hi):
    locs, labels = _default_minor(lo, hi)
    fig, ax = _axes(lo, hi)
    _log_axis(ax, "x")
    markers = [a for a in ax.get_children() if isinstance(a, Line2D) and a.get_marker() != "None"]
    if any(labels):  # labelled minor ticks stay real ticks, with the same labels
        assert not markers
        assert not isinstance(ax.xaxis.get_minor_locator(), NullLocator)
        fig.canvas.draw()
        got = [t.label1.get_text() for t in ax.xaxis.get_minor_ticks() if lo <= t.get_loc() <= hi]
        assert got == labels
    else:  # unlabelled: one line of markers at the same places
        assert isinstance(ax.xaxis.get_minor_locator(), NullLocator)
        (line,) = markers
        np.testing.assert_allclose(line.get_xdata(), locs)
        expected_subs = [round(v / 10 ** math.floor(math.log10(v) + 1e-9)) for v in locs]
        assert set(expected_subs) <= set(range(2, 10))
    assert isinstance(ax.xaxis.get_major_locator(), LogLocator)


# --- figures in workers -------------------------------------------------------------------------


def test_figures_in_two_workers_are_the_same(sample_data):
    report = audit(sample_data / "yolo")
    serial = build_figures(report)
    forked = build_figures(report, workers=2)
    assert [(f.key, f.section, f.title, f.caption, f.alt) for f in forked] == [
        (f.key, f.section, f.title, f.caption, f.alt) for f in serial
    ]
    assert [f.data_uri for f in forked] == [f.data_uri for f in serial]


def test_html_with_workers_is_the_same_page(sample_data):
    report = audit(sample_data / "yolo")
    assert to_html(report, workers=2) == to_html(report)


# --- label tables -------------------------------------------------------------------------------


def _reference_rows(df: pd.DataFrame, limit: int) -> list[list[str]]:
    """The per-cell formatting, written out cell by cell."""
    head = df.head(limit)
    rows = []
    for i in range(len(head)):
        row = []
        for col in df.columns:
            v = head[col].tolist()[i]
            is_num = pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
            if is_num and v is not None and not (isinstance(v, float) and not math.isfinite(v)):
                digits = next((d for k, d in DIGITS.items() if str(col).startswith(k)), 1)
                row.append(f"{v:.{digits}f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v))
            elif v is None or (isinstance(v, float) and math.isnan(v)):
                row.append("")
            else:
                row.append(str(v))
        rows.append(row)
    return rows


def test_label_table_cells_match_cell_by_cell_formatting():
    df = pd.DataFrame(
        {
            "box_id": [1, 2, 3, 4],
            "iou": [0.71234, 1.0, np.nan, np.inf],
            "zoom": [12.0, 3.25, -np.inf, 0.04],
            "w_model": [0.5, 10.0, 3.14159, np.nan],
            "flag": [True, False, True, False],
            "class_name": pd.Categorical(["a", "b", None, "a"]),
            "note": ["x", None, float("nan"), "y"],
            "count": pd.array([1, None, 3, 4], dtype="Int64"),
        }
    )
    for limit in (0, 2, 100):
        table = label_table("integrity", "duplicate_box", df, limit)
        assert table.rows == _reference_rows(df, limit)
        assert table.total == 4
    assert label_table("x", "y", df[[]], 10).rows == [[], [], [], []]


# --- light ticks ---------------------------------------------------------------------------------


def _plot(kind: str):
    fig = MplFigure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.15, bottom=0.2)
    ax = fig.add_subplot()
    if kind == "log":
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(0.7, 900)
        ax.set_ylim(3, 40_000)
    elif kind == "integer":
        ax.stairs([0, 3, 7, 2], [-0.5, 0.5, 1.5, 2.5, 3.5], fill=True)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.plot([0.013, 0.9], [-250, 118_000])
    ax.set_xlabel("x label")
    ax.set_ylabel("y label")
    return fig, ax


def _visible_major(axis) -> list[tuple[float, str]]:
    lo, hi = sorted(axis.get_view_interval())
    pad = 1e-9 * max(abs(lo), abs(hi))
    return [
        (float(t.get_loc()), t.label1.get_text())
        for t in axis.get_major_ticks()
        if lo - pad <= t.get_loc() <= hi + pad and t.label1.get_text()
    ]


@pytest.mark.parametrize("kind", ["linear", "log", "integer"])
def test_light_ticks_show_what_matplotlib_shows(kind):
    fig, ax = _plot(kind)
    fig.canvas.draw()
    expected = {w: _visible_major(axis) for w, axis in (("x", ax.xaxis), ("y", ax.yaxis))}
    assert expected["x"] and expected["y"]

    fig, ax = _plot(kind)
    _light_ticks(ax, "x")
    _light_ticks(ax, "y")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert len(ax.xaxis.get_majorticklocs()) == len(ax.yaxis.get_majorticklocs()) == 0  # no Tick objects
    marks = {line.get_marker(): line for line in ax.lines + [a for a in ax.artists if isinstance(a, Line2D)]}
    texts = [t for t in ax.texts if t.get_text()]
    for which, axis_label in (("x", ax.xaxis.label), ("y", ax.yaxis.label)):
        ha = "center" if which == "x" else "right"
        mine = [t for t in texts if t.get_ha() == ha]
        got = sorted((t.get_position()[0 if which == "x" else 1], t.get_text()) for t in mine)
        assert [g[1] for g in got] == [e[1] for e in sorted(expected[which])]
        np.testing.assert_allclose([g[0] for g in got], [e[0] for e in sorted(expected[which])])
        line = marks[TICKDOWN if which == "x" else TICKLEFT]  # the tick marks, at the labels
        np.testing.assert_allclose(
            sorted(line.get_xdata() if which == "x" else line.get_ydata()), [g[0] for g in got]
        )
        # the axis label sits outside the tick labels, not on them
        label_box = axis_label.get_window_extent(renderer)
        for t in mine:
            box = t.get_window_extent(renderer)
            assert (label_box.y1 <= box.y0) if which == "x" else (label_box.x1 <= box.x0)
