"""Ignore regions: areas a format marks "do not evaluate here" (COCO ``iscrowd``, VisDrone's
category 0 "ignored regions"), kept by the loaders as ``region`` boxes (``ignore`` too).

Dense small-object datasets label crowds incompletely and mark the rest as regions; evaluators
then neither reward nor punish detections there. A converter that drops the regions (the
Ultralytics VisDrone conversion skips category 0: ``if row[4] == '0': continue`` in
``ultralytics/cfg/datasets/VisDrone.yaml``) turns every unlabelled object in a crowd into
background for training and a false positive for evaluation. So the stats say how many regions
there are, how much image they cover, and which labelled objects lie in them; a dense
small-object dataset without any gets a note saying what that means.
(VisDrone's category 11 "others" are ignore *boxes* of objects, not regions: not counted here.)
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.geometry import PAIR_CHUNK

NAME = "integrity"


class IntegrityIgnoreRegions(msgspec.Struct, kw_only=True):
    """``analyzers.integrity.stats.ignore_regions``."""

    regions: Annotated[int, msgspec.Meta(description="ignore regions (COCO iscrowd, VisDrone category 0)")]
    images: Annotated[int, msgspec.Meta(description="images with at least one ignore region")]
    area_share: Annotated[
        float | None,
        msgspec.Meta(
            description="sum of the regions' areas (clipped to their image; overlaps counted twice) "
            "over the total area of the images of known size; null without such images"
        ),
    ]
    objects_inside: Annotated[
        int,
        msgspec.Meta(description="labelled objects (valid, not ignored) whose centre lies inside a region"),
    ]


def ignore_regions(dataset: Dataset, config: Config, result: AnalyzerResult) -> IntegrityIgnoreRegions:
    """The stats, the objects-inside finding, and the note for a dense small dataset without any."""
    b = dataset.boxes
    region = b["region"].to_numpy(bool) & b["valid"].to_numpy(bool)
    known = (dataset.images["width"] > 0) & (dataset.images["height"] > 0)
    total_area = float((dataset.images["width"] * dataset.images["height"])[known].sum())
    if not region.any():
        stats = IntegrityIgnoreRegions(
            regions=0, images=0, area_share=0.0 if total_area > 0 else None, objects_inside=0
        )
        _none_note(dataset, config, result)
        return stats
    r = dataset.box_columns("image_id", "x", "y", "w", "h", "img_w", "img_h", rows=np.flatnonzero(region))
    x0, y0 = r["x"].clip(lower=0), r["y"].clip(lower=0)
    x1, y1 = (r["x"] + r["w"]).clip(upper=r["img_w"]), (r["y"] + r["h"]).clip(upper=r["img_h"])
    covered = float(((x1 - x0).clip(lower=0) * (y1 - y0).clip(lower=0)).fillna(0).sum())
    objects = b["valid"].to_numpy(bool) & ~b["ignore"].to_numpy(bool)
    objects &= np.isin(b["image_id"].to_numpy(), r["image_id"].unique())  # in an image with a region
    bounds = pd.DataFrame({"image_id": r["image_id"], "x0": x0, "y0": y0, "x1": x1, "y1": y1})
    # Only the columns read, of the objects that can be inside: not a copy of the whole table.
    inside = _centres_inside(b.loc[objects, ["image_id", "x", "y", "w", "h"]], bounds)
    stats = IntegrityIgnoreRegions(
        regions=int(region.sum()),
        images=int(r["image_id"].nunique()),
        area_share=covered / total_area if total_area > 0 else None,
        objects_inside=len(inside),
    )
    if len(inside):
        rows = b.loc[inside]
        result.findings.append(
            Finding.of(
                "integrity.objects_in_ignore_regions",
                f"{len(inside):,} labelled {'object has its' if len(inside) == 1 else 'objects have their'} "
                f"centre inside an ignore region ({stats.regions:,} regions in {stats.images:,} images): "
                "COCOeval still scores them and ignores unmatched detections in the region, so a miss "
                "there costs recall while a false detection beside it costs nothing; check that each "
                "region covers only the unlabelled part of the crowd",
                NAME,
                value=float(len(inside)),
                examples=tuple(dataset.source(rows.head(MAX_EXAMPLES)).astype(str)),
                count=len(inside),
            )
        )
    return stats


def _centres_inside(objects: pd.DataFrame, regions: pd.DataFrame) -> np.ndarray:
    """Row labels of ``objects`` whose centre lies in a region of the same image, paired image by
    image in chunks of at most ``PAIR_CHUNK`` object x region pairs (regions are few per image)."""
    cx = objects["x"] + objects["w"] / 2
    cy = objects["y"] + objects["h"] / 2
    centres = pd.DataFrame({"image_id": objects["image_id"], "cx": cx, "cy": cy, "row": objects.index})
    per_image = regions.groupby("image_id").size()
    centres = centres[centres["image_id"].isin(per_image.index)]
    pairs = centres["image_id"].map(per_image).to_numpy()
    chunk = (np.cumsum(pairs) - 1) // PAIR_CHUNK
    found = [np.zeros(0, dtype=np.int64)]
    for rows in np.split(np.arange(len(centres)), np.flatnonzero(np.diff(chunk)) + 1):  # chunks
        part = centres.iloc[rows].merge(regions, on="image_id")
        hit = (part["cx"] >= part["x0"]) & (part["cx"] <= part["x1"])
        hit &= (part["cy"] >= part["y0"]) & (part["cy"] <= part["y1"])
        found.append(part.loc[hit, "row"].to_numpy(np.int64))
    return np.unique(np.concatenate(found))


def _none_note(dataset: Dataset, config: Config, result: AnalyzerResult) -> None:
    """A dense small-object dataset without any ignore region: say what that costs."""
    cfg = config.integrity
    n_per_image = dataset.images["n_boxes"].to_numpy()
    sel = dataset.selected_boxes("sqrt_area_model")
    if not len(sel) or not len(n_per_image):
        return
    median = float(np.median(n_per_image))
    small = float(np.mean(sel["sqrt_area_model"].to_numpy() < cfg.dense_small_px))
    if median < cfg.dense_boxes_per_image or small < cfg.dense_small_share:
        return
    result.findings.append(
        Finding.of(
            "integrity.no_ignore_regions",
            f"No ignore regions in a dense small-object dataset (median {median:g} boxes per image, "
            f"{small:.0%} under {cfg.dense_small_px:g} px at imgsz {dataset.imgsz}): converters often drop "
            "them (Ultralytics' VisDrone conversion skips category 0), and unlabelled objects in "
            "crowds then train as background and count as false positives",
            NAME,
            value=median,
            count=0,
        )
    )
