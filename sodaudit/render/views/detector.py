"""Views of the sections about what a detector can learn from the labels: sub-threshold labels,
class overlaps, anchors and strides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sodaudit.analyzers.anchors_stats import AnchorsRatioGroup, AnchorsRatioPreset, AnchorsStats
from sodaudit.analyzers.class_overlap_stats import ClassOverlapStats
from sodaudit.analyzers.strides import StridesStats
from sodaudit.analyzers.subthreshold import SubthresholdStats
from sodaudit.render.views.base import Table, View, count_share, num, pct, plural

RULE_LABELS = {
    "min_side_native": "a side below {t} px in the image file",
    "min_side_model": "a side below {t} px at model input",
    "min_area_share": "smaller than {t} of the image area",
}


def subthreshold_view(s: SubthresholdStats, ctx: Mapping[str, Any]) -> View:
    v = View()
    imgsz, total, below = s.imgsz, s.num_labels, s.below_3px_at_imgsz
    v.facts.append(
        f"{num(below)} of {num(total)} labels are < 3 px at imgsz {num(imgsz)} "
        f"({pct(below / total if total else None, 2)}) — the count YOLOv5/Ultralytics warns about "
        "at the start of training."
    )
    rules = s.rules.by_name()
    union = s.union
    v.facts.append(
        f"{count_share(union.count, union.share)} labels break at least one "
        "size rule below; "
        "they are listed in full further down (and in the CSV file)."
    )
    rule_rows = [
        [RULE_LABELS[name].format(t=num(r.threshold, 2)), num(r.count), pct(r.share)]
        for name, r in rules.items()
    ]
    v.tables.append(Table("Size rules", ["a label is too small when it has", "labels", "share"], rule_rows))
    classes: dict[str, dict[str, str]] = {}
    for name, r in rules.items():
        for cls, c in r.per_class.items():
            classes.setdefault(cls, {})[name] = count_share(c.count, c.share)
    for cls, c in union.per_class.items():
        classes.setdefault(cls, {})["union"] = count_share(c.count, c.share)
    if classes:
        names = list(rules)
        v.tables.append(
            Table(
                "Too-small labels per class (share of the class)",
                [
                    "class",
                    *(RULE_LABELS[n].format(t=num(rules[n].threshold, 2)) for n in names),
                    "any rule",
                ],
                [[cls, *(c.get(n, "0") for n in names), c.get("union", "0")] for cls, c in classes.items()],
            )
        )
    zoom = s.zoom
    v.facts.append(
        f"To show a label at {num(zoom.review_screen_px)} px on screen, a reviewer needs a "
        f"median zoom of {num(zoom.quantiles.get('p50'))}×; "
        f"{count_share(zoom.count_at_least_flag, zoom.share_at_least_flag)} "
        f"need {num(zoom.flag)}× or more, where a label is hard to judge at all."
    )
    return v


def class_overlap_view(s: ClassOverlapStats, ctx: Mapping[str, Any]) -> View:
    v = View()
    cfg = (ctx.get("config") or {}).get("class_overlap") or {}
    thr = num(cfg.get("cross_class_iou", 0.7), 2)
    nms = num(cfg.get("nms_iou", 0.7), 2)
    fact = (
        f"{plural(s.cross_class_pairs, 'pair')} of boxes of different classes overlap "
        f"with IoU ≥ {thr} (in {plural(s.cross_class_images, 'image')}). "
        f"{plural(s.cross_class_double_labels, 'pair')} look like one object labelled twice, or two "
        "classes the labellers confuse"
    )
    if s.patterns:
        fact += (
            f"; {plural(s.cross_class_pattern_pairs, 'pair')} follow a labelling pattern (the same class "
            "pair, drawn the same way in many images, e.g. a rider on a bicycle): not double labels"
        )
    v.facts.append(fact + ".")
    by_pair = s.cross_class_by_pair
    if by_pair:
        v.tables.append(
            Table(
                "Overlapping class pairs",
                [
                    "class A",
                    "class B",
                    "pairs",
                    "of them a pattern",
                    "share of A's boxes",
                    "share of B's boxes",
                ],
                [
                    [
                        p.class_a,
                        p.class_b,
                        num(p.pairs),
                        num(p.pattern_pairs),
                        pct(p.share_a),
                        pct(p.share_b),
                    ]
                    for p in by_pair
                ],
                numeric=[False, False, True, True, True, True],
            )
        )
    if s.patterns:
        v.tables.append(
            Table(
                "Labelling patterns",
                ["class A", "class B", "pairs", "images", "median IoU", "IoU IQR", "larger box"],
                [
                    [
                        p.class_a,
                        p.class_b,
                        num(p.pairs),
                        num(p.images),
                        num(p.iou_median, 2),
                        num(p.iou_iqr, 2),
                        f"{p.larger_class} ({p.side} x{p.side_ratio_median:.2f})",
                    ]
                    for p in s.patterns
                ],
                numeric=[False, False, True, True, True, True, False],
            )
        )
    v.facts.append(
        f"{plural(s.nms_suppressed_pairs, 'pair')} of same-class boxes overlap with IoU above the NMS "
        f"threshold {nms} ({plural(s.nms_suppressed_boxes, 'box', 'boxes')}): non-maximum suppression "
        "would remove one of each pair even from a perfect prediction."
    )
    by_class = s.nms_suppressed_by_class
    if by_class:
        v.tables.append(
            Table(
                "Same-class overlaps by class", ["class", "pairs"], [[k, num(n)] for k, n in by_class.items()]
            )
        )
    cands = s.merge_candidates
    n_cands = s.num_merge_candidates
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
                        c.class_a,
                        c.class_b,
                        " + ".join(r.replace("_", " ") for r in c.reasons),
                        num(c.median_px_a),
                        num(c.median_px_b),
                        num(c.ks_size, 2),
                        num(c.ks_aspect, 2),
                        num(c.pairs),
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
    appearance = s.appearance
    if not appearance.ran:
        v.facts.append(
            f"Appearance check (do crops of the two classes look different?) skipped: "
            f"{appearance.reason or 'off'}."
        )
    return v


def anchors_view(s: AnchorsStats, ctx: Mapping[str, Any]) -> View:
    v = View()
    imgsz = s.imgsz
    presets = s.presets
    rows = []
    for name, p in presets.items():
        if isinstance(p, AnchorsRatioPreset):
            rows.append(
                [
                    name,
                    f"ratio, max(r, 1/r) < {num(p.ratio_thr)}",
                    pct(p.bpr),
                    num(p.anchors_per_target, 2),
                    num(p.num_uncovered),
                ]
            )
        else:
            rows.append(
                [
                    name,
                    f"IoU ≥ {num(p.iou_pos, 2)} (ignore ≥ {num(p.iou_neg, 2)})",
                    pct(p.coverage),
                    f"median best IoU {num(p.median_best_iou, 2)}",
                    num(p.num_uncovered),
                ]
            )
    y5 = presets.get("yolov5")
    if isinstance(y5, AnchorsRatioPreset):
        v.facts.append(
            f"With YOLOv5's default anchors at imgsz {num(imgsz)}, {pct(y5.bpr, 2)} of the boxes "
            "can be matched by at least one anchor (best possible recall, BPR; YOLOv5 re-computes "
            "anchors below 98%) "
            f"and a box has {num(y5.anchors_per_target, 2)} matching anchors on average."
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
        for b, c in p.by_bucket.items():
            share = c.bpr if isinstance(c, AnchorsRatioGroup) else c.coverage
            buckets.setdefault(b, {"n": num(c.n)})[name] = pct(share)
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
    sug = s.suggested
    if sug.status == "ok" and sug.anchors:
        text = "  ".join(f"{w},{h}" for w, h in sug.anchors)
        v.facts.append(
            f"Suggested {num(sug.num_anchors)} anchors (k-means on box sizes at imgsz "
            f"{num(sug.imgsz)}): {text} — BPR {pct(sug.bpr_before, 2)} → "
            f"{pct(sug.bpr, 2)}, {num(sug.anchors_per_target, 2)} anchors per box. "
            "`sodaudit anchors PATH` prints them as YAML."
        )
    else:
        v.facts.append(f"No anchors suggested: {sug.reason or sug.status}.")
    return v


def strides_view(s: StridesStats, ctx: Mapping[str, Any]) -> View:
    v = View()
    imgsz = s.imgsz
    models = s.models
    selected = s.model
    m = models.get(selected)
    if m is not None:
        v.facts.append(
            f"{selected} sees objects on grids with strides {', '.join(map(str, m.strides))} px "
            f"at imgsz {num(imgsz)}. "
            f"{count_share(m.below_smallest_stride, m.below_smallest_stride_share)} "
            f"boxes have a short side below the finest stride ({num(m.smallest_stride)} px) and "
            f"{count_share(m.no_grid_point, m.no_grid_point_share)} contain no candidate point "
            f"({'of any level' if m.candidate_levels == 'all' else 'of the finest level'}), "
            "so an assigner that picks points inside the box has nothing to assign them to."
        )
    rows = []
    for name, mm in models.items():
        for level in mm.levels:
            rows.append(
                [
                    name,
                    num(level.stride),
                    pct(level.below_stride_share),
                    pct(level.no_grid_point_share),
                    num(level.median_grid_points),
                    pct(level.center_collision_share),
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
    if m is not None and m.by_class:
        v.tables.append(
            Table(
                f"Per class ({selected}; short side against the finest stride, candidate points as the "
                f"assigner pools them)",
                ["class", "boxes", "short side < stride", "no grid point inside", "centre shares a cell"],
                [
                    [
                        cls,
                        num(c.n),
                        pct(c.below_smallest_stride_share),
                        pct(c.no_grid_point_share),
                        pct(c.center_collision_share),
                    ]
                    for cls, c in m.by_class.items()
                ],
            )
        )
    noise = s.iou_noise_floor
    if noise:
        v.tables.append(
            Table(
                f"IoU after a {num(s.noise_shift_px)} px shift in x and y (at model input)",
                ["size bucket", "boxes", "median IoU"],
                [[b.replace("_", " "), num(c.n), num(c.median_iou, 2)] for b, c in noise.items()],
                note="A prediction one pixel off already loses this much IoU: for tiny boxes the usual 0.5 "
                "matching threshold is close to the labelling noise.",
            )
        )
        overall = noise.get("all")
        if overall is not None:
            v.facts.append(
                f"A one-pixel shift alone brings the median box to IoU {num(overall.median_iou, 2)} "
                "with itself."
            )
    return v
