"""Smoke run of the benchmark runner on tiny generated data: it runs end to end, no timings."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generate_module():
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runner_module():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look their module up while it is executed
    spec.loader.exec_module(module)
    return module


def test_runner_smoke(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--data", str(tmp_path / "data")]
    cmd += ["--scale", "0.0002", "--reps", "1", "--no-warmup", "--phases"]
    cmd += ["--cases", "coco_poly", "--write", str(results)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = results.read_text()
    assert (tmp_path / "data" / "coco_poly_24" / "annotations" / "instances_train.json").is_file()
    assert "Machine:" in text
    for command in ("run", "pycocotools", "orjson"):
        assert f"| coco_poly@0.0002 | 24 | {command} |" in text
    assert "coco_poly@0.0002: speed-up over pycocotools COCO(path) | >= 2.5x |" in text
    assert "coco_poly@0.0002: peak RSS vs orjson parse (GC off) | <= 0.3x |" in text
    assert "| load |" in text and "| analyzer sizes |" in text and "| report.html |" in text


def test_verdicts_of_the_10x_case() -> None:
    run = _runner_module()
    small = run.Case("coco_bbox", "coco_bbox", 1.0, Path("."), {"run": []}, {"run": [10.0, 12.0, 11.0]})
    small.peak_mb = {"run": [500.0, 510.0, 505.0]}
    big = run.Case("coco_bbox_10x", "coco_bbox", 10.0, Path("."), {"run": []}, {"run": [100.0, 121.0, 99.0]})
    big.peak_mb = {"run": [2400.0, 2600.0, 2550.0]}
    rows = {name: (got, ok) for name, _, got, ok in run.verdicts([small, big])}
    assert rows["coco_bbox@10: peak RSS"] == ("2550 MB", False)  # median of three peaks
    assert rows["coco_bbox@10: time vs coco_bbox@1"] == ("9.09x", True)  # 100 / 11


def test_generators_tiny(tmp_path: Path) -> None:
    gen = _generate_module()
    yolo = gen.generate("yolo", tmp_path / "yolo", 5)
    labels = sorted((yolo / "labels").rglob("*.txt"))
    images = sorted((yolo / "images").rglob("*.jpg"))
    assert len(labels) == len(images) == 5
    assert len({p.read_bytes() for p in images}) == 5  # every image distinct
    assert all(len(line.split()) == 5 for p in labels for line in p.read_text().splitlines())
    voc = gen.generate("voc", tmp_path / "voc", 5)
    xmls = sorted((voc / "Annotations").glob("*.xml"))
    assert len(xmls) == 5
    assert all(ET.parse(p).getroot().tag == "annotation" for p in xmls)
    # Deterministic: the same call gives the same bytes.
    again = gen.generate("voc", tmp_path / "voc2", 5)
    assert [p.read_bytes() for p in xmls] == [
        p.read_bytes() for p in sorted((again / "Annotations").glob("*.xml"))
    ]
