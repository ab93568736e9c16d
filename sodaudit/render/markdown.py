"""The Markdown summary: what CI systems show (GitHub's job summary, merge-request comments).

Short on purpose: gate, dataset, recommendations, findings by severity, and where the full
report is. Dataset strings are escaped so a class name cannot break the table or inject markup.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from sodaudit.render.files import visible, write_atomic
from sodaudit.report import AuditReport
from sodaudit.verdict import verdict_of

MAX_FINDINGS = 25
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md_escape(text: object) -> str:
    """Plain text inside Markdown (and the HTML it becomes): no markup, no table breaks."""
    value = str(text).replace("&", "&amp;").replace("\r", " ").replace("\n", " ")
    return _SPECIAL.sub(r"\\\1", value)


def md_code(text: object) -> str:
    """Inline code: backslashes show literally there, so only backticks and newlines go."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


def to_markdown(report: AuditReport, *, html_path: Path | None = None) -> str:
    data = report.to_dict()
    d, gate = data["dataset"], data["gate"]
    counts = {s: sum(1 for f in data["findings"] if f["severity"] == s) for s in ("error", "warning", "info")}
    passed = "✅ passed" if gate["passed"] else "❌ failed"
    said = verdict_of(report)
    lines = [
        f"## sodaudit: gate {passed}",
        "",
        f"**{md_escape(said.sentence)}**",
        "",
        f"{md_code(d['path'])} ({d['format'].upper()}) at imgsz {data['config']['imgsz']} "
        f"({md_escape(data['config']['model'])}). Gate: {md_escape(said.gate)}",
    ]
    if gate["failed_codes"]:
        lines.append("Failing: " + ", ".join(f"`{c}`" for c in gate["failed_codes"]))
    lines += [
        "",
        "| images | boxes | valid boxes | classes | splits | errors | warnings | notes |",
        "|---:|---:|---:|---:|---|---:|---:|---:|",
        f"| {d['num_images']:,} | {d['num_boxes']:,} | {d['num_valid_boxes']:,} | {len(d['classes'])} | "
        f"{md_escape(', '.join(d['splits']) or '–')} | "
        f"{counts['error']} | {counts['warning']} | {counts['info']} |",
        "",
    ]
    key = []
    sizes = report.analyzers.get("sizes")
    if sizes is not None:
        coco = sizes.stats.buckets.coco
        key.append(f"COCO small/medium/large {coco.small:,}/{coco.medium:,}/{coco.large:,}")
    subthreshold = report.analyzers.get("subthreshold")
    if subthreshold is not None:
        below = subthreshold.stats.below_3px_at_imgsz
        key.append(f"{below:,} labels < 3 px at imgsz {data['config']['imgsz']}")
    anchors = report.analyzers.get("anchors")
    y5 = anchors.stats.presets.get("yolov5") if anchors is not None else None
    if y5 is not None and math.isfinite(y5.bpr):
        key.append(f"YOLOv5 anchor BPR {y5.bpr:.4f}")
    if key:
        lines += ["Key numbers: " + "; ".join(key) + ".", ""]
    recs = data.get("recommendations") or []
    if recs:
        lines += ["### What to change", ""]
        lines += [
            f"{i}. **{md_escape(r['kind'])}**: {md_escape(r['summary'])}" for i, r in enumerate(recs, 1)
        ]
        lines.append("")
    if data["findings"]:
        lines += ["### Findings", "", "| severity | finding | code |", "|---|---|---|"]
        for f in data["findings"][:MAX_FINDINGS]:
            lines.append(f"| {f['severity']} | {md_escape(f['message'])} | `{f['code']}` |")
        if len(data["findings"]) > MAX_FINDINGS:
            lines.append(f"\n…and {len(data['findings']) - MAX_FINDINGS} more in the report.")
        lines.append("")
    if html_path is not None:
        lines += [f"Full report: {md_code(html_path)}", ""]
    return "\n".join(lines)


def write_markdown(report: AuditReport, path: Path | None, *, html_path: Path | None = None) -> list[Path]:
    """Write ``path`` (when given) and append to ``$GITHUB_STEP_SUMMARY`` (when set)."""
    text = to_markdown(report, html_path=html_path)
    written = []
    if path is not None:
        written.append(write_atomic(path, text + "\n"))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(visible(text) + "\n")
        written.append(Path(summary))
    return written
