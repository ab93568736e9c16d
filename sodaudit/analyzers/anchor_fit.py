"""Fitting anchors to boxes: YOLOv5's ``kmean_anchors`` (k-means on wh whitened by std, then
an optional evolutionary refinement), and the YAML that carries the result into a model file.

The anchors analyzer picks the boxes and measures BPR; this module only turns wh into anchors.
"""

from __future__ import annotations

import inspect
import math
from functools import cache

import numpy as np

from sodaudit.analyzers.anchor_match import ratio_match
from sodaudit.analyzers.anchors_stats import AnchorsSuggestion

KMEANS_RESTARTS = 5
"""k-means++ restarts; the one with the lowest distortion wins (YOLOv5 uses 30 restarts of
scipy ``kmeans``, which takes tens of seconds on 100k boxes)."""
KMEANS_LLOYD_ITERS = 30
"""Lloyd iterations per restart (scipy ``kmeans2``'s ``iter``)."""
EVOLVE_MUTATION_PROB = 0.9
EVOLVE_SIGMA = 0.1
"""YOLOv5's mutation probability and sigma for the anchor evolution."""
MIN_ANCHOR_PX = 2.0
"""Evolved anchors are clipped to at least this size, as in YOLOv5."""


@cache
def _kmeans_rng_kw() -> str:
    """scipy >= 1.15 calls the generator ``rng``; older versions call it ``seed``."""
    from scipy.cluster.vq import kmeans2

    return "rng" if "rng" in inspect.signature(kmeans2).parameters else "seed"


def kmeans(sample: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """k-means on wh whitened by its std, as YOLOv5 does; area quantiles if clusters collapse."""
    from scipy.cluster.vq import ClusterError, kmeans2, vq  # imported when first needed

    std = sample.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    white = sample / std
    k = np.zeros((0, 2))
    best = np.inf
    for _ in range(KMEANS_RESTARTS):
        try:
            centres, _ = kmeans2(
                white,
                n,
                iter=KMEANS_LLOYD_ITERS,
                minit="++",
                missing="raise",
                **{_kmeans_rng_kw(): rng},
            )
        except ClusterError:  # an empty cluster: this restart is unusable
            continue
        distortion = float(vq(white, centres)[1].mean())
        if distortion < best:
            best, k = distortion, centres * std
    if len(k) < n:  # every restart lost a cluster: area quantiles (deterministic)
        order = np.argsort(sample.prod(axis=1), kind="stable")
        picks = order[np.linspace(0, len(order) - 1, n).round().astype(int)]
        k = sample[picks]
    return k[np.argsort(k.prod(axis=1), kind="stable")]


def fitness(k: np.ndarray, wh: np.ndarray, thr: float) -> float:
    """YOLOv5's anchor fitness: mean over boxes of best * (best > 1/thr)."""
    _, best = ratio_match(wh, k, thr)
    score = best * (best > 1.0 / thr)
    return float(np.mean(score)) if len(score) else math.nan


def evolve(
    k: np.ndarray, wh: np.ndarray, thr: float, generations: int, rng: np.random.Generator
) -> np.ndarray:
    """YOLOv5's anchor evolution: multiplicative mutations, keep a child when fitness improves."""
    best_f = fitness(k, wh, thr)
    shape = k.shape
    for _ in range(generations):
        v = np.ones(shape)
        while (v == 1).all():  # mutate until something changes
            v = (
                (rng.random(shape) < EVOLVE_MUTATION_PROB)
                * rng.random()
                * rng.standard_normal(shape)
                * EVOLVE_SIGMA
                + 1
            ).clip(0.3, 3.0)
        child = (k * v).clip(min=MIN_ANCHOR_PX)
        f = fitness(child, wh, thr)
        if f > best_f:
            best_f, k = f, child
    return k[np.argsort(k.prod(axis=1), kind="stable")]


def as_int_anchors(k: np.ndarray) -> np.ndarray:
    """Anchors as the integers the YAML shows (BPR is measured on exactly these), by area."""
    a = np.maximum(np.round(k), 1.0)
    return a[np.argsort(a.prod(axis=1), kind="stable")]


def anchors_yaml(suggestion: AnchorsSuggestion) -> str:
    """YAML a person pastes into a YOLOv5 model file or an mmdetection config."""
    if suggestion.status != "ok":
        return f"# no anchors suggested: {suggestion.reason or suggestion.status}\n"
    levels = suggestion.levels
    strides = suggestion.strides
    evolve = suggestion.evolve_generations
    method = "k-means" + (f" + {evolve} generations of evolution" if evolve else "")
    lines = [
        f"# sodaudit: {suggestion.num_anchors} anchors at imgsz {suggestion.imgsz} "
        f"({method}, seed {suggestion.seed}, {suggestion.num_kmeans_boxes} boxes)",
        f"# BPR (ratio rule, thr {suggestion.ratio_thr:g}, {suggestion.num_boxes} boxes): "
        f"{suggestion.before_model} anchors {suggestion.bpr_before:.6f} -> "
        f"suggested {suggestion.bpr:.6f}",
    ]
    if suggestion.improves is False:
        lines.append(
            f"# note: these anchors do not beat the {suggestion.before_model} anchors; keep "
            "those, or raise anchors.evolve_generations"
        )
    if len({len(level) for level in levels}) > 1:
        lines.append("# note: YOLOv5 needs the same number of anchors per level (a multiple of 3)")
    lines.append("# YOLOv5 model yaml:")
    lines.append("anchors:")
    for level, stride in zip(levels, strides, strict=True):
        row = ", ".join(f"{w},{h}" for w, h in level)
        lines.append(f"  - [{row}]  # P{int(math.log2(stride))}/{stride}")
    lines.append("# mmdetection (YOLOv3Head lists levels from stride 32 down: reverse both lists):")
    lines.append("anchor_generator:")
    lines.append("  type: YOLOAnchorGenerator")
    lines.append("  base_sizes:")
    for level in levels:
        lines.append("    - [" + ", ".join(f"[{w}, {h}]" for w, h in level) + "]")
    lines.append(f"  strides: [{', '.join(str(s) for s in strides)}]")
    lines.append("# as a Python config:")
    sizes = ",\n#                 ".join(
        "[" + ", ".join(f"({w}, {h})" for w, h in level) + "]" for level in levels
    )
    lines.append("# anchor_generator=dict(type='YOLOAnchorGenerator',")
    lines.append(f"#     base_sizes=[{sizes}],")
    lines.append(f"#     strides={list(strides)})")
    return "\n".join(lines) + "\n"
