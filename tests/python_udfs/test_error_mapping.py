"""Hostile input that used to escape as internal errors (XX000) now gets a proper SQLSTATE.

Found by tests/sql/test_hostile_input.py; these check the fixes without a database.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from churnml import errors, registry
from churnml.errors import DatatypeMismatch, InvalidParameter, NullValueNotAllowed, UndefinedObject
from churnml.incentives import conditions
from churnml.incentives.conditions import ConditionError
from churnml.sql_api import aws, models, scoring, sentiment
from churnml.version import VERSION
from tests.python_udfs.fake_plpy import FakePlpy


def test_recursion_error_is_stack_depth_not_internal() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError) as raised:
        json.loads(deep)
    sqlstate, message, detail, _ = errors.describe(raised.value)
    assert sqlstate == "54001"
    assert message.startswith("input nested too deeply")
    assert detail is not None and "RecursionError" not in detail


def test_deep_json_arguments_say_so_without_python_text() -> None:
    """The review: _score_json('churn', repeat('[', 100000), 0) had Python's "Maximum recursion depth exceeded
    while decoding a JSON array from a unicode string." as its DETAIL."""
    from churnml.errors import StatementTooComplex

    for call, message in ((lambda: scoring._row("[" * 100_000), "row_json is nested too deeply"),
                          (lambda: models._loads('{"eta": ' + "[" * 100_000, "hyperparams"),
                           "hyperparams is nested too deeply")):
        with pytest.raises(StatementTooComplex) as raised:
            call()
        assert raised.value.message == message
        assert raised.value.sqlstate == "54001"
        assert "recursion" not in (raised.value.detail or "").lower()


def test_hyperparameters_beyond_float_range_name_the_range() -> None:
    """The review: {"eta": 1e400} (a 401-digit integer once jsonb prints it) was 22003 "numeric value out of range
    in churnml" / "Int too large to convert to float."."""
    from churnml.training.hyperparams import resolve_params

    with pytest.raises(InvalidParameter) as raised:
        resolve_params(models._loads('{"eta": 1' + "0" * 400 + "}", "hyperparams"))
    assert raised.value.message == 'invalid value for hyperparameter "eta": an integer of 401 digits'
    assert raised.value.detail == "eta must be a number in (0, 1]."
    with pytest.raises(InvalidParameter, match="holds a number churnml cannot read"):
        models._loads('{"eta": 1' + "0" * 5000 + "}", "hyperparams")


def test_a_null_model_name_is_22004() -> None:
    with pytest.raises(NullValueNotAllowed):
        registry.model_id_for(object(), None)


class NamesOnly:
    """A plpy whose registry holds no deployment and no model: it records the names looked up."""

    def __init__(self) -> None:
        self.looked_up: list[str] = []

    def prepare(self, query: str, types: list[str]) -> str:
        return query

    def execute(self, plan: str, args: list[Any] | None = None) -> list[dict[str, Any]]:
        if args:
            self.looked_up.append(args[0])
        if "max(id)" in plan:
            return [{"id": None}]
        if "string_agg" in plan:
            return [{"names": None}]
        return []


def test_model_ids_are_ascii_digits() -> None:
    assert registry.model_id_for(object(), " 42 ") == 42
    plpy = NamesOnly()
    # str.isdigit() is true for these; int() refuses '²' (ValueError) and reads '٣' as 3: they are names
    for name in ("\u00b2", "\u0663"):
        with pytest.raises(UndefinedObject) as caught:
            registry.model_id_for(plpy, name)
        assert caught.value.message == f'no model is named "{name}"'
    assert plpy.looked_up == ["\u00b2", "\u00b2", "\u0663", "\u0663"]  # as a deployment, then as a model name
    with pytest.raises(InvalidParameter):
        registry.model_id_for(plpy, "  ")


@pytest.mark.parametrize("call", [
    lambda plpy: models.model_trees(plpy, VERSION, None),
    lambda plpy: models.feature_importance(plpy, VERSION, None, "input"),
    lambda plpy: models.top_features(plpy, VERSION, None, 3, "input"),
    lambda plpy: models.compare_models(plpy, VERSION, [None, "churn"]),
])
def test_null_model_names_reach_sql_as_22004(call: Any) -> None:
    with pytest.raises(FakePlpy.Error) as raised:
        call(FakePlpy())
    assert raised.value.sqlstate == "22004"  # type: ignore[attr-defined]


def test_compare_models_refuses_a_two_dimensional_array() -> None:
    with pytest.raises(FakePlpy.Error) as raised:
        models.compare_models(FakePlpy(), VERSION, [["churn"], ["12"]])
    assert raised.value.sqlstate == "22023"  # type: ignore[attr-defined]
    assert "one-dimensional" in str(raised.value)


@pytest.mark.parametrize("condition", ["\u00b2", "x > \u00b2", "\u0663 > 2", "1\u0663 > 2", "x > .\u0663"])
def test_condition_numbers_are_ascii_digits(condition: str) -> None:
    """'²' and '٣' are digits to str.isdigit() and re's \\d; the condition language has ASCII numbers only."""
    with pytest.raises(ConditionError) as raised:
        conditions.parse(condition, {"x": "numeric"})
    assert raised.value.sqlstate == "22023"


@pytest.mark.parametrize("row_json", ["", "[[["])
def test_row_json_must_be_json(row_json: str) -> None:
    with pytest.raises(InvalidParameter, match="row_json"):
        scoring._row(row_json)


@pytest.mark.parametrize(("row_json", "kind"), [("true", "a boolean"), ("[]", "an array"), ('"x"', "a text value"),
                                                ("1", "a number"), ("1.5", "a number"), ("null", "a null")])
def test_a_value_that_is_not_a_row_is_42804(row_json: str, kind: str) -> None:
    with pytest.raises(DatatypeMismatch, match=f"a row of column values is needed, not {kind}$"):
        scoring._row(row_json)


@pytest.mark.parametrize("name", ["9223372036854775808", "99999999999999999999", "1" + "0" * 5000])
def test_model_ids_beyond_bigint_are_22023(name: str) -> None:
    with pytest.raises(InvalidParameter, match="out of range"):
        registry.model_id_for(object(), name)
    assert registry.model_id_for(object(), "9223372036854775807") == 2**63 - 1


def test_sentiment_summary_times_must_be_finite() -> None:
    with pytest.raises(InvalidParameter, match="finite"):
        sentiment._parse_times(object(), ["2024-01-01 00:00:00+00", "-infinity"], 2)


def test_invoke_endpoint_with_null_inputs_is_null() -> None:
    assert aws.invoke_endpoint(FakePlpy(), VERSION, "churn", None, None) is None


def test_create_model_function_needs_a_schema() -> None:
    with pytest.raises(FakePlpy.Error) as raised:
        scoring.create_model_function(FakePlpy(), VERSION, "will_churn_fn", "churn", None)
    assert raised.value.sqlstate == "22004"  # type: ignore[attr-defined]


def test_errors_of_the_loaders_keep_their_sqlstate_detail_and_hint() -> None:
    # churnml_loaders has its own errors (it never imports churnml); describe maps anything carrying
    # sqlstate, message, detail and hint
    from churnml_loaders.errors import S3AuthenticationFailed, UndefinedObject

    error = S3AuthenticationFailed("S3 rejected the credentials", detail="S3 code SignatureDoesNotMatch.",
                                   hint="Check them.", s3_code="SignatureDoesNotMatch")
    assert errors.describe(error) == ("28000", "S3 rejected the credentials", "S3 code SignatureDoesNotMatch.",
                                      "Check them.")
    missing = UndefinedObject('credential "x" is not configured')
    assert errors.describe(missing)[:2] == ("42704", 'credential "x" is not configured')
    # an attribute that merely looks like one is not taken for it
    odd = ValueError("bad")
    odd.sqlstate = 5  # type: ignore[attr-defined]
    assert errors.describe(odd)[0] == "22023"
