"""Where ``sodaudit run`` writes, checked before the audit and written after it.

The folder outputs (report.json, report.html, tables/, emit/) go through an
:class:`~sodaudit.render.outset.OutputSet`, so they replace the previous run's as one set;
``--markdown``, ``--export-boxes`` and ``--junit`` name single files, each written atomically
(they may lie in ``--out``: the swap leaves files it does not own alone). They are written
before the set is swapped in, so a failure there leaves the previous report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sodaudit.errors import OutputError
from sodaudit.render.outset import (
    DIFF_OUTPUTS,
    RUN_OUTPUTS,
    OutputSet,
    check_out_dir,
    check_out_file,
    relocate_text,
    terminate_as_interrupt,
)
from sodaudit.report import AuditReport

if TYPE_CHECKING:
    from sodaudit.config import Config
    from sodaudit.dataset import Dataset
    from sodaudit.diff import DiffResult


@dataclass(frozen=True)
class Targets:
    """Every place a run writes to: the ``--out`` folder and the single-file flags."""

    out: Path
    markdown: Path | None = None
    export: Path | None = None
    junit: Path | None = None
    emit: str | None = None

    def files(self) -> dict[str, Path | None]:
        return {"--markdown": self.markdown, "--export-boxes": self.export, "--junit": self.junit}


def dataset_roots(path: Path | str, fmt: str) -> list[Path]:
    """Where the dataset lies, before loading it: the path when it is a folder and, when the
    layout is sniffed, the root the sniffing finds (a COCO JSON's image root). A detection
    problem is not reported here: the audit runs the same detection and says what is wrong.
    None for a bucket URL (a string): nothing local to protect from the outputs."""
    if isinstance(path, str) or not path.exists():
        return []
    roots = [path] if path.is_dir() else []
    if fmt == "auto":
        from sodaudit.loaders import detect

        with contextlib.suppress(Exception):
            roots.append(detect(path).root)
    return roots


def check_targets(targets: Targets, roots: list[Path]) -> None:
    """Usage errors of the output paths (under a file, no permission, inside the dataset)."""
    check_out_dir("--out", targets.out, roots, RUN_OUTPUTS)
    for flag, file in targets.files().items():
        if file is not None:
            check_out_file(flag, file, roots, targets.out, RUN_OUTPUTS)


def write_file(what: str, write: Callable[[], list[Path]]) -> list[Path]:
    """Outputs outside the set (each atomic on its own): an OSError is the user's to fix."""
    try:
        return write()
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        raise OutputError(f"Cannot write {what}{where}: {err.strerror or err}.") from None


def write_run(report: AuditReport, targets: Targets) -> tuple[list[Path], str | None]:
    """Write every output of a run; the paths to list (the two reports, the CSV folder once,
    the extras asked for, at their final places) and --emit's note when it wrote nothing."""
    with terminate_as_interrupt(), OutputSet(targets.out, RUN_OUTPUTS) as staging_dir:
        return _write(report, targets, staging_dir)


def _write(report: AuditReport, targets: Targets, staging: Path) -> tuple[list[Path], str | None]:
    from sodaudit.render.html import write_html
    from sodaudit.render.json import write_json
    from sodaudit.render.markdown import write_markdown
    from sodaudit.render.outset import PROPOSAL_DIR
    from sodaudit.render.tables import export_boxes, write_split_proposal, write_tables

    out = targets.out

    def final(path: Path) -> Path:
        return out / path.relative_to(staging)

    written = [final(write_json(report, staging / "report.json"))]
    tables = write_tables(report, staging)
    html = final(write_html(report, staging / "report.html"))
    written.append(html)
    if tables:
        written.append(out / "tables")
    if write_split_proposal(report, staging):
        written.append(out / PROPOSAL_DIR)
    emit_note = None
    if targets.emit is not None:
        from sodaudit.emit import emit

        emitted = emit(report, staging, targets.emit)
        relocate_text(emitted.paths, staging)
        written += [final(p) for p in emitted.paths]
        emit_note = emitted.note
    what = f"--markdown {targets.markdown}" if targets.markdown else "the Markdown summary"
    written += write_file(what, lambda: write_markdown(report, targets.markdown, html_path=html))
    if targets.export is not None:
        export = targets.export
        written += write_file(f"--export-boxes {export}", lambda: [export_boxes(report.dataset, export)])
    if targets.junit is not None:
        from sodaudit.render.junit import write_junit

        junit = targets.junit
        written += write_file(f"--junit {junit}", lambda: [write_junit(report, junit)])
    return written, emit_note


def check_diff_out(out: Path, roots: list[Path]) -> None:
    """``sodaudit diff``'s ``--out``: the same rules as a run's, for its own outputs."""
    check_out_dir("--out", out, roots, DIFF_OUTPUTS)


def write_diff(result: DiffResult, old: Dataset, new: Dataset, config: Config, out: Path) -> list[Path]:
    """diff.json, diff.html and tables/ replace the previous diff's as one set."""
    from sodaudit.render.diff import write_diff_outputs

    with terminate_as_interrupt(), OutputSet(out, DIFF_OUTPUTS) as staging:
        return [out / p.relative_to(staging) for p in write_diff_outputs(result, old, new, config, staging)]
