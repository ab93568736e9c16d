"""Benchmark runner: ``sodaudit run`` on COCO train2017-scale data against its peers, as processes.

The issue's targets, each measured on the plain command ``sodaudit run PATH --out DIR`` (one
process, default settings)::

    COCO with polygons, 118,287 images, ~860k boxes (~363 MB of JSON):
      time   >= 2.5x faster than pycocotools.coco.COCO(path) alone, on the same files
      memory peak RSS <= 0.3x that of the orjson parse of the same files (GC off)
    10x that, bbox-only (1.18M images, ~8.6M boxes, ~1.2 GB of JSON):
      memory peak RSS <= 2.5 GB
      time   <= 10x the run on the bbox-only 860k boxes (the same data at 1/10 size)

One command reproduces the tables (data is generated under ``--data`` first, once; ~1.6 GB)::

    python benchmarks/run.py --data /tmp/sodaudit-bench --reps 3 --phases

Every measurement is one process started from scratch (imports, startup and peak memory count
for every contender alike). In each repetition every command of every case runs once, in a
rotated order, so a noisy neighbour on a 2-core machine hits all contenders alike; the tables
show medians over the repetitions (after one unmeasured warm-up round, so the page cache is
warm for everyone). Peak memory is the child's ``ru_maxrss`` from ``wait4``, in MB (10^6
bytes). Python code runs from compiled bytecode, as an installed package does: the warm-up
round writes it under ``--data``/.pycache (``PYTHONPYCACHEPREFIX``), never into the checkout.
``--phases`` adds, per case, one run split into its phases (``floors.py phases``) with the
seconds and peak RSS of each: where the time and the memory go.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402

FLOORS = str(HERE / "floors.py")
CASES = {
    "coco_poly": ("coco_poly", 1.0, ("run", "pycocotools", "orjson")),
    "coco_bbox": ("coco_bbox", 1.0, ("run",)),
    "coco_bbox_10x": ("coco_bbox", 10.0, ("run",)),
}
"""Case name -> (dataset kind, size relative to ``--scale``, commands)."""
SPEEDUP_VS_PYCOCOTOOLS = 2.5
MEMORY_VS_ORJSON = 0.3
PEAK_MB_AT_10X = 2500.0
TIME_GROWTH_AT_10X = 10.0
NOTES_HEADING = "## Notes"


@dataclass
class Case:
    name: str
    kind: str
    scale: float
    path: Path
    commands: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    peak_mb: dict[str, list[float]] = field(default_factory=dict)
    phases: list[dict[str, object]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.kind}@{self.scale:g}"

    def median(self, cmd: str) -> float:
        return statistics.median(self.seconds[cmd])

    def memory(self, cmd: str) -> float:
        return statistics.median(self.peak_mb[cmd])


def run_one(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one process, reaped with ``wait4`` for its own
    ``ru_maxrss``; a failing command stops the benchmark."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read().decode(errors="replace"), err_file.read().decode(errors="replace")
    if proc.returncode not in (0, 1):  # sodaudit exits 1 when its gate fails: a finished audit
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return seconds, usage.ru_maxrss * 1024 / 1e6, out


def build_cases(args: argparse.Namespace, out_root: Path) -> list[Case]:
    py = sys.executable
    cases = []
    for name in args.cases:
        kind, factor, commands = CASES[name]
        scale = args.scale * factor
        n = generate.dataset_sizes(scale)[kind]
        path = generate.ensure(kind, args.data / f"{kind}_{n}", n)
        case = Case(name, kind, scale, path)
        for cmd in commands:
            if cmd == "run":
                out = out_root / name / "run"
                case.commands[cmd] = [py, "-m", "sodaudit", "run", str(path), "--out", str(out)]
            else:
                case.commands[cmd] = [py, FLOORS, cmd, str(path)]
        cases.append(case)
    return cases


def run_benchmark(cases: list[Case], args: argparse.Namespace, env: dict[str, str]) -> None:
    jobs = [(case, cmd) for case in cases for cmd in case.commands]
    rounds = ([False] if not args.no_warmup else []) + [True] * args.reps
    for i, measured in enumerate(rounds):
        shift = i % len(jobs)
        for case, cmd in jobs[shift:] + jobs[:shift]:
            seconds, mb, _ = run_one(case.commands[cmd], env)
            if measured:
                case.seconds.setdefault(cmd, []).append(seconds)
                case.peak_mb.setdefault(cmd, []).append(mb)
        label = f"repetition {sum(rounds[: i + 1])}/{args.reps}" if measured else "warm-up"
        print(f"  {label} done", file=sys.stderr, flush=True)


def run_phases(cases: list[Case], env: dict[str, str], out_root: Path) -> None:
    for case in cases:
        cmd = [sys.executable, FLOORS, "phases", str(case.path), str(out_root / case.name / "phases")]
        _, _, out = run_one(cmd, env)
        case.phases = [json.loads(line) for line in out.splitlines() if line.startswith("{")]


# --------------------------------------------------------------------------- report


def verdicts(cases: list[Case]) -> list[tuple[str, str, str, bool]]:
    """(target, requirement, measured, met) for every target the measured cases cover."""
    by = {c.name: c for c in cases}
    rows = []
    poly, bbox, big = by.get("coco_poly"), by.get("coco_bbox"), by.get("coco_bbox_10x")
    if poly and "pycocotools" in poly.commands:
        speed = poly.median("pycocotools") / poly.median("run")
        rows.append(
            (
                f"{poly.label}: speed-up over pycocotools COCO(path)",
                f">= {SPEEDUP_VS_PYCOCOTOOLS:g}x",
                f"{speed:.2f}x",
                speed >= SPEEDUP_VS_PYCOCOTOOLS,
            )
        )
    if poly and "orjson" in poly.commands:
        mem = poly.memory("run") / poly.memory("orjson")
        rows.append(
            (
                f"{poly.label}: peak RSS vs orjson parse (GC off)",
                f"<= {MEMORY_VS_ORJSON:g}x",
                f"{mem:.2f}x",
                mem <= MEMORY_VS_ORJSON,
            )
        )
    if big:
        peak = big.memory("run")
        limit = f"<= {PEAK_MB_AT_10X:.0f} MB"
        rows.append((f"{big.label}: peak RSS", limit, f"{peak:.0f} MB", peak <= PEAK_MB_AT_10X))
    if big and bbox:
        growth = big.median("run") / bbox.median("run")
        rows.append(
            (
                f"{big.label}: time vs {bbox.label}",
                f"<= {TIME_GROWTH_AT_10X:g}x",
                f"{growth:.2f}x",
                growth <= TIME_GROWTH_AT_10X,
            )
        )
    return rows


def table(cases: list[Case]) -> str:
    lines = [
        "| case | images | command | median s | min s | max s | peak MB |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for c in cases:
        n = generate.dataset_sizes(c.scale)[c.kind]
        for cmd in c.commands:
            t = c.seconds[cmd]
            lines.append(
                f"| {c.label} | {n} | {cmd} | {c.median(cmd):.2f} | {min(t):.2f} | {max(t):.2f} | "
                f"{c.memory(cmd):.0f} |"
            )
    return "\n".join(lines)


def phase_table(cases: list[Case]) -> str:
    """Per case, the seconds and the peak RSS of each phase of one run."""
    parts = []
    for c in cases:
        if not c.phases:
            continue
        load = next((p for p in c.phases if p["phase"] == "load"), {})
        head = f"{c.label} ({load.get('boxes', '?')} boxes, {load.get('images', '?')} images)"
        lines = [f"| {head} | s | peak MB |", "|---|---:|---:|"]
        lines += [f"| {p['phase']} | {p['seconds']:.2f} | {p['peak_mb']} |" for p in c.phases]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(next(ln.split()[1] for ln in fh if ln.startswith("MemTotal")))
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    versions = []
    for mod in ("numpy", "pandas", "msgspec", "orjson", "pycocotools"):
        try:
            versions.append(f"{mod} {__import__('importlib.metadata').metadata.version(mod)}")
        except Exception:  # not installed: say so rather than fail
            versions.append(f"{mod} (not installed)")
    return (
        f"{cpu}, {os.cpu_count()} logical cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )


def report(cases: list[Case], args: argparse.Namespace, command: str) -> str:
    verdict = "\n".join(
        f"| {name} | {req} | {got} | {'met' if ok else 'NOT met'} |" for name, req, got, ok in verdicts(cases)
    )
    parts = [
        "## Targets\n\n| target | required | measured | |\n|---|---|---|---|\n" + verdict,
        "## All measurements (medians over repetitions)\n\n" + table(cases),
    ]
    if phase_table(cases):
        parts.append(
            "## Where the time and the memory of one run go (`floors.py phases`, one run, "
            "peak RSS per phase)\n\n" + phase_table(cases)
        )
    head = (
        f"Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}  \n"
        f"Machine: {machine()}  \n"
        f"Repetitions: {args.reps} (interleaved"
        f"{', no warm-up round' if args.no_warmup else ', after one warm-up round'})  \n"
        f"Command: `{command}`"
    )
    return head + "\n\n" + "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sodaudit run vs its peers (see module docstring).")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "sodaudit-bench")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = COCO train2017 size")
    parser.add_argument("--cases", default=",".join(CASES), help=f"any of {', '.join(CASES)}")
    parser.add_argument("--phases", action="store_true", help="add a per-phase time/memory table")
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument("--write", type=Path, default=None, help="write the report to this file")
    args = parser.parse_args(argv)
    args.cases = args.cases.split(",")
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; use {', '.join(CASES)}")
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent), PYTHONPYCACHEPREFIX=str(args.data / ".pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # sodaudit's modules compiled once, not every run
    out_root = Path(tempfile.mkdtemp(prefix="sodaudit-bench-out-"))
    try:
        cases = build_cases(args, out_root)
        run_benchmark(cases, args, env)
        if args.phases:
            run_phases(cases, env, out_root)
    finally:
        shutil.rmtree(out_root, ignore_errors=True)
    text = report(cases, args, command)
    print(text)
    if args.write:
        intro = (
            "# Benchmark results\n\n`sodaudit run` against its peers, measured by "
            "`benchmarks/run.py` (see its docstring for the method and the targets).\n\n"
        )
        # Hand-written analysis below a "## Notes" heading survives a re-run.
        old = args.write.read_text() if args.write.is_file() else ""
        notes = old[old.index(NOTES_HEADING) :] if NOTES_HEADING in old else ""
        args.write.write_text(intro + text + ("\n" + notes if notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
