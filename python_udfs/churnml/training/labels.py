"""Normalise a label column to 0 (stayed) / 1 (churned).

Labels arrive from SPI as Python values of whatever type the column has: booleans,
integers, floats, numeric (Decimal) or text such as the walkthrough's 'True.' /
'False.'. NULL labels are an error rather than silently dropped rows: a model
trained on a quietly different population than the one the user selected is worse
than a message telling them to add `WHERE label IS NOT NULL`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from churnml.errors import DataException

# Compared after strip() and lower(); 'true.'/'false.' are the walkthrough's values.
_TEXT_LABELS: dict[str, int] = {
    "true.": 1, "true": 1, "t": 1, "yes": 1, "1": 1,
    "false.": 0, "false": 0, "f": 0, "no": 0, "0": 0,
}  # fmt: skip

_ACCEPTED = "booleans, 0/1 numbers, or text 'true'/'false', 'true.'/'false.', 't'/'f', 'yes'/'no', '1'/'0'"


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    # a float NaN is how a NULL survives a trip through a numpy float array
    return isinstance(value, float | np.floating) and math.isnan(value)


def _label_of(value: Any) -> int | None:
    """0/1 for an accepted label value, None for anything else."""
    if isinstance(value, str):
        return _TEXT_LABELS.get(value.strip().lower())
    if isinstance(value, bool | np.bool_):
        return int(bool(value))
    if isinstance(value, int | np.integer | float | np.floating | Decimal) and value in (0, 1):
        return int(value)
    return None


def _from_numeric_array(values: np.ndarray, column: str) -> np.ndarray:
    """Fast path for labels that already are a numeric or boolean numpy array."""
    if values.dtype == np.bool_:
        return values.astype(np.int8)
    as_float = values.astype(np.float64)
    nulls = int(np.isnan(as_float).sum())
    if nulls:
        raise _null_error(column, nulls, len(values))
    bad = ~np.isin(as_float, (0.0, 1.0))
    if bad.any():
        raise _bad_value_error(column, values[np.argmax(bad)].item(), int(bad.sum()))
    return as_float.astype(np.int8)


def _null_error(column: str, nulls: int, rows: int) -> DataException:
    return DataException(
        f'label column "{column}" has {nulls} NULL values',
        detail=f"{nulls} of {rows} rows have no label, and a model cannot learn from them.",
        hint=f'Filter them out in the source query, e.g. WHERE "{column}" IS NOT NULL.',
    )


def _bad_value_error(column: str, value: Any, count: int) -> DataException:
    return DataException(
        f'label column "{column}" has a value that is not a churn label: {value!r}',
        detail=f"{count} rows have values that are neither churned nor stayed; accepted are {_ACCEPTED}.",
        hint="Map the label to a boolean in the source query, e.g. (churn = 'True.') AS churn.",
    )


def normalize_labels(
    values: Sequence[Any] | np.ndarray,
    *,
    column: str = "label",
    require_both_classes: bool = True,
) -> np.ndarray:
    """Return the labels as an int8 array of 0/1.

    Raises DataException for NULLs (naming how many), for a value that is not a
    label (naming it), for an empty column, and, unless `require_both_classes` is
    False, when every row has the same class.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        labels = _from_numeric_array(values.ravel(), column)
    else:
        labels = np.empty(len(values), dtype=np.int8)
        nulls = 0
        bad_count = 0
        first_bad: Any = None
        cache: dict[Any, int | None] = {}  # a label column has few distinct values
        for i, value in enumerate(values):
            if _is_null(value):
                nulls += 1
                continue
            try:
                code = cache[value]
            except KeyError:
                code = cache[value] = _label_of(value)
            except TypeError:  # unhashable (e.g. a list from an array column)
                code = None
            if code is None:
                if bad_count == 0:
                    first_bad = value
                bad_count += 1
                continue
            labels[i] = code
        if nulls:
            raise _null_error(column, nulls, len(values))
        if bad_count:
            raise _bad_value_error(column, first_bad, bad_count)

    if len(labels) == 0:
        raise DataException(
            f'label column "{column}" has no rows',
            detail="The source query returned no rows to learn from.",
            hint="Check the source query's WHERE clause.",
        )
    if require_both_classes:
        positives = int(labels.sum())
        if positives in (0, len(labels)):
            only = "churned (1)" if positives else "stayed (0)"
            raise DataException(
                f'label column "{column}" has only one class',
                detail=f"All {len(labels)} rows are {only}, so there is nothing to tell apart.",
                hint="Train on rows that include both customers who churned and customers who stayed.",
            )
    return labels


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """Row counts per class, as stored next to a model's metrics."""
    positives = int(np.count_nonzero(labels))
    return {"rows": len(labels), "positives": positives, "negatives": len(labels) - positives}
