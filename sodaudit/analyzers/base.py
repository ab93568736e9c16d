"""What every analyzer returns, and the per-label list every analyzer shows the same way."""

from __future__ import annotations

from dataclasses import dataclass, field

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
