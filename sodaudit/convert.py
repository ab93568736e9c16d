"""Box conventions of the three formats, converted to and from the canonical one.

Canonical: ``x, y, w, h`` in absolute pixels, top-left origin. YOLO: ``cx, cy, w, h``
normalised by the image size. VOC: ``xmin, ymin, xmax, ymax`` in pixels (read here as
``w = xmax - xmin``, no +1). COCO: the canonical form itself. The letterbox maps native
pixels to model input: scale ``imgsz / max(W, H)``, then centre padding to a square.
All functions are vectorised over arrays of shape (n, 4) / (n,).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _cols(boxes: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]


def yolo_to_xywh(boxes: ArrayLike, img_w: ArrayLike, img_h: ArrayLike) -> np.ndarray:
    cx, cy, w, h = _cols(boxes)
    img_w = np.asarray(img_w, dtype=np.float64)
    img_h = np.asarray(img_h, dtype=np.float64)
    return np.stack([(cx - w / 2) * img_w, (cy - h / 2) * img_h, w * img_w, h * img_h], axis=1)


def xywh_to_yolo(boxes: ArrayLike, img_w: ArrayLike, img_h: ArrayLike) -> np.ndarray:
    x, y, w, h = _cols(boxes)
    img_w = np.asarray(img_w, dtype=np.float64)
    img_h = np.asarray(img_h, dtype=np.float64)
    return np.stack([(x + w / 2) / img_w, (y + h / 2) / img_h, w / img_w, h / img_h], axis=1)


def voc_to_xywh(boxes: ArrayLike) -> np.ndarray:
    x0, y0, x1, y1 = _cols(boxes)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)


def xywh_to_voc(boxes: ArrayLike) -> np.ndarray:
    x, y, w, h = _cols(boxes)
    return np.stack([x, y, x + w, y + h], axis=1)


def letterbox_scale(img_w: ArrayLike, img_h: ArrayLike, imgsz: float) -> np.ndarray:
    """``imgsz / max(W, H)``: the one definition of the model-input scale (the dataset's
    ``scale`` column and every size at model input come from it)."""
    return imgsz / np.maximum(np.asarray(img_w, dtype=np.float64), np.asarray(img_h, dtype=np.float64))


def letterbox_params(img_w: ArrayLike, img_h: ArrayLike, imgsz: float) -> tuple[np.ndarray, ...]:
    """Scale and the left/top padding of a letterbox to an ``imgsz`` square."""
    img_w = np.asarray(img_w, dtype=np.float64)
    img_h = np.asarray(img_h, dtype=np.float64)
    scale = letterbox_scale(img_w, img_h, imgsz)
    return scale, (imgsz - img_w * scale) / 2, (imgsz - img_h * scale) / 2


def to_model_input(boxes: ArrayLike, img_w: ArrayLike, img_h: ArrayLike, imgsz: float) -> np.ndarray:
    x, y, w, h = _cols(boxes)
    scale, pad_x, pad_y = letterbox_params(img_w, img_h, imgsz)
    return np.stack([x * scale + pad_x, y * scale + pad_y, w * scale, h * scale], axis=1)


def from_model_input(boxes: ArrayLike, img_w: ArrayLike, img_h: ArrayLike, imgsz: float) -> np.ndarray:
    x, y, w, h = _cols(boxes)
    scale, pad_x, pad_y = letterbox_params(img_w, img_h, imgsz)
    return np.stack([(x - pad_x) / scale, (y - pad_y) / scale, w / scale, h / scale], axis=1)
