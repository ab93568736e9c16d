"""The label noise of two review passes (``sodaudit diff``): corners of the kept boxes moved by
draws of known spread come back as that spread (one pass's sigma is the difference's / sqrt 2),
identical boxes do not count, and a few real corrections do not inflate it."""

from __future__ import annotations

import numpy as np
import pytest
from builders import tiny_dataset

from sodaudit.diff import diff_datasets

SIGMA = 1.5  # px per corner, per labeling


def versions(n_moved: int, n_same: int, outliers: int = 0, seed: int = 0):
    """OLD: boxes of 40x40 at a grid of places in 640x640 images (imgsz 640: scale 1); NEW: the
    first ``n_moved`` with each corner moved by N(0, 2 SIGMA^2) (two independent labelings),
    ``outliers`` of them moved 20 px more, the rest identical."""
    rng = np.random.default_rng(seed)
    old, new = [], []
    for k in range(n_moved + n_same):
        image, slot = divmod(k, 100)
        x, y = 60.0 * (slot % 10) + 10, 60.0 * (slot // 10) + 10
        old.append((image, 0, x, y, 40.0, 40.0))
        if k < n_moved:
            d = rng.normal(0, SIGMA * np.sqrt(2), 4) + (20.0 if k < outliers else 0.0) * np.array(
                [1, 0, 1, 0]
            )
            x0, y0, x1, y1 = x + d[0], y + d[1], x + 40 + d[2], y + 40 + d[3]
            new.append((image, 0, x0, y0, x1 - x0, y1 - y0))
        else:
            new.append(old[-1])
    images = [(i, 640, 640) for i in range((n_moved + n_same - 1) // 100 + 1)]
    return tiny_dataset(old, images), tiny_dataset(new, images)


def test_sigma_of_one_labeling_is_recovered():
    old, new = versions(n_moved=2000, n_same=300)
    result = diff_datasets(old, new)
    noise = result.stats["label_noise"]
    assert noise["edited_pairs"] == 2000  # the 300 identical boxes are not counted
    assert noise["sigma_px_model"] == pytest.approx(SIGMA, rel=0.06)
    assert noise["sigma_px_native"] == pytest.approx(noise["sigma_px_model"])  # 640 px images at 640
    [finding] = [f for f in result.findings if f.code == "diff.label_noise"]
    assert f"--set sizes.label_noise_sigma_px={noise['sigma_px_model']:.2f}" in finding.message


def test_a_few_real_corrections_do_not_inflate_it():
    clean = diff_datasets(*versions(2000, 0))
    corrected = diff_datasets(*versions(2000, 0, outliers=60))  # 3% moved 20 px more
    assert corrected.stats["label_noise"]["sigma_px_model"] == pytest.approx(
        clean.stats["label_noise"]["sigma_px_model"], rel=0.08
    )


def test_too_few_edits_give_no_estimate():
    result = diff_datasets(*versions(n_moved=10, n_same=50))
    assert result.stats["label_noise"]["sigma_px_model"] is None
    assert not [f for f in result.findings if f.code == "diff.label_noise"]
