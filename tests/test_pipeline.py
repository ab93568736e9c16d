"""The audit runs in one process: no fork anywhere, unless the user asks for a pool."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import sodaudit


def _no_fork(*args, **kwargs):
    raise AssertionError("sodaudit forked this process")


def test_audit_never_forks(sample_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fork", _no_fork)
    report = sodaudit.audit(sample_data / "yolo")
    doc = json.loads(report.to_json())
    assert doc["dataset"]["num_boxes"] == len(report.dataset.boxes) > 0
    assert "<html" in report.to_html()


def test_a_pool_of_workers_gives_the_same_report_without_forking_this_process(
    sample_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``workers=2`` reads the label files and headers in a forkserver/spawn pool: this process
    is never forked (its threads would be copied in an unknown state), and the numbers are those
    of the plain run."""
    plain = json.loads(sodaudit.audit(sample_data / "yolo").to_json())
    monkeypatch.setattr(os, "fork", _no_fork)
    pooled = json.loads(sodaudit.audit(sample_data / "yolo", workers=2).to_json())
    for doc in (plain, pooled):
        doc["tool"].pop("created")
        doc["config"].pop("workers")
    assert pooled == plain
