"""Datasets in object storage: ``sodaudit run s3://bucket/prefix`` (``gs://``, ``az://``, any
fsspec protocol) audited without copying the images (issue 19).

The prefix is listed and staged as a local tree (:mod:`sodaudit.remote_stage`): label files are
downloaded, images become empty sparse files of their true size whose headers come from ranged
reads of their first 64 KB. Every loader and analyzer then reads the staged tree as it reads a
local folder, so a dataset gives the same report.json from a bucket as from a disk (paths
aside). A pixel pass (``--deep``, ``--pixels``, image hashes, the report's crops) fetches the
images it decodes through :func:`whole_files`, a block at a time.

With the cache on, the staged tree lives in the user cache folder (one per URL, with a manifest
of what was staged from which object version): a re-run lists the prefix again and fetches only
objects whose size or ETag changed. With ``--no-cache`` it is a temporary folder removed at the end.
Nothing is ever written to the store.

Credentials and endpoints are fsspec's: the usual environment (``AWS_PROFILE``,
``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_CONNECTION_STRING``)
or fsspec's ``FSSPEC_<PROTOCOL>_<OPTION>`` variables.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from sodaudit.errors import DatasetError
from sodaudit.pool import ProgressFn
from sodaudit.remote_stage import (
    BLOCK_FILES,
    RemoteObject,
    fetch_whole,
    list_objects,
    read_heads,
    sparse,
    stale_files,
    write_whole,
)

if TYPE_CHECKING:
    from sodaudit.dataset import Dataset

T = TypeVar("T")
R = TypeVar("R")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")  # two letters at least: not a drive (C://)
LOCAL_PROTOCOLS = frozenset({"file", "local"})
EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
}
"""URL scheme -> the sodaudit extra that installs its fsspec backend."""
MANIFEST_VERSION = 1


def is_remote(path: object) -> bool:
    """``path`` is a URL of an object store (``s3://...``), not a local path."""
    match = _URL.match(str(path)) if isinstance(path, str) else None
    return match is not None and match.group(1).lower() not in LOCAL_PROTOCOLS


@dataclass
class Mirror:
    """A staged prefix: where its tree is, which staged paths are images known by header only,
    and what staging fetched."""

    url: str
    fs: Any
    tree: Path
    inside: str = ""
    """The dataset path under the tree (a COCO JSON URL: ``annotations/x.json``)."""
    images: dict[str, RemoteObject] = field(default_factory=dict)
    """Staged path (str) -> the object, for images staged without their bytes."""
    headers: dict[str, tuple] = field(default_factory=dict)
    """Staged path -> header row from the ranged read."""
    notes: list[str] = field(default_factory=list)
    bytes_fetched: int = 0
    objects_listed: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """Label files that could not be fetched (name under the tree, why): ``load.unreadable_file``
    findings, as an unreadable file on disk is."""
    whole: dict[str, int] = field(default_factory=dict)
    """Staged images fetched whole for pixel passes (path -> bytes), in order of last use."""
    held: int = 0
    """Their bytes."""
    unfetched: list[str] = field(default_factory=list)
    """Images a pixel pass asked for that could not be fetched (``rel: why``): the pass saw an
    empty file for them, so its findings about them are not theirs."""


_CURRENT: ContextVar[Mirror | None] = ContextVar("sodaudit_remote", default=None)


def current() -> Mirror | None:
    return _CURRENT.get()


def _filesystem(url: str) -> tuple[Any, str]:
    scheme = _URL.match(url).group(1).lower()  # type: ignore[union-attr]
    extra = EXTRAS.get(scheme)
    hint = (
        f'pip install "sodaudit[{extra}]"'
        if extra
        else "pip install fsspec and its backend for this protocol"
    )
    try:
        import fsspec.core

        return fsspec.core.url_to_fs(url)
    except ImportError as err:
        raise DatasetError(
            f"Reading {url} needs the {scheme}:// backend of fsspec ({hint}): {err}."
        ) from None
    except ValueError as err:  # fsspec: unknown protocol
        raise DatasetError(f"Cannot read {url}: {err}.") from None


def _root_of(fs: Any, url: str, root: str) -> tuple[str, str]:
    """The prefix to stage and the dataset path inside it (``""`` for the prefix itself): a
    single file (a COCO JSON) stages its folder, or the folder above an ``annotations/`` folder."""
    root = root.rstrip("/")
    try:
        is_file = fs.isfile(root)
        exists = is_file or fs.isdir(root)
    except Exception as err:  # credentials, endpoint, permission: the store's own exceptions
        raise DatasetError(f"Cannot read {url}: {type(err).__name__}: {err}.") from None
    if not exists:
        raise DatasetError(f"No such object or prefix: {url}.")
    if not is_file:
        return root, ""
    folder, name = root.rsplit("/", 1) if "/" in root else ("", root)
    if not folder or "/" not in folder:
        raise DatasetError(f"{url} is a file at the top of a bucket: give the folder holding the dataset.")
    if folder.rsplit("/", 1)[1].lower() == "annotations" and folder.count("/") >= 1:
        parent, sub = folder.rsplit("/", 1)
        return parent, f"{sub}/{name}"
    return folder, name


@contextlib.contextmanager
def staged(
    url: str, *, cache: bool = True, max_file_mb: float = 4096.0, progress: ProgressFn | None = None
) -> Iterator[Path]:
    """The local path to audit for ``url`` while the block runs; :func:`current` gives its
    mirror. A URL already staged by an outer block is reused (the CLI stages around the audit and
    the report, ``sodaudit.audit`` stages when called on its own)."""
    active = current()
    if active is not None and active.url == url:
        yield active.tree / active.inside
        return
    fs, root = _filesystem(url)
    prefix, inside = _root_of(fs, url, root)
    with _tree(url, cache) as (tree, manifest_path):
        mirror = Mirror(url=url, fs=fs, tree=tree, inside=inside)
        _sync(mirror, prefix, manifest_path, max_file_mb, progress)
        token = _CURRENT.set(mirror)
        try:
            yield tree / inside
        finally:
            _CURRENT.reset(token)
            _evict(mirror, 0)  # the staged tree never keeps a dataset's pixels


@contextlib.contextmanager
def _tree(url: str, cache: bool) -> Iterator[tuple[Path, Path | None]]:
    """The staged tree and its manifest: in the cache folder (kept, locked while a run uses it),
    else (``--no-cache``, or another run holds the lock) a temporary folder removed at the end."""
    with contextlib.ExitStack() as stack:
        home = _locked_home(url, stack) if cache else None
        if home is not None:
            yield home / "tree", home / "manifest.msgpack"
            return
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="sodaudit-remote-"))
        yield Path(tmp), None


def _locked_home(url: str, stack: contextlib.ExitStack) -> Path | None:
    """This URL's folder in the cache, locked (``fcntl.flock``) until ``stack`` closes; None when
    it cannot be made, another run holds it, or the platform has no ``fcntl``: the caller then
    stages into a folder of its own."""
    from sodaudit.cache import cache_folder

    home = cache_folder() / "remote" / hashlib.sha256(url.encode()).hexdigest()[:24]
    try:
        import fcntl

        (home / "tree").mkdir(parents=True, exist_ok=True)
        lock = stack.enter_context(open(home / "lock", "a+b"))  # noqa: SIM115 - closed by the stack
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):
        return None
    stack.callback(fcntl.flock, lock, fcntl.LOCK_UN)
    return home


class _Manifest(msgspec.Struct):
    version: int
    url: str
    entries: dict[str, list[Any]]
    """Object name -> ``[size, token, kind, header row or None]``."""


def _read_manifest(path: Path | None, url: str) -> dict[str, list[Any]]:
    if path is None or not path.is_file():
        return {}
    try:
        data = msgspec.msgpack.decode(path.read_bytes(), type=_Manifest)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return {}
    return data.entries if data.version == MANIFEST_VERSION and data.url == url else {}


def _write_manifest(path: Path | None, url: str, entries: dict[str, list[Any]]) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.msgpack.encode(_Manifest(MANIFEST_VERSION, url, entries)))
        os.replace(tmp, path)


def _sync(
    mirror: Mirror, prefix: str, manifest_path: Path | None, max_file_mb: float, progress: ProgressFn | None
) -> None:
    """Make ``mirror.tree`` hold exactly the listed objects: fetch what is new or changed since
    the manifest, remove what is gone, and read the new images' headers."""
    if progress is not None:
        progress(f"listing {mirror.url}", 0, 0)
    try:
        objects, notes = list_objects(mirror.fs, prefix)
    except Exception as err:  # the store's own exceptions
        raise DatasetError(f"Cannot list {mirror.url}: {type(err).__name__}: {err}.") from None
    mirror.notes += notes
    mirror.objects_listed = len(objects)
    old = _read_manifest(manifest_path, mirror.url)
    for path in stale_files(mirror.tree, (o.rel for o in objects)):
        path.unlink()
    limit = int(max_file_mb * (1 << 20))
    entries: dict[str, list[Any]] = {}
    fetch: list[RemoteObject] = []
    heads: list[RemoteObject] = []
    for obj in objects:
        target = mirror.tree / obj.rel
        kind = "placeholder" if obj.kind == "file" and obj.size > limit else obj.kind
        before = old.get(obj.rel)
        same = before is not None and before[:3] == [obj.size, obj.token, kind] and _same_file(target, obj)
        if kind == "image":
            mirror.images[str(target)] = obj
            if same and before[3]:
                mirror.headers[str(target)] = tuple(before[3])
                entries[obj.rel] = before
                continue
            heads.append(obj)
        elif same:
            entries[obj.rel] = before
            continue
        elif kind == "file":
            fetch.append(obj)
        entries[obj.rel] = [obj.size, obj.token, kind, None]
        try:
            sparse(target, obj)  # also the image and placeholder staging; files are then written
        except OSError as err:  # a name that is both a file and a folder in the store
            mirror.notes.append(f"{obj.rel} was not staged: {err.strerror or err}.")
            entries.pop(obj.rel)
            mirror.images.pop(str(target), None)
    fetch = [o for o in fetch if o.rel in entries]
    heads = [o for o in heads if o.rel in entries]
    fetched, failed = fetch_whole(mirror.fs, fetch, [mirror.tree / o.rel for o in fetch], progress)
    for obj, why in failed:  # not staged (a placeholder would read as zeros); read again next time
        entries.pop(obj.rel, None)
        (mirror.tree / obj.rel).unlink(missing_ok=True)
        mirror.unreadable.append((obj.rel, f"cannot read from the store: {why}"))

    def keep_whole(obj: RemoteObject, data: bytes) -> None:
        if mirror.held + obj.size <= WHOLE_BUDGET_BYTES:
            target = mirror.tree / obj.rel
            write_whole(target, obj, data)
            mirror.whole[str(target)] = obj.size
            mirror.held += obj.size

    rows, head_bytes = read_heads(mirror.fs, heads, whole=keep_whole, progress=progress)
    for obj, row in zip(heads, rows, strict=True):
        mirror.headers[str(mirror.tree / obj.rel)] = row
        entries[obj.rel][3] = list(row)
    mirror.bytes_fetched = fetched + head_bytes
    _write_manifest(manifest_path, mirror.url, entries)


def _same_file(target: Path, obj: RemoteObject) -> bool:
    try:
        st = target.stat()
    except OSError:
        return False
    return st.st_size == obj.size and st.st_mtime_ns == obj.mtime_ns


_MD5_HEX = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


def staged_md5s(paths: Sequence[str]) -> list[str | None]:
    """The MD5 of each staged image's bytes as the store gives it (an S3 ETag of a single-part
    upload, GCS's md5Hash), ``None`` where it gives none (a multipart ETag); ``[]`` outside a
    staged run, where files are hashed as they are."""
    mirror = current()
    if mirror is None:
        return []
    out: list[str | None] = []
    for path in paths:
        obj = mirror.images.get(path)
        out.append(None if obj is None else _md5_of(obj.token))
    return out


def _md5_of(token: str) -> str | None:
    if match := _MD5_HEX.match(token):
        return match.group(1).lower()
    if len(token) == 24 and token.endswith("=="):  # GCS: base64 of the 16 bytes
        with contextlib.suppress(ValueError):
            return base64.b64decode(token, validate=True).hex()
    return None


def staged_headers(paths: Sequence[str]) -> list[tuple | None]:
    """The header rows staging read for ``paths`` (``None`` for a path it did not stage)."""
    mirror = current()
    if mirror is None:
        return [None] * len(paths)
    return [mirror.headers.get(p) for p in paths]


WHOLE_BUDGET_BYTES = 1 << 30
"""Images kept whole in the staged tree between pixel passes (the hashes, pHash and the report's
crops read the same images): at most this many bytes; past it the longest-held are made sparse
again. All are made sparse when the staging ends."""


@contextlib.contextmanager
def whole_files(paths: Sequence[str]) -> Iterator[None]:
    """The staged images among ``paths`` fetched whole while the block runs (kept for later
    passes within :data:`WHOLE_BUDGET_BYTES`). Outside a staged run: nothing to do."""
    mirror = current()
    if mirror is None:
        yield
        return
    wanted = [p for p in dict.fromkeys(paths) if p in mirror.images]
    objects = [mirror.images[p] for p in wanted if p not in mirror.whole]
    if objects:
        fetched, failed = fetch_whole(mirror.fs, objects, [mirror.tree / o.rel for o in objects])
        mirror.bytes_fetched += fetched
        mirror.unfetched += [f"{obj.rel}: {why}" for obj, why in failed]
        for obj in objects:
            mirror.whole[str(mirror.tree / obj.rel)] = obj.size
            mirror.held += obj.size
    try:
        yield
    finally:
        for path in wanted:  # most recently used last: evicted last
            if path in mirror.whole:
                mirror.whole[path] = mirror.whole.pop(path)
        _evict(mirror, WHOLE_BUDGET_BYTES)


def _evict(mirror: Mirror, budget: int) -> None:
    """Make whole images sparse again, longest-held first, until they take at most ``budget``."""
    for path in list(mirror.whole):
        if mirror.held <= budget:
            break
        mirror.held -= mirror.whole.pop(path)
        with contextlib.suppress(OSError):
            sparse(Path(path), mirror.images[path])


def blockwise(
    items: Sequence[T], compute: Callable[[Sequence[T]], list[R]], path_of: Callable[[T], str] = str
) -> list[R]:
    """``compute(items)``, or for a staged dataset ``compute`` over blocks of items whose images
    are fetched whole for the block: a pixel pass over a million images in a bucket needs the
    disk of one block, not of the dataset."""
    mirror = current()
    if mirror is None or not any(path_of(item) in mirror.images for item in items):
        return list(compute(items))
    out: list[R] = []
    for start in range(0, len(items), BLOCK_FILES):
        block = items[start : start + BLOCK_FILES]
        with whole_files([path_of(item) for item in block]):
            out += compute(block)
    return out


def origin_of(local: Path) -> str | None:
    """The URL a staged path stands for (shown in reports instead of the cache folder)."""
    mirror = current()
    if mirror is None:
        return None
    try:
        rel = Path(local).resolve().relative_to(mirror.tree.resolve()).as_posix()
    except ValueError:
        return None
    return mirror.url if rel == "." else f"{mirror.url.rstrip('/')}/{rel}"


def as_origin(dataset: Dataset, origin: str) -> Dataset:
    """``dataset`` read from a staged tree, told as read from ``origin``: the URL in its meta
    (report.json's ``dataset.path``) and in its notes and issues instead of the cache folder,
    and the staging's own notes added."""
    mirror = current()
    if mirror is None:
        return dataset
    tree, url = str(mirror.tree), mirror.url.rstrip("/")
    notes = tuple(n.replace(tree, url) for n in (*dataset.notes, *mirror.notes))
    from sodaudit.dataset import LoadIssue

    issues = tuple(replace(i, reason=i.reason.replace(tree, url)) for i in dataset.issues)
    issues += tuple(LoadIssue("load.unreadable_file", rel, why) for rel, why in mirror.unreadable)
    return replace(dataset, meta={**dataset.meta, "origin": origin}, notes=notes, issues=issues)


def summary() -> str | None:
    """One note for the report: what staging read, so the cost of a remote run is visible."""
    mirror = current()
    if mirror is None:
        return None
    failed = (
        f" {len(mirror.unfetched):,} image(s) a pixel pass asked for could not be fetched (their "
        f"pixel findings are not theirs); first: {mirror.unfetched[0]}."
        if mirror.unfetched
        else ""
    )
    return (
        f"Read from {mirror.url}: {mirror.objects_listed:,} objects listed, "
        f"{mirror.bytes_fetched / (1 << 20):,.1f} MB fetched (label files whole, image headers by "
        f"ranged reads of their first 64 KB, whole images only for pixel passes).{failed}"
    )
