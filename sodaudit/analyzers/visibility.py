"""Visibility at model input: small objects that are visible in the image files but not after
the resize to imgsz, and the quality of the images around them (``--pixels`` only).

The small boxes (valid, not ignored, short side at imgsz below ``small_side_px``, by default the
model's smallest stride) are sampled with a seed, at most ``max_boxes_per_class`` per class and
``max_boxes`` in all, in at most ``max_images`` images. Each sampled box is cropped in grayscale
with a ring of context (the box grown by ``context`` times its size on each side), resampled as
the trainer resizes the image (``resample``: OpenCV INTER_LINEAR or INTER_AREA, reproduced in
:mod:`sodaudit.analyzers.visibility_pixels`) at today's scale and at each candidate imgsz, and
measured: the signal-to-clutter ratio (SCR) of the box against its ring, and its gradient
energy kept after resample-and-back, over the scale (near 1 for an object many model pixels
wide, towards 0 for one finer than a model pixel). A box is visible natively when its native SCR
reaches ``visible_scr``, and at an input size when its SCR there reaches ``visible_scr`` and it
keeps at least ``visible_energy_kept`` of its gradient energy.

Each image holding a sampled box is opened once (never one a symbolic link takes outside the
dataset folder) and also measured for quality: blur (variance of the Laplacian over the crops
around its small boxes), JPEG quality (from its luminance quantisation table) and an upscaled
source (from its spectrum). With ``--workers`` the images are measured in the process pool.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult, image_file_names, label_examples, label_table
from sodaudit.analyzers.visibility_pixels import ImageJob, looks_upscaled, measure_images
from sodaudit.analyzers.visibility_stats import (
    VisibilityClass,
    VisibilityCurvePoint,
    VisibilityQuality,
    VisibilityStats,
)
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.errors import ConfigError
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.models import MODELS

NAME = "visibility"
RESAMPLE_MODES = ("linear", "area")
IMGSZ_MULTIPLE = 32
"""Candidate input sizes are rounded up to a multiple of the largest stride (as Ultralytics does)."""
COLUMNS = (
    "image_id",
    "class_name",
    "x",
    "y",
    "w",
    "h",
    "scale",
    "short_side_model",
    "source_file",
    "source_line",
)


def candidate_sizes(imgsz: int, factors: tuple[float, ...]) -> list[int]:
    """imgsz first, then imgsz times each factor rounded up to a multiple of 32, without repeats."""
    sizes = [imgsz]
    for f in factors:
        size = imgsz if f == 1 else int(math.ceil(imgsz * f / IMGSZ_MULTIPLE) * IMGSZ_MULTIPLE)
        if size > 0 and size not in sizes:
            sizes.append(size)
    return sizes


def class_quotas(counts: np.ndarray, per_class: int, total: int) -> np.ndarray:
    """Boxes drawn per class: ``min(count, cap)`` with the largest cap <= per_class whose sum fits
    ``total`` (water-filling: small classes keep all their boxes), then any rest to the largest."""
    counts = np.asarray(counts, dtype=np.int64)
    cap = per_class
    if np.minimum(counts, cap).sum() > total:
        lo, hi = 0, per_class
        while lo < hi:  # a binary search over the cap, not a loop over boxes
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if np.minimum(counts, mid).sum() <= total else (lo, mid - 1)
        cap = lo
    return np.minimum(counts, cap)


def sample_boxes(codes: np.ndarray, image_ids: np.ndarray, cfg, n_classes: int) -> np.ndarray:
    """Positions of the sampled boxes: seeded per-class draws, then at most max_images images."""
    rng = np.random.default_rng(cfg.seed)
    counts = np.bincount(codes, minlength=n_classes)
    quotas = class_quotas(counts, cfg.max_boxes_per_class, cfg.max_boxes)
    picked = []
    for c in np.flatnonzero(quotas):  # a loop over classes
        members = np.flatnonzero(codes == c)
        picked.append(members if quotas[c] >= len(members) else rng.choice(members, quotas[c], replace=False))
    chosen = np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
    images = np.unique(image_ids[chosen])
    if len(images) > cfg.max_images:
        keep = rng.choice(images, cfg.max_images, replace=False)
        chosen = chosen[np.isin(image_ids[chosen], keep)]
    return chosen


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Visibility of the small boxes natively, at imgsz and at the candidate sizes; image quality."""
    cfg = config.visibility
    result = AnalyzerResult(NAME, "Visibility at model input")
    if cfg.resample not in RESAMPLE_MODES:
        raise ConfigError(f"visibility.resample must be linear or area, got {cfg.resample!r}.")
    small_px = (
        cfg.small_side_px if cfg.small_side_px is not None else float(min(MODELS[config.model].strides))
    )
    sizes = candidate_sizes(dataset.imgsz, cfg.candidate_factors)
    settings = {
        "imgsz": dataset.imgsz,
        "resample": cfg.resample,
        "small_side_px": float(small_px),
        "visible_scr": cfg.visible_scr,
        "visible_energy_kept": cfg.visible_energy_kept,
        "candidate_imgsz": sizes,
    }
    if not config.pixels:  # nothing is read: not even the image folder's links
        result.stats = VisibilityStats(
            status="not_run", reason="pixel analyses are off (--pixels)", **settings
        )
        return result
    from sodaudit.analyzers.integrity_pixels import pixel_images

    rows = dataset.selected_boxes(*COLUMNS).reset_index(drop=True)
    with np.errstate(invalid="ignore"):
        small = (rows["short_side_model"].to_numpy(np.float64) < small_px) & np.isfinite(
            rows["scale"].to_numpy()
        )
    rows = rows[small].reset_index(drop=True)
    names = [str(c) for c in rows["class_name"].cat.categories]
    codes = rows["class_name"].cat.codes.to_numpy().astype(np.int64)
    small_counts = np.bincount(codes, minlength=len(names))
    usable, _ = pixel_images(dataset)  # the integrity analyzer reports the links it leaves out
    readable = rows["image_id"].isin(usable["image_id"]).to_numpy()
    chosen = np.flatnonzero(readable)[
        sample_boxes(codes[readable], rows["image_id"].to_numpy()[readable], cfg, len(names))
    ]
    if len(rows) == 0 or len(chosen) == 0:
        reason = "no small boxes" if len(rows) == 0 else "no readable image file holds a small box"
        result.stats = VisibilityStats(status="not_run", reason=reason, small_boxes=len(rows), **settings)
        return result

    picked = rows.iloc[chosen].reset_index(drop=True)
    measures, quality = _measure(dataset, config, picked, sizes, usable)
    ok = measures["measured"].to_numpy()
    m = picked[ok].reset_index(drop=True)
    mm = measures[ok].reset_index(drop=True)
    k = len(sizes)
    scr_model = np.vstack(mm["scr"].to_numpy()) if len(mm) else np.zeros((0, k))
    kept = np.vstack(mm["kept"].to_numpy()) if len(mm) else np.zeros((0, k))
    scr_native = mm["scr_native"].to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        vis_native = scr_native >= cfg.visible_scr
        vis_at = (scr_model >= cfg.visible_scr) & (kept >= cfg.visible_energy_kept)
    invisible = vis_native[:, None] & ~vis_at
    n = len(m)
    curve = [
        VisibilityCurvePoint(
            imgsz=size,
            factor=size / dataset.imgsz,
            invisible_share=_share(invisible[:, i].sum(), n),
            visible_share=_share(vis_at[:, i].sum(), n),
            median_scr=_median(scr_model[:, i]),
            median_energy_kept=_median(kept[:, i]),
        )
        for i, size in enumerate(sizes)
    ]
    m_codes = m["class_name"].cat.codes.to_numpy().astype(np.int64)
    classes = _classes(
        names, small_counts, m_codes, scr_native, scr_model, kept, vis_native, invisible, mm, cfg
    )
    q_stats = _quality_stats(quality, cfg)
    result.stats = VisibilityStats(
        status="ok",
        **settings,
        small_boxes=len(rows),
        sampled=len(picked),
        measured=n,
        skipped_boxes=len(picked) - n,
        images_failed=int(quality["error"].notna().sum()),
        visible_native=int(vis_native.sum()),
        invisible_at_imgsz=int(invisible[:, 0].sum()),
        invisible_share=_share(invisible[:, 0].sum(), n),
        curve=curve,
        classes=classes,
        quality=q_stats,
    )
    table = label_table(
        dataset,
        m,
        scr_native=np.round(scr_native, 3),
        scr_imgsz=np.round(scr_model[:, 0], 3),
        energy_kept_imgsz=np.round(kept[:, 0], 3),
        visible_native=vis_native,
        visible_imgsz=vis_at[:, 0],
        **{f"invisible_at_{size}": invisible[:, i] for i, size in enumerate(sizes)},
    )
    order = np.lexsort((-scr_native, ~invisible[:, 0]))
    result.tables["boxes"] = table.iloc[order].reset_index(drop=True)
    result.tables["image_quality"] = _quality_table(quality, cfg)
    result.findings += _invisible_findings(
        dataset, m, m_codes, classes, names, invisible, scr_native, sizes, cfg
    )
    low = _low_quality_finding(quality, q_stats, cfg)
    if low is not None:
        result.findings.append(low)
    return result


def _measure(dataset, config, picked: pd.DataFrame, sizes: list[int], usable: pd.DataFrame):
    """Per sampled box its measures (``measured`` False when skipped), and per image opened its
    quality; the images in the process pool with ``--workers``."""
    from sodaudit.pool import map_chunks
    from sodaudit.remote import blockwise

    cfg = config.visibility
    paths = usable.set_index("image_id")["path"].astype(str)
    image_ids = picked["image_id"].to_numpy()
    xywh = picked[["x", "y", "w", "h"]].to_numpy(np.float64)
    scale = picked["scale"].to_numpy(np.float64)
    factors = np.array(sizes, dtype=np.float64) / dataset.imgsz
    order = np.argsort(image_ids, kind="stable")
    uniq, starts = np.unique(image_ids[order], return_index=True)
    groups = np.split(order, starts[1:])
    jobs = [
        ImageJob(
            path=paths.loc[image_id],
            boxes=xywh[g],
            scales=(scale[g[0]] * factors).tolist(),  # letterbox scale is linear in imgsz
            plan_scale=float(scale[g[0]]),
            mode=cfg.resample,
            context=cfg.context,
            max_crop_side=cfg.max_crop_side,
        )
        for image_id, g in zip(uniq.tolist(), groups, strict=True)
    ]

    def measure(todo: list[ImageJob]) -> list:
        chunks = map_chunks(
            measure_images,
            todo,
            workers=config.workers,
            what="measuring visibility",
            scheduler=config.scheduler,
        )
        return [r for chunk in chunks for r in chunk]

    # A dataset in object storage: each block's images are fetched whole for the block only.
    results = blockwise(jobs, measure, path_of=lambda job: job.path)
    n = len(picked)
    scr_native = np.full(n, np.nan)
    scr = [None] * n
    kept = [None] * n
    measured = np.zeros(n, bool)
    box_quality = np.full((n, 4), np.nan)
    for g, res in zip(groups, results, strict=True):  # a loop over images
        values = (res.laplacian_var, res.jpeg_quality, res.top_band_share, _upscaled(res, cfg))
        box_quality[g] = values
        for pos, measure in zip(g.tolist(), res.boxes or [None] * len(g), strict=True):
            if measure is not None:
                measured[pos] = True
                scr_native[pos] = measure.scr_native
                scr[pos], kept[pos] = measure.scr, measure.kept
    measures = pd.DataFrame(
        {
            "measured": measured,
            "scr_native": scr_native,
            "scr": scr,
            "kept": kept,
            "laplacian_var": box_quality[:, 0],
            "jpeg_quality": box_quality[:, 1],
            "upscaled": box_quality[:, 3] == 1,
        }
    )
    quality = pd.DataFrame(
        {
            "image": image_file_names(dataset, uniq),
            "boxes": [len(g) for g in groups],
            "laplacian_var": [r.laplacian_var for r in results],
            "jpeg_quality": [r.jpeg_quality for r in results],
            "top_band_share": [r.top_band_share for r in results],
            "null_depth": [r.null_depth for r in results],
            "null_factor": [r.null_factor for r in results],
            "upscaled": [bool(_upscaled(r, cfg)) for r in results],
            "error": [r.error for r in results],
        }
    )
    return measures, quality


def _upscaled(res, cfg) -> float:
    """1.0 when the image looks upscaled (top band nearly empty, or integer-upscale nulls)."""
    if res.error is not None:
        return math.nan
    return float(looks_upscaled(res.top_band_share, res.null_depth, cfg))


def _share(count, total) -> float:
    return float(count) / total if total else math.nan


def _median(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else math.nan


def _classes(names, small_counts, codes, scr_native, scr_model, kept, vis_native, invisible, mm, cfg):
    """Per class with small boxes: the measured sample, its visibility and its images' quality."""
    lap = mm["laplacian_var"].to_numpy(np.float64)
    jpeg = mm["jpeg_quality"].to_numpy(np.float64)
    up = mm["upscaled"].to_numpy(bool)
    out = []
    for c, name in enumerate(names):  # a loop over classes
        if not small_counts[c]:
            continue
        mine = codes == c
        n = int(mine.sum())
        with np.errstate(invalid="ignore"):
            blurry = (lap[mine] < cfg.blur_laplacian_var).sum()
            low_jpeg = (jpeg[mine] < cfg.jpeg_low_quality).sum()
        out.append(
            VisibilityClass(
                class_name=name,
                small_boxes=int(small_counts[c]),
                measured=n,
                visible_native=int(vis_native[mine].sum()),
                invisible_at_imgsz=int(invisible[mine, 0].sum()),
                invisible_share=_share(invisible[mine, 0].sum(), n),
                invisible_share_by_imgsz=[
                    _share(invisible[mine, i].sum(), n) for i in range(invisible.shape[1])
                ],
                median_scr_native=_median(scr_native[mine]),
                median_scr_model=_median(scr_model[mine, 0]),
                median_energy_kept=_median(kept[mine, 0]),
                median_laplacian_var=_median(lap[mine]),
                median_jpeg_quality=_median(jpeg[mine]),
                blurry_share=_share(blurry, n),
                low_jpeg_share=_share(low_jpeg, n),
                upscaled_share=_share(up[mine].sum(), n),
            )
        )
    out.sort(key=lambda c: (-np.nan_to_num(c.invisible_share, nan=-1.0), -c.measured, c.class_name))
    return out


def _flags(quality: pd.DataFrame, cfg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    read = quality["error"].isna().to_numpy()
    with np.errstate(invalid="ignore"):
        blurry = read & (quality["laplacian_var"].to_numpy(np.float64) < cfg.blur_laplacian_var)
        low_jpeg = read & (quality["jpeg_quality"].to_numpy(np.float64) < cfg.jpeg_low_quality)
    return blurry, low_jpeg, read & quality["upscaled"].to_numpy(bool)


def _quality_stats(quality: pd.DataFrame, cfg) -> VisibilityQuality:
    read = quality[quality["error"].isna()]
    blurry, low_jpeg, up = _flags(quality, cfg)
    low = blurry | low_jpeg | up
    jpeg = read["jpeg_quality"].to_numpy(np.float64)
    return VisibilityQuality(
        images=len(read),
        median_laplacian_var=_median(read["laplacian_var"].to_numpy()),
        blurry_images=int(blurry.sum()),
        jpeg_images=int(np.isfinite(jpeg).sum()),
        median_jpeg_quality=_median(jpeg),
        low_jpeg_images=int(low_jpeg.sum()),
        median_top_band_share=_median(read["top_band_share"].to_numpy()),
        upscaled_images=int(up.sum()),
        low_quality_images=int(low.sum()),
        low_quality_share=_share(low.sum(), len(read)),
    )


def _quality_table(quality: pd.DataFrame, cfg) -> pd.DataFrame:
    blurry, low_jpeg, _ = _flags(quality, cfg)
    table = quality.assign(blurry=blurry, low_jpeg=low_jpeg)
    for col, digits in (("laplacian_var", 1), ("top_band_share", 5), ("null_depth", 4)):
        table[col] = table[col].astype(np.float64).round(digits)
    return table.sort_values(["upscaled", "blurry", "low_jpeg"], ascending=False, kind="stable").reset_index(
        drop=True
    )


def _invisible_findings(
    dataset, m, codes, classes, names, invisible, scr_native, sizes, cfg
) -> list[Finding]:
    """One finding per class with enough measured boxes visible natively but not at imgsz."""
    out = []
    for cls in classes:
        if cls.measured < cfg.min_class_boxes or not cls.invisible_share >= cfg.invisible_warn_share:
            continue
        mine = np.flatnonzero((codes == names.index(cls.class_name)) & invisible[:, 0])
        mine = mine[np.argsort(-scr_native[mine], kind="stable")][:MAX_EXAMPLES]
        rows = m.iloc[mine]
        detail = pd.Series([f"native SCR {v:.1f}" for v in scr_native[mine]], index=rows.index)
        curve = ", ".join(
            f"{s}: {_pct(v)}" for s, v in zip(sizes[1:], cls.invisible_share_by_imgsz[1:], strict=True)
        )
        out.append(
            Finding.of(
                "visibility.invisible_at_imgsz",
                f"{cls.invisible_at_imgsz} of {cls.measured} sampled small {cls.class_name} boxes "
                f"({_pct(cls.invisible_share)}) are visible in the image files (SCR >= {cfg.visible_scr:g}) "
                f"but not at imgsz {sizes[0]} (SCR below it, or under {cfg.visible_energy_kept:.0%} "
                f"of their gradient energy kept); median SCR {cls.median_scr_native:.1f} native, "
                f"{cls.median_scr_model:.1f} at {sizes[0]}"
                + (f"; invisible at imgsz {curve}" if curve else ""),
                NAME,
                value=float(cls.invisible_share),
                threshold=float(cfg.invisible_warn_share),
                class_name=cls.class_name,
                examples=label_examples(dataset, rows, detail),
                count=cls.invisible_at_imgsz,
            )
        )
    return out


def _low_quality_finding(quality: pd.DataFrame, q: VisibilityQuality, cfg) -> Finding | None:
    """Blurry, heavily compressed or upscaled images around small objects: a warning from
    low_quality_warn_share, else a note when any image is affected."""
    if not q.low_quality_images:
        return None
    blurry, low_jpeg, up = _flags(quality, cfg)
    bad = np.flatnonzero(blurry | low_jpeg | up)[:MAX_EXAMPLES]
    row = quality.iloc
    examples = tuple(
        f"{row[i]['image']}: Laplacian variance {row[i]['laplacian_var']:.1f}, JPEG quality "
        f"{_q(row[i]['jpeg_quality'])}, top-band share {row[i]['top_band_share']:.4f}"
        for i in bad
    )
    return Finding.of(
        "visibility.low_quality",
        f"{q.low_quality_images} of {q.images} images read around small objects "
        f"({_pct(q.low_quality_share)}) degrade them: {q.blurry_images} blurry (variance of the "
        f"Laplacian below {cfg.blur_laplacian_var:g}), {q.low_jpeg_images} JPEG quality below "
        f"{cfg.jpeg_low_quality:g} (median {_q(q.median_jpeg_quality)}), {q.upscaled_images} "
        "upscaled from a smaller source (spectrum)",
        NAME,
        raised=q.low_quality_share >= cfg.low_quality_warn_share,
        value=float(q.low_quality_share),
        threshold=float(cfg.low_quality_warn_share),
        examples=examples,
        count=q.low_quality_images,
    )


def _pct(share: float) -> str:
    return f"{share:.0%}" if math.isfinite(share) else "n/a"


def _q(value: float) -> str:
    return f"{value:.0f}" if math.isfinite(value) else "n/a"
