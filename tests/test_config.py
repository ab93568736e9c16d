"""Config overrides are type-checked, unknown keys fail naming the key, and `sodaudit config`
prints every threshold as TOML that reads back to the same values."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from sodaudit.config import Config
from sodaudit.errors import ConfigError


@pytest.mark.parametrize(
    ("assignment", "getter", "expected"),
    [
        ("imgsz=1024", lambda c: c.imgsz, 1024),
        ("model=yolov5", lambda c: c.model, "yolov5"),
        ("subthreshold.min_side_model_px=4", lambda c: c.subthreshold.min_side_model_px, 4.0),
        ("subthreshold.min_area_share=0.001", lambda c: c.subthreshold.min_area_share, 0.001),
        ("subthreshold.min_area_share=null", lambda c: c.subthreshold.min_area_share, None),
        ("sizes.quantiles=[50, 90]", lambda c: c.sizes.quantiles, (50.0, 90.0)),
        ('sizes.max_det_caps=[["X", 5]]', lambda c: c.sizes.max_det_caps, (("X", 5),)),
        ("deep=true", lambda c: c.deep, True),
    ],
)
def test_overrides_are_parsed_and_typed(assignment, getter, expected):
    assert getter(Config().with_overrides([assignment])) == expected


@pytest.mark.parametrize(
    ("assignment", "needle"),
    [
        ("imgsz=big", "'imgsz' expects int"),
        ("nope=1", "Unknown config key 'nope'"),
        ("sizes.nope=1", "Unknown config key 'sizes.nope'"),
        ("sizes=1", "is a section"),
        ("sizes.heatmap_bins=1.5", "'sizes.heatmap_bins' expects int"),
        ("deep=1", "'deep' expects bool"),
        ("model=resnet", "Unknown model 'resnet'"),
        ("imgsz", "Expected key=value"),
    ],
)
def test_bad_overrides_name_the_key(assignment, needle):
    with pytest.raises(ConfigError, match=needle):
        Config().with_overrides([assignment])


def test_config_command_prints_toml_that_reads_back():
    tomllib = pytest.importorskip("tomllib")
    proc = subprocess.run(
        [sys.executable, "-m", "sodaudit", "config", "--set", "anchors.num_anchors=12"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = tomllib.loads(proc.stdout)
    assert data["imgsz"] == 640
    assert data["anchors"]["num_anchors"] == 12
    assert data["subthreshold"]["min_side_model_px"] == 3.0
    assert "min_area_share" not in data["subthreshold"]  # unset: a comment
    assert "# min_area_share = (not set)" in proc.stdout
    rebuilt = Config().with_overrides(
        f"{section}.{key}={json.dumps(value)}"  # TOML values: true/false, "text", [lists]
        for section, table in data.items()
        if isinstance(table, dict)
        for key, value in table.items()
    )
    assert rebuilt.anchors.num_anchors == 12
    assert rebuilt.sizes == Config().sizes


def test_bad_set_on_the_command_line_exits_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sodaudit", "run", str(tmp_path), "--set", "imgsz=x"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "sodaudit: error: Config key 'imgsz' expects int, got 'x'."


def test_every_config_key_is_documented_for_init():
    """`sodaudit init` writes each key with its documentation: none may be missing."""
    from dataclasses import fields, is_dataclass

    from sodaudit.config import field_docs

    docs, config = field_docs(), Config()
    keys = []
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            keys += [f"{f.name}.{g.name}" for g in fields(value)]
        elif f.name != "rules":
            keys.append(f.name)
    assert [k for k in keys if k not in docs] == []
    text = config.to_toml(comments=True)
    assert "# Model input size: images are letterboxed" in text


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("subthreshold.min_side_model_pxx", "subthreshold.min_side_model_px"),
        ("subthreshhold.min_side_model_px", "subthreshold.min_side_model_px"),  # the section mistyped
        ("min_side_model_px", "subthreshold.min_side_model_px"),  # the section left out
        ("imgsize", "imgsz"),
        ("sizes.heatmap_bin", "sizes.heatmap_bins"),
    ],
)
def test_a_mistyped_key_suggests_the_real_one(key, suggestion):
    with pytest.raises(ConfigError) as err:
        Config().with_overrides([f"{key}=3"])
    assert str(err.value) == f"Unknown config key {key!r} (did you mean {suggestion!r}?)."


@pytest.mark.parametrize("key", ["nope", "sizes.nope", "a.b.c"])
def test_a_key_like_no_other_suggests_nothing(key):
    """No far-fetched guess: 'sizes.nope' is not 'sizes.quantiles' with a typo."""
    with pytest.raises(ConfigError) as err:
        Config().with_overrides([f"{key}=3"])
    assert "did you mean" not in str(err.value)
    assert str(err.value) == f"Unknown config key {key!r} (`sodaudit config` lists every key)."


def test_a_mistyped_key_in_a_config_file_names_the_file_and_the_real_key():
    with pytest.raises(ConfigError) as err:
        Config().with_mapping({"anchors": {"num_anchor": 9}}, "x/sodaudit.toml")
    assert str(err.value) == (
        "Unknown config key 'anchors.num_anchor' (did you mean 'anchors.num_anchors'?) in x/sodaudit.toml."
    )


def test_config_command_explains_every_key_and_stays_valid_toml(tmp_path):
    """`sodaudit config > sodaudit.toml` is a config file: every key after a comment saying what it
    means, and the values read back with tomllib are the defaults (unset keys stay comments)."""
    from dataclasses import fields, is_dataclass

    tomllib = pytest.importorskip("tomllib")
    proc = subprocess.run(
        [sys.executable, "-m", "sodaudit", "config"], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    data = tomllib.loads(proc.stdout)
    defaults, expected = Config(), {}
    for f in fields(defaults):
        value = getattr(defaults, f.name)
        if is_dataclass(value):
            table = {g.name: getattr(value, g.name) for g in fields(value)}
            expected[f.name] = {k: v for k, v in table.items() if v is not None}
        elif f.name != "rules" and value is not None:  # unset top-level keys (scheduler) too
            expected[f.name] = value
    assert data == json.loads(json.dumps(expected))  # tuples as TOML arrays: lists
    lines = proc.stdout.splitlines()
    keys = [i for i, line in enumerate(lines) if " = " in line and not line.startswith("#")]
    unset = [i for i, line in enumerate(lines) if line.endswith(" = (not set)")]
    assert len(keys) + len(unset) == sum(
        len(fields(v)) if is_dataclass(v) else f.name != "rules"
        for f in fields(defaults)
        for v in [getattr(defaults, f.name)]
    )
    setting = re.compile(r"^#? ?[a-z_][a-z0-9_]* = ")
    for i in keys + unset:  # the lines above each key are its meaning, in words, not another key
        start = i
        while start > 0 and lines[start - 1].startswith("# ") and not setting.match(lines[start - 1]):
            start -= 1
        assert len(" ".join(lines[start:i])) > 30, lines[i]
    assert lines[lines.index("min_side_model_px = 3.0") - 1] == (
        "# 3 px at imgsz matches the well-known YOLOv5 warning ``N of M labels are < 3 pixels``."
    )
    assert lines[lines.index("imgsz = 640") - 1] == (
        "# Model input size: images are letterboxed so their long side is imgsz."
    )
