"""Refresh docs/first-screen.png, the README's picture of the report's first screen.

It is the screenshot the browser test takes (tests/test_browser.py: sample_data/yolo's report in
headless Chromium at 1280x800), so the picture is what the test checked: the verdict, then what
to change, then the gate. Usage: ``python scripts/readme_screenshot.py`` (needs Chromium).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOT = ROOT / "test-artifacts" / "first-screen-sample_data.png"
TARGET = ROOT / "docs" / "first-screen.png"


def main() -> int:
    test = "tests/test_browser.py::test_sample_report_in_chromium"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", test], cwd=ROOT, check=False)
    if done.returncode != 0 or not SHOT.is_file():
        print(
            "the browser test failed or was skipped (is Chromium installed?); nothing copied", file=sys.stderr
        )
        return 1
    shutil.copyfile(SHOT, TARGET)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
