"""The pixel measurements of the visibility analyzer: pure numpy on grayscale arrays.

Resampling is done the way the trainer does it, as matrices over a crop, in the coordinates of
the whole image (so a crop sees the same sample phase as the full-image resize):

- ``linear``: OpenCV ``INTER_LINEAR``: output pixel ``j`` samples the source at
  ``(j + 0.5) / s - 0.5`` from its two neighbours (no anti-aliasing when shrinking). Ultralytics
  resizes every training image with it (``BaseDataset.load_image``:
  ``interp = cv2.INTER_LINEAR if (self.augment or r > 1) else cv2.INTER_AREA``, the same line as
  YOLOv5's ``LoadImagesAndLabels.load_image``; training sets ``augment``). Pillow's ``BILINEAR``
  widens its filter when shrinking (an anti-aliased triangle), so it is not used here: it keeps
  less aliasing and less detail than what the trainer feeds the model.
- ``area``: OpenCV ``INTER_AREA`` when shrinking (Ultralytics' validation, ``augment`` off): each
  output pixel is the area-weighted mean of the source pixels its footprint covers, which is
  Pillow's ``BOX`` filter. When enlarging (``s >= 1``) ``linear`` is used, as Ultralytics does.

Going back to the native grid ("resample-and-back") is a linear interpolation at the native
pixel centres. Definitions (``I`` a grayscale image, 0..255):

- coverage of a pixel by a box: the overlap of the pixel's unit square with the box, in the
  grid where it is measured (native, or the box times ``s`` at model input).
- ``SCR = |mean_w(box) - mean(ring)| / max(std(ring), MIN_STD)``: the box mean weighted by
  coverage, the ring the crop's pixels with no coverage; NaN when the ring is empty.
- gradient energy ``G(I, R) = sum (I[y, x+1] - I[y, x])^2 + sum (I[y+1, x] - I[y, x])^2`` over
  the pixel pairs with both pixels in ``R``: the native pixels overlapping the box grown by
  ``g = ceil(1 / min(s, 1)) + 1`` px on each side (the object's edges, and the pixels a resize
  by ``s`` spreads them into). ``kept = G(back(down(I)), R) / (min(s, 1) * G(I, R))`` (NaN
  when ``G(I, R) = 0``). The division by ``s``: a straight step edge resampled by ``s < 1``
  and back becomes a ramp about ``1/s`` px wide, which keeps about ``s`` of its squared-gradient
  energy whatever the object's size (the ramp's height is kept, its slope divided by ``1/s``).
  So ``kept`` is near 1 (0.4-0.9 by the edge's sub-pixel phase) for an object many model pixels
  wide, and falls towards 0 when the object, or its texture, is finer than one model pixel
  (its contrast is averaged away, not only its edges spread).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sodaudit.regular import open_binary

MIN_STD = 1.0
"""Floor of the ring's standard deviation in SCR (one grey level, the 8-bit step): a perfectly
flat ring gives a large finite SCR, not a division by zero."""
RING_MIN_MODEL_PX = 3.0
"""The ring is at least this many model-input pixels wide at the plan's scale (and 2 native
pixels), so a 1 px box keeps a ring to compare with after the resize."""
SPECTRUM_SIDE = 512
"""Side of the central crop whose 2-D FFT gives the top-band share (bounded work per image)."""
TOP_BAND = 0.25
"""Top band of the spectrum: max(|fx|, |fy|) >= this many cycles per pixel (the upper half of
each axis' frequencies; an image enlarged 2x or more from a sharper source has almost nothing
there)."""
NULL_FACTORS = (2, 3, 4, 5, 6, 8)
"""Integer upscaling factors whose spectral nulls are looked for (pixel replication or linear
interpolation by ``k`` leaves zeros at multiples of 1/k cycles per pixel)."""
NULL_ROWS = 64
"""Rows (and columns) whose 1-D power spectra are averaged for the null test."""
NULL_SPAN = 960
"""Longest row length used by the null test."""
NULL_MULTIPLE = 120
"""Rows are cut to a multiple of this (a multiple of every factor), so each null falls on a bin."""
NULL_NEIGHBOURS = 3
"""A null's depth compares its bin with this many bins on each side."""

STD_LUMINANCE = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.int64,
)  # fmt: skip
"""The JPEG standard's luminance quantisation table (ITU T.81 Annex K.1), natural order."""


def libjpeg_tables() -> np.ndarray:
    """The luminance table libjpeg writes at each quality 1..100 (rows): ``jpeg_quality_scaling``
    (``5000 / q`` below 50, else ``200 - 2 q``, integer) and ``jpeg_add_quant_table``
    (``(basic * scale + 50) / 100``, clamped to 1..255 for baseline), libjpeg's jcparam.c."""
    q = np.arange(1, 101)
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)
    return np.clip((STD_LUMINANCE[None, :] * scale[:, None] + 50) // 100, 1, 255)


_TABLES = libjpeg_tables()


def jpeg_quality(quantization: dict | None) -> float:
    """The libjpeg quality whose luminance table is closest (sum of absolute differences) to
    the file's table 0, as Pillow gives it (``im.quantization``, natural order); NaN without one."""
    if not quantization or 0 not in quantization:
        return math.nan
    table = np.asarray(list(quantization[0]), dtype=np.int64)
    if table.shape != (64,):
        return math.nan
    err = np.abs(_TABLES - table[None, :]).sum(axis=1)
    return float(np.argmin(err) + 1)


def laplacian(gray: np.ndarray) -> np.ndarray:
    """The 4-neighbour Laplacian of the interior pixels."""
    g = gray
    return g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the Laplacian (low: blurred); NaN below 3x3 pixels."""
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return math.nan
    return float(np.var(laplacian(np.asarray(gray, dtype=np.float64))))


def top_band_share(gray: np.ndarray) -> float:
    """Share of the spectral energy (DC left out) with max(|fx|, |fy|) >= TOP_BAND, on the
    Hann-windowed central crop of at most SPECTRUM_SIDE pixels a side; NaN when flat or tiny."""
    h, w = gray.shape
    if min(h, w) < 16:
        return math.nan
    sh, sw = min(h, SPECTRUM_SIDE), min(w, SPECTRUM_SIDE)
    top, left = (h - sh) // 2, (w - sw) // 2
    g = np.asarray(gray[top : top + sh, left : left + sw], dtype=np.float64)
    g = (g - g.mean()) * (np.hanning(sh)[:, None] * np.hanning(sw)[None, :])
    power = np.abs(np.fft.rfft2(g)) ** 2
    fy = np.abs(np.fft.fftfreq(sh))[:, None]
    fx = np.fft.rfftfreq(sw)[None, :]
    power[0, 0] = 0.0
    total = power.sum()
    if total <= 0:
        return math.nan
    return float(power[np.maximum(fx, fy) >= TOP_BAND].sum() / total)


def _null_depth_1d(rows: np.ndarray) -> tuple[float, int]:
    """The deepest set of spectral nulls over NULL_FACTORS for rows (2-D, one row each), from one
    FFT of the first ``n`` pixels of each row (``n`` a multiple of every factor): the depth of
    factor k is the largest ``P[m n / k] / median(neighbours)`` over m = 1..k/2 (every null must be
    deep; the others mirror these); returns (depth, k) of the deepest factor."""
    n = min(rows.shape[1], NULL_SPAN) // NULL_MULTIPLE * NULL_MULTIPLE
    if n < NULL_MULTIPLE:
        return math.inf, 0
    part = rows[:, :n] - rows[:, :n].mean(axis=1, keepdims=True)
    power = (np.abs(np.fft.rfft(part, axis=1)) ** 2).mean(axis=0)
    best, best_k = math.inf, 0
    for k in NULL_FACTORS:
        depths = []
        for m in range(1, k // 2 + 1):
            b = m * n // k
            near = [
                power[i]
                for i in range(b - NULL_NEIGHBOURS, b + NULL_NEIGHBOURS + 1)
                if i != b and i < len(power)
            ]
            ref = float(np.median(near)) if near else 0.0
            depths.append(power[b] / ref if ref > 0 else math.inf)
        if max(depths) < best:
            best, best_k = max(depths), k
    return best, best_k


def replica_null_depth(gray: np.ndarray) -> tuple[float, int]:
    """Spectral nulls of integer upscaling, along both axes: (depth, factor), the depth being the
    larger of the two axes' (both must show the nulls); ``inf, 0`` when too small."""
    g = np.asarray(gray)  # uint8 or float: only the rows and columns taken are converted
    if min(g.shape) < 16:
        return math.inf, 0
    r = np.linspace(0, g.shape[0] - 1, min(NULL_ROWS, g.shape[0])).astype(np.int64)
    c = np.linspace(0, g.shape[1] - 1, min(NULL_ROWS, g.shape[1])).astype(np.int64)
    dx, kx = _null_depth_1d(g[r, :].astype(np.float64))
    dy, ky = _null_depth_1d(g[:, c].T.astype(np.float64))
    if kx == ky:
        return max(dx, dy), kx
    return math.inf, 0


def looks_upscaled(top_share: float, null_depth: float, cfg) -> bool:
    """An upscaled source: the top band nearly empty (``top_share < cfg.upscaled_top_share``: a
    smooth interpolation) or the nulls of an integer upscale (``null_depth <
    cfg.upscaled_null_depth``: pixel replication). ``cfg`` is the ``visibility`` config section."""
    low_top = math.isfinite(top_share) and top_share < cfg.upscaled_top_share
    return bool(low_top or null_depth < cfg.upscaled_null_depth)


def coverage(lo: float, hi: float, start: int, n: int) -> np.ndarray:
    """Overlap of pixels ``start .. start+n-1`` (unit intervals) with ``[lo, hi)``."""
    j = np.arange(start, start + n, dtype=np.float64)
    return np.clip(np.minimum(j + 1, hi) - np.maximum(j, lo), 0.0, 1.0)


def _linear(src_pos: np.ndarray, n_src: int) -> np.ndarray:
    """Rows of linear-interpolation weights at positions ``src_pos`` (pixel-centre coordinates
    relative to the source's first pixel), clamped at the ends as OpenCV replicates the border."""
    pos = np.clip(src_pos, 0.0, n_src - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_src - 1)
    frac = pos - i0
    m = np.zeros((len(pos), n_src))
    rows = np.arange(len(pos))
    m[rows, i0] = 1.0 - frac
    m[rows, i1] += frac  # i1 == i0 only at the clamped end, where frac is 0
    return m


def _area(start: int, n_src: int, s: float, j0: int, n_out: int) -> np.ndarray:
    """Rows of INTER_AREA weights: each output pixel's footprint ``[j/s, (j+1)/s)`` over the
    source pixels, renormalised where the crop cuts it."""
    j = np.arange(j0, j0 + n_out, dtype=np.float64)[:, None]
    i = np.arange(start, start + n_src, dtype=np.float64)[None, :]
    m = np.clip(np.minimum(i + 1, (j + 1) / s) - np.maximum(i, j / s), 0.0, None)
    sums = m.sum(axis=1, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)


def axis_resample(start: int, n_src: int, s: float, mode: str) -> tuple[np.ndarray, np.ndarray, int]:
    """For the crop ``start .. start+n_src-1`` on one axis: the down matrix (model pixels x crop
    pixels), the back matrix (crop pixels x model pixels) and the first model pixel's index."""
    j0 = math.ceil(start * s - 1e-9)
    j1 = max(math.floor((start + n_src) * s + 1e-9), j0 + 1)
    n_out = j1 - j0
    if mode == "area" and s < 1:
        down = _area(start, n_src, s, j0, n_out)
    else:
        down = _linear((np.arange(j0, j1) + 0.5) / s - 0.5 - start, n_src)
    back = _linear((np.arange(start, start + n_src) + 0.5) * s - 0.5 - j0, n_out)
    return down, back, j0


def scr(img: np.ndarray, cov_y: np.ndarray, cov_x: np.ndarray) -> float:
    """Signal-to-clutter ratio of a box (coverage per axis) in ``img`` against the rest (ring)."""
    weight = cov_y[:, None] * cov_x[None, :]
    total = weight.sum()
    ring = weight <= 0
    if total <= 0 or not ring.any():
        return math.nan
    box_mean = float((weight * img).sum() / total)
    ring_px = img[ring]
    return abs(box_mean - float(ring_px.mean())) / max(float(ring_px.std()), MIN_STD)


def gradient_energy(img: np.ndarray, region: np.ndarray) -> float:
    """Sum of squared horizontal and vertical differences over pixel pairs inside ``region``."""
    dx = np.diff(img, axis=1)
    dy = np.diff(img, axis=0)
    mx = region[:, 1:] & region[:, :-1]
    my = region[1:, :] & region[:-1, :]
    return float((dx[mx] ** 2).sum() + (dy[my] ** 2).sum())


@dataclass
class BoxMeasure:
    """One box: SCR natively and at each scale, gradient energy kept at each scale."""

    scr_native: float
    scr: list[float]
    kept: list[float]


def crop_bounds(box: Sequence[float], width: int, height: int, context: float, ring_px: float) -> tuple:
    """Integer crop ``(x0, y0, x1, y1)``: the box grown on each side by ``context`` times its
    size (at least ``ring_px``), clipped to the image."""
    x, y, w, h = box
    gx, gy = max(context * w, ring_px), max(context * h, ring_px)
    x0, y0 = max(math.floor(x - gx), 0), max(math.floor(y - gy), 0)
    x1, y1 = min(math.ceil(x + w + gx), width), min(math.ceil(y + h + gy), height)
    return x0, y0, x1, y1


def measure_box(gray: np.ndarray, box: Sequence[float], bounds: tuple, scales: Sequence[float], mode: str):
    """SCR and gradient energy kept of one box in the crop ``bounds`` of ``gray`` at each scale."""
    x0, y0, x1, y1 = bounds
    crop = np.asarray(gray[y0:y1, x0:x1], dtype=np.float64)
    x, y, w, h = box
    ny, nx = crop.shape
    native = scr(crop, coverage(y, y + h, y0, ny), coverage(x, x + w, x0, nx))
    scrs, kept = [], []
    for s in scales:
        if not (math.isfinite(s) and s > 0):
            scrs.append(math.nan)
            kept.append(math.nan)
            continue
        dy, by, jy = axis_resample(y0, ny, s, mode)
        dx, bx, jx = axis_resample(x0, nx, s, mode)
        model = dy @ crop @ dx.T
        scrs.append(
            scr(
                model,
                coverage(y * s, (y + h) * s, jy, model.shape[0]),
                coverage(x * s, (x + w) * s, jx, model.shape[1]),
            )
        )
        back = by @ model @ bx.T
        shrink = min(s, 1.0)
        g = math.ceil(1.0 / shrink - 1e-9) + 1
        region = (coverage(y - g, y + h + g, y0, ny) > 0)[:, None] & (coverage(x - g, x + w + g, x0, nx) > 0)[
            None, :
        ]
        g_native = gradient_energy(crop, region)
        kept.append(gradient_energy(back, region) / (shrink * g_native) if g_native > 0 else math.nan)
    return BoxMeasure(native, scrs, kept)


@dataclass
class ImageJob:
    """One image file and its sampled boxes (native x, y, w, h; the scale of each candidate)."""

    path: str
    boxes: np.ndarray
    scales: list[float]
    plan_scale: float
    mode: str
    context: float
    max_crop_side: int


@dataclass
class ImageResult:
    """What one image gave: a measure per box (None when skipped) and the image's quality."""

    error: str | None = None
    boxes: list[BoxMeasure | None] = field(default_factory=list)
    laplacian_var: float = math.nan
    jpeg_quality: float = math.nan
    top_band_share: float = math.nan
    null_depth: float = math.inf
    null_factor: int = 0


def measure_images(jobs: Sequence[ImageJob], progress=None) -> list[ImageResult]:
    """The per-file work: each image opened once (a loop over image files, not boxes); picklable
    for :func:`sodaudit.pool.map_chunks`."""
    out = []
    for done, job in enumerate(jobs, start=1):
        out.append(measure_image(job))
        if progress is not None and done % 50 == 0:
            progress("measuring visibility", done, len(jobs))
    return out


def measure_image(job: ImageJob) -> ImageResult:
    """Open, decode to grayscale (EXIF orientation applied), measure the boxes and the quality."""
    from PIL import Image, ImageOps

    try:
        with open_binary(job.path) as fh, Image.open(fh) as im:
            quality = jpeg_quality(getattr(im, "quantization", None)) if im.format == "JPEG" else math.nan
            gray = np.asarray(ImageOps.exif_transpose(im).convert("L"))  # uint8: crops are converted
    except Exception as err:  # any decode problem: the boxes are skipped, never a traceback
        return ImageResult(error=f"{type(err).__name__}: {err}"[:200])
    height, width = gray.shape
    ring_px = max(RING_MIN_MODEL_PX / job.plan_scale if job.plan_scale > 0 else 0.0, 2.0)
    measures: list[BoxMeasure | None] = []
    laps = []
    for box in job.boxes:  # a loop over the few sampled boxes of this image
        bounds = crop_bounds(box, width, height, job.context, ring_px)
        x0, y0, x1, y1 = bounds
        if x1 - x0 < 3 or y1 - y0 < 3 or max(x1 - x0, y1 - y0) > job.max_crop_side:
            measures.append(None)
            continue
        measures.append(measure_box(gray, box, bounds, job.scales, job.mode))
        laps.append(laplacian(gray[y0:y1, x0:x1].astype(np.float64)).ravel())
    depth, factor = replica_null_depth(gray)
    return ImageResult(
        boxes=measures,
        laplacian_var=float(np.var(np.concatenate(laps))) if laps else math.nan,
        jpeg_quality=quality,
        top_band_share=top_band_share(gray),
        null_depth=depth,
        null_factor=factor,
    )
