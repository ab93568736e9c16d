"""Bucket counts of the sizes analyzer: each size preset in native pixels and at model input, and
COCOeval's own buckets by the COCO ``area`` field (``analyzers.sizes.stats.buckets``)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Annotated

import msgspec
import numpy as np
import pandas as pd

from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.sizepresets import AITOD, COCO, SODA, TINYPERSON, bucket_counts

COCOEVAL_AREA_RANGES: dict[str, tuple[float, float]] = {
    "small": (0.0**2, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
"""pycocotools ``Params.setDetParams`` ``areaRng`` (without ``all``). ``COCOeval.evaluateImg``
ignores a ground truth in a range when ``g['ignore'] or g['area'] < lo or g['area'] > hi``:
both bounds are inclusive, so an area of exactly 32² counts as small and as medium."""


class SizesBucketCounts(msgspec.Struct, kw_only=True):
    """Boxes per bucket of a size preset (the base of each preset's counts)."""

    def as_dict(self) -> dict[str, int]:
        """Bucket name -> count, in the preset's order."""
        return msgspec.structs.asdict(self)


class SizesCocoBuckets(SizesBucketCounts, kw_only=True):
    """COCO buckets by w*h: small < 32², medium < 96², large the rest."""

    small: Annotated[int, msgspec.Meta(description="boxes with w*h < 32²")]
    medium: Annotated[int, msgspec.Meta(description="boxes with 32² <= w*h < 96²")]
    large: Annotated[int, msgspec.Meta(description="boxes with w*h >= 96²")]


class SizesCocoAreaBuckets(SizesBucketCounts, kw_only=True):
    """COCOeval's buckets by the ``area`` field, as pycocotools counts them: non-crowd ground
    truth of a declared category with lo <= area <= hi (both bounds inclusive)."""

    small: Annotated[int, msgspec.Meta(description="non-crowd boxes with 0 <= area <= 32²")]
    medium: Annotated[int, msgspec.Meta(description="non-crowd boxes with 32² <= area <= 96²")]
    large: Annotated[int, msgspec.Meta(description="non-crowd boxes with 96² <= area <= 1e5²")]


class SizesAitodBuckets(SizesBucketCounts, kw_only=True):
    """AI-TOD buckets by sqrt(area): very_tiny < 8, tiny < 16, small < 32, other the rest."""

    very_tiny: int
    tiny: int
    small: int
    other: int


class SizesTinypersonBuckets(SizesBucketCounts, kw_only=True):
    """TinyPerson buckets by sqrt(area): below_2, tiny1 [2,8), tiny2 [8,12), tiny3 [12,20),
    small [20,32), other the rest."""

    below_2: int
    tiny1: int
    tiny2: int
    tiny3: int
    small: int
    other: int


class SizesSodaBuckets(SizesBucketCounts, kw_only=True):
    """SODA buckets by sqrt(area) (Cheng et al., TPAMI 2023): eS < 12, rS [12,20), gS [20,32),
    normal the rest."""

    eS: Annotated[int, msgspec.Meta(description="extremely small: sqrt(w*h) < 12")]
    rS: Annotated[int, msgspec.Meta(description="relatively small: 12 <= sqrt(w*h) < 20")]
    gS: Annotated[int, msgspec.Meta(description="generally small: 20 <= sqrt(w*h) < 32")]
    normal: Annotated[int, msgspec.Meta(description="sqrt(w*h) >= 32")]


class SizesBuckets(msgspec.Struct, kw_only=True):
    """Bucket counts of each size preset in native pixels, and COCOeval's by the area field."""

    coco: Annotated[
        SizesCocoBuckets,
        msgspec.Meta(description="valid non-ignore boxes by w*h in native pixels: < 32², < 96², the rest"),
    ]
    aitod: SizesAitodBuckets
    tinyperson: SizesTinypersonBuckets
    soda: SizesSodaBuckets
    relative: Annotated[
        dict[str, int],
        msgspec.Meta(description="boxes by area relative to the image, bounds in relative_bounds"),
    ]
    relative_bounds: list[float]
    coco_area: Annotated[
        SizesCocoAreaBuckets | None,
        msgspec.Meta(
            description="COCOeval's own buckets by the COCO area field (inclusive bounds, crowd "
            "ignored); null when the dataset has no area field"
        ),
    ] = None


class SizesBucketsModel(msgspec.Struct, kw_only=True):
    """Bucket counts at model input (boxes of images with a known size)."""

    coco: SizesCocoBuckets
    aitod: SizesAitodBuckets
    soda: SizesSodaBuckets


def relative_keys(bounds: Sequence[float]) -> list[str]:
    """Bucket names of the relative preset, in percent of the image area."""
    pct = [f"{b * 100:g}%" for b in bounds]
    keys = [f"<{pct[0]}"] if pct else []
    keys += [f"[{a},{b})" for a, b in pairwise(pct)]
    keys += [f">={pct[-1]}"] if pct else ["all"]
    return keys


def buckets_native(dataset: Dataset, sel: pd.DataFrame, config: Config) -> SizesBuckets:
    """Each preset over the selected boxes ``sel`` (columns ``area``, ``sqrt_area``,
    ``rel_area``), and COCOeval's buckets over the whole box table of ``dataset``."""
    bounds = sorted(config.sizes.relative_area_bounds)
    relative = bucket_counts(sel["rel_area"].to_numpy(), bounds)
    sqrt_area = sel["sqrt_area"].to_numpy()
    return SizesBuckets(
        # COCO by w*h (``area``) exactly, as the stable key promises.
        coco=SizesCocoBuckets(**COCO.counts(sel["area"].to_numpy())),
        aitod=SizesAitodBuckets(**AITOD.counts(sqrt_area)),
        # below_2: TinyPerson leaves objects under 2 px out of its tiny ranges.
        tinyperson=SizesTinypersonBuckets(**TINYPERSON.counts(sqrt_area)),
        soda=SizesSodaBuckets(**SODA.counts(sqrt_area)),
        relative=dict(zip(relative_keys(bounds), relative.tolist(), strict=True)),
        relative_bounds=[float(b) for b in bounds],
        coco_area=coco_area_buckets(dataset),
    )


def coco_area_buckets(dataset: Dataset) -> SizesCocoAreaBuckets | None:
    """COCOeval's small/medium/large by the ``area`` field, None when no box carries one.

    The ground truth COCOeval evaluates: every box of a declared category (``catIds`` are the
    categories of the file), valid or not (COCOeval never looks at w or h for the buckets),
    except crowd (``ignore``) boxes, which it ignores in every range. A box counts in each range
    with lo <= area <= hi (:data:`COCOEVAL_AREA_RANGES`).
    """
    b = dataset.boxes
    area = b["coco_area"].to_numpy(np.float64)
    has_area = np.isfinite(area)
    if not has_area.any():
        return None
    declared = np.isin(b["class_id"].to_numpy(), list(dataset.classes))
    area = area[has_area & declared & ~b["ignore"].to_numpy(bool)]
    return SizesCocoAreaBuckets(
        **{
            name: int(np.count_nonzero((area >= lo) & (area <= hi)))
            for name, (lo, hi) in COCOEVAL_AREA_RANGES.items()
        }
    )


__all__ = [
    "COCOEVAL_AREA_RANGES",
    "SizesAitodBuckets",
    "SizesBucketCounts",
    "SizesBuckets",
    "SizesBucketsModel",
    "SizesCocoAreaBuckets",
    "SizesCocoBuckets",
    "SizesSodaBuckets",
    "SizesTinypersonBuckets",
    "buckets_native",
    "coco_area_buckets",
    "relative_keys",
]
