"""Readable views of the analyzer stats: sentences and small tables a person understands.

The numbers come from ``report.json`` (``analyzers.<name>.stats``) and nowhere else, so every
number in the HTML is also in the JSON. A view that cannot read its stats raises: a changed
stats layout is a bug for the tests to catch, not something to hide in the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sodaudit.render.views.base import Table, View
from sodaudit.render.views.dataset import integrity_view, sizes_view, splits_view
from sodaudit.render.views.detector import anchors_view, class_overlap_view, strides_view, subthreshold_view
from sodaudit.render.views.visibility import INTRO as VISIBILITY_INTRO
from sodaudit.render.views.visibility import visibility_view

__all__ = ["INTROS", "VIEWS", "Table", "View", "analyzer_view"]

VIEWS: dict[str, Callable[[Any, Mapping[str, Any]], View]] = {
    "integrity": integrity_view,
    "sizes": sizes_view,
    "subthreshold": subthreshold_view,
    "class_overlap": class_overlap_view,
    "anchors": anchors_view,
    "strides": strides_view,
    "visibility": visibility_view,
    "splits": splits_view,
}

INTROS = {
    "integrity": "Whether the labels can be trusted as data: what the loader could not read, broken boxes, "
    "duplicates and images without labels.",
    "sizes": "How big the objects are, in the image files and at the resolution the model sees them.",
    "subthreshold": "Labels too small for a model to learn from or a person to check, with the zoom a "
    "reviewer needs.",
    "class_overlap": "Boxes of different classes on the same object, ground truth that non-maximum "
    "suppression would remove, and classes too alike at this size to tell apart.",
    "anchors": "Whether the anchor boxes of anchor-based detectors can match the labels at all.",
    "strides": "Whether the feature-map grids are fine enough for the objects.",
    "visibility": VISIBILITY_INTRO,
    "splits": "Whether train and validation look alike in sizes and classes, and whether frames of one "
    "sequence sit on both sides.",
}


def analyzer_view(name: str, stats: Any, ctx: Mapping[str, Any]) -> View:
    """The readable view of one analyzer's stats: its typed stats Struct, or the JSON dict of an
    analyzer whose stats are not typed yet."""
    return VIEWS[name](stats, ctx)
