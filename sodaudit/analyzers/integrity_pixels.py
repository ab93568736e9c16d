"""The integrity checks that read image files: the full decode (``--deep``) and the hashes that
find identical files across splits.

Both read only images whose file lies in the dataset folder: an image that a symbolic link takes
outside it is reported (``load.path_outside_root``) and never opened, so a dataset cannot make
sodaudit read, hash or show a file from elsewhere on the machine.
"""

from __future__ import annotations

import hashlib
import os
import stat
import warnings
from collections import Counter
from collections.abc import Sequence
from functools import partial

import pandas as pd
from PIL import Image

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.analyzers.integrity_blockers import NAME
from sodaudit.analyzers.integrity_stats import IntegrityDeepDecode, IntegrityImageHash
from sodaudit.cache import cached_map
from sodaudit.config import Config
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.imageinfo import symlinked_outside
from sodaudit.pool import ProgressFn, map_chunks
from sodaudit.regular import open_binary
from sodaudit.remote import blockwise, staged_md5s

TOO_LARGE = "too large to decode safely"
DECODED = ""
"""A cached decode result that means "decodes fully" (the cache keeps no None)."""
"""Pillow's decompression-bomb limit: such images are not decoded by ``--deep``; a finding names them."""
NOT_FOUND = "file not found"
"""An image whose file vanished after loading is not corrupt: ``--deep`` skips and counts it."""
GROUP_NAMES = 5
"""File names shown per group of identical files; the group's size is given, the table has all."""
OUTSIDE_REASON = (
    "a symbolic link leading outside the dataset folder; its pixels are not read "
    "(--deep, identical-file hashes, --pixels crops, gallery, tile figure)"
)


def pixel_images(dataset: Dataset) -> tuple[pd.DataFrame, list[LoadIssue]]:
    """Images whose file exists, whose header was read and which lie in the dataset folder: the
    only ones worth (and allowed) opening; and an issue for each one a symlink takes outside."""
    images = dataset.images
    readable = images[(images["status"] == "ok") & (images["path"].astype(str) != "")]
    outside = symlinked_outside(readable["path"].astype(str).tolist(), dataset.root)
    mask = pd.Series(outside, index=readable.index, dtype=bool)
    names = readable["file_name"][mask].astype(str)
    issues = [LoadIssue("load.path_outside_root", n, OUTSIDE_REASON) for n in names]
    return readable[~mask], issues


def decode_errors(
    paths: Sequence[str], progress: ProgressFn | None = None, *, max_pixels: int | None = None
) -> list[str | None]:
    """Why each image cannot be decoded (None when it decodes fully): the per-file work of
    ``--deep``, at module level so that :func:`sodaudit.pool.map_chunks` can run it in workers.
    ``max_pixels`` is the caller's ``Image.MAX_IMAGE_PIXELS``, so workers apply the same limit."""
    if max_pixels is not None:
        Image.MAX_IMAGE_PIXELS = max_pixels
    return [_decode_error(path) for path in paths]  # a loop over image files


def _decode_error(path: str) -> str | None:
    """Why the image at ``path`` cannot be decoded, or None when it decodes fully."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with open_binary(path) as fh, Image.open(fh) as im:
                im.load()
    except Image.DecompressionBombError:
        return TOO_LARGE
    except FileNotFoundError:
        return NOT_FOUND
    except Exception as err:  # any decoder error means the file is corrupt; no traceback
        return f"{type(err).__name__}: {err}"[:200]
    return None


def bomb_limit() -> int | None:
    """Pixels past which Pillow refuses to decode (it warns from half that and decodes)."""
    limit = Image.MAX_IMAGE_PIXELS
    return None if limit is None else 2 * int(limit)


def deep_decode(
    dataset: Dataset, config: Config, images: pd.DataFrame
) -> tuple[IntegrityDeepDecode, dict[str, str], dict[str, float]]:
    """With ``deep``: decode every image of ``images`` (a header can be fine on a truncated file), in
    a process pool with ``--workers``; the stats, the failures (file name -> why) and the images
    too large to decode (file name -> pixels by its header)."""
    if not config.deep:
        return IntegrityDeepDecode(ran=False, reason="headers only (--deep is off)"), {}, {}
    paths = [str(p) for p in images["path"]]
    work = partial(decode_errors, max_pixels=Image.MAX_IMAGE_PIXELS)

    def decode_here(todo: Sequence[str]) -> list[str]:
        chunks = map_chunks(
            work, todo, workers=config.workers, what="decoding images", scheduler=config.scheduler
        )
        return [DECODED if e is None else e for chunk in chunks for e in chunk]

    def decode(todo: Sequence[str]) -> list[str]:
        return blockwise(todo, decode_here)  # in a bucket: fetched a block at a time

    # A cache run decodes only images whose size or mtime changed (the limit is part of the key).
    decoded = cached_map(f"decode-{Image.MAX_IMAGE_PIXELS}", paths, decode)
    errors = [None if e == DECODED else e for e in decoded]
    names = images["file_name"].astype(str).tolist()
    skipped = (TOO_LARGE, NOT_FOUND)
    failures = {n: e for n, e in zip(names, errors, strict=True) if e and e not in skipped}
    sizes = (images["width"] * images["height"]).tolist()
    too_large = {n: float(px) for n, e, px in zip(names, errors, sizes, strict=True) if e == TOO_LARGE}
    stats = IntegrityDeepDecode(
        ran=True,
        images_decoded=sum(e is None for e in errors),
        failed=len(failures),
        skipped_too_large=len(too_large),
        skipped_not_found=sum(e == NOT_FOUND for e in errors),
    )
    return stats, failures, too_large


def file_hashes(
    paths: Sequence[str], progress: ProgressFn | None = None, algorithm: str = "blake2b"
) -> list[str | None]:
    """The BLAKE2b digest of each file's bytes (None when it cannot be read): per-file work that
    :func:`sodaudit.pool.map_chunks` may run in worker processes. ``algorithm="md5"``: the
    digest an object store gives as ETag, for the images of a bucket whose ETag is not one."""
    out: list[str | None] = []
    for path in paths:  # a loop over files
        md5 = algorithm == "md5"
        digest = hashlib.md5(usedforsecurity=False) if md5 else hashlib.blake2b(digest_size=16)
        try:
            with open_binary(path) as fh:
                for chunk in iter(partial(fh.read, 1 << 20), b""):
                    digest.update(chunk)
        except OSError:
            out.append(None)
            continue
        out.append(digest.hexdigest())
    return out


def by_size(paths: Sequence[str]) -> tuple[list[str], dict[str, str | None]]:
    """The files that may be identical to another, and a stand-in digest for the rest.

    Identical bytes have identical sizes, so only files whose size another file has are hashed
    (the first pass of fdupes and rmlint): photos rarely share a byte count, and a run then
    reads one ``stat`` per image instead of every image whole (gigabytes on a CI machine whose
    checkout made the hash cache miss). A file whose size is its own gets ``size:<bytes>``,
    which no other file has; one that is not a readable regular file gets None, as
    :func:`file_hashes` gives it."""
    sizes: dict[str, int | None] = {}
    for path in paths:  # a loop over files: one stat each
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            sizes[path] = None
            continue
        readable = stat.S_ISREG(info.st_mode) and os.access(path, os.R_OK)
        sizes[path] = info.st_size if readable else None
    counts = Counter(s for s in sizes.values() if s is not None)
    shared = [p for p, s in sizes.items() if s is not None and counts[s] > 1]
    own = {p: None if s is None else f"size:{s}" for p, s in sizes.items() if s is None or counts[s] == 1}
    return shared, own


def group_text(labelled: Sequence[str], names: int = GROUP_NAMES) -> str:
    """One group of identical files: at most ``names`` names, then how many more."""
    shown = " = ".join(labelled[:names])
    more = len(labelled) - names
    return shown + (f" = ... ({more} more identical files)" if more > 0 else "")


def cross_split_images(
    dataset: Dataset, config: Config, result: AnalyzerResult, images: pd.DataFrame
) -> tuple[IntegrityImageHash, int | None, int | None]:
    """Identical image files (same bytes) among ``images`` in more than one split: train/test
    leakage. The groups and images spanning two splits are None (JSON null) when not checked:
    unknown, not zero."""
    limit = config.integrity.hash_max_images
    if len(dataset.images) > limit:
        reason = f"skipped: {len(dataset.images)} images is more than hash_max_images={limit}"
        return IntegrityImageHash(ran=False, reason=reason), None, None
    if images["split"].astype(str).nunique() < 2:
        reason = "skipped: fewer than two splits with readable image files"
        return IntegrityImageHash(ran=False, reason=reason), 0, 0
    paths = images["path"].astype(str)
    unique = list(dict.fromkeys(paths))  # each file is read once

    def hashed_here(todo: Sequence[str], algorithm: str = "blake2b") -> list[str | None]:
        work = partial(file_hashes, algorithm=algorithm)
        what, scheduler = "hashing images", config.scheduler
        chunks = map_chunks(work, todo, workers=config.workers, what=what, scheduler=scheduler)
        return [h for chunk in chunks for h in chunk]

    def digest(todo: Sequence[str]) -> list[str | None]:
        known = staged_md5s(todo)
        if not known:
            return hashed_here(todo)
        # A bucket: the store's MD5 (the ETag of a single-part upload) where it has one, else the
        # MD5 of the bytes, fetched a block at a time: identical files have identical digests.
        rest = [p for p, k in zip(todo, known, strict=True) if k is None]
        fetched = iter(blockwise(rest, partial(hashed_here, algorithm="md5")))
        return [next(fetched) if k is None else k for k in known]

    candidates, by_path = by_size(unique)
    by_path |= dict(zip(candidates, cached_map("image-hashes", candidates, digest), strict=True))
    table = pd.DataFrame(
        {
            "hash": [by_path[p] for p in paths],
            "split": images["split"].astype(str).to_numpy(),
            "file_name": images["file_name"].astype(str).to_numpy(),
        }
    ).dropna(subset=["hash"])
    group_size = table.groupby("hash")["file_name"].transform("size")
    splits_per_hash = table.groupby("hash")["split"].transform("nunique")
    identical = table[group_size > 1]
    cross = table[splits_per_hash > 1].sort_values(["hash", "split", "file_name"])
    stats = IntegrityImageHash(
        ran=True,
        images_hashed=len(table),
        identical_groups=int(identical["hash"].nunique()),
        identical_images=len(identical),
    )
    counts = stats, int(cross["hash"].nunique()), len(cross)
    if cross.empty:
        return counts
    result.tables["cross_split_duplicate_image"] = cross.rename(columns={"file_name": "image"}).reset_index(
        drop=True
    )[["hash", "split", "image"]]
    labelled = cross["file_name"] + " (" + cross["split"] + ")"
    groups = labelled.groupby(cross["hash"], sort=False).agg(list)
    n_groups = len(groups)
    largest = int(groups.map(len).max())
    result.findings.append(
        Finding.of(
            "integrity.cross_split_duplicate_image",
            f"{n_groups} {'image appears' if n_groups == 1 else 'images appear'} in more than one "
            f"split as identical files (same bytes; {len(cross)} files in all, up to {largest} in one "
            f"group): evaluating on them measures memorisation, e.g. {group_text(groups.iloc[0], 2)}",
            NAME,
            value=float(n_groups),
            examples=tuple(group_text(g) for g in groups.head(MAX_EXAMPLES)),
            count=n_groups,
        )
    )
    return counts
