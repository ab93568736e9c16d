"""The layout rules of DESIGN.md, checked on the source: small modules, no private names
imported across modules, no scheduling or process tricks of our own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sodaudit"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 500


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_is_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def _private_imports(path: Path) -> list[str]:
    """``from sodaudit.x import _y`` and ``sodaudit.x._y`` uses in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sodaudit"):
            found += [
                f"{node.module}.{a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
    return found


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_private_name_is_imported_across_modules(path: Path) -> None:
    assert _private_imports(path) == []


def test_the_private_import_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from sodaudit.dataset import _positions\nfrom sodaudit.dataset import Dataset\n")
    assert _private_imports(bad) == ["sodaudit.dataset._positions"]


FORBIDDEN = {
    r"\bos\.fork\b": "forking this process",
    r"\bgc\.disable\b": "turning the garbage collector off",
    r"\bos\._exit\b": "skipping interpreter exit",
    r"__class__\s*=": "swapping a module's class",
    r"\bfork_map\b|\bchunked_maps?\b": "home-made scheduling",
    r"\b[A-Z_]*_COSTS?\b\s*[:=]": "timing constants that deal work",
}


@pytest.mark.parametrize("pattern", FORBIDDEN, ids=list(FORBIDDEN.values()))
def test_no_scheduling_or_process_tricks(pattern: str) -> None:
    hits = [
        f"{_name(p)}:{i}"
        for p in MODULES
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(pattern, line)
    ]
    assert hits == []
