"""The tiling recommendation: the plan's tile size and overlap, slicing-tool parameters and the
simulated effect (cut boxes, slivers, boxes lost to the min-area rule)."""

from __future__ import annotations

from sodaudit.recommend.base import Context, Recommendation, pct
from sodaudit.recommend.tilesim import TileSimulation, slicing_params


def tiling_rec(ctx: Context) -> Recommendation:
    plan = ctx.plan
    cfg = ctx.config.plan
    sim: TileSimulation | None = plan.simulation
    assert sim is not None, "a tiling plan carries its simulation"
    st = sim.stats
    t, ratio = int(st["tile_size"]), float(st["overlap_ratio"])
    params = {
        "tile_size": t,
        "overlap_ratio": ratio,
        "overlap_px": st["overlap_px"],
        "imgsz": ctx.imgsz,
        "upsampled": t < ctx.imgsz,
        **slicing_params(t, ratio, ctx.imgsz, cfg.tile_min_area_ratio),
        "inference": (
            f"tile at inference the same way ({t} px slices, overlap {ratio:g}, e.g. SAHI "
            "get_sliced_prediction) and merge the tiles' detections with NMS"
        ),
    }
    evidence = {
        "reason": plan.reason,
        "current_share": plan.current_share,
        "target_share": plan.target_share,
        "max_cost": plan.max_cost,
        "min_side_px": plan.min_side_px,
        "overlap_quantile": cfg.overlap_quantile,
        "long_side_quantile_px": plan.long_side_quantile_px,
        "max_overlap": cfg.max_overlap,
        "options": [o.to_dict() for o in plan.options],
        "simulation": st,
    }
    effect = {
        "share_before": plan.current_share,
        "share_after": plan.chosen.reach_share,
        "boxes_recovered": round((plan.chosen.reach_share - plan.current_share) * plan.num_boxes),
        "cost_factor": plan.chosen.cost_factor,
        "tiles_per_image": st["tiles_per_image"],
        "total_tiles": st["total_tiles"],
        "share_whole_in_a_tile": st["share_whole_in_a_tile"],
        "share_cut_by_every_tile": st["share_cut_by_every_tile"],
        "share_lost_to_min_area": st["share_lost_to_min_area"],
        "cut_fragments_dropped": st["cut_fragments_dropped"],
        "cut_fragments_kept": st["cut_fragments_kept"],
        "short_side_model": st["short_side_model"],
    }
    # The trainer's max_det applies per model input, so per tile once tiled (COCOeval's maxDets
    # still applies per image after the tiles' detections are merged).
    effect["max_labels_per_tile"] = st["max_labels_per_tile"]
    effect["model_max_det"] = ctx.preset.max_det
    for key in ("sliver_labels", "share_sliver_labels", "min_area_basis"):
        if key in st:
            effect[key] = st[key]
    grid = st["grids"][0] if st["grids"] else None
    grid_text = (
        f"{grid['tiles_x']}x{grid['tiles_y']} = {grid['tiles']} tiles per "
        f"{grid['width']}x{grid['height']} image"
        if grid
        else f"{st['tiles_per_image']:.1f} tiles per image"
    )
    up = f", upsampled {ctx.imgsz / t:.2g}x" if t < ctx.imgsz else ""
    summary = (
        f"Tile images into {t} px tiles{up} with overlap {ratio:g} ({st['overlap_px']} px) and train at "
        f"imgsz {ctx.imgsz}: {grid_text}, {float(st['tiles_per_image']):.1f}x the compute; "
        f"{pct(plan.chosen.reach_share)} of boxes then reach {plan.min_side_px} px (now "
        f"{pct(plan.current_share)}, target {plan.target_share:.0%}), {pct(st['share_whole_in_a_tile'])} lie "
        f"whole in a tile, {pct(st['share_lost_to_min_area'])} lost to min_area_ratio "
        f"{cfg.tile_min_area_ratio:g}; {plan.reason}. Tile at inference too"
    )
    if plan.alternatives:
        summary += ". Alternatives: " + "; ".join(a.text for a in plan.alternatives)
    return Recommendation("tiling", summary, params, evidence, effect, 10)
