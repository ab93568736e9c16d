"""The output folder replaced as one set: a failed or interrupted run leaves the previous report.

sodaudit owns a few names in ``--out`` (:data:`RUN_OUTPUTS`: report.json, report.html, tables/,
emit/). A run writes all of them into a staging folder *inside* ``--out``
(``.sodaudit-new-*``), then swaps them in: each old owned entry is renamed into
``.sodaudit-old-*``, each new one into place, and the old ones are deleted. Staging inside
``--out`` rather than beside it keeps every rename on one filesystem even when ``--out`` is a
mount point or a symlink, and leaves alone anything in ``--out`` that sodaudit did not write
(``--out .`` must not move the user's files). A failure before the last rename puts the old
entries back; SIGINT and SIGTERM (see :func:`terminate_as_interrupt`) unwind the same way, and
are held back while the renames and their rollback run so that a second Ctrl-C cannot leave
half a swap. So after any run the folder holds either the old set or the new one, never a mix,
never stale CSVs of an earlier run and never a staging folder (only SIGKILL can leave one).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from sodaudit.errors import OutputError

PROPOSAL_DIR = "splits"
"""The group-disjoint split proposal: ``splits/proposed_<split>.txt`` (render.tables writes it)."""
RUN_OUTPUTS = ("report.json", "report.html", "tables", PROPOSAL_DIR, "emit")
"""What ``sodaudit run`` owns in ``--out``: replaced as a set, the rest of the folder untouched."""
DIFF_OUTPUTS = ("diff.json", "diff.html", "tables")
SAMPLE_OUTPUTS = ("sample.csv", "sample.html")
"""What ``sodaudit diff`` owns in its ``--out``."""
STAGING_PREFIX = ".sodaudit-new-"
OLD_PREFIX = ".sodaudit-old-"


class Interrupted(KeyboardInterrupt):
    """SIGTERM while outputs are written, raised like Ctrl-C so every ``finally`` cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM's default action kills the process without unwinding: temporary files stay.
    Only around the write phase (before it nothing needs cleaning up) it becomes an exception."""
    if not _main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while a few renames (or their rollback) run, then deliver them.
    Python-level handlers, not a signal mask: the progress thread would receive masked signals."""
    if not _main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])


def _describe(err: OSError) -> str:
    return err.strerror or str(err) or type(err).__name__


class OutputSet:
    """``with OutputSet(out, RUN_OUTPUTS) as staging:`` write the owned entries into ``staging``;
    they replace the old ones when the block ends without an exception, and are discarded
    otherwise. An ``OSError`` (full disk, permissions) becomes one :class:`OutputError` sentence."""

    def __init__(self, out: Path, owned: tuple[str, ...]) -> None:
        self.out = Path(out)
        self.owned = owned
        self.staging: Path | None = None
        self._created: list[Path] = []

    def __enter__(self) -> Path:
        try:
            with signals_deferred():  # a signal held here is raised as the block ends
                self._created = [p for p in (self.out, *self.out.parents) if not p.exists()]
                self.out.mkdir(parents=True, exist_ok=True)
                self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out))
        except BaseException as err:  # __exit__ does not run when __enter__ raises
            with signals_deferred():
                self._discard()
            if isinstance(err, OSError):
                raise OutputError(f"Cannot write the report into {self.out}: {_describe(err)}.") from None
            raise
        return self.staging

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with signals_deferred():
            if exc_type is None:
                try:
                    self._swap()
                    return
                except BaseException as err:
                    exc = err
            self._discard()
        if isinstance(exc, OSError):
            where = f" ({exc.filename})" if exc.filename else ""
            raise OutputError(
                f"Cannot write the report into {self.out}{where}: {_describe(exc)}; "
                "the previous report there is unchanged."
            ) from None
        if exc_type is None and exc is not None:
            raise exc

    def _swap(self) -> None:
        assert self.staging is not None
        old = Path(tempfile.mkdtemp(prefix=OLD_PREFIX, dir=self.out))
        done: list[tuple[Path, Path]] = []
        try:
            for name in self.owned:
                current = self.out / name
                if current.exists() or current.is_symlink():
                    os.rename(current, old / name)
                    done.append((current, old / name))
            for name in self.owned:
                new = self.staging / name
                if new.exists():
                    os.rename(new, self.out / name)
                    done.append((new, self.out / name))
        except BaseException:
            restored = True
            for src, dst in reversed(done):
                try:
                    os.rename(dst, src)
                except OSError:
                    restored = False
            if not restored:  # never delete what could not be put back
                raise OutputError(
                    f"Cannot write the report into {self.out}, nor put the previous one back: "
                    f"it is kept in {old}."
                ) from None
            shutil.rmtree(old, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None

    def _discard(self) -> None:
        """Remove the staging folder, and ``--out`` and its parents when this run created them."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:
                break


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(path.anchor or ".")


def _check_writable(flag: str, target: Path, folder_wanted: bool) -> None:
    """``target`` must be (or become) a folder (``folder_wanted``) or a file we may write."""
    if target.exists() and target.is_dir() != folder_wanted:
        kind = "a file, not a folder" if folder_wanted else "a folder, not a file"
        raise OutputError(f"{flag} {target} is {kind}.")
    start = target if folder_wanted else target.parent
    existing = _nearest_existing(start)
    if not existing.is_dir():
        raise OutputError(f"{flag} {target} lies under {existing}, which is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {target}: no permission to write in {existing}.")


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def check_out_dir(flag: str, out: Path, dataset_roots: Iterable[Path], owned: tuple[str, ...]) -> None:
    """Usage errors of ``--out``, found before the audit rather than after minutes of work."""
    _check_writable(flag, out, folder_wanted=True)
    for root in dataset_roots:
        if _inside(out, root):
            raise OutputError(
                f"{flag} {out} is inside the dataset {root}; choose a folder outside it "
                "(sodaudit never writes into a dataset)."
            )
        for name in owned:
            if _inside(root, out / name):
                raise OutputError(
                    f"The dataset {root} lies in {out / name}, which each run replaces; "
                    f"pass another {flag} folder."
                )


def check_out_file(
    flag: str, path: Path, dataset_roots: Iterable[Path], out: Path, owned: Iterable[str]
) -> None:
    """A ``--junit``/``--markdown``/``--export-boxes`` FILE: writable, not in the dataset, and not
    inside an entry of ``--out`` that the swap replaces (it would vanish with the old set)."""
    _check_writable(flag, path, folder_wanted=False)
    for root in dataset_roots:
        if _inside(path, root):
            raise OutputError(
                f"{flag} {path} is inside the dataset {root}; write it outside "
                "(sodaudit never writes into a dataset)."
            )
    for name in owned:
        if _inside(path, out / name):
            raise OutputError(
                f"{flag} {path} lies in {out / name}, which each run replaces; write it elsewhere."
            )


def relocate_text(paths: Iterable[Path], staging: Path) -> None:
    """Files that name their own location (emit's train.sh names the tiles' data.yaml) were
    written while staged: drop the staging folder from the paths they mention."""
    marker = os.sep + staging.name
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if marker in text:
            mode = path.stat().st_mode
            path.write_text(text.replace(marker, ""), encoding="utf-8", errors="surrogateescape")
            path.chmod(mode)
