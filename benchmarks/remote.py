"""``sodaudit run s3://...`` against the same dataset on disk, on a real S3 API (moto's server on
127.0.0.1, started here): the report must be the same, and the run must read little of the bucket
(issue 19, item 4).

    .venv/bin/python benchmarks/remote.py [--data sample_data/yolo] [--reps 3]

``--data`` defaults to ``sample_data/yolo``; any dataset folder works (``benchmarks/generate.py
DIR --only yolo --scale 0.1`` makes a 2,000-image YOLO set). Per repetition, each in its own
process: the local run (an empty cache folder), the peer (s3fs alone listing the prefix and reading
what the audit reads: label files whole, images' first 64 KB, 32 requests in flight), the S3 run
with an empty cache folder, and the S3 re-run with that cache (nothing changed in the bucket:
the listing only). Prints the medians, the bytes the S3 run fetched against the bytes in the
bucket, and whether report.json is identical to the local
one once the dataset's path is replaced (and the creation time dropped).
Needs ``pip install -e ".[test]"`` (moto[server], s3fs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SODAUDIT = ROOT / ".venv" / "bin" / "sodaudit"
FETCHED = re.compile(r"objects listed, ([\d,.]+) MB fetched")


def run(target: str, out: Path, env: dict[str, str], *extra: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [str(SODAUDIT), "run", target, "--out", str(out), *extra], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"sodaudit run {target} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return elapsed, done.stdout


PEER = """
import sys, time, fsspec
start = time.perf_counter()
fs = fsspec.filesystem("s3")
files = fs.find(sys.argv[1], detail=True)
images = [k for k in files if k.lower().endswith((".jpg", ".jpeg", ".png"))]
others = [k for k in files if k not in set(images)]
fs.cat(others, batch_size=32)
fs.cat_ranges(images, [0] * len(images), [min(65536, files[k]["size"]) for k in images], batch_size=32)
print(time.perf_counter() - start)
"""
"""The peer: the same objects listed and the same bytes read with s3fs alone, no audit."""


def normalised(report: Path, root: str) -> dict:
    data = json.loads(report.read_text().replace(root.rstrip("/"), "<ROOT>"))
    data["tool"].pop("created", None)
    data["dataset"]["meta"].pop("origin", None)
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "sample_data" / "yolo")
    parser.add_argument("--reps", type=int, default=3)
    opts = parser.parse_args(argv)
    import fsspec
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    keys = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update({**keys, "AWS_ENDPOINT_URL": f"http://{host}:{port}"})
    fs = fsspec.filesystem("s3")
    fs.mkdir("bench")
    data = opts.data.resolve()
    files = sorted(p for p in data.rglob("*") if p.is_file())
    for path in files:
        fs.pipe_file(f"bench/ds/{path.relative_to(data).as_posix()}", path.read_bytes())
    bucket_mb = sum(p.stat().st_size for p in files) / (1 << 20)
    url = "s3://bench/ds"
    names = ("local, empty cache", "s3fs alone: list + read", "s3, empty cache", "s3, cached re-run")
    times: dict[str, list[float]] = {name: [] for name in names}
    fetched: list[str] = []
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for _ in range(opts.reps):
                cache = Path(tmp) / "xdg"
                shutil.rmtree(cache, ignore_errors=True)
                env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
                local_out, s3_out = Path(tmp) / "local", Path(tmp) / "s3"
                fresh = {**env, "XDG_CACHE_HOME": str(Path(tmp) / f"xdg-local-{len(fetched)}")}
                times["local, empty cache"].append(run(str(data), local_out, fresh)[0])
                peer = subprocess.run(
                    [str(ROOT / ".venv" / "bin" / "python"), "-c", PEER, "bench/ds"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times["s3fs alone: list + read"].append(float(peer.stdout.split()[-1]))
                elapsed, stdout = run(url, s3_out, env)
                times["s3, empty cache"].append(elapsed)
                fetched += FETCHED.findall(stdout)
                here = normalised(local_out / "report.json", str(data))
                same &= normalised(s3_out / "report.json", url) == here
                times["s3, cached re-run"].append(run(url, s3_out, env)[0])
        finally:
            server.stop()
    print(f"{data}: {len(files):,} files, {bucket_mb:,.1f} MB in the bucket; {opts.reps} repetitions")
    for name, values in times.items():
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"  {name:<24} median {statistics.median(values):6.2f} s  ({spread})")
    print(f"  MB fetched by the S3 run (empty cache): {', '.join(fetched)}")
    print(f"  report.json identical to the local run (paths aside): {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
