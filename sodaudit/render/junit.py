"""JUnit XML (one test case per rule) and GitHub Actions annotations, for CI systems.

A rule's test case fails when one of its findings is at or above the gate's ``fail_on``
severity; otherwise it passes, with any lower-severity finding in its ``system-out``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from sodaudit.findings import Finding, Severity
from sodaudit.render.files import visible, write_atomic
from sodaudit.report import AuditReport
from sodaudit.rules import RULES


def _fails(finding: Finding, fail_on: str) -> bool:
    return fail_on != "never" and finding.severity.rank >= Severity(fail_on).rank


def to_junit(report: AuditReport) -> str:
    fail_on = report.gate.fail_on
    by_code: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_code.setdefault(finding.code, []).append(finding)
    codes = list(RULES) + [c for c in by_code if c not in RULES]
    suite = ET.Element("testsuite", name="sodaudit", tests=str(len(codes)))
    failures = 0
    for code in codes:
        case = ET.SubElement(suite, "testcase", classname=f"sodaudit.{code.split('.')[0]}", name=code)
        found = by_code.get(code, [])
        failing = [f for f in found if _fails(f, fail_on)]
        if failing:
            failures += 1
            failure = ET.SubElement(
                case, "failure", message=failing[0].message, type=failing[0].severity.value
            )
            failure.text = "\n".join(f.message + "".join(f"\n  {e}" for e in f.examples) for f in failing)
        elif found:
            ET.SubElement(case, "system-out").text = "\n".join(
                f"[{f.severity.value}] {f.message}" for f in found
            )
    suite.set("failures", str(failures))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def write_junit(report: AuditReport, path: Path) -> Path:
    return write_atomic(path, to_junit(report))


def github_annotations(report: AuditReport) -> list[str]:
    """``::error``/``::warning`` workflow commands for findings of warning severity and above."""
    lines = []
    for finding in report.findings:
        if finding.severity is Severity.INFO:
            continue
        message = visible(finding.message).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        lines.append(f"::{finding.severity.value} title=sodaudit {finding.code}::{message}")
    return lines
