"""COCO loader: inline JSON edge cases written to tmp_path, and the coco_mini reference numbers.

Expected values are written by hand from the inline documents, or recomputed from the raw JSON
with the stdlib (a second, plain method), never read back from the loader's own output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sodaudit.cli import main
from sodaudit.dataset import unknown_class_name
from sodaudit.errors import DatasetError
from sodaudit.loaders import coco
from sodaudit.loaders.coco import decode as coco_decode
from sodaudit.loaders.coco import parse as coco_parse
from sodaudit.loaders.sources import box_sources

IMG = {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}
CAT = {"id": 1, "name": "car"}


def ann(**fields) -> dict:
    """A well-formed annotation on image 1; keyword arguments replace or add fields."""
    return {
        "id": 10,
        "image_id": 1,
        "category_id": 1,
        "bbox": [1, 2, 3, 4],
        "area": 12,
        "iscrowd": 0,
        **fields,
    }


def doc(images=None, annotations=None, categories=None, **extra) -> dict:
    out = {
        "images": [IMG] if images is None else images,
        "annotations": [ann()] if annotations is None else annotations,
        "categories": [CAT] if categories is None else categories,
    }
    out.update(extra)
    return out


def write(path: Path, content: dict | list | str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        # json.dumps writes NaN / Infinity literals for non-finite floats, as some exporters do.
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def codes_and_keys(ds) -> list[tuple[str, str | None]]:
    return [(i.code, i.key) for i in ds.issues]


# --- malformed elements: each case is one good annotation plus one bad one at index 1 ----------

BAD_ANNOTATIONS = [
    # (case, bad annotation, expected issues, boxes kept)
    ("bbox of length 3", ann(id=11, bbox=[1, 2, 3]), [("load.malformed_row", "annotations[1] (id 11)")], 1),
    (
        "bbox of length 5",
        ann(id=11, bbox=[1, 2, 3, 4, 5]),
        [("load.malformed_row", "annotations[1] (id 11)")],
        1,
    ),
    ("null bbox", ann(id=11, bbox=None), [("load.malformed_row", "annotations[1] (id 11)")], 1),
    (
        "no bbox key",
        {k: v for k, v in ann(id=11).items() if k != "bbox"},
        [("load.malformed_row", "annotations[1] (id 11)")],
        1,
    ),
    ("bbox is a string", ann(id=11, bbox="1,2,3,4"), [("load.malformed_row", "annotations[1] (id 11)")], 1),
    (
        "string inside bbox",
        ann(id=11, bbox=[1, "2", 3, 4]),
        [("load.malformed_row", "annotations[1] (id 11)")],
        1,
    ),
    (
        "null inside bbox",
        ann(id=11, bbox=[1, None, 3, 4]),
        [("load.malformed_row", "annotations[1] (id 11)")],
        1,
    ),
    (
        "bool inside bbox",
        ann(id=11, bbox=[1, True, 3, 4]),
        [("load.malformed_row", "annotations[1] (id 11)")],
        1,
    ),
    (  # a string id is read (as pycocotools does), but "1" is not the number 1 there: kept apart
        "category_id string clashing with a number id",
        ann(id=11, category_id="1"),
        [("load.malformed_row", "annotations[1]")],
        2,
    ),
    (
        "image_id missing",
        {k: v for k, v in ann(id=11).items() if k != "image_id"},
        [("load.malformed_row", "annotations[1] (id 11)")],
        1,
    ),
    (
        "image_id past int64",
        ann(id=11, image_id=2**70),
        [("load.malformed_row", "annotations[1] (id 11)")],
        1,
    ),
    ("annotation is a number", 7, [("load.malformed_row", "annotations[1]")], 1),
    ("unknown image id", ann(id=11, image_id=999), [("load.orphan_label", "annotations[1] (id 11)")], 1),
    ("duplicate annotation id", ann(), [("load.duplicate_id", "annotations[1] (id 10)")], 2),
    (
        "area is a string (box kept)",
        ann(id=11, area="big"),
        [("load.malformed_row", "annotations[1] (id 11)")],
        2,
    ),
    (
        "iscrowd is a string (box kept)",
        ann(id=11, iscrowd="yes"),
        [("load.malformed_row", "annotations[1] (id 11)")],
        2,
    ),
]


@pytest.mark.parametrize(
    ("bad", "expected", "kept"),
    [c[1:] for c in BAD_ANNOTATIONS],
    ids=[c[0] for c in BAD_ANNOTATIONS],
)
def test_bad_annotation_becomes_one_issue(tmp_path: Path, bad, expected, kept):
    path = write(tmp_path / "instances_val.json", doc(annotations=[ann(), bad]))
    ds = coco.load(path)
    assert codes_and_keys(ds) == expected
    assert all(i.file == "instances_val.json" for i in ds.issues)
    assert len(ds.boxes) == kept
    first = ds.boxes[ds.boxes["source_line"] == 0].iloc[0]
    assert [first.x, first.y, first.w, first.h] == [1.0, 2.0, 3.0, 4.0]
    assert len(ds.images) == 1


@pytest.mark.parametrize(
    ("bad", "key", "names"),
    [
        # a string id clashing with the number 1: reported, and kept apart as pycocotools does
        ({"id": "1", "file_name": "b.jpg", "width": 10, "height": 10}, "images[1]", ["a.jpg", "b.jpg"]),
        ({"id": 2, "width": 10, "height": 10}, "images[1]", ["a.jpg"]),
        ("b.jpg", "images[1]", ["a.jpg"]),
    ],
    ids=["string id clashing with a number", "no file_name", "image is a string"],
)
def test_bad_image_element(tmp_path: Path, bad, key, names):
    ds = coco.load(write(tmp_path / "instances_val.json", doc(images=[IMG, bad])))
    assert codes_and_keys(ds) == [("load.malformed_row", key)]
    assert ds.images["file_name"].tolist() == names


def test_bad_category_element(tmp_path: Path):
    ds = coco.load(write(tmp_path / "instances_val.json", doc(categories=[CAT, {"id": 2}])))
    assert codes_and_keys(ds) == [("load.malformed_row", "categories[1]")]
    assert ds.classes == {1: "car"}


def test_a_string_category_id_is_read_as_an_id(tmp_path: Path):
    ds = coco.load(write(tmp_path / "instances_val.json", doc(categories=[CAT, {"id": "x", "name": "bus"}])))
    assert codes_and_keys(ds) == []
    assert ds.classes == {1: "car", 2: "bus"}  # numbered after the file's largest id
    assert any("ids are strings" in n for n in ds.notes)


def test_non_finite_bbox_values_are_kept_as_they_are(tmp_path: Path):
    text = json.dumps(doc(annotations=[ann(bbox=[float("nan"), 2, float("inf"), float("-inf")])]))
    assert "NaN" in text and "Infinity" in text  # the non-standard literals, as written by exporters
    ds = coco.load(write(tmp_path / "instances_val.json", text))
    assert ds.issues == ()
    row = ds.boxes.iloc[0]
    assert math.isnan(row.x) and row.y == 2.0 and row.w == math.inf and row.h == -math.inf
    assert not row.valid


def test_unknown_category_id_keeps_the_box(tmp_path: Path):
    ds = coco.load(write(tmp_path / "instances_val.json", doc(annotations=[ann(category_id=99)])))
    assert ds.issues == ()
    assert ds.boxes["class_id"].tolist() == [99]
    assert ds.boxes["class_name"].astype(str).tolist() == [unknown_class_name(99)]


def test_duplicate_image_id_keeps_the_first_image(tmp_path: Path):
    images = [IMG, {"id": 1, "file_name": "b.jpg", "width": 50, "height": 50}]
    ds = coco.load(write(tmp_path / "instances_val.json", doc(images=images)))
    assert codes_and_keys(ds) == [("load.duplicate_id", "images[1]")]
    assert ds.images["file_name"].tolist() == ["a.jpg"]
    assert ds.box_columns("img_w")["img_w"].tolist() == [100.0]


def test_duplicate_category_id_keeps_the_first_name(tmp_path: Path):
    cats = [CAT, {"id": 2, "name": "bus"}, {"id": 1, "name": "truck"}]
    ds = coco.load(write(tmp_path / "instances_val.json", doc(categories=cats)))
    assert codes_and_keys(ds) == [("load.duplicate_id", "categories[2]")]
    assert ds.classes == {1: "car", 2: "bus"}
    assert list(ds.classes) == [1, 2]


def test_class_map_follows_category_order(tmp_path: Path):
    cats = [{"id": 7, "name": "z"}, {"id": 3, "name": "a"}, {"id": 5, "name": "m"}]
    ds = coco.load(write(tmp_path / "instances_val.json", doc(categories=cats)))
    assert list(ds.classes.items()) == [(7, "z"), (3, "a"), (5, "m")]


def test_utf8_bom_is_accepted(tmp_path: Path):
    raw = b"\xef\xbb\xbf" + json.dumps(doc()).encode()
    ds = coco.load(write(tmp_path / "instances_val.json", raw))
    assert ds.issues == ()
    assert len(ds.boxes) == 1


@pytest.mark.parametrize(
    "content",
    [[doc()], json.dumps(doc())[:-25], b"\xff\xfe{}", {"annotations": []}],
    ids=["top-level list", "truncated", "not utf-8", "no images array"],
)
def test_unreadable_file_is_an_issue_and_other_files_load(tmp_path: Path, content):
    write(tmp_path / "annotations" / "instances_bad.json", content)
    write(tmp_path / "annotations" / "instances_good.json", doc())
    ds = coco.load(tmp_path)
    assert codes_and_keys(ds) == [("load.unreadable_file", None)]
    assert ds.issues[0].file == "annotations/instances_bad.json"
    assert ds.splits == ["good"]
    assert len(ds.boxes) == 1


@pytest.mark.parametrize("content", [[doc()], json.dumps(doc())[:-25]], ids=["top-level list", "truncated"])
def test_nothing_readable_raises_one_sentence(tmp_path: Path, content):
    path = write(tmp_path / "instances_val.json", content)
    with pytest.raises(DatasetError) as err:
        coco.load(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message and message.endswith(".")


def test_empty_annotations_list(tmp_path: Path):
    ds = coco.load(write(tmp_path / "instances_val.json", doc(annotations=[])))
    assert ds.issues == ()
    assert len(ds.images) == 1 and len(ds.boxes) == 0
    assert ds.images["n_boxes"].tolist() == [0]


def test_iscrowd_area_and_provenance_columns(tmp_path: Path):
    anns = [ann(id=1, area=5.5), ann(id=2, iscrowd=1, area=700, bbox=[0, 0, 30, 30])]
    path = write(tmp_path / "annotations" / "instances_val.json", doc(annotations=anns))
    ds = coco.load(path)
    assert ds.root == tmp_path
    b = ds.boxes.sort_values("source_line")
    assert b["ignore"].tolist() == [False, True]
    assert b["coco_area"].tolist() == [5.5, 700.0]
    assert b["source_line"].tolist() == [0, 1]
    assert b["source_file"].astype(str).tolist() == ["annotations/instances_val.json"] * 2
    assert ds.images["coco_id"].tolist() == [1]
    assert ds.images["source_file"].tolist() == ["annotations/instances_val.json"]


def test_missing_iscrowd_and_area_default(tmp_path: Path):
    bare = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}
    ds = coco.load(write(tmp_path / "instances_val.json", doc(annotations=[bare])))
    assert ds.issues == ()
    assert ds.boxes["ignore"].tolist() == [False]
    assert math.isnan(ds.boxes["coco_area"].iloc[0])


# --- splits and files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "splits"),
    [
        (
            ["annotations/instances_train2017.json", "annotations/instances_val2017.json"],
            ["train2017", "val2017"],
        ),
        (["train/_annotations.coco.json", "valid/_annotations.coco.json"], ["train", "valid"]),
        (["instances_default.json"], ["default"]),
        (["train.json"], ["train"]),  # no name hint: found by the COCO keys in its head
    ],
)
def test_folder_split_naming(tmp_path: Path, files, splits):
    for name in files:
        write(tmp_path / name, doc())
    ds = coco.load(tmp_path)
    assert sorted(ds.splits) == splits
    assert ds.issues == ()
    assert coco.detect(tmp_path).format == "coco"


@pytest.mark.parametrize(
    ("name", "split", "root"),
    [
        ("annotations/instances_val2017.json", "val2017", "."),
        ("export/my_labels.json", "my_labels", "export"),
        ("ds/train/_annotations.coco.json", "train", "ds/train"),
    ],
)
def test_single_file_split_and_root(tmp_path: Path, name, split, root):
    ds = coco.load(write(tmp_path / name, doc()))
    assert ds.splits == [split]
    assert ds.root == (tmp_path / root).resolve()


def test_colliding_image_ids_across_files_get_dense_ids(tmp_path: Path):
    other = {"id": 1, "file_name": "b.jpg", "width": 200, "height": 100}
    write(tmp_path / "annotations" / "instances_train.json", doc(annotations=[ann(bbox=[0, 0, 5, 5])]))
    write(
        tmp_path / "annotations" / "instances_val.json",
        doc(images=[other], annotations=[ann(bbox=[0, 0, 7, 7])]),
    )
    ds = coco.load(tmp_path)
    assert ds.images["image_id"].tolist() == [0, 1]
    assert ds.images["coco_id"].tolist() == [1, 1]
    b = ds.box_columns("split", "w", "img_w")
    by_split = b.set_index(b["split"].astype(str))
    assert by_split.loc["train", "w"] == 5.0 and by_split.loc["train", "img_w"] == 100.0
    assert by_split.loc["val", "w"] == 7.0 and by_split.loc["val", "img_w"] == 200.0


def test_non_instance_files_are_skipped_with_notes(tmp_path: Path):
    write(tmp_path / "annotations" / "instances_val.json", doc())
    write(tmp_path / "annotations" / "person_keypoints_val.json", doc())  # has bboxes, skipped by name
    write(tmp_path / "annotations" / "captions_val.json", {"images": [IMG], "annotations": []})
    captions = {"images": [IMG], "annotations": [{"id": 1, "image_id": 1, "caption": "a car"}]}
    write(tmp_path / "annotations" / "descriptions.json", captions)  # no bbox anywhere
    ds = coco.load(tmp_path)
    assert ds.splits == ["val"]
    assert len(ds.boxes) == 1
    assert ds.issues == ()
    skipped = {n.split(":")[0] for n in ds.notes if n.startswith("Skipped")}
    assert skipped == {
        "Skipped annotations/person_keypoints_val.json",
        "Skipped annotations/captions_val.json",
        "Skipped annotations/descriptions.json",
    }
    assert any("bbox" in n for n in ds.notes if "descriptions.json" in n)


def test_only_captions_raises(tmp_path: Path):
    write(tmp_path / "annotations" / "captions_val.json", {"images": [IMG], "annotations": []})
    with pytest.raises(DatasetError, match="captions"):
        coco.load(tmp_path)


# --- image files ----------------------------------------------------------------------------


def png(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)


@pytest.mark.parametrize("folder", ["val", "images/val", "images", "annotations"])
def test_image_folder_search_and_status(tmp_path: Path, folder):
    png(tmp_path / folder / "a.jpg", (100, 80))
    png(tmp_path / folder / "extra.png", (4, 4))
    images = [IMG, {"id": 2, "file_name": "gone.jpg", "width": 10, "height": 10}]
    write(tmp_path / "annotations" / "instances_val.json", doc(images=images))
    ds = coco.load(tmp_path)
    status = dict(zip(ds.images["file_name"], ds.images["status"], strict=True))
    assert status == {"a.jpg": "ok", "gone.jpg": "missing"}
    assert ds.images.loc[ds.images["file_name"] == "a.jpg", "path"].item() == str(tmp_path / folder / "a.jpg")
    assert [(i.code, i.file) for i in ds.issues] == [("load.image_not_in_annotations", f"{folder}/extra.png")]


def test_no_image_folder_means_unchecked_with_a_note(tmp_path: Path):
    ds = coco.load(write(tmp_path / "annotations" / "instances_val.json", doc()))
    assert ds.images["status"].tolist() == ["unchecked"]
    assert any("No image folder" in n for n in ds.notes)


@pytest.mark.parametrize("name", ["../../outside.jpg", "/etc/hostname", "../val/../../x.jpg", ""])
def test_file_name_outside_the_root_is_never_looked_at(tmp_path: Path, name):
    root = tmp_path / "ds"
    png(tmp_path / "outside.jpg", (5, 5))
    png(root / "val" / "a.jpg", (100, 80))
    images = [IMG, {"id": 2, "file_name": name, "height": 0}]  # no size: would need the header
    write(root / "annotations" / "instances_val.json", doc(images=images))
    ds = coco.load(root)
    bad = ds.images[ds.images["coco_id"] == 2].iloc[0]
    assert bad.status == "missing" and bad.path == ""
    assert math.isnan(bad.width)
    assert sorted(codes_and_keys(ds)) == [
        ("load.path_outside_root", "images[1]"),
        ("load.size_missing", "images[1]"),
    ]


def test_dotdot_inside_the_root_is_allowed(tmp_path: Path):
    png(tmp_path / "val" / "a.jpg", (100, 80))
    png(tmp_path / "shared" / "b.jpg", (20, 10))
    images = [IMG, {"id": 2, "file_name": "../shared/b.jpg", "width": 20, "height": 10}]
    write(tmp_path / "annotations" / "instances_val.json", doc(images=images))
    ds = coco.load(tmp_path)
    assert ds.images["status"].tolist() == ["ok", "ok"]
    assert ds.issues == ()


@pytest.mark.parametrize(
    ("size_fields", "on_disk", "expected"),
    [
        ({}, True, (37.0, 21.0, "ok", [])),
        ({"width": 0, "height": 0}, True, (37.0, 21.0, "ok", [])),
        ({"width": "640", "height": None}, True, (37.0, 21.0, "ok", [])),
        ({}, False, (math.nan, math.nan, "missing", [("load.size_missing", "images[0]")])),
        (
            {"width": 0},
            "empty",
            (math.nan, math.nan, "corrupt", [("load.size_missing", "images[0]")]),
        ),
    ],
    ids=["missing", "zero", "non-numeric", "missing and no file", "zero and empty file"],
)
def test_bad_size_reads_the_header(tmp_path: Path, size_fields, on_disk, expected):
    png(tmp_path / "val" / "keep.png", (1, 1))  # so the folder is found even without a.jpg
    if on_disk is True:
        png(tmp_path / "val" / "a.jpg", (37, 21))
    elif on_disk == "empty":
        (tmp_path / "val" / "a.jpg").write_bytes(b"")
    image = {"id": 1, "file_name": "a.jpg", **size_fields}
    write(tmp_path / "annotations" / "instances_val.json", doc(images=[image]))
    ds = coco.load(tmp_path)
    row = ds.images.iloc[0]
    width, height, status, issues = expected
    assert (row.width, row.height) == (width, height) or (math.isnan(row.width) and math.isnan(width))
    assert row.status == status
    assert [x for x in codes_and_keys(ds) if x[0] != "load.image_not_in_annotations"] == issues


# --- detection ------------------------------------------------------------------------------


def test_detect(tmp_path: Path):
    write(tmp_path / "a" / "annotations" / "instances_train2017.json", doc())
    write(tmp_path / "a" / "annotations" / "instances_val2017.json", doc())
    write(tmp_path / "a" / "annotations" / "captions_val2017.json", doc())
    found = coco.detect(tmp_path / "a")
    assert found.format == "coco" and found.root == tmp_path / "a"
    assert found.evidence == "annotations/instances_train2017.json, instances_val2017.json"

    write(tmp_path / "r" / "train" / "_annotations.coco.json", doc())
    assert coco.detect(tmp_path / "r").evidence == "train/_annotations.coco.json"

    single = coco.detect(tmp_path / "a" / "annotations" / "instances_val2017.json")
    assert single.root == tmp_path / "a"

    (tmp_path / "yolo" / "labels").mkdir(parents=True)
    write(tmp_path / "yolo" / "data.yaml", "names: [a]\n")
    write(tmp_path / "yolo" / "settings.json", {"theme": "dark"})
    assert coco.detect(tmp_path / "yolo") is None
    assert coco.detect(tmp_path / "yolo" / "data.yaml") is None


# --- real data: coco_mini -------------------------------------------------------------------


def raw_counts(path: Path) -> dict[str, int]:
    """The second method: stdlib json and plain loops over the raw file."""
    data = json.loads(path.read_text())
    image_ids = {im["id"] for im in data["images"]}
    anns = [a for a in data["annotations"] if a["image_id"] in image_ids]
    small = 0
    for a in anns:
        w, h = a["bbox"][2], a["bbox"][3]
        if not a["iscrowd"] and math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0 and w * h < 32**2:
            small += 1
    return {
        "images": len(data["images"]),
        "boxes": len(anns),
        "ignore": sum(bool(a["iscrowd"]) for a in anns),
        "small": small,
    }


def small_from_table(ds) -> int:
    b = ds.boxes
    return int((b["valid"] & ~b["ignore"] & (b["w"] * b["h"] < 32**2)).sum())


@pytest.mark.parametrize(
    ("split", "images", "boxes", "ignore", "small"),
    [("train2017", 80, 739, 8, 222), ("val2017", 79, 624, 5, 224)],  # realdata/README.md
)
def test_coco_mini_instances_file(realdata: Path, split, images, boxes, ignore, small):
    path = realdata / "coco_mini" / "annotations" / f"instances_{split}.json"
    assert raw_counts(path) == {"images": images, "boxes": boxes, "ignore": ignore, "small": small}
    ds = coco.load(path)
    assert ds.splits == [split]
    assert len(ds.images) == images
    assert len(ds.boxes) == boxes
    assert int(ds.boxes["ignore"].sum()) == ignore
    assert small_from_table(ds) == small
    assert (ds.images["status"] == "ok").all()
    assert len(ds.classes) == 80 and ds.classes[1] == "person"


def test_coco_mini_folder(realdata: Path):
    root = realdata / "coco_mini"
    ds = coco.load(root)
    assert ds.splits == ["train2017", "val2017"]
    per_split = ds.boxes.groupby("split", observed=True).size().to_dict()
    assert per_split == {"train2017": 739, "val2017": 624}
    skipped = sorted(n.split(":")[0].removeprefix("Skipped ") for n in ds.notes if n.startswith("Skipped"))
    assert skipped == [
        "annotations/captions_train2017.json",
        "annotations/captions_val2017.json",
        "annotations/person_keypoints_train2017.json",
        "annotations/person_keypoints_val2017.json",
    ]
    # independent count: JPEGs in val2017/ whose name no image entry of the val JSON carries
    listed = {
        im["file_name"]
        for im in json.loads((root / "annotations" / "instances_val2017.json").read_text())["images"]
    }
    unlisted = {p.name for p in (root / "val2017").iterdir() if p.suffix == ".jpg"} - listed
    assert len(unlisted) == 80
    extra = [i for i in ds.issues if i.code == "load.image_not_in_annotations"]
    assert sorted(i.file for i in extra) == sorted(f"val2017/{n}" for n in unlisted)
    assert [i for i in ds.issues if i.code != "load.image_not_in_annotations"] == []
    assert np.array_equal(ds.images["image_id"].to_numpy(), np.arange(80 + 79))
    b = ds.boxes
    small = b[b["valid"] & ~b["ignore"] & (b["w"] * b["h"] < 32**2)]
    assert small.groupby("split", observed=True).size().to_dict() == {
        "train2017": 222,
        "val2017": 224,
    }


def test_standard_file_takes_the_typed_path(tmp_path: Path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the tolerant stdlib path must not run for a standard file")

    monkeypatch.setattr(coco_parse, "stdlib_load", refuse)
    ds = coco.load(write(tmp_path / "instances_val.json", doc(annotations=[ann(segmentation=[[1, 2, 3]])])))
    assert len(ds.boxes) == 1 and ds.issues == ()


# --- large documents: annotations decoded in pieces ----------------------------------------------


def _shuffled_split(rng, n_images: int, n_annotations: int, first_id: int) -> dict:
    """Images with ids from ``first_id``, annotations in random image order (as COCO ships them),
    some crowd, one without an id, one on an image that does not exist."""
    images = [
        {"id": first_id + i, "file_name": f"{first_id + i}.jpg", "width": 640, "height": 480}
        for i in range(n_images)
    ]
    anns = []
    for k in range(n_annotations):
        anns.append(
            {
                "id": 5000 + first_id * 100 + k,
                "image_id": first_id + int(rng.integers(n_images)),
                "category_id": int(rng.choice([1, 2])),
                "bbox": [float(v) for v in np.round(rng.uniform(1, 300, 4), 2)],
                "area": float(np.round(rng.uniform(1, 900), 2)),
                "iscrowd": int(rng.random() < 0.2),
                "segmentation": [[float(v) for v in np.round(rng.uniform(0, 600, 8), 1)]],
            }
        )
    del anns[3]["id"]
    anns[7]["image_id"] = 999_999  # an orphan: dropped with an issue
    return doc(images, anns, [CAT, {"id": 2, "name": "bus"}])


@pytest.mark.parametrize("piece_bytes", [1, 700, 16 << 20])
def test_large_documents_read_in_pieces_give_the_stdlib_boxes(tmp_path: Path, monkeypatch, piece_bytes):
    monkeypatch.setattr(coco_decode, "PIECE_BYTES", piece_bytes)
    rng = np.random.default_rng(1)
    docs = {"train": _shuffled_split(rng, 9, 80, 1), "val": _shuffled_split(rng, 4, 30, 100)}
    for split, content in docs.items():
        write(tmp_path / "annotations" / f"instances_{split}.json", content)
    ds = coco.load(tmp_path)

    # By hand from the documents: boxes ordered by (split file, image position), file order kept.
    expected = []
    for split, content in docs.items():
        position = {img["id"]: i for i, img in enumerate(content["images"])}
        rows = [(i, a) for i, a in enumerate(content["annotations"]) if a["image_id"] in position]
        rows.sort(key=lambda r: position[r[1]["image_id"]])  # stable: file order within an image
        expected += [(split, position[a["image_id"]], i, a) for i, a in rows]
    b = ds.boxes
    assert len(b) == len(expected) == 108
    assert b[["x", "y", "w", "h"]].to_numpy().tolist() == [a["bbox"] for *_, a in expected]
    assert b["ignore"].tolist() == [a["iscrowd"] == 1 for *_, a in expected]
    assert b["coco_area"].tolist() == [a["area"] for *_, a in expected]
    # The element path: the index into annotations[] and the id the file gives (anns[3] has none).
    sources = [
        f"annotations/instances_{split}.json#annotations[{i}]" + (f" (id {a['id']})" if "id" in a else "")
        for split, _, i, a in expected
    ]
    assert box_sources(ds, b) == sources
    assert box_sources(ds, b[["x"]]) == sources  # columns the rows lack are taken by their index
    assert sum("(id" not in s for s in sources) == 2
    assert ds.files == ("annotations/instances_train.json", "annotations/instances_val.json")
    assert sorted(codes_and_keys(ds)) == sorted(
        ("load.orphan_label", f"annotations[7] (id {content['annotations'][7]['id']})")
        for content in docs.values()
    )


# --- supercategories: the dataset's own grouping, kept for the merges advice -------------------

SUPER_CATS = [
    {"id": 1, "name": "car", "supercategory": "vehicle"},
    {"id": 2, "name": "bus", "supercategory": "vehicle"},
    {"id": 3, "name": "person", "supercategory": "person"},
    {"id": 4, "name": "cone"},  # no supercategory: left out
    {"id": 5, "name": "sign", "supercategory": ""},  # empty: left out
]


def test_supercategories_are_kept_in_meta_on_the_typed_path(tmp_path: Path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the tolerant stdlib path must not run for a standard file")

    monkeypatch.setattr(coco_parse, "stdlib_load", refuse)
    ds = coco.load(write(tmp_path / "instances_val.json", doc(categories=SUPER_CATS)))
    assert ds.meta["supercategories"] == {"car": "vehicle", "bus": "vehicle", "person": "person"}
    assert ds.issues == ()


def test_supercategories_on_the_tolerant_path(tmp_path: Path):
    # A NaN literal in a bbox sends the file to the stdlib path; a non-string supercategory
    # (a number) is dropped there, the category itself kept.
    cats = [*SUPER_CATS[:3], {"id": 6, "name": "odd", "supercategory": 7}]
    ds = coco.load(
        write(
            tmp_path / "instances_val.json", doc(categories=cats, annotations=[ann(bbox=[1, 2, math.nan, 4])])
        )
    )
    assert ds.meta["supercategories"] == {"car": "vehicle", "bus": "vehicle", "person": "person"}
    assert ds.classes[6] == "odd"


def test_no_supercategories_no_meta_key(tmp_path: Path):
    ds = coco.load(write(tmp_path / "instances_val.json", doc()))
    assert "supercategories" not in ds.meta


def test_supercategory_of_a_repeated_id_is_the_first_files(tmp_path: Path):
    write(tmp_path / "annotations" / "instances_train.json", doc(categories=SUPER_CATS[:1]))
    other = [{"id": 1, "name": "car", "supercategory": "thing"}]
    write(tmp_path / "annotations" / "instances_val.json", doc(categories=other))
    ds = coco.load(tmp_path)
    assert ds.meta["supercategories"] == {"car": "vehicle"}


def test_coco_mini_supercategories(realdata: Path):
    # independent: the raw categories of the val file (both files carry the same 80)
    raw = json.loads((realdata / "coco_mini" / "annotations" / "instances_val2017.json").read_text())
    expected = {c["name"]: c["supercategory"] for c in raw["categories"]}
    ds = coco.load(realdata / "coco_mini")
    assert ds.meta["supercategories"] == expected
    assert len(expected) == 80 and expected["bicycle"] == "vehicle" and expected["person"] == "person"


# --- source: where a label is, as a finding quotes it -----------------------------------------


def _ids_10_20_30(tmp_path: Path, third: dict) -> Path:
    """One image and annotations with ids 10, 20, 30 (the third given), written as one JSON line
    (as COCO files are: a line number would say nothing)."""
    anns = [ann(id=10, bbox=[1, 2, 3, 4]), ann(id=20, bbox=[5, 6, 7, 8]), ann(id=30, **third)]
    write(tmp_path / "annotations" / "instances_train.json", doc(images=[IMG], annotations=anns))
    Image.new("RGB", (100, 80)).save(tmp_path / "a.jpg")
    return tmp_path


def test_box_source_is_the_annotation_index_and_id(tmp_path: Path):
    ds = coco.load(_ids_10_20_30(tmp_path, {"bbox": [9, 9, 0, 5]}))
    rows = ds.boxes.sort_values("source_line")
    assert box_sources(ds, rows) == [
        f"annotations/instances_train.json#annotations[{i}] (id {aid})" for i, aid in enumerate((10, 20, 30))
    ]
    assert box_sources(ds, rows.iloc[2:]) == ["annotations/instances_train.json#annotations[2] (id 30)"]


def test_box_source_without_id_and_with_string_ids(tmp_path: Path):
    anns = [{k: v for k, v in ann().items() if k != "id"}, ann(id="x7"), ann(id="12")]
    write(tmp_path / "instances_val.json", doc(annotations=anns))
    ds = coco.load(tmp_path / "instances_val.json")
    # No id: the index alone. A string id is renumbered when read, so no number is shown for it.
    assert box_sources(ds, ds.boxes.sort_values("source_line")) == [
        f"instances_val.json#annotations[{i}]" for i in range(3)
    ]


def test_issue_key_names_the_annotation_index_and_id(tmp_path: Path):
    ds = coco.load(_ids_10_20_30(tmp_path, {"bbox": [1, 2, 3]}))
    assert codes_and_keys(ds) == [("load.malformed_row", "annotations[2] (id 30)")]


@pytest.mark.parametrize(
    ("third", "code", "detail"),
    [
        ({"bbox": [9, 9, 0, 5]}, "integrity.degenerate_box", " [car] "),  # a box finding
        ({"bbox": [1, 2, 3]}, "load.malformed_row", ": bbox has 3 values"),  # a load issue
    ],
)
def test_finding_quotes_the_annotation_index_and_id(tmp_path: Path, third: dict, code: str, detail: str):
    root = _ids_10_20_30(tmp_path / "data", third)
    assert main(["run", str(root), "--out", str(tmp_path / "out")]) in (0, 1)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    (finding,) = [f for f in report["findings"] if f["code"] == code]
    assert finding["examples"][0].startswith(
        f"annotations/instances_train.json#annotations[2] (id 30){detail}"
    )
