"""The sizes view's ceilings: evaluation and model caps on boxes per image, the NWD constant, and
what label noise lets an evaluation at IoU 0.5 / 0.75 measure per size bucket (the finding
``sizes.noise_ceiling`` says the conclusion; the table here shows every bucket)."""

from __future__ import annotations

import msgspec

from sodaudit.analyzers.sizes import SizesStats
from sodaudit.render.views.base import Table, num, pct
from sodaudit.sizepresets import PRESET_TITLES

CAP_LABELS = {
    "cocoeval_100": "COCOeval maxDets 100 (pycocotools default)",
    "cocoeval_300": "COCOeval maxDets 300",
    "cocoeval_1000": "COCOeval maxDets 1000",
    "model_max_det": "{model} max_det",
    "detr_100": "DETR-style, 100 queries",
    "detr_300": "DETR-style, 300 queries",
}


def caps_table(s: SizesStats, model: str) -> Table:
    """Every cap: ``analyzers.sizes.stats.eval_caps``, then configured caps with other values."""
    caps = msgspec.structs.asdict(s.eval_caps)
    rows = [
        [CAP_LABELS.get(key, key).format(model=model), num(c.cap), num(c.images), num(c.boxes)]
        for key, c in caps.items()
    ]
    seen = {c.cap for c in caps.values()}
    rows += [
        [name, num(c.cap), num(c.images_over), num(c.boxes_beyond)]
        for name, c in s.per_image.caps.items()
        if c.cap not in seen
    ]
    return Table(
        "Boxes per image against evaluation and model caps",
        ["cap", "max per image", "images over the cap", "labels beyond the cap"],
        rows,
        numeric=[False, True, True, True],
        note="An evaluator or detector keeps at most this many boxes per image; labels beyond it "
        "can never be matched or output.",
    )


def ceiling_facts(s: SizesStats) -> list[str]:
    facts = []
    if s.nwd_constant_at_imgsz is not None:
        facts.append(
            f"Average object size at imgsz {num(s.imgsz)}: {num(s.nwd_constant_at_imgsz, 1)} px (mean "
            "√(w·h)). Use it as the constant C of an NWD loss or assigner (Wang et al. 2021 set C to "
            "the dataset's average size, 12.8 px for AI-TOD)."
        )
    return facts


def noise_table(s: SizesStats) -> Table:
    noise = s.label_noise
    rows = [
        [name.replace("_", " "), num(b.boxes), pct(b.p_iou_50), pct(b.p_iou_75)]
        for name, b in noise.buckets.items()
    ]
    return Table(
        f"Label-noise ceiling per {PRESET_TITLES.get(noise.preset, noise.preset)} bucket at model input",
        ["bucket", "labels", "P(IoU ≥ 0.5)", "P(IoU ≥ 0.75)"],
        rows,
        numeric=[False, True, True, True],
        note=f"Two independent labelings with each corner off by σ = {num(noise.sigma_px, 1)} px "
        f"(Monte Carlo, {num(noise.draws)} pairs per bucket, seed {noise.seed}).",
    )
