"""``--baseline OLD/report.json``: the numbers a dataset change must not make worse.

Each tracked number is read from both reports (the same JSON keys CI scripts use) and a
regression beyond the configured tolerance becomes an error finding, one per regression,
so the gate fails and the CI log says exactly what got worse. The comparison itself (old and
new numbers) goes to report.json's ``baseline`` key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sodaudit.config import Config
from sodaudit.errors import ConfigError
from sodaudit.findings import Finding

NAME = "baseline"


@dataclass(frozen=True)
class Comparison:
    """The tracked numbers of both reports and the regressions among them, as findings."""

    stats: dict[str, Any]
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Tracked:
    """One tracked number: how to read it, which way is worse, and its tolerance key."""

    code: str
    label: str
    read: Callable[[dict[str, Any]], float | None]
    worse_when_higher: bool
    tolerance: str
    as_share: bool = False


def _get(report: dict[str, Any], *keys: str) -> Any:
    node: Any = report
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _invalid(report: dict[str, Any]) -> float | None:
    total, valid = _get(report, "dataset", "num_boxes"), _get(report, "dataset", "num_valid_boxes")
    return None if total is None or valid is None else float(total - valid)


def _load_issues(report: dict[str, Any]) -> float | None:
    counts = _get(report, "analyzers", "integrity", "stats", "load_issues")
    return None if counts is None else float(sum(counts.values()))


def _max_drift(report: dict[str, Any]) -> float | None:
    ks = _get(report, "analyzers", "splits", "stats", "ks")
    if ks is None:
        return None
    values = [v["native"]["statistic"] for v in ks.values() if v["native"]["statistic"] is not None]
    return max(values) if values else 0.0


TRACKED = (
    Tracked("baseline.invalid_boxes", "invalid boxes", _invalid, True, "invalid_boxes"),
    Tracked("baseline.load_issues", "load issues", _load_issues, True, "load_issues"),
    Tracked(
        "baseline.subthreshold_share",
        "share of sub-threshold labels",
        lambda r: _get(r, "analyzers", "subthreshold", "stats", "union", "share"),
        True,
        "subthreshold_share",
        as_share=True,
    ),
    Tracked(
        "baseline.bpr",
        "YOLOv5 best possible recall",
        lambda r: _get(r, "analyzers", "anchors", "stats", "presets", "yolov5", "bpr"),
        False,
        "bpr",
    ),
    Tracked("baseline.split_drift", "largest split drift (KS statistic)", _max_drift, True, "split_drift"),
)


def read_baseline(path: Path) -> dict[str, Any]:
    """A previous report.json; a missing or foreign file is a usage error (exit 2)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"Cannot read the baseline report {path}: {err.strerror or err}.") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"The baseline {path} is not a JSON report: {err}.") from None
    if not isinstance(data, dict) or "schema_version" not in data or "dataset" not in data:
        raise ConfigError(f"The baseline {path} is not a sodaudit report.json.")
    return data


def _fmt(value: float, as_share: bool) -> str:
    return f"{value:.2%}" if as_share else f"{value:g}"


def compare(current: dict[str, Any], baseline: dict[str, Any], config: Config) -> Comparison:
    """Every tracked number, old and new, and an error finding per regression.

    ``current`` holds at least the ``dataset`` and ``analyzers`` parts of this run's report.json.
    """
    findings: list[Finding] = []
    tolerances = config.baseline
    rows: dict[str, object] = {}
    for item in TRACKED:
        old, new = item.read(baseline), item.read(current)
        tolerance = float(getattr(tolerances, item.tolerance))
        entry: dict[str, object] = {"baseline": old, "current": new, "tolerance": tolerance}
        rows[item.code.split(".", 1)[1]] = entry
        if old is None or new is None:
            entry["regressed"] = None
            continue
        change = (new - old) if item.worse_when_higher else (old - new)
        entry["regressed"] = bool(change > tolerance)
        if change > tolerance:
            verb = "rose" if item.worse_when_higher else "fell"
            findings.append(
                Finding.of(
                    item.code,
                    f"The {item.label} {verb} from {_fmt(old, item.as_share)} to "
                    f"{_fmt(new, item.as_share)} (tolerance {_fmt(tolerance, item.as_share)})",
                    NAME,
                    value=float(new),
                    threshold=float(old + tolerance if item.worse_when_higher else old - tolerance),
                    count=None,
                )
            )
    gone = _classes_gone(current, baseline)
    rows["classes_gone"] = gone
    for name in gone:
        findings.append(
            Finding.of(
                "baseline.class_gone",
                f"Class '{name}' had boxes in the baseline and has none now",
                NAME,
                class_name=name,
            )
        )
    stats = {"baseline_created": _get(baseline, "tool", "created"), "tracked": rows}
    return Comparison(stats, tuple(findings))


def _classes_gone(current: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    def with_boxes(report: dict[str, Any]) -> set[str]:
        return {c["name"] for c in _get(report, "dataset", "classes") or [] if c.get("num_boxes", 0) > 0}

    return sorted(with_boxes(baseline) - with_boxes(current))
