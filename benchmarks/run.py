"""Benchmark runner: sodaudit against the parse floor, whole processes, interleaved, medians.

One command reproduces ``benchmarks/RESULTS.md`` (data is generated under ``--data`` first,
once; about 1 GB at full scale)::

    /work/venv/bin/python benchmarks/run.py --data /tmp/sodaudit-bench --reps 5 --write

Every measurement is one process started from scratch (imports, startup and peak memory count
for every contender alike). In each repetition every command of every case runs once, in a
rotated order, so a noisy neighbour on a 2-core machine hits all contenders alike; the table
shows medians over the repetitions (after one unmeasured warm-up round, so the page cache is
warm for everyone). Peak memory is the child's ``ru_maxrss`` from ``wait4``. Python code runs
from compiled bytecode, as an installed package does (pip compiles it at install): the
warm-up round writes it under ``--data``/.pycache (``PYTHONPYCACHEPREFIX``), never into the
checkout.

Contenders per case: the ``floor`` (see ``benchmarks/floors.py``), ``sodaudit run`` (all
label-level analyzers, JSON and HTML, no pixel analyses), and two parts of it: ``load`` (the
loader only) and ``json`` (load + analyzers + report.json, no HTML). ``run - json`` is the cost
of the HTML report and its figures; ``json - load`` the analyzers.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
FLOOR_OF = {"coco_poly": "coco", "coco_bbox": "coco", "yolo": "yolo", "voc": "voc"}
TARGETS = {"coco_poly": 1.0, "coco_bbox": 1.3, "yolo": 2.5, "voc": 1.3}
"""Largest allowed time ratio ``sodaudit run / floor`` at full scale."""
POLY_MEMORY_TARGET = 0.5
PYCOCOTOOLS_SPEEDUP_TARGET = 3.0
SCALING_TARGET = 11.0
NO_PIXEL_ANALYSES = ["--set", "integrity.hash_max_images=0"]
"""The issue measures ``sodaudit run`` without pixel analyses. Content-hashing every image file
(the cross-split duplicate check, on by default up to 20k images) reads every image's bytes: a
pixel analysis that reports its own time in report.json, so the runner turns it off."""
NOTES_HEADING = "## Notes"


@dataclass
class Case:
    kind: str
    scale: float
    path: Path
    commands: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    peak_mb: dict[str, list[float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.scale:g}"

    def median(self, cmd: str) -> float:
        return statistics.median(self.seconds[cmd])

    def memory(self, cmd: str) -> float:
        return statistics.median(self.peak_mb[cmd])


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process; a failing command stops the benchmark."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    # sodaudit exits 1 when its gate fails: a finished audit, not a crash.
    if proc.returncode not in (0, 1):
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return seconds, usage.ru_maxrss / 1024.0


def build_cases(args: argparse.Namespace, out_root: Path) -> list[Case]:
    cases = []
    scales = [args.scale] + ([] if args.no_scaling else [args.scale / 10])
    py = sys.executable
    for scale in scales:
        for kind, n in generate.dataset_sizes(scale).items():
            if kind not in args.cases:
                continue
            path = generate.ensure(kind, args.data / f"{kind}_{n}", n)
            case = Case(kind, scale, path)
            out = out_root / case.name
            case.commands["floor"] = [py, FLOORS, FLOOR_OF[kind], str(path)]
            if kind == "coco_poly" and scale == args.scale and not args.no_pycocotools:
                case.commands["pycocotools"] = [py, FLOORS, "pycocotools", str(path)]
            case.commands["run"] = [
                *[py, "-m", "sodaudit", "run", str(path), "--out", str(out / "run")],
                *NO_PIXEL_ANALYSES,
            ]
            if not args.quick and scale == args.scale:
                case.commands["load"] = [py, FLOORS, "load", str(path)]
                case.commands["json"] = [py, FLOORS, "json", str(path), str(out / "json")]
            cases.append(case)
    return cases


def run_benchmark(cases: list[Case], reps: int, warmup: bool, pycache: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent), PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # sodaudit's modules compiled once, not every run
    jobs = [(case, cmd) for case in cases for cmd in case.commands]
    rounds = ([False] if warmup else []) + [True] * reps
    for i, measured in enumerate(rounds):
        shift = i % len(jobs)
        for case, cmd in jobs[shift:] + jobs[:shift]:
            seconds, mb = measure(case.commands[cmd], env)
            if measured:
                case.seconds.setdefault(cmd, []).append(seconds)
                case.peak_mb.setdefault(cmd, []).append(mb)
        label = "warm-up" if not measured else f"repetition {i + (0 if warmup else 1)}/{reps}"
        print(f"  {label} done", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- report


def verdicts(cases: list[Case], full: float) -> list[tuple[str, str, str, bool]]:
    """(target, requirement, measured, met) for every target the measured cases cover."""
    by = {(c.kind, c.scale): c for c in cases}
    rows = []
    for kind, limit in TARGETS.items():
        c = by.get((kind, full))
        if c is None:
            continue
        ratio = c.median("run") / c.median("floor")
        rows.append((f"{kind} time vs floor", f"<= {limit:g}x", f"{ratio:.2f}x", ratio <= limit))
        if kind == "coco_poly":
            mem = c.memory("run") / c.memory("floor")
            rows.append(("coco_poly peak memory vs floor", "<= 0.5x", f"{mem:.2f}x", mem <= 0.5))
            if "pycocotools" in c.commands:
                speed = c.median("pycocotools") / c.median("run")
                rows.append(("coco_poly speed-up vs pycocotools", ">= 3x", f"{speed:.2f}x", speed >= 3.0))
    for kind in TARGETS:
        big, small = by.get((kind, full)), by.get((kind, full / 10))
        if big and small:
            growth = big.median("run") / small.median("run")
            rows.append((f"{kind} 10x data: time growth", "<= 11x", f"{growth:.2f}x", growth <= 11))
    return rows


def table(cases: list[Case]) -> str:
    lines = [
        "| case | images | command | median s | min s | max s | peak MB | time / floor | MB / floor |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        n = generate.dataset_sizes(c.scale)[c.kind]
        for cmd in c.commands:
            t = c.seconds[cmd]
            lines.append(
                f"| {c.name} | {n} | {cmd} | {c.median(cmd):.2f} | {min(t):.2f} | {max(t):.2f} | "
                f"{c.memory(cmd):.0f} | {c.median(cmd) / c.median('floor'):.2f} | "
                f"{c.memory(cmd) / c.memory('floor'):.2f} |"
            )
    return "\n".join(lines)


def breakdown(cases: list[Case]) -> str:
    lines = [
        "| case | startup+load s | analyzers s (json - load) | HTML+figures s (run - json) |",
        "|---|---:|---:|---:|",
    ]
    for c in cases:
        if "load" in c.commands and "json" in c.commands:
            load, js, run = c.median("load"), c.median("json"), c.median("run")
            lines.append(f"| {c.name} | {load:.2f} | {js - load:.2f} | {run - js:.2f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


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
    for mod in ("numpy", "pandas", "msgspec", "orjson", "pycocotools", "imagesize"):
        try:
            versions.append(f"{mod} {__import__('importlib.metadata').metadata.version(mod)}")
        except Exception:  # not installed: say so rather than fail
            versions.append(f"{mod} (not installed)")
    return (
        f"{cpu}, {os.cpu_count()} logical cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )


def report(cases: list[Case], args: argparse.Namespace, command: str) -> str:
    rows = verdicts(cases, args.scale)
    verdict = "\n".join(
        f"| {name} | {req} | {got} | {'met' if ok else 'NOT met'} |" for name, req, got, ok in rows
    )
    parts = [
        "## Targets\n\n| target | required | measured | |\n|---|---|---|---|\n" + verdict,
        "## All measurements (medians over repetitions)\n\n" + table(cases),
    ]
    if breakdown(cases):
        parts.append("## Where the time of `sodaudit run` goes (medians)\n\n" + breakdown(cases))
    head = (
        f"Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}  \n"
        f"Machine: {machine()}  \n"
        f"Repetitions: {args.reps} (interleaved"
        f"{', no warm-up round' if args.no_warmup else ', after one warm-up round'})  \n"
        f"Command: `{command}`"
    )
    return head + "\n\n" + "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sodaudit vs the parse floor (see module docstring).")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "sodaudit-bench")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = COCO train2017 / 20k images")
    parser.add_argument("--cases", default=",".join(generate.KINDS))
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1/10-size datasets")
    parser.add_argument("--no-pycocotools", action="store_true")
    parser.add_argument("--quick", action="store_true", help="only floor and run (no load/json parts)")
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument("--write", type=Path, nargs="?", const=HERE / "RESULTS.md", default=None)
    args = parser.parse_args(argv)
    args.cases = args.cases.split(",")
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out_root = Path(tempfile.mkdtemp(prefix="sodaudit-bench-out-"))
    try:
        cases = build_cases(args, out_root)
        run_benchmark(cases, args.reps, warmup=not args.no_warmup, pycache=args.data / ".pycache")
    finally:
        shutil.rmtree(out_root, ignore_errors=True)
    text = report(cases, args, command)
    print(text)
    if args.write:
        intro = (
            "# Benchmark results\n\nsodaudit against the parse floor, measured by "
            "`benchmarks/run.py` (see its docstring for the method).\n\n"
        )
        # Hand-written analysis below a "## Notes" heading survives a re-run.
        old = args.write.read_text() if args.write.is_file() else ""
        notes = old[old.index(NOTES_HEADING) :] if NOTES_HEADING in old else ""
        args.write.write_text(intro + text + ("\n" + notes if notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
