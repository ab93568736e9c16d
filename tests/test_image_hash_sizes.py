"""The identical-file check hashes only files that share their size with another: the groups it
finds are those of hashing every file, and the files it reads are only the size-sharing ones."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path

import pytest

from sodaudit.analyzers import integrity_pixels as pixels


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_by_size_picks_the_files_another_file_matches_in_size(tmp_path: Path):
    same_a = _write(tmp_path / "a.jpg", b"x" * 10)
    same_b = _write(tmp_path / "b.jpg", b"y" * 10)  # same size, other bytes: hashed, not identical
    alone = _write(tmp_path / "c.jpg", b"z" * 11)
    folder = tmp_path / "d.jpg"
    folder.mkdir()
    missing = str(tmp_path / "missing.jpg")
    paths = [same_a, alone, same_b, str(folder), missing]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.jpg")
        paths.append(str(tmp_path / "pipe.jpg"))
    shared, own = pixels.by_size(paths)
    assert shared == [same_a, same_b]
    assert own[alone] == "size:11"
    assert all(own[p] is None for p in paths[3:])  # not readable regular files
    assert set(shared) | set(own) == set(paths) and not set(shared) & set(own)


@pytest.mark.parametrize("seed", range(3))
def test_groups_equal_those_of_hashing_every_file(tmp_path: Path, seed: int):
    """Random files, some copies of each other, some of equal size and other bytes: the groups
    of identical files from by_size plus the hashes of the shared ones are those of a BLAKE2b
    of every file, computed here with hashlib."""
    import random

    rng = random.Random(seed)
    contents = [bytes(rng.randrange(256) for _ in range(rng.choice([5, 6, 7, 40]))) for _ in range(12)]
    paths = []
    for i in range(30):
        data = rng.choice(contents) if rng.random() < 0.6 else bytes(rng.randrange(256) for _ in range(6))
        paths.append(_write(tmp_path / f"{i}.bin", data))
    alone = [_write(tmp_path / f"alone{n}.bin", bytes(n)) for n in range(100, 105)]  # sizes of their own
    paths += alone
    shared, own = pixels.by_size(paths)
    digests = dict(zip(shared, pixels.file_hashes(shared), strict=True)) | own

    def groups(key_of) -> set[frozenset[str]]:
        by_key = defaultdict(set)
        for p in paths:
            by_key[key_of(p)].add(p)
        return {frozenset(g) for g in by_key.values() if len(g) > 1}

    every = groups(lambda p: hashlib.blake2b(Path(p).read_bytes(), digest_size=16).hexdigest())
    assert groups(digests.__getitem__) == every and every
    assert not set(alone) & set(shared)  # never read: no other file has their size
