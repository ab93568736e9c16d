"""The judged rows, taken column by column when read, are the rows a DataFrame take gives; the
effective samples' in-place unique is ``np.unique``'s."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sodaudit.recommend.effective import _unique_counts
from sodaudit.recommend.judged import JudgedRows


def test_columns_are_the_taken_rows_with_a_fresh_index():
    boxes = pd.DataFrame(
        {
            "w": np.arange(6.0),
            "class_name": pd.Categorical(list("abcabc")),
            "image_id": np.arange(6) * 10,
        },
        index=np.arange(6) + 100,
    )
    positions = np.array([0, 2, 5])
    rows = JudgedRows(boxes, positions, ["w", "class_name", "image_id", "absent"])
    expected = boxes.take(positions).reset_index(drop=True)
    assert len(rows) == 3 and list(rows.columns) == ["w", "class_name", "image_id"]
    for col in rows.columns:
        pd.testing.assert_series_equal(rows[col], expected[col])
    pd.testing.assert_frame_equal(rows[["w", "class_name"]], expected[["w", "class_name"]])


def test_unique_counts_is_np_unique():
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 1000):
        keys = rng.integers(0, 40, n).astype(np.int64)
        values, counts = np.unique(keys, return_counts=True)
        got_values, got_counts = _unique_counts(keys.copy())
        np.testing.assert_array_equal(got_values, values)
        np.testing.assert_array_equal(got_counts, counts)
