"""Views of the sections about what a detector can learn from the labels: sub-threshold labels,
class overlaps, anchors and strides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sodaudit.render.views.base import Table, View, count_share, num, pct, plural

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
