"""``sodaudit sample``: a fixed, reproducible slice of images for a labelling review.

Labelling-quality guides ask for a regular review slice biased toward where labels go wrong
rather than a uniform draw: for small objects that is where labels are tiny, where objects crowd
one grid cell, where classes meet, where the label file itself is defective, and where the image
is poor. Each image's reasons come from the audit's own per-label tables (the same rows the
report lists), so the sample and the report agree; the weights are named constants below.

The draw is weighted sampling without replacement (``numpy.random.Generator.choice`` with
``p``): the same dataset, ``n`` and ``seed`` give the same images.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import ImageDraw

from sodaudit.report import AuditReport

REASON_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "small labels": (("subthreshold", "labels"),),
    "crowded": (("strides", "center_collisions"),),
    "class boundary": (("class_overlap", "cross_class_pairs"), ("class_overlap", "nms_suppressed_pairs")),
    "label defects": (
        ("integrity", "degenerate_box"),
        ("integrity", "box_outside_image"),
        ("integrity", "duplicate_box"),
    ),
    "low quality": (("visibility", "low_quality_images"),),
}
"""Each reason and the audit tables (analyzer, table) whose rows name the images it applies to."""
REASON_WEIGHTS: dict[str, float] = {
    "small labels": 3.0,
    "crowded": 2.0,
    "class boundary": 2.0,
    "label defects": 2.0,
    "low quality": 1.5,
}
"""Added to an image's base weight of 1 per reason it has: an image with sub-threshold labels is
drawn about 4x as often as one with none, so a 300-image slice still holds ordinary images
(a reviewer needs them to see the policy applied where it is easy)."""
THUMB_PX = 256
"""Long side of a contact-sheet thumbnail."""
OUTLINE = (255, 0, 170)
OTHER = (0, 200, 255)


@dataclass(frozen=True)
class SampledImage:
    image: str
    split: str
    weight: float
    reasons: tuple[str, ...]
    labels: int
    small_labels: int


def image_reasons(report: AuditReport) -> pd.DataFrame:
    """Per image (file name): one 0/1 column per reason, ``labels`` and ``small_labels``."""
    images = report.dataset.images
    out = pd.DataFrame({"image": images["file_name"].astype(str), "split": images["split"].astype(str)})
    out["labels"] = images["n_boxes"].to_numpy()
    counts: dict[str, pd.Series] = {}
    for reason, sources in REASON_TABLES.items():
        named = [_images_of(report, analyzer, table) for analyzer, table in sources]
        rows = pd.concat(named) if named else pd.Series(dtype=object)
        counts[reason] = rows.value_counts()
    for reason, per_image in counts.items():
        out[reason] = out["image"].map(per_image).fillna(0).astype(np.int64)
    out["small_labels"] = out["small labels"]
    return out


def _images_of(report: AuditReport, analyzer: str, table: str) -> pd.Series:
    result = report.analyzers.get(analyzer)
    df = None if result is None else result.tables.get(table)
    if df is None or "image" not in df:
        return pd.Series(dtype=object)
    return df["image"].astype(str)


def weights_of(reasons: pd.DataFrame) -> np.ndarray:
    """1 plus the weight of each reason the image has (counts only say whether it has it)."""
    weight = np.ones(len(reasons))
    for reason, extra in REASON_WEIGHTS.items():
        weight += extra * (reasons[reason].to_numpy() > 0)
    return weight


def draw_sample(report: AuditReport, n: int, seed: int) -> list[SampledImage]:
    """``n`` images (all, when there are fewer), drawn without replacement with probability
    proportional to :func:`weights_of`; ordered by weight, then name, for the reviewer."""
    reasons = image_reasons(report)
    weight = weights_of(reasons)
    k = min(n, len(reasons))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(reasons), size=k, replace=False, p=weight / weight.sum()) if k else []
    rows = np.sort(np.asarray(chosen, dtype=np.int64))
    picked = reasons.iloc[rows].assign(weight=weight[rows])
    picked = picked.sort_values(["weight", "image"], ascending=[False, True], kind="stable")
    names = list(REASON_WEIGHTS)
    return [
        SampledImage(
            image=row["image"],
            split=row["split"],
            weight=float(row["weight"]),
            reasons=tuple(r for r in names if row[r] > 0),
            labels=int(row["labels"]),
            small_labels=int(row["small_labels"]),
        )
        for _, row in picked.iterrows()  # a loop over the sampled images (at most MAX_SAMPLE)
    ]


def sample_table(sample: Sequence[SampledImage]) -> pd.DataFrame:
    """The CSV: image, split, reasons (``;``-separated), weight, labels, small_labels."""
    return pd.DataFrame(
        {
            "image": [s.image for s in sample],
            "split": [s.split for s in sample],
            "reasons": [";".join(s.reasons) for s in sample],
            "weight": [s.weight for s in sample],
            "labels": [s.labels for s in sample],
            "small_labels": [s.small_labels for s in sample],
        }
    )


def thumbnails(report: AuditReport, sample: Sequence[SampledImage]) -> dict[str, str]:
    """Image name -> JPEG data URI of a thumbnail with the small labels outlined in magenta and
    the others in cyan; images that cannot be read (or lead outside the dataset) are left out."""
    from sodaudit.gallery import open_rgb  # Pillow work: only for the contact sheet

    ds = report.dataset
    images = ds.images.set_index(ds.images["file_name"].astype(str))
    small = _small_box_ids(report)
    boxes = ds.boxes[ds.boxes["valid"]]
    by_image = dict(tuple(boxes.groupby("image_id", sort=False)))
    out: dict[str, str] = {}
    for item in sample:  # a loop over the sampled images, each opened once
        row = images.loc[item.image] if item.image in images.index else None
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        im = None if row is None else open_rgb(str(row["path"]), str(ds.root))
        if im is None:
            continue
        scale = THUMB_PX / max(im.width, im.height)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))))
        draw = ImageDraw.Draw(im)
        mine = by_image.get(row["image_id"])
        if mine is not None:
            for box_id, x, y, w, h in mine[["box_id", "x", "y", "w", "h"]].itertuples(index=False):
                colour = OUTLINE if box_id in small else OTHER
                x0, y0 = x * scale, y * scale
                x1, y1 = max(x0 + 1, (x + w) * scale), max(y0 + 1, (y + h) * scale)
                draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), outline=colour, width=1 + (box_id in small))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=80)
        out[item.image] = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return out


def _small_box_ids(report: AuditReport) -> set[int]:
    """Box ids of the labels the subthreshold analyzer lists (its rules, not a copy of them):
    its table names each label by image and box, matched here to the box table."""
    result = report.analyzers.get("subthreshold")
    table = None if result is None else result.tables.get("labels")
    if table is None or table.empty:
        return set()
    listed = table[["image", "x", "y", "w", "h"]]
    b = report.dataset.boxes
    names = report.dataset.images.set_index("image_id")["file_name"].astype(str)
    boxes = pd.DataFrame(
        {
            "box_id": b["box_id"],
            "image": b["image_id"].map(names),
            "x": b["x"],
            "y": b["y"],
            "w": b["w"],
            "h": b["h"],
        }
    )
    return set(boxes.merge(listed, on=["image", "x", "y", "w", "h"])["box_id"].tolist())


def contact_sheet(report: AuditReport, sample: Sequence[SampledImage], seed: int) -> str:
    """The HTML contact sheet, rendered by the report's one Jinja environment."""
    from sodaudit.render.html import environment, template_dir

    thumbs = thumbnails(report, sample)
    reasons = {r: sum(r in s.reasons for s in sample) for r in REASON_WEIGHTS}
    return (
        environment()
        .get_template("sample.html.j2")
        .render(
            d=report.dataset,
            sample=sample,
            thumbs=thumbs,
            seed=seed,
            reasons=reasons,
            weights=REASON_WEIGHTS,
            css=(template_dir() / "report.css").read_text(encoding="utf-8"),
            imgsz=report.config.imgsz,
            min_side=report.config.subthreshold.min_side_model_px,
        )
    )


def summary(sample: Sequence[SampledImage], reasons: Mapping[str, int] | None = None) -> str:
    """One line for the terminal: how many images and how many carry each reason."""
    counts = reasons or {r: sum(r in s.reasons for s in sample) for r in REASON_WEIGHTS}
    shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    n = len(sample)
    return f"{n} {'image' if n == 1 else 'images'} sampled" + (f" ({shown})" if shown else "")


def write_sample(report: AuditReport, sample: Sequence[SampledImage], out: Path, seed: int) -> list[Path]:
    """``sample.csv`` and ``sample.html`` in ``out`` (written atomically; never in the dataset)."""
    from sodaudit.render.files import write_atomic
    from sodaudit.render.tables import csv_text

    out.mkdir(parents=True, exist_ok=True)
    return [
        write_atomic(out / "sample.csv", csv_text(sample_table(sample))),
        write_atomic(out / "sample.html", contact_sheet(report, sample, seed)),
    ]
