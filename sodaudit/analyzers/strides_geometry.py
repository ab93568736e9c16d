"""Box corners at model input for :mod:`sodaudit.analyzers.strides`, one column at a time."""

from __future__ import annotations

import numpy as np

from sodaudit.dataset import Dataset
from sodaudit.geometry import dense_codes

POINTS_BLOCK = 1 << 20
"""Boxes whose grid points :func:`level_points` counts at once (its float scratch is per block)."""


def geometry(dataset: Dataset) -> dict[str, np.ndarray]:
    """Box corners at model input, clipped to the image there, the short side at model input
    and image codes, for the rows of ``sizes.model_sized`` (in its order).

    Each column is taken on its own and dropped when used, not a take of all nine at once held
    while the arrays are built.
    """
    sized = dataset.selected_boxes("w_model", "h_model")
    w = sized["w_model"].to_numpy(dtype=np.float64)
    h = sized["h_model"].to_numpy(dtype=np.float64)
    del sized
    finite = np.isfinite(w) & np.isfinite(h)
    keep = None if finite.all() else finite
    del finite

    def column(name: str, dtype: type | None = np.float64) -> np.ndarray:
        values = dataset.selected_boxes(name)[name].to_numpy(dtype=dtype)
        return values if keep is None else values[keep]

    if keep is not None:
        w, h = w[keep], h[keep]
    scale = column("scale")
    x0 = column("x") * scale
    x1 = x0 + w
    del w
    np.clip(x1, 0, column("img_w") * scale, out=x1)
    np.clip(x0, 0, column("img_w") * scale, out=x0)
    y0 = column("y") * scale
    y1 = y0 + h
    del h
    np.clip(y1, 0, column("img_h") * scale, out=y1)
    np.clip(y0, 0, column("img_h") * scale, out=y0)
    del scale
    return {
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "short": column("short_side_model"),
        "image": dense_codes(column("image_id", None)),
    }


def cell_keys(image: np.ndarray, cx: np.ndarray, cy: np.ndarray, stride: float) -> np.ndarray:
    """One int64 key per box, equal for two boxes exactly when they have the same image code
    and their centres the same grid cell (cell x, cell y, shifted to start at 0)."""
    cell_x = np.floor(cx / stride).astype(np.int64)
    cell_y = np.floor(cy / stride).astype(np.int64)
    cell_x -= cell_x.min()
    cell_y -= cell_y.min()
    key = image * (int(cell_x.max()) + 1)
    key += cell_x
    del cell_x
    key *= int(cell_y.max()) + 1
    key += cell_y
    return key


def grid_points_1d(lo: np.ndarray, hi: np.ndarray, stride: float) -> np.ndarray:
    """Number of grid centres (i + 0.5) * stride strictly inside (lo, hi), for integer i.

    lo < (i + 0.5) s < hi  <=>  lo/s - 0.5 < i < hi/s - 0.5, so the count is
    ceil(hi/s - 0.5) - floor(lo/s - 0.5) - 1, never below 0.
    """
    count = np.ceil(hi / stride - 0.5) - np.floor(lo / stride - 0.5) - 1
    return np.maximum(count, 0).astype(np.int64)


def level_points(geo: dict[str, np.ndarray], stride: float) -> np.ndarray:
    """Grid centres of one stride inside each box of ``geo`` (corners ``x0, x1, y0, y1``).

    Counted a block of boxes at a time, into int32 when no box can hold 2^31 points: boxes are
    clipped to the image at model input, so an axis holds at most ``extent / stride + 1``
    centres (4,097 at imgsz 16,384 and stride 4). The float scratch of ``grid_points_1d``
    (five arrays) is then that of one block, not of 8.6M boxes.
    """
    x0, x1, y0, y1 = geo["x0"], geo["x1"], geo["y0"], geo["y1"]
    extent = max((float(np.nanmax(a, initial=0.0)) for a in (x1, y1)), default=0.0)
    per_axis = extent / stride + 2
    points = np.empty(len(x0), dtype=np.int32 if per_axis * per_axis < 2**31 else np.int64)
    for lo in range(0, len(x0), POINTS_BLOCK):
        at = slice(lo, lo + POINTS_BLOCK)
        points[at] = grid_points_1d(x0[at], x1[at], stride) * grid_points_1d(y0[at], y1[at], stride)
    return points
