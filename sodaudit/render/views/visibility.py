"""The visibility analyzer's view: what survives the resize to model input, per size and class."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sodaudit.analyzers.visibility_stats import VisibilityStats
from sodaudit.render.views.base import Table, View, num, pct, plural

INTRO = (
    "Whether small objects that can be seen in the image files can still be seen after the resize "
    "to the model's input size, and whether blur, JPEG compression or upscaling hides them."
)


def visibility_view(s: VisibilityStats, ctx: Mapping[str, Any]) -> View:
    v = View()
    if s.status != "ok":
        v.facts.append(f"Not run: {s.reason}.")
        return v
    v.facts.append(
        f"{plural(s.measured, 'small box', 'small boxes')} measured (a seeded sample of the "
        f"{num(s.small_boxes)} boxes whose short side is below {num(s.small_side_px)} px at imgsz "
        f"{num(s.imgsz)}); {num(s.visible_native)} are visible in the image files (contrast to their "
        f"surroundings at least {num(s.visible_scr, 2)} times the surroundings' spread)."
    )
    v.facts.append(
        f"{num(s.invisible_at_imgsz)} ({pct(s.invisible_share)}) are visible in the files but not at "
        f"imgsz {num(s.imgsz)}: after the resize (OpenCV INTER_{s.resample.upper()}, as the trainer does "
        "it) their "
        f"contrast drops below that, or their gradient energy kept (1 ≈ as much as a large object's edges "
        f"keep) falls below {num(s.visible_energy_kept, 2)}."
    )
    v.tables.append(
        Table(
            "Small boxes visible in the files but not at model input, per input size",
            [
                "imgsz",
                "× today",
                "invisible",
                "visible",
                "median contrast (SCR)",
                "median gradient energy kept",
            ],
            [
                [
                    num(p.imgsz),
                    num(p.factor, 2),
                    pct(p.invisible_share),
                    pct(p.visible_share),
                    num(p.median_scr, 2),
                    num(p.median_energy_kept, 2),
                ]
                for p in s.curve
            ],
        )
    )
    sizes = [num(x) for x in s.candidate_imgsz]
    v.tables.append(
        Table(
            "Per class (share of its measured boxes visible in the files but not at each imgsz)",
            [
                "class",
                "small boxes",
                "measured",
                *(f"invisible at {x}" for x in sizes),
                "median SCR native",
                f"median SCR at {sizes[0]}",
            ],
            [
                [
                    c.class_name,
                    num(c.small_boxes),
                    num(c.measured),
                    *(pct(x) for x in c.invisible_share_by_imgsz),
                    num(c.median_scr_native, 2),
                    num(c.median_scr_model, 2),
                ]
                for c in s.classes
            ],
        )
    )
    v.tables.append(
        Table(
            "Image quality around each class's small boxes (share of its measured boxes)",
            ["class", "blurry", "low JPEG quality", "upscaled source"],
            [
                [c.class_name, pct(c.blurry_share), pct(c.low_jpeg_share), pct(c.upscaled_share)]
                for c in s.classes
            ],
        )
    )
    q = s.quality
    if q is not None:
        cfg = (ctx.get("config") or {}).get("visibility") or {}
        v.facts.append(
            f"Of the {plural(q.images, 'image')} read around small objects: {num(q.blurry_images)} blurry "
            f"(variance of the Laplacian below {num(cfg.get('blur_laplacian_var'))}; median "
            f"{num(q.median_laplacian_var)}), "
            f"{num(q.low_jpeg_images)} of {num(q.jpeg_images)} JPEG files below quality "
            f"{num(cfg.get('jpeg_low_quality'))} (median quality {num(q.median_jpeg_quality)}), "
            f"{num(q.upscaled_images)} upscaled from a smaller source (by their spectrum)."
        )
    return v
