"""The batch step of bulk scoring, outside Postgres: a fetched batch of packed rows
becomes a keys blob and a matrix (one C pass, _native_trees.pack_batch)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from churnml.scoring.feature_batches import batch_columns, text_blob, text_list
from churnml.scoring.tree_evaluator import native_module

KEYS = ["a", None, "", "café", "🙂\tx", "k" * 300]


def _rows(n_numeric: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(4)
    values = rng.normal(size=(len(KEYS), n_numeric))
    values[1, 0] = np.nan
    return [{"k": k, "x": struct.pack(f"={n_numeric}d", *row), "c2": f"cat{i}"}
            for i, (k, row) in enumerate(zip(KEYS, values, strict=True))]


def test_text_blob_round_trip() -> None:
    blob = text_blob(KEYS)
    assert blob.count(b"\0") == len(KEYS) and b"\xff\0" in blob
    assert text_list(blob) == KEYS
    assert text_list(text_blob([])) == []


def test_batch_columns() -> None:
    rows = _rows(2)
    features = [("f0", "numeric"), ("f1", "numeric"), ("f2", "categorical")]
    keys, columns = batch_columns(rows, features)
    assert keys == text_blob(KEYS)
    expected = np.array([struct.unpack("=2d", r["x"]) for r in rows])
    np.testing.assert_array_equal(columns["f0"], expected[:, 0])
    np.testing.assert_array_equal(columns["f1"], expected[:, 1])
    assert columns["f2"] == [f"cat{i}" for i in range(len(KEYS))]


def test_pack_batch_refuses_malformed_rows() -> None:
    native = native_module()
    good = _rows(2)
    assert native.pack_batch([], 2) == (b"", b"")
    with pytest.raises(ValueError, match="wrong size"):
        native.pack_batch(good, 3)
    with pytest.raises(TypeError):
        native.pack_batch([("k", b"")], 0)
    with pytest.raises(TypeError):
        native.pack_batch([{"k": 1, "x": b""}], 0)
    with pytest.raises(KeyError):
        native.pack_batch([{"k": "a"}], 0)
    with pytest.raises(TypeError):
        native.pack_batch(42, 0)
    with pytest.raises(ValueError):
        native.pack_batch(good, -1)


@pytest.mark.parametrize("infinity", [np.inf, -np.inf])
def test_an_infinite_feature_is_refused_by_name(infinity: float) -> None:
    """The review: -Infinity scored as a missing value. NaN (NULL) stays missing; ±Infinity is 22003."""
    from churnml.errors import NumericValueOutOfRange

    rows = _rows(2)
    features = [("f0", "numeric"), ("f1", "numeric"), ("f2", "categorical")]
    batch_columns(rows, features)  # NaN in row 1: fine
    rows[3]["x"] = struct.pack("=2d", 1.0, infinity)
    with pytest.raises(NumericValueOutOfRange) as raised:
        batch_columns(rows, features)
    assert raised.value.sqlstate == "22003"
    assert raised.value.message == (f'feature "f1" is {"Infinity" if infinity > 0 else "-Infinity"}, '
                                    "which churnml cannot score")
