"""sodaudit: audit object-detection datasets for small-object problems before training.

Python API::

    import sodaudit
    report = sodaudit.audit("path/to/dataset", imgsz=1024)
    report.passed, report.findings, report.to_json(), report.to_html()
"""

__version__ = "0.1.0"

# Bound after the submodule import, so ``sodaudit.audit`` is the function (the submodule stays
# importable as ``sodaudit.audit`` through ``sys.modules``).
from sodaudit.audit import audit
from sodaudit.report import AuditReport

__all__ = ["AuditReport", "__version__", "audit"]
