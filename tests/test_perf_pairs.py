"""Pathological inputs of the pair search: bounded memory, a finding instead of an OOM.

The issue's cases: a YOLO label file that repeats one row 41,600 times (865 million duplicate
pairs in one image) and ``sodaudit diff`` of two versions of one crowded image (the old
matching allocated n x n x 4 floats per image). Peak memory is measured with tracemalloc
(numpy reports its buffers to it).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sodaudit.dataset import Dataset
from sodaudit.diff import diff_datasets
from sodaudit.geometry import MAX_PAIRS_PER_IMAGE
from sodaudit.pipeline import audit

MB = 2**20


def _peak(fn):
    """``fn()`` and the peak of memory traced while it ran."""
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_label_file_of_41600_repeated_rows_is_a_finding(tmp_path: Path):
    root = tmp_path / "ds"
    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True)
    for name in ("a", "b"):
        Image.new("RGB", (640, 640)).save(root / "images" / f"{name}.png")
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n" * 41_600)
    # b: one duplicate pair (identical rows) and an unrelated box
    (root / "labels" / "b.txt").write_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1\n0 0.2 0.2 0.1 0.1\n")
    (root / "classes.txt").write_text("thing\n")

    report, peak = _peak(lambda: audit(root))
    assert peak < 500 * MB  # the pair search alone needed more than 6 GB before
    pairs = 41_600 * 41_599 // 2
    found = {f.code: f for f in report.findings}
    for code in ("integrity.pair_limit", "class_overlap.pair_limit"):
        finding = found[code]
        assert finding.count == 1
        assert finding.examples[0].startswith(f"images/a.png: more than {MAX_PAIRS_PER_IMAGE:,} pairs")
        assert f"(at most {pairs:,})" in finding.examples[0]
    # the rest of the dataset is still audited: b's duplicate is counted, a's are left out
    integrity = report.analyzers["integrity"].stats
    assert (integrity.num_duplicates, integrity.images_over_pair_limit) == (1, 1)
    assert report.analyzers["class_overlap"].stats.nms_suppressed_pairs == 1
    assert len(report.dataset.boxes) == 41_603


def _one_image(
    xywh: np.ndarray, cls: np.ndarray, files=("a.jpg",), image: np.ndarray | None = None
) -> Dataset:
    image = np.zeros(len(xywh), np.int64) if image is None else image
    images = pd.DataFrame(
        {
            "image_id": np.arange(len(files)),
            "file_name": list(files),
            "path": "",
            "split": "train",
            "width": 4000.0,
            "height": 4000.0,
            "status": "unchecked",
        }
    )
    boxes = pd.DataFrame(
        {
            "image_id": image,
            "class_id": cls,
            **{c: xywh[:, k] for k, c in enumerate("xywh")},
            "source_file": "labels.txt",
            "source_line": np.arange(1, len(xywh) + 1),
        }
    )
    return Dataset.build(root=Path("."), format="coco", boxes=boxes, images=images, classes={0: "a", 1: "b"})


def test_diff_of_a_crowded_image_is_sparse():
    """10,000 boxes of 8 x 8 on a 10 px grid, all moved 1 px right: each pairs with itself at
    IoU 7*8 / (128 - 56) = 7/9 (its neighbours are 9 px away: no overlap). The old dense
    matching held 10^8 x 4 floats (3.2 GB); the sparse one stays small."""
    gx, gy = np.meshgrid(np.arange(100) * 10.0, np.arange(100) * 10.0)
    old = np.column_stack([gx.ravel(), gy.ravel(), np.full(10_000, 8.0), np.full(10_000, 8.0)])
    new = old + np.array([1.0, 0.0, 0.0, 0.0])
    cls = np.zeros(10_000, np.int64)
    result, peak = _peak(lambda: diff_datasets(_one_image(old, cls), _one_image(new[::-1].copy(), cls)))
    assert peak < 300 * MB
    boxes = result.stats["boxes"]
    assert (boxes["matched"], boxes["moved"], boxes["jittered"], boxes["added"]) == (
        10_000,
        10_000,
        10_000,
        0,
    )
    matched = result.tables["matched"]
    assert matched["iou"].to_numpy() == pytest.approx(np.full(10_000, 7 / 9))
    np.testing.assert_array_equal(matched["new_x"].to_numpy(), matched["old_x"].to_numpy() + 1)
    np.testing.assert_array_equal(matched["new_y"].to_numpy(), matched["old_y"].to_numpy())


def test_diff_image_over_the_pair_limit_is_a_finding():
    """a.jpg: 1,100 copies of one 10 x 10 box, moved 1 px in NEW: 1,210,000 pairs at IoU
    90/110, over the cap; b.jpg: one box moved 2 px, paired as usual."""
    k = 1_100
    old = np.vstack([np.tile([0.0, 0.0, 10.0, 10.0], (k, 1)), [[50.0, 50.0, 10.0, 10.0]]])
    new = old.copy()
    new[:, 0] += np.r_[np.ones(k), 2.0]
    image = np.r_[np.zeros(k, np.int64), 1]
    cls = np.zeros(k + 1, np.int64)
    files = ("a.jpg", "b.jpg")
    result = diff_datasets(_one_image(old, cls, files, image), _one_image(new, cls, files, image))
    (finding,) = [f for f in result.findings if f.code == "diff.pair_limit"]
    assert finding.count == 1
    assert finding.examples[0].startswith(f"a.jpg: more than {MAX_PAIRS_PER_IMAGE:,} box pairs")
    boxes = result.stats["boxes"]
    assert (boxes["matched"], boxes["removed"], boxes["added"]) == (1, k, k)
    assert result.tables["matched"]["old_image"].tolist() == ["b.jpg"]
    assert result.tables["matched"]["iou"].tolist() == pytest.approx([80 / 120])
