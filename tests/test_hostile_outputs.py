"""Outputs under hostile conditions: a full disk or a signal while writing, names that are not
valid Unicode, CSV cells a spreadsheet would run, and user errors about where to write.

Every output folder is replaced as a set (render.outset): the previous report survives any
failed or interrupted run, byte for byte, and no staging folder is left behind.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from sodaudit.cli import main
from sodaudit.config import MIN_IMGSZ
from sodaudit.render.files import json_visible, visible
from sodaudit.render.tables import csv_text, neutralise

BOXES = "0 0.5 0.5 0.2 0.3\n1 0.25 0.25 0.01 0.01\n1 0.7 0.7 0.05 0.04\n"


def yolo(root: Path, names: list[str] | None = None, files: tuple[str, ...] = ("a", "b")) -> Path:
    """A tiny YOLO dataset: images/<f>.png (64 x 48) and labels/<f>.txt, names from data.yaml."""
    for name in files:
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 48)).save(root / "images" / f"{name}.png")
        (root / "labels" / f"{name}.txt").write_text(BOXES)
    if names is not None:
        doc = {"path": ".", "train": "images", "val": "images", "names": names}
        (root / "data.yaml").write_text(json.dumps(doc, ensure_ascii=True))  # JSON is YAML
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file and folder under root (hidden ones too), with the bytes of the files."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(root.rglob("*"))
    }


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith((".sodaudit-", ".report.", ".tmp"))]


def strings(node: object) -> list[str]:
    """Every string of a JSON document, keys included."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (k, *strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return yolo(tmp_path / "data", ["car", "person"])


def run(*args: str) -> int:
    return main(["run", *args, "--fail-on", "never"])


# --------------------------------------------------------------------------- outputs as a set


def test_a_write_failing_midway_leaves_the_previous_report(data: Path, tmp_path: Path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert run(str(data), "--out", str(out)) == 0
    before = snapshot(out)
    assert {"report.json", "report.html", "tables"} <= set(before)
    import sodaudit.render.html as html

    real = html.write_html

    def full_disk(report, path):
        real(report, path)  # the page is written, then the disk fills up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(html, "write_html", full_disk)
    capsys.readouterr()
    assert run(str(data), "--out", str(out), "--set", "imgsz=1280") == 2
    line = one_sentence(capsys.readouterr().err)
    assert "No space left on device" in line and str(out) in line and "unchanged" in line
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


def test_a_failed_first_run_leaves_no_folder(data: Path, tmp_path: Path, monkeypatch, capsys):
    import sodaudit.render.json as rjson

    def boom(report, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rjson, "write_json", boom)
    assert run(str(data), "--out", str(tmp_path / "new" / "out")) == 2
    one_sentence(capsys.readouterr().err)
    assert not (tmp_path / "new").exists()


def test_a_failing_swap_is_rolled_back(data: Path, tmp_path: Path, monkeypatch, capsys):
    """The second rename of a new entry fails: the old entries already moved go back."""
    import sodaudit.render.outset as outset

    out = tmp_path / "out"
    assert run(str(data), "--out", str(out)) == 0
    before = snapshot(out)
    before_names = list(out.iterdir())  # each old entry is moved away, then the new ones in
    real, calls = os.rename, []

    def flaky(src, dst):
        calls.append(src)
        if Path(src).parent.name.startswith(outset.STAGING_PREFIX) and len(calls) == len(before_names) + 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))  # the second new entry
        real(src, dst)

    monkeypatch.setattr(outset.os, "rename", flaky)
    assert run(str(data), "--out", str(out), "--set", "imgsz=1280") == 2
    assert "Input/output error" in one_sentence(capsys.readouterr().err)
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


def test_stale_tables_go_and_files_of_the_user_stay(data: Path, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run(str(data), "--out", str(out)) == 0
    (out / "tables" / "oldanalyzer.gone.csv").write_text("a\n1\n")
    (out / "emit").mkdir()  # an earlier run's --emit: this run does not emit
    (out / "emit" / "train.sh").write_text("old plan")
    assert run(str(data), "--out", str(out)) == 0
    assert not (out / "tables" / "oldanalyzer.gone.csv").exists()
    assert not (out / "emit").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.html", "report.json", "tables"]


DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import sodaudit.render.html as html
    from sodaudit.cli import main

    real = html.write_html

    def slow(report, path):
        written = real(report, path)
        Path(sys.argv[1]).write_text("writing")
        time.sleep(60)
        return written

    html.write_html = slow
    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_writing_leaves_the_previous_report(data: Path, tmp_path: Path, signum: int):
    out = tmp_path / "out"
    assert run(str(data), "--out", str(out)) == 0
    before = snapshot(out)
    marker = tmp_path / "marker"
    env = {k: v for k, v in os.environ.items() if k not in ("SODAUDIT_DEBUG", "GITHUB_STEP_SUMMARY")}
    args = ["run", str(data), "--out", str(out), "--set", "imgsz=1280", "--junit", str(tmp_path / "j.xml")]
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(marker), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the driver never reached the write phase"
            time.sleep(0.05)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert one_sentence(stderr).startswith("sodaudit: aborted")
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "j.xml").exists()


def test_emit_names_its_final_place(sample_data: Path, tmp_path: Path):
    """--emit is written while staged; the paths it names are those after the swap."""
    out = tmp_path / "out"
    assert run(str(sample_data / "yolo"), "--out", str(out), "--emit", "ultralytics") == 0
    for path in (out / "emit").rglob("*"):
        if path.is_file():
            assert ".sodaudit-" not in path.read_text(), path
    assert os.access(out / "emit" / "ultralytics" / "train.sh", os.X_OK)


# --------------------------------------------------------------------------- not valid Unicode


def test_visible_escapes():
    assert visible(os.fsdecode(b"caf\xe9.png")) == "caf\\xe9.png"
    assert visible("x\ud800y") == "x\\ud800y"
    assert visible("plain é") == "plain é"
    text = json_visible(json.dumps({"k\udce9": "a\ud800"}, ensure_ascii=False))
    assert json.loads(text) == {"k\\xe9": "a\\ud800"}


def test_a_file_name_that_is_not_utf8(tmp_path: Path, capsys):
    name = os.fsdecode(b"caf\xe9")
    data = yolo(tmp_path / "data", ["car", "person"], files=(name, "b"))
    out = tmp_path / "out"
    md, junit, boxes = tmp_path / "s.md", tmp_path / "j.xml", tmp_path / "boxes.csv"
    argv = ["--out", str(out), "--markdown", str(md), "--junit", str(junit), "--export-boxes", str(boxes)]
    assert run(str(data), *argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    raw = (out / "report.json").read_bytes()
    raw.decode("utf-8")  # strict: valid UTF-8
    report = json.loads(raw)
    assert any("caf\\xe9" in text for text in strings(report))  # the escape, as text
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "caf\\xe9" in html
    box_rows = list(csv.DictReader(boxes.open(encoding="utf-8")))
    assert "images/caf\\xe9.png" in {r["file_name"] for r in box_rows}
    for table in (out / "tables").glob("*.csv"):
        table.read_text(encoding="utf-8")
    md.read_text(encoding="utf-8")
    junit.read_text(encoding="utf-8")
    captured.out.encode("utf-8")


def test_a_coco_category_name_with_a_lone_surrogate(tmp_path: Path, capsys):
    data = tmp_path / "coco"
    data.mkdir()
    Image.new("RGB", (64, 48)).save(data / "a.png")
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0}
        ],
        "categories": [{"id": 1, "name": "x\ud800y"}],
    }
    (data / "instances.json").write_text(json.dumps(doc, ensure_ascii=True))
    assert "\\ud800" in (data / "instances.json").read_text()
    code = run(str(data / "instances.json"), "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_bytes().decode("utf-8"))
    assert "x\\ud800y" in strings(report)
    assert "x\\ud800y" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- CSV formula injection


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-3", "-3"),
        ("-1.5e3", "-1.5e3"),
        ("car", "car"),
        (-3, -3),
        (-0.5, -0.5),
    ],
)
def test_neutralise(cell: object, written: object):
    assert neutralise(cell) == written


def test_csv_numbers_stay_numbers():
    import pandas as pd

    text = csv_text(pd.DataFrame({"name": ["=1+1", "ok"], "dx": [-2.5, 3], "n": [-1, 2]}))
    assert text == "name,dx,n\n'=1+1,-2.5,-1\nok,3.0,2\n"


def test_dataset_strings_in_csv_tables_are_neutralised(tmp_path: Path):
    names = ['=HYPERLINK("http://x","y")', "@SUM(A1)"]
    data = yolo(tmp_path / "data", names)
    out, boxes = tmp_path / "out", tmp_path / "boxes.csv"
    assert run(str(data), "--out", str(out), "--export-boxes", str(boxes)) == 0
    rows = list(csv.DictReader(boxes.open()))
    assert {r["class_name"] for r in rows} == {"'" + n for n in names}
    cells = [c for t in (out / "tables").glob("*.csv") for row in csv.reader(t.open()) for c in row]
    assert any(c.startswith("'@SUM") for c in cells)
    assert not any(c.startswith(("=", "@", "+")) for c in cells)
    assert all(float(c) <= 0 for c in cells if c.startswith("-")), "negative numbers stay numbers"


# --------------------------------------------------------------------------- user errors: exit 2


@pytest.fixture
def no_audit(monkeypatch):
    """The errors below must be found before the audit starts."""
    import sodaudit.pipeline

    def audit(*args, **kwargs):
        raise AssertionError("the audit ran before the usage error was found")

    monkeypatch.setattr(sodaudit.pipeline, "audit", audit)


def test_out_under_a_regular_file(data: Path, tmp_path: Path, no_audit, capsys):
    (tmp_path / "afile").write_text("x")
    assert run(str(data), "--out", str(tmp_path / "afile" / "out")) == 2
    line = one_sentence(capsys.readouterr().err)
    assert "--out" in line and "afile" in line and "not a folder" in line


def test_out_is_a_file(data: Path, tmp_path: Path, no_audit, capsys):
    (tmp_path / "afile").write_text("x")
    assert run(str(data), "--out", str(tmp_path / "afile")) == 2
    assert "is a file, not a folder" in one_sentence(capsys.readouterr().err)


def test_out_inside_the_dataset(data: Path, tmp_path: Path, no_audit, capsys):
    assert run(str(data), "--out", str(data / "report")) == 2
    line = one_sentence(capsys.readouterr().err)
    assert "inside the dataset" in line and "--out" in line
    assert not (data / "report").exists()


def test_out_inside_the_dataset_of_a_coco_file(sample_data: Path, tmp_path: Path, no_audit, capsys):
    """A COCO JSON's dataset is its image root, found before the audit."""
    import shutil

    shutil.copytree(sample_data / "coco", tmp_path / "coco")
    ann = next((tmp_path / "coco" / "annotations").glob("*.json"))
    assert run(str(ann), "--out", str(tmp_path / "coco" / "report")) == 2
    assert "inside the dataset" in one_sentence(capsys.readouterr().err)


def test_out_not_writable(data: Path, tmp_path: Path, no_audit, capsys, monkeypatch):
    import sodaudit.render.outset as outset

    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root may write anywhere: pretend the permission is missing
        monkeypatch.setattr(outset.os, "access", lambda path, mode: Path(path) != locked)
    else:
        locked.chmod(0o500)
    try:
        assert run(str(data), "--out", str(locked / "out")) == 2
    finally:
        locked.chmod(0o700)
    assert "no permission to write in" in one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize("flag", ["--junit", "--markdown", "--export-boxes"])
def test_a_file_flag_under_a_regular_file(data: Path, tmp_path: Path, no_audit, capsys, flag: str):
    (tmp_path / "afile").write_text("x")
    argv = [str(data), "--out", str(tmp_path / "out"), flag, str(tmp_path / "afile" / "x.out")]
    assert run(*argv) == 2
    line = one_sentence(capsys.readouterr().err)
    assert flag in line and "not a folder" in line


def test_a_file_flag_inside_the_replaced_tables(data: Path, tmp_path: Path, no_audit, capsys):
    out = tmp_path / "out"
    assert run(str(data), "--out", str(out), "--junit", str(out / "tables" / "j.xml")) == 2
    assert "each run replaces" in one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('imgsz = "big"\n', "imgsz"),
        ("[sizes]\nquantiles = 3\n", "sizes.quantiles"),
        ("imgsz = [1,\n", "not valid TOML"),
        (b"\xff\xfe imgsz = 1\n", "not UTF-8"),
    ],
)
def test_bad_config_files(data: Path, tmp_path: Path, no_audit, capsys, toml, needle: str):
    config = tmp_path / "bad.toml"
    config.write_bytes(toml if isinstance(toml, bytes) else toml.encode())
    assert run(str(data), "--out", str(tmp_path / "out"), "--config", str(config)) == 2
    assert needle in one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize("assignment", ["sizes.quantiles=abc", "imgsz=abc", "nokey"])
def test_bad_set_values(data: Path, tmp_path: Path, no_audit, capsys, assignment: str):
    assert run(str(data), "--out", str(tmp_path / "out"), "--set", assignment) == 2
    one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"not json", "not a JSON report"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "not a sodaudit report.json"),
        (b'{"schema_version": "1", "dataset": {"num_boxes": "x", "num_valid_boxes": 1}}', "wrong layout"),
        (
            b'{"schema_version": "1", "dataset": {}, '
            b'"analyzers": {"integrity": {"stats": {"load_issues": [1]}}}}',
            "layout",
        ),
        (
            b'{"schema_version": "1", "dataset": {}, '
            b'"analyzers": {"anchors": {"stats": {"presets": {"yolov5": {"bpr": "hi"}}}}}}',
            "best possible recall",
        ),
    ],
)
def test_bad_baselines(data: Path, tmp_path: Path, no_audit, capsys, content: bytes, needle: str):
    baseline = tmp_path / "baseline.json"
    baseline.write_bytes(content)
    assert run(str(data), "--out", str(tmp_path / "out"), "--baseline", str(baseline)) == 2
    assert needle in one_sentence(capsys.readouterr().err)


# --------------------------------------------------------------------------- --imgsz


@pytest.mark.parametrize("argv", [["--imgsz", str(MIN_IMGSZ - 1)], ["--imgsz", "1"], ["--set", "imgsz=16"]])
def test_imgsz_below_the_largest_stride(data: Path, tmp_path: Path, no_audit, capsys, argv: list[str]):
    assert run(str(data), "--out", str(tmp_path / "out"), *argv) == 2
    line = one_sentence(capsys.readouterr().err)
    assert "imgsz" in line and str(MIN_IMGSZ) in line


def test_imgsz_at_the_bound_runs(data: Path, tmp_path: Path):
    assert run(str(data), "--out", str(tmp_path / "out"), "--imgsz", str(MIN_IMGSZ)) == 0
    assert json.loads((tmp_path / "out" / "report.json").read_text())["config"]["imgsz"] == MIN_IMGSZ


def test_anchors_imgsz_bound(data: Path, capsys):
    assert main(["anchors", str(data), "--imgsz", "8"]) == 2
    assert str(MIN_IMGSZ) in one_sentence(capsys.readouterr().err)


# --------------------------------------------------------------------------- sodaudit diff


def test_diff_outputs_are_replaced_as_a_set(tmp_path: Path, capsys):
    old = yolo(tmp_path / "old", ["car", "person"])
    new = yolo(tmp_path / "new", ["car", "person"], files=("a", "b", "c"))
    out = tmp_path / "out"
    assert main(["diff", str(old), str(new), "--out", str(out), "--fail-on", "never"]) == 0
    (out / "tables" / "diff.gone.csv").write_text("a\n")
    (out / "mine.txt").write_text("mine")
    assert main(["diff", str(old), str(new), "--out", str(out), "--fail-on", "never"]) == 0
    assert not (out / "tables" / "diff.gone.csv").exists()
    assert (out / "mine.txt").read_text() == "mine"
    assert {"diff.json", "diff.html"} <= {p.name for p in out.iterdir()}
    assert leftovers(tmp_path) == []


def test_diff_out_inside_a_dataset_is_refused_before_loading(tmp_path: Path, monkeypatch, capsys):
    import sodaudit.loaders

    old = yolo(tmp_path / "old", ["car"])
    new = yolo(tmp_path / "new", ["car"])

    def load(*args, **kwargs):
        raise AssertionError("loaded before the usage error was found")

    monkeypatch.setattr(sodaudit.loaders, "load", load)
    assert main(["diff", str(old), str(new), "--out", str(new / "diff")]) == 2
    assert "inside the dataset" in one_sentence(capsys.readouterr().err)
