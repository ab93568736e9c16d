"""FIFOs (named pipes) wherever a format's detection or loading reads (issue 16, item 5).

A plain ``open()`` of a FIFO blocks until a writer comes, so one pipe named like a label file
would hang the audit before any finding is written. Every reader opens regular files only
(``sodaudit.regular``). Each case here writes a good dataset, puts a FIFO where that format reads,
and runs under a watchdog: if the code under test blocks on the pipe, the watchdog opens it for
writing (which releases the reader) and the test fails saying so, instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_cross_format_records import WRITERS, scene
from test_hostile_yolo import finding, png, run_cli, yolo_tree

from sodaudit.cli import main
from sodaudit.loaders import load

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")

WATCHDOG_S = 20.0


@contextmanager
def watched_fifos(*paths: Path) -> Iterator[list[Path]]:
    """Make FIFOs at ``paths``; yields the list of those a reader blocked on (empty when none).

    Opening a FIFO for writing with ``O_NONBLOCK`` fails (ENXIO) while no reader has it open and
    succeeds once one does: a success after ``WATCHDOG_S`` means something opened the pipe and
    waits on it. Writing nothing and closing gives that reader end-of-file, so it returns."""
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
    blocked: list[Path] = []
    done = threading.Event()

    def watch() -> None:
        if done.wait(WATCHDOG_S):
            return
        while not done.is_set():
            for path in paths:
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                os.close(fd)
                blocked.append(path)
            done.wait(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield blocked
    finally:
        done.set()
        thread.join()


def label_folder(root: Path, suffix: str) -> Path:
    """The folder holding the most files ending in ``suffix`` (where the format's labels are)."""
    counts: dict[Path, int] = {}
    for file in root.rglob(f"*{suffix}"):
        counts[file.parent] = counts.get(file.parent, 0) + 1
    return max(counts, key=lambda folder: counts[folder])


LABEL_SUFFIX = {
    "labelstudio": ".json",
    "cvat": ".xml",
    "via": ".json",
    "labelme": ".json",
    "dota": ".txt",
    "visdrone": ".txt",
}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_fifo_beside_each_record_format(fmt: str, sample_data: Path, tmp_path: Path) -> None:
    """A pipe sorted first among the label files (what detection sniffs) and one sorted last."""
    images = scene(sample_data)
    root = tmp_path / fmt
    WRITERS[fmt](sample_data, images, root)
    suffix = LABEL_SUFFIX[fmt]
    folder = label_folder(root, suffix)
    want = sum(len(img["boxes"]) for img in images)
    with watched_fifos(folder / f"0000_pipe{suffix}", folder / f"zzzz_pipe{suffix}") as blocked:
        ds = load(root)
    assert not blocked, f"a reader blocked on {blocked}"
    assert ds.format == fmt
    assert 0 < len(ds.boxes) <= want  # VisDrone drops its ignored categories


@pytest.mark.parametrize(
    "name",
    ["pipe.json", "instances_train.json", "annotations.xml", "pipe.xml", "_annotations.csv", "pipe.txt"],
)
def test_fifo_at_a_yolo_root_is_never_waited_on(name: str, tmp_path: Path, capsys) -> None:
    data = yolo_tree(tmp_path / "data", yaml_text="names: [car, bus]\n")
    with watched_fifos(data / name) as blocked:
        code, _, report = run_cli(data, tmp_path / "out", capsys)
    assert not blocked, f"a reader blocked on {blocked}"
    assert code in (0, 1) and report["dataset"]["num_boxes"] == 2


@pytest.mark.parametrize("name", ["pipe.json", "annotations.xml", "labels.csv"])
def test_fifo_given_as_the_dataset_is_one_sentence(name: str, tmp_path: Path, capsys) -> None:
    with watched_fifos(tmp_path / "in" / name) as blocked:
        code, sentence, _ = run_cli(tmp_path / "in" / name, tmp_path / "out", capsys)
    assert not blocked, f"a reader blocked on {blocked}"
    assert code == 2 and name in sentence


def voc_tree(root: Path) -> Path:
    """Two VOC images with one box each and ImageSets/Main/val.txt naming the second."""
    for stem in ("a", "b"):
        png(root / "JPEGImages" / f"{stem}.png", (100, 50))
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.png</filename><size><width>100</width><height>50</height>"
            "<depth>3</depth></size><object><name>car</name><bndbox><xmin>10</xmin><ymin>10</ymin>"
            "<xmax>30</xmax><ymax>30</ymax></bndbox></object></annotation>"
        )
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "val.txt").write_text("b\n")
    return root


def test_fifo_as_a_voc_split_list_is_named(tmp_path: Path, capsys) -> None:
    data = voc_tree(tmp_path / "voc")
    with watched_fifos(data / "ImageSets" / "Main" / "train.txt") as blocked:
        _, _, report = run_cli(data, tmp_path / "out", capsys)
    assert not blocked
    text = finding(report, "load.unreadable_file")
    assert "ImageSets/Main/train.txt" in text and "not a regular file" in text
    assert report["dataset"]["num_boxes"] == 2


def test_voc_class_list_in_windows_1252_is_decoded_and_said(tmp_path: Path, capsys) -> None:
    data = voc_tree(tmp_path / "voc")
    (data / "classes.txt").write_bytes("véhicule\ncar\n".encode("cp1252"))
    _, _, report = run_cli(data, tmp_path / "out", capsys)
    text = finding(report, "load.encoding")
    assert "classes.txt" in text and "véhicule" in text


def test_fifo_as_an_image_with_deep_decoding(tmp_path: Path, capsys) -> None:
    """``--deep`` decodes and hashes every image: the pipe is corrupt, the rest is audited."""
    data = yolo_tree(tmp_path / "data", yaml_text="names: [car, bus]\n", n=3)
    (data / "images" / "a2.png").unlink()
    with watched_fifos(data / "images" / "a2.png") as blocked:
        code = main(["run", str(data), "--out", str(tmp_path / "out"), "--deep"])
    captured = capsys.readouterr()
    assert not blocked and code in (0, 1), captured.err
    assert "Traceback" not in captured.err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "images/a2.png" in finding(report, "integrity.image_corrupt")
    assert report["dataset"]["num_images"] == 3
