"""Listing an object-store prefix and staging it as a local tree the loaders read unchanged.

The staged tree mirrors the objects' names under the URL's prefix:

- label and annotation files (JSON, TXT, XML, YAML, CSV, ...) are downloaded whole, a block of
  files at a time (fsspec's ``cat``, at most :data:`CONCURRENCY` requests in flight);
- images become *sparse* files of their true size and modification time, holding no bytes;
  their headers come from one ranged read of the first :data:`HEADER_BYTES` each
  (``cat_ranges``), so an image is never fetched whole for its size;
- anything else (videos, archives, files past ``limits.max_annotation_file_mb``) is a sparse
  placeholder too: the loaders see its name and size (a too-large file is still a
  ``load.file_too_large`` finding), never its bytes.

A pixel pass asks :func:`sodaudit.remote.whole_files` for the images it decodes; they are
fetched then, a block at a time, and made sparse again after the block.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sodaudit.imageinfo import is_image_file
from sodaudit.pool import ProgressFn

HEADER_BYTES = 64 * 1024
"""First bytes of an image read for its header (issue 19). PNG's IHDR, GIF's and BMP's headers
are in the first 30 bytes; a JPEG's SOF follows its APP segments, each at most 64 KB (the JPEG
segment length is 16 bits), so one EXIF block fits."""
HEADER_RETRY_BYTES = 1024 * 1024
"""Read once more, this far, for the few images whose header the first 64 KB do not hold (a
JPEG with an ICC profile and an EXIF thumbnail before its SOF)."""
CONCURRENCY = 32
"""Requests in flight at once (fsspec's ``batch_size``): enough to hide a round trip of
~50 ms, few enough not to be throttled (S3 allows 5,500 GETs per second per prefix)."""
BLOCK_FILES = 512
"""Objects fetched per block: memory holds at most a block's bytes (512 x 64 KB = 32 MB of
headers)."""
BLOCK_BYTES = 64 * 1024 * 1024
"""A block of whole files stops at this many bytes; a larger single file streams to disk."""
SMALL_FILE_BYTES = 64 * 1024
"""Any file this small is downloaded whatever its extension (a ``classes`` or ``obj.names``)."""
LABEL_SUFFIXES = frozenset(
    {".json", ".txt", ".xml", ".yaml", ".yml", ".csv", ".tsv", ".data", ".names", ".toml", ".cfg"}
)
"""Files a loader may read: downloaded whole (up to ``limits.max_annotation_file_mb``)."""
MAX_LISTED_OBJECTS = 10_000_000
"""The bound of one listing, as for local walks (``loaders/yolo/files.py`` MAX_LISTED_ENTRIES)."""


@dataclass(frozen=True)
class RemoteObject:
    """One listed object: its store path (``bucket/prefix/rel``), its name under the root, size,
    the token that changes with its content (ETag, generation, MD5 or modification time) and
    its modification time in ns (the staged file carries it, so the cache keys stay valid)."""

    key: str
    rel: str
    size: int
    token: str
    mtime_ns: int

    @property
    def kind(self) -> str:
        """``image`` (header only), ``file`` (downloaded) or ``placeholder`` (name and size only)."""
        if is_image_file(self.rel):
            return "image"
        suffix = posixpath.splitext(self.rel)[1].lower()
        return "file" if suffix in LABEL_SUFFIXES or self.size <= SMALL_FILE_BYTES else "placeholder"


_TOKEN_KEYS = ("ETag", "etag", "md5Hash", "generation", "content_md5", "VersionId", "version_id")
_TIME_KEYS = ("LastModified", "last_modified", "mtime", "updated", "time_created", "created")


def _mtime_ns(info: dict[str, Any]) -> int | None:
    for key in _TIME_KEYS:
        value = info.get(key)
        if isinstance(value, dt.datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, (int, float)) and value > 0:
            return int(value * 1e9)
        if isinstance(value, str):
            try:
                return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
            except ValueError:
                continue
    return None


def remote_object(key: str, rel: str, info: dict[str, Any]) -> RemoteObject:
    """The listed object; its staged mtime carries a digest of its token in the sub-second part:
    listings give whole seconds, so a rewrite within the same second still changes the cache key."""
    token = next((str(info[k]) for k in _TOKEN_KEYS if info.get(k)), "")
    mtime = _mtime_ns(info)
    if mtime is None:  # no time from the store: never trusted across runs
        mtime = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1e9)
        token = token or f"now:{mtime}"
    digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big")
    mtime = mtime - mtime % 1_000_000_000 + digest % 1_000_000_000
    return RemoteObject(key, rel, int(info.get("size") or 0), token or str(mtime), mtime)


def safe_rel(rel: str) -> bool:
    """A name that stays inside the staged tree: no empty, ``.`` or ``..`` part, no NUL, no
    backslash (a separator on Windows)."""
    parts = rel.split("/")
    return bool(rel) and all(p not in ("", ".", "..") for p in parts) and "\0" not in rel and "\\" not in rel


def list_objects(fs: Any, root: str, limit: int = MAX_LISTED_OBJECTS) -> tuple[list[RemoteObject], list[str]]:
    """The objects under ``root`` (a folder-like prefix), top-down, and notes: names that could
    not be staged, a listing stopped at ``limit`` objects."""
    objects: list[RemoteObject] = []
    notes: list[str] = []
    unsafe = 0
    prefix = root.rstrip("/") + "/"
    for _folder, _dirs, files in fs.walk(root, detail=True):
        for info in files.values():
            name = str(info.get("name", ""))
            rel = name[len(prefix) :] if name.startswith(prefix) else ""
            if info.get("type") == "directory" or name.endswith("/"):
                continue
            if not safe_rel(rel):
                unsafe += 1
                continue
            objects.append(remote_object(name, rel, info))
        if len(objects) > limit:
            notes.append(
                f"The listing stopped after {limit:,} objects (MAX_LISTED_OBJECTS in "
                "sodaudit/remote_stage.py): the prefix holds far more than a dataset; what lies "
                "beyond is not audited."
            )
            objects = objects[:limit]
            break
    if unsafe:
        notes.append(
            f"{unsafe:,} object name(s) with an empty, '.' or '..' part or a backslash were not "
            "staged: they cannot be files of a dataset folder."
        )
    objects.sort(key=lambda o: o.rel)
    return objects, notes


def blocks(objects: Sequence[RemoteObject], sizes: Sequence[int] | None = None) -> Iterator[list[int]]:
    """Indexes of ``objects`` in blocks of at most :data:`BLOCK_FILES` objects and
    :data:`BLOCK_BYTES` bytes (``sizes``: bytes each will cost; the object sizes by default)."""
    block: list[int] = []
    total = 0
    for i, obj in enumerate(objects):
        cost = obj.size if sizes is None else sizes[i]
        if block and (len(block) >= BLOCK_FILES or total + cost > BLOCK_BYTES):
            yield block
            block, total = [], 0
        block.append(i)
        total += cost
    if block:
        yield block


def sparse(path: Path, obj: RemoteObject) -> None:
    """``path`` as a file of ``obj``'s size holding no data blocks, with its mtime."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(obj.size)
    os.utime(path, ns=(obj.mtime_ns, obj.mtime_ns))


def write_whole(path: Path, obj: RemoteObject, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, ns=(obj.mtime_ns, obj.mtime_ns))


def fetch_whole(
    fs: Any, objects: Sequence[RemoteObject], targets: Sequence[Path], progress: ProgressFn | None = None
) -> tuple[int, list[tuple[RemoteObject, str]]]:
    """Download ``objects`` to ``targets``, a block at a time; bytes fetched and the objects that
    could not be read, with why (their targets are left as sparse placeholders)."""
    fetched: int = 0
    failed: list[tuple[RemoteObject, str]] = []
    for block in blocks(objects):
        if progress is not None:
            progress("fetching label files", block[0], len(objects))
        if len(block) == 1 and objects[block[0]].size > BLOCK_BYTES:  # one large file: stream it
            obj, target = objects[block[0]], targets[block[0]]
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(obj.key, str(target))
                os.utime(target, ns=(obj.mtime_ns, obj.mtime_ns))
                fetched += obj.size
            except Exception as err:  # the store's errors have no common base class
                failed.append((obj, str(err)))
                sparse(target, obj)
            continue
        keys = [objects[i].key for i in block]
        data = fs.cat(keys, on_error="return", batch_size=CONCURRENCY) if len(keys) > 1 else _one(fs, keys[0])
        for i in block:
            obj, value = objects[i], data.get(objects[i].key)
            if isinstance(value, bytes):
                write_whole(targets[i], obj, value)
                fetched += len(value)
            else:
                failed.append((obj, str(value)))
                sparse(targets[i], obj)
    return fetched, failed


def _one(fs: Any, key: str) -> dict[str, Any]:
    try:
        return {key: fs.cat_file(key)}
    except Exception as err:  # the store's errors have no common base class
        return {key: err}


def read_heads(
    fs: Any,
    objects: Sequence[RemoteObject],
    n_bytes: int = HEADER_BYTES,
    whole: Callable[[RemoteObject, bytes], None] | None = None,
    progress: ProgressFn | None = None,
) -> tuple[list[tuple], int]:
    """The header rows (as :func:`sodaudit.imageinfo.header_rows`) of ``objects`` from ranged
    reads of their first ``n_bytes``, and the bytes read. Images whose header is not within the
    first ``n_bytes`` are read once more up to :data:`HEADER_RETRY_BYTES`. ``whole`` gets each
    object the read returned entirely (a 40 KB image), as it comes: no second fetch for pixels."""
    from sodaudit.imageinfo import header_row_of_bytes

    rows: list[tuple] = [()] * len(objects)
    fetched = 0
    ends = [min(o.size, n_bytes) for o in objects]
    for block in blocks(objects, ends):
        if progress is not None:
            progress("reading image headers (first 64 KB)", block[0], len(objects))
        todo = [i for i in block if ends[i] > 0]
        for i in block:
            if ends[i] == 0:
                rows[i] = header_row_of_bytes(b"", "empty file")
        if not todo:
            continue
        heads = fs.cat_ranges(
            [objects[i].key for i in todo],
            [0] * len(todo),
            [ends[i] for i in todo],
            on_error="return",
            batch_size=CONCURRENCY,
        )
        for i, head in zip(todo, heads, strict=True):
            if isinstance(head, bytes):
                fetched += len(head)
                rows[i] = header_row_of_bytes(head)
                if whole is not None and len(head) == objects[i].size:
                    whole(objects[i], head)
            else:
                rows[i] = header_row_of_bytes(b"", f"cannot read from the store: {head}")
    if n_bytes < HEADER_RETRY_BYTES:
        again = [
            i for i, (o, r) in enumerate(zip(objects, rows, strict=True)) if r[2] != "ok" and o.size > n_bytes
        ]
        if again:
            more, extra = read_heads(fs, [objects[i] for i in again], HEADER_RETRY_BYTES)
            fetched += extra
            for i, row in zip(again, more, strict=True):
                rows[i] = row
    return rows, fetched


def stale_files(tree: Path, keep: Iterable[str]) -> list[Path]:
    """Files in the staged ``tree`` whose names are not in ``keep`` (removed or renamed objects,
    or the leftovers of an interrupted staging): what the loaders must no longer see."""
    wanted = set(keep)
    out = []
    for folder, _dirs, files in os.walk(tree):
        for name in files:
            path = Path(folder, name)
            if path.relative_to(tree).as_posix() not in wanted:
                out.append(path)
    return out
