"""The command line as a user meets it: exit codes, one-sentence errors, the written reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sodaudit.cli import main


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SODAUDIT_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "sodaudit", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def assert_one_sentence_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_path_exits_2_naming_it(tmp_path: Path):
    missing = tmp_path / "nope"
    assert_one_sentence_error(run_cli("run", str(missing), "--out", str(tmp_path / "o")), str(missing))


def test_folder_without_a_dataset_exits_2(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("hello")
    proc = run_cli("run", str(tmp_path / "data"), "--out", str(tmp_path / "o"))
    assert_one_sentence_error(proc, "No dataset found at")
    assert not (tmp_path / "o").exists()


def test_two_plausible_formats_exit_2_naming_both_and_the_flag(tmp_path: Path):
    data = tmp_path / "data"
    (data / "Annotations").mkdir(parents=True)
    (data / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size></annotation>"
    )
    (data / "images").mkdir()
    (data / "labels").mkdir()
    (data / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    proc = run_cli("run", str(data), "--out", str(tmp_path / "o"))
    assert_one_sentence_error(proc, "YOLO", "VOC", "--format")


def test_bad_option_exits_2(tmp_path: Path):
    proc = run_cli("run", str(tmp_path), "--imgsz", "0")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_help_via_python_dash_m_lists_defaults():
    proc = run_cli("run", "--help")
    assert proc.returncode == 0
    assert "--imgsz" in proc.stdout and "default: 640" in proc.stdout


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc"])
def test_run_on_sample_data_writes_both_reports(sample_data: Path, tmp_path: Path, fmt: str):
    scene = json.loads((sample_data / "scene.json").read_text())
    out = tmp_path / "report"
    proc = run_cli("run", str(sample_data / fmt), "--out", str(out))
    # The COCO export carries two defects that break COCO evaluation (an `area` field 8x its
    # box, which moves it to another COCOeval bucket; images above COCOeval's 100 detections):
    # errors, so the gate fails. YOLO and VOC have no area field and are not scored by COCOeval.
    many = sum(1 for i in scene["images"] if len(i["boxes"]) > 100)
    assert many == 3
    failing = ["integrity.area_mismatch", "sizes.over_eval_max_dets"] if fmt == "coco" else []
    assert proc.returncode == (1 if failing else 0), proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(out / "report.html") in proc.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["format"] == fmt
    assert report["dataset"]["num_images"] == len(scene["images"])
    assert report["dataset"]["num_boxes"] == sum(len(i["boxes"]) for i in scene["images"])
    assert report["gate"]["passed"] is (not failing)
    assert sorted(report["gate"]["failed_codes"]) == failing
    html = (out / "report.html").read_text()
    for name in {b["class_name"] for i in scene["images"] for b in i["boxes"]}:
        assert f"<td>{name}</td>" in html


def test_default_output_inside_the_dataset_is_refused(sample_data: Path, tmp_path: Path):
    data = tmp_path / "yolo"
    shutil.copytree(sample_data / "yolo", data)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    proc = run_cli("run", ".", cwd=data)
    assert_one_sentence_error(proc, "--out")
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before


def test_main_returns_exit_code_in_process(sample_data: Path, tmp_path: Path, capsys):
    code = main(["run", str(sample_data / "voc"), "--out", str(tmp_path), "--fail-on", "warning"])
    # sample_data carries deliberate defects (a zero-size box, a box past the edge): warnings
    assert code == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["gate"]["passed"] is False
    assert "integrity.degenerate_box" in report["gate"]["failed_codes"]


def test_anchors_command_prints_yaml_whose_bpr_checks_out(sample_data: Path):
    """The printed anchors, re-scored here with the ratio rule on the scene description,
    give the BPR the command prints."""
    import re

    import numpy as np
    import yaml

    proc = run_cli("anchors", str(sample_data / "coco"))
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(proc.stdout)
    rows = doc["anchors"]
    assert len(rows) == 3 and all(len(r) == 6 for r in rows)
    anchors = np.array([v for r in rows for v in r], dtype=float).reshape(-1, 2)
    scene = json.loads((sample_data / "scene.json").read_text())
    wh = np.array(
        [
            (b["w"] * 640 / max(i["width"], i["height"]), b["h"] * 640 / max(i["width"], i["height"]))
            for i in scene["images"]
            for b in i["boxes"]
            if b["w"] > 0 and b["h"] > 0 and not b.get("ignore")
        ]
    )
    r = wh[:, None, :] / anchors[None, :, :]
    m = np.minimum(r, 1 / r).min(axis=2)
    bpr = float((m.max(axis=1) > 0.25).mean())
    printed = re.search(r"suggested ([0-9.]+)", proc.stdout)
    assert printed is not None
    assert float(printed.group(1)) == pytest.approx(bpr, abs=1e-6)


def test_run_writes_every_output_when_the_figures_fail(
    sample_data: Path, tmp_path: Path, monkeypatch
) -> None:
    """The figures are drawn alongside report.json and the CSVs; when drawing fails outright
    (no matplotlib, a bug), the JSON, the tables and the page are still written."""
    import sodaudit.figures

    def boom(*args, **kwargs):
        raise RuntimeError("no backend")

    monkeypatch.setattr(sodaudit.figures, "build_figures", boom)
    out = tmp_path / "out"
    assert main(["run", str(sample_data / "yolo"), "--out", str(out), "--fail-on", "never"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Figures could not be drawn (RuntimeError: no backend)" in page
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["dataset"]["num_boxes"] > 0
    assert 'id="analyzer-sizes"' in page


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("run", ".", "--imgs", "1280"), ("'--imgs'", "did you mean '--imgsz'?", "see sodaudit run --help")),
        (("rn", "."), ("No such command 'rn'", "did you mean 'run'?", "see sodaudit --help")),
        (("confg",), ("No such command 'confg'", "did you mean 'config'?")),
    ],
)
def test_a_mistyped_option_or_command_suggests_the_real_one(tmp_path: Path, args, needles):
    """click finds the close names; the message stays one sentence, like a mistyped config key's."""
    click = pytest.importorskip("click")
    if args[0] != "run" and not hasattr(click.exceptions, "NoSuchCommand"):
        pytest.skip("click < 8.2 does not suggest commands")
    assert_one_sentence_error(run_cli(*args, cwd=tmp_path), *needles)


def test_a_mistyped_set_key_suggests_the_real_one(tmp_path: Path):
    proc = run_cli("run", str(tmp_path), "--set", "subthreshold.min_side_model_pxx=3")
    assert_one_sentence_error(proc, "'subthreshold.min_side_model_pxx'")
    assert proc.stderr.strip() == (
        "sodaudit: error: Unknown config key 'subthreshold.min_side_model_pxx' "
        "(did you mean 'subthreshold.min_side_model_px'?)."
    )


def test_a_mistyped_key_in_sodaudit_toml_suggests_the_real_one(tmp_path: Path):
    (tmp_path / "sodaudit.toml").write_text("[subthreshold]\nmin_side_model_pxx = 3\n")
    proc = run_cli("config", cwd=tmp_path)
    assert_one_sentence_error(
        proc, "did you mean 'subthreshold.min_side_model_px'?", str(tmp_path / "sodaudit.toml")
    )
