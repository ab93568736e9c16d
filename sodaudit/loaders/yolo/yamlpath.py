"""Where a data.yaml's ``path:`` (the dataset root) points, looked up where Ultralytics looks.

``check_det_dataset`` (ultralytics/data/utils.py) takes ``path`` as written: a relative one is
looked up from the current working directory and, when it does not exist there, under
``datasets_dir`` of Ultralytics' settings (``DATASETS_DIR / path``; releases before 8.1 joined
every relative path to ``datasets_dir``); a missing root then fails on ``val`` ("images not
found"). The settings are ``settings.json`` (``settings.yaml`` in releases before 8.1) in
``$YOLO_CONFIG_DIR`` or the user config folder (ultralytics/utils/__init__.py
``get_user_config_dir``: ``~/.config/Ultralytics`` on Linux, ``~/Library/Application
Support/Ultralytics`` on macOS, ``~/AppData/Roaming/Ultralytics`` on Windows), key
``datasets_dir``. Without a settings file Ultralytics writes its default, ``datasets/`` under
the current folder (``SettingsManager``, outside a git checkout).

sodaudit tries the yaml's folder first (the dataset the user named, wherever sodaudit runs), then
the current folder, then ``datasets_dir``, and says which one it used and where Ultralytics would
look. The settings file is read, never created.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sodaudit.loaders.base import TooLarge, read_limited
from sodaudit.loaders.yolo.textfiles import load_yaml

SETTINGS_NAMES = ("settings.json", "settings.yaml")
_SETTINGS_BYTES = 1 << 20


@dataclass
class RootChoice:
    """The folder a yaml's ``path:`` names, how it was found, and every folder tried."""

    base: Path | None
    how: str = ""
    tried: list[str] = field(default_factory=list)
    ultralytics: Path | None = None  # the folder Ultralytics would use (None: none exists)


def config_dir() -> Path:
    """Ultralytics' settings folder: ``$YOLO_CONFIG_DIR`` or the platform's user config folder."""
    env = os.environ.get("YOLO_CONFIG_DIR")
    if env:
        return Path(env)
    system = platform.system()
    if system == "Windows":
        return Path.home() / "AppData" / "Roaming" / "Ultralytics"
    if system == "Darwin":
        return Path.home() / "Library" / "Application Support" / "Ultralytics"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "Ultralytics"


def datasets_dir(folder: Path | None = None) -> tuple[Path, str]:
    """Ultralytics' ``datasets_dir`` and where it comes from (its settings file, or the default)."""
    folder = config_dir() if folder is None else folder
    for name in SETTINGS_NAMES:
        settings = folder / name
        try:
            if not settings.is_file():
                continue
            text = read_limited(settings, _SETTINGS_BYTES / (1 << 20), "1 MB").decode("utf-8", "replace")
            data = json.loads(text) if name.endswith(".json") else load_yaml(text)
        except (OSError, TooLarge, ValueError, yaml.YAMLError, RecursionError):
            continue
        value = data.get("datasets_dir") if isinstance(data, dict) else None
        if isinstance(value, str) and value.strip():
            return Path(value).expanduser(), f"datasets_dir of {settings}"
    return Path.cwd() / "datasets", "Ultralytics' default datasets_dir (no settings file)"


def resolve_root(given: str, yaml_dir: Path, settings_dir: Path | None = None) -> RootChoice:
    """The folder ``path: given`` names: the yaml's folder, the current folder, then
    ``datasets_dir`` for a relative path; the path itself when absolute."""
    path = Path(given.strip()).expanduser()
    if path.is_absolute():
        found = path if path.is_dir() else None
        return RootChoice(found, "an absolute path", [str(path)], found)
    cwd = Path.cwd()
    data_root, data_how = datasets_dir(settings_dir)
    tries = [
        (yaml_dir / path, "the yaml's folder"),
        (cwd / path, "the current folder"),
        (data_root / path, data_how),
    ]
    tried: list[str] = []
    for candidate, _ in tries:
        shown = os.path.normpath(candidate)
        if shown not in tried:
            tried.append(shown)
    existing = [(Path(os.path.normpath(c)), how) for c, how in tries if c.is_dir()]
    ultralytics = next((c for c, how in existing if how != "the yaml's folder"), None)
    if not existing:
        return RootChoice(None, "", tried, None)
    base, how = existing[0]
    return RootChoice(base, how, tried, ultralytics)


def root_note(yaml_rel: str, given: str, choice: RootChoice) -> str:
    """One sentence: which folder ``path:`` was read from, and where Ultralytics would look."""
    text = f"{yaml_rel}: path {given!r} resolved from {choice.how}: {choice.base}"
    if choice.ultralytics is None:
        return text + (
            "; Ultralytics looks for it from the current folder, then datasets_dir, and finds it in "
            "neither (it stops: 'images not found')."
        )
    if os.path.realpath(choice.ultralytics) != os.path.realpath(str(choice.base)):
        return text + f"; Ultralytics, run from here, would use {choice.ultralytics} instead."
    return text + "."
