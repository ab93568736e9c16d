"""The CI gate from the outside: every exit code by subprocess, config precedence as the CLI
applies it, rules that turn a warning into an error, JUnit and GitHub annotations, init."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


def sodaudit(
    *args: str, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")}
    return subprocess.run(
        [sys.executable, "-m", "sodaudit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
    )


@pytest.fixture()
def voc(sample_data: Path, tmp_path: Path) -> Path:
    data = tmp_path / "voc"
    shutil.copytree(sample_data / "voc", data)
    return data


def test_exit_0_when_the_gate_passes(voc: Path, tmp_path: Path):
    proc = sodaudit("run", str(voc), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "o" / "report.json").read_text())["gate"]["passed"] is True


def test_exit_1_when_a_rule_makes_a_warning_an_error(voc: Path, tmp_path: Path):
    # 977 of 1339 labels (73%) are < 3 px at 640: above a 2% threshold -> error
    rule = [
        "--set",
        "rules.subthreshold.below_min_model.severity=error",
        "--set",
        "rules.subthreshold.below_min_model.threshold=0.02",
    ]
    proc = sodaudit("run", str(voc), "--out", str(tmp_path / "o"), *rule)
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["gate"] == {
        "passed": False,
        "fail_on": "error",
        "failed_codes": ["subthreshold.below_min_model"],
    }
    # the same rule with a threshold above the measured share passes
    lenient = [
        "--set",
        "rules.subthreshold.below_min_model.severity=error",
        "--set",
        "rules.subthreshold.below_min_model.threshold=0.9",
    ]
    assert sodaudit("run", str(voc), "--out", str(tmp_path / "o2"), *lenient).returncode == 0


def test_exit_1_with_fail_on_warning_and_0_with_never(voc: Path, tmp_path: Path):
    assert sodaudit("run", str(voc), "--out", str(tmp_path / "a"), "--fail-on", "warning").returncode == 1
    assert sodaudit("run", str(voc), "--out", str(tmp_path / "b"), "--fail-on", "never").returncode == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "{data}", "--set", "imgsz=big"], "'imgsz' expects int"),
        (["run", "{data}", "--set", "colour=red"], "Unknown config key 'colour'"),
        (["run", "{data}", "--config", "{tmp}/missing.toml"], "does not exist"),
        (["run", "{data}", "--baseline", "{tmp}/missing.json"], "Cannot read the baseline"),
        (["run", "{tmp}/nowhere"], "No such file or folder"),
        (["run", "{data}", "--format", "coco"], "COCO"),
        (["run"], "Missing argument"),
        (["diff", "{data}", "{tmp}/nowhere"], "No such file or folder"),
    ],
)
def test_exit_2_with_one_sentence(voc: Path, tmp_path: Path, args: list[str], needle: str):
    argv = [a.format(data=voc, tmp=tmp_path) for a in args]
    if argv[0] == "run" and len(argv) > 1:
        argv += ["--out", str(tmp_path / "o")]
    proc = sodaudit(*argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr


def test_dataset_config_file_is_used_and_cli_options_override_it(voc: Path, tmp_path: Path):
    (voc / "sodaudit.toml").write_text("imgsz = 1280\nfail_on = 'warning'\n")
    proc = sodaudit("config", str(voc), cwd=tmp_path)
    assert "imgsz = 1280" in proc.stdout and 'fail_on = "warning"' in proc.stdout
    # the dataset's file says fail_on warning: the sample's warnings fail the gate
    assert sodaudit("run", str(voc), "--out", str(tmp_path / "a"), cwd=tmp_path).returncode == 1
    # an explicit option beats the file; --set beats everything
    assert (
        sodaudit("run", str(voc), "--out", str(tmp_path / "b"), "--fail-on", "error", cwd=tmp_path).returncode
        == 0
    )
    proc = sodaudit("config", str(voc), "--set", "imgsz=320", cwd=tmp_path)
    assert "imgsz = 320" in proc.stdout
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["config"]["imgsz"] == 1280 and report["config"]["fail_on"] == "error"


def test_junit_and_github_annotations(voc: Path, tmp_path: Path):
    junit = tmp_path / "junit.xml"
    proc = sodaudit(
        "run",
        str(voc),
        "--out",
        str(tmp_path / "o"),
        "--fail-on",
        "warning",
        "--junit",
        str(junit),
        env={"GITHUB_ACTIONS": "true"},
    )
    assert proc.returncode == 1
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    failed = {c.get("name") for c in ET.parse(junit).getroot() if c.find("failure") is not None}
    assert failed == set(report["gate"]["failed_codes"])
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    warnings = [f for f in report["findings"] if f["severity"] != "info"]
    assert len(annotations) == len(warnings) > 0


def test_init_writes_a_commented_file_that_loads(tmp_path: Path):
    proc = sodaudit("init", cwd=tmp_path)
    assert proc.returncode == 0
    text = (tmp_path / "sodaudit.toml").read_text()
    assert "# Model input size" in text
    assert sodaudit("init", cwd=tmp_path).returncode == 2  # refuses to overwrite
    assert (
        sodaudit("config", cwd=tmp_path).stdout.strip()
        == sodaudit("config", cwd=tmp_path / "..").stdout.strip()
    )
