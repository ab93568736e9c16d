"""Views of the sections about the data itself: integrity, object sizes and the splits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sodaudit.analyzers.integrity_stats import IntegrityStats
from sodaudit.analyzers.sizes import SizesGroup, SizesStats
from sodaudit.analyzers.splits import SplitsStats
from sodaudit.render.views.base import QUANTILE_KEYS, Table, View, count_share, num, pct, plural, quantile
from sodaudit.render.views.sizes_ceilings import caps_table, ceiling_facts, noise_table
from sodaudit.render.views.splits_leakage import leakage_facts


def integrity_view(s: IntegrityStats, ctx: Mapping[str, Any]) -> View:
    v = View()
    v.facts.append(
        f"{num(s.num_boxes)} boxes in all; {num(s.num_valid_boxes)} are valid "
        "(finite coordinates, positive width and height) and are the ones every size statistic uses."
    )
    regions = s.ignore_regions
    if regions.regions:
        v.facts.append(
            f"{plural(regions.regions, 'ignore region')} (COCO crowd, VisDrone ignored regions) in "
            f"{plural(regions.images, 'image')} cover {pct(regions.area_share)} of the image area; "
            f"{plural(regions.objects_inside, 'labelled object')} "
            f"{'has its' if regions.objects_inside == 1 else 'have their'} centre in one."
        )
    issues = s.load_issues
    if issues:
        v.facts.append(
            f"The loader recorded {plural(sum(issues.values()), 'problem')} in the files "
            f"({plural(len(issues), 'kind')}); each is listed below with its file and line."
        )
    else:
        v.facts.append("The loader read every file without a problem.")
    statuses = s.images_by_status
    if statuses:
        parts = ", ".join(f"{num(n)} {k}" for k, n in statuses.items())
        v.facts.append(f"Images by status: {parts}.")
    v.facts.append(
        f"{count_share(s.background_images, s.background_share)} of the images have no "
        "label at all (background images)."
    )
    checks = [
        ("boxes with NaN or infinite coordinates", s.num_nonfinite_boxes),
        ("boxes with zero or negative width or height", s.num_degenerate_boxes),
        ("boxes past the image border", s.num_outside_image),
        ("boxes with a class id not in the class list", s.num_unknown_class_boxes),
        (
            "duplicate pairs (same class, IoU ≥ {})".format(
                num(ctx["config"]["integrity"]["duplicate_iou"], 2)
            )
            if "integrity" in ctx.get("config", {})
            else "duplicate pairs",
            s.num_duplicates,
        ),
        ("COCO area disagreeing with w×h", s.num_area_mismatch),
        ("boxes marked ignore (crowd / difficult)", s.num_ignored_boxes),
        ("EXIF-rotated images", s.exif_rotated_images),
        ("images identical across splits", s.num_cross_split_duplicate_images),
    ]
    rows = [[label, num(value)] for label, value in checks if value is not None]
    if s.num_outside_image:
        rows[[r[0] for r in rows].index("boxes past the image border")][1] += (
            f" (up to {num(s.max_outside_px)} px past)"
        )
    v.tables.append(Table("Box and image checks", ["check", "count"], rows))
    if issues:
        v.tables.append(
            Table("Load problems by kind", ["code", "count"], [[k, num(n)] for k, n in issues.items()])
        )
    deep = s.deep_decode
    v.facts.append(
        "Images were decoded to find corrupt files."
        if deep.ran
        else f"Images were not decoded ({deep.reason or 'off'}); run with --deep to find corrupt files."
    )
    hashed = s.image_hash
    if hashed.ran:
        v.facts.append(
            f"{num(hashed.images_hashed)} image files compared (by size, then by hash where "
            "sizes match): "
            f"{plural(hashed.identical_groups, 'group')} of identical files "
            f"({num(hashed.identical_images)} images), "
            f"{plural(s.num_cross_split_duplicate_groups, 'group')} spanning two splits."
        )
    else:
        reason = (hashed.reason or "not run").removeprefix("skipped: ")
        v.facts.append(f"Identical-image check skipped: {reason}.")
    return v


def quantile_rows(q: Mapping[str, Any], label: str) -> list[list[str]]:
    return [[label] + [num(quantile(q, k)) for k in QUANTILE_KEYS]]


def sizes_view(s: SizesStats, ctx: Mapping[str, Any]) -> View:
    v = View()
    imgsz = s.imgsz
    qn, qm = s.quantiles.native, s.quantiles.model
    v.facts.append(
        f"Over {num(s.num_boxes)} valid boxes, the median object is {num(quantile(qn.sqrt_area, 'p50'))} "
        f"px (square root of its area) in the image file and {num(quantile(qm.sqrt_area, 'p50'))} px "
        f"at model input (imgsz {num(imgsz)}, letterboxed)."
    )
    p10 = quantile(qm.short_side, "p10")
    if p10 is not None:
        v.facts.append(f"One box in ten has a short side of {num(p10)} px or less at model input.")
    coco = s.buckets.coco.as_dict()
    total = sum(coco.values()) or 1
    v.facts.append(
        "By COCO's size thresholds on w×h in image pixels: "
        + ", ".join(f"{count_share(n, n / total)} {k}" for k, n in coco.items())
        + "."
    )
    if s.buckets.coco_area is not None:
        by_area = s.buckets.coco_area.as_dict()
        v.facts.append(
            "COCOeval itself buckets by the annotations' area field (the mask area; bounds "
            "inclusive, crowd left out): "
            + ", ".join(f"{num(n)} {k}" for k, n in by_area.items())
            + "; AP small/medium/large are computed over these."
        )
    rows: list[list[str]] = []
    for label, native, model in (
        ("√area", qn.sqrt_area, qm.sqrt_area),
        ("short side", qn.short_side, qm.short_side),
        ("long side", qn.long_side, qm.long_side),
    ):
        rows += quantile_rows(native, f"{label}, image px")
        rows += quantile_rows(model, f"{label}, at imgsz {num(imgsz)}")
    v.tables.append(
        Table(
            "Box size percentiles (px)",
            ["measure", *(k.replace("p", "") + "%" for k in QUANTILE_KEYS)],
            rows,
        )
    )
    v.tables += bucket_tables(s, imgsz)
    if s.per_class:
        v.tables.append(group_size_table("Sizes per class (px, √area)", "class", s.per_class, imgsz))
    if len(s.per_split) > 1:
        v.tables.append(group_size_table("Sizes per split (px, √area)", "split", s.per_split, imgsz))
    aspect = s.aspect
    aq = aspect.quantiles
    v.facts.append(
        f"Aspect ratio (w/h): median {num(aq.get('p50'), 2)}, 90% between {num(aq.get('p5'), 2)} and "
        f"{num(aq.get('p95'), 2)}; {count_share(aspect.wide, aspect.share_wide)} are wider "
        f"and {count_share(aspect.tall, aspect.share_tall)} taller than "
        f"{num(aspect.extreme_ratio)}:1."
    )
    per_image = s.per_image
    v.facts.append(
        f"Images hold a median of {num(per_image.quantiles.get('p50'))} boxes (mean {num(per_image.mean)}, "
        f"most {num(per_image.max)})."
    )
    v.tables.append(caps_table(s, str(ctx.get("config", {}).get("model", "model"))))
    v.facts += ceiling_facts(s)
    if s.label_noise is not None and s.label_noise.buckets:
        v.tables.append(noise_table(s))
    return v


BUCKET_LABELS = {
    "coco": "COCO (w×h < 32², < 96²)",
    "coco_area": "COCOeval (area field, [0, 32²], [32², 96²], [96², ∞), crowd left out)",
    "aitod": "AI-TOD (√area < 8, < 16, < 32)",
    "tinyperson": "TinyPerson (√area [2,8), [8,12), [12,20), [20,32))",
    "soda": "SODA (√area < 12, < 20, < 32)",
    "relative": "share of the image area",
}


def bucket_tables(s: SizesStats, imgsz: Any) -> list[Table]:
    native, model = s.buckets, s.buckets_model
    presets: list[tuple[str, Mapping[str, int], Mapping[str, int]]] = [
        ("coco", native.coco.as_dict(), model.coco.as_dict()),
        *([("coco_area", native.coco_area.as_dict(), {})] if native.coco_area is not None else []),
        ("aitod", native.aitod.as_dict(), model.aitod.as_dict()),
        ("tinyperson", native.tinyperson.as_dict(), {}),
        ("soda", native.soda.as_dict(), model.soda.as_dict()),
        ("relative", native.relative, {}),
    ]
    rows = []
    for preset, counts, at_model in presets:
        total = sum(counts.values()) or 1
        mtotal = sum(at_model.values()) or 1
        for i, (bucket, n) in enumerate(counts.items()):
            m = at_model.get(bucket)
            rows.append(
                [
                    BUCKET_LABELS[preset] if i == 0 else "",
                    bucket.replace("_", " "),
                    count_share(n, n / total),
                    count_share(m, m / mtotal) if m is not None else "–",
                ]
            )
    return [
        Table(
            "Size buckets",
            ["preset", "bucket", "boxes (image px)", f"boxes at imgsz {num(imgsz)}"],
            rows,
            numeric=[False, False, True, True],
            note="Image pixels are what an evaluator sees (COCOeval by the area field, its own "
            "row when the dataset has one); the count at model input is what the network sees.",
        )
    ]


def group_size_table(caption: str, key: str, groups: Mapping[str, SizesGroup], imgsz: Any) -> Table:
    rows = []
    for name, g in groups.items():
        native, model = g.native.sqrt_area, g.model.sqrt_area
        rows.append(
            [
                str(name),
                num(g.count),
                num(native.get("p10")),
                num(native.get("p50")),
                num(model.get("p10")),
                num(model.get("p50")),
            ]
        )
    return Table(
        caption,
        [key, "boxes", "p10 image px", "median image px", f"p10 at {num(imgsz)}", f"median at {num(imgsz)}"],
        rows,
    )


def splits_view(s: SplitsStats, ctx: Mapping[str, Any]) -> View:
    v = View()
    splits = s.splits
    if s.single_split or len(splits) < 2:
        v.facts.append("The dataset has a single split, so there is nothing to compare.")
    if s.per_split:
        v.tables.append(
            Table(
                "Splits",
                ["split", "images", "boxes", "median √area image px", "median at model input"],
                [
                    [
                        name,
                        num(p.num_images),
                        num(p.num_boxes),
                        num(p.native.sqrt_area.get("p50")),
                        num(p.model.sqrt_area.get("p50")),
                    ]
                    for name, p in s.per_split.items()
                ],
            )
        )
    ref = s.reference
    ks = s.ks or {}
    if ks:
        rows = [
            [
                f"{name} vs {ref}",
                num(k.native.statistic, 3),
                num(k.native.pvalue, 3),
                num(k.native.n_ref),
                num(k.native.n),
            ]
            for name, k in ks.items()
        ]
        v.tables.append(
            Table(
                "Do the splits have the same object sizes? (two-sample KS test on log √area)",
                ["comparison", "KS statistic", "p-value", f"boxes in {ref}", "boxes in the other split"],
                rows,
                numeric=[False, True, True, True, True],
                note="A KS statistic near 0 means the same size distribution; the p-value says whether a "
                "difference is more than chance.",
            )
        )
    missing = {k: vals for k, vals in (s.classes_missing or {}).items() if vals}
    for split, classes in missing.items():
        v.facts.append(f"Split '{split}' has no box of: {', '.join(map(str, classes))}.")
    if len(splits) > 1 and not missing:
        v.facts.append("Every class occurs in every split.")
    shares = s.class_shares or {}
    if len(shares) > 1:
        classes = list(dict.fromkeys(c for sh in shares.values() for c in sh))
        v.tables.append(
            Table(
                "Class shares per split",
                ["class", *shares],
                [[c, *(pct(shares[sp].get(c)) for sp in shares)] for c in classes],
            )
        )
    for split, w in (s.max_class_share_diff or {}).items():
        if w is not None:
            v.facts.append(
                f"The largest class-share difference between {split} and {ref} is "
                f"{pct(abs(w.diff))} "
                f"(class '{w.class_name}')."
            )
    if s.leakage is not None:
        v.facts += leakage_facts(s.leakage)
    return v
