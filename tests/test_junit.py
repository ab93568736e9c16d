"""JUnit XML has one test case per rule, failing exactly the gate's failing codes; the rule
catalogue names every code the analyzers can emit."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from sodaudit.config import Config
from sodaudit.pipeline import audit
from sodaudit.render.junit import github_annotations, to_junit
from sodaudit.rules import RULES

SOURCE = Path(__file__).resolve().parents[1] / "sodaudit"


def test_every_emitted_code_is_in_the_catalogue():
    """Scan the source for finding-code literals: each must be catalogued (no silent drift)."""
    pattern = re.compile(
        r'"((?:integrity|sizes|subthreshold|class_overlap|anchors|strides|splits|baseline|load)'
        r'\.[a-z_]+)"'
    )
    emitted = set()
    for path in SOURCE.rglob("*.py"):
        if path.name == "catalogue.py" or path.parent == SOURCE / "figures":  # figure keys, not codes
            continue
        emitted |= set(pattern.findall(path.read_text()))
    config = Config().to_dict()  # config keys named in messages are not codes
    config_keys = {
        f"{section}.{key}" for section, keys in config.items() if isinstance(keys, dict) for key in keys
    }
    files = {
        code for code in emitted if code.rsplit(".", 1)[1] in ("yaml", "json", "csv", "txt", "md", "sh", "py")
    }
    assert sorted(emitted - files - config_keys - set(RULES)) == []


def test_junit_fails_exactly_the_gate_codes(sample_data: Path):
    report = audit(sample_data / "yolo", fail_on="warning")
    root = ET.fromstring(to_junit(report))
    cases = root.findall("testcase")
    assert len(cases) >= len(RULES)
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == set(report.gate.failed_codes)
    assert root.get("failures") == str(len(failed))
    # the default gate (fail on error) fails nothing on the sample data
    default = ET.fromstring(to_junit(audit(sample_data / "yolo")))
    assert default.get("failures") == "0"


def test_github_annotations_escape_and_skip_notes(sample_data: Path):
    report = audit(sample_data / "yolo")
    lines = github_annotations(report)
    warnings = [f for f in report.findings if f.severity.value in ("warning", "error")]
    assert len(lines) == len(warnings)
    assert all(line.startswith(("::warning title=sodaudit ", "::error title=sodaudit ")) for line in lines)
    assert all("\n" not in line for line in lines)
