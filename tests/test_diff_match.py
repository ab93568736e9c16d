"""Box pairing of ``sodaudit diff`` against independent solutions: the sparse assignment
against every matching of small graphs, and whole diffs of crowded edits against the dense
n x m assignment with every IoU written out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from sodaudit import geometry
from sodaudit.dataset import Dataset
from sodaudit.diff import diff_datasets
from sodaudit.diff_match import assign

CLASSES = {0: "car", 1: "ship", 2: "truck"}


def build(rows: list[tuple]) -> Dataset:
    """One image ``a.jpg`` with boxes ``(file_name, class_id, x, y, w, h)``."""
    frame = pd.DataFrame(rows, columns=["file_name", "class_id", "x", "y", "w", "h"])
    images = pd.DataFrame(
        {
            "image_id": [0],
            "file_name": ["a.jpg"],
            "path": "",
            "split": "train",
            "width": 1000.0,
            "height": 1000.0,
            "status": "unchecked",
        }
    )
    boxes = frame.drop(columns="file_name").assign(
        image_id=0, source_file="labels.txt", source_line=np.arange(1, len(frame) + 1)
    )
    return Dataset.build(root=Path("."), format="coco", boxes=boxes, images=images, classes=CLASSES)


def _matchings(edges: list[tuple[int, int, float]], used_a=frozenset(), used_b=frozenset()):
    """Every matching of an edge list, by recursion: (number of pairs, total score)."""
    if not edges:
        yield 0, 0.0
        return
    (a, b, s), rest = edges[0], edges[1:]
    yield from _matchings(rest, used_a, used_b)  # without the first edge
    if a not in used_a and b not in used_b:
        for k, total in _matchings(rest, used_a | {a}, used_b | {b}):
            yield k + 1, total + s


@pytest.mark.parametrize("seed", range(25))
def test_assignment_is_optimal_against_every_matching(seed: int):
    rng = np.random.default_rng(seed)
    n_a, n_b = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    cells = [(a, b) for a in range(n_a) for b in range(n_b)]
    pick = rng.random(len(cells)) < 0.45
    a = np.array([c[0] for c, p in zip(cells, pick, strict=True) if p], np.int64)
    b = np.array([c[1] for c, p in zip(cells, pick, strict=True) if p], np.int64)
    score = rng.choice([0.5, 0.6, 0.75, 0.9, 1.0], len(a))  # ties on purpose
    ia, ib = assign(a, b, score, n_a, n_b)
    assert len(set(ia.tolist())) == len(ia) and len(set(ib.tolist())) == len(ib)
    chosen = {(int(x), int(y)) for x, y in zip(ia, ib, strict=True)}
    edge_score = {(int(x), int(y)): float(v) for x, y, v in zip(a, b, score, strict=True)}
    assert chosen <= set(edge_score)
    best = max(_matchings(list(zip(a.tolist(), b.tolist(), score.tolist(), strict=True))))
    assert len(chosen) == best[0]  # the most pairs ...
    assert sum(edge_score[e] for e in chosen) == pytest.approx(best[1])  # ... then the best total


def _reference_pairs(
    old_rows: list[tuple], new_rows: list[tuple], match_iou: float
) -> tuple[int, int, float]:
    """(matched, relabelled, total IoU) of one image whose boxes all changed, by the dense method:
    every IoU written out, then scipy's linear_sum_assignment with infeasible pairs at a cost
    above any gain, same class first and across classes for the rest."""

    def iou(p, q):
        iw = max(0.0, min(p[2] + p[4], q[2] + q[4]) - max(p[2], q[2]))
        ih = max(0.0, min(p[3] + p[5], q[3] + q[5]) - max(p[3], q[3]))
        return iw * ih / (p[4] * p[5] + q[4] * q[5] - iw * ih)

    score = np.array([[iou(p, q) for q in new_rows] for p in old_rows]).reshape(len(old_rows), len(new_rows))
    same = np.array([[p[1] == q[1] for q in new_rows] for p in old_rows]).reshape(score.shape)
    out = []
    free_o, free_n = np.ones(len(old_rows), bool), np.ones(len(new_rows), bool)
    for feasible in (same, ~same):
        feasible = feasible & (score >= match_iou) & free_o[:, None] & free_n[None, :]
        cost = np.where(feasible, 1 - score, min(score.shape) + 1.0)
        i, j = linear_sum_assignment(cost)
        keep = feasible[i, j]
        free_o[i[keep]] = False
        free_n[j[keep]] = False
        out.append((int(keep.sum()), float(score[i[keep], j[keep]].sum())))
    return out[0][0], out[1][0], out[0][1] + out[1][1]


@pytest.mark.parametrize("seed", range(8))
def test_crowded_edits_pair_as_the_dense_assignment_does(seed: int, monkeypatch):
    """Every box of a crowded image moved, resized or relabelled: the same number of pairs and
    the same total IoU as the dense n x m method, also when candidates come in tiny chunks."""
    rng = np.random.default_rng(seed)
    n = 60
    xy = rng.uniform(0, 40, (n, 2))
    wh = rng.uniform(4, 12, (n, 2))
    cls = rng.integers(0, 3, n)
    new_xy = xy + rng.uniform(-2.5, 2.5, (n, 2))
    new_wh = wh * rng.uniform(0.85, 1.2, (n, 2))
    new_cls = np.where(rng.random(n) < 0.15, (cls + 1) % 3, cls)
    old_rows = [
        ("a.jpg", int(c), *map(float, p), *map(float, q)) for c, p, q in zip(cls, xy, wh, strict=True)
    ]
    new_rows = [
        ("a.jpg", int(c), *map(float, p), *map(float, q))
        for c, p, q in zip(new_cls, new_xy, new_wh, strict=True)
    ]
    matched, relabelled, total = _reference_pairs(old_rows, new_rows, 0.5)
    assert matched > 0
    for chunk in (None, 5):
        if chunk:
            monkeypatch.setattr(geometry, "PAIR_CHUNK", chunk)
        result = diff_datasets(build(old_rows), build(new_rows))
        boxes = result.stats["boxes"]
        assert (boxes["matched"], boxes["relabelled"]) == (matched, relabelled)
        got = result.tables["matched"]["iou"].sum() + result.tables["relabelled"]["iou"].sum()
        assert got == pytest.approx(total)
        assert boxes["removed"] == boxes["added"] == n - matched - relabelled
