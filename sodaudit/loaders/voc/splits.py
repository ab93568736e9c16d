"""Splits and classes of a VOC dataset: ``ImageSets/Main`` lists, split folders, class-names files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sodaudit.dataset import LoadIssue
from sodaudit.loaders.base import read_or_issue
from sodaudit.loaders.voc.layout import CLASS_FILES, SPLIT_LISTS, UNION_LIST, Layout, Part
from sodaudit.loaders.yolo.textfiles import read_names_file

_LIST_MB = 64
_LIST_KEY = "a split list's 64 MB bound"
"""ImageSets lists share the YOLO split lists' bound (one id per line: 64 MB is millions of ids)."""


def split_column(
    layout: Layout, parts_of_rows: Sequence[int], xml_names: Sequence[str], issues: list[LoadIssue]
) -> list[str]:
    """The split of each image row, from the part it was read from (``parts_of_rows``) and the
    stem of its XML file.

    A Roboflow folder gives its name; a tree with split lists gives the list the stem is in
    (``unassigned`` when in none), without lists ``all``. When several VOC years are read as one
    dataset, each name is prefixed with its year (``VOC2007/train``): the lists are read per
    year exactly as for one year, so a year folder loaded alone has the same splits, unprefixed.
    """
    tables: list[dict[str, str]] = []
    fallback: list[str] = []
    for part in layout.parts:
        if part.split is not None:
            tables.append({})
            fallback.append(part.prefix + part.split)
            continue
        stems = {n[:-4] for n in part.xml_names}
        split_of = read_splits(part, stems, issues)
        if split_of is None:
            tables.append({})
            fallback.append(part.prefix + "all")
            continue
        names = {s: part.prefix + s for s in set(split_of.values())}  # one string per split
        tables.append({stem: names[s] for stem, s in split_of.items()})
        fallback.append(part.prefix + "unassigned")
    return [tables[k].get(name[:-4], fallback[k]) for k, name in zip(parts_of_rows, xml_names, strict=True)]


def read_splits(part: Part, xml_stems: set[str], issues: list[LoadIssue]) -> dict[str, str] | None:
    """Image id -> split from the part's ``ImageSets/Main``; ``None`` when there are no split lists.

    train/val/test win over trainval; an id in two of train/val/test (or in trainval and
    test) keeps the first and is reported. Per-class lists (``car_train.txt``) are ignored.
    """
    if part.sets_dir is None:
        return None
    lists: dict[str, list[tuple[int, str]]] = {}
    for name in (*SPLIT_LISTS, UNION_LIST):
        file = os.path.join(part.sets_dir, f"{name}.txt")
        if not os.path.lexists(file):
            continue
        data = read_or_issue(file, f"{part.sets_rel}/{name}.txt", _LIST_MB, _LIST_KEY, issues)
        if data is None:  # a FIFO, a dangling link or past the bound: said, and the list not used
            continue
        text = data.decode("utf-8", errors="replace")
        entries = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            words = line.split()
            if words:
                entries.append((lineno, words[0]))
        lists[name] = entries
    if not lists:
        return None

    split_of: dict[str, str] = {}
    for name, entries in lists.items():
        rel = f"{part.sets_rel}/{name}.txt"
        for lineno, image_id in entries:
            if image_id not in xml_stems:
                issues.append(
                    LoadIssue(
                        "load.split_entry_missing",
                        rel,
                        f"{image_id!r} has no {part.ann_rel}/{image_id}.xml",
                        line=lineno,
                    )
                )
            current = split_of.get(image_id)
            if current is None:
                split_of[image_id] = name
            elif current != name and (name != UNION_LIST or current == "test"):
                issues.append(
                    LoadIssue(
                        "load.split_overlap",
                        rel,
                        f"{image_id!r} is also listed in {current}.txt; kept in {current}",
                        line=lineno,
                    )
                )
    return split_of


def classes_of(
    root: Path, names: Sequence[str], issues: list[LoadIssue]
) -> tuple[dict[int, str], np.ndarray]:
    """Class list from a class-names file when present, else every name seen, sorted."""
    declared: list[str] = []
    class_file = ""
    for candidate in CLASS_FILES:
        file = root / candidate
        if not os.path.lexists(file):
            continue
        read, problems = read_names_file(file, candidate)
        issues.extend(problems)  # unreadable, too large, or not UTF-8 (each line named)
        if read is None:
            continue
        declared = list(dict.fromkeys(read.values()))
        class_file = candidate
        break
    inverse, uniq = pd.factorize(pd.Series(names, dtype=object), sort=True)
    counts = np.bincount(inverse, minlength=len(uniq))
    order = list(declared)
    known = set(order)
    for extra, count in zip(uniq.tolist(), counts.tolist(), strict=True):
        if extra in known:
            continue
        if class_file:
            issues.append(
                LoadIssue(
                    "load.undeclared_class",
                    class_file,
                    f"class {extra!r} ({count} objects) is not listed; given id {len(order)}",
                )
            )
        order.append(extra)
    ids = {n: i for i, n in enumerate(order)}
    lut = np.array([ids[n] for n in uniq.tolist()], dtype=np.int64)
    class_id = lut[inverse] if len(inverse) else np.zeros(0, dtype=np.int64)
    return dict(enumerate(order)), class_id
