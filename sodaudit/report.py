"""AuditReport: the one value every renderer (JSON, HTML, Markdown, JUnit, terminal) reads.

It is assembled once by :func:`sodaudit.pipeline.assemble` from what the steps before it computed
(analyzer results, recommendations, the judged findings and the gate) and never changes after.
JSON is the data and HTML is a view of it, so both are produced from ``to_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import numpy as np

from sodaudit import __version__
from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import Finding, GateResult
from sodaudit.jsonable import jsonable
from sodaudit.verdict import verdict_of

SCHEMA_VERSION = "2.1"
TOP_IMAGE_SIZES = 5
REPR_PATH = 80
"""Characters of the dataset path that ``repr(report)`` keeps (a long path is cut in the middle)."""


@dataclass(frozen=True)
class AuditReport:
    dataset: Dataset
    config: Config
    analyzers: Mapping[str, AnalyzerResult]
    findings: tuple[Finding, ...]
    """Judged by the configured rules, most severe first."""
    gate: GateResult
    recommendations: tuple[dict[str, Any], ...] = ()
    plan: Mapping[str, Any] | None = None
    """The primary change, its cost and reach, the alternatives, and the scale-gap information
    (``None`` when too few boxes could be judged)."""
    baseline: Mapping[str, Any] | None = None
    """With ``--baseline``: the tracked numbers, old and new (their regressions are findings)."""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def passed(self) -> bool:
        return self.gate.passed

    def __repr__(self) -> str:
        """A few hundred characters, not the dataclass's dump of every box (98,000 on sample_data):
        what was read, the findings by severity, the gate and the plan."""
        ds = self.dataset
        path = _middle_cut(str(ds.root), REPR_PATH)
        classes = len(set(ds.classes) | set(ds.boxes["class_id"].dropna().tolist()))
        severities = [f.severity.value for f in self.findings]
        counts = " ".join(f"{s}={severities.count(s)}" for s in ("error", "warning", "info"))
        return (
            f"<AuditReport {ds.format} {path!r}: {len(ds.images):,} images, {len(ds.boxes):,} boxes, "
            f"{classes} classes; findings: {counts}; {self._gate_words()}; plan: {self._plan_words()}>"
        )

    def _gate_words(self) -> str:
        """'gate passed (fail on error)' or the first failed codes."""
        gate = self.gate
        if gate.passed:
            return f"gate passed (fail on {gate.fail_on})"
        codes = ", ".join(gate.failed_codes[:3])
        more = f" and {len(gate.failed_codes) - 3} more" if len(gate.failed_codes) > 3 else ""
        return f"gate FAILED (fail on {gate.fail_on}: {codes}{more})"

    def _plan_words(self) -> str:
        """The plan in a few words: the change, its cost and its reach."""
        plan = self.plan
        if not plan:
            return "none (too few boxes to judge)"
        change = f"{plan['tile']} px tiles" if plan.get("tile") else f"imgsz {plan.get('imgsz')}"
        return (
            f"{plan['primary']} ({change}) at {plan['cost_factor']:.2f}x compute, "
            f"{plan['reach_share']:.1%} of boxes reach {plan['min_side_px']} px"
        )

    def to_json(self) -> str:
        """report.json as a string (renderers are imported here: they import this module)."""
        from sodaudit.render.json import to_json

        return to_json(self)

    def to_html(self) -> str:
        """report.html as a string: one self-contained page."""
        from sodaudit.render.html import to_html

        return to_html(self)

    def to_markdown(self) -> str:
        """The Markdown summary that CI systems show."""
        from sodaudit.render.markdown import to_markdown

        return to_markdown(self)

    def _repr_html_(self) -> str:
        """Notebooks: the report in a sandboxed frame, so its CSS cannot leak into the notebook."""
        from html import escape

        return (
            '<iframe sandbox="allow-scripts" style="width:100%;height:720px;border:1px solid #d0d7de" '
            f'srcdoc="{escape(self.to_html(), quote=True)}"></iframe>'
        )

    def dataset_card(self) -> dict[str, Any]:
        """The ``dataset`` part of report.json."""
        return self.to_dict()["dataset"]

    def to_dict(self) -> dict[str, Any]:
        """report.json as plain data, made once (the report never changes)."""
        return self._document

    @cached_property
    def _document(self) -> dict[str, Any]:
        document = jsonable(
            {
                "schema_version": SCHEMA_VERSION,
                "tool": {"name": "sodaudit", "version": __version__, "created": self.created},
                "dataset": dataset_card(self.dataset),
                "config": self.config.to_dict(),
                "analyzers": {
                    name: {"title": r.title, "stats": r.stats} for name, r in self.analyzers.items()
                },
                "verdict": verdict_of(self).to_dict(),
                "findings": [f.to_dict() for f in self.findings],
                "plan": self.plan,
                "recommendations": list(self.recommendations),
                "gate": self.gate.to_dict(),
            }
        )
        if self.baseline is not None:
            document["baseline"] = jsonable(self.baseline)
        return document


def dataset_card(ds: Dataset) -> dict[str, Any]:
    """The ``dataset`` part of report.json: counts, classes, splits, image sizes."""
    boxes, images = ds.boxes, ds.images
    per_class = boxes.groupby("class_id", observed=True).size()
    classes = [
        {
            "id": int(cid),
            "name": name,
            "num_boxes": int(per_class.get(cid, 0)),
            "declared": True,
        }
        for cid, name in ds.classes.items()
    ]
    for cid in sorted(set(per_class.index.tolist()) - set(ds.classes)):
        name = str(boxes.loc[boxes["class_id"] == cid, "class_name"].iloc[0])
        classes.append({"id": int(cid), "name": name, "num_boxes": int(per_class[cid]), "declared": False})
    splits = {}
    for split in ds.splits:
        in_split = images["split"] == split
        splits[split] = {
            "num_images": int(in_split.sum()),
            "num_boxes": int(images.loc[in_split, "n_boxes"].sum()),
        }
    sizes = images.dropna(subset=["width", "height"]).groupby(["width", "height"]).size()
    sizes = sizes.sort_values(ascending=False, kind="stable")
    return {
        "path": str(ds.meta.get("origin") or ds.root),
        "format": ds.format,
        "num_images": len(images),
        "num_boxes": len(boxes),
        "num_valid_boxes": int(boxes["valid"].sum()),
        "num_ignored_boxes": int(boxes["ignore"].sum()),
        "classes": classes,
        "splits": splits,
        "image_sizes": {
            "distinct": len(sizes),
            "most_common": [
                {"width": int(w), "height": int(h), "num_images": int(n)}
                for (w, h), n in sizes.head(TOP_IMAGE_SIZES).items()
            ],
            "min_long_side": _num(np.fmax(images["width"], images["height"]).min()),
            "max_long_side": _num(np.fmax(images["width"], images["height"]).max()),
        },
        "notes": list(ds.notes),
        "meta": jsonable(ds.meta),
    }


def _middle_cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut in the middle: a path keeps both ends."""
    if len(text) <= width:
        return text
    return text[: width // 2 - 1] + "…" + text[-(width // 2) :]


def _num(value: Any) -> float | None:
    value = float(value) if value is not None else math.nan
    return value if math.isfinite(value) else None
