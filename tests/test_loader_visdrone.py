"""VisDrone-DET loader: annotation rows (a table of inline lines with the toolkit's ignore rules),
the released split folders, ignored-region coverage by hand, VID/MOT refusal, detection against
YOLO and DOTA layouts, and bad input (malformed rows, size limit, nothing readable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sodaudit.config import LimitsConfig
from sodaudit.errors import DatasetError
from sodaudit.loaders import visdrone


def image(path: Path, size: tuple[int, int] = (200, 100)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)
    return path


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def boxes(ds) -> list[tuple]:
    b = ds.boxes.sort_values(["image_id", "source_line"])
    cols = ["class_name", "x", "y", "w", "h", "ignore", "truncation", "occlusion", "source_line"]
    return [tuple(r) for r in b[cols].itertuples(index=False)]


def issues(ds) -> list[tuple[str, str, int | None]]:
    return sorted((i.code, i.file, i.line) for i in ds.issues)


def two_images(root: Path) -> Path:
    """images/a.jpg (200 x 100) and b.jpg (120 x 90) with their annotations."""
    image(root / "images" / "a.jpg")
    image(root / "images" / "b.jpg", (120, 90))
    write(
        root / "annotations" / "a.txt",
        "150,0,50,40,0,0,0,0\n"  # 1: ignored region x 150..200, y 0..40
        "10,20,30,15,1,4,0,1\n"  # 2: car
        "60,50,8,16,1,1,1,2\n",  # 3: pedestrian, truncated, heavily occluded
    )
    write(root / "annotations" / "b.txt", "5,6,7,8,1,9,0,0,\n\n")  # trailing comma, blank line
    return root


def test_main_layout(tmp_path: Path) -> None:
    ds = visdrone.load(two_images(tmp_path))
    assert ds.format == "visdrone"
    assert boxes(ds) == [
        ("ignored-region", 150, 0, 50, 40, True, 0, 0, 1),
        ("car", 10, 20, 30, 15, False, 0, 1, 2),
        ("pedestrian", 60, 50, 8, 16, False, 1, 2, 3),
        ("bus", 5, 6, 7, 8, False, 0, 0, 1),
    ]
    assert ds.classes == dict(enumerate(visdrone.CLASSES))
    assert ds.classes[0] == "ignored-region" and ds.classes[11] == "others"
    assert ds.boxes["class_id"].tolist() == [0, 4, 1, 9]
    assert str(ds.boxes["truncation"].dtype) == "Int64"
    img = ds.images.set_index("file_name")
    assert img.loc["images/b.jpg", ["width", "height"]].tolist() == [120, 90]
    assert set(ds.images["split"]) == {"all"}
    assert ds.issues == ()
    assert ds.meta["regions_boxes"] == 1


# (id, annotation line, expected (class, x, y, w, h, ignore, truncation, occlusion) or None, reason)
ROW_CASES = [
    ("object", "406,119,265,70,1,4,0,1", ("car", 406, 119, 265, 70, False, 0, 1), None),
    ("ignored_region", "684,8,273,116,0,0,0,0", ("ignored-region", 684, 8, 273, 116, True, 0, 0), None),
    ("others", "1,2,3,4,1,11,0,0", ("others", 1, 2, 3, 4, True, 0, 0), None),  # only 1-10 are evaluated
    ("score_0", "1,2,3,4,0,4,0,0", ("car", 1, 2, 3, 4, True, 0, 0), None),  # score 0: ignored
    ("trailing_commas", "1,2,3,4,1,10,1,2,,,", ("motor", 1, 2, 3, 4, False, 1, 2), None),
    ("spaces", " 1, 2, 3, 4, 1, 3, 0, 0 ", ("bicycle", 1, 2, 3, 4, False, 0, 0), None),
    ("float_ints", "1,2,3,4,1,8.0,0,0", ("awning-tricycle", 1, 2, 3, 4, False, 0, 0), None),
    ("three_fields", "1,2,3", None, "3 fields; expected 8"),
    ("nine_fields", "1,2,3,4,1,4,0,0,7", None, "9 fields; expected 8"),
    ("text", "1,2,3,4,1,car,0,0", None, "value 'car' is not a number"),
    ("fractional_category", "1,2,3,4,1,4.5,0,0", None, "must be integers"),
    ("vid_row", "1,0,684,8,273,116,0,0,0,0", None, "a VisDrone-VID/MOT row"),
    ("space_separated", "1 2 3 4 1 4 0 0", None, "1 fields; expected 8"),
]


@pytest.mark.parametrize(("line", "box", "reason"), [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES])
def test_rows(tmp_path: Path, line: str, box: tuple | None, reason: str | None) -> None:
    """The case's row is line 2; lines 1 and 3 are good rows that always load."""
    image(tmp_path / "images" / "a.jpg")
    write(tmp_path / "annotations" / "a.txt", f"0,0,2,2,1,1,0,0\n{line}\n5,5,2,2,1,2,0,0\n")
    ds = visdrone.load(tmp_path)
    got = boxes(ds)
    assert got[0] == ("pedestrian", 0, 0, 2, 2, False, 0, 0, 1)
    assert got[-1] == ("people", 5, 5, 2, 2, False, 0, 0, 3)
    if box is None:
        assert len(got) == 2
        [issue] = ds.issues
        assert (issue.code, issue.file, issue.line) == ("load.malformed_row", "annotations/a.txt", 2)
        assert reason in issue.reason
    else:
        assert got[1] == (*box, 2)
        assert ds.issues == ()


def test_category_outside_the_list(tmp_path: Path) -> None:
    image(tmp_path / "images" / "a.jpg")
    write(tmp_path / "annotations" / "a.txt", "1,2,3,4,1,12,0,0\n")
    ds = visdrone.load(tmp_path)
    assert ds.classes[12] == "12"
    assert issues(ds) == [("load.undeclared_class", "annotations/a.txt", 1)]


def test_objects_inside_ignored_regions(tmp_path: Path) -> None:
    """Two overlapping regions, x 0..60 and 40..100 (y 0..60): their union is x 0..100, y 0..60.
    dropObjectsInIgr.m drops an object with at least half of its area in the union."""
    image(tmp_path / "images" / "a.jpg")
    lines = [
        "0,0,60,60,0,0,0,0",  # 1 region
        "40,0,60,60,0,0,0,0",  # 2 region
        "30,10,40,20,1,4,0,0",  # 3 inside the union, half in each region: share 1 -> ignored
        "50,50,10,20,1,4,0,0",  # 4 y 50..70: 10 x 10 of 10 x 20 inside, share 0.5 -> ignored
        "50,55,10,20,1,4,0,0",  # 5 y 55..75: 10 x 5 of 200, share 0.25 -> kept
        "120,10,10,10,1,4,0,0",  # 6 outside -> kept
    ]
    write(tmp_path / "annotations" / "a.txt", "\n".join(lines) + "\n")
    ds = visdrone.load(tmp_path)
    assert [b[5] for b in boxes(ds)] == [True, True, True, True, False, False]
    assert ds.meta["in_region_boxes"] == 2
    share = visdrone._share_inside(
        np.array(
            [[30, 10, 40, 20], [50, 50, 10, 20], [50, 55, 10, 20], [120, 10, 10, 10], [0, 0, 0, 5]], float
        ),
        np.array([[0, 0, 60, 60], [40, 0, 60, 60]], float),
    )
    assert share.tolist() == [1.0, 0.5, 0.25, 0.0, 0.0]  # a box of no area covers nothing


def test_release_split_folders(tmp_path: Path) -> None:
    for split in ("train", "val", "test-dev"):
        folder = tmp_path / f"VisDrone2019-DET-{split}"
        image(folder / "images" / f"{split}_1.jpg")
        write(folder / "annotations" / f"{split}_1.txt", "1,2,3,4,1,4,0,0\n")
    image(tmp_path / "VisDrone2019-DET-test-challenge" / "images" / "c.jpg")  # no public annotations
    ds = visdrone.load(tmp_path)
    assert sorted(ds.boxes["split"].astype(str)) == ["test-dev", "train", "val"]
    assert sorted(ds.images["file_name"]) == [
        "VisDrone2019-DET-test-dev/images/test-dev_1.jpg",
        "VisDrone2019-DET-train/images/train_1.jpg",
        "VisDrone2019-DET-val/images/val_1.jpg",
    ]
    assert issues(ds) == [
        ("load.image_not_in_annotations", "VisDrone2019-DET-test-challenge/images/c.jpg", None)
    ]
    found = visdrone.detect(tmp_path)
    assert found is not None and "VisDrone2019-DET-train/annotations/" in found.evidence
    # one released split folder given directly: the split is still its name
    ds = visdrone.load(tmp_path / "VisDrone2019-DET-val")
    assert ds.images["split"].astype(str).tolist() == ["val"]


def test_missing_annotation_and_missing_image(tmp_path: Path) -> None:
    two_images(tmp_path)
    image(tmp_path / "images" / "c.jpg")
    write(tmp_path / "annotations" / "z.txt", "1,2,3,4,1,4,0,0\n")
    ds = visdrone.load(tmp_path)
    img = ds.images.set_index("file_name")
    assert img.loc["images/c.jpg", "n_boxes"] == 0
    assert img.loc["images/z.jpg", "status"] == "missing"  # VisDrone images are .jpg
    assert issues(ds) == [
        ("load.label_missing", "images/c.jpg", None),
        ("load.size_missing", "annotations/z.txt", None),
    ]


def test_file_too_large(tmp_path: Path) -> None:
    two_images(tmp_path)
    write(tmp_path / "annotations" / "b.txt", "1,2,3,4,1,4,0,0\n" * 200)  # 3.2 kB
    ds = visdrone.load(tmp_path, limits=LimitsConfig(max_label_file_mb=0.002))  # 2 kB
    assert issues(ds) == [("load.file_too_large", "annotations/b.txt", None)]
    assert len(ds.boxes) == 3  # a.txt still read


def test_detection_results_are_noted(tmp_path: Path) -> None:
    image(tmp_path / "images" / "a.jpg")
    write(tmp_path / "annotations" / "a.txt", "1,2,3,4,0.87,4,-1,-1\n")
    ds = visdrone.load(tmp_path)
    assert any("look like detection results" in n for n in ds.notes)


def _vid(root: Path) -> None:
    image(root / "VisDrone2019-VID-train" / "sequences" / "uav0000013_00000_v" / "0000001.jpg")
    write(
        root / "VisDrone2019-VID-train" / "annotations" / "uav0000013_00000_v.txt",
        "1,0,684,8,273,116,0,0,0,0\n",
    )


def _mot_unnamed(root: Path) -> None:
    image(root / "images" / "a.jpg")
    write(root / "annotations" / "a.txt", "1,0,684,8,273,116,0,0,0,0\n")


@pytest.mark.parametrize("make", [_vid, _mot_unnamed])
def test_video_annotations_are_named(tmp_path: Path, make) -> None:
    make(tmp_path)
    found = visdrone.detect(tmp_path)
    assert found is not None and "VisDrone-VID/MOT" in found.evidence
    with pytest.raises(DatasetError, match="VisDrone-VID/MOT"):
        visdrone.load(tmp_path)


def _det(root: Path) -> None:
    two_images(root)


def _det_named(root: Path) -> None:
    image(root / "VisDrone2019-DET-val" / "images" / "a.jpg")
    write(root / "VisDrone2019-DET-val" / "annotations" / "a.txt", "1,2,3,4,1,4,0,0,\n")


def _yolo(root: Path) -> None:
    image(root / "images" / "a.png")
    write(root / "labels" / "a.txt", "0 0.5 0.5 0.1 0.1\n")


def _dota(root: Path) -> None:
    image(root / "images" / "a.png")
    write(root / "labelTxt" / "a.txt", "gsd:0.1\n0 0 2 0 2 2 0 2 plane 0\n")


def _coco(root: Path) -> None:
    image(root / "images" / "a.jpg")
    write(root / "annotations" / "instances_val.json", '{"images": [], "annotations": [], "categories": []}')


def _other_csv(root: Path) -> None:
    image(root / "images" / "a.jpg")
    write(root / "annotations" / "a.txt", "a.jpg,1,2,3,4,car\n")


@pytest.mark.parametrize(
    ("make", "claimed"),
    [(_det, True), (_det_named, True), (_yolo, False), (_dota, False), (_coco, False), (_other_csv, False)],
)
def test_detect(tmp_path: Path, make, claimed: bool) -> None:
    make(tmp_path)
    found = visdrone.detect(tmp_path)
    assert (found is not None) == claimed
    if claimed:
        assert found.format == "visdrone" and found.root == tmp_path


def test_nothing_readable(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No VisDrone-DET annotations"):
        visdrone.load(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        visdrone.load(write(tmp_path / "x.txt", "1,2,3,4,1,4,0,0\n"))
    image(tmp_path / "VisDrone2019-DET-train" / "images" / "a.jpg")
    (tmp_path / "VisDrone2019-DET-train" / "annotations").mkdir()
    with pytest.raises(DatasetError, match=r"holds no \.txt file"):
        visdrone.load(tmp_path)
    write(tmp_path / "VisDrone2019-DET-train" / "annotations" / "a.txt", "a;b;c\n")
    with pytest.raises(DatasetError, match=r"annotations/a.txt:1: 1 fields"):
        visdrone.load(tmp_path)
