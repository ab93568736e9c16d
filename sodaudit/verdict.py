"""The verdict: the report's first sentence, and what the gate banner says it checked.

A reader gives a report about 30 seconds (issue 17). In that time they need the small-object
situation in numbers, the one change the plan makes and its cost, and whether the gate's "passed"
means the dataset is fine. Every renderer (HTML, JSON, terminal, Markdown) shows these same
strings; none of them rebuilds the sentence.

The numbers are the plan's: the share of judged boxes whose short side at model input is below
the model's smallest stride (:func:`sodaudit.sizepresets.below_min_side`), today and under the
plan. The same definition is used by the strides finding and the size-histogram caption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sodaudit.report import AuditReport

SEVERE_BELOW_SHARE = 0.25
"""A passed gate is qualified when at least this share of boxes is below the smallest stride
today: a quarter of the objects at or under one grid cell is a problem any detector shows in its
small-object AP (DESIGN.md, strides analyzer), whatever the gate's severity level says."""


@dataclass(frozen=True)
class Verdict:
    sentence: str
    """One or two sentences: the situation in numbers, then the plan and its cost."""
    gate: str
    """What the gate checked and what its result means for this dataset."""
    severe: bool
    """Small-object problems that a passed gate does not reflect."""

    def to_dict(self) -> dict[str, Any]:
        return {"sentence": self.sentence, "gate": self.gate, "severe": self.severe}


def _pct(share: float) -> str:
    return f"{share:.1%}"


def _plan_words(plan: Mapping[str, Any]) -> str:
    """``train at imgsz 1280 (4.0x compute): 12.1% of boxes then reach 8 px``."""
    cost, reach, side = plan["cost_factor"], plan["reach_share"], plan["min_side_px"]
    if plan["primary"] == "tiling":
        up = " (upsampled)" if plan["tile"] < plan["imgsz"] else ""
        tiles = f"{plan['tile']} px tiles{up} with overlap {plan['overlap']:g}"
        change = f"cut images into {tiles} at imgsz {plan['imgsz']}"
    else:
        change = f"train and infer at imgsz {plan['imgsz']}"
    words = f"Plan: {change} ({cost:.1f}x compute): {_pct(reach)} of boxes then reach {side} px"
    if reach < plan["target_share"]:
        best = max(plan.get("alternatives") or [], key=lambda a: a["reach_share"], default=None)
        words += (
            f"; the {plan['target_share']:.0%} target is out of reach within the {plan['max_cost']:g}x cap"
        )
        if best is not None and best["reach_share"] > reach:
            what = f"{best['tile']} px tiles" if best["primary"] == "tiling" else f"imgsz {best['imgsz']}"
            words += f" ({what} reach {_pct(best['reach_share'])} at {best['cost_factor']:.1f}x)"
    return words + "."


def verdict(
    plan: Mapping[str, Any] | None,
    *,
    model: str,
    imgsz: int,
    num_valid: int,
    gate_passed: bool,
    fail_on: str,
    min_boxes: int,
    failed_codes: Sequence[str] = (),
    errors: int = 0,
) -> Verdict:
    """The verdict from the plan and the gate (both already computed: nothing is measured here)."""
    if plan is None:
        sentence = (
            f"Only {num_valid:,} valid boxes in images of known size: too few to judge small-object "
            f"problems (recommend.min_boxes = {min_boxes})."
        )
        return Verdict(sentence, _gate_words(gate_passed, fail_on, None, failed_codes, errors), False)
    below = 1.0 - plan["current_share"]
    side, n = plan["min_side_px"], plan["num_boxes"]
    where = f"< {side} px at model input ({model}'s smallest stride, imgsz {imgsz}). "
    if below == 0:
        sentence = f"No box of {n:,} has a short side {where}"
    else:
        sentence = f"{_pct(below)} of {n:,} boxes have a short side {where}"
    if plan["primary"] == "none":
        target = plan["target_share"]
        sentence += (
            f"Plan: keep imgsz {imgsz}: {_pct(plan['reach_share'])} reach {side} px (target {target:.0%})."
        )
    else:
        sentence += _plan_words(plan)
    severe = below >= SEVERE_BELOW_SHARE
    return Verdict(
        sentence, _gate_words(gate_passed, fail_on, below if severe else None, failed_codes, errors), severe
    )


def _gate_words(
    passed: bool, fail_on: str, severe_below: float | None, failed: Sequence[str] = (), errors: int = 0
) -> str:
    level = {"never": "nothing", "error": "errors", "warning": "warnings or errors"}.get(fail_on, fail_on)
    if not passed:
        codes = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
        return f"The gate fails on {level} and found {codes}; fix these first (what to change, item 1)."
    if fail_on == "never":
        more = (
            f" {errors:,} {'error is' if errors == 1 else 'errors are'} not held against it."
            if errors
            else ""
        )
        return f"The gate is off (--fail-on never): it passes whatever is found.{more}"
    text = f"No finding at the gate's level (it fails on {level})."
    if severe_below is not None:
        text += (
            f" That does not mean the dataset suits the model: {_pct(severe_below)} of boxes are below "
            "the smallest stride, a warning the gate does not fail on (--fail-on warning makes it)."
        )
    return text


def verdict_of(report: AuditReport) -> Verdict:
    """:func:`verdict` for an assembled report."""
    return verdict(
        report.plan,
        model=report.config.model,
        imgsz=report.config.imgsz,
        num_valid=int(report.dataset.boxes["valid"].sum()) if "valid" in report.dataset.boxes else 0,
        gate_passed=report.gate.passed,
        fail_on=report.gate.fail_on,
        min_boxes=report.config.recommend.min_boxes,
        failed_codes=report.gate.failed_codes,
        errors=sum(f.severity.value == "error" for f in report.findings),
    )
