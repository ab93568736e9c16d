"""Strides: what the feature-map grid of a model can do with boxes at model input.

For the selected model and always for ``yolov8`` and ``yolov8-p2`` (so the report shows what a
stride-4 head recovers), per level: the share of boxes whose short side is below the stride,
the boxes with no grid point strictly inside (anchor-free assigners such as YOLOv8's TAL pick
candidate points inside the box), and the boxes whose centres share a grid cell with another
box of the same image. Plus the IoU noise floor: the IoU of a box with itself shifted by
``noise_shift_px`` in x and y, which bounds how precisely a small box can be localised.

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

from sodaudit.analyzers.base import LABEL_COLUMNS, AnalyzerResult, label_examples, label_rows, label_table
from sodaudit.analyzers.sizes import group_means, model_sized
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.errors import ConfigError
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.models import MODELS, ModelPreset
from sodaudit.sizepresets import AITOD

NAME = "strides"

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
    """The smallest-stride shares of one class, for the selected model."""

    n: int
    below_smallest_stride_share: float
    no_grid_point_share: float
    center_collision_share: float


class StridesModel(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One model preset: its smallest stride's numbers, then every level."""

    assigner: str
    strides: list[int]
    smallest_stride: int
    below_smallest_stride: int
    below_smallest_stride_share: float
    no_grid_point: int
    no_grid_point_share: float
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


def grid_points_1d(lo: np.ndarray, hi: np.ndarray, stride: float) -> np.ndarray:
    """Number of grid centres (i + 0.5) * stride strictly inside (lo, hi), for integer i.

    lo < (i + 0.5) s < hi  <=>  lo/s - 0.5 < i < hi/s - 0.5, so the count is
    ceil(hi/s - 0.5) - floor(lo/s - 0.5) - 1, never below 0.
    """
    count = np.ceil(hi / stride - 0.5) - np.floor(lo / stride - 0.5) - 1
    return np.maximum(count, 0).astype(np.int64)


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


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Per model and level: boxes below the stride, without grid points, sharing centre cells."""
    if dataset.imgsz != config.imgsz:
        dataset = dataset.with_imgsz(config.imgsz)
    try:
        selected = MODELS[config.model]
    except KeyError:
        raise ConfigError(f"Unknown model {config.model!r}; use one of {', '.join(MODELS)}.") from None
    result = AnalyzerResult(NAME, "Strides")
    rows = model_sized(
        dataset, *LABEL_COLUMNS, "scale", "img_w", "img_h", "short_side_model", "sqrt_area_model"
    )
    geo = _geometry(rows)

    names = list(dict.fromkeys((selected.name, *ALWAYS_MODELS)))
    strides = sorted({float(s) for name in names for s in MODELS[name].strides})
    levels = _levels(geo, strides)  # models share strides: each is computed once
    models: dict[str, StridesModel] = {}
    for name in names:
        models[name] = _model_stats(MODELS[name], levels, len(rows))
    smallest = levels[float(min(selected.strides))]
    models[selected.name].by_class = _by_class(rows, smallest)

    d = config.strides.noise_shift_px
    noise = shifted_iou(geo["w"], geo["h"], d)
    result.stats = StridesStats(
        imgsz=config.imgsz,
        model=selected.name,
        num_boxes=len(rows),
        noise_shift_px=float(d),
        models=models,
        iou_noise_floor=_noise_floor(noise, rows["sqrt_area_model"].to_numpy(dtype=np.float64)),
    )
    _findings(dataset, config, selected, rows, smallest, models, result)
    return result


def _geometry(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Box corners at model input, clipped to the image there, and the clipped box centre."""
    scale = rows["scale"].to_numpy(dtype=np.float64)
    width = rows["img_w"].to_numpy(dtype=np.float64) * scale
    height = rows["img_h"].to_numpy(dtype=np.float64) * scale
    x0 = rows["x"].to_numpy(dtype=np.float64) * scale
    y0 = rows["y"].to_numpy(dtype=np.float64) * scale
    w = rows["w_model"].to_numpy(dtype=np.float64)
    h = rows["h_model"].to_numpy(dtype=np.float64)
    x1 = np.clip(x0 + w, 0, width)
    y1 = np.clip(y0 + h, 0, height)
    x0 = np.clip(x0, 0, width)
    y0 = np.clip(y0, 0, height)
    return {
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "cx": (x0 + x1) / 2,
        "cy": (y0 + y1) / 2,
        "w": w,
        "h": h,
        "short": rows["short_side_model"].to_numpy(dtype=np.float64),
        "image": np.unique(rows["image_id"].to_numpy(), return_inverse=True)[1].astype(np.int64),
    }


def center_collisions(
    image: np.ndarray, cx: np.ndarray, cy: np.ndarray, stride: float
) -> tuple[np.ndarray, int]:
    """Per box: does another box of the same image have its centre in the same grid cell? And
    the number of cells (of one image) holding two or more centres.

    One int64 key per box (image code, cell x, cell y), counted by ``np.unique``. ``image`` are
    small non-negative image codes; centres are at model input, so cells are small integers too.
    """
    if not len(image):
        return np.zeros(0, dtype=bool), 0
    cell_x = np.floor(cx / stride).astype(np.int64)
    cell_y = np.floor(cy / stride).astype(np.int64)
    cell_x -= cell_x.min()
    cell_y -= cell_y.min()
    key = (image * (int(cell_x.max()) + 1) + cell_x) * (int(cell_y.max()) + 1) + cell_y
    _, cell, boxes_in_cell = np.unique(key, return_inverse=True, return_counts=True)
    return boxes_in_cell[cell] >= 2, int(np.count_nonzero(boxes_in_cell >= 2))


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
        points = grid_points_1d(geo["x0"], geo["x1"], stride) * grid_points_1d(geo["y0"], geo["y1"], stride)
        collide, cells = center_collisions(geo["image"], geo["cx"], geo["cy"], stride)
        median = float(np.median(points)) if len(points) else math.nan
        out[stride] = Level(stride, geo["short"] < stride, points, collide, cells, median)
    return out


def _model_stats(preset: ModelPreset, levels: dict[float, Level], n: int) -> StridesModel:
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
    return StridesModel(
        assigner=preset.assigner,
        strides=sorted(int(s) for s in preset.strides),
        smallest_stride=first.stride,
        below_smallest_stride=first.below_stride,
        below_smallest_stride_share=first.below_stride_share,
        no_grid_point=first.no_grid_point,
        no_grid_point_share=first.no_grid_point_share,
        center_collision_boxes=first.center_collision_boxes,
        center_collision_share=first.center_collision_share,
        levels=stats_levels,
    )


def _by_class(rows: pd.DataFrame, level: Level) -> dict[str, StridesClass]:
    """Smallest-stride shares per class, for the selected model."""
    names = rows["class_name"]
    means = group_means(
        names.cat.codes.to_numpy(),
        [str(c) for c in names.cat.categories],
        below_smallest_stride_share=level.below,
        no_grid_point_share=level.empty,
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


def _share(count: int, n: int) -> float:
    return count / n if n else math.nan


def _findings(
    dataset: Dataset,
    config: Config,
    selected: ModelPreset,
    rows: pd.DataFrame,
    level: Level,
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
        head = label_rows(rows, at[:MAX_EXAMPLES], "w_model", "h_model")
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

    empty = np.flatnonzero(level.empty)
    if len(empty):
        share = stats.no_grid_point_share
        warn = config.strides.no_point_warn_share
        missed = label_rows(rows, empty, "w_model", "h_model")
        result.tables["no_grid_point"] = label_table(
            dataset, missed, w_model=missed["w_model"], h_model=missed["h_model"]
        )
        result.findings.append(
            Finding.of(
                "strides.no_grid_point",
                f"{len(empty)} of {n} boxes ({_pct(share)}) contain no stride-{stride} grid "
                f"point of {selected.name} at imgsz {config.imgsz}: an assigner that picks points "
                "inside the box has no candidate for them"
                + with_p2(f"{_pct(p2.no_grid_point_share)} without a point"),
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
        result.tables["center_collisions"] = label_table(dataset, label_rows(rows, collide))
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
