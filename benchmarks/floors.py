"""The peers sodaudit is measured against, and a breakdown of one sodaudit run, as processes.

``python benchmarks/floors.py KIND PATH [OUT]``, KIND one of:

- ``orjson``: ``orjson.loads`` of every instances file with the garbage collector disabled (the
  peer of the issue's memory target: the parse alone, as fast as Python gets).
- ``pycocotools``: ``pycocotools.coco.COCO(path)`` for every instances file (its index
  included; the peer of the issue's time target).
- ``phases``: one ``sodaudit`` run split into its phases (load, each analyzer, recommendations,
  each output), printing the seconds, the peak RSS and the RSS at the end of each as JSON lines.
  The peak is per phase: the kernel's high-water mark is reset between phases
  (``/proc/self/clear_refs``).
  Informational: the targets are measured on the plain ``sodaudit run`` command.

The runner starts each as its own process so startup, imports and peak memory count for every
contender the same way. Nothing here changes how sodaudit runs (no GC or exit settings): the
garbage collector is off only in the ``orjson`` peer, which is how the issue defines it.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import sys
import time
from pathlib import Path


def coco_files(path: Path) -> list[Path]:
    """The instances files a COCO benchmark dataset holds (or the file itself)."""
    return sorted((path / "annotations").glob("instances_*.json")) if path.is_dir() else [path]


def orjson_peer(path: Path) -> None:
    import orjson

    gc.disable()
    for f in coco_files(path):
        with open(f, "rb") as fh:
            orjson.loads(fh.read())


def pycocotools_peer(path: Path) -> None:
    from pycocotools.coco import COCO

    for f in coco_files(path):
        with contextlib.redirect_stdout(io.StringIO()):
            COCO(str(f))


def _status_mb(field: str) -> float:
    """A memory field of this process's ``/proc/self/status`` in MB (10^6 bytes): ``VmHWM``,
    the peak RSS since the last reset, or ``VmRSS``, the RSS now."""
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))
    return kb * 1024 / 1e6


def _reset_peak() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def phases(path: Path, out: Path) -> None:
    """``sodaudit run`` step by step, as ``sodaudit.cli`` does it, one JSON line per phase."""
    start = time.perf_counter()
    from sodaudit.analyzers import ANALYZERS
    from sodaudit.config import Config
    from sodaudit.loaders import load
    from sodaudit.pipeline import assemble
    from sodaudit.render.html import write_html
    from sodaudit.render.json import write_json
    from sodaudit.render.tables import write_tables

    config = Config()
    clock = [start]

    def done(phase: str, **extra: object) -> None:
        now = time.perf_counter()
        row = {"phase": phase, "seconds": round(now - clock[0], 3), "peak_mb": round(_status_mb("VmHWM"))}
        row["end_mb"] = round(_status_mb("VmRSS"))  # what the phase leaves held
        print(json.dumps(row | extra), flush=True)
        clock[0] = time.perf_counter()
        _reset_peak()

    done("imports")
    dataset = load(path, imgsz=config.imgsz, limits=config.limits, workers=config.workers)
    done("load", boxes=len(dataset.boxes), images=len(dataset.images))
    results = {}
    for name, analyze in ANALYZERS.items():
        results[name] = analyze(dataset, config)
        done(f"analyzer {name}")
    report = assemble(dataset, config, results)
    done("recommendations")
    out.mkdir(parents=True, exist_ok=True)
    write_json(report, out / "report.json")
    done("report.json")
    write_tables(report, out)
    done("tables")
    write_html(report, out / "report.html")
    done("report.html")


def main(argv: list[str]) -> None:
    kind, path = argv[0], Path(argv[1])
    if kind == "phases":
        phases(path, Path(argv[2]))
        return
    {"orjson": orjson_peer, "pycocotools": pycocotools_peer}[kind](path)


if __name__ == "__main__":
    main(sys.argv[1:])
