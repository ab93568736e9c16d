"""The built wheel carries the report.json schema, and the installed package finds it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.test_packaging import wheel  # noqa: F401  (the module-scoped wheel fixture)


def test_wheel_ships_the_schema(wheel: Path, tmp_path: Path):  # noqa: F811
    assert "sodaudit/schema/report.schema.json" in zipfile.ZipFile(wheel).namelist()
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from sodaudit.render.json import schema_path, schema; print(schema_path()); print(schema()['$id'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout.split()
    assert Path(out[0]) == target / "sodaudit" / "schema" / "report.schema.json"
    assert out[1].startswith("urn:sodaudit:report:")
