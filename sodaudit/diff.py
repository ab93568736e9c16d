"""``sodaudit diff OLD NEW``: what a review pass changed between two versions of one dataset.

Images are paired by file name (falling back to the file stem, because the same image is
``train/a.jpg`` in COCO, ``train/images/a.jpg`` in YOLO and ``JPEGImages/a.jpg`` in VOC).
Boxes are paired within an image in steps, the cheap ones first:

1. images whose labels are equal in file order (same class, bit-identical ``x, y, w, h``) are
   paired in bulk, position by position, so an unchanged dataset of 10^5 images costs little;
2. in the other images, identical labels in any order, by one vectorised merge;
3. the rest, per image, by an optimal assignment on ``1 - IoU`` within the same class
   (the most pairs with IoU >= ``match_iou`` first, then the largest total IoU);
4. what is still unpaired, by the same assignment across classes: a *relabelled* box is the
   same object (IoU >= ``match_iou``) with another class.

Identical labels are paired before the assignment sees the rest: an unchanged label stays
paired with itself even where a solver over all boxes could trade it for one pair more.

Classes are compared by name (ids differ across formats). Boxes whose coordinates agree within
``SAME_BOX_PX`` count as identical, with IoU 1, even when degenerate (a zero-size box has no
geometric IoU, yet an unchanged one is not a change). Boxes of images found in only one version
are not counted as added or removed: those images are reported on their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from sodaudit.analyzers.sizes import quantile_dict
from sodaudit.config import DiffConfig
from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding, Severity
from sodaudit.geometry import iou_xywh
from sodaudit.jsonable import jsonable
from sodaudit.sizepresets import AITOD

NAME = "diff"
SAME_BOX_PX = 1e-3
"""Coordinates within this many pixels are the same label: absorbs format round-trips (YOLO's
8 normalised decimals are ~1e-5 px), far below any edit a person makes."""
QUANTILES = (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100)
IOU_EDGES = tuple(round(0.05 * k, 2) for k in range(21))
SHIFT_EDGES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""Centre-shift histogram: counts[i] is [edges[i], edges[i+1]); the last bucket is >= 32 px."""
COORDS = ("x", "y", "w", "h")


@dataclass
class DiffResult:
    """``stats`` are plain JSON values; ``tables`` are the per-label lists (both sources)."""

    stats: dict
    findings: list[Finding]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON data: stats, findings, and every change table (``matched`` is left out: it
        lists every unchanged label too; its size is in ``stats``)."""
        return {
            "stats": jsonable(self.stats),
            "findings": [jsonable(f.to_dict()) for f in self.findings],
            "tables": {
                name: jsonable(table.to_dict(orient="records"))
                for name, table in self.tables.items()
                if name != "matched"
            },
        }


def diff_datasets(old: Dataset, new: Dataset, config: DiffConfig | None = None) -> DiffResult:
    """Compare two versions of one dataset: images by name, boxes by optimal IoU assignment."""
    config = config or DiffConfig()
    img_old, img_new, by_stem = match_images(old.images, new.images)
    names = _class_union(old, new)
    o = _Side.of(old, img_old, names)
    n = _Side.of(new, img_new, names)
    m_old, m_new, r_old, r_new = _match_boxes(o, n, len(img_old), config.match_iou)
    removed = _without(np.flatnonzero(o.pair >= 0), np.concatenate([m_old, r_old]), len(o.pair))
    added = _without(np.flatnonzero(n.pair >= 0), np.concatenate([m_new, r_new]), len(n.pair))
    matched = _Pairs.measure(o, n, m_old, m_new, config)
    relabelled = _Pairs.measure(o, n, r_old, r_new, config)

    matched_table = _pair_table(o, n, matched, names)
    tables = {
        "added": _side_table(n, o, added, names, "new", "old"),
        "removed": _side_table(o, n, removed, names, "old", "new"),
        "relabelled": _pair_table(o, n, relabelled, names),
        "moved": matched_table[matched.moved].reset_index(drop=True),
        "matched": matched_table,
        "images_only_old": _image_list(old, np.setdiff1d(np.arange(len(old.images)), img_old)),
        "images_only_new": _image_list(new, np.setdiff1d(np.arange(len(new.images)), img_new)),
    }
    # Images with any change: a label added, removed, relabelled, or paired but not identical.
    differs = ~matched.identical | matched.ignore_changed
    changed = np.concatenate([o.pair[removed], n.pair[added], o.pair[r_old], o.pair[m_old[differs]]])
    counts = _Counts(o, n, matched, relabelled, removed, added, names, config)
    stats = jsonable(
        {
            "config": asdict(config),
            "old": _card(old),
            "new": _card(new),
            "images": {
                "matched": len(img_old),
                "matched_by_name": len(img_old) - by_stem,
                "matched_by_stem": by_stem,
                "only_old": len(tables["images_only_old"]),
                "only_new": len(tables["images_only_new"]),
                "changed": len(np.unique(changed)),
                "unchanged": len(img_old) - len(np.unique(changed)),
                "split_changed": int(
                    (
                        old.images["split"].astype(str).to_numpy()[img_old]
                        != new.images["split"].astype(str).to_numpy()[img_new]
                    ).sum()
                ),
            },
            **counts.stats(),
        }
    )
    findings = _findings(stats, tables, config)
    return DiffResult(stats=stats, findings=findings, tables=tables)


# --- images ---------------------------------------------------------------------------------


def match_images(old_images: pd.DataFrame, new_images: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Pair the rows of two images tables: positions ``(old, new)`` and how many by stem.

    Keys are tried in order on what is still unpaired, each only where it is unique on both
    sides: (split, file name), file name, (split, stem), stem. Split comes first so that
    COCO's bare names repeated across splits still pair; then a name alone pairs an image
    that moved split.
    """
    frames = [
        pd.DataFrame(
            {
                "pos": np.arange(len(images), dtype=np.int64),
                "name": images["file_name"].astype(str).to_numpy(dtype=object),
                "split": images["split"].astype(str).to_numpy(dtype=object),
            }
        )
        for images in (old_images, new_images)
    ]
    rest_o, rest_n = frames
    pos_o, pos_n, by_stem = [], [], 0
    for keys in (["split", "name"], ["name"], ["split", "stem"], ["stem"]):
        if rest_o.empty or rest_n.empty:
            break
        if keys == ["split", "stem"]:  # names only for what is left: cheap when all paired
            rest_o, rest_n = _with_stem(rest_o), _with_stem(rest_n)
        uo = rest_o.drop_duplicates(keys, keep=False)
        un = rest_n.drop_duplicates(keys, keep=False)
        hit = uo[[*keys, "pos"]].merge(un[[*keys, "pos"]], on=keys, suffixes=("_o", "_n"))
        if hit.empty:
            continue
        pos_o.append(hit["pos_o"].to_numpy())
        pos_n.append(hit["pos_n"].to_numpy())
        if "stem" in keys:
            by_stem += len(hit)
        rest_o = rest_o[~rest_o["pos"].isin(hit["pos_o"])]
        rest_n = rest_n[~rest_n["pos"].isin(hit["pos_n"])]
    if not pos_o:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    po, pn = np.concatenate(pos_o), np.concatenate(pos_n)
    order = np.argsort(po, kind="stable")
    return po[order].astype(np.int64), pn[order].astype(np.int64), by_stem


def _with_stem(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the file stem: the name after the last ``/`` or ``\\``, without its extension."""
    base = pd.Series(frame["name"].to_numpy(), dtype=object).str.replace("\\", "/", regex=False)
    base = base.str.rsplit("/", n=1).str[-1]
    stem = base.str.replace(r"(?<=.)\.[^.]*$", "", regex=True)
    return frame.assign(stem=stem.to_numpy(dtype=object))


def _image_list(ds: Dataset, pos: np.ndarray) -> pd.DataFrame:
    im = ds.images.iloc[pos]
    return pd.DataFrame(
        {
            "image": im["file_name"].astype(str).to_numpy(),
            "split": im["split"].astype(str).to_numpy(),
            "num_boxes": im["n_boxes"].to_numpy(dtype=np.int64),
            "source": im["source_file"].astype(str).to_numpy(),
        }
    )


# --- boxes ----------------------------------------------------------------------------------


def _class_union(old: Dataset, new: Dataset) -> list[str]:
    """Class names of both versions, OLD's order first: the shared class code space."""
    names = [str(c) for c in old.boxes["class_name"].cat.categories]
    names += [str(c) for c in new.boxes["class_name"].cat.categories]
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class _Side:
    """One version's boxes as arrays: image pair (-1 when the image is in one version only),
    image position, class code in the shared name space, coordinates, ignore flag."""

    ds: Dataset
    image_pos: np.ndarray
    """Position in ``ds.images`` of each image pair."""
    pair: np.ndarray
    img: np.ndarray
    cls: np.ndarray
    xywh: np.ndarray
    ignore: np.ndarray

    @classmethod
    def of(cls, ds: Dataset, image_pos: np.ndarray, names: Sequence[str]) -> _Side:
        pair_of_image = np.full(len(ds.images), -1, np.int64)
        pair_of_image[image_pos] = np.arange(len(image_pos))
        b = ds.boxes
        img = np.searchsorted(ds.images["image_id"].to_numpy(), b["image_id"].to_numpy()).astype(np.int64)
        code = {n: i for i, n in enumerate(names)}
        cat_codes = np.array([code[str(c)] for c in b["class_name"].cat.categories], dtype=np.int64)
        raw = b["class_name"].cat.codes.to_numpy().astype(np.int64)
        return cls(
            ds=ds,
            image_pos=np.asarray(image_pos, np.int64),
            pair=pair_of_image[img],
            img=img,
            cls=cat_codes[raw] if len(raw) else np.zeros(0, np.int64),
            xywh=b[list(COORDS)].to_numpy(np.float64).reshape(-1, 4),
            ignore=b["ignore"].to_numpy(bool),
        )

    def keys(self, rows: np.ndarray) -> np.ndarray:
        """Exact integer keys of some boxes: pair, class, then the float bits of x, y, w, h
        (-0.0 and 0.0 agree, and every NaN is one NaN)."""
        v = self.xywh[rows] + 0.0
        bits = np.where(np.isnan(v), np.nan, v).view(np.int64)
        return np.column_stack([self.pair[rows], self.cls[rows], bits])

    def in_image_order(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Box rows grouped by image (file order kept), and each image's start and count."""
        order = np.argsort(self.img, kind="stable")  # already sorted by Dataset.build: cheap
        count = np.bincount(self.img, minlength=len(self.ds.images))
        return order, np.cumsum(count) - count, count

    def source(self, rows: np.ndarray) -> np.ndarray:
        """``file:line`` of each box, as ``Dataset.source`` writes it (built from the file
        categories: a million rows take a fraction of a second)."""
        b = self.ds.boxes
        files = b["source_file"]
        if isinstance(files.dtype, pd.CategoricalDtype):
            names = np.asarray(files.cat.categories.astype(str), dtype=object)
            codes = files.cat.codes.to_numpy()[rows]
            file = np.where(codes >= 0, names[np.maximum(codes, 0)] if len(names) else "", "")
        else:
            file = files.astype(str).to_numpy(dtype=object)[rows]
        line = b["source_line"].to_numpy(np.int64)[rows]
        out = [f if k < 0 else f"{f}:{k}" for f, k in zip(file.tolist(), line.tolist(), strict=True)]
        return np.asarray(out, dtype=object).reshape(-1)


def _match_boxes(
    o: _Side, n: _Side, n_pairs: int, match_iou: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row pairs ``(old, new)`` of the same class, then of another class (relabelled)."""
    # 1. Images whose labels are equal in file order (the usual case): paired in bulk,
    #    position by position, without sorting or hashing anything.
    order_o, start_o, count_o = o.in_image_order()
    order_n, start_n, count_n = n.in_image_order()
    even = count_o[o.image_pos] == count_n[n.image_pos]
    ao = order_o[o.pair[order_o] >= 0]
    ao = ao[even[o.pair[ao]]]
    position = np.empty(len(order_o), np.int64)
    position[order_o] = np.arange(len(order_o))
    rank = position[ao] - start_o[o.img[ao]]
    an = order_n[start_n[n.image_pos[o.pair[ao]]] + rank]
    with np.errstate(invalid="ignore"):
        equal = (o.xywh[ao] == n.xywh[an]) | (np.isnan(o.xywh[ao]) & np.isnan(n.xywh[an]))
    differ = ~equal.all(axis=1) | (o.cls[ao] != n.cls[an])
    same_image = even.copy()
    same_image[o.pair[ao[differ]]] = False
    bulk = same_image[o.pair[ao]]
    m_old, m_new = [ao[bulk]], [an[bulk]]

    # 2. In the other images, identical labels (as a multiset: order may differ) by one merge.
    redo = np.append(~same_image, False)  # index -1 (image in one version only): False
    rest_o = np.flatnonzero(redo[o.pair])
    rest_n = np.flatnonzero(redo[n.pair])
    sides = []
    for side, rows in ((o, rest_o), (n, rest_n)):
        k = pd.DataFrame(side.keys(rows), columns=KEY_COLUMNS)
        k["occ"] = k.groupby(KEY_COLUMNS, sort=False).cumcount()
        k["row"] = rows
        sides.append(k)
    exact = sides[0].merge(sides[1], on=[*KEY_COLUMNS, "occ"], suffixes=("_o", "_n"))
    m_old.append(exact["row_o"].to_numpy(np.int64))
    m_new.append(exact["row_n"].to_numpy(np.int64))
    left_o = _without(rest_o, exact["row_o"].to_numpy(), len(o.pair))
    left_n = _without(rest_n, exact["row_n"].to_numpy(), len(n.pair))

    # 3. The rest, per image with leftovers on both sides: optimal assignments. An image with
    #    one leftover on each side (one box edited: the usual case) needs no solver.
    left_o = left_o[np.argsort(o.pair[left_o], kind="stable")]
    left_n = left_n[np.argsort(n.pair[left_n], kind="stable")]
    po, pn = o.pair[left_o], n.pair[left_n]
    both = np.intersect1d(po, pn)
    lo_o, hi_o = np.searchsorted(po, both, "left"), np.searchsorted(po, both, "right")
    lo_n, hi_n = np.searchsorted(pn, both, "left"), np.searchsorted(pn, both, "right")
    single = (hi_o - lo_o == 1) & (hi_n - lo_n == 1)
    ro, rn = left_o[lo_o[single]], left_n[lo_n[single]]
    ok = _score(o.xywh[ro], n.xywh[rn]) >= match_iou
    same_cls = o.cls[ro] == n.cls[rn]
    m_old.append(ro[ok & same_cls])
    m_new.append(rn[ok & same_cls])
    r_old: list[np.ndarray] = [ro[ok & ~same_cls]]
    r_new: list[np.ndarray] = [rn[ok & ~same_cls]]
    for k in np.flatnonzero(~single):  # a loop over images with several edits only
        ro = left_o[lo_o[k] : hi_o[k]]
        rn = left_n[lo_n[k] : hi_n[k]]
        score = _score(o.xywh[ro][:, None, :], n.xywh[rn][None, :, :])
        same_cls = o.cls[ro][:, None] == n.cls[rn][None, :]
        ok = score >= match_iou
        i, j = _assign(score, ok & same_cls)
        m_old.append(ro[i])
        m_new.append(rn[j])
        free_o = np.ones(len(ro), bool)
        free_o[i] = False
        free_n = np.ones(len(rn), bool)
        free_n[j] = False
        i2, j2 = _assign(score, ok & ~same_cls & free_o[:, None] & free_n[None, :])
        r_old.append(ro[i2])
        r_new.append(rn[j2])
    m_old, m_new, r_old, r_new = _cat(m_old), _cat(m_new), _cat(r_old), _cat(r_new)
    by_old, by_old_r = np.argsort(m_old, kind="stable"), np.argsort(r_old, kind="stable")
    return m_old[by_old], m_new[by_old], r_old[by_old_r], r_new[by_old_r]


KEY_COLUMNS = ["pair", "cls", "kx", "ky", "kw", "kh"]


def _without(rows: np.ndarray, drop: np.ndarray, size: int) -> np.ndarray:
    """``rows`` (sorted, unique box rows) minus ``drop``, by a mask: no sorting."""
    keep = np.zeros(size, bool)
    keep[rows] = True
    keep[drop] = False
    return np.flatnonzero(keep)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Coordinates agree within ``SAME_BOX_PX`` (NaN agrees with NaN), elementwise over boxes."""
    with np.errstate(invalid="ignore"):
        close = (np.abs(a - b) <= SAME_BOX_PX) | (np.isnan(a) & np.isnan(b))
    return close.all(axis=-1)


def _score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU, except that identical boxes score 1 even when degenerate."""
    return np.where(_same(a, b), 1.0, iou_xywh(a, b))


def _assign(score: np.ndarray, feasible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal assignment: most feasible pairs, then the largest total score.

    Infeasible pairs cost more than any set of feasible ones could save, so the solver never
    trades a pair for a better IoU elsewhere; they are dropped from its answer.
    """
    if feasible.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.flatnonzero(feasible.any(axis=1))
    cols = np.flatnonzero(feasible.any(axis=0))
    if len(rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    sub = np.ix_(rows, cols)
    big = float(min(len(rows), len(cols)) + 1)
    cost = np.where(feasible[sub], 1.0 - score[sub], big)
    i, j = linear_sum_assignment(cost)
    keep = feasible[sub][i, j]
    return rows[i[keep]].astype(np.int64), cols[j[keep]].astype(np.int64)


# --- measures, tables, stats, findings ------------------------------------------------------


@dataclass(frozen=True)
class _Pairs:
    """Paired labels (old row, new row) and what changed between them, as arrays."""

    old: np.ndarray
    new: np.ndarray
    iou: np.ndarray
    shift: np.ndarray
    """Centre shift in px."""
    rel: np.ndarray
    """Centre shift as a share of OLD's sqrt(area); NaN for a degenerate box."""
    bucket: np.ndarray
    """AITOD bucket code of OLD's native sqrt(area); ``len(AITOD.labels)`` when invalid."""
    identical: np.ndarray
    moved: np.ndarray
    jitter: np.ndarray
    ignore_changed: np.ndarray

    @classmethod
    def measure(cls, o: _Side, n: _Side, rows_o: np.ndarray, rows_n: np.ndarray, cfg: DiffConfig) -> _Pairs:
        a, b = o.xywh[rows_o], n.xywh[rows_n]
        with np.errstate(invalid="ignore", over="ignore"):
            dx = (b[:, 0] + b[:, 2] / 2) - (a[:, 0] + a[:, 2] / 2)
            dy = (b[:, 1] + b[:, 3] / 2) - (a[:, 1] + a[:, 3] / 2)
            shift = np.hypot(dx, dy)
            size = np.sqrt(a[:, 2] * a[:, 3])
            rel = np.where(size > 0, shift / np.where(size > 0, size, 1.0), np.nan)
        iou = _score(a, b)
        return cls(
            old=rows_o,
            new=rows_n,
            iou=iou,
            shift=shift,
            rel=rel,
            bucket=_bucket_codes(size),
            identical=_same(a, b),
            moved=shift >= cfg.moved_px,
            jitter=iou < cfg.jitter_iou,
            ignore_changed=o.ignore[rows_o] != n.ignore[rows_n],
        )


BUCKET_LABELS = (*AITOD.labels, "invalid")


def _bucket_codes(size: np.ndarray) -> np.ndarray:
    """AITOD bucket of each native sqrt(area); the extra last code where it is not a size > 0."""
    size = np.asarray(size, np.float64)
    ok = np.isfinite(size) & (size > 0)
    return np.where(ok, AITOD.codes(np.where(ok, size, 0.0)), len(AITOD.labels))


def _columns(side: _Side, rows: np.ndarray, names: Sequence[str], prefix: str) -> dict[str, object]:
    images = side.ds.images["file_name"].astype(str).to_numpy(dtype=object)
    return {
        f"{prefix}_image": images[side.img[rows]],
        f"{prefix}_class": pd.Categorical.from_codes(side.cls[rows], categories=list(names)),
        **{f"{prefix}_{c}": side.xywh[rows, k] for k, c in enumerate(COORDS)},
        f"{prefix}_ignore": side.ignore[rows],
        f"{prefix}_source": side.source(rows),
    }


def _pair_table(o: _Side, n: _Side, p: _Pairs, names: Sequence[str]) -> pd.DataFrame:
    """Paired labels with both versions' boxes and sources, IoU and centre shift."""
    table = pd.DataFrame({**_columns(o, p.old, names, "old"), **_columns(n, p.new, names, "new")})
    table["iou"] = p.iou
    table["shift_px"] = p.shift
    table["shift_rel"] = p.rel
    table["size_bucket"] = pd.Categorical.from_codes(p.bucket, categories=list(BUCKET_LABELS))
    table["identical"] = p.identical
    table["moved"] = p.moved
    table["jitter"] = p.jitter
    table["ignore_changed"] = p.ignore_changed
    return table


def _side_table(
    this: _Side, other: _Side, rows: np.ndarray, names: Sequence[str], prefix: str, other_prefix: str
) -> pd.DataFrame:
    """Added (NEW side) or removed (OLD side) labels, with the other version's image and file."""
    table = pd.DataFrame(_columns(this, rows, names, prefix))
    other_img = other.ds.images.iloc[other.image_pos[this.pair[rows]]]
    table.insert(1, f"{other_prefix}_image", other_img["file_name"].astype(str).to_numpy(dtype=object))
    table[f"{other_prefix}_file"] = other_img["source_file"].astype(str).to_numpy(dtype=object)
    size = np.sqrt(this.xywh[rows, 2] * this.xywh[rows, 3]) if len(rows) else np.zeros(0)
    table["size_bucket"] = pd.Categorical.from_codes(_bucket_codes(size), categories=list(BUCKET_LABELS))
    return table


@dataclass
class _Counts:
    """The numbers of the diff, from the arrays (class codes, never strings per box)."""

    o: _Side
    n: _Side
    matched: _Pairs
    relabelled: _Pairs
    removed: np.ndarray
    added: np.ndarray
    names: list[str]
    cfg: DiffConfig

    def medians(self) -> list[float | None]:
        """Median native sqrt(area) per class: OLD's valid boxes, NEW's for classes OLD lacks."""
        out: list[float | None] = [None] * len(self.names)
        for side in (self.o, self.n):
            b = side.ds.boxes
            valid = b["valid"].to_numpy()
            med = pd.Series(b["sqrt_area"].to_numpy()[valid]).groupby(side.cls[valid]).median()
            for code, value in med.items():
                if out[int(code)] is None:
                    out[int(code)] = float(value)
        return out

    def stats(self) -> dict:
        cfg, m, r = self.cfg, self.matched, self.relabelled
        k = len(self.names)
        count = lambda codes: np.bincount(codes, minlength=k)  # noqa: E731
        m_cls = self.o.cls[m.old]
        medians = self.medians()
        is_small = np.array([v is not None and v < cfg.small_class_px for v in medians], dtype=bool)
        per = {
            "old": count(self.o.cls[self.o.pair >= 0]),
            "new": count(self.n.cls[self.n.pair >= 0]),
            "matched": count(m_cls),
            "moved": count(m_cls[m.moved]),
            "jittered": count(m_cls[m.jitter]),
            "removed": count(self.o.cls[self.removed]),
            "added": count(self.n.cls[self.added]),
            "relabelled_from": count(self.o.cls[r.old]),
            "relabelled_to": count(self.n.cls[r.new]),
        }
        by_class = {
            name: {
                **{key: int(v[c]) for key, v in per.items()},
                "jitter_rate": _rate(int(per["jittered"][c]), int(per["matched"][c])),
                "median_sqrt_area": medians[c],
                "small": bool(is_small[c]),
            }
            for c, name in enumerate(self.names)
        }
        nb = len(BUCKET_LABELS)
        b_all = np.bincount(m.bucket, minlength=nb)
        b_jit = np.bincount(m.bucket[m.jitter], minlength=nb)
        buckets = {
            label: {
                "matched": int(b_all[i]),
                "jittered": int(b_jit[i]),
                "rate": _rate(int(b_jit[i]), int(b_all[i])),
            }
            for i, label in enumerate(BUCKET_LABELS)
            if label != "invalid" or b_all[i]
        }
        s_m = is_small[m_cls]
        s = {
            "matched": int(s_m.sum()),
            "jittered": int((s_m & m.jitter).sum()),
            "removed": int(is_small[self.o.cls[self.removed]].sum()),
            "added": int(is_small[self.n.cls[self.added]].sum()),
            "relabelled": int((is_small[self.o.cls[r.old]] | is_small[self.n.cls[r.new]]).sum()),
        }
        objects = s["matched"] + s["removed"] + s["added"] + s["relabelled"]
        disagree = s["removed"] + s["added"] + s["relabelled"] + s["jittered"]
        shift_ok = m.shift[np.isfinite(m.shift)]
        return {
            "boxes": {
                "old": int((self.o.pair >= 0).sum()),
                "new": int((self.n.pair >= 0).sum()),
                "in_images_only_old": int((self.o.pair < 0).sum()),
                "in_images_only_new": int((self.n.pair < 0).sum()),
                "matched": len(m.old),
                "identical": int(m.identical.sum()),
                "moved": int(m.moved.sum()),
                "jittered": int(m.jitter.sum()),
                "relabelled": len(r.old),
                "added": len(self.added),
                "removed": len(self.removed),
                "ignore_changed": int(m.ignore_changed.sum() + r.ignore_changed.sum()),
            },
            "iou": {
                "quantiles": quantile_dict(m.iou, QUANTILES),
                "mean": _mean(m.iou),
                "histogram": {"edges": list(IOU_EDGES), "counts": np.histogram(m.iou, bins=IOU_EDGES)[0]},
            },
            "shift_px": {
                "quantiles": quantile_dict(m.shift, QUANTILES),
                "mean": _mean(m.shift),
                "histogram": {
                    "edges": list(SHIFT_EDGES),
                    "counts": np.bincount(np.digitize(shift_ok, SHIFT_EDGES) - 1, minlength=len(SHIFT_EDGES)),
                },
            },
            "shift_rel": {"quantiles": quantile_dict(m.rel, QUANTILES), "mean": _mean(m.rel)},
            "jitter": {
                "threshold": cfg.jitter_iou,
                "matched": len(m.old),
                "jittered": int(m.jitter.sum()),
                "rate": _rate(int(m.jitter.sum()), len(m.old)),
                "by_size_bucket": {
                    "preset": AITOD.name,
                    "measure": "sqrt_area, native px",
                    "buckets": buckets,
                },
                "by_class": {
                    name: {key: by_class[name][key] for key in ("matched", "jittered", "jitter_rate")}
                    for name in self.names
                },
            },
            "small_classes": {
                "threshold_px": cfg.small_class_px,
                "classes": [name for c, name in enumerate(self.names) if is_small[c]],
                **s,
                "jitter_rate": _rate(s["jittered"], s["matched"]),
                "objects": objects,
                "disagreements": disagree,
                "disagreement_rate": _rate(disagree, objects),
            },
            "by_class": by_class,
        }


def _findings(stats: dict, tables: dict[str, pd.DataFrame], cfg: DiffConfig) -> list[Finding]:
    """One finding per kind of change, each with examples naming the label in both versions."""
    boxes = stats["boxes"]
    n_old = boxes["old"]
    out: list[Finding] = []

    def add(code: str, severity: Severity, message: str, count: int, value, examples, **kw) -> None:
        out.append(Finding(code, severity, message, NAME, value=value, examples=examples, count=count, **kw))

    n = boxes["added"]
    if n:
        add(
            "diff.added",
            Severity.INFO,
            f"{n} labels were added in NEW ({_pct(n, n_old)} of OLD's {n_old} labels in paired images)",
            n,
            _rate(n, n_old),
            _side_examples(tables["added"], "new", "old"),
        )
    n = boxes["removed"]
    if n:
        add(
            "diff.removed",
            Severity.WARNING,
            f"{n} of OLD's {n_old} labels in paired images are gone in NEW ({_pct(n, n_old)})",
            n,
            _rate(n, n_old),
            _side_examples(tables["removed"], "old", "new"),
        )
    n = boxes["relabelled"]
    if n:
        add(
            "diff.relabelled",
            Severity.WARNING,
            f"{n} labels changed class (the same object, IoU >= {cfg.match_iou:g}, with another class)",
            n,
            _rate(n, n_old),
            _pair_examples(tables["relabelled"]),
        )
    n, m = boxes["moved"], boxes["matched"]
    if n:
        moved = tables["moved"]
        add(
            "diff.moved",
            Severity.INFO,
            f"{n} of {m} paired labels moved by {cfg.moved_px:g} px or more "
            f"(median centre shift {float(np.median(moved['shift_px'])):.2f} px)",
            n,
            _rate(n, m),
            _pair_examples(moved.sort_values("shift_px", ascending=False, kind="stable")),
        )
    n = boxes["ignore_changed"]
    if n:
        both = pd.concat([tables["matched"], tables["relabelled"]], ignore_index=True)
        add(
            "diff.ignore_changed",
            Severity.INFO,
            f"{n} paired labels changed their ignore flag (crowd / difficult; YOLO cannot express it)",
            n,
            _rate(n, n_old),
            _pair_examples(both[both["ignore_changed"].to_numpy()]),
        )
    small = stats["small_classes"]
    rate = small["jitter_rate"]
    if small["jittered"]:
        fail = rate > cfg.small_jitter_fail
        matched = tables["matched"]
        pick = matched["jitter"].to_numpy() & matched["old_class"].isin(small["classes"]).to_numpy()
        add(
            "diff.jitter_small_classes",
            Severity.ERROR if fail else Severity.INFO,
            f"{small['jittered']} of {small['matched']} paired labels of small-object classes "
            f"({', '.join(small['classes'])}) jitter (IoU < {cfg.jitter_iou:g}): {rate:.1%}, "
            f"{'above' if fail else 'within'} the {cfg.small_jitter_fail:.0%} limit; disagreement rate "
            f"on these classes {small['disagreement_rate']:.1%}",
            small["jittered"],
            rate,
            _pair_examples(matched[pick].sort_values("iou", kind="stable")),
            threshold=cfg.small_jitter_fail,
        )
    for side, other in (("old", "NEW"), ("new", "OLD")):
        images = tables[f"images_only_{side}"]
        if len(images):
            add(
                f"diff.images_only_{side}",
                Severity.WARNING,
                f"{len(images)} images of {side.upper()} are not in {other} (by file name or stem); "
                f"their {int(images['num_boxes'].sum())} labels are not compared",
                len(images),
                None,
                tuple(
                    f"{side.upper()} {s or i}: {i}"
                    for s, i in zip(images["source"], images["image"], strict=True)
                )[:MAX_EXAMPLES],
            )
    return out


def _box_text(t: pd.Series, side: str) -> str:
    return f"({_n(t[f'{side}_x'])}, {_n(t[f'{side}_y'])}, {_n(t[f'{side}_w'])}, {_n(t[f'{side}_h'])})"


def _pair_examples(table: pd.DataFrame) -> tuple[str, ...]:
    """``OLD src [class] box -> NEW src [class] box, shift, IoU`` for the first pairs."""
    out = []
    for _, t in table.head(MAX_EXAMPLES).iterrows():
        out.append(
            f"OLD {t['old_source']} [{t['old_class']}] {_box_text(t, 'old')} -> "
            f"NEW {t['new_source']} [{t['new_class']}] {_box_text(t, 'new')}: "
            f"shift {t['shift_px']:.2f} px, IoU {t['iou']:.3f}"
        )
    return tuple(out)


def _side_examples(table: pd.DataFrame, side: str, other: str) -> tuple[str, ...]:
    """An added or removed label with its source and where the other version has nothing."""
    out = []
    for _, t in table.head(MAX_EXAMPLES).iterrows():
        other_where = t[f"{other}_file"] or t[f"{other}_image"]
        out.append(
            f"{side.upper()} {t[f'{side}_source']} [{t[f'{side}_class']}] {_box_text(t, side)}; "
            f"{other.upper()} {other_where} has no such label"
        )
    return tuple(out)


def _card(ds: Dataset) -> dict:
    return {
        "path": str(ds.root),
        "format": ds.format,
        "num_images": len(ds.images),
        "num_boxes": len(ds.boxes),
    }


def _rate(n: int, total: int) -> float | None:
    return n / total if total else None


def _pct(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "n/a"


def _mean(values: np.ndarray) -> float | None:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def _n(value: float) -> str:
    return f"{value:g}" if math.isfinite(value) else str(value)
