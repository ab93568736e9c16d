"""Issue 16's "done when", run as it is stated: the heaviest hostile inputs, each audited by the
``sodaudit`` command in a child process with a 4 GB address-space cap and a 120 s limit.

Per case: no traceback or internal error, no hang (the limit), no OOM (the cap turns one into a
``MemoryError`` and a traceback, which fails the case); exit 0/1 with the defect as a finding that
names its file, or exit 2 with one sentence; never exit 0 having read no box; the dataset
byte-identical afterwards. The in-process tests beside this one (test_hostile_*.py) check the
exact findings; this file checks the bounds hold in a real process.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

resource = pytest.importorskip("resource")  # POSIX only

MEMORY_CAP = 4 << 30
TIME_LIMIT_S = 120
GOOD_ROW = b"0 0.5 0.5 0.2 0.2\n"


def _png(path: Path, size: tuple[int, int] = (100, 50)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)


def _yolo(
    root: Path, rows: bytes = GOOD_ROW, yaml_text: str = "names: [car, bus, truck]\n", size=(100, 50)
) -> Path:
    _png(root / "images" / "a.png", size)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "a.txt").write_bytes(rows)
    (root / "data.yaml").write_text(yaml_text)
    return root


def repeated_rows(root: Path) -> Path:
    """26 distinct rows repeated 40,000 times: 1.04M boxes in one 24 MB file, every one a
    duplicate of 40,000 others (the pair table was quadratic: > 6 GB for 1,600 repeats)."""
    rows = b"".join(f"{i % 3} {0.1 + 0.03 * i:.4f} 0.5 0.02 0.03\n".encode() for i in range(26))
    return _yolo(root, rows * 40_000, size=(1920, 1080))


def large_image(root: Path) -> Path:
    """One 4000x3000 image: at ``--imgsz 32`` it is 15,000 tiles of 32 px (one shape per tile
    once took > 10 minutes and 8 GB to draw)."""
    return _yolo(root, size=(4000, 3000))


def yaml_alias_bomb(root: Path) -> Path:
    lines = [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    return _yolo(root, yaml_text="\n".join(lines) + "\nnames: [*l9, *l9]\n")


def _coco(root: Path, files: dict[str, str]) -> Path:
    _png(root / "images" / "a.png", (64, 48))
    (root / "annotations").mkdir(parents=True)
    for split, text in files.items():
        (root / "annotations" / f"instances_{split}.json").write_text(text)
    return root


def _coco_doc(image_id: str = "1") -> str:
    return (
        f'{{"images": [{{"id": {image_id}, "file_name": "a.png", "width": 64, "height": 48}}], '
        f'"annotations": [{{"id": 1, "image_id": {image_id}, "category_id": 1, "bbox": [4, 4, 10, 8], '
        '"area": 80, "iscrowd": 0}], "categories": [{"id": 1, "name": "car"}]}'
    )


def coco_nested_beside_good(root: Path) -> Path:
    return _coco(root, {"train": _coco_doc(), "val": "[" * 100_000 + "]" * 100_000})


def coco_huge_integer_alone(root: Path) -> Path:
    return _coco(root, {"train": _coco_doc("1" * 5_000)})


def voc_entity_bomb(root: Path) -> Path:
    _png(root / "JPEGImages" / "a.png", (64, 48))
    (root / "Annotations").mkdir(parents=True)
    entities = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    (root / "Annotations" / "a.xml").write_text(
        f'<?xml version="1.0"?><!DOCTYPE x [{entities}]><annotation><filename>&a9;</filename></annotation>'
    )
    return root


def fifo_label(root: Path) -> Path:
    _yolo(root)
    _png(root / "images" / "b.png")
    os.mkfifo(root / "labels" / "b.txt")
    return root


def non_utf8_file_name(root: Path) -> Path:
    _yolo(root)
    name = os.fsencode(root / "images") + b"/caf\xe9.png"
    Image.new("RGB", (100, 50)).save(os.fsdecode(name), format="PNG")
    (root / "labels").joinpath(os.fsdecode(b"caf\xe9.txt")).write_bytes(GOOD_ROW)
    return root


def many_identical_images(root: Path) -> Path:
    """600 byte-identical images across two splits (one message once listed every one)."""
    data = root / "images" / "train" / "0.png"
    _png(data)
    blob = data.read_bytes()
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for k in range(300):
            (root / "images" / split / f"{k}.png").write_bytes(blob)
            (root / "labels" / split / f"{k}.txt").write_bytes(GOOD_ROW)
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [car]\n")
    return root


# name: (generator, extra CLI arguments, exit codes allowed, finding code or exit-2 text)
CASES: dict[str, tuple[Callable[[Path], Path], list[str], set[int], str]] = {
    "1M repeated YOLO rows": (repeated_rows, [], {1}, "integrity.pair_limit"),
    "YAML alias bomb": (yaml_alias_bomb, [], {0, 1}, "load.bad_yaml"),
    "COCO 100k nested arrays beside a good file": (
        coco_nested_beside_good,
        [],
        {0, 1},
        "load.unreadable_file",
    ),
    "COCO 5,000-digit id alone": (
        coco_huge_integer_alone,
        [],
        {2},
        "images[0]: image id <an integer of 5,000 digits>",
    ),
    "VOC entity bomb": (voc_entity_bomb, [], {2}, "XML"),
    "FIFO as a label file": (fifo_label, [], {0, 1}, "load.unreadable_file"),
    "file name that is not UTF-8": (non_utf8_file_name, [], {0, 1}, ""),
    "600 identical images": (many_identical_images, [], {0, 1}, "integrity.cross_split_duplicate_image"),
    "imgsz 32 on a 4000 px image": (large_image, ["--imgsz", "32"], {0, 1}, ""),
    "imgsz 1": (yaml_alias_bomb, ["--imgsz", "1"], {2}, "--imgsz"),
}


def _digest(root: Path) -> dict[bytes, bytes]:
    """Bytes of every regular file (names as bytes: one is not UTF-8); FIFOs are never read."""
    out = {}
    for folder, _, files in os.walk(os.fsencode(root)):
        for name in files:
            path = os.path.join(folder, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                with open(path, "rb") as fh:
                    out[path] = fh.read()
    return out


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_case_under_4gb_and_120s(name: str, tmp_path: Path) -> None:
    make, extra, codes, expected = CASES[name]
    root = make(tmp_path / "data")
    before = _digest(root)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "sodaudit", "run", str(root), "--out", str(out), *extra]
    env = {**os.environ, "PYTHONFAULTHANDLER": ""}
    done = subprocess.run(
        argv, capture_output=True, timeout=TIME_LIMIT_S, preexec_fn=_capped, env=env, check=False
    )
    err = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "internal error" not in err, err[-3000:]
    assert done.returncode in codes, (done.returncode, err[-3000:])
    assert _digest(root) == before  # nothing written into the dataset
    if done.returncode == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], err
        return
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["num_boxes"] > 0  # never exit 0 having read nothing
    found = {f["code"]: f for f in report["findings"]}
    assert not expected or expected in found, sorted(found)
    assert all(len(f["message"]) <= 2000 for f in report["findings"])
