"""``sodaudit run PATH --emit ultralytics``: the plan as files a person runs as is.

The expected numbers come from report.json (what the audit decided), the argument names from
frozen copies of Ultralytics' and SAHI's own sources, and the quoting from a real shell.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from sodaudit.cli import main

# The top-level keys of ultralytics/cfg/default.yaml in the ultralytics 8.4.190 wheel (PyPI):
# every `yolo detect train key=value` argument must be one of them.
_DEFAULT_YAML_KEYS = (
    "task mode model data epochs time patience batch imgsz save save_period cache device workers "
    "project name exist_ok pretrained cls_remap optimizer verbose seed deterministic single_cls rect "
    "cos_lr close_mosaic resume amp fraction profile freeze multi_scale compile channels_last "
    "overlap_mask mask_ratio dropout val split save_json conf iou max_det quantize dnn plots nms "
    "source vid_stride stream_buffer visualize augment agnostic_nms classes retina_masks embed show "
    "save_frames save_txt save_conf save_crop show_labels show_conf show_boxes line_width format "
    "optimize dynamic simplify opset workspace lr0 lrf momentum weight_decay warmup_epochs "
    "warmup_momentum warmup_bias_lr distill_model dis box cls cls_pw dfl pose kobj rle angle dlog "
    "dgrad dlam nbs hsv_h hsv_s hsv_v degrees translate scale shear perspective flipud fliplr bgr "
    "mosaic mixup cutmix copy_paste copy_paste_mode auto_augment erasing cfg tracker"
)
ULTRALYTICS_8_4_190_DEFAULT_KEYS = frozenset(_DEFAULT_YAML_KEYS.split())
# Detection model yamls in ultralytics 8.4.190 cfg/models/{v5,v8,11,26}/.
ULTRALYTICS_8_4_190_DETECT_YAMLS = frozenset(
    {"yolov5.yaml", "yolov5-p6.yaml", "yolov8.yaml", "yolov8-p2.yaml", "yolov8-p6.yaml"}
    | {"yolov8-ghost-p2.yaml", "yolo11.yaml", "yolo26.yaml", "yolo26-p2.yaml", "yolo26-p6.yaml"}
)
# sahi 0.12.6 (github:obss/sahi): sahi/slicing.slice_coco and sahi/predict.get_sliced_prediction.
_SLICE_COCO = (
    "coco_annotation_file_path image_dir output_coco_annotation_file_name output_dir "
    "ignore_negative_samples slice_height slice_width overlap_height_ratio overlap_width_ratio "
    "min_area_ratio out_ext verbose exif_fix"
)
SAHI_SLICE_COCO_ARGS = frozenset(_SLICE_COCO.split())
_SLICED_PREDICTION = (
    "image detection_model slice_height slice_width overlap_height_ratio overlap_width_ratio "
    "perform_standard_pred postprocess_type postprocess_match_metric postprocess_match_threshold "
    "postprocess_class_agnostic verbose merge_buffer_length auto_slice_resolution "
    "slice_export_prefix slice_dir exclude_classes_by_name exclude_classes_by_id progress_bar "
    "progress_callback batch_size force_postprocess_type confidence_threshold"
)
SAHI_SLICED_PREDICTION_ARGS = frozenset(_SLICED_PREDICTION.split())


def run(*args: str) -> int:
    return main(["run", *args])


def command_args(train_sh: Path) -> dict[str, str]:
    """The `yolo detect train` line as the shell splits it: {key: value}."""
    lines = [line for line in train_sh.read_text().splitlines() if line.startswith("yolo ")]
    assert len(lines) == 1
    words = shlex.split(lines[0])
    assert words[:3] == ["yolo", "detect", "train"]
    pairs = [w.split("=", 1) for w in words[3:]]
    assert all(len(p) == 2 for p in pairs), words
    return dict(pairs)


def ultralytics_yaml(name: str) -> str:
    """The file Ultralytics reads for a model name (nn/tasks.yaml_model_load's rule)."""
    return re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", name.removesuffix(".yaml")) + ".yaml"


def files_under(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")}


def test_sample_yolo_emits_the_plans_imgsz_p2_model_and_scale(sample_data: Path, tmp_path: Path, capsys):
    before = files_under(sample_data / "yolo")
    out = tmp_path / "out"
    assert run(str(sample_data / "yolo"), "--out", str(out), "--emit", "ultralytics") in (0, 1)
    stdout = capsys.readouterr().out
    assert files_under(sample_data / "yolo") == before  # nothing written into the dataset
    report = json.loads((out / "report.json").read_text())
    plan = report["plan"]
    recs = {r["kind"]: r for r in report["recommendations"]}
    assert plan["primary"] == "resolution" and plan["imgsz"] == 1280
    assert "head" in recs and "augmentation" in recs and "anchors" not in recs

    folder = out / "emit" / "ultralytics"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "train.sh"]
    for name in ("README.md", "train.sh"):
        assert f"wrote {folder / name}" in stdout
    text = (folder / "train.sh").read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "imgsz=1280" in text
    args = command_args(folder / "train.sh")
    assert set(args) <= ULTRALYTICS_8_4_190_DEFAULT_KEYS
    assert args["imgsz"] == str(plan["imgsz"])
    assert "-p2" in args["model"] and ultralytics_yaml(args["model"]) in ULTRALYTICS_8_4_190_DETECT_YAMLS
    assert args["pretrained"].endswith(".pt")
    assert float(args["scale"]) == recs["augmentation"]["params"]["ultralytics_scale"]
    assert Path(args["data"]) == (sample_data / "yolo" / "data.yaml").resolve()
    readme = (folder / "README.md").read_text()
    assert f"{plan['cost_factor']:.2f}x" in readme and f"{plan['reach_share']:.1%}" in readme


def test_yolov5_anchor_advice_is_written_with_how_to_use_it(sample_data: Path, tmp_path: Path):
    out = tmp_path / "out"
    run(str(sample_data / "yolo"), "--model", "yolov5", "--out", str(out), "--emit", "ultralytics")
    report = json.loads((out / "report.json").read_text())
    recs = {r["kind"]: r for r in report["recommendations"]}
    assert "anchors" in recs  # the YOLOv5 default anchors miss many of the sample's tiny boxes
    folder = out / "emit" / "ultralytics"
    assert (folder / "anchors.yaml").read_text() == recs["anchors"]["params"]["yaml"]
    text = (folder / "train.sh").read_text()
    assert "--noautoanchor" in text and "anchors.yaml" in text
    args = command_args(folder / "train.sh")
    assert set(args) <= ULTRALYTICS_8_4_190_DEFAULT_KEYS
    assert ultralytics_yaml(args["model"]) == "yolov5.yaml"
    assert args["imgsz"] == str(report["plan"]["imgsz"])


def test_every_model_family_names_a_real_ultralytics_yaml():
    from sodaudit.emit import FAMILIES, ULTRALYTICS_TRAIN_KEYS

    assert ULTRALYTICS_TRAIN_KEYS == ULTRALYTICS_8_4_190_DEFAULT_KEYS
    for family in FAMILIES.values():
        for name in (family.yaml, family.p2_yaml):
            if name is not None:
                assert ultralytics_yaml(name) in ULTRALYTICS_8_4_190_DETECT_YAMLS, name


def tiled_coco(root: Path) -> Path:
    """1280x1280 images with 14x14 px objects: 7 px at imgsz 640 (below stride 8)."""
    from PIL import Image

    ann = root / "annotations"
    ann.mkdir(parents=True)
    box_id = 0
    for split, n_images in (("train", 4), ("val", 2)):
        (root / split).mkdir()
        images, annotations = [], []
        for i in range(n_images):
            name = f"{split}_{i}.png"
            Image.new("RGB", (1280, 1280), (90, 90, 90)).save(root / split / name)
            images.append({"id": i + 1, "file_name": name, "width": 1280, "height": 1280})
            for k in range(30):
                x, y = 37 + 41 * (k % 6) + 151 * i, 53 + 197 * (k // 6)
                box_id += 1
                annotations.append(
                    {"id": box_id, "image_id": i + 1, "category_id": 1 + k % 2, "bbox": [x, y, 14, 14]}
                    | {"area": 196, "iscrowd": 0}
                )
        categories = [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}]
        doc = {"images": images, "annotations": annotations, "categories": categories}
        (ann / f"instances_{split}.json").write_text(json.dumps(doc))
    return root


def literal(source: str, name: str):
    """The literal assigned to ``name`` in a Python script."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not assigned")


def test_tiling_plan_emits_sahi_slicing_with_the_plans_parameters(tmp_path: Path):
    data = tiled_coco(tmp_path / "data")
    out = tmp_path / "out"
    run(str(data), "--out", str(out), "--set", "plan.fixed_imgsz=true", "--emit", "ultralytics")
    report = json.loads((out / "report.json").read_text())
    plan = report["plan"]
    assert plan["primary"] == "tiling"
    tiling = next(r for r in report["recommendations"] if r["kind"] == "tiling")
    folder = out / "emit" / "ultralytics"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "infer_tiled.py", "slice.py", "train.sh"]

    source = (folder / "slice.py").read_text()
    compile(source, "slice.py", "exec")
    slicing = literal(source, "SLICE")
    assert set(slicing) <= SAHI_SLICE_COCO_ARGS
    assert slicing == {
        "slice_height": plan["tile"],
        "slice_width": plan["tile"],
        "overlap_height_ratio": plan["overlap"],
        "overlap_width_ratio": plan["overlap"],
        "min_area_ratio": report["config"]["plan"]["tile_min_area_ratio"],
    }
    assert slicing == tiling["params"]["sahi"]  # what the report tells people to use
    splits = literal(source, "SPLITS")
    assert splits == {
        s: (str(data / "annotations" / f"instances_{s}.json"), str(data / s)) for s in ("train", "val")
    }
    called = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)]
    slice_call = next(c for c in called if getattr(c.func, "id", None) == "slice_coco")
    assert {k.arg for k in slice_call.keywords if k.arg} <= SAHI_SLICE_COCO_ARGS

    infer = (folder / "infer_tiled.py").read_text()
    compile(infer, "infer_tiled.py", "exec")
    inference = literal(infer, "SLICE")
    assert set(inference) <= SAHI_SLICED_PREDICTION_ARGS
    assert inference == {k: v for k, v in slicing.items() if k != "min_area_ratio"}
    assert literal(infer, "IMGSZ") == plan["imgsz"]

    args = command_args(folder / "train.sh")
    assert set(args) <= ULTRALYTICS_8_4_190_DEFAULT_KEYS
    assert args["imgsz"] == str(plan["imgsz"])
    assert args["data"] == str(folder / "tiles" / "data.yaml")
    assert "run it first" in (folder / "train.sh").read_text()


def test_dataset_path_with_a_space_and_quotes_is_shell_quoted(sample_data: Path, tmp_path: Path):
    data = tmp_path / 'it\'s a "yolo" set $HOME'
    shutil.copytree(sample_data / "yolo", data)
    out = tmp_path / "out"
    run(str(data), "--out", str(out), "--emit", "ultralytics")
    train = out / "emit" / "ultralytics" / "train.sh"
    expected = str(data / "data.yaml")
    assert command_args(train)["data"] == expected
    # What the shell itself passes to `yolo` (a stand-in function printing its arguments).
    script = 'yolo() { printf "%s\\n" "$@"; }; . "$1"'
    proc = subprocess.run(["sh", "-c", script, "sh", str(train)], capture_output=True, text=True, check=True)
    words = proc.stdout.splitlines()
    assert words[:2] == ["detect", "train"] and f"data={expected}" in words


def test_no_plan_writes_nothing_and_says_why(tmp_path: Path, capsys):
    from PIL import Image

    data = tmp_path / "few"
    for sub in ("images", "labels"):
        (data / sub).mkdir(parents=True)
    Image.new("RGB", (640, 480)).save(data / "images" / "a.jpg")
    (data / "labels" / "a.txt").write_text("0 0.5 0.5 0.01 0.01\n0 0.2 0.2 0.02 0.02\n")
    out = tmp_path / "out"
    run(str(data), "--out", str(out), "--emit", "ultralytics")
    assert json.loads((out / "report.json").read_text())["plan"] is None
    assert not (out / "emit").exists()
    stdout = capsys.readouterr().out
    assert "--emit ultralytics: nothing written" in stdout and "recommend.min_boxes" in stdout


def test_nothing_to_change_emits_todays_settings_with_a_comment(tmp_path: Path):
    from PIL import Image

    data = tmp_path / "large"
    for sub in ("images", "labels"):
        (data / sub).mkdir(parents=True)
    for i in range(30):
        Image.new("RGB", (640, 640)).save(data / "images" / f"{i}.jpg")
        rows = [f"{k % 2} {0.15 + 0.23 * k:.3f} 0.5 0.15 0.2" for k in range(4)]
        (data / "labels" / f"{i}.txt").write_text("\n".join(rows) + "\n")
    (data / "classes.txt").write_text("car\nperson\n")
    out = tmp_path / "out"
    run(str(data), "--out", str(out), "--emit", "ultralytics")
    plan = json.loads((out / "report.json").read_text())["plan"]
    assert plan["primary"] == "none"
    train = out / "emit" / "ultralytics" / "train.sh"
    text = train.read_text()
    assert "Nothing needs changing" in text
    args = command_args(train)
    assert args["imgsz"] == "640" and args["model"] == "yolov8n.yaml"
    # a YOLO layout without data.yaml: a placeholder, and the comment says to convert first
    assert args["data"] == "path/to/data.yaml" and "has no data.yaml" in text


@pytest.mark.parametrize("target", ["mmdet", "yolo"])
def test_unknown_emit_target_is_a_usage_error(sample_data: Path, tmp_path: Path, target: str):
    assert run(str(sample_data / "yolo"), "--out", str(tmp_path / "o"), "--emit", target) == 2
    assert not (tmp_path / "o").exists()
