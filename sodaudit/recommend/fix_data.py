"""The fix_data recommendation, first in the list: the data itself breaks training or
evaluation (a split path that does not exist, class ids outside ``names``, COCO ``area``
fields in the wrong size bucket, more labels per image than the evaluator or trainer keeps,
annotation files left unread). Those findings are errors in the catalogue; nothing a model
change does helps until they are fixed."""

from __future__ import annotations

from collections.abc import Sequence

from sodaudit.catalogue import Severity, spec_of
from sodaudit.findings import Finding
from sodaudit.recommend.base import Recommendation

MAX_LISTED = 8
"""Codes listed in the summary (the evidence lists every one)."""


def fix_data_rec(findings: Sequence[Finding]) -> Recommendation | None:
    """One recommendation listing every data error, one line per code (root cause) with counts."""
    by_code: dict[str, list[Finding]] = {}
    for f in findings:  # a loop over findings (bounded by the catalogue's codes and classes)
        if f.severity == Severity.ERROR and not f.code.startswith("baseline."):
            by_code.setdefault(f.code, []).append(f)
    if not by_code:
        return None
    items = []
    for code, group in by_code.items():
        counts = [f.count for f in group if f.count is not None]
        items.append(
            {
                "code": code,
                "findings": len(group),
                "count": sum(counts) if counts else None,
                "meaning": spec_of(code).meaning,
                "fix": spec_of(code).fix,
                "message": group[0].message,
            }
        )
    lines = [_line(i["code"], i["count"]) for i in items]
    shown = "; ".join(lines[:MAX_LISTED]) + (
        f"; and {len(lines) - MAX_LISTED} more" if len(lines) > MAX_LISTED else ""
    )
    summary = (
        f"Fix these first, they break training or evaluation: {shown}. The error findings say what and where."
    )
    return Recommendation(
        "fix_data", summary, {"codes": [i["code"] for i in items]}, {"problems": items}, {}, 0
    )


def _line(code: str, count: int | None) -> str:
    """``meaning (count): fix``; the meaning without its severity caveat (after ``;``)."""
    spec = spec_of(code)
    text = spec.meaning.split(";")[0] + (f" ({count:,})" if count is not None else "")
    return f"{text}: {spec.fix}" if spec.fix else text
