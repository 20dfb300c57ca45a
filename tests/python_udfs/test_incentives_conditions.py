"""Rule conditions: the parser accepts the language and nothing else; the interpreter follows SQL's
three-valued logic."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from churnml.errors import InvalidParameter
from churnml.incentives.conditions import (
    ConditionError,
    DivisionByZero,
    compile_condition,
    evaluate,
    parse,
    to_sql,
)

INPUTS = {
    "will_churn": "numeric", "sentiment": "text", "confidence": "numeric", "cust_service_calls": "numeric",
    "int_plan": "text", "day_mins": "numeric", "day_charge": "numeric", "vip": "boolean",
}

WALKTHROUGH = [
    "sentiment = 'POSITIVE' AND confidence > 0.5 AND will_churn < 0.5",
    "sentiment = 'POSITIVE' AND confidence > 0.5 AND will_churn >= 0.5",
    "sentiment = 'NEGATIVE' AND confidence > 0.7 AND will_churn > 0.8",
    "sentiment = 'NEGATIVE' AND confidence > 0.7 AND will_churn > 0.4",
    "sentiment = 'NEGATIVE' AND confidence > 0.7",
    "cust_service_calls > 2 AND int_plan = 'yes'",
    "TRUE",
]

MORE_ACCEPTED = [
    "will_churn BETWEEN 0.4 AND 0.8",
    "will_churn NOT BETWEEN 0.4 AND 0.8 OR vip",
    "sentiment IN ('NEGATIVE', 'MIXED') AND NOT vip",
    "sentiment NOT IN ('POSITIVE')",
    "int_plan IS NULL OR int_plan IS NOT NULL",
    "day_mins > 0 AND day_charge / day_mins > 0.2",
    "-will_churn * 2 + 1 >= -0.5",
    "(((will_churn > 0.5)))",
    "SENTIMENT = 'it''s' or Will_Churn != 1e-3",
    "vip = TRUE",
    "NULL",
    "will_churn <> NULL",
    ".5 < will_churn",
]


@pytest.mark.parametrize("text", WALKTHROUGH + MORE_ACCEPTED)
def test_accepts_the_language_and_round_trips(text: str) -> None:
    tree = parse(text, INPUTS)
    assert tree["version"] == 1
    assert parse(to_sql(tree), INPUTS) == tree


def test_tree_records_the_inputs_used_and_normalises() -> None:
    tree = parse("Sentiment = 'NEGATIVE' AND confidence > 0.7 AND will_churn != 0.8", INPUTS)
    assert tree["inputs"] == ["confidence", "sentiment", "will_churn"]
    assert to_sql(tree) == "((sentiment = 'NEGATIVE') AND (confidence > 0.7) AND (will_churn <> 0.8))"


REJECTED = [
    # text, problem contains, offending token, position
    ("pg_sleep(1)", 'function call "pg_sleep" at position 1 is not allowed', "pg_sleep", 1),
    ("will_churn > 0.5 AND pg_sleep(1) IS NULL", 'function call "pg_sleep" at position 22', "pg_sleep", 22),
    ("1; DROP TABLE x", '";" at position 2 is not allowed', ";", 2),
    ("will_churn > 0.5; DROP TABLE churnml.models", '";" at position 17', ";", 17),
    ("(SELECT 1)", 'subquery "SELECT" at position 2 is not allowed', "SELECT", 2),
    ("will_churn > (select max(x) from t)", 'subquery "select" at position 15', "select", 15),
    ("EXISTS (SELECT 1)", 'function call "EXISTS" at position 1', "EXISTS", 1),
    ("unknown_col > 1", 'unknown input "unknown_col" at position 1', "unknown_col", 1),
    ("x::int", 'unknown input "x" at position 1', "x", 1),
    ("will_churn::int > 0", 'cast "::" at position 11 is not allowed', "::", 11),
    ("(will_churn > 1", '"(" at position 1 is never closed', "(", 1),
    ("((will_churn > 1)", '"(" at position 1 is never closed', "(", 1),
    ("will_churn > 1)", '")" at position 15 has no matching "("', ")", 15),
    ("(will_churn > 1))", '")" at position 17 has no matching "("', ")", 17),
    ("()", 'unexpected ")" at position 2', ")", 2),
    ("will_churn > 0.5 -- comment", 'comment "--" at position 18', "--", 18),
    ("will_churn > 0.5 /* c */", 'comment "/*" at position 18', "/*", 18),
    ('"will_churn" > 0.5', "double quote at position 1 is not allowed", '"', 1),
    ("sentiment = 'open", "string starting \"'\" at position 13 is never closed", "'", 13),
    ("sentiment LIKE 'N%'", 'unexpected "LIKE" at position 11', "LIKE", 11),
    ("sentiment || 'x' = 'y'", '"|" at position 11 is not allowed', "|", 11),
    ("will_churn % 2 = 0", '"%" at position 12 is not allowed', "%", 12),
    ("will_churn > $1", '"$" at position 14 is not allowed', "$", 14),
    ("will_churn > 0.5 AND", "unexpected end of condition at position 21", "", 21),
    ("", "the condition is empty", "", 1),
    ("   ", "the condition is empty", "", 1),
    ("will_churn", "the condition is numeric, not boolean", "will_churn", 1),
    ("sentiment > 0.5", 'operator ">" at position 11 cannot compare text with numeric', ">", 11),
    ("sentiment + 1 > 2", '"sentiment" at position 1 is an operand of +', "sentiment", 1),
    ("will_churn AND vip", '"will_churn" at position 1 is an operand of AND', "will_churn", 1),
    ("NOT will_churn", '"will_churn" at position 5 is the operand of NOT', "will_churn", 5),
    ("sentiment IN ('A', 1)", '"1" at position 20 is numeric but IN compares text values', "1", 20),
    ("will_churn BETWEEN 0.1 OR 0.2", 'BETWEEN expects AND, not "OR" at position 24', "OR", 24),
    ("0.1 < will_churn < 0.5", 'comparisons cannot be chained: "<" at position 18', "<", 18),
    ("will_churn IS TRUE", '"TRUE" at position 15 cannot follow IS', "TRUE", 15),
    ("will_churn > 1e999", 'number "1e999" at position 14 is out of range', "1e999", 14),
    ("will_churn > 12abc", 'invalid number "12abc" at position 14', "12abc", 14),
    ("will_churn IN 1", "IN at position 12 needs a parenthesised list", "IN", 12),
    ("will_churn > 0.5 will_churn", 'unexpected "will_churn" at position 18', "will_churn", 18),
    ("CASE WHEN vip THEN TRUE END", 'unexpected "CASE" at position 1', "CASE", 1),
    ("will_churn > current_user", 'unexpected "current_user" at position 14', "current_user", 14),
    ("vip = E'x'", 'unknown input "E" at position 7', "E", 7),
    ("will_churn > 0.5 AND ARRAY[1] = ARRAY[1]", 'unexpected "ARRAY" at position 22', "ARRAY", 22),
]


@pytest.mark.parametrize(("text", "problem", "token", "position"), REJECTED)
def test_rejects_everything_else_naming_token_and_position(text: str, problem: str, token: str,
                                                           position: int) -> None:
    with pytest.raises(ConditionError) as info:
        parse(text, INPUTS)
    err = info.value
    assert problem in err.message
    assert (err.token, err.position) == (token, position)
    assert err.sqlstate == "22023" and err.message.startswith("invalid rule condition: ")
    assert err.detail and err.detail.startswith("A condition may use only")


def test_unknown_input_hint_lists_the_known_inputs() -> None:
    with pytest.raises(ConditionError) as info:
        parse("tenure > 3", INPUTS)
    assert info.value.hint is not None and "cust_service_calls" in info.value.hint


def test_nesting_and_length_are_bounded() -> None:
    parse("(" * 30 + "vip" + ")" * 30, INPUTS)
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse("(" * 40 + "vip" + ")" * 40, INPUTS)
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse("NOT " * 40 + "vip", INPUTS)
    with pytest.raises(ConditionError, match="longer than"):
        parse("vip OR " * 1000 + "vip", INPUTS)


def test_retitle_names_the_rule() -> None:
    with pytest.raises(ConditionError) as info:
        parse("pg_sleep(1)", INPUTS)
    renamed = info.value.retitle('condition of rule "r1"')
    assert renamed.message == 'invalid condition of rule "r1": function call "pg_sleep" at position 1 is not allowed'


# -- interpreter ---------------------------------------------------------

T, F, N = True, False, None


def run(text: str, **env: Any) -> Any:
    return evaluate(parse(text, INPUTS), env)


def test_walkthrough_conditions_evaluate() -> None:
    env = {"sentiment": "NEGATIVE", "confidence": 0.9, "will_churn": 0.85}
    assert [evaluate(parse(c, INPUTS), env) for c in WALKTHROUGH] == [F, F, T, T, T, N, T]
    env = {"sentiment": "NEUTRAL", "confidence": 0.9, "will_churn": 0.2, "cust_service_calls": 3, "int_plan": "yes"}
    assert [evaluate(parse(c, INPUTS), env) for c in WALKTHROUGH] == [F, F, F, F, F, T, T]


def _sql_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _sql_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


@pytest.mark.parametrize(("a", "b"), list(itertools.product([T, F, N], repeat=2)))
def test_three_valued_and_or_not(a: bool | None, b: bool | None) -> None:
    # vip carries a, and the comparison will_churn > 0.5 carries b (NULL when will_churn is NULL)
    will_churn = {T: 0.9, F: 0.1, N: None}[b]
    assert run("vip AND will_churn > 0.5", vip=a, will_churn=will_churn) is _sql_and(a, b)
    assert run("will_churn > 0.5 AND vip", vip=a, will_churn=will_churn) is _sql_and(b, a)
    assert run("vip OR will_churn > 0.5", vip=a, will_churn=will_churn) is _sql_or(a, b)
    assert run("NOT vip", vip=a) is (None if a is None else not a)


def test_null_propagation_and_predicates() -> None:
    assert run("will_churn > 0.5") is None  # missing input = NULL
    assert run("will_churn + 1 > 0.5", will_churn=None) is None
    assert run("-will_churn < 0", will_churn=None) is None
    assert run("will_churn IS NULL") is True
    assert run("will_churn IS NOT NULL", will_churn=0.0) is True
    assert run("NULL = NULL") is None
    assert run("will_churn = NULL", will_churn=1) is None
    assert run("NULL") is None
    # IN: TRUE on a match, else NULL when NULL is in the list, else FALSE; NOT IN negates that
    assert run("sentiment IN ('A', NULL)", sentiment="A") is True
    assert run("sentiment IN ('A', NULL)", sentiment="B") is None
    assert run("sentiment IN ('A', 'C')", sentiment="B") is False
    assert run("sentiment NOT IN ('A', NULL)", sentiment="B") is None
    assert run("sentiment NOT IN ('A', 'C')", sentiment="B") is True
    assert run("sentiment IN ('A')") is None
    # BETWEEN is inclusive; a NULL bound gives NULL unless the other bound already fails
    assert run("will_churn BETWEEN 0.4 AND 0.8", will_churn=0.4) is True
    assert run("will_churn BETWEEN 0.4 AND 0.8", will_churn=0.8) is True
    assert run("will_churn BETWEEN 0.4 AND 0.8", will_churn=0.81) is False
    assert run("will_churn NOT BETWEEN 0.4 AND 0.8", will_churn=0.81) is True
    assert run("will_churn BETWEEN NULL AND 0.8", will_churn=0.5) is None
    assert run("will_churn BETWEEN NULL AND 0.8", will_churn=0.9) is False
    assert run("will_churn NOT BETWEEN NULL AND 0.8", will_churn=0.9) is True


def test_arithmetic_precedence_and_exact_division() -> None:
    assert run("1 + 2 * 3 = 7") is True
    assert run("(1 + 2) * 3 = 9") is True
    assert run("10 - 2 - 3 = 5") is True
    assert run("5 / 2 = 2.5") is True  # exact division, not SQL's integer division
    assert run("- 2 * 3 = -6") is True
    assert run("NOT 1 = 2") is True  # NOT binds looser than =
    assert run("1 = 1 IS NOT NULL") is True  # IS binds looser than =


def test_and_or_stop_at_the_deciding_operand() -> None:
    assert run("day_mins > 0 AND day_charge / day_mins > 0.2", day_mins=0, day_charge=5) is False
    assert run("day_mins = 0 OR day_charge / day_mins > 0.2", day_mins=0, day_charge=5) is True
    with pytest.raises(DivisionByZero) as info:
        run("day_charge / day_mins > 0.2", day_mins=0, day_charge=5)
    assert info.value.sqlstate == "22012"


def test_text_and_boolean_comparisons() -> None:
    assert run("sentiment = 'NEGATIVE'", sentiment="NEGATIVE") is True
    assert run("sentiment = 'NEGATIVE'", sentiment="negative") is False  # case-sensitive, like SQL
    assert run("sentiment < 'P'", sentiment="NEGATIVE") is True  # code point order
    assert run("vip = FALSE", vip=False) is True
    assert run("sentiment = 'it''s'", sentiment="it's") is True


def test_compile_refuses_a_tree_of_another_version() -> None:
    with pytest.raises(InvalidParameter, match="version"):
        compile_condition({"version": 99, "expr": {"const": True}})
    with pytest.raises(InvalidParameter, match="unknown operator"):
        compile_condition({"version": 1, "expr": {"op": "exec", "args": []}})
