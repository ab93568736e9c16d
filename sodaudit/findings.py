"""Findings and the gate that turns them into pass/fail.

One ``Finding`` class for every kind of problem: the ``code`` says what it is
(``integrity.degenerate_box``) and its default severity comes from the catalogue
(:mod:`sodaudit.catalogue`); the message is written once, where the finding is made,
and every renderer only shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from sodaudit.catalogue import Severity, spec_of

FAIL_ON = ("error", "warning", "never")
MAX_EXAMPLES = 20
"""Examples carried per finding; full per-label lists live in the analyzer tables."""
MAX_MESSAGE_CHARS = 400
"""Longest finding message: a reader takes in about this much at a glance (issue 17), and a
message built from a dataset-controlled list (file names, class names) must not grow with the
dataset (one listed 141,000 characters of duplicate files). Messages say counts and at most a
few names; the examples carry more and the tables everything. Analyzers write messages under
this; the cut (with "…") only guards what a dataset could still make longer."""
MAX_EXAMPLE_CHARS = 500
"""Longest example: an example quotes a file name or a value from the dataset."""


_NOTE_CHARS = 48
"""Room for the cut note: "… (N more characters not shown)" with N up to 10^16."""


def bounded(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (``limit`` > 48), saying how many were cut."""
    if len(text) <= limit:
        return text
    keep = limit - _NOTE_CHARS
    return f"{text[:keep]}… ({len(text) - keep:,} more characters not shown)"


@dataclass(frozen=True)
class Finding:
    """A problem (or notable fact) with the numbers behind it and where to look."""

    code: str
    severity: Severity
    message: str
    analyzer: str
    value: float | None = None
    threshold: float | None = None
    class_name: str | None = None
    examples: tuple[str, ...] = ()
    count: int | None = None

    def __post_init__(self) -> None:
        """Bound the text a dataset can make long, whatever the analyzer built."""
        if len(self.message) > MAX_MESSAGE_CHARS:
            object.__setattr__(self, "message", bounded(self.message, MAX_MESSAGE_CHARS))
        examples = tuple(self.examples)
        if len(examples) > MAX_EXAMPLES or any(len(e) > MAX_EXAMPLE_CHARS for e in examples):
            examples = tuple(bounded(str(e), MAX_EXAMPLE_CHARS) for e in examples[:MAX_EXAMPLES])
        object.__setattr__(self, "examples", examples)

    @classmethod
    def of(cls, code: str, message: str, analyzer: str, *, raised: bool = True, **fields: object) -> Finding:
        """A finding with its catalogue severity; ``raised=False`` (the check stayed within its
        threshold) keeps it as a note (info)."""
        severity = spec_of(code).severity if raised else Severity.INFO
        return cls(code, severity, message, analyzer, **fields)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "analyzer": self.analyzer,
            "value": self.value,
            "threshold": self.threshold,
            "class_name": self.class_name,
            "examples": list(self.examples),
            "count": self.count,
        }


@dataclass(frozen=True)
class GateResult:
    passed: bool
    fail_on: str
    failed_codes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "fail_on": self.fail_on,
            "failed_codes": list(self.failed_codes),
        }


def gate(findings: Iterable[Finding], fail_on: str) -> GateResult:
    """The gate fails when any finding is at or above the ``fail_on`` severity."""
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {FAIL_ON}, got {fail_on!r}")
    if fail_on == "never":
        return GateResult(True, fail_on)
    floor = Severity(fail_on).rank
    failed = tuple(dict.fromkeys(f.code for f in findings if f.severity.rank >= floor))
    return GateResult(not failed, fail_on, failed)


@dataclass(frozen=True)
class Rule:
    """A per-code override from config: a severity, and optionally a threshold on the value.

    With a threshold, a finding whose ``value`` is above it gets ``severity``; at or below it
    the finding is kept as a note (info). ``severity = "off"`` drops the code from the report.
    """

    severity: str
    threshold: float | None = None


RULE_SEVERITIES = ("info", "warning", "error", "off")


def apply_rules(findings: Iterable[Finding], rules: dict[str, Rule]) -> list[Finding]:
    """Findings with the configured severities; codes set to ``off`` are removed."""
    out = []
    for finding in findings:
        rule = rules.get(finding.code)
        if rule is None:
            out.append(finding)
            continue
        if rule.severity == "off":
            continue
        if rule.threshold is None:
            out.append(replace(finding, severity=Severity(rule.severity)))
            continue
        above = finding.value is not None and finding.value > rule.threshold
        out.append(
            replace(
                finding,
                severity=Severity(rule.severity) if above else Severity.INFO,
                threshold=rule.threshold,
            )
        )
    return out


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Most severe first, then the larger counts, so the top of a list is what matters."""
    return sorted(findings, key=lambda f: (-f.severity.rank, -(f.count or 0), f.code))
