"""AuditReport: the one object every renderer (JSON, HTML, terminal) reads.

JSON is the data and HTML is a view of it, so both are produced from ``to_dict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from sodaudit import __version__
from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import Finding, GateResult, apply_rules, gate, sort_findings
from sodaudit.jsonable import jsonable

SCHEMA_VERSION = "1.0"
TOP_IMAGE_SIZES = 5


@dataclass
class AuditReport:
    dataset: Dataset
    config: Config
    analyzers: dict[str, AnalyzerResult]
    findings: list[Finding]
    gate: GateResult
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @classmethod
    def build(cls, dataset: Dataset, config: Config, analyzers: dict[str, AnalyzerResult]) -> AuditReport:
        from sodaudit.recommend import recommend

        found = [f for result in analyzers.values() for f in result.findings]
        findings = sort_findings(apply_rules(found, config.rules))
        recommendations = [r.to_dict() for r in recommend(dataset, config, analyzers)]
        return cls(dataset, config, analyzers, findings, gate(findings, config.fail_on), recommendations)

    @property
    def passed(self) -> bool:
        return self.gate.passed

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
        ds = self.dataset
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
            classes.append(
                {"id": int(cid), "name": name, "num_boxes": int(per_class[cid]), "declared": False}
            )
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
            "path": str(ds.root),
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

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "schema_version": SCHEMA_VERSION,
                "tool": {"name": "sodaudit", "version": __version__, "created": self.created},
                "dataset": self.dataset_card(),
                "config": self.config.to_dict(),
                "analyzers": {
                    name: {"title": r.title, "stats": r.stats} for name, r in self.analyzers.items()
                },
                "findings": [f.to_dict() for f in self.findings],
                "recommendations": self.recommendations,
                "gate": self.gate.to_dict(),
            }
        )


def _num(value: Any) -> float | None:
    value = float(value) if value is not None else math.nan
    return value if math.isfinite(value) else None
