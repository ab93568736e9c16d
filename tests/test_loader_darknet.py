"""YOLO loader, Darknet family and Label Studio: CVAT "YOLO 1.1" (obj.data, lists of paths from
another machine), Roboflow "YOLO Darknet" (split folders with _darknet.labels), an obj.names-only
folder, and the Label Studio YOLO export (classes.txt + notes.json). Tiny layouts written by hand;
every box in pixels is worked out from its normalised values on a 200 x 100 image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from sodaudit import loaders
from sodaudit.loaders import coco, yolo

W, H = 200, 100


def image(path: Path, size: tuple[int, int] = (W, H)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def boxes_by_image(ds) -> dict[str, list[tuple]]:
    """file name -> [(class, x, y, w, h), ...] in label line order."""
    names = ds.images.set_index("image_id")["file_name"]
    out: dict[str, list[tuple]] = {}
    for row in ds.boxes.sort_values(["image_id", "source_line"]).itertuples():
        out.setdefault(names[row.image_id], []).append(
            (int(row.class_id), *np.round([row.x, row.y, row.w, row.h], 6).tolist())
        )
    return out


def splits(ds) -> dict[str, str]:
    return dict(zip(ds.images["file_name"], ds.images["split"].astype(str), strict=True))


# --------------------------------------------------------------------------- CVAT YOLO 1.1


def cvat_export(root: Path, classes: int = 2) -> Path:
    """What CVAT's "YOLO 1.1" export unzips to (datumaro's YoloConverter), its lists written on
    another machine: train.txt with Colab paths, valid.txt with darknet's data/ prefix."""
    write(
        root / "obj.data",
        f"classes = {classes}\ntrain = data/train.txt\nvalid = data/valid.txt\n"
        "names = data/obj.names\nbackup = backup/\n",
    )
    write(root / "obj.names", "car\ntruck\n")
    image(root / "obj_train_data" / "1.jpg")
    write(root / "obj_train_data" / "1.txt", "0 0.5 0.5 0.2 0.4\n1 0.25 0.5 0.1 0.2\n")
    image(root / "obj_train_data" / "2.png")
    write(root / "obj_train_data" / "2.txt", "1 0.5 0.5 0.5 0.5\n")
    image(root / "obj_valid_data" / "sub" / "3.png")
    write(root / "obj_valid_data" / "sub" / "3.txt", "0 0.1 0.1 0.2 0.2\n")
    write(
        root / "train.txt",
        "/content/obj_train_data/1.jpg\n/content/obj_train_data/2.png\n/content/obj_train_data/gone.jpg\n",
    )
    write(root / "valid.txt", "data/obj_valid_data/sub/3.png\n")
    return root


def test_cvat_yolo_1_1_export_with_foreign_paths_resolved_by_name(tmp_path: Path):
    root = cvat_export(tmp_path / "cvat")
    assert loaders.detect(root).format == "yolo"
    found = yolo.detect(root)
    assert found.root == root
    assert found.evidence == (
        "Darknet obj.data (CVAT YOLO 1.1 export): classes = 2, names = data/obj.names, train/valid lists"
    )
    ds = yolo.load(root)
    assert ds.meta["layout"] == "darknet"
    assert ds.classes == {0: "car", 1: "truck"}
    assert splits(ds) == {
        "obj_train_data/1.jpg": "train",
        "obj_train_data/2.png": "train",
        "obj_valid_data/sub/3.png": "valid",
    }
    # 1.jpg: x = (0.5 - 0.1) * 200 = 80, y = (0.5 - 0.2) * 100 = 30, w = 40, h = 40;
    #        x = (0.25 - 0.05) * 200 = 40, y = (0.5 - 0.1) * 100 = 40, w = 20, h = 20
    # 2.png: x = (0.5 - 0.25) * 200 = 50, y = 25, w = 100, h = 50; 3.png: 0, 0, 40, 20
    assert boxes_by_image(ds) == {
        "obj_train_data/1.jpg": [(0, 80.0, 30.0, 40.0, 40.0), (1, 40.0, 40.0, 20.0, 20.0)],
        "obj_train_data/2.png": [(1, 50.0, 25.0, 100.0, 50.0)],
        "obj_valid_data/sub/3.png": [(0, 0.0, 0.0, 40.0, 20.0)],
    }
    assert dict(zip(ds.images["file_name"], ds.images["source_file"], strict=True)) == {
        "obj_train_data/1.jpg": "obj_train_data/1.txt",
        "obj_train_data/2.png": "obj_train_data/2.txt",
        "obj_valid_data/sub/3.png": "obj_valid_data/sub/3.txt",
    }
    # the one entry that exists nowhere here is outside the root: reported, never looked for there
    assert [(i.code, i.file, i.line) for i in ds.issues] == [("load.path_outside_root", "train.txt", 3)]
    assert (
        "2 of 3 train.txt entries resolved by file name: the listed paths do not exist here, "
        + ("e.g. /content/obj_train_data/1.jpg")
        in ds.notes
    )
    assert any(n.startswith("1 of 1 valid.txt entries resolved by file name") for n in ds.notes)
    assert (
        "obj.data paths resolved by file name (as written they do not exist here): names = "
        "data/obj.names -> obj.names; train = data/train.txt -> train.txt; valid = data/valid.txt -> "
        "valid.txt."
    ) in ds.notes


def test_obj_data_file_as_path_classes_mismatch_and_missing_list(tmp_path: Path):
    root = cvat_export(tmp_path, classes=3)
    write(root / "obj.data", (root / "obj.data").read_text() + "test = data/test.txt\nno equals sign\n")
    assert yolo.detect(root / "obj.data").root == root
    ds = yolo.load(root / "obj.data")
    got = sorted((i.code, i.file, i.line) for i in ds.issues)
    assert got == [
        ("load.bad_yaml", "obj.data", 1),  # classes = 3, obj.names holds 2
        ("load.bad_yaml", "obj.data", 7),  # not key = value
        ("load.path_outside_root", "train.txt", 3),
        ("load.split_path_missing", "obj.data", 6),  # no test.txt anywhere
    ]
    reasons = {i.line: i.reason for i in ds.issues if i.file == "obj.data"}
    assert reasons[1] == "classes = 3 but obj.names holds 2 names; the names are used"
    assert len(ds.images) == 3 and len(ds.boxes) == 4


def test_images_no_list_names_are_audited_under_their_subset_folder(tmp_path: Path):
    root = cvat_export(tmp_path)
    image(root / "obj_valid_data" / "4.png")
    write(root / "obj_valid_data" / "4.txt", "1 0.5 0.5 0.2 0.4\n")
    ds = yolo.load(root)
    assert splits(ds)["obj_valid_data/4.png"] == "valid"
    assert "obj_valid_data/: 1 images that no split list names, audited as split 'valid'." in ds.notes
    assert len(ds.boxes) == 5


# --------------------------------------------------------------------------- Roboflow YOLO Darknet


def test_roboflow_darknet_export_folders_are_splits(tmp_path: Path):
    for split, names in (("train", "head\nhelmet\n"), ("valid", "head\nhelmet\n"), ("test", "head\nhat\n")):
        write(tmp_path / split / "_darknet.labels", names)
    image(tmp_path / "train" / "a.jpg")
    write(tmp_path / "train" / "a.txt", "0 0.5 0.5 0.2 0.4\n")
    image(tmp_path / "train" / "b.jpg")  # no label: background
    image(tmp_path / "valid" / "c.jpg")
    write(tmp_path / "valid" / "c.txt", "1 0.25 0.5 0.1 0.2\n")
    image(tmp_path / "test" / "d.jpg")
    write(tmp_path / "test" / "d.txt", "")
    write(tmp_path / "test" / "orphan.txt", "0 0.5 0.5 0.1 0.1\n")
    write(tmp_path / "README.roboflow.txt", "exported from roboflow\n")
    assert loaders.detect(tmp_path).evidence == (
        "Roboflow YOLO Darknet export: train/, valid/, test/ with _darknet.labels"
    )
    ds = yolo.load(tmp_path)
    assert ds.meta["layout"] == "roboflow-darknet"
    assert ds.classes == {0: "head", 1: "helmet"}
    assert splits(ds) == {
        "train/a.jpg": "train",
        "train/b.jpg": "train",
        "valid/c.jpg": "valid",
        "test/d.jpg": "test",
    }
    assert boxes_by_image(ds) == {
        "train/a.jpg": [(0, 80.0, 30.0, 40.0, 40.0)],
        "valid/c.jpg": [(1, 40.0, 40.0, 20.0, 20.0)],
    }
    assert sorted((i.code, i.file) for i in ds.issues) == [
        ("load.bad_yaml", "test/_darknet.labels"),
        ("load.label_missing", "train/b.jpg"),
        ("load.orphan_label", "test/orphan.txt"),
    ]
    [differ] = [i for i in ds.issues if i.code == "load.bad_yaml"]
    assert "['head', 'hat'] differ from train/_darknet.labels ['head', 'helmet']" in differ.reason


# --------------------------------------------------------------------------- obj.names only


def test_obj_names_folder_with_side_by_side_labels(tmp_path: Path):
    write(tmp_path / "obj.names", "cat\n")
    image(tmp_path / "x.png")
    write(tmp_path / "x.txt", "0 0.5 0.5 0.2 0.4\n")
    image(tmp_path / "obj_train_data" / "y.png")
    write(tmp_path / "obj_train_data" / "y.txt", "0 0.1 0.1 0.2 0.2\n0 0.5 0.5 0.5 0.5\n")
    write(tmp_path / "z.txt", "0 0.5 0.5 0.1 0.1\n")  # no image z.*
    write(tmp_path / "train.txt", "x.png\n")  # a list, not a label file
    write(tmp_path / "images_list.txt", "obj_train_data/y.png\n")  # a list by its content
    assert yolo.detect(tmp_path).evidence == "Darknet obj.names with images and .txt labels side by side"
    ds = yolo.load(tmp_path)
    assert ds.meta["layout"] == "darknet-names"
    assert ds.classes == {0: "cat"}
    assert splits(ds) == {"x.png": "all", "obj_train_data/y.png": "train"}
    assert boxes_by_image(ds) == {
        "x.png": [(0, 80.0, 30.0, 40.0, 40.0)],
        "obj_train_data/y.png": [(0, 0.0, 0.0, 40.0, 20.0), (0, 50.0, 25.0, 100.0, 50.0)],
    }
    assert [(i.code, i.file) for i in ds.issues] == [("load.orphan_label", "z.txt")]
    assert "no image z.*; its 1 rows are not boxes" in ds.issues[0].reason


def test_a_plain_images_labels_layout_with_obj_names_stays_plain(tmp_path: Path):
    image(tmp_path / "images" / "a.png")
    write(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.2 0.4\n")
    write(tmp_path / "obj.names", "car\n")
    assert yolo.detect(tmp_path).evidence == "images/ + labels/ folders"
    ds = yolo.load(tmp_path)
    assert ds.meta["layout"] == "images-labels" and ds.classes == {0: "car"} and len(ds.boxes) == 1


# --------------------------------------------------------------------------- Label Studio


def label_studio(root: Path, categories: list[dict]) -> Path:
    """label-studio-converter's convert_to_yolo output: images/, labels/, classes.txt, notes.json."""
    image(root / "images" / "a.png")
    write(root / "labels" / "a.txt", "0 0.5 0.5 0.2 0.4\n1 0.25 0.5 0.1 0.2\n")
    write(root / "classes.txt", "cat\ndog\n")
    notes = {
        "categories": categories,
        "info": {"year": 2024, "version": "1.0", "contributor": "Label Studio"},
    }
    write(root / "notes.json", json.dumps(notes, indent=2))
    return root


def test_label_studio_yolo_export_is_yolo_not_ambiguous(tmp_path: Path):
    root = label_studio(tmp_path / "ls", [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}])
    assert coco.detect(root) is None  # notes.json has no images/annotations keys
    found = loaders.detect(root)
    assert found.format == "yolo"
    assert found.evidence == "Label Studio YOLO export: classes.txt, notes.json, images/ + labels/ folders"
    ds = yolo.load(root)
    assert ds.meta["layout"] == "label-studio"
    assert ds.classes == {0: "cat", 1: "dog"}
    assert ds.issues == ()
    assert boxes_by_image(ds) == {"images/a.png": [(0, 80.0, 30.0, 40.0, 40.0), (1, 40.0, 40.0, 20.0, 20.0)]}


def test_label_studio_notes_that_disagree_with_classes_txt(tmp_path: Path):
    root = label_studio(tmp_path, [{"id": 0, "name": "cat"}, {"id": 2, "name": "dog"}])
    ds = yolo.load(root)
    assert ds.classes == {0: "cat", 1: "dog"}  # classes.txt decides
    [issue] = ds.issues
    assert (issue.code, issue.file, issue.key) == ("load.bad_yaml", "notes.json", "categories")
    assert "at 2 ids (classes.txt vs notes.json: id 1: 'dog' vs '-'; id 2: '-' vs 'dog')" in issue.reason


def test_coco_still_claims_a_json_whose_head_lists_only_categories(tmp_path: Path):
    """CVAT writes categories before images: a long category list pushes images past the head."""
    cats = [{"id": i, "name": f"class number {i}", "supercategory": "thing"} for i in range(200)]
    doc = {"licenses": [], "categories": cats, "images": [], "annotations": []}
    write(tmp_path / "export.json", json.dumps(doc))
    assert coco.detect(tmp_path).evidence == "export.json"


def test_a_class_id_past_obj_names_says_what_darknet_does(tmp_path: Path):
    from sodaudit.analyzers import integrity
    from sodaudit.config import Config

    root = cvat_export(tmp_path / "cvat")
    write(root / "obj_train_data" / "2.txt", "1 0.5 0.5 0.5 0.5\n4 0.5 0.5 0.1 0.1\n")  # 2 names: 4 is past
    result = integrity.analyze(yolo.load(root), Config())
    [finding] = [f for f in result.findings if f.code == "integrity.unknown_class"]
    assert finding.message.startswith(
        "1 label uses 1 class id that the class list does not declare (id 4: 1 label), in 1 image"
    )
    assert "darknet skips each such box" in finding.message
