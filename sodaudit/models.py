"""Model presets: what a detector's input size, strides, anchors and assigner are.

Analyzers ask these presets what the model can represent; nothing else hard-codes a stride, an
anchor or an assigner rule. An assigner changes between releases of a trainer, so a preset says
which release it models (``assigner_version``) and where the rule is written (``source``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelPreset:
    name: str
    strides: tuple[int, ...]
    assigner: str
    """``ratio`` (YOLOv5 wh-ratio rule), ``iou`` (anchor IoU) or ``points`` (anchor-free)."""
    anchors: tuple[tuple[tuple[float, float], ...], ...] = ()
    """Per level, (w, h) in model-input pixels; empty for anchor-free models."""
    imgsz: int = 640
    ratio_thr: float = 4.0
    iou_pos: float | None = None
    iou_neg: float | None = None
    max_det: int = 300
    candidate_levels: str = "smallest"
    """Where a ``points`` assigner finds candidate points for a box: ``all`` (the grid points of
    every pyramid level at once, as Ultralytics' TaskAlignedAssigner) or ``smallest`` (the finest
    level, where a small box belongs: FCOS assigns each level a range of box sizes)."""
    enlarge_below: float = 0.0
    """Box sides (model-input pixels) below this are enlarged to ``enlarge_to`` about the box
    centre before the candidate points are selected; 0: no enlargement."""
    enlarge_to: float = 0.0
    assigner_version: str = ""
    """The trainer release whose assigner the preset models, e.g. ``ultralytics<8.4``."""
    source: str = ""
    """Where the assigner rule is written: file, function and release."""

    def candidate_span(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per axis, the span whose grid points the assigner takes as candidates for a box side
        [lo, hi]: the side itself, or a side of ``enlarge_to`` about its centre when the side is
        below ``enlarge_below`` (each axis on its own, as the trainer does)."""
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        if not self.enlarge_below:
            return lo, hi
        small = (hi - lo) < self.enlarge_below
        centre = (lo + hi) / 2
        half = self.enlarge_to / 2
        return np.where(small, centre - half, lo), np.where(small, centre + half, hi)


def anchor_points(strides: tuple[int, ...] | list[int], imgsz: int) -> int:
    """Anchor points (grid cells over all levels) of a square ``imgsz`` input: a level of stride
    s has ceil(imgsz / s) cells a side (stride-2 convolutions with padding 1 give ceil(n / 2)).
    8,400 at 640 for strides 8, 16, 32; 34,000 with a stride-4 (P2) level."""
    return sum(math.ceil(imgsz / s) ** 2 for s in strides)


def _grid_anchors(
    sizes: tuple[int, ...], scales: tuple[float, ...], ratios: tuple[float, ...]
) -> tuple[tuple[tuple[float, float], ...], ...]:
    """torchvision/detectron-style anchors: area = (size*scale)^2, ratio = h / w."""
    levels = []
    for size in sizes:
        level = []
        for scale in scales:
            for ratio in ratios:
                side = size * scale
                w = side / ratio**0.5
                level.append((round(w, 4), round(w * ratio, 4)))
        levels.append(tuple(level))
    return tuple(levels)


TAL_BEFORE_8_4 = (
    "ultralytics/utils/tal.py, TaskAlignedAssigner.select_candidates_in_gts (ultralytics 8.3.253 "
    "and earlier): a grid point of any level is a candidate when it lies strictly inside the box"
)
"""YOLOv8 and YOLO11 as trained with Ultralytics < 8.4."""

TAL_8_4_128 = (
    "ultralytics/utils/tal.py, TaskAlignedAssigner.select_candidates_in_gts (ultralytics 8.4.128 "
    "and later, checked up to 8.4.190): box sides below stride_val = stride[1] are set to "
    "stride_val about the box centre, then a grid point of any level is a candidate when it lies "
    "strictly inside. 8.4.0 to 8.4.127 enlarged only sides below stride[0] (to stride[1])"
)
"""YOLO26 as trained with Ultralytics >= 8.4.128 (strides 8, 16, 32: sides below 16 px -> 16 px)."""

MODELS: dict[str, ModelPreset] = {
    "yolov5": ModelPreset(
        "yolov5",
        strides=(8, 16, 32),
        assigner="ratio",
        anchors=(
            ((10, 13), (16, 30), (33, 23)),
            ((30, 61), (62, 45), (59, 119)),
            ((116, 90), (156, 198), (373, 326)),
        ),
    ),
    "yolov8": ModelPreset(
        "yolov8",
        strides=(8, 16, 32),
        assigner="points",
        candidate_levels="all",
        assigner_version="ultralytics<8.4",
        source=TAL_BEFORE_8_4,
    ),
    "yolo11": ModelPreset(
        "yolo11",
        strides=(8, 16, 32),
        assigner="points",
        candidate_levels="all",
        assigner_version="ultralytics<8.4",
        source=TAL_BEFORE_8_4,
    ),
    "yolo26": ModelPreset(
        "yolo26",
        strides=(8, 16, 32),
        assigner="points",
        candidate_levels="all",
        enlarge_below=16,
        enlarge_to=16,
        assigner_version="ultralytics>=8.4.128",
        source=TAL_8_4_128,
    ),
    "yolov8-p2": ModelPreset(
        "yolov8-p2",
        strides=(4, 8, 16, 32),
        assigner="points",
        candidate_levels="all",
        assigner_version="ultralytics<8.4",
        source=TAL_BEFORE_8_4,
    ),
    "retinanet": ModelPreset(
        "retinanet",
        strides=(8, 16, 32, 64, 128),
        assigner="iou",
        anchors=_grid_anchors((32, 64, 128, 256, 512), (1.0, 2 ** (1 / 3), 2 ** (2 / 3)), (0.5, 1.0, 2.0)),
        iou_pos=0.5,
        iou_neg=0.4,
        max_det=100,
    ),
    "faster-rcnn": ModelPreset(
        "faster-rcnn",
        strides=(4, 8, 16, 32, 64),
        assigner="iou",
        anchors=_grid_anchors((32, 64, 128, 256, 512), (1.0,), (0.5, 1.0, 2.0)),
        iou_pos=0.7,
        iou_neg=0.3,
        max_det=100,
    ),
    "fcos": ModelPreset("fcos", strides=(8, 16, 32, 64, 128), assigner="points", max_det=100),
}
MODEL_NAMES = tuple(MODELS)
