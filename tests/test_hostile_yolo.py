"""Hostile YOLO inputs, each built by a small generator in ``tmp_path`` and judged through the CLI
as in test_bad_inputs: exit 0/1 with a finding naming file (and line), or exit 2 with one
sentence; never a traceback, a hang or a write into the dataset.

- YAML alias bombs (billion laughs, merge keys, one long string aliased many times) in data.yaml:
  refused while parsing.
- ``path: /``, ``path: ~``, a split naming ``/``, and a walk past the listing bound.
- FIFOs (named pipes) as label file, orphan label file, split list, class list, darknet files:
  refused by the shared readers ("not a regular file"), never opened in a way that blocks.
- The row parser's values equal ``float()`` of each token (it no longer uses ``np.fromstring``).
- Class lists and YAML names in Windows-1252: decoded right, with a ``load.encoding`` finding.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sodaudit.cli import main
from sodaudit.loaders import yolo
from sodaudit.loaders.base import NotRegularFile, mapped_limited, read_limited
from sodaudit.loaders.yolo import files as yolo_files
from sodaudit.loaders.yolo.rows import parse_rows

GOOD_ROW = b"0 0.5 0.5 0.2 0.2\n"
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")

# ---------------------------------------------------------------- generators


def png(path: Path, size: tuple[int, int] = (100, 50)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)
    return path


def yolo_tree(root: Path, yaml_text: str | bytes | None = "names: [car, bus]\n", n: int = 2) -> Path:
    """images/ + labels/ with ``n`` good pairs (a0.png ...) and a data.yaml."""
    for i in range(n):
        png(root / "images" / f"a{i}.png")
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / f"a{i}.txt").write_bytes(GOOD_ROW)
    if yaml_text is not None:
        data = yaml_text.encode() if isinstance(yaml_text, str) else yaml_text
        (root / "data.yaml").write_bytes(data)
    return root


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """Billion laughs in YAML: ``width ** levels`` strings from a few hundred bytes."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    lines.append(f"names: [*l{levels - 1}, *l{levels - 1}]")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 9, width: int = 9) -> str:
    """The same through merge keys (``<<: [*a, *a, ...]``), which PyYAML flattens."""
    lines = ["m0: &m0 {a: 1, b: 2, c: 3}"]
    for i in range(1, levels):
        lines.append(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * width)}], k{i}: {i}}}")
    lines.append(f"names: {{0: car}}\nextra: *m{levels - 1}")
    return "\n".join(lines) + "\n"


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


# ---------------------------------------------------------------- judge


def _digest(root: Path) -> dict[str, bytes]:
    """Regular files only: reading a FIFO here would block the test itself."""
    out = {}
    for p in sorted(root.rglob("*")):
        if not p.is_symlink() and stat.S_ISREG(p.lstat().st_mode):
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def run_cli(target: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict | None]:
    """(exit code, stderr, report.json or None); asserts the standards every case shares."""
    root = target if target.is_dir() else target.parent
    before = _digest(root)
    code = main(["run", str(target), "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "internal error" not in captured.err, captured.err
    assert _digest(root) == before  # nothing written into the dataset
    if code == 2:
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert len(lines) == 1, captured.err
        return code, lines[0], None
    assert code in (0, 1), captured.err
    return code, captured.err, json.loads((out / "report.json").read_text())


def finding(report: dict, code: str) -> str:
    """The examples and message of finding ``code`` as one string (asserts it exists)."""
    found = {f["code"]: f for f in report["findings"]}
    assert code in found, sorted(found)
    return " | ".join(found[code]["examples"]) + " " + found[code]["message"]


# ---------------------------------------------------------------- 1. YAML alias bombs


LONG_STRING_BOMB = "s: &s " + "x" * (1 << 20) + "\nnames: [" + ", ".join(["*s"] * 40) + "]\n"


@pytest.mark.parametrize(
    "bomb", [alias_bomb(), merge_bomb(), LONG_STRING_BOMB], ids=["alias", "merge-key", "long-string"]
)
def test_yaml_bomb_is_bad_yaml_and_the_rest_is_audited(bomb: str, tmp_path: Path, capsys) -> None:
    data = yolo_tree(tmp_path / "data", bomb)
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    text = finding(report, "load.bad_yaml")
    assert "data.yaml" in text
    assert report["dataset"]["num_boxes"] == 2


def test_yaml_bomb_alone_is_one_sentence(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "data.yaml").write_text(alias_bomb())
    for target in (data, data / "data.yaml"):
        code, sentence, _ = run_cli(target, tmp_path / "out", capsys)
        assert code == 2
        assert "data.yaml" in sentence and "alias" in sentence, sentence


def test_yaml_aliases_within_the_bound_still_load(tmp_path: Path) -> None:
    text = "base: &b [car, bus]\nnames: *b\nx: &x {a: 1}\ny: {<<: *x, b: 2}\n"
    ds = yolo.load(yolo_tree(tmp_path / "data", text))
    assert dict(ds.classes) == {0: "car", 1: "bus"}
    assert not [i for i in ds.issues if i.code == "load.bad_yaml"]


# ---------------------------------------------------------------- 2. walks: path: /, home, the bound


def test_path_root_is_not_walked(tmp_path: Path, capsys) -> None:
    data = yolo_tree(tmp_path / "data", "path: /\ntrain: images\nnames: [car]\n")
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    assert "file system root" in finding(report, "load.bad_yaml")
    assert report["dataset"]["num_boxes"] == 2  # splits resolved from the yaml's folder instead


def test_path_home_is_not_walked(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    png(home / "images" / "stray.png")  # would be audited if the home folder were walked
    monkeypatch.setenv("HOME", str(home))
    data = yolo_tree(tmp_path / "data", 'path: "~"\ntrain: images\nnames: [car]\n')
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    assert "home folder" in finding(report, "load.bad_yaml")
    assert report["dataset"]["num_images"] == 2


def test_split_naming_root_is_not_walked(tmp_path: Path, capsys) -> None:
    data = yolo_tree(tmp_path / "data", "train: images\nval: /\nnames: [car]\n")
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    text = finding(report, "load.bad_yaml")
    assert "data.yaml" in text and "file system root" in text


def test_listing_bound_is_a_finding(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yolo_files, "MAX_LISTED_ENTRIES", 12)
    data = yolo_tree(tmp_path / "data", n=20)
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    text = finding(report, "load.listing_truncated")
    assert "MAX_LISTED_ENTRIES" in text and "images" in text
    assert report["gate"]["passed"] is False  # what lies beyond the bound was not audited
    assert 0 < report["dataset"]["num_images"] < 20


def test_one_huge_folder_stops_at_the_bound(tmp_path: Path) -> None:
    for i in range(50):
        (tmp_path / f"{i}.txt").write_bytes(b"")
    budget = yolo_files.Budget(limit=5)
    listed = [f for _, _, names in yolo_files.walk(str(tmp_path), budget=budget) for f in names]
    assert len(listed) <= 5 and budget.stopped_at == str(tmp_path)


# ---------------------------------------------------------------- 3. FIFOs


@needs_fifo
def test_fifo_is_refused_by_the_shared_readers(tmp_path: Path) -> None:
    pipe = fifo(tmp_path / "pipe.txt")
    with pytest.raises(NotRegularFile, match="not a regular file: a FIFO"):
        read_limited(pipe, 1, "k")
    with pytest.raises(OSError, match="not a regular file"), mapped_limited(pipe, 1, "k"):
        pass
    regular = tmp_path / "r.txt"
    regular.write_bytes(b"x" * 70_000)
    assert read_limited(regular, 1, "k") == regular.read_bytes()


@needs_fifo
@pytest.mark.parametrize(
    "where, code, named",
    [
        ("labels/a0.txt", "load.unreadable_file", "labels/a0.txt"),  # an image's label file
        ("labels/stray.txt", "load.unreadable_file", "labels/stray.txt"),  # an orphan candidate
        ("labels/classes.txt", "load.unreadable_file", "labels/classes.txt"),  # a class list
        ("images/b.png", "integrity.image_corrupt", "b.png"),  # an image: its size is never read
    ],
)
def test_fifo_in_a_yolo_tree(where: str, code: str, named: str, tmp_path: Path, capsys) -> None:
    data = yolo_tree(tmp_path / "data", yaml_text=None)
    target = data / where
    if target.exists():
        target.unlink()
    fifo(target)
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    text = finding(report, code)
    assert named in text
    if code == "load.unreadable_file":
        assert "not a regular file" in text


@needs_fifo
def test_fifo_split_list(tmp_path: Path, capsys) -> None:
    data = yolo_tree(tmp_path / "data", "train: lists/train.txt\nval: images\nnames: [car]\n")
    fifo(data / "lists" / "train.txt")  # not in the root: DOTA's detection would open it (not ours)
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    text = finding(report, "load.unreadable_file")
    assert "train.txt" in text and "not a regular file" in text


@needs_fifo
@pytest.mark.parametrize("name", ["obj.names", "train.txt"])
def test_fifo_in_a_darknet_tree(name: str, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    png(data / "obj_train_data" / "1.png")
    (data / "obj_train_data" / "1.txt").write_bytes(GOOD_ROW)
    (data / "obj.data").write_text("classes = 1\ntrain = data/train.txt\nnames = data/obj.names\n")
    fifo(data / "data" / name)  # in data/ as darknet has them (root .txt files: DOTA's detection opens them)
    other = "train.txt" if name == "obj.names" else "obj.names"
    (data / "data" / other).write_text("car\n" if other == "obj.names" else "obj_train_data/1.png\n")
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    assert name in finding(report, "load.unreadable_file")


# ---------------------------------------------------------------- 4. the row parser's values


def test_row_values_equal_float_of_each_token() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.random(400), rng.random(100) * 1e-300, rng.standard_normal(100)])
    shown = [repr(float(v)) for v in values] + [f"{v:.25f}" for v in values[:100]]
    shown += ["5e-1", ".5", "5.", "+1", "-0", "1E2", "0.1234567890123456789012345"]
    shown += shown[: (-len(shown)) % 4]  # whole rows of 4 values after the class id
    rows = [" ".join(["0", *shown[i : i + 4]]) for i in range(0, len(shown), 4)]
    parsed = parse_rows([("\n".join(rows) + "\n").encode()])
    want = np.array([float(t) for t in shown]).reshape(-1, 4)
    cx, cy, w, h = want.T
    assert not parsed.problems
    np.testing.assert_array_equal(parsed.width, w)
    np.testing.assert_array_equal(parsed.height, h)
    np.testing.assert_array_equal(parsed.left, cx - w / 2)
    np.testing.assert_array_equal(parsed.top, cy - h / 2)


def test_text_and_comments_keep_their_lines() -> None:
    blob = b"0 0.5 0.5 0.2 0.2\n0 0.5 #x 0.2 0.2\n0 0.5 0.5 1,5 0.2\n0 0x10 0.5 0.2 0.2\n" + GOOD_ROW
    parsed = parse_rows([blob, GOOD_ROW])
    assert [(p.file, p.line) for p in parsed.problems] == [(0, 2), (0, 3), (0, 4)]
    assert parsed.file.tolist() == [0, 0, 1] and parsed.line.tolist() == [1, 5, 1]


# ---------------------------------------------------------------- 5. Windows-1252 class lists


@pytest.mark.parametrize("name", ["classes.txt", "obj.names"])
def test_cp1252_class_list(name: str, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    if name == "classes.txt":  # images/ + labels/ with classes.txt
        yolo_tree(data, yaml_text=None)
    else:  # darknet: obj.names, labels beside their images
        png(data / "train" / "1.png")
        (data / "train" / "1.txt").write_bytes(GOOD_ROW)
    (data / name).write_bytes("car\ncaf\xe9\n".encode("cp1252"))
    assert dict(yolo.load(data).classes) == {0: "car", 1: "café"}
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    text = finding(report, "load.encoding")
    assert f"{name}:2" in text and "Windows-1252" in text


def test_cp1252_roboflow_darknet_labels(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    png(data / "train" / "1.png")
    (data / "train" / "1.txt").write_bytes(b"1 0.5 0.5 0.2 0.2\n")
    (data / "train" / "_darknet.labels").write_bytes("car\ncaf\xe9\n".encode("cp1252"))
    assert dict(yolo.load(data).classes) == {0: "car", 1: "café"}
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    assert "train/_darknet.labels:2" in finding(report, "load.encoding")


def test_cp1252_yaml_names(tmp_path: Path, capsys) -> None:
    data = yolo_tree(tmp_path / "data", "names:\n  0: car\n  1: caf\xe9\n".encode("cp1252"))
    assert dict(yolo.load(data).classes) == {0: "car", 1: "café"}
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    text = finding(report, "load.encoding")
    assert "data.yaml:3" in text and "Windows-1252" in text
