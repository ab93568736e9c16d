"""Cold vs cached re-runs of ``sodaudit run`` on a YOLO set (issue 19, item 4).

    .venv/bin/python benchmarks/cache.py [--data /tmp/sodaudit-bench] [--images 9000] [--reps 3]

Per repetition, each in its own process, in this order:
1. ``--no-cache`` with the page cache dropped first (``/proc/sys/vm/drop_caches``, when this
   process may write it): the cold run of a fresh machine, every file read from the disk;
2. ``--no-cache`` with the page cache warm (the dataset was just read): parsing and header reads
   only, no disk wait;
3. cold sodaudit cache: an empty cache folder (``XDG_CACHE_HOME``), so the run reads everything
   and writes the cache;
4. one label file edited (a row appended), then a cached re-run: that file is parsed again, the
   rest come from the cache;
5. the same edit with the page cache dropped before the re-run: the fresh CI machine that
   restored its sodaudit cache, against run 1;
6. every file's mtime changed (what a CI checkout does) and every file read once (a checkout
   has just written them, so they are in the page cache, as in run 2), then a cached re-run:
   label files are found by their content digest, image headers are read again.
Prints medians and the re-run's ratio to both no-cache runs.
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
    parser.add_argument("--images", type=int, default=YOLO_IMAGES)
    parser.add_argument("--reps", type=int, default=3)
    opts = parser.parse_args(argv)
    data = ensure("yolo", opts.data / f"yolo_{opts.images}", opts.images)
    label = sorted((data / "labels").rglob("*.txt"))[0]
    original = label.read_bytes()
    names = (
        "no cache, cold disk",
        "no cache",
        "cold sodaudit cache",
        "re-run, 1 file edited",
        "re-run, 1 edited, cold disk",
        "re-run, checkout",
    )
    times: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        try:
            for _ in range(opts.reps):
                cache = Path(tmp) / "xdg"
                shutil.rmtree(cache, ignore_errors=True)
                env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
                args = [str(data), "--out", str(out)]
                if drop_page_cache():
                    times["no cache, cold disk"].append(timed([*args, "--no-cache"], env))
                times["no cache"].append(timed([*args, "--no-cache"], env))
                times["cold sodaudit cache"].append(timed(args, env))
                label.write_bytes(label.read_bytes() + b"0 0.5 0.5 0.01 0.01\n")
                times["re-run, 1 file edited"].append(timed(args, env))
                label.write_bytes(original)
                timed(args, env)  # the cache back in step with the dataset
                if drop_page_cache():
                    label.write_bytes(original + b"0 0.5 0.5 0.01 0.01\n")
                    drop_page_cache()
                    times["re-run, 1 edited, cold disk"].append(timed(args, env))
                    label.write_bytes(original)
                    timed(args, env)
                now = time.time_ns()
                for path in data.rglob("*"):
                    os.utime(path, ns=(now, now))
                    if path.is_file():  # a checkout has just written every file: in the page cache
                        path.read_bytes()
                times["re-run, checkout"].append(timed(args, env))
        finally:
            label.write_bytes(original)
    medians = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"YOLO {opts.images:,} images, {opts.reps} repetitions (median s, min-max)")
    for name, values in times.items():
        if values:
            print(f"  {name:24s} {medians[name]:6.2f}  ({min(values):.2f}-{max(values):.2f})")
    pairs = [
        ("re-run, 1 file edited", "no cache"),
        ("re-run, checkout", "no cache"),
        ("re-run, 1 edited, cold disk", "no cache, cold disk"),
    ]
    for rerun, base in pairs:
        if rerun in medians and base in medians:
            print(f"  {rerun} / {base}: {medians[rerun] / medians[base]:.2f}x")


def drop_page_cache() -> bool:
    """Empty the kernel's page cache (root only): the next run reads the dataset from disk."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        return False
    return True


if __name__ == "__main__":
    main()
