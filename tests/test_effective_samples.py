"""Effective sample size per class x size bucket (issue 18, part 6), by hand: Kish's
(sum n_g)^2 / sum n_g^2 over clusters (sequences when file names name clips, else images)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sodaudit.recommend.effective import effective_samples, thin_cells_finding


def images(names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": np.arange(len(names)),
            "file_name": names,
            "path": [""] * len(names),
            "split": ["train"] * len(names),
        }
    )


def rows(image_ids: list[int], size: float, cls: str = "car") -> pd.DataFrame:
    n = len(image_ids)
    return pd.DataFrame({"image_id": image_ids, "class_name": [cls] * n, "w": [size] * n, "h": [size] * n})


def cell(result: dict, cls: str, bucket: str) -> dict:
    [found] = [c for c in result["cells"] if c["class"] == cls and c["bucket"] == bucket]
    return found


def test_images_as_clusters():
    """4 + 1 + 1 boxes in three images: ESS = 6^2 / (16 + 1 + 1) = 2."""
    r = effective_samples(images(["x.jpg", "y.jpg", "z.jpg"]), rows([0, 0, 0, 0, 1, 2], 5.0), np.ones(6), 30)
    c = cell(r, "car", "very_tiny")  # sqrt(5 * 5) = 5 < 8
    assert (c["boxes"], c["images"], c["clusters"]) == (6, 3, 3)
    assert c["effective"] == pytest.approx(2.0) and c["thin"]
    assert r["clusters"] == "images" and r["thin_cells"] == 1


def test_sequences_as_clusters_at_the_plans_scale():
    """Three clips of two frames, one 10 px box per frame: 3 clusters of 2, ESS = 36 / 12 = 3;
    at the plan's 2x scale the boxes are 20 px: AI-TOD small, not tiny."""
    names = [f"{clip}_{k:04d}.jpg" for clip in "abc" for k in (1, 2)]
    r = effective_samples(images(names), rows(list(range(6)), 10.0), np.full(6, 2.0), 30)
    c = cell(r, "car", "small")
    assert (c["boxes"], c["images"], c["clusters"]) == (6, 6, 3)
    assert c["effective"] == pytest.approx(3.0)
    assert r["clusters"] == "sequences (file_name)"


def test_one_box_per_independent_image_counts_fully():
    r = effective_samples(
        images([f"{k}.jpg" for k in range(40)]), rows(list(range(40)), 50.0), np.ones(40), 30
    )
    c = cell(r, "car", "other")
    assert c["effective"] == pytest.approx(40.0) and not c["thin"]
    assert thin_cells_finding(r, "at imgsz 640") is None


def test_thin_cells_finding_names_the_thinnest():
    r = effective_samples(images(["x.jpg", "y.jpg"]), rows([0, 1], 5.0, "boat"), np.ones(2), 30)
    finding = thin_cells_finding(r, "at imgsz 1280")
    assert finding is not None and finding.count == 1
    assert "boat very tiny: 2.0 from 2 boxes" in finding.message and "at imgsz 1280" in finding.message
