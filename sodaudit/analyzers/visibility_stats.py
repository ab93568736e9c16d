"""The typed stats of the visibility analyzer: ``analyzers.visibility.stats`` in report.json.

Definitions (SCR, gradient energy kept, the resampling) are in
:mod:`sodaudit.analyzers.visibility_pixels`; thresholds in ``[visibility]`` of the config.
"""

from __future__ import annotations

import msgspec


class VisibilityCurvePoint(msgspec.Struct, kw_only=True):
    """The measured boxes at one candidate input size."""

    imgsz: int
    """Candidate model input size (the current one first)."""
    factor: float
    """imgsz over the configured imgsz."""
    invisible_share: float
    """Share of the measured boxes visible natively but not at this imgsz."""
    visible_share: float
    """Share of the measured boxes visible at this imgsz."""
    median_scr: float
    """Median SCR at this imgsz (on the model-input grid)."""
    median_energy_kept: float
    """Median gradient energy kept after resample-and-back, over the scale (near 1 for an object
    many model pixels wide; see :mod:`sodaudit.analyzers.visibility_pixels`)."""


class VisibilityClass(msgspec.Struct, kw_only=True):
    """One class: its small boxes, the measured sample, what stays visible, image quality."""

    class_name: str
    small_boxes: int
    """Valid non-ignore boxes of the class whose short side at imgsz is below small_side_px."""
    measured: int
    """Boxes of the seeded sample whose crop was read and measured."""
    visible_native: int
    """Measured boxes visible at native resolution."""
    invisible_at_imgsz: int
    """Measured boxes visible natively but not at imgsz."""
    invisible_share: float
    """invisible_at_imgsz over measured (NaN when none was measured)."""
    invisible_share_by_imgsz: list[float]
    """The same share at each of ``candidate_imgsz``, in order."""
    median_scr_native: float
    """Median SCR of the measured boxes at native resolution."""
    median_scr_model: float
    """Median SCR at imgsz (on the model-input grid)."""
    median_energy_kept: float
    """Median gradient energy kept at imgsz (scale-normalised: near 1 for a large object)."""
    median_laplacian_var: float
    """Median, over the measured boxes, of their image's variance of the Laplacian near small
    boxes."""
    median_jpeg_quality: float
    """Median, over the measured boxes in JPEG files, of their image's estimated quality (NaN:
    no JPEG)."""
    blurry_share: float
    """Share of the measured boxes in images below blur_laplacian_var."""
    low_jpeg_share: float
    """Share of the measured boxes in JPEG files below jpeg_low_quality."""
    upscaled_share: float
    """Share of the measured boxes in images flagged as upscaled."""


class VisibilityQuality(msgspec.Struct, kw_only=True):
    """Image quality of the images read (those holding a measured box)."""

    images: int
    """Images read and measured."""
    median_laplacian_var: float
    """Median per-image variance of the 4-neighbour Laplacian over the crops around its sampled
    small boxes (grey levels squared)."""
    blurry_images: int
    """Images whose variance of the Laplacian is below blur_laplacian_var."""
    jpeg_images: int
    """Images that are JPEG files with a luminance quantisation table."""
    median_jpeg_quality: float
    """Median libjpeg quality estimated from the luminance table (NaN: no JPEG)."""
    low_jpeg_images: int
    """JPEG images whose estimated quality is below jpeg_low_quality."""
    median_top_band_share: float
    """Median share of spectral energy with max(|fx|, |fy|) >= 0.25 cycles/px (central
    512 px crop, Hann window, DC left out)."""
    upscaled_images: int
    """Images flagged as upscaled: top-band share below upscaled_top_share, or the spectral
    nulls of an integer upscale (depth below upscaled_null_depth along both axes)."""
    low_quality_images: int
    """Images blurry, low-quality JPEG or upscaled (any of the three)."""
    low_quality_share: float
    """low_quality_images over images."""


class VisibilityStats(msgspec.Struct, kw_only=True):
    """Whether small objects visible in the image files stay visible at model input (--pixels).

    ``status`` is ``ok`` or ``not_run`` (``reason`` says why: pixel analyses off, no small box,
    no readable image); when not run the counts are 0, the lists empty and ``quality`` null.
    """

    status: str
    """``ok`` or ``not_run``."""
    reason: str | None = None
    """Why it was not run (null when it ran)."""
    imgsz: int
    """The configured model input size (the first of candidate_imgsz)."""
    resample: str
    """``linear`` (OpenCV INTER_LINEAR, what Ultralytics trains with) or ``area`` (INTER_AREA
    when shrinking, what it validates with)."""
    small_side_px: float
    """Boxes whose short side at imgsz is below this are the small boxes measured (default: the
    model's smallest stride)."""
    visible_scr: float
    """A box is visible when its SCR reaches this (native and at an input size) ..."""
    visible_energy_kept: float
    """... and, at an input size, its gradient energy kept reaches this."""
    candidate_imgsz: list[int]
    """The input sizes of the curve: imgsz times each of candidate_factors, multiples of 32."""
    small_boxes: int = 0
    """Valid non-ignore boxes below small_side_px at imgsz."""
    sampled: int = 0
    """Small boxes drawn (seeded; at most max_boxes_per_class per class, max_boxes in all, in at
    most max_images images)."""
    measured: int = 0
    """Sampled boxes whose crop was read and measured."""
    skipped_boxes: int = 0
    """Sampled boxes not measured: image unreadable or outside the dataset folder, crop larger
    than max_crop_side or smaller than 3 px."""
    images_failed: int = 0
    """Images that could not be opened or decoded (their boxes are skipped)."""
    visible_native: int = 0
    """Measured boxes visible at native resolution (SCR >= visible_scr)."""
    invisible_at_imgsz: int = 0
    """Measured boxes visible natively but not at imgsz."""
    invisible_share: float = 0.0
    """invisible_at_imgsz over measured."""
    curve: list[VisibilityCurvePoint] = []
    """One point per candidate imgsz."""
    classes: list[VisibilityClass] = []
    """Classes with small boxes, most invisible first."""
    quality: VisibilityQuality | None = None
