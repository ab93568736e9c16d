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

SCHEMA_VERSION = "2.0"
TOP_IMAGE_SIZES = 5


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


def _num(value: Any) -> float | None:
    value = float(value) if value is not None else math.nan
    return value if math.isfinite(value) else None
