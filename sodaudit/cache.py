"""A cache of per-file results (image headers, parsed label files) so a re-run re-reads only what
changed (issue 19).

Entries are keyed by the file's absolute path, size and modification time in nanoseconds, the
key Ultralytics' ``labels.cache`` trusts too (it hashes the paths and total size). A file whose
size or mtime changed is read again; nothing else is compared, so the cache costs one ``stat``
per file. Files live under the user cache folder (``platformdirs``: ``$XDG_CACHE_HOME/sodaudit``
on Linux), one file per dataset path and kind, never in the dataset. They are msgpack decoded
by msgspec (no code runs while reading one); a file that does not decode, is of another version,
or belongs to another dataset path is ignored with a note and rewritten.

A run opens a :func:`session` (``sodaudit.pipeline.audit`` does, unless ``config.cache`` is
false / ``--no-cache``); readers ask :func:`current` for their kind's cache and get ``None``
outside a session, so library calls of a loader never touch the cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import msgspec

VERSION = 2
"""Bumped when an entry's layout changes: older files are then ignored (with a note)."""
SMALL_FILE_BYTES = 1 << 20
"""A label file up to this size also keeps a digest of its content: a fresh checkout (CI) gives
every file a new mtime, and an unchanged digest still finds its entry."""
DIGESTED_KINDS = ("yolo-labels",)
"""Kinds (by prefix) whose files are label files, digested. Images are not: a digest would read
a whole image where a header read takes its first bytes."""
MAX_CACHE_MB = 2048
"""A cache file larger than this is not read (a dataset cannot make the audit load gigabytes)."""

StatKey = tuple[int, int]
"""``(size, mtime_ns)`` of a file."""


class _File(msgspec.Struct):
    version: int
    kind: str
    root: str
    entries: dict[str, list[Any]]
    """Absolute path -> ``[size, mtime_ns, value, content digest or b""]``."""


def cache_folder() -> Path:
    """Where cache files go: the platform's user cache folder for sodaudit."""
    import platformdirs

    return platformdirs.user_cache_path("sodaudit")


def stat_key(path: str) -> StatKey | None:
    """``(size, mtime_ns)``, or None when the path cannot be stat'ed (then never cached)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_size, st.st_mtime_ns


def content_digest(path: str, key: StatKey) -> bytes:
    """BLAKE2b of a small file's bytes (``b""`` for a larger or unreadable one, or one whose size
    is no longer ``key``'s): what identifies it when a checkout changed its mtime."""
    if key[0] > SMALL_FILE_BYTES:
        return b""
    from sodaudit.regular import open_regular

    try:
        fd, info = open_regular(path)
        try:
            data = os.read(fd, SMALL_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError:
        return b""
    if len(data) != key[0] or info.st_size != key[0]:
        return b""
    return hashlib.blake2b(data, digest_size=16).digest()


class FileCache:
    """One kind of per-file result for one dataset path: ``get`` what is still valid, ``put``
    what was computed; entries not used in this run are dropped when saved (the file stays the
    size of the dataset)."""

    def __init__(self, folder: Path, root: str, kind: str, notes: list[str]) -> None:
        digest = hashlib.blake2b(root.encode("utf-8", "surrogateescape"), digest_size=10).hexdigest()
        self.path = folder / f"{kind}-{digest}.msgpack"
        self.root, self.kind = root, kind
        self.digests = kind.startswith(DIGESTED_KINDS)
        self.old = self._read(notes)
        self.new: dict[str, list[Any]] = {}
        self.hits = 0

    def _read(self, notes: list[str]) -> dict[str, list[Any]]:
        try:
            if self.path.stat().st_size > MAX_CACHE_MB << 20:
                notes.append(f"Cache file {self.path} is over {MAX_CACHE_MB} MB; not read.")
                return {}
            data = msgspec.msgpack.decode(self.path.read_bytes(), type=_File)
        except FileNotFoundError:
            return {}
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as err:
            notes.append(f"Cache file {self.path} could not be used ({type(err).__name__}); rebuilt.")
            return {}
        if (data.version, data.kind, data.root) != (VERSION, self.kind, self.root):
            notes.append(f"Cache file {self.path} belongs to another version or dataset; rebuilt.")
            return {}
        return data.entries

    def get(self, path: str, key: StatKey | None) -> Any | None:
        """The cached value of ``path`` when its size and mtime are still ``key``, or when only
        its mtime changed and its content digest (small files) is the same."""
        entry = self.old.get(path) if key is not None else None
        if entry is None or len(entry) != 4 or entry[0] != key[0]:  # type: ignore[index]
            return None
        if entry[1] != key[1]:  # type: ignore[index]
            if not entry[3] or content_digest(path, key) != entry[3]:
                return None
            entry = [key[0], key[1], entry[2], entry[3]]  # type: ignore[index]
        self.new[path] = entry
        self.hits += 1
        return entry[2]

    def put(self, path: str, key: StatKey | None, value: Any) -> None:
        if key is not None:
            digest = content_digest(path, key) if self.digests else b""
            self.new[path] = [key[0], key[1], value, digest]

    def save(self) -> None:
        """Written atomically (a temporary file renamed over the old one); a cache that cannot
        be written is simply not kept."""
        try:
            data = msgspec.msgpack.encode(_File(VERSION, self.kind, self.root, self.new))
        except UnicodeEncodeError:  # a path or text that is not UTF-8: that entry is not kept
            try:
                data = msgspec.msgpack.encode(_File(VERSION, self.kind, self.root, _encodable(self.new)))
            except UnicodeEncodeError:  # the dataset's own path: no cache for it
                return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self.path)
        except OSError:
            if "tmp" in locals():
                Path(tmp).unlink(missing_ok=True)


def _encodable(entries: dict[str, list[Any]]) -> dict[str, list[Any]]:
    kept = {}
    for path, entry in entries.items():  # only on the rare save that met such a name
        try:
            msgspec.msgpack.encode([path, entry])
        except UnicodeEncodeError:
            continue
        kept[path] = entry
    return kept


class Session:
    """The caches of one run, by kind, and the notes about them."""

    def __init__(self, root: str, folder: Path) -> None:
        self.root, self.folder = root, folder
        self.caches: dict[str, FileCache] = {}
        self.notes: list[str] = []

    def cache(self, kind: str) -> FileCache:
        if kind not in self.caches:
            self.caches[kind] = FileCache(self.folder, self.root, kind, self.notes)
        return self.caches[kind]


_CURRENT: ContextVar[Session | None] = ContextVar("sodaudit_cache", default=None)


@contextmanager
def session(path: str | Path, enabled: bool = True, folder: Path | None = None) -> Iterator[Session | None]:
    """Caches for the audit of ``path`` while the block runs, saved at its end (also when it
    fails part-way: what was read is still valid)."""
    if not enabled:
        yield None
        return
    current = Session(str(Path(path).resolve()), folder or cache_folder())
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)
        for cache in current.caches.values():
            cache.save()


def current(kind: str) -> FileCache | None:
    """This run's cache of ``kind``, or None outside a :func:`session`."""
    active = _CURRENT.get()
    return None if active is None else active.cache(kind)


def cached_map(
    kind: str,
    paths: Sequence[str],
    compute: Any,
) -> list[Any]:
    """``compute(missing_paths) -> values`` (in order) for the paths whose cached value is not
    valid, cached ones for the rest; the result is in ``paths`` order. Without a session this
    is ``compute(paths)``."""
    cache = current(kind)
    if cache is None:
        return list(compute(paths))
    keys = [stat_key(p) for p in paths]
    values: list[Any] = [cache.get(p, k) for p, k in zip(paths, keys, strict=True)]
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        fresh = compute([paths[i] for i in missing])
        for i, value in zip(missing, fresh, strict=True):
            values[i] = value
            cache.put(paths[i], keys[i], value)
    return values
