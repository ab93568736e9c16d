"""The typed stats of the integrity analyzer: ``analyzers.integrity.stats`` in report.json."""

from __future__ import annotations

from typing import Annotated

import msgspec

from sodaudit.analyzers.integrity_regions import IntegrityIgnoreRegions


class IntegrityDeepDecode(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The full decode of every readable image (``--deep``): the counts only when it ran."""

    ran: bool
    reason: str | None = None
    images_decoded: int | None = None
    failed: int | None = None
    skipped_too_large: int | None = None
    skipped_not_found: int | None = None


class IntegrityImageHash(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Identical image files, by the hash of every readable image file that shares its size with
    another (``images_hashed`` counts every readable one compared): counts when it ran."""

    ran: bool
    reason: str | None = None
    images_hashed: int | None = None
    identical_groups: int | None = None
    identical_images: int | None = None


class IntegrityStats(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Load issues, invalid and duplicate boxes, and images that cannot be used."""

    load_issues: Annotated[dict[str, int], msgspec.Meta(description="load issue code -> count")]
    num_boxes: int
    num_valid_boxes: int
    num_nonfinite_boxes: int
    num_degenerate_boxes: int
    num_outside_image: int
    max_outside_px: float
    num_unknown_class_boxes: int
    num_unknown_class_images: Annotated[
        int, msgspec.Meta(description="images with a box whose class id the class list does not declare")
    ]
    num_unknown_class_orphan_rows: Annotated[
        int | None,
        msgspec.Meta(description="YOLO only: rows with such ids in label files without an image"),
    ] = None
    num_ignored_boxes: int
    ignore_regions: IntegrityIgnoreRegions
    num_area_mismatch: Annotated[
        int | None, msgspec.Meta(description="only when boxes carry a COCO area field")
    ] = None
    num_area_other_coco_bucket: int | None = None
    num_area_exceeds_box: Annotated[
        int | None,
        msgspec.Meta(description="non-crowd boxes whose area field exceeds (1 + area_mismatch_ratio) * w*h"),
    ] = None
    num_duplicates: Annotated[int, msgspec.Meta(description="same-class pairs with IoU >= duplicate_iou")]
    num_duplicate_boxes: Annotated[int, msgspec.Meta(description="boxes a de-duplication would remove")]
    images_over_pair_limit: int
    deep_decode: IntegrityDeepDecode
    images_by_status: dict[str, int]
    background_images: int
    background_share: float
    exif_rotated_images: int
    image_hash: IntegrityImageHash
    num_cross_split_duplicate_groups: Annotated[
        int | None, msgspec.Meta(description="null when the identical-image check did not run")
    ]
    num_cross_split_duplicate_images: int | None
