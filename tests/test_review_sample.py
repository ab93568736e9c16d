"""``sodaudit sample``: the review slice is reproducible for a seed, its reasons match the labels
(checked by hand), and it over-represents images with sub-threshold labels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from builders import tiny_dataset

from sodaudit.analyzers import run_all
from sodaudit.cli import main
from sodaudit.config import Config
from sodaudit.pipeline import assemble
from sodaudit.review_sample import (
    REASON_WEIGHTS,
    draw_sample,
    image_reasons,
    sample_table,
    weights_of,
)

N_IMAGES, N_SMALL = 200, 20


def report_of(ds):
    config = Config()
    return assemble(ds, config, run_all(ds, config))


@pytest.fixture(scope="module")
def report():
    """200 images of 640x640 (model input = native at imgsz 640), each with one 40x40 box, apart
    from images 0..19 whose box is 2x2 px: below the 3 px sub-threshold rule at model input."""
    images = [(i, 640, 640) for i in range(N_IMAGES)]
    boxes = [(i, 0, 100, 100, 2, 2) if i < N_SMALL else (i, 0, 100, 100, 40, 40) for i in range(N_IMAGES)]
    return report_of(tiny_dataset(boxes, images))


def test_reasons_match_the_labels(report):
    reasons = image_reasons(report)
    small = reasons.set_index("image")["small labels"] > 0
    assert sorted(small[small].index) == sorted(f"{i}.jpg" for i in range(N_SMALL))
    # weight: 1 + 3 for small labels, nothing else applies to these images
    weights = weights_of(reasons)
    assert set(weights[reasons["small labels"].to_numpy() > 0]) == {1 + REASON_WEIGHTS["small labels"]}
    assert set(weights[reasons["small labels"].to_numpy() == 0]) == {1.0}


def test_same_seed_same_sample(report):
    first = [s.image for s in draw_sample(report, 30, seed=7)]
    again = [s.image for s in draw_sample(report, 30, seed=7)]
    other = [s.image for s in draw_sample(report, 30, seed=8)]
    assert first == again and len(set(first)) == 30
    assert set(first) != set(other)


def test_small_label_images_are_over_represented(report):
    """Uniformly 10% of a sample would hold small labels; weights 4:1 give far more. Expected
    inclusion of a small-label image, by a second simple method: the mean over many seeded draws
    of the plain successive-draw process (weighted, without replacement)."""
    n, seeds = 50, range(40)
    share = np.mean([np.mean([s.small_labels > 0 for s in draw_sample(report, n, seed)]) for seed in seeds])
    rng = np.random.default_rng(123)
    expected = []
    for _ in range(400):  # successive weighted draws without replacement, written out plainly
        weights = [4.0] * N_SMALL + [1.0] * (N_IMAGES - N_SMALL)
        left = list(range(N_IMAGES))
        picked = []
        for _ in range(n):
            w = np.array([weights[i] for i in left])
            k = rng.choice(len(left), p=w / w.sum())
            picked.append(left.pop(k))
        expected.append(np.mean([i < N_SMALL for i in picked]))
    assert share > 2 * N_SMALL / N_IMAGES
    assert share == pytest.approx(np.mean(expected), abs=0.03)


def test_sample_larger_than_the_dataset_is_every_image(report):
    table = sample_table(draw_sample(report, 1000, seed=0))
    assert len(table) == N_IMAGES and table["image"].is_unique
    assert list(table.columns) == ["image", "split", "reasons", "weight", "labels", "small_labels"]


def _digest(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_sample_command_is_reproducible_and_writes_beside(sample_data: Path, tmp_path: Path, capsys):
    data = tmp_path / "data"
    shutil.copytree(sample_data / "yolo", data)
    before = _digest(data)
    runs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        assert main(["sample", str(data), "--n", "6", "--seed", "11", "--out", str(out)]) == 0
        runs.append((out / "sample.csv").read_text())
        page = (out / "sample.html").read_text()
        assert page.count("<figure>") == 6 and page.count('src="data:image/jpeg;base64,') == 6
    assert runs[0] == runs[1] and len(runs[0].splitlines()) == 1 + 6
    assert _digest(data) == before  # nothing written into the dataset
    assert main(["sample", str(data), "--n", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--n" in capsys.readouterr().err
