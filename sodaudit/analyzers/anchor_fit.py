"""Fitting anchors to boxes as YOLOv5's ``utils/autoanchor.py`` does, and the YAML that carries
the result into a model file.

``kmean_anchors`` (YOLOv5, followed step by step here):

1. keep the labels with a side of at least 2 px at imgsz (the caller filters);
2. whiten wh (float32) by its std and run ``scipy.cluster.vq.kmeans(wh / s, n, iter=30)``: 30
   random restarts of Lloyd's algorithm, each until the distortion settles, keeping the
   codebook with the lowest distortion (:func:`kmeans`). When scipy returns fewer than ``n``
   centres (a cluster emptied), YOLOv5 switches to a random init (:func:`random_init`);
3. a genetic evolution of the anchors, 1000 generations by default (:func:`evolve`): mutate
   every anchor side with probability 0.9 by ``1 + random() * N(0, 1) * 0.1`` (factor clipped
   to [0.3, 3.0]), clip the child at 2 px, and keep it when its :func:`fitness` is higher.

Differences from YOLOv5: one seeded ``numpy.random.Generator`` drives k-means and the evolution
(YOLOv5 draws from the global ``numpy.random`` and ``random``), so a seed gives the same anchors;
fitness is computed in float64 (YOLOv5: float32 torch); a side with zero spread is whitened by 1
(YOLOv5 would divide by zero and fall back to the random init). The analyzer clusters and
evolves on a seeded sample of at most ``anchor_suggest.KMEANS_MAX_BOXES`` boxes (YOLOv5: every box),
rounds the anchors to the integers the YAML shows and measures BPR on those, over every box and
without YOLOv5's random 0.9-1.1 rescaling in ``check_anchors``.

The anchors analyzer picks the boxes, measures BPR and decides whether the fitted anchors beat
the defaults (``check_anchors``); this module only turns wh into anchors.
"""

from __future__ import annotations

import inspect
import math
from functools import cache

import numpy as np

from sodaudit.analyzers.anchors_stats import AnchorsSuggestion

KMEANS_ITER = 30
"""scipy ``kmeans``'s ``iter``: the number of random restarts (not Lloyd iterations; each restart
runs until the distortion changes by less than 1e-5), as YOLOv5 calls it."""
EVOLVE_MUTATION_PROB = 0.9
EVOLVE_SIGMA = 0.1
"""YOLOv5's mutation probability and sigma for the anchor evolution."""
EVOLVE_FACTOR_CLIP = (0.3, 3.0)
"""A mutation multiplies an anchor side by a factor clipped to this range, as in YOLOv5."""
MIN_ANCHOR_PX = 2.0
"""Evolved anchors are clipped to at least this size, as in YOLOv5."""


@cache
def _kmeans_rng_kw() -> str:
    """scipy >= 1.15 calls the generator ``rng``; older versions call it ``seed``."""
    from scipy.cluster.vq import kmeans as scipy_kmeans

    return "rng" if "rng" in inspect.signature(scipy_kmeans).parameters else "seed"


def kmeans(wh: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """YOLOv5's k-means step: ``scipy.cluster.vq.kmeans(wh / s, n, iter=30)[0] * s`` with
    ``s = wh.std(0)``, wh in float32, the restarts drawn from ``rng``.

    The ``n`` centres (float64) sorted by area, or None when scipy returns fewer (YOLOv5 then
    starts the evolution from :func:`random_init`).
    """
    from scipy.cluster.vq import kmeans as scipy_kmeans  # imported when first needed

    wh32 = np.asarray(wh, dtype=np.float32)
    s = wh32.std(axis=0)
    s = np.where(s > 0, s, np.float32(1.0))
    try:
        k = scipy_kmeans(wh32 / s, n, iter=KMEANS_ITER, **{_kmeans_rng_kw(): rng})[0] * s
    except ValueError:  # fewer boxes than anchors (YOLOv5 catches it the same way)
        return None
    if len(k) != n:
        return None
    k = np.asarray(k, dtype=np.float64)
    return k[np.argsort(k.prod(axis=1), kind="stable")]


def random_init(n: int, imgsz: int, rng: np.random.Generator) -> np.ndarray:
    """YOLOv5's fallback when k-means fails: ``np.sort(rand(n * 2)).reshape(n, 2) * img_size``."""
    return np.sort(rng.random(n * 2)).reshape(n, 2) * float(imgsz)


def fitness(k: np.ndarray, wh: np.ndarray, thr: float) -> float:
    """YOLOv5's ``anchor_fitness``: mean over boxes of ``best * (best > 1/thr)``, where ``best``
    is a box's best ratio metric over the anchors (as :func:`~anchor_match.ratio_match`)."""
    return _Fitness(wh, thr)(k)


class _Fitness:
    """:func:`fitness` on fixed boxes for many anchor sets (the evolution's 1000 children): the
    arithmetic of :func:`~anchor_match.ratio_match`, so the same values, in buffers allocated
    once (about twice as fast on a 10k-box sample)."""

    def __init__(self, wh: np.ndarray, thr: float) -> None:
        wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
        self.w = np.ascontiguousarray(wh[:, 0])
        self.h = np.ascontiguousarray(wh[:, 1])
        self.thr = float(thr)
        n = len(wh)
        self.best, self.rw, self.rh, self.tmp = (np.empty(n) for _ in range(4))

    def __call__(self, k: np.ndarray) -> float:
        if not len(self.w):
            return math.nan
        best, rw, rh, tmp = self.best, self.rw, self.rh, self.tmp
        best.fill(0.0)
        for aw, ah in np.asarray(k, dtype=np.float64):
            np.divide(self.w, aw, out=rw)  # r = wh / k; m = min over (w, h) of min(r, 1/r)
            np.minimum(rw, np.divide(1.0, rw, out=tmp), out=rw)
            np.divide(self.h, ah, out=rh)
            np.minimum(rh, np.divide(1.0, rh, out=tmp), out=rh)
            np.maximum(best, np.minimum(rw, rh, out=rw), out=best)
        return float(np.mean(best * (best > 1.0 / self.thr)))


def evolve(
    k: np.ndarray, wh: np.ndarray, thr: float, generations: int, rng: np.random.Generator
) -> np.ndarray:
    """YOLOv5's anchor evolution: multiplicative mutations, a child kept when its fitness is
    higher; the anchors sorted by area. ``generations`` steps of the same ``rng`` stream, so
    fewer generations give a prefix of the same run."""
    anchor_fitness = _Fitness(wh, thr)
    best_f = anchor_fitness(k)
    shape = k.shape
    lo, hi = EVOLVE_FACTOR_CLIP
    for _ in range(generations):
        v = np.ones(shape)
        while (v == 1).all():  # mutate until something changes
            v = (
                (rng.random(shape) < EVOLVE_MUTATION_PROB)
                * rng.random()
                * rng.standard_normal(shape)
                * EVOLVE_SIGMA
                + 1
            ).clip(lo, hi)
        child = (k * v).clip(min=MIN_ANCHOR_PX)
        f = anchor_fitness(child)
        if f > best_f:
            best_f, k = f, child
    return k[np.argsort(k.prod(axis=1), kind="stable")]


def as_int_anchors(k: np.ndarray) -> np.ndarray:
    """Anchors as the integers the YAML shows (BPR is measured on exactly these), by area."""
    a = np.maximum(np.round(k), 1.0)
    return a[np.argsort(a.prod(axis=1), kind="stable")]


def anchors_yaml(suggestion: AnchorsSuggestion) -> str:
    """YAML a person pastes into a YOLOv5 model file or an mmdetection config: the suggested
    anchors, or, when the fitted ones do not beat them (``defaults_kept``), the default ones."""
    if suggestion.status not in ("ok", "defaults_kept"):
        return f"# no anchors suggested: {suggestion.reason or suggestion.status}\n"
    levels = suggestion.levels
    strides = suggestion.strides
    evolve = suggestion.evolve_generations
    method = "k-means" + (f" + {evolve} generations of evolution" if evolve else "")
    fitted = (
        f"({method} as YOLOv5's kmean_anchors, seed {suggestion.seed}, {suggestion.num_kmeans_boxes} boxes)"
    )
    if suggestion.status == "ok":
        lines = [f"# sodaudit: {suggestion.num_anchors} anchors at imgsz {suggestion.imgsz} {fitted}"]
    else:
        lines = [
            f"# sodaudit: the {suggestion.before_model} anchors are kept at imgsz {suggestion.imgsz}: "
            f"anchors fitted {fitted}",
            f"# reach BPR {suggestion.bpr_fitted:.6f}, not above theirs (as YOLOv5's check_anchors, "
            "keep the current anchors)",
        ]
        if suggestion.fitted_anchors:
            lines.append("# fitted anchors: " + ", ".join(f"{w},{h}" for w, h in suggestion.fitted_anchors))
    lines.append(
        f"# BPR (ratio rule, thr {suggestion.ratio_thr:g}, {suggestion.num_boxes} boxes): "
        f"{suggestion.before_model} anchors {suggestion.bpr_before:.6f} -> "
        f"suggested {suggestion.bpr:.6f}"
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
