"""FeatureSpec: inference from SQL types, fitting on the training split only, encoding, storage."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

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
from churnml.training.feature_spec import FeatureSpec, infer_spec
from churnml.training.sql_types import base_type, type_family

NAN = float("nan")

TYPES = {
    "state": "text",
    "account_length": "bigint",
    "day_mins": "double precision",
    "charge": "numeric(10,2)",
    "int_plan": "character varying(3)",
    "vmail_plan": "boolean",
    "churn": "text",
}


def rows() -> dict[str, list[Any]]:
    return {
        "state": ["KS", "OH", "KS", "NJ", "KS", "OH"],
        "account_length": [128, 107, None, 84, 75, 118],
        "day_mins": [265.1, 161.6, 243.4, NAN, 166.7, 223.4],
        "charge": [Decimal("45.07"), Decimal("27.47"), Decimal("41.38"), None, Decimal("28.34"), Decimal("37.98")],
        "int_plan": ["no", "no", "no", "yes", "yes", "no"],
        "vmail_plan": [True, False, None, False, True, False],
        "churn": ["False.", "False.", "False.", "True.", "True.", "False."],
    }


def fitted(**options: Any) -> FeatureSpec:
    data = rows()
    return infer_spec(TYPES, data, label="churn", **options).fit(data)


# --------------------------------------------------------------------- inference


def test_groups_inferred_from_sql_types_in_source_order() -> None:
    spec = infer_spec(TYPES, rows(), label="churn")
    assert [(f.name, f.group) for f in spec.features] == [
        ("state", "categorical"),
        ("account_length", "numeric"),
        ("day_mins", "numeric"),
        ("charge", "numeric"),
        ("int_plan", "categorical"),
        ("vmail_plan", "boolean"),
    ]
    assert spec.label == "churn"
    assert spec.features[3].sql_type == "numeric(10,2)"
    assert not spec.fitted


PROSE = ("the agent was rude and my bill went up again", "thanks for fixing the dropped calls so quickly",
         "i want to cancel because the coverage is terrible at home", "great support team, they answered at once",
         "why do you charge me extra for international minutes")


def test_text_that_reads_as_prose_with_many_distinct_values_is_free_text() -> None:
    texts = [f"{PROSE[i % len(PROSE)]} ({i})" for i in range(30)]
    spec = infer_spec({"transcript": "text"}, {"transcript": texts}, categorical_max_distinct=20)
    assert spec.features[0].group == "text"
    spec = infer_spec({"transcript": "text"}, {"transcript": texts}, categorical_max_distinct=30)
    assert spec.features[0].group == "categorical"


def test_codes_with_many_distinct_values_are_categories_not_text() -> None:
    codes = [f"call transcript number {i}" for i in range(30)]  # three words, but the same three: no vocabulary
    spec = infer_spec({"transcript": "text"}, {"transcript": codes}, categorical_max_distinct=20)
    assert spec.features[0].group == "categorical"


def test_overrides_change_the_group() -> None:
    data = {"int_plan": [0, 1, 1], "area_code": [415, 408, 415], "transcript": ["a", "b", "a"]}
    types = {"int_plan": "integer", "area_code": "integer", "transcript": "text"}
    spec = infer_spec(types, data, overrides={"int_plan": "categorical", "transcript": "text"})
    assert [f.group for f in spec.features] == ["categorical", "numeric", "text"]


def test_override_with_an_unknown_group() -> None:
    with pytest.raises(InvalidParameter) as caught:
        infer_spec(TYPES, rows(), label="churn", overrides={"state": "ordinal"})
    assert "ordinal" in caught.value.message
    assert caught.value.hint and "categorical" in caught.value.hint


def test_override_for_a_column_that_is_not_a_feature() -> None:
    with pytest.raises(UndefinedColumn, match='"nope"'):
        infer_spec(TYPES, rows(), label="churn", overrides={"nope": "numeric"})


@pytest.mark.parametrize(("column", "group"), [("state", "numeric"), ("day_mins", "boolean"), ("day_mins", "text")])
def test_override_incompatible_with_the_sql_type(column: str, group: str) -> None:
    with pytest.raises(DatatypeMismatch) as caught:
        infer_spec(TYPES, rows(), label="churn", overrides={column: group})
    assert caught.value.message.startswith(f'column "{column}" of type')


def test_explicit_features_keep_their_order() -> None:
    spec = infer_spec(TYPES, rows(), features=["int_plan", "day_mins"])
    assert spec.input_names == ["int_plan", "day_mins"]


def test_exclude_uses_all_other_columns() -> None:
    spec = infer_spec(TYPES, rows(), label="churn", exclude=["state", "charge"])
    assert spec.input_names == ["account_length", "day_mins", "int_plan", "vmail_plan"]


def test_unknown_feature_names_are_named() -> None:
    with pytest.raises(UndefinedColumn) as caught:
        infer_spec(TYPES, rows(), features=["day_mins", "night_mins", "eve_mins"])
    err = caught.value
    assert err.message == 'column "night_mins" named in features does not exist in the source'
    assert err.detail and "night_mins, eve_mins" in err.detail and "day_mins" in err.detail
    assert err.sqlstate == "42703"
    with pytest.raises(UndefinedColumn, match="named in exclude"):
        infer_spec(TYPES, rows(), exclude=["phone"])


def test_repeated_source_column_names() -> None:
    with pytest.raises(InvalidParameter, match='more than one column named "x"'):
        infer_spec([("x", "integer"), ("y", "integer"), ("x", "text")], {"x": [1], "y": [2]})
    spec = infer_spec([("y", "integer"), ("x", "integer")], {})
    assert spec.input_names == ["y", "x"]


def test_feature_selection_mistakes() -> None:
    with pytest.raises(InvalidParameter, match="cannot also be a feature"):
        infer_spec(TYPES, rows(), label="churn", features=["day_mins", "churn"])
    with pytest.raises(InvalidParameter, match="more than once"):
        infer_spec(TYPES, rows(), features=["day_mins", "day_mins"])
    with pytest.raises(InvalidParameter, match="either features or exclude"):
        infer_spec(TYPES, rows(), features=["day_mins"], exclude=["state"])
    with pytest.raises(InvalidParameter, match="no feature columns"):
        infer_spec({"churn": "text"}, {"churn": ["t"]}, label="churn")
    with pytest.raises(InvalidParameter, match="missing"):
        infer_spec(TYPES, rows(), missing="interpolate")
    with pytest.raises(InvalidParameter, match="max_categories"):
        infer_spec(TYPES, rows(), max_categories=0)


@pytest.mark.parametrize("sql_type", ["date", "timestamp with time zone", "jsonb", "integer[]", "_int4", "interval"])
def test_unsupported_types_are_refused_unless_made_categorical(sql_type: str) -> None:
    data = {"x": ["a", "b"]}
    with pytest.raises(DatatypeMismatch) as caught:
        infer_spec({"x": sql_type}, data)
    assert caught.value.hint and "exclude" in caught.value.hint
    spec = infer_spec({"x": sql_type}, data, overrides={"x": "categorical"})
    assert spec.features[0].group == "categorical"


def test_sql_type_families() -> None:
    assert base_type("Character  Varying(20)") == "character varying"
    assert base_type("pg_catalog.int4") == "int4"
    assert type_family("numeric(10,2)") == "numeric"
    assert type_family("double precision") == "numeric"
    assert type_family("bool") == "boolean"
    assert type_family('"char"') == "text"
    assert type_family("timestamp without time zone") == "unsupported"
    assert type_family("mood") == "other"  # a user-defined enum


# --------------------------------------------------------------------- numeric


def test_native_missing_keeps_nan_for_xgboost() -> None:
    spec = fitted(features=["account_length", "day_mins", "charge"])
    X, names = spec.transform(rows())
    assert names == ["account_length", "day_mins", "charge"]
    assert np.isnan(X[2, 0]) and np.isnan(X[3, 1]) and np.isnan(X[3, 2])
    assert X[0].tolist() == [128.0, 265.1, 45.07]
    assert spec.features[0].state.fill is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("missing", "expected"),
    [("mean", (10.0 + 20.0) / 2), ("median", 15.0), ("zero", 0.0)],
)
def test_fill_statistics_come_from_the_training_rows_only(missing: str, expected: float) -> None:
    data = {"x": [10.0, None, 20.0, 1000.0, None]}
    spec = infer_spec({"x": "real"}, data, missing=missing).fit(data, train_index=[0, 1, 2])
    assert spec.features[0].state.fill == expected  # type: ignore[union-attr]
    X, _ = spec.transform(data)
    assert X[:, 0].tolist() == [10.0, expected, 20.0, 1000.0, expected]


def test_infinities_are_missing() -> None:
    data = {"x": [1.0, float("inf"), -np.inf, 3.0]}
    spec = infer_spec({"x": "double precision"}, data, missing="zero").fit(data)
    assert spec.transform(data)[0][:, 0].tolist() == [1.0, 0.0, 0.0, 3.0]
    assert spec.transform_row([float("-inf")]) == [0.0]


def test_a_non_number_in_a_numeric_column_is_named() -> None:
    data = {"x": [1.0, "lots", 3.0]}
    spec = infer_spec({"x": "integer"}, {"x": [1.0]}).fit({"x": [1.0, 2.0]})
    with pytest.raises(DatatypeMismatch, match="'lots'"):
        spec.transform(data)
    with pytest.raises(DatatypeMismatch, match="'lots'"):
        spec.transform_row(["lots"])


# --------------------------------------------------------------------- categorical


def test_one_hot_names_are_column_underscore_category() -> None:
    spec = fitted(features=["int_plan"])
    X, names = spec.transform(rows())
    assert names == ["int_plan_no", "int_plan_yes"]  # 'no' is more frequent, so first
    assert X.tolist() == [[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [1, 0]]


def test_raw_table_gives_the_same_column_as_a_query_computing_it() -> None:
    """The walkthrough's int_plan_no: from a query column, or from the raw int_plan."""
    data = rows()
    raw = infer_spec(TYPES, data, features=["int_plan"]).fit(data)
    X_raw, raw_names = raw.transform(data)
    computed = {"int_plan_no": [1 if v == "no" else 0 for v in data["int_plan"]]}
    derived = infer_spec({"int_plan_no": "integer"}, computed).fit(computed)
    X_derived, derived_names = derived.transform(computed)
    assert derived_names[0] in raw_names
    assert X_raw[:, raw_names.index("int_plan_no")].tolist() == X_derived[:, 0].tolist()


def test_categories_most_frequent_first_ties_alphabetical_and_capped() -> None:
    data = {"c": ["b", "a", "c", "c", "d", "b", "e", None]}
    spec = infer_spec({"c": "text"}, data, max_categories=3).fit(data)
    state = spec.features[0].state
    assert state.categories == ["b", "c", "a"]  # type: ignore[union-attr]
    assert state.dropped == 2  # type: ignore[union-attr]
    assert state.unknown == "all_zero"  # type: ignore[union-attr]
    X, names = spec.transform(data)
    assert names == ["c_b", "c_c", "c_a"]
    assert X[4].tolist() == [0, 0, 0]  # 'd' was dropped by the cap: all zero
    assert X[7].tolist() == [0, 0, 0]  # NULL: all zero


def test_unseen_category_and_null_at_prediction_are_all_zero() -> None:
    spec = fitted(features=["state"])
    new = {"state": ["KS", "TX", None, "", "OH"]}
    X, names = spec.transform(new)
    assert names == ["state_KS", "state_OH", "state_NJ"]
    assert X.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 1, 0]]
    assert spec.transform_row(["TX"]) == [0.0, 0.0, 0.0]
    assert spec.transform_row([None]) == [0.0, 0.0, 0.0]


def test_categories_fitted_on_the_training_rows_only() -> None:
    data = {"c": ["x", "x", "y", "z", "z", "z"]}
    spec = infer_spec({"c": "text"}, data).fit(data, train_index=[0, 1, 2])
    assert spec.features[0].state.categories == ["x", "y"]  # type: ignore[union-attr]
    assert spec.transform(data)[0][3:].tolist() == [[0, 0]] * 3


def test_numpy_strings_are_stored_as_plain_strings() -> None:
    data = {"c": np.array(["a", "b", "a"]).astype(object)}
    data["c"][0] = np.str_("a")
    spec = infer_spec({"c": "text"}, data).fit(data)
    assert all(type(c) is str for c in spec.features[0].state.categories)  # type: ignore[union-attr]
    assert spec.transform_row([np.str_("b")]) == [0.0, 1.0]


def test_numbers_as_categories_are_spelled_naturally() -> None:
    data = {"area_code": [415, 408, 415, 510]}
    spec = infer_spec({"area_code": "integer"}, data, overrides={"area_code": "categorical"}).fit(data)
    assert spec.output_names == ["area_code_415", "area_code_408", "area_code_510"]
    for value in (415, 415.0, Decimal("415"), Decimal("415.00"), np.int32(415), "415"):
        assert spec.transform_row([value]) == [1.0, 0.0, 0.0]


def test_output_names_are_made_safe_for_xgboost() -> None:
    data = {"age_band": ["<18", "[18,65)", "<18"]}
    spec = infer_spec({"age_band": "text"}, data).fit(data)
    assert spec.output_names == ["age_band__18", "age_band__18,65)"]
    assert spec.transform_row(["<18"]) == [1.0, 0.0]


def test_clashing_output_names_are_an_error() -> None:
    data = {"plan": ["no", "yes"], "plan_no": [1.0, 0.0]}
    spec = infer_spec({"plan": "text", "plan_no": "real"}, data)
    with pytest.raises(DataException, match="'plan_no'"):
        spec.fit(data)


# --------------------------------------------------------------------- boolean


def test_booleans_are_zero_one_and_null_is_nan() -> None:
    spec = fitted(features=["vmail_plan"])
    X, names = spec.transform(rows())
    assert names == ["vmail_plan"]
    assert X[:2, 0].tolist() == [1.0, 0.0]
    assert np.isnan(X[2, 0])
    X_np, _ = spec.transform({"vmail_plan": np.array([True, False])})
    assert X_np[:, 0].tolist() == [1.0, 0.0]
    with pytest.raises(DatatypeMismatch, match="not a boolean"):
        spec.transform_row(["maybe"])


# --------------------------------------------------------------------- all NULL


@pytest.mark.parametrize(
    ("sql_type", "override"), [("double precision", None), ("text", "categorical"), ("boolean", None)]
)
def test_all_null_training_column_is_an_error(sql_type: str, override: str | None) -> None:
    data = {"x": [None, None, None], "y": [1.0, 2.0, 3.0]}
    overrides = {"x": override} if override else None
    spec = infer_spec({"x": sql_type, "y": "real"}, data, overrides=overrides)
    with pytest.raises(DataException) as caught:
        spec.fit(data)
    assert caught.value.message == 'feature "x" is NULL in every training row'
    assert caught.value.hint and "Exclude" in caught.value.hint


def test_null_only_in_the_training_rows_is_an_error_too() -> None:
    data = {"x": [None, None, 5.0]}
    with pytest.raises(DataException, match="NULL in every training row"):
        infer_spec({"x": "real"}, data).fit(data, train_index=[0, 1])


# --------------------------------------------------------------------- text


def hashing_embedder(texts: list[str]) -> np.ndarray:
    """A stand-in encoder: 3 numbers per text, deterministic."""
    return np.array([[len(t), t.count(" "), sum(map(ord, t)) % 7] for t in texts], dtype=np.float64)


def test_text_without_an_embedder_is_a_clear_error() -> None:
    data = {"transcript": ["hello", "bye"], "x": [1, 2]}
    spec = infer_spec({"transcript": "text", "x": "int"}, data, overrides={"transcript": "text"})
    with pytest.raises(InvalidParameter) as caught:
        spec.fit(data)
    err = caught.value
    assert err.message == 'feature "transcript" is free text, and no text encoder is available'
    assert err.detail and "sentiment/text" in err.detail
    assert err.hint and "Exclude" in err.hint


def test_text_with_an_embedder() -> None:
    data = {"transcript": ["I want to cancel", None, "thanks a lot"]}
    spec = infer_spec({"transcript": "text"}, data, overrides={"transcript": "text"})
    spec.fit(data, embed=hashing_embedder)
    state = spec.to_dict()["features"][0]["state"]
    assert state == {"encoder": "hashing_embedder", "dim": 3}
    X, names = spec.transform(data, embed=hashing_embedder)
    assert names == ["transcript_emb0", "transcript_emb1", "transcript_emb2"]
    assert X[0].tolist() == hashing_embedder(["I want to cancel"])[0].tolist()
    assert np.isnan(X[1]).all()
    assert spec.transform_row(["thanks a lot"], embed=hashing_embedder) == X[2].tolist()
    with pytest.raises(InvalidParameter, match="no text encoder"):
        spec.transform(data)

    def other_encoder(texts: list[str]) -> np.ndarray:
        return hashing_embedder(texts)

    with pytest.raises(InvalidParameter, match='trained with text encoder "hashing_embedder"'):
        spec.transform(data, embed=other_encoder)


def test_embedder_with_the_wrong_shape() -> None:
    data = {"t": ["a", "b"]}
    spec = infer_spec({"t": "text"}, data, overrides={"t": "text"}).fit(data, embed=hashing_embedder)

    def hashing_embedder_broken(texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 2))

    hashing_embedder_broken.encoder_name = "hashing_embedder"  # type: ignore[attr-defined]
    with pytest.raises(DataException, match="wrong shape"):
        spec.transform(data, embed=hashing_embedder_broken)


# --------------------------------------------------------------------- transform / transform_row


def random_rows(rng: np.random.Generator, n: int) -> dict[str, list[Any]]:
    def maybe_null(values: list[Any]) -> list[Any]:
        return [None if rng.random() < 0.1 else v for v in values]

    return {
        "state": maybe_null(rng.choice(["KS", "OH", "NJ", "TX", "CA", "NY"], n).tolist()),
        "account_length": maybe_null(rng.integers(1, 250, n).tolist()),
        "day_mins": maybe_null(rng.normal(180, 50, n).tolist()),
        "charge": maybe_null([Decimal(f"{v:.2f}") for v in rng.uniform(0, 80, n)]),
        "int_plan": maybe_null(rng.choice(["no", "yes"], n, p=[0.9, 0.1]).tolist()),
        "vmail_plan": maybe_null((rng.random(n) < 0.3).tolist()),
    }


@pytest.mark.parametrize("missing", ["native", "mean", "median", "zero"])
def test_transform_row_equals_transform(missing: str) -> None:
    rng = np.random.default_rng(7)
    train = random_rows(rng, 400)
    spec = infer_spec(TYPES, train, label="churn", missing=missing, max_categories=4).fit(train)
    new = random_rows(rng, 200)
    new["state"][:5] = ["ZZ", "", "ks", "KS ", "TX"]  # unseen spellings
    X, names = spec.transform(new)
    assert X.dtype == np.float64 and X.shape == (200, len(names))
    for i in range(200):
        row = spec.transform_row([new[name][i] for name in spec.input_names])
        assert all(isinstance(v, float) for v in row)
        np.testing.assert_array_equal(np.array(row), X[i])


def test_numpy_columns_give_the_same_matrix_as_lists() -> None:
    rng = np.random.default_rng(3)
    data = random_rows(rng, 100)
    spec = infer_spec(TYPES, data, label="churn").fit(data)
    as_arrays = {
        "state": np.array(data["state"], dtype=object),
        "account_length": np.array([np.nan if v is None else v for v in data["account_length"]]),
        "day_mins": np.array([np.nan if v is None else v for v in data["day_mins"]]),
        "charge": np.array(data["charge"], dtype=object),
        "int_plan": np.array(data["int_plan"], dtype=object),
        "vmail_plan": np.array(data["vmail_plan"], dtype=object),
    }
    np.testing.assert_array_equal(spec.transform(as_arrays)[0], spec.transform(data)[0])


def test_transform_row_needs_one_value_per_feature() -> None:
    spec = fitted(features=["day_mins", "int_plan"])
    with pytest.raises(WrongArgumentCount) as caught:
        spec.transform_row([1.0])
    assert caught.value.message == "the model takes 2 feature values, got 1"
    assert caught.value.detail and "day_mins, int_plan" in caught.value.detail


def test_nothing_is_fitted_at_prediction_time() -> None:
    spec = infer_spec(TYPES, rows(), label="churn")
    with pytest.raises(ObjectNotInPrerequisiteState, match="not been fitted"):
        spec.transform(rows())
    with pytest.raises(ObjectNotInPrerequisiteState):
        spec.transform_row([None] * len(spec.input_names))


def test_transform_input_problems() -> None:
    spec = fitted(features=["day_mins", "int_plan"])
    with pytest.raises(UndefinedColumn, match='column "int_plan" is missing'):
        spec.transform({"day_mins": [1.0]})
    with pytest.raises(DataException, match="different lengths"):
        spec.transform({"day_mins": [1.0, 2.0], "int_plan": ["no"]})
    with pytest.raises(DataException, match="zero rows"):
        infer_spec(TYPES, rows(), features=["day_mins"]).fit(rows(), train_index=[])


# --------------------------------------------------------------------- storage


def test_round_trip_through_json() -> None:
    spec = fitted(missing="median", max_categories=2)
    stored = json.dumps(spec.to_dict(), allow_nan=False)  # fails on numpy types or NaN
    loaded = FeatureSpec.from_dict(json.loads(stored))
    assert loaded == spec
    assert loaded.output_names == spec.output_names
    data = rows()
    np.testing.assert_array_equal(loaded.transform(data)[0], spec.transform(data)[0])
    assert json.loads(stored)["spec_version"] == 1
    assert json.loads(stored)["output_names"] == spec.output_names


def test_unfitted_spec_round_trips_too() -> None:
    spec = infer_spec(TYPES, rows(), label="churn")
    assert FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_newer_spec_version_is_refused() -> None:
    data = fitted().to_dict()
    data["spec_version"] = 99
    with pytest.raises(VersionMismatch, match="version 99"):
        FeatureSpec.from_dict(data)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("features"),
        lambda d: d["features"][0].update(group="ordinal"),
        lambda d: d["features"][1]["state"].update(missing="interpolate"),
        lambda d: d["features"][1]["state"].update(colour="red"),
        lambda d: d.update(spec_version="1"),
        lambda d: d.update(output_names=["a"]),
    ],
)
def test_damaged_spec_is_reported(damage: Any) -> None:
    data = json.loads(json.dumps(fitted().to_dict()))
    damage(data)
    with pytest.raises(DataCorrupted):
        FeatureSpec.from_dict(data)


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (lambda d: d.pop("spec_version"), 'It has no "spec_version" key.'),
        (lambda d: d.pop("features"), 'It has no "features" key.'),
        (lambda d: d.update(features=[]), 'Its "features" is an array, not a non-empty array of feature objects.'),
        (lambda d: d["features"][1].pop("sql_type"),
         'Feature "account_length": Its "sql_type" is null, not the name of a PostgreSQL type.'),
        (lambda d: d["features"][1]["state"].update(colour="red"),
         'Feature "account_length": Its state has the key "colour", which a numeric feature does not have.'),
        (lambda d: d["features"][1].update(sql_type="float8[]"),
         'Feature "account_length": Its sql_type "float8[]" is not a type a numeric feature can have '
         "(a numeric type)."),
        (lambda d: d["features"][1].update(name=d["features"][0]["name"]),
         'Feature "state": Two features are named "state"; feature names must be unique.'),
        (lambda d: d["features"][1].update(name="é" * 32), 'Feature "' + "é" * 32 + '": '
         "The name has 64 bytes; PostgreSQL names have at most 63."),
        (lambda d: d["features"][0]["state"].update(categories=["a", "a"]),
         'Feature "state": A category appears twice in its "categories".'),
    ],
)
def test_a_damaged_spec_says_what_is_wrong_without_python_text(damage: Any, detail: str) -> None:
    """The review: register_model(..., '{}') answered DETAIL "KeyError: 'spec_version'."."""
    data = json.loads(json.dumps(fitted().to_dict()))
    damage(data)
    with pytest.raises(DataCorrupted) as raised:
        FeatureSpec.from_dict(data)
    assert raised.value.message == "stored feature spec is malformed"
    assert raised.value.detail == detail
