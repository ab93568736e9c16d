"""The pieces every analyzer view uses: the ``View`` and ``Table`` a template shows, and numbers
formatted the way people read them (thousands separators, percentages, plurals)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

QUANTILE_KEYS = ("p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99")


@dataclass
class Table:
    """A small summary table; cells are display strings, ``numeric`` columns align right."""

    caption: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)
    note: str = ""

    def __post_init__(self) -> None:
        if not self.numeric:
            self.numeric = [i > 0 for i in range(len(self.columns))]


@dataclass
@dataclass
class View:
    """What a section shows of its analyzer's stats: sentences, then small tables."""

    facts: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def num(value: Any, digits: int = 1) -> str:
    """A number as people read it: thousands separators, no spurious decimals, '–' if undefined."""
    if value is None or isinstance(value, str):
        return "–" if value is None else value
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = float(value)
    if not math.isfinite(value):
        return "–"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) < 10**-digits * 5:
        return f"{value:.2g}"
    return f"{value:,.{digits}f}"


def pct(share: Any, digits: int = 1) -> str:
    if share is None or not math.isfinite(float(share)):
        return "–"
    value = 100 * float(share)
    if 0 < value < 10**-digits:
        return f"<{10**-digits:g}%"
    return f"{value:.{digits}f}%"


def count_share(count: Any, share: Any) -> str:
    return f"{num(count)} ({pct(share)})"


def plural(count: Any, word: str, many: str | None = None) -> str:
    count = 0 if count is None else count
    return f"{num(count)} {word if count == 1 else (many or word + 's')}"


def quantile(stats: Mapping[str, Any] | None, key: str) -> Any:
    """One quantile (``p50``) of a quantile dict that may be absent."""
    return (stats or {}).get(key)
