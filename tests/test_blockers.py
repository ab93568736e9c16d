"""Issue 14, blockers first: data that breaks training or evaluation is an error, reported once
per root cause with its counts, and the default gate (fail on error) fails.

Every expected number is computed here from the raw files by a second, plain method (or by
pycocotools' own rules), never read back from sodaudit. The real datasets live in
../shared/realdata; those tests skip when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sodaudit.pipeline import audit

IMAGE_EXT = {".jpg", ".jpeg", ".png"}


def found_by_code(report) -> dict:
    return {f.code: f for f in report.findings}


# --- ships_yolo: a split path that does not exist, class ids beyond nc ---------------------


def _ships_class_rows(root: Path) -> dict[str, int]:
    """Rows with a class id >= nc (1) over every label file, those of files with an image (the
    boxes Ultralytics reads) and the images they are in, by walking the folders."""
    nc = 1
    counts = {"rows_all": 0, "rows_attached": 0, "images": 0}
    for split in ("train", "validate", "test"):
        stems = {p.stem for p in (root / split / "images").iterdir() if p.suffix.lower() in IMAGE_EXT}
        for label in (root / split / "labels").glob("*.txt"):
            ids = [int(float(line.split()[0])) for line in label.read_text().splitlines() if line.split()]
            bad = sum(i >= nc for i in ids)
            counts["rows_all"] += bad
            if label.stem in stems:
                counts["rows_attached"] += bad
                counts["images"] += bad > 0
    return counts


def test_ships_yolo_blockers_are_errors_that_fail_the_gate(realdata: Path):
    root = realdata / "ships_yolo"
    expected = _ships_class_rows(root)
    # the realdata README: 188 rows with ids 1..44 over all 708 rows; the others are what
    # Ultralytics reads: rows of label files that have an image, and those images
    assert expected == {"rows_all": 188, "rows_attached": 150, "images": 120}
    report = audit(root)
    found = found_by_code(report)

    split = found["load.split_path_missing"]
    assert (split.severity.value, split.count) == ("error", 1)
    assert "'../valid/images'" in " ".join(split.examples)
    assert "Ultralytics stops" in " ".join(split.examples)

    # count: the boxes of the audit (rows attached to an image), as every integrity finding
    # counts boxes; the message adds the rows of label files without an image (188 in all) and
    # the images Ultralytics drops whole
    unknown = found["integrity.unknown_class"]
    assert (unknown.severity.value, unknown.count) == ("error", expected["rows_attached"])
    assert f"in {expected['images']} images" in unknown.message
    assert f"({expected['rows_all']} label rows in all)" in unknown.message
    assert f"Ultralytics drops each of those {expected['images']} images whole" in unknown.message
    integrity = report.analyzers["integrity"].stats
    assert integrity.num_unknown_class_images == expected["images"]
    assert integrity.num_unknown_class_boxes + integrity.num_unknown_class_orphan_rows == 188

    assert report.gate.passed is False
    assert {"load.split_path_missing", "integrity.unknown_class"} <= set(report.gate.failed_codes)


# --- area_field_wrong.json: every area is its image's area ---------------------------------


def _area_counts(path: Path, ratio: float = 0.5) -> tuple[int, int]:
    """Non-crowd boxes whose area exceeds (1 + ratio) * w*h, and of those the ones in another
    COCO bucket (bounds 32², 96²) by area than by w*h."""
    doc = json.loads(path.read_text(encoding="utf-8"))

    def bucket(a: float) -> int:
        return (a >= 32**2) + (a >= 96**2)

    exceeds = moved = 0
    for ann in doc["annotations"]:
        wh = ann["bbox"][2] * ann["bbox"][3]
        if not ann.get("iscrowd") and ann["area"] > (1 + ratio) * wh:
            exceeds += 1
            moved += bucket(ann["area"]) != bucket(wh)
    return exceeds, moved


def test_area_field_wrong_is_one_error_for_its_249_boxes(realdata: Path):
    path = realdata / "sahi_coco" / "area_field_wrong.json"
    exceeds, moved = _area_counts(path)
    # 249 boxes; w*h buckets small 190 / medium 58 / large 1 (the README): all but the large one move
    assert (exceeds, moved) == (249, 248)
    report = audit(path)
    [area] = [f for f in report.findings if f.code == "integrity.area_mismatch"]
    assert (area.severity.value, area.count) == ("error", exceeds)
    assert f"so {moved} count in another size bucket" in area.message
    assert "by area: small 0, medium 0, large 249; by w*h: small 190, medium 58, large 1" in area.message
    assert report.analyzers["sizes"].stats.buckets.coco_area.as_dict() == {
        "small": 0,
        "medium": 0,
        "large": 249,
    }
    assert "integrity.area_mismatch" in report.gate.failed_codes


def test_coco_mini_mask_areas_are_a_note(realdata: Path):
    """Real COCO: mask areas below their boxes move 104 non-crowd boxes between buckets; COCO
    defines area so, and no area exceeds its box: a note, not a blocker."""
    path = realdata / "coco_mini" / "annotations" / "instances_val2017.json"
    assert _area_counts(path) == (0, 0)
    report = audit(path)
    [area] = [f for f in report.findings if f.code == "integrity.area_mismatch"]
    assert area.severity.value == "info"
    assert "integrity.area_mismatch" not in report.gate.failed_codes


# --- more labels in an image than COCOeval's maxDets ---------------------------------------


@pytest.mark.parametrize(
    ("per_image", "images_over", "beyond"),
    [
        ((101, 3), 1, 1),  # the case: one image, one box past 100
        ((100, 3), 0, 0),  # at the cap: every label can be matched
        ((150, 120, 3), 2, 50 + 20),
    ],
)
def test_labels_beyond_cocoeval_max_dets(tmp_path: Path, per_image: tuple, images_over: int, beyond: int):
    images = [
        {"id": i, "file_name": f"{i}.jpg", "width": 2000, "height": 2000} for i in range(len(per_image))
    ]
    annotations = [
        # a 10 x 10 grid step of 15 px: no two boxes overlap
        {
            "id": 1000 * i + k,
            "image_id": i,
            "category_id": 1,
            "bbox": [15 * (k % 100), 15 * (k // 100), 10, 10],
            "area": 100,
            "iscrowd": 0,
        }
        for i, n in enumerate(per_image)
        for k in range(n)
    ]
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "car"}]}
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    report = audit(path)
    found = [f for f in report.findings if f.code == "sizes.over_eval_max_dets"]
    if not images_over:
        assert found == [] and "sizes.over_eval_max_dets" not in report.gate.failed_codes
        return
    [over] = found
    assert (over.severity.value, over.count, over.threshold) == ("error", images_over, 100)
    assert f"; {beyond} label{'s' if beyond > 1 else ''} beyond the cap can never be matched" in over.message
    assert "sizes.over_eval_max_dets" in report.gate.failed_codes
