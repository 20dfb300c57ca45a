"""FeatureSpec: which input columns a model uses and how each becomes numbers.

A spec is built from the source's column types (`infer_spec`), fitted once on the
training split (`FeatureSpec.fit`), stored as JSON next to the model, and then only
applied: `transform` for a whole column set, `transform_row` for one row at a time
in the backend. Nothing is ever fitted at prediction time.

Groups and their encodings:

- numeric: float64. Missing values (NULL, NaN, ±Infinity) follow the spec's
  `missing` strategy: 'native' leaves NaN for XGBoost, which learns a default branch
  per split (the default); 'mean' / 'median' / 'zero' fill with a statistic fitted
  on the training split.
- categorical: one-hot, one output column `<col>_<category>` per kept category.
  Categories are the training split's values, most frequent first (ties
  alphabetical), at most `max_categories`. Rarer training values get no column of
  their own and, like NULL and values never seen in training, encode as all zeros
  (`unknown: "all_zero"`): one rule for every value without a column, and trees can
  still split on "none of the kept categories". `int_plan` with values no/yes gives
  `int_plan_no`, `int_plan_yes`, the same names as a query computing `int_plan_no`.
- boolean: 1.0 / 0.0, NULL → NaN.
- text: a vector from a caller-supplied embedder (`embed(list[str]) -> n×k array`);
  the spec records `{"encoder": name, "dim": k}`, NULL → NaN vector.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from churnml.errors import (
    DataCorrupted,
    DataException,
    DatatypeMismatch,
    InvalidParameter,
    ObjectNotInPrerequisiteState,
    UndefinedColumn,
    VersionMismatch,
    WrongArgumentCount,
)
from churnml.lazy_numpy import np
from churnml.training.feature_encoding import (
    FeatureStats,
    RowEncoder,
    encode_column,
    feature_stats,
    fit_feature,
    fit_feature_from_stats,
    merge_feature_stats,
    row_encoder,
)
from churnml.training.feature_roles import ColumnProfile, infer_role, profile_column
from churnml.training.feature_state import (
    DEFAULT_CATEGORICAL_MAX_DISTINCT,
    DEFAULT_MAX_CATEGORIES,
    GROUPS,
    MISSING_STRATEGIES,
    STATE_TYPES,
    BooleanState,
    CategoricalState,
    Feature,
    FeatureState,
    NumericState,
    TextState,
)
from churnml.training.feature_values import Embedder
from churnml.training.spec_document import SpecProblem, check_spec_document
from churnml.training.sql_types import type_family

__all__ = [
    "SPEC_VERSION",
    "BooleanState",
    "CategoricalState",
    "Columns",
    "Feature",
    "FeatureSpec",
    "NumericState",
    "TextState",
    "infer_spec",
]

SPEC_VERSION = 1
Columns = Mapping[str, "Sequence[Any] | np.ndarray"]


@dataclass
class FeatureSpec:
    features: list[Feature]
    label: str | None = None
    spec_version: int = SPEC_VERSION
    _row_encoders: list[RowEncoder] | None = field(default=None, repr=False, compare=False)

    # ----------------------------------------------------------------- describing

    @property
    def input_names(self) -> list[str]:
        """Input columns in the order `transform_row` expects their values."""
        return [f.name for f in self.features]

    @property
    def fitted(self) -> bool:
        return all(f.fitted for f in self.features)

    @property
    def output_names(self) -> list[str]:
        """Names of the columns of `transform`'s matrix, in order."""
        self._require_fitted()
        return [name for f in self.features for name in f.output_names()]

    def output_sources(self) -> dict[str, str]:
        """Output column → the input feature it came from (for folding importance back)."""
        self._require_fitted()
        return {name: f.name for f in self.features for name in f.output_names()}

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise UndefinedColumn(
            f'feature "{name}" is not in the feature spec',
            detail=f"The spec's features are: {', '.join(self.input_names)}.",
            hint="Use one of the spec's feature names.",
        )

    # ----------------------------------------------------------------- fitting

    def fit(
        self,
        columns: Columns,
        train_index: Sequence[int] | np.ndarray | None = None,
        *,
        embed: Embedder | None = None,
    ) -> FeatureSpec:
        """Fit each feature's state on the training rows only; returns self.

        Raises DataException for a feature that is NULL in every training row, and
        InvalidParameter for a text feature when no embedder is given.
        """
        n_rows = _row_count(columns, self.input_names)
        index = np.arange(n_rows) if train_index is None else np.asarray(train_index, dtype=np.int64)
        if index.size == 0:
            raise DataException(
                "cannot fit the feature spec on zero rows",
                detail="The training split is empty.",
                hint="Train on a source with more rows.",
            )
        for f in self.features:
            values = _take(columns[f.name], index)
            fit_feature(f, values, embed)
            f.fitted = True
        self._row_encoders = None
        self._check_output_names()
        return self

    def statistics(self, columns: Columns, train_index: Sequence[int] | np.ndarray | None = None) -> dict[str, Any]:
        """What fitting needs to know about one piece of the data: its training rows' statistics.

        For data that lives in pieces (partitions on Dask workers): compute this on every
        piece, then `fit_from_statistics` with all of them fits the spec as `fit` would on
        the whole training split. Text features cannot be fitted this way (InvalidParameter).
        """
        n_rows = _row_count(columns, self.input_names)
        index = np.arange(n_rows) if train_index is None else np.asarray(train_index, dtype=np.int64)
        return {"rows": int(index.size),
                "features": {f.name: feature_stats(f, _take(columns[f.name], index)) for f in self.features}}

    def fit_from_statistics(self, pieces: Sequence[Mapping[str, Any]]) -> FeatureSpec:
        """Fit every feature from the `statistics` of all pieces of the training split; returns self."""
        if sum(int(piece["rows"]) for piece in pieces) == 0:
            raise DataException(
                "cannot fit the feature spec on zero rows",
                detail="The training split is empty.",
                hint="Train on a source with more rows.",
            )
        for f in self.features:
            merged: FeatureStats = merge_feature_stats(f, [piece["features"][f.name] for piece in pieces])
            fit_feature_from_stats(f, merged)
            f.fitted = True
        self._row_encoders = None
        self._check_output_names()
        return self

    def _check_output_names(self) -> None:
        counts = Counter(self.output_names)
        clashes = sorted(name for name, count in counts.items() if count > 1)
        if clashes:
            raise DataException(
                f"two features produce the same output column {clashes[0]!r}",
                detail=f"Output columns are <column>_<category>; these names occur twice: {', '.join(clashes)}.",
                hint="Rename one of the columns in the source query, or exclude one of them.",
            )

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise ObjectNotInPrerequisiteState(
                "the feature spec has not been fitted",
                detail="Categories, fill values and embedding sizes are learned from the training split.",
                hint="Call fit() with the training rows before transforming.",
            )

    # ----------------------------------------------------------------- transforming

    def transform(self, columns: Columns, *, embed: Embedder | None = None) -> tuple[np.ndarray, list[str]]:
        """Encode whole columns: (float64 matrix rows × output columns, output column names)."""
        names = self.output_names
        n_rows = _row_count(columns, self.input_names)
        matrix = np.zeros((n_rows, len(names)), dtype=np.float64)
        start = 0
        for f in self.features:
            width = len(f.output_names())
            block = matrix[:, start : start + width]
            encode_column(f, columns[f.name], block, embed)
            start += width
        return matrix, names

    def transform_row(self, values: Sequence[Any], *, embed: Embedder | None = None) -> list[float]:
        """Encode one row given as values in `input_names` order; equals one row of `transform`."""
        encoders = self._row_encoders
        if encoders is None:
            self._require_fitted()
            encoders = self._row_encoders = [row_encoder(f) for f in self.features]
        if len(values) != len(encoders):
            raise WrongArgumentCount(
                f"the model takes {len(encoders)} feature values, got {len(values)}",
                detail=f"The features, in order, are: {', '.join(self.input_names)}.",
                hint="Pass one value per feature in the order the model was trained with.",
            )
        out: list[float] = []
        for encode, value in zip(encoders, values, strict=True):
            encode(value, out, embed)
        return out

    def row_transformer(self, *, refuse_infinite: bool = False) -> Callable[..., list[float]]:
        """`transform_row` as a function of its own: with `refuse_infinite` (what scoring uses),
        ±Infinity in a numeric feature is 22003 naming the feature instead of a missing value."""
        if not refuse_infinite:
            return self.transform_row
        self._require_fitted()
        encoders = [row_encoder(f, refuse_infinite=True) for f in self.features]
        names = self.input_names

        def transform(values: Sequence[Any], *, embed: Embedder | None = None) -> list[float]:
            if len(values) != len(encoders):
                raise WrongArgumentCount(
                    f"the model takes {len(encoders)} feature values, got {len(values)}",
                    detail=f"The features, in order, are: {', '.join(names)}.",
                    hint="Pass one value per feature in the order the model was trained with.",
                )
            out: list[float] = []
            for encode, value in zip(encoders, values, strict=True):
                encode(value, out, embed)
            return out

        return transform

    # ----------------------------------------------------------------- storing

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; `from_dict(to_dict())` gives an equal spec."""
        out: dict[str, Any] = {
            "spec_version": self.spec_version,
            "label": self.label,
            "fitted": self.fitted,
            "features": [
                {
                    "name": f.name,
                    "group": f.group,
                    "sql_type": f.sql_type,
                    "fitted": f.fitted,
                    "state": asdict(f.state),
                }
                for f in self.features
            ],
        }
        if self.fitted:
            out["output_names"] = self.output_names
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Rebuild a stored spec; DataCorrupted if it is malformed, VersionMismatch if it is newer.

        The document is checked completely first (`spec_document`): the DataCorrupted's detail is a
        sentence naming the key or feature that is wrong, and its `feature` the feature's name."""
        try:
            check_spec_document(data, newest_version=SPEC_VERSION)
        except SpecProblem as problem:
            error = DataCorrupted(
                "stored feature spec is malformed",
                detail=problem.sentence if problem.feature is None else f'Feature "{problem.feature}": '
                f"{problem.sentence}",
                hint="Retrain the model; its stored feature spec cannot be read.",
            )
            error.feature = problem.feature  # type: ignore[attr-defined]  # for callers that name the feature
            raise error from None
        version = data["spec_version"]
        if version > SPEC_VERSION:
            raise VersionMismatch(
                f"feature spec version {version} is newer than this churnml understands",
                detail=f"This churnml reads feature specs up to version {SPEC_VERSION}.",
                hint="Upgrade the churnml extension to the version that trained the model.",
            )
        features = [_feature_from_dict(item) for item in data["features"]]
        spec = cls(features=features, label=data.get("label"), spec_version=SPEC_VERSION)
        stored_names = data.get("output_names")
        if stored_names is not None and spec.fitted and stored_names != spec.output_names:
            raise DataCorrupted(
                "stored feature spec is inconsistent",
                detail="Its output_names do not match the columns its features expand to.",
                hint="Retrain the model; its stored feature spec cannot be trusted.",
            )
        if spec.fitted:
            spec._check_output_names()
        return spec


# --------------------------------------------------------------------- inference


def infer_spec(
    column_types: Mapping[str, str] | Sequence[tuple[str, str]],
    columns: Columns,
    *,
    label: str | None = None,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    overrides: Mapping[str, str] | None = None,
    missing: str = "native",
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    categorical_max_distinct: int = DEFAULT_CATEGORICAL_MAX_DISTINCT,
    profiles: Mapping[str, ColumnProfile] | None = None,
) -> FeatureSpec:
    """Build an unfitted spec from the source's column names and PostgreSQL types.

    Features are `features` in that order, or every column except `label` and
    `exclude` in source order. Groups: numeric types → numeric, boolean → boolean,
    text-like and other types (enums, uuid, ...) → categorical when they have at most
    `categorical_max_distinct` distinct values in `columns`, text when they read as
    prose (`feature_roles.infer_role`), else categorical. `profiles` are the columns'
    profiles when the caller has them (the Dask engine merges them from partitions);
    otherwise they are computed from `columns`. `overrides` maps column → group.
    Dates, times, json and arrays are refused unless overridden to categorical; derive
    numbers from them in the query instead. Identifier columns are left out before
    this, by `leave_out_identifiers`.

    Everything that can be checked without the data is checked first (`plan_features`).
    """
    _check_positive_int("max_categories", max_categories)
    _check_positive_int("categorical_max_distinct", categorical_max_distinct)
    chosen = plan_features(column_types, label=label, features=features, exclude=exclude, overrides=overrides,
                           missing=missing)
    types = dict(column_types)
    overrides = dict(overrides or {})
    specs: list[Feature] = []
    for name in chosen:
        sql_type = types[name]
        group = overrides.get(name)
        if group is None:
            group = _inferred_group(name, sql_type, columns, categorical_max_distinct, profiles)
        state = _initial_state(group, missing, max_categories)
        specs.append(Feature(name=name, group=group, sql_type=sql_type, state=state))  # type: ignore[arg-type]  # a str from overrides, checked against the groups by the caller
    return FeatureSpec(features=specs, label=label)


def check_feature_arguments(
    *,
    label: str | None = None,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] | None = (),
    overrides: Any = None,
    missing: str = "native",
) -> None:
    """The checks of `features`, `exclude`, `feature_types` and `missing` that need no source:
    churnml.train runs them before it looks at the source."""
    _check_choice("missing", missing, MISSING_STRATEGIES)
    for argument, names in (("features", features), ("exclude", exclude)):
        if names is not None and any(not isinstance(n, str) for n in names):
            raise InvalidParameter(
                f"{argument} must list column names",
                detail=f"{argument} holds a NULL or a nested array.",
                hint=f"Pass {argument} as a one-dimensional text array of column names, e.g. ARRAY['phone'].",
            )
    if features is not None and exclude:
        raise InvalidParameter(
            "give either features or exclude, not both",
            detail="features lists the columns to use; exclude uses every column except those listed.",
            hint="Pass only one of the two.",
        )
    if features is not None:
        chosen = list(features)
        duplicates = sorted({name for name in chosen if chosen.count(name) > 1})
        if duplicates:
            raise InvalidParameter(
                f'feature "{duplicates[0]}" is listed more than once',
                detail=f"Duplicated features: {', '.join(duplicates)}.",
                hint="List each feature once.",
            )
        if label is not None and label in chosen:
            raise InvalidParameter(
                f'the label column "{label}" cannot also be a feature',
                detail="A model that sees the answer among its inputs learns nothing useful.",
                hint=f'Remove "{label}" from the features.',
            )
    if overrides is None:
        return
    if not isinstance(overrides, Mapping):
        raise InvalidParameter(
            "feature_types must be a JSON object of column: group",
            detail=f"Groups are {', '.join(GROUPS)}.",
            hint='Pass e.g. {"area_code": "categorical"}.',
        )
    for name, group in overrides.items():
        _check_choice(f'feature type for "{name}"', group, GROUPS)
        if label is not None and name == label:
            raise InvalidParameter(
                f'feature_types names the label column "{label}"',
                detail="The label is what the model predicts, not one of its features.",
                hint=f'Remove "{label}" from feature_types.',
            )


def plan_features(
    column_types: Mapping[str, str] | Sequence[tuple[str, str]],
    *,
    label: str | None = None,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    overrides: Mapping[str, str] | None = None,
    missing: str = "native",
) -> list[str]:
    """The feature columns, from the source's column names and types alone (no rows): every
    check of the arguments against the source that does not need its data. What remains for
    `infer_spec` is telling categorical from free text by counting distinct values."""
    types = dict(column_types)
    if len(types) != len(column_types):
        names = [name for name, _ in column_types]  # type: ignore[str-unpack]  # a mapping cannot repeat a name
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise InvalidParameter(
            f'the source has more than one column named "{repeated[0]}"',
            detail=f"Repeated column names: {', '.join(repeated)}.",
            hint="Give every column of the source query a distinct name (use AS).",
        )
    check_feature_arguments(label=label, features=features, exclude=exclude, overrides=overrides, missing=missing)
    overrides = dict(overrides or {})
    chosen = _choose_features(types, label, features, exclude)
    unknown_overrides = [name for name in overrides if name not in chosen]
    if unknown_overrides:
        _raise_unknown_columns("feature_types", unknown_overrides, chosen)
    for name in chosen:
        group = overrides.get(name)
        if group is None:
            _check_inferable(name, types[name])
        else:
            _check_override(name, types[name], group)
    return chosen


def _choose_features(
    types: dict[str, str], label: str | None, features: Sequence[str] | None, exclude: Sequence[str]
) -> list[str]:
    if features is not None:
        chosen = list(features)
        unknown = [name for name in chosen if name not in types]
        if unknown:
            _raise_unknown_columns("features", unknown, list(types))
    else:
        unknown = [name for name in exclude if name not in types]
        if unknown:
            _raise_unknown_columns("exclude", unknown, list(types))
        dropped = {*exclude, label}
        chosen = [name for name in types if name not in dropped]
    if not chosen:
        raise InvalidParameter(
            "no feature columns are left to train on",
            detail="After removing the label and the excluded columns, no column remains.",
            hint="Select a source with at least one column besides the label.",
        )
    return chosen


def _check_inferable(name: str, sql_type: str) -> None:
    if type_family(sql_type) == "unsupported":
        raise DatatypeMismatch(
            f'column "{name}" of type {sql_type} cannot be used as a feature',
            detail="Dates, times, json, arrays and similar types have no direct numeric encoding.",
            hint=f'Derive a number from it in the query (e.g. extract(epoch from "{name}")), '
            f"exclude it, or override it to categorical.",
        )


def _inferred_group(name: str, sql_type: str, columns: Columns, max_distinct: int,
                    profiles: Mapping[str, ColumnProfile] | None) -> str:
    family = type_family(sql_type)
    if family in ("numeric", "boolean"):
        return family
    _check_inferable(name, sql_type)
    profile = (profiles or {}).get(name)
    if profile is None:
        if name not in columns:
            _raise_missing_data(name)
        profile = profile_column(columns[name], sql_type)
    # a column named explicitly is used even when it looks like an identifier: as categories
    return infer_role(name, sql_type, profile, max_distinct).group or "categorical"


def leave_out_identifiers(
    chosen: Sequence[str],
    column_types: Mapping[str, str],
    profiles: Mapping[str, ColumnProfile],
    *,
    named: Collection[str] = (),
    categorical_max_distinct: int = DEFAULT_CATEGORICAL_MAX_DISTINCT,
) -> tuple[list[str], list[tuple[str, str]]]:
    """(the features to use, [(column, why) left out]): the columns of `chosen` that identify rows
    rather than describe them (feature_roles) go, unless `named` (in features or feature_types).
    Every column left out is 22000 when no feature would remain."""
    kept: list[str] = []
    left_out: list[tuple[str, str]] = []
    for name in chosen:
        if name not in named and type_family(column_types[name]) != "unsupported":
            role = infer_role(name, column_types[name], profiles[name], categorical_max_distinct)
            if role.group is None:
                left_out.append((name, role.reason))
                continue
        kept.append(name)
    if not kept:
        raise DataException(
            "no feature columns are left to train on",
            detail="Every column identifies rows rather than describing them: "
                   + "; ".join(f"{name} ({reason})" for name, reason in left_out) + ".",
            hint=f"Name the columns to use: features => ARRAY['{left_out[0][0]}'], or give their group in "
                 "feature_types.",
        )
    return kept, left_out


def _check_override(name: str, sql_type: str, group: str) -> None:
    family = type_family(sql_type)
    allowed = {
        "numeric": ("numeric",),
        "boolean": ("boolean",),
        "text": ("text", "other"),
        "categorical": ("numeric", "boolean", "text", "other", "unsupported"),
    }[group]
    if family not in allowed:
        raise DatatypeMismatch(
            f'column "{name}" of type {sql_type} cannot be a {group} feature',
            detail=f"A {group} feature needs a column of a {' or '.join(allowed)} type.",
            hint="Cast the column in the source query, or override it to categorical instead.",
        )


def _initial_state(group: str, missing: str, max_categories: int) -> FeatureState:
    if group == "numeric":
        return NumericState(missing=missing)
    if group == "categorical":
        return CategoricalState(max_categories=max_categories)
    if group == "boolean":
        return BooleanState()
    return TextState()


def _take(values: Sequence[Any] | np.ndarray, index: np.ndarray) -> Sequence[Any] | np.ndarray:
    if isinstance(values, np.ndarray):
        return values[index]
    return [values[i] for i in index.tolist()]


def _row_count(columns: Columns, names: Sequence[str]) -> int:
    lengths: dict[str, int] = {}
    for name in names:
        if name not in columns:
            _raise_missing_data(name)
        lengths[name] = len(columns[name])
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise DataException(
            "feature columns have different lengths",
            detail=f"Row counts per column: {detail}.",
            hint="Pass every column of the same result set.",
        )
    return next(iter(lengths.values()), 0)


def _raise_missing_data(name: str) -> None:
    raise UndefinedColumn(
        f'column "{name}" is missing from the data',
        detail="The feature spec needs a value for each of its features.",
        hint=f'Include "{name}" in the source query.',
    )


def _raise_unknown_columns(argument: str, unknown: Sequence[str], available: Sequence[str]) -> None:
    raise UndefinedColumn(
        f'column "{unknown[0]}" named in {argument} does not exist in the source',
        detail=f"Unknown: {', '.join(unknown)}. Available: {', '.join(available)}.",
        hint=f"Fix the names in {argument}; column names are case-sensitive.",
    )


def _check_choice(what: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidParameter(
            f"invalid {what}: {value!r}",
            detail=f"Allowed values are {', '.join(allowed)}.",
            hint=f"Use one of: {', '.join(allowed)}.",
        )


def _check_positive_int(what: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameter(
            f"invalid {what}: {value!r}",
            detail=f"{what} must be a positive integer.",
            hint=f"Pass a whole number of at least 1 for {what}.",
        )


def _feature_from_dict(item: Mapping[str, Any]) -> Feature:
    """A feature of a document `check_spec_document` accepted."""
    group = item["group"]
    state = dict(item.get("state", {}))
    if group == "categorical" and state.get("categories") is not None:
        state["categories"] = list(state["categories"])
    if group == "numeric" and state.get("fill") is not None:
        state["fill"] = float(state["fill"])
    return Feature(
        name=item["name"],
        group=group,
        sql_type=item["sql_type"],
        state=STATE_TYPES[group](**state),
        fitted=item.get("fitted", False),
    )
