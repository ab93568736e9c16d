"""The derived box columns (sizes, relative size, sizes at model input), computed when read.

They are arithmetic on a box's ``w``, ``h`` and its image's size, so the dataset does not hold
them: at 8.6M boxes the 13 float64 columns would be 900 MB held for the whole run, while each
analyzer reads two or three of them. Every reader gets them from :meth:`Dataset.box_columns`,
which calls :func:`derive` here, so there is still one definition of what "size" means.

The arithmetic is the same element by element whatever rows are asked for (no reductions), so
a column computed for a subset of the rows equals the whole column taken at those rows, bit
for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sodaudit.convert import letterbox_scale

NATIVE_COLUMNS = ("area", "sqrt_area", "short_side", "long_side", "rel_area")
"""Sizes in the image file: ``w*h``, its square root, ``min(w, h)``, ``max(w, h)``, and the
share of the image's area."""
MODEL_COLUMNS = ("scale", "w_model", "h_model", "sqrt_area_model", "short_side_model", "long_side_model")
"""``scale`` (the letterbox factor to the model input, :func:`letterbox_scale`) and the sizes
times it."""
DERIVED_COLUMNS = ("img_w", "img_h", *NATIVE_COLUMNS, *MODEL_COLUMNS)
"""Every derived column, in the order ``selected_boxes()`` and the export list them.
``img_w``, ``img_h`` are the box's image's ``width``, ``height`` (from the image table)."""

BLOCK_ROWS = 1 << 20
"""Rows computed at a time: the intermediate arrays of one block stay ~8 MB each."""


def derive(names: tuple[str, ...], read: Callable[[str], np.ndarray], imgsz: int) -> dict[str, np.ndarray]:
    """The derived columns ``names`` for one block of rows. ``read(column)`` gives a stored
    column of those rows as float64 (``w``, ``h``, ``img_w``, ``img_h``); what two names
    share (``area``, ``scale``, ...) is computed once."""
    block = _Block(read, imgsz)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return {name: block.get(name) for name in names}


class _Block:
    """The columns of one block computed so far. A class, not a closure over a dict: a
    recursive closure is a reference cycle, and its arrays would wait for the garbage
    collector instead of going when the block is done."""

    def __init__(self, read: Callable[[str], np.ndarray], imgsz: int) -> None:
        self.read = read
        self.imgsz = imgsz
        self.memo: dict[str, np.ndarray] = {}

    def get(self, name: str) -> np.ndarray:
        if name not in self.memo:
            rule = _RULES.get(name)
            self.memo[name] = self.read(name) if rule is None else rule(self.get, self.imgsz)
        return self.memo[name]


Get = Callable[[str], np.ndarray]


def _sqrt_area(get: Get, imgsz: int) -> np.ndarray:
    area = get("area")
    return np.sqrt(np.where(area >= 0, area, np.nan))


_RULES: dict[str, Callable[[Get, int], np.ndarray]] = {
    "area": lambda get, imgsz: get("w") * get("h"),
    "sqrt_area": _sqrt_area,
    "short_side": lambda get, imgsz: np.minimum(get("w"), get("h")),
    "long_side": lambda get, imgsz: np.maximum(get("w"), get("h")),
    "rel_area": lambda get, imgsz: get("area") / (get("img_w") * get("img_h")),
    "scale": lambda get, imgsz: letterbox_scale(get("img_w"), get("img_h"), imgsz),
    "w_model": lambda get, imgsz: get("w") * get("scale"),
    "h_model": lambda get, imgsz: get("h") * get("scale"),
    "sqrt_area_model": lambda get, imgsz: get("sqrt_area") * get("scale"),
    "short_side_model": lambda get, imgsz: get("short_side") * get("scale"),
    "long_side_model": lambda get, imgsz: get("long_side") * get("scale"),
}
