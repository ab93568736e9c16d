"""The tiling recommendation: the chosen tile size, its overlap, slicing-tool parameters and
its simulated effect; it sets the scale the later recommendations are judged at."""

from __future__ import annotations

from typing import Any

from sodaudit.recommend.base import Context, Recommendation, pct
from sodaudit.recommend.tilesim import TileSimulation, slicing_params


def tiling_rec(ctx: Context, plan: dict[str, Any], resolution: dict[str, Any]) -> Recommendation:
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
        f"{ctx.imgsz}: {grid_text}; {pct(st['share_reach_min_side'])} of boxes then reach "
        f"{ctx.min_stride} px (now {pct(resolution['current_share'])}), {pct(st['share_whole_in_a_tile'])} "
        f"lie whole in a tile, {pct(st['share_lost_to_min_area'])} lost to min_area_ratio "
        f"{cfg.tile_min_area_ratio:g}; {why}. Tile at inference too."
    )
    return Recommendation("tiling", summary, params, evidence, effect, 10)
