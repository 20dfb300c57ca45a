"""Rule sets without a database: first match, experiment arms, reason templates, typed inputs,
the cost of a rule set and experiment results."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest

from churnml.errors import InvalidParameter, NullValueNotAllowed, NumericValueOutOfRange
from churnml.incentives import results
from churnml.incentives.arms import parse_arms
from churnml.incentives.conditions import DivisionByZero, compile_condition, parse
from churnml.incentives.rules import (
    NO_MATCH,
    RESULT_FIELDS,
    TOTAL,
    Rule,
    RuleSet,
    coerce,
    customer_env,
    format_value,
    parse_sentiment_mix,
    parse_template,
    probability,
    recommend,
    render,
    rule_set_cost,
    sentiment_label,
)

INPUTS = {"will_churn": "numeric", "sentiment": "text", "confidence": "numeric", "cust_service_calls": "numeric",
          "int_plan": "text", "day_mins": "numeric", "vip": "boolean"}
NAMES = set(INPUTS) | set(RESULT_FIELDS)
ARMS = [{"arm": "A", "offer": "$15 credit", "offer_value": 15, "weight": 0.5},
        {"arm": "B", "offer": "$5 credit", "offer_value": 5, "weight": 0.5}]

# (name, condition, offer, value, reason, arms)
WALKTHROUGH: list[tuple[str, str, str, Any, str, Any]] = [
    ("positive_low_risk", "sentiment = 'POSITIVE' AND confidence > 0.5 AND will_churn < 0.5", "no incentive", 0,
     "Sentiment {sentiment} and will_churn<0.5: no incentive", None),
    ("positive_at_risk", "sentiment = 'POSITIVE' AND confidence > 0.5 AND will_churn >= 0.5", "$5 credit", 5,
     "Sentiment {sentiment} and will_churn>=0.5: $5 credit", None),
    ("negative_high_risk", "sentiment = 'NEGATIVE' AND confidence > 0.7 AND will_churn > 0.8", "$25 credit", 25,
     "Sentiment {sentiment} and will_churn>0.8: $25 credit", None),
    ("negative_medium_risk", "sentiment = 'NEGATIVE' AND confidence > 0.7 AND will_churn > 0.4", "$15 credit", 15,
     "Sentiment {sentiment} and will_churn>0.4: {offer} (experiment {experiment}, arm {arm})", ARMS),
    ("negative_low_risk", "sentiment = 'NEGATIVE' AND confidence > 0.7", "no incentive", 0,
     "Sentiment {sentiment} and will_churn<=0.4: no incentive", None),
    ("service_calls_international", "cust_service_calls > 2 AND int_plan = 'yes'", "1000 free international minutes",
     None, "Customer service calls>2 and an international plan: 1000 free international minutes", None),
    ("no_incentive", "TRUE", "no incentive", 0, "No rule applies: no incentive", None),
]


def make_rule_set(running: bool = True, rows: list[tuple[str, str, str, Any, str, Any]] | None = None) -> RuleSet:
    built = []
    for i, (name, condition, offer, value, reason, arms) in enumerate(rows or WALKTHROUGH, 1):
        built.append(Rule(
            id=i, name=name, priority=10 * i, condition=compile_condition(parse(condition, INPUTS)), offer=offer,
            offer_value=value, currency="USD", reason=parse_template(reason, NAMES),
            arms=tuple(parse_arms(arms)) if arms else (), experiment="exp4" if arms else None,
            seed="seed" if arms else None, experiment_running=running))
    customer_inputs = tuple((n, t) for n, t in sorted(INPUTS.items())
                            if n not in ("will_churn", "sentiment", "confidence"))
    return RuleSet(name="default", rules=tuple(built), inputs=customer_inputs)


def env(will_churn: float | None, sentiment: str | None, confidence: float | None, **customer: Any) -> dict:
    return {"will_churn": will_churn, "sentiment": sentiment, "confidence": confidence, **customer}


@pytest.mark.parametrize(("inputs", "rule", "offer", "reason"), [
    (env(0.3, "POSITIVE", 0.9), "positive_low_risk", "no incentive",
     "Sentiment POSITIVE and will_churn<0.5: no incentive"),
    (env(0.7, "POSITIVE", 0.9), "positive_at_risk", "$5 credit", "Sentiment POSITIVE and will_churn>=0.5: $5 credit"),
    (env(0.85, "NEGATIVE", 0.9), "negative_high_risk", "$25 credit",
     "Sentiment NEGATIVE and will_churn>0.8: $25 credit"),
    (env(0.3, "NEGATIVE", 0.9), "negative_low_risk", "no incentive",
     "Sentiment NEGATIVE and will_churn<=0.4: no incentive"),
    (env(0.3, "NEUTRAL", 0.9, cust_service_calls=3, int_plan="yes"), "service_calls_international",
     "1000 free international minutes",
     "Customer service calls>2 and an international plan: 1000 free international minutes"),
    (env(0.3, "NEUTRAL", 0.9, cust_service_calls=2, int_plan="yes"), "no_incentive", "no incentive",
     "No rule applies: no incentive"),
    (env(None, None, None), "no_incentive", "no incentive", "No rule applies: no incentive"),
])
def test_walkthrough_rules(inputs: dict, rule: str, offer: str, reason: str) -> None:
    got = recommend(make_rule_set(), inputs, customer_key=None)
    assert (got["rule_name"], got["offer"], got["reason"]) == (rule, offer, reason)
    assert got["arm"] is None and got["experiment"] is None
    assert json.loads(got["inputs"]) == {k: v for k, v in inputs.items()}


def test_experiment_rule_assigns_and_explains_the_arm() -> None:
    got = recommend(make_rule_set(), env(0.6, "NEGATIVE", 0.9), customer_key="415/358-1921")
    assert got["experiment"] == "exp4" and got["arm"] in ("A", "B")
    assert got["offer"] == {"A": "$15 credit", "B": "$5 credit"}[got["arm"]]
    assert got["reason"] == (f"Sentiment NEGATIVE and will_churn>0.4: {got['offer']} "
                             f"(experiment exp4, arm {got['arm']})")
    with pytest.raises(NullValueNotAllowed, match="needs a customer_key"):
        recommend(make_rule_set(), env(0.6, "NEGATIVE", 0.9), customer_key=None)
    # a stopped experiment: the rule's own offer, no arm, and no key needed
    stopped = recommend(make_rule_set(running=False), env(0.6, "NEGATIVE", 0.9), customer_key=None)
    assert (stopped["offer"], stopped["arm"], stopped["experiment"]) == ("$15 credit", None, None)
    assert stopped["reason"] == "Sentiment NEGATIVE and will_churn>0.4: $15 credit (experiment NULL, arm NULL)"


def test_no_match_and_division_by_zero_name_the_rule_set_and_rule() -> None:
    rule_set = make_rule_set(rows=[("only", "will_churn > 0.5", "x", 1, None, None)])
    got = recommend(rule_set, env(0.1, None, None), None)
    assert got["offer"] is None and got["rule_name"] is None
    assert got["reason"] == 'no rule of rule set "default" applies'
    rule_set = make_rule_set(rows=[("ratio", "will_churn / day_mins > 1", "x", 1, None, None)])
    with pytest.raises(DivisionByZero, match='rule "ratio"'):
        recommend(rule_set, env(0.1, None, None, day_mins=0), None)


def test_templates() -> None:
    pieces = parse_template("{{literal}} {sentiment}: {OFFER} at {will_churn}", NAMES)
    assert render(pieces, {"sentiment": "NEGATIVE", "offer": "$5", "will_churn": 0.8523}) \
        == "{literal} NEGATIVE: $5 at 0.852"
    assert render(parse_template(None, NAMES), {}) is None
    assert render(parse_template("plain", NAMES), {}) == "plain"
    for bad, message in (("{nope}", 'unknown placeholder "{nope}" at position 1'),
                         ("x {0}", '"{" at position 3 is not part'),
                         ("{sentiment.__class__}", '"{" at position 1'),
                         ("close }", '"}" at position 7')):
        with pytest.raises(InvalidParameter) as info:
            parse_template(bad, NAMES)
        assert message in info.value.message


@pytest.mark.parametrize(("value", "text"), [
    (None, "NULL"), (True, "true"), (0.85, "0.85"), (0.8523, "0.852"), (1000.0, "1000"), (0.0004, "0.0004"),
    (Decimal("15.00"), "15"), (Decimal("2.50"), "2.5"), (3, "3"), ("yes", "yes"),
])
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text


def test_customer_values_are_coerced_to_the_input_types() -> None:
    inputs = (("cust_service_calls", "numeric"), ("int_plan", "text"), ("vip", "boolean"))
    assert customer_env({"cust_service_calls": "4", "int_plan": "yes", "vip": "t", "other": [1]}, inputs) == {
        "cust_service_calls": 4, "int_plan": "yes", "vip": True}
    assert coerce("x", "numeric", "2.5") == 2.5
    assert coerce("x", "numeric", Decimal("2.5")) == 2.5
    assert coerce("x", "text", 415) == "415"
    assert coerce("x", "text", False) == "false"
    assert coerce("x", "boolean", "No") is False
    assert coerce("x", "numeric", None) is None
    for kind, value in (("numeric", "many"), ("numeric", True), ("numeric", "nan"), ("boolean", 1),
                        ("text", {"a": 1}), ("numeric", [1])):
        with pytest.raises(InvalidParameter, match=f'input "x" must be {kind}'):
            coerce("x", kind, value)
    # numbers float8 cannot hold: 22003, not a silent false comparison (issue 19)
    for value, shown in ((10 ** 400, "a number of 401 digits"), (float("inf"), "Infinity"),
                         (float("-inf"), "-Infinity"), (float("nan"), "NaN")):
        with pytest.raises(NumericValueOutOfRange, match=f'input "x" is out of range: {shown}'):
            coerce("x", "numeric", value)
    assert coerce("x", "numeric", 10 ** 300) == 10 ** 300


def test_argument_inputs_are_checked() -> None:
    assert probability("will_churn", None) is None and probability("will_churn", 1.0) == 1.0
    for value in (float("nan"), float("inf"), -0.01, 1.01):
        with pytest.raises(NumericValueOutOfRange, match="will_churn must be between 0 and 1"):
            probability("will_churn", value)
    assert sentiment_label(" mixed ") == "MIXED" and sentiment_label(None) is None
    for label in ("BOGUS", "", "POS"):
        with pytest.raises(InvalidParameter, match="sentiment must be POSITIVE, NEGATIVE, NEUTRAL or MIXED"):
            sentiment_label(label)
    with pytest.raises(InvalidParameter,
                       match='a sentiment_mix key must be POSITIVE, NEGATIVE, NEUTRAL or MIXED, not "BOGUS"'):
        parse_sentiment_mix({"NEGATIVE": 1, "BOGUS": 1})


# -- cost of a rule set --------------------------------------------------


def test_rule_set_cost_by_hand() -> None:
    labels = [True, False, True, False]
    scores = [0.9, 0.9, 0.6, 0.2]
    mix = parse_sentiment_mix({"negative": 1, "NEUTRAL": 1})
    rows = {r["rule_name"]: r for r in rule_set_cost(make_rule_set(), labels, scores, retained_value=100.0,
                                                   save_rate=0.5, acceptance_rate=0.8, sentiment_mix=mix,
                                                   confidence=0.9)}
    high, medium, low = rows["negative_high_risk"], rows["negative_medium_risk"], rows["negative_low_risk"]
    # NEGATIVE half: 0.9, 0.9 -> $25; 0.6 -> arms $15/$5 (mean $10); 0.2 -> nothing. NEUTRAL half: no_incentive.
    assert (high["customers"], high["churners"]) == (1.0, 0.5)
    assert high["incentive_cost"] == pytest.approx(0.5 * 2 * 25 * 0.8)
    assert high["expected_saves"] == pytest.approx(0.5 * 0.5)
    assert high["saved_value"] == pytest.approx(25.0)
    assert high["net_value"] == pytest.approx(25.0 - 20.0)
    assert medium["incentive_cost"] == pytest.approx(0.5 * 10 * 0.8) and medium["expected_saves"] == 0.25
    assert medium["offer"] == "A: $15 credit (50%) | B: $5 credit (50%)"
    assert low["customers"] == 0.5 and low["incentive_cost"] == 0
    assert rows["no_incentive"]["customers"] == 2.0 and rows["no_incentive"]["expected_saves"] == 0
    assert rows[NO_MATCH]["customers"] == 0
    total = rows[TOTAL]
    assert total["customers"] == pytest.approx(4) and total["churners"] == pytest.approx(2)
    assert total["incentive_cost"] == pytest.approx(20 + 4)
    assert total["net_value"] == pytest.approx(0.5 * 100 - 24)


def test_rule_set_cost_counts_unpriced_offers_apart() -> None:
    rule_set = make_rule_set(rows=[("free_minutes", "will_churn > 0.5", "1000 minutes", None, None, None)])
    rows = {r["rule_name"]: r for r in rule_set_cost(rule_set, [True, False], [0.9, 0.1], retained_value=500.0,
                                                   save_rate=1.0, acceptance_rate=1.0,
                                                   sentiment_mix=[("NEUTRAL", 1.0)], confidence=None)}
    assert rows["free_minutes"]["unpriced"] == 1 and rows["free_minutes"]["incentive_cost"] == 0
    assert rows["free_minutes"]["expected_saves"] == 0
    assert rows[NO_MATCH]["customers"] == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"save_rate": 1.5}, "save_rate must be between 0 and 1"),
    ({"acceptance_rate": -0.1}, "acceptance_rate must be between 0 and 1"),
    ({"retained_value": -1.0}, "retained_value must be a number >= 0"),
])
def test_rule_set_cost_checks_its_assumptions(kwargs: dict, message: str) -> None:
    args = {"retained_value": 100.0, "save_rate": 0.5, "acceptance_rate": 1.0, **kwargs}
    with pytest.raises(InvalidParameter, match=message):
        rule_set_cost(make_rule_set(), [True], [0.5], sentiment_mix=[("NEUTRAL", 1.0)], confidence=0.9, **args)


def test_sentiment_mix() -> None:
    assert parse_sentiment_mix({"negative": 3, "POSITIVE": 1, "MIXED": 0}) == [("NEGATIVE", 0.75), ("POSITIVE", 0.25)]
    for bad in (None, {}, [1], {"NEGATIVE": -1}, {"NEGATIVE": 0}, {"NEGATIVE": "lots"}):
        with pytest.raises(InvalidParameter):
            parse_sentiment_mix(bad)  # type: ignore[arg-type]


# -- experiment results -------------------------------------------------


def test_uplift_and_its_confidence_interval() -> None:
    diff, low, high = results.uplift(6, 8, 4, 10)
    se = math.sqrt(0.75 * 0.25 / 8 + 0.4 * 0.6 / 10)
    assert diff == pytest.approx(0.35)
    assert (low, high) == pytest.approx((0.35 - 1.959964 * se, 0.35 + 1.959964 * se), abs=1e-6)
    assert results.uplift(1, 0, 4, 10) is None
    assert results.retention(0, 0) is None


def test_arm_results_choose_a_control() -> None:
    rows = [
        {"arm": "T", "offer": "$10", "offers": 10, "outcomes_known": 8, "retained": 6, "total_cost": Decimal(100)},
        {"arm": "C", "offer": "none", "offers": 10, "outcomes_known": 10, "retained": 4, "total_cost": Decimal(0)},
    ]
    by_default = {r["arm"]: r for r in results.arm_results(rows, None)}
    assert by_default["C"]["is_control"] and by_default["C"]["uplift"] is None  # first by name
    assert by_default["T"]["uplift"] == pytest.approx(0.35) and by_default["T"]["retention_rate"] == 0.75
    flipped = {r["arm"]: r for r in results.arm_results(rows, "T")}
    assert flipped["C"]["uplift"] == pytest.approx(-0.35) and flipped["T"]["is_control"]


def test_reasons_are_bounded_whatever_the_inputs() -> None:
    from churnml.incentives.rules import MAX_REASON_CHARS, MAX_VALUE_CHARS

    template = parse_template("{state}" * 70 + " and {offer}", ["state", "offer"])
    reason = render(template, {"state": "x" * 1_000_000, "offer": "$5"})
    assert len(reason) == MAX_REASON_CHARS and reason.endswith("\u2026")
    assert reason[:MAX_VALUE_CHARS] == "x" * (MAX_VALUE_CHARS - 1) + "\u2026"
    # values within the limit come out whole, and so does a short reason
    assert render(template, {"state": "KS", "offer": "$5"}) == "KS" * 70 + " and $5"
    assert render(parse_template("{state}", ["state"]), {"state": "y" * MAX_VALUE_CHARS}) == "y" * MAX_VALUE_CHARS


@pytest.mark.parametrize(("key", "message"), [
    (" ", "customer_key must not be blank"), ("\u3000\u00a0\u2002", "customer_key must not be blank"),
    ("\x01", "customer_key must not contain control characters"),
    ("k\n1", "customer_key must not contain control characters"),
    ("\x85", "customer_key must not contain control characters"),
])
def test_customer_keys_blank_or_with_control_characters_are_refused(key: str, message: str) -> None:
    from churnml.incentives.rules import customer_key

    with pytest.raises(InvalidParameter) as info:
        customer_key(key)
    assert info.value.message == message and info.value.detail and info.value.hint


def test_customer_keys_that_are_fine() -> None:
    from churnml.incentives.rules import customer_key

    for key in (None, "408/375-9999", "Zoë Müller", " k ", "a\u3000b"):
        assert customer_key(key) == key


def test_arm_offers_have_a_length_limit() -> None:
    from churnml.errors import StringDataRightTruncation

    assert parse_arms([{"arm": "A", "offer": "y" * 100, "weight": 1}])[0].offer == "y" * 100
    with pytest.raises(StringDataRightTruncation) as info:
        parse_arms([{"arm": "A", "offer": "y" * 101, "weight": 1}])
    assert info.value.message == 'the offer of arm "A" is 101 characters long, more than 100'


@pytest.mark.parametrize(("labels", "scores", "detail"), [
    ([True, False], [0.1, 0.2, 0.3], "It has 2 labels and 3 scores"),
    ([True, False], [0.1, math.nan], "Held-out row 2 of 2 has the score NaN"),
    ([True, False], [math.inf, 0.1], "Held-out row 1 of 2 has the score Infinity"),
    ([True, False], [None, 0.1], "Held-out row 1 of 2 has a NULL score"),
    ([True, None], [0.2, 0.1], "Held-out row 2 of 2 has a NULL label"),
])
def test_damaged_holdout_rows_name_the_model_and_row(labels: list, scores: list, detail: str) -> None:
    from churnml.errors import DataCorrupted
    from churnml.registry import check_holdout

    with pytest.raises(DataCorrupted) as info:
        check_holdout(7, labels, scores)
    assert info.value.message == "the held-out rows of model 7 are damaged"
    assert info.value.detail.startswith(detail)
    check_holdout(7, [True, False], [0.0, 1.0])  # the bounds are fine
