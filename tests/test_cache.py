"""The label and header cache (issue 19, part 1): a re-run reads only files whose size or mtime
changed, gives the same dataset as a run without cache, lives under XDG_CACHE_HOME (never in the
dataset), and a corrupt or foreign cache file is ignored with a note."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import sodaudit.imageinfo as imageinfo
import sodaudit.loaders.yolo.labels as yolo_labels
from sodaudit.cache import cache_folder, session
from sodaudit.cli import main
from sodaudit.loaders import load
from sodaudit.pipeline import audit


@pytest.fixture
def data(sample_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "yolo"
    shutil.copytree(sample_data / "yolo", root)
    return root


@pytest.fixture
def reads(monkeypatch):
    """Label files parsed and image headers read, as the loaders ask for them."""
    seen: dict[str, list[str]] = {"labels": [], "headers": []}
    real_chunk, real_header = yolo_labels._read_chunk, imageinfo.read_header

    def chunk(files, progress, **kw):
        seen["labels"] += list(files)
        return real_chunk(files, progress, **kw)

    def header(path):
        seen["headers"].append(path)
        return real_header(path)

    monkeypatch.setattr(yolo_labels, "_read_chunk", chunk)
    monkeypatch.setattr(imageinfo, "read_header", header)
    return seen


def _load(root: Path, folder: Path, enabled: bool = True):
    with session(root, enabled, folder) as caches:
        return load(root), caches


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.boxes, b.boxes)
    pd.testing.assert_frame_equal(a.images, b.images)
    assert a.issues == b.issues


def test_rerun_reads_only_what_changed(data: Path, tmp_path: Path, reads):
    folder = tmp_path / "cache"
    first, _ = _load(data, folder)
    n_labels, n_images = len(reads["labels"]), len(reads["headers"])
    assert n_labels > 20 and n_images == 30
    # edit one label file (a row added) and re-save one image at another size
    label = next((data / "train" / "labels").glob("*.txt"))
    label.write_text(label.read_text() + "0 0.5 0.5 0.01 0.01\n")
    image = sorted((data / "val" / "images").glob("*.jpg"))[0]
    Image.new("RGB", (640, 360)).save(image)
    os.utime(image, ns=(10**18, 10**18))  # a different mtime even on a coarse clock
    reads["labels"].clear()
    reads["headers"].clear()
    again, caches = _load(data, folder)
    assert reads["labels"] == [str(label)] and reads["headers"] == [str(image)]
    assert caches is not None and not caches.notes
    fresh, _ = _load(data, folder, enabled=False)  # the independent answer: no cache at all
    _same(again, fresh)
    assert len(again.boxes) == len(first.boxes) + 1


def test_a_fresh_checkout_reuses_label_files_by_content(data: Path, tmp_path: Path, reads):
    """A CI checkout gives every file a new mtime: label files whose bytes are unchanged are
    found by their digest and not parsed; a label file with the same size but other bytes is
    parsed; image headers (not digested) are read again."""
    folder = tmp_path / "cache"
    _load(data, folder)
    label = sorted((data / "train" / "labels").glob("*.txt"))[0]
    text = label.read_text()
    label.write_text(text.replace("0 ", "1 ", 1) if text.startswith("0 ") else "0" + text[1:])
    assert len(label.read_bytes()) == len(text.encode())  # same size, other bytes
    for path in data.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(10**18, 10**18))
    reads["labels"].clear()
    reads["headers"].clear()
    again, _ = _load(data, folder)
    assert reads["labels"] == [str(label)]
    assert len(reads["headers"]) == 30
    _same(again, _load(data, folder, enabled=False)[0])


def test_corrupt_and_foreign_cache_files_are_ignored_with_a_note(data: Path, tmp_path: Path):
    folder = tmp_path / "cache"
    _load(data, folder)
    files = sorted(folder.glob("*.msgpack"))
    assert {f.name.split("-")[0] for f in files} == {"headers", "yolo"}
    files[0].write_bytes(b"\x00garbage")
    os.replace(files[1], folder / files[1].name.replace(files[1].name.rsplit("-", 1)[1], "x.msgpack"))
    ds, caches = _load(data, folder)
    assert caches is not None and any("could not be used" in n for n in caches.notes)
    _same(ds, _load(data, folder, enabled=False)[0])


def test_a_cache_of_another_dataset_path_is_not_used(data: Path, tmp_path: Path):
    folder = tmp_path / "cache"
    _load(data, folder)
    other = tmp_path / "copy"
    shutil.copytree(data, other)
    for f in folder.glob("*.msgpack"):  # pretend the copy's cache files are the original's
        kind, _ = f.name.rsplit("-", 1)
        with session(other, True, folder) as s:
            target = s.cache("headers" if kind == "headers" else "yolo-labels").path
        shutil.copy(f, target)
    _, caches = _load(other, folder)
    assert caches is not None and any("another version or dataset" in n for n in caches.notes)


def test_cli_cache_goes_to_xdg_cache_home_and_no_cache_writes_none(
    data: Path, tmp_path: Path, monkeypatch, capsys
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "sodaudit"
    assert main(["run", str(data), "--out", str(tmp_path / "o1"), "--no-cache"]) == 0
    assert not (tmp_path / "xdg" / "sodaudit").exists()  # (matplotlib may keep its font cache there)
    assert main(["run", str(data), "--out", str(tmp_path / "o2")]) == 0
    kinds = {f.name.rsplit("-", 1)[0] for f in (tmp_path / "xdg" / "sodaudit").glob("*.msgpack")}
    assert kinds == {"headers", "yolo-labels", "image-hashes"}  # the splits are hashed for duplicates
    assert not [p for p in data.rglob("*") if "msgpack" in p.name]  # never in the dataset


def test_audit_api_caches_only_in_a_session(data: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load(data)  # a loader call alone never writes a cache
    assert not (tmp_path / "xdg" / "sodaudit").exists()
    audit(data, cache=False)
    assert not (tmp_path / "xdg" / "sodaudit").exists()
    audit(data)
    assert (tmp_path / "xdg" / "sodaudit").is_dir()


def test_names_that_are_not_utf8_are_not_cached_and_break_nothing(tmp_path: Path):
    """A file name with byte 0xE9 (kept as a surrogate escape) cannot go into msgpack text."""
    root = tmp_path / os.fsdecode(b"caf\xe9")
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for stem in (b"a", b"\xe9t\xe9"):
        Image.new("RGB", (64, 48)).save(os.fsdecode(os.fsencode(root / "images") + b"/" + stem + b".png"))
        Path(os.fsdecode(os.fsencode(root / "labels") + b"/" + stem + b".txt")).write_text(
            "0 0.5 0.5 0.2 0.2\n"
        )
    folder = tmp_path / "cache"
    first, _ = _load(root, folder)
    again, _ = _load(root, folder)
    _same(first, again)
    assert len(again.boxes) == 2


def _sharing_a_size(paths) -> list[str]:
    """The files whose byte size another file has: the only ones the identical-file check reads."""
    sizes = Counter(os.path.getsize(p) for p in paths)
    return sorted(str(p) for p in paths if sizes[os.path.getsize(p)] > 1)


def test_deep_decode_and_hashes_reuse_the_cache(data: Path, monkeypatch):
    """--deep decodes, and the identical-file hashes read, only images that changed (the
    hashes only images whose size another image has)."""
    import sodaudit.analyzers.integrity_pixels as pixels

    decoded: list[str] = []
    hashed: list[str] = []
    real_decode, real_hash = pixels.decode_errors, pixels.file_hashes

    def decode(paths, progress=None, **kw):
        decoded.extend(paths)
        return real_decode(paths, progress, **kw)

    def digest(paths, progress=None, **kw):
        hashed.extend(paths)
        return real_hash(paths, progress, **kw)

    monkeypatch.setattr(pixels, "decode_errors", decode)
    monkeypatch.setattr(pixels, "file_hashes", digest)
    # sample_data's image sizes are all different: a copy across splits makes two that match
    shutil.copyfile(data / "train/images/aerial_0001.jpg", data / "val/images/aerial_0025.jpg")
    first = audit(data, deep=True)
    paths = first.dataset.images["path"].tolist()
    assert len(decoded) == 30 and sorted(hashed) == _sharing_a_size(paths)
    assert [Path(p).name for p in sorted(hashed)] == ["aerial_0001.jpg", "aerial_0025.jpg"]
    assert first.analyzers["integrity"].stats.image_hash.identical_groups == 1
    assert first.analyzers["integrity"].stats.image_hash.images_hashed == 30  # all compared
    cut = sorted((data / "train" / "images").glob("*.jpg"))[:2]
    for image in cut:
        image.write_bytes(image.read_bytes()[:2000])  # truncated: a header, no pixels
        os.utime(image, ns=(10**18, 10**18))
    decoded.clear()
    hashed.clear()
    again = audit(data, deep=True)
    assert sorted(decoded) == sorted(map(str, cut))
    assert sorted(hashed) == sorted(map(str, cut))  # both 2,000 bytes now; the rest cached
    fresh = audit(data, deep=True, cache=False)
    assert again.analyzers["integrity"].stats == fresh.analyzers["integrity"].stats
    assert again.analyzers["integrity"].stats != first.analyzers["integrity"].stats  # the cut file
