"""Image sizes from file headers, with EXIF orientation applied; never a full decode.

``imagesize`` reads the header of the common formats; Pillow's lazy ``open`` (which
also reads only the header) is the fallback for anything it does not know.
"""

from __future__ import annotations

import io
import os
import stat
import struct
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import imagesize
from PIL import Image, UnidentifiedImageError

from sodaudit.regular import not_regular_reason, open_binary

if TYPE_CHECKING:
    from sodaudit.pool import ProgressFn

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".bmp",
        ".tif",
        ".tiff",
        ".webp",
        ".gif",
        ".jp2",
        ".mpo",
        ".pfm",
        ".dng",
        ".heic",
        ".avif",
    }
)
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}
"""EXIF orientations that swap width and height (imagesize swaps them itself)."""


@dataclass(frozen=True)
class ImageHeader:
    """Size as the image appears after EXIF orientation; ``status`` as in the images table."""

    width: float
    height: float
    status: str
    exif_rotated: bool = False
    reason: str = ""


def is_image_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def leads_outside(path: str, root: str | os.PathLike[str]) -> bool:
    """Whether ``path`` lies in the dataset folder ``root`` by name but a symbolic link takes it
    outside: a dataset must not make sodaudit read (and show) pixels from elsewhere on the machine.

    A path outside ``root`` by name is the loader's decision (a data.yaml ``path:``, noted by the
    loader); ``..`` escapes never reach here, the loaders refuse them.
    """
    return symlinked_outside([path], root)[0]


SCANDIR_FROM = 32
"""From this many images in one folder, one ``scandir`` finds its symbolic links instead of an
``lstat`` per image (a COCO folder of 118k images: one listing, not 118k system calls)."""


def symlinked_outside(paths: Sequence[str], root: str | os.PathLike[str]) -> list[bool]:
    """:func:`leads_outside` for many paths: one ``realpath`` per folder, and a link check per
    image (a listing per folder for large folders), so a 10^5-image dataset costs milliseconds."""
    root_name = os.path.normpath(os.path.abspath(root))
    root_real = os.path.realpath(root_name)
    by_dir: dict[str, list[int]] = defaultdict(list)
    for i, path in enumerate(paths):
        by_dir[os.path.dirname(path)].append(i)
    out = [False] * len(paths)
    for folder, idx in by_dir.items():
        if not _within(os.path.normpath(folder), root_name):
            continue
        if not _within(os.path.realpath(folder), root_real):
            for i in idx:
                out[i] = True
            continue
        links = _links_in(folder, [paths[i] for i in idx])
        for i in idx:
            path = paths[i]
            if os.path.basename(path) in links and not _within(os.path.realpath(path), root_real):
                out[i] = True
    return out


def _links_in(folder: str, paths: Sequence[str]) -> set[str]:
    """Names among ``paths`` (all in ``folder``) that are symbolic links."""
    if len(paths) >= SCANDIR_FROM:
        try:
            with os.scandir(folder) as entries:
                return {e.name for e in entries if e.is_symlink()}
        except OSError:
            pass
    return {os.path.basename(p) for p in paths if os.path.islink(p)}


def read_header(path: str) -> ImageHeader:
    """Width and height of one image from its header, or why they are unknown."""
    try:
        mode, size = (info := os.stat(path)).st_mode, info.st_size
    except OSError:
        return ImageHeader(float("nan"), float("nan"), "missing", reason="file not found")
    if not stat.S_ISREG(mode):  # a FIFO would block imagesize's open
        return ImageHeader(float("nan"), float("nan"), "corrupt", reason=not_regular_reason(mode))
    if size == 0:
        return ImageHeader(float("nan"), float("nan"), "corrupt", reason="empty file")
    try:
        info = imagesize.get_info(path, dpi=False, colors=False, channels=False)
        if info.width > 0 and info.height > 0:
            rotated = info.rotation not in (-1, 0, 1)  # the EXIF orientation tag value
            return ImageHeader(float(info.width), float(info.height), "ok", exif_rotated=rotated)
    except (OSError, ValueError, struct.error):
        pass
    return _pillow_header(path)


def header_row_of_bytes(head: bytes, problem: str = "") -> tuple:
    """:func:`header_rows`' row of an image from its first bytes (a ranged read of a file in
    object storage); ``problem``: why no bytes came ("empty file", or the store's error)."""
    if problem:
        status = "corrupt" if problem == "empty file" else "unreadable-size"
        return _as_row(ImageHeader(float("nan"), float("nan"), status, reason=problem))
    try:
        info = imagesize.get_info(io.BytesIO(head), dpi=False, colors=False, channels=False)
        if info.width > 0 and info.height > 0:
            rotated = info.rotation not in (-1, 0, 1)
            return _as_row(ImageHeader(float(info.width), float(info.height), "ok", exif_rotated=rotated))
    except (OSError, ValueError, struct.error):
        pass
    return _as_row(_pillow_header(io.BytesIO(head)))


def _pillow_header(path: str | io.BytesIO) -> ImageHeader:
    try:
        with open_binary(path) if isinstance(path, str) else path as fh, Image.open(fh) as im:
            width, height = im.size
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        return ImageHeader(float("nan"), float("nan"), "unreadable-size", reason=str(err) or "unreadable")
    if orientation in _TRANSPOSED_ORIENTATIONS:
        width, height = height, width
    return ImageHeader(float(width), float(height), "ok", exif_rotated=orientation != 1)


def read_headers(
    paths: Sequence[str], progress: ProgressFn | None = None, *, workers: int = 1
) -> list[ImageHeader]:
    """Headers of many images, in ``paths`` order; in a process pool with ``workers`` != 1.

    A header read is a few small syscalls: threads made them slower here (the GIL hand-offs
    cost more than the reads), so more than one worker means processes.
    """
    from sodaudit.cache import cached_map
    from sodaudit.pool import map_chunks
    from sodaudit.remote import staged_headers

    def compute(todo: Sequence[str]) -> list[tuple]:
        # Images of a dataset in object storage: their rows came with the staging's ranged reads.
        rows: list[tuple | None] = list(staged_headers(todo))
        local = [p for p, row in zip(todo, rows, strict=True) if row is None]
        chunks = map_chunks(header_rows, local, workers=workers, what=_WHAT, progress=progress)
        read = iter(row for chunk in chunks for row in chunk)
        return [next(read) if row is None else row for row in rows]

    # In a cache session (a CLI run) only images whose size or mtime changed are read again.
    return headers_of([cached_map("headers", list(paths), compute)])


def headers_of(chunks: Sequence[list[tuple]]) -> list[ImageHeader]:
    """The headers of :func:`header_rows` chunks, in order."""
    return [ImageHeader(w, h, s, r, why) for chunk in chunks for w, h, s, r, why in chunk]


_WHAT = "reading image headers"


def header_rows(paths: Sequence[str], progress: ProgressFn | None) -> list[tuple]:
    """Headers as plain tuples: they cross a process boundary as one cheap pickle."""
    if progress is not None:
        from sodaudit.loaders.base import counted

        paths = counted(paths, _WHAT, progress)  # type: ignore[assignment]
    return [_as_row(read_header(p)) for p in paths]


def _as_row(h: ImageHeader) -> tuple:
    return (h.width, h.height, h.status, h.exif_rotated, h.reason)
