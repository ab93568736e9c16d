"""report.json: the machine-readable report (the HTML shows the same numbers)."""

from __future__ import annotations

import json
from pathlib import Path

from sodaudit.render.files import write_atomic
from sodaudit.report import AuditReport


def to_json(report: AuditReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)


def write_json(report: AuditReport, path: Path) -> Path:
    return write_atomic(path, to_json(report) + "\n")
