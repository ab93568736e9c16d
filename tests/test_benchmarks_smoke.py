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


def test_runner_smoke(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--data", str(tmp_path / "data")]
    cmd += ["--scale", "0.0002", "--reps", "1", "--no-warmup", "--no-scaling", "--quick"]
    cmd += ["--cases", "coco_bbox", "--write", str(results)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = results.read_text()
    assert (tmp_path / "data" / "coco_bbox_24" / "annotations" / "instances_train.json").is_file()
    assert "Machine:" in text
    assert "| coco_bbox@0.0002 | 24 | floor |" in text
    assert "| coco_bbox@0.0002 | 24 | run |" in text
    assert "coco_bbox time vs floor" in text


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
