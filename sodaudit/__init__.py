"""sodaudit: audit object-detection datasets for small-object problems before training.

Python API::

    import sodaudit
    report = sodaudit.audit("path/to/dataset", imgsz=1024)
    report.passed, report.findings, report.to_json(), report.to_html()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["AuditReport", "__version__", "audit"]

if TYPE_CHECKING:
    from sodaudit.pipeline import audit
    from sodaudit.report import AuditReport


def __getattr__(name: str) -> object:
    """``audit`` and ``AuditReport`` are imported on first use: ``sodaudit --help`` does not pay
    for numpy, pandas and the analyzers just because the package was imported."""
    if name == "audit":
        from sodaudit.pipeline import audit

        return audit
    if name == "AuditReport":
        from sodaudit.report import AuditReport

        return AuditReport
    raise AttributeError(f"module 'sodaudit' has no attribute {name!r}")
