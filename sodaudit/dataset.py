"""The canonical dataset: one boxes table and one images table, checked when built.

Coordinate convention (stated once, here): boxes are ``x, y, w, h`` in absolute pixels
with a top-left origin, in the image as stored on disk *after* its EXIF orientation is
applied. Every loader converts to this; every analyzer reads only this.

Derived columns (area, sizes, relative size, size at model input) are computed in
``_derive`` and nowhere else, so analyzers never disagree on what "size" means.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

IMAGE_STATUSES = ("ok", "missing", "corrupt", "unreadable-size", "unchecked")
"""``unchecked``: the format carries the size (COCO, VOC) and no image file was looked at."""

BOX_COLUMNS: dict[str, str] = {
    "image_id": "int64",
    "class_id": "int64",
    "x": "float64",
    "y": "float64",
    "w": "float64",
    "h": "float64",
}
BOX_OPTIONAL: dict[str, tuple[str, object]] = {
    "ignore": ("bool", False),
    "source_file": ("category", ""),
    "source_line": ("int64", -1),
    "coco_area": ("float64", np.nan),
}
IMAGE_COLUMNS: dict[str, str] = {
    "image_id": "int64",
    "file_name": "str",
    "path": "str",
    "split": "str",
    "width": "float64",
    "height": "float64",
    "status": "str",
}
IMAGE_OPTIONAL: dict[str, tuple[str, object]] = {
    "exif_rotated": ("bool", False),
    "source_file": ("str", ""),
}


@dataclass(frozen=True)
class LoadIssue:
    """One problem found while reading a file; the integrity analyzer reports these.

    ``line`` is 1-based for text formats; ``key`` locates a JSON element
    (``annotations[12]``). Either may be absent when the problem is the whole file.
    """

    code: str
    file: str
    reason: str
    line: int | None = None
    key: str | None = None
    severity: str = "warning"

    @property
    def where(self) -> str:
        if self.line is not None:
            return f"{self.file}:{self.line}"
        if self.key is not None:
            return f"{self.file} {self.key}"
        return self.file


def unknown_class_name(class_id: int) -> str:
    """Name shown for a class id that the dataset's class list does not declare."""
    return f"<unknown id {class_id}>"


@dataclass(frozen=True)
class Dataset:
    """What every analyzer sees. Build it with :meth:`build`, never directly."""

    root: Path
    format: str
    boxes: pd.DataFrame
    images: pd.DataFrame
    classes: Mapping[int, str]
    issues: tuple[LoadIssue, ...] = ()
    notes: tuple[str, ...] = ()
    imgsz: int = 640
    meta: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        root: Path,
        format: str,
        boxes: pd.DataFrame,
        images: pd.DataFrame,
        classes: Mapping[int, str],
        issues: Iterable[LoadIssue] = (),
        notes: Iterable[str] = (),
        imgsz: int = 640,
        meta: Mapping[str, object] | None = None,
    ) -> Dataset:
        """Check and normalise the loader's tables, then add the derived columns."""
        if imgsz <= 0:
            raise ValueError(f"imgsz must be positive, got {imgsz}")
        images = _conform(images, IMAGE_COLUMNS, IMAGE_OPTIONAL, "images")
        boxes = _conform(boxes, BOX_COLUMNS, BOX_OPTIONAL, "boxes")
        bad_status = set(images["status"].unique()) - set(IMAGE_STATUSES)
        if bad_status:
            raise ValueError(f"images.status has unknown values {sorted(bad_status)}")
        if images["image_id"].duplicated().any():
            raise ValueError("images.image_id must be unique")

        images = images.sort_values("image_id", kind="stable").reset_index(drop=True)
        # One meaning for ``path``: absolute (or empty when the file cannot be located).
        images["path"] = [os.path.abspath(p) if p else "" for p in images["path"].tolist()]
        image_ids = images["image_id"].to_numpy()
        pos = np.searchsorted(image_ids, boxes["image_id"].to_numpy())
        pos_clipped = np.minimum(pos, max(len(image_ids) - 1, 0))
        attached = (pos < len(image_ids)) & (image_ids[pos_clipped] == boxes["image_id"].to_numpy())
        if not attached.all():
            raise ValueError("every box must belong to an image in the images table")

        boxes = boxes.sort_values(["image_id"], kind="stable").reset_index(drop=True)
        pos = np.searchsorted(image_ids, boxes["image_id"].to_numpy())
        boxes.insert(0, "box_id", np.arange(len(boxes), dtype=np.int64))
        boxes["split"] = pd.Categorical(images["split"].to_numpy()[pos])
        boxes["img_w"] = images["width"].to_numpy()[pos]
        boxes["img_h"] = images["height"].to_numpy()[pos]
        classes = dict(classes)
        boxes["class_name"] = _class_names(boxes["class_id"].to_numpy(), classes)
        images["n_boxes"] = np.bincount(pos, minlength=len(images)).astype(np.int64)
        images["split"] = images["split"].astype("category")
        boxes = _derive(boxes, imgsz)
        return cls(
            root=Path(root).absolute(),
            format=format,
            boxes=boxes,
            images=images,
            classes=classes,
            issues=tuple(issues),
            notes=tuple(notes),
            imgsz=int(imgsz),
            meta=dict(meta or {}),
        )

    def with_imgsz(self, imgsz: int) -> Dataset:
        """The same dataset seen by a model with another input size."""
        return replace(self, boxes=_derive(self.boxes, imgsz), imgsz=int(imgsz))

    @property
    def splits(self) -> list[str]:
        return [str(s) for s in self.images["split"].cat.categories if (self.images["split"] == s).any()]

    def source(self, rows: pd.DataFrame) -> pd.Series:
        """``file:line`` of each box row, for per-label lists a person can act on."""
        line = rows["source_line"].astype("int64")
        text = rows["source_file"].astype(str)
        with_line = text + ":" + line.astype(str)
        return with_line.where(line >= 0, text)


def _conform(
    df: pd.DataFrame,
    required: Mapping[str, str],
    optional: Mapping[str, tuple[str, object]],
    name: str,
) -> pd.DataFrame:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} table is missing columns {missing}")
    out = df.copy()
    columns = dict(required)
    for col, (dtype, default) in optional.items():
        if col not in out.columns:
            out[col] = default
        columns[col] = dtype
    for col, dtype in columns.items():
        try:
            out[col] = out[col].astype(object if dtype == "str" else dtype)
            if dtype == "str":
                out[col] = out[col].astype(str)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}.{col} cannot be {dtype}: {err}") from err
    return out


def _class_names(class_ids: np.ndarray, classes: Mapping[int, str]) -> pd.Categorical:
    known = list(classes)
    extra = sorted(set(np.unique(class_ids).tolist()) - set(known))
    categories = [classes[c] for c in known] + [unknown_class_name(c) for c in extra]
    lookup = {c: i for i, c in enumerate(known + extra)}
    uniq, inverse = np.unique(class_ids, return_inverse=True)
    codes_of_uniq = np.array([lookup[int(c)] for c in uniq], dtype=np.int64)
    codes = codes_of_uniq[inverse] if len(class_ids) else np.array([], dtype=np.int64)
    # Names may repeat across ids (a dataset defect); keep categories unique.
    unique_categories = list(dict.fromkeys(categories))
    remap = np.array([unique_categories.index(c) for c in categories], dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes] if len(codes) else codes, unique_categories)


def _derive(boxes: pd.DataFrame, imgsz: int) -> pd.DataFrame:
    """All derived size columns, native and at model input (letterbox to ``imgsz``)."""
    b = boxes.copy()
    w = b["w"].to_numpy(dtype=np.float64)
    h = b["h"].to_numpy(dtype=np.float64)
    img_w = b["img_w"].to_numpy(dtype=np.float64)
    img_h = b["img_h"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        coords = b[["x", "y", "w", "h"]].to_numpy(dtype=np.float64)
        b["valid"] = np.isfinite(coords).all(axis=1) & (w > 0) & (h > 0)
        area = w * h
        b["area"] = area
        b["sqrt_area"] = np.sqrt(np.where(area >= 0, area, np.nan))
        b["short_side"] = np.minimum(w, h)
        b["long_side"] = np.maximum(w, h)
        b["rel_area"] = area / (img_w * img_h)
        scale = imgsz / np.maximum(img_w, img_h)
        b["scale"] = scale
        b["w_model"] = w * scale
        b["h_model"] = h * scale
        b["sqrt_area_model"] = b["sqrt_area"].to_numpy() * scale
        b["short_side_model"] = b["short_side"].to_numpy() * scale
        b["long_side_model"] = b["long_side"].to_numpy() * scale
    return b
