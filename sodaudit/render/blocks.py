"""Generic blocks shared by the HTML and Markdown renderers: recommendations as compact tables,
per-label tables capped for display, and values formatted the way people read them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sodaudit.render.views.base import Table, num, pct
from sodaudit.sizepresets import PRESET_TITLES

MAX_SUBTABLE_ROWS = 12
"""A list inside a recommendation (candidate resolutions, tile sizes) shows this many rows."""
MAX_DEPTH = 3


PIXEL_KEYS = ("imgsz", "tile", "stride", "smallest_stride", "min_side", "separability")
"""Keys (besides those ending in ``_px``) whose numbers are pixels: shown with their unit."""
FACTOR_KEYS = ("cost_factor", "max_cost", "scale", "cost")
"""Keys whose numbers are multiples of today (compute, scale): shown as ``4.00x``."""
LABELS = {
    "cost_factor": "compute vs today",
    "max_cost": "compute cap",
    "reach_share": "boxes reaching the smallest stride",
    "current_share": "boxes reaching it today",
    "target_share": "target share reaching it",
    "min_side_px": "smallest stride (short side needed)",
    "num_boxes": "boxes judged",
    "current_imgsz": "imgsz today",
    "share_before": "share before",
    "share_after": "share after",
}
"""Evidence keys whose snake_case name does not say what the number is."""


def _unit(key: str, text: str, value: float) -> str:
    if key.endswith("_px") or key in PIXEL_KEYS or key.endswith("_imgsz"):
        return f"{text} px"
    if key in FACTOR_KEYS:
        return f"{value:.2f}x"
    return text


def value_text(key: str, value: Any) -> str:
    """One value as text: shares as percentages, pixels and factors with their unit, floats
    trimmed, lists joined."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "–"
        if "share" in key and isinstance(value, float) and 0 <= value <= 1:
            return pct(value)
        if isinstance(value, float) and value != int(value):
            text = f"{value:,.3f}".rstrip("0").rstrip(".")
            return _unit(key, text if text not in ("0", "-0") else f"{value:.2g}", value)
        return _unit(key, num(value), value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return ", ".join(str(v) for v in value)
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return ", ".join(value_text(key, v) for v in value)
        return "; ".join(value_text(key, v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{_label(str(k))} {value_text(str(k), v)}" for k, v in value.items())
    return str(value)


def _label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " "))


@dataclass
class KeyValues:
    """A titled block: ``rows`` of (key, text) plus sub-tables for lists of records."""

    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    subtables: list[Table] = field(default_factory=list)


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _records_table(caption: str, records: list[Mapping[str, Any]]) -> Table:
    columns = list(dict.fromkeys(k for r in records for k in r))
    shown = records[:MAX_SUBTABLE_ROWS]
    rows = [[value_text(c, r.get(c)) for c in columns] for r in shown]
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in shown) for c in columns]
    note = f"and {len(records) - len(shown)} more in report.json" if len(records) > len(shown) else ""
    return Table(caption, [_label(c) for c in columns], rows, numeric=numeric, note=note)


def key_values(title: str, data: Any) -> KeyValues:
    """One row per top-level key; a nested dict of plain values becomes one line of text, and
    lists of records (candidates, per-size grids) become their own small table."""
    block = KeyValues(title)

    def walk(prefix: str, value: Any, depth: int) -> None:
        if _is_records(value):
            block.subtables.append(_records_table(_label(prefix), value))
        elif (
            isinstance(value, Mapping)
            and value
            and depth < MAX_DEPTH
            and any(
                isinstance(v, (Mapping, list)) and (_is_records(v) or isinstance(v, Mapping))
                for v in value.values()
            )
        ):
            plain = {k: v for k, v in value.items() if not isinstance(v, Mapping) and not _is_records(v)}
            if plain:
                block.rows.append((_label(prefix), value_text(prefix, plain)))
            for k, v in value.items():
                if k not in plain:
                    walk(f"{prefix} · {k}" if prefix else str(k), v, depth + 1)
        else:
            block.rows.append((_label(prefix), value_text(prefix.rsplit(" · ", 1)[-1], value)))

    if isinstance(data, Mapping):
        for k, v in data.items():
            walk(str(k), v, 1)
    elif data not in (None, [], ""):
        block.rows.append(("value", value_text("", data)))
    return block


def recommendation_blocks(rec: Mapping[str, Any]) -> list[KeyValues]:
    blocks = []
    for key, title in (("params", "What to set"), ("effect", "Expected effect"), ("evidence", "Evidence")):
        value = rec.get(key)
        if value:
            blocks.append(key_values(title, value))
    return blocks


# -- per-label tables ------------------------------------------------------------------------

TABLE_TITLES = {
    ("integrity", "load_issues"): "Problems the loader found in the files",
    ("integrity", "degenerate_box"): "Boxes with zero or negative size",
    ("integrity", "box_outside_image"): "Boxes past the image border",
    ("integrity", "duplicate_box"): "Duplicate boxes (same class, same place)",
    ("subthreshold", "labels"): "Every label below a size rule",
    ("class_overlap", "cross_class_pairs"): "Boxes of different classes on the same object",
    ("class_overlap", "nms_suppressed_pairs"): "Same-class boxes that NMS would suppress",
    ("class_overlap", "merge_candidates"): "Merge candidates",
    ("strides", "no_grid_point"): "Boxes without a candidate point (the assigner's levels)",
    ("strides", "center_collisions"): "Boxes whose centres share a grid cell",
}

DIGITS = {"iou": 3, "zoom": 1, "best_ratio": 2}


def option_text(option: Mapping[str, Any]) -> str:
    """One plan option in words: ``imgsz 1280``, ``640 px tiles, overlap 0.2, at imgsz 640``."""
    if option["primary"] == "tiling":
        up = " (upsampled)" if option["tile"] < option["imgsz"] else ""
        return f"{option['tile']} px tiles{up}, overlap {option['overlap']:g}, at imgsz {option['imgsz']}"
    if option["primary"] == "resolution":
        return f"imgsz {option['imgsz']}"
    return f"imgsz {option['imgsz']} as today"


def plan_sentence(plan: Mapping[str, Any]) -> str:
    """The plan in one line (terminal, Markdown): the choice, cost, reach, alternatives."""
    text = (
        f"{plan['primary']}: {option_text(plan)} at {plan['cost_factor']:.2f}x compute, "
        f"{pct(plan['reach_share'])} of boxes reach {plan['min_side_px']} px at model input "
        f"(today {pct(plan['current_share'])}, target {pct(plan['target_share'])})"
    )
    alternatives = plan.get("alternatives") or []
    if alternatives:
        text += "; alternatives: " + "; ".join(
            f"{option_text(a)}: {pct(a['reach_share'])} at {a['cost_factor']:.2f}x" for a in alternatives
        )
    return text


def plan_block(plan: Mapping[str, Any]) -> KeyValues:
    """The plan as the first block of "what to change": the choice, its cost and reach, why,
    then the alternatives with their cost and reach (what more compute would buy)."""
    block = KeyValues("The plan")
    reach = f"short side >= {plan['min_side_px']} px at model input"
    block.rows = [
        ("primary change", plan["primary"] if plan["primary"] != "none" else "none (keep imgsz)"),
        ("option", option_text(plan)),
        ("cost", f"{plan['cost_factor']:.2f}x today's compute (cap {plan['max_cost']:g}x)"),
        (
            "boxes reaching",
            f"{pct(plan['reach_share'])} ({reach}; today {pct(plan['current_share'])}, "
            f"target {pct(plan['target_share'])})",
        ),
        ("scale vs today", f"{plan['scale']:.2f}x"),
        ("why", plan["reason"]),
    ]
    alternatives = plan.get("alternatives") or []
    if alternatives:
        rows = [[option_text(a), f"{a['cost_factor']:.2f}x", pct(a["reach_share"])] for a in alternatives]
        block.subtables.append(Table("Alternatives", ["option", "cost", "boxes reaching"], rows))
    effective = plan.get("effective_samples")
    if effective and effective["cells"]:
        block.subtables.append(effective_table(effective))
    return block


def effective_table(effective: Mapping[str, Any]) -> Table:
    """Class x size cells, thinnest first: boxes, images, clusters and effective samples."""
    cells = effective["cells"][:MAX_SUBTABLE_ROWS]
    rows = [
        [c["class"], c["bucket"].replace("_", " "), num(c["boxes"]), num(c["images"]), num(c["clusters"]),
         f"{c['effective']:.1f}" + (" (thin)" if c["thin"] else "")]
        for c in cells
    ]  # fmt: skip
    more = len(effective["cells"]) - len(cells)
    preset = effective["bucket_preset"]
    return Table(
        f"Effective samples per class and {PRESET_TITLES.get(preset, preset)} size at the plan's scale",
        ["class", "size", "boxes", "images", "clusters", "effective samples"],
        rows,
        numeric=[False, False, True, True, True, True],
        note=f"Kish's effective sample size over {effective['clusters']}, thinnest first; under "
        f"{effective['min_effective']} a cell is too thin to learn or measure"
        + (f"; {more} more cells in report.json." if more > 0 else "."),
    )


def table_title(analyzer: str, name: str) -> str:
    if (analyzer, name) in TABLE_TITLES:
        return TABLE_TITLES[(analyzer, name)]
    if name.startswith("uncovered_"):
        return f"Boxes no {name.removeprefix('uncovered_')} anchor can match"
    return name.replace("_", " ").capitalize()


def csv_name(analyzer: str, name: str) -> str:
    return f"tables/{analyzer}.{name}.csv"


@dataclass
class LabelTable:
    analyzer: str
    name: str
    title: str
    columns: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    total: int
    csv: str

    @property
    def left_out(self) -> int:
        return self.total - len(self.rows)


def _cells(col: str, is_num: bool, values: list[Any]) -> list[str]:
    """One column's display strings: numbers rounded by column kind, missing values empty."""
    digits = next((d for k, d in DIGITS.items() if col.startswith(k)), 1)
    out = []
    for v in values:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        elif is_num and isinstance(v, float) and math.isfinite(v):
            out.append(f"{v:.{digits}f}".rstrip("0").rstrip("."))
        else:
            out.append(str(v))
    return out


def label_table(analyzer: str, name: str, df: pd.DataFrame, limit: int) -> LabelTable:
    """The first ``limit`` rows as display strings; the CSV holds all of them."""
    head = df.head(limit)
    columns = [str(c) for c in df.columns]
    numeric = [
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype) for dtype in df.dtypes
    ]
    cells = [
        _cells(col, is_num, head.iloc[:, j].tolist())
        for j, (col, is_num) in enumerate(zip(columns, numeric, strict=True))
    ]
    rows = [list(row) for row in zip(*cells, strict=True)] if cells else [[] for _ in range(len(head))]
    return LabelTable(
        analyzer,
        name,
        table_title(analyzer, name),
        [c.replace("_", " ") for c in columns],
        numeric,
        rows,
        len(df),
        csv_name(analyzer, name),
    )
