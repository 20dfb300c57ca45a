"""normalize_labels: every accepted spelling, and a clear error for everything else."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from churnml.errors import DataException
from churnml.training.labels import class_counts, normalize_labels


def test_walkthrough_labels() -> None:
    labels = normalize_labels(["False.", "True.", "False.", "True."], column="churn")
    assert labels.tolist() == [0, 1, 0, 1]
    assert labels.dtype == np.int8


@pytest.mark.parametrize(
    ("positive", "negative"),
    [
        ("true", "false"),
        ("TRUE", "False"),
        ("t", "f"),
        ("T", "F"),
        ("yes", "no"),
        ("Yes", "NO"),
        ("1", "0"),
        ("  true. ", " false.\n"),
        (True, False),
        (1, 0),
        (1.0, 0.0),
        (Decimal("1"), Decimal("0.0")),
        (np.int64(1), np.int64(0)),
        (np.bool_(True), np.bool_(False)),
    ],
)
def test_accepted_spellings(positive: object, negative: object) -> None:
    assert normalize_labels([positive, negative, negative]).tolist() == [1, 0, 0]


@pytest.mark.parametrize(
    "values",
    [
        np.array([True, False, True]),
        np.array([1, 0, 1]),
        np.array([1.0, 0.0, 1.0]),
        np.array([1, 0, 1], dtype=np.uint8),
    ],
)
def test_numpy_fast_path(values: np.ndarray) -> None:
    assert normalize_labels(values).tolist() == [1, 0, 1]


def test_null_labels_are_an_error_naming_the_count() -> None:
    with pytest.raises(DataException) as caught:
        normalize_labels(["True.", None, "False.", None], column="churn")
    err = caught.value
    assert err.message == 'label column "churn" has 2 NULL values'
    assert err.sqlstate == "22000"
    assert err.detail and err.detail.endswith(".")
    assert err.hint and "IS NOT NULL" in err.hint


def test_nan_in_a_float_array_counts_as_null() -> None:
    with pytest.raises(DataException, match="1 NULL values"):
        normalize_labels(np.array([1.0, np.nan, 0.0]))
    with pytest.raises(DataException, match="1 NULL values"):
        normalize_labels([1.0, float("nan"), 0.0])


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (["True.", "maybe", "False."], "'maybe'"),
        ([1, 0, 2], "2"),
        ([0.0, 0.5, 1.0], "0.5"),
        (np.array([0, 1, 3]), "3"),
        (["yes", "no", "y"], "'y'"),
        ([1, 0, [1]], "[1]"),
    ],
)
def test_other_values_are_an_error_naming_the_value(values: list, named: str) -> None:
    with pytest.raises(DataException) as caught:
        normalize_labels(values, column="churn")
    assert caught.value.message.startswith('label column "churn" has a value that is not a churn label')
    assert caught.value.message.endswith(named)
    assert caught.value.hint


def test_bad_value_count_is_reported() -> None:
    with pytest.raises(DataException) as caught:
        normalize_labels(["maybe", "1", "perhaps", "0"])
    assert caught.value.detail is not None
    assert caught.value.detail.startswith("2 rows")


def test_one_class_is_an_error() -> None:
    with pytest.raises(DataException) as caught:
        normalize_labels(["False."] * 5, column="churn")
    assert caught.value.message == 'label column "churn" has only one class'
    assert caught.value.detail == "All 5 rows are stayed (0), so there is nothing to tell apart."
    with pytest.raises(DataException, match="only one class"):
        normalize_labels(np.ones(3, dtype=bool))


def test_one_class_allowed_when_asked() -> None:
    assert normalize_labels([1, 1], require_both_classes=False).tolist() == [1, 1]


def test_empty_label_column() -> None:
    with pytest.raises(DataException, match="has no rows"):
        normalize_labels([])


def test_class_counts() -> None:
    assert class_counts(np.array([1, 0, 0, 1, 1], dtype=np.int8)) == {"rows": 5, "positives": 3, "negatives": 2}
