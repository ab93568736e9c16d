"""Peak memory and time of the pair searches on two pathological inputs (issue 13, item 5).

    .venv/bin/python benchmarks/pairs.py [--data /tmp/sodaudit-pairs] [--rows 41600] [--boxes 50000]

1. ``run``: a YOLO dataset of one image whose label file repeats ``0 0.5 0.5 0.1 0.1``
   ``--rows`` times (41,600 rows: ~0.75 MB; every pair of boxes is a duplicate).
   Target: < 1 GB peak RSS and < 30 s.
2. ``diff``: two COCO versions of one 8000 x 8000 image with ``--boxes`` boxes each, NEW = OLD
   with every box moved by up to 2 px (so no box is unchanged and every one goes to the
   assignment). Target: < 2 GB peak RSS.

Each command runs in its own process under ``/usr/bin/time -v`` (peak RSS of the largest
process, forked workers included).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SODAUDIT = ROOT / ".venv" / "bin" / "sodaudit"


def make_yolo(folder: Path, rows: int) -> Path:
    """One 640 x 640 image whose label file holds ``rows`` identical rows."""
    for sub in ("images", "labels"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (640, 640)).save(folder / "images" / "a.png")
    (folder / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n" * rows)
    (folder / "classes.txt").write_text("thing\n")
    return folder


def make_coco_pair(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """OLD: ``n`` random boxes in one 8000 x 8000 image; NEW: each box moved by up to 2 px."""
    rng = np.random.default_rng(seed)
    side = 8000.0
    wh = rng.uniform(6, 40, (n, 2))
    xy = rng.uniform(0, side - 40, (n, 2))
    old = np.hstack([xy, wh])
    new = old + np.hstack([rng.uniform(-2, 2, (n, 2)), np.zeros((n, 2))])
    paths = []
    for name, boxes in (("old", old), ("new", new)):
        doc = {
            "images": [{"id": 1, "file_name": "a.jpg", "width": side, "height": side}],
            "categories": [{"id": 1, "name": "thing"}],
            "annotations": [
                {"id": k + 1, "image_id": 1, "category_id": 1, "bbox": [round(v, 3) for v in b]}
                for k, b in enumerate(boxes.tolist())
            ],
        }
        path = folder / name / "annotations" / "instances_train.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        paths.append(path.parent.parent)
    return paths[0], paths[1]


def measure(args: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, exit code) of one command."""
    start = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
    if run.returncode not in (0, 1):
        print(run.stderr[-2000:], file=sys.stderr)
    return (int(peak.group(1)) / 1024 if peak else float("nan")), seconds, run.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/sodaudit-pairs"))
    parser.add_argument("--rows", type=int, default=41_600)
    parser.add_argument("--boxes", type=int, default=50_000)
    parser.add_argument("--cases", default="run,diff")
    opts = parser.parse_args()
    out = opts.data / "out"
    if "run" in opts.cases:
        yolo = make_yolo(opts.data / f"yolo_{opts.rows}", opts.rows)
        mb, s, code = measure([str(SODAUDIT), "run", str(yolo), "--out", str(out / "run")])
        report = json.loads((out / "run" / "report.json").read_text()) if code in (0, 1) else {}
        codes = sorted(f["code"] for f in report.get("findings", []) if f["code"].endswith(".pair_limit"))
        print(f"run  {opts.rows} repeated rows: peak {mb:.0f} MB, {s:.1f} s, exit {code}, {codes}")
    if "diff" in opts.cases:
        old, new = make_coco_pair(opts.data / f"coco_{opts.boxes}", opts.boxes)
        mb, s, code = measure([str(SODAUDIT), "diff", str(old), str(new), "--out", str(out / "diff")])
        matched = "?"
        if code in (0, 1):
            matched = json.loads((out / "diff" / "diff.json").read_text())["stats"]["boxes"]["matched"]
        print(f"diff {opts.boxes} moved boxes: peak {mb:.0f} MB, {s:.1f} s, exit {code}, matched {matched}")


if __name__ == "__main__":
    main()
