"""report.json: the machine-readable report (the HTML shows the same numbers).

Its layout is a versioned contract: ``sodaudit/schema/report.schema.json`` (documented in
docs/report-json.md, the analyzers' part generated from their typed stats by
:mod:`sodaudit.render.schema`) describes it, and the tests validate real reports against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sodaudit.render.files import json_visible, write_atomic
from sodaudit.render.schema import schema_path, shipped_schema
from sodaudit.report import AuditReport

__all__ = ["schema", "schema_path", "to_json", "write_json"]


def schema() -> dict[str, Any]:
    """The JSON Schema of report.json, as shipped."""
    return shipped_schema()


def to_json(report: AuditReport) -> str:
    """Valid JSON even when a dataset string is not valid Unicode (see ``render.files``)."""
    return json_visible(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False))


def write_json(report: AuditReport, path: Path) -> Path:
    return write_atomic(path, to_json(report) + "\n")
