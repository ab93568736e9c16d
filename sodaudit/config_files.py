"""Where configuration comes from: TOML files found next to the dataset or the working folder.

Precedence, lowest first: defaults < ``[tool.sodaudit]`` in ``./pyproject.toml`` <
``./sodaudit.toml`` < the dataset folder's ``sodaudit.toml``; ``--config FILE`` replaces the
search. Command-line options and ``--set`` come on top (:mod:`sodaudit.cli`).
"""

from __future__ import annotations

from pathlib import Path

from sodaudit.config import Config
from sodaudit.errors import ConfigError

CONFIG_FILE = "sodaudit.toml"


def read_toml(path: Path) -> dict[str, object]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"Cannot read config file {path}: {err.strerror or err}.") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"Config file {path} is not valid TOML: {err}.") from None


def discover(dataset: Path | None, cwd: Path, explicit: Path | None = None) -> list[tuple[Path, dict]]:
    """Config documents in precedence order, lowest first.

    With ``--config FILE`` only that file is read. Otherwise: ``[tool.sodaudit]`` in
    ``./pyproject.toml``, then ``./sodaudit.toml``, then ``sodaudit.toml`` in the dataset
    folder (the most specific wins). Command-line options and ``--set`` come on top.
    """
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"Config file {explicit} does not exist.")
        data = read_toml(explicit)
        if explicit.name == "pyproject.toml":
            data = data.get("tool", {}).get("sodaudit", {})
        return [(explicit, data)]
    found: list[tuple[Path, dict]] = []
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        section = read_toml(pyproject).get("tool", {}).get("sodaudit")
        if isinstance(section, dict):
            found.append((pyproject, section))
    candidates = [cwd / CONFIG_FILE]
    if dataset is not None:
        folder = dataset if dataset.is_dir() else dataset.parent
        candidates.append(folder / CONFIG_FILE)
    seen: set[Path] = set()
    for candidate in candidates:
        if candidate.is_file() and candidate.resolve() not in seen:
            seen.add(candidate.resolve())
            found.append((candidate, read_toml(candidate)))
    return found


def load_config(dataset: Path | None, cwd: Path, explicit: Path | None = None) -> tuple[Config, list[Path]]:
    """Defaults overlaid with every discovered config document; also returns the files used."""
    config = Config()
    used = []
    for path, data in discover(dataset, cwd, explicit):
        config = config.with_mapping(data, str(path))
        used.append(path)
    return config, used
