"""Tiny hand-made datasets for analyzer tests, written as rows of numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sodaudit.dataset import Dataset


def tiny_dataset(
    boxes: list[tuple],
    images: list[tuple] | None = None,
    classes: dict[int, str] | None = None,
    imgsz: int = 640,
) -> Dataset:
    """boxes: (image_id, class_id, x, y, w, h[, ignore]); images: (image_id, width, height[, split]).

    Without ``images``, one 640x640 image with id 0. Each box's source is ``labels.txt:<row>``.
    """
    images = images or [(0, 640.0, 640.0)]
    img = pd.DataFrame(
        {
            "image_id": [i[0] for i in images],
            "file_name": [f"{i[0]}.jpg" for i in images],
            "path": [""] * len(images),
            "split": [i[3] if len(i) > 3 else "train" for i in images],
            "width": [float(i[1]) for i in images],
            "height": [float(i[2]) for i in images],
            "status": ["ok"] * len(images),
        }
    )
    box = pd.DataFrame(
        {
            "image_id": [b[0] for b in boxes],
            "class_id": [b[1] for b in boxes],
            "x": [float(b[2]) for b in boxes],
            "y": [float(b[3]) for b in boxes],
            "w": [float(b[4]) for b in boxes],
            "h": [float(b[5]) for b in boxes],
            "ignore": [bool(b[6]) if len(b) > 6 else False for b in boxes],
            "source_file": ["labels.txt"] * len(boxes),
            "source_line": list(range(1, len(boxes) + 1)),
        }
    )
    return Dataset.build(
        root=Path("/d"),
        format="test",
        boxes=box,
        images=img,
        classes=classes or {0: "car", 1: "person"},
        imgsz=imgsz,
    )
