"""--baseline: one regression fails the gate with a finding that names it; an improvement passes."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from sodaudit.baseline import compare, read_baseline
from sodaudit.cli import main
from sodaudit.config import Config
from sodaudit.errors import ConfigError
from sodaudit.pipeline import audit


@pytest.fixture(scope="module")
def sample_report(sample_data: Path) -> dict:
    return audit(sample_data / "voc").to_dict()


def test_unchanged_dataset_has_no_regressions(sample_report):
    result = compare(sample_report, sample_report, Config())
    assert result.findings == ()
    assert all(row["regressed"] is False for row in result.stats["tracked"].values() if isinstance(row, dict))


def test_each_tracked_number_regresses_beyond_its_tolerance(sample_report):
    worse = copy.deepcopy(sample_report)
    worse["dataset"]["num_valid_boxes"] -= 3  # three more invalid boxes
    worse["analyzers"]["subthreshold"]["stats"]["union"]["share"] += 0.02  # tolerance 0.01
    worse["analyzers"]["anchors"]["stats"]["presets"]["yolov5"]["bpr"] -= 0.004  # tolerance 0.005
    worse["dataset"]["classes"] = [c for c in worse["dataset"]["classes"] if c["name"] != "boat"]
    found = {f.code: f for f in compare(worse, sample_report, Config()).findings}
    assert set(found) == {"baseline.invalid_boxes", "baseline.subthreshold_share", "baseline.class_gone"}
    old = sample_report["analyzers"]["subthreshold"]["stats"]["union"]["share"]
    assert found["baseline.subthreshold_share"].message == (
        f"The share of sub-threshold labels rose from {old:.2%} to {old + 0.02:.2%} (tolerance 1.00%)"
    )
    assert found["baseline.class_gone"].class_name == "boat"


def test_improvement_passes(sample_report):
    better = copy.deepcopy(sample_report)
    better["dataset"]["num_valid_boxes"] += 1
    better["analyzers"]["anchors"]["stats"]["presets"]["yolov5"]["bpr"] += 0.1
    assert compare(better, sample_report, Config()).findings == ()


def test_bad_baseline_file_is_a_usage_error(tmp_path: Path):
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"not a sodaudit report\.json"):
        read_baseline(tmp_path / "x.json")


def test_cli_baseline_fails_on_a_real_regression_and_passes_on_improvement(sample_data: Path, tmp_path: Path):
    data = tmp_path / "voc"
    shutil.copytree(sample_data / "voc", data)
    assert main(["run", str(data), "--out", str(tmp_path / "v1")]) == 0
    baseline = tmp_path / "v1" / "report.json"
    # a labeller drops every boat: the class is gone
    for xml in (data / "Annotations").glob("*.xml"):
        text = xml.read_text()
        xml.write_text(text.replace("<name>boat</name>", "<name>car</name>"))
    assert main(["run", str(data), "--out", str(tmp_path / "v2"), "--baseline", str(baseline)]) == 1
    report = json.loads((tmp_path / "v2" / "report.json").read_text())
    assert report["gate"]["failed_codes"] == ["baseline.class_gone"]
    assert report["baseline"]["tracked"]["classes_gone"] == ["boat"]  # the comparison, not an analyzer
    assert "baseline" not in report["analyzers"]
    # against the new report as baseline, the old data (boats back) is no regression
    shutil.rmtree(data)
    shutil.copytree(sample_data / "voc", data)
    new_baseline = tmp_path / "v2" / "report.json"
    assert main(["run", str(data), "--out", str(tmp_path / "v3"), "--baseline", str(new_baseline)]) == 0
