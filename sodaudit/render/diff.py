"""diff.json, diff.html and the per-label CSVs of ``sodaudit diff OLD NEW``.

The JSON document is the data and the page is a view of it (as report.json and report.html):
the page reads its numbers from ``diff_report`` and its label lists from the diff tables. It
reuses the audit report's Jinja environment, stylesheet and macros, so it looks the same and
escapes every dataset string the same way.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from sodaudit import __version__
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.diff import DiffResult
from sodaudit.findings import apply_rules, gate, sort_findings
from sodaudit.jsonable import jsonable
from sodaudit.render.blocks import LabelTable, csv_name, label_table
from sodaudit.render.files import json_visible, write_atomic
from sodaudit.render.html import HTML_TABLE_ROWS, environment, template_dir
from sodaudit.render.tables import csv_text

TEMPLATE = "diff.html.j2"
DIFF_SCHEMA_VERSION = "1.0"
ANALYZER = "diff"
"""Prefix of the CSV names: ``tables/diff.<table>.csv``."""

SHOWN_TABLES = {
    "added": "Labels added in NEW",
    "removed": "Labels removed from OLD",
    "relabelled": "Labels that changed class",
    "moved": "Labels that moved (largest shift first)",
}
"""Tables the page shows (capped); every table except ``matched`` is written as CSV."""
CSV_SKIP = ("matched",)
"""``matched`` lists every unchanged label too: as large as the dataset, and not a change."""
EXTRA_CSS = "\ntable.labels td { white-space: nowrap; }\n"
"""Pair tables put two boxes and two sources on a row: they scroll sideways rather than wrap."""


def diff_report(result: DiffResult, old: Dataset, new: Dataset, config: Config) -> dict:
    """The diff.json document: versions, effective config, stats, findings after the
    configured rules, and the gate over them (the same gate as an audit's)."""
    findings = sort_findings(apply_rules(result.findings, config.rules))
    verdict = gate(findings, config.fail_on)
    return jsonable(
        {
            "schema_version": DIFF_SCHEMA_VERSION,
            "tool": {
                "name": "sodaudit",
                "version": __version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
            "old": _card(old),
            "new": _card(new),
            "config": {**config.to_dict(), "diff": result.stats.get("config", {})},
            "stats": result.stats,
            "findings": [f.to_dict() for f in findings],
            "gate": verdict.to_dict(),
        }
    )


def _card(ds: Dataset) -> dict[str, Any]:
    return {
        "path": str(ds.meta.get("origin") or ds.root),
        "format": ds.format,
        "num_images": len(ds.images),
        "num_boxes": len(ds.boxes),
    }


# --- the page ---------------------------------------------------------------------------------


def _box(df: pd.DataFrame, side: str) -> pd.Series:
    """``x, y, w, h`` as one cell: keeps the table narrow enough to read both versions."""
    parts = [df[f"{side}_{c}"].map(lambda v: f"{v:g}") for c in ("x", "y", "w", "h")]
    return parts[0].str.cat(parts[1:], sep=", ") if len(df) else pd.Series([], dtype=object)


def _display(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """The columns a reviewer needs, both versions' sources included; the CSV keeps them all."""
    if name in ("added", "removed"):
        side, other = ("new", "old") if name == "added" else ("old", "new")
        return pd.DataFrame(
            {
                f"{side}_image": df[f"{side}_image"],
                "class": df[f"{side}_class"].astype(str),
                f"{side}_box": _box(df, side),
                "size_bucket": df["size_bucket"].astype(str),
                f"{side}_source": df[f"{side}_source"],
                f"{other}_file": df[f"{other}_file"],
            }
        )
    if name == "moved":
        df = df.sort_values("shift_px", ascending=False, kind="stable")
    return pd.DataFrame(
        {
            "old_image": df["old_image"],
            "old_class": df["old_class"].astype(str),
            "new_class": df["new_class"].astype(str),
            "old_box": _box(df, "old"),
            "new_box": _box(df, "new"),
            "iou": df["iou"],
            "shift_px": df["shift_px"],
            "size_bucket": df["size_bucket"].astype(str),
            "old_source": df["old_source"],
            "new_source": df["new_source"],
        }
    ).reset_index(drop=True)


def label_tables(result: DiffResult, limit: int = HTML_TABLE_ROWS) -> list[LabelTable]:
    """The capped tables of the page, each naming the CSV that holds every row."""
    out = []
    for name, title in SHOWN_TABLES.items():
        df = result.tables.get(name)
        if df is None:
            continue
        table = label_table(ANALYZER, name, _display(name, df), limit)
        out.append(replace(table, title=title))
    return out


def _rows(mapping: dict[str, dict], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": name, **{k: v.get(k) for k in keys}} for name, v in mapping.items()]


def context(doc: dict, result: DiffResult) -> dict[str, Any]:
    """What the template shows: numbers from the JSON document, label lists from the tables."""
    stats = doc["stats"]
    jitter = stats.get("jitter", {})
    by_class = stats.get("by_class", {})
    class_rows = [
        {**row, "small": by_class.get(row["name"], {}).get("small", False)}
        for row in _rows(jitter.get("by_class", {}), ("matched", "jittered", "jitter_rate"))
        if row["matched"] or by_class.get(row["name"], {}).get("old")
    ]
    severity_counts = {
        s: sum(1 for f in doc["findings"] if f["severity"] == s) for s in ("error", "warning", "info")
    }
    return {
        "r": doc,
        "s": stats,
        "buckets": _rows(
            jitter.get("by_size_bucket", {}).get("buckets", {}), ("matched", "jittered", "rate")
        ),
        "class_rows": class_rows,
        "tables": label_tables(result),
        "csv_files": [csv_name(ANALYZER, n) for n in result.tables if n not in CSV_SKIP],
        "severity_counts": severity_counts,
        "css": (template_dir() / "report.css").read_text(encoding="utf-8") + EXTRA_CSS,
    }


def to_diff_html(doc: dict, result: DiffResult) -> str:
    """diff.html as a string: one self-contained page (inline CSS and script, no network)."""
    return environment().get_template(TEMPLATE).render(**context(doc, result))


def write_diff_tables(result: DiffResult, out: Path) -> list[Path]:
    """``tables/diff.<table>.csv`` for every change table, empty ones included (a header-only
    file says "compared, nothing of this kind")."""
    return [
        write_atomic(out / csv_name(ANALYZER, name), csv_text(df))
        for name, df in result.tables.items()
        if name not in CSV_SKIP
    ]


def write_diff_outputs(
    result: DiffResult, old: Dataset, new: Dataset, config: Config, out: Path
) -> list[Path]:
    """diff.json, diff.html and the CSVs in ``out``, each written atomically."""
    doc = diff_report(result, old, new, config)
    written = [
        write_atomic(
            out / "diff.json",
            json_visible(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False)) + "\n",
        ),
        write_atomic(out / "diff.html", to_diff_html(doc, result)),
    ]
    return written + write_diff_tables(result, out)
