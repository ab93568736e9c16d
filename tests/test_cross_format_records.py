"""One scene in every record format loads to the same boxes (within 0.5 px).

The scene is the first images of ``sample_data/scene.json`` (whole-pixel boxes, 1920x1080). Each
writer below follows the format's public documentation (cited per writer); the images are copied
beside the labels as each format's exports place them. Every format is auto-detected.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sodaudit.loaders import load

W, H = 1920, 1080
N_IMAGES = 3
VISDRONE_IDS = {"person": 1, "bicycle": 3, "car": 4, "truck": 6}
"""VisDrone-DET categories (VisDrone2018-DET-toolkit): pedestrian 1, bicycle 3, car 4, truck 6."""
VISDRONE_NAMES = {"person": "pedestrian"}


def scene(sample_data: Path) -> list[dict]:
    images = json.loads((sample_data / "scene.json").read_text())["images"]
    return [img for img in images if img["boxes"]][:N_IMAGES]


def copy_images(sample_data: Path, images: list[dict], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for img in images:
        shutil.copy(sample_data / "voc" / "JPEGImages" / img["file_name"], folder / img["file_name"])


def write_labelstudio(sample_data: Path, images: list[dict], out: Path) -> None:
    """Label Studio JSON export (labelstud.io/guide/export: rectanglelabels in percent)."""
    tasks = []
    for i, img in enumerate(images, start=1):
        result = [
            {
                "type": "rectanglelabels",
                "original_width": W,
                "original_height": H,
                "image_rotation": 0,
                "from_name": "label",
                "to_name": "image",
                "value": {
                    "x": b["x"] / W * 100,
                    "y": b["y"] / H * 100,
                    "width": b["w"] / W * 100,
                    "height": b["h"] / H * 100,
                    "rotation": 0,
                    "rectanglelabels": [b["class_name"]],
                },
            }
            for b in img["boxes"]
        ]
        tasks.append(
            {"id": i, "annotations": [{"id": i, "result": result}], "data": {"image": img["file_name"]}}
        )
    out.mkdir(parents=True)
    (out / "export.json").write_text(json.dumps(tasks))
    copy_images(sample_data, images, out / "images")


def write_cvat(sample_data: Path, images: list[dict], out: Path) -> None:
    """CVAT for images 1.1 (docs.cvat.ai, "CVAT for images"): <image> with <box xtl ytl xbr ybr>."""
    labels = sorted({b["class_name"] for img in images for b in img["boxes"]})
    parts = ["<?xml version='1.0' encoding='utf-8'?>", "<annotations>", "<version>1.1</version>"]
    parts += ["<meta><task><labels>", *(f"<label><name>{n}</name></label>" for n in labels)]
    parts += ["</labels></task></meta>"]
    for i, img in enumerate(images):
        parts.append(f'<image id="{i}" name="{img["file_name"]}" width="{W}" height="{H}">')
        for b in img["boxes"]:
            x0, y0, x1, y1 = b["x"], b["y"], b["x"] + b["w"], b["y"] + b["h"]
            parts.append(
                f'<box label="{b["class_name"]}" occluded="0" xtl="{x0}" ytl="{y0}" xbr="{x1}" ybr="{y1}" />'
            )
        parts.append("</image>")
    parts.append("</annotations>")
    out.mkdir(parents=True)
    (out / "annotations.xml").write_text("\n".join(parts))
    copy_images(sample_data, images, out / "images")


def write_via(sample_data: Path, images: list[dict], out: Path) -> None:
    """VIA 2 via_region_data.json (robots.ox.ac.uk/~vgg/software/via): rect regions."""
    copy_images(sample_data, images, out)
    doc = {}
    for img in images:
        size = (out / img["file_name"]).stat().st_size
        regions = [
            {
                "shape_attributes": {
                    "name": "rect",
                    "x": b["x"],
                    "y": b["y"],
                    "width": b["w"],
                    "height": b["h"],
                },
                "region_attributes": {"class": b["class_name"]},
            }
            for b in img["boxes"]
        ]
        doc[f"{img['file_name']}{size}"] = {
            "filename": img["file_name"],
            "size": size,
            "regions": regions,
            "file_attributes": {},
        }
    (out / "via_region_data.json").write_text(json.dumps(doc))


def write_labelme(sample_data: Path, images: list[dict], out: Path) -> None:
    """LabelMe (wkentaro/labelme label_file.py): one JSON per image, rectangle = two corners."""
    copy_images(sample_data, images, out)
    for img in images:
        shapes = [
            {
                "label": b["class_name"],
                "points": [[b["x"], b["y"]], [b["x"] + b["w"], b["y"] + b["h"]]],
                "group_id": None,
                "shape_type": "rectangle",
                "flags": {},
            }
            for b in img["boxes"]
        ]
        doc = {
            "version": "5.2.1",
            "flags": {},
            "shapes": shapes,
            "imagePath": img["file_name"],
            "imageData": None,
            "imageHeight": H,
            "imageWidth": W,
        }
        (out / img["file_name"].replace(".jpg", ".json")).write_text(json.dumps(doc))


def write_dota(sample_data: Path, images: list[dict], out: Path) -> None:
    """DOTA labelTxt (DOTA_devkit dota_utils.parse_dota_poly): 4 corners, category, difficult."""
    copy_images(sample_data, images, out / "images")
    (out / "labelTxt").mkdir(parents=True)
    for img in images:
        lines = ["imagesource:GoogleEarth", "gsd:0.15"]
        for b in img["boxes"]:
            x0, y0, x1, y1 = b["x"], b["y"], b["x"] + b["w"], b["y"] + b["h"]
            lines.append(f"{x0} {y0} {x1} {y0} {x1} {y1} {x0} {y1} {b['class_name']} {int(b['ignore'])}")
        (out / "labelTxt" / img["file_name"].replace(".jpg", ".txt")).write_text("\n".join(lines) + "\n")


def write_visdrone(sample_data: Path, images: list[dict], out: Path) -> None:
    """VisDrone-DET (VisDrone2018-DET-toolkit): x,y,w,h,score,category,truncation,occlusion."""
    copy_images(sample_data, images, out / "images")
    (out / "annotations").mkdir(parents=True)
    for img in images:
        lines = [
            f"{b['x']},{b['y']},{b['w']},{b['h']},1,{VISDRONE_IDS[b['class_name']]},0,0"
            for b in img["boxes"]
            if b["class_name"] in VISDRONE_IDS
        ]
        (out / "annotations" / img["file_name"].replace(".jpg", ".txt")).write_text("\n".join(lines) + "\n")


WRITERS: dict[str, Callable[[Path, list[dict], Path], None]] = {
    "labelstudio": write_labelstudio,
    "cvat": write_cvat,
    "via": write_via,
    "labelme": write_labelme,
    "dota": write_dota,
    "visdrone": write_visdrone,
}


def expected_boxes(images: list[dict], fmt: str) -> list[tuple]:
    rows = []
    for img in images:
        for b in img["boxes"]:
            name = b["class_name"]
            if fmt == "visdrone":
                if name not in VISDRONE_IDS:
                    continue
                name = VISDRONE_NAMES.get(name, name)
            rows.append((Path(img["file_name"]).stem, name, b["x"], b["y"], b["w"], b["h"]))
    return sorted(rows)


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_each_record_format_loads_the_scene(sample_data: Path, tmp_path: Path, fmt: str):
    images = scene(sample_data)
    root = tmp_path / fmt
    WRITERS[fmt](sample_data, images, root)
    ds = load(root)
    assert ds.format == fmt
    names = ds.images.set_index("image_id")["file_name"]
    b = ds.boxes
    stems = [Path(n).stem for n in b["image_id"].map(names)]
    got = sorted(
        zip(stems, b["class_name"].astype(str), b["x"], b["y"], b["w"], b["h"], strict=True),
        key=lambda r: (r[0], r[1], round(r[2]), round(r[3]), round(r[4]), round(r[5])),
    )
    want = expected_boxes(images, fmt)
    assert len(got) == len(want)
    assert [g[:2] for g in got] == [w[:2] for w in want]
    assert np.abs(np.array([g[2:] for g in got]) - np.array([w[2:] for w in want])).max() <= 0.5
    assert set(ds.images["status"]) == {"ok"}  # every image found and its header read
