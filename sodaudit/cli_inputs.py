"""The run command's inputs, checked before the audit (which can take minutes): the dataset
argument (a path or an object-store URL), the export path and the baseline."""

from __future__ import annotations

import os
from pathlib import Path

import click

from sodaudit.errors import ConfigError, SodauditError


class DatasetPath(click.ParamType):
    """A dataset folder or file, or the URL of one in object storage (``s3://bucket/prefix``),
    which stays a string: ``Path`` would fold its ``//``."""

    name = "path"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        from sodaudit.remote import is_remote

        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        return text if is_remote(text) else Path(text)


def check_export_path(export_path: Path | None) -> None:
    """Fail before the (possibly long) audit, not after it."""
    if export_path is None or export_path.suffix.lower() != ".parquet":
        return
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SodauditError(
            f"--export-boxes {export_path}: writing Parquet needs pyarrow (pip install pyarrow); "
            "use a .csv file name instead."
        ) from None


def check_baseline(path: Path) -> None:
    """A bad baseline is a usage error before the audit: unreadable, not JSON, or a tracked
    number that is not a number (baseline.read_baseline should check the last two itself)."""
    from sodaudit.baseline import TRACKED, read_baseline

    try:
        data = read_baseline(path)
        values = [(item.label, item.read(data)) for item in TRACKED]
    except UnicodeDecodeError:
        raise ConfigError(f"The baseline {path} is not a JSON report: it is not UTF-8 text.") from None
    except (TypeError, ValueError, AttributeError, KeyError):
        raise ConfigError(f"The baseline {path} is not a sodaudit report.json (wrong layout).") from None
    for label, value in values:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"The baseline {path} is not a sodaudit report.json: its {label} is {value!r}.")
