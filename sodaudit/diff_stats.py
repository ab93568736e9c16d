"""Measures, tables, stats and findings of ``sodaudit diff`` from the paired box rows.

Everything is computed from arrays (class codes, never strings per box); the tables list each
changed label with both versions' boxes and sources.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sodaudit.analyzers.sizes import quantile_dict
from sodaudit.config import DiffConfig
from sodaudit.dataset import Dataset
from sodaudit.diff_match import COORDS, BoxSide, box_score, same_box
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.sizepresets import AITOD

NAME = "diff"
QUANTILES = (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100)
IOU_EDGES = tuple(round(0.05 * k, 2) for k in range(21))
SHIFT_EDGES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""Centre-shift histogram: counts[i] is [edges[i], edges[i+1]); the last bucket is >= 32 px."""


@dataclass(frozen=True)
class PairMeasures:
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
    def measure(
        cls, o: BoxSide, n: BoxSide, rows_o: np.ndarray, rows_n: np.ndarray, cfg: DiffConfig
    ) -> PairMeasures:
        a, b = o.xywh[rows_o], n.xywh[rows_n]
        with np.errstate(invalid="ignore", over="ignore"):
            dx = (b[:, 0] + b[:, 2] / 2) - (a[:, 0] + a[:, 2] / 2)
            dy = (b[:, 1] + b[:, 3] / 2) - (a[:, 1] + a[:, 3] / 2)
            shift = np.hypot(dx, dy)
            size = np.sqrt(a[:, 2] * a[:, 3])
            rel = np.where(size > 0, shift / np.where(size > 0, size, 1.0), np.nan)
        iou = box_score(a, b)
        return cls(
            old=rows_o,
            new=rows_n,
            iou=iou,
            shift=shift,
            rel=rel,
            bucket=_bucket_codes(size),
            identical=same_box(a, b),
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


def _columns(side: BoxSide, rows: np.ndarray, names: Sequence[str], prefix: str) -> dict[str, object]:
    images = side.ds.images["file_name"].astype(str).to_numpy(dtype=object)
    return {
        f"{prefix}_image": images[side.img[rows]],
        f"{prefix}_class": pd.Categorical.from_codes(side.cls[rows], categories=list(names)),
        **{f"{prefix}_{c}": side.xywh[rows, k] for k, c in enumerate(COORDS)},
        f"{prefix}_ignore": side.ignore[rows],
        f"{prefix}_source": side.source(rows),
    }


def pair_table(o: BoxSide, n: BoxSide, p: PairMeasures, names: Sequence[str]) -> pd.DataFrame:
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


def side_table(
    this: BoxSide, other: BoxSide, rows: np.ndarray, names: Sequence[str], prefix: str, other_prefix: str
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
class Counts:
    """The numbers of the diff, from the arrays (class codes, never strings per box)."""

    o: BoxSide
    n: BoxSide
    matched: PairMeasures
    relabelled: PairMeasures
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
            sqrt_area = side.ds.box_columns("sqrt_area", rows=np.flatnonzero(valid))["sqrt_area"].to_numpy()
            med = pd.Series(sqrt_area).groupby(side.cls[valid]).median()
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


def diff_findings(stats: dict, tables: dict[str, pd.DataFrame], cfg: DiffConfig) -> list[Finding]:
    """One finding per kind of change, each with examples naming the label in both versions."""
    boxes = stats["boxes"]
    n_old = boxes["old"]
    out: list[Finding] = []

    def add(code: str, message: str, count: int, value, examples, **kw) -> None:
        out.append(Finding.of(code, message, NAME, value=value, examples=examples, count=count, **kw))

    n = boxes["added"]
    if n:
        add(
            "diff.added",
            f"{n} labels were added in NEW ({_pct(n, n_old)} of OLD's {n_old} labels in paired images)",
            n,
            _rate(n, n_old),
            _side_examples(tables["added"], "new", "old"),
        )
    n = boxes["removed"]
    if n:
        add(
            "diff.removed",
            f"{n} of OLD's {n_old} labels in paired images are gone in NEW ({_pct(n, n_old)})",
            n,
            _rate(n, n_old),
            _side_examples(tables["removed"], "old", "new"),
        )
    n = boxes["relabelled"]
    if n:
        add(
            "diff.relabelled",
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
            f"{small['jittered']} of {small['matched']} paired labels of small-object classes "
            f"({', '.join(small['classes'])}) jitter (IoU < {cfg.jitter_iou:g}): {rate:.1%}, "
            f"{'above' if fail else 'within'} the {cfg.small_jitter_fail:.0%} limit; disagreement rate "
            f"on these classes {small['disagreement_rate']:.1%}",
            small["jittered"],
            rate,
            _pair_examples(matched[pick].sort_values("iou", kind="stable")),
            raised=fail,
            threshold=cfg.small_jitter_fail,
        )
    for side, other in (("old", "NEW"), ("new", "OLD")):
        images = tables[f"images_only_{side}"]
        if len(images):
            add(
                f"diff.images_only_{side}",
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


def card(ds: Dataset) -> dict:
    return {
        "path": str(ds.meta.get("origin") or ds.root),
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
