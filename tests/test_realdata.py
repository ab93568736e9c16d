"""End to end on the public datasets in ../shared/realdata: the numbers in its README, and every
defect it lists for ships_yolo reported as a finding. Skips when the folder is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from sodaudit.pipeline import audit

IMAGE_EXT = {".jpg", ".jpeg", ".png"}


def findings_by_code(report: dict) -> dict[str, dict]:
    return {f["code"]: f for f in report["findings"]}


@pytest.mark.parametrize(
    ("relative", "fmt", "num_images", "num_boxes", "failing"),
    [
        ("bccd_voc", "voc", 364, 4888, []),
        ("coco_mini/annotations/instances_train2017.json", "coco", 80, 739, []),
        ("coco_mini/annotations/instances_val2017.json", "coco", 79, 624, []),
        # README: data.yaml's val path does not exist and class ids run past nc = 1: both stop or
        # cut Ultralytics' training, so the default gate fails on them.
        ("ships_yolo", "yolo", 567, 670, ["integrity.unknown_class", "load.split_path_missing"]),
    ],
)
def test_reference_counts(
    realdata: Path, relative: str, fmt: str, num_images: int, num_boxes: int, failing: list[str]
):
    report = audit(realdata / relative).to_dict()
    assert report["dataset"]["format"] == fmt
    assert report["dataset"]["num_images"] == num_images
    assert report["dataset"]["num_boxes"] == num_boxes
    assert report["gate"]["passed"] is (not failing)
    assert sorted(report["gate"]["failed_codes"]) == failing
    if failing:  # the data fix comes first
        assert report["recommendations"][0]["kind"] == "fix_data"


def test_bccd_class_counts_and_zero_size_boxes(realdata: Path):
    report = audit(realdata / "bccd_voc").to_dict()
    counts = {c["name"]: c["num_boxes"] for c in report["dataset"]["classes"]}
    assert counts == {"RBC": 4155, "WBC": 372, "Platelets": 361}
    assert findings_by_code(report)["integrity.degenerate_box"]["count"] == 2
    assert report["dataset"]["num_valid_boxes"] == 4888 - 2


def test_coco_mini_folder_loads_both_splits_and_skips_non_instances(realdata: Path):
    report = audit(realdata / "coco_mini").to_dict()
    d = report["dataset"]
    assert d["splits"] == {
        "train2017": {"num_images": 80, "num_boxes": 739},
        "val2017": {"num_images": 79, "num_boxes": 624},
    }
    assert d["num_ignored_boxes"] == 8 + 5
    skipped = [n for n in d["notes"] if "captions_" in n or "person_keypoints_" in n]
    assert len(skipped) == 4
    # val2017/ holds 159 JPEGs, 80 of them not in the JSON
    assert findings_by_code(report)["load.image_not_in_annotations"]["count"] == 80


def _ships_independent_counts(root: Path) -> dict[str, int]:
    """A second, plain method: walk the folders and compare stems."""
    missing_labels = orphans = 0
    for split in ("train", "validate", "test"):
        images = {p.stem for p in (root / split / "images").iterdir() if p.suffix.lower() in IMAGE_EXT}
        labels = {p.stem for p in (root / split / "labels").iterdir() if p.suffix == ".txt"}
        missing_labels += len(images - labels)
        orphans += len(labels - images)
    return {"label_missing": missing_labels, "orphan_label": orphans}


def test_ships_yolo_defects_are_all_reported(realdata: Path):
    root = realdata / "ships_yolo"
    audited = audit(root)
    report = audited.to_dict()
    found = findings_by_code(report)
    expected = _ships_independent_counts(root)
    assert expected == {"label_missing": 88, "orphan_label": 34}  # the README's numbers
    assert found["load.label_missing"]["count"] == 88
    assert found["load.orphan_label"]["count"] == 34
    # data.yaml says val: ../valid/images, but the folder is validate/
    assert "../valid/images" in found["load.split_path_missing"]["message"] + " ".join(
        found["load.split_path_missing"]["examples"]
    )
    assert "validate" in report["dataset"]["splits"]
    # nc: 1, names: ['Ships'], yet ids run to 44
    unknown = found["integrity.unknown_class"]
    assert unknown["count"] > 0
    declared = [c for c in report["dataset"]["classes"] if c["declared"]]
    assert [c["name"] for c in declared] == ["Ships"]
    # ids 1..4 are on boxes attached to images; ids up to 44 only in orphan label files
    assert {c["id"] for c in report["dataset"]["classes"] if not c["declared"]} == {1, 2, 3, 4}
    orphan_reasons = [i.reason for i in audited.dataset.issues if i.code == "load.orphan_label"]
    assert len(orphan_reasons) == 34 and any("44" in r for r in orphan_reasons)
    # polygons mixed into detection labels are counted and said
    assert report["dataset"]["meta"]["segment_rows"] > 0
    assert any("polygon" in n or "segment" in n for n in report["dataset"]["notes"])
    assert found["load.value_out_of_range"]["count"] > 0
    # '#temp' files are not images and not labels
    assert not any("#temp" in e for f in report["findings"] for e in f["examples"])
