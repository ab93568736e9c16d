"""report.html: one self-contained page rendered from ``report_templates/``.

The Jinja environment and its filters live here and nowhere else. Autoescape is on:
every string from a dataset (class names, file names, messages quoting them) is escaped.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from sodaudit.render.files import write_atomic
from sodaudit.report import AuditReport

TEMPLATE = "report.html.j2"


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


def is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(template_dir())),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt_int=fmt_int, fmt_num=fmt_num, fmt_pct=fmt_pct)
    env.tests["mapping"] = is_mapping
    return env


def to_html(report: AuditReport) -> str:
    data = report.to_dict()
    severity_counts = {
        s: sum(1 for f in data["findings"] if f["severity"] == s) for s in ("error", "warning", "info")
    }
    css = (template_dir() / "report.css").read_text(encoding="utf-8")
    return environment().get_template(TEMPLATE).render(r=data, severity_counts=severity_counts, css=css)


def write_html(report: AuditReport, path: Path) -> Path:
    return write_atomic(path, to_html(report))
