"""Recommendations: what to change, each computed on the dataset itself.

``recommend`` turns the dataset and the analyzer results into a short list of concrete changes
(resolution, tiling, merges, anchors, head, label policy, sampling, augmentation, scale match),
each with parameters, the numbers behind it and its simulated effect. When nothing needs
changing it returns one recommendation of kind ``none`` with the numbers that show it.

The changes build on each other: the *primary* change (a larger imgsz, or tiling) sets the
scale at which every box reaches the model, and the later recommendations (P2 head, ignore
rule, oversampling, augmentation survival) are judged at that scale, so they say what is
still needed after it. Boxes judged are valid, non-ignore boxes of images with a known size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.analyzers.sizes import image_positions
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.jsonable import jsonable
from sodaudit.models import MODELS, ModelPreset
from sodaudit.sizepresets import COCO, SIZE_PRESETS, SIZE_TOLERANCE_PX
from sodaudit.tiling import TileSimulation, overlap_px, simulate, slicing_params

KINDS = (
    "resolution",
    "tiling",
    "merges",
    "anchors",
    "head",
    "labels",
    "sampling",
    "augmentation",
    "scale_match",
    "none",
)
P2_STRIDE = 4
AUGMENT_SCALES = tuple(round(0.5 + 0.05 * k, 2) for k in range(11))
"""Minimum scale-augmentation factors tried for the augmentation-survival table (0.5 .. 1.0)."""
AUGMENT_EXTRA_DROP_SHARE = 0.01
"""Scale augmentation is flagged when it drops more than this extra share of boxes."""
SCALE_MATCH_MIN_DISTANCE = 0.15
"""Scale match is suggested when the size mix differs from COCO's by more than this (TV)."""
SCALE_MATCH_MIN_GAIN = 0.05
"""... and the best rescale factor brings it closer by at least this much."""
SCALE_MATCH_FACTORS = tuple(2.0 ** (k / 4) for k in range(-8, 17))
"""Rescale factors tried for scale matching: 0.25x to 16x in quarter octaves."""


@dataclass(frozen=True)
class Recommendation:
    """One change to make, with its parameters, the numbers behind it and its effect."""

    kind: str
    summary: str
    params: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    effect: dict = field(default_factory=dict)
    priority: int = 100

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "params": jsonable(self.params),
            "evidence": jsonable(self.evidence),
            "effect": jsonable(self.effect),
            "priority": int(self.priority),
        }


def _pct(x: float) -> str:
    return f"{x:.1%}" if math.isfinite(x) else "n/a"


@dataclass
class _Ctx:
    """The boxes every recommendation judges, and the scale the primary change leaves them at."""

    dataset: Dataset
    config: Config
    results: Mapping[str, AnalyzerResult]
    rows: pd.DataFrame
    preset: ModelPreset
    short: np.ndarray
    """Native short side of each judged box."""
    long_img: np.ndarray
    """Long side of each judged box's image."""
    final_scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    change: str = ""
    """Words for the primary change (``at imgsz 640``, ``with 640 px tiles``)."""

    @property
    def imgsz(self) -> int:
        return self.config.imgsz

    @property
    def min_stride(self) -> int:
        return min(self.preset.strides)

    @property
    def max_stride(self) -> int:
        return max(self.preset.strides)

    def stats(self, name: str) -> dict:
        result = self.results.get(name)
        return result.stats if result is not None else {}

    @cached_property
    def image_pos(self) -> np.ndarray:
        """Position of each judged box's image in ``dataset.images``."""
        ids = self.dataset.images["image_id"].to_numpy()
        return image_positions(ids, self.rows["image_id"].to_numpy())

    def class_counts(self) -> dict[str, int]:
        """Judged boxes per class name, classes without boxes left out (``value_counts``'
        numbers, by a bincount of the category codes instead of 10^6 strings)."""
        col = self.rows["class_name"]
        if not isinstance(col.dtype, pd.CategoricalDtype):
            return {str(k): int(v) for k, v in col.astype(str).value_counts().items()}
        counts = np.bincount(col.cat.codes.to_numpy() + 1, minlength=len(col.cat.categories) + 1)[1:]
        return {str(c): int(n) for c, n in zip(col.cat.categories, counts.tolist(), strict=True) if n}


def recommend(
    dataset: Dataset, config: Config, results: Mapping[str, AnalyzerResult]
) -> list[Recommendation]:
    """Every recommendation that applies, most important first; ``none`` when nothing does."""
    b = dataset.selected_boxes()
    img_w = b["img_w"].to_numpy(np.float64)
    img_h = b["img_h"].to_numpy(np.float64)
    sized = np.isfinite(img_w) & np.isfinite(img_h) & (img_w > 0) & (img_h > 0)
    rows = (b if sized.all() else b[sized]).reset_index(drop=True)
    preset = MODELS.get(config.model, MODELS["yolov8"])
    ctx = _Ctx(
        dataset,
        config,
        results,
        rows,
        preset,
        rows["short_side"].to_numpy(np.float64),
        np.maximum(rows["img_w"].to_numpy(np.float64), rows["img_h"].to_numpy(np.float64)),
    )
    if len(rows) == 0:
        return [
            Recommendation(
                "none",
                "No valid, non-ignore boxes in images of known size: nothing to recommend.",
                evidence={"num_boxes": len(b), "num_judged_boxes": 0},
            )
        ]
    ctx.final_scale = rows["scale"].to_numpy(np.float64)
    ctx.change = f"at imgsz {config.imgsz}"

    recs: list[Recommendation] = []
    resolution = resolution_plan(ctx)
    tiling = None
    if resolution["needs_change"] and resolution["tiling_preferred"]:
        tiling = tiling_plan(ctx)
    if tiling is not None:
        recs.append(_tiling_rec(ctx, tiling, resolution))
    if resolution["needs_change"]:
        recs.append(_resolution_rec(ctx, resolution, tiling is not None))
        if (
            tiling is None
            and resolution["pick"] is not None
            and resolution["pick_cost"] <= config.recommend.max_cost
        ):
            pick = resolution["pick"]
            ctx.final_scale = pick / ctx.long_img
            ctx.change = f"at imgsz {pick}"
    for make in (
        _head_rec,
        _anchors_rec,
        _merges_rec,
        _labels_rec,
        _sampling_rec,
        _augmentation_rec,
        _scale_rec,
    ):
        rec = make(ctx)
        if rec is not None:
            recs.append(rec)
    if not recs:
        recs.append(_none_rec(ctx, resolution))
    return sorted(recs, key=lambda r: r.priority)


# --- resolution --------------------------------------------------------------------------------


def resolution_candidates(imgsz: int, max_long_side: float, max_stride: int) -> list[int]:
    """The current imgsz, then multiples of the largest stride above it up to the native long side
    (rounded up to a multiple of the stride)."""
    top = int(math.ceil(max_long_side / max_stride) * max_stride) if math.isfinite(max_long_side) else imgsz
    first = (imgsz // max_stride + 1) * max_stride
    return [int(imgsz), *range(first, top + 1, max_stride)]


def share_reaching(short: np.ndarray, long_img: np.ndarray, imgsz: float, min_side: float) -> float:
    """Share of boxes whose short side at model input (letterbox to ``imgsz``) is >= ``min_side``."""
    return (
        float(np.mean(short * (imgsz / long_img) >= min_side - SIZE_TOLERANCE_PX)) if len(short) else math.nan
    )


def resolution_plan(ctx: _Ctx) -> dict[str, Any]:
    """Share reaching the smallest stride at each candidate imgsz, the pick and its cost."""
    cfg = ctx.config.recommend
    max_long = float(ctx.long_img.max())
    cands = resolution_candidates(ctx.imgsz, max_long, ctx.max_stride)
    # short * c / long >= m - tol  <=>  short / long >= (m - tol) / c: one sort, then a search
    # per candidate (exactly share_reaching's rule, without a pass over the boxes per candidate).
    ratio = np.sort(ctx.short / ctx.long_img)
    table = []
    pick = None
    for c in cands:  # a loop over candidate sizes
        share = 1.0 - np.searchsorted(ratio, (ctx.min_stride - SIZE_TOLERANCE_PX) / c, side="left") / len(
            ratio
        )
        table.append({"imgsz": c, "share": share, "cost": (c / ctx.imgsz) ** 2})
        if pick is None and share >= cfg.target_share:
            pick = c
    current = table[0]["share"]
    native = float(np.mean(ctx.short >= ctx.min_stride - SIZE_TOLERANCE_PX))
    pick_cost = (pick / ctx.imgsz) ** 2 if pick is not None else math.nan
    needs = current < cfg.target_share
    larger = bool((ctx.long_img > ctx.imgsz).any())
    too_costly = pick is None or pick_cost > cfg.max_cost
    return {
        "current_imgsz": ctx.imgsz,
        "current_share": current,
        "target_share": cfg.target_share,
        "min_side_px": ctx.min_stride,
        "candidates": table,
        "pick": pick,
        "pick_cost": pick_cost,
        "native_share": native,
        "native_imgsz": cands[-1],
        "max_long_side": max_long,
        "needs_change": needs,
        "tiling_preferred": needs and larger and too_costly,
        "num_boxes": len(ctx.short),
    }


def _resolution_rec(ctx: _Ctx, plan: dict[str, Any], tiling: bool) -> Recommendation:
    cfg = ctx.config.recommend
    pick = plan["pick"]
    n = plan["num_boxes"]
    s = ctx.min_stride
    ev = {k: plan[k] for k in ("current_imgsz", "current_share", "target_share", "min_side_px", "candidates")}
    ev.update(native_share=plan["native_share"], native_imgsz=plan["native_imgsz"], num_boxes=n)
    ev["max_cost"] = cfg.max_cost
    now = f"{_pct(plan['current_share'])} of {n} boxes have a short side >= {s} px at imgsz {ctx.imgsz}"
    if pick is None:
        summary = (
            f"Resolution cannot reach the target: {now}; even at native resolution (imgsz "
            f"{plan['native_imgsz']}) only {_pct(plan['native_share'])} do (target "
            f"{cfg.target_share:.0%}). Only a higher capture resolution can; upsampling adds no information."
        )
        params = {"imgsz": None, "capture_limited": True, "native_imgsz": plan["native_imgsz"]}
        best = plan["candidates"][-1]
        effect = {"share_at_native": best["share"], "cost_at_native": best["cost"]}
    else:
        cost = plan["pick_cost"]
        reached = next(c["share"] for c in plan["candidates"] if c["imgsz"] == pick)
        params = {"imgsz": pick, "capture_limited": False}
        effect = {
            "share_before": plan["current_share"],
            "share_after": reached,
            "boxes_recovered": round((reached - plan["current_share"]) * n),
            "relative_compute": cost,
        }
        summary = (
            f"Raise imgsz from {ctx.imgsz} to {pick}: {_pct(reached)} of boxes then reach {s} px "
            f"(now {_pct(plan['current_share'])}, target {cfg.target_share:.0%}) at {cost:.2f}x the compute"
        )
        if cost > cfg.max_cost:
            summary += f", more than the {cfg.max_cost:g}x cap" + ("; tile instead" if tiling else "")
    return Recommendation("resolution", summary, params, ev, effect, 20 if tiling or pick is None else 10)


# --- tiling ------------------------------------------------------------------------------------


def tile_overlap_ratio(long_side_q: float, tile: int, max_overlap: float) -> float:
    """Smallest ratio (in 0.01 steps) whose SAHI overlap covers ``long_side_q``, capped."""
    if not math.isfinite(long_side_q) or long_side_q <= 0:
        return 0.0
    ratio = min(math.ceil(long_side_q / tile * 100) / 100, max_overlap)
    while overlap_px(tile, ratio) < long_side_q and ratio < max_overlap:
        ratio = min(round(ratio + 0.01, 2), max_overlap)
    return ratio


def tiling_plan(ctx: _Ctx) -> dict[str, Any] | None:
    """Simulate each candidate tile size; pick the largest that reaches the target, else the best."""
    cfg = ctx.config.recommend
    max_long = float(ctx.long_img.max())
    long_q = float(np.percentile(ctx.rows["long_side"].to_numpy(np.float64), cfg.overlap_quantile))
    tiles = sorted({round(f * ctx.imgsz) for f in cfg.tile_size_factors})
    tiles = [t for t in tiles if 0 < t < max_long]
    if not tiles:
        return None
    images = ctx.dataset.images
    sims: list[TileSimulation] = []
    for t in tiles:  # a loop over tile sizes; each simulation is vectorised over boxes
        ratio = tile_overlap_ratio(long_q, t, cfg.max_overlap)
        sims.append(
            simulate(
                ctx.rows,
                t,
                ratio,
                ctx.imgsz,
                min_area_ratio=cfg.tile_min_area_ratio,
                min_side_px=ctx.min_stride,
                images=images,
            )
        )
    reaching = [s for s in sims if s.stats["share_reach_min_side"] >= cfg.target_share]
    if reaching:
        chosen = max(reaching, key=lambda s: s.stats["tile_size"])
    else:
        chosen = max(sims, key=lambda s: (s.stats["share_reach_min_side"], s.stats["tile_size"]))
    return {"chosen": chosen, "sims": sims, "long_side_quantile": long_q}


def _tiling_rec(ctx: _Ctx, plan: dict[str, Any], resolution: dict[str, Any]) -> Recommendation:
    cfg = ctx.config.recommend
    sim: TileSimulation = plan["chosen"]
    st = sim.stats
    t, ratio = st["tile_size"], st["overlap_ratio"]
    final = ctx.final_scale.copy()
    final[sim.index] = sim.scale
    ctx.final_scale = final
    ctx.change = f"with {t} px tiles"
    params = {
        "tile_size": t,
        "overlap_ratio": ratio,
        "overlap_px": st["overlap_px"],
        "imgsz": ctx.imgsz,
        **slicing_params(t, ratio, ctx.imgsz, cfg.tile_min_area_ratio),
        "inference": (
            f"tile at inference the same way ({t} px slices, overlap {ratio:g}, e.g. SAHI "
            "get_sliced_prediction) and merge the tiles' detections with NMS"
        ),
    }
    why = (
        "even native resolution cannot reach the target"
        if resolution["pick"] is None
        else f"imgsz {resolution['pick']} would cost {resolution['pick_cost']:.1f}x (cap {cfg.max_cost:g}x)"
    )
    evidence = {
        "reason": why,
        "current_share": resolution["current_share"],
        "target_share": cfg.target_share,
        "min_side_px": ctx.min_stride,
        "overlap_quantile": cfg.overlap_quantile,
        "long_side_quantile_px": plan["long_side_quantile"],
        "max_overlap": cfg.max_overlap,
        "candidates": [s.stats for s in plan["sims"]],
    }
    effect = {
        "share_before": resolution["current_share"],
        "share_after": st["share_reach_min_side"],
        "boxes_recovered": st["reach_min_side"] - round(resolution["current_share"] * st["num_boxes"]),
        "tiles_per_image": st["tiles_per_image"],
        "total_tiles": st["total_tiles"],
        "share_whole_in_a_tile": st["share_whole_in_a_tile"],
        "share_cut_by_every_tile": st["share_cut_by_every_tile"],
        "share_lost_to_min_area": st["share_lost_to_min_area"],
        "cut_fragments_dropped": st["cut_fragments_dropped"],
        "cut_fragments_kept": st["cut_fragments_kept"],
        "short_side_model": st["short_side_model"],
    }
    grid = st["grids"][0] if st["grids"] else None
    grid_text = (
        f"{grid['tiles_x']}x{grid['tiles_y']} = {grid['tiles']} tiles per "
        f"{grid['width']}x{grid['height']} image"
        if grid
        else f"{st['tiles_per_image']:.1f} tiles per image"
    )
    summary = (
        f"Tile images into {t} px tiles with overlap {ratio:g} ({st['overlap_px']} px, covers the "
        f"p{cfg.overlap_quantile:g} object long side {plan['long_side_quantile']:.0f} px) and train at imgsz "
        f"{ctx.imgsz}: {grid_text}; {_pct(st['share_reach_min_side'])} of boxes then reach "
        f"{ctx.min_stride} px (now {_pct(resolution['current_share'])}), {_pct(st['share_whole_in_a_tile'])} "
        f"lie whole in a tile, {_pct(st['share_lost_to_min_area'])} lost to min_area_ratio "
        f"{cfg.tile_min_area_ratio:g}; {why}. Tile at inference too."
    )
    return Recommendation("tiling", summary, params, evidence, effect, 10)


# --- head and anchors --------------------------------------------------------------------------


def _head_rec(ctx: _Ctx) -> Recommendation | None:
    """A stride-4 (P2) level when too many boxes stay below the smallest stride."""
    cfg = ctx.config.recommend
    s = ctx.min_stride
    if s <= P2_STRIDE:
        return None
    now = ctx.short * ctx.rows["scale"].to_numpy(np.float64)
    after = ctx.short * ctx.final_scale
    tol = SIZE_TOLERANCE_PX
    below = after < s - tol
    share = float(below.mean())
    recovered = int((below & (after >= P2_STRIDE - tol)).sum())
    if share <= cfg.p2_share or recovered == 0:
        return None
    n = len(after)
    params: dict[str, Any] = {"strides": [P2_STRIDE, *ctx.preset.strides]}
    if ctx.preset.name == "yolov8":
        params["model_cfg"] = "yolov8-p2.yaml"
    evidence = {
        "model": ctx.preset.name,
        "smallest_stride": s,
        "p2_share_threshold": cfg.p2_share,
        "scale": ctx.change,
        "below_stride": int(below.sum()),
        "share_below_stride": share,
        "below_stride_at_imgsz": int((now < s - tol).sum()),
        "recovered_at_imgsz": int(((now < s - tol) & (now >= P2_STRIDE - tol)).sum()),
        "num_boxes": n,
    }
    strides = ctx.stats("strides").get("models", {})
    if strides:
        evidence["strides_analyzer"] = {
            name: strides[name].get("below_smallest_stride_share")
            for name in (ctx.preset.name, "yolov8-p2")
            if name in strides
        }
    effect = {
        "boxes_recovered": recovered,
        "share_recovered": recovered / n,
        "share_below_after": float((after < P2_STRIDE - tol).mean()),
    }
    summary = (
        f"Add a stride-{P2_STRIDE} (P2) head: {_pct(share)} of boxes ({int(below.sum())} of {n}) stay "
        f"below stride {s} {ctx.change} (threshold {cfg.p2_share:.0%}); P2 recovers {recovered} of them "
        f"({_pct(recovered / n)}), {_pct(effect['share_below_after'])} stay below {P2_STRIDE} px"
    )
    return Recommendation("head", summary, params, evidence, effect, 30)


def _anchors_rec(ctx: _Ctx) -> Recommendation | None:
    """New anchors for a ratio-rule (YOLOv5-style) model whose BPR is below the warning level."""
    if ctx.preset.assigner != "ratio":
        return None
    stats = ctx.stats("anchors")
    current = stats.get("presets", {}).get(ctx.preset.name)
    suggested = stats.get("suggested", {})
    warn = ctx.config.anchors.bpr_warn
    if not current or current.get("bpr") is None or current["bpr"] >= warn:
        return None
    if suggested.get("status") != "ok" or not suggested.get("improves", False):
        return None
    from sodaudit.analyzers.anchors import anchors_yaml  # the analyzer writes the YAML once

    params = {
        "anchors": suggested["levels"],
        "strides": suggested["strides"],
        "yaml": anchors_yaml(suggested),
    }
    evidence = {
        "model": ctx.preset.name,
        "bpr": current["bpr"],
        "anchors_per_target": current.get("anchors_per_target"),
        "bpr_warn": warn,
        "num_uncovered": current.get("num_uncovered"),
        "imgsz": ctx.imgsz,
    }
    effect = {"bpr_before": current["bpr"], "bpr_after": suggested["bpr"]}
    effect["anchors_per_target_after"] = suggested.get("anchors_per_target")
    summary = (
        f"Replace the {ctx.preset.name} anchors: BPR {current['bpr']:.3f} at imgsz {ctx.imgsz} (below "
        f"{warn:g}); k-means anchors {suggested['anchors']} reach BPR {suggested['bpr']:.3f}"
    )
    return Recommendation("anchors", summary, params, evidence, effect, 35)


# --- merges and labels -------------------------------------------------------------------------


def _merges_rec(ctx: _Ctx) -> Recommendation | None:
    """Merge look-alike or co-located class pairs in a first version, from class_overlap."""
    cands = ctx.stats("class_overlap").get("merge_candidates") or []
    if not cands:
        return None
    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for c in cands:  # a loop over class pairs
        parent[root(c["class_b"])] = root(c["class_a"])
    groups: dict[str, list[str]] = {}
    for c in parent:
        groups.setdefault(root(c), []).append(c)
    groups_list = [sorted(g) for g in groups.values() if len(g) > 1]
    counts = ctx.class_counts()
    relabelled = sum(
        int(sum(counts.get(c, 0) for c in g) - max(counts.get(c, 0) for c in g)) for g in groups_list
    )
    n_classes = len(counts)
    keys = ("class_a", "class_b", "n_a", "n_b", "reasons", "pairs", "share_a", "share_b")
    keys += ("median_px_a", "median_px_b", "ks_size", "ks_aspect", "appearance")
    evidence = {"candidates": [{k: c.get(k) for k in keys} for c in cands], "imgsz": ctx.imgsz}
    evidence["separability_px"] = ctx.config.class_overlap.separability_px
    params = {
        "pairs": [[c["class_a"], c["class_b"]] for c in cands],
        "groups": groups_list,
        "into": ["+".join(g) for g in groups_list],
    }
    effect = {
        "classes_before": n_classes,
        "classes_after": n_classes - sum(len(g) - 1 for g in groups_list),
        "boxes_relabelled": relabelled,
    }
    first = cands[0]
    why = (
        f"median {first['median_px_a']:.1f} and {first['median_px_b']:.1f} px at imgsz {ctx.imgsz}, "
        f"KS size {first['ks_size']:.2f}, aspect {first['ks_aspect']:.2f}"
        if "small_alike" in first["reasons"]
        else f"{max(first['share_a'], first['share_b']):.0%} co-located at IoU >= "
        f"{ctx.config.class_overlap.cross_class_iou:g}"
    )
    summary = (
        f"Merge {'; '.join(' + '.join(g) for g in groups_list)} in a first version "
        f"({effect['classes_before']} -> {effect['classes_after']} classes, {relabelled} boxes relabelled): "
        f"{first['class_a']} vs {first['class_b']} {why}"
    )
    return Recommendation("merges", summary, params, evidence, effect, 40)


def what_small_means(ctx: _Ctx) -> dict[str, Any]:
    """Bucket counts of every size preset, native and at model input (now and after the change)."""
    native = {}
    for name, preset in SIZE_PRESETS.items():
        native[name] = preset.counts(ctx.rows[preset.measure].to_numpy(np.float64))
    area = ctx.rows["area"].to_numpy(np.float64)
    now = ctx.rows["scale"].to_numpy(np.float64)
    coco = SIZE_PRESETS["coco"]
    return {
        "native": native,
        f"model_at_imgsz_{ctx.imgsz}": {"coco": coco.counts(area * now**2)},
        "model_after_change": {"change": ctx.change, "coco": coco.counts(area * ctx.final_scale**2)},
    }


def _labels_rec(ctx: _Ctx) -> Recommendation | None:
    """A minimum-size (remove) rule and an ignore rule at the scale after the primary change."""
    sub = ctx.config.subthreshold
    n = len(ctx.rows)
    w = ctx.rows["w"].to_numpy(np.float64)
    h = ctx.rows["h"].to_numpy(np.float64)
    too_small = np.minimum(w, h) < sub.min_side_native_px - SIZE_TOLERANCE_PX
    model_short = ctx.short * ctx.final_scale
    ignore = (model_short < sub.min_side_model_px - SIZE_TOLERANCE_PX) & ~too_small
    if not too_small.any() and not ignore.any():
        return None
    # The ignore threshold in native px for the most common image size (scales differ by size).
    cw, ch = most_common_box_image_size(ctx)
    common = (ctx.rows["img_w"].to_numpy() == cw) & (ctx.rows["img_h"].to_numpy() == ch)
    scale_common = float(ctx.final_scale[int(np.argmax(common))])
    ignore_native = sub.min_side_model_px / scale_common
    params = {
        "remove_below_native_px": sub.min_side_native_px,
        "ignore_below_model_px": sub.min_side_model_px,
        "ignore_below_native_px": round(ignore_native, 2),
        "ignore_native_px_for_image_size": [int(cw), int(ch)],
        "ignore_how": "COCO iscrowd=1 / VOC difficult=1; YOLO has no ignore flag: drop the label "
        "and grey out the object in the image",
    }
    evidence = {
        "num_boxes": n,
        "change": ctx.change,
        "what_small_means": what_small_means(ctx),
        "per_class": _flagged_per_class(ctx, ignore | too_small),
    }
    effect = {
        "remove": int(too_small.sum()),
        "remove_share": float(too_small.mean()),
        "ignore": int(ignore.sum()),
        "ignore_share": float(ignore.mean()),
        "kept_as_targets": int(n - too_small.sum() - ignore.sum()),
    }
    summary = (
        f"Label policy: boxes with a side < {sub.min_side_native_px:g} px native: remove or re-annotate — "
        f"{effect['remove']} labels ({_pct(effect['remove_share'])}); "
        f"boxes under {ignore_native:.1f} px native "
        f"(short side < {sub.min_side_model_px:g} px at model input {ctx.change}): mark ignore — "
        f"{effect['ignore']} labels ({_pct(effect['ignore_share'])})"
    )
    return Recommendation("labels", summary, params, evidence, effect, 50)


def most_common_box_image_size(ctx: _Ctx) -> tuple[float, float]:
    """The (img_w, img_h) holding most judged boxes; ties go to the smallest (w, h).

    The pick of ``rows.groupby(["img_w", "img_h"]).size()`` sorted by count (stable), from
    boxes per image and the image table's sizes: 10^5 images, not 10^6 box rows.
    """
    images = ctx.dataset.images
    per_image = np.bincount(ctx.image_pos, minlength=len(images))
    used = np.flatnonzero(per_image)
    w = images["width"].to_numpy(np.float64)[used]
    h = images["height"].to_numpy(np.float64)[used]
    codes_w, uniq_w = pd.factorize(w)
    codes_h, uniq_h = pd.factorize(h)
    key = codes_w.astype(np.int64) * len(uniq_h) + codes_h
    codes, uniq_key = pd.factorize(key)
    boxes = np.bincount(codes, weights=per_image[used], minlength=len(uniq_key))
    kw, kh = uniq_w[uniq_key // len(uniq_h)], uniq_h[uniq_key % len(uniq_h)]
    best = np.flatnonzero(boxes == boxes.max())
    first = best[np.lexsort((kh[best], kw[best]))[0]]
    return float(kw[first]), float(kh[first])


def _flagged_per_class(ctx: _Ctx, flagged: np.ndarray) -> dict[str, dict[str, float]]:
    """Per class name (sorted, as a groupby on the names): flagged boxes and their share of
    the class, for classes with any; by bincounts of the category codes."""
    col = ctx.rows["class_name"]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        per_class = pd.Series(flagged).groupby(col.astype(str).to_numpy()).agg(["sum", "mean"])
        return {
            c: {"count": int(r["sum"]), "share": float(r["mean"])}
            for c, r in per_class.iterrows()
            if r["sum"] > 0
        }
    codes = col.cat.codes.to_numpy() + 1
    size = len(col.cat.categories) + 1
    total = np.bincount(codes, minlength=size)[1:].tolist()
    hits = np.bincount(codes[flagged], minlength=size)[1:].tolist()
    names = [str(c) for c in col.cat.categories]
    order = sorted(range(len(names)), key=names.__getitem__)
    return {names[i]: {"count": hits[i], "share": hits[i] / total[i]} for i in order if hits[i] > 0}


# --- sampling, augmentation, scale match -------------------------------------------------------


def oversample_factor(share: float, target: float) -> float:
    """Repeat factor k for the images with small objects so they make up ``target`` of the draws:
    s k / (s k + 1 - s) = t  =>  k = t (1 - s) / (s (1 - t))."""
    return target * (1 - share) / (share * (1 - target))


def _sampling_rec(ctx: _Ctx) -> Recommendation | None:
    """Oversample (and copy-paste from) the images holding small objects when they are rare."""
    cfg = ctx.config.recommend
    images = ctx.dataset.images
    # Masks over the image table, not copies of it: the pool is the images of known size, in
    # train when train has any of them.
    pool = np.isfinite(images["width"].to_numpy(np.float64)) & np.isfinite(
        images["height"].to_numpy(np.float64)
    )
    in_train = pool & _is_split(images["split"], "train")
    split = "train" if in_train.any() else None
    if split is not None:
        pool = in_train
    num_pool = int(np.count_nonzero(pool))
    if num_pool == 0:
        return None
    area_model = ctx.rows["area"].to_numpy(np.float64) * ctx.final_scale**2
    small = area_model < COCO.bounds[0]
    has_small = np.zeros(len(images), bool)
    has_small[ctx.image_pos[small]] = True
    with_small = has_small[pool]  # image ids are unique: np.isin(pool ids, ids with small)
    s = float(with_small.mean())
    if s == 0 or s >= cfg.small_image_share:
        return None
    t = cfg.oversample_target_share
    k = oversample_factor(s, t)
    repeat = round(k)
    if repeat < 2:  # whole repeats cannot get closer to the target than no oversampling
        return None
    reached = s * repeat / (s * repeat + 1 - s)
    in_pool = pool[ctx.image_pos]
    params = {
        "oversample_factor": round(k, 2),
        "repeat": repeat,
        "images": int(with_small.sum()),
        "split": split or "all",
        "copy_paste": {
            "source_objects": int((small & in_pool).sum()),
            "paste_into": "images without small objects",
        },
    }
    evidence = {
        "small_definition": f"COCO small at model input (w*h < 32^2) {ctx.change}",
        "num_images": num_pool,
        "images_with_small": int(with_small.sum()),
        "share_images_with_small": s,
        "threshold": cfg.small_image_share,
        "target_share": t,
    }
    effect = {
        "share_of_draws_before": s,
        "share_of_draws_after": reached,
        "epoch_images_after": num_pool + int(with_small.sum()) * (repeat - 1),
    }
    summary = (
        f"Oversample the {int(with_small.sum())} of {num_pool} {split or ''} images with small objects "
        f"({_pct(s)}, below {cfg.small_image_share:.0%}) {repeat}x (exact factor {k:.2f}) so they make "
        f"{_pct(reached)} of the draws (target {t:.0%}); copy-paste their "
        f"{params['copy_paste']['source_objects']} small objects into other images"
    ).replace("  ", " ")
    return Recommendation("sampling", summary, params, evidence, effect, 60)


def _is_split(split: pd.Series, name: str) -> np.ndarray:
    """``split.astype(str) == name`` per row, by the category codes when categorical."""
    if isinstance(split.dtype, pd.CategoricalDtype):
        hits = [i for i, c in enumerate(split.cat.categories) if str(c) == name]
        return np.isin(split.cat.codes.to_numpy(), hits)
    return split.astype(str).to_numpy() == name


def count_prefix(sorted_values: np.ndarray, cut: float, holds: Callable[[np.ndarray], np.ndarray]) -> int:
    """How many values ``holds`` is true for, when it is true below about ``cut`` and false
    above (a scaled comparison: rounding keeps it monotone) on ascending ``sorted_values``.

    Only the values within 1e-9 (relative) of ``cut`` are evaluated, so the count is exactly
    ``np.count_nonzero(holds(sorted_values))`` at the cost of two binary searches.
    """
    if not (math.isfinite(cut) and cut > 0):
        return int(np.count_nonzero(holds(sorted_values)))
    lo = int(np.searchsorted(sorted_values, cut * (1 - 1e-9), side="left"))
    hi = int(np.searchsorted(sorted_values, cut * (1 + 1e-9), side="right"))
    return lo + int(np.count_nonzero(holds(sorted_values[lo:hi])))


def drop_share(model_short: np.ndarray, scale: float, min_side: float) -> float:
    """Share of boxes a trainer drops after scaling by ``scale``: Ultralytics keeps a box only
    when both sides stay above ``min_side`` (``box_candidates``: w > 2 and h > 2)."""
    return (
        float(np.mean(model_short * scale <= min_side + SIZE_TOLERANCE_PX)) if len(model_short) else math.nan
    )


def sorted_drop_share(model_short: np.ndarray, scale: float, min_side: float) -> float:
    """:func:`drop_share` of ascending ``model_short``, by binary searches."""
    n = len(model_short)
    if not n:
        return math.nan
    limit = min_side + SIZE_TOLERANCE_PX
    dropped = count_prefix(model_short, limit / scale, lambda v: v * scale <= limit)
    return float(np.float64(dropped) / n)  # np.mean of the bool mask: its exact count over n


def _augmentation_rec(ctx: _Ctx) -> Recommendation | None:
    """How many boxes scale augmentation down to ``augment_min_scale`` loses to the 2 px rule."""
    cfg = ctx.config.recommend
    model_short = np.sort(ctx.short * ctx.final_scale)  # once: then each scale is a search
    floor = cfg.augment_min_side_px
    scales = sorted({*AUGMENT_SCALES, cfg.augment_min_scale, 1.0})
    table = [{"scale": s, "drop_share": sorted_drop_share(model_short, s, floor)} for s in scales]
    at_one = sorted_drop_share(model_short, 1.0, floor)
    at_min = sorted_drop_share(model_short, cfg.augment_min_scale, floor)
    if at_min - at_one <= AUGMENT_EXTRA_DROP_SHARE:
        return None
    safe = min(r["scale"] for r in table if r["drop_share"] - at_one <= AUGMENT_EXTRA_DROP_SHARE)
    n = len(model_short)
    params = {"min_scale": safe, "ultralytics_scale": round(1 - safe, 2), "min_side_px": floor}
    evidence = {
        "change": ctx.change,
        "table": table,
        "extra_drop_threshold": AUGMENT_EXTRA_DROP_SHARE,
        "num_boxes": n,
    }
    effect = {
        "drop_share_at_min_scale": at_min,
        "drop_share_at_1": at_one,
        "boxes_dropped_at_min_scale": round(at_min * n),
        "drop_share_at_safe_scale": sorted_drop_share(model_short, safe, floor),
    }
    summary = (
        f"Limit scale augmentation to >= {safe:g}x (Ultralytics scale={params['ultralytics_scale']:g}): at "
        f"{cfg.augment_min_scale:g}x the {floor:g} px minimum drops {_pct(at_min)} of boxes "
        f"({effect['boxes_dropped_at_min_scale']} of {n}) {ctx.change}, against {_pct(at_one)} unscaled"
    )
    return Recommendation("augmentation", summary, params, evidence, effect, 70)


def coco_mix(area_model: np.ndarray) -> np.ndarray:
    """Shares of COCO small / medium / large by w*h at model input."""
    counts = np.bincount(np.digitize(area_model, COCO.bounds), minlength=3)[:3]
    return counts / max(1, counts.sum())


def _sorted_mix(area_sorted: np.ndarray, factor: float) -> np.ndarray:
    """``coco_mix(area_sorted * factor * factor)`` of an ascending array by two binary searches.

    Multiplying by a positive constant keeps the order, so the counts below each bound are
    exactly ``digitize``'s (NaN sorts last and lands in the last bucket, as there).
    """
    # #(a * f * f < bound): binary searches for the cut, the product evaluated only near it.
    below = [
        count_prefix(area_sorted, b / factor / factor, lambda a, b=b: a * factor * factor < b)
        for b in COCO.bounds
    ]
    counts = np.diff(np.array([0, *below, len(area_sorted)], dtype=np.int64))
    return counts / max(1, counts.sum())


def _scale_rec(ctx: _Ctx) -> Recommendation | None:
    """The rescale factor that makes the size mix at imgsz closest to COCO's (pretrained models)."""
    ref = np.asarray(ctx.config.recommend.coco_reference, np.float64)
    area_now = ctx.rows["area"].to_numpy(np.float64) * ctx.rows["scale"].to_numpy(np.float64) ** 2
    area_sorted = np.sort(area_now)  # once: then each factor is a few binary searches
    now = _sorted_mix(area_sorted, 1.0)  # coco_mix(area_now): the same counts
    dist_now = 0.5 * float(np.abs(now - ref).sum())
    table = []
    for f in SCALE_MATCH_FACTORS:  # a loop over candidate factors
        mix = _sorted_mix(area_sorted, f)
        table.append({"factor": f, "mix": mix.tolist(), "distance": 0.5 * float(np.abs(mix - ref).sum())})
    best = min(table, key=lambda r: (r["distance"], abs(math.log(r["factor"]))))
    if dist_now <= SCALE_MATCH_MIN_DISTANCE or dist_now - best["distance"] < SCALE_MATCH_MIN_GAIN:
        return None
    f = best["factor"]
    max_long = float(ctx.long_img.max())
    imgsz_eq = int(round(f * ctx.imgsz / ctx.max_stride) * ctx.max_stride)
    common_long = float(pd.Series(ctx.long_img).mode().iloc[0])
    params = {
        "factor": round(f, 4),
        "imgsz_equivalent": imgsz_eq,
        "tile_equivalent_px": round(common_long / f) if f > 1 else None,
        "beyond_native": bool(f * ctx.imgsz > max_long),
    }
    evidence = {
        "imgsz": ctx.imgsz,
        "mix_at_imgsz": dict(zip(("small", "medium", "large"), now.tolist(), strict=True)),
        "coco_reference": dict(zip(("small", "medium", "large"), ref.tolist(), strict=True)),
        "distance": dist_now,
        "factors": table,
    }
    effect = {
        "mix_after": dict(zip(("small", "medium", "large"), best["mix"], strict=True)),
        "distance_after": best["distance"],
    }
    mix = (
        f"small/medium/large = {now[0]:.0%}/{now[1]:.0%}/{now[2]:.0%} "
        f"vs COCO {ref[0]:.0%}/{ref[1]:.0%}/{ref[2]:.0%}"
    )
    change = f"distance {dist_now:.2f} -> {best['distance']:.2f}"
    if params["beyond_native"]:
        native = max_long / ctx.imgsz
        summary = (
            f"Scale gap to COCO-pretrained weights: at imgsz {ctx.imgsz} {mix}; matching COCO's mix needs "
            f"{f:.1f}x upscaling (imgsz ~{imgsz_eq}, {change}), beyond the {native:.1f}x that native "
            "resolution allows: expect pretrained weights to transfer less well; prefer small-object "
            "pretraining or longer fine-tuning"
        )
    else:
        direction = "Upscale" if f > 1 else "Downscale"
        summary = (
            f"Optional for COCO-pretrained weights: {direction.lower()} by {f:.2f}x (imgsz ~{imgsz_eq}) to "
            f"match COCO's size mix: at imgsz {ctx.imgsz} {mix} ({change})"
        )
    return Recommendation("scale_match", summary, params, evidence, effect, 80)


def _none_rec(ctx: _Ctx, resolution: dict[str, Any]) -> Recommendation:
    n = len(ctx.rows)
    evidence = {
        "num_boxes": n,
        "share_reach_min_side": resolution["current_share"],
        "target_share": resolution["target_share"],
        "min_side_px": ctx.min_stride,
        "imgsz": ctx.imgsz,
        "what_small_means": what_small_means(ctx),
    }
    summary = (
        f"Nothing needs changing: {_pct(resolution['current_share'])} of {n} boxes reach {ctx.min_stride} px "
        f"at imgsz {ctx.imgsz} (target {resolution['target_share']:.0%}), no merge candidates, no labels "
        "below the size rules, and the size mix is close to COCO's."
    )
    return Recommendation("none", summary, {}, evidence, {}, 100)
