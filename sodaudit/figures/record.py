"""The ``Figure`` record, apart from the drawing code: a figure drawn in a forked worker travels
back pickled, and unpickling it must not import matplotlib in the process that renders the page.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One drawn figure: where it goes in the report, its words, and the image as a data URI."""

    key: str
    section: str
    title: str
    caption: str
    data_uri: str
    alt: str
