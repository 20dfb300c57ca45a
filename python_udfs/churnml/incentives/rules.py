"""A rule set evaluated on one customer: first enabled, active rule (by priority) whose
condition is TRUE wins; its offer, or its experiment arm's offer, and its reason.

Also the reason templates and the cost/saving estimate of a rule set on a model's
held-out rows. Nothing here touches the database.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, overload

from churnml import interrupts
from churnml.errors import InvalidParameter, NullValueNotAllowed, NumericValueOutOfRange
from churnml.incentives import arms as arms_mod
from churnml.incentives.conditions import BOOLEAN, NUMERIC, TEXT, Compiled, DivisionByZero

# Inputs that come from recommend_incentive's own arguments; every other input is
# read from the `customer` JSON object by name.
ARGUMENT_INPUTS = ("will_churn", "sentiment", "confidence")
# What a reason template may name besides the inputs.
RESULT_FIELDS = ("offer", "offer_value", "currency", "arm", "experiment", "rule_name")
# The labels churnml's sentiment engines give (detect_sentiment): what rules can compare with.
SENTIMENTS = ("POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED")
NO_MATCH = "(no match)"
TOTAL = "(total)"

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")

# Lengths of a rule's texts (the CHECK constraints of churnml.incentive_rules; the rule trigger
# checks them first, before parsing anything) and of what a reason becomes: a value substituted
# into a reason is cut at MAX_VALUE_CHARS, the reason at MAX_REASON_CHARS, so that no input can
# make a reason (returned, and logged with every offer) larger than that.
MAX_CONDITION_CHARS = 2000
MAX_OFFER_CHARS = arms_mod.MAX_OFFER_CHARS
MAX_REASON_TEMPLATE_CHARS = 500
MAX_VALUE_CHARS = 100
MAX_REASON_CHARS = 1000
ELLIPSIS = "\u2026"


# -- reason templates ---------------------------------------------------

Template = tuple[str | tuple[str], ...]  # literal text, or (name,) for a placeholder


def parse_template(text: str | None, allowed: Iterable[str]) -> Template:
    """'Sentiment {sentiment} and will_churn>0.8: {offer}' -> pieces; unknown names are refused.

    `{{` and `}}` stand for literal braces. Python's str.format is not used: a
    template can only substitute named values, nothing else.
    """
    if text is None:
        return ()
    names = set(allowed)
    pieces: list[str | tuple[str]] = []
    literal: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        literal.append(text[pos:m.start()])
        pos = m.end()
        token = m.group()
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        name = m.group(1)
        if name is None:
            raise InvalidParameter(
                f'invalid reason template: "{token}" at position {m.start() + 1} is not part of a {{name}} '
                "placeholder",
                detail="A reason names inputs or result fields in braces, e.g. {sentiment} or {offer}; "
                       "write {{ and }} for literal braces.")
        name = name.lower()
        if name not in names:
            raise InvalidParameter(
                f'invalid reason template: unknown placeholder "{token}" at position {m.start() + 1}',
                detail="A placeholder names an input or one of " + ", ".join(RESULT_FIELDS) + ".",
                hint="Known names: " + ", ".join(sorted(names)) + ".")
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append((name,))
    literal.append(text[pos:])
    if "".join(literal):
        pieces.append("".join(literal))
    return tuple(pieces)


def format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Decimal):
        value = value.normalize()
        return format(value, "f")
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return text if text not in ("0", "-0") else f"{value:.3g}"
    return str(value)


def cut(text: str, limit: int) -> str:
    """`text`, or its first limit - 1 characters and "…" when it is longer."""
    return text if len(text) <= limit else text[:limit - 1] + ELLIPSIS


def render(template: Template, values: Mapping[str, Any]) -> str | None:
    """The reason: each substituted value cut at MAX_VALUE_CHARS, the whole at MAX_REASON_CHARS."""
    if not template:
        return None
    pieces: list[str] = []
    size = 0
    for piece in template:
        text = piece if isinstance(piece, str) else cut(format_value(values.get(piece[0])), MAX_VALUE_CHARS)
        pieces.append(text)
        size += len(text)
        if size > MAX_REASON_CHARS:
            break
    return cut("".join(pieces), MAX_REASON_CHARS)


# -- inputs -------------------------------------------------------------

_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


def _in_float8_range(name: str, value: float) -> float:
    """A numeric input as float8 would hold it: finite and within its range.

    jsonb keeps 1e400 exactly (Python reads it as a 401-digit int), and a float beyond
    float8 reads as infinity; compared or written to the offer log's JSON, those either
    fail with Python's words or compare false silently. (A string "NaN" is not a number.)"""
    if isinstance(value, int):
        if abs(value) <= sys.float_info.max:
            return value
        shown = f"a number of {len(str(abs(value)))} digits"
    elif math.isfinite(value):
        return value
    else:
        shown = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    raise NumericValueOutOfRange(f'input "{name}" is out of range: {shown}',
                                 detail="Numeric inputs are float8: finite numbers up to about 1.8e308.")


def coerce(name: str, kind: str, value: Any) -> Any:
    """A customer value as the input's declared type (None stays None)."""
    if value is None:
        return None
    if kind == NUMERIC:
        if isinstance(value, bool):
            pass
        elif isinstance(value, int | float):
            return _in_float8_range(name, value)
        elif isinstance(value, Decimal):
            return float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() \
                        else number
    elif kind == TEXT:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | Decimal):
            return format_value(value)
    elif kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
    raise InvalidParameter(f'input "{name}" must be {kind}, not {json.dumps(value, default=str)[:60]}',
                           detail=f'The customer object gave "{name}" a value that is not {kind}.',
                           hint="See churnml.incentive_inputs for each input's type.")


def probability(name: str, value: float | None) -> float | None:
    """will_churn or confidence: NULL, or a number from 0 to 1 (NaN and infinities are not)."""
    if value is None:
        return None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        shown = "NaN" if math.isnan(value) else f"{value:g}".replace("inf", "Infinity")
        raise NumericValueOutOfRange(f"{name} must be between 0 and 1, not {shown}",
                                     detail=f"{name} is a probability: a number from 0 to 1, or NULL when unknown.")
    return value


# What a customer key may not be: blank (only these spaces, Unicode's White_Space without the
# control characters) or hold a control character (Unicode's Cc). The offer log's CHECK
# constraint and log_offer test the same two character sets.
BLANKS = " \u00a0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def customer_key(value: str | None) -> str | None:
    """A customer key as given: NULL, or text that is not blank and has no control characters."""
    if value is None:
        return None
    if not value.strip(BLANKS):
        raise InvalidParameter("customer_key must not be blank",
                               detail="It keys the customer's experiment arm and the offer log.",
                               hint="Pass a stable key such as area_code || '/' || phone, or NULL.")
    if _CONTROL.search(value):
        raise InvalidParameter("customer_key must not contain control characters",
                               detail="A customer key is printable text, such as area_code || '/' || phone.",
                               hint="Remove tabs, line breaks and other control characters from the key.")
    return value


@overload
def sentiment_label(value: str, what: str = ...) -> str: ...
@overload
def sentiment_label(value: str | None, what: str = ...) -> str | None: ...
def sentiment_label(value: str | None, what: str = "sentiment") -> str | None:
    """A sentiment label upper-cased: one of SENTIMENTS, or None (unknown). Anything else would
    silently match no rule, so it is refused."""
    if value is None:
        return None
    label = value.strip().upper()
    if label not in SENTIMENTS:
        raise InvalidParameter(f"{what} must be POSITIVE, NEGATIVE, NEUTRAL or MIXED, not {json.dumps(value)[:70]}",
                               detail="Rules compare the labels churnml.detect_sentiment gives; any other label "
                                      "would match no sentiment rule.",
                               hint="Pass detect_sentiment's label, or NULL when the sentiment is unknown.")
    return label


def customer_env(customer: Mapping[str, Any], inputs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The declared inputs present in `customer`, coerced (keys that are not inputs are ignored)."""
    env: dict[str, Any] = {}
    for name, kind in inputs:
        if name in customer:
            env[name] = coerce(name, kind, customer[name])
    return env


# -- rules --------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    priority: int
    condition: Compiled
    offer: str
    offer_value: Any
    currency: str | None
    reason: Template
    arms: tuple[arms_mod.Arm, ...] = ()
    experiment: str | None = None
    seed: str | None = None
    experiment_running: bool = False

    @property
    def runs_experiment(self) -> bool:
        return bool(self.arms) and self.experiment is not None and self.experiment_running


@dataclass(frozen=True)
class RuleSet:
    name: str
    rules: tuple[Rule, ...]
    inputs: tuple[tuple[str, str], ...]  # customer inputs (name, type), argument inputs excluded


def first_match(rules: Sequence[Rule], env: Mapping[str, Any]) -> Rule | None:
    for rule in rules:
        try:
            matched = rule.condition(env)
        except DivisionByZero as exc:
            raise DivisionByZero(f'division by zero in the condition of rule "{rule.name}"', detail=exc.detail,
                                 hint=exc.hint) from None
        if matched is True:
            return rule
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def recommend(rule_set: RuleSet, env: dict[str, Any], customer_key: str | None) -> dict[str, Any]:
    """The recommendation for one customer whose inputs are `env`."""
    inputs_json = json.dumps({k: _plain(v) for k, v in env.items()}, sort_keys=True, allow_nan=False)
    rule = first_match(rule_set.rules, env)
    if rule is None:
        return {"offer": None, "offer_value": None, "reason": f'no rule of rule set "{rule_set.name}" applies',
                "rule_name": None, "arm": None, "experiment": None, "rule_id": None, "rule_set": rule_set.name,
                "currency": None, "inputs": inputs_json}
    offer, offer_value, arm, experiment = rule.offer, rule.offer_value, None, None
    if rule.runs_experiment:
        if customer_key is None:
            raise NullValueNotAllowed(
                f'rule "{rule.name}" runs experiment "{rule.experiment}" and needs a customer_key',
                detail="Arms are assigned by a hash of the experiment's seed, its name and the customer key, "
                       "so that the same customer always gets the same arm.",
                hint="Pass customer_key => ..., e.g. area_code || '/' || phone.")
        chosen = arms_mod.assign(rule.arms, rule.seed or "", rule.experiment or "", customer_key)
        offer, offer_value, arm, experiment = chosen.offer, chosen.offer_value, chosen.arm, rule.experiment
    values = dict(env)
    values.update(offer=offer, offer_value=offer_value, currency=rule.currency, arm=arm, experiment=experiment,
                  rule_name=rule.name)
    return {"offer": offer, "offer_value": offer_value, "reason": render(rule.reason, values),
            "rule_name": rule.name, "arm": arm, "experiment": experiment, "rule_id": rule.id,
            "rule_set": rule_set.name, "currency": rule.currency, "inputs": inputs_json}


# -- what a rule set costs on held-out rows -----------------------------


def parse_sentiment_mix(mix: Mapping[str, Any] | None) -> list[tuple[str, float]]:
    if not isinstance(mix, Mapping) or not mix:
        raise InvalidParameter("sentiment_mix must be a JSON object of sentiment shares",
                               hint='e.g. {"NEGATIVE": 0.3, "NEUTRAL": 0.5, "POSITIVE": 0.2}')
    pairs = []
    for label, share in mix.items():
        if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share) or share < 0:
            raise InvalidParameter(f'the share of "{label}" in sentiment_mix must be a number >= 0, not {share!r}')
        pairs.append((sentiment_label(str(label), "a sentiment_mix key"), float(share)))
    total = sum(s for _, s in pairs)
    if total <= 0:
        raise InvalidParameter("the shares in sentiment_mix must add up to more than 0")
    return [(label, share / total) for label, share in pairs if share > 0]


@dataclass
class _Bucket:
    rule_name: str
    offer: str | None
    customers: float = 0.0
    churners: float = 0.0
    incentive_cost: float = 0.0
    expected_saves: float = 0.0
    unpriced: float = 0.0

    def row(self, retained_value: float) -> dict[str, Any]:
        saved = self.expected_saves * retained_value
        return {"rule_name": self.rule_name, "offer": self.offer, "customers": self.customers,
                "churners": self.churners, "incentive_cost": self.incentive_cost,
                "expected_saves": self.expected_saves, "saved_value": saved,
                "net_value": saved - self.incentive_cost, "unpriced": self.unpriced}


def _offers(rule: Rule) -> list[tuple[Any, float]]:
    """(offer_value, share) of each offer the rule makes: its arms when it runs an experiment."""
    if rule.runs_experiment:
        return [(a.offer_value, share) for a, share in arms_mod.shares(rule.arms)]
    return [(rule.offer_value, 1.0)]


def _offer_text(rule: Rule) -> str:
    if rule.runs_experiment:
        return " | ".join(f"{a.arm}: {a.offer} ({share:.0%})" for a, share in arms_mod.shares(rule.arms))
    return rule.offer


def rule_set_cost(rule_set: RuleSet, labels: Sequence[bool], scores: Sequence[float], *, retained_value: float | None,
                  save_rate: float | None, acceptance_rate: float | None, sentiment_mix: Sequence[tuple[str, float]],
                  confidence: float | None) -> list[dict[str, Any]]:
    """Cost and saving of the rules on held-out rows (see docs/incentives.md for the model).

    Each row is evaluated once per sentiment of the mix, weighted by its share, with
    will_churn = the row's held-out probability and no customer fields (they are not
    stored with the model). An experiment rule counts each arm by its weight. A
    priced offer (offer_value > 0) costs acceptance_rate x offer_value per customer
    offered it, and keeps save_rate of the would-be churners offered it, each worth
    retained_value. Offers with no offer_value are counted as `unpriced` and
    neither cost nor save anything.
    """
    for name, value in (("save_rate", save_rate), ("acceptance_rate", acceptance_rate)):
        if value is None or not 0.0 <= value <= 1.0:
            raise InvalidParameter(f"{name} must be between 0 and 1, not {value}")
    if retained_value is None or not math.isfinite(retained_value) or retained_value < 0:
        raise InvalidParameter(f"retained_value must be a number >= 0, not {retained_value}")
    assert save_rate is not None and acceptance_rate is not None  # checked above
    buckets: dict[int | None, _Bucket] = {r.id: _Bucket(r.name, _offer_text(r)) for r in rule_set.rules}
    buckets[None] = _Bucket(NO_MATCH, None)
    rules_by_id = {r.id: r for r in rule_set.rules}
    for label, score in zip(labels, scores, strict=True):
        # a held-out row costs |sentiment_mix| x rules condition evaluations: with thousands of
        # rules or millions of rows this loop runs for minutes, so a cancel is honoured per row
        # (the check reads a flag: nanoseconds while nothing is pending)
        interrupts.check()
        churned = 1.0 if label else 0.0
        for sentiment, share in sentiment_mix:
            env = {"will_churn": score, "sentiment": sentiment, "confidence": confidence}
            rule = first_match(rule_set.rules, env)
            bucket = buckets[rule.id if rule else None]
            bucket.customers += share
            bucket.churners += share * churned
            if rule is None:
                continue
            for value, arm_share in _offers(rules_by_id[rule.id]):
                weight = share * arm_share
                if value is None:
                    bucket.unpriced += weight
                elif value > 0:
                    bucket.incentive_cost += weight * acceptance_rate * float(value)
                    bucket.expected_saves += weight * churned * save_rate
    rows = [buckets[r.id].row(retained_value) for r in rule_set.rules] + [buckets[None].row(retained_value)]
    total = _Bucket(TOTAL, None)
    for b in buckets.values():
        total.customers += b.customers
        total.churners += b.churners
        total.incentive_cost += b.incentive_cost
        total.expected_saves += b.expected_saves
        total.unpriced += b.unpriced
    return [*rows, total.row(retained_value)]
