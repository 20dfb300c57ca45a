"""How one value of a feature column is read: NULLs, numbers, categories, booleans, text.

Both paths must produce identical numbers for identical input, so the rules for
one value (what counts as NULL, how a category is spelled, what a boolean is) live
here once: the column path vectorises them, the row path calls them per value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from churnml.errors import DataException, DatatypeMismatch, NumericValueOutOfRange
from churnml.lazy_numpy import np

NAN = float("nan")

Embedder = Callable[[list[str]], "np.ndarray"]

# XGBoost refuses feature names containing these (they break its text dump syntax).
_XGB_FORBIDDEN = str.maketrans({"[": "_", "]": "_", "<": "_"})


def output_name(*parts: str) -> str:
    """Join name parts with '_' into a name XGBoost accepts: int_plan + no → int_plan_no."""
    return "_".join(parts).translate(_XGB_FORBIDDEN)


def category_key(value: Any) -> str | None:
    """The spelling of a categorical value, or None for NULL.

    Numbers are spelled the way people write them (415, not 415.0, whether the
    value arrived as int, float or numeric), so an integer column made categorical
    gets columns like area_code_415.
    """
    if isinstance(value, str):
        return value if type(value) is str else str(value)  # np.str_ would leak into the stored spec
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        as_float = float(value)
        if math.isnan(as_float):
            return None
        return str(int(as_float)) if as_float.is_integer() else repr(as_float)
    if isinstance(value, Decimal):
        if value.is_nan():
            return None
        if value.is_finite() and value == value.to_integral_value():
            return str(int(value))
        return str(value.normalize())
    return str(value)


def _type_error(feature: str, value: Any, wanted: str) -> DatatypeMismatch:
    return DatatypeMismatch(
        f'feature "{feature}" has a value that is not {wanted}: {value!r}',
        detail=f"The feature spec treats this column as {wanted}, so every value must be one.",
        hint="Cast the column in the source query, or override the feature's group when training.",
    )


def to_float(value: Any, feature: str) -> float:
    """A numeric value as float; NULL, NaN and ±Infinity become NaN (XGBoost cannot take infinities)."""
    if value is None:
        return NAN
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise _type_error(feature, value, "a number") from None
    return as_float if math.isfinite(as_float) else NAN


def infinite_value(feature: str, value: Any) -> NumericValueOutOfRange:
    """22003 for ±Infinity (or a number beyond float8) in a feature being scored: XGBoost refuses
    infinities, and scoring them as missing values (what training does) would be a wrong answer."""
    as_float = float(value)
    shown = ("Infinity" if as_float > 0 else "-Infinity") if not isinstance(value, Decimal) or value.is_infinite() \
        else f"{value:.6g}"
    return NumericValueOutOfRange(
        f'feature "{feature}" is {shown}, which churnml cannot score',
        detail="A model takes finite numbers; NULL and NaN are missing values, and XGBoost refuses infinities.",
        hint="Pass NULL for an unknown value, or a finite number.",
    )


def to_finite_float(value: Any, feature: str) -> float:
    """A numeric value being scored as float: NULL and NaN become NaN (missing), ±Infinity is refused."""
    if value is None:
        return NAN
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise _type_error(feature, value, "a number") from None
    if as_float - as_float == 0 or as_float != as_float:  # finite, or NaN
        return as_float
    raise infinite_value(feature, value)


def numeric_column(values: Sequence[Any] | np.ndarray, feature: str) -> np.ndarray:
    """A numeric column as a float64 array with NaN for NULL/NaN/±Infinity (always a new array)."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        for value in values:  # find the culprit to name it
            to_float(value, feature)
        raise  # not reached: some value failed above
    if array.ndim != 1:
        raise _type_error(feature, values[0], "a number")
    array[~np.isfinite(array)] = NAN
    return array


def to_boolean(value: Any, feature: str) -> float:
    """1.0 / 0.0 for a boolean (or 0/1 number), NaN for NULL."""
    if value is None:
        return NAN
    if isinstance(value, bool | np.bool_):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | Decimal | np.integer | np.floating):
        if value != value:  # NaN
            return NAN
        if value in (0, 1):
            return float(value)
    raise _type_error(feature, value, "a boolean")


def boolean_column(values: Sequence[Any] | np.ndarray, feature: str) -> np.ndarray:
    """A boolean column as float64 0/1 with NaN for NULL."""
    if isinstance(values, np.ndarray) and values.dtype == np.bool_:
        return values.astype(np.float64)
    return np.fromiter((to_boolean(v, feature) for v in values), dtype=np.float64, count=len(values))


def category_codes(values: Sequence[Any] | np.ndarray, lookup: dict[str, int]) -> np.ndarray:
    """Position of each value among the kept categories, -1 for NULL, unseen or dropped values."""
    get = lookup.get
    codes = [
        get(v, -1) if type(v) is str else get(category_key(v), -1)  # type: ignore[arg-type]  # get(None, -1) is -1: NULL is no category
        for v in (values.tolist() if isinstance(values, np.ndarray) else values)
    ]
    return np.asarray(codes, dtype=np.int64)


def embed_texts(texts: Sequence[Any], embed: Embedder, feature: str, dim: int | None) -> np.ndarray:
    """Embed a text column; NULL rows get NaN vectors (missing), and the output shape is checked."""
    present = [i for i, t in enumerate(texts) if t is not None]
    if dim is None:
        dim = _embedding_dim(embed, [str(texts[present[0]])], feature) if present else 0
    out = np.full((len(texts), dim), NAN)
    if present:
        vectors = np.asarray(embed([str(texts[i]) for i in present]), dtype=np.float64)
        if vectors.shape != (len(present), dim):
            raise DataException(
                f'text encoder returned the wrong shape for feature "{feature}"',
                detail=f"Expected {len(present)} vectors of {dim} numbers, got shape {vectors.shape}.",
                hint="Use the same text encoder the model was trained with.",
            )
        out[present] = vectors
    return out


def _embedding_dim(embed: Embedder, sample: list[str], feature: str) -> int:
    vectors = np.asarray(embed(sample), dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] != 1 or vectors.shape[1] < 1:
        raise DataException(
            f'text encoder returned the wrong shape for feature "{feature}"',
            detail=f"For one text it returned shape {vectors.shape}; it must return one row of numbers.",
            hint="Pass a text encoder that maps a list of n strings to an n×k array.",
        )
    return int(vectors.shape[1])


def embedder_name(embed: Embedder) -> str:
    """The name recorded in the spec so prediction can check it uses the same encoder."""
    return str(getattr(embed, "encoder_name", None) or getattr(embed, "__name__", None) or "embedder")
