"""to_jsonable: nothing numpy, nothing non-finite, survives into stored JSON."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest

from churnml.training.jsonable import finite_or_none, to_jsonable


def test_numpy_values_become_plain_python() -> None:
    value = {
        "i": np.int64(3),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "a": np.array([[1, 2], [3, 4]]),
        "t": (np.float64(1.5), "x"),
        "d": Decimal("2.25"),
        np.str_("key"): None,
    }
    converted = to_jsonable(value)
    assert converted == {"i": 3, "f": 0.5, "b": True, "a": [[1, 2], [3, 4]], "t": [1.5, "x"], "d": 2.25, "key": None}
    assert type(converted["i"]) is int and type(converted["f"]) is float and type(converted["b"]) is bool  # type: ignore[index]
    assert json.loads(json.dumps(converted, allow_nan=False)) == converted


def test_non_finite_floats_become_null() -> None:
    assert to_jsonable([float("nan"), np.inf, -np.inf, np.float32("nan")]) == [None, None, None, None]
    assert finite_or_none(2) == 2.0


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="set"):
        to_jsonable({"s": {1, 2}})
