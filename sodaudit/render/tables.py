"""CSV files of every per-label list, and the canonical box table (``--export-boxes``).

The HTML shows the first rows of each list; these files hold all of them, so a labelling
vendor gets the complete list of labels to fix.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.dataset import Dataset
from sodaudit.render.blocks import csv_name
from sodaudit.render.files import write_atomic
from sodaudit.report import AuditReport

EXPORT_COLUMNS = (
    "box_id", "image_id", "file_name", "split", "class_id", "class_name", "x", "y", "w", "h",
    "img_w", "img_h", "ignore", "valid", "source", "area", "sqrt_area", "short_side", "long_side",
    "rel_area", "scale", "w_model", "h_model", "sqrt_area_model", "short_side_model", "long_side_model",
)  # fmt: skip


QUOTED_CHARS = (",", '"', "\n", "\r")
"""A field holding any of these may be quoted by the csv module: it formats those fields."""
DEDUP_MIN_ROWS = 256
"""From this many rows a float column is formatted per distinct value (labels repeat values)."""


def _csv(df: pd.DataFrame) -> str:
    """``df.to_csv(index=False, lineterminator="\n")``, byte for byte.

    Tables of two or more columns of float64, int, bool and string fields are joined directly
    from per-column texts, formatted as pandas formats them (``repr`` of each float64, ``str``
    of ints and bools, empty for missing values, strings with a comma, quote or newline quoted
    by the csv module pandas writes with); pandas' chunked writer spends most of its time
    converting floats one by one. Anything else goes through pandas.
    """
    text = _plain_csv(df)
    if text is not None:
        return text
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def _plain_csv(df: pd.DataFrame) -> str | None:
    """The CSV text when no field needs quoting, else None."""
    names = list(df.columns)
    if len(names) < 2 or not all(isinstance(c, str) for c in names) or len(set(names)) < len(names):
        return None  # one column: a row of one empty field is quoted
    if any(ch in name for name in names for ch in QUOTED_CHARS):
        return None
    header = ",".join(names)
    columns = []
    for name in names:
        texts = _column_texts(df[name])
        if texts is None:
            return None
        columns.append(texts)
    if len(df) == 0:
        return header + "\n"
    return header + "\n" + "\n".join(map(",".join, zip(*columns, strict=True))) + "\n"


def _column_texts(col: pd.Series) -> list[str] | None:
    """Each field as pandas writes it, or None when the column is not a plain one."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        values = col.to_numpy()
        if dtype == np.float64:
            return _float_texts(values)
        if dtype.kind in "iu":
            return list(map(str, values.tolist()))
        if dtype.kind == "b":
            return ["True" if v else "False" for v in values.tolist()]
        return None  # float32 etc.: numpy's own shortest repr; leave to pandas
    if isinstance(dtype, np.dtype):
        if dtype.kind != "O":
            return None
    elif not isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype)):
        return None
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories.dtype.kind in "Mm":
        return None
    values = col.to_numpy(dtype=object)
    missing = col.isna().to_numpy()
    if missing.any():
        values = values.copy()  # may be a read-only view of the column
        values[missing] = ""
    texts = values.tolist()
    try:
        joined = "\x00".join(texts)  # also the check that every field is a str
    except TypeError:
        return None  # the csv module would write str() or repr() of these: leave to pandas
    if any(ch in joined for ch in QUOTED_CHARS):
        return _quoted(values)
    return texts


def _quoted(values: np.ndarray) -> list[str]:
    """String fields as the csv module writes them (the writer pandas uses, same dialect):
    each distinct field holding a special character is passed through it once."""
    codes, uniq = pd.factorize(values)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    out = []
    for text in uniq.tolist():  # a loop over distinct fields
        if any(ch in text for ch in QUOTED_CHARS):
            buf.seek(0)
            buf.truncate()
            writer.writerow([text])  # one non-empty field: quoted as within any row
            text = buf.getvalue()[:-1]
        out.append(text)
    return np.array(out, dtype=object)[codes].tolist()


def _float_texts(values: np.ndarray) -> list[str]:
    """``values.astype(str)`` with NaN as empty: numpy's shortest round-trip text, which is
    Python's ``repr`` for float64; formatted once per distinct value when the column is long."""
    if len(values) >= DEDUP_MIN_ROWS and not np.signbit(values[values == 0]).any():
        # np.unique merges -0.0 with 0.0, hence the check above.
        uniq, inverse = np.unique(values, return_inverse=True)
        texts = np.array(list(map(float.__repr__, uniq.tolist())), dtype=object)[inverse].tolist()
    else:
        texts = list(map(float.__repr__, values.tolist()))
    nan = np.isnan(values)
    if nan.any():
        for i in np.flatnonzero(nan).tolist():
            texts[i] = ""
    return texts


def write_tables(report: AuditReport, out_dir: Path) -> list[Path]:
    """``<out>/tables/<analyzer>.<table>.csv`` for every analyzer table, empty ones included
    (a header-only file says "checked, nothing found")."""
    written = []
    for name, result in report.analyzers.items():
        for table_name, df in result.tables.items():
            written.append(write_atomic(out_dir / csv_name(name, table_name), _csv(df)))
    return written


def box_table(dataset: Dataset) -> pd.DataFrame:
    """The canonical box table with file names and ``source``, in box order."""
    boxes = dataset.boxes
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
    return write_atomic(path, _csv(table))
