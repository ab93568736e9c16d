"""Shared fixtures: where the bundled sample data and the shared real datasets live."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
REALDATA = ROOT.parent / "shared" / "realdata"


@pytest.fixture(scope="session", autouse=True)
def _private_cache_folder(tmp_path_factory: pytest.TempPathFactory):
    """The label/header cache of every test run goes to a temporary folder, never the user's
    (platformdirs reads XDG_CACHE_HOME when asked; subprocesses inherit it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``../shared/realdata`` when it exists; the test is skipped otherwise."""
    if not REALDATA.is_dir():
        pytest.skip(f"real datasets not found at {REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return SAMPLE_DATA
