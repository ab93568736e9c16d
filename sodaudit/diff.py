"""``sodaudit diff OLD NEW``: what a review pass changed between two versions of one dataset.

Images are paired by file name (falling back to the file stem, because the same image is
``train/a.jpg`` in COCO, ``train/images/a.jpg`` in YOLO and ``JPEGImages/a.jpg`` in VOC).
Boxes are paired within an image by :mod:`sodaudit.diff_match` (identical labels first, then
an optimal IoU assignment, same class before relabelled); the numbers, tables and findings
come from :mod:`sodaudit.diff_stats`. Classes are compared by name (ids differ across formats).
Boxes of images found in only one version are not counted as added or removed: those images
are reported on their own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from sodaudit.config import DiffConfig
from sodaudit.dataset import Dataset
from sodaudit.diff_match import BoxSide, match_boxes, without
from sodaudit.diff_noise import corner_noise, noise_finding
from sodaudit.diff_stats import NAME, Counts, PairMeasures, card, diff_findings, pair_table, side_table
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.geometry import MAX_PAIRS_PER_IMAGE, OverLimit
from sodaudit.jsonable import jsonable

__all__ = ["DiffConfig", "DiffResult", "diff_datasets", "match_images"]


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


def diff_datasets(
    old: Dataset,
    new: Dataset,
    config: DiffConfig | None = None,
    *,
    max_pairs_per_image: int = MAX_PAIRS_PER_IMAGE,
) -> DiffResult:
    """Compare two versions of one dataset: images by name, boxes by optimal IoU assignment.

    An image pair with more than ``max_pairs_per_image`` candidate box pairs (config
    ``limits.max_pairs_per_image``) is not assigned: its changed labels count as removed and
    added, and a ``diff.pair_limit`` finding names it.
    """
    config = config or DiffConfig()
    img_old, img_new, by_stem = match_images(old.images, new.images)
    names = _class_union(old, new)
    o = BoxSide.of(old, img_old, names)
    n = BoxSide.of(new, img_new, names)
    boxes = match_boxes(o, n, config.match_iou, max_pairs_per_image)
    m_old, m_new, r_old, r_new = boxes.m_old, boxes.m_new, boxes.r_old, boxes.r_new
    removed = without(np.flatnonzero(o.pair >= 0), np.concatenate([m_old, r_old]), len(o.pair))
    added = without(np.flatnonzero(n.pair >= 0), np.concatenate([m_new, r_new]), len(n.pair))
    matched = PairMeasures.measure(o, n, m_old, m_new, config)
    relabelled = PairMeasures.measure(o, n, r_old, r_new, config)

    matched_table = pair_table(o, n, matched, names)
    tables = {
        "added": side_table(n, o, added, names, "new", "old"),
        "removed": side_table(o, n, removed, names, "old", "new"),
        "relabelled": pair_table(o, n, relabelled, names),
        "moved": matched_table[matched.moved].reset_index(drop=True),
        "matched": matched_table,
        "images_only_old": _image_list(old, np.setdiff1d(np.arange(len(old.images)), img_old)),
        "images_only_new": _image_list(new, np.setdiff1d(np.arange(len(new.images)), img_new)),
    }
    # Images with any change: a label added, removed, relabelled, or paired but not identical.
    differs = ~matched.identical | matched.ignore_changed
    changed = np.concatenate([o.pair[removed], n.pair[added], o.pair[r_old], o.pair[m_old[differs]]])
    counts = Counts(o, n, matched, relabelled, removed, added, names, config)
    stats = jsonable(
        {
            "config": asdict(config),
            "old": card(old),
            "new": card(new),
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
    stats["label_noise"] = jsonable(corner_noise(o, n, matched))
    findings = diff_findings(stats, tables, config)
    noise = noise_finding(stats["label_noise"], old.imgsz)
    if noise is not None:
        findings.append(noise)
    if len(boxes.over_limit):
        findings.append(_pair_limit_finding(old, img_old, boxes.over_limit, config, max_pairs_per_image))
    return DiffResult(stats=stats, findings=findings, tables=tables)


def _pair_limit_finding(
    old: Dataset, img_old: np.ndarray, over: OverLimit, config: DiffConfig, limit: int
) -> Finding:
    """Image pairs whose box pairs were not assigned: a finding instead of an OOM."""
    files = old.images["file_name"].astype(str).to_numpy()[img_old[over.image]]
    biggest = np.argsort(-over.candidates, kind="stable")[:MAX_EXAMPLES]
    examples = tuple(
        f"{files[k]}: more than {limit:,} box pairs with IoU >= {config.match_iou:g} "
        f"(at most {int(over.candidates[k]):,})"
        for k in biggest
    )
    k = len(over)
    return Finding.of(
        "diff.pair_limit",
        f"{k} image{'s have' if k != 1 else ' has'} more than {limit:,} box pairs between the versions "
        f"(limits.max_pairs_per_image), e.g. {files[biggest[0]]}: "
        f"{'their' if k != 1 else 'its'} changed labels were not paired and count as removed and added",
        NAME,
        value=float(k),
        threshold=float(limit),
        examples=examples,
        count=k,
    )


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


def _class_union(old: Dataset, new: Dataset) -> list[str]:
    """Class names of both versions, OLD's order first: the shared class code space."""
    names = [str(c) for c in old.boxes["class_name"].cat.categories]
    names += [str(c) for c in new.boxes["class_name"].cat.categories]
    return list(dict.fromkeys(names))
