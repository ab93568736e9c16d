"""report.json: the machine-readable report (the HTML shows the same numbers).

Its layout is a versioned contract: ``sodaudit/schema/report.schema.json`` (documented in
docs/report-json.md) describes it, and the tests validate real reports against it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from sodaudit.render.files import write_atomic
from sodaudit.report import AuditReport

SCHEMA_FILE = "report.schema.json"


def schema_path() -> Path:
    """The JSON Schema shipped inside the package."""
    return Path(str(resources.files("sodaudit"))) / "schema" / SCHEMA_FILE


def schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def to_json(report: AuditReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)


def write_json(report: AuditReport, path: Path) -> Path:
    return write_atomic(path, to_json(report) + "\n")
