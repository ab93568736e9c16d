"""The canonical dataset: one boxes table and one images table, checked when built.

Coordinate convention (stated once, here): boxes are ``x, y, w, h`` in absolute pixels
with a top-left origin, in the image as stored on disk *after* its EXIF orientation is
applied. Every loader converts to this; every analyzer reads only this.

Derived columns (the image size, area, sizes, relative size, size at model input) are not
held: :meth:`Dataset.box_columns` and :meth:`Dataset.selected_boxes` compute the ones asked
for, by the rules of :mod:`sodaudit.box_derived` and nowhere else, so analyzers never disagree
on what "size" means and a COCO-scale table stays ~16 columns; ``with_imgsz`` only changes the
input size they are computed for.

Provenance (``source``) is integers, not a string per box: ``source_file`` is a categorical
whose codes are file ids into the file table ``Dataset.files`` (its categories), and
``source_line`` the 1-based line (text formats) or the element index (COCO ``annotations[i]``),
-1 when unknown; JSON formats add what their element path needs (COCO ``source_id``, the
annotation id; Label Studio, VIA, LabelMe ``source_key``). ``Dataset.source(rows)`` makes the
text (``file:line``, ``file#annotations[61] (id 62)``, ``file#shapes[4]``: the forms of
:mod:`sodaudit.loaders.sources`) for the few rows a list shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.box_derived import BLOCK_ROWS, DERIVED_COLUMNS, derive
from sodaudit.catalogue import spec_of
from sodaudit.text import visible

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
    "region": ("bool", False),  # an ignore region (COCO iscrowd, VisDrone category 0), ignore too
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
    (``annotations[12]``). Either may be absent when the problem is the whole file. The code
    must be in the finding catalogue, which alone gives its severity.
    """

    code: str
    file: str
    reason: str
    line: int | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        spec_of(self.code)  # an uncatalogued code is a bug in sodaudit: raise where it is made

    @property
    def where(self) -> str:
        if self.line is not None:
            return f"{self.file}:{self.line}"
        if self.key is not None:
            return f"{self.file}#{self.key}"
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
        held = [c for c in DERIVED_COLUMNS if c in boxes.columns]
        if held:  # computed when read (box_columns), from one set of rules: never a loader's own
            boxes = boxes.drop(columns=held)
        bad_status = set(images["status"].unique()) - set(IMAGE_STATUSES)
        if bad_status:
            raise ValueError(f"images.status has unknown values {sorted(bad_status)}")
        ids = images["image_id"].to_numpy()
        if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():  # loaders give them sorted, unique
            if images["image_id"].duplicated().any():
                raise ValueError("images.image_id must be unique")
            images = images.sort_values("image_id", kind="stable")
        images = images.reset_index(drop=True)
        # One meaning for ``path``: absolute (or empty when the file cannot be located).
        images["path"] = [_absolute(p) for p in images["path"].tolist()]
        image_ids = images["image_id"].to_numpy()

        box_image = boxes["image_id"].to_numpy()
        if len(box_image) > 1 and not (box_image[1:] >= box_image[:-1]).all():
            boxes = boxes.sort_values(["image_id"], kind="stable")  # loaders mostly give them sorted
            box_image = boxes["image_id"].to_numpy()
        boxes = boxes.reset_index(drop=True)
        pos = _positions(image_ids, box_image)
        if "box_id" in boxes.columns:
            raise ValueError("cannot insert box_id, already exists")
        # Columns are gathered in a dict and the table made once: assigning them one by one
        # (and copying) made pandas consolidate a COCO-scale table several times over.
        columns = {"box_id": np.arange(len(boxes), dtype=np.int64), **_arrays(boxes)}
        # Codes of the 100k image splits, gathered: not a hash of 860k strings.
        image_split = pd.Categorical(images["split"])
        columns["split"] = _used_categories(image_split.codes[pos], image_split.categories)
        # A lone surrogate (an undecodable byte in a names file) cannot be hashed by pandas: the
        # class is named by its visible escape, as every output shows it.
        classes = {cid: visible(str(name)) for cid, name in classes.items()}
        columns["class_name"] = _class_names(boxes["class_id"].to_numpy(), classes)
        images["n_boxes"] = np.bincount(pos, minlength=len(images)).astype(np.int64)
        images["split"] = image_split
        columns["valid"] = _valid(columns)
        boxes = pd.DataFrame(columns, copy=False)
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
        """The same dataset seen by a model with another input size (the model-input columns
        are computed for the dataset's ``imgsz`` when read)."""
        if int(imgsz) == self.imgsz:
            return self
        if imgsz <= 0:
            raise ValueError(f"imgsz must be positive, got {imgsz}")
        return replace(self, imgsz=int(imgsz))

    @property
    def box_column_names(self) -> tuple[str, ...]:
        """Every column :meth:`box_columns` can give: the stored ones, then the derived ones."""
        return (*self.boxes.columns, *DERIVED_COLUMNS)

    def box_columns(self, *names: str, rows: np.ndarray | None = None) -> pd.DataFrame:
        """Columns ``names`` (every column when none is named) of the boxes at positions
        ``rows`` (every box when ``None``), with the box table's index of those rows.

        Stored columns are taken from :attr:`boxes`; derived ones (:data:`DERIVED_COLUMNS`)
        are computed for just these rows, a block of rows at a time, so reading two sizes of
        8.6M boxes holds those two columns and a few ~8 MB blocks, not the whole table.
        """
        names = tuple(dict.fromkeys(names or self.box_column_names))
        if rows is not None:
            rows = np.asarray(rows) if len(rows) else np.zeros(0, dtype=np.intp)
            if rows.dtype.kind not in "iu":  # a mask would index differently in a take
                raise TypeError(f"rows must be integer positions, got {rows.dtype}")
        stored = self.boxes
        unknown = [n for n in names if n not in stored.columns and n not in DERIVED_COLUMNS]
        if unknown:
            raise KeyError(f"no box column {unknown}; there are {list(self.box_column_names)}")
        index = stored.index if rows is None else stored.index[rows]
        derived = self._derived(tuple(n for n in names if n in DERIVED_COLUMNS), rows)
        columns: dict[str, object] = {}
        for name in names:
            if name in derived:
                columns[name] = pd.Series(derived[name], index=index, copy=False)
            elif rows is None:
                columns[name] = stored[name]  # shared with the table, copy-on-write
            else:
                columns[name] = pd.Series(stored[name].array.take(rows), index=index, copy=False)
        return pd.DataFrame(columns, index=index, copy=False)

    def _derived(self, names: tuple[str, ...], rows: np.ndarray | None) -> dict[str, np.ndarray]:
        """The derived columns ``names`` at positions ``rows`` (all when ``None``)."""
        if not names:
            return {}
        b = self.boxes
        count = len(b) if rows is None else len(rows)
        out = {name: np.empty(count, dtype=np.float64) for name in names}
        image_ids = self.images["image_id"].to_numpy()
        sizes = {"img_w": self.images["width"].to_numpy(), "img_h": self.images["height"].to_numpy()}
        box_image = b["image_id"].to_numpy()
        for start in range(0, count, BLOCK_ROWS):
            at = slice(start, start + BLOCK_ROWS)
            picked = at if rows is None else rows[at]
            pos = _positions(image_ids, box_image[picked])

            def read(name: str, picked: object = picked, pos: np.ndarray = pos) -> np.ndarray:
                if name in sizes:
                    return sizes[name][pos]
                return b[name].to_numpy(dtype=np.float64)[picked]

            for name, values in derive(names, read, self.imgsz).items():
                out[name][at] = values
        return out

    def selected_boxes(self, *columns: str) -> pd.DataFrame:
        """Valid, not ignored boxes (original index and order): what most statistics are about.

        Only ``columns`` are taken or computed (every column when none is named): a caller
        reads a few of ~30, so the take costs a few column copies, not a second table (1.5 GB
        at 8.6M boxes). With pandas' copy-on-write, changing the result never changes the
        dataset's table.
        """
        return self.box_columns(*columns, rows=self._selected_rows)

    @cached_property
    def _selected_rows(self) -> np.ndarray | None:
        """Positions of the selected rows; ``None`` when every row is selected."""
        b = self.boxes
        keep = b["valid"].to_numpy() & ~b["ignore"].to_numpy()
        return None if keep.all() else np.flatnonzero(keep)

    @property
    def splits(self) -> list[str]:
        return [str(s) for s in self.images["split"].cat.categories if (self.images["split"] == s).any()]

    @property
    def files(self) -> tuple[str, ...]:
        """The file table: ``boxes.source_file`` codes index into it."""
        return tuple(str(f) for f in self.boxes["source_file"].cat.categories)

    def source(self, rows: pd.DataFrame) -> pd.Series:
        """Where each box row is (``file:line``, ``file#annotations[61] (id 62)``, ...: see
        :mod:`sodaudit.loaders.sources`), for per-label lists a person can act on; strings are
        made only for ``rows`` (rows of ``boxes``, with their index)."""
        from sodaudit.loaders.sources import box_sources  # the loaders import this module

        return pd.Series(box_sources(self, rows), index=rows.index, dtype="str")


def _absolute(path: str) -> str:
    """``os.path.abspath``, keeping the same string object when it is already absolute and
    normal (the common case): a million images then hold their paths once, not twice."""
    if not path:
        return ""
    absolute = os.path.abspath(path)
    return path if absolute == path else absolute


def _conform(
    df: pd.DataFrame,
    required: Mapping[str, str],
    optional: Mapping[str, tuple[str, object]],
    name: str,
) -> pd.DataFrame:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} table is missing columns {missing}")
    out = {col: df[col] for col in df.columns}
    columns = dict(required)
    for col, (dtype, default) in optional.items():
        if col not in out and dtype == "category":  # one category and codes: no string per row
            codes = np.zeros(len(df), dtype=np.int8)
            out[col] = pd.Series(pd.Categorical.from_codes(codes, [default]), index=df.index)
        elif col not in out:
            out[col] = pd.Series(default, index=df.index)
        columns[col] = dtype
    for col, dtype in columns.items():
        try:
            if dtype == "str":
                out[col] = out[col].astype(object).astype(str)
            elif out[col].dtype != dtype:
                out[col] = out[col].astype(dtype)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}.{col} cannot be {dtype}: {err}") from err
    # One new table over the (converted) columns, not a copy of the loader's table.
    return pd.DataFrame(_arrays(out), index=df.index, copy=False)


def _arrays(columns: pd.DataFrame | Mapping[str, pd.Series]) -> dict[str, object]:
    """Column name -> the column as a Series. A table built from these with ``copy=False`` is a
    lazy copy-on-write copy (pandas tracks the shared data; raw arrays would not be tracked, and
    a write into the new table would show in the old one) and is not consolidated."""
    if isinstance(columns, pd.DataFrame):
        return {col: columns[col] for col in columns.columns}
    return dict(columns)


def _positions(image_ids: np.ndarray, box_image: np.ndarray) -> np.ndarray:
    """Row of each box's image in the (sorted, unique) ``image_ids``; every box must have one.

    Loaders number images 0..n-1, so the position is the id itself: no binary search."""
    n = len(image_ids)
    if n and image_ids[0] == 0 and image_ids[-1] == n - 1:  # sorted and unique: exactly 0..n-1
        pos = box_image
        attached = (pos >= 0) & (pos < n)
    else:
        pos = np.searchsorted(image_ids, box_image)
        pos_clipped = np.minimum(pos, max(n - 1, 0))
        attached = (pos < n) & (image_ids[pos_clipped] == box_image)
    if not attached.all():
        raise ValueError("every box must belong to an image in the images table")
    return pos


def _used_categories(codes: np.ndarray, categories: pd.Index) -> pd.Categorical:
    """``Categorical.from_codes(...).remove_unused_categories()`` by counting a few codes,
    not by hashing every row."""
    counts = np.bincount(codes[codes >= 0], minlength=len(categories)) if len(codes) else None
    used = np.zeros(len(categories), dtype=bool) if counts is None else counts > 0
    if used.all():
        return pd.Categorical.from_codes(codes, categories)
    remap = np.cumsum(used) - 1
    new_codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    return pd.Categorical.from_codes(new_codes, categories[used])


_LUT_SPAN = 1 << 20
"""Class ids within a span this wide are looked up in a table (one gather), else hashed."""


def _class_names(class_ids: np.ndarray, classes: Mapping[int, str]) -> pd.Categorical:
    known = list(classes)
    low = int(class_ids.min()) if len(class_ids) else 0
    high = int(class_ids.max()) if len(class_ids) else -1
    if high - low < _LUT_SPAN:  # small ids (always, in practice): presence by counting
        present = np.bincount(class_ids - low, minlength=high - low + 1) > 0
        uniq = np.flatnonzero(present) + low
        inverse = None
    else:
        uniq, inverse = np.unique(class_ids, return_inverse=True)
    extra = sorted(set(uniq.tolist()) - set(known))
    categories = [classes[c] for c in known] + [unknown_class_name(c) for c in extra]
    lookup = {c: i for i, c in enumerate(known + extra)}
    codes_of_uniq = np.array([lookup[int(c)] for c in uniq], dtype=np.int64)
    if not len(class_ids):
        codes = np.array([], dtype=np.int64)
    elif inverse is None:
        table = np.zeros(high - low + 1, dtype=np.int64)
        table[uniq - low] = codes_of_uniq
        codes = table[class_ids - low]
    else:
        codes = codes_of_uniq[inverse]
    # Names may repeat across ids (a dataset defect); keep categories unique.
    unique_categories = list(dict.fromkeys(categories))
    remap = np.array([unique_categories.index(c) for c in categories], dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes] if len(codes) else codes, unique_categories)


def _valid(columns: Mapping[str, object]) -> np.ndarray:
    """A box with finite coordinates and a positive width and height."""
    x, y, w, h = (np.asarray(columns[c], dtype=np.float64) for c in ("x", "y", "w", "h"))
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
