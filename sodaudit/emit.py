"""The plan as files a person runs as is: ``sodaudit run PATH --emit ultralytics``.

Written to ``<out>/emit/ultralytics/`` (never into the dataset):
- ``train.sh``: the ``yolo detect train`` command with the plan's ``imgsz``, the model yaml (the
  P2 yaml when the head recommendation is present), ``scale=`` from the augmentation
  recommendation, and ``data=`` the dataset's YOLO ``data.yaml`` (a placeholder with a comment
  when there is none). Every ``key=value`` is a train argument of Ultralytics' ``default.yaml``
  (:data:`ULTRALYTICS_TRAIN_KEYS`); every dataset string is quoted with :func:`shlex.quote`.
- ``anchors.yaml`` when the anchors recommendation is present (YOLOv5 ratio-rule models).
- ``slice.py`` and ``infer_tiled.py`` when the plan is tiling: SAHI's ``slice_coco`` for every
  split with the plan's slice size, overlap and min-area ratio, the tiles' YOLO labels and
  ``data.yaml``; then ``get_sliced_prediction`` with the same slices at inference.
- ``README.md``: what each file is, with the plan's cost and reach.

Without a plan (fewer than ``recommend.min_boxes`` judged boxes) nothing is written and the
terminal says so in one sentence: a command not derived from the audit would only look like
advice. A plan of ``none`` is emitted: today's settings, with a comment that nothing needs
changing (plus any model-side advice, e.g. a P2 head, that still applies).

Checked against ultralytics 8.4.190 (``cfg/default.yaml``, ``cfg/models/*``,
``nn/tasks.yaml_model_load``, ``engine/trainer.setup_model``) and SAHI 0.12.6
(``sahi/slicing.slice_coco``, ``sahi/predict.get_sliced_prediction``,
``sahi/auto_model.AutoDetectionModel.from_pretrained``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sodaudit.render.files import write_atomic

EMIT_TARGETS = ("ultralytics",)
ULTRALYTICS_VERSION = "8.4.190"
SAHI_VERSION = "0.12.6"

_DEFAULT_YAML_KEYS = """
    task mode model data epochs time patience batch imgsz save save_period cache device workers
    project name exist_ok pretrained cls_remap optimizer verbose seed deterministic single_cls rect
    cos_lr close_mosaic resume amp fraction profile freeze multi_scale compile channels_last
    overlap_mask mask_ratio dropout val split save_json conf iou max_det quantize dnn plots nms
    source vid_stride stream_buffer visualize augment agnostic_nms classes retina_masks embed show
    save_frames save_txt save_conf save_crop show_labels show_conf show_boxes line_width format
    optimize dynamic simplify opset workspace lr0 lrf momentum weight_decay warmup_epochs
    warmup_momentum warmup_bias_lr distill_model dis box cls cls_pw dfl pose kobj rle angle dlog
    dgrad dlam nbs hsv_h hsv_s hsv_v degrees translate scale shear perspective flipud fliplr bgr
    mosaic mixup cutmix copy_paste copy_paste_mode auto_augment erasing cfg tracker"""
ULTRALYTICS_TRAIN_KEYS = frozenset(_DEFAULT_YAML_KEYS.split())
"""The top-level keys of ultralytics/cfg/default.yaml in ultralytics 8.4.190 (the arguments
``yolo detect train key=value`` accepts)."""


@dataclass(frozen=True)
class Family:
    """An Ultralytics model family: the yaml and weights of its smallest scale (``n``)."""

    yaml: str
    weights: str
    p2_yaml: str | None
    note: str = ""


# Files in ultralytics 8.4.190: cfg/models/v8/yolov8.yaml and yolov8-p2.yaml, 11/yolo11.yaml (no
# P2 yaml), 26/yolo26.yaml and yolo26-p2.yaml, v5/yolov5.yaml; yaml_model_load reads
# "yolov8n-p2.yaml" as yolov8-p2.yaml at scale n. Weights from utils/downloads.GITHUB_ASSETS_NAMES.
_V8 = Family("yolov8n.yaml", "yolov8n.pt", "yolov8n-p2.yaml")
FAMILIES: dict[str, Family] = {
    "yolov8": _V8,
    "yolov8-p2": Family("yolov8n-p2.yaml", "yolov8n.pt", "yolov8n-p2.yaml"),
    "yolo11": Family(
        "yolo11n.yaml",
        "yolo11n.pt",
        "yolov8n-p2.yaml",
        "Ultralytics ships no YOLO11 P2 yaml (cfg/models/11 has yolo11.yaml only): the P2 model "
        "here is YOLOv8's yolov8-p2.yaml, started from yolov8n.pt",
    ),
    "yolo26": Family("yolo26n.yaml", "yolo26n.pt", "yolo26n-p2.yaml"),
    "yolov5": Family(
        "yolov5n.yaml",
        "yolov5nu.pt",
        None,
        "Ultralytics' yolov5.yaml is the anchor-free YOLOv5u; the anchor-based YOLOv5 the audit "
        "judged trains with github.com/ultralytics/yolov5 (train.py --img, --cfg, --data)",
    ),
}


@dataclass(frozen=True)
class Emitted:
    """What ``--emit`` wrote, and the one sentence to print when it wrote nothing."""

    paths: tuple[Path, ...] = ()
    note: str | None = None


def emit(report: Any, out: Path, target: str = "ultralytics") -> Emitted:
    """Write the plan of ``report`` (an AuditReport) for ``target`` under ``out/emit/target``."""
    if target not in EMIT_TARGETS:
        raise ValueError(f"unknown emit target {target!r}; known: {', '.join(EMIT_TARGETS)}")
    plan = report.plan
    if plan is None:
        return Emitted(
            note="--emit ultralytics: nothing written, the audit gives no plan (too few valid boxes "
            f"to judge, fewer than recommend.min_boxes = {report.config.recommend.min_boxes})."
        )
    folder = out / "emit" / target
    recs = {r["kind"]: r for r in report.recommendations}
    spec = _spec(report, plan, recs, folder)
    files: dict[str, str] = {}
    if "anchors" in recs:
        files["anchors.yaml"] = str(recs["anchors"]["params"]["yaml"])
    if plan["primary"] == "tiling":
        files["slice.py"] = slice_script(report, plan)
        files["infer_tiled.py"] = infer_script(plan, spec["imgsz"])
    files["train.sh"] = train_script(spec)
    files["README.md"] = readme(report, plan, spec, files)
    paths = []
    for name in ("README.md", "train.sh", "anchors.yaml", "slice.py", "infer_tiled.py"):
        if name in files:
            path = write_atomic(folder / name, files[name])
            if name.endswith((".sh", ".py")):
                path.chmod(path.stat().st_mode | 0o111)
            paths.append(path)
    return Emitted(tuple(paths))


def _spec(report: Any, plan: Mapping[str, Any], recs: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """The train arguments (ordered) and the comments that explain them."""
    model = report.config.model
    family = FAMILIES.get(model, _V8)
    comments: list[str] = []
    if model not in FAMILIES:
        comments.append(
            f"The audited model preset {model} is not an Ultralytics model: this trains YOLOv8 with "
            "the plan's input size; apply the plan to your own trainer the same way."
        )
    if family.note:
        comments.append(family.note + ".")
    p2 = "head" in recs
    yaml_name = family.yaml
    if p2:
        if family.p2_yaml is None:
            comments.append(f"A P2 head is recommended but {model} has no P2 yaml in Ultralytics.")
        else:
            yaml_name = family.p2_yaml
            comments.append(
                "P2 head (stride 4): no P2 checkpoints exist, so pretrained= loads the base "
                "model's weights into the layers they share."
            )
    data, data_note = _data_arg(report, plan, folder)
    if data_note:
        comments.append(data_note)
    args: dict[str, str] = {"data": data, "model": yaml_name, "pretrained": family.weights}
    args["imgsz"] = str(int(plan["imgsz"]))
    if "augmentation" in recs:
        scale = float(recs["augmentation"]["params"]["ultralytics_scale"])
        args["scale"] = f"{scale:g}"
        comments.append(
            f"scale={scale:g}: scale augmentation down to {1 - scale:g}x at most, so the trainer's "
            "2 px minimum box side does not drop the small boxes."
        )
    if "anchors" in recs:
        comments.append(
            "Anchors (YOLOv5): anchors.yaml holds the fitted anchors. With github.com/ultralytics/"
            "yolov5, copy its anchors: list into your model yaml (e.g. models/yolov5n.yaml) and run "
            f"python train.py --img {int(plan['imgsz'])} --data {shlex.quote(data)} --cfg "
            "models/yolov5n.yaml --weights yolov5n.pt --noautoanchor (--noautoanchor: AutoAnchor "
            "does not check and re-fit them)."
        )
    if plan["primary"] == "none":
        comments.append(f"Nothing needs changing in the input size: {_one_line(plan['reason'])}.")
    unknown = set(args) - ULTRALYTICS_TRAIN_KEYS
    assert not unknown, f"not Ultralytics train arguments: {unknown}"
    return {"args": args, "comments": comments, "imgsz": int(plan["imgsz"]), "yaml": yaml_name}


def _data_arg(report: Any, plan: Mapping[str, Any], folder: Path) -> tuple[str, str]:
    """``data=``: the tiles' data.yaml (tiling), the dataset's data.yaml (YOLO), or a placeholder."""
    if plan["primary"] == "tiling":
        tiles = str(folder / "tiles" / "data.yaml")
        return tiles, "data: the tiles' data.yaml, written by slice.py (run it first)."
    dataset = report.dataset
    yaml_rel = dataset.meta.get("yaml") if dataset.format == "yolo" else None
    if yaml_rel:
        return str(dataset.root / str(yaml_rel)), ""
    if dataset.format == "yolo":
        return "path/to/data.yaml", (
            "data: the dataset has no data.yaml: write one (path, train, val, names; see Ultralytics' "
            "dataset docs) and put its path here."
        )
    return "path/to/data.yaml", (
        f"data: the dataset is {dataset.format}: convert it to the Ultralytics YOLO layout first "
        "(e.g. ultralytics.data.converter.convert_coco(labels_dir, save_dir, cls91to80=False) for "
        "COCO) and put its data.yaml here."
    )


def _one_line(text: object) -> str:
    """Text safe inside a ``#`` comment: no line breaks or control characters."""
    return "".join(c if c.isprintable() else " " for c in str(text))


def _comment(text: str, width: int = 96) -> list[str]:
    words, lines, line = _one_line(text).split(), [], "#"
    for word in words:
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#"
        line += " " + word
    return [*lines, line]


def train_command(args: Mapping[str, str]) -> str:
    """``yolo detect train key=value ...``, each argument shell-quoted."""
    return " ".join(["yolo", "detect", "train", *(shlex.quote(f"{k}={v}") for k, v in args.items())])


def train_script(spec: Mapping[str, Any]) -> str:
    lines = [
        "#!/bin/sh",
        f"# sodaudit: the plan as an Ultralytics training run (arguments checked against ultralytics "
        f"{ULTRALYTICS_VERSION} cfg/default.yaml).",
        "# Model scale n: use s, m, l or x in both model= and pretrained= for a larger model.",
    ]
    for text in spec["comments"]:
        lines += _comment(text)
    lines += ["set -e", train_command(spec["args"]), ""]
    return "\n".join(lines)


def _splits(report: Any) -> dict[str, tuple[str, str, bool]]:
    """split -> (COCO annotation file, image folder, real): the dataset's own for COCO, else
    placeholders (SAHI slices COCO datasets only)."""
    dataset = report.dataset
    names = [str(s) for s in dataset.images["split"].drop_duplicates().tolist()] or ["train", "val"]
    out: dict[str, tuple[str, str, bool]] = {}
    folders = dataset.meta.get("image_folders", {}) if dataset.format == "coco" else {}
    images = dataset.images
    for split in names:
        sources = images.loc[images["split"] == split, "source_file"] if "source_file" in images else []
        if dataset.format == "coco" and len(sources) and split in folders:
            annotations = dataset.root / str(sources.iloc[0])
            out[split] = (str(annotations), str(dataset.root / str(folders[split])), True)
        else:
            out[split] = (f"path/to/instances_{split}.json", f"path/to/images/{split}", False)
    return out


def slice_params(report: Any, plan: Mapping[str, Any]) -> dict[str, Any]:
    """SAHI's slice_coco keyword arguments for the plan's tiles."""
    tile, overlap = int(plan["tile"]), float(plan["overlap"])
    return {
        "slice_height": tile,
        "slice_width": tile,
        "overlap_height_ratio": overlap,
        "overlap_width_ratio": overlap,
        "min_area_ratio": float(report.config.plan.tile_min_area_ratio),
    }


def slice_script(report: Any, plan: Mapping[str, Any]) -> str:
    splits = _splits(report)
    min_area = float(report.config.plan.tile_min_area_ratio)
    real = all(r for _, _, r in splits.values())
    train = "train" if "train" in splits else next(iter(splits))
    val = next((s for s in ("val", "valid", "validation") if s in splits), train)
    lines = [
        "#!/usr/bin/env python3",
        f'"""sodaudit: slice every split into the plan\'s tiles with SAHI {SAHI_VERSION}',
        "(sahi.slicing.slice_coco), then write the tiles' YOLO labels and data.yaml under tiles/",
        "for train.sh.",
        "Needs: pip install sahi. The same grid as the CLI: sahi coco slice --image_dir DIR",
        f"--dataset_json_path JSON --slice_size {int(plan['tile'])} --overlap_ratio "
        f"{float(plan['overlap']):g} --min_area_ratio {min_area:g} --output_dir OUT",
        '"""',
        "",
        "import json",
        "from pathlib import Path",
        "",
        "from sahi.slicing import slice_coco",
        "",
        "TILES = Path(__file__).resolve().parent / 'tiles'",
        f"SLICE = {slice_params(report, plan)!r}",
    ]
    if not real:
        lines += _comment(
            f"The dataset is {report.dataset.format}: SAHI slices COCO datasets only. Convert each split "
            "to a COCO instances JSON first and replace the placeholder paths below."
        )
    lines += ["SPLITS = {  # split: (COCO annotation file, image folder)"]
    lines += [f"    {s!r}: ({a!r}, {d!r})," for s, (a, d, _) in splits.items()]
    lines += [
        "}",
        f"TRAIN, VAL = {train!r}, {val!r}",
        "",
        "names = None",
        "for split, (annotations, image_dir) in SPLITS.items():",
        "    images = TILES / split / 'images'",
        "    coco, _ = slice_coco(",
        "        coco_annotation_file_path=annotations,",
        "        image_dir=image_dir,",
        "        output_coco_annotation_file_name='',",
        "        output_dir=str(images),",
        "        **SLICE,",
        "    )",
        "    categories = sorted(coco['categories'], key=lambda c: c['id'])",
        "    index = {c['id']: i for i, c in enumerate(categories)}",
        "    names = [c['name'] for c in categories]",
        "    rows = {}",
        "    for a in coco['annotations']:",
        "        rows.setdefault(a['image_id'], []).append(a)",
        "    labels = TILES / split / 'labels'",
        "    labels.mkdir(parents=True, exist_ok=True)",
        "    for image in coco['images']:",
        "        w, h = image['width'], image['height']",
        "        lines = []",
        "        for a in rows.get(image['id'], []):",
        "            x, y, bw, bh = a['bbox']",
        "            cx, cy = (x + bw / 2) / w, (y + bh / 2) / h",
        "            k = index[a['category_id']]",
        "            lines.append(f'{k} {cx:.6f} {cy:.6f} {bw / w:.6f} {bh / h:.6f}')",
        "        label = labels / (Path(image['file_name']).stem + '.txt')",
        "        label.write_text(''.join(line + '\\n' for line in lines), encoding='utf-8')",
        "",
        "# YAML reads JSON: the tiles' data.yaml for train.sh",
        "data = {'path': str(TILES), 'train': f'{TRAIN}/images', 'val': f'{VAL}/images', 'names': names}",
        "(TILES / 'data.yaml').write_text(json.dumps(data, indent=2), encoding='utf-8')",
        "print(f'wrote {TILES / \"data.yaml\"}')",
        "",
    ]
    return "\n".join(lines)


def infer_script(plan: Mapping[str, Any], imgsz: int) -> str:
    tile, overlap = int(plan["tile"]), float(plan["overlap"])
    return "\n".join(
        [
            "#!/usr/bin/env python3",
            f'"""sodaudit: tiled inference with the training tiles (SAHI {SAHI_VERSION}',
            "get_sliced_prediction).",
            "",
            "Usage: python infer_tiled.py WEIGHTS.pt IMAGE [OUT_DIR]",
            "(WEIGHTS: what train.sh saved, e.g. runs/detect/train/weights/best.pt)",
            "Needs: pip install sahi ultralytics.",
            '"""',
            "",
            "import sys",
            "",
            "from sahi import AutoDetectionModel",
            "from sahi.predict import get_sliced_prediction",
            "",
            f"IMGSZ = {imgsz}",
            f"SLICE = {{'slice_height': {tile}, 'slice_width': {tile}, "
            f"'overlap_height_ratio': {overlap!r}, 'overlap_width_ratio': {overlap!r}}}",
            "",
            "weights, image = sys.argv[1], sys.argv[2]",
            "out_dir = sys.argv[3] if len(sys.argv) > 3 else 'sliced_prediction'",
            "model = AutoDetectionModel.from_pretrained(",
            "    model_type='ultralytics', model_path=weights, image_size=IMGSZ",
            ")",
            "result = get_sliced_prediction(image, model, **SLICE)",
            "result.export_visuals(export_dir=out_dir)",
            "print(f'{len(result.object_prediction_list)} objects; drawn in {out_dir}')",
            "",
        ]
    )


def _option(o: Mapping[str, Any]) -> str:
    where = f"{o['tile']} px tiles, overlap {o['overlap']:g}, " if o["primary"] == "tiling" else ""
    return f"{o['primary']}: {where}imgsz {o['imgsz']}: {o['reach_share']:.1%} at {o['cost_factor']:.2f}x"


def readme(report: Any, plan: Mapping[str, Any], spec: Mapping[str, Any], files: Mapping[str, str]) -> str:
    c = plan
    if c["primary"] == "tiling":
        what = f"{c['tile']} px tiles, overlap {c['overlap']:g}, at imgsz {c['imgsz']}"
    elif c["primary"] == "resolution":
        what = f"train and infer at imgsz {c['imgsz']}"
    else:
        what = f"keep imgsz {c['imgsz']} (nothing needs changing in the input size)"
    lines = [
        "# Training config emitted by sodaudit",
        "",
        f"Dataset: `{_one_line(report.dataset.root)}` ({report.dataset.format}), audited with model "
        f"{report.config.model} at imgsz {report.config.imgsz}.",
        "",
        f"Plan: **{c['primary']}**: {what}. Cost {c['cost_factor']:.2f}x today's model-input pixels "
        f"per image; {c['reach_share']:.1%} of {c['num_boxes']} boxes reach {c['min_side_px']} px at "
        f"model input (today {c['current_share']:.1%}, target {c['target_share']:.0%}): "
        f"{_one_line(c['reason'])}.",
        "",
        "Files:",
        "",
        f"- `train.sh`: `yolo detect train` with the plan (model `{spec['yaml']}`, imgsz {spec['imgsz']}; "
        f"every argument is in ultralytics {ULTRALYTICS_VERSION} cfg/default.yaml).",
    ]
    if "anchors.yaml" in files:
        lines.append(
            "- `anchors.yaml`: fitted YOLOv5 anchors; paste `anchors:` into the YOLOv5 model yaml and "
            "train with `--noautoanchor`."
        )
    if "slice.py" in files:
        lines += [
            "- `slice.py`: run first; SAHI `slice_coco` cuts every split into the plan's tiles and writes "
            "`tiles/<split>/images`, `tiles/<split>/labels` and `tiles/data.yaml`.",
            "- `infer_tiled.py`: inference on whole images with the same tiles (SAHI "
            "`get_sliced_prediction`), merged across tiles.",
        ]
    lines += ["- `README.md`: this file.", ""]
    if c["primary"] == "none":
        lines += ["Nothing needs changing in the input size; train.sh is today's setting.", ""]
    alternatives = c.get("alternatives") or []
    if alternatives:
        lines += ["Alternatives (what more compute buys):", ""]
        lines += [f"- {_option(a)}" for a in alternatives]
        lines.append("")
    return "\n".join(lines)
