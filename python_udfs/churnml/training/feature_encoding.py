"""Fit and encode one feature: the column path, the one-row path, and fitting on training rows.

Both encoding paths apply the same value rules (feature_values), so `transform`
and `transform_row` agree number for number; the row path binds everything that
does not depend on the value (fill, lookup table, width) once, in a closure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from churnml.errors import DataException, InvalidParameter
from churnml.lazy_numpy import np
from churnml.training.feature_state import (
    UNKNOWN_CATEGORY,
    BooleanState,
    CategoricalState,
    Feature,
    NumericState,
    TextState,
)
from churnml.training.feature_values import (
    NAN,
    Embedder,
    boolean_column,
    category_codes,
    category_key,
    embed_texts,
    embedder_name,
    numeric_column,
    to_boolean,
    to_finite_float,
    to_float,
)

RowEncoder = Callable[[Any, list[float], Embedder | None], None]

# --------------------------------------------------------------------- fitting one feature


def fit_feature(f: Feature, values: Sequence[Any] | np.ndarray, embed: Embedder | None) -> None:
    """Learn `f`'s state from its training values (already restricted to the training rows)."""
    state = f.state
    if isinstance(state, TextState):
        if embed is None:
            _raise_no_embedder(f)
        texts = [v for v in as_list(values) if v is not None]
        if not texts:
            _raise_all_null(f)
        state.encoder = embedder_name(embed)
        state.dim = embed_texts(texts[:1], embed, f.name, None).shape[1]
        return
    fit_feature_from_stats(f, feature_stats(f, values))


# The same fit in two steps, so it can run on data that lives in pieces (`churnml train
# --engine dask`): `feature_stats` on each piece's training values, `merge_feature_stats`
# to combine them, `fit_feature_from_stats` once. `fit_feature` is these steps on one piece.
# Merged statistics give the same state as one pass over all values: category counts and
# present-value counts add up, the median is taken over all present values; the mean is
# the sum over count, equal to the one-pass mean up to floating-point summation order.

FeatureStats = dict[str, Any]


def feature_stats(f: Feature, values: Sequence[Any] | np.ndarray) -> FeatureStats:
    """What fitting `f` needs to know about some of its training values."""
    state = f.state
    if isinstance(state, NumericState):
        numbers = numeric_column(values, f.name)
        present = numbers[~np.isnan(numbers)]
        stats: FeatureStats = {"present": int(present.size)}
        if state.missing == "mean":
            stats["sum"] = float(np.add.reduce(present)) if present.size else 0.0
        elif state.missing == "median":
            stats["values"] = present
        return stats
    if isinstance(state, CategoricalState):
        return {"counts": Counter(key for key in map(category_key, as_list(values)) if key is not None)}
    if isinstance(state, BooleanState):
        return {"present": int(np.count_nonzero(~np.isnan(boolean_column(values, f.name))))}
    raise InvalidParameter(
        f'feature "{f.name}" is free text, which cannot be fitted from statistics',
        detail="Text features are embedded by a sentence encoder inside the database.",
        hint=f'Train it with churnml.train (engine database), or exclude "{f.name}".',
    )


def merge_feature_stats(f: Feature, parts: Sequence[FeatureStats]) -> FeatureStats:
    """Combine the statistics of several pieces of `f`'s training values."""
    state = f.state
    if isinstance(state, CategoricalState):
        counts: Counter[str] = Counter()
        for part in parts:
            counts.update(part["counts"])
        return {"counts": counts}
    merged: FeatureStats = {"present": sum(int(part["present"]) for part in parts)}
    if isinstance(state, NumericState):
        if state.missing == "mean":
            present = [part for part in parts if part["present"]]
            merged["sum"] = present[0]["sum"] if len(present) == 1 else float(sum(p["sum"] for p in present))
        elif state.missing == "median":
            arrays = [np.asarray(part["values"], dtype=np.float64) for part in parts]
            merged["values"] = np.concatenate(arrays) if arrays else np.zeros(0)
    return merged


def fit_feature_from_stats(f: Feature, stats: FeatureStats) -> None:
    """Set `f`'s fitted state from (merged) statistics of all its training values."""
    state = f.state
    if isinstance(state, NumericState):
        count = int(stats["present"])
        if count == 0:
            _raise_all_null(f)
        if state.missing == "mean":
            state.fill = float(stats["sum"] / count)
        elif state.missing == "median":
            state.fill = float(np.median(stats["values"]))
        elif state.missing == "zero":
            state.fill = 0.0
        else:
            state.fill = None
    elif isinstance(state, CategoricalState):
        counts = stats["counts"]
        if not counts:
            _raise_all_null(f)
        ranked = sorted(counts, key=lambda key: (-counts[key], key))
        state.categories = ranked[: state.max_categories]
        state.dropped = len(ranked) - len(state.categories)
        state.unknown = UNKNOWN_CATEGORY
    elif isinstance(state, BooleanState):
        if int(stats["present"]) == 0:
            _raise_all_null(f)
    else:
        feature_stats(f, [])  # text: refused with the reason


def _raise_all_null(f: Feature) -> NoReturn:
    raise DataException(
        f'feature "{f.name}" is NULL in every training row',
        detail="A column without values carries no information, and no statistic can be fitted on it.",
        hint=f'Exclude "{f.name}" from the features, or fill it in the source query.',
    )


def _raise_no_embedder(f: Feature) -> NoReturn:
    raise InvalidParameter(
        f'feature "{f.name}" is free text, and no text encoder is available',
        detail="Text features (sentence embeddings) arrive with the sentiment/text work; "
        "this version cannot encode free text.",
        hint=f'Exclude "{f.name}", or override it to categorical if it has few distinct values.',
    )


# --------------------------------------------------------------------- transforming


def encode_column(f: Feature, values: Sequence[Any] | np.ndarray, block: np.ndarray, embed: Embedder | None) -> None:
    """Write feature `f`'s encoding of a whole column into `block` (a zeroed view of the matrix)."""
    state = f.state
    if isinstance(state, NumericState):
        numbers = numeric_column(values, f.name)
        if state.fill is not None:
            numbers[np.isnan(numbers)] = state.fill
        block[:, 0] = numbers
    elif isinstance(state, CategoricalState):
        lookup = {category: i for i, category in enumerate(state.categories or [])}
        codes = category_codes(values, lookup)
        rows = np.flatnonzero(codes >= 0)
        block[rows, codes[rows]] = 1.0  # unseen / dropped / NULL rows stay all zero
    elif isinstance(state, BooleanState):
        block[:, 0] = boolean_column(values, f.name)
    else:
        block[:, :] = embed_texts(as_list(values), _checked_embedder(f, state, embed), f.name, state.dim)


def _checked_embedder(f: Feature, state: TextState, embed: Embedder | None) -> Embedder:
    if embed is None:
        _raise_no_embedder(f)
    name = embedder_name(embed)
    if name != state.encoder:
        raise InvalidParameter(
            f'feature "{f.name}" was trained with text encoder "{state.encoder}", not "{name}"',
            detail="Embeddings from a different encoder mean different things to the model.",
            hint=f'Pass the "{state.encoder}" encoder.',
        )
    return embed


def row_encoder(f: Feature, *, refuse_infinite: bool = False) -> RowEncoder:
    """A closure that appends `f`'s encoding of one value to the output row.

    Everything that does not depend on the value (fill, lookup table, width) is
    bound here once, so encoding a row costs a few dict lookups and appends.
    With `refuse_infinite` (scoring), ±Infinity in a numeric feature is 22003
    instead of a missing value.
    """
    state = f.state
    name = f.name
    if isinstance(state, NumericState):
        fill = NAN if state.fill is None else state.fill
        read = to_finite_float if refuse_infinite else to_float

        def encode_numeric(value: Any, out: list[float], _embed: Embedder | None) -> None:
            number = read(value, name)
            out.append(fill if number != number else number)

        return encode_numeric

    if isinstance(state, CategoricalState):
        lookup = {category: i for i, category in enumerate(state.categories or [])}
        zeros = [0.0] * len(lookup)
        width = len(lookup)

        def encode_categorical(value: Any, out: list[float], _embed: Embedder | None) -> None:
            position = lookup.get(value) if type(value) is str else lookup.get(category_key(value))  # type: ignore[arg-type]  # get(None) is None: NULL is no category
            out.extend(zeros)
            if position is not None:
                out[len(out) - width + position] = 1.0

        return encode_categorical

    if isinstance(state, BooleanState):

        def encode_boolean(value: Any, out: list[float], _embed: Embedder | None) -> None:
            out.append(to_boolean(value, name))

        return encode_boolean

    text_state = state

    def encode_text(value: Any, out: list[float], embed: Embedder | None) -> None:
        vectors = embed_texts([value], _checked_embedder(f, text_state, embed), name, text_state.dim)
        out.extend(vectors[0].tolist())

    return encode_text


def as_list(values: Sequence[Any] | np.ndarray) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)
