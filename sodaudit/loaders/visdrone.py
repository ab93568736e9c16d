"""VisDrone-DET loader: ``annotations/*.txt`` beside ``images/*.jpg``, at the root or in split folders
named as released (``VisDrone2019-DET-train``, ``-val``, ``-test-dev``: the split is the part after ``DET-``).

Sources (github.com/VisDrone/VisDrone2018-DET-toolkit, README.md and utils/*.m):

- Line format: ``bbox_left,bbox_top,bbox_width,bbox_height,score,object_category,truncation,occlusion``
  in pixels; categories ignored regions (0), pedestrian (1), people (2), bicycle (3), car (4), van (5),
  truck (6), tricycle (7), awning-tricycle (8), bus (9), motor (10), others (11).
- Ignore rules, as the toolkit evaluates ground truth: category 0 rows are ignored regions, not
  objects (``dropObjectsInIgr.m``); an object at least half inside the ignored regions is dropped
  there too (here: the share of its box inside their union, in continuous coordinates, where the
  toolkit counts pixels); ``score`` 0 in ground truth "will be ignored" (README; ``saveAnnoRes.m``
  turns it into the ignore flag of ``evalRes.m``); only categories 1-10 are evaluated
  (``calcAccuracy.m``), so "others" (11) is ignored. All of these are kept as ``ignore`` boxes.
  Ultralytics' VisDrone.yaml conversion likewise drops score-0 rows.
- ``truncation`` (0-1) and ``occlusion`` (0-2) are kept as integer box columns.

VisDrone-VID and -MOT annotations (``frame_index,target_id,...``, 10 fields, ``sequences/`` of frames)
belong to video tasks: they are detected so that the error names them. Trailing commas and empty
lines, common in the released files, are accepted.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.loaders.base import Detection, ProgressFn, relpath
from sodaudit.loaders.dota import (
    DEFAULT_SPLIT,
    Pair,
    Parsed,
    build_records,
    child_dir,
    first_malformed,
    head_lines,
    is_number,
    label_files,
    listdir,
    parse_files,
)
from sodaudit.loaders.records import ImageIndex, to_dataset

FORMAT = "visdrone"
CLASSES = (
    "ignored-region",
    "pedestrian",
    "people",
    "bicycle",
    "car",
    "van",
    "truck",
    "tricycle",
    "awning-tricycle",
    "bus",
    "motor",
    "others",
)
IGNORED_REGION, OTHERS = 0, 11
IN_REGION_SHARE = 0.5
"""``dropObjectsInIgr.m`` keeps an object when less than half of it lies in ignored regions."""
EXTRA = ("truncation", "occlusion", "region")
"""Box columns beyond x, y, w, h: the two VisDrone fields, and ``region`` for the category-0
ignored regions (areas, not objects; the integrity analyzer reports them)."""
_SPLIT_DIR = re.compile(r"^visdrone\d*-(det|vid|mot)-(.+)$", re.I)
_FIELDS = "bbox_left,bbox_top,bbox_width,bbox_height,score,object_category,truncation,occlusion"
VIDEO = "VisDrone-VID/MOT"


def _fields(line: str) -> list[str]:
    """Comma-separated fields, trailing empty ones (a trailing comma) dropped."""
    fields = [f.strip() for f in line.split(",")]
    while fields and not fields[-1]:
        fields.pop()
    return fields


def _kind(line: str) -> str:
    """``det`` (8 integers), ``video`` (10 integers) or ``""``: what a first line looks like."""
    fields = _fields(line)
    if not all(re.fullmatch(r"-?\d+", f) for f in fields):
        return ""
    return {8: "det", 10: "video"}.get(len(fields), "")


def _layout(path: Path) -> list[tuple[Path, str, str]]:
    """``(folder, split, task)`` of each folder holding ``annotations/``: ``path`` itself and its
    subfolders. The task (``det``/``video``/``""``) comes from a released folder name, else from
    ``sequences/`` (video frames) or the first line of the first annotation files."""
    found = []
    not_split = ("images", "annotations", "sequences")
    children = listdir(path, lambda e: e.name.lower() not in not_split and e.is_dir())
    for folder in [path, *(Path(e.path) for e in children)]:
        ann = child_dir(folder, "annotations")
        if ann is None:
            continue
        named = _SPLIT_DIR.match(folder.name)
        if named:
            task = "det" if named.group(1).lower() == "det" else "video"
        elif child_dir(folder, "sequences") is not None and child_dir(folder, "images") is None:
            task = "video"
        else:
            kinds = {_kind(s) for s in head_lines(ann, lambda s: bool(s.strip()))}
            task = "det" if "det" in kinds else "video" if "video" in kinds else ""
        split = named.group(2).lower() if named else DEFAULT_SPLIT if folder == path else folder.name
        found.append((folder, split, task))
    return found


def detect(path: Path) -> Detection | None:
    """Claim ``annotations/`` beside ``images/`` whose first lines are 8 comma-separated integers,
    or released split folders (``VisDrone2019-DET-train``); VID/MOT too, so loading names it."""
    path = Path(path)
    if not path.is_dir():
        return None
    layout = _layout(path)
    det = [f for f, _, t in layout if t == "det"]
    if det:
        where = " + ".join(f"{relpath(f, path)}/annotations/" if f != path else "annotations/" for f in det)
        return Detection(FORMAT, path, f"{where} with {_FIELDS} rows")
    if any(t == "video" for _, _, t in layout):
        return Detection(FORMAT, path, f"{VIDEO} annotations (frame_index,target_id,... rows)")
    return None


def parse_visdrone(lines: list[str], file_rel: str) -> Parsed:
    """Rows of one VisDrone-DET annotation file, with the toolkit's ignore rules applied."""
    out = Parsed(file_rel)
    rows: list[tuple[int, float, float, float, float, float, int, int, int]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        fields = _fields(raw)
        why, values = _row(fields)
        if why:
            out.issues.append(LoadIssue("load.malformed_row", file_rel, why + "; row dropped", line=number))
            continue
        rows.append((number, *values))  # type: ignore[arg-type]
    if not rows:
        return out
    table = np.array([r[1:] for r in rows], dtype=np.float64)
    xywh, score, category = table[:, :4], table[:, 4], table[:, 5].astype(np.int64)
    region = category == IGNORED_REGION
    in_region = np.zeros(len(rows), dtype=bool)
    if region.any():
        in_region = ~region & (_share_inside(xywh, xywh[region]) >= IN_REGION_SHARE)
    others = category == OTHERS
    unscored = (score == 0) & ~region & ~others
    in_region &= ~others & ~unscored  # each ignored box counted under its first rule
    ignore = region | others | unscored | in_region
    out.info = {
        "regions": int(region.sum()),
        "others": int(others.sum()),
        "score0": int(unscored.sum()),
        "in_region": int(in_region.sum()),
        "scored": int(((score != 0) & (score != 1)).sum()),
    }
    names = [CLASSES[c] if 0 <= c < len(CLASSES) else str(c) for c in category.tolist()]
    out.rows = [
        (r[0], name, r[1], r[2], r[3], r[4], flag, (r[7], r[8], is_region))
        for r, name, flag, is_region in zip(rows, names, ignore.tolist(), region.tolist(), strict=True)
    ]
    return out


def _row(fields: list[str]) -> tuple[str, tuple[object, ...]]:
    """``(why the fields are not a DET row or "", values)``."""
    n = len(fields)
    if n == 10:
        return f"10 fields: a {VIDEO} row (frame_index,target_id,...), not a DET row", ()
    if n != 8:
        return f"{n} fields; expected 8 ({_FIELDS})", ()
    try:
        numbers = [float(f) for f in fields]
    except ValueError:
        bad = next(f for f in fields if not is_number(f))
        return f"value {bad[:20]!r} is not a number", ()
    ints = numbers[5:]
    if not all(np.isfinite(v) and v == int(v) for v in ints):
        return "object_category, truncation and occlusion must be integers", ()
    return "", (*numbers[:5], *(int(v) for v in ints))


def _share_inside(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Share of each ``x, y, w, h`` box's area inside the union of the region boxes: the regions'
    edges cut the plane into a small grid of cells, each inside the union or not, and a box's
    covered area is its overlap with the covered cells (exact, no raster)."""
    rx0, ry0 = regions[:, 0], regions[:, 1]
    rx1, ry1 = rx0 + np.maximum(regions[:, 2], 0), ry0 + np.maximum(regions[:, 3], 0)
    ex, ey = np.unique(np.concatenate([rx0, rx1])), np.unique(np.concatenate([ry0, ry1]))
    cx0, cx1, cy0, cy1 = ex[:-1], ex[1:], ey[:-1], ey[1:]
    mx, my = (cx0 + cx1) / 2, (cy0 + cy1) / 2
    in_x = (mx > rx0[:, None]) & (mx < rx1[:, None])  # region k spans column j
    in_y = (my > ry0[:, None]) & (my < ry1[:, None])
    covered = (in_y[:, :, None] & in_x[:, None, :]).any(0).astype(np.float64)  # rows x columns
    bx0, by0 = boxes[:, 0:1], boxes[:, 1:2]
    bx1, by1 = bx0 + boxes[:, 2:3], by0 + boxes[:, 3:4]
    ox = np.clip(np.minimum(bx1, cx1) - np.maximum(bx0, cx0), 0, None)
    oy = np.clip(np.minimum(by1, cy1) - np.maximum(by0, cy0), 0, None)
    inside = np.einsum("ny,yx,nx->n", oy, covered, ox)
    area = boxes[:, 2] * boxes[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(area > 0, inside / area, 0.0)


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read a VisDrone-DET dataset into the canonical ``Dataset``; defects become ``LoadIssue``s."""
    limits = limits or LimitsConfig()
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(
            f"{path} is not a folder; a VisDrone-DET dataset is a folder with annotations/ + images/."
        )
    layout = _layout(path)
    video = [f for f, _, t in layout if t == "video"]
    det = [(f, s) for f, s, t in layout if t != "video"]
    if video and not det:
        raise DatasetError(
            f"{path} holds {VIDEO} annotations (frame_index,target_id,... per video sequence), a video "
            "task; sodaudit reads VisDrone-DET (annotations/ + images/, 8 fields per line)."
        )
    if not det:
        raise DatasetError(
            f"No VisDrone-DET annotations at {path}: expected annotations/*.txt beside images/, or "
            "VisDrone2019-DET-train/ (-val/, -test-dev/) folders holding them."
        )
    notes = [f"{relpath(f, path)}/ holds {VIDEO} annotations (a video task); not read." for f in video]
    pairs = [Pair(str(child_dir(f, "annotations")), child_dir(f, "images"), s) for f, s in det]
    groups = [(pair, label_files(pair, notes, path)) for pair in pairs]
    files = [f for _, fs in groups for f in fs]
    if not files:
        where = ", ".join(f"{relpath(pair.labels, path)}/" for pair in pairs)
        raise DatasetError(f"No VisDrone-DET annotation files at {path}: {where} holds no .txt file.")
    parsed = parse_files(path, files, parse_visdrone, limits, progress, workers)
    if first := first_malformed(parsed):
        raise DatasetError(
            f"None of the {len(files)} annotation files at {path} holds a VisDrone-DET row "
            f"(first problem, {first.where}: {first.reason})."
        )
    index = ImageIndex.of(path)
    records, _ = build_records(path, index, groups, parsed, image_ext=".jpg", extra=EXTRA)
    counts = {
        k: sum(int(p.info.get(k, 0)) for p in parsed)
        for k in ("regions", "others", "score0", "in_region", "scored")
    }
    records.notes += notes
    records.notes.append(
        f"Kept as ignore boxes, as the VisDrone toolkit evaluates: {counts['regions']} ignored regions "
        f"(category 0), {counts['others']} 'others' (category 11), {counts['score0']} objects with score 0, "
        f"{counts['in_region']} objects at least half inside ignored regions."
    )
    if counts["scored"]:
        records.notes.append(
            f"{counts['scored']} rows have a score other than 0 or 1: these look like detection results, "
            "not ground truth (a ground-truth score is 1, or 0 to ignore the box)."
        )
    meta = {
        "annotation_dirs": [relpath(pair.labels, path) for pair in pairs],
        "label_files": len(files),
        **{f"{k}_boxes": v for k, v in counts.items() if k != "scored"},
    }
    dataset = to_dataset(
        path,
        FORMAT,
        records,
        imgsz=imgsz,
        classes=dict(enumerate(CLASSES)),
        images=index,
        progress=progress,
        workers=workers,
        meta=meta,
    )
    fields = {"truncation": "Int64", "occlusion": "Int64", "region": "bool"}  # also with no box
    return replace(dataset, boxes=dataset.boxes.astype(fields))
