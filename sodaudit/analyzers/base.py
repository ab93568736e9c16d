"""What every analyzer returns, and the per-label list every analyzer shows the same way."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding


@dataclass
class AnalyzerResult:
    """``stats`` are plain JSON numbers/strings; ``tables`` are per-label lists for CSV/HTML."""

    name: str
    title: str
    stats: dict[str, object] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def label_table(dataset: Dataset, rows: pd.DataFrame, **extra: object) -> pd.DataFrame:
    """A per-label list a person can act on: image, class, box, ``source`` (file:line), extras."""
    file_names = dataset.images.set_index("image_id")["file_name"]
    table = pd.DataFrame(
        {
            "image": rows["image_id"].map(file_names).to_numpy(),
            "class_name": rows["class_name"].astype(str).to_numpy(),
            "x": rows["x"].to_numpy(),
            "y": rows["y"].to_numpy(),
            "w": rows["w"].to_numpy(),
            "h": rows["h"].to_numpy(),
            "source": dataset.source(rows).to_numpy(),
        }
    )
    for name, values in extra.items():
        table[name] = values.to_numpy() if isinstance(values, pd.Series) else values
    return table


def label_examples(dataset: Dataset, rows: pd.DataFrame, detail: pd.Series) -> tuple[str, ...]:
    """The first few labels of a finding as ``source [class] detail`` strings."""
    head = rows.head(MAX_EXAMPLES)
    where = dataset.source(head).to_numpy()
    classes = head["class_name"].astype(str).to_numpy()
    details = detail.head(MAX_EXAMPLES).to_numpy()
    return tuple(f"{w} [{c}] {d}" for w, c, d in zip(where, classes, details, strict=True))


def pair_table(dataset: Dataset, first: pd.DataFrame, second: pd.DataFrame, iou: np.ndarray) -> pd.DataFrame:
    """A per-pair list: both labels with class, box and ``source``, and their IoU."""
    a = label_table(dataset, first)
    b = label_table(dataset, second)
    table = pd.DataFrame({"image": a["image"]})
    for suffix, part in (("a", a), ("b", b)):
        for col in ("class_name", "x", "y", "w", "h", "source"):
            table[f"{col}_{suffix}"] = part[col].to_numpy()
    table["iou"] = np.round(np.asarray(iou, dtype=np.float64), 4)
    return table


def pair_examples(table: pd.DataFrame) -> tuple[str, ...]:
    """The first pairs of a :func:`pair_table` as ``source [class] ~ source [class] IoU`` text."""
    head = table.head(MAX_EXAMPLES)
    return tuple(
        f"{sa} [{ca}] ~ {sb} [{cb}] IoU {iou:.2f}"
        for sa, ca, sb, cb, iou in zip(
            head["source_a"],
            head["class_name_a"],
            head["source_b"],
            head["class_name_b"],
            head["iou"],
            strict=True,
        )
    )
