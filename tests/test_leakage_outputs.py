"""Sequence leakage end to end: a VisDrone-style dataset whose clip 0000072_02834_d has frames in
train and val; the run writes a group-disjoint proposal next to the report (never into the
dataset), the HTML says how images were grouped, and a later run without leakage leaves no stale
proposal behind."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from sodaudit.cli import main

CLIPS = {
    "0000072_02834_d": [("train", 1), ("train", 2), ("train", 3), ("val", 4), ("val", 5)],
    "0000073_00600_d": [("train", k) for k in range(1, 5)],
    "0000074_01200_d": [("val", k) for k in range(1, 4)],
    "0000075_00001_d": [("train", k) for k in range(1, 4)],
}


def visdrone(root: Path, clips: dict[str, list[tuple[str, int]]]) -> Path:
    for c, (clip, frames) in enumerate(clips.items()):
        for split, k in frames:
            d = root / f"VisDrone2019-DET-{split}"
            (d / "images").mkdir(parents=True, exist_ok=True)
            (d / "annotations").mkdir(parents=True, exist_ok=True)
            pixels = np.random.default_rng([c, k]).integers(0, 256, (24, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(d / "images" / f"{clip}_{k:07d}.jpg")
            (d / "annotations" / f"{clip}_{k:07d}.txt").write_text("10,20,30,15,1,4,0,0\n")
    return root


def clip_of(name: str) -> str:
    return re.sub(r"_\d+\.jpg$", "", Path(name).name)


def test_proposal_is_written_beside_the_report_and_keeps_clips_whole(tmp_path: Path, capsys):
    data = visdrone(tmp_path / "data", CLIPS)
    out = tmp_path / "out"
    assert main(["run", str(data), "--out", str(out)]) in (0, 1)
    lists = {p.stem.removeprefix("proposed_"): p.read_text().split() for p in (out / "splits").iterdir()}
    assert set(lists) == {"train", "val"}
    assert sum(len(v) for v in lists.values()) == sum(len(f) for f in CLIPS.values())  # every image once
    clips = {split: {clip_of(n) for n in names} for split, names in lists.items()}
    assert not clips["train"] & clips["val"]  # group-disjoint
    assert not any((d / "splits").exists() for d in [data, *data.iterdir()])  # nothing in the dataset
    report = json.loads((out / "report.json").read_text())
    leak = report["analyzers"]["splits"]["stats"]["leakage"]
    # by hand: one clip (0000072_02834_d) in train and val; 2 of the 5 val frames are in it
    assert leak["shared_groups"]["train/val"] == 1 and leak["val_frames_in_shared_groups"] == 2 / 5
    page = (out / "report.html").read_text()
    assert "Images were grouped into 4 sequences of two frames or more (15 images), by file name" in page

    shutil.rmtree(data)  # the same clips, none split: the stale proposal goes with the new run
    whole = {
        clip: [("val" if clip.endswith("74_01200_d") else "train", k) for _, k in f]
        for clip, f in CLIPS.items()
    }
    visdrone(data, whole)
    assert main(["run", str(data), "--out", str(out)]) in (0, 1)
    assert not (out / "splits").exists()
    assert "No sequence has frames in two splits." in (out / "report.html").read_text()


def test_coco_video_id_groups_frames(tmp_path: Path):
    """COCO-VID style: frames carry video_id; video 7 has a frame in train and one in val."""
    from sodaudit.pipeline import audit

    (tmp_path / "annotations").mkdir()
    frames = {"train": [(1, 7), (2, 7), (3, 8), (4, 8)], "val": [(5, 7), (6, 9), (7, 9)]}
    for split, items in frames.items():
        for image_id, _ in items:
            Image.new("RGB", (64, 48)).save(tmp_path / f"{image_id}.jpg")
        doc = {
            "images": [
                {"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48, "video_id": v} for i, v in items
            ],
            "annotations": [
                {"id": i, "image_id": i, "category_id": 1, "bbox": [4, 4, 10, 8], "area": 80}
                for i, _ in items
            ],
            "categories": [{"id": 1, "name": "car"}],
        }
        (tmp_path / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
    leak = audit(tmp_path).analyzers["splits"].stats.leakage
    assert leak.method == "video_id" and leak.groups == 3
    assert leak.shared_groups["train/val"] == 1
    assert leak.val_frames_in_shared_groups == 1 / 3  # frame 5 of the 3 val frames
