"""Deterministic benchmark datasets: COCO at train2017 scale, YOLO and VOC with 20,000 images.

Everything is drawn from one seeded numpy generator per dataset, so the same arguments give the
same bytes on the same numpy version. Sizes follow COCO train2017 closely enough to exercise the
same code paths: 118,287 images, ~860k boxes (about 7.3 per image, a few images without any),
80 classes with non-contiguous ids and a long-tailed frequency, square-root box areas drawn from
a log-normal fitted to COCO's split (41% below 32^2, 34% between 32^2 and 96^2, 24% above).

- ``coco(out, n_images, polygons)``: ``annotations/instances_train.json`` (+ val, 1/20 of the
  images), optionally with a ~20-point polygon per annotation (~370 MB at full scale).
- ``yolo(out, n_images)``: Ultralytics layout, real small JPEGs (each one distinct) and label
  files with ~7 boxes each.
- ``voc(out, n_images)``: ``Annotations/*.xml``, ``JPEGImages/`` and ``ImageSets/Main`` lists.

Usage: python benchmarks/generate.py OUT_DIR [--scale 1.0] [--only coco_poly,coco_bbox,yolo,voc]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
from pathlib import Path

import numpy as np
import orjson
from PIL import Image

SEED = 20170118
COCO_IMAGES = 118_287
COCO_BOXES_PER_IMAGE = 860_001 / 118_287
YOLO_IMAGES = 20_000
VOC_IMAGES = 20_000
BOXES_PER_LABEL_FILE = 7
# COCO's category ids: 1..90 with ten gaps.
COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]
# log(sqrt(area)) ~ N(mu, sigma) with P(<32) = 0.41 and P(<96) = 0.76 (COCO train2017).
SIZE_MU, SIZE_SIGMA = 3.734, 1.176
COCO_IMAGE_SIZES = [(640, 480), (480, 640), (640, 427), (427, 640), (640, 424), (500, 375), (640, 640)]
SMALL_JPEG_SIZES = [(320, 240), (240, 320), (320, 180), (256, 256)]
CHUNK = 20_000


def class_weights(n: int) -> np.ndarray:
    """Zipf-like long tail: the first class (person in COCO) holds about a quarter of the boxes."""
    w = 1.0 / np.arange(1, n + 1) ** 1.1
    return w / w.sum()


def draw_boxes(rng: np.random.Generator, img_w: np.ndarray, img_h: np.ndarray) -> np.ndarray:
    """Boxes ``x, y, w, h`` (pixels) inside their images: log-normal size, log-normal aspect."""
    side = np.exp(rng.normal(SIZE_MU, SIZE_SIGMA, len(img_w)))
    aspect = np.exp(rng.normal(0.0, 0.5, len(img_w)))
    w = np.clip(side * np.sqrt(aspect), 1.0, img_w)
    h = np.clip(side / np.sqrt(aspect), 1.0, img_h)
    x = rng.random(len(img_w)) * (img_w - w)
    y = rng.random(len(img_h)) * (img_h - h)
    return np.round(np.stack([x, y, w, h], axis=1), 2)


# --------------------------------------------------------------------------- COCO


def coco(out: Path, n_images: int, polygons: bool, seed: int = SEED) -> Path:
    """A COCO folder with a train and a val instances file; returns the folder."""
    rng = np.random.default_rng(seed + (1 if polygons else 0))
    ann_dir = out / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    n_val = max(1, n_images // 20)
    next_id = [1, 1]  # image id, annotation id
    for split, n in (("train", n_images - n_val), ("val", n_val)):
        _coco_file(ann_dir / f"instances_{split}.json", rng, n, polygons, next_id)
    return out


def _coco_file(path: Path, rng: np.random.Generator, n: int, polygons: bool, next_id: list[int]) -> None:
    sizes = np.array(COCO_IMAGE_SIZES, dtype=np.float64)[rng.integers(0, len(COCO_IMAGE_SIZES), n)]
    # Boxes per image: mostly a few, some crowded, ~1% empty (as in train2017).
    counts = rng.negative_binomial(2, 2 / (2 + COCO_BOXES_PER_IMAGE), n)
    image_ids = np.arange(next_id[0], next_id[0] + n)
    next_id[0] += n
    cat_ids = np.array(COCO_CATEGORY_IDS)
    weights = class_weights(len(cat_ids))
    with open(path, "wb") as fh:
        fh.write(b'{"info":{"description":"sodaudit benchmark (synthetic COCO train2017 scale)",')
        fh.write(b'"version":"1.0","year":2017},"licenses":[{"id":1,"name":"synthetic","url":""}],')
        fh.write(b'"images":[')
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            chunk = [
                {
                    "license": 1,
                    "file_name": f"{iid:012d}.jpg",
                    "coco_url": f"http://images.example.org/train2017/{iid:012d}.jpg",
                    "height": int(h),
                    "width": int(w),
                    "date_captured": "2013-11-14 16:28:13",
                    "id": int(iid),
                }
                for iid, (w, h) in zip(image_ids[start:stop], sizes[start:stop].tolist(), strict=True)
            ]
            fh.write((b"," if start else b"") + orjson.dumps(chunk)[1:-1])
        fh.write(b'],"annotations":[')
        owner = np.repeat(np.arange(n), counts)
        first = True
        for start in range(0, len(owner), CHUNK):
            rows = owner[start : start + CHUNK]
            m = len(rows)
            img_w, img_h = sizes[rows, 0], sizes[rows, 1]
            boxes = draw_boxes(rng, img_w, img_h)
            cats = rng.choice(cat_ids, m, p=weights)
            crowd = (rng.random(m) < 0.01).astype(int)
            fill = rng.uniform(0.45, 0.85, m)
            area = np.round(boxes[:, 2] * boxes[:, 3] * fill, 2)
            polys = _polygons(rng, boxes) if polygons else None
            chunk = []
            for k in range(m):
                ann = {
                    "area": float(area[k]),
                    "iscrowd": int(crowd[k]),
                    "image_id": int(image_ids[rows[k]]),
                    "bbox": boxes[k].tolist(),
                    "category_id": int(cats[k]),
                    "id": next_id[1] + start + k,
                }
                if polys is not None:
                    ann["segmentation"] = [polys[k]]
                chunk.append(ann)
            if chunk:
                fh.write((b"" if first else b",") + orjson.dumps(chunk)[1:-1])
                first = False
        next_id[1] += len(owner)
        cats_json = [
            {"supercategory": f"super{i // 8}", "id": int(c), "name": f"class_{c:02d}"}
            for i, c in enumerate(cat_ids)
        ]
        fh.write(b'],"categories":' + orjson.dumps(cats_json) + b"}")


def _polygons(rng: np.random.Generator, boxes: np.ndarray, points: int = 20) -> list[list[float]]:
    """A jittered ellipse of ``points`` vertices inscribed in each box, as COCO's flat x,y list."""
    t = np.linspace(0, 2 * np.pi, points, endpoint=False)
    r = rng.uniform(0.8, 1.0, (len(boxes), points))
    cx = boxes[:, 0:1] + boxes[:, 2:3] / 2
    cy = boxes[:, 1:2] + boxes[:, 3:4] / 2
    px = cx + r * np.cos(t) * boxes[:, 2:3] / 2
    py = cy + r * np.sin(t) * boxes[:, 3:4] / 2
    flat = np.empty((len(boxes), 2 * points))
    flat[:, 0::2], flat[:, 1::2] = px, py
    return np.round(flat, 2).tolist()


# --------------------------------------------------------------------------- images


def small_jpegs(rng: np.random.Generator, n: int) -> tuple[list[bytes], np.ndarray]:
    """``n`` distinct small JPEGs (smooth gradients plus a few blocks) and their (w, h)."""
    sizes = np.array(SMALL_JPEG_SIZES)[rng.integers(0, len(SMALL_JPEG_SIZES), n)]
    data = []
    grads = {}
    for i, (w, h) in enumerate(sizes.tolist()):
        if (w, h) not in grads:
            yy, xx = np.mgrid[0:h, 0:w]
            grads[(w, h)] = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (w + h)], -1)
        arr = (grads[(w, h)] + rng.integers(0, 256, 3)).astype(np.uint8)
        for _ in range(3):
            x0, y0 = int(rng.integers(0, w - 16)), int(rng.integers(0, h - 16))
            arr[y0 : y0 + 16, x0 : x0 + 16] = rng.integers(0, 256, 3)
        arr[0, 0] = [i & 255, (i >> 8) & 255, (i >> 16) & 255]  # distinct bytes for every image
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=70)
        data.append(buf.getvalue())
    return data, sizes


def _yolo_rows(rng: np.random.Generator, k: int) -> str:
    """``k`` label rows ``cls cx cy w h`` with small normalised boxes (the audit's use case)."""
    cls = rng.choice(80, k, p=class_weights(80))
    side = np.clip(np.exp(rng.normal(-3.2, 0.9, k)), 0.005, 0.9)
    aspect = np.exp(rng.normal(0.0, 0.4, k))
    w = np.clip(side * np.sqrt(aspect), 0.002, 1.0)
    h = np.clip(side / np.sqrt(aspect), 0.002, 1.0)
    cx = w / 2 + rng.random(k) * (1 - w)
    cy = h / 2 + rng.random(k) * (1 - h)
    return "".join(
        f"{c} {a:.6f} {b:.6f} {d:.6f} {e:.6f}\n"
        for c, a, b, d, e in zip(cls.tolist(), cx.tolist(), cy.tolist(), w.tolist(), h.tolist(), strict=True)
    )


def yolo(out: Path, n_images: int, seed: int = SEED) -> Path:
    """Ultralytics layout: data.yaml, images/{train,val}, labels/{train,val}."""
    rng = np.random.default_rng(seed + 2)
    jpegs, _ = small_jpegs(rng, n_images)
    n_val = max(1, n_images // 10)
    counts = np.maximum(1, rng.poisson(BOXES_PER_LABEL_FILE, n_images))
    for i in range(n_images):
        split = "val" if i < n_val else "train"
        img_dir, lbl_dir = out / "images" / split, out / "labels" / split
        if i in (0, n_val):
            img_dir.mkdir(parents=True, exist_ok=True)
            lbl_dir.mkdir(parents=True, exist_ok=True)
        (img_dir / f"img_{i:06d}.jpg").write_bytes(jpegs[i])
        (lbl_dir / f"img_{i:06d}.txt").write_text(_yolo_rows(rng, int(counts[i])))
    names = "\n".join(f"  {i}: class_{i:02d}" for i in range(80))
    (out / "data.yaml").write_text(f"path: .\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return out


# --------------------------------------------------------------------------- VOC


def voc(out: Path, n_images: int, seed: int = SEED) -> Path:
    """VOC layout: Annotations/*.xml (with <size>), JPEGImages/*.jpg, ImageSets/Main/{train,val}.txt."""
    rng = np.random.default_rng(seed + 3)
    jpegs, sizes = small_jpegs(rng, n_images)
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    names = [f"class_{i:02d}" for i in range(20)]
    weights = class_weights(20)
    stems = [f"2008_{i:06d}" for i in range(n_images)]
    for i, stem in enumerate(stems):
        w, h = (int(v) for v in sizes[i])
        k = max(1, int(rng.poisson(3)))
        boxes = draw_boxes(rng, np.full(k, float(w)), np.full(k, float(h)))
        cls = rng.choice(20, k, p=weights)
        difficult = rng.random(k) < 0.05
        objects = "".join(
            f"\t<object>\n\t\t<name>{names[c]}</name>\n\t\t<pose>Unspecified</pose>\n"
            f"\t\t<truncated>0</truncated>\n\t\t<difficult>{int(d)}</difficult>\n\t\t<bndbox>\n"
            f"\t\t\t<xmin>{int(x)}</xmin>\n\t\t\t<ymin>{int(y)}</ymin>\n"
            f"\t\t\t<xmax>{int(x + bw) + 1}</xmax>\n\t\t\t<ymax>{int(y + bh) + 1}</ymax>\n"
            "\t\t</bndbox>\n\t</object>\n"
            for c, d, (x, y, bw, bh) in zip(cls.tolist(), difficult.tolist(), boxes.tolist(), strict=True)
        )
        xml = (
            f"<annotation>\n\t<folder>VOC2012</folder>\n\t<filename>{stem}.jpg</filename>\n"
            "\t<source>\n\t\t<database>sodaudit benchmark</database>\n\t</source>\n"
            f"\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n\t\t<depth>3</depth>\n"
            f"\t</size>\n\t<segmented>0</segmented>\n{objects}</annotation>\n"
        )
        (out / "Annotations" / f"{stem}.xml").write_text(xml)
        (out / "JPEGImages" / f"{stem}.jpg").write_bytes(jpegs[i])
    n_val = max(1, n_images // 5)
    (out / "ImageSets/Main/val.txt").write_text("".join(s + "\n" for s in stems[:n_val]))
    (out / "ImageSets/Main/train.txt").write_text("".join(s + "\n" for s in stems[n_val:]))
    return out


# --------------------------------------------------------------------------- entry point

KINDS = ("coco_poly", "coco_bbox", "yolo", "voc")


def dataset_sizes(scale: float) -> dict[str, int]:
    """Images per dataset kind at ``scale`` (1.0 = full size)."""
    return {
        "coco_poly": max(2, round(COCO_IMAGES * scale)),
        "coco_bbox": max(2, round(COCO_IMAGES * scale)),
        "yolo": max(2, round(YOLO_IMAGES * scale)),
        "voc": max(2, round(VOC_IMAGES * scale)),
    }


def generate(kind: str, out: Path, n_images: int) -> Path:
    """Write one dataset to ``out`` (replaced if it exists); a ``.done`` marker ends a complete one."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if kind == "coco_poly":
        coco(out, n_images, polygons=True)
    elif kind == "coco_bbox":
        coco(out, n_images, polygons=False)
    elif kind == "yolo":
        yolo(out, n_images)
    elif kind == "voc":
        voc(out, n_images)
    else:
        raise ValueError(f"unknown dataset kind {kind!r}")
    (out / ".done").write_text(f"{kind} {n_images}\n")
    return out


def ensure(kind: str, out: Path, n_images: int) -> Path:
    """Generate unless a complete dataset with the same parameters is already there."""
    marker = out / ".done"
    if marker.is_file() and marker.read_text() == f"{kind} {n_images}\n":
        return out
    return generate(kind, out, n_images)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", default=",".join(KINDS))
    args = parser.parse_args(argv)
    for kind, n in dataset_sizes(args.scale).items():
        if kind in args.only.split(","):
            path = ensure(kind, args.out / f"{kind}_{n}", n)
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            print(f"{kind}: {n} images, {size / 1e6:.0f} MB at {path}", flush=True)
    os.sync()


if __name__ == "__main__":
    main()
