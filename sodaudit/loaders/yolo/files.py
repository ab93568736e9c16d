"""File-system helpers of the YOLO layout: Ultralytics' image-to-label path rule, walks that
follow each directory symlink once, and cached directory listings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sodaudit.dataset import LoadIssue
from sodaudit.imageinfo import is_image_file
from sodaudit.loaders.base import relpath

CLASS_LIST_FILES = ("classes.txt", "obj.names")
NOT_LABEL_FILES = frozenset(
    (*CLASS_LIST_FILES, "train.txt", "valid.txt", "val.txt", "test.txt", "README.txt", "notes.txt")
) | {"README.dataset.txt", "README.roboflow.txt"}
"""``.txt`` files of YOLO exports that are not label files: class lists, split lists (Darknet,
CVAT), Roboflow's README files; never read as labels nor reported as orphans."""
_DARKNET_SWAPS = (
    ("/images/train2017/", "/labels/train2017/"),
    ("/images/val2017/", "/labels/val2017/"),
    ("/JPEGImages/", "/labels/"),
    ("/images/train2014/", "/labels/train2014/"),
    ("/images/val2014/", "/labels/val2014/"),
)


def img2label(image: str) -> str:
    """Label path of an image, exactly as Ultralytics derives it."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return sb.join(image.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt"


def darknet_label(image: str) -> str:
    """Label path of an image as Darknet derives it: ``replace_image_to_label`` (AlexeyAB/darknet
    src/utils.c) swaps the last of a few COCO/VOC folder names (``/JPEGImages/`` -> ``/labels/``)
    and then the extension for ``.txt``; otherwise the label sits beside the image."""
    for old, new in _DARKNET_SWAPS:
        if old in image:
            head, tail = image.rsplit(old, 1)
            image = head + new + tail
    return image.rsplit(".", 1)[0] + ".txt"


def swap_dir(folder: str, old: str, new: str) -> str:
    """``folder`` with its last ``old`` component replaced by ``new`` (a folder-level img2label)."""
    sa, sb = f"{os.sep}{old}{os.sep}", f"{os.sep}{new}{os.sep}"
    return sb.join((folder + os.sep).rsplit(sa, 1)).rstrip(os.sep)


def rel_to(path: str, root: Path | str) -> str:
    """``relpath`` with a fast path for the common case, a name under the root (many calls)."""
    prefix = str(root).rstrip(os.sep) + os.sep
    if path.startswith(prefix) and os.sep == "/":
        return path[len(prefix) :]
    return relpath(path, Path(root))


def within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


MAX_LISTED_ENTRIES = 10_000_000
"""Directory entries (files and folders) that the walks of one dataset may list, all walks
together. Open Images V7, the largest YOLO-convertible set in use, has 1.9 million training
images, listed once as images and once as labels: this is over twice that. Past it the walks
stop and a finding names the folder, so ``path: /`` or a home folder is a finding after a
bounded time, never a walk of the whole file system."""


@dataclass
class Budget:
    """What the walks of one dataset have listed; the first folder where the bound was passed."""

    limit: int = field(default_factory=lambda: MAX_LISTED_ENTRIES)  # read when a load starts
    listed: int = 0
    stopped_at: str | None = None

    def spend(self, n: int, folder: str) -> bool:
        """Count ``n`` more entries listed in ``folder``; False once the bound is passed."""
        self.listed += n
        if self.listed > self.limit and self.stopped_at is None:
            self.stopped_at = folder
        return self.stopped_at is None

    def issue(self, root: str) -> LoadIssue | None:
        """The finding for a passed bound (``None`` while within it)."""
        if self.stopped_at is None:
            return None
        reason = (
            f"listing stopped in {relpath(self.stopped_at, Path(root))} after {self.limit:,} files and "
            "folders (MAX_LISTED_ENTRIES in sodaudit/loaders/yolo/files.py): a split or path names a "
            "folder far larger than a dataset (the file system root, a home folder?); what lies beyond "
            "is not audited"
        )
        return LoadIssue("load.listing_truncated", relpath(self.stopped_at, Path(root)), reason)


def walk(
    folder: str, prune: frozenset[str] = frozenset(), budget: Budget | None = None
) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` (top-down, folders in name order) that follows each directory symlink at most
    once and skips hidden names (as Ultralytics' glob does). Directories named in ``prune`` are
    yielded but not entered; the caller may empty ``dirnames`` to stop the descent.
    ``budget``: entries listed count against it; the walk ends once it is spent. Names only:
    nothing is opened, so FIFOs and devices are listed like files and refused by the readers."""
    seen: set[str] = set()
    budget = budget if budget is not None else Budget()
    stack = [folder]
    while stack and budget.stopped_at is None:
        dirpath = stack.pop()
        real = os.path.realpath(dirpath)
        if real in seen:
            continue
        seen.add(real)
        listed = _list(dirpath, budget)
        if listed is None:
            continue
        dirnames, filenames = listed
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield dirpath, dirnames, [f for f in filenames if not f.startswith(".")]
        stack.extend(os.path.join(dirpath, d) for d in reversed(dirnames) if d not in prune)


def _list(folder: str, budget: Budget) -> tuple[list[str], list[str]] | None:
    """(folders, other names) in ``folder`` (``None``: not a readable folder), listed one entry
    at a time so that one folder of 100 million entries stops at the budget too (``os.walk``
    lists a folder whole first)."""
    dirnames: list[str] = []
    filenames: list[str] = []
    left = budget.limit - budget.listed
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if left <= 0:
                    budget.spend(1, folder)
                    break
                left -= 1
                try:
                    is_dir = entry.is_dir()  # follows a symlink, as os.walk(followlinks=True)
                except OSError:
                    is_dir = False
                (dirnames if is_dir else filenames).append(entry.name)
    except OSError:
        if not dirnames and not filenames:
            return None
    budget.spend(len(dirnames) + len(filenames), folder)
    return dirnames, filenames


def images_under(folder: str, recursive: bool = True, budget: Budget | None = None) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in walk(folder, budget=budget):
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if is_image_file(f))
        if not recursive:
            dirnames[:] = []
    return out


def label_files_under(folder: str, recursive: bool = True, budget: Budget | None = None) -> list[str]:
    """``.txt`` files under ``folder`` that may be label files (not :data:`NOT_LABEL_FILES`)."""
    out = []
    for dirpath, dirnames, filenames in walk(folder, budget=budget):
        names = sorted(f for f in filenames if f.endswith(".txt") and f not in NOT_LABEL_FILES)
        out.extend(os.path.join(dirpath, f) for f in names)
        if not recursive:
            dirnames[:] = []
    return out


def too_broad(folder: str | Path) -> str | None:
    """Why ``folder`` is no dataset folder to walk: the file system root, the user's home folder
    or one of its parents (``/home``); ``None`` for any other folder."""
    real = Path(os.path.realpath(folder))
    if real == Path(real.anchor):
        return "the file system root"
    try:
        home = Path(os.path.realpath(Path.home()))
    except (RuntimeError, KeyError, OSError):
        return None
    if real == home:
        return "the home folder"
    if real in home.parents:
        return "a parent of the home folder"
    return None


class Listings:
    """One directory listing per folder, cached: label existence and image stems."""

    def __init__(self) -> None:
        self._names: dict[str, set[str]] = {}
        self._stems: dict[str, set[str]] = {}

    def names(self, folder: str) -> set[str]:
        if folder not in self._names:
            try:
                with os.scandir(folder) as it:
                    self._names[folder] = {e.name for e in it if not e.name.startswith(".")}
            except OSError:
                self._names[folder] = set()
        return self._names[folder]

    def has_file(self, path: str) -> bool:
        folder, name = os.path.split(path)
        return name in self.names(folder)

    def image_stems(self, folder: str) -> set[str]:
        if folder not in self._stems:
            self._stems[folder] = {n.rsplit(".", 1)[0] for n in self.names(folder) if is_image_file(n)}
        return self._stems[folder]
