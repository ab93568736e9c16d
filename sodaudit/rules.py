"""The rule names JUnit and the docs list: one per finding code, from the catalogue."""

from __future__ import annotations

from sodaudit.catalogue import CATALOGUE

RULES: dict[str, str] = {code: spec.meaning for code, spec in CATALOGUE.items()}
"""Finding code -> what the rule checks, in one line (the catalogue's ``meaning``)."""
