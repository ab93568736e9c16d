"""The read-only guarantee: `sodaudit run` (with every pixel analysis on) leaves every file of
a dataset byte-identical, in all three formats, and writes nothing new into it."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from sodaudit.cli import main


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_run_leaves_sample_data_untouched(sample_data: Path, tmp_path: Path, fmt: str):
    data = tmp_path / fmt
    shutil.copytree(sample_data / fmt, data)
    before = tree_hashes(data)
    out = tmp_path / "out"
    assert main(["run", str(data), "--out", str(out), "--deep", "--pixels"]) in (0, 1)
    assert tree_hashes(data) == before
    assert (out / "report.json").is_file()


@pytest.mark.parametrize("name", ["bccd_voc", "coco_mini", "ships_yolo"])
def test_run_leaves_real_data_untouched(realdata: Path, tmp_path: Path, name: str):
    before = tree_hashes(realdata / name)
    assert main(["run", str(realdata / name), "--out", str(tmp_path / "out")]) in (0, 1)
    assert tree_hashes(realdata / name) == before


def test_diff_leaves_both_versions_untouched(sample_data: Path, tmp_path: Path):
    old, new = tmp_path / "coco", tmp_path / "yolo"
    shutil.copytree(sample_data / "coco", old)
    shutil.copytree(sample_data / "yolo", new)
    before = (tree_hashes(old), tree_hashes(new))
    assert main(["diff", str(old), str(new), "--out", str(tmp_path / "out")]) in (0, 1)
    assert (tree_hashes(old), tree_hashes(new)) == before
    assert (tmp_path / "out" / "diff.json").is_file()


def test_diff_default_output_inside_a_dataset_is_refused(
    sample_data: Path, tmp_path: Path, monkeypatch, capsys
):
    data = tmp_path / "voc"
    shutil.copytree(sample_data / "voc", data)
    before = tree_hashes(data)
    monkeypatch.chdir(data)
    assert main(["diff", str(data), str(sample_data / "coco")]) == 2
    assert "--out" in capsys.readouterr().err
    assert tree_hashes(data) == before
