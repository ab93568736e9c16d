"""File-system helpers of the YOLO layout: Ultralytics' image-to-label path rule, walks that
follow each directory symlink once, and cached directory listings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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


def walk(folder: str, prune: frozenset[str] = frozenset()) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` that follows each directory symlink at most once and skips hidden names
    (as Ultralytics' glob does). Directories named in ``prune`` are yielded but not entered."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield dirpath, dirnames, [f for f in filenames if not f.startswith(".")]
        dirnames[:] = [d for d in dirnames if d not in prune]


def images_under(folder: str, recursive: bool = True) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in walk(folder):
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if is_image_file(f))
        if not recursive:
            dirnames[:] = []
    return out


def label_files_under(folder: str, recursive: bool = True) -> list[str]:
    """``.txt`` files under ``folder`` that may be label files (not :data:`NOT_LABEL_FILES`)."""
    out = []
    for dirpath, dirnames, filenames in walk(folder):
        names = sorted(f for f in filenames if f.endswith(".txt") and f not in NOT_LABEL_FILES)
        out.extend(os.path.join(dirpath, f) for f in names)
        if not recursive:
            dirnames[:] = []
    return out


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
