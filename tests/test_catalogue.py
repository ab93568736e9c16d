"""The finding catalogue is the one source of severity, and the docs list it as it is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sodaudit.catalogue import CATALOGUE, DIFF_SPECS, Severity, catalogue_markdown
from sodaudit.cli import main
from sodaudit.config import Config
from sodaudit.pipeline import audit

ROOT = Path(__file__).resolve().parents[1]


def test_docs_list_the_catalogue_as_it_is() -> None:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- catalogue:start[^>]*-->\n(.*?)<!-- catalogue:end -->", text, re.S)
    assert found is not None, "docs/ci.md lost its catalogue markers"
    assert found.group(1) == catalogue_markdown()


def test_every_threshold_key_is_a_config_key() -> None:
    config = Config().to_dict()
    for spec in (*CATALOGUE.values(), *DIFF_SPECS.values()):
        for key in spec.thresholds:
            section, name = key.split(".")
            assert name in config[section], f"{spec.code}: no config key {key}"


def test_load_issues_have_a_summary_and_others_do_not() -> None:
    for code, spec in CATALOGUE.items():
        assert (spec.summary is not None) == code.startswith("load."), code
        if spec.summary is not None:
            assert "{n}" in spec.summary


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc"])
def test_findings_take_their_severity_from_the_catalogue(sample_data: Path, fmt: str) -> None:
    """Without rules, a finding is at its catalogue severity, or info when its check stayed
    within the threshold; its code is in the catalogue."""
    report = audit(sample_data / fmt)
    assert report.findings
    for finding in report.findings:
        spec = CATALOGUE[finding.code]
        assert finding.severity in (spec.severity, Severity.INFO), finding.code


def test_an_annotation_file_left_unread_fails_the_gate(realdata: Path, tmp_path: Path) -> None:
    """The issue's case: coco_mini's train JSON is past a 0.4 MB limit and is not read; the audit
    goes on with val, and the gate fails on the lost labels."""
    out = tmp_path / "out"
    code = main(
        [
            "run",
            str(realdata / "coco_mini"),
            "--out",
            str(out),
            "--set",
            "limits.max_annotation_file_mb=0.4",
        ]
    )
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    sizes = {p.name: p.stat().st_size for p in (realdata / "coco_mini" / "annotations").glob("instances_*")}
    too_large = sorted(name for name, size in sizes.items() if size > 0.4 * 2**20)
    assert too_large == ["instances_train2017.json"]  # measured independently of sodaudit
    unread = [f for f in report["findings"] if f["code"] == "load.file_too_large"]
    assert len(unread) == 1 and unread[0]["severity"] == "error" and unread[0]["count"] == 1
    assert "load.file_too_large" in report["gate"]["failed_codes"]
    assert code == 1
    assert report["dataset"]["num_boxes"] == 624  # val2017 alone, as the realdata README says


def test_rules_still_override_the_catalogue(sample_data: Path) -> None:
    """Config rules act after the catalogue: one code raised to error fails the gate, another
    switched off is gone."""
    config = (
        Config().with_rule("integrity.background_images", "error").with_rule("integrity.duplicate_box", "off")
    )
    report = audit(sample_data / "coco", config=config)
    severities = {f.code: f.severity for f in report.findings}
    assert severities["integrity.background_images"] == Severity.ERROR
    assert "integrity.duplicate_box" not in severities
    assert "integrity.background_images" in report.gate.failed_codes


@pytest.mark.parametrize(
    "code",
    [
        "load.split_path_missing",  # Ultralytics stops on a split path that does not exist
        "load.undeclared_class",  # VOC names outside classes.txt
        "integrity.unknown_class",  # Ultralytics drops the images whole
        "integrity.area_mismatch",  # COCOeval evaluates boxes in the wrong size bucket
        "sizes.over_eval_max_dets",  # COCOeval cannot match labels past maxDets
        "sizes.crowded_images",  # the detector cannot output labels past max_det
    ],
)
def test_blockers_are_errors(code: str) -> None:
    """Issue 14: data that breaks training or evaluation fails the default gate."""
    assert CATALOGUE[code].severity == Severity.ERROR


def test_every_data_error_says_what_to_do() -> None:
    """fix_data lists each error with its fix: a data error without one would be a bare label."""
    missing = [
        code
        for code, spec in CATALOGUE.items()
        if spec.severity == Severity.ERROR and not code.startswith("baseline.") and not spec.fix
    ]
    assert missing == []
