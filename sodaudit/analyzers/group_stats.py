"""Per-group counts, quantiles and means over box columns: the statistics the size, stride and
split analyzers share (numpy's percentiles, bincount sums; no pandas groupby arithmetic)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


def quantile_key(q: float) -> str:
    return f"p{q:g}"


def quantile_dict(values: np.ndarray, quantiles: Sequence[float]) -> dict[str, float]:
    """``np.percentile`` (in percent, linear) of the finite values as plain floats; NaN when
    there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    row = np.percentile(v, quantiles) if len(v) else np.full(len(quantiles), np.nan)
    return {quantile_key(q): float(x) for q, x in zip(quantiles, row.tolist(), strict=True)}


def group_quantiles(
    groups: pd.Series,
    names: Sequence[str],
    columns: Iterable[tuple[str, np.ndarray]],
    quantiles: Sequence[float],
) -> dict[str, dict[str, object]]:
    """Per group (the rows of each value of ``groups``, for ``names``): its row count and
    :func:`quantile_dict` of each ``(column, values)`` pair, values in the rows' order.

    ``columns`` is consumed one pair at a time, so a caller can give a generator that makes
    each column when it is read: at 8.6M boxes four columns held together are 276 MB.
    Each group goes to ``np.percentile``: pandas' ``groupby().quantile`` interpolates with a
    one-sided lerp whose last bit sometimes differs from numpy's, and the report keeps numpy's.
    """
    rows = groups.groupby(groups, observed=True).indices
    none = np.zeros(0, dtype=np.intp)
    out: dict[str, dict[str, object]] = {name: {"count": len(rows.get(name, none))} for name in names}
    for column, values in columns:
        v = np.asarray(values, dtype=np.float64)
        for name in names:
            out[name][column] = quantile_dict(v[rows.get(name, none)], quantiles)
    return out


def group_means(codes: np.ndarray, labels: Sequence[str], **columns: np.ndarray) -> dict[str, dict]:
    """Per group (``codes`` index ``labels``): its size and the mean of each column, by
    ``np.bincount`` sums (exact for 0/1 and count columns); empty groups left out."""
    n = np.bincount(codes, minlength=len(labels))
    sums = {k: np.bincount(codes, weights=v, minlength=len(labels)) for k, v in columns.items()}
    return {
        label: {"n": int(n[i]), **{k: float(s[i] / n[i]) for k, s in sums.items()}}
        for i, label in enumerate(labels)
        if n[i]
    }
