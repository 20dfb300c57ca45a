"""What invoke_endpoint answers for each endpoint output setting, and which settings are refused."""

from __future__ import annotations

import pytest

from churnml import endpoint_outputs
from churnml.errors import InvalidParameter, NullValueNotAllowed


@pytest.mark.parametrize(("given", "stored"), [
    ("probability", "probability"),
    (" Label ", "label"),
    ("probability, label,THRESHOLD", "probability,label,threshold"),
    ("threshold,probability", "threshold,probability"),
])
def test_parse_normalizes(given: str, stored: str) -> None:
    assert endpoint_outputs.parse(given) == stored


@pytest.mark.parametrize(("given", "error", "words"), [
    (None, NullValueNotAllowed, "must not be NULL"),
    ("", InvalidParameter, "empty"),
    ("label,", InvalidParameter, "empty"),
    ("labels", InvalidParameter, 'unknown endpoint output "labels"'),
    ("x" * 10_000, InvalidParameter, "…"),
    ("label, label", InvalidParameter, "named twice"),
])
def test_parse_refuses(given: str | None, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as raised:
        endpoint_outputs.parse(given)
    assert words in str(raised.value) and len(str(raised.value)) < 200


def test_answers() -> None:
    answer = endpoint_outputs.answer
    assert answer(("probability",), 0.8351173411200171, 0.5) == "0.8351173411200171"
    assert float(answer(("probability",), 1 / 3, 0.5)) == 1 / 3  # the text reads back as the same float8
    assert answer(("label",), 0.51, 0.5) == "1"
    assert answer(("label",), 0.5, 0.5) == "0"  # above the cutoff, as churn_flag: equal is not flagged
    assert answer(("threshold",), 0.9, 0.35) == "0.35"
    assert answer(("probability", "label", "threshold"), 0.25, 0.2) == "(0.25,1,0.2)"
    assert endpoint_outputs.fields(None) == ("probability",)
    assert endpoint_outputs.fields("label,threshold") == ("label", "threshold")
