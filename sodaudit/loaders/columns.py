"""Joining per-file (or per-piece) columns without holding a second copy of all of them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def join_columns(parts: Sequence[dict[str, object]]) -> dict[str, object]:
    """Columns of the same names from consecutive parts, joined one name at a time, each part's
    piece dropped once joined (the parts are emptied): at most one extra column is alive, where
    ``pd.concat`` of tables holds two copies of everything. Nullable pandas arrays (``Int64``)
    stay nullable."""
    if len(parts) == 1:
        out = dict(parts[0])
        parts[0].clear()
        return out
    out: dict[str, object] = {}
    for name in list(parts[0]) if parts else []:
        pieces = [part.pop(name) for part in parts]
        if all(isinstance(p, np.ndarray) for p in pieces):
            out[name] = np.concatenate(pieces)
        else:
            out[name] = pd.concat([pd.Series(p) for p in pieces], ignore_index=True).array
        del pieces
    return out
