"""Label files of a YOLO layout: which image uses which file, orphan files, and the reading
of every label file and image header (in a process pool with ``workers`` != 1)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.config import LimitsConfig
from sodaudit.dataset import LoadIssue
from sodaudit.imageinfo import ImageHeader, is_image_file, read_headers
from sodaudit.loaders.base import ProgressFn, TooLarge, counted, read_head, read_limited
from sodaudit.loaders.yolo.files import Listings, img2label, label_files_under, rel_to, swap_dir
from sodaudit.loaders.yolo.label_cache import cached_rows
from sodaudit.loaders.yolo.layout import Layout
from sodaudit.loaders.yolo.rows import ParsedRows, concat_rows, parse_rows
from sodaudit.pool import map_chunks


@dataclass
class Labels:
    """Images (deduplicated within a split), their label files, and orphan label files."""

    images: list[tuple[str, str]]
    label_of: list[str]
    has_label: list[bool]
    used: list[str]
    orphans: list[str]


def image_dir(layout: Layout, label_dir: str) -> str:
    """The folder of the images a label folder serves: ``labels`` -> ``images`` (Ultralytics), the
    same folder for side-by-side labels (Darknet)."""
    return swap_dir(label_dir, "labels", "images") if layout.label_rule is img2label else label_dir


def _is_image_list(path: str) -> bool:
    """A ``.txt`` whose first line names an image: a split list (``train_list.txt``), not labels.
    A FIFO or device is none (never opened in a way that blocks); reading it as a label file
    then names it as unreadable."""
    try:
        head = read_head(path, 512).decode("utf-8", errors="replace").split("\n", 1)[0].strip()
    except OSError:
        return False
    return bool(head) and is_image_file(head.split()[0])


def match_labels(layout: Layout) -> Labels:
    listings = Listings()
    images = list(dict.fromkeys(layout.images))
    label_of = [layout.label_rule(p) for p, _ in images]
    has_label = [listings.has_file(lab) for lab in label_of]
    used = sorted({lab for lab, ok in zip(label_of, has_label, strict=True) if ok})
    used_set = set(used)
    candidates = {
        f
        for d in dict.fromkeys(layout.label_dirs)
        for f in label_files_under(d, layout.scan_recursive, layout.budget)
    }
    capped = layout.budget.issue(layout.root)
    if capped is not None:
        layout.issues.append(capped)
    orphans, unlisted = [], 0
    for label in sorted(candidates - used_set):
        folder, name = os.path.split(label)
        if name.rsplit(".", 1)[0] in listings.image_stems(image_dir(layout, folder)):
            unlisted += 1  # its image exists but no split lists it: not an orphan, not read
        elif not _is_image_list(label):
            orphans.append(label)
    if unlisted:
        layout.notes.append(f"{unlisted} label files belong to images that no split lists; not read.")
    return Labels(images, label_of, has_label, used, orphans)


def read_labels_and_headers(
    files: list[str],
    image_paths: list[str],
    root: Path,
    issues: list[LoadIssue],
    limits: LimitsConfig,
    layout: Layout,
    progress: ProgressFn | None,
    workers: int = 1,
) -> tuple[ParsedRows, list[ImageHeader]]:
    """Every label file read and parsed, and every image header read; with ``workers`` != 1 in
    a process pool, by contiguous chunks (each parses its own files: the same rows as one parse
    of all of them)."""
    read = partial(
        _read_chunk,
        root=root,
        limit_mb=limits.max_label_file_mb,
        pose=layout.pose,
        pose_values=layout.pose_values,
    )

    def parse(todo: Sequence[str]) -> tuple[ParsedRows, list[LoadIssue]]:
        chunks = map_chunks(read, todo, workers=workers, what="reading label files", progress=progress)
        rows = concat_rows([r for r, _, _ in chunks], [n for _, n, _ in chunks])
        return rows, [issue for _, _, chunk_issues in chunks for issue in chunk_issues]

    options = "" if not layout.pose else f"-pose{layout.pose_values}"
    rows, read_issues = cached_rows(files, root, parse, options)
    issues += read_issues
    return rows, read_headers(image_paths, progress, workers=workers)


def _read_chunk(
    files: Sequence[str],
    progress: ProgressFn | None,
    *,
    root: Path,
    limit_mb: float,
    pose: bool,
    pose_values: int | None,
) -> tuple[ParsedRows, int, list[LoadIssue]]:
    """Rows of some label files (``b""`` for one that cannot be read), their count, and issues."""
    blobs, issues = [], []
    for label in counted(files, "reading label files", progress) if progress else files:
        try:
            blobs.append(read_limited(label, limit_mb, "limits.max_label_file_mb"))
        except TooLarge as err:
            issues.append(LoadIssue("load.file_too_large", rel_to(label, root), str(err)))
            blobs.append(b"")
        except OSError as err:
            issues.append(LoadIssue("load.unreadable_file", rel_to(label, root), f"cannot read: {err}"))
            blobs.append(b"")
    return parse_rows(blobs, pose=pose, pose_values=pose_values), len(files), issues


def _case_twin(label: str, listings: Listings, root: Path) -> str:
    """What a missing label's case twin means: ``Labels/`` beside ``images/`` is not ``labels/``.

    Ultralytics' ``img2label_paths`` (ultralytics/data/utils.py) swaps ``/images/`` for
    ``/labels/`` as a string; on a case-sensitive file system (Linux) ``Labels/`` is another
    folder, so the image trains as background."""
    sb = f"{os.sep}labels{os.sep}"
    if sb not in label:
        return ""
    parent, rest = label.rsplit(sb, 1)
    twin = next((n for n in sorted(listings.names(parent)) if n.lower() == "labels" and n != "labels"), None)
    if twin is None:
        return ""
    there = os.path.join(parent, twin, rest)
    holds = f"; {rel_to(there, root)} exists" if os.path.isfile(there) else ""
    return (
        f"; {rel_to(os.path.join(parent, twin), root)}/ differs from labels/ only in case{holds}: "
        "Ultralytics maps images/ to labels/ case-sensitively on Linux, so it trains this image as "
        "unlabelled background (rename the folder to labels/)"
    )


def images_table(
    found: Labels, headers: list[ImageHeader], root: Path, issues: list[LoadIssue]
) -> pd.DataFrame:
    """One row per image with its size from the header; a missing label file is an issue."""
    paths = [p for p, _ in found.images]
    sources = []
    listings = Listings()
    for p, lab, ok, header in zip(paths, found.label_of, found.has_label, headers, strict=True):
        sources.append(rel_to(lab, root) if ok else "")
        if not ok and header.status != "missing":  # a missing image is reported where listed
            reason = f"no label file {rel_to(lab, root)}; the image counts as background"
            reason += _case_twin(lab, listings, root)
            issues.append(LoadIssue("load.label_missing", rel_to(p, root), reason))
    return pd.DataFrame(
        {
            "image_id": np.arange(len(paths), dtype=np.int64),
            "file_name": [rel_to(p, root) for p in paths],
            "path": [os.path.abspath(p) for p in paths],
            "split": [s for _, s in found.images],
            "width": [h.width for h in headers],
            "height": [h.height for h in headers],
            "status": [h.status for h in headers],
            "exif_rotated": [h.exif_rotated for h in headers],
            "source_file": sources,
        }
    )
