"""The matplotlib figures behind a report's encoded figures, for tests that inspect the plots.

Each figure module encodes through ``sodaudit.figures.common.encode``, imported by name; every
module of ``sodaudit.figures`` that has it is patched, so a new figure module is covered without
editing a list here."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from matplotlib.figure import Figure as MplFigure

import sodaudit.figures
from sodaudit.figures import Figure, build_figures
from sodaudit.figures.common import encode


def figure_modules() -> list:
    names = [m.name for m in pkgutil.iter_modules(sodaudit.figures.__path__, "sodaudit.figures.")]
    modules = [importlib.import_module(name) for name in names]
    return [
        m for m in modules if getattr(m, "encode", None) is encode and m.__name__ != "sodaudit.figures.common"
    ]


def capture(report) -> tuple[list[Figure], dict[str, MplFigure]]:
    """The report's figures, and each one's matplotlib figure by figure key."""
    plots = {}

    def keep(fig):
        uri = encode(fig)
        plots[uri] = fig
        return uri

    with pytest.MonkeyPatch.context() as mp:
        for module in figure_modules():
            mp.setattr(module, "encode", keep)
        figures = build_figures(report)
    return figures, {f.key: plots[f.data_uri] for f in figures}
