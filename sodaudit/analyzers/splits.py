"""Splits: do train and the other splits show the model the same sizes and classes?

Over valid, non-ignore boxes. The reference split is ``train`` (or the largest split whose
name starts with ``train``, else the split with most boxes); every other split is compared to
it: a two-sample KS test on log sqrt(area), classes missing on either side, class-share
differences; and frames of one sequence (clip, flight) in two splits
(:mod:`sodaudit.analyzers.splits_leakage`). A dataset with one split gets stats that say so and
no findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec
import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.analyzers.sizes import Quantiles, quantile_dict, selected
from sodaudit.analyzers.splits_leakage import SplitsLeakage, leakage
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import Finding

NAME = "splits"


class SplitsSizes(msgspec.Struct, kw_only=True):
    """Quantiles of sqrt(area) of one split, in pixels."""

    sqrt_area: Quantiles


class SplitsSplit(msgspec.Struct, kw_only=True):
    """One split: images, boxes and sizes native and at model input."""

    num_images: int
    num_boxes: int
    native: SplitsSizes
    model: SplitsSizes


class SplitsKs(msgspec.Struct, kw_only=True):
    """Two-sample KS test on log sqrt(area) against the reference split (null when either side
    has no box)."""

    statistic: float
    pvalue: float
    n_ref: int
    n: int


class SplitsKsScales(msgspec.Struct, kw_only=True):
    """The KS tests of one split, on sizes native and at model input."""

    native: SplitsKs
    model: SplitsKs


class SplitsShareDiff(msgspec.Struct, kw_only=True):
    """The class whose share of the boxes differs most from the reference split."""

    class_name: str
    diff: float


class SplitsStats(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Per-split sizes, size drift against the reference split, missing classes and class
    shares; the comparisons are left out when there is no reference (no image)."""

    splits: list[str]
    single_split: bool
    per_split: dict[str, SplitsSplit]
    reference: Annotated[
        str | None, msgspec.Meta(description="train, else the largest train* split, else the largest")
    ]
    ks: Annotated[
        dict[str, SplitsKsScales] | None,
        msgspec.Meta(description="every split but the reference -> its KS tests against it"),
    ] = None
    classes_missing: Annotated[
        dict[str, list[str]] | None,
        msgspec.Meta(
            description="split -> the reference's classes it lacks; for the reference, the classes "
            "only other splits have"
        ),
    ] = None
    class_shares: Annotated[
        dict[str, dict[str, float]] | None,
        msgspec.Meta(description="split -> class -> its share of the split's boxes"),
    ] = None
    class_share_diff: Annotated[
        dict[str, dict[str, float]] | None,
        msgspec.Meta(description="split -> class -> its share minus the share in the reference"),
    ] = None
    max_class_share_diff: dict[str, SplitsShareDiff | None] | None = None
    leakage: Annotated[
        SplitsLeakage | None,
        msgspec.Meta(description="sequences (clips, flights) with frames in two splits; null: no image"),
    ] = None


def reference_split(splits: Sequence[str], box_counts: Sequence[int]) -> str | None:
    """``train``, else the largest split named ``train*``, else the largest split."""
    if not splits:
        return None
    counts = dict(zip(splits, box_counts, strict=True))
    if "train" in counts:
        return "train"
    candidates = [s for s in splits if s.lower().startswith("train")] or list(splits)
    return max(candidates, key=lambda s: counts[s])  # max keeps the first of equals


def analyze(dataset: Dataset, config: Config) -> AnalyzerResult:
    """Per-split sizes, size drift against train, missing classes and class-share drift."""
    splits = dataset.splits
    q = config.sizes.quantiles
    class_names = [str(c) for c in dataset.boxes["class_name"].cat.categories]
    # Integer codes of the selected boxes (split: position in ``splits``; -1: none), not a frame.
    sel = selected(dataset, "split", "class_name")
    split_code = pd.Categorical(sel["split"], categories=splits).codes.astype(np.int64)
    class_code = sel["class_name"].cat.codes.to_numpy().astype(np.int64)
    del sel
    images_per_split = dataset.images["split"].value_counts().reindex(splits, fill_value=0)
    # counts[s, c]: boxes of class c in split s
    known = (split_code >= 0) & (class_code >= 0)
    counts = np.bincount(
        split_code[known] * len(class_names) + class_code[known], minlength=len(splits) * len(class_names)
    ).reshape(len(splits), len(class_names))
    del class_code, known
    totals = counts.sum(axis=1)
    ref = reference_split(splits, totals.tolist())
    r = splits.index(ref) if ref is not None else -1
    others = [i for i in range(len(splits)) if i != r]
    # One size column at a time, each split's sizes made into quantiles and log sizes one after
    # the other: the KS tests then hold one column's log sizes, not a 4-column box frame and
    # both columns' sizes and log sizes (0.5 GB at 8.6M boxes).
    quantiles: dict[str, list[Quantiles]] = {}
    ks: dict[str, dict[int, SplitsKs]] = {}
    for kind, col in (("native", "sqrt_area"), ("model", "sqrt_area_model")):
        values = selected(dataset, col)[col].to_numpy()
        quantiles[kind], logs = [], []
        for i in range(len(splits)):
            v = values[split_code == i]
            quantiles[kind].append(quantile_dict(v, q))
            logs.append(_log_positive(v))
            del v
        del values
        ks[kind] = {i: _ks(logs[r], logs[i]) for i in others} if ref is not None else {}
        del logs
    del split_code

    stats = SplitsStats(
        splits=list(splits),
        single_split=len(splits) < 2,
        per_split={
            s: SplitsSplit(
                num_images=int(images_per_split[s]),
                num_boxes=int(totals[i]),
                native=SplitsSizes(sqrt_area=quantiles["native"][i]),
                model=SplitsSizes(sqrt_area=quantiles["model"][i]),
            )
            for i, s in enumerate(splits)
        },
        reference=ref,
    )
    result = AnalyzerResult(NAME, "Splits", stats=stats)
    if ref is None:  # no images at all
        return result
    stats.leakage = leakage(dataset, config, ref, result)
    stats.ks = {splits[i]: SplitsKsScales(native=ks["native"][i], model=ks["model"][i]) for i in others}

    present = counts > 0
    missing: dict[str, list[str]] = {}
    for i in others:  # in train, absent here
        missing[splits[i]] = [c for j, c in enumerate(class_names) if present[r, j] and not present[i, j]]
    # absent from train, present in some other split
    elsewhere = present[others].any(axis=0)
    missing[ref] = [c for j, c in enumerate(class_names) if elsewhere[j] and not present[r, j]]
    stats.classes_missing = {s: missing[s] for s in splits}

    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals[:, None] > 0, counts / totals[:, None], 0.0)
    used = present.any(axis=0)
    stats.class_shares = {
        s: {c: float(shares[i, j]) for j, c in enumerate(class_names) if used[j]}
        for i, s in enumerate(splits)
    }
    stats.class_share_diff = {}
    stats.max_class_share_diff = {}
    for i in others:
        diff = shares[i] - shares[r]
        stats.class_share_diff[splits[i]] = {c: float(diff[j]) for j, c in enumerate(class_names) if used[j]}
        j = int(np.argmax(np.abs(np.where(used, diff, 0.0)))) if used.any() else -1
        stats.max_class_share_diff[splits[i]] = (
            SplitsShareDiff(class_name=class_names[j], diff=float(diff[j])) if j >= 0 else None
        )
    if len(splits) > 1:
        _findings(config, stats, ref, result)
    return result


def _log_positive(values: np.ndarray) -> np.ndarray:
    """log of the finite positive sizes (the KS test compares log sizes)."""
    v = values[np.isfinite(values) & (values > 0)]
    return np.log(v)


def _ks(la: np.ndarray, lb: np.ndarray) -> SplitsKs:
    """KS test on log size; undefined (NaN) when either side has no finite positive size."""
    if len(la) == 0 or len(lb) == 0:
        return SplitsKs(statistic=float("nan"), pvalue=float("nan"), n_ref=len(la), n=len(lb))
    from scipy.stats import ks_2samp  # ~0.3 s to import: paid only by datasets with 2+ splits

    res = ks_2samp(la, lb)
    return SplitsKs(statistic=float(res.statistic), pvalue=float(res.pvalue), n_ref=len(la), n=len(lb))


def _findings(config: Config, stats: SplitsStats, ref: str, result: AnalyzerResult) -> None:
    """Findings of a dataset whose splits are compared to the reference split ``ref``."""
    cfg = config.splits
    for split, ks in (stats.ks or {}).items():
        native = ks.native
        stat = native.statistic
        if np.isfinite(stat) and stat > cfg.ks_warn:
            q_ref = stats.per_split[ref].native.sqrt_area["p50"]
            q_other = stats.per_split[split].native.sqrt_area["p50"]
            significant = native.pvalue < cfg.ks_significance
            result.findings.append(
                Finding.of(
                    "splits.size_drift",
                    f"Box sizes in {split!r} differ from {ref!r}: KS statistic {stat:.3f} on log "
                    f"sqrt(area) (p = {native.pvalue:.3g}, {native.n} vs {native.n_ref} "
                    f"boxes); median sqrt(area) {q_other:.1f} px vs {q_ref:.1f} px",
                    NAME,
                    value=stat,
                    threshold=cfg.ks_warn,
                    raised=significant,
                )
            )
    for split, names in (stats.classes_missing or {}).items():
        if not names:
            continue
        shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        if split == ref:
            text = f"{len(names)} classes have boxes in other splits but none in {ref!r}: {shown}"
        else:
            text = f"{len(names)} classes of {ref!r} have no boxes in {split!r}: {shown}"
        result.findings.append(
            Finding.of(
                "splits.class_missing",
                text,
                NAME,
                value=float(len(names)),
                examples=tuple(names[:20]),
                count=len(names),
            )
        )
    shares = stats.class_shares or {}
    for split, diffs in (stats.class_share_diff or {}).items():
        # one finding per split, largest shifts first: a shifted class mix is one problem
        drifted = sorted(
            ((c, d) for c, d in diffs.items() if abs(d) > cfg.class_share_warn), key=lambda cd: -abs(cd[1])
        )
        if not drifted:
            continue
        parts = [f"{c!r} {shares[split][c]:.1%} vs {shares[ref][c]:.1%} ({d:+.1%})" for c, d in drifted]
        result.findings.append(
            Finding.of(
                "splits.class_share_drift",
                f"{len(drifted)} classes have a share of the boxes in {split!r} more than "
                f"{cfg.class_share_warn:.0%} away from {ref!r}: "
                + "; ".join(parts[:5])
                + (f"; and {len(parts) - 5} more" if len(parts) > 5 else ""),
                NAME,
                value=float(max(abs(d) for _, d in drifted)),
                threshold=cfg.class_share_warn,
                class_name=drifted[0][0],
                examples=tuple(parts),
                count=len(drifted),
            )
        )
