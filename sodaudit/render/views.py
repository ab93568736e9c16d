"""Readable views of the analyzer stats: sentences and small tables a person understands.

The numbers come from ``report.json`` (``analyzers.<name>.stats``) and nowhere else, so every
number in the HTML and Markdown is also in the JSON. A view that cannot read its stats (an
analyzer changed its layout) falls back to a plain key/value listing instead of failing the
report: see :func:`analyzer_view`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

QUANTILE_KEYS = ("p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99")


@dataclass
class Table:
    """A small summary table; cells are display strings, ``numeric`` columns align right."""

    caption: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)
    note: str = ""

    def __post_init__(self) -> None:
        if not self.numeric:
            self.numeric = [i > 0 for i in range(len(self.columns))]


@dataclass
class View:
    facts: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    raw: Mapping[str, Any] | None = None
    """Set when the readable view failed: the template then lists the stats as they are."""


# -- formatting --------------------------------------------------------------------------------


def num(value: Any, digits: int = 1) -> str:
    """A number as people read it: thousands separators, no spurious decimals, '–' if undefined."""
    if value is None or isinstance(value, str):
        return "–" if value is None else value
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = float(value)
    if not math.isfinite(value):
        return "–"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) < 10**-digits * 5:
        return f"{value:.2g}"
    return f"{value:,.{digits}f}"


def pct(share: Any, digits: int = 1) -> str:
    if share is None or not math.isfinite(float(share)):
        return "–"
    value = 100 * float(share)
    if 0 < value < 10**-digits:
        return f"<{10**-digits:g}%"
    return f"{value:.{digits}f}%"


def count_share(count: Any, share: Any) -> str:
    return f"{num(count)} ({pct(share)})"


def plural(count: Any, word: str, many: str | None = None) -> str:
    count = 0 if count is None else count
    return f"{num(count)} {word if count == 1 else (many or word + 's')}"


def _q(stats: Mapping[str, Any] | None, key: str) -> Any:
    return (stats or {}).get(key)


# -- analyzers ---------------------------------------------------------------------------------


def integrity_view(s: Mapping[str, Any], ctx: Mapping[str, Any]) -> View:
    v = View()
    v.facts.append(
        f"{num(s['num_boxes'])} boxes in all; {num(s['num_valid_boxes'])} are valid "
        "(finite coordinates, positive width and height) and are the ones every size statistic uses."
    )
    issues = s.get("load_issues") or {}
    if issues:
        v.facts.append(
            f"The loader recorded {plural(sum(issues.values()), 'problem')} in the files "
            f"({plural(len(issues), 'kind')}); each is listed below with its file and line."
        )
    else:
        v.facts.append("The loader read every file without a problem.")
    statuses = s.get("images_by_status") or {}
    if statuses:
        parts = ", ".join(f"{num(n)} {k}" for k, n in statuses.items())
        v.facts.append(f"Images by status: {parts}.")
    if s.get("background_images") is not None:
        v.facts.append(
            f"{count_share(s['background_images'], s.get('background_share'))} of the images have no "
            "label at all (background images)."
        )
    checks = [
        ("boxes with NaN or infinite coordinates", s.get("num_nonfinite_boxes")),
        ("boxes with zero or negative width or height", s.get("num_degenerate_boxes")),
        ("boxes past the image border", s.get("num_outside_image")),
        ("boxes with a class id not in the class list", s.get("num_unknown_class_boxes")),
        (
            "duplicate pairs (same class, IoU ≥ {})".format(
                num(ctx["config"]["integrity"]["duplicate_iou"], 2)
            )
            if "integrity" in ctx.get("config", {})
            else "duplicate pairs",
            s.get("num_duplicates"),
        ),
        ("COCO area disagreeing with w×h", s.get("num_area_mismatch")),
        ("boxes marked ignore (crowd / difficult)", s.get("num_ignored_boxes")),
        ("EXIF-rotated images", s.get("exif_rotated_images")),
        ("images identical across splits", s.get("num_cross_split_duplicate_images")),
    ]
    rows = [[label, num(value)] for label, value in checks if value is not None]
    if s.get("num_outside_image") and s.get("max_outside_px") is not None:
        rows[[r[0] for r in rows].index("boxes past the image border")][1] += (
            f" (up to {num(s['max_outside_px'])} px past)"
        )
    v.tables.append(Table("Box and image checks", ["check", "count"], rows))
    if issues:
        v.tables.append(
            Table("Load problems by kind", ["code", "count"], [[k, num(n)] for k, n in issues.items()])
        )
    deep = s.get("deep_decode") or {}
    if deep:
        v.facts.append(
            "Images were decoded to find corrupt files."
            if deep.get("ran")
            else f"Images were not decoded ({deep.get('reason', 'off')}); "
            "run with --deep to find corrupt files."
        )
    hashed = s.get("image_hash") or {}
    if hashed.get("ran"):
        v.facts.append(
            f"{num(hashed.get('images_hashed'))} image files were hashed: "
            f"{plural(hashed.get('identical_groups'), 'group')} of identical files "
            f"({num(hashed.get('identical_images'))} images), "
            f"{plural(s.get('num_cross_split_duplicate_groups'), 'group')} spanning two splits."
        )
    elif hashed:
        reason = str(hashed.get("reason", "not run")).removeprefix("skipped: ")
        v.facts.append(f"Identical-image check skipped: {reason}.")
    return v


def _quantile_rows(q: Mapping[str, Any], label: str) -> list[list[str]]:
    return [[label] + [num(_q(q, k)) for k in QUANTILE_KEYS]]


def sizes_view(s: Mapping[str, Any], ctx: Mapping[str, Any]) -> View:
    v = View()
    imgsz = s.get("imgsz", ctx.get("imgsz"))
    qn = (s.get("quantiles") or {}).get("native", {})
    qm = (s.get("quantiles") or {}).get("model", {})
    med_n = _q(qn.get("sqrt_area"), "p50")
    med_m = _q(qm.get("sqrt_area"), "p50")
    v.facts.append(
        f"Over {num(s.get('num_boxes'))} valid boxes, the median object is {num(med_n)} px "
        f"(square root of its area) in the image file and {num(med_m)} px at model input "
        f"(imgsz {num(imgsz)}, letterboxed)."
    )
    p10 = _q(qm.get("short_side"), "p10")
    if p10 is not None:
        v.facts.append(f"One box in ten has a short side of {num(p10)} px or less at model input.")
    coco = (s.get("buckets") or {}).get("coco")
    if coco:
        total = sum(coco.values()) or 1
        v.facts.append(
            "By COCO's definition (w×h in image pixels): "
            + ", ".join(f"{count_share(n, n / total)} {k}" for k, n in coco.items())
            + "."
        )
    rows: list[list[str]] = []
    for measure, label in (("sqrt_area", "√area"), ("short_side", "short side"), ("long_side", "long side")):
        if measure in qn:
            rows += _quantile_rows(qn[measure], f"{label}, image px")
        if measure in qm:
            rows += _quantile_rows(qm[measure], f"{label}, at imgsz {num(imgsz)}")
    if rows:
        v.tables.append(
            Table(
                "Box size percentiles (px)",
                ["measure", *(k.replace("p", "") + "%" for k in QUANTILE_KEYS)],
                rows,
            )
        )
    v.tables += _bucket_tables(s, imgsz)
    per_class = s.get("per_class") or {}
    if per_class:
        v.tables.append(_group_size_table("Sizes per class (px, √area)", "class", per_class, imgsz))
    per_split = s.get("per_split") or {}
    if len(per_split) > 1:
        v.tables.append(_group_size_table("Sizes per split (px, √area)", "split", per_split, imgsz))
    aspect = s.get("aspect") or {}
    if aspect:
        aq = aspect.get("quantiles") or {}
        v.facts.append(
            f"Aspect ratio (w/h): median {num(aq.get('p50'), 2)}, 90% between {num(aq.get('p5'), 2)} and "
            f"{num(aq.get('p95'), 2)}; {count_share(aspect.get('wide'), aspect.get('share_wide'))} are wider "
            f"and {count_share(aspect.get('tall'), aspect.get('share_tall'))} taller than "
            f"{num(aspect.get('extreme_ratio'))}:1."
        )
    per_image = s.get("per_image") or {}
    if per_image:
        pq = per_image.get("quantiles") or {}
        v.facts.append(
            f"Images hold a median of {num(pq.get('p50'))} boxes (mean {num(per_image.get('mean'))}, "
            f"most {num(per_image.get('max'))})."
        )
        caps = per_image.get("caps") or {}
        if caps:
            v.tables.append(
                Table(
                    "Boxes per image against detection caps",
                    ["cap", "max detections", "images over the cap", "boxes beyond the cap"],
                    [
                        [name, num(c.get("cap")), num(c.get("images_over")), num(c.get("boxes_beyond"))]
                        for name, c in caps.items()
                    ],
                    note="A detector or evaluator keeps at most this many boxes per image; "
                    "labels beyond it can never be matched.",
                )
            )
    return v


BUCKET_LABELS = {
    "coco": "COCO (w×h < 32², < 96²)",
    "aitod": "AI-TOD (√area < 8, < 16, < 32)",
    "tinyperson": "TinyPerson (√area [2,8), [8,12), [12,20), [20,32))",
    "relative": "share of the image area",
}


def _bucket_tables(s: Mapping[str, Any], imgsz: Any) -> list[Table]:
    buckets = s.get("buckets") or {}
    model = s.get("buckets_model") or {}
    rows = []
    for preset, counts in buckets.items():
        if not isinstance(counts, Mapping):
            continue
        total = sum(counts.values()) or 1
        at_model = model.get(preset) or {}
        mtotal = sum(at_model.values()) or 1
        for i, (bucket, n) in enumerate(counts.items()):
            m = at_model.get(bucket)
            rows.append(
                [
                    BUCKET_LABELS.get(preset, preset) if i == 0 else "",
                    bucket.replace("_", " "),
                    count_share(n, n / total),
                    count_share(m, m / mtotal) if m is not None else "–",
                ]
            )
    if not rows:
        return []
    return [
        Table(
            "Size buckets",
            ["preset", "bucket", "boxes (image px)", f"boxes at imgsz {num(imgsz)}"],
            rows,
            numeric=[False, False, True, True],
            note="The image-pixel count is what an evaluator such as COCOeval sees; "
            "the count at model input is what the network sees.",
        )
    ]


def _group_size_table(caption: str, key: str, groups: Mapping[str, Any], imgsz: Any) -> Table:
    rows = []
    for name, g in groups.items():
        native = (g.get("native") or {}).get("sqrt_area") or {}
        model = (g.get("model") or {}).get("sqrt_area") or {}
        rows.append(
            [
                str(name),
                num(g.get("count", g.get("num_boxes"))),
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


RULE_LABELS = {
    "min_side_native": "a side below {t} px in the image file",
    "min_side_model": "a side below {t} px at model input",
    "min_area_share": "smaller than {t} of the image area",
}


def subthreshold_view(s: Mapping[str, Any], ctx: Mapping[str, Any]) -> View:
    v = View()
    imgsz = s.get("imgsz", ctx.get("imgsz"))
    total = s.get("num_labels")
    below = s.get("below_3px_at_imgsz")
    if below is not None:
        v.facts.append(
            f"{num(below)} of {num(total)} labels are < 3 px at imgsz {num(imgsz)} "
            f"({pct(below / total if total else None, 2)}) — the count YOLOv5/Ultralytics warns about "
            "at the start of training."
        )
    rules = s.get("rules") or {}
    union = s.get("union") or {}
    if union:
        v.facts.append(
            f"{count_share(union.get('count'), union.get('share'))} labels break at least one "
            "size rule below; "
            "they are listed in full further down (and in the CSV file)."
        )
    rule_rows = [
        [
            RULE_LABELS.get(name, name).format(t=num(r.get("threshold"), 2)),
            num(r.get("count")),
            pct(r.get("share")),
        ]
        for name, r in rules.items()
    ]
    if rule_rows:
        v.tables.append(
            Table("Size rules", ["a label is too small when it has", "labels", "share"], rule_rows)
        )
    classes: dict[str, dict[str, str]] = {}
    for name, r in rules.items():
        for cls, c in (r.get("per_class") or {}).items():
            classes.setdefault(cls, {})[name] = count_share(c.get("count"), c.get("share"))
    for cls, c in (union.get("per_class") or {}).items():
        classes.setdefault(cls, {})["union"] = count_share(c.get("count"), c.get("share"))
    if classes:
        names = list(rules)
        v.tables.append(
            Table(
                "Too-small labels per class (share of the class)",
                [
                    "class",
                    *(RULE_LABELS.get(n, n).format(t=num(rules[n].get("threshold"), 2)) for n in names),
                    "any rule",
                ],
                [[cls, *(c.get(n, "0") for n in names), c.get("union", "0")] for cls, c in classes.items()],
            )
        )
    zoom = s.get("zoom") or {}
    if zoom:
        zq = zoom.get("quantiles") or {}
        v.facts.append(
            f"To show a label at {num(zoom.get('review_screen_px'))} px on screen, a reviewer needs a "
            f"median zoom of {num(zq.get('p50'))}×; "
            f"{count_share(zoom.get('count_at_least_flag'), zoom.get('share_at_least_flag'))} "
            f"need {num(zoom.get('flag'))}× or more, where a label is hard to judge at all."
        )
    return v


def class_overlap_view(s: Mapping[str, Any], ctx: Mapping[str, Any]) -> View:
    v = View()
    cfg = (ctx.get("config") or {}).get("class_overlap") or {}
    thr = num(cfg.get("cross_class_iou", 0.7), 2)
    nms = num(cfg.get("nms_iou", 0.7), 2)
    v.facts.append(
        f"{plural(s.get('cross_class_pairs'), 'pair')} of boxes of different classes overlap "
        f"with IoU ≥ {thr} "
        f"(in {plural(s.get('cross_class_images'), 'image')}): usually one object labelled twice, "
        "or two classes the labellers confuse."
    )
    by_pair = s.get("cross_class_by_pair") or []
    if by_pair:
        v.tables.append(
            Table(
                "Overlapping class pairs",
                ["class A", "class B", "pairs", "share of A's boxes", "share of B's boxes"],
                [
                    [
                        str(p.get("class_a")),
                        str(p.get("class_b")),
                        num(p.get("pairs")),
                        pct(p.get("share_a")),
                        pct(p.get("share_b")),
                    ]
                    for p in by_pair
                ],
                numeric=[False, False, True, True, True],
            )
        )
    v.facts.append(
        f"{plural(s.get('nms_suppressed_pairs'), 'pair')} of same-class boxes overlap with IoU above the NMS "
        f"threshold {nms} ({plural(s.get('nms_suppressed_boxes'), 'box', 'boxes')}): non-maximum suppression "
        "would remove one of each pair even from a perfect prediction."
    )
    by_class = s.get("nms_suppressed_by_class") or {}
    if by_class:
        v.tables.append(
            Table(
                "Same-class overlaps by class", ["class", "pairs"], [[k, num(n)] for k, n in by_class.items()]
            )
        )
    cands = s.get("merge_candidates") or []
    n_cands = s.get("num_merge_candidates", len(cands))
    if n_cands:
        v.facts.append(
            f"Merge candidates for a first model (class pairs that may not be separable at this input "
            f"size): {num(n_cands)}."
        )
        v.tables.append(
            Table(
                "Merge candidates",
                [
                    "class A",
                    "class B",
                    "why",
                    "median px A",
                    "median px B",
                    "KS size",
                    "KS aspect",
                    "co-located pairs",
                ],
                [
                    [
                        str(c.get("class_a")),
                        str(c.get("class_b")),
                        " + ".join(str(r).replace("_", " ") for r in c.get("reasons") or []),
                        num(c.get("median_px_a")),
                        num(c.get("median_px_b")),
                        num(c.get("ks_size"), 2),
                        num(c.get("ks_aspect"), 2),
                        num(c.get("pairs")),
                    ]
                    for c in cands
                ],
                numeric=[False, False, False, True, True, True, True, True],
                note=f"Sizes are at model input; 'small alike' means both medians are below "
                f"{num(cfg.get('separability_px', 12))} px with similar size and aspect distributions "
                "(two-sample KS statistic below the threshold).",
            )
        )
    else:
        v.facts.append("No class pair looks like a merge candidate.")
    appearance = s.get("appearance") or {}
    if appearance and not appearance.get("ran"):
        v.facts.append(
            f"Appearance check (do crops of the two classes look different?) skipped: "
            f"{appearance.get('reason', 'off')}."
        )
    return v


def anchors_view(s: Mapping[str, Any], ctx: Mapping[str, Any]) -> View:
    v = View()
    imgsz = s.get("imgsz", ctx.get("imgsz"))
    presets = s.get("presets") or {}
    rows = []
    for name, p in presets.items():
        if p.get("assigner") == "ratio":
            rows.append(
                [
                    name,
                    f"ratio, max(r, 1/r) < {num(p.get('ratio_thr'))}",
                    pct(p.get("bpr")),
                    num(p.get("anchors_per_target"), 2),
                    num(p.get("num_uncovered")),
                ]
            )
        else:
            rows.append(
                [
                    name,
                    f"IoU ≥ {num(p.get('iou_pos'), 2)} (ignore ≥ {num(p.get('iou_neg'), 2)})",
                    pct(p.get("coverage")),
                    f"median best IoU {num(p.get('median_best_iou'), 2)}",
                    num(p.get("num_uncovered")),
                ]
            )
    y5 = presets.get("yolov5")
    if y5:
        v.facts.append(
            f"With YOLOv5's default anchors at imgsz {num(imgsz)}, {pct(y5.get('bpr'), 2)} of the boxes "
            "can be matched by at least one anchor (best possible recall, BPR; YOLOv5 re-computes "
            "anchors below 98%) "
            f"and a box has {num(y5.get('anchors_per_target'), 2)} matching anchors on average."
        )
    if rows:
        v.tables.append(
            Table(
                f"Can the model's anchors match the boxes? (imgsz {num(imgsz)})",
                ["preset", "matching rule", "boxes matchable", "anchors per box", "boxes never matched"],
                rows,
                numeric=[False, False, True, True, True],
                note="For IoU-matched anchors (RetinaNet, Faster R-CNN), 'matchable' is the share of boxes "
                "that some anchor on the stride grid overlaps at the positive IoU threshold.",
            )
        )
    buckets: dict[str, dict[str, str]] = {}
    for name, p in presets.items():
        key = "bpr" if p.get("assigner") == "ratio" else "coverage"
        for b, c in (p.get("by_bucket") or {}).items():
            buckets.setdefault(b, {"n": num(c.get("n"))})[name] = pct(c.get(key))
    if buckets:
        v.tables.append(
            Table(
                "Boxes matchable by size bucket (AI-TOD buckets at model input)",
                ["bucket", "boxes", *presets],
                [
                    [b.replace("_", " "), c["n"], *(c.get(p, "–") for p in presets)]
                    for b, c in buckets.items()
                ],
            )
        )
    sug = s.get("suggested") or {}
    if sug.get("status") == "ok" and sug.get("anchors"):
        text = "  ".join(f"{w},{h}" for w, h in sug["anchors"])
        v.facts.append(
            f"Suggested {num(sug.get('num_anchors'))} anchors (k-means on box sizes at imgsz "
            f"{num(sug.get('imgsz'))}): {text} — BPR {pct(sug.get('bpr_before'), 2)} → "
            f"{pct(sug.get('bpr'), 2)}, {num(sug.get('anchors_per_target'), 2)} anchors per box. "
            "`sodaudit anchors PATH` prints them as YAML."
        )
    elif sug:
        v.facts.append(f"No anchors suggested: {sug.get('reason', sug.get('status', 'not computed'))}.")
    return v


def strides_view(s: Mapping[str, Any], ctx: Mapping[str, Any]) -> View:
    v = View()
    imgsz = s.get("imgsz", ctx.get("imgsz"))
    models = s.get("models") or {}
    selected = s.get("model")
    m = models.get(selected) if selected else None
    if m:
        v.facts.append(
            f"{selected} sees objects on grids with strides {', '.join(map(str, m.get('strides', [])))} px "
            f"at imgsz {num(imgsz)}. "
            f"{count_share(m.get('below_smallest_stride'), m.get('below_smallest_stride_share'))} "
            f"boxes have a short side below the finest stride ({num(m.get('smallest_stride'))} px) and "
            f"{count_share(m.get('no_grid_point'), m.get('no_grid_point_share'))} contain no grid point "
            "at all, "
            "so an assigner that picks points inside the box has nothing to assign them to."
        )
    rows = []
    for name, mm in models.items():
        for level in mm.get("levels") or []:
            rows.append(
                [
                    name,
                    num(level.get("stride")),
                    pct(level.get("below_stride_share")),
                    pct(level.get("no_grid_point_share")),
                    num(level.get("median_grid_points")),
                    pct(level.get("center_collision_share")),
                ]
            )
    if rows:
        v.tables.append(
            Table(
                "Per model and pyramid level",
                [
                    "model",
                    "stride (px)",
                    "short side < stride",
                    "no grid point inside",
                    "median grid points",
                    "centre shares a cell",
                ],
                rows,
                numeric=[False, True, True, True, True, True],
                note="'Centre shares a cell': the box's centre falls in the same grid cell as another box's "
                "centre in the same image, so the two compete for one prediction.",
            )
        )
    if m and m.get("by_class"):
        v.tables.append(
            Table(
                f"Per class ({selected}, finest stride)",
                ["class", "boxes", "short side < stride", "no grid point inside", "centre shares a cell"],
                [
                    [
                        cls,
                        num(c.get("n")),
                        pct(c.get("below_smallest_stride_share")),
                        pct(c.get("no_grid_point_share")),
                        pct(c.get("center_collision_share")),
                    ]
                    for cls, c in m["by_class"].items()
                ],
            )
        )
    noise = s.get("iou_noise_floor") or {}
    if noise:
        v.tables.append(
            Table(
                f"IoU after a {num(s.get('noise_shift_px'))} px shift in x and y (at model input)",
                ["size bucket", "boxes", "median IoU"],
                [
                    [b.replace("_", " "), num(c.get("n")), num(c.get("median_iou"), 2)]
                    for b, c in noise.items()
                ],
                note="A prediction one pixel off already loses this much IoU: for tiny boxes the usual 0.5 "
                "matching threshold is close to the labelling noise.",
            )
        )
        overall = noise.get("all") or {}
        if overall:
            v.facts.append(
                f"A one-pixel shift alone brings the median box to IoU {num(overall.get('median_iou'), 2)} "
                "with itself."
            )
    return v


def splits_view(s: Mapping[str, Any], ctx: Mapping[str, Any]) -> View:
    v = View()
    splits = s.get("splits") or []
    if s.get("single_split") or len(splits) < 2:
        v.facts.append("The dataset has a single split, so there is nothing to compare.")
    per_split = s.get("per_split") or {}
    if per_split:
        v.tables.append(
            Table(
                "Splits",
                ["split", "images", "boxes", "median √area image px", "median at model input"],
                [
                    [
                        name,
                        num(p.get("num_images")),
                        num(p.get("num_boxes")),
                        num(((p.get("native") or {}).get("sqrt_area") or {}).get("p50")),
                        num(((p.get("model") or {}).get("sqrt_area") or {}).get("p50")),
                    ]
                    for name, p in per_split.items()
                ],
            )
        )
    ref = s.get("reference")
    ks = s.get("ks") or {}
    if ks:
        rows = []
        for name, k in ks.items():
            nat = k.get("native") or {}
            rows.append(
                [
                    f"{name} vs {ref}",
                    num(nat.get("statistic"), 3),
                    num(nat.get("pvalue"), 3),
                    num(nat.get("n_ref")),
                    num(nat.get("n")),
                ]
            )
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
    missing = {k: vals for k, vals in (s.get("classes_missing") or {}).items() if vals}
    for split, classes in missing.items():
        v.facts.append(f"Split '{split}' has no box of: {', '.join(map(str, classes))}.")
    if len(splits) > 1 and not missing:
        v.facts.append("Every class occurs in every split.")
    shares = s.get("class_shares") or {}
    if len(shares) > 1:
        classes = list(dict.fromkeys(c for sh in shares.values() for c in sh))
        v.tables.append(
            Table(
                "Class shares per split",
                ["class", *shares],
                [[c, *(pct(shares[sp].get(c)) for sp in shares)] for c in classes],
            )
        )
    worst = s.get("max_class_share_diff") or {}
    for split, w in worst.items():
        if w and w.get("class_name") is not None:
            v.facts.append(
                f"The largest class-share difference between {split} and {ref} is "
                f"{pct(abs(w.get('diff', 0)))} "
                f"(class '{w['class_name']}')."
            )
    return v


VIEWS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], View]] = {
    "integrity": integrity_view,
    "sizes": sizes_view,
    "subthreshold": subthreshold_view,
    "class_overlap": class_overlap_view,
    "anchors": anchors_view,
    "strides": strides_view,
    "splits": splits_view,
}

INTROS = {
    "integrity": "Whether the labels can be trusted as data: what the loader could not read, broken boxes, "
    "duplicates and images without labels.",
    "sizes": "How big the objects are, in the image files and at the resolution the model sees them.",
    "subthreshold": "Labels too small for a model to learn from or a person to check, with the zoom a "
    "reviewer needs.",
    "class_overlap": "Boxes of different classes on the same object, ground truth that non-maximum "
    "suppression would remove, and classes too alike at this size to tell apart.",
    "anchors": "Whether the anchor boxes of anchor-based detectors can match the labels at all.",
    "strides": "Whether the feature-map grids are fine enough for the objects.",
    "splits": "Whether train and validation look alike in sizes and classes.",
}


def analyzer_view(name: str, stats: Mapping[str, Any], ctx: Mapping[str, Any]) -> View:
    """The readable view, or the raw stats when the view cannot read them."""
    make = VIEWS.get(name)
    if make is None:
        return View(raw=stats)
    try:
        return make(stats, ctx)
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError):
        return View(raw=stats)
