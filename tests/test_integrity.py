"""Integrity findings from the canonical table and from load issues, checked by hand."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sodaudit.analyzers import integrity
from sodaudit.catalogue import spec_of
from sodaudit.config import Config, IntegrityConfig
from sodaudit.dataset import Dataset, LoadIssue


def _dataset(issues=()):
    images = pd.DataFrame(
        {
            "image_id": [0, 1, 2, 3],
            "file_name": ["a.jpg", "b.jpg", "c.jpg", "d.jpg"],
            "path": ["", "", "", ""],
            "split": ["train"] * 4,
            "width": [100.0, 100.0, 100.0, np.nan],
            "height": [50.0, 50.0, 50.0, np.nan],
            "status": ["ok", "ok", "missing", "unreadable-size"],
            "exif_rotated": [False, True, False, False],
        }
    )
    boxes = pd.DataFrame(
        {
            "image_id": [0, 0, 0, 0, 1, 1, 3],
            "class_id": [0, 0, 1, 7, 0, 0, 0],
            # ok, past right edge by 12, NaN, zero width, past top by 3,
            # inside (0.4 px tolerance), unknown image size
            "x": [10.0, 90.0, np.nan, 5.0, 0.0, 0.0, 1.0],
            "y": [10.0, 10.0, 1.0, 5.0, -3.0, -0.4, 1.0],
            "w": [20.0, 22.0, 5.0, 0.0, 10.0, 10.0, 4.0],
            "h": [20.0, 10.0, 5.0, 3.0, 10.0, 10.0, 4.0],
            "coco_area": [400.0, 20.0, np.nan, np.nan, 100.0, 100.0, np.nan],
            "source_file": ["ann.json"] * 7,
            "source_line": [0, 1, 2, 3, 4, 5, 6],
        }
    )
    return Dataset.build(
        root=Path("/d"),
        format="test",
        boxes=boxes,
        images=images,
        classes={0: "car", 1: "bus"},
        issues=issues,
    )


def _codes(result):
    return {f.code: f for f in result.findings}


def test_box_checks_by_hand():
    result = integrity.analyze(_dataset(), Config())
    s = result.stats
    assert s.num_boxes == 7
    assert s.num_valid_boxes == 5  # NaN box and zero-width box are invalid
    assert s.num_nonfinite_boxes == 1
    assert s.num_degenerate_boxes == 1
    assert s.num_outside_image == 2  # 90+22-100 = 12 px; -(-3) = 3 px; -0.4 is within tolerance
    assert s.max_outside_px == 12.0
    assert s.num_unknown_class_boxes == 1
    found = _codes(result)
    assert found["integrity.box_outside_image"].count == 2
    assert found["integrity.box_outside_image"].examples[0].startswith("ann.json:1 [car] 12.0 px")
    assert found["integrity.unknown_class"].count == 1
    assert "7" in found["integrity.unknown_class"].message
    assert set(result.tables) >= {
        "nonfinite_box",
        "degenerate_box",
        "box_outside_image",
        "unknown_class",
    }


def test_area_mismatch_counts_bucket_changes():
    result = integrity.analyze(_dataset(), Config())
    # box 1: area field 20 vs w*h 220 differs by > 50%; both below 32^2 so no bucket change
    assert result.stats.num_area_mismatch == 1
    assert result.stats.num_area_other_coco_bucket == 0


def test_image_status_and_background():
    result = integrity.analyze(_dataset(), Config())
    s = result.stats
    assert s.images_by_status == {"ok": 2, "missing": 1, "unreadable-size": 1}
    assert s.background_images == 1  # c.jpg has no boxes
    assert s.background_share == 0.25
    assert s.exif_rotated_images == 1
    found = _codes(result)
    assert found["integrity.image_missing"].examples == ("c.jpg",)
    assert found["integrity.image_unreadable"].examples == ("d.jpg",)


def test_load_issues_grouped_by_code_with_locations():
    issues = (
        LoadIssue("load.malformed_row", "labels/a.txt", "4 values", line=3),
        LoadIssue("load.malformed_row", "labels/b.txt", "text 'abc'", line=1),
        LoadIssue("load.orphan_label", "ann.json", "image_id 99", key="annotations[7]"),
    )
    result = integrity.analyze(_dataset(issues), Config())
    found = _codes(result)
    assert result.stats.load_issues == {"load.malformed_row": 2, "load.orphan_label": 1}
    assert found["load.malformed_row"].examples == (
        "labels/a.txt:3: 4 values",
        "labels/b.txt:1: text 'abc'",
    )
    assert found["load.orphan_label"].examples == ("ann.json#annotations[7]: image_id 99",)
    assert len(result.tables["load_issues"]) == 3


def test_a_load_issue_code_outside_the_catalogue_is_refused():
    with pytest.raises(KeyError, match="not in sodaudit's finding catalogue"):
        LoadIssue("load.unknown_image", "ann.json", "image_id 99")


# --- duplicates, identical image files across splits, --deep decoding ----------------------


def _boxes_dataset(rows, n_images=2):
    images = pd.DataFrame(
        {
            "image_id": list(range(n_images)),
            "file_name": [f"{i}.jpg" for i in range(n_images)],
            "path": [""] * n_images,
            "split": ["train"] * n_images,
            "width": [100.0] * n_images,
            "height": [100.0] * n_images,
            "status": ["unchecked"] * n_images,
        }
    )
    boxes = pd.DataFrame(rows, columns=["image_id", "class_id", "x", "y", "w", "h"])
    boxes["source_file"] = "ann.json"
    boxes["source_line"] = np.arange(len(boxes))
    return Dataset.build(
        root=Path("/d"), format="test", boxes=boxes, images=images, classes={0: "car", 1: "bus"}
    )


def test_no_duplicates_in_the_base_dataset():
    # image 1's two cars: inter 10 * 7.4 = 74, union 200 - 74 = 126 -> IoU 0.59 < 0.95
    result = integrity.analyze(_dataset(), Config())
    assert result.stats.num_duplicates == 0
    assert "integrity.duplicate_box" not in _codes(result)


def test_duplicates_by_hand():
    rows = [
        (0, 0, 10, 10, 20, 20),  # 0 car
        (0, 0, 10, 10, 20, 20.4),  # 1 car: IoU 400 / 408 = 0.980 with row 0 -> duplicate
        (0, 0, 10, 10, 20, 22),  # 2 car: IoU 400 / 440 = 0.909 with row 0 -> not
        (0, 1, 10, 10, 20, 20),  # 3 bus on top of the car: other class, not a duplicate
        (1, 0, 10, 10, 20, 20),  # 4 car in another image
        (1, 1, 50, 50, 5, 5),  # 5 bus, three identical copies: 3 pairs, 2 boxes too many
        (1, 1, 50, 50, 5, 5),  # 6
        (1, 1, 50, 50, 5, 5),  # 7
        (1, 1, 50, 50, 0, 5),  # 8 degenerate: never a duplicate
    ]
    # row 1 vs row 2: inter 20 * 20.4 = 408, union 440 -> 0.927, below 0.95
    result = integrity.analyze(_boxes_dataset(rows), Config())
    assert result.stats.num_duplicates == 4  # (0,1), (5,6), (5,7), (6,7)
    assert result.stats.num_duplicate_boxes == 3  # rows 1, 6 and 7
    finding = _codes(result)["integrity.duplicate_box"]
    assert finding.count == 4
    assert finding.threshold == 0.95
    assert finding.examples[0] == "ann.json:0 [car] ~ ann.json:1 [car] IoU 0.98"
    table = result.tables["duplicate_box"]
    assert table[["source_a", "source_b"]].values.tolist() == [
        ["ann.json:0", "ann.json:1"],
        ["ann.json:5", "ann.json:6"],
        ["ann.json:5", "ann.json:7"],
        ["ann.json:6", "ann.json:7"],
    ]
    # a looser threshold takes in row 2 against rows 0 and 1 (0.909 and 0.927)
    loose = Config(integrity=IntegrityConfig(duplicate_iou=0.9))
    assert integrity.analyze(_boxes_dataset(rows), loose).stats.num_duplicates == 6


def _png(path, value):
    Image.fromarray(np.full((4, 4), value, np.uint8)).save(path)


def _files_dataset(tmp_path, files):
    """files: (name, split, status); images with status ok must exist under tmp_path."""
    images = pd.DataFrame(
        {
            "image_id": list(range(len(files))),
            "file_name": [f[0] for f in files],
            "path": [str(tmp_path / f[0]) for f in files],
            "split": [f[1] for f in files],
            "width": [4.0] * len(files),
            "height": [4.0] * len(files),
            "status": [f[2] for f in files],
        }
    )
    boxes = pd.DataFrame({k: [] for k in ("image_id", "class_id", "x", "y", "w", "h")})
    return Dataset.build(root=tmp_path, format="test", boxes=boxes, images=images, classes={0: "car"})


def test_identical_images_across_splits(tmp_path):
    _png(tmp_path / "a.png", 10)
    (tmp_path / "b.png").write_bytes((tmp_path / "a.png").read_bytes())  # a == b, train/val
    _png(tmp_path / "c.png", 20)
    (tmp_path / "d.png").write_bytes((tmp_path / "c.png").read_bytes())  # c == d, both train
    _png(tmp_path / "e.png", 30)
    (tmp_path / "f.png").write_bytes((tmp_path / "e.png").read_bytes())  # e == f, f missing
    files = [
        ("a.png", "train", "ok"),
        ("b.png", "val", "ok"),
        ("c.png", "train", "ok"),
        ("d.png", "train", "ok"),
        ("e.png", "train", "ok"),
        ("f.png", "val", "missing"),  # not hashed: only images with status ok
    ]
    result = integrity.analyze(_files_dataset(tmp_path, files), Config())
    s = result.stats
    assert s.image_hash.ran is True
    assert s.image_hash.images_hashed == 5
    assert s.image_hash.identical_groups == 2  # {a, b} and {c, d}
    assert s.image_hash.identical_images == 4
    assert s.num_cross_split_duplicate_groups == 1
    assert s.num_cross_split_duplicate_images == 2
    finding = _codes(result)["integrity.cross_split_duplicate_image"]
    assert finding.count == 1
    assert finding.examples == ("a.png (train) = b.png (val)",)
    assert result.tables["cross_split_duplicate_image"]["image"].tolist() == ["a.png", "b.png"]


def test_image_hash_skipped_above_the_limit(tmp_path):
    for name, value in (("a.png", 1), ("b.png", 1), ("c.png", 2)):
        _png(tmp_path / name, value)
    files = [("a.png", "train", "ok"), ("b.png", "val", "ok"), ("c.png", "val", "ok")]
    ds = _files_dataset(tmp_path, files)
    assert integrity.analyze(ds, Config()).stats.num_cross_split_duplicate_groups == 1
    capped = Config(integrity=IntegrityConfig(hash_max_images=2))
    result = integrity.analyze(ds, capped)
    assert result.stats.image_hash.ran is False
    assert "3 images" in result.stats.image_hash.reason
    assert result.stats.num_cross_split_duplicate_groups is None  # unknown, not 0
    assert "integrity.cross_split_duplicate_image" not in _codes(result)


def test_deep_decode_finds_truncated_images(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "ok.jpg")
    whole = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # header intact, data cut
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    files = [("ok.jpg", "train", "ok"), ("cut.jpg", "train", "ok"), ("bad.jpg", "train", "corrupt")]
    ds = _files_dataset(tmp_path, files)

    shallow = integrity.analyze(ds, Config())
    assert shallow.stats.deep_decode.ran is False
    assert _codes(shallow)["integrity.image_corrupt"].count == 1  # bad.jpg, from the loader

    deep = integrity.analyze(ds, Config(deep=True))
    d = deep.stats.deep_decode
    assert (d.ran, d.images_decoded, d.failed) == (True, 1, 1)
    corrupt = _codes(deep)["integrity.image_corrupt"]
    assert corrupt.count == 2
    assert "1 found by decoding every image" in corrupt.message
    assert corrupt.examples[0] == "bad.jpg"
    assert corrupt.examples[1].startswith("cut.jpg: ")


def test_deep_decode_and_hashes_in_a_pool_give_the_same_stats(tmp_path):
    """``--workers 2``: the per-file decode and hash run in a process pool, same numbers; and no
    wall-clock time is in the stats, so two runs give the same report."""
    rng = np.random.default_rng(1)
    files = []
    for k in range(6):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / f"{k}.png")
        files.append((f"{k}.png", "train" if k < 3 else "val", "ok"))
    (tmp_path / "5.png").write_bytes((tmp_path / "0.png").read_bytes())  # identical across splits
    (tmp_path / "4.png").write_bytes((tmp_path / "4.png").read_bytes()[:40])  # cut short
    ds = _files_dataset(tmp_path, files)
    plain = integrity.analyze(ds, Config(deep=True))
    pooled = integrity.analyze(ds, Config(deep=True, workers=2))
    assert pooled.stats == plain.stats
    assert [f.to_dict() for f in pooled.findings] == [f.to_dict() for f in plain.findings]
    assert (plain.stats.deep_decode.images_decoded, plain.stats.deep_decode.failed) == (5, 1)
    assert plain.stats.num_cross_split_duplicate_groups == 1
    assert "seconds" not in msgspec.to_builtins(plain.stats.deep_decode)
    assert "seconds" not in msgspec.to_builtins(plain.stats.image_hash)


def test_findings_take_the_catalogue_severity():
    """Every finding but an uncatalogued load issue code is at its catalogue severity."""
    issues = (LoadIssue("load.malformed_row", "labels/a.txt", "4 values", line=3),)
    result = integrity.analyze(_dataset(issues), Config())
    for finding in result.findings:
        if finding.code == "integrity.area_mismatch":  # an area below its box: a note
            assert finding.severity.value == "info"
            continue
        assert finding.severity == spec_of(finding.code).severity, finding.code


# --- blockers: COCO area fields and class ids outside the class list ------------------------


def _area_dataset(rows):
    """One 1000x1000 image; rows: (w, h, area field, iscrowd)."""
    images = pd.DataFrame(
        {
            "image_id": [0],
            "file_name": ["a.jpg"],
            "path": [""],
            "split": ["val"],
            "width": [1000.0],
            "height": [1000.0],
            "status": ["unchecked"],
        }
    )
    boxes = pd.DataFrame(
        {
            "image_id": [0] * len(rows),
            "class_id": [0] * len(rows),
            "x": [0.0] * len(rows),
            "y": [0.0] * len(rows),
            "w": [float(r[0]) for r in rows],
            "h": [float(r[1]) for r in rows],
            "coco_area": [float(r[2]) for r in rows],
            "ignore": [bool(r[3]) for r in rows],
        }
    )
    return Dataset.build(root=Path("/d"), format="coco", boxes=boxes, images=images, classes={0: "car"})


@pytest.mark.parametrize(
    ("rows", "severity", "count", "stats"),
    [
        # 24x11 = 264 (small) with area 8 x 264 = 2112 (medium): larger than the box can hold and
        # in another bucket -> error, counting the one box
        ([(24, 11, 2112, 0)], "error", 1, (1, 1, 1)),
        # a mask area below its box moving medium (40x40 = 1600) to small (700, off by 900 > 800):
        # COCO's own definition of area, a note
        ([(40, 40, 700, 0)], "info", 1, (1, 1, 0)),
        # area 2 x w*h but both large: no bucket changes, a note
        ([(100, 100, 20000, 0)], "info", 1, (1, 0, 1)),
        # the same impossible area on a crowd box: COCOeval ignores crowd, a note
        ([(24, 11, 2112, 1)], "info", 1, (1, 1, 0)),
        # two impossible areas, one moved (small -> large), one already large: one error for the
        # root cause counting both, the message says one moved
        ([(10, 10, 50000, 0), (200, 200, 90000, 0)], "error", 2, (2, 1, 2)),
        # within the ratio: no finding
        ([(10, 10, 120, 0)], None, None, (0, 0, 0)),
    ],
)
def test_area_field_rule(rows, severity, count, stats):
    result = integrity.analyze(_area_dataset(rows), Config())
    s = result.stats
    assert (s.num_area_mismatch, s.num_area_other_coco_bucket, s.num_area_exceeds_box) == stats
    found = [f for f in result.findings if f.code == "integrity.area_mismatch"]
    assert [(f.severity.value, f.count) for f in found] == ([(severity, count)] if severity else [])
    if severity == "error":
        assert "larger than their box can hold" in found[0].message
        assert f"so {stats[1]} count in another size bucket" in found[0].message


def test_area_error_gives_cocoeval_buckets_by_area_and_by_wh():
    result = integrity.analyze(_area_dataset([(24, 11, 2112, 0), (10, 10, 100, 0)]), Config())
    [found] = [f for f in result.findings if f.code == "integrity.area_mismatch"]
    # by area: 2112 medium, 100 small; by w*h: 264 and 100 both small
    assert "by area: small 1, medium 1, large 0; by w*h: small 2, medium 0, large 0" in found.message


def test_unknown_class_is_an_error_with_rows_and_images():
    result = integrity.analyze(_dataset(), Config())
    [found] = [f for f in result.findings if f.code == "integrity.unknown_class"]
    assert found.severity.value == "error"
    assert found.count == 1 and result.stats.num_unknown_class_images == 1
    assert found.message.startswith(
        "1 label uses 1 class id that the class list does not declare (id 7: 1 label), in 1 image"
    )
    assert "Ultralytics" not in found.message  # not a YOLO dataset
    assert result.stats.num_unknown_class_orphan_rows is None
