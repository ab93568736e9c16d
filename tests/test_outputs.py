"""report.json against its published schema, the CSV tables, --export-boxes, the Markdown
summary and the terminal summary."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from sodaudit.pipeline import audit
from sodaudit.render.json import schema, schema_path, to_json
from sodaudit.render.markdown import md_escape, to_markdown
from sodaudit.report import SCHEMA_VERSION


def validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema())
    return jsonschema.Draft202012Validator(schema())


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("SODAUDIT_DEBUG", "GITHUB_STEP_SUMMARY")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "sodaudit", *args], capture_output=True, text=True, env=full)


def test_schema_is_shipped_and_matches_the_version():
    assert schema_path().is_file()
    major = SCHEMA_VERSION.split(".")[0]
    assert schema()["$id"].endswith(f":{major}.0")
    assert schema()["properties"]["schema_version"]["pattern"].startswith(f"^{major}")


def test_shipped_schema_is_generated_from_the_stats_types():
    """The analyzers' part of the schema follows their typed stats (``python -m
    sodaudit.render.schema`` regenerates the file after a change)."""
    from sodaudit.analyzers import ANALYZERS
    from sodaudit.render.schema import current_schema

    assert schema() == current_schema()
    stats = schema()["properties"]["analyzers"]["properties"]
    assert list(stats) == list(ANALYZERS)
    for name in ANALYZERS:
        ref = stats[name]["properties"]["stats"]
        assert ref.get("$ref", "").removeprefix("#/$defs/") in schema()["$defs"], name


def test_the_schema_rejects_a_report_with_a_stable_key_of_the_wrong_type(sample_data: Path):
    text = to_json(audit(sample_data / "yolo"))
    validator().validate(json.loads(text))
    wrong_type = json.loads(text)
    wrong_type["analyzers"]["sizes"]["stats"]["buckets"]["coco"]["small"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(wrong_type)
    missing = json.loads(text)
    del missing["analyzers"]["subthreshold"]["stats"]["below_3px_at_imgsz"]
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(missing)


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc"])
def test_sample_reports_validate(sample_data: Path, fmt: str):
    data = json.loads(to_json(audit(sample_data / fmt)))
    validator().validate(data)
    assert data["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("coco_mini", "coco_mini/annotations/instances_val2017.json"),
        ("ships_yolo", "ships_yolo"),
        ("bccd_voc", "bccd_voc"),
    ],
)
def test_real_reports_validate(realdata: Path, name: str, path: str):
    data = json.loads(to_json(audit(realdata / path)))
    validator().validate(data)


def test_schema_rejects_a_renamed_stable_key(sample_data: Path):
    data = json.loads(to_json(audit(sample_data / "yolo")))
    data["analyzers"]["subthreshold"]["stats"]["below_3px"] = data["analyzers"]["subthreshold"]["stats"].pop(
        "below_3px_at_imgsz"
    )
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(data)


def test_cli_writes_tables_boxes_and_markdown(sample_data: Path, tmp_path: Path):
    out = tmp_path / "out"
    step_summary = tmp_path / "step.md"
    step_summary.write_text("earlier step\n")
    proc = run_cli(
        "run", str(sample_data / "yolo"), "--out", str(out), "--markdown", str(tmp_path / "s.md"),
        "--export-boxes", str(tmp_path / "boxes.csv"), env={"GITHUB_STEP_SUMMARY": str(step_summary)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stderr == "", "no progress output when stderr is not a terminal"
    # every per-label table as CSV, complete
    label_file = out / "tables" / "subthreshold.labels.csv"
    rows = list(csv.DictReader(label_file.open()))
    report = json.loads((out / "report.json").read_text())
    below_any = report["analyzers"]["subthreshold"]["stats"]["union"]["count"]
    assert len(rows) == below_any
    assert {"image", "class_name", "w", "h", "source"} <= set(rows[0])
    assert (out / "tables" / "integrity.load_issues.csv").is_file()
    # the canonical box table: one row per label row of a label file that has its image
    yolo = sample_data / "yolo"
    label_rows = 0
    for label_file in yolo.rglob("labels/*.txt"):
        image = (yolo / str(label_file.relative_to(yolo)).replace("labels", "images")).with_suffix(".jpg")
        if image.exists():
            label_rows += sum(1 for line in label_file.read_text().splitlines() if line.strip())
    boxes = list(csv.DictReader((tmp_path / "boxes.csv").open()))
    assert len(boxes) == label_rows == report["dataset"]["num_boxes"]
    assert {"file_name", "class_name", "x", "y", "w", "h", "source", "w_model"} <= set(boxes[0])
    # markdown: the file and GitHub's job summary (appended, not replaced)
    md = (tmp_path / "s.md").read_text()
    assert md.startswith("## sodaudit: gate")
    assert step_summary.read_text().startswith("earlier step\n## sodaudit: gate")
    assert "report.html" in md
    # terminal summary names the report and the gate
    assert "gate (fail on error)" in proc.stdout and str(out / "report.html") in proc.stdout


def test_parquet_without_pyarrow_fails_before_the_audit(sample_data: Path, tmp_path: Path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        proc = run_cli(
            "run",
            str(sample_data / "yolo"),
            "--out",
            str(tmp_path / "o"),
            "--export-boxes",
            str(tmp_path / "b.parquet"),
        )
        assert proc.returncode == 2 and "pyarrow" in proc.stderr
        assert not (tmp_path / "o").exists()
    else:
        proc = run_cli(
            "run",
            str(sample_data / "yolo"),
            "--out",
            str(tmp_path / "o"),
            "--export-boxes",
            str(tmp_path / "b.parquet"),
        )
        import pandas as pd

        assert (
            len(pd.read_parquet(tmp_path / "b.parquet"))
            == json.loads((tmp_path / "o" / "report.json").read_text())["dataset"]["num_boxes"]
        )


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<script>", "\\<script\\>"),
        ("a|b", "a\\|b"),
        ("x_y*z", "x\\_y\\*z"),
        ("[link](http://x)", "\\[link\\](http://x)"),
        ("a & b", "a &amp; b"),
        ("two\nlines", "two lines"),
    ],
)
def test_markdown_escape(raw: str, escaped: str):
    assert md_escape(raw) == escaped


def test_markdown_summary_content(sample_data: Path):
    rec = {"kind": "tiling", "summary": "Tile <b>640</b> | now", "params": {}, "evidence": {}, "effect": {}}
    report = replace(audit(sample_data / "yolo"), recommendations=(rec,))
    md = to_markdown(report)
    below = report.analyzers["subthreshold"].stats.below_3px_at_imgsz
    assert f"{below:,} labels < 3 px at imgsz 640" in md
    assert "1. **tiling**: Tile \\<b\\>640\\</b\\> \\| now" in md
    assert md.count("\n| warning |") + md.count("\n| error |") + md.count("\n| info |") == min(
        len(report.findings), 25
    )


def test_terminal_summary_lists_recommendations(sample_data: Path):
    from sodaudit.render.terminal import summary

    rec = {"kind": "resolution", "summary": "Train at 1280", "params": {}, "evidence": {}, "effect": {}}
    full = audit(sample_data / "yolo")
    report = replace(full, recommendations=(rec,), plan=None)
    text = summary(report, [Path("out/report.html")])
    assert "what to change:\n    1. resolution: Train at 1280" in text
    assert text.rstrip().endswith("wrote out/report.html")
    # With the plan: the verdict states it, above the findings (1920 px images: imgsz 1280 at 4x).
    text = summary(replace(full, recommendations=(rec,)), [Path("out/report.html")])
    verdict = text.index("Plan: train and infer at imgsz 1280 (4.0x compute)")
    assert verdict < text.index("findings:") < text.index("what to change:\n    1. resolution")


class FakeTTY:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass


def test_progress_only_on_a_tty():
    import io
    import time

    from sodaudit.render.terminal import Progress

    tty = FakeTTY()
    with Progress("loading", stream=tty, delay=0.0, interval=0.01) as p:
        time.sleep(0.05)
        p.step("writing")
        time.sleep(0.05)
    out = "".join(tty.parts)
    assert "sodaudit: loading" in out and "sodaudit: writing" in out
    assert out.endswith("\r\033[K"), "the line is cleared at the end"
    pipe = io.StringIO()
    with Progress("loading", stream=pipe, delay=0.0, interval=0.01):
        time.sleep(0.03)
    assert pipe.getvalue() == ""


def test_loaders_report_file_loops_to_the_progress_bar(sample_data):
    """Every long file loop reports done/total; the final call of each says all are done."""
    from sodaudit.loaders import load

    for fmt, what, expected in [
        ("yolo", "reading label files", len(list((sample_data / "yolo").glob("*/labels/*.txt")))),
        ("yolo", "reading image headers", len(list((sample_data / "yolo").glob("*/images/*.jpg")))),
        ("voc", "reading XML files", len(list((sample_data / "voc" / "Annotations").glob("*.xml")))),
        ("coco", "reading annotation files", 2),
    ]:
        calls = []
        load(sample_data / fmt, progress=lambda w, d, t, calls=calls: calls.append((w, d, t)))
        mine = [(d, t) for w, d, t in calls if w == what]
        assert mine and mine[-1] == (expected, expected), (fmt, what, mine[-3:])
        assert all(d <= t for d, t in mine)


def test_progress_draws_a_bar_when_a_count_is_known():
    import io
    import time

    from sodaudit.render.terminal import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    with Progress("auditing", stream=stream, delay=0.0, interval=0.01) as progress:
        progress("reading label files", 50, 100)
        time.sleep(0.1)
    assert "[############------------] 50/100 reading label files" in stream.getvalue()
