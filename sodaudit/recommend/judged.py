"""The judged boxes: valid, not ignored, in an image of known size. Their columns are taken
from the box table when read, not held: the plan and every recommendation read a few of 16
columns (1 GB at 8.6M boxes when held together)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np
import pandas as pd

from sodaudit.dataset import Dataset


class JudgedRows:
    """Rows ``positions`` of ``dataset``'s boxes with ``columns``, read like a DataFrame
    (``rows[col]``, ``rows[[cols]]``, ``len``, ``columns``; a fresh index), each column taken
    (or, for a derived one, computed) when read."""

    def __init__(self, dataset: Dataset, positions: np.ndarray, columns: Sequence[str]) -> None:
        self._dataset = dataset
        self._positions = positions
        known = set(dataset.box_column_names)
        self.columns = pd.Index([c for c in dict.fromkeys(columns) if c in known])

    @classmethod
    def of(cls, dataset: Dataset, columns: Sequence[str]) -> JudgedRows:
        """The judged boxes of ``dataset`` with ``columns`` (those the box table has)."""
        b = dataset.selected_boxes("img_w", "img_h")
        img_w = b["img_w"].to_numpy(np.float64)
        img_h = b["img_h"].to_numpy(np.float64)
        sized = np.isfinite(img_w) & np.isfinite(img_h) & (img_w > 0) & (img_h > 0)
        positions = np.asarray(b.index if sized.all() else b.index[sized])  # the table's index: positions
        return cls(dataset, positions, columns)

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, key: str) -> pd.Series: ...
    @overload
    def __getitem__(self, key: list[str]) -> pd.DataFrame: ...
    def __getitem__(self, key: str | list[str]) -> pd.Series | pd.DataFrame:
        if isinstance(key, list):
            return pd.DataFrame({c: self[c] for c in key}, copy=False)
        if key not in self.columns:
            raise KeyError(key)
        column = self._dataset.box_columns(key, rows=self._positions)[key]
        return pd.Series(column.array, name=key, copy=False)
