"""The judged rows, taken column by column when read, are the rows a DataFrame take gives; the
effective samples' in-place unique is ``np.unique``'s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sodaudit.dataset import Dataset
from sodaudit.recommend.effective import _unique_counts
from sodaudit.recommend.judged import JudgedRows


def test_columns_are_the_taken_rows_with_a_fresh_index():
    boxes = pd.DataFrame(
        {
            "image_id": [0, 0, 1, 1, 2, 2],
            "class_id": [0, 1, 2, 0, 1, 2],
            "x": 0.0,
            "y": 0.0,
            "w": np.arange(1.0, 7.0),
            "h": 2.0,
        }
    )
    images = pd.DataFrame(
        {
            "image_id": [0, 1, 2],
            "file_name": ["a.jpg", "b.jpg", "c.jpg"],
            "path": "",
            "split": "train",
            "width": [100.0, 200.0, 400.0],
            "height": [50.0, 100.0, 100.0],
            "status": "ok",
        }
    )
    ds = Dataset.build(
        root=Path("."), format="test", boxes=boxes, images=images, classes={0: "a", 1: "b", 2: "c"}
    )
    positions = np.array([0, 2, 5])
    rows = JudgedRows(ds, positions, ["w", "class_name", "image_id", "w_model", "absent"])
    expected = ds.box_columns().take(positions).reset_index(drop=True)
    assert len(rows) == 3 and list(rows.columns) == ["w", "class_name", "image_id", "w_model"]
    for col in rows.columns:
        pd.testing.assert_series_equal(rows[col], expected[col])
    pd.testing.assert_frame_equal(rows[["w", "class_name"]], expected[["w", "class_name"]])
    # w * 640 / the long image side, by hand: 1 * 640/100, 3 * 640/200, 6 * 640/400
    assert rows["w_model"].tolist() == pytest.approx([6.4, 9.6, 9.6])
    assert rows["class_name"].astype(str).tolist() == ["a", "c", "c"]


def test_unique_counts_is_np_unique():
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 1000):
        keys = rng.integers(0, 40, n).astype(np.int64)
        values, counts = np.unique(keys, return_counts=True)
        got_values, got_counts = _unique_counts(keys.copy())
        np.testing.assert_array_equal(got_values, values)
        np.testing.assert_array_equal(got_counts, counts)
