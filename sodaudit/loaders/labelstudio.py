"""Label Studio loader: the JSON export (a list of tasks) and the JSON-MIN export.

Field names follow the Label Studio docs (labelstud.io/guide/task_format, /guide/export,
/tags/rectanglelabels: ``value.x/y/width/height`` in percent 0-100 of ``original_width`` /
``original_height``, ``value.rotation`` in degrees about the top-left corner) and
``label_studio_converter/converter.py`` of HumanSignal/label-studio-converter (2ef5400, 2024-08):
``rotated_rectangle`` for the rotation, ``annotation_result_from_task`` for cancelled annotations
(``was_cancelled`` / ``skipped``) and ``convert_to_json_min`` for the JSON-MIN records (task data
keys, one list of regions per control tag with the sizes inside each region, ``annotator``,
``annotation_id``).

Boxes: percent / 100 * original size. A rotated rectangle becomes the axis-aligned box of its
corners, rotated in *pixels* (the converter rotates in percent units, which skews the angle on
non-square images). Polygons become their bounding box. Several annotations of one task (several
annotators): the first non-cancelled one is read (the converter exports all of them, newest
first), so each image has one set of labels. Predictions are not labels and are never read.
Label Studio has no class list: class ids are the sorted names. Images are found under the folder
of the JSON file by the name in ``data`` (uploads carry an 8-hex-digit prefix, tried without it).
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from sodaudit.config import LimitsConfig
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.errors import DatasetError
from sodaudit.imageinfo import is_image_file, read_header
from sodaudit.loaders.base import Detection, ProgressFn, TooLarge, counted, open_binary, read_limited, relpath
from sodaudit.loaders.records import ImageIndex, Records, to_dataset

__all__ = ["FORMAT", "detect", "load"]

FORMAT = "labelstudio"
_HEAD_BYTES = 8192
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(?=.)")
"""Label Studio names an uploaded file ``<uuid4().hex[:8]>-<original name>``."""
_MIN_META = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement"}
_LIMIT_KEY = "limits.max_annotation_file_mb"


# ---------------------------------------------------------------------------------------------
# Detection


def detect(path: Path) -> Detection | None:
    """Claim a ``.json`` file (or a folder holding exactly one) whose first element is a Label
    Studio task (``annotations`` + ``data``) or a JSON-MIN record; reads 8 KB of each file."""
    path = Path(path)
    if path.is_file():
        kind = _sniff(path)
        return Detection(FORMAT, path.parent, f"{path.name} ({kind})") if kind else None
    if not path.is_dir():
        return None
    found = _exports_in(path)
    if len(found) != 1:
        return None
    return Detection(FORMAT, path, f"{found[0][0].name} ({found[0][1]})")


def _exports_in(folder: Path) -> list[tuple[Path, str]]:
    """The JSON files directly in ``folder`` that look like Label Studio exports, with their kind."""
    files = sorted(f for f in folder.glob("*.json") if f.is_file())
    return [(f, kind) for f in files if (kind := _sniff(f))]


def _sniff(file: Path) -> str | None:
    """``"JSON export"``, ``"JSON-MIN export"`` or ``None``, from the keys of the first list element
    in the file's first 8 KB (a COCO file is an object, not a list, and is never claimed)."""
    if file.suffix.lower() != ".json":
        return None
    try:
        with open_binary(file) as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return None
    keys, inner, whole = _head_keys(head)
    if keys & {"annotations", "completions"}:
        # ``data`` follows the annotations in an export; a long first task hides it past the head
        return "JSON export" if "data" in keys or (not whole and "result" in inner) else None
    if {"annotator", "annotation_id"} <= keys:
        return "JSON-MIN export"
    # ``annotator`` follows the regions in a JSON-MIN record: a long first record hides it
    regions = "original_width" in inner and bool(inner & {"rectanglelabels", "polygonlabels"})
    return "JSON-MIN export" if not whole and regions and "data" not in keys else None


def _head_keys(head: bytes) -> tuple[set[str], set[str], bool]:
    """Keys of the first object of a JSON list (``[{...``), the keys two levels inside it, and
    whether the head held the whole object. A scan of the head's text, no parse."""
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    keys: set[str] = set()
    inner: set[str] = set()
    if not text.startswith("["):
        return keys, inner, False
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                break
            k = j + 1
            while k < n and text[k] in " \t\r\n":
                k += 1
            if k < n and text[k] == ":" and depth in (2, 4):
                (keys if depth == 2 else inner).add(text[i + 1 : j])
            i = j + 1
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth <= 1:
                return keys, inner, True
        i += 1
    return keys, inner, False


# ---------------------------------------------------------------------------------------------
# Loading


def load(
    path: Path,
    *,
    imgsz: int = 640,
    limits: LimitsConfig | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> Dataset:
    """Read a Label Studio JSON (or JSON-MIN) export into the canonical Dataset.

    ``workers``: processes that read image headers (1 = this process only, 0 = one per core)."""
    limits = limits or LimitsConfig()
    path = Path(path).absolute()
    if path.is_file():
        file = path
    elif path.is_dir():
        found = _exports_in(path)
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise DatasetError(
                f"Found {what} Label Studio export JSON files in {path}; pass the one to audit."
            )
        file = found[0][0]
    else:
        raise DatasetError(f"No such file or folder: {path}.")
    root = file.parent
    rel = relpath(file, root)
    try:
        raw = read_limited(file, limits.max_annotation_file_mb, _LIMIT_KEY)
    except TooLarge as err:
        records = Records(issues=[LoadIssue("load.file_too_large", rel, str(err))])
        return to_dataset(
            root, FORMAT, records, imgsz=imgsz, unlisted_images=False, meta={"annotation_file": rel}
        )
    except OSError as err:
        raise DatasetError(f"Cannot read {file}: {err.strerror or err}.") from err
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise DatasetError(
            f"{file} is not UTF-8 text (byte {err.start}); not a Label Studio export."
        ) from err
    except json.JSONDecodeError as err:
        raise DatasetError(f"{file} is not valid JSON (line {err.lineno}: {err.msg}).") from err
    del raw
    single = isinstance(doc, dict) and "data" in doc and ("annotations" in doc or "completions" in doc)
    tasks = [doc] if single else doc  # one task per file: Label Studio's cloud-storage export
    if not isinstance(tasks, list) or not tasks:
        raise DatasetError(f"{file} is not a Label Studio export: expected a non-empty JSON list of tasks.")
    first = next((t for t in tasks if isinstance(t, dict)), {})
    if "annotations" in first or "completions" in first or "data" in first:
        layout = "json"
    elif {"annotator", "annotation_id"} & first.keys():
        layout = "json-min"
    else:
        raise DatasetError(
            f"{file} is not a Label Studio export: its first element has neither 'data'/'annotations' "
            "(JSON export) nor 'annotator'/'annotation_id' (JSON-MIN export)."
        )
    reader = _Reader(root, rel)
    if layout == "json":
        for t, task in enumerate(counted(tasks, "reading tasks", progress)):
            reader.task(t, task)
    else:
        for t, record in enumerate(counted(tasks, "reading records", progress)):
            reader.min_record(t, record)
    if not reader.records.img_name:
        c = reader.counts
        raise DatasetError(
            f"No task in {file} has a labelled image to read ({len(tasks)} tasks: {c['unlabelled']} "
            f"without annotations, {c['cancelled_only']} only cancelled; {c['predictions']} predictions, "
            f"which are not labels; {len(reader.records.issues)} malformed)."
        )
    reader.records.notes[:0] = reader.notes()
    return to_dataset(
        root,
        FORMAT,
        reader.records,
        imgsz=imgsz,
        images=reader.index,
        progress=progress,
        workers=workers,
        meta={"annotation_file": rel, "layout": layout},
    )


class _Reader:
    """Turns tasks into :class:`Records` rows, counting what it does not read for the notes."""

    def __init__(self, root: Path, rel: str) -> None:
        self.root, self.rel = root, rel
        self.records = Records()
        self.index = ImageIndex.of(root)
        self.counts: Counter[str] = Counter()
        self.other_types: Counter[str] = Counter()
        self.seen_ids: set[object] = set()

    def issue(self, code: str, key: str, reason: str) -> None:
        self.records.issues.append(LoadIssue(code, self.rel, reason, key=key))

    # -- the JSON export

    def task(self, t: int, task: object) -> None:
        key = f"[{t}]"
        if not isinstance(task, dict):
            self.issue("load.malformed_object", key, "task is not a JSON object; skipped")
            return
        ref = _image_ref(task.get("data"))
        if ref is None:
            self.issue("load.malformed_object", f"{key}.data", "task names no image in 'data'; skipped")
            return
        predictions = task.get("predictions")
        self.counts["predictions"] += len(predictions) if isinstance(predictions, list) else 0
        field = "annotations" if "annotations" in task else "completions"
        annotations = task.get(field)
        if annotations is None:
            annotations = []
        if not isinstance(annotations, list):
            self.issue("load.malformed_object", f"{key}.{field}", f"'{field}' is not a list; task skipped")
            return
        usable = [
            (a, ann)
            for a, ann in enumerate(annotations)
            if isinstance(ann, dict) and not (ann.get("was_cancelled") or ann.get("skipped"))
        ]
        if not usable:
            self.counts["cancelled_only" if annotations else "unlabelled"] += 1
            return
        if len(usable) > 1:
            self.counts["multi_tasks"] += 1
            self.counts["other_annotations"] += len(usable) - 1
        a, ann = usable[0]
        results = ann.get("result")
        rkey = f"{key}.{field}[{a}].result"
        if not isinstance(results, list):
            self.issue("load.malformed_object", rkey, "annotation 'result' is not a list; task skipped")
            return
        regions = []
        for r, res in enumerate(results):
            if not isinstance(res, dict) or not isinstance(res.get("value"), dict):
                self.issue("load.malformed_object", f"{rkey}[{r}]", "result has no 'value' object; skipped")
                continue
            value = dict(res["value"])
            for size_key in ("original_width", "original_height", "image_rotation"):
                if size_key in res:
                    value.setdefault(size_key, res[size_key])
            regions.append((f"{rkey}[{r}]", str(res.get("type") or ""), value))
        self.image_regions(ref, regions)

    # -- the JSON-MIN export

    def min_record(self, t: int, record: object) -> None:
        key = f"[{t}]"
        if not isinstance(record, dict):
            self.issue("load.malformed_object", key, "record is not a JSON object; skipped")
            return
        task_id = record.get("id")
        if task_id is not None and isinstance(task_id, int | str):
            if task_id in self.seen_ids:  # one record per annotation: another annotator's labels
                self.counts["min_repeats"] += 1
                return
            self.seen_ids.add(task_id)
        ref = _image_ref(record)
        if ref is None:
            self.issue("load.malformed_object", key, "record names no image; skipped")
            return
        regions = []
        for name, value in record.items():
            if name in _MIN_META or not isinstance(value, list):
                continue
            for j, region in enumerate(value):
                if isinstance(region, dict):
                    regions.append((f"{key}.{name}[{j}]", "", region))
        self.image_regions(ref, regions)

    # -- shared

    def image_regions(self, ref: str, regions: list[tuple[str, str, dict]]) -> None:
        """One image's row and its regions' boxes (sizes from the regions, else the image file)."""
        name, found = self.find(ref)
        sizes = [_size(v) for _, _, v in regions]
        size = next((s for s in sizes if s is not None), None)
        width, height = size if size is not None else (None, None)
        img = self.records.image(name, width=width, height=height, source=self.rel)
        if size is None and found is not None and regions:
            header = read_header(str(self.root / found))
            size = (header.width, header.height) if header.status == "ok" else None
        for (key, rtype, value), own in zip(regions, sizes, strict=True):
            self.region(img, key, rtype, value, own or size)

    def find(self, ref: str) -> tuple[str, str | None]:
        """The name to give :class:`Records` (the one that matched a file under the root) and the
        file's path relative to the root, or the name as written and ``None``."""
        parts = urlsplit(ref)
        local = parse_qs(parts.query).get("d") if "/data/local-files" in parts.path else None
        relative = bool(local) or not (parts.scheme or ref.startswith("/"))
        path = (local[0] if local else ref if relative else unquote(parts.path)).replace("\\", "/")
        base = posixpath.basename(path) or path
        tries = [path.lstrip("/")] if relative else []  # a path under the root, as written
        tries += [base, _UPLOAD_PREFIX.sub("", base)]
        for name in dict.fromkeys(tries):
            hit, _ = self.index.find(name, "")
            if hit is not None:
                return name, hit
        return tries[0], None

    def region(self, img: int, key: str, rtype: str, value: dict, size: tuple[float, float] | None) -> None:
        kind, label_key = _kind(rtype.lower(), value)
        if kind is None:
            self.other_types[label_key or rtype or "unknown"] += 1
            return
        labels = value.get(label_key) if label_key else None
        if not isinstance(labels, list) or not labels or not isinstance(labels[0], str) or not labels[0]:
            self.issue("load.malformed_object", key, f"{kind} region has no class label; skipped")
            return
        if len(labels) > 1:
            self.counts["several_labels"] += 1
        if size is None:
            self.issue(
                "load.malformed_object",
                key,
                "no original_width/original_height and no image file to take the size from: "
                "percent coordinates cannot be turned into pixels; skipped",
            )
            return
        if _num(value.get("image_rotation")) not in (None, 0.0):
            self.counts["image_rotation"] += 1
        box = _rect(value, size) if kind == "rectangle" else _polygon(value, size)
        if isinstance(box, str):
            self.issue("load.malformed_object", key, f"{kind} region {box}; skipped")
            return
        (x, y, w, h), percents, counted_as = box
        if counted_as:
            self.counts[counted_as] += 1
        if any(not 0.0 <= p <= 100.0 for p in percents):
            self.issue("load.value_out_of_range", key, "a percent value lies outside [0, 100]; box kept")
        self.records.box(img, labels[0], x, y, w, h, file=self.rel, key=key)

    def notes(self) -> list[str]:
        c, other = self.counts, self.other_types
        kinds = ", ".join(f"{n} {t}" for t, n in sorted(other.items()))
        texts = (
            (
                c["rotated"],
                f"{c['rotated']} rotated rectangles were read as the axis-aligned boxes of "
                "their corners (Label Studio rotates about the top-left corner).",
            ),
            (c["polygon"], f"{c['polygon']} polygons were read as their bounding boxes."),
            (
                c["multi_tasks"],
                f"{c['multi_tasks']} tasks have several annotations (several annotators): the first "
                f"non-cancelled one of each was read, {c['other_annotations']} others were ignored.",
            ),
            (
                c["min_repeats"],
                f"{c['min_repeats']} JSON-MIN records repeat a task id (another annotator's "
                "labels): only the first record of each task was read.",
            ),
            (c["predictions"], f"{c['predictions']} predictions (model pre-annotations) were ignored."),
            (
                c["unlabelled"] + c["cancelled_only"],
                f"{c['unlabelled'] + c['cancelled_only']} tasks have no annotation ({c['cancelled_only']} "
                "only cancelled ones) and were not read: unlabelled is not background.",
            ),
            (len(other), f"Results that are not boxes or polygons were not read: {kinds}."),
            (c["several_labels"], f"{c['several_labels']} regions carry several labels; the first was used."),
            (
                c["image_rotation"],
                f"{c['image_rotation']} regions were drawn on a rotated image "
                "(image_rotation != 0); they are read in the unrotated image's pixels.",
            ),
        )
        return [text for n, text in texts if n]


def _image_ref(data: object) -> str | None:
    """The image a task names: ``data["image"]``, else the first string value naming an image file."""
    if not isinstance(data, dict):
        return None
    image = data.get("image")
    if isinstance(image, str) and image.strip():
        return image.strip()
    for key, value in data.items():
        if key not in _MIN_META and isinstance(value, str) and is_image_file(urlsplit(value).path):
            return value.strip()
    return None


def _kind(rtype: str, value: dict) -> tuple[str | None, str | None]:
    """(``"rectangle"`` | ``"polygon"`` | ``None``, the key of the label list). JSON-MIN drops
    ``type``, so the value's keys decide there."""
    if rtype in ("rectanglelabels", "polygonlabels"):
        return rtype[: -len("labels")], rtype
    for key in ("rectanglelabels", "polygonlabels"):
        if not rtype and key in value:
            return key[: -len("labels")], key
    if rtype in ("labels", "") and "labels" in value:
        if "points" in value:
            return "polygon", "labels"
        if {"x", "y", "width", "height"} <= value.keys():
            return "rectangle", "labels"
    if rtype in ("rectangle", "polygon"):
        return rtype, None
    if not rtype:
        rtype = next((k for k in value if k.endswith("labels") or k == "choices"), "")
    return None, rtype


def _num(value: object) -> float | None:
    """A JSON number as a float (``NaN`` kept for the integrity checks); ``None`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _size(value: dict) -> tuple[float, float] | None:
    w, h = _num(value.get("original_width")), _num(value.get("original_height"))
    return (w, h) if w is not None and h is not None and w > 0 and h > 0 else None


_Box = tuple[tuple[float, float, float, float], list[float], str]


def _rect(value: dict, size: tuple[float, float]) -> _Box | str:
    """Pixel box of a rectangle; a rotated one is rotated about its top-left corner in pixels
    (clockwise on screen, y down) and boxed."""
    nums = [_num(value.get(k)) for k in ("x", "y", "width", "height")]
    x, y, w, h = (math.nan if n is None else n for n in nums)
    if None in nums:
        return "has a missing or non-numeric x/y/width/height"
    rotation = _num(value.get("rotation", 0)) or 0.0
    px, py, pw, ph = x / 100 * size[0], y / 100 * size[1], w / 100 * size[0], h / 100 * size[1]
    if not math.isfinite(rotation) or rotation % 360 == 0:
        return (px, py, pw, ph), [x, y, w, h], ""
    a = math.radians(rotation)
    cos, sin = math.cos(a), math.sin(a)
    xs = [px + dx * cos - dy * sin for dx, dy in ((0, 0), (pw, 0), (pw, ph), (0, ph))]
    ys = [py + dx * sin + dy * cos for dx, dy in ((0, 0), (pw, 0), (pw, ph), (0, ph))]
    return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)), [x, y, w, h], "rotated"


def _polygon(value: dict, size: tuple[float, float]) -> _Box | str:
    """Pixel bounding box of a polygon's ``points`` (``[[x, y], ...]`` in percent); a NaN point
    makes the box NaN (an integrity finding) instead of being skipped by ``min``."""
    points = value.get("points")
    if not isinstance(points, list) or not points:
        return "has no 'points' list"
    xs: list[float] = []
    ys: list[float] = []
    for point in points:
        px, py = (
            (_num(point[0]), _num(point[1])) if isinstance(point, list) and len(point) == 2 else (None, None)
        )
        if px is None or py is None:
            return "has a point that is not a pair of numbers"
        xs.append(px)
        ys.append(py)
    if not all(math.isfinite(v) for v in xs + ys):
        return (math.nan,) * 4, [], "polygon"
    x0, y0 = min(xs) / 100 * size[0], min(ys) / 100 * size[1]
    x1, y1 = max(xs) / 100 * size[0], max(ys) / 100 * size[1]
    return (x0, y0, x1 - x0, y1 - y0), xs + ys, "polygon"
