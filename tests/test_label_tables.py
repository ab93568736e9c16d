"""Per-label and per-pair lists: file names, classes, boxes and sources of the listed rows,
against what the test dataset's naming says they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sodaudit.analyzers.base as base
from sodaudit.analyzers.base import label_rows, label_table, pair_table
from sodaudit.dataset import Dataset


def _dataset(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    n_img, n = 40, 400
    ids = rng.choice(1000, n_img, replace=False)  # not sorted: the dataset sorts images
    images = pd.DataFrame(
        {
            "image_id": ids,
            "file_name": [f"dir/im{i}.jpg" for i in ids],
            "path": [""] * n_img,
            "split": rng.choice(["train", "val"], n_img),
            "width": 640.0,
            "height": 480.0,
            "status": "ok",
        }
    )
    boxes = pd.DataFrame(
        {
            "image_id": rng.choice(ids, n),
            "class_id": rng.integers(0, 4, n),
            "x": rng.random(n) * 600,
            "y": rng.random(n) * 400,
            "w": rng.random(n) * 50,
            "h": rng.random(n) * 50,
            "source_file": rng.choice(["a.txt", "b/c.txt"], n),
            "source_line": np.where(rng.random(n) < 0.3, -1, np.arange(n)),
        }
    )
    return Dataset.build(
        root=Path("/d"),
        format="test",
        boxes=boxes,
        images=images,
        classes={0: "car", 1: "person", 2: "dog"},  # class 3 undeclared
    )


def _expected(ds: Dataset, rows: pd.DataFrame) -> pd.DataFrame:
    """What a person should read for ``rows``, from how ``_dataset`` named things: image ids
    ``i`` live in ``dir/im{i}.jpg``, a source is ``file:line`` or just ``file`` for line -1."""
    names = {0: "car", 1: "person", 2: "dog", 3: "<unknown id 3>"}
    return pd.DataFrame(
        {
            "image": [f"dir/im{i}.jpg" for i in rows["image_id"]],
            "class_name": [names[c] for c in rows["class_id"]],
            "x": rows["x"].to_numpy(),
            "y": rows["y"].to_numpy(),
            "w": rows["w"].to_numpy(),
            "h": rows["h"].to_numpy(),
            "source": [
                f"{f}:{n}" if n >= 0 else str(f)
                for f, n in zip(rows["source_file"], rows["source_line"], strict=True)
            ],
        }
    )


@pytest.mark.parametrize("seed", range(3))
def test_label_and_pair_tables_name_the_image_class_and_source(seed: int):
    ds = _dataset(seed)
    b = ds.box_columns()
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(b), 60, replace=False))
    for rows in (b.iloc[pick], label_rows(b, pick, "w_model"), b.iloc[:0], b):
        got = label_table(ds, rows, zoom=rows["x"] * 2, rule="r")
        want = _expected(ds, rows).assign(zoom=(rows["x"] * 2).to_numpy(), rule="r")
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
    mask = np.zeros(len(b), bool)
    mask[pick] = True
    pd.testing.assert_frame_equal(label_rows(b, mask), b.loc[mask, list(base.LABEL_COLUMNS)])
    first, second = b.iloc[pick[:30]], b.iloc[pick[30:]]
    iou = rng.random(30)
    got = pair_table(ds, first, second, iou)
    a, c = _expected(ds, first), _expected(ds, second)
    want = pd.DataFrame({"image": a["image"]})
    for suffix, part in (("a", a), ("b", c)):
        for col in ("class_name", "x", "y", "w", "h", "source"):
            want[f"{col}_{suffix}"] = part[col].to_numpy()
    want["iou"] = np.round(iou, 4)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
