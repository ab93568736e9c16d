"""Generate sodaudit's bundled demo dataset, ``sample_data/``, in COCO, YOLO and Pascal VOC.

One synthetic scene description (30 drone-like 1920x1080 aerial views, five classes) is drawn
once and written in all three formats, so every loader can be checked against the same ground
truth (``scene.json``) and the demo report has something to say: many tiny objects (people
2-10 px), crowded and empty images, look-alike classes at small sizes (person vs bicycle), and
a few deliberate defects, listed in ``scene.json["defects"]`` and ``sample_data/README.md``.

Boxes sit on whole pixels so every format holds them exactly (YOLO to 8 decimals). The output
is deterministic (fixed seed, no timestamps): two runs give byte-identical trees.

Usage: python scripts/make_sample_data.py [OUT_DIR]    (default: <repo>/sample_data)
"""

from __future__ import annotations

import argparse
import json
import shutil
import xml.etree.ElementTree as ET
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 20240611
W, H = 1920, 1080
QUALITY = 72
CLASSES = ["car", "truck", "person", "bicycle", "boat"]  # YOLO id = index, COCO id = index + 1
# Long side range (px), short/long ratio and colour of each class, so crops look like the class.
STYLE = {
    "car": (10, 30, 0.45, (190, 45, 40)),
    "truck": (20, 60, 0.38, (225, 225, 215)),
    "person": (2, 10, 0.85, (45, 55, 110)),
    "bicycle": (2, 10, 0.85, (30, 30, 35)),  # person look-alike in size and shape
    "boat": (15, 50, 0.35, (238, 238, 232)),
}
# Objects per class (min, max) in each kind of scene.
COUNTS = {
    "rural": {"car": (3, 10), "truck": (1, 4), "person": (3, 15), "bicycle": (1, 6)},
    "town": {"car": (10, 30), "truck": (2, 6), "person": (10, 40), "bicycle": (4, 15)},
    "lake": {"car": (3, 8), "truck": (0, 2), "person": (5, 15), "bicycle": (0, 4), "boat": (4, 12)},
    "parking": {"truck": (4, 6), "person": (8, 12)},  # plus ~130 cars in the lot's stalls
    "plaza": {"car": (5, 10), "person": (140, 150), "bicycle": (28, 32)},  # crowd in the plaza
    "marina": {"car": (4, 8), "person": (50, 60), "boat": (40, 45)},
    "background": {},
}
# Scene kind of aerial_0001 ... aerial_0030; the first 24 are train, the last 6 val.
PLAN = """rural town rural background town lake town rural parking town rural lake plaza town
background rural town lake town rural town lake town rural town marina background rural lake
town""".split()  # noqa: SIM905 - a table, easier to read as words
N_TRAIN = 24
FIELDS = np.array(
    [(96, 128, 60), (120, 140, 70), (150, 140, 90), (170, 160, 100), (110, 100, 70), (80, 110, 55)],
    dtype=float,
)
# Deliberate defects, always box 0 (and 1) of their image: number -> (kind, class, x, y, w, h).
# Listed with their values in scene.json["defects"] and sample_data/README.md.
DEFECTS = {
    3: ("zero_size", "person", 700, 500, 0, 0),
    5: ("past_right_edge", "truck", 1905, 540, 40, 16),
    7: ("crowd_ignore", "person", 1200, 300, 36, 28),
    8: ("coco_area_mismatch", "car", 400, 700, 24, 11),
    10: ("duplicate_exact", "car", 900, 200, 22, 10),
    11: ("duplicate_shifted", "truck", 1000, 800, 50, 20),
    25: ("cross_class_double", "car", 600, 400, 28, 13),
}
AREA_FACTOR = 8  # coco_area_mismatch: COCO area = 8 * w * h
ORPHAN = "aerial_0031.txt"  # YOLO label file without an image
ORPHAN_BOXES = [("car", 300, 200, 20, 9), ("person", 800, 600, 4, 4)]


def make_layout(rng: np.random.Generator, kind: str) -> dict:
    """Roads (orientation, centre, width), an optional lake ellipse and a parking/plaza zone."""
    roads = []
    for i in range({"town": 4, "parking": 3, "plaza": 3, "lake": 1, "marina": 1}.get(kind, 2)):
        centre = int(rng.integers((H, W)[i % 2] // 10, (H, W)[i % 2] * 9 // 10))
        roads.append(("hv"[i % 2], centre, int(rng.integers(18, 32))))
    lake = (960, 560, 700, 330) if kind == "marina" else None  # cx, cy, rx, ry
    if kind == "lake":
        lake = tuple(int(v) for v in rng.integers((600, 400, 250, 150), (1300, 700, 420, 260)))
    zone = None  # x, y, w, h
    if kind in ("parking", "plaza"):
        zone = (int(rng.integers(200, 700)), int(rng.integers(150, 350)), 900, 520)
    return {"roads": roads, "lake": lake, "zone": zone}


def paint_ground(rng: np.random.Generator, layout: dict, kind: str) -> Image.Image:
    """Smooth fields (Voronoi patches, plough rows, blotches) painted at 1/8 scale, then roads.

    Smooth on purpose: JPEGs stay near 65 KB, so each format's copy is about 2 MB."""
    lw, lh, k = W // 8, H // 8, int(rng.integers(8, 15))
    seeds = rng.uniform((0, 0), (lw, lh), (k, 2))
    yy, xx = np.mgrid[0:lh, 0:lw]
    region = ((xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2).argmin(-1)
    colours = FIELDS[rng.integers(0, len(FIELDS), k)] + rng.normal(0, 6, (k, 3))
    if kind in ("town", "parking", "plaza"):
        colours = 0.5 * colours + 0.5 * np.array([150, 145, 135])  # built-up: greyer
    angle = rng.uniform(0, np.pi, k)[region]
    rows = 4 * np.sin(1.3 * (xx * np.cos(angle) + yy * np.sin(angle)))
    noise = rng.normal(128, 40, (lh // 6, lw // 6)).clip(0, 255).astype(np.uint8)
    blotch = np.asarray(Image.fromarray(noise).resize((lw, lh), Image.BICUBIC), float) - 128
    small = colours[region] + (rows + 0.25 * blotch)[..., None]
    ground = Image.fromarray(small.clip(0, 255).astype(np.uint8)).resize((W, H), Image.BILINEAR)
    d = ImageDraw.Draw(ground)
    for orient, c, width in layout["roads"]:
        a, b = c - width // 2, c + width // 2
        d.rectangle([0, a, W, b] if orient == "h" else [a, 0, b, H], fill=(105, 105, 100))
    if layout["lake"]:
        cx, cy, rx, ry = layout["lake"]
        d.ellipse([cx - rx - 6, cy - ry - 6, cx + rx + 6, cy + ry + 6], fill=(150, 140, 110))
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=(45, 85, 110))
    if layout["zone"]:
        x, y, w, h = layout["zone"]
        fill = (120, 120, 118) if kind == "parking" else (196, 184, 160)
        d.rectangle([x, y, x + w - 1, y + h - 1], fill=fill)
    return ground


def in_lake(lake: tuple | None, px: np.ndarray, py: np.ndarray, grow: float = 0) -> np.ndarray:
    if lake is None:
        return np.zeros(np.shape(px), bool)
    cx, cy, rx, ry = lake
    return ((px - cx) / (rx + grow)) ** 2 + ((py - cy) / (ry + grow)) ** 2 <= 1


def free(occupied: list, x: int, y: int, w: int, h: int, gap: int = 2) -> bool:
    """True when the box keeps ``gap`` px away from every box in ``occupied``."""
    o = np.asarray(occupied, dtype=float).reshape(-1, 4)
    hit_x = (x < o[:, 0] + o[:, 2] + gap) & (o[:, 0] < x + w + gap)
    return not (hit_x & (y < o[:, 1] + o[:, 3] + gap) & (o[:, 1] < y + h + gap)).any()


def place(rng: np.random.Generator, layout: dict, occupied: list, cls: str, zoned: bool):
    """One box of ``cls`` where that class lives (road, water, land, zone), or None if no room."""
    lo, hi, ratio, _ = STYLE[cls]
    lake, zone, roads = layout["lake"], layout["zone"], layout["roads"]
    for _ in range(40):
        long = int(np.exp(rng.uniform(np.log(lo), np.log(hi + 1))))  # log-uniform: many small
        short = int(min(long, max(2, round(long * ratio * rng.uniform(0.85, 1.15)))))
        horiz = rng.random() < 0.5
        if zoned:
            x, y = zone[0] + rng.integers(zone[2] - long), zone[1] + rng.integers(zone[3] - long)
        elif cls == "boat":
            x, y = (
                lake[0] + rng.integers(-lake[2], lake[2]),
                lake[1] + rng.integers(-lake[3], lake[3]),
            )
        elif cls in ("car", "truck") or (cls == "bicycle" and rng.random() < 0.6):  # on a road
            orient, c, width = roads[rng.integers(len(roads))]
            horiz = orient == "h"
            along = rng.integers(0, (W if horiz else H) - long)
            across = c - width // 2 + rng.integers(0, max(1, width - short))
            x, y = (along, across) if horiz else (across, along)
        else:
            x, y = rng.integers(0, W - long), rng.integers(0, H - long)
        x, y, (w, h) = int(x), int(y), ((long, short) if horiz else (short, long))
        xs, ys = np.array([x, x + w, x, x + w]), np.array([y, y, y + h, y + h])
        if x < 0 or y < 0 or x + w > W or y + h > H or not free(occupied, x, y, w, h):
            continue
        wet = in_lake(lake, xs, ys, -4).all() if cls == "boat" else not in_lake(lake, xs, ys, 10).any()
        if not wet or (zone and not zoned and not free([zone], x, y, w, h, gap=0)):
            continue
        occupied.append((x, y, w, h))
        return x, y, w, h
    return None


def draw_object(d: ImageDraw.ImageDraw, rng: np.random.Generator, cls: str, x, y, w, h) -> None:
    """Draw a simple top-down shape in the class colour, strictly inside the box."""
    colour = tuple(int(c) for c in np.clip(np.add(STYLE[cls][3], rng.integers(-20, 21, 3)), 0, 255))

    def at(a: float, b: float) -> tuple[float, float]:  # (along, across) fractions -> pixels
        return (x + a * (w - 1), y + b * (h - 1)) if w >= h else (x + b * (w - 1), y + a * (h - 1))

    def rect(a0: float, a1: float, b0: float, b1: float) -> list[float]:
        (x0, y0), (x1, y1) = at(a0, b0), at(a1, b1)
        return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]

    if min(w, h) < 4:  # a few pixels: just a blob of the class colour
        d.rectangle(rect(0, 1, 0, 1), fill=colour)
    elif cls == "person":  # shoulders from above, dark head in the middle
        d.ellipse(rect(0, 1, 0, 1), fill=colour)
        d.ellipse(rect(0.3, 0.7, 0.3, 0.7), fill=(70, 50, 35))
    elif cls == "bicycle":  # two wheels and a frame
        d.ellipse(rect(0, 0.45, 0, 1), outline=colour)
        d.ellipse(rect(0.55, 1, 0, 1), outline=colour)
        d.rectangle(rect(0.25, 0.75, 0.45, 0.55), fill=colour)
    elif cls == "car":
        d.rounded_rectangle(rect(0, 1, 0, 1), radius=min(w, h) // 4, fill=colour)
        d.rectangle(rect(0.55, 0.75, 0.1, 0.9), fill=(40, 45, 55))  # windscreen
    elif cls == "truck":
        d.rectangle(rect(0, 1, 0, 1), fill=colour)
        d.rectangle(rect(0.78, 1, 0, 1), fill=(40, 70, 160))  # cab
    else:  # boat: hull pointed at the bow, wooden deck
        d.polygon([at(0, 0), at(0.75, 0), at(1, 0.5), at(0.75, 1), at(0, 1)], fill=colour)
        d.rectangle(rect(0.2, 0.5, 0.25, 0.75), fill=(165, 120, 75))


def box(cls: str, x: int, y: int, w: int, h: int, ignore: bool = False) -> dict:
    return {"class_name": cls, "x": x, "y": y, "w": w, "h": h, "ignore": ignore}


def yolo_row(cls: str, x: int, y: int, w: int, h: int) -> str:
    """``cls cx cy w h``, normalised and unclipped (a box past the edge keeps cx > 1)."""
    return f"{CLASSES.index(cls)} {(x + w / 2) / W:.8f} {(y + h / 2) / H:.8f} {w / W:.8f} {h / H:.8f}"


def add_defect(number: int, boxes: list, drawn: list, occupied: list, rng) -> dict:
    """Put this image's deliberate defect first in its box list; return its description."""
    kind, cls, x, y, w, h = DEFECTS[number]
    entry = {"kind": kind, "class_name": cls, "box_index": 0, "x": x, "y": y, "w": w, "h": h}
    boxes.append(box(cls, x, y, w, h, ignore=kind == "crowd_ignore"))
    occupied.append((x, y, w, h))
    if kind == "crowd_ignore":  # one ignore box over a cluster of tiny unlabelled people
        for _ in range(14):
            drawn.append(("person", x + int(rng.integers(w - 3)), y + int(rng.integers(h - 3)), 3, 3))
    elif kind != "zero_size":
        drawn.append((cls, x, y, w, h))
    if kind == "past_right_edge":
        entry.update(overhang_px=x + w - W, yolo_row=yolo_row(cls, x, y, w, h))
    elif kind == "coco_area_mismatch":
        entry["coco_area"] = float(AREA_FACTOR * w * h)
    elif kind in ("duplicate_exact", "duplicate_shifted", "cross_class_double"):
        dx = int(kind == "duplicate_shifted")  # the second box, one pixel to the right
        boxes.append(box("truck" if kind == "cross_class_double" else cls, x + dx, y, w, h))
        entry.update(second_box_index=1, second_class_name=boxes[1]["class_name"], second_x=x + dx)
        entry["iou"] = round((w - dx) / (w + dx), 6)
    return entry


def make_image(number: int, kind: str, rng: np.random.Generator) -> tuple[dict, bytes, dict | None]:
    """One scene: its ground-truth record, its JPEG bytes and its defect (if any)."""
    layout = make_layout(rng, kind)
    ground = paint_ground(rng, layout, kind)
    d = ImageDraw.Draw(ground)
    boxes, drawn, occupied, placed = [], [], [], []  # placed: (class, x, y, w, h), drawn as is
    defect = add_defect(number, boxes, drawn, occupied, rng) if number in DEFECTS else None
    if kind == "parking":  # rows of 20 x 36 px stalls, about a third of them taken
        x0, y0, zw, zh = layout["zone"]
        for sy in range(y0 + 10, y0 + zh - 40, 50):
            d.line([x0 + 4, sy + 37, x0 + zw - 4, sy + 37], fill=(200, 200, 195))
            for sx in range(x0 + 4, x0 + zw - 20, 20):
                if rng.random() < 0.3:
                    h = int(rng.integers(18, 31))
                    w = round(h * STYLE["car"][2] * rng.uniform(0.85, 1.15))
                    placed.append(("car", sx + (20 - w) // 2, sy + (36 - h) // 2, w, h))
                    occupied.append(placed[-1][1:])
    for cls, (lo, hi) in COUNTS[kind].items():
        zoned = kind == "plaza" and cls in ("person", "bicycle")
        for _ in range(int(rng.integers(lo, hi + 1))):
            b = place(rng, layout, occupied, cls, zoned)
            placed += [(cls, *b)] if b else []
    boxes += [box(*obj) for obj in placed]
    for obj in drawn + placed:
        draw_object(d, rng, *obj)
    buf = BytesIO()
    ground.save(buf, "JPEG", quality=QUALITY, optimize=True)
    split = "train" if number <= N_TRAIN else "val"
    name = f"aerial_{number:04d}.jpg"
    record = {"file_name": name, "split": split, "width": W, "height": H, "boxes": boxes}
    return record, buf.getvalue(), defect and {"file_name": name, "split": split, **defect}


def dump_json(path: Path, head: dict, lists: dict) -> None:
    """JSON with one element of each big list per line: compact, yet readable and diffable."""
    parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()]
    for key, items in lists.items():
        parts.append(f"{json.dumps(key)}: [\n" + ",\n".join(json.dumps(e) for e in items) + "\n]")
    path.write_text("{\n" + ",\n".join(parts) + "\n}\n")


def write_coco(out: Path, images: list, jpegs: list, defects: list) -> None:
    """annotations/instances_{train,val}.json and the images in train/, val/."""
    areas = {(d["file_name"], d["box_index"]): d["coco_area"] for d in defects if "coco_area" in d}
    cats = [
        {"id": i + 1, "name": n, "supercategory": "person" if n == "person" else "vehicle"}
        for i, n in enumerate(CLASSES)
    ]
    info = {"description": "sodaudit sample data (synthetic)", "version": "1.0", "year": 2024}
    (out / "annotations").mkdir(parents=True)
    ann_id = 0
    for split in ("train", "val"):
        (out / split).mkdir()
        imgs, anns = [], []
        for image_id, (img, jpeg) in enumerate(zip(images, jpegs, strict=True), start=1):
            if img["split"] != split:
                continue
            (out / split / img["file_name"]).write_bytes(jpeg)
            imgs.append({"id": image_id, "file_name": img["file_name"], "width": W, "height": H})
            for i, b in enumerate(img["boxes"]):
                ann_id += 1
                anns.append(
                    {
                        "id": ann_id,
                        "image_id": image_id,
                        "category_id": CLASSES.index(b["class_name"]) + 1,
                        "bbox": [b["x"], b["y"], b["w"], b["h"]],
                        "area": areas.get((img["file_name"], i), float(b["w"] * b["h"])),
                        "iscrowd": int(b["ignore"]),
                    }
                )
        path = out / "annotations" / f"instances_{split}.json"
        dump_json(
            path,
            {"info": info, "licenses": []},
            {"images": imgs, "annotations": anns, "categories": cats},
        )


def write_yolo(out: Path, images: list, jpegs: list) -> None:
    """Ultralytics layout; backgrounds get an empty label file, except the second one (none)."""
    out.mkdir()
    names = "".join(f"  - {n}\n" for n in CLASSES)
    (out / "data.yaml").write_text(f"path: .\ntrain: train/images\nval: val/images\nnames:\n{names}")
    no_label_file = [i["file_name"] for i in images if not i["boxes"]][1]
    for img, jpeg in zip(images, jpegs, strict=True):
        for sub in ("images", "labels"):
            (out / img["split"] / sub).mkdir(parents=True, exist_ok=True)
        (out / img["split"] / "images" / img["file_name"]).write_bytes(jpeg)
        if img["file_name"] != no_label_file:
            rows = [yolo_row(b["class_name"], b["x"], b["y"], b["w"], b["h"]) + "\n" for b in img["boxes"]]
            (out / img["split"] / "labels" / img["file_name"].replace(".jpg", ".txt")).write_text(
                "".join(rows)
            )
    (out / "train" / "labels" / ORPHAN).write_text("".join(yolo_row(*b) + "\n" for b in ORPHAN_BOXES))


def write_voc(out: Path, images: list, jpegs: list) -> None:
    """Annotations/*.xml (xmax = x + w, no +1), JPEGImages/, ImageSets/Main/{train,val}.txt."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (out / sub).mkdir(parents=True)

    def add(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
        el = ET.SubElement(parent, tag)
        el.text = None if text is None else str(text)
        return el

    for img, jpeg in zip(images, jpegs, strict=True):
        (out / "JPEGImages" / img["file_name"]).write_bytes(jpeg)
        root = ET.Element("annotation")
        add(root, "folder", "JPEGImages")
        add(root, "filename", img["file_name"])
        size = add(root, "size")
        for tag, value in (("width", W), ("height", H), ("depth", 3)):
            add(size, tag, value)
        add(root, "segmented", 0)
        for b in img["boxes"]:
            x, y, w, h = b["x"], b["y"], b["w"], b["h"]
            obj = add(root, "object")
            add(obj, "name", b["class_name"])
            add(obj, "pose", "Unspecified")
            add(obj, "truncated", int(x < 0 or y < 0 or x + w > W or y + h > H))
            add(obj, "difficult", int(b["ignore"]))
            bndbox = add(obj, "bndbox")
            for tag, value in (("xmin", x), ("ymin", y), ("xmax", x + w), ("ymax", y + h)):
                add(bndbox, tag, value)
        ET.indent(root)
        xml = ET.tostring(root, encoding="unicode") + "\n"
        (out / "Annotations" / img["file_name"].replace(".jpg", ".xml")).write_text(xml)
    for split in ("train", "val"):
        stems = "".join(i["file_name"][:-4] + "\n" for i in images if i["split"] == split)
        (out / "ImageSets" / "Main" / f"{split}.txt").write_text(stems)


def write_darknet(out: Path, images: list, jpegs: list) -> None:
    """CVAT's "YOLO 1.1" export (darknet): obj.data, obj.names, train.txt and valid.txt listing
    ``data/obj_<subset>_data/<name>.jpg`` (paths on the training machine, not under this folder),
    images and .txt labels side by side in obj_train_data/ and obj_valid_data/."""
    subsets = {"train": "train", "val": "valid"}
    (out).mkdir()
    (out / "obj.names").write_text("".join(f"{n}\n" for n in CLASSES))
    (out / "obj.data").write_text(
        f"classes = {len(CLASSES)}\ntrain = data/train.txt\nvalid = data/valid.txt\n"
        "names = data/obj.names\nbackup = backup/\n"
    )
    lists: dict[str, list[str]] = {s: [] for s in subsets.values()}
    for img, jpeg in zip(images, jpegs, strict=True):
        subset = subsets[img["split"]]
        folder = out / f"obj_{subset}_data"
        folder.mkdir(exist_ok=True)
        (folder / img["file_name"]).write_bytes(jpeg)
        rows = [yolo_row(b["class_name"], b["x"], b["y"], b["w"], b["h"]) + "\n" for b in img["boxes"]]
        (folder / img["file_name"].replace(".jpg", ".txt")).write_text("".join(rows))
        lists[subset].append(f"data/obj_{subset}_data/{img['file_name']}\n")
    for subset, entries in lists.items():
        (out / f"{subset}.txt").write_text("".join(entries))


def write_csv(out: Path, images: list, jpegs: list) -> None:
    """The TensorFlow Object Detection API's CSV (``xml_to_csv.py``): one ``<split>_labels.csv``
    per split with ``filename,width,height,class,xmin,ymin,xmax,ymax``; images in images/."""
    (out / "images").mkdir(parents=True)
    header = "filename,width,height,class,xmin,ymin,xmax,ymax\n"
    per_split: dict[str, list[str]] = {"train": [], "val": []}
    for img, jpeg in zip(images, jpegs, strict=True):
        (out / "images" / img["file_name"]).write_bytes(jpeg)
        for b in img["boxes"]:
            x, y, w, h = b["x"], b["y"], b["w"], b["h"]
            row = f"{img['file_name']},{W},{H},{b['class_name']},{x},{y},{x + w},{y + h}\n"
            per_split[img["split"]].append(row)
    for split, rows in per_split.items():
        (out / f"{split}_labels.csv").write_text(header + "".join(rows))


def main() -> None:
    default = Path(__file__).resolve().parents[1] / "sample_data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=default, help="default: %(default)s")
    out = parser.parse_args().out
    for old in ("coco", "yolo", "voc", "darknet", "csv"):  # only what this script makes; README.md stays
        shutil.rmtree(out / old, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    images, jpegs, defects = [], [], []
    for number, kind in enumerate(PLAN, start=1):
        record, jpeg, defect = make_image(number, kind, rng)
        images.append(record)
        jpegs.append(jpeg)
        defects += [defect] if defect else []
    rows = [yolo_row(*b) for b in ORPHAN_BOXES]
    defects.append(
        {
            "kind": "orphan_label",
            "file_name": f"yolo/train/labels/{ORPHAN}",
            "split": "train",
            "rows": rows,
        }
    )
    write_coco(out / "coco", images, jpegs, defects)
    write_yolo(out / "yolo", images, jpegs)
    write_voc(out / "voc", images, jpegs)
    write_darknet(out / "darknet", images, jpegs)
    write_csv(out / "csv", images, jpegs)
    dump_json(
        out / "scene.json",
        {"seed": SEED, "classes": CLASSES},
        {"images": images, "defects": defects},
    )

    n_boxes = {c: sum(b["class_name"] == c for i in images for b in i["boxes"]) for c in CLASSES}
    print(f"{len(images)} images ({N_TRAIN} train), {sum(n_boxes.values())} boxes: {n_boxes}")
    for part in sorted(out.iterdir()):
        files = [part] if part.is_file() else [f for f in part.rglob("*") if f.is_file()]
        size = sum(f.stat().st_size for f in files)
        print(f"  {part.name}: {len(files)} files, {size / 1e6:.2f} MB")
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"total {total / 1e6:.2f} MB in {out}")


if __name__ == "__main__":
    main()
