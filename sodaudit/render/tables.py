"""CSV files of every per-label list, and the canonical box table (``--export-boxes``).

The HTML shows the first rows of each list; these files hold all of them, so a labelling
vendor gets the complete list of labels to fix.

Cells come from datasets (class names, file names) and these files are opened in spreadsheets:
a text cell starting with ``= + - @``, a tab or a carriage return would run as a formula, so it
gets a leading single quote (OWASP's CSV-injection advice). Numbers are left alone, also when a
column mixes them with text: ``-3`` stays a number.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from sodaudit.dataset import Dataset
from sodaudit.render.blocks import csv_name
from sodaudit.render.files import write_atomic
from sodaudit.render.outset import PROPOSAL_DIR
from sodaudit.report import AuditReport

EXPORT_COLUMNS = (
    "box_id", "image_id", "file_name", "split", "class_id", "class_name", "x", "y", "w", "h",
    "img_w", "img_h", "ignore", "valid", "source", "area", "sqrt_area", "short_side", "long_side",
    "rel_area", "scale", "w_model", "h_model", "sqrt_area_model", "short_side_model", "long_side_model",
)  # fmt: skip


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula (OWASP)."""
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, quoted; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(df: pd.DataFrame) -> str:
    """The table as CSV, text cells neutralised (numeric columns are never touched)."""
    safe = df.copy(deep=False)
    for column in safe.columns:
        dtype = safe[column].dtype
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)):
            safe[column] = safe[column].map(neutralise, na_action="ignore").astype(object)
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    buf = io.StringIO()
    safe.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def write_tables(report: AuditReport, out_dir: Path) -> list[Path]:
    """``<out>/tables/<analyzer>.<table>.csv`` for every analyzer table, empty ones included
    (a header-only file says "checked, nothing found")."""
    written = []
    for name, result in report.analyzers.items():
        for table_name, df in result.tables.items():
            written.append(write_atomic(out_dir / csv_name(name, table_name), csv_text(df)))
    return written


def write_split_proposal(report: AuditReport, out_dir: Path) -> list[Path]:
    """One list of image file names per split, keeping each sequence whole (the splits
    analyzer's proposal), when frames of a sequence sit in two splits; nothing otherwise.
    Written next to the report, never into the dataset."""
    from sodaudit.analyzers.splits_leakage import split_proposal

    result = report.analyzers.get("splits")
    lists = None if result is None else split_proposal(report.dataset, result)
    if not lists:
        return []
    return [
        write_atomic(
            out_dir / PROPOSAL_DIR / f"proposed_{_file_part(split)}.txt", "".join(f"{n}\n" for n in names)
        )
        for split, names in lists.items()
    ]


def _file_part(name: str) -> str:
    """A split name (from the dataset) as a safe file-name part: never a path."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "_"


def box_table(dataset: Dataset) -> pd.DataFrame:
    """The canonical box table with file names and ``source``, in box order."""
    boxes = dataset.box_columns()
    file_names = dataset.images.set_index("image_id")["file_name"]
    table = boxes.assign(
        file_name=boxes["image_id"].map(file_names).to_numpy(),
        source=dataset.source(boxes).to_numpy(),
        split=boxes["split"].astype(str),
        class_name=boxes["class_name"].astype(str),
    )
    return table[[c for c in EXPORT_COLUMNS if c in table.columns]].reset_index(drop=True)


def export_boxes(dataset: Dataset, path: Path) -> Path:
    """CSV, or Parquet when the name ends in .parquet and pyarrow is importable."""
    table = box_table(dataset)
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            from sodaudit.errors import SodauditError

            raise SodauditError(
                f"--export-boxes {path}: writing Parquet needs pyarrow (pip install pyarrow); "
                "use a .csv name instead."
            ) from exc
        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        return write_atomic(path, buf.getvalue())
    return write_atomic(path, csv_text(table))
