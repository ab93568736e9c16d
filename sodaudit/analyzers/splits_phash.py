"""Perceptual hashes (pHash) of images, to find near-duplicate frames across splits (``--pixels``).

pHash (Zauner 2010; as ``imagehash.phash``): the image in grayscale, resized to 32 x 32, its 2-D
DCT-II, the top-left 8 x 8 block (the lowest frequencies), each coefficient above the block's
median is a 1 bit: 64 bits. A resized or re-encoded copy keeps nearly every bit; two unrelated
images differ in about half of them. Two images whose hashes differ in at most
``splits.phash_max_distance`` bits are near-duplicates (one group).

Only images in the dataset folder are read (:func:`sodaudit.analyzers.integrity_pixels.pixel_images`:
a symbolic link leading outside it is never opened), through :func:`sodaudit.regular.open_binary`,
in the ``--workers`` pool; at most ``splits.phash_max_images`` images.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image

from sodaudit.cache import cached_map
from sodaudit.pool import ProgressFn, map_chunks
from sodaudit.regular import open_binary
from sodaudit.remote import blockwise

HASH_SIDE = 32
"""The image is resized to this many pixels a side before the DCT."""
BLOCK = 8
"""The top-left BLOCK x BLOCK DCT coefficients make the hash: 64 bits."""
PAIR_ROWS = 256
"""Hashes compared with all others per step (memory: PAIR_ROWS x images x 8 bytes)."""
MAX_PAIRS = 2_000_000
"""Near-duplicate pairs kept at most (all-black frames would pair every image with every other)."""
_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def phash_of(image: Image.Image) -> int:
    """The 64-bit pHash of ``image`` as an integer (bit 63: coefficient (0, 0))."""
    from scipy.fft import dct

    gray = image.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray, dtype=np.float64)
    coeffs = dct(dct(pixels, axis=0, norm="ortho"), axis=1, norm="ortho")[:BLOCK, :BLOCK]
    bits = (coeffs > np.median(coeffs)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def phashes(paths: Sequence[str], progress: ProgressFn | None = None) -> list[int | None]:
    """The pHash of each image file (None when it cannot be read or decoded): per-file work that
    :func:`sodaudit.pool.map_chunks` may run in worker processes."""
    out: list[int | None] = []
    for path in paths:  # a loop over image files
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with open_binary(path) as fh, Image.open(fh) as im:
                    im.draft("L", (4 * HASH_SIDE, 4 * HASH_SIDE))  # JPEG: decode at a reduced scale
                    out.append(phash_of(im))
        except Exception:  # unreadable, corrupt or too large: no hash (integrity reports the file)
            out.append(None)
    return out


def hash_paths(paths: Sequence[str], workers: int = 1, scheduler: str | None = None) -> list[int | None]:
    """:func:`phashes` of ``paths`` in the ``--workers`` pool (on the Dask cluster with
    ``scheduler``), in order."""

    def compute_here(todo: Sequence[str]) -> list[int | None]:
        chunks = map_chunks(
            phashes, todo, workers=workers, what="hashing images (pHash)", scheduler=scheduler
        )
        return [h for chunk in chunks for h in chunk]

    def compute(todo: Sequence[str]) -> list[int | None]:
        return blockwise(todo, compute_here)  # in a bucket: fetched a block at a time

    return cached_map("phash", list(paths), compute)  # unchanged images are not decoded again


def hamming(a: int | np.ndarray, b: int | np.ndarray) -> np.ndarray:
    """Bits that differ between 64-bit hashes (broadcast)."""
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    count = getattr(np, "bitwise_count", None)  # numpy >= 2
    if count is not None:
        return count(x).astype(np.int64)
    return _POP8[x[..., None].view(np.uint8)].sum(axis=-1, dtype=np.int64)


def near_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, bool]:
    """Pairs ``(i, j)``, ``i > j``, of hashes at most ``max_distance`` bits apart (``k x 2``), and
    whether :data:`MAX_PAIRS` cut the list short."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    found: list[np.ndarray] = []
    total = 0
    for start in range(0, len(hashes), PAIR_ROWS):  # a loop over blocks of rows
        stop = min(start + PAIR_ROWS, len(hashes))
        dist = hamming(hashes[start:stop, None], hashes[None, :stop])
        lower = np.arange(start, stop)[:, None] > np.arange(stop)[None, :]
        i, j = np.nonzero((dist <= max_distance) & lower)
        if len(i):
            found.append(np.stack([i + start, j], axis=1))
            total += len(i)
        if total > MAX_PAIRS:
            return np.concatenate(found)[:MAX_PAIRS], True
    pairs = np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)
    return pairs.astype(np.int64), False
