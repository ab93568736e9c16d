"""Config files: discovery, precedence (defaults < pyproject < ./sodaudit.toml < dataset's
sodaudit.toml; --config replaces discovery), unknown keys naming file and key, and rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from sodaudit.config_files import load_config
from sodaudit.errors import ConfigError
from sodaudit.findings import Finding, Rule, Severity, apply_rules


@pytest.fixture()
def layout(tmp_path: Path) -> tuple[Path, Path]:
    cwd = tmp_path / "repo"
    dataset = cwd / "data"
    dataset.mkdir(parents=True)
    return cwd, dataset


def test_defaults_when_no_file(layout):
    cwd, dataset = layout
    config, used = load_config(dataset, cwd)
    assert used == [] and config.imgsz == 640


def test_precedence_most_specific_wins(layout):
    cwd, dataset = layout
    (cwd / "pyproject.toml").write_text(
        "[tool.sodaudit]\nimgsz = 800\nmodel = 'yolov5'\n[tool.sodaudit.sizes]\nheatmap_bins = 8\n"
    )
    (cwd / "sodaudit.toml").write_text("imgsz = 1024\n[subthreshold]\nmin_side_model_px = 4\n")
    (dataset / "sodaudit.toml").write_text("imgsz = 1280\n")
    config, used = load_config(dataset, cwd)
    assert used == [cwd / "pyproject.toml", cwd / "sodaudit.toml", dataset / "sodaudit.toml"]
    assert config.imgsz == 1280  # dataset file over ./sodaudit.toml over pyproject
    assert config.model == "yolov5"  # only pyproject sets it
    assert config.sizes.heatmap_bins == 8
    assert config.subthreshold.min_side_model_px == 4.0
    # --set comes last of all
    assert config.with_overrides(["imgsz=320"]).imgsz == 320


def test_explicit_config_replaces_discovery(layout):
    cwd, dataset = layout
    (cwd / "sodaudit.toml").write_text("imgsz = 1024\n")
    explicit = cwd / "ci.toml"
    explicit.write_text("fail_on = 'warning'\n")
    config, used = load_config(dataset, cwd, explicit)
    assert used == [explicit]
    assert config.imgsz == 640 and config.fail_on == "warning"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("imgsz = 'big'\n", "'imgsz' expects int"),
        ("colour = 1\n", "Unknown config key 'colour'"),
        ("[sizes]\nbins = 3\n", "Unknown config key 'sizes.bins'"),
        ("imgsz = \n", "not valid TOML"),
        ("[rules.'a.b']\nseverity = 'fatal'\n", "rules.a.b.severity"),
        ("[rules.'a.b']\nlevel = 'error'\n", "must be a table with severity"),
    ],
)
def test_bad_files_name_file_and_key(layout, text, needle):
    cwd, dataset = layout
    (dataset / "sodaudit.toml").write_text(text)
    with pytest.raises(ConfigError, match=needle) as err:
        load_config(dataset, cwd)
    assert "sodaudit.toml" in str(err.value)


def test_rules_from_file(layout):
    cwd, dataset = layout
    (dataset / "sodaudit.toml").write_text(
        "[rules.'subthreshold.below_min_model']\nseverity = 'error'\nthreshold = 0.02\n"
        "[rules.'sizes.mostly_small']\nseverity = 'off'\n"
    )
    config, _ = load_config(dataset, cwd)
    assert config.rules == {
        "subthreshold.below_min_model": Rule("error", 0.02),
        "sizes.mostly_small": Rule("off"),
    }


def _finding(code: str, value: float, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(code, severity, "m", "a", value=value)


def test_apply_rules_thresholds_and_off():
    rules = {"s.share": Rule("error", 0.02), "s.off": Rule("off"), "s.sev": Rule("info")}
    out = apply_rules(
        [
            _finding("s.share", 0.03),
            _finding("s.share", 0.02),
            _finding("s.off", 1.0),
            _finding("s.sev", 5.0),
            _finding("other", 1.0),
        ],
        rules,
    )
    # 3% > 2% -> error; exactly 2% is not above the threshold -> a note
    assert [(f.code, f.severity.value, f.threshold) for f in out] == [
        ("s.share", "error", 0.02),
        ("s.share", "info", 0.02),
        ("s.sev", "info", None),
        ("other", "warning", None),
    ]
