"""What every analyzer returns, and the per-label list every analyzer shows the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec
import numpy as np
import pandas as pd

from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding, Severity
from sodaudit.geometry import OverLimit

if TYPE_CHECKING:
    from sodaudit.config import Config


@dataclass
class AnalyzerResult:
    """``stats`` is the analyzer's typed Struct (set once computed; report.json and its schema
    follow its fields); ``tables`` are per-label lists for CSV/HTML."""

    name: str
    title: str
    stats: msgspec.Struct | None = None
    findings: list[Finding] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    shared: dict[str, object] = field(default_factory=dict)
    """In-process values a later step reads instead of computing them again (never written):
    ``splits`` shares its ``sequence_groups`` with the effective-sample count of the plan."""


def image_file_names(dataset: Dataset, image_ids: np.ndarray) -> np.ndarray:
    """``file_name`` of each image id (every box's image id is in the image table, unique)."""
    images = dataset.images
    positions = pd.Index(images["image_id"]).get_indexer(np.asarray(image_ids))
    return images["file_name"].to_numpy()[positions]


LABEL_COLUMNS = ("image_id", "class_id", "class_name", "x", "y", "w", "h", "source_file", "source_line")
"""The box columns that :func:`label_table` and :func:`label_examples` read (and ``class_id``)."""


def label_rows(boxes: pd.DataFrame, which: np.ndarray, *extra: str) -> pd.DataFrame:
    """The rows ``which`` (a mask or positions) of ``boxes``, with only the columns a label list
    reads plus ``extra``: a take of ~10 columns instead of every derived one."""
    which = np.asarray(which)
    positions = np.flatnonzero(which) if which.dtype == bool else which
    return boxes[[*LABEL_COLUMNS, *extra]].iloc[positions]


def box_label_rows(dataset: Dataset, rows: pd.DataFrame, which: np.ndarray, *extra: str) -> pd.DataFrame:
    """:func:`label_rows` for ``rows`` that are rows of ``dataset.boxes`` (with their index) but
    hold only the columns an analyzer computes on: the label columns of just the rows ``which``
    (a mask or positions into ``rows``) come from the box table."""
    which = np.asarray(which)
    positions = np.flatnonzero(which) if which.dtype == bool else which
    return dataset.box_columns(*LABEL_COLUMNS, *extra, rows=rows.index.to_numpy()[positions])


def label_table(dataset: Dataset, rows: pd.DataFrame, **extra: object) -> pd.DataFrame:
    """A per-label list a person can act on: image, class, box, ``source`` (file:line), extras."""
    table = pd.DataFrame(
        {
            "image": image_file_names(dataset, rows["image_id"].to_numpy()),
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
    columns: dict[str, object] = {"image": a["image"].to_numpy()}
    for suffix, part in (("a", a), ("b", b)):
        for col in ("class_name", "x", "y", "w", "h", "source"):
            columns[f"{col}_{suffix}"] = part[col].to_numpy()
    columns["iou"] = np.round(np.asarray(iou, dtype=np.float64), 4)
    return pd.DataFrame(columns)


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


def max_pairs_per_image(config: Config) -> int:
    """The cap on overlapping pairs searched per image (``limits.max_pairs_per_image``)."""
    return config.limits.max_pairs_per_image


def pair_limit_finding(
    dataset: Dataset, over: OverLimit, code: str, analyzer: str, what: str, limit: int
) -> Finding:
    """The images whose pair search stopped at the cap: a finding instead of an OOM.

    Their pairs are left out of the analyzer's counts, so the rest of the dataset is still
    audited; ``at most`` is the number of box pairs near enough to be tested.
    """
    names = image_file_names(dataset, over.image)
    biggest = np.argsort(-over.candidates, kind="stable")[:MAX_EXAMPLES]
    at_most = [f"(at most {int(over.candidates[k]):,})" for k in biggest]
    examples = tuple(
        f"{names[k]}: more than {limit:,} pairs of {what} {most}"
        for k, most in zip(biggest, at_most, strict=True)
    )
    n = len(over)
    return Finding(
        code,
        Severity.WARNING,
        f"{n} image{'s have' if n != 1 else ' has'} more than {limit:,} pairs of {what} "
        f"(limits.max_pairs_per_image), e.g. {names[biggest[0]]} {at_most[0]}: the search stopped "
        f"there and left {'their' if n != 1 else 'its'} pairs out of the counts",
        analyzer,
        value=float(n),
        threshold=float(limit),
        examples=examples,
        count=n,
    )
