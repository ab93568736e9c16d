"""Model presets: what a detector's input size, strides and anchors are.

Analyzers ask these presets what the model can represent; nothing else hard-codes
a stride or an anchor.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    "yolov8": ModelPreset("yolov8", strides=(8, 16, 32), assigner="points"),
    "yolo11": ModelPreset("yolo11", strides=(8, 16, 32), assigner="points"),
    "yolov8-p2": ModelPreset("yolov8-p2", strides=(4, 8, 16, 32), assigner="points"),
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
