"""Cold vs cached re-run of ``sodaudit run`` on the 20,000-image YOLO set (issue 19, item 4).

    .venv/bin/python benchmarks/cache.py [--data /tmp/sodaudit-bench] [--reps 3]

Per repetition, each in its own process, in this order:
1. ``--no-cache``: every label file parsed and every image header read (the peer: today's run);
2. cold cache: an empty cache folder (``XDG_CACHE_HOME``), so the run reads everything and
   writes the cache;
3. one label file edited (a row appended), then a cached re-run: that file is parsed again, the
   rest come from the cache.
The operating system's page cache is warm for all three (the dataset was just read), so the
ratio is what the cache saves in parsing and header reads, not in disk I/O. Prints medians and
the ratio re-run / no-cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import YOLO_IMAGES, ensure

ROOT = Path(__file__).resolve().parent.parent
SODAUDIT = ROOT / ".venv" / "bin" / "sodaudit"


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([str(SODAUDIT), "run", *args], env=env, check=False, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/sodaudit-bench"))
    parser.add_argument("--reps", type=int, default=3)
    opts = parser.parse_args(argv)
    data = ensure("yolo", opts.data / f"yolo_{YOLO_IMAGES}", YOLO_IMAGES)
    label = sorted((data / "labels").rglob("*.txt"))[0]
    original = label.read_bytes()
    times: dict[str, list[float]] = {"no cache": [], "cold cache": [], "re-run, 1 file edited": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        try:
            for _ in range(opts.reps):
                cache = Path(tmp) / "xdg"
                shutil.rmtree(cache, ignore_errors=True)
                env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
                times["no cache"].append(timed([str(data), "--out", str(out), "--no-cache"], env))
                times["cold cache"].append(timed([str(data), "--out", str(out)], env))
                label.write_bytes(label.read_bytes() + b"0 0.5 0.5 0.01 0.01\n")
                times["re-run, 1 file edited"].append(timed([str(data), "--out", str(out)], env))
                label.write_bytes(original)
        finally:
            label.write_bytes(original)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"YOLO {YOLO_IMAGES:,} images, {opts.reps} repetitions (median s, min-max)")
    for name, values in times.items():
        print(f"  {name:24s} {medians[name]:6.2f}  ({min(values):.2f}-{max(values):.2f})")
    print(f"  re-run / no-cache: {medians['re-run, 1 file edited'] / medians['no cache']:.2f}x")


if __name__ == "__main__":
    main()
