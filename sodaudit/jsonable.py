"""Plain JSON values from analyzer numbers: numpy scalars to Python, NaN and inf to null.

Every JSON document sodaudit writes (report.json, diff.json, recommendations) goes through
this one function, so a number means the same in each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec
import numpy as np
import pandas as pd


def _builtin(value: Any) -> Any:
    """numpy values inside a typed stats Struct, for ``msgspec.to_builtins``."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise NotImplementedError(f"cannot write {type(value).__name__} to JSON")


def jsonable(value: Any) -> Any:
    """Plain JSON values: typed stats (msgspec Structs) to their fields, numpy scalars to Python
    numbers, NaN/inf to null."""
    if isinstance(value, msgspec.Struct):
        return jsonable(msgspec.to_builtins(value, enc_hook=_builtin))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or isinstance(value, str):
        return value
    return str(value)
