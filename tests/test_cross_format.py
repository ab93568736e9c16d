"""The three sample_data formats describe one scene: each loads to the same boxes (within 0.5 px)
as the scene description the generator wrote, and so to the same boxes as each other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sodaudit.loaders import load

FORMATS = ["coco", "yolo", "voc", "csv", "darknet"]
NO_IGNORE_FLAG = {"yolo", "csv", "darknet"}
LOADED_AS = {"darknet": "yolo"}
"""sample_data/darknet is CVAT's YOLO 1.1 export: the YOLO loader reads it."""
SPLIT_NAMES = {"valid": "val"}
"""Darknet's obj.data calls the val split ``valid``."""
"""Formats that cannot mark a box ignore (COCO iscrowd, VOC difficult can)."""


def scene_boxes(sample_data: Path) -> pd.DataFrame:
    scene = json.loads((sample_data / "scene.json").read_text())
    rows = [
        {
            "stem": Path(img["file_name"]).stem,
            "split": img["split"],
            "class_name": b["class_name"],
            "x": b["x"],
            "y": b["y"],
            "w": b["w"],
            "h": b["h"],
            "ignore": bool(b.get("ignore", False)),
        }
        for img in scene["images"]
        for b in img["boxes"]
    ]
    return _sorted(pd.DataFrame(rows))


def loaded_boxes(path: Path, fmt: str) -> pd.DataFrame:
    ds = load(path, LOADED_AS.get(fmt, fmt))
    names = ds.images.set_index("image_id")["file_name"]
    b = ds.boxes
    frame = pd.DataFrame(
        {
            "stem": [Path(n).stem for n in b["image_id"].map(names)],
            "split": b["split"].astype(str).map(lambda s: SPLIT_NAMES.get(s, s)).to_numpy(),
            "class_name": b["class_name"].astype(str).to_numpy(),
            "x": b["x"].to_numpy(),
            "y": b["y"].to_numpy(),
            "w": b["w"].to_numpy(),
            "h": b["h"].to_numpy(),
            "ignore": b["ignore"].to_numpy(),
        }
    )
    return _sorted(frame)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = frame[["x", "y", "w", "h"]].round(0)
    frame = frame.assign(_x=keys["x"], _y=keys["y"], _w=keys["w"], _h=keys["h"])
    frame = frame.sort_values(["stem", "class_name", "_x", "_y", "_w", "_h"], kind="stable")
    return frame.drop(columns=["_x", "_y", "_w", "_h"]).reset_index(drop=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_loads_the_scene(sample_data: Path, fmt: str):
    expected = scene_boxes(sample_data)
    got = loaded_boxes(sample_data / fmt, fmt)
    assert len(got) == len(expected)
    assert got["stem"].tolist() == expected["stem"].tolist()
    assert got["class_name"].tolist() == expected["class_name"].tolist()
    assert got["split"].tolist() == expected["split"].tolist()
    coords = ["x", "y", "w", "h"]
    assert np.allclose(got[coords].to_numpy(), expected[coords].to_numpy(), atol=0.5)
    if fmt not in NO_IGNORE_FLAG:
        assert got["ignore"].tolist() == expected["ignore"].tolist()


def test_formats_agree_with_each_other(sample_data: Path):
    frames = {fmt: loaded_boxes(sample_data / fmt, fmt) for fmt in FORMATS}
    coords = ["x", "y", "w", "h"]
    for fmt in FORMATS[1:]:
        assert np.abs(frames[fmt][coords].to_numpy() - frames["coco"][coords].to_numpy()).max() <= 0.5
