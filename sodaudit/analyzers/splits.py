"""Splits: do train and the other splits show the model the same sizes and classes?

Over valid, non-ignore boxes. The reference split is ``train`` (or the largest split whose
name starts with ``train``, else the split with most boxes); every other split is compared to
it: a two-sample KS test on log sqrt(area), classes missing on either side, class-share
differences. A dataset with one split gets stats that say so and no findings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.analyzers.sizes import Segments, finite_range, group_codes, quantile_row_dict, selected
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import Finding, Severity

NAME = "splits"


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
    result = AnalyzerResult(NAME, "Splits")
    sel = selected(dataset)
    splits = dataset.splits
    q = config.sizes.quantiles
    split_codes = group_codes(sel, "split", splits)
    class_names = [str(c) for c in dataset.boxes["class_name"].cat.categories]
    class_codes = group_codes(sel, "class_name", class_names)
    # Each split's sizes sorted once: its quantiles and its KS sample are read from them.
    by_split = Segments.sort(
        split_codes,
        len(splits),
        {
            "native": sel["sqrt_area"].to_numpy(np.float64),
            "model": sel["sqrt_area_model"].to_numpy(np.float64),
        },
    )
    quantiles = {k: by_split.percentiles(k, q) for k in ("native", "model")}
    image_split = group_codes(dataset.images, "split", splits)
    images_per_split = np.bincount(image_split + 1, minlength=len(splits) + 1)[1:]

    # counts[s, c]: boxes of class c in split s, by one bincount over the pair index.
    n_classes = max(len(class_names), 1)
    known = (split_codes >= 0) & (class_codes >= 0)
    counts = np.bincount(
        split_codes[known] * n_classes + class_codes[known], minlength=len(splits) * n_classes
    ).reshape(len(splits), n_classes)[:, : len(class_names)]
    totals = counts.sum(axis=1)

    stats = result.stats
    stats["splits"] = list(splits)
    stats["single_split"] = len(splits) < 2
    stats["per_split"] = {
        s: {
            "num_images": int(images_per_split[i]),
            "num_boxes": int(totals[i]),
            "native": {"sqrt_area": quantile_row_dict(quantiles["native"][i], q)},
            "model": {"sqrt_area": quantile_row_dict(quantiles["model"][i], q)},
        }
        for i, s in enumerate(splits)
    }
    ref = reference_split(splits, totals.tolist())
    stats["reference"] = ref
    if ref is None:  # no images at all
        return result

    r = splits.index(ref)
    others = [i for i in range(len(splits)) if i != r]
    log_sizes = {k: [_log_positive(by_split, k, i) for i in range(len(splits))] for k in ("native", "model")}
    stats["ks"] = {
        splits[i]: {k: _ks(log_sizes[k][r], log_sizes[k][i]) for k in ("native", "model")} for i in others
    }

    present = counts > 0
    missing: dict[str, list[str]] = {}
    for i in others:  # in train, absent here
        missing[splits[i]] = [c for j, c in enumerate(class_names) if present[r, j] and not present[i, j]]
    # absent from train, present in some other split
    elsewhere = present[others].any(axis=0)
    missing[ref] = [c for j, c in enumerate(class_names) if elsewhere[j] and not present[r, j]]
    stats["classes_missing"] = {s: missing[s] for s in splits}

    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals[:, None] > 0, counts / totals[:, None], 0.0)
    used = present.any(axis=0)
    stats["class_shares"] = {
        s: {c: float(shares[i, j]) for j, c in enumerate(class_names) if used[j]}
        for i, s in enumerate(splits)
    }
    stats["class_share_diff"] = {}
    stats["max_class_share_diff"] = {}
    for i in others:
        diff = shares[i] - shares[r]
        stats["class_share_diff"][splits[i]] = {
            c: float(diff[j]) for j, c in enumerate(class_names) if used[j]
        }
        j = int(np.argmax(np.abs(np.where(used, diff, 0.0)))) if used.any() else -1
        stats["max_class_share_diff"][splits[i]] = (
            {"class_name": class_names[j], "diff": float(diff[j])} if j >= 0 else None
        )
    if len(splits) > 1:
        _findings(config, stats, result)
    return result


def _log_positive(seg: Segments, name: str, group: int) -> np.ndarray:
    """log of a split's finite positive sizes, ascending (log is monotone on the sorted run);
    the same values as ``log(v)`` of all its sizes with the non-finite results dropped."""
    g = seg.values[name]
    lo, hi = finite_range(g, int(seg.starts[group]), int(seg.stops[group]))
    v = g[lo:hi]
    return np.log(v[int(np.searchsorted(v, 0.0, side="right")) :])


def _ks(la: np.ndarray, lb: np.ndarray) -> dict[str, object]:
    """KS test on log size; undefined (NaN) when either side has no finite positive size."""
    if len(la) == 0 or len(lb) == 0:
        return {"statistic": float("nan"), "pvalue": float("nan"), "n_ref": len(la), "n": len(lb)}
    statistic, pvalue = ks_2samp_sorted(la, lb)
    return {"statistic": statistic, "pvalue": pvalue, "n_ref": len(la), "n": len(lb)}


KS_EXACT_MAX_N = 10_000
"""``scipy.stats.ks_2samp`` (method ``auto``) computes an exact p-value up to this sample size."""


def ks_2samp_sorted(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided ``scipy.stats.ks_2samp(a, b)`` (statistic, p-value) of ascending, finite,
    non-empty samples.

    Above :data:`KS_EXACT_MAX_N` scipy's p-value is its asymptotic one,
    ``kstwo.sf(d, round(m n / (m + n)))``; it is computed here from the same statistic, which
    :func:`ks_statistic_sorted` finds from the sorted samples by one merge instead of two binary
    searches of every point of both samples (0.1 s at 10^6 boxes). Smaller samples go to
    ``ks_2samp`` itself (exact p-value).
    """
    # ~0.4 s to import scipy.stats: paid only by datasets with 2+ splits
    from scipy.stats import ks_2samp, kstwo

    n1, n2 = len(a), len(b)
    if max(n1, n2) <= KS_EXACT_MAX_N:
        res = ks_2samp(a, b)
        return float(res.statistic), float(res.pvalue)
    d = ks_statistic_sorted(a, b)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(d), float(np.clip(kstwo.sf(d, np.round(en)), 0, 1))


def ks_statistic_sorted(a: np.ndarray, b: np.ndarray) -> np.float64:
    """max |F_a - F_b| over every sample point, with scipy's arithmetic (``count / n`` per
    sample, their difference, the larger of its max and clipped -min): bit-identical to
    ``ks_2samp(a, b).statistic``. ``a`` and ``b`` ascending, finite, non-empty."""
    n1, n2 = len(a), len(b)
    # Counts at or below each point: within its own sample, the end of its run of equal
    # values; in the other sample, a binary search for the smaller one's points, and for the
    # larger one's points a cumulative count of where the smaller one's points fall.
    a_in_a, b_in_b = _run_ends(a), _run_ends(b)
    if n1 >= n2:
        b_in_a = np.searchsorted(a, b, side="right")
        a_in_b = np.cumsum(np.bincount(np.searchsorted(a, b, side="left"), minlength=n1 + 1))[:n1]
    else:
        a_in_b = np.searchsorted(b, a, side="right")
        b_in_a = np.cumsum(np.bincount(np.searchsorted(b, a, side="left"), minlength=n2 + 1))[:n2]
    cddiffs = np.concatenate([a_in_a / n1 - a_in_b / n2, b_in_a / n1 - b_in_b / n2])
    min_s = np.clip(-cddiffs.min(), 0, 1)
    max_s = cddiffs.max()
    return min_s if min_s > max_s else max_s


def _run_ends(v: np.ndarray) -> np.ndarray:
    """``np.searchsorted(v, v, side="right")`` of an ascending array: where each run of equal
    values ends."""
    starts = np.flatnonzero(np.concatenate([[True], v[1:] != v[:-1]]))
    lengths = np.diff(np.append(starts, len(v)))
    return np.repeat(starts + lengths, lengths)


def _findings(config: Config, stats: dict, result: AnalyzerResult) -> None:
    cfg = config.splits
    ref = stats["reference"]
    for split, ks in stats["ks"].items():
        native = ks["native"]
        stat = native["statistic"]
        if np.isfinite(stat) and stat > cfg.ks_warn:
            q_ref = stats["per_split"][ref]["native"]["sqrt_area"]["p50"]
            q_other = stats["per_split"][split]["native"]["sqrt_area"]["p50"]
            significant = native["pvalue"] < cfg.ks_significance
            result.findings.append(
                Finding(
                    "splits.size_drift",
                    Severity.WARNING if significant else Severity.INFO,
                    f"Box sizes in {split!r} differ from {ref!r}: KS statistic {stat:.3f} on log "
                    f"sqrt(area) (p = {native['pvalue']:.3g}, {native['n']} vs {native['n_ref']} "
                    f"boxes); median sqrt(area) {q_other:.1f} px vs {q_ref:.1f} px",
                    NAME,
                    value=stat,
                    threshold=cfg.ks_warn,
                )
            )
    for split, names in stats["classes_missing"].items():
        if not names:
            continue
        shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        if split == ref:
            text = f"{len(names)} classes have boxes in other splits but none in {ref!r}: {shown}"
        else:
            text = f"{len(names)} classes of {ref!r} have no boxes in {split!r}: {shown}"
        result.findings.append(
            Finding(
                "splits.class_missing",
                Severity.WARNING,
                text,
                NAME,
                value=float(len(names)),
                examples=tuple(names[:20]),
                count=len(names),
            )
        )
    shares = stats["class_shares"]
    for split, diffs in stats["class_share_diff"].items():
        # one finding per split, largest shifts first: a shifted class mix is one problem
        drifted = sorted(
            ((c, d) for c, d in diffs.items() if abs(d) > cfg.class_share_warn), key=lambda cd: -abs(cd[1])
        )
        if not drifted:
            continue
        parts = [f"{c!r} {shares[split][c]:.1%} vs {shares[ref][c]:.1%} ({d:+.1%})" for c, d in drifted]
        result.findings.append(
            Finding(
                "splits.class_share_drift",
                Severity.WARNING,
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
