"""The terminal summary fits the terminal's width (cut with "…", full with --verbose), and its
counts read as English: "1 warning", not "1 warnings"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest
from builders import tiny_dataset

from sodaudit.pipeline import audit
from sodaudit.render.terminal import fit, fit_path, summary


def run_with_columns(columns: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SODAUDIT_DEBUG", "GITHUB_ACTIONS")}
    env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "sodaudit", "run", *args], capture_output=True, text=True, env=env
    )


def columns_of(text: str) -> int:
    """Terminal columns, counted here independently of sodaudit: wide CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


@pytest.fixture(scope="module")
def sample_run(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The sample audited once in full (--verbose) with its report.json, to compare the cut runs with."""
    out = tmp_path_factory.mktemp("full") / "o"
    proc = run_with_columns(60, str(sample_data / "yolo"), "--out", str(out), "--verbose")
    assert proc.returncode == 0, proc.stderr
    return {"lines": proc.stdout.splitlines(), "report": json.loads((out / "report.json").read_text())}


@pytest.mark.parametrize("columns", [100, 80])
def test_no_line_is_wider_than_columns(sample_data: Path, tmp_path: Path, sample_run, columns: int):
    proc = run_with_columns(columns, str(sample_data / "yolo"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    full = sample_run["lines"]
    # The verdict and the gate's words are wrapped, not cut: their words are all there.
    verdict = " ".join(full[full.index(next(x for x in full if "boxes have a short side" in x))].split())
    start = next(i for i, x in enumerate(lines) if "boxes have a short side" in x)
    end = next(i for i, x in enumerate(lines) if x.startswith("  findings:"))
    assert " ".join(" ".join(lines[start:end]).split()) == verdict
    cut_lines = lines[:start] + lines[end:]
    gate = next(i for i, x in enumerate(cut_lines) if x.startswith("  gate ("))
    gate_full = next(i for i, x in enumerate(full) if x.startswith("  gate ("))
    words_end = next(i for i, x in enumerate(cut_lines) if x.startswith("  wrote "))
    assert " ".join(" ".join(cut_lines[gate + 1 : words_end]).split()) == " ".join(
        full[gate_full + 1].split()
    )
    cut_lines = cut_lines[: gate + 1] + cut_lines[words_end:]
    full = [x for i, x in enumerate(full) if "boxes have a short side" not in x and i != gate_full + 1]
    assert len(cut_lines) == len(full)
    cut = 0
    for short, long in zip(cut_lines, full, strict=True):
        if long.startswith("  wrote "):
            continue  # another --out folder; paths are checked in test_a_long_path_keeps_its_file_name
        if short != long:  # a cut line is the start of the full line, then "…", using every column
            cut += 1
            assert short.endswith("…") and long.startswith(short[:-1]) and len(short) == columns
        else:
            assert len(long) <= columns
    assert cut >= 5  # the sample's findings are longer than 100 characters


def test_verbose_prints_every_finding_in_full(sample_run):
    lines = sample_run["lines"]
    findings = sample_run["report"]["findings"][:8]
    for finding in findings:
        assert f"    [{finding['severity']}] {finding['message']}" in lines
    assert not any(line.endswith("…") for line in lines)
    assert max(len(line) for line in lines) > 160  # the old fixed cut is gone too


def test_a_narrow_terminal_still_gets_60_columns(sample_data: Path, tmp_path: Path):
    proc = run_with_columns(20, str(sample_data / "yolo"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) == 60


def test_wide_characters_count_two_columns():
    line = "    [warning] class '" + "行人" * 40 + "' is small"
    cut = fit(line, 61)
    assert cut.endswith("…") and line.startswith(cut[:-1])
    # 21 ASCII columns + 19 wide characters + "…" = 60: a 20th wide one would make 62
    assert columns_of(cut) == 21 + 2 * 19 + 1 == 60


def test_a_long_path_keeps_its_file_name():
    path = "/data/" + "very-long-folder-name/" * 6 + "report.html"
    line = fit_path("  wrote ", path, 60)
    assert len(line) == 60
    assert line.startswith("  wrote /data/very-long") and line.endswith("/report.html")
    assert fit_path("  wrote ", "/tmp/o/report.html", 60) == "  wrote /tmp/o/report.html"


def test_counts_of_one_are_singular(sample_data: Path):
    full = audit(sample_data / "yolo")
    warning = next(f for f in full.findings if f.severity.value == "warning")
    note = next(f for f in full.findings if f.severity.value == "info")
    one = tiny_dataset([(0, 0, 10.0, 10.0, 20.0, 20.0)], classes={0: "car"})
    report = replace(full, dataset=one, findings=(warning, note), recommendations=())
    text = summary(report, [])
    assert "  1 image, 1 box (1 valid, 0 ignored), 1 class, splits: train" in text
    assert "  findings: 0 errors, 1 warning, 1 note" in text


def test_sample_counts_are_plural(sample_run):
    report = sample_run["report"]
    severities = [f["severity"] for f in report["findings"]]
    expected = (
        f"  findings: {severities.count('error')} errors, {severities.count('warning')} warnings, "
        f"{severities.count('info')} notes"
    )
    assert severities.count("warning") > 1 and severities.count("info") > 1
    assert expected in sample_run["lines"]
    card = report["dataset"]
    assert sample_run["lines"][1].startswith(
        f"  {card['num_images']:,} images, {card['num_boxes']:,} boxes ({card['num_valid_boxes']:,} valid"
    )


def test_repr_of_a_report_is_a_short_summary(sample_data: Path):
    """repr(report) in a notebook or a debugger: one line, not the 98,000-character dump."""
    scene = json.loads((sample_data / "scene.json").read_text())
    num_boxes = sum(len(image["boxes"]) for image in scene["images"])
    report = audit(sample_data / "yolo", fail_on="warning")
    text = repr(report)
    assert "\n" not in text and len(text) < 500
    assert f"{len(scene['images'])} images, {num_boxes:,} boxes, {len(scene['classes'])} classes" in text
    severities = [f["severity"] for f in report.to_dict()["findings"]]
    counts = [severities.count(s) for s in ("error", "warning", "info")]
    assert f"findings: error={counts[0]} warning={counts[1]} info={counts[2]}" in text
    # The sample's defects are warnings (a zero-size box among them): failing on warnings fails.
    assert "gate FAILED (fail on warning: " in text
    # 1920 px images at imgsz 640, 4x compute cap: imgsz 1280 (2x the side, 4x the pixels).
    assert "plan: resolution (imgsz 1280) at 4.00x compute" in text
    assert f"{report.plan['reach_share']:.1%} of boxes reach 8 px" in text


def test_repr_stays_short_with_a_long_path_and_many_failed_codes(sample_data: Path):
    full = audit(sample_data / "yolo", fail_on="warning")
    long_root = Path("/" + "a-very-long-folder-name/" * 30 + "dataset")
    report = replace(full, dataset=replace(full.dataset, root=long_root), plan=None)
    text = repr(report)
    assert len(text) < 500
    assert "/a-very-long" in text and "dataset'" in text and "…" in text
    failed = len(full.gate.failed_codes)
    assert failed > 3 and f"and {failed - 3} more" in text
    assert text.endswith("plan: none (too few boxes to judge)>")
