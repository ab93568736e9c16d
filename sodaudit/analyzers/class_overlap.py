"""Class overlap: double labels across classes, ground truth NMS would remove, merge candidates.

Over valid, non-ignore boxes. ``cross_class_matrix[a][b]`` is the share of class ``a``'s
boxes that overlap at least one class-``b`` box with IoU >= ``cross_class_iou`` (the same
share ``colocation_share`` is compared with); cells that are 0 are left out. Cross-class pairs
that follow a labelling pattern (a rider on a bicycle: :mod:`class_overlap_patterns`) stay in
the counts, the matrix and the pair table (its ``pattern`` column), but not among the double
labels of the ``cross_class_duplicates`` finding. Merge
candidates need evidence: co-location, or two small classes (median size at model input
below ``separability_px``) with alike size and aspect distributions; with ``--pixels`` a
linear classifier on downsampled crops says whether their appearance still separates them.
"""

from __future__ import annotations

import itertools
import math

import msgspec
import numpy as np
import pandas as pd

from sodaudit.analyzers.base import (
    AnalyzerResult,
    max_pairs_per_image,
    pair_examples,
    pair_limit_finding,
    pair_table,
)
from sodaudit.analyzers.class_overlap_patterns import cross_class_finding, find_patterns
from sodaudit.analyzers.class_overlap_stats import (
    ClassOverlapAppearance,
    ClassOverlapMergeCandidate,
    ClassOverlapPair,
    ClassOverlapPairAppearance,
    ClassOverlapStats,
)
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import Finding
from sodaudit.geometry import BoxColumns, pairs_within_images
from sodaudit.regular import open_binary
from sodaudit.remote import whole_files

NAME = "class_overlap"

MIN_CROPS_PER_CLASS = 10
"""Fewer crops than this per class: no classifier is trained for the pair."""
CV_FOLDS = 5
SEED = 0
KS_MAX_SAMPLES = 2000
"""Per class, the KS tests use at most this many evenly spaced quantiles of its sizes."""


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Cross-class pairs, same-class pairs above the NMS IoU, and merge candidates."""
    cfg = config.class_overlap
    result = AnalyzerResult(NAME, "Class overlap")
    # The columns read here and by the pair tables (``label_table``: image, class, box, source).
    columns = ("image_id", "class_name", "x", "y", "w", "h", "source_file", "source_line", "sqrt_area_model")
    rows = dataset.selected_boxes(*columns).reset_index(drop=True)
    names = [str(c) for c in rows["class_name"].cat.categories]
    codes = rows["class_name"].cat.codes.to_numpy().astype(np.int64)
    counts = np.bincount(codes, minlength=len(names)) if len(rows) else np.zeros(len(names), int)

    min_iou = min(cfg.cross_class_iou, cfg.nms_iou)
    limit = max_pairs_per_image(config)
    pairs = pairs_within_images(
        rows["image_id"].to_numpy(),
        BoxColumns(*(rows[c].to_numpy() for c in ("x", "y", "w", "h"))),
        min_iou,
        max_pairs_per_image=limit,
    )
    ci, cj = codes[pairs.i], codes[pairs.j]
    cross = (ci != cj) & (pairs.iou >= cfg.cross_class_iou)
    nms = (ci == cj) & (pairs.iou > cfg.nms_iou)
    if len(pairs.over_limit):
        what = f"boxes with IoU >= {min_iou:g}"
        result.findings.append(
            pair_limit_finding(dataset, pairs.over_limit, "class_overlap.pair_limit", NAME, what, limit)
        )
    cross_stats, by_pair = _cross_class(dataset, rows, pairs, cross, codes, counts, names, cfg, result)
    nms_stats = _nms(dataset, rows, pairs, nms, codes, names, cfg.nms_iou, result)
    every = _merge_candidates(rows, codes, counts, names, by_pair, config)
    candidates = every[: cfg.max_merge_candidates]
    appearance = _appearance(dataset, rows, codes, names, candidates, config)
    if every:
        table = pd.DataFrame([msgspec.structs.asdict(c) for c in every]).drop(columns="appearance")
        table["reasons"] = table["reasons"].str.join("+")
        result.tables["merge_candidates"] = table
    for cand in candidates:
        result.findings.append(merge_finding(cand, config, dataset.imgsz))
    result.stats = ClassOverlapStats(
        num_boxes=len(rows),
        images_over_pair_limit=len(pairs.over_limit),
        **cross_stats,
        **nms_stats,
        appearance=appearance,
        num_merge_candidates=len(every),
        merge_candidates=candidates,
    )
    return result


def _sorted_pair_table(
    dataset: Dataset, rows: pd.DataFrame, i: np.ndarray, j: np.ndarray, iou: np.ndarray, **extra: np.ndarray
) -> pd.DataFrame:
    table = pair_table(dataset, rows.iloc[i], rows.iloc[j], iou)
    for name, values in extra.items():
        table[name] = values
    return table.sort_values("iou", ascending=False, kind="stable").reset_index(drop=True)


def _cross_class(
    dataset, rows, pairs, cross, codes, counts, names, cfg, result
) -> tuple[dict[str, object], list[ClassOverlapPair]]:
    """Cross-class pair counts, the box-share matrix, the labelling patterns, and the per-pair
    table and finding: the ``cross_class_*`` and ``patterns`` fields of
    :class:`ClassOverlapStats` by name, and the class pairs."""
    k = max(len(names), 1)
    i, j, iou = pairs.i[cross], pairs.j[cross], pairs.iou[cross]
    image_ids = rows["image_id"].to_numpy()
    in_pattern, patterns = find_patterns(
        image_ids, rows[["w", "h"]].to_numpy(np.float64), i, j, iou, codes, names, cfg
    )
    lo = np.minimum(codes[i], codes[j])
    hi = np.maximum(codes[i], codes[j])
    pair_keys, pair_n = np.unique(lo * k + hi, return_counts=True)
    on_keys, on_n = np.unique((lo * k + hi)[in_pattern], return_counts=True)
    pattern_n = dict(zip(on_keys.tolist(), on_n.tolist(), strict=True))
    # Boxes of class a overlapping at least one class-b box: unique (box, other class).
    box = np.concatenate([i, j])
    other = np.concatenate([codes[j], codes[i]])
    box_other = np.unique(box * k + other)
    own_other = codes[box_other // k] * k + box_other % k
    involved_keys, involved_n = np.unique(own_other, return_counts=True)
    involved = dict(zip(involved_keys.tolist(), involved_n.tolist(), strict=True))

    by_pair: list[ClassOverlapPair] = []
    counts_dd: dict[str, dict[str, int]] = {}
    matrix: dict[str, dict[str, float]] = {}
    for key, n in zip(pair_keys.tolist(), pair_n.tolist(), strict=True):
        a, b = divmod(key, k)
        na, nb = involved.get(a * k + b, 0), involved.get(b * k + a, 0)
        share_a, share_b = na / counts[a], nb / counts[b]
        by_pair.append(
            ClassOverlapPair(
                class_a=names[a],
                class_b=names[b],
                pairs=int(n),
                boxes_a=int(na),
                boxes_b=int(nb),
                share_a=float(share_a),
                share_b=float(share_b),
                pattern_pairs=int(pattern_n.get(key, 0)),
            )
        )
        counts_dd.setdefault(names[a], {})[names[b]] = int(n)
        counts_dd.setdefault(names[b], {})[names[a]] = int(n)
        matrix.setdefault(names[a], {})[names[b]] = float(share_a)
        matrix.setdefault(names[b], {})[names[a]] = float(share_b)
    by_pair.sort(key=lambda r: (-r.pairs, r.class_a, r.class_b))
    double = ~in_pattern
    n_double = int(double.sum())
    double_images = len(np.unique(image_ids[i[double]]))
    stats: dict[str, object] = {
        "cross_class_pairs": len(i),
        "cross_class_images": len(np.unique(image_ids[i])),
        "cross_class_double_labels": n_double,
        "cross_class_double_label_images": double_images,
        "cross_class_pattern_pairs": len(i) - n_double,
        "patterns": patterns,
        "cross_class_by_pair": by_pair,
        "cross_class_pair_counts": counts_dd,
        "cross_class_matrix": matrix,
    }
    if len(i):
        table = _sorted_pair_table(dataset, rows, i, j, iou, pattern=in_pattern)
        result.tables["cross_class_pairs"] = table
        result.findings.append(
            cross_class_finding(table, by_pair, patterns, n_double, double_images, cfg.cross_class_iou, NAME)
        )
    return stats, by_pair


def _nms(dataset, rows, pairs, nms, codes, names, nms_iou, result) -> dict[str, object]:
    """Same-class pairs above the NMS IoU: the ``nms_suppressed_*`` fields by name."""
    i, j, iou = pairs.i[nms], pairs.j[nms], pairs.iou[nms]
    per_class = np.bincount(codes[i], minlength=len(names)) if len(i) else np.zeros(len(names))
    by_class = {names[c]: int(n) for c, n in enumerate(per_class.tolist()) if n}
    boxes = len(np.unique(np.concatenate([i, j])))
    by_class = dict(sorted(by_class.items(), key=lambda kv: (-kv[1], kv[0])))
    stats = {
        "nms_suppressed_pairs": len(i),
        "nms_suppressed_boxes": boxes,
        "nms_suppressed_by_class": by_class,
    }
    if len(i):
        table = _sorted_pair_table(dataset, rows, i, j, iou)
        result.tables["nms_suppressed_pairs"] = table
        top_name, top_n = next(iter(by_class.items()))
        result.findings.append(
            Finding.of(
                "class_overlap.nms_suppressed",
                f"{len(i)} pairs of same-class boxes ({boxes} boxes) overlap with IoU > "
                f"{nms_iou:g}: NMS at that IoU would suppress one box of each pair, so these "
                f"ground-truth objects cannot all be detected; most in {top_name} ({top_n} pairs)",
                NAME,
                value=float(len(i)),
                threshold=float(nms_iou),
                examples=pair_examples(table),
                count=len(i),
            )
        )
    return stats


def merge_finding(cand: ClassOverlapMergeCandidate, config: Config, imgsz: int) -> Finding:
    """The finding of one merge candidate, its evidence in words: a warning when the crop
    classifier could not separate the two classes, else a note."""
    cfg = config.class_overlap
    parts = []
    if "colocation" in cand.reasons:
        parts.append(
            f"{cand.share_a:.0%} of {cand.class_a} boxes and {cand.share_b:.0%} of "
            f"{cand.class_b} boxes overlap the other class with IoU >= "
            f"{cfg.cross_class_iou:g} ({cand.pairs} pairs; co-location threshold "
            f"{cfg.colocation_share:.0%})"
        )
    if cand.pattern_pairs:
        parts.append(
            f"{cand.pattern_pairs} of the {cand.pairs} pairs follow a consistent labelling "
            "pattern (two objects, one on the other), not one object labelled twice"
        )
    if math.isfinite(cand.ks_size):  # sizes at model input need known image sizes
        parts.append(
            f"median size at {imgsz} px {cand.median_px_a:.1f} and "
            f"{cand.median_px_b:.1f} px (separability size {cfg.separability_px:g} px), "
            f"KS statistic on log size {cand.ks_size:.2f} (alike below "
            f"{cfg.size_similarity_ks:g}) and on log aspect {cand.ks_aspect:.2f} "
            f"(alike below {cfg.aspect_similarity_ks:g})"
        )
    app = cand.appearance
    acc = app.balanced_accuracy if app.balanced_accuracy is not None else math.nan
    if math.isfinite(acc):
        parts.append(
            f"a linear classifier on {app.crops_a}+{app.crops_b} crops of {cfg.separability_px:g} px "
            f"reaches balanced accuracy {acc:.2f} ({app.folds}-fold; 0.5 = chance)"
        )
    if "colocation" in cand.reasons:
        value, threshold = max(cand.share_a, cand.share_b), cfg.colocation_share
    else:
        value, threshold = cand.ks_size, cfg.size_similarity_ks
    smaller = cand.class_a if cand.n_a <= cand.n_b else cand.class_b
    return Finding.of(
        "class_overlap.merge_candidate",
        f"Classes {cand.class_a} ({cand.n_a} boxes) and {cand.class_b} ({cand.n_b} boxes) "
        "are merge candidates: " + "; ".join(parts),
        NAME,
        # False for NaN: not shown to be alike; and a note when the co-location alone makes the
        # pair and is mostly a labelling pattern (a rider on a bicycle is not a merge).
        raised=acc < cfg.separable_balanced_accuracy and not _mostly_pattern(cand),
        value=float(value),
        threshold=float(threshold),
        class_name=smaller,
        count=cand.pairs,
    )


def _mostly_pattern(cand: ClassOverlapMergeCandidate) -> bool:
    """Co-location is the only reason and most of its pairs are a labelling pattern."""
    return cand.reasons == ["colocation"] and 2 * cand.pattern_pairs > cand.pairs


def ks_statistic(a_sorted: np.ndarray, b_sorted: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic of two *sorted* samples (as ``ks_2samp``).

    The classes' samples are sorted once, so each of the many class pairs costs two
    ``searchsorted`` calls instead of a full ``ks_2samp`` (which sorts and computes p-values).
    """
    if len(a_sorted) == 0 or len(b_sorted) == 0:
        return math.nan
    both = np.concatenate([a_sorted, b_sorted])
    cdf_a = np.searchsorted(a_sorted, both, side="right") / len(a_sorted)
    cdf_b = np.searchsorted(b_sorted, both, side="right") / len(b_sorted)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _by_class(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row order grouping the classes (``order``) and where each class starts in it (``cuts``).

    One stable sort of small integers (a radix sort) shared by every per-class sample.
    """
    small = codes.astype(np.int16) if k < np.iinfo(np.int16).max else codes
    order = np.argsort(small, kind="stable")
    cuts = np.zeros(k + 1, np.int64)
    np.cumsum(np.bincount(codes, minlength=k), out=cuts[1:])
    return order, cuts


def _sorted_samples(values: np.ndarray, order: np.ndarray, cuts: np.ndarray) -> list[np.ndarray]:
    """Per class, its finite values sorted; thinned to KS_MAX_SAMPLES evenly spaced quantiles.

    ``order``/``cuts`` from :func:`_by_class`. Each class's values are sorted on their own
    (a value sort, not an argsort of every row): the same sorted values as one global sort.
    """
    grouped = values[order]
    out = []
    for lo, hi in itertools.pairwise(cuts.tolist()):  # a loop over classes, not boxes
        part = grouped[lo:hi]
        part = np.sort(part[np.isfinite(part)])
        if len(part) > KS_MAX_SAMPLES:
            part = part[np.linspace(0, len(part) - 1, KS_MAX_SAMPLES).round().astype(np.int64)]
        out.append(part)
    return out


def _merge_candidates(rows, codes, counts, names, by_pair, config) -> list[ClassOverlapMergeCandidate]:
    """Co-located class pairs, and pairs of small classes alike in size and shape."""
    cfg = config.class_overlap
    k = len(names)
    with np.errstate(invalid="ignore", divide="ignore"):
        size = rows["sqrt_area_model"].to_numpy(dtype=np.float64)
        log_size = np.log(size)
        log_aspect = np.log(rows["w"].to_numpy(dtype=np.float64) / rows["h"].to_numpy())
    log_aspect = np.where(np.isfinite(log_size), log_aspect, np.nan)
    order, cuts = _by_class(codes, k)
    sizes = _sorted_samples(log_size, order, cuts)
    aspects = _sorted_samples(log_aspect, order, cuts)
    medians = [float(np.exp(np.median(v))) if len(v) else math.nan for v in sizes]

    index = {n: c for c, n in enumerate(names)}
    by_key: dict[tuple[int, int], ClassOverlapPair] = {
        (index[r.class_a], index[r.class_b]): r for r in by_pair
    }
    found: dict[tuple[int, int], ClassOverlapMergeCandidate] = {}

    def candidate(a: int, b: int, reason: str, ks_size: float, ks_aspect: float) -> None:
        if (a, b) in found:
            found[(a, b)].reasons.append(reason)
            return
        r = by_key.get((a, b))
        found[(a, b)] = ClassOverlapMergeCandidate(
            class_a=names[a],
            class_b=names[b],
            n_a=int(counts[a]),
            n_b=int(counts[b]),
            reasons=[reason],
            pairs=r.pairs if r else 0,
            pattern_pairs=r.pattern_pairs if r else 0,
            share_a=r.share_a if r else 0.0,
            share_b=r.share_b if r else 0.0,
            median_px_a=medians[a],
            median_px_b=medians[b],
            ks_size=ks_size,
            ks_aspect=ks_aspect,
        )

    for (a, b), r in sorted(by_key.items()):
        if max(r.share_a, r.share_b) >= cfg.colocation_share:
            candidate(
                a,
                b,
                "colocation",
                ks_statistic(sizes[a], sizes[b]),
                ks_statistic(aspects[a], aspects[b]),
            )
    small = [c for c in range(k) if len(sizes[c]) >= cfg.min_class_boxes and medians[c] < cfg.separability_px]
    for a, b in itertools.combinations(small, 2):  # a loop over class pairs, not boxes
        ks_size = ks_statistic(sizes[a], sizes[b])
        if ks_size >= cfg.size_similarity_ks:
            continue
        ks_aspect = ks_statistic(aspects[a], aspects[b])
        if ks_aspect < cfg.aspect_similarity_ks:
            candidate(a, b, "small_alike", ks_size, ks_aspect)
    # Strongest evidence first: both reasons, then co-location share, then the most alike.
    return sorted(
        found.values(),
        key=lambda c: (
            -len(c.reasons),
            -max(c.share_a, c.share_b),
            np.nan_to_num(c.ks_size + c.ks_aspect, nan=2.0),
            c.class_a,
            c.class_b,
        ),
    )


def _appearance(dataset, rows, codes, names, candidates, config) -> ClassOverlapAppearance:
    """Cross-validated linear classifier on downsampled grayscale crops, per candidate pair
    (its result goes to each candidate's ``appearance``)."""
    if not config.pixels:
        return ClassOverlapAppearance(ran=False, reason="pixel analyses are off (--pixels)")
    if not candidates:
        return ClassOverlapAppearance(ran=False, reason="no merge candidates")
    images = dataset.images
    usable = images[(images["status"] == "ok") & (images["path"].astype(str) != "")]
    if usable.empty:
        return ClassOverlapAppearance(ran=False, reason="no readable image files")
    side = max(round(config.class_overlap.separability_px), 1)
    has_file = rows["image_id"].isin(usable["image_id"]).to_numpy()
    wanted = sorted(
        {names.index(c.class_a) for c in candidates} | {names.index(c.class_b) for c in candidates}
    )
    rng = np.random.default_rng(SEED)
    max_crops = config.class_overlap.max_crops_per_class
    picked = []
    for c in wanted:
        members = np.flatnonzero(has_file & (codes == c))
        if len(members) > max_crops:
            members = np.sort(rng.choice(members, max_crops, replace=False))
        picked.append(members)
    chosen = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    paths = usable.set_index("image_id")["path"]
    chosen_rows = rows.iloc[chosen]
    # In a bucket, the images are fetched together (concurrently) before they are opened.
    with whole_files([str(paths.loc[i]) for i in chosen_rows["image_id"].unique()]):
        crops, failed = _read_crops(dataset, chosen_rows, paths, side)
    per_class: dict[int, list[np.ndarray]] = {}
    offset = 0
    for c, members in zip(wanted, picked, strict=True):
        mine = crops[offset : offset + len(members)]
        per_class[c] = [x for x in mine if x is not None]
        offset += len(members)
    for cand in candidates:
        cand.appearance = _classify(
            per_class[names.index(cand.class_a)], per_class[names.index(cand.class_b)]
        )
    return ClassOverlapAppearance(
        ran=True,
        crop_px=side,
        crops_read=int(sum(c is not None for c in crops)),
        crops_failed=int(failed),
        max_crops_per_class=max_crops,
    )


def _read_crops(dataset, picked: pd.DataFrame, paths: pd.Series, side: int):
    """Grayscale ``side x side`` crops of the picked boxes, opening each image file once."""
    from PIL import Image, ImageOps

    from sodaudit.imageinfo import leads_outside

    crops: list[np.ndarray | None] = [None] * len(picked)
    failed = 0
    positions = np.arange(len(picked))
    image_ids = picked["image_id"].to_numpy()
    xywh = picked[["x", "y", "w", "h"]].to_numpy(dtype=np.float64)
    for image_id in np.unique(image_ids):  # a loop over image files, not boxes
        mine = positions[image_ids == image_id]
        path = str(paths.loc[image_id])
        if leads_outside(path, str(dataset.root)):  # never pixels from outside the dataset
            failed += len(mine)
            continue
        try:
            with open_binary(path) as fh, Image.open(fh) as im:
                gray = ImageOps.exif_transpose(im).convert("L")
        except Exception:  # any decode problem: these crops are skipped, never a traceback
            failed += len(mine)
            continue
        for p in mine:
            x, y, w, h = xywh[p]
            box = (
                max(math.floor(x), 0),
                max(math.floor(y), 0),
                min(math.ceil(x + w), gray.width),
                min(math.ceil(y + h), gray.height),
            )
            if box[2] <= box[0] or box[3] <= box[1]:
                failed += 1
                continue
            crop = gray.crop(box).resize((side, side), Image.Resampling.BILINEAR)
            crops[p] = np.asarray(crop, dtype=np.float32).reshape(-1) / 255.0
    return crops, failed


def _classify(xa: list[np.ndarray], xb: list[np.ndarray]) -> ClassOverlapPairAppearance:
    """Balanced accuracy of a cross-validated logistic regression telling a's crops from b's;
    NaN (null in JSON) when a class has too few crops."""
    if min(len(xa), len(xb)) < MIN_CROPS_PER_CLASS:
        return ClassOverlapPairAppearance(
            crops_a=len(xa),
            crops_b=len(xb),
            balanced_accuracy=math.nan,
            reason=f"fewer than {MIN_CROPS_PER_CLASS} readable crops in a class",
        )
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.vstack(xa + xb)
    y = np.r_[np.zeros(len(xa), int), np.ones(len(xb), int)]
    folds = min(CV_FOLDS, len(xa), len(xb))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    scores = cross_val_score(model, x, y, cv=cv, scoring="balanced_accuracy")
    return ClassOverlapPairAppearance(
        crops_a=len(xa), crops_b=len(xb), balanced_accuracy=float(np.mean(scores)), folds=folds
    )
