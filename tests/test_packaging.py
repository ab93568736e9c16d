"""The built wheel carries the report templates, so a non-editable install can render HTML."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    wheels = list(out.glob("sodaudit-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_ships_templates_and_entry_point(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    templates = {Path(n).name for n in names if n.startswith("sodaudit/report_templates/")}
    source_templates = {p.name for p in (ROOT / "report_templates").iterdir() if p.is_file()}
    assert source_templates and templates == source_templates
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sodaudit = sodaudit.cli:console_main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_finds_templates(wheel: Path, tmp_path: Path):
    """Unpack the wheel on its own (no source checkout on the path) and locate the templates."""
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from sodaudit.render.html import template_dir; print(template_dir())"
    )
    found = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(found) == target / "sodaudit" / "report_templates"
    assert (Path(found) / "report.html.j2").is_file()
