"""Strides: what the feature-map grid of a model can do with boxes at model input.

For the selected model and always for ``yolov8`` and ``yolov8-p2`` (so the report shows what a
stride-4 head recovers), per level: the share of boxes whose short side is below the stride,
the boxes with no grid point strictly inside, and the boxes whose centres share a grid cell with
another box of the same image. Plus the IoU noise floor: the IoU of a box with itself shifted by
``noise_shift_px`` in x and y, which bounds how precisely a small box can be localised.

A model's headline ``no_grid_point`` counts the boxes its assigner has no candidate point for.
Ultralytics' TaskAlignedAssigner (presets with ``candidate_levels="all"``) selects candidates
from the grid points of every level at once (``select_candidates_in_gts``: a point strictly
inside the box), so a box is without a candidate only when no point of ANY level lies inside
it, after the preset's enlargement of small sides (``yolo26``); other presets count the
smallest stride's level (where a small box belongs, e.g. FCOS's size ranges). Grid points are
counted on the unbounded lattice: a side enlarged past the image border may count points in the
letterbox padding or the mosaic canvas beyond it, which changes candidate counts at the border,
never whether a box has a candidate.

Coordinates are at model input (box x, y, w, h times the letterbox scale) without the padding
offset. Grid points sit at ((i + 0.5) * stride, (j + 0.5) * stride); counts and cells are exact
when the letterbox padding is a multiple of the stride (as with Ultralytics' rectangular
batches), and otherwise a half-cell phase shift changes single boxes, not the distribution.
Boxes are clipped to the image at model input first, as trainers clip labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult, box_label_rows, label_examples, label_table
from sodaudit.analyzers.sizes import group_means, model_sized
from sodaudit.analyzers.strides_geometry import cell_keys, geometry, grid_points_1d, level_points
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.errors import ConfigError
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.models import MODELS, ModelPreset, anchor_points
from sodaudit.sizepresets import AITOD, below_min_side

NAME = "strides"

COLLISION_BLOCK = 1 << 20
"""Boxes (whole images) whose centre cells :func:`center_collisions` counts at once."""
ALWAYS_MODELS = ("yolov8", "yolov8-p2")
"""Reported whatever the selected model: the pair shows what a P2 (stride 4) head recovers."""


class StridesLevel(msgspec.Struct, kw_only=True):
    """One pyramid level of a model: boxes below its stride, without grid points, colliding."""

    stride: int
    below_stride: int
    below_stride_share: float
    no_grid_point: int
    no_grid_point_share: float
    median_grid_points: float
    center_collision_boxes: int
    center_collision_share: float


class StridesClass(msgspec.Struct, kw_only=True):
    """The smallest-stride shares of one class, for the selected model (``no_grid_point_share``
    as the model's ``no_grid_point``: all levels for ``candidate_levels="all"``)."""

    n: int
    below_smallest_stride_share: float
    no_grid_point_share: float
    center_collision_share: float


class StridesModel(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One model preset: its smallest stride's numbers and its assigner's candidates, then every
    level."""

    assigner: str
    assigner_version: str | None = None
    """The trainer release whose assigner the preset models (e.g. ``ultralytics<8.4``)."""
    candidate_levels: str
    """What ``no_grid_point`` counts: ``all`` (no grid point of any level inside the box, after the
    assigner's enlargement of small sides: no candidate for Ultralytics' TaskAlignedAssigner) or
    ``smallest`` (no grid point of the smallest stride inside the box)."""
    strides: list[int]
    anchor_points: int
    """Grid points over all levels of a square imgsz input (the head's cost)."""
    smallest_stride: int
    below_smallest_stride: int
    below_smallest_stride_share: float
    no_grid_point: int
    no_grid_point_share: float
    median_candidate_points: float
    """Median over boxes of the grid points counted for ``no_grid_point`` (all levels or the
    smallest)."""
    center_collision_boxes: int
    center_collision_share: float
    levels: list[StridesLevel]
    by_class: dict[str, StridesClass] | None = None
    """Only for the selected model."""


class StridesNoise(msgspec.Struct, kw_only=True):
    """The IoU of boxes with themselves shifted by noise_shift_px, in one size bucket."""

    n: int
    median_iou: float


class StridesStats(msgspec.Struct, kw_only=True):
    """What the feature-map grids of the selected model (and YOLOv8 with and without P2) can do
    with the boxes at model input."""

    imgsz: int
    model: str
    num_boxes: int
    noise_shift_px: float
    models: dict[str, StridesModel]
    iou_noise_floor: dict[str, StridesNoise]
    """Per AI-TOD bucket at model input (empty buckets left out), and ``all``."""


def shifted_iou(w: np.ndarray, h: np.ndarray, d: float) -> np.ndarray:
    """IoU of a w x h box with itself shifted by d in x and in y.

    Intersection (w - d)(h - d); union 2wh - (w - d)(h - d); 0 when a side is not above d.
    """
    w = np.asarray(w, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    inter = np.clip(w - d, 0, None) * np.clip(h - d, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (2 * w * h - inter)
    return np.where((w > d) & (h > d), iou, 0.0)


def candidate_points(
    preset: ModelPreset, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray
) -> np.ndarray:
    """Per box (corners at model input): the grid points its assigner may pick as candidates.

    ``candidate_levels="all"``: points strictly inside the box, summed over every level, after
    the preset widens sides below ``enlarge_below`` (each axis on its own); otherwise the points
    strictly inside the box at the smallest stride.
    """
    if preset.candidate_levels != "all":
        s = float(min(preset.strides))
        return grid_points_1d(x0, x1, s) * grid_points_1d(y0, y1, s)
    x0, x1 = preset.candidate_span(x0, x1)
    y0, y1 = preset.candidate_span(y0, y1)
    total = np.zeros(np.shape(x0), dtype=np.int64)
    for s in preset.strides:
        total += grid_points_1d(x0, x1, float(s)) * grid_points_1d(y0, y1, float(s))
    return total


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Per model and level: boxes below the stride, without grid points, sharing centre cells."""
    if dataset.imgsz != config.imgsz:
        dataset = dataset.with_imgsz(config.imgsz)
    try:
        selected = MODELS[config.model]
    except KeyError:
        raise ConfigError(f"Unknown model {config.model!r}; use one of {', '.join(MODELS)}.") from None
    result = AnalyzerResult(NAME, "Strides")
    rows = model_sized(dataset, "class_name", "sqrt_area_model")
    d = config.strides.noise_shift_px
    iou = shifted_iou(rows["w_model"].to_numpy(), rows["h_model"].to_numpy(), d)
    noise_floor = _noise_floor(iou, rows["sqrt_area_model"].to_numpy(dtype=np.float64))
    del iou
    geo = geometry(dataset)  # the rows of ``rows``, one column at a time
    # Only what is read from here on (the label lists take their few rows from the box table).
    rows = rows[["class_name", "sqrt_area_model"]]

    names = list(dict.fromkeys((selected.name, *ALWAYS_MODELS)))
    strides = sorted({float(s) for name in names for s in MODELS[name].strides})
    levels = _levels(geo, strides)  # models share strides: each is computed once
    models: dict[str, StridesModel] = {}
    for name in names:  # the selected model first: only its per-box candidates are kept
        preset = MODELS[name]
        candidates = _candidates(preset, geo, levels)
        models[name] = _model_stats(preset, levels, candidates, config.imgsz)
        if name == selected.name:
            no_candidate = candidates == 0
        del candidates
    smallest = levels[float(min(selected.strides))]
    models[selected.name].by_class = _by_class(rows, smallest, no_candidate)

    del geo
    result.stats = StridesStats(
        imgsz=config.imgsz,
        model=selected.name,
        num_boxes=len(rows),
        noise_shift_px=float(d),
        models=models,
        iou_noise_floor=noise_floor,
    )
    _findings(dataset, config, selected, rows, smallest, no_candidate, models, result)
    return result


def _candidates(preset: ModelPreset, geo: dict[str, np.ndarray], levels: dict[float, Level]) -> np.ndarray:
    """``candidate_points`` of every box, reusing the per-level counts when the box is not enlarged."""
    if preset.candidate_levels != "all":
        return levels[float(min(preset.strides))].points
    if preset.enlarge_below:
        return candidate_points(preset, geo["x0"], geo["y0"], geo["x1"], geo["y1"])
    total = np.zeros(len(geo["x0"]), dtype=np.int64)
    for s in preset.strides:  # one level at a time: not a (levels x boxes) stack
        total += levels[float(s)].points
    return total


def center_collisions(geo: dict[str, np.ndarray], stride: float) -> tuple[np.ndarray, int]:
    """Per box of ``geo`` (:func:`geometry`): does another box of the same image have its centre
    in the same grid cell? And the number of cells (of one image) holding two or more centres.

    One int64 key per box (image code, cell x, cell y), counted by ``np.unique``. ``image`` are
    small non-negative image codes; centres (of the clipped corners) are at model input, so cells
    are small integers too. When ``image`` is sorted (box tables are), keys are counted in blocks
    of whole images of about ``COLLISION_BLOCK`` boxes: a cell never spans two images, so the
    counts are the same, and the centres and the sort's scratch arrays are those of one block.
    """
    image = geo["image"]
    if not len(image):
        return np.zeros(0, dtype=bool), 0
    starts = [0]
    if (image[1:] >= image[:-1]).all():
        starts = np.unique(np.searchsorted(image, image[::COLLISION_BLOCK], side="left")).tolist()
    collide = np.empty(len(image), dtype=bool)
    cells = 0
    for lo, hi in zip(starts, [*starts[1:], len(image)], strict=True):
        cx = (geo["x0"][lo:hi] + geo["x1"][lo:hi]) / 2
        cy = (geo["y0"][lo:hi] + geo["y1"][lo:hi]) / 2
        key = cell_keys(image[lo:hi], cx, cy, stride)  # keys of one block only
        _, cell, boxes_in_cell = np.unique(key, return_inverse=True, return_counts=True)
        collide[lo:hi] = boxes_in_cell[cell] >= 2
        cells += int(np.count_nonzero(boxes_in_cell >= 2))
    return collide, cells


@dataclass(frozen=True)
class Level:
    """Per box at one stride: short side below it, grid points inside, centre cell shared."""

    stride: float
    below: np.ndarray
    points: np.ndarray
    collide: np.ndarray
    collision_cells: int
    """Cells (of one image) holding two or more box centres."""
    median_points: float

    @property
    def empty(self) -> np.ndarray:
        return self.points == 0


def _levels(geo: dict[str, np.ndarray], strides: list[float]) -> dict[float, Level]:
    """Every stride's per-box arrays."""
    out = {}
    for stride in strides:
        points = level_points(geo, stride)
        collide, cells = center_collisions(geo, stride)
        median = float(np.median(points)) if len(points) else math.nan
        out[stride] = Level(stride, below_min_side(geo["short"], stride), points, collide, cells, median)
    return out


def _model_stats(
    preset: ModelPreset, levels: dict[float, Level], candidates: np.ndarray, imgsz: int
) -> StridesModel:
    n = len(candidates)
    stats_levels = []
    for stride in sorted(preset.strides):
        level = levels[float(stride)]
        below = int(np.count_nonzero(level.below))
        empty = int(np.count_nonzero(level.empty))
        collide = int(np.count_nonzero(level.collide))
        stats_levels.append(
            StridesLevel(
                stride=int(stride),
                below_stride=below,
                below_stride_share=_share(below, n),
                no_grid_point=empty,
                no_grid_point_share=_share(empty, n),
                median_grid_points=level.median_points,
                center_collision_boxes=collide,
                center_collision_share=_share(collide, n),
            )
        )
    first = stats_levels[0]
    empty = int(np.count_nonzero(candidates == 0))
    return StridesModel(
        assigner=preset.assigner,
        assigner_version=preset.assigner_version or None,
        candidate_levels="all" if preset.candidate_levels == "all" else "smallest",
        strides=sorted(int(s) for s in preset.strides),
        anchor_points=anchor_points(preset.strides, imgsz),
        smallest_stride=first.stride,
        below_smallest_stride=first.below_stride,
        below_smallest_stride_share=first.below_stride_share,
        no_grid_point=empty,
        no_grid_point_share=_share(empty, n),
        median_candidate_points=float(np.median(candidates)) if n else math.nan,
        center_collision_boxes=first.center_collision_boxes,
        center_collision_share=first.center_collision_share,
        levels=stats_levels,
    )


def _by_class(rows: pd.DataFrame, level: Level, no_candidate: np.ndarray) -> dict[str, StridesClass]:
    """Smallest-stride shares per class, for the selected model; boxes without a candidate point
    as the model's headline ``no_grid_point``."""
    names = rows["class_name"]
    means = group_means(
        names.cat.codes.to_numpy(),
        [str(c) for c in names.cat.categories],
        below_smallest_stride_share=level.below,
        no_grid_point_share=no_candidate,
        center_collision_share=level.collide,
    )
    return {name: StridesClass(**values) for name, values in means.items()}


def _noise_floor(iou: np.ndarray, sqrt_area_model: np.ndarray) -> dict[str, StridesNoise]:
    """Median shifted-box IoU per AI-TOD bucket (at model input) and over all boxes."""
    codes = AITOD.codes(sqrt_area_model)
    labels = AITOD.labels
    out: dict[str, StridesNoise] = {}
    for i, label in enumerate(labels):  # a loop over four buckets
        values = iou[codes == i]
        if len(values):
            out[label] = StridesNoise(n=len(values), median_iou=float(np.median(values)))
    out["all"] = StridesNoise(n=len(iou), median_iou=float(np.median(iou)) if len(iou) else math.nan)
    return out


def _pct(share: float) -> str:
    """A share as a percentage that does not round a few boxes down to 0.0%."""
    return f"{share:.2%}" if 0 < share < 0.001 else f"{share:.1%}"


def _no_point_what(preset: ModelPreset) -> str:
    """What a box without a candidate lacks, in words: a point of any level or of the smallest."""
    if preset.candidate_levels != "all":
        return f"no stride-{min(preset.strides)} grid point of {preset.name}"
    text = f"no grid point of any level (strides {', '.join(map(str, preset.strides))}) of {preset.name}"
    if preset.enlarge_below:
        text += (
            f", even with sides below {preset.enlarge_below:g} px enlarged to {preset.enlarge_to:g} px "
            f"as {preset.assigner_version} does"
        )
    return text


def _share(count: int, n: int) -> float:
    return count / n if n else math.nan


def _findings(
    dataset: Dataset,
    config: Config,
    selected: ModelPreset,
    rows: pd.DataFrame,
    level: Level,
    no_candidate: np.ndarray,
    models: dict[str, StridesModel],
    result: AnalyzerResult,
) -> None:
    if not len(rows):
        return
    stats = models[selected.name]
    stride = stats.smallest_stride
    n = len(rows)
    p2 = models["yolov8-p2"]

    def with_p2(text: str) -> str:
        """What the yolov8-p2 preset would show, when the selected model has no stride 4."""
        if stride <= p2.smallest_stride:
            return ""
        return f"; with a stride-{p2.smallest_stride} (P2) head: {text}"

    def examples(at: np.ndarray) -> tuple[str, ...]:
        head = box_label_rows(dataset, rows, at[:MAX_EXAMPLES], "w_model", "h_model")
        size = head["w_model"].round(1).astype(str) + "x" + head["h_model"].round(1).astype(str)
        return label_examples(dataset, head, size + " px at imgsz")

    below = np.flatnonzero(level.below)
    if len(below):
        share = stats.below_smallest_stride_share
        result.findings.append(
            Finding.of(
                "strides.below_smallest_stride",
                f"{len(below)} of {n} boxes ({_pct(share)}) have a short side below "
                f"{selected.name}'s smallest stride ({stride} px) at imgsz {config.imgsz}"
                + with_p2(f"{_pct(p2.below_smallest_stride_share)}"),
                NAME,
                value=share,
                threshold=config.strides.below_stride_warn_share,
                examples=examples(below),
                count=len(below),
                raised=share > config.strides.below_stride_warn_share,
            )
        )

    empty = np.flatnonzero(no_candidate)
    if len(empty):
        share = stats.no_grid_point_share
        warn = config.strides.no_point_warn_share
        missed = box_label_rows(dataset, rows, empty, "w_model", "h_model")
        result.tables["no_grid_point"] = label_table(
            dataset, missed, w_model=missed["w_model"], h_model=missed["h_model"]
        )
        result.findings.append(
            Finding.of(
                "strides.no_grid_point",
                f"{len(empty)} of {n} boxes ({_pct(share)}) contain {_no_point_what(selected)} "
                f"at imgsz {config.imgsz}: an assigner that picks points inside the box has no "
                "candidate for them" + with_p2(f"{_pct(p2.no_grid_point_share)} without a point"),
                NAME,
                value=share,
                threshold=warn,
                examples=examples(empty),
                count=len(empty),
                raised=share > warn,
            )
        )

    collide = np.flatnonzero(level.collide)
    if len(collide):
        share = stats.center_collision_share
        cells = level.collision_cells
        result.tables["center_collisions"] = label_table(dataset, box_label_rows(dataset, rows, collide))
        result.findings.append(
            Finding.of(
                "strides.center_collisions",
                f"{len(collide)} of {n} boxes ({_pct(share)}) share a stride-{stride} grid "
                f"cell with another box's centre in the same image ({cells} "
                f"{'cell holds' if cells == 1 else 'cells hold'} two or more centres) at imgsz "
                f"{config.imgsz}" + with_p2(f"{_pct(p2.center_collision_share)} collide"),
                NAME,
                value=share,
                threshold=config.strides.collision_warn_share,
                examples=examples(collide),
                count=len(collide),
                raised=share > config.strides.collision_warn_share,
            )
        )
