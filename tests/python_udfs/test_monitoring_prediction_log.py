"""Prediction logging's pure parts: settings, sampling, entity keys, outcome labels and periods."""

from __future__ import annotations

import pytest

from churnml.errors import DatatypeMismatch, InvalidParameter
from churnml.monitoring import prediction_log, realized
from churnml.registry import Deployment


def deployment(rate: float, key: str | None = None, shadow: int | None = None) -> Deployment:
    return Deployment(name="churn", model_id=1, artifact_sha256="0" * 64, threshold=0.5, log_rate=rate, log_key=key,
                      shadow_model_id=shadow, shadow_sha256=None if shadow is None else "1" * 64)


def test_logging_is_none_while_off() -> None:
    assert prediction_log.logging_of(deployment(0.0)) is None
    assert prediction_log.logging_of(deployment(float("nan"))) is None
    settings = prediction_log.logging_of(deployment(0.25, "id", 7))
    assert settings == prediction_log.Logging(rate=0.25, key_column="id", shadow_model_id=7, shadow_sha256="1" * 64)


def test_sampling_follows_the_rate() -> None:
    prediction_log.seed(12345)
    try:
        settings = prediction_log.Logging(rate=0.1, key_column=None, shadow_model_id=None, shadow_sha256=None)
        taken = sum(prediction_log.sampled(settings) for _ in range(100_000))
        assert abs(taken - 10_000) < 5 * 95  # five standard deviations
        every = prediction_log.Logging(rate=1.0, key_column=None, shadow_model_id=None, shadow_sha256=None)
        assert all(prediction_log.sampled(every) for _ in range(1000))
    finally:
        prediction_log.seed(None)


@pytest.mark.parametrize(("value", "text"), [
    (None, None), (42, "42"), ("A-17", "A-17"), (True, "true"), (False, "false"), (3.0, "3"), (2.5, "2.5"),
    ({"a": 1}, '{"a":1}'), ([1, 2], "[1,2]"),
])
def test_entity_keys_read_as_sql_text(value: object, text: str | None) -> None:
    assert prediction_log.entity_key(value) == text


def test_row_key_needs_a_key_column() -> None:
    settings = prediction_log.logging_of(deployment(1.0, "id"))
    assert prediction_log.row_key(settings, {"id": 5}) == 5
    assert prediction_log.row_key(settings, {"other": 5}) is None
    assert prediction_log.row_key(prediction_log.logging_of(deployment(1.0)), {"id": 5}) is None


def test_label_expressions_by_type() -> None:
    assert realized.label_expression('"y"', "boolean").expression == 's."y"'
    numeric = realized.label_expression('"y"', "integer").expression
    assert "= 1 THEN true" in numeric.replace("OPERATOR(pg_catalog.=)", "=") and "_outcome_label" in numeric
    text = realized.label_expression('"y"', "text").expression
    assert "'churned'" in text and "'retained'" in text
    with pytest.raises(DatatypeMismatch):
        realized.label_expression('"y"', "timestamp with time zone")


def test_periods() -> None:
    assert realized.check_period(" Month ") == "month"
    with pytest.raises(InvalidParameter):
        realized.check_period("fortnight")
    with pytest.raises(InvalidParameter):
        realized.check_period(None)
