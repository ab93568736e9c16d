"""report.html: one self-contained page rendered from ``report_templates/``.

The Jinja environment and its filters live here and nowhere else. Autoescape is on:
every string from a dataset (class names, file names, messages quoting them) is escaped.
Figures and the crop gallery come from other modules; when one of them fails, the report still
renders and says what is missing instead of failing the whole run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from sodaudit.render.blocks import LabelTable, label_table, plan_block, recommendation_blocks
from sodaudit.render.files import write_atomic
from sodaudit.render.views import INTROS, analyzer_view
from sodaudit.report import AuditReport
from sodaudit.verdict import verdict_of

TEMPLATE = "report.html.j2"
HTML_TABLE_ROWS = 100
"""Rows of a per-label table shown in the HTML; the CSV next to the report holds all of them."""
GALLERY_LIMIT = 48


def template_dir() -> Path:
    """Templates ship inside the wheel as ``sodaudit/report_templates``; in a source
    checkout they are the top-level ``report_templates/`` folder."""
    packaged = Path(str(resources.files("sodaudit"))) / "report_templates"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[2] / "report_templates"
    if source.is_dir():
        return source
    raise FileNotFoundError("sodaudit's report_templates folder is missing from the installation")


def fmt_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def fmt_num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.{digits}f}"
    return str(value)


def fmt_pct(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * float(value):.{digits}f}%"


def plural(word: str, count: Any) -> str:
    """``error`` / ``errors`` for a count (our own words only: "1 errors" reads as a bug)."""
    return word if count == 1 else word + "s"


def slug(value: Any) -> str:
    """An id fragment: our own names only (analyzer and table names), never dataset strings."""
    return "".join(ch if ch.isalnum() or ch == "_" else "-" for ch in str(value)).strip("-").lower()


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(template_dir())),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt_int=fmt_int, fmt_num=fmt_num, fmt_pct=fmt_pct, slug=slug, plural=plural)
    return env


@dataclass
class Extras:
    """Figures and gallery: optional parts, each with a note when it could not be made."""

    figures: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    gallery: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _figures(report: AuditReport, extras: Extras) -> None:
    try:
        # Imported here: matplotlib costs 0.3 s that a page without figures need not pay.
        from sodaudit.figures import build_figures

        for fig in build_figures(report):
            extras.figures[fig.section].append(fig)
    except Exception as exc:  # no matplotlib, a figure bug: the page says so instead of failing
        extras.notes.append(f"Figures could not be drawn ({type(exc).__name__}: {exc}).")


def _gallery(report: AuditReport, extras: Extras) -> None:
    try:
        from sodaudit.gallery import smallest_labels

        extras.gallery = list(smallest_labels(report.dataset, limit=GALLERY_LIMIT))
    except Exception as exc:
        extras.notes.append(
            f"The gallery of the smallest labels could not be made ({type(exc).__name__}: {exc})."
        )


def context(report: AuditReport, *, figures: bool = True) -> dict[str, Any]:
    """Everything the template shows; numbers come from ``report.to_dict()``. ``figures``: also
    the figures and the gallery of the smallest labels (both read pixels or draw: the slow part)."""
    data = report.to_dict()
    ctx = {"config": data["config"], "imgsz": data["config"].get("imgsz")}
    findings_by = defaultdict(list)
    for f in data["findings"]:
        findings_by[f["analyzer"]].append(f)
    tables: dict[str, list[LabelTable]] = {
        name: [label_table(name, tname, df, HTML_TABLE_ROWS) for tname, df in result.tables.items()]
        for name, result in report.analyzers.items()
    }
    sections = [
        {
            "name": name,
            "title": a["title"],
            "intro": INTROS[name],
            "view": analyzer_view(name, report.analyzers[name].stats, ctx),
            "findings": findings_by.get(name, []),
            "tables": tables.get(name, []),
        }
        for name, a in data["analyzers"].items()
    ]
    extras = Extras()
    if figures:
        _figures(report, extras)
        _gallery(report, extras)
    severity_counts = {
        s: sum(1 for f in data["findings"] if f["severity"] == s) for s in ("error", "warning", "info")
    }
    recs = [dict(rec, blocks=recommendation_blocks(rec)) for rec in data.get("recommendations") or []]
    return {
        "r": data,
        "sections": sections,
        "recs": recs,
        "plan_block": plan_block(data["plan"]) if data.get("plan") else None,
        "verdict": verdict_of(report),
        "figures": extras.figures,
        "gallery": extras.gallery,
        "extra_notes": extras.notes,
        "severity_counts": severity_counts,
        "css": (template_dir() / "report.css").read_text(encoding="utf-8"),
        "gallery_limit": GALLERY_LIMIT,
    }


def to_html(report: AuditReport, *, figures: bool = True) -> str:
    return environment().get_template(TEMPLATE).render(**context(report, figures=figures))


def write_html(report: AuditReport, path: Path) -> Path:
    return write_atomic(path, to_html(report))
