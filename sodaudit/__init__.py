"""sodaudit: audit object-detection datasets for small-object problems before training.

Python API::

    import sodaudit
    report = sodaudit.audit("path/to/dataset", imgsz=1024)
    report.passed, report.findings, report.to_json(), report.to_html()
"""

import sys
import types

__version__ = "0.1.0"

__all__ = ["AuditReport", "__version__", "audit"]


class _Package(types.ModuleType):
    """The API is bound lazily: ``sodaudit --help`` and the CLI do not pay for importing every
    analyzer (numpy, pandas, scipy) just because the package was imported."""

    @property
    def audit(self):  # the function sodaudit.audit.audit
        from sodaudit.audit import audit

        return audit

    @audit.setter
    def audit(self, value: object) -> None:
        # Importing the submodule binds it here; ``sodaudit.audit`` stays the function, as the
        # API promises (the submodule is still importable through ``sys.modules``).
        pass


def __getattr__(name: str) -> object:
    if name == "AuditReport":
        from sodaudit.report import AuditReport

        return AuditReport
    raise AttributeError(f"module 'sodaudit' has no attribute {name!r}")


sys.modules[__name__].__class__ = _Package
