"""Sub-threshold labels: boxes too small to learn or to review, by rules from config.

Rules (each counted over valid, non-ignore boxes): a side below ``min_side_native_px`` in
native pixels; a side below ``min_side_model_px`` after the letterbox resize to imgsz (with the
default 3 px this is the well-known YOLOv5 "N of M labels are < 3 pixels" count, kept under the
stable key ``below_3px_at_imgsz`` whatever the rule value); optionally an area below
``min_area_share`` of the image. Every offending label is listed with its ``source``.
Per-class entries list only classes with at least one offending label (share = of that class).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult, box_label_rows, label_examples, label_table
from sodaudit.analyzers.sizes import Quantiles, quantile_dict, selected
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding
from sodaudit.sizepresets import SIZE_TOLERANCE_PX

NAME = "subthreshold"


RULE_CODES = {
    "min_side_native": "subthreshold.below_min_native",
    "min_side_model": "subthreshold.below_min_model",
    "min_area_share": "subthreshold.below_min_area_share",
}


class SubthresholdClass(msgspec.Struct, kw_only=True):
    """Labels of one class below a rule, and their share of that class."""

    count: int
    share: float


class SubthresholdRule(msgspec.Struct, kw_only=True):
    """One size rule: its threshold, the labels below it, overall and per class."""

    threshold: float
    count: int
    share: float
    per_class: Annotated[
        dict[str, SubthresholdClass],
        msgspec.Meta(description="only the classes with at least one label below the rule"),
    ]


class SubthresholdUnion(msgspec.Struct, kw_only=True):
    """Labels below at least one rule, overall and per class."""

    count: int
    share: float
    per_class: dict[str, SubthresholdClass]


class SubthresholdRules(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The size rules; ``min_area_share`` only when it is configured."""

    min_side_native: SubthresholdRule
    min_side_model: SubthresholdRule
    min_area_share: SubthresholdRule | None = None

    def by_name(self) -> dict[str, SubthresholdRule]:
        """Rule name -> rule, for the rules in use, in report order."""
        return {name: rule for name, rule in msgspec.structs.asdict(self).items() if rule is not None}


class SubthresholdZoom(msgspec.Struct, kw_only=True):
    """The zoom a reviewer needs to see a label at ``review_screen_px`` on screen."""

    review_screen_px: float
    quantiles: Quantiles
    flag: float
    count_at_least_flag: int
    share_at_least_flag: float


class SubthresholdStats(msgspec.Struct, kw_only=True):
    """Labels below the size rules (valid, non-ignore boxes), and the zoom to review them."""

    imgsz: int
    num_labels: int
    num_unknown_image_size: int
    below_3px_at_imgsz: Annotated[
        int,
        msgspec.Meta(
            description="valid non-ignore boxes with either side < 3 px (min_side_model_px) after "
            "the letterbox resize to imgsz (scale = imgsz / max(w, h))"
        ),
    ]
    min_side_model_px: float
    rules: SubthresholdRules
    union: SubthresholdUnion
    zoom: SubthresholdZoom


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Counts and shares per rule and class, the union, the offending labels and review zoom."""
    cfg = config.subthreshold
    # Only the columns computed on: the label lists take their rows from the box table.
    sel = selected(
        dataset, "class_name", "short_side", "sqrt_area", "rel_area", "scale", "w_model", "h_model"
    )
    n = len(sel)
    class_names = [str(c) for c in sel["class_name"].cat.categories]
    codes = sel["class_name"].cat.codes.to_numpy()
    class_totals = np.bincount(codes, minlength=len(class_names))

    with np.errstate(invalid="ignore"):
        rules: dict[str, tuple[float, np.ndarray]] = {
            "min_side_native": (
                cfg.min_side_native_px,
                sel["short_side"].to_numpy() < cfg.min_side_native_px - SIZE_TOLERANCE_PX,
            ),
            "min_side_model": (
                cfg.min_side_model_px,
                (sel["w_model"].to_numpy() < cfg.min_side_model_px - SIZE_TOLERANCE_PX)
                | (sel["h_model"].to_numpy() < cfg.min_side_model_px - SIZE_TOLERANCE_PX),
            ),
        }
        if cfg.min_area_share is not None:
            rules["min_area_share"] = (
                cfg.min_area_share,
                sel["rel_area"].to_numpy() < cfg.min_area_share,
            )
    union = np.zeros(n, dtype=bool)
    for _, mask in rules.values():
        union |= mask

    def summary(mask: np.ndarray) -> SubthresholdUnion:
        per_class_counts = np.bincount(codes[mask], minlength=len(class_names))
        return SubthresholdUnion(
            count=int(mask.sum()),
            share=float(mask.sum() / n) if n else 0.0,
            per_class={
                name: SubthresholdClass(count=int(c), share=float(c / t) if t else 0.0)
                for name, c, t in zip(class_names, per_class_counts, class_totals, strict=True)
                if c
            },
        )

    def rule(threshold: float, mask: np.ndarray) -> SubthresholdRule:
        below = summary(mask)
        return SubthresholdRule(
            threshold=float(threshold), count=below.count, share=below.share, per_class=below.per_class
        )

    zoom = cfg.review_screen_px / sel["sqrt_area"].to_numpy()
    needs = zoom >= cfg.zoom_flag
    stats = SubthresholdStats(
        imgsz=int(dataset.imgsz),
        num_labels=n,
        num_unknown_image_size=int((~np.isfinite(sel["scale"].to_numpy())).sum()),
        below_3px_at_imgsz=int(rules["min_side_model"][1].sum()),
        min_side_model_px=float(cfg.min_side_model_px),
        rules=SubthresholdRules(**{name: rule(thr, mask) for name, (thr, mask) in rules.items()}),
        union=summary(union),
        zoom=SubthresholdZoom(
            review_screen_px=float(cfg.review_screen_px),
            quantiles=quantile_dict(zoom, config.sizes.quantiles),
            flag=float(cfg.zoom_flag),
            count_at_least_flag=int(needs.sum()),
            share_at_least_flag=float(needs.mean()) if n else 0.0,
        ),
    )
    result = AnalyzerResult(NAME, "Sub-threshold labels", stats=stats)

    rows = box_label_rows(dataset, sel, union, "w_model", "h_model")
    which = np.full(len(rows), "", dtype=object)
    for name, (_, mask) in rules.items():
        hit = mask[union]
        which[hit] = np.where(which[hit] == "", name, which[hit] + "," + name)
    result.tables["labels"] = label_table(
        dataset,
        rows,
        w_model=rows["w_model"],
        h_model=rows["h_model"],
        zoom=zoom[union],
        rules=which,
    )
    _findings(dataset, config, sel, codes, rules, union, stats, result)
    return result


def _findings(
    dataset: Dataset,
    config: Config,
    sel: pd.DataFrame,
    codes: np.ndarray,
    rules: dict[str, tuple[float, np.ndarray]],
    union: np.ndarray,
    stats: SubthresholdStats,
    result: AnalyzerResult,
) -> None:
    cfg = config.subthreshold
    n = stats.num_labels
    for name, (thr, mask) in rules.items():
        count = int(mask.sum())
        if not count:
            continue
        share = count / n
        text = _rule_text(name, thr, dataset.imgsz)
        result.findings.append(
            Finding.of(
                RULE_CODES[name],
                f"{count} of {n} labels {text} ({share:.2%})",
                NAME,
                value=share,
                threshold=float(thr),
                examples=_examples(dataset, sel, mask),
                count=count,
                raised=share > cfg.warn_share,
            )
        )
    rule_text = " or ".join(_rule_text(name, thr, dataset.imgsz) for name, (thr, _) in rules.items())
    class_names = [str(c) for c in sel["class_name"].cat.categories]
    for class_name, entry in stats.union.per_class.items():
        if entry.share > config.subthreshold.class_mostly_share:
            # ``codes`` are positions in the class names (unique): the rows named class_name.
            in_class = codes == class_names.index(class_name)
            mask = union & in_class
            result.findings.append(
                Finding.of(
                    "subthreshold.class_mostly_below",
                    f"{entry.count} of {int(in_class.sum())} labels of class {class_name!r} "
                    f"({entry.share:.1%}) are below a size rule (labels that {rule_text})",
                    NAME,
                    value=entry.share,
                    threshold=config.subthreshold.class_mostly_share,
                    class_name=class_name,
                    examples=_examples(dataset, sel, mask),
                    count=entry.count,
                )
            )


def _examples(dataset: Dataset, sel: pd.DataFrame, mask: np.ndarray) -> tuple[str, ...]:
    """The first labels of a finding; the rows and detail text are taken for those only."""
    head = box_label_rows(dataset, sel, np.flatnonzero(mask)[:MAX_EXAMPLES], "w_model", "h_model")
    detail = (
        head["w"].round(2).astype(str)
        + "x"
        + head["h"].round(2).astype(str)
        + " px, "
        + head["w_model"].round(2).astype(str)
        + "x"
        + head["h_model"].round(2).astype(str)
        + f" px at imgsz {dataset.imgsz}"
    )
    return label_examples(dataset, head, detail)


def _rule_text(name: str, thr: float, imgsz: int) -> str:
    if name == "min_side_model":
        return f"are < {thr:g} px at imgsz {imgsz}"
    if name == "min_side_native":
        return f"have a side < {thr:g} px in native pixels"
    return f"cover < {thr * 100:g}% of their image area"
