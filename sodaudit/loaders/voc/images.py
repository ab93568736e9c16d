"""The image files of a VOC dataset: one listing per image folder, one header read per found image.

VOC declares each image's size in ``<size>``, and its boxes are in those pixels. A size that
differs from the file means the boxes were drawn on another rendition of the image (resized after
labelling, or a tool that ignored the EXIF orientation), so every found image's header is read
and compared, not only when ``<size>`` is missing. LabelImg writes ``<size>`` from the image it
shows (libs/pascal_voc_io.py ``PascalVocWriter.gen_xml``) and can write 0x0; such a size counts
as missing and the header gives it.
"""

from __future__ import annotations

import math
import os
import sys

from sodaudit.dataset import LoadIssue
from sodaudit.imageinfo import ImageHeader, is_image_file, read_headers
from sodaudit.loaders.base import ProgressFn
from sodaudit.loaders.voc.layout import Layout, Part
from sodaudit.loaders.voc.parse import Rows


def list_images(part: Part) -> str:
    """Fill the part's image names (and names by stem, for fallbacks); a note when not checked.

    An absent image folder (annotations shipped without images) turns image checks off
    instead of reporting every image as missing.
    """
    where = f" in {part.label}/" if part.label else ""
    if part.img_dir is None:
        return f"No JPEGImages/ or images/ folder{where}: image files were not checked."
    try:
        with os.scandir(part.img_dir) as it:
            names = {e.name for e in it if not e.name.startswith("._")}
    except OSError as err:
        part.img_dir = None
        return f"Cannot list {part.img_rel or '.'}/ ({err.strerror or err}): image files were not checked."
    stem_map: dict[str, str] = {}
    for n in sorted(names):
        if is_image_file(n):
            stem_map.setdefault(os.path.splitext(n)[0], n)
    if part.img_rel == part.ann_rel and not stem_map:  # XML only: the images live elsewhere
        part.img_dir = None
        return f"No image files next to the XML files{where}: image files were not checked."
    part.image_names, part.stem_map = names, stem_map
    return ""


def unannotated(layout: Layout, matched: list[str]) -> list[LoadIssue]:
    """Image files in an image folder that no XML file names."""
    seen = set(matched)
    issues = []
    for part in layout.parts:
        for name in sorted(n for n in part.image_names if is_image_file(n)):
            rel = f"{part.img_rel}/{name}" if part.img_rel else name
            if rel not in seen:
                issues.append(
                    LoadIssue(
                        "load.image_not_in_annotations", rel, "image has no annotation XML; not audited"
                    )
                )
    return issues


def check_sizes(rows: Rows, issues: list[LoadIssue], progress: ProgressFn | None, workers: int) -> None:
    """Read the header of every found image (one vectorised call, in ``workers`` processes) and
    settle each image's size, status and EXIF flag.

    A declared size is kept (the boxes are in its pixels); one that differs from the file, after
    its EXIF orientation, is a ``load.size_mismatch`` of the XML file. Without a declared size the
    header's is used; with neither, ``load.size_missing``.
    """
    found_at = [i for i, found in enumerate(rows.found) if found]
    paths = [rows.path[i] for i in found_at]
    headers = read_headers(paths, progress, workers=workers) if paths else []
    for i, header in zip(found_at, headers, strict=True):
        rows.status[i] = sys.intern(header.status)
        rows.exif_rotated[i] = header.exif_rotated
        if header.status != "ok":
            continue
        width, height = rows.width[i], rows.height[i]
        if math.isnan(width):
            rows.width[i], rows.height[i] = header.width, header.height
        elif (width, height) != (header.width, header.height):
            issues.append(LoadIssue("load.size_mismatch", rows.xml_rel[i], _mismatch(rows, i, header)))
    for i, width in enumerate(rows.width):
        if math.isnan(width):
            issues.append(
                LoadIssue(
                    "load.size_missing",
                    rows.xml_rel[i],
                    f"<size> has no usable width/height and the image ({rows.status[i]}) cannot give it",
                )
            )


def _mismatch(rows: Rows, i: int, header: ImageHeader) -> str:
    """Both sizes in words; a hint when the declared one is the file's before EXIF rotation."""
    width, height = rows.width[i], rows.height[i]
    file_w, file_h = header.width, header.height
    text = f"{rows.file_name[i]}: <size> says {width:g}x{height:g}, the image file is {file_w:g}x{file_h:g}"
    if header.exif_rotated:
        text += " after its EXIF orientation"
        if (width, height) == (file_h, file_w):
            text += f" (stored as {file_h:g}x{file_w:g}: the size was written before rotating)"
    return text + "; the declared size is used"
