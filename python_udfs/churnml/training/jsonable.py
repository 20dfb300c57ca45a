"""Turn training results into plain JSON values before they are stored.

Everything the training core hands back for storage (feature spec, metrics, trials,
importance tables) goes through `to_jsonable`, so no numpy scalar, array or tuple
survives into `json.dumps`, and no NaN/Infinity reaches a jsonb column (PostgreSQL
rejects both): non-finite floats become null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, SupportsFloat

import numpy as np

JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def finite_or_none(value: SupportsFloat) -> float | None:
    """A Python float, or None when the value is NaN or infinite."""
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


def to_jsonable(value: Any) -> JSONValue:
    """Recursively convert `value` to types that `json.dumps(..., allow_nan=False)` accepts."""
    if value is None or isinstance(value, str):
        return value
    # bool before int: bool is an int subclass, and numpy bools are neither
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        return finite_or_none(value)
    if isinstance(value, np.ndarray):
        return [to_jsonable(item) for item in value.tolist()]
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    raise TypeError(f"cannot store a value of type {type(value).__name__} as JSON")
