"""The short summary printed after a run: what was found and where the report is."""

from __future__ import annotations

from pathlib import Path

from sodaudit.report import AuditReport

TOP_FINDINGS = 8


def summary(report: AuditReport, outputs: list[Path]) -> str:
    card = report.dataset_card()
    lines = [
        f"sodaudit: {card['format'].upper()} dataset at {card['path']}",
        f"  {card['num_images']:,} images, {card['num_boxes']:,} boxes "
        f"({card['num_valid_boxes']:,} valid, {card['num_ignored_boxes']:,} ignored), "
        f"{len(card['classes'])} classes, splits: {', '.join(card['splits']) or 'none'}",
    ]
    lines += [f"  note: {note}" for note in card["notes"]]
    counts = {
        s: sum(1 for f in report.findings if f.severity.value == s) for s in ("error", "warning", "info")
    }
    lines.append(
        f"  findings: {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes"
    )
    for finding in report.findings[:TOP_FINDINGS]:
        lines.append(f"    [{finding.severity.value}] {finding.message}")
    if len(report.findings) > TOP_FINDINGS:
        lines.append(f"    ... and {len(report.findings) - TOP_FINDINGS} more in the report")
    gate = report.gate
    verdict = "passed" if gate.passed else "FAILED (" + ", ".join(gate.failed_codes) + ")"
    lines.append(f"  gate (fail on {gate.fail_on}): {verdict}")
    lines += [f"  wrote {path}" for path in outputs]
    return "\n".join(lines)
